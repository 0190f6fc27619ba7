//! What one repetition cost: CPU, syscalls and user/kernel crossings per packet, device
//! transmissions, and the kernel's error counters.

use serde::{Deserialize, Serialize};

/// What one repetition cost: CPU, syscalls and user/kernel crossings per packet, per role and
/// for the whole machine, device transmissions per packet, and the kernel's error counters.
///
/// "The workload's packets" and "bytes" are those through the client pod's `eth0`, sent plus
/// received, over the repetition (warm-up included): every packet of the workload crosses it
/// exactly once. Per-packet figures divide by them unless a field says otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostSample {
    /// One entry per role process (client, server, each datapath daemon, BIRD).
    pub roles: Vec<RoleCost>,
    /// How long the counters ran, in nanoseconds.
    #[serde(default)]
    pub interval_ns: u64,
    /// Whether the tracepoint counters ran (syscalls, crossings, device transmissions); an
    /// untraced repetition leaves those figures out.
    #[serde(default)]
    pub traced: bool,
    /// The workload's packets: sent plus received on the client pod's `eth0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packets: Option<u64>,
    /// The workload's bytes: sent plus received on the client pod's `eth0` (layer 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// CPU of the whole machine the harness runs on during the repetition (on the netns
    /// substrate, the machine of every node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<MachineCost>,
    /// Why `machine` is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_unavailable: Option<String>,
    /// The machines of the nodes a node agent serves (a VM, a host reached over SSH), one
    /// entry per agent, as each agent measured its own machine: CPU and device
    /// transmissions. Empty when every node is on the harness's machine (`machine` is then
    /// theirs). Added in schema version 9.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub machines: Vec<NodeMachineCost>,
    /// Transmissions by any device with the name of one of the run's devices on the same
    /// machine (tracepoint `net:net_dev_xmit`, every CPU, filtered by device name), summed
    /// over the harness's machine and every node agent's machine (`machines`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_xmits: Option<u64>,
    /// `device_xmits / packets`: how many devices a packet is transmitted by on its way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_xmits_per_packet: Option<f64>,
    /// Why the tracepoint figures are missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_xmits_unavailable: Option<String>,
    /// Cross-check of `device_xmits_per_packet` from the run's own device counters: packets
    /// sent by every device in every namespace of the run, divided by `packets`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_tx_per_packet: Option<f64>,
    /// The kernel's SNMP error counters, summed over the namespaces of the client, the server
    /// and their nodes, as changes during the repetition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<KernelCounters>,
    /// Why `kernel` is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_unavailable: Option<String>,
    /// User/kernel crossings a packet takes on the sending (client's) node: the client's
    /// data-moving syscalls per packet plus, for a userspace datapath, its node's daemon's.
    /// The article's claim for flannel UDP mode is 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sending_node_crossings_per_packet: Option<f64>,
    /// The same on the receiving (server's) node: the server's plus its node's daemon's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiving_node_crossings_per_packet: Option<f64>,
    /// Wire segments through the client pod's `eth0`: in each direction the larger of its
    /// packets and its bytes in frames of the pod's MTU plus 14 bytes, so a 64 KB GSO
    /// super-packet counts as the ~45 packets it is on a wire. The denominator of the
    /// `*_per_segment` figures; for request/response workloads it equals `packets`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wire_segments: Option<u64>,
    /// Device transmissions (the run's own counters) per wire segment: on a kernel path with
    /// segmentation offload below 1 per device, since one super-packet is one transmission.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_tx_per_segment: Option<f64>,
    /// The sending node's crossings per wire segment: for a stream through a userspace
    /// datapath that reads wire-sized packets from its TUN, the daemon's copies per packet
    /// it forwards (plus the client's few writes per segment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sending_node_crossings_per_segment: Option<f64>,
    /// The receiving node's crossings per wire segment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiving_node_crossings_per_segment: Option<f64>,
    /// Why syscall counts are missing, when they are (never reported as zero).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syscalls_unavailable: Option<String>,
    /// How the figures were obtained.
    pub method: String,
}

/// CPU time of the whole machine during one repetition, from `/proc/stat` (all CPUs; clock
/// ticks of 10 ms, so about ±10 ms per CPU).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MachineCost {
    /// CPUs counted.
    pub cpus: u32,
    /// Busy time over all CPUs (user, nice, system, irq, softirq), in nanoseconds.
    pub busy_ns: u64,
    /// Of that, time in softirq (where most packet processing happens), in nanoseconds.
    pub softirq_ns: u64,
    /// Busy time not accounted to the run's role processes or to softirq: other programs
    /// and kernel threads, in nanoseconds. A large value means a disturbed repetition. An
    /// estimate: without `CONFIG_IRQ_TIME_ACCOUNTING`, packet work that ksoftirqd does for
    /// the run counts here too; with it, softirq time that ran inside a role is subtracted
    /// twice.
    pub outside_roles_ns: u64,
    /// `busy / bytes`, in CPU seconds per GB (10^9 bytes) of the workload's bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_s_per_gb: Option<f64>,
    /// `busy / packets`, in CPU seconds per million of the workload's packets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_s_per_mpacket: Option<f64>,
}

/// The cost on the machine of one node agent during one repetition, measured by that agent
/// on its own kernel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeMachineCost {
    /// The node whose agent measured (its namespace name, `cnb-<run>-node0`).
    pub node: String,
    /// CPU of that machine (`/proc/stat` there); `outside_roles_ns` leaves out the roles
    /// that ran on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<MachineCost>,
    /// Why `machine` is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_unavailable: Option<String>,
    /// Transmissions by the run's devices on that machine (`net:net_dev_xmit` on its
    /// kernel, filtered by the names of the run's devices there), in packets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_xmits: Option<u64>,
    /// Why `device_xmits` is missing (an untraced repetition, a tracepoint that could not
    /// be opened there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_xmits_unavailable: Option<String>,
}

/// Changes of the kernel's SNMP counters (`/proc/net/snmp`) during one repetition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelCounters {
    /// Namespaces read.
    pub namespaces: Vec<String>,
    /// `Tcp: RetransSegs`: TCP segments retransmitted.
    pub tcp_retrans_segs: u64,
    /// `Udp: InErrors`: UDP datagrams that could not be delivered (includes buffer errors).
    pub udp_in_errors: u64,
    /// `Udp: RcvbufErrors`: UDP datagrams dropped because a socket's receive buffer was full.
    pub udp_rcvbuf_errors: u64,
    /// `Udp: SndbufErrors`: UDP sends that failed for lack of buffer.
    pub udp_sndbuf_errors: u64,
    /// `Udp: NoPorts`: UDP datagrams to a port nobody listens on.
    pub udp_no_ports: u64,
}

/// The cost of one role process during one repetition (warm-up included).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleCost {
    /// `client`, `server`, or `daemon n0`.
    pub role: String,
    /// Namespace it ran in.
    pub netns: String,
    /// Its pid.
    pub pid: u32,
    /// CPU time it used, in nanoseconds (all its threads, from `/proc/<pid>/schedstat`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_ns: Option<u64>,
    /// Syscalls it entered (tracepoint `raw_syscalls:sys_enter`, filtered by its threads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syscalls: Option<u64>,
    /// Of those, the ones that move packet data across the user/kernel boundary (read,
    /// write, send*, recv* and their vector and batch forms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_syscalls: Option<u64>,
    /// Packets on the device it moves packets through (the pod's `eth0`, or the daemon's
    /// TUN), sent plus received.
    pub packets: u64,
    /// `syscalls / packets`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syscalls_per_packet: Option<f64>,
    /// `data_syscalls / packets`: user/kernel crossings per packet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crossings_per_packet: Option<f64>,
    /// `cpu / the workload's bytes`, in CPU seconds per GB (10^9 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_s_per_gb: Option<f64>,
    /// `cpu / the workload's packets`, in CPU seconds per million packets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_s_per_mpacket: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::cost_with_outside_work;

    #[test]
    fn node_machines_are_left_out_when_none_and_read_as_none_from_older_files() {
        let mut c = cost_with_outside_work(0);
        let v = serde_json::to_value(&c).unwrap();
        // A sample of schema version 8 or before has no `machines`.
        assert!(v.get("machines").is_none());
        let old: CostSample = serde_json::from_value(v).unwrap();
        assert!(old.machines.is_empty());
        c.machines.push(NodeMachineCost {
            node: "cnb-x-n0".into(),
            machine: c.machine.clone(),
            machine_unavailable: None,
            device_xmits: None,
            device_xmits_unavailable: Some("not traced in this repetition".into()),
        });
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["machines"][0]["node"], "cnb-x-n0");
        assert_eq!(v["machines"][0]["machine"]["busy_ns"], 2_000_000_000u64);
        assert!(v["machines"][0].get("device_xmits").is_none());
        assert_eq!(serde_json::from_value::<CostSample>(v).unwrap(), c);
    }
}
