//! Costs per measurement and per role. Per-packet figures divide by the packets through
//! the client pod's `eth0` (GSO super-packets for a stream); per-segment figures by the wire
//! segments those packets are (`CostSample::wire_segments`).

use super::*;
use crate::model::{cost_stats, Model};
use crate::units::{format_ns, sig3};

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
            "crossings/segment sending node",
            "crossings/segment receiving node",
            "device tx/segment",
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
            TCell::num(med(&|c| c.sending_node_crossings_per_segment)),
            TCell::num(med(&|c| c.receiving_node_crossings_per_segment)),
            TCell::num(med(&|c| c.device_tx_per_segment)),
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
