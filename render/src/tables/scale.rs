//! Control-plane scale points.

use super::*;
use crate::model::Model;
use crate::units::{format_ns, Quantity};

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
