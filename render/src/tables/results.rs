//! Headline medians with their range and ratio to host-net, every ratio, and the warnings.

use super::*;
use crate::model::{metric_stats, Model};
use crate::units::{format_metric as figure, format_ratio as ratio_text};
use crate::words::metric_label;

/// The metrics shown in the headline table for a workload.
pub(super) fn headline_metrics(workload: &str) -> &'static [&'static str] {
    match workload {
        "tcp-stream" => &["throughput_bps"],
        "udp-stream" => &["packets_per_s", "throughput_bps", "loss_percent"],
        // The rest of a churn level is in the churn table.
        reports::churn::CHURN_WORKLOAD => &[
            "pods_per_s",
            "removed_per_s",
            "reachable_p50_ns",
            "reachable_p99_ns",
        ],
        _ => &[
            "transactions_per_s",
            "rtt_p50_ns",
            "rtt_p99_ns",
            "rtt_p999_ns",
        ],
    }
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
            let ratio = Some(m)
                .filter(|_| s.ratios)
                .and_then(|m| m.ratio_to_baseline(metric))
                .map(ratio_text)
                .unwrap_or_else(|| if s.is_baseline { "(baseline)" } else { "–" }.into());
            t.rows.push(vec![
                TCell::plain(&s.label),
                TCell::plain(m.label()),
                TCell::plain(p),
                TCell::plain(metric_label(metric)),
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
        "throughput_bps",
        "packets_per_s",
        "transactions_per_s",
        "rtt_p50_ns",
        "rtt_p99_ns",
        "rtt_p999_ns",
        "rtt_mean_ns",
    ];
    let mut head: Vec<String> = ["series", "workload", "path"].map(String::from).to_vec();
    head.extend(metrics.iter().map(|m| metric_label(m).to_owned()));
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
        for metric in metrics {
            row.push(TCell::num(
                m.ratio_to_baseline(metric)
                    .map(ratio_text)
                    .unwrap_or_else(|| "–".into()),
            ));
        }
        rows.push(row);
    }
    Table { head, rows }
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
