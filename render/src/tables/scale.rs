//! Control-plane scale points.

use super::*;
use crate::figures::variant_label;
use crate::model::Model;
use crate::units::{format_ns, Quantity};

/// Every scale point: its variant, convergence, sessions, memory per node and what memory
/// allows, CPU, and for a point that did not converge, why.
pub(crate) fn scale(model: &Model) -> Table {
    let mut t = Table {
        head: [
            "file",
            "variant",
            "nodes",
            "converged",
            "convergence",
            "setup",
            "sessions (up / expected)",
            "dropped (hold timer)",
            "max sessions/node",
            "routes/node",
            "memory per node (largest / mean)",
            "daemon memory (all / largest)",
            "daemon CPU (CPUs busy)",
            "MemAvailable",
            "nodes memory allows",
            "softnet drops",
            "why not converged / error",
        ]
        .map(String::from)
        .to_vec(),
        rows: Vec::new(),
    };
    let dash = || "–".to_owned();
    let bytes = |b: f64| Quantity::Bytes.format(b);
    for (file, s) in &model.scales {
        let varied = s.varied();
        for p in &s.points {
            let variant = p.options();
            let mut name = variant_label(&variant, &varied);
            if name.is_empty() {
                name = variant.values().cloned().collect::<Vec<_>>().join(", ");
            }
            t.rows.push(vec![
                TCell::plain(*file),
                TCell::plain(name),
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
                TCell::num(match (p.sessions_total, p.sessions_expected) {
                    (Some(a), Some(b)) => format!("{a} / {b}"),
                    (Some(a), None) => a.to_string(),
                    _ => dash(),
                }),
                TCell::num(
                    p.sessions_dropped
                        .map(|n| n.to_string())
                        .unwrap_or_else(dash),
                ),
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
                TCell::num(
                    match (
                        p.daemon_rss_bytes_per_node_max,
                        p.daemon_rss_bytes_per_node_mean,
                    ) {
                        (Some(a), Some(b)) => format!("{} / {}", bytes(a as f64), bytes(b)),
                        _ => dash(),
                    },
                ),
                TCell::num(match (p.daemon_rss_bytes_total, p.daemon_rss_bytes_max) {
                    (Some(a), Some(b)) => format!("{} / {}", bytes(a as f64), bytes(b as f64)),
                    (Some(a), None) => bytes(a as f64),
                    _ => dash(),
                }),
                TCell::num(match (p.daemon_cpu_ms_total, p.daemon_cpus_busy()) {
                    (Some(ms), Some(busy)) => format!("{} ({busy:.2})", format_ns(ms * 1e6)),
                    (Some(ms), None) => format_ns(ms * 1e6),
                    _ => dash(),
                }),
                TCell::num(
                    p.mem_available_bytes
                        .map(|b| bytes(b as f64))
                        .unwrap_or_else(dash),
                ),
                TCell::num(
                    s.nodes_memory_allows(p)
                        .map(|n| n.to_string())
                        .unwrap_or_else(dash),
                ),
                TCell::num(p.softnet_drops.map(|n| n.to_string()).unwrap_or_else(dash)),
                TCell::plain(match (&p.limit, &p.error) {
                    (Some(l), Some(e)) if l.detail != *e => {
                        format!("{}: {} ({e})", l.reason.as_str(), l.detail)
                    }
                    (Some(l), _) => format!("{}: {}", l.reason.as_str(), l.detail),
                    (None, Some(e)) => e.clone(),
                    (None, None) => dash(),
                }),
            ]);
        }
    }
    t
}
