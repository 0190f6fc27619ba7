//! BGP control-plane scale: convergence, sessions, routes and memory against node count.

use reports::ScaleResult;

use super::*;
use crate::chart::{
    color, Axis, Body, Chart, Key, Line, LineChart, LinePanel, Mark, Marker, Scale, PALETTE,
};
use crate::model::Model;
use crate::units::Quantity;

/// Plot 7: Control-plane scale: convergence, sessions and daemon memory against node count.
pub(super) fn scale(model: &Model) -> Result<Figure, Omitted> {
    if model.scales.is_empty() {
        return Err(Omitted {
            title: "BGP control-plane scale",
            why: "no scale result among the inputs (written by `cnbench scale`)".into(),
        });
    }
    let several = model.scales.len() > 1;
    let mut keys: Vec<Key> = Vec::new();
    let mut series: Vec<(usize, &ScaleResult, String)> = Vec::new();
    for (file, s) in &model.scales {
        let mut topologies: Vec<&str> = Vec::new();
        for p in &s.points {
            if !topologies.contains(&p.topology.as_str()) {
                topologies.push(&p.topology);
            }
        }
        for t in topologies {
            let label = match (t, several) {
                ("mesh", false) => "full mesh".to_owned(),
                ("rr", false) => "route reflector".to_owned(),
                (t, false) => t.to_owned(),
                (t, true) => format!("{t} ({file})"),
            };
            series.push((keys.len(), s, t.to_owned()));
            keys.push(Key {
                label,
                color: color(keys.len()),
                mark: Mark::Line,
            });
        }
    }
    let failed_key = keys.len();
    type Get = fn(&reports::ScalePoint) -> Option<f64>;
    let specs: [(&str, Axis, Get); 3] = [
        (
            "Time to converge",
            Axis::new("Convergence time", Quantity::Nanoseconds, Scale::Linear),
            |p| p.convergence_ms.filter(|_| p.converged).map(|ms| ms * 1e6),
        ),
        (
            "BGP sessions established",
            Axis::new("Sessions", Quantity::Count(""), Scale::Linear),
            |p| p.sessions_total.map(|n| n as f64),
        ),
        (
            "Memory of all BIRD daemons",
            Axis::new("Resident memory", Quantity::Bytes, Scale::Linear),
            |p| p.daemon_rss_bytes_total.map(|b| b as f64),
        ),
    ];
    let mut any_failed = false;
    let panels: Vec<LinePanel> = specs
        .into_iter()
        .enumerate()
        .map(|(i, (title, y, get))| {
            let mut lines = Vec::new();
            let mut markers = Vec::new();
            for (key, s, topology) in &series {
                let mut pts: Vec<(f64, f64)> = s
                    .points
                    .iter()
                    .filter(|p| p.topology == *topology)
                    .filter_map(|p| get(p).map(|v| (f64::from(p.nodes), v)))
                    .collect();
                pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                if !pts.is_empty() {
                    lines.push(Line {
                        series: *key,
                        points: pts,
                        faint: false,
                        dots: true,
                    });
                }
                if i == 0 {
                    for p in s
                        .points
                        .iter()
                        .filter(|p| p.topology == *topology && !p.converged)
                    {
                        any_failed = true;
                        markers.push(Marker {
                            x: f64::from(p.nodes),
                            y: p.convergence_ms.map(|ms| ms * 1e6),
                            key: failed_key,
                        });
                    }
                }
            }
            LinePanel {
                title: title.to_owned(),
                x: Axis::new("Nodes", Quantity::Count(""), Scale::Linear).with_data_ticks(),
                y,
                lines,
                markers,
            }
        })
        .collect();
    if any_failed {
        keys.push(Key {
            label: "did not converge (at the top edge when no time was recorded)".into(),
            color: PALETTE[5],
            mark: Mark::Cross,
        });
    }
    let caption = "Each point is one BGP topology at one size, set up from scratch: convergence \
        is the time from starting the BIRD daemons until every node has every route and every \
        pod pair answers (and it stayed so); sessions are BGP sessions Established, counted \
        once per pair; memory is the resident memory of all BIRD daemons together. Full mesh: \
        every node peers with every other; route reflector: every node peers with one \
        reflector. The table below gives softnet drops and errors of each point."
        .to_owned();
    Ok(Figure {
        name: "bgp-scale",
        chart: Chart {
            title: "BGP control plane against node count".into(),
            body: Body::Lines(LineChart {
                keys,
                panels,
                columns: 3,
            }),
            footnote: None,
        },
        caption,
    })
}
