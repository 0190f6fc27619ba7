//! Control-plane scale (`cnbench scale`): for each size and each value of the option the
//! backend sweeps, N nodes with one pod each are set up without waiting for convergence,
//! the backend's control plane measures its convergence, sessions and routes
//! ([`ControlPlaneScale`]), the harness measures what every daemon of the run costs (memory,
//! CPU) and the packets the kernel dropped meanwhile; then everything is torn down, whatever
//! happened, before the next point.

use std::path::Path;
use std::time::{Duration, Instant};

use reports::ScalePoint;

use crate::backend::{Backend, ControlPlaneScale};
use crate::run::{Launch, Topology};
use crate::state::{Mode, RunState};
use crate::topology::{new_run_id, IpFamily, TopologyRequest, Underlay};

/// One point: `backend` (made for the sweep, with the option value `variant` in effect) at
/// `nodes` nodes on `underlay` with the IP families `family`; convergence is awaited up to
/// `timeout`.
pub fn point(
    backend: &dyn Backend,
    variant: &str,
    nodes: u32,
    (underlay, family): (Underlay, IpFamily),
    timeout: Duration,
    exe: &Path,
) -> ScalePoint {
    let mut p = ScalePoint {
        topology: variant.into(),
        nodes,
        ..Default::default()
    };
    let Some(scale) = backend.capabilities().scale else {
        p.error = Some(format!(
            "backend {} has no control plane to scale",
            backend.info().name
        ));
        return p;
    };
    let request = TopologyRequest {
        nodes: Some(nodes),
        pods_per_node: Some(1),
        underlay: Some(underlay),
        ip_family: family,
        ..Default::default()
    };
    let plan = match backend
        .info()
        .plan(&request, new_run_id())
        .and_then(|plan| backend.validate(&plan).map(|()| plan))
    {
        Ok(plan) => plan,
        Err(e) => {
            p.error = Some(e.to_string());
            return p;
        }
    };
    // Name the run, so a point that hangs can be inspected (`ip netns list | grep ID`).
    eprintln!(
        "cnbench scale: run {}: {nodes} nodes, {} {variant}, underlay {underlay}",
        plan.run_id(),
        backend.info().name
    );
    let drops_before = softnet_drops();
    let t0 = Instant::now();
    let launch = Launch {
        mode: Mode::Run,
        backend_options: backend.options(),
        exe: exe.to_path_buf(),
    };
    let topo = match Topology::up(backend, plan, launch) {
        Ok(t) => t,
        // `up` has torn down what it made.
        Err(e) => {
            p.error = Some(e.to_string());
            p.softnet_drops = delta(drops_before, softnet_drops());
            return p;
        }
    };
    let started = scale.started().unwrap_or(t0);
    p.setup_ms = Some(ms(started.saturating_duration_since(t0)));
    measure(&topo, scale, started, timeout, &mut p);
    p.softnet_drops = delta(drops_before, softnet_drops());
    let errors = topo.down(backend);
    if let Some(e) = errors.first() {
        let message = format!("teardown: {e}");
        p.error = Some(match p.error.take() {
            Some(first) => format!("{first}; {message}"),
            None => message,
        });
    }
    p
}

/// The backend's figures, with what its daemons cost up to convergence.
fn measure(
    topo: &Topology,
    scale: &dyn ControlPlaneScale,
    started: Instant,
    timeout: Duration,
    p: &mut ScalePoint,
) {
    let plan = topo.plan();
    // The backend waits for convergence and fills in its own figures; what the daemons cost
    // is read the moment it converged (or the time ran out), before the backend lets its
    // sessions settle.
    let run_id = plan.run_id().to_string();
    let mut costs = |p: &mut ScalePoint| daemon_costs(&run_id, p);
    scale.measure(plan, topo.hosts(), started, timeout, p, &mut costs);
}

/// What the run's daemons cost until now: memory (RSS) and CPU, over every daemon on record.
fn daemon_costs(run_id: &str, p: &mut ScalePoint) {
    let Ok(state) = RunState::load(run_id) else {
        return;
    };
    let rss: Vec<u64> = state
        .pids()
        .iter()
        .filter_map(|&pid| crate::cost::process::rss_bytes(pid))
        .collect();
    if !rss.is_empty() {
        p.daemon_rss_bytes_total = Some(rss.iter().sum());
        p.daemon_rss_bytes_max = rss.iter().max().copied();
    }
    let cpu: Vec<f64> = state.pids().iter().filter_map(|&pid| cpu_ms(pid)).collect();
    if !cpu.is_empty() {
        p.daemon_cpu_ms_total = Some(cpu.iter().sum());
    }
}

/// A duration in ms.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn delta(before: Option<u64>, after: Option<u64>) -> Option<u64> {
    Some(after?.saturating_sub(before?))
}

/// Packets dropped from full receive backlogs, all CPUs (`/proc/net/softnet_stat`, second
/// column, hexadecimal). The counters are per CPU, not per namespace.
pub fn softnet_drops() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/softnet_stat").ok()?;
    parse_softnet_drops(&text)
}

/// Sums the second column of `/proc/net/softnet_stat`.
pub fn parse_softnet_drops(text: &str) -> Option<u64> {
    text.lines()
        .map(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|h| u64::from_str_radix(h, 16).ok())
        })
        .sum()
}

/// CPU time of `pid`, in ms: the scheduler's nanosecond count (`/proc/<pid>/schedstat`),
/// or user + system time in clock ticks (`/proc/<pid>/stat`) where there is no schedstat.
fn cpu_ms(pid: u32) -> Option<f64> {
    if let Some(ns) = std::fs::read_to_string(format!("/proc/{pid}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
    {
        return Some(ns as f64 / 1e6);
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    // After the command name: state is field 3, utime field 14, stime field 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    // SAFETY: sysconf reads a constant of the C library; no memory is involved.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as f64 } else { 100.0 };
    Some((utime + stime) as f64 * 1e3 / hz)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softnet_drops_are_the_second_column_in_hex() {
        let text = "0000a1b2 0000000a 00000000\n0000ffff 00000010 00000000\n";
        assert_eq!(parse_softnet_drops(text), Some(0x0a + 0x10));
        assert_eq!(parse_softnet_drops("x\n"), None);
        assert_eq!(delta(Some(3), Some(10)), Some(7));
        assert_eq!(delta(None, Some(10)), None);
    }
}
