//! Starting a node's daemon: the one function both setup and the restart check use, so a
//! restarted daemon is exactly the one setup started.

use harness::topology::NodePlan;
use harness::{Context, Result};

use crate::config::DaemonConfig;
use crate::mode::DatapathMode;

/// How the run's process list names the daemon of `node` (`flannel-udp daemon on n0`).
pub fn daemon_label(node: &NodePlan) -> String {
    format!("flannel-udp daemon on {}", node.role)
}

/// Starts `cnbench daemon flannel-udp '<json>'` inside `node` and waits for its `ready`
/// (flannel0 up, its route in place, UDP 8285 bound), pinned to [`daemon_cpu`]. Returns its
/// pid.
pub fn start_daemon(ctx: &Context<'_>, node: &NodePlan, mode: DatapathMode) -> Result<u32> {
    let mut config = DaemonConfig::for_node(ctx.plan, node, mode);
    config.cpu = daemon_cpu().and_then(|cpu| ctx.host(&node.netns).local_cpu(cpu));
    ctx.spawn_daemon(
        &node.netns,
        &["flannel-udp".into(), config.to_json()],
        &daemon_label(node),
    )
}

/// The CPU the daemons run on: the last CPU this process may use, which is where the
/// default `same-cpu` placement pins both workload agents. A datapath daemon is a process of
/// every cross-node measurement, so it is pinned too: left to the scheduler it wakes on
/// whichever CPU is idle, and on VMs whose idle vCPUs halt each such wake-up costs tens of
/// µs (MACHINE-NOTES.md), which swamps the datapath being measured (tcp-rr p50 about 160 µs
/// unpinned against about 30 µs pinned here). Kernel datapaths do their forwarding in the
/// sender's softirq, on the sender's CPU; pinning the daemon there compares like with like.
pub fn daemon_cpu() -> Option<usize> {
    let set = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)).ok()?;
    (0..nix::sched::CpuSet::count())
        .rev()
        .find(|&i| set.is_set(i).unwrap_or(false))
}
