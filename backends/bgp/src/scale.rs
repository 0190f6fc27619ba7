//! One point of `cnbench scale`: N nodes with one pod each, BIRD everywhere, the time until
//! every route is in every kernel and a pod pair answers, the sessions and routes each
//! speaker holds, what the BIRDs cost in memory and CPU, and the packets the kernel dropped
//! meanwhile; then everything is torn down, whatever happened.

use std::path::Path;
use std::time::{Duration, Instant};

use harness::backend::BackendOptions;
use harness::run::{Launch, Topology};
use harness::state::{Mode, RunState};
use harness::topology::{new_run_id, Plan, TopologyRequest, Underlay};
use harness::Backend;
use reports::ScalePoint;

use crate::bird;
use crate::converge;
use crate::peering::{peers_of, BgpTopology, Speaker};
use crate::Bgp;

/// One point of `cnbench scale`: stands up `nodes` nodes (one pod each) with BGP `topology`
/// on `underlay`, waits up to `timeout` for convergence, measures, tears down.
pub fn scale_point(
    nodes: u32,
    topology: &str,
    underlay: Underlay,
    timeout: Duration,
    exe: &Path,
) -> ScalePoint {
    let mut p = ScalePoint {
        topology: topology.into(),
        nodes,
        ..Default::default()
    };
    let bgp_topology: BgpTopology = match topology.parse() {
        Ok(t) => t,
        Err(e) => {
            p.error = Some(e.to_string());
            return p;
        }
    };
    let backend = Bgp::without_waiting(bgp_topology);
    let spec = TopologyRequest {
        nodes: Some(nodes),
        pods_per_node: Some(1),
        underlay: Some(underlay),
        ..Default::default()
    }
    .resolve(&backend.defaults(), new_run_id());
    let plan = match Plan::new(spec, backend.pod_network()) {
        Ok(plan) => plan,
        Err(e) => {
            p.error = Some(e.to_string());
            return p;
        }
    };
    // Name the run, so a point that hangs can be inspected (`ip netns list | grep ID`).
    eprintln!(
        "cnbench scale: run {}: {nodes} nodes, bgp {bgp_topology}, underlay {underlay}",
        plan.run_id()
    );
    let drops_before = softnet_drops();
    let t0 = Instant::now();
    let topo = match Topology::up(
        &backend,
        plan,
        Launch {
            mode: Mode::Run,
            backend_options: BackendOptions {
                datapath: None,
                bgp_topology: Some(bgp_topology.as_str().into()),
                ..Default::default()
            },
            exe: exe.to_path_buf(),
        },
    ) {
        Ok(t) => t,
        // `up` has torn down what it made.
        Err(e) => {
            p.error = Some(e.to_string());
            p.softnet_drops = delta(drops_before, softnet_drops());
            return p;
        }
    };
    let started = backend.progress().bird_started.unwrap_or(t0);
    p.setup_ms = Some(ms(started.saturating_duration_since(t0)));
    measure(&topo, bgp_topology, started, timeout, &mut p);
    p.softnet_drops = delta(drops_before, softnet_drops());
    let errors = topo.down(&backend);
    if let Some(e) = errors.first() {
        let message = format!("teardown: {e}");
        p.error = Some(match p.error.take() {
            Some(first) => format!("{first}; {message}"),
            None => message,
        });
    }
    p
}

/// At most this long, after convergence, for the last sessions to come up.
const SESSION_WAIT: Duration = Duration::from_secs(10);

fn measure(
    topo: &Topology,
    topology: BgpTopology,
    started: Instant,
    timeout: Duration,
    p: &mut ScalePoint,
) {
    let plan = topo.plan();
    match converge::wait_converged(plan, topo.hosts(), started, timeout) {
        Ok(t) => {
            p.converged = true;
            p.convergence_ms = Some(ms(t));
        }
        Err(why) => p.error = Some(why),
    }
    // What the daemons cost until now: right after convergence, or at the time limit.
    if let Ok(state) = RunState::load(plan.run_id()) {
        let rss: Vec<u64> = state
            .pids()
            .iter()
            .filter_map(|&pid| rss_bytes(pid))
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
    // Routes can be complete before every session is: with two reflectors a client learns
    // everything through either. Give the rest of the time limit (at most SESSION_WAIT) for
    // the remaining sessions, so the counts are those of the settled topology.
    let want: Vec<u64> = Speaker::all(plan)
        .into_iter()
        .map(|s| peers_of(plan, topology, s).len() as u64)
        .collect();
    let deadline = Instant::now() + SESSION_WAIT.min(timeout.saturating_sub(started.elapsed()));
    let mut counts = Vec::new();
    let per_speaker = loop {
        counts = established(topo, &counts);
        if counts == want || Instant::now() >= deadline || harness::signals::interrupted() {
            break counts;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // Converged means it stayed so: a mesh whose BIRDs are starved of CPU misses keepalives,
    // drops sessions (hold time) and withdraws routes it had a moment ago.
    if p.converged {
        if let Err(why) = converge::routes_complete(plan, topo.hosts()) {
            p.converged = false;
            p.error = Some(format!(
                "every route was in place after {:.1} s but did not stay: {why}; {} of {} sessions Established",
                p.convergence_ms.unwrap_or(0.0) / 1e3,
                per_speaker.iter().sum::<u64>() / 2,
                want.iter().sum::<u64>() / 2
            ));
        }
    }
    if !per_speaker.is_empty() {
        // Each session is seen by both of its ends.
        p.sessions_total = Some(per_speaker.iter().sum::<u64>() / 2);
        p.sessions_per_node_max = per_speaker.iter().max().copied();
    }
    let routes: Vec<u64> = plan
        .nodes
        .iter()
        .filter_map(|n| converge::bird_route_count(&topo.hosts()[&n.netns]).ok())
        .map(|c| c as u64)
        .collect();
    p.routes_per_node_min = routes.iter().min().copied();
    p.routes_per_node_max = routes.iter().max().copied();
}

/// Sessions each speaker's BIRD reports Established; `last` keeps the previous count of a
/// BIRD too busy to answer `birdc` this time.
fn established(topo: &Topology, last: &[u64]) -> Vec<u64> {
    let plan = topo.plan();
    Speaker::all(plan)
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            bird::show_protocols(topo.hosts(), plan, s)
                .map(|p| p.iter().filter(|x| x.established()).count() as u64)
                .unwrap_or_else(|_| last.get(i).copied().unwrap_or(0))
        })
        .collect()
}

fn ms(d: Duration) -> f64 {
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

/// Resident memory of `pid` (`VmRSS` of `/proc/<pid>/status`), in bytes.
fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
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
