//! BGP control-plane scale: convergence, sessions, routes and memory against node count.

use std::collections::BTreeMap;

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
    // One curve per file and variant (one value of each option the sweep varied).
    let mut series: Vec<(usize, &ScaleResult, BTreeMap<String, String>)> = Vec::new();
    for (file, s) in &model.scales {
        let varied = s.varied();
        let mut variants: Vec<BTreeMap<String, String>> = Vec::new();
        for p in &s.points {
            let v = p.options();
            if !variants.contains(&v) {
                variants.push(v);
            }
        }
        for v in variants {
            let mut label = variant_label(&v, &varied);
            if label.is_empty() {
                label = s.backend.clone();
            }
            if several {
                label = format!("{label} ({file})");
            }
            series.push((keys.len(), s, v));
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
            "CPU of the daemons until convergence",
            Axis::new("CPU time", Quantity::Nanoseconds, Scale::Linear),
            |p| p.daemon_cpu_ms_total.map(|ms| ms * 1e6),
        ),
        (
            "Memory per node (its daemons summed)",
            Axis::new("Resident memory", Quantity::Bytes, Scale::Linear),
            // Files before schema version 11 have the total only.
            |p| {
                p.daemon_rss_bytes_per_node_mean.or_else(|| {
                    p.daemon_rss_bytes_total
                        .filter(|_| p.nodes > 0)
                        .map(|b| b as f64 / f64::from(p.nodes))
                })
            },
        ),
    ];
    let mut any_failed = false;
    let panels: Vec<LinePanel> = specs
        .into_iter()
        .enumerate()
        .map(|(i, (title, y, get))| {
            let mut lines = Vec::new();
            let mut markers = Vec::new();
            for (key, s, variant) in &series {
                let mut pts: Vec<(f64, f64)> = s
                    .points
                    .iter()
                    .filter(|p| p.options() == *variant)
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
                        .filter(|p| p.options() == *variant && !p.converged)
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
            label: "did not converge (at the top edge when no time was recorded; the table \
                    names why)"
                .into(),
            color: PALETTE[5],
            mark: Mark::Cross,
        });
    }
    let caption = "Each curve is one variant of the sweep (one value of each option it varied: \
        BGP topology, what is announced, the speaker), each point one size set up from \
        scratch: convergence is the time from starting the BGP daemons until every node has \
        every route and every pod pair answers (and it stayed so); CPU is the daemons' CPU \
        time from their start until then (or until the time ran out); memory per node is the \
        resident memory of a node's daemons summed (a speaker may run several processes per \
        node), the mean over the nodes. Full mesh: every node peers with every other; route \
        reflector: every node peers with the reflectors. The table below gives sessions, the \
        largest memory per node, the memory available, the nodes it allows, softnet drops and, \
        for a point that did not converge, why."
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

/// A variant in words: the values of the options in `varied` (those that tell this file's
/// curves apart), the BGP topologies spelled out (`full mesh, pod`).
pub(crate) fn variant_label(variant: &BTreeMap<String, String>, varied: &[String]) -> String {
    varied
        .iter()
        .filter_map(|k| variant.get(k))
        .map(|v| match v.as_str() {
            "mesh" => "full mesh".to_owned(),
            "rr" => "route reflector".to_owned(),
            v => v.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Input;
    use reports::{LimitReason, ScaleLimit, ScalePoint};

    /// A sweep of `bgp-topology` × `bgp-announce` at 10 and 20 nodes; the full mesh
    /// announcing pods did not converge at 20.
    fn sweep() -> ScaleResult {
        let mut r = ScaleResult::new(Default::default(), "bgp", "l2");
        r.swept = vec!["bgp-topology".into(), "bgp-announce".into()];
        r.mem_available_before_bytes = Some(20 << 30);
        for (i, (t, a)) in [
            ("mesh", "block"),
            ("mesh", "pod"),
            ("rr", "block"),
            ("rr", "pod"),
        ]
        .into_iter()
        .enumerate()
        {
            for n in [10, 20] {
                let stuck = t == "mesh" && a == "pod" && n == 20;
                r.points.push(ScalePoint {
                    variant: BTreeMap::from([
                        ("bgp-topology".to_string(), t.to_string()),
                        ("bgp-announce".to_string(), a.to_string()),
                    ]),
                    nodes: n,
                    converged: !stuck,
                    convergence_ms: Some(f64::from(n) * 100.0 + i as f64),
                    daemon_cpu_ms_total: Some(f64::from(n) * 10.0),
                    daemon_rss_bytes_per_node_mean: Some(f64::from(n) * 1e6),
                    limit: stuck.then(|| ScaleLimit {
                        reason: LimitReason::Keepalives,
                        detail: "12 dropped on an expired hold timer".into(),
                    }),
                    ..Default::default()
                });
            }
        }
        r
    }

    #[test]
    fn a_curve_per_variant_in_three_panels_failures_marked() {
        let inputs = vec![Input::scale("sweep.json", sweep())];
        let groups = crate::model::groups(&inputs);
        let f = scale(&groups[0].model).ok().unwrap();
        let Body::Lines(l) = &f.chart.body else {
            panic!("a line chart")
        };
        let labels: Vec<&str> = l.keys.iter().map(|k| k.label.as_str()).collect();
        assert_eq!(
            labels[..4],
            [
                "full mesh, block",
                "full mesh, pod",
                "route reflector, block",
                "route reflector, pod"
            ]
        );
        assert!(labels[4].starts_with("did not converge"));
        let titles: Vec<&str> = l.panels.iter().map(|p| p.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "Time to converge",
                "CPU of the daemons until convergence",
                "Memory per node (its daemons summed)"
            ]
        );
        // Every variant has its curve in every panel; the stuck point has no time.
        assert_eq!(l.panels[0].lines.len(), 4);
        assert_eq!(l.panels[0].lines[1].points, [(10.0, 1001.0 * 1e6)]);
        assert_eq!(l.panels[1].lines[2].points, [(10.0, 100e6), (20.0, 200e6)]);
        assert_eq!(l.panels[2].lines[3].points, [(10.0, 10e6), (20.0, 20e6)]);
        assert_eq!(l.panels[0].markers.len(), 1);
        assert_eq!(l.panels[0].markers[0].x, 20.0);
        let drawn = crate::draw_svg(&f, f.name, crate::chart::size(&f.chart)).unwrap();
        for text in labels.iter().take(4).chain(titles.iter()) {
            assert!(drawn.contains(text), "{text} missing");
        }
    }

    #[test]
    fn an_old_result_plots_its_topologies_and_memory_per_node() {
        let mut r = ScaleResult::new(Default::default(), "bgp", "l2");
        r.schema_version = 10;
        for t in ["mesh", "rr"] {
            r.points.push(ScalePoint {
                topology: t.into(),
                nodes: 4,
                converged: true,
                convergence_ms: Some(1000.0),
                daemon_rss_bytes_total: Some(20_000_000),
                ..Default::default()
            });
        }
        let inputs = vec![Input::scale("old.json", r)];
        let groups = crate::model::groups(&inputs);
        let f = scale(&groups[0].model).ok().unwrap();
        let Body::Lines(l) = &f.chart.body else {
            panic!("a line chart")
        };
        let labels: Vec<&str> = l.keys.iter().map(|k| k.label.as_str()).collect();
        assert_eq!(labels, ["full mesh", "route reflector"]);
        assert_eq!(l.panels[2].lines[0].points, [(4.0, 5e6)]);
    }
}
