//! The first screen of a report: what a design review asks first.
//!
//! One table per group of results (namespace results, VM results): a row per backend and
//! path (cross-node, same-node) with TCP throughput, the round trip's median and the CPU time
//! per GB, each with its ratio to the host-net baseline measured in the same session; the
//! structural costs (user/kernel crossings per packet on the sending and receiving node,
//! device transmissions per packet, from the one-packet-in-flight tcp-rr workload); the
//! conformance verdict of each run (checks that did not apply counted apart); and every
//! warning that concerns these rows, listed under the table. The host-net baseline comes
//! first as the reference. A run that measured pod churn is named in a note (its figures are
//! in the report's Pod churn section). Under the table, for each run that recorded them, the software
//! under test it drove but cnbench did not write (a CNI network and its plugins), in one line
//! with its notes. Everything else (inputs, environment, parameters, every figure, plots,
//! plugin calls, faults, scale) follows in the report.

use reports::{CheckCounts, CostSample, FaultOutcome, MeasurementRecord, RunResult};

use crate::components;
use crate::model::{cost_stats, metric_stats, Model, Run, PATHS};
use crate::tables::{TCell, Table, Tone};
use crate::units::{format_ratio, sig3, trim_number, Quantity};
use crate::words::plural;

/// What the first screen of one group shows.
pub(crate) struct Overview {
    /// One row per backend (baseline first) and path.
    pub table: Table,
    /// What the columns mean, in one paragraph.
    pub legend: String,
    /// The warnings about what the table shows: (backend, or backend and path; message).
    pub warnings: Vec<(String, String)>,
    /// Notes on what is not in the table (scale results, runs without measurements).
    pub notes: Vec<String>,
    /// The software under test of each run that recorded any, in run order.
    pub software: Vec<Software>,
}

/// The software under test of one run, for the first screen.
pub(crate) struct Software {
    /// The run, as the table names it.
    pub run: String,
    /// Its components in one line (`CNI network docker0 (CNI 1.0.0; ...) · bridge ...`).
    pub line: String,
    /// Their notes beyond chain and configuration file (`docker0: bridge: mtu ...`).
    pub notes: Vec<String>,
}

/// A figure of the table: a value (in the metric's unit) and its ratio to host-net.
#[derive(Clone, Copy, Default)]
struct Figure {
    value: Option<f64>,
    ratio: Option<f64>,
}

/// How a ratio to host-net reads: for throughput higher is better, for the round trip and
/// CPU lower is.
#[derive(Clone, Copy, PartialEq)]
enum Better {
    Higher,
    Lower,
}

/// One row before its figures are put in units.
struct Row {
    backend: String,
    path: String,
    throughput: Figure,
    p50: Figure,
    cpu: Figure,
    crossings: Option<(f64, f64)>,
    xmits: Option<f64>,
    checks: Option<CheckCounts>,
    warnings: usize,
    reference: bool,
}

/// The measurement of `workload` (no variant) over `path`.
fn find<'a>(
    ms: &'a [MeasurementRecord],
    workload: &str,
    path: &str,
) -> Option<&'a MeasurementRecord> {
    ms.iter()
        .find(|m| m.workload == workload && m.variant.is_none() && m.path == path)
}

/// The machine's CPU seconds per GB of a measurement (median over its repetitions).
fn cpu_per_gb(m: &MeasurementRecord) -> Option<f64> {
    cost_stats(m, |c: &CostSample| {
        c.machine.as_ref().and_then(|x| x.cpu_s_per_gb)
    })
    .map(|s| s.median)
}

/// The median of `metric` in `m`, with its ratio to the same-session baseline when
/// `with_ratio`.
fn figure(m: Option<&MeasurementRecord>, metric: &str, with_ratio: bool) -> Figure {
    Figure {
        value: m.and_then(|m| metric_stats(m, metric)).map(|s| s.median),
        ratio: m
            .filter(|_| with_ratio)
            .and_then(|m| m.ratio_to_baseline(metric)),
    }
}

/// The rows of one run (or its baseline, with `reference`) over each path it measured.
fn rows_of(label: &str, ms: &[MeasurementRecord], run: Option<&Run>, reference: bool) -> Vec<Row> {
    // Ratios only against a baseline on a substrate alike the run's.
    let baseline = run
        .filter(|r| r.baseline_alike())
        .and_then(|r| r.result.baseline.as_ref());
    let mut rows = Vec::new();
    for path in PATHS {
        let stream = find(ms, "tcp-stream", path);
        let rr = find(ms, "tcp-rr", path);
        if stream.is_none() && rr.is_none() {
            continue;
        }
        let rr_cost =
            |f: fn(&CostSample) -> Option<f64>| rr.and_then(|m| cost_stats(m, f)).map(|s| s.median);
        let crossings = rr_cost(|c| c.sending_node_crossings_per_packet)
            .zip(rr_cost(|c| c.receiving_node_crossings_per_packet));
        let xmits = rr_cost(|c| c.device_xmits_per_packet.or(c.device_tx_per_packet));
        let cpu = stream.and_then(cpu_per_gb);
        // The baseline is measured between two nodes: every path of the run is set against
        // its measurement of the same workload, as `vs_baseline` does.
        let cpu_ratio = baseline
            .and_then(|b| {
                b.measurements
                    .iter()
                    .find(|bm| stream.is_some_and(|m| m.same_case(bm)))
            })
            .and_then(cpu_per_gb)
            .zip(cpu)
            .filter(|(b, _)| *b > 0.0)
            .map(|(b, c)| c / b);
        let with_ratios = baseline.is_some();
        rows.push(Row {
            backend: label.to_owned(),
            path: path.to_owned(),
            throughput: figure(stream, "throughput_bps", with_ratios),
            p50: figure(rr, "rtt_p50_ns", with_ratios),
            cpu: Figure {
                value: cpu,
                ratio: cpu_ratio,
            },
            crossings,
            xmits,
            checks: None,
            warnings: stream
                .iter()
                .chain(rr.iter())
                .map(|m| m.warnings.len())
                .sum(),
            reference,
        });
    }
    rows
}

/// The warnings about a run as a whole: how it ended, its baseline, its faults.
fn run_warnings(run: &Run) -> Vec<String> {
    let r: &RunResult = run.result;
    let mut out = Vec::new();
    match &r.outcome {
        reports::Outcome::Passed => {}
        reports::Outcome::ChecksFailed if r.check_counts().failed > 0 => out.push(format!(
            "{} of {} checks failed: see Conformance below",
            r.check_counts().failed,
            r.checks.len() - r.check_counts().not_applicable
        )),
        reports::Outcome::ChecksFailed => {
            out.push("a check run again after a fault failed: see Faults below".into())
        }
        other => out.push(format!(
            "the run did not complete ({other}): its figures are partial"
        )),
    }
    // Pod churn has no host-net counterpart: a run of nothing else misses no baseline.
    if r.measurements.iter().any(|m| !crate::churn::is_churn(m)) {
        match (&r.baseline, &r.baseline_error) {
            (Some(b), _) if !run.baseline_alike() => out.push(format!(
                "its host-net baseline ran on {} but the run on {}: no ratios are given",
                b.substrate, r.substrate
            )),
            (Some(_), _) => {}
            (None, Some(e)) => out.push(format!(
                "the host-net baseline failed ({e}): no ratios are given"
            )),
            (None, None) => out.push(
                "no host-net baseline was measured with this run (--no-baseline, or a substrate \
                 without one): no ratios are given"
                    .into(),
            ),
        }
    }
    for f in &r.faults {
        if f.outcome == FaultOutcome::Recovered {
            continue;
        }
        let mut w = format!("fault {} on {}: {}", f.fault, f.target, f.outcome.label());
        if !f.probes.recovered() {
            w.push_str(&format!(
                ", {} pair{} never answered again",
                f.probes.never_recovered.len(),
                plural(f.probes.never_recovered.len())
            ));
        }
        let failed = f.failed_checks().count();
        if failed > 0 {
            w.push_str(&format!(
                ", {failed} check{} failed after it",
                plural(failed)
            ));
        }
        if let FaultOutcome::Error { message } = &f.outcome {
            w.push_str(&format!(": {message}"));
        }
        out.push(w);
    }
    out
}

/// The overview of one group's results, or `None` when it has no run results.
pub(crate) fn overview(model: &Model) -> Option<Overview> {
    if model.runs.is_empty() {
        return None;
    }
    let mut rows: Vec<Row> = Vec::new();
    for s in model.series.iter().filter(|s| s.is_baseline) {
        rows.extend(rows_of(&s.label, s.measurements, None, true));
    }
    let mut warnings = Vec::new();
    let mut notes = Vec::new();
    for run in &model.runs {
        let mut mine = rows_of(&run.label, &run.result.measurements, Some(run), false);
        let churn = crate::churn::levels(&run.result.measurements);
        if !churn.is_empty() {
            let levels: Vec<String> = churn.iter().map(|l| l.concurrency.to_string()).collect();
            notes.push(format!(
                "{} measured pod churn at concurrency {}: see Pod churn below",
                run.label,
                levels.join(", ")
            ));
        }
        if mine.is_empty() {
            if churn.is_empty() {
                notes.push(format!(
                    "{} measured no tcp-stream or tcp-rr: only its checks are shown",
                    run.label
                ));
            }
            mine.push(Row {
                backend: run.label.clone(),
                path: "–".into(),
                throughput: Figure::default(),
                p50: Figure::default(),
                cpu: Figure::default(),
                crossings: None,
                xmits: None,
                checks: None,
                warnings: 0,
                reference: false,
            });
        }
        let run_level = run_warnings(run);
        mine[0].checks = Some(run.result.check_counts());
        mine[0].warnings += run_level.len();
        warnings.extend(run_level.into_iter().map(|w| (run.label.clone(), w)));
        for row in &mine {
            for m in ["tcp-stream", "tcp-rr"]
                .iter()
                .filter_map(|w| find(&run.result.measurements, w, &row.path))
            {
                for w in &m.warnings {
                    warnings.push((
                        format!("{} · {} {}", run.label, m.label(), m.path),
                        w.to_string(),
                    ));
                }
            }
        }
        rows.extend(mine);
    }
    for (file, s) in &model.scales {
        let largest = s.points.iter().map(|p| p.nodes).max().unwrap_or(0);
        let converged = s.points.iter().filter(|p| p.converged).count();
        notes.push(format!(
            "{file}: {} control-plane scale, {} points up to {largest} nodes, {converged} \
             converged: see Control-plane scale below",
            s.backend,
            s.points.len()
        ));
    }
    let software = model
        .runs
        .iter()
        .filter_map(|run| {
            components::line(&run.result.components).map(|line| Software {
                run: run.label.clone(),
                line,
                notes: components::notes(&run.result.components),
            })
        })
        .collect();
    Some(Overview {
        table: table(&rows),
        legend: LEGEND.into(),
        warnings,
        notes,
        software,
    })
}

/// The heading of a ratio column; the hyphen and space do not break, so it stays whole.
const RATIO_HEAD: &str = "×\u{a0}host\u{2011}net";

/// What the columns mean.
const LEGEND: &str = "Medians over the repetitions. \"× host-net\" divides by the host-network \
    baseline measured in the same session (higher is better for throughput, lower for the \
    round trip and CPU); green: as good as host-net or within 10 %, amber: up to twice as \
    costly, red: more than that. TCP throughput is tcp-stream's; the round trip is tcp-rr's; \
    CPU time is all CPUs' busy time per GB of tcp-stream's traffic. Crossings are user/kernel \
    crossings (data-moving syscalls); they and device transmissions count per packet of \
    tcp-rr, one packet in flight, so they show the datapath's structure: a packet that one \
    kernel forwards costs 1 crossing on each node and one transmission per device it leaves.";

/// The cells of a value column in one unit, chosen by the largest value, and its heading.
fn column(values: &[Option<f64>], quantity: Quantity, name: &str) -> (String, Vec<String>) {
    let max = values.iter().flatten().fold(0.0f64, |a, v| a.max(v.abs()));
    let unit = quantity.unit_for(max);
    let cells = values
        .iter()
        .map(|v| {
            v.map(|v| sig3(v / unit.divisor))
                .unwrap_or_else(|| "–".into())
        })
        .collect();
    (format!("{name} ({})", unit.name), cells)
}

/// A ratio cell, toned by how it compares with host-net.
fn ratio_cell(f: &Figure, better: Better, reference: bool) -> TCell {
    if reference {
        return TCell {
            text: "reference".into(),
            tone: Tone::Muted,
        };
    }
    let Some(r) = f.ratio.filter(|r| r.is_finite() && *r > 0.0) else {
        return TCell::num("–");
    };
    let worse = match better {
        Better::Higher => 1.0 / r,
        Better::Lower => r,
    };
    TCell {
        text: format_ratio(r),
        tone: if worse <= 1.1 {
            Tone::Pass
        } else if worse <= 2.0 {
            Tone::XFail
        } else {
            Tone::Fail
        },
    }
}

fn checks_cell(c: Option<CheckCounts>) -> TCell {
    let Some(c) = c else {
        return TCell::plain("");
    };
    let not_applicable = if c.not_applicable > 0 {
        format!(" · {} not applicable", c.not_applicable)
    } else {
        String::new()
    };
    if c.passed + c.failed + c.expected_failures == 0 {
        return TCell {
            text: if c.not_applicable > 0 {
                format!("none made{not_applicable}")
            } else {
                "none run".into()
            },
            tone: Tone::Muted,
        };
    }
    let mut text = format!("{} passed", c.passed);
    if c.failed > 0 {
        text.push_str(&format!(" · {} FAILED", c.failed));
    }
    if c.expected_failures > 0 {
        text.push_str(&format!(
            " · {} expected failure{}",
            c.expected_failures,
            plural(c.expected_failures)
        ));
    }
    text.push_str(&not_applicable);
    TCell {
        text,
        tone: if c.failed > 0 {
            Tone::Fail
        } else if c.expected_failures > 0 {
            Tone::XFail
        } else {
            Tone::Pass
        },
    }
}

fn table(rows: &[Row]) -> Table {
    let (throughput_head, throughput) = column(
        &rows.iter().map(|r| r.throughput.value).collect::<Vec<_>>(),
        Quantity::BitsPerSecond,
        "TCP throughput",
    );
    let (p50_head, p50) = column(
        &rows.iter().map(|r| r.p50.value).collect::<Vec<_>>(),
        Quantity::Nanoseconds,
        "round trip p50",
    );
    let cpu: Vec<String> = rows
        .iter()
        .map(|r| r.cpu.value.map(sig3).unwrap_or_else(|| "–".into()))
        .collect();
    let head = vec![
        "backend".to_owned(),
        "path".to_owned(),
        throughput_head,
        RATIO_HEAD.to_owned(),
        p50_head,
        RATIO_HEAD.to_owned(),
        "CPU time per GB (s)".to_owned(),
        RATIO_HEAD.to_owned(),
        "crossings per packet (sending / receiving node)".to_owned(),
        "device transmissions per packet".to_owned(),
        "conformance checks".to_owned(),
        "warnings".to_owned(),
    ];
    let mut out = Vec::new();
    let mut previous = "";
    for (i, r) in rows.iter().enumerate() {
        let first = r.backend != previous;
        previous = &r.backend;
        out.push(vec![
            TCell::plain(if first { r.backend.as_str() } else { "" }),
            TCell::plain(&r.path),
            TCell::num(&throughput[i]),
            ratio_cell(&r.throughput, Better::Higher, r.reference),
            TCell::num(&p50[i]),
            ratio_cell(&r.p50, Better::Lower, r.reference),
            TCell::num(&cpu[i]),
            ratio_cell(&r.cpu, Better::Lower, r.reference),
            TCell::num(
                r.crossings
                    .map(|(s, c)| format!("{} / {}", trim_number(s), trim_number(c)))
                    .unwrap_or_else(|| "–".into()),
            ),
            TCell::num(r.xmits.map(trim_number).unwrap_or_else(|| "–".into())),
            checks_cell(r.checks),
            match r.warnings {
                0 => TCell {
                    text: "none".into(),
                    tone: Tone::Muted,
                },
                n => TCell {
                    text: format!("{n}, listed below"),
                    tone: Tone::XFail,
                },
            },
        ]);
    }
    Table { head, rows: out }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::groups;
    use crate::Input;

    fn data(name: &str) -> Input {
        Input::read(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data")
                .join(name),
        )
        .unwrap()
    }

    #[test]
    fn backends_against_host_net_per_path() {
        let inputs = [data("vxlan.json"), data("flannel-udp.json")];
        let g = groups(&inputs);
        let o = overview(&g[0].model).unwrap();
        let t = &o.table;
        assert_eq!(t.head[2], "TCP throughput (Gbit/s)");
        assert_eq!(t.head[4], "round trip p50 (µs)");
        let row = |backend: &str, path: &str| {
            let mut current = String::new();
            t.rows
                .iter()
                .find(|r| {
                    if !r[0].text.is_empty() {
                        current = r[0].text.clone();
                    }
                    current == backend && r[1].text == path
                })
                .unwrap_or_else(|| panic!("no row {backend} {path}"))
                .iter()
                .map(|c| c.text.clone())
                .collect::<Vec<_>>()
        };
        // Two baselines (one per session), then each backend's paths, cross-node first.
        assert_eq!(t.rows[0][0].text, "host-net, vxlan session");
        assert_eq!(t.rows[0][3].text, "reference");
        let vxlan = row("vxlan", "cross-node");
        assert_eq!(vxlan[2], "12.2");
        assert_eq!(vxlan[3], "0.870×");
        assert_eq!(vxlan[5], "1.70×");
        assert_eq!(vxlan[10], "90 passed");
        // flannel-udp's userspace datapath: three crossings and six transmissions a packet.
        let flannel = row("flannel-udp faithful", "cross-node");
        assert_eq!(flannel[8], "3 / 3");
        assert_eq!(flannel[9], "6");
        assert_eq!(flannel[3], "0.0378×");
        let same = row("flannel-udp faithful", "same-node");
        assert_eq!((same[8].as_str(), same[9].as_str()), ("1 / 1", "2"));
        // CPU per GB against the session's host-net.
        assert!(
            flannel[7].ends_with('×') && flannel[7] != "–",
            "{flannel:?}"
        );
        assert!(o.legend.contains("one packet in flight"));
    }

    #[test]
    fn checks_that_did_not_apply_are_counted_apart() {
        let counts = |passed, failed, not_applicable| CheckCounts {
            passed,
            failed,
            expected_failures: 0,
            not_applicable,
        };
        let cell = |c| {
            let t = checks_cell(Some(c));
            (t.text, t.tone)
        };
        assert_eq!(
            cell(counts(88, 0, 2)),
            ("88 passed · 2 not applicable".into(), Tone::Pass)
        );
        assert_eq!(
            cell(counts(87, 1, 2)),
            ("87 passed · 1 FAILED · 2 not applicable".into(), Tone::Fail)
        );
        assert_eq!(
            cell(counts(0, 0, 2)),
            ("none made · 2 not applicable".into(), Tone::Muted)
        );
        assert_eq!(cell(counts(0, 0, 0)), ("none run".into(), Tone::Muted));
        assert_eq!(cell(counts(5, 0, 0)), ("5 passed".into(), Tone::Pass));

        // A failure among them: "1 of the checks made".
        let mut r = reports::fixtures::cni_result();
        r.checks
            .push(reports::fixtures::not_applicable_check(&r.run_id));
        let inputs = [Input::run("cni.json", r)];
        let g = groups(&inputs);
        let o = overview(&g[0].model).unwrap();
        assert!(
            o.warnings
                .iter()
                .any(|(_, w)| w == "1 of 3 checks failed: see Conformance below"),
            "{:?}",
            o.warnings
        );
    }

    #[test]
    fn runs_without_a_baseline_or_measurements_say_so() {
        let inputs = [data("host-gw-l3.json"), data("vxlan-broken-vtep.json")];
        let g = groups(&inputs);
        let o = overview(&g[0].model).unwrap();
        let warnings: Vec<String> = o
            .warnings
            .iter()
            .map(|(a, w)| format!("{a}: {w}"))
            .collect();
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with("host-gw l3 underlay: no host-net baseline")),
            "{warnings:?}"
        );
        assert!(
            warnings.iter().any(|w| w.contains("fault vtep-change on n1: NOT RECOVERED, 8 pairs never answered again, 21 checks failed after it")),
            "{warnings:?}"
        );
        let broken = o
            .table
            .rows
            .iter()
            .find(|r| r[0].text.starts_with("vxlan"))
            .unwrap();
        assert_eq!(broken[1].text, "–");
        assert_eq!(broken[10].text, "90 passed");
        assert!(
            warnings
                .iter()
                .any(|w| w.ends_with("a check run again after a fault failed: see Faults below")),
            "{warnings:?}"
        );
        assert!(o
            .notes
            .iter()
            .any(|n| n.contains("measured no tcp-stream or tcp-rr")));
    }
}
