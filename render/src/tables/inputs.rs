//! What the report is about: its input files, the machines they ran on, and the parameters
//! of each run.

use reports::{Environment, RunResult};

use super::*;
use crate::model::{Group, Model};
use crate::units::Quantity;

/// The inputs: one row per file, group by group, with where its nodes lived.
pub(crate) fn inputs(groups: &[Group]) -> Table {
    let mut t = Table {
        head: vec![
            "file".into(),
            "kind".into(),
            "shown as".into(),
            "substrate".into(),
            "run id".into(),
            "started".into(),
            "outcome".into(),
        ],
        rows: Vec::new(),
    };
    for g in groups {
        inputs_of(&mut t, &g.model);
    }
    t
}

/// Where a result's nodes lived, in a table cell: marked when emulated.
pub(super) fn substrate_cell(s: &reports::Substrate) -> TCell {
    TCell {
        text: s.to_string(),
        tone: if s.emulated { Tone::XFail } else { Tone::Plain },
    }
}

pub(super) fn inputs_of(t: &mut Table, model: &Model) {
    for r in &model.runs {
        let outcome = short_outcome(&r.result.outcome);
        let tone = match &r.result.outcome {
            reports::Outcome::Passed => Tone::Pass,
            reports::Outcome::ChecksFailed | reports::Outcome::Error { .. } => Tone::Fail,
            _ => Tone::XFail,
        };
        t.rows.push(vec![
            TCell::plain(r.file),
            TCell::plain("run"),
            TCell::plain(&r.label),
            substrate_cell(&r.result.substrate),
            TCell::plain(&r.result.run_id),
            TCell::plain(crate::model::utc(r.result.started_unix_ms)),
            TCell {
                text: outcome,
                tone,
            },
        ]);
    }
    for (file, s) in &model.scales {
        t.rows.push(vec![
            TCell::plain(*file),
            TCell::plain("scale"),
            TCell::plain(format!("{} scale, {} underlay", s.backend, s.underlay)),
            substrate_cell(&s.substrate),
            TCell::plain("–"),
            TCell::plain(crate::model::utc(s.started_unix_ms)),
            TCell::plain(format!("{} points", s.points.len())),
        ]);
    }
}

/// The machines: one column per distinct environment (usually one), with the files that ran
/// on it. For VM results this is the machine QEMU ran on; the VMs' kernel is in the
/// parameters.
pub(crate) fn environment(groups: &[Group]) -> Table {
    let mut envs: Vec<(&Environment, Vec<&str>)> = Vec::new();
    let all = groups.iter().flat_map(|g| {
        let model = &g.model;
        model
            .runs
            .iter()
            .map(|r| (&r.result.environment, r.file))
            .chain(model.scales.iter().map(|(f, s)| (&s.environment, *f)))
    });
    for (env, file) in all {
        match envs.iter_mut().find(|(e, _)| *e == env) {
            Some((_, files)) => files.push(file),
            None => envs.push((env, vec![file])),
        }
    }
    let mut head = vec![String::new()];
    head.extend(envs.iter().map(|(_, files)| {
        if envs.len() == 1 {
            "all inputs".to_owned()
        } else {
            files.join(", ")
        }
    }));
    let field = |name: &str, f: &dyn Fn(&Environment) -> String| {
        let mut row = vec![TCell::plain(name)];
        row.extend(envs.iter().map(|(e, _)| TCell::plain(f(e))));
        row
    };
    let or_dash = |o: &Option<String>| o.clone().unwrap_or_else(|| "–".into());
    Table {
        head,
        rows: vec![
            field("kernel", &|e| e.kernel.clone()),
            field("OS", &|e| or_dash(&e.os)),
            field("CPUs", &|e| match &e.cpu_model {
                Some(m) => format!("{} × {m}", e.cpu_count),
                None => e.cpu_count.to_string(),
            }),
            field("memory", &|e| {
                e.memory_bytes
                    .map(|b| Quantity::Bytes.format(b as f64))
                    .unwrap_or_else(|| "–".into())
            }),
            field("cnbench", &|e| match &e.git_revision {
                Some(rev) => format!("{} (git {rev})", e.cnbench_version),
                None => e.cnbench_version.clone(),
            }),
            field("host name", &|e| or_dash(&e.hostname)),
        ],
    }
}

/// The parameters of each run: one column per run.
pub(crate) fn parameters(model: &Model) -> Table {
    let mut head = vec![String::new()];
    head.extend(model.runs.iter().map(|r| r.label.clone()));
    type Get = fn(&RunResult) -> String;
    let fields: [(&str, Get); 19] = [
        ("file", |_| String::new()),
        ("substrate", |r| r.substrate.to_string()),
        ("run id", |r| r.run_id.clone()),
        ("started", |r| crate::model::utc(r.started_unix_ms)),
        ("outcome", |r| short_outcome(&r.outcome)),
        ("backend", |r| r.parameters.backend.clone()),
        ("datapath", |r| {
            r.parameters.datapath.clone().unwrap_or_else(|| "–".into())
        }),
        ("topology", |r| {
            let p = &r.parameters;
            format!(
                "{} node{} × {} pod{}, {}{}",
                p.nodes,
                if p.nodes == 1 { "" } else { "s" },
                p.pods_per_node,
                if p.pods_per_node == 1 { "" } else { "s" },
                match p.underlay.as_str() {
                    "none" | "" => "no underlay".to_owned(),
                    u => format!("{u} underlay"),
                },
                r.parameters
                    .bgp_topology
                    .as_ref()
                    .map(|t| format!(", BGP {t}"))
                    .unwrap_or_default()
            )
        }),
        ("pod network", |r| r.parameters.pod_cidr.clone()),
        ("underlay subnets", |r| {
            if r.parameters.underlay_cidrs.is_empty() {
                "–".into()
            } else {
                r.parameters.underlay_cidrs.join(", ")
            }
        }),
        ("MTU", |r| format!("{} B", r.parameters.mtu)),
        ("workloads", |r| r.parameters.workloads.join(", ")),
        ("window × repetitions", |r| {
            format!(
                "{} ms (after {} ms warm-up) × {}",
                r.parameters.duration_ms, r.parameters.warmup_ms, r.parameters.repeat
            )
        }),
        ("placement", |r| r.parameters.placement.clone()),
        ("tcp-stream streams", |r| r.parameters.streams.to_string()),
        ("message size", |r| match r.parameters.message_size_bytes {
            Some(b) => format!("{b} B"),
            None => "each workload's default".into(),
        }),
        ("traffic generator", |r| {
            crate::model::external_generator(r).unwrap_or_else(|| "cnbench".into())
        }),
        ("host-net baseline", |r| {
            match (&r.baseline, &r.baseline_error) {
                (Some(b), _) if !b.substrate.comparable_with(&r.substrate) => format!(
                    "left out: measured on {} (run {}), not alike the run's substrate",
                    b.substrate, b.run_id
                ),
                (Some(b), _) => format!("measured (run {}, {})", b.run_id, b.topology),
                (None, Some(e)) => format!("failed: {e}"),
                (None, None) => "not measured".into(),
            }
        }),
        ("phases", crate::text::phases),
    ];
    let rows = fields
        .iter()
        .map(|(name, get)| {
            let mut row = vec![TCell::plain(*name)];
            for r in &model.runs {
                let text = if *name == "file" {
                    r.file.to_owned()
                } else {
                    get(r.result)
                };
                let tone = match (*name, &r.result.outcome) {
                    ("outcome", reports::Outcome::Passed) => Tone::Pass,
                    (
                        "outcome",
                        reports::Outcome::Error { .. } | reports::Outcome::ChecksFailed,
                    ) => Tone::Fail,
                    ("outcome", _) => Tone::XFail,
                    ("substrate", _) if r.result.substrate.emulated => Tone::XFail,
                    _ => Tone::Plain,
                };
                row.push(TCell { text, tone });
            }
            row
        })
        .collect();
    Table { head, rows }
}
