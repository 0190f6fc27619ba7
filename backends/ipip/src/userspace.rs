//! The userspace datapath as the harness drives it: one `cnbench daemon ipip '<json>'` per
//! node, started inside the node, and the backend's own check that the datapath lives and
//! dies with that daemon.

use std::time::{Duration, Instant};

use harness::backend::Context;
use harness::checks::{icmp_echo, ProbeResult};
use harness::topology::NodePlan;
use harness::Result;
use reports::CheckRecord;

use crate::config::DaemonConfig;
use crate::expect::first_cross_node_pair;

/// How long a restarted datapath may take to carry a probe again.
const RECOVERY: Duration = Duration::from_secs(2);

/// How the run's process list names `node`'s daemon.
pub fn what(node: &NodePlan) -> String {
    format!("ipip daemon on {}", node.role)
}

/// Starts `node`'s daemon and waits until it said `ready` (its TUN, route and raw socket
/// exist). Returns its pid.
pub fn spawn_daemon(ctx: &Context<'_>, node: &NodePlan) -> Result<u32> {
    let config = DaemonConfig::for_node(ctx.plan, node).to_json();
    ctx.spawn_daemon(&node.netns, &["ipip".into(), config], &what(node))
}

fn record(subject: String, expected: &str, actual: String, ok: bool, why: &str) -> CheckRecord {
    harness::checks::record(
        "daemon-restart",
        subject,
        expected.into(),
        actual,
        ok,
        Some(why.to_string()),
    )
}

/// Stops node 0's daemon: a cross-node probe from node 0's first pod must then go
/// unanswered (the TUN, and the route into it, die with the process, so nothing carries the
/// packet). Restarts it the way setup did: the same probe must be answered again within
/// [`RECOVERY`]. One record per half.
pub fn daemon_restart(ctx: &Context<'_>) -> Vec<CheckRecord> {
    let plan = ctx.plan;
    let Some((from, to)) = first_cross_node_pair(plan) else {
        return Vec::new(); // one node: no tunnel traffic to lose
    };
    let (src, dst) = (&plan.pods[from], &plan.pods[to]);
    let node = &plan.nodes[0];
    let probe = || icmp_echo(ctx.host(&src.netns), dst.ip.addr());
    let path = format!("{} -> {} ({})", src.role, dst.role, dst.ip.addr());
    let mut out = Vec::new();

    let Some((_, _, pid)) = ctx
        .procs
        .list()
        .into_iter()
        .find(|(_, netns, _)| *netns == node.netns)
    else {
        out.push(record(
            format!("{} stopped: {path}", what(node)),
            "no answer",
            "no daemon is recorded for this node".into(),
            false,
            "setup starts one daemon per node: the run's state lost it",
        ));
        return out;
    };
    ctx.procs.stop(&node.netns, pid);
    let stopped = probe();
    out.push(record(
        format!("{} stopped (pid {pid}): {path}", what(node)),
        "no answer",
        stopped.to_string(),
        !stopped.ok(),
        "a pod reached another node with no daemon on its own: something other than the \
         daemon carries the traffic",
    ));

    let restarted = match spawn_daemon(ctx, node) {
        Ok(pid) => pid,
        Err(e) => {
            out.push(record(
                format!("{} restarted: {path}", what(node)),
                "answered",
                format!("the daemon did not start again: {e}"),
                false,
                "a restarted daemon must rebuild its TUN and route",
            ));
            return out;
        }
    };
    let start = Instant::now();
    let mut last = probe();
    while !last.ok() && start.elapsed() < RECOVERY {
        std::thread::sleep(Duration::from_millis(200));
        last = probe();
    }
    let actual = match &last {
        ProbeResult::Answered(_) => {
            format!("{last} ({} ms after restart)", start.elapsed().as_millis())
        }
        _ => format!("{last} for {} ms", start.elapsed().as_millis()),
    };
    out.push(record(
        format!("{} restarted (pid {restarted}): {path}", what(node)),
        "answered",
        actual,
        last.ok(),
        "the restarted daemon did not restore the tunnel",
    ));
    out
}
