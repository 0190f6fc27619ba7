//! Round trips: percentiles per backend and path, and their distribution (CDF).

use reports::{RrSample, Sample};

use super::*;
use crate::chart::{
    color, Axis, BarChart, BarPanel, BarStyle, Body, Cell, Chart, Key, Line, LineChart, LinePanel,
    Mark, Scale, DOT_MARKS, PALETTE,
};
use crate::model::{find, metric_stats, Case, Model, PATHS};
use crate::units::Quantity;

pub(super) const PERCENTILES: [(&str, &str); 4] = [
    ("rtt_p50_ns", "p50"),
    ("rtt_p90_ns", "p90"),
    ("rtt_p99_ns", "p99"),
    ("rtt_p999_ns", "p99.9"),
];

pub(super) fn rr_cases(model: &Model) -> Vec<Case> {
    model
        .cases()
        .into_iter()
        .filter(|c| matches!(c.workload.as_str(), "tcp-rr" | "udp-rr" | "tcp-crr"))
        .collect()
}

/// Plot 2: Latency percentiles of the request/response workloads.
pub(super) fn latency(model: &Model) -> Result<Figure, Omitted> {
    let cases = rr_cases(model);
    let rows = series_path_rows(model, &cases);
    let groups = PERCENTILES
        .iter()
        .enumerate()
        .map(|(i, (_, label))| Key {
            label: format!("{label} round trip"),
            color: [PALETTE[2], PALETTE[0], PALETTE[1], PALETTE[5]][i],
            mark: DOT_MARKS[i],
        })
        .collect();
    let panels = cases
        .iter()
        .map(|case| BarPanel {
            title: case.label(),
            axis: Axis::new("Round-trip time", Quantity::Nanoseconds, Scale::Log),
            cells: rows
                .iter()
                .map(|(s, p, _)| {
                    let m = find(model.series[*s].measurements, case, p);
                    PERCENTILES
                        .iter()
                        .map(|(metric, _)| {
                            m.and_then(|m| metric_stats(m, metric)).map(|s| Cell {
                                value: s.median,
                                min: None,
                                max: None,
                            })
                        })
                        .collect()
                })
                .collect(),
        })
        .collect();
    let caption = format!(
        "Percentiles of the round-trip time of one transaction at a time (request and response \
         of the message size in the parameters), each the median over repetitions of that \
         repetition's percentile; every round trip of the measurement window is recorded in a \
         histogram. tcp-crr's transaction includes connect and close. Logarithmic axes: \
         the tail is often ten times the median. {BASELINE_NOTE}{}",
        generator_note(model)
    );
    bar_figure(
        "latency",
        "Round-trip latency percentiles",
        BarChart {
            rows: rows.into_iter().map(|(_, _, l)| l).collect(),
            groups,
            panels,
            columns: 3,
            style: BarStyle::Dots,
        },
        caption,
        "no tcp-rr, udp-rr or tcp-crr measurements",
    )
}

pub(super) fn rr(s: &Sample) -> Option<&RrSample> {
    match s {
        Sample::TcpRr(r) | Sample::UdpRr(r) | Sample::TcpCrr(r) => Some(r),
        _ => None,
    }
}

/// Points of one repetition's CDF on the "nines" scale: (latency in ns, -log10(1 - share)).
pub(super) fn cdf_points(r: &RrSample) -> Vec<(f64, f64)> {
    let mut pts = vec![
        (r.rtt_min_ns as f64, 0.0),
        (r.rtt_p50_ns as f64, 2f64.log10()),
        (r.rtt_p90_ns as f64, 1.0),
        (r.rtt_p99_ns as f64, 2.0),
        (r.rtt_p999_ns as f64, 3.0),
    ];
    // The maximum of n round trips stands for the top 1/n of them.
    if r.transactions > 1000 {
        pts.push((r.rtt_max_ns as f64, (r.transactions as f64).log10()));
    }
    pts
}

pub(super) fn median(v: Vec<f64>) -> f64 {
    reports::stats::median(&v).unwrap_or(f64::NAN)
}

/// Plot 3: CDF of tcp-rr round trips through the stored percentiles.
pub(super) fn latency_cdf(model: &Model) -> Result<Figure, Omitted> {
    let case = Case {
        workload: "tcp-rr".into(),
        variant: None,
    };
    let mut keys = Vec::new();
    let mut panels: Vec<LinePanel> = PATHS
        .iter()
        .map(|p| LinePanel {
            title: format!("tcp-rr, {p}"),
            x: Axis::new("Round-trip time", Quantity::Nanoseconds, Scale::Log),
            y: Axis::new(
                "Share of round trips at or below",
                Quantity::Fixed(""),
                Scale::Nines,
            ),
            lines: Vec::new(),
            markers: Vec::new(),
        })
        .collect();
    for s in &model.series {
        let per_path: Vec<Vec<Vec<(f64, f64)>>> = PATHS
            .iter()
            .map(|p| {
                find(s.measurements, &case, p)
                    .map(|m| {
                        m.repetitions
                            .iter()
                            .filter_map(rr)
                            .map(cdf_points)
                            .collect()
                    })
                    .unwrap_or_default()
            })
            .collect();
        if per_path.iter().all(Vec::is_empty) {
            continue;
        }
        let key = keys.len();
        keys.push(Key {
            label: s.label.clone(),
            color: color(key),
            mark: Mark::Line,
        });
        for (panel, reps) in panels.iter_mut().zip(per_path) {
            if reps.is_empty() {
                continue;
            }
            // The median line keeps the points every repetition has.
            let n = reps.iter().map(Vec::len).min().unwrap_or(0);
            let med: Vec<(f64, f64)> = (0..n)
                .map(|i| {
                    (
                        median(reps.iter().map(|r| r[i].0).collect()),
                        median(reps.iter().map(|r| r[i].1).collect()),
                    )
                })
                .collect();
            if reps.len() > 1 {
                for r in reps {
                    panel.lines.push(Line {
                        series: key,
                        points: r,
                        faint: true,
                        dots: false,
                    });
                }
            }
            panel.lines.push(Line {
                series: key,
                points: med,
                faint: false,
                dots: true,
            });
        }
    }
    if keys.is_empty() {
        return Err(Omitted {
            title: "Latency CDF",
            why: "no tcp-rr measurements".into(),
        });
    }
    keys.push(Key {
        label: "single repetitions".into(),
        color: crate::chart::PALETTE[6],
        mark: Mark::FaintLine,
    });
    let empty: Vec<String> = panels
        .iter()
        .filter(|p| p.lines.is_empty())
        .map(|p| p.title.clone())
        .collect();
    panels.retain(|p| !p.lines.is_empty());
    let caption = format!(
        "Not a measured distribution: a result keeps only the minimum, p50, p90, p99, p99.9 and \
         maximum round trip of each repetition, and the curve is drawn through those points \
         with straight segments (the maximum of n round trips placed at 1 − 1/n). Bold: the \
         median over repetitions of each point; pale: each repetition. The vertical axis is on \
         a \"nines\" scale so that the tail (99 %, 99.9 %) is as visible as the median. \
         {BASELINE_NOTE}"
    );
    Ok(Figure {
        name: "latency-cdf",
        chart: Chart {
            title: "tcp-rr round-trip time, cumulative (through stored percentiles)".into(),
            body: Body::Lines(LineChart {
                keys,
                panels,
                columns: 2,
            }),
            footnote: (!empty.is_empty()).then(|| format!("No data for: {}.", empty.join(", "))),
        },
        caption,
    })
}
