//! The plots of a report, built from the model: what is shown, in which units, and a caption
//! saying how it was measured. A plot with no data at all is left out (the report says so);
//! a panel with no data is dropped and named in the plot's footnote; a row with no data in
//! one panel says "no data" there.

use reports::{RrSample, Sample, ScaleResult};

use crate::chart::{
    color, lighter, Axis, BarChart, BarPanel, BarStyle, Body, Cell, Chart, Key, Line, LineChart,
    LinePanel, Mark, Marker, Scale, DOT_MARKS, PALETTE,
};
use crate::model::{
    cell, cost_stats, find, metric_stats, role_stats, roles, Case, Group, Model, PATHS,
};
use crate::units::Quantity;

/// One plot of the report.
pub(crate) struct Figure {
    /// File stem: `DIR/<name>.svg`, `DIR/<name>.png`.
    pub name: &'static str,
    pub chart: Chart,
    /// What is shown and how it was measured, for the HTML and Markdown.
    pub caption: String,
}

/// A plot left out, and why.
pub(crate) struct Omitted {
    pub title: &'static str,
    pub why: String,
}

/// Every plot the inputs have data for, and the ones left out.
pub(crate) fn build(model: &Model) -> (Vec<Figure>, Vec<Omitted>) {
    let mut figures = Vec::new();
    let mut omitted = Vec::new();
    let mut add = |r: Result<Figure, Omitted>| match r {
        Ok(f) => figures.push(f),
        Err(o) => omitted.push(o),
    };
    add(throughput(model));
    add(latency(model));
    add(latency_cdf(model));
    add(cpu_per_gb(model));
    add(per_packet(model, PerPacket::Syscalls));
    add(per_packet(model, PerPacket::Crossings));
    add(device_xmits(model));
    add(scale(model));
    (figures, omitted)
}

/// Marks a figure of `group`: its title names the group (`Throughput per backend — VM results
/// (emulated)`) unless the report holds only namespace results, and for emulated results the
/// plot's footnote and the caption say that the figures compare behaviour, not speed.
pub(crate) fn mark(f: &mut Figure, group: &Group) {
    f.chart.title = group.marked(&f.chart.title);
    if group.emulated() {
        let note = format!(
            "Emulated ({}): {}.",
            group.substrates[0].how(),
            reports::EMULATED_CAVEAT
        );
        f.chart.footnote = Some(match f.chart.footnote.take() {
            Some(n) => format!("{note} {n}"),
            None => note,
        });
        f.caption = format!("Emulated: {}. {}", reports::EMULATED_NOTE, f.caption);
    }
}

fn path_keys() -> Vec<Key> {
    PATHS
        .iter()
        .enumerate()
        .map(|(i, p)| Key {
            label: (*p).to_owned(),
            color: color(i),
            mark: Mark::Box,
        })
        .collect()
}

/// Drops panels without data (named in the footnote) and rows without data in any panel.
fn prune(mut b: BarChart) -> Option<(BarChart, Option<String>)> {
    let empty: Vec<String> = b
        .panels
        .iter()
        .filter(|p| !p.has_data())
        .map(|p| p.title.clone())
        .collect();
    b.panels.retain(BarPanel::has_data);
    if b.panels.is_empty() {
        return None;
    }
    let keep: Vec<bool> = (0..b.rows.len())
        .map(|r| {
            b.panels
                .iter()
                .any(|p| p.cells[r].iter().any(Option::is_some))
        })
        .collect();
    let mut r = 0;
    b.rows.retain(|_| {
        r += 1;
        keep[r - 1]
    });
    for p in &mut b.panels {
        let mut r = 0;
        p.cells.retain(|_| {
            r += 1;
            keep[r - 1]
        });
    }
    let note = (!empty.is_empty()).then(|| format!("No data for: {}.", empty.join(", ")));
    Some((b, note))
}

fn bar_figure(
    name: &'static str,
    title: &'static str,
    chart: BarChart,
    caption: String,
    missing: &str,
) -> Result<Figure, Omitted> {
    match prune(chart) {
        Some((body, footnote)) => Ok(Figure {
            name,
            chart: Chart {
                title: title.to_owned(),
                body: Body::Bars(body),
                footnote,
            },
            caption,
        }),
        None => Err(Omitted {
            title,
            why: missing.to_owned(),
        }),
    }
}

const BASELINE_NOTE: &str = "host-net is the host-network baseline measured in the same \
    session as the run it is named after (traffic between the nodes' own network namespaces, no \
    pod network).";

const RANGE_NOTE: &str =
    "Bars show the median over repetitions; whiskers span the smallest to the largest repetition.";

fn generator_note(model: &Model) -> String {
    let external: Vec<String> = model
        .runs
        .iter()
        .filter_map(|r| {
            crate::model::external_generator(r.result).map(|g| format!("{} ({g})", r.label))
        })
        .collect();
    if external.is_empty() {
        String::new()
    } else {
        format!(
            " Measured with an external traffic generator, not cnbench's own, and labelled \
             [tool]: {}.",
            external.join(", ")
        )
    }
}

/// Plot 1: Throughput: tcp-stream goodput, udp-stream packet rate per variant, by path.
fn throughput(model: &Model) -> Result<Figure, Omitted> {
    let rows: Vec<String> = model.series.iter().map(|s| s.label.clone()).collect();
    let cases = model.cases();
    let mut panels = Vec::new();
    for case in cases.iter().filter(|c| c.workload == "tcp-stream") {
        panels.push(metric_panel(
            model,
            case,
            "throughput_bps",
            format!("{} goodput", case.label()),
            Axis::new("Throughput", Quantity::BitsPerSecond, Scale::Linear),
        ));
    }
    for case in cases.iter().filter(|c| c.workload == "udp-stream") {
        panels.push(metric_panel(
            model,
            case,
            "packets_per_s",
            format!("{} packet rate", case.label()),
            Axis::new(
                "Datagrams received",
                Quantity::PacketsPerSecond,
                Scale::Linear,
            ),
        ));
    }
    let caption = format!(
        "{RANGE_NOTE} tcp-stream: payload bytes received by the server during the measurement \
         window (warm-up excluded), as bits per second. udp-stream: datagrams received per \
         second by the server; \"64 B\" is the small-packet case, \"max payload\" the largest \
         datagram that fits the pod MTU unfragmented. Same-node: both pods on one node; \
         cross-node: pods on two nodes. {BASELINE_NOTE}{}",
        generator_note(model)
    );
    bar_figure(
        "throughput",
        "Throughput per backend",
        BarChart {
            rows,
            groups: path_keys(),
            panels,
            columns: 3,
            style: BarStyle::Bars,
        },
        caption,
        "no tcp-stream or udp-stream measurements",
    )
}

/// A panel with one row per series and one bar per path: the median of `metric`.
fn metric_panel(model: &Model, case: &Case, metric: &str, title: String, axis: Axis) -> BarPanel {
    let cells = model
        .series
        .iter()
        .map(|s| {
            PATHS
                .iter()
                .map(|p| cell(find(s.measurements, case, p).and_then(|m| metric_stats(m, metric))))
                .collect()
        })
        .collect();
    BarPanel { title, axis, cells }
}

/// Rows of series × path, for the figures whose groups are something else than the path;
/// only combinations with a measurement.
fn series_path_rows(model: &Model, cases: &[Case]) -> Vec<(usize, &'static str, String)> {
    let mut rows = Vec::new();
    for (i, s) in model.series.iter().enumerate() {
        for p in PATHS {
            if cases.iter().any(|c| find(s.measurements, c, p).is_some()) {
                rows.push((i, p, format!("{} · {p}", s.label)));
            }
        }
    }
    rows
}

const PERCENTILES: [(&str, &str); 4] = [
    ("rtt_p50_ns", "p50"),
    ("rtt_p90_ns", "p90"),
    ("rtt_p99_ns", "p99"),
    ("rtt_p999_ns", "p99.9"),
];

fn rr_cases(model: &Model) -> Vec<Case> {
    model
        .cases()
        .into_iter()
        .filter(|c| matches!(c.workload.as_str(), "tcp-rr" | "udp-rr" | "tcp-crr"))
        .collect()
}

/// Plot 2: Latency percentiles of the request/response workloads.
fn latency(model: &Model) -> Result<Figure, Omitted> {
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

fn rr(s: &Sample) -> Option<&RrSample> {
    match s {
        Sample::TcpRr(r) | Sample::UdpRr(r) | Sample::TcpCrr(r) => Some(r),
        _ => None,
    }
}

/// Points of one repetition's CDF on the "nines" scale: (latency in ns, -log10(1 - share)).
fn cdf_points(r: &RrSample) -> Vec<(f64, f64)> {
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

fn median(v: Vec<f64>) -> f64 {
    reports::stats::median(&v).unwrap_or(f64::NAN)
}

/// Plot 3: CDF of tcp-rr round trips through the stored percentiles.
fn latency_cdf(model: &Model) -> Result<Figure, Omitted> {
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
                    });
                }
            }
            panel.lines.push(Line {
                series: key,
                points: med,
                faint: false,
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

/// Plot 4: Machine CPU per GB of the workload's bytes.
fn cpu_per_gb(model: &Model) -> Result<Figure, Omitted> {
    let rows = model.series.iter().map(|s| s.label.clone()).collect();
    let panels = model
        .cases()
        .iter()
        .map(|case| BarPanel {
            title: case.label(),
            axis: Axis::new("All CPUs busy", Quantity::Fixed("CPU s/GB"), Scale::Linear),
            cells: model
                .series
                .iter()
                .map(|s| {
                    PATHS
                        .iter()
                        .map(|p| {
                            cell(find(s.measurements, case, p).and_then(|m| {
                                cost_stats(m, |c| c.machine.as_ref().and_then(|mc| mc.cpu_s_per_gb))
                            }))
                        })
                        .collect()
                })
                .collect(),
        })
        .collect();
    let caption = format!(
        "CPU seconds the whole machine was busy (all CPUs: user, system, irq and softirq from \
         /proc/stat, 10 ms ticks) during each repetition, divided by the workload's bytes in GB \
         (10^9 B, sent plus received on the client pod's eth0, warm-up included). {RANGE_NOTE} \
         Request/response workloads move few bytes per transaction, so their figures are much \
         larger: compare backends within a panel. {BASELINE_NOTE}"
    );
    bar_figure(
        "cpu-per-gb",
        "CPU cost per GB moved",
        BarChart {
            rows,
            groups: path_keys(),
            panels,
            columns: 3,
            style: BarStyle::Bars,
        },
        caption,
        "no measurement recorded machine CPU (costs[].machine)",
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum PerPacket {
    Syscalls,
    Crossings,
}

/// Plot 5: Syscalls or user/kernel crossings per packet, per role; for crossings also the sending
/// node's.
fn per_packet(model: &Model, what: PerPacket) -> Result<Figure, Omitted> {
    let cases = model.cases();
    let rows = series_path_rows(model, &cases);
    // Groups: every role seen, then the sending node.
    let mut role_names: Vec<String> = Vec::new();
    for s in &model.series {
        for m in s.measurements {
            for r in roles(m) {
                if !role_names.contains(&r) {
                    role_names.push(r);
                }
            }
        }
    }
    role_names.sort_by(|a, b| role_rank(a).cmp(&role_rank(b)).then(a.cmp(b)));
    let mut groups: Vec<Key> = role_names
        .iter()
        .enumerate()
        .map(|(i, r)| Key {
            label: r.clone(),
            color: color(i),
            mark: Mark::Box,
        })
        .collect();
    if what == PerPacket::Crossings {
        groups.push(Key {
            label: "sending node (all its roles)".into(),
            color: PALETTE[6],
            mark: Mark::Box,
        });
    }
    let panels = cases
        .iter()
        .map(|case| BarPanel {
            title: case.label(),
            axis: Axis::new(
                match what {
                    PerPacket::Syscalls => "Syscalls",
                    PerPacket::Crossings => "User/kernel crossings",
                },
                Quantity::Fixed("per packet"),
                Scale::Linear,
            ),
            cells: rows
                .iter()
                .map(|(s, p, _)| {
                    let m = find(model.series[*s].measurements, case, p);
                    let mut row: Vec<Option<Cell>> = role_names
                        .iter()
                        .map(|role| {
                            cell(m.and_then(|m| {
                                role_stats(m, role, |r| match what {
                                    PerPacket::Syscalls => r.syscalls_per_packet,
                                    PerPacket::Crossings => r.crossings_per_packet,
                                })
                            }))
                        })
                        .collect();
                    if what == PerPacket::Crossings {
                        row.push(cell(m.and_then(|m| {
                            cost_stats(m, |c| c.sending_node_crossings_per_packet)
                        })));
                    }
                    row
                })
                .collect(),
        })
        .collect();
    let (name, title, caption) = match what {
        PerPacket::Syscalls => (
            "syscalls-per-packet",
            "Syscalls per packet, per role",
            format!(
                "Syscalls each role process entered (tracepoint raw_syscalls:sys_enter, counted \
                 per thread with perf) divided by the packets on the device it moves packets \
                 through (the pod's eth0, or a datapath daemon's TUN), sent plus received. \
                 Roles that moved no packets (a daemon on a same-node path) are left out. \
                 {RANGE_NOTE} {BASELINE_NOTE}"
            ),
        ),
        PerPacket::Crossings => (
            "crossings-per-packet",
            "User/kernel crossings per packet",
            format!(
                "Crossings are the syscalls that move packet data across the user/kernel \
                 boundary (read, write, send*, recv* and their vector and batch forms), per \
                 packet of the role's own device. \"Sending node\" adds up the roles on the \
                 client's node per packet of the workload: the client, plus its node's \
                 datapath daemon for a userspace datapath (flannel's UDP mode is claimed to \
                 take 3). {RANGE_NOTE} {BASELINE_NOTE}"
            ),
        ),
    };
    bar_figure(
        name,
        title,
        BarChart {
            rows: rows.into_iter().map(|(_, _, l)| l).collect(),
            groups,
            panels,
            columns: 3,
            style: BarStyle::Bars,
        },
        caption,
        "no measurement recorded syscall counts (costs[].roles)",
    )
}

/// Client first, then server, then the rest (daemons, BIRD) by name.
fn role_rank(role: &str) -> u8 {
    match role {
        "client" => 0,
        "server" => 1,
        _ => 2,
    }
}

/// Plot 6: Device transmissions per packet, by tracepoint and by the run's own device counters.
fn device_xmits(model: &Model) -> Result<Figure, Omitted> {
    let rows = model.series.iter().map(|s| s.label.clone()).collect();
    let mut groups = Vec::new();
    for (i, p) in PATHS.iter().enumerate() {
        groups.push(Key {
            label: format!("{p}: net_dev_xmit tracepoint"),
            color: color(i),
            mark: Mark::Box,
        });
        groups.push(Key {
            label: format!("{p}: device tx counters"),
            color: lighter(color(i), 0.55),
            mark: Mark::Box,
        });
    }
    let panels = model
        .cases()
        .iter()
        .map(|case| BarPanel {
            title: case.label(),
            axis: Axis::new(
                "Device transmissions",
                Quantity::Fixed("per packet"),
                Scale::Linear,
            ),
            cells: model
                .series
                .iter()
                .map(|s| {
                    PATHS
                        .iter()
                        .flat_map(|p| {
                            let m = find(s.measurements, case, p);
                            [
                                cell(m.and_then(|m| cost_stats(m, |c| c.device_xmits_per_packet))),
                                cell(m.and_then(|m| cost_stats(m, |c| c.device_tx_per_packet))),
                            ]
                        })
                        .collect()
                })
                .collect(),
        })
        .collect();
    let caption = format!(
        "How many devices transmit a packet on its way: transmissions counted by the tracepoint \
         net:net_dev_xmit on every CPU, filtered by the names of the run's devices, divided by \
         the workload's packets (client pod's eth0, sent plus received). The paler bar is the \
         cross-check from the tx counters of every device of the run; the two differ when \
         devices with the same names outside the run were busy. {RANGE_NOTE} {BASELINE_NOTE}"
    );
    bar_figure(
        "device-xmits",
        "Device transmissions per packet",
        BarChart {
            rows,
            groups,
            panels,
            columns: 3,
            style: BarStyle::Bars,
        },
        caption,
        "no measurement recorded device transmissions (costs[].device_xmits_per_packet)",
    )
}

/// Plot 7: Control-plane scale: convergence, sessions and daemon memory against node count.
fn scale(model: &Model) -> Result<Figure, Omitted> {
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
