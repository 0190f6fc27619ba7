//! `cnbench scale`: a backend's control plane at many sizes, for each variant: every
//! combination of the values of the options its control plane sweeps (bgp: `--bgp-topology
//! mesh,rr` × `--bgp-announce block,pod`). Every point is planned and validated before the
//! first is stood up; each is torn down before the next. With `--until-fails` a variant's
//! curve stops at its first size that does not converge, and the reason is named.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};
use harness::backend::BackendOptions;
use harness::detect;
use harness::topology::{new_run_id, TopologyRequest, Underlay, MAX_NODES};

use super::{environment, exe, open_json};
use crate::cli::ScaleArgs;
use crate::registry;
use crate::ExitCode;

/// `cnbench scale`.
pub fn scale(args: &ScaleArgs) -> Result<ExitCode> {
    let info = registry::info(&args.backend).map_err(|e| anyhow!(e))?;
    if args.nodes.is_empty() || args.nodes.iter().any(|n| *n < 2 || *n > MAX_NODES) {
        bail!("--nodes {:?}: use sizes from 2 to {MAX_NODES}", args.nodes);
    }
    if args.until_fails && args.nodes.windows(2).any(|w| w[0] >= w[1]) {
        bail!(
            "--until-fails goes up the sizes: give --nodes in ascending order, each once \
             (not {:?})",
            args.nodes
        );
    }
    if !(args.timeout.is_finite() && args.timeout > 0.0 && args.timeout <= 3600.0) {
        bail!(
            "--timeout {}: use a positive number of seconds, at most 3600",
            args.timeout
        );
    }
    let underlay = Underlay::from(args.underlay);
    // Every point's topology but its size: one pod per node, on the underlay, families
    // and routers asked for.
    let shape = TopologyRequest {
        pods_per_node: Some(1),
        underlay: Some(underlay),
        ip_family: args.ip_family.into(),
        routers: args.routers,
        ..Default::default()
    };
    let request = |n: u32| TopologyRequest {
        nodes: Some(n),
        ..shape.clone()
    };
    // The options every point has, and the one the control plane sweeps.
    let mut fixed = BackendOptions::new();
    for (flag, values) in &args.options.given {
        if let [one] = values.as_slice() {
            fixed.set(flag, one);
        }
    }
    let first = info
        .plan(&request(args.nodes[0]), new_run_id())
        .map_err(harness::HarnessError::from)?;
    let probe = registry::make(&args.backend, &fixed, &first).map_err(|e| anyhow!(e))?;
    let Some(scale) = probe.capabilities().scale else {
        let with: Vec<&str> = registry::all()
            .into_iter()
            .filter(|e| e.scales)
            .map(|e| e.info.name)
            .collect();
        bail!(
            "scale measures a control plane: --backend {} has none to scale; {} {}",
            args.backend,
            with.join(", "),
            if with.len() == 1 {
                "has one"
            } else {
                "have one"
            }
        );
    };
    // The options the control plane sweeps: the command line's values, else the
    // capability's; every combination is a variant.
    let swept = scale.sweep();
    let names: Vec<&str> = swept.iter().map(|o| o.flag).collect();
    if let Some((other, _)) = args
        .options
        .given
        .iter()
        .find(|(f, v)| !names.contains(&f.as_str()) && v.len() > 1)
    {
        let list: Vec<String> = names.iter().map(|n| format!("--{n}")).collect();
        bail!(
            "--{other}: one value only; `cnbench scale` sweeps {}",
            list.join(", ")
        );
    }
    let options: Vec<(String, Vec<String>)> = swept
        .iter()
        .map(|o| {
            let mut values: Vec<String> = Vec::new();
            for v in args.options.given.get(o.flag).unwrap_or(&o.defaults) {
                if !values.contains(v) {
                    values.push(v.clone());
                }
            }
            (o.flag.to_string(), values)
        })
        .collect();
    let variants = harness::scale::variants(&options);
    // Every point is planned and validated (underlay size, programs on PATH) before the
    // first is stood up.
    let mut points = Vec::new();
    for (i, variant) in variants.iter().enumerate() {
        let mut options = fixed.clone();
        for (flag, value) in variant {
            options.set(flag, value);
        }
        for &n in &args.nodes {
            let plan = info
                .plan(&request(n), new_run_id())
                .map_err(harness::HarnessError::from)?;
            let backend = registry::make(&args.backend, &options, &plan).map_err(|e| anyhow!(e))?;
            backend
                .info()
                .require_programs(detect::find_binary)
                .map_err(harness::HarnessError::from)?;
            let sweep = backend
                .capabilities()
                .scale
                .map(|s| s.for_sweep())
                .context("the backend lost its control plane")?;
            points.push((i, n, sweep));
        }
    }
    detect::require_root()?;
    let mut writer = open_json(&args.json)?;
    harness::signals::install().context("installing signal handlers")?;
    let mut result = reports::ScaleResult::new(environment(), &args.backend, underlay.as_str());
    result.ip_family = Some(
        harness::topology::IpFamily::from(args.ip_family)
            .as_str()
            .to_string(),
    );
    // What every point had (a pod-mode sweep must not read as a block-mode one).
    result.backend_options = probe
        .options()
        .iter()
        .filter(|(f, _)| !names.contains(f))
        .map(|(f, v)| (f.to_string(), v.to_string()))
        .collect();
    result.swept = names.iter().map(|n| n.to_string()).collect();
    result.timeout_ms = Some(args.timeout * 1e3);
    result.until_fails = args.until_fails;
    // What the nodes of one variant may use: measured before the first is stood up.
    result.mem_available_before_bytes = harness::scale::mem_info().1;
    let width = variants
        .iter()
        .map(|v| label(v, &result.swept).len())
        .max()
        .unwrap_or(0)
        .max(args.backend.len());
    say!(
        "{:<width$} {:>5}  {:>10}  {:>14}  {:>11}  {:>12}  {:>10}  {:>7}  status",
        args.backend,
        "nodes",
        "converge",
        "sessions",
        "routes/node",
        "RSS per node",
        "daemon CPU",
        "drops"
    );
    let exe = exe()?;
    let mut stopped: BTreeSet<usize> = BTreeSet::new();
    for (i, n, backend) in &points {
        if harness::signals::interrupted() {
            break;
        }
        if stopped.contains(i) {
            continue;
        }
        let p = harness::scale::point(
            backend.as_ref(),
            &variants[*i],
            *n,
            &shape,
            Duration::from_secs_f64(args.timeout),
            &exe,
        );
        say!("{}", scale_line(&p, &result.swept, width));
        if args.until_fails && !p.converged {
            stopped.insert(*i);
        }
        result.points.push(p);
        if let Some(w) = &mut writer {
            w.write(&result)?;
        }
    }
    for line in summary(&result, &variants) {
        say!("{line}");
    }
    if let Some(w) = &mut writer {
        w.finish();
    }
    if harness::signals::interrupted() {
        eprintln!("cnbench: interrupted; every finished size is in the result");
        return Ok(ExitCode::Interrupted);
    }
    // A curve that stops where it was asked to go until is the answer sought; a point that
    // could not be measured at all is not.
    let failed = |p: &reports::ScalePoint| match (&p.limit, args.until_fails) {
        (_, false) => !p.converged,
        (Some(l), true) => l.reason == reports::LimitReason::Error,
        (None, true) => false,
    };
    Ok(if result.points.iter().any(failed) {
        ExitCode::ChecksFailed
    } else {
        ExitCode::Ok
    })
}

/// A variant in words: its values in the order the options are swept (`names`),
/// `/`-separated (`mesh/block`).
fn label(variant: &BTreeMap<String, String>, names: &[String]) -> String {
    names
        .iter()
        .filter_map(|n| variant.get(n).cloned())
        .collect::<Vec<_>>()
        .join("/")
}

/// Per variant: the largest size that converged, where it stopped and why, and how many
/// nodes the memory available before the sweep holds at its largest point's memory per node.
fn summary(result: &reports::ScaleResult, variants: &[BTreeMap<String, String>]) -> Vec<String> {
    let mut lines = Vec::new();
    for v in variants {
        let points: Vec<&reports::ScalePoint> =
            result.points.iter().filter(|p| p.variant == *v).collect();
        let Some(last) = points.last() else {
            continue;
        };
        let best = points.iter().filter(|p| p.converged).map(|p| p.nodes).max();
        let mut line = format!(
            "{}: {}",
            label(v, &result.swept),
            match best {
                Some(n) => format!("converged up to {n} nodes"),
                None => "converged at no size".into(),
            }
        );
        if let Some(stop) = points.iter().find(|p| !p.converged) {
            if let Some(l) = &stop.limit {
                line.push_str(&format!(
                    "; {} at {} nodes: {} ({})",
                    if result.until_fails {
                        "stopped"
                    } else {
                        "failed"
                    },
                    stop.nodes,
                    l.reason.as_str(),
                    l.detail
                ));
            }
        }
        let biggest = points
            .iter()
            .filter(|p| p.daemon_rss_bytes_per_node_mean.is_some())
            .max_by_key(|p| p.nodes)
            .unwrap_or(last);
        if let (Some(n), Some(per)) = (
            result.nodes_memory_allows(biggest),
            biggest.daemon_rss_bytes_per_node_mean,
        ) {
            line.push_str(&format!(
                "; memory allows about {n} nodes ({} available / {} per node at {} nodes)",
                render::units::format_bytes(result.mem_available_before_bytes.unwrap_or(0) as f64),
                render::units::format_bytes(per),
                biggest.nodes
            ));
        }
        lines.push(line);
    }
    lines
}

fn scale_line(p: &reports::ScalePoint, names: &[String], width: usize) -> String {
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    format!(
        "{:<width$} {:>5}  {:>10}  {:>14}  {:>11}  {:>12}  {:>10}  {:>7}  {}",
        label(&p.variant, names),
        p.nodes,
        opt(p
            .convergence_ms
            .map(|ms| render::units::format_ns(ms * 1e6))),
        opt(p.sessions_total.map(|s| {
            let mut t = s.to_string();
            if let Some(want) = p.sessions_expected {
                t.push_str(&format!("/{want}"));
            }
            if let Some(d) = p.sessions_dropped.filter(|d| *d > 0) {
                t.push_str(&format!(" -{d}"));
            }
            t
        })),
        opt(p.routes_per_node_max.map(|r| r.to_string())),
        opt(p
            .daemon_rss_bytes_per_node_mean
            .map(render::units::format_bytes)),
        opt(p
            .daemon_cpu_ms_total
            .map(|ms| render::units::format_ns(ms * 1e6))),
        opt(p.softnet_drops.map(|d| d.to_string())),
        match (&p.limit, &p.error, p.converged) {
            (Some(l), Some(e), _) => format!("{}: {e}", l.reason.as_str()),
            (Some(l), None, _) => format!("{}: {}", l.reason.as_str(), l.detail),
            (None, Some(e), _) => e.clone(),
            (None, None, true) => "converged".into(),
            (None, None, false) => "did not converge".into(),
        }
    )
}
