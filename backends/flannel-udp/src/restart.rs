//! The backend's own check: the datapath *is* the daemon. Stopping node 0's daemon must cut
//! cross-node traffic (its TUN, and with it the route to the pod network, disappears when the
//! last fd of a non-persistent TUN closes); starting it again the way setup did must restore
//! it.

use std::time::{Duration, Instant};

use harness::checks::{icmp_echo, ProbeResult};
use harness::Context;
use reports::CheckRecord;

use crate::expect::first_cross_node_pair;
use crate::mode::DatapathMode;
use crate::start::{daemon_label, start_daemon};
use crate::TUN_DEV;

/// The name of this check in results.
pub const CHECK: &str = "daemon-restart";

/// How long a restarted datapath may take to carry the first echo.
const RESTORE_WITHIN: Duration = Duration::from_secs(2);

fn record(subject: &str, expected: &str, actual: String, ok: bool, why: &str) -> CheckRecord {
    harness::checks::record(
        CHECK,
        subject.into(),
        expected.into(),
        actual,
        ok,
        Some(why.to_string()),
    )
}

/// Stops node 0's daemon, probes a cross-node pod pair (must fail), restarts the daemon,
/// probes again (must answer within about 2 s). One record per half.
pub fn daemon_restart(ctx: &Context<'_>, mode: DatapathMode) -> Vec<CheckRecord> {
    let plan = ctx.plan;
    let (Some(node), Some((from, to))) = (plan.nodes.first(), first_cross_node_pair(plan)) else {
        return Vec::new();
    };
    let (a, b) = (&plan.pods[from], &plan.pods[to]);
    let label = daemon_label(node);
    let probe = || icmp_echo(ctx.host(&a.netns), b.ip.addr());
    let stopped_subject = format!(
        "{label} stopped: {} -> {} ({}) icmp",
        a.role,
        b.role,
        b.ip.addr()
    );
    let restarted_subject = format!(
        "{label} restarted: {} -> {} ({}) icmp",
        a.role,
        b.role,
        b.ip.addr()
    );
    let mut out = Vec::new();

    // 1. Stop it.
    let found = ctx
        .procs
        .list()
        .into_iter()
        .find(|(what, netns, _)| *what == label && *netns == node.netns);
    let Some((_, _, pid)) = found else {
        out.push(record(
            &stopped_subject,
            "no answer",
            format!("no {label} in the run's processes"),
            false,
            "the daemon setup started is not recorded (did it exit?); see its stderr",
        ));
        return out;
    };
    ctx.procs.stop(&node.netns, pid);
    // The kernel unregisters the TUN while closing the dead daemon's fd; give that a moment
    // to finish so the record says what the probe met. One dump per look: a device that
    // vanishes between two dumps is the expected case here.
    let tun_present = || {
        ctx.host(&node.netns)
            .nl()
            .links()
            .map(|ls| ls.iter().any(|l| l.name == TUN_DEV))
            .unwrap_or(false)
    };
    let gone_by = Instant::now() + Duration::from_millis(500);
    while tun_present() && Instant::now() < gone_by {
        std::thread::sleep(Duration::from_millis(10));
    }
    let tun_left = tun_present();
    let r = probe();
    out.push(record(
        &stopped_subject,
        "no answer (flannel0 and its route leave with the daemon)",
        format!(
            "{r}; {TUN_DEV} {} after stopping pid {pid}",
            if tun_left { "still present" } else { "gone" }
        ),
        !r.ok(),
        "cross-node traffic still flows without the daemon: something else carries it",
    ));

    // 2. Start it again, exactly as setup did, and wait for the path to carry an echo.
    let started = Instant::now();
    let pid = match start_daemon(ctx, node, mode) {
        Ok(pid) => pid,
        Err(e) => {
            out.push(record(
                &restarted_subject,
                "answer within 2 s of a restart",
                format!("restart failed: {e}"),
                false,
                "the daemon did not come back",
            ));
            return out;
        }
    };
    let mut r: ProbeResult;
    loop {
        r = probe();
        if r.ok() || started.elapsed() >= RESTORE_WITHIN {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    out.push(record(
        &restarted_subject,
        "answer within 2 s of a restart",
        format!(
            "{r} (new pid {pid}, {} ms after the restart began)",
            started.elapsed().as_millis()
        ),
        r.ok(),
        "the restarted daemon does not carry traffic: flannel0, its route or the socket is missing",
    ));
    out
}
