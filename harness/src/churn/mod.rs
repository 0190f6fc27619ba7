//! Pod churn (`cnbench churn`): how fast a datapath wires and unwires pods on a standing
//! topology, when a new pod becomes reachable, and what the comings and goings leave behind.
//!
//! On a fresh topology with one standing pod per node (the observers), for each concurrency
//! level C, K cycles of:
//!
//! 1. adding P pods spread over the nodes (pod i on node i mod N), C at a time
//!    ([`crate::run::Topology::add_pods`]: namespaces made and pods wired in parallel). Each
//!    pod's clock starts when its batch is issued; *wired* is when the backend's add (a CNI
//!    ADD) returned;
//! 2. every pod watched from the observer on the next node and the one on its own node
//!    ([`probe`]: ICMP echo every 1 ms) until it answers: *reachable* (from another node,
//!    and from the same node); for a control plane that announces pods (bgp
//!    `--bgp-announce pod`) this includes the announcement's propagation;
//! 3. once every pod answered (or the limit passed), removing them C at a time: *removed* is
//!    when its namespace was gone; from the removal's issue on, the observer on the next
//!    node watches for *unreachable* (the first echo that stays unanswered) and, where its
//!    node had a host route to the pod, for *withdrawn* (that route gone).
//!
//! Each cycle is one repetition ([`reports::ChurnSample`]) of the level's measurement, with
//! the CPU the harness, the daemons and the machine spent on it per pod, and what every
//! daemon holds (fds, RSS) after it. After the last cycle everything the churn added must
//! be gone ([`leaks`]): each leftover is a failed check naming the objects.
//!
//! On nodes served by an agent (`--substrate vm`, `--substrate ssh`) the prober runs on each
//! observer's machine ([`remote`]) and only what to watch and when it happened cross the
//! agent's channel, so the times are as fine there as here.
//!
//! Files: `probe` (the reachability prober), `remote` (the prober on a node's machine),
//! `leaks` (what the namespaces and daemons hold, before and after), `cycle` (one cycle).

mod cycle;
pub mod leaks;
pub mod probe;
pub mod remote;

use std::time::{Duration, Instant};

use reports::{ChurnRecord, MeasurementRecord, RunResult};

use crate::backend::Backend;
use crate::error::{HarnessError, PlanError, Result};
use crate::run::{check_first, owned_run, Launch, Observer, Topology};
use crate::signals;
use crate::topology::{Plan, PodNetwork, Substrate, MAX_PODS};

/// The default interval between two echoes to a watched pod.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(1);

/// How long a pod gets by default to answer after its add was issued (and to stop answering
/// after its removal was issued): generous beyond BGP's hold time, so a slow control plane
/// shows as a long time, not as a pod never reachable.
pub const REACH_LIMIT: Duration = Duration::from_secs(10);

/// What `cnbench churn` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChurnSpec {
    /// Pods added and removed per cycle.
    pub pods: u32,
    /// The concurrency levels, in order: adds (and removals) issued at once.
    pub concurrency: Vec<u32>,
    /// Cycles per level.
    pub cycles: u32,
    /// Between two echoes to a watched pod.
    pub probe_interval: Duration,
    /// How long a pod gets to answer (and to go silent).
    pub reach_limit: Duration,
}

/// What a churn result's parameters say of measurement: no workload (the cycles are the
/// measurement), `repeat` the cycles per level.
pub fn measure_options(
    spec: &ChurnSpec,
    agent_exe: std::path::PathBuf,
) -> crate::measure::MeasureOptions {
    crate::measure::MeasureOptions {
        workloads: Vec::new(),
        duration: Duration::ZERO,
        warmup: Duration::ZERO,
        repeat: spec.cycles,
        placement: crate::measure::CpuPlacement::SameCpu,
        streams: 1,
        message_size: None,
        generator: workloads::Generator::Cnbench,
        trace: false,
        agent_exe,
        tweaks: Vec::new(),
    }
}

/// The node pod `i` of a cycle goes to.
pub fn node_of(i: u32, nodes: u32) -> u32 {
    i % nodes
}

/// Refuses a churn the backend or the plan cannot do, before anything is made: no pods, a
/// concurrency of 0 or above the pods, no cycles, a backend that cannot add pods to a
/// standing topology or whose pods have no namespace of their own, and more pods than the
/// nodes' pod blocks hold (or, on this machine's namespaces, than its neighbour table).
pub fn validate(backend: &dyn Backend, plan: &Plan, spec: &ChurnSpec) -> Result<(), PlanError> {
    let invalid = |option: &'static str, value: String, why: String| PlanError::Invalid {
        option,
        value,
        why,
    };
    if spec.pods == 0 {
        return Err(invalid(
            "pods",
            "0".into(),
            "add at least one pod per cycle".into(),
        ));
    }
    if spec.cycles == 0 {
        return Err(invalid(
            "cycles",
            "0".into(),
            "run at least one cycle".into(),
        ));
    }
    if spec.concurrency.is_empty() {
        return Err(invalid(
            "concurrency",
            String::new(),
            "give at least one level".into(),
        ));
    }
    if let Some(&c) = spec.concurrency.iter().find(|&&c| c == 0 || c > spec.pods) {
        return Err(invalid(
            "concurrency",
            c.to_string(),
            format!(
                "use 1 to --pods ({}): adds issued at once (the default levels are 1,8; give \
                 --concurrency for fewer pods)",
                spec.pods
            ),
        ));
    }
    if spec.probe_interval < Duration::from_micros(100)
        || spec.probe_interval > Duration::from_secs(1)
    {
        return Err(invalid(
            "probe-interval",
            format!("{:?}", spec.probe_interval),
            "use 0.1 to 1000 ms".into(),
        ));
    }
    if spec.reach_limit.is_zero() || spec.reach_limit > Duration::from_secs(600) {
        return Err(invalid(
            "reach-limit",
            format!("{:?}", spec.reach_limit),
            "use 0.001 to 600 seconds".into(),
        ));
    }
    let name = backend.info().name;
    let refuse = |why: String| PlanError::Backend {
        backend: name.into(),
        why,
    };
    if backend.capabilities().pods.is_none() {
        return Err(refuse(
            "it cannot add or remove pods on a standing topology, so it has no churn to \
             measure: use another backend (`cnbench list`)"
                .into(),
        ));
    }
    if plan.pod_network == PodNetwork::HostNetwork {
        return Err(refuse(
            "its pods share their node's namespace: adding one wires nothing, so there is no \
             churn to measure; use a backend whose pods have namespaces of their own"
                .into(),
        ));
    }
    // Every pod planned on a copy, as the cycle will add them: the planner says what does
    // not fit (a node's block, the planner's limit).
    let nodes = plan.spec.nodes;
    let standing = plan.pods.len() as u32;
    if standing + spec.pods > MAX_PODS {
        return Err(invalid(
            "pods",
            spec.pods.to_string(),
            format!(
                "with the {standing} standing pod(s) at most {} fit (the planner's limit of \
                 {MAX_PODS} pods)",
                MAX_PODS.saturating_sub(standing)
            ),
        ));
    }
    let mut trial = plan.clone();
    for i in 0..spec.pods {
        if let Err(e) = trial.add_pod(node_of(i, nodes)) {
            let why = match e {
                PlanError::Invalid { why, .. } => why,
                other => other.to_string(),
            };
            return Err(invalid(
                "pods",
                spec.pods.to_string(),
                format!(
                    "more pods than the pod blocks hold: {i} fit, then {why}; use fewer pods \
                     or more --nodes"
                ),
            ));
        }
    }
    backend.validate(&trial)?;
    // Only namespaces of this machine share its kernel's neighbour table: VMs and hosts
    // have kernels of their own.
    if plan.spec.substrate != Substrate::Netns {
        return Ok(());
    }
    neighbour_room(spec.pods, standing, nodes, read_gc_thresh3())
}

/// Neighbour entries one pod costs the kernel, at most, as measured with every pod added
/// (bgp: about 3 — the pod's entry for its gateway, its node's for it, the observers'; vxlan:
/// more than 3.4, where the table overflowed). One kernel holds the entries of every
/// namespace of this machine.
pub const NEIGHBOURS_PER_POD: u32 = 4;

/// Where the kernel says how many neighbour entries its (machine-wide) IPv4 table holds.
const GC_THRESH3: &str = "/proc/sys/net/ipv4/neigh/default/gc_thresh3";

fn read_gc_thresh3() -> Option<u32> {
    std::fs::read_to_string(GC_THRESH3)
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Refuses a churn whose pods would fill the kernel's neighbour table: its IPv4 table is one
/// for every namespace of the machine, and beyond `gc_thresh3` entries the kernel refuses
/// new ones ("neighbor table overflow"), so pods stay unreachable for seconds (measured: 64
/// of 300 vxlan pods never answered within 10 s). Nodes of a real cluster each have a
/// kernel of their own; here they share one, so this is the substrate's limit, not the
/// datapath's. `gc_thresh3` is the machine's own setting: cnbench never changes it.
fn neighbour_room(
    pods: u32,
    standing: u32,
    nodes: u32,
    gc_thresh3: Option<u32>,
) -> Result<(), PlanError> {
    let Some(limit) = gc_thresh3 else {
        return Ok(());
    };
    let underlay = nodes * nodes.saturating_sub(1);
    let need = NEIGHBOURS_PER_POD * (pods + standing) + underlay;
    if need <= limit {
        return Ok(());
    }
    let fit = (limit.saturating_sub(underlay) / NEIGHBOURS_PER_POD).saturating_sub(standing);
    let fix = if fit == 0 {
        "use fewer --nodes, or raise gc_thresh3 on this machine".to_string()
    } else {
        format!("use at most {fit} pods, or raise gc_thresh3 on this machine")
    };
    Err(PlanError::Invalid {
        option: "pods",
        value: pods.to_string(),
        why: format!(
            "with every pod added this machine's neighbour table would need about {need} \
             entries and holds {limit} (net.ipv4.neigh.default.gc_thresh3, one table for \
             every namespace); {fix}"
        ),
    })
}

/// The whole `cnbench churn`: up, check, every level's cycles, the leak checks, down, with
/// the result kept current in `result` and shown to `obs`. A topology that fails its checks
/// gets no churn. Teardown happens whatever else fails; the first error is returned after it.
pub fn run_churn(
    backend: &dyn Backend,
    launch: Launch,
    plan: Plan,
    spec: &ChurnSpec,
    result: &mut RunResult,
    obs: &mut dyn Observer,
) -> Result<()> {
    owned_run(
        backend,
        launch,
        plan,
        result,
        obs,
        &mut |topo, result, obs| check_and_churn(topo, backend, spec, result, obs),
    )
}

fn check_and_churn(
    topo: &mut Topology,
    backend: &dyn Backend,
    spec: &ChurnSpec,
    result: &mut RunResult,
    obs: &mut dyn Observer,
) -> Result<()> {
    if !check_first(topo, backend, result, obs, "checking the standing topology")? {
        obs.phase("not churning: a conformance check of the standing topology failed");
        return Ok(());
    }
    let mut record = ChurnRecord {
        pods: spec.pods,
        cycles: spec.cycles,
        concurrency: spec.concurrency.clone(),
        probe_interval_ns: spec.probe_interval.as_nanos() as u64,
        reach_limit_ns: spec.reach_limit.as_nanos() as u64,
        daemons: Vec::new(),
    };
    let standing: Vec<String> = topo.plan().pods.iter().map(|p| p.role.clone()).collect();
    let before = leaks::State::capture(topo, backend);
    // The prober's sockets are open before the first sample: they are no leak.
    let mut cycler = cycle::Cycler::start(topo, spec)?;
    leaks::sample_usage(topo, &mut record.daemons);
    result.churn = Some(record.clone());
    let t = Instant::now();
    let mut outcome = Ok(());
    'levels: for &c in &spec.concurrency {
        let mut m = cycler.measurement(topo, backend, c);
        for k in 0..spec.cycles {
            if signals::interrupted() {
                outcome = Err(HarnessError::Interrupted);
                break 'levels;
            }
            obs.phase(&format!(
                "churn at concurrency {c}: cycle {}/{} ({} pods)",
                k + 1,
                spec.cycles,
                spec.pods
            ));
            let seen = result.checks.len();
            let sample = cycler.cycle(topo, backend, c, &mut result.checks);
            for check in &result.checks[seen..] {
                obs.check(check);
            }
            let sample = match sample {
                Ok(s) => s,
                Err(e) => {
                    outcome = Err(e);
                    break 'levels;
                }
            };
            leaks::sample_usage(topo, &mut record.daemons);
            m.repetitions.push(reports::Sample::Churn(sample));
            m.summarize();
            obs.sample(&m, m.repetitions.last().expect("just pushed"));
            upsert(result, &m);
            result.churn = Some(record.clone());
            obs.result(result);
        }
    }
    result.timings.measure_ns = Some(t.elapsed().as_nanos() as u64);
    if outcome.is_ok() && signals::interrupted() {
        outcome = Err(HarnessError::Interrupted);
    }
    drop(cycler);
    // Whatever stopped the cycles, the pods they added go (teardown would remove them
    // anyway); what is left after that is what the churn leaked.
    for e in cycle::remove_leftovers(topo, backend, &standing) {
        eprintln!("cnbench: removing the churn's last pods: {e}");
    }
    if outcome.is_ok() {
        obs.phase("checking what the churn left behind");
        let found = leaks::checks(topo, backend, &before, &record.daemons);
        for c in &found {
            obs.check(c);
        }
        result.checks.extend(found);
        obs.result(result);
    }
    outcome
}

/// Puts `m` into the result, replacing the record of the same level.
fn upsert(result: &mut RunResult, m: &MeasurementRecord) {
    match result
        .measurements
        .iter_mut()
        .find(|x| x.workload == m.workload && x.variant == m.variant)
    {
        Some(x) => *x = m.clone(),
        None => result.measurements.push(m.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_neighbour_table_bounds_the_pods() {
        // 300 pods and 2 observers on 2 nodes: 4 × 302 + 2 = 1210 > 1024.
        let e = neighbour_room(300, 2, 2, Some(1024))
            .unwrap_err()
            .to_string();
        assert!(e.contains("use at most 253 pods"), "{e}");
        assert!(e.contains("gc_thresh3"), "{e}");
        assert!(neighbour_room(253, 2, 2, Some(1024)).is_ok());
        // Unknown limit (not readable): nothing to hold the plan against.
        assert!(neighbour_room(490, 10, 10, None).is_ok());
        // Raised by the machine's owner: the 490 pods over 10 nodes fit.
        assert!(neighbour_room(490, 10, 10, Some(4096)).is_ok());
    }
}
