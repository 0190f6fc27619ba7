//! `cnbench scale`: a backend's control plane at many sizes, for each value of the option
//! its control plane sweeps (bgp: `--bgp-topology mesh,rr`). Every point is planned and
//! validated before the first is stood up; each is torn down before the next.

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
    if !(args.timeout.is_finite() && args.timeout > 0.0 && args.timeout <= 3600.0) {
        bail!(
            "--timeout {}: use a positive number of seconds, at most 3600",
            args.timeout
        );
    }
    let underlay = Underlay::from(args.underlay);
    let request = |n: u32| TopologyRequest {
        nodes: Some(n),
        pods_per_node: Some(1),
        underlay: Some(underlay),
        ip_family: args.ip_family.into(),
        ..Default::default()
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
    let (flag, defaults) = scale.sweep();
    let variants: Vec<String> = match args.options.given.get(flag) {
        Some(values) => values.clone(),
        None => defaults.iter().map(|v| v.to_string()).collect(),
    };
    if let Some((other, _)) = args
        .options
        .given
        .iter()
        .find(|(f, v)| f.as_str() != flag && v.len() > 1)
    {
        bail!("--{other}: one value only; `cnbench scale` sweeps --{flag}");
    }
    // Every point is planned and validated (underlay size, programs on PATH) before the
    // first is stood up.
    let mut points = Vec::new();
    for variant in &variants {
        let mut options = fixed.clone();
        options.set(flag, variant);
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
            points.push((variant.clone(), n, sweep));
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
        .filter(|(f, _)| *f != flag)
        .map(|(f, v)| (f.to_string(), v.to_string()))
        .collect();
    say!(
        "{:<6} {:>5}  {:>10}  {:>8}  {:>11}  {:>12}  {:>10}  {:>7}  status",
        args.backend,
        "nodes",
        "converge",
        "sessions",
        "routes/node",
        "daemon RSS",
        "daemon CPU",
        "drops"
    );
    let exe = exe()?;
    for (variant, n, backend) in &points {
        if harness::signals::interrupted() {
            break;
        }
        let p = harness::scale::point(
            backend.as_ref(),
            variant,
            *n,
            (underlay, args.ip_family.into()),
            Duration::from_secs_f64(args.timeout),
            &exe,
        );
        say!("{}", scale_line(&p));
        result.points.push(p);
        if let Some(w) = &mut writer {
            w.write(&result)?;
        }
    }
    if let Some(w) = &mut writer {
        w.finish();
    }
    if harness::signals::interrupted() {
        eprintln!("cnbench: interrupted; every finished size is in the result");
        return Ok(ExitCode::Interrupted);
    }
    Ok(if result.points.iter().all(|p| p.converged) {
        ExitCode::Ok
    } else {
        ExitCode::ChecksFailed
    })
}

fn scale_line(p: &reports::ScalePoint) -> String {
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    format!(
        "{:<6} {:>5}  {:>10}  {:>8}  {:>11}  {:>12}  {:>10}  {:>7}  {}",
        p.topology,
        p.nodes,
        opt(p
            .convergence_ms
            .map(|ms| render::units::format_ns(ms * 1e6))),
        opt(p.sessions_total.map(|s| s.to_string())),
        opt(p.routes_per_node_max.map(|r| r.to_string())),
        opt(p
            .daemon_rss_bytes_total
            .map(|b| render::units::format_bytes(b as f64))),
        opt(p
            .daemon_cpu_ms_total
            .map(|ms| render::units::format_ns(ms * 1e6))),
        opt(p.softnet_drops.map(|d| d.to_string())),
        match (&p.error, p.converged) {
            (Some(e), _) => e.clone(),
            (None, true) => "converged".into(),
            (None, false) => "did not converge".into(),
        }
    )
}
