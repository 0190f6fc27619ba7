//! What packets cost: CPU per GB, syscalls and crossings per packet, device transmissions.

use super::*;
use crate::chart::{
    color, lighter, Axis, BarChart, BarPanel, BarStyle, Cell, Key, Mark, Scale, PALETTE,
};
use crate::model::{cell, cost_stats, find, role_stats, roles, Model, PATHS};
use crate::units::Quantity;

/// Plot 4: Machine CPU per GB of the workload's bytes.
pub(super) fn cpu_per_gb(model: &Model) -> Result<Figure, Omitted> {
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
pub(super) enum PerPacket {
    Syscalls,
    Crossings,
}

/// Plot 5: Syscalls or user/kernel crossings per packet, per role; for crossings also the sending
/// node's.
pub(super) fn per_packet(model: &Model, what: PerPacket) -> Result<Figure, Omitted> {
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
pub(super) fn role_rank(role: &str) -> u8 {
    match role {
        "client" => 0,
        "server" => 1,
        _ => 2,
    }
}

/// Plot 6: Device transmissions per packet, by tracepoint and by the run's own device counters.
pub(super) fn device_xmits(model: &Model) -> Result<Figure, Omitted> {
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
