//! Control-plane scale (`cnbench scale`): for each size and each variant (one value of each
//! option the backend sweeps, [`variants`]), N nodes with one pod each are set up without
//! waiting for convergence, the backend's control plane measures its convergence, sessions
//! and routes ([`ControlPlaneScale`]), the harness measures what every daemon of the run
//! costs (memory per node, CPU), the machine's available memory and the packets the kernel
//! dropped meanwhile, and names why a point did not converge ([`classify`]); then everything
//! is torn down, whatever happened, before the next point.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use reports::{LimitReason, ScaleLimit, ScalePoint};

use crate::backend::{Backend, ControlPlaneScale};
use crate::run::{Launch, Topology};
use crate::state::Mode;
use crate::topology::{new_run_id, TopologyRequest};

/// Below this share of the machine's memory available, a point ran out of memory.
pub const MEMORY_LOW_FRACTION: f64 = 1.0 / 20.0;

/// From this share of all the machine's CPUs kept busy by the daemons on average, a point was
/// short of CPU.
pub const CPU_BUSY_FRACTION: f64 = 0.8;

/// From this share of all the machine's CPU time busy during a point, the point was short of
/// CPU.
pub const MACHINE_BUSY_FRACTION: f64 = 0.9;

/// Before each point, the machine must have been less busy than this over a quarter of a
/// second (the
/// kernel still freeing the previous point's namespaces, another program), waited for up to
/// [`QUIET_WAIT`]: a point is not charged with the one before it.
pub const QUIET_FRACTION: f64 = 0.5;

/// At most this long for the machine to be quiet before a point.
pub const QUIET_WAIT: Duration = Duration::from_secs(60);

/// Every combination of the swept options' values, the first option varying slowest: one
/// variant per combination, each option by its flag (`bgp-topology: mesh, bgp-announce:
/// pod`). No options: one empty variant.
pub fn variants(options: &[(String, Vec<String>)]) -> Vec<BTreeMap<String, String>> {
    options
        .iter()
        .fold(vec![BTreeMap::new()], |so_far, (flag, values)| {
            so_far
                .iter()
                .flat_map(|v| {
                    values.iter().map(move |value| {
                        let mut v = v.clone();
                        v.insert(flag.clone(), value.clone());
                        v
                    })
                })
                .collect()
        })
}

/// One point: `backend` (made for the sweep, with the options of `variant` in effect) at
/// `nodes` nodes with one pod each, the rest of the topology as `shape` asks (underlay, IP
/// families, routers); convergence is awaited up to `timeout`.
pub fn point(
    backend: &dyn Backend,
    variant: &BTreeMap<String, String>,
    nodes: u32,
    shape: &TopologyRequest,
    timeout: Duration,
    exe: &Path,
) -> ScalePoint {
    let mut p = ScalePoint {
        variant: variant.clone(),
        nodes,
        ..Default::default()
    };
    let label: Vec<&str> = variant.values().map(String::as_str).collect();
    let label = label.join(" ");
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
        ..shape.clone()
    };
    let underlay = request.underlay.unwrap_or(backend.info().defaults.underlay);
    let plan = match backend
        .info()
        .plan(&request, new_run_id())
        .and_then(|plan| backend.validate(&plan).map(|()| plan))
    {
        Ok(plan) => plan,
        Err(e) => {
            p.error = Some(e.to_string());
            p.limit = Some(classify(&p, cpu_count(), mem_info().0));
            return p;
        }
    };
    // Name the run, so a point that hangs can be inspected (`ip netns list | grep ID`).
    eprintln!(
        "cnbench scale: run {}: {nodes} nodes, {} {label}, underlay {underlay}",
        plan.run_id(),
        backend.info().name
    );
    if !wait_quiet(QUIET_WAIT) {
        eprintln!(
            "cnbench scale: the machine stayed busy (over {:.0} % of its CPUs) for {} s before \
             this point; measuring anyway",
            QUIET_FRACTION * 100.0,
            QUIET_WAIT.as_secs()
        );
    }
    let drops_before = softnet_drops();
    let cpu_before = cpu_times();
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
            p.load_1m = load_1m();
            p.machine_cpu_busy = busy_between(cpu_before, cpu_times());
            p.mem_available_bytes = mem_info().1;
            p.limit = Some(classify(&p, cpu_count(), mem_info().0));
            return p;
        }
    };
    let started = scale.started().unwrap_or(t0);
    p.setup_ms = Some(ms(started.saturating_duration_since(t0)));
    measure(&topo, scale, (started, cpu_before), timeout, &mut p);
    p.softnet_drops = delta(drops_before, softnet_drops());
    if !p.converged {
        p.limit = Some(classify(&p, cpu_count(), mem_info().0));
    }
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
    (started, cpu_before): (Instant, Option<(u64, u64)>),
    timeout: Duration,
    p: &mut ScalePoint,
) {
    let plan = topo.plan();
    // The backend waits for convergence and fills in its own figures; what the daemons cost
    // and the memory left are read the moment it converged (or the time ran out), before
    // the backend lets its sessions settle.
    let nodes: Vec<&str> = plan.nodes.iter().map(|n| n.netns.as_str()).collect();
    let mut costs = |p: &mut ScalePoint| {
        daemon_costs(&topo.daemons(), &nodes, p);
        p.daemon_wall_ms = Some(ms(started.elapsed()));
        p.mem_available_bytes = mem_info().1;
        p.load_1m = load_1m();
        p.machine_cpu_busy = busy_between(cpu_before, cpu_times());
    };
    scale.measure(plan, topo.hosts(), started, timeout, p, &mut costs);
}

/// What the run's `daemons` (`(what, netns, pid)`) cost until now: memory (RSS) of each,
/// summed per node among `nodes` (the namespaces of the nodes; a speaker may run several
/// processes per node, FRR's zebra and bgpd), and CPU.
fn daemon_costs(daemons: &[(String, String, u32)], nodes: &[&str], p: &mut ScalePoint) {
    let mut per_node: BTreeMap<&str, u64> = BTreeMap::new();
    let mut rss = Vec::new();
    for (_, netns, pid) in daemons {
        let Some(bytes) = crate::cost::process::rss_bytes(*pid) else {
            continue;
        };
        rss.push(bytes);
        if nodes.contains(&netns.as_str()) {
            *per_node.entry(netns.as_str()).or_default() += bytes;
        }
    }
    if !rss.is_empty() {
        p.daemon_rss_bytes_total = Some(rss.iter().sum());
        p.daemon_rss_bytes_max = rss.iter().max().copied();
    }
    if !per_node.is_empty() {
        p.daemon_rss_bytes_per_node_max = per_node.values().max().copied();
        p.daemon_rss_bytes_per_node_mean =
            Some(per_node.values().sum::<u64>() as f64 / per_node.len() as f64);
    }
    let cpu: Vec<f64> = daemons.iter().filter_map(|d| cpu_ms(d.2)).collect();
    if !cpu.is_empty() {
        p.daemon_cpu_ms_total = Some(cpu.iter().sum());
    }
}

/// Why `p`, which did not converge, stopped, from its measurements, on a machine of `cpus`
/// CPUs and `mem_total_bytes` of memory. The first that holds, in this order:
/// - [`LimitReason::Memory`]: `MemAvailable` below [`MEMORY_LOW_FRACTION`] of the memory;
/// - when the control plane was never measured (planning or setup failed):
///   [`LimitReason::Cpu`] if the machine's CPUs were busy [`MACHINE_BUSY_FRACTION`] of the
///   point or more (a daemon too starved to answer in time fails setup), else
///   [`LimitReason::Error`];
/// - [`LimitReason::Keepalives`]: sessions that had been Established dropped on an expired
///   hold timer. A starved speaker misses keepalives, so this comes before CPU: the CPU
///   share is in the detail;
/// - [`LimitReason::Cpu`]: the daemons kept at least [`CPU_BUSY_FRACTION`] of the CPUs busy,
///   or the machine's CPUs were busy [`MACHINE_BUSY_FRACTION`] of the point;
/// - [`LimitReason::Sessions`]: fewer sessions Established than the topology has;
/// - [`LimitReason::Time`]: none of these.
pub fn classify(p: &ScalePoint, cpus: u32, mem_total_bytes: Option<u64>) -> ScaleLimit {
    let limit = |reason, detail: String| ScaleLimit { reason, detail };
    let cpus = cpus.max(1);
    let mut evidence = Vec::new();
    let memory_low = match (p.mem_available_bytes, mem_total_bytes) {
        (Some(a), Some(t)) => {
            evidence.push(format!("MemAvailable {} of {}", gib(a), gib(t)));
            (a as f64) < t as f64 * MEMORY_LOW_FRACTION
        }
        _ => false,
    };
    let busy = p.daemon_cpus_busy();
    if let Some(b) = busy {
        evidence.push(format!("daemons kept {b:.2} of {cpus} CPUs busy"));
    }
    if let Some(b) = p.machine_cpu_busy {
        evidence.push(format!("the machine's CPUs {:.0} % busy", b * 100.0));
    }
    if let Some(l) = p.load_1m {
        evidence.push(format!("load average {l:.1} on {cpus} CPUs"));
    }
    let overloaded = p
        .machine_cpu_busy
        .is_some_and(|b| b >= MACHINE_BUSY_FRACTION);
    let cpu_short = overloaded || busy.is_some_and(|b| b >= CPU_BUSY_FRACTION * f64::from(cpus));
    if p.daemon_wall_ms.is_none() {
        let error = p
            .error
            .clone()
            .unwrap_or_else(|| "the control plane was never measured".into());
        evidence.push(format!("setup failed: {error}"));
        let reason = if memory_low {
            LimitReason::Memory
        } else if overloaded {
            LimitReason::Cpu
        } else {
            return limit(LimitReason::Error, error);
        };
        return limit(reason, evidence.join("; "));
    }
    let dropped = p.sessions_dropped.unwrap_or(0);
    let missing = match (p.sessions_total, p.sessions_expected) {
        (Some(up), Some(want)) => {
            evidence.push(format!("{up} of {want} sessions Established"));
            want.saturating_sub(up)
        }
        _ => 0,
    };
    if p.sessions_dropped.is_some() {
        evidence.push(format!("{dropped} dropped on an expired hold timer"));
    }
    let reason = if memory_low {
        LimitReason::Memory
    } else if dropped > 0 {
        LimitReason::Keepalives
    } else if cpu_short {
        LimitReason::Cpu
    } else if missing > 0 {
        LimitReason::Sessions
    } else {
        LimitReason::Time
    };
    limit(reason, evidence.join("; "))
}

/// Waits up to `limit` for a quarter of a second in which the machine's CPUs are less than
/// [`QUIET_FRACTION`] busy; whether one came.
fn wait_quiet(limit: Duration) -> bool {
    let until = Instant::now() + limit;
    loop {
        let before = cpu_times();
        std::thread::sleep(Duration::from_millis(250));
        if busy_between(before, cpu_times()).is_none_or(|b| b < QUIET_FRACTION) {
            return true;
        }
        if Instant::now() >= until || crate::signals::interrupted() {
            return false;
        }
    }
}

/// The machine's CPU time: (busy, all), in clock ticks, summed over the CPUs (`/proc/stat`).
fn cpu_times() -> Option<(u64, u64)> {
    parse_cpu_times(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// The `cpu` line of a `/proc/stat` text: (busy, all) ticks, where idle and iowait are not
/// busy and guest time (already in user) is not counted twice.
pub fn parse_cpu_times(text: &str) -> Option<(u64, u64)> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal
    let all: u64 = v.iter().sum();
    let idle = v.get(3)? + v.get(4)?;
    Some((all - idle, all))
}

/// The busy share of the CPU time between two readings of [`cpu_times`].
fn busy_between(before: Option<(u64, u64)>, after: Option<(u64, u64)>) -> Option<f64> {
    let ((b0, a0), (b1, a1)) = (before?, after?);
    let all = a1.checked_sub(a0).filter(|a| *a > 0)?;
    Some(b1.saturating_sub(b0) as f64 / all as f64)
}

/// The one-minute load average (`/proc/loadavg`, first field).
pub fn load_1m() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// CPUs online (`sysconf(_SC_NPROCESSORS_ONLN)`), at least 1.
pub fn cpu_count() -> u32 {
    // SAFETY: sysconf reads a value of the C library; no memory is involved.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    u32::try_from(n).unwrap_or(1).max(1)
}

/// `MemTotal` and `MemAvailable` of `/proc/meminfo`, in bytes.
pub fn mem_info() -> (Option<u64>, Option<u64>) {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    parse_meminfo(&text)
}

/// `MemTotal` and `MemAvailable` of a `/proc/meminfo` text (in kB there), in bytes.
pub fn parse_meminfo(text: &str) -> (Option<u64>, Option<u64>) {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map(|kib| kib * 1024)
    };
    (field("MemTotal"), field("MemAvailable"))
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

    fn opts(list: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
        list.iter()
            .map(|(f, v)| (f.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn variants_are_every_combination_the_first_option_slowest() {
        let v = variants(&opts(&[
            ("bgp-topology", &["mesh", "rr"]),
            ("bgp-announce", &["block", "pod"]),
        ]));
        let flat: Vec<(&str, &str)> = v
            .iter()
            .map(|m| (m["bgp-topology"].as_str(), m["bgp-announce"].as_str()))
            .collect();
        assert_eq!(
            flat,
            [
                ("mesh", "block"),
                ("mesh", "pod"),
                ("rr", "block"),
                ("rr", "pod")
            ]
        );
        // One value fixes the option, in every variant.
        let v = variants(&opts(&[
            ("bgp-speaker", &["bird", "frr", "gobgp"]),
            ("bgp-topology", &["rr"]),
        ]));
        assert_eq!(v.len(), 3);
        assert!(v.iter().all(|m| m["bgp-topology"] == "rr" && m.len() == 2));
        assert_eq!(variants(&[]), [BTreeMap::new()]);
        assert!(variants(&opts(&[("bgp-topology", &[])])).is_empty());
    }

    const GIB: u64 = 1 << 30;

    /// A point that ran 100 s and did not converge: 4950 of 4950 sessions, 2 CPUs, 20 GiB
    /// available of 24.
    fn stuck() -> ScalePoint {
        ScalePoint {
            nodes: 100,
            daemon_wall_ms: Some(100_000.0),
            daemon_cpu_ms_total: Some(50_000.0),
            mem_available_bytes: Some(20 * GIB),
            sessions_total: Some(4950),
            sessions_expected: Some(4950),
            sessions_dropped: Some(0),
            ..Default::default()
        }
    }

    #[test]
    fn a_stuck_point_is_named_by_the_first_measurement_that_explains_it() {
        let reason = |p: &ScalePoint| classify(p, 2, Some(24 * GIB)).reason;
        // Everything to spare: the time was too short.
        let p = stuck();
        assert_eq!(reason(&p), LimitReason::Time);
        let detail = classify(&p, 2, Some(24 * GIB)).detail;
        assert_eq!(
            detail,
            "MemAvailable 20.0 GiB of 24.0 GiB; daemons kept 0.50 of 2 CPUs busy; \
             4950 of 4950 sessions Established; 0 dropped on an expired hold timer"
        );
        // Sessions missing, CPU to spare.
        let p = ScalePoint {
            sessions_total: Some(4000),
            ..stuck()
        };
        assert_eq!(reason(&p), LimitReason::Sessions);
        // The daemons kept 1.7 of 2 CPUs busy: CPU, whatever the sessions did.
        let p = ScalePoint {
            daemon_cpu_ms_total: Some(170_000.0),
            sessions_total: Some(4000),
            ..stuck()
        };
        assert_eq!(reason(&p), LimitReason::Cpu);
        assert_eq!(
            classify(&p, 4, Some(24 * GIB)).reason,
            LimitReason::Sessions
        );
        // Sessions came up and dropped on their hold timers: keepalives, even with the CPU
        // short (the detail says so).
        let p = ScalePoint {
            daemon_cpu_ms_total: Some(190_000.0),
            sessions_dropped: Some(12),
            ..stuck()
        };
        assert_eq!(reason(&p), LimitReason::Keepalives);
        assert!(classify(&p, 2, Some(24 * GIB))
            .detail
            .contains("1.90 of 2 CPUs busy"));
        // Memory below a twentieth of the machine's beats everything.
        let p = ScalePoint {
            mem_available_bytes: Some(GIB),
            sessions_dropped: Some(12),
            ..stuck()
        };
        assert_eq!(reason(&p), LimitReason::Memory);
        // Not knowing the memory is not being short of it.
        assert_eq!(classify(&p, 2, None).reason, LimitReason::Keepalives);
        // Never measured: the error.
        let p = ScalePoint {
            error: Some("setup: no".into()),
            ..Default::default()
        };
        let l = classify(&p, 2, Some(24 * GIB));
        assert_eq!(
            (l.reason, l.detail.as_str()),
            (LimitReason::Error, "setup: no")
        );
    }

    #[test]
    fn cpu_time_is_busy_over_all_without_idle_and_iowait() {
        let text = "cpu  100 10 50 800 40 0 0 0 7 0\ncpu0 1 2 3 4 5 6 7 8 0 0\nintr 5\n";
        assert_eq!(parse_cpu_times(text), Some((160, 1000)));
        assert_eq!(
            busy_between(Some((160, 1000)), Some((610, 1500))),
            Some(0.9)
        );
        assert_eq!(busy_between(Some((160, 1000)), Some((160, 1000))), None);
        assert_eq!(parse_cpu_times("cpu0 1 2\n"), None);
    }

    #[test]
    fn meminfo_gives_total_and_available_in_bytes() {
        let text = "MemTotal:       24683772 kB\nMemFree:  100 kB\nMemAvailable:   20000000 kB\n";
        assert_eq!(
            parse_meminfo(text),
            (Some(24_683_772 * 1024), Some(20_000_000 * 1024))
        );
        assert_eq!(parse_meminfo("MemTotalX: 5 kB\n"), (None, None));
    }
}
