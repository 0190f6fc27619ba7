//! One churn cycle: P pods added C at a time and watched until they answer, then removed C
//! at a time and watched until they go silent, with what the cycle cost in CPU.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reports::{
    CheckRecord, ChurnSample, DaemonCpu, Endpoint, MeasurementRecord, Placement, PodTimes,
};

use super::probe::{Observer, Prober, TargetId, Watch};
use super::remote::{RemoteObserver, RemoteProber};
use super::{node_of, ChurnSpec};
use crate::backend::Backend;
use crate::checks::record;
use crate::cost::process::{cpu_ns, stat_cpu_ns};
use crate::cost::CpuTimes;
use crate::error::{HarnessError, Result};
use crate::run::Topology;
use crate::signals;

/// The prober of a churn: on this machine's namespaces a thread of the harness
/// ([`Prober`]); for nodes served by an agent, a prober on each observer's machine
/// ([`RemoteProber`]). The same calls either way.
enum Probers {
    Local(Prober),
    Remote(RemoteProber),
}

impl Probers {
    fn watch(
        &self,
        ip: std::net::IpAddr,
        observer: usize,
        watch: Watch,
        since: Instant,
    ) -> TargetId {
        match self {
            Probers::Local(p) => p.watch(ip, observer, watch, since),
            Probers::Remote(p) => p.watch(ip, observer, watch, since),
        }
    }

    /// Waits for `ids` (see [`Prober::wait`]); an error when a remote prober stopped.
    fn wait(&self, ids: &[TargetId], limit: Duration) -> Result<()> {
        match self {
            Probers::Local(p) => {
                p.wait(ids, limit);
                Ok(())
            }
            Probers::Remote(p) => p.wait(ids, limit),
        }
    }

    fn take(&self, ids: &[TargetId]) -> Vec<Option<Duration>> {
        match self {
            Probers::Local(p) => p.take(ids),
            Probers::Remote(p) => p.take(ids),
        }
    }
}

/// What a churn keeps across its cycles: the prober and which observer stands on each node.
pub(super) struct Cycler {
    prober: Probers,
    /// The observer (index into the prober's list) of each node: its standing pod.
    observer_of_node: Vec<usize>,
    /// The observer pods' roles, by node.
    observer_pods: Vec<String>,
    /// The observers' namespaces, by observer.
    observer_netns: Vec<String>,
    spec: ChurnSpec,
}

/// One pod of a cycle.
struct Churned {
    role: String,
    node: u32,
    /// The address it is timed by: its IPv6 one in ipv6 and dual runs (see
    /// [`crate::topology::Plan::answering_addr`]).
    ip: std::net::IpAddr,
    times: PodTimes,
    reach: Option<TargetId>,
    reach_same: Option<TargetId>,
    silence: Option<TargetId>,
    withdrawal: Option<TargetId>,
}

impl Cycler {
    /// Opens an observer in every node's standing pod and starts the prober: here when
    /// every node is on this machine, else on each node's machine (every node of a run is
    /// on one substrate).
    pub(super) fn start(topo: &Topology, spec: &ChurnSpec) -> Result<Cycler> {
        let plan = topo.plan();
        let v6 = plan.ip_family().has_v6();
        let mut pods = Vec::new();
        let mut observer_of_node = Vec::new();
        let mut observer_pods = Vec::new();
        let mut observer_netns = Vec::new();
        for node in &plan.nodes {
            let pod = plan
                .pods
                .iter()
                .find(|p| p.node == node.index)
                .ok_or_else(|| HarnessError::Unsupported {
                    what: format!("node {} has no standing pod to observe from", node.role),
                    fix: "use --pods-per-node 1 or more".into(),
                })?;
            observer_of_node.push(pods.len());
            observer_pods.push(pod.role.clone());
            observer_netns.push(pod.netns.clone());
            pods.push((&topo.hosts()[&pod.netns], &topo.hosts()[&node.netns]));
        }
        let local = pods
            .iter()
            .all(|(p, n)| p.local().is_some() && n.local().is_some());
        let prober = if local {
            let mut observers = Vec::new();
            for (pod, node) in &pods {
                let pod_ns = pod.require_local("a churn observer")?;
                let node_ns = node.require_local("a churn observer's node")?;
                observers.push(Observer::open(pod_ns, node_ns, v6)?);
            }
            Probers::Local(Prober::start(observers, spec.probe_interval)?)
        } else {
            let remote: Vec<RemoteObserver<'_>> = pods
                .iter()
                .map(|(pod, node)| RemoteObserver {
                    pod: pod.name(),
                    node,
                })
                .collect();
            Probers::Remote(RemoteProber::start(&remote, v6, spec.probe_interval)?)
        };
        Ok(Cycler {
            prober,
            observer_of_node,
            observer_pods,
            observer_netns,
            spec: spec.clone(),
        })
    }

    /// The (empty) measurement of concurrency level `c`.
    pub(super) fn measurement(
        &self,
        topo: &Topology,
        backend: &dyn Backend,
        c: u32,
    ) -> MeasurementRecord {
        let plan = topo.plan();
        let observer = plan
            .pods
            .iter()
            .find(|p| p.role == self.observer_pods[self.observer_pods.len().min(2) - 1])
            .expect("observers stand");
        let nodes = plan.nodes.len();
        MeasurementRecord {
            workload: reports::churn::CHURN_WORKLOAD.into(),
            variant: Some(reports::churn::variant(c)),
            generator: "cnbench".into(),
            client: Endpoint {
                pod: observer.role.clone(),
                netns: observer.netns.clone(),
                ip: plan.answering_addr(observer).to_string(),
            },
            server: Endpoint {
                pod: "added pods".into(),
                netns: String::new(),
                ip: plan.spec.pod_cidr.to_string(),
            },
            path: if nodes > 1 { "cross-node" } else { "same-node" }.into(),
            datapath: backend.info().datapath.as_str().into(),
            placement: Placement {
                kind: "unpinned".into(),
                client_cpu: 0,
                server_cpu: 0,
                daemon_cpu: None,
            },
            repetitions: Vec::new(),
            summary: Vec::new(),
            costs: Vec::new(),
            traced: None,
            vs_baseline: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// The observer watching a pod on `node` from another node (the next one), or from its
    /// own node when there is no other.
    fn other(&self, node: u32) -> usize {
        let n = self.observer_of_node.len();
        self.observer_of_node[(node as usize + 1) % n]
    }

    /// One cycle at concurrency `c`. Failed adds and removals, pods that never answered
    /// and pods that never went silent are failed checks pushed to `checks`; only an
    /// interruption or a batch that could not be made at all is an error (the pods added
    /// so far are then left for [`remove_leftovers`]).
    pub(super) fn cycle(
        &mut self,
        topo: &mut Topology,
        backend: &dyn Backend,
        c: u32,
        checks: &mut Vec<CheckRecord>,
    ) -> Result<ChurnSample> {
        let nodes = topo.plan().nodes.len() as u32;
        let cpu_before = CpuNow::read(topo);
        let mut pods: Vec<Churned> = Vec::new();
        let mut failed_adds = 0;

        // 1. Adds, C at a time, each pod watched as soon as it is wired.
        let order: Vec<u32> = (0..self.spec.pods).map(|i| node_of(i, nodes)).collect();
        let adds_start = Instant::now();
        let mut last_wired = adds_start;
        for batch in order.chunks(c as usize) {
            if signals::interrupted() {
                return Err(HarnessError::Interrupted);
            }
            let issued = Instant::now();
            // Each pod is watched from its own thread the moment it is wired, with the
            // address it got, timed from the batch's issue.
            let watched: Mutex<BTreeMap<String, (Option<TargetId>, TargetId)>> =
                Mutex::new(BTreeMap::new());
            let (me, watched_ref) = (&*self, &watched);
            let on_wired = move |pod: &crate::topology::PodPlan, ip, _at| {
                let (other, same) = (me.other(pod.node), me.observer_of_node[pod.node as usize]);
                let reach = (nodes > 1).then(|| me.prober.watch(ip, other, Watch::Reach, issued));
                let reach_same = me.prober.watch(ip, same, Watch::Reach, issued);
                watched_ref
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(pod.role.clone(), (reach, reach_same));
            };
            let added = topo.add_pods_watched(backend, batch, &on_wired)?;
            let mut watched = watched.into_inner().unwrap_or_else(|p| p.into_inner());
            for (&node, r) in batch.iter().zip(added) {
                match r {
                    Ok(a) => {
                        last_wired = last_wired.max(a.wired_at);
                        let (reach, reach_same) = match watched.remove(&a.pod.role) {
                            Some((r, s)) => (r, Some(s)),
                            None => (None, None),
                        };
                        pods.push(Churned {
                            role: a.pod.role.clone(),
                            node,
                            ip: topo.plan().answering_addr(&a.pod),
                            times: PodTimes {
                                node,
                                wired_ns: Some(ns(a.wired_at - issued)),
                                ..PodTimes::default()
                            },
                            reach,
                            reach_same,
                            silence: None,
                            withdrawal: None,
                        });
                    }
                    Err(e) => {
                        failed_adds += 1;
                        checks.push(record(
                            "churn-add",
                            format!("a pod on node n{node}"),
                            "added".into(),
                            format!("error: {e}"),
                            false,
                            None,
                        ));
                    }
                }
            }
            // A pod that failed after it was wired is not watched any more.
            let left: Vec<TargetId> = watched
                .into_values()
                .flat_map(|(r, s)| [r, Some(s)])
                .flatten()
                .collect();
            self.prober.take(&left);
        }
        let add_window = last_wired.saturating_duration_since(adds_start);

        // 2. Every pod answers, or the limit passes.
        let ids: Vec<TargetId> = pods
            .iter()
            .flat_map(|p| [p.reach, p.reach_same])
            .flatten()
            .collect();
        self.prober.wait(&ids, self.spec.reach_limit)?;
        if signals::interrupted() {
            return Err(HarnessError::Interrupted);
        }
        let limit = self.spec.reach_limit;
        for p in &mut pods {
            p.times.reachable_ns = take(&self.prober, p.reach, limit);
            p.times.reachable_same_node_ns = take(&self.prober, p.reach_same, limit);
        }
        let never: Vec<&str> = pods
            .iter()
            .filter(|p| {
                let t = &p.times;
                (nodes > 1 && t.reachable_ns.is_none()) || t.reachable_same_node_ns.is_none()
            })
            .map(|p| p.role.as_str())
            .collect();
        if !never.is_empty() {
            checks.push(record(
                "churn-reachable",
                format!("{} pod(s) at concurrency {c}", never.len()),
                format!("an answer within {}", secs(self.spec.reach_limit)),
                format!("no answer from {}", listed(&never)),
                false,
                None,
            ));
        }
        let never_reachable = pods
            .iter()
            .filter(|p| nodes > 1 && p.times.reachable_ns.is_none())
            .count() as u32;

        // 3. Removals, C at a time, each pod watched for silence (and withdrawal) from the
        //    moment its removal is issued.
        let removes_start = Instant::now();
        let mut last_removed = removes_start;
        for batch in pods.chunks_mut(c as usize) {
            if signals::interrupted() {
                return Err(HarnessError::Interrupted);
            }
            // Which pods a host route leads to, asked before the removal's clock starts.
            let routed: Vec<bool> = batch
                .iter()
                .map(|p| {
                    let other_node = &topo.plan().nodes[(p.node as usize + 1) % nodes as usize];
                    nodes > 1
                        && topo.hosts()[&other_node.netns]
                            .nl()
                            .has_host_route(p.ip)
                            .unwrap_or(false)
                })
                .collect();
            let issued = Instant::now();
            for (p, routed) in batch.iter_mut().zip(routed) {
                let other = self.other(p.node);
                // A pod that never answered cannot go silent: it has no time for it.
                let answered = if nodes > 1 {
                    p.times.reachable_ns.is_some()
                } else {
                    p.times.reachable_same_node_ns.is_some()
                };
                if answered {
                    p.silence = Some(self.prober.watch(p.ip, other, Watch::Silence, issued));
                }
                if routed {
                    p.withdrawal = Some(self.prober.watch(p.ip, other, Watch::Withdrawal, issued));
                }
            }
            let roles: Vec<String> = batch.iter().map(|p| p.role.clone()).collect();
            let removed = topo.remove_pods(backend, &roles);
            for (p, r) in batch.iter_mut().zip(removed) {
                match r {
                    Ok(at) => {
                        last_removed = last_removed.max(at);
                        p.times.removed_ns = Some(ns(at - issued));
                    }
                    Err(errors) => checks.push(record(
                        "churn-remove",
                        p.role.clone(),
                        "removed".into(),
                        errors
                            .iter()
                            .map(|e| e.to_string())
                            .collect::<Vec<_>>()
                            .join("; "),
                        false,
                        None,
                    )),
                }
            }
        }
        let remove_window = last_removed.saturating_duration_since(removes_start);
        let ids: Vec<TargetId> = pods
            .iter()
            .flat_map(|p| [p.silence, p.withdrawal])
            .flatten()
            .collect();
        self.prober.wait(&ids, self.spec.reach_limit)?;
        if signals::interrupted() {
            return Err(HarnessError::Interrupted);
        }
        for p in &mut pods {
            p.times.unreachable_ns = take(&self.prober, p.silence, limit);
            p.times.withdrawn_ns = take(&self.prober, p.withdrawal, limit);
        }
        // The observers' own entries for the departed addresses go: the probes made them, and
        // where a plugin hands out new addresses each cycle (host-local goes on to the next
        // free one) they would pile up in the machine's one neighbour table until it
        // overflowed (measured: the reference bridge plugin's 15th cycle of 50 pods had pods
        // that never answered). What the datapath itself keeps stays: it is measured.
        for p in &pods {
            for observer in [self.other(p.node), self.observer_of_node[p.node as usize]] {
                let host = &topo.hosts()[&self.observer_netns[observer]];
                if let Err(e) = host.nl().delete_neighbour("eth0", p.ip) {
                    eprintln!("cnbench: an observer's entry for {}: {e}", p.ip);
                }
            }
        }
        let loud: Vec<&str> = pods
            .iter()
            .filter(|p| p.silence.is_some() && p.times.unreachable_ns.is_none())
            .map(|p| p.role.as_str())
            .collect();
        if !loud.is_empty() && !signals::interrupted() {
            checks.push(record(
                "churn-unreachable",
                format!("{} removed pod(s) at concurrency {c}", loud.len()),
                format!(
                    "no answer within {} of the removal",
                    secs(self.spec.reach_limit)
                ),
                format!("still answering (or never silent): {}", listed(&loud)),
                false,
                None,
            ));
        }

        // 4. What it cost.
        let added = pods.len();
        let cpu = CpuNow::read(topo).since(&cpu_before, added as u32);
        let per_s = |n: usize, d: Duration| {
            if d.is_zero() {
                f64::NAN
            } else {
                n as f64 / d.as_secs_f64()
            }
        };
        Ok(ChurnSample {
            pods: self.spec.pods,
            concurrency: c,
            failed_adds,
            never_reachable,
            add_window_ns: ns(add_window),
            pods_per_s: per_s(added, add_window),
            remove_window_ns: ns(remove_window),
            removed_per_s: per_s(
                pods.iter().filter(|p| p.times.removed_ns.is_some()).count(),
                remove_window,
            ),
            cpu_harness_ns_per_pod: cpu.harness,
            cpu_daemons_ns_per_pod: cpu.daemons,
            cpu_machine_ns_per_pod: cpu.machine,
            cpu_by_daemon: cpu.by_kind,
            times: pods.into_iter().map(|p| p.times).collect(),
        })
    }
}

/// Removes every pod that is not one of `standing` (a cycle stopped by an interruption or an
/// error leaves some); every error.
pub(super) fn remove_leftovers(
    topo: &mut Topology,
    backend: &dyn Backend,
    standing: &[String],
) -> Vec<HarnessError> {
    let left: Vec<String> = topo
        .plan()
        .pods
        .iter()
        .filter(|p| !standing.contains(&p.role))
        .map(|p| p.role.clone())
        .collect();
    topo.remove_pods(backend, &left)
        .into_iter()
        .filter_map(|r| r.err())
        .flatten()
        .collect()
}

/// How long after its issue target `id` did what it was watched for, if it did within
/// `limit` of its own issue (the limit is each pod's, not the batch's).
fn take(prober: &Probers, id: Option<TargetId>, limit: Duration) -> Option<u64> {
    prober
        .take(&[id?])
        .pop()
        .flatten()
        .filter(|d| *d <= limit)
        .map(ns)
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn secs(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

/// Up to ten names, and how many more.
fn listed(names: &[&str]) -> String {
    let mut s = names
        .iter()
        .take(10)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > 10 {
        s.push_str(&format!(" and {} more", names.len() - 10));
    }
    s
}

/// CPU counters at one moment: this process (its own threads, and the programs it ran and
/// reaped: CNI plugins, `ip`, `nft`), each daemon of the run, the machine.
struct CpuNow {
    own_ns: Option<u64>,
    children_ns: Option<u64>,
    daemons: BTreeMap<(String, u32), (String, u64)>,
    machine: Option<CpuTimes>,
}

/// What a cycle cost, per pod, in nanoseconds.
struct CpuPerPod {
    harness: Option<f64>,
    daemons: Option<f64>,
    machine: Option<f64>,
    by_kind: Vec<DaemonCpu>,
}

impl CpuNow {
    fn read(topo: &Topology) -> CpuNow {
        let me = stat_cpu_ns(std::process::id());
        // Daemons' pids, the programs cnbench ran and the machine's counters are read from
        // this machine's /proc: on nodes of other machines (VMs, SSH hosts) they are not
        // here, and a pid read here would be another process.
        let here = topo.plan().spec.substrate == crate::topology::Substrate::Netns;
        let mut daemons = BTreeMap::new();
        for (what, netns, pid) in topo.daemons().into_iter().filter(|_| here) {
            if let Some(ns) = cpu_ns(pid) {
                // `bird on n1` is of kind `bird`.
                let kind = what.split(" on ").next().unwrap_or(&what).to_string();
                daemons.insert((netns, pid), (kind, ns));
            }
        }
        CpuNow {
            own_ns: me.map(|m| m.0),
            children_ns: me.map(|m| m.1).filter(|_| here),
            daemons,
            machine: CpuTimes::now().ok().filter(|_| here),
        }
    }

    /// The CPU spent since `before`, per pod of `pods`. A daemon that was not there at both
    /// ends (restarted) counts from zero where it started.
    fn since(&self, before: &CpuNow, pods: u32) -> CpuPerPod {
        let per = |ns: u64| ns as f64 / f64::from(pods.max(1));
        let mut by_kind: BTreeMap<String, u64> = BTreeMap::new();
        for (key, (kind, ns)) in &self.daemons {
            let was = before.daemons.get(key).map_or(0, |d| d.1);
            *by_kind.entry(kind.clone()).or_default() += ns.saturating_sub(was);
        }
        let total: u64 = by_kind.values().sum();
        let children = match (before.children_ns, self.children_ns) {
            (Some(a), Some(b)) if b > a => Some(b - a),
            _ => None,
        };
        let mut kinds: Vec<DaemonCpu> = by_kind
            .into_iter()
            .map(|(what, ns)| DaemonCpu {
                what,
                ns_per_pod: per(ns),
            })
            .collect();
        if let Some(c) = children {
            kinds.push(DaemonCpu {
                what: "programs cnbench ran (CNI plugins, tools)".into(),
                ns_per_pod: per(c),
            });
        }
        CpuPerPod {
            harness: match (before.own_ns, self.own_ns) {
                (Some(a), Some(b)) => Some(per(b.saturating_sub(a))),
                _ => None,
            },
            daemons: (!self.daemons.is_empty()).then(|| per(total)),
            machine: match (&before.machine, &self.machine) {
                (Some(a), Some(b)) => Some(per(a.until(b).busy_ns)),
                _ => None,
            },
            by_kind: kinds,
        }
    }
}
