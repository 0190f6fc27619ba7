//! The tables of a report, as plain data that the HTML and the Markdown writers both render:
//! environment, parameters, conformance counts and evidence, headline medians with their
//! ratio to host-net, costs, warnings and scale points.

use std::collections::BTreeMap;

use reports::{CheckOutcome, CheckRecord, Environment, RunResult};

use crate::model::{cost_stats, metric_stats, Group, Model};
use crate::units::{format_bps, format_metric, format_ns, sig3, Quantity};

/// How a cell is shown in HTML (Markdown ignores it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tone {
    Plain,
    /// Right-aligned figure.
    Num,
    Pass,
    Fail,
    XFail,
    Muted,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TCell {
    pub text: String,
    pub tone: Tone,
}

impl TCell {
    fn plain(s: impl Into<String>) -> TCell {
        TCell {
            text: s.into(),
            tone: Tone::Plain,
        }
    }
    fn num(s: impl Into<String>) -> TCell {
        TCell {
            text: s.into(),
            tone: Tone::Num,
        }
    }
}

/// A table: header and rows of cells.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Table {
    pub head: Vec<String>,
    pub rows: Vec<Vec<TCell>>,
}

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
fn substrate_cell(s: &reports::Substrate) -> TCell {
    TCell {
        text: s.to_string(),
        tone: if s.emulated { Tone::XFail } else { Tone::Plain },
    }
}

fn inputs_of(t: &mut Table, model: &Model) {
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

/// An outcome in a few words; an error's message is given in full under the inputs table.
fn short_outcome(o: &reports::Outcome) -> String {
    match o {
        reports::Outcome::Error { .. } => "error (message under Inputs)".to_owned(),
        other => other.to_string(),
    }
}

/// Counts of one kind of check in one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub pass: usize,
    pub fail: usize,
    pub xfail: usize,
}

impl Counts {
    fn add(&mut self, o: CheckOutcome) {
        match o {
            CheckOutcome::Pass => self.pass += 1,
            CheckOutcome::Fail => self.fail += 1,
            CheckOutcome::ExpectedFailure => self.xfail += 1,
        }
    }

    /// `"12 pass · 1 FAIL · 2 xfail"`, leaving out zero counts except pass.
    pub(crate) fn text(self) -> String {
        let mut parts = vec![format!("{} pass", self.pass)];
        if self.fail > 0 {
            parts.push(format!("{} FAIL", self.fail));
        }
        if self.xfail > 0 {
            parts.push(format!("{} xfail", self.xfail));
        }
        parts.join(" · ")
    }

    fn tone(self) -> Tone {
        if self.fail > 0 {
            Tone::Fail
        } else if self.xfail > 0 {
            Tone::XFail
        } else {
            Tone::Pass
        }
    }
}

/// The conformance matrix: one row per kind of check, one column per run, and a total row.
pub(crate) fn conformance(model: &Model) -> Table {
    let mut kinds: Vec<&str> = Vec::new();
    for r in &model.runs {
        for c in &r.result.checks {
            if !kinds.contains(&c.check.as_str()) {
                kinds.push(&c.check);
            }
        }
    }
    let mut head = vec!["check kind".to_owned()];
    head.extend(model.runs.iter().map(|r| r.label.clone()));
    let counts: Vec<BTreeMap<&str, Counts>> = model
        .runs
        .iter()
        .map(|r| {
            let mut m: BTreeMap<&str, Counts> = BTreeMap::new();
            for c in &r.result.checks {
                m.entry(c.check.as_str()).or_default().add(c.outcome);
            }
            m
        })
        .collect();
    let mut rows = Vec::new();
    for kind in &kinds {
        let mut row = vec![TCell::plain(*kind)];
        for m in &counts {
            row.push(match m.get(kind) {
                Some(c) => TCell {
                    text: c.text(),
                    tone: c.tone(),
                },
                None => TCell {
                    text: "not checked".into(),
                    tone: Tone::Muted,
                },
            });
        }
        rows.push(row);
    }
    let mut total = vec![TCell::plain("all checks")];
    for m in &counts {
        let c = m.values().fold(Counts::default(), |a, b| Counts {
            pass: a.pass + b.pass,
            fail: a.fail + b.fail,
            xfail: a.xfail + b.xfail,
        });
        total.push(if m.is_empty() {
            TCell {
                text: "no checks".into(),
                tone: Tone::Muted,
            }
        } else {
            TCell {
                text: c.text(),
                tone: c.tone(),
            }
        });
    }
    rows.push(total);
    Table { head, rows }
}

/// The failed and expected-failed checks of one run, with their evidence.
pub(crate) fn evidence(checks: &[CheckRecord], outcome: CheckOutcome) -> Table {
    Table {
        head: vec![
            "kind".into(),
            "subject".into(),
            "expected".into(),
            "actual".into(),
            "reason".into(),
        ],
        rows: checks
            .iter()
            .filter(|c| c.outcome == outcome)
            .map(|c| {
                vec![
                    TCell::plain(&c.check),
                    TCell::plain(&c.subject),
                    TCell::plain(&c.expected),
                    TCell::plain(&c.actual),
                    TCell::plain(c.reason.clone().unwrap_or_else(|| "–".into())),
                ]
            })
            .collect(),
    }
}

/// The metrics shown in the headline table for a workload.
fn headline_metrics(workload: &str) -> &'static [&'static str] {
    match workload {
        "tcp-stream" => &["throughput_bps"],
        "udp-stream" => &["packets_per_s", "throughput_bps", "loss_percent"],
        _ => &[
            "transactions_per_s",
            "rtt_p50_ns",
            "rtt_p99_ns",
            "rtt_p999_ns",
        ],
    }
}

/// A metric's value with its unit: packet rates in pkt/s, the rest as the CLI prints them.
fn figure(metric: &str, v: f64) -> String {
    if metric == "packets_per_s" {
        Quantity::PacketsPerSecond.format(v)
    } else {
        format_metric(metric, v)
    }
}

fn ratio_text(r: f64) -> String {
    format!("{}×", sig3(r))
}

/// Headline medians per series, workload and path, with range, repetitions and the ratio to
/// the same-session host-net baseline.
pub(crate) fn headline(model: &Model) -> Table {
    let mut t = Table {
        head: [
            "series",
            "workload",
            "path",
            "metric",
            "median",
            "min – max",
            "n",
            "vs host-net",
        ]
        .map(String::from)
        .to_vec(),
        rows: Vec::new(),
    };
    for (s, case, p, m) in model.measurements() {
        for metric in headline_metrics(&case.workload) {
            let Some(st) = metric_stats(m, metric) else {
                continue;
            };
            let ratio = m
                .vs_baseline
                .iter()
                .filter(|_| s.ratios)
                .find(|r| r.metric == *metric)
                .map(|r| ratio_text(r.ratio))
                .unwrap_or_else(|| if s.is_baseline { "(baseline)" } else { "–" }.into());
            t.rows.push(vec![
                TCell::plain(&s.label),
                TCell::plain(m.label()),
                TCell::plain(p),
                TCell::plain(*metric),
                TCell::num(figure(metric, st.median)),
                TCell::num(format!(
                    "{} – {}",
                    figure(metric, st.min),
                    figure(metric, st.max)
                )),
                TCell::num(st.n.to_string()),
                TCell::num(ratio),
            ]);
        }
    }
    t
}

/// Every `vs_baseline` ratio: one row per measurement, one column per metric.
pub(crate) fn ratios(model: &Model) -> Table {
    let metrics = [
        ("throughput_bps", "throughput"),
        ("packets_per_s", "packets/s"),
        ("transactions_per_s", "transactions/s"),
        ("rtt_p50_ns", "p50 RTT"),
        ("rtt_p99_ns", "p99 RTT"),
        ("rtt_p999_ns", "p99.9 RTT"),
        ("rtt_mean_ns", "mean RTT"),
    ];
    let mut head: Vec<String> = ["series", "workload", "path"].map(String::from).to_vec();
    head.extend(metrics.iter().map(|(_, h)| (*h).to_owned()));
    let mut rows = Vec::new();
    for (s, _, p, m) in model
        .measurements()
        .filter(|(s, ..)| !s.is_baseline && s.ratios)
    {
        if m.vs_baseline.is_empty() {
            continue;
        }
        let mut row = vec![
            TCell::plain(&s.label),
            TCell::plain(m.label()),
            TCell::plain(p),
        ];
        for (metric, _) in metrics {
            row.push(TCell::num(
                m.vs_baseline
                    .iter()
                    .find(|r| r.metric == metric)
                    .map(|r| ratio_text(r.ratio))
                    .unwrap_or_else(|| "–".into()),
            ));
        }
        rows.push(row);
    }
    Table { head, rows }
}

/// Costs per series, workload and path: medians over repetitions.
pub(crate) fn costs(model: &Model) -> Table {
    let mut t = Table {
        head: [
            "series",
            "workload",
            "path",
            "CPU s/GB",
            "CPU s/Mpkt",
            "crossings/pkt sending node",
            "crossings/pkt receiving node",
            "device xmits/pkt",
            "device tx/pkt (counters)",
            "TCP retransmits",
            "UDP receive errors",
        ]
        .map(String::from)
        .to_vec(),
        rows: Vec::new(),
    };
    for (s, _, p, m) in model.measurements() {
        if crate::model::all_costs(m).next().is_none() {
            continue;
        }
        let med = |f: &dyn Fn(&reports::CostSample) -> Option<f64>| {
            cost_stats(m, f)
                .map(|s| sig3(s.median))
                .unwrap_or_else(|| "–".into())
        };
        let sum = |f: &dyn Fn(&reports::KernelCounters) -> u64| {
            let k: Vec<u64> = m
                .costs
                .iter()
                .filter_map(|c| c.kernel.as_ref().map(f))
                .collect();
            if k.is_empty() {
                "–".into()
            } else {
                k.iter().sum::<u64>().to_string()
            }
        };
        t.rows.push(vec![
            TCell::plain(&s.label),
            TCell::plain(m.label()),
            TCell::plain(p),
            TCell::num(med(&|c| c.machine.as_ref().and_then(|x| x.cpu_s_per_gb))),
            TCell::num(med(&|c| {
                c.machine.as_ref().and_then(|x| x.cpu_s_per_mpacket)
            })),
            TCell::num(med(&|c| c.sending_node_crossings_per_packet)),
            TCell::num(med(&|c| c.receiving_node_crossings_per_packet)),
            TCell::num(med(&|c| c.device_xmits_per_packet)),
            TCell::num(med(&|c| c.device_tx_per_packet)),
            TCell::num(sum(&|k| k.tcp_retrans_segs)),
            TCell::num(sum(&|k| k.udp_in_errors)),
        ]);
    }
    t
}

/// Per-role syscalls and crossings per packet and CPU time, medians over repetitions.
pub(crate) fn roles(model: &Model) -> Table {
    let mut t = Table {
        head: [
            "series",
            "workload",
            "path",
            "role",
            "syscalls/pkt",
            "crossings/pkt",
            "CPU s/GB",
            "CPU time",
        ]
        .map(String::from)
        .to_vec(),
        rows: Vec::new(),
    };
    for (s, _, p, m) in model.measurements() {
        for role in crate::model::roles(m) {
            let st = |f: &dyn Fn(&reports::RoleCost) -> Option<f64>| {
                crate::model::role_stats(m, &role, f).map(|s| s.median)
            };
            let (sc, cr) = (
                st(&|r| r.syscalls_per_packet),
                st(&|r| r.crossings_per_packet),
            );
            let cpu = st(&|r| r.cpu_s_per_gb);
            let ns = st(&|r| r.cpu_ns.map(|n| n as f64));
            if sc.is_none() && cr.is_none() && ns.is_none() {
                continue;
            }
            let f = |v: Option<f64>| v.map(sig3).unwrap_or_else(|| "–".into());
            t.rows.push(vec![
                TCell::plain(&s.label),
                TCell::plain(m.label()),
                TCell::plain(p),
                TCell::plain(&role),
                TCell::num(f(sc)),
                TCell::num(f(cr)),
                TCell::num(f(cpu)),
                TCell::num(ns.map(format_ns).unwrap_or_else(|| "–".into())),
            ]);
        }
    }
    t
}

/// Warnings about noisy measurements and missing cost figures: (series · workload · path,
/// message).
pub(crate) fn warnings(model: &Model) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for r in model.runs.iter().filter(|r| !r.baseline_alike()) {
        if let Some(b) = &r.result.baseline {
            out.push((
                r.label.clone(),
                format!(
                    "its {} baseline (run {}) ran on {} but the run on {}: the baseline and \
                     the ratios to it are left out, as emulated and native figures are not \
                     alike; measure the baseline on the run's substrate",
                    b.backend, b.run_id, b.substrate, r.result.substrate
                ),
            ));
        }
    }
    for s in &model.series {
        for m in s.measurements {
            let at = format!("{} · {} · {}", s.label, m.label(), m.path);
            for w in &m.warnings {
                out.push((at.clone(), w.to_string()));
            }
            // An untraced repetition has no syscall counts by design: only the traced one's
            // reasons are worth a warning.
            let why = crate::model::all_costs(m)
                .filter(|c| c.traced || m.traced.is_none())
                .find_map(|c| {
                    c.machine_unavailable
                        .as_ref()
                        .map(|w| format!("machine CPU unavailable: {w}"))
                        .or_else(|| {
                            c.syscalls_unavailable
                                .as_ref()
                                .map(|w| format!("syscalls unavailable: {w}"))
                        })
                        .or_else(|| {
                            c.device_xmits_unavailable
                                .as_ref()
                                .map(|w| format!("device transmissions unavailable: {w}"))
                        })
                });
            if let Some(why) = why {
                out.push((at, why));
            }
        }
    }
    out
}

/// Every scale point.
pub(crate) fn scale(model: &Model) -> Table {
    let mut t = Table {
        head: [
            "file",
            "topology",
            "nodes",
            "converged",
            "convergence",
            "setup",
            "sessions",
            "max sessions/node",
            "routes/node",
            "daemon memory (all / largest)",
            "daemon CPU",
            "softnet drops",
            "error",
        ]
        .map(String::from)
        .to_vec(),
        rows: Vec::new(),
    };
    let dash = || "–".to_owned();
    for (file, s) in &model.scales {
        for p in &s.points {
            t.rows.push(vec![
                TCell::plain(*file),
                TCell::plain(&p.topology),
                TCell::num(p.nodes.to_string()),
                TCell {
                    text: if p.converged { "yes" } else { "NO" }.into(),
                    tone: if p.converged { Tone::Pass } else { Tone::Fail },
                },
                TCell::num(
                    p.convergence_ms
                        .map(|ms| format_ns(ms * 1e6))
                        .unwrap_or_else(dash),
                ),
                TCell::num(
                    p.setup_ms
                        .map(|ms| format_ns(ms * 1e6))
                        .unwrap_or_else(dash),
                ),
                TCell::num(p.sessions_total.map(|n| n.to_string()).unwrap_or_else(dash)),
                TCell::num(
                    p.sessions_per_node_max
                        .map(|n| n.to_string())
                        .unwrap_or_else(dash),
                ),
                TCell::num(match (p.routes_per_node_min, p.routes_per_node_max) {
                    (Some(a), Some(b)) if a == b => a.to_string(),
                    (Some(a), Some(b)) => format!("{a} – {b}"),
                    _ => dash(),
                }),
                TCell::num(match (p.daemon_rss_bytes_total, p.daemon_rss_bytes_max) {
                    (Some(a), Some(b)) => format!(
                        "{} / {}",
                        Quantity::Bytes.format(a as f64),
                        Quantity::Bytes.format(b as f64)
                    ),
                    (Some(a), None) => Quantity::Bytes.format(a as f64),
                    _ => dash(),
                }),
                TCell::num(
                    p.daemon_cpu_ms_total
                        .map(|ms| format_ns(ms * 1e6))
                        .unwrap_or_else(dash),
                ),
                TCell::num(p.softnet_drops.map(|n| n.to_string()).unwrap_or_else(dash)),
                TCell::plain(p.error.clone().unwrap_or_else(dash)),
            ]);
        }
    }
    t
}

/// Every fault injected (`cnbench fault`), one row each: what, loss and recovery from the
/// probes, TCP under loss, the check after it and the outcome.
pub(crate) fn faults(model: &Model) -> Table {
    let mut t = Table {
        head: [
            "run",
            "fault",
            "target",
            "hold",
            "probe pairs",
            "lost during",
            "lost after",
            "recovery",
            "tcp before → under loss",
            "checks after",
            "outcome",
        ]
        .map(String::from)
        .to_vec(),
        rows: Vec::new(),
    };
    for run in &model.runs {
        for f in &run.result.faults {
            let failed = f.failed_checks().count();
            let passed = f.outcome.passed();
            t.rows.push(vec![
                TCell::plain(&run.label),
                TCell::plain(match f.loss_percent {
                    Some(p) => format!("{} {p} %", f.fault),
                    None => f.fault.clone(),
                }),
                TCell::plain(&f.target),
                TCell::num(format_ns(f.hold_ms as f64 * 1e6)),
                TCell::num(f.probes.pairs.to_string()),
                TCell::num(f.probes.lost_during.to_string()),
                TCell::num(f.probes.lost_after.to_string()),
                TCell::num(if f.probes.recovered() {
                    format_ns(f.probes.recovery_ns as f64)
                } else {
                    format!("never ({} pairs)", f.probes.never_recovered.len())
                }),
                TCell::num(
                    f.tcp_under_loss
                        .as_ref()
                        .map(|t| {
                            format!(
                                "{} → {} ({:.2}×)",
                                format_bps(t.before_bps),
                                format_bps(t.under_loss_bps),
                                t.ratio()
                            )
                        })
                        .unwrap_or_else(|| "–".into()),
                ),
                TCell {
                    text: format!("{}/{}", f.checks_after.len() - failed, f.checks_after.len()),
                    tone: if failed == 0 { Tone::Pass } else { Tone::Fail },
                },
                TCell {
                    text: f.outcome.label().to_string(),
                    tone: if passed { Tone::Pass } else { Tone::Fail },
                },
            ]);
        }
    }
    t
}

/// The checks that failed after faults, as evidence.
pub(crate) fn fault_evidence(model: &Model) -> Table {
    let mut t = Table {
        head: ["run", "after", "check", "subject", "expected", "actual"]
            .map(String::from)
            .to_vec(),
        rows: Vec::new(),
    };
    for run in &model.runs {
        for f in &run.result.faults {
            for c in f.failed_checks() {
                t.rows.push(vec![
                    TCell::plain(&run.label),
                    TCell::plain(&f.fault),
                    TCell::plain(&c.check),
                    TCell::plain(&c.subject),
                    TCell::plain(&c.expected),
                    TCell {
                        text: c.actual.clone(),
                        tone: Tone::Fail,
                    },
                ]);
            }
        }
    }
    t
}
