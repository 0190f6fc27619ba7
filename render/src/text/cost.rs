//! What a measurement cost, in one line for a terminal.

use reports::{CostSample, KernelCounters, MeasurementRecord};

use crate::model::{cost_stats, role_stats};

/// One line of a measurement's cost: from the traced repetition, the sending and receiving
/// nodes' crossings per packet, device transmissions per packet and each role's syscalls and
/// crossings per packet; from the other repetitions (medians), CPU per GB and per million
/// packets for the machine, each node agent's machine and each role, and TCP retransmissions and UDP receive errors.
pub fn cost_line(m: &MeasurementRecord) -> String {
    let mut parts = Vec::new();
    match &m.traced {
        Some(t) => parts.extend(traced_parts(&t.cost)),
        None => {
            if let Some(why) = m
                .costs
                .iter()
                .find_map(|c| c.traced.then(|| c.syscalls_unavailable.clone()).flatten())
            {
                parts.push(format!("syscalls unavailable: {why}"));
            }
        }
    }
    let untraced: Vec<&CostSample> = m.costs.iter().filter(|c| !c.traced).collect();
    let machine = |f: fn(&reports::MachineCost) -> Option<f64>| {
        cost_stats(m, |c| c.machine.as_ref().and_then(f)).map(|s| s.median)
    };
    if let Some(x) = machine(|mc| mc.cpu_s_per_gb) {
        let mut s = format!("machine {x:.2} CPU s/GB");
        if let Some(y) = machine(|mc| mc.cpu_s_per_mpacket) {
            s.push_str(&format!(", {y:.2} CPU s/Mpkt"));
        }
        parts.push(s);
    } else if let Some(why) = untraced.iter().find_map(|c| c.machine_unavailable.clone()) {
        parts.push(format!("machine CPU unavailable: {why}"));
    }
    // Each node agent's machine, as its agent measured it (a VM, a host over SSH).
    let nodes: Vec<String> = untraced
        .first()
        .map(|c| c.machines.iter().map(|n| n.node.clone()).collect())
        .unwrap_or_default();
    for node in nodes {
        let of = |f: fn(&reports::MachineCost) -> Option<f64>| {
            cost_stats(m, |c| {
                c.machines
                    .iter()
                    .find(|n| n.node == node)
                    .and_then(|n| n.machine.as_ref())
                    .and_then(f)
            })
            .map(|s| s.median)
        };
        match (of(|mc| mc.cpu_s_per_gb), of(|mc| mc.cpu_s_per_mpacket)) {
            (Some(x), Some(y)) => {
                parts.push(format!("{node} machine {x:.2} CPU s/GB, {y:.2} CPU s/Mpkt"))
            }
            (Some(x), None) => parts.push(format!("{node} machine {x:.2} CPU s/GB")),
            (None, _) => {
                if let Some(why) = untraced.iter().find_map(|c| {
                    c.machines
                        .iter()
                        .find(|n| n.node == node)
                        .and_then(|n| n.machine_unavailable.clone())
                }) {
                    parts.push(format!("{node} machine CPU unavailable: {why}"));
                }
            }
        }
    }
    let roles: Vec<String> = untraced
        .first()
        .map(|c| c.roles.iter().map(|r| r.role.clone()).collect())
        .unwrap_or_default();
    for role in roles {
        if let Some(x) = role_stats(m, &role, |r| r.cpu_s_per_mpacket).map(|s| s.median) {
            parts.push(format!("{role} {x:.2} CPU s/Mpkt"));
        }
    }
    let kernel: Vec<&KernelCounters> = untraced.iter().filter_map(|c| c.kernel.as_ref()).collect();
    if !kernel.is_empty() {
        let sum = |f: fn(&KernelCounters) -> u64| -> u64 { kernel.iter().map(|k| f(k)).sum() };
        let retrans = sum(|k| k.tcp_retrans_segs);
        let udp_err = sum(|k| k.udp_in_errors);
        let rcvbuf = sum(|k| k.udp_rcvbuf_errors);
        if retrans + udp_err > 0 {
            parts.push(format!(
                "over the repetitions: {retrans} TCP retransmits, {udp_err} UDP receive errors \
                 ({rcvbuf} receive buffer full)"
            ));
        }
    } else if let Some(why) = untraced.iter().find_map(|c| c.kernel_unavailable.clone()) {
        parts.push(format!("kernel counters unavailable: {why}"));
    }
    parts.join("; ")
}

/// The figures only a traced repetition has: crossings per node, device transmissions, and
/// each role's syscalls and crossings per packet.
fn traced_parts(c: &CostSample) -> Vec<String> {
    let mut parts = Vec::new();
    if let Some(x) = c.sending_node_crossings_per_packet {
        parts.push(format!("sending node {x:.2} crossings/packet"));
    }
    if let Some(x) = c.receiving_node_crossings_per_packet {
        parts.push(format!("receiving node {x:.2}"));
    }
    match (c.device_xmits_per_packet, c.device_tx_per_packet) {
        // The tracepoint sees devices by name only; when it counted more than the run's own
        // devices sent, something else with the same names was busy.
        (Some(x), Some(own)) if (x - own).abs() > 0.05 * own.max(1.0) => parts.push(format!(
            "{x:.2} device xmits/packet by tracepoint, {own:.2} by the run's own device \
             counters (same-named devices outside the run were busy)"
        )),
        (Some(x), _) => parts.push(format!("{x:.2} device xmits/packet")),
        (None, _) => {
            if let Some(why) = &c.device_xmits_unavailable {
                parts.push(format!("device xmits unavailable: {why}"));
            }
        }
    }
    for r in &c.roles {
        // A daemon that moved nothing (a same-node pair) has nothing to say.
        if r.packets == 0 && r.role != "client" && r.role != "server" {
            continue;
        }
        if let (Some(s), Some(x)) = (r.syscalls_per_packet, r.crossings_per_packet) {
            parts.push(format!("{}: {s:.2} syscalls, {x:.2} crossings", r.role));
        }
    }
    if let Some(part) = per_segment_part(c) {
        parts.push(part);
    }
    if let Some(why) = &c.syscalls_unavailable {
        parts.push(format!("syscalls unavailable: {why}"));
    }
    parts
}

/// The per-wire-segment figures, when the packets through the pod's `eth0` were larger than
/// wire-sized (GSO super-packets of a stream): "per packet" there counts super-packets.
fn per_segment_part(c: &CostSample) -> Option<String> {
    let (segments, packets) = (c.wire_segments?, c.packets?);
    if (segments as f64) < 1.2 * packets as f64 {
        return None;
    }
    let mut figures = Vec::new();
    if let Some(x) = c.sending_node_crossings_per_segment {
        figures.push(format!("sending node {x:.2} crossings"));
    }
    if let Some(x) = c.receiving_node_crossings_per_segment {
        figures.push(format!("receiving node {x:.2}"));
    }
    if let Some(x) = c.device_tx_per_segment {
        figures.push(format!("{x:.2} device transmissions"));
    }
    (!figures.is_empty()).then(|| {
        format!(
            "per wire segment ({segments} segments for {packets} packets on eth0, which were \
             GSO super-packets): {}",
            figures.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reports::fixtures::{cost_with_outside_work, full_result};

    #[test]
    fn untraced_costs_give_the_machine_and_kernel_figures() {
        let mut m = full_result().measurements.remove(0);
        m.costs = vec![cost_with_outside_work(0), cost_with_outside_work(0)];
        for c in &mut m.costs {
            let machine = c.machine.as_mut().unwrap();
            machine.cpu_s_per_gb = Some(2.5);
            machine.cpu_s_per_mpacket = Some(0.75);
            c.kernel = Some(KernelCounters {
                tcp_retrans_segs: 3,
                ..KernelCounters::default()
            });
        }
        m.traced = None;
        let line = cost_line(&m);
        assert_eq!(
            line,
            "machine 2.50 CPU s/GB, 0.75 CPU s/Mpkt; over the repetitions: 6 TCP retransmits, \
             0 UDP receive errors (0 receive buffer full)"
        );
    }

    #[test]
    fn node_machines_are_shown_after_this_machine() {
        let mut m = full_result().measurements.remove(0);
        m.costs = vec![cost_with_outside_work(0)];
        let c = &mut m.costs[0];
        c.machine.as_mut().unwrap().cpu_s_per_gb = Some(1.0);
        let mut node = c.machine.clone().unwrap();
        node.cpu_s_per_gb = Some(3.0);
        node.cpu_s_per_mpacket = Some(0.5);
        c.machines = vec![
            reports::NodeMachineCost {
                node: "cnb-x-node0".into(),
                machine: Some(node),
                machine_unavailable: None,
                device_xmits: None,
                device_xmits_unavailable: None,
            },
            reports::NodeMachineCost {
                node: "cnb-x-node1".into(),
                machine: None,
                machine_unavailable: Some("/proc/stat: gone".into()),
                device_xmits: None,
                device_xmits_unavailable: None,
            },
        ];
        m.traced = None;
        assert_eq!(
            cost_line(&m),
            "machine 1.00 CPU s/GB; cnb-x-node0 machine 3.00 CPU s/GB, 0.50 CPU s/Mpkt; \
             cnb-x-node1 machine CPU unavailable: /proc/stat: gone"
        );
    }

    #[test]
    fn a_traced_repetition_gives_crossings_and_transmissions() {
        let mut c = cost_with_outside_work(0);
        c.traced = true;
        c.sending_node_crossings_per_packet = Some(3.0);
        c.receiving_node_crossings_per_packet = Some(2.996);
        c.device_xmits_per_packet = Some(6.0);
        c.device_tx_per_packet = Some(6.0);
        let parts = traced_parts(&c);
        assert_eq!(
            parts,
            [
                "sending node 3.00 crossings/packet",
                "receiving node 3.00",
                "6.00 device xmits/packet"
            ]
        );
        c.device_tx_per_packet = Some(4.0);
        assert!(traced_parts(&c)[2].contains("same-named devices outside the run were busy"));
        // Wire-sized packets: no per-segment part (it would say the same).
        c.wire_segments = c.packets;
        c.sending_node_crossings_per_segment = Some(3.0);
        assert!(per_segment_part(&c).is_none());
        // GSO super-packets: the per-segment figures are added, with their denominator.
        c.wire_segments = Some(4000);
        c.sending_node_crossings_per_segment = Some(2.07);
        c.device_tx_per_segment = Some(5.17);
        assert_eq!(
            per_segment_part(&c).unwrap(),
            "per wire segment (4000 segments for 1000 packets on eth0, which were GSO \
             super-packets): sending node 2.07 crossings, 5.17 device transmissions"
        );
    }
}
