//! Pods added to and removed from a standing topology, one at a time, as a container runtime
//! adds and deletes them: the harness plans the pod and makes (or deletes) its namespace,
//! the backend wires (or unwires) it ([`crate::backend::PodLifecycle`]). The run's state
//! records the namespace before it exists and the plan as it stands after, so `check`,
//! `down` and `clean` see the pod like any other.
//!
//! 1. plan the pod (next position on its node, first free address of its block);
//! 2. record its namespace in the run's state, then make it (on a VM node: its agent does);
//! 3. the backend wires it; a failure undoes 2 and 1 and returns the original error;
//! 4. addresses the backend reported are applied; the plan is saved.
//!
//! Removal is the reverse and never stops early: the backend unwires, the pod's processes
//! are stopped, its namespace deleted, the plan saved; every error is returned.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::backend::{Backend, PodLifecycle};
use crate::error::{HarnessError, Result};
use crate::host::Host;
use crate::netns::Netns;
use crate::remote::client::{AgentClient, CALL_TIMEOUT};
use crate::remote::protocol::Call;
use crate::state;
use crate::topology::PodPlan;

use super::{namespace_sysctls, wait_addresses_settled, Topology, DAD_TIMEOUT, LINKS_UP_TIMEOUT};

/// One pod of a batch added at once ([`Topology::add_pods`]): as planned (with the address
/// the backend reported), and when its add returned.
#[derive(Debug, Clone)]
pub struct Added {
    /// The pod, as the plan now has it.
    pub pod: PodPlan,
    /// When the backend's add returned: the pod is wired.
    pub wired_at: Instant,
}

impl Topology {
    /// Adds a pod to node `node` and wires it; returns it as planned (with the address the
    /// backend reported, where it chose one) once its links carry packets. On failure
    /// nothing of the pod is left and the run's state says so.
    pub fn add_pod(&mut self, backend: &dyn Backend, node: u32) -> Result<PodPlan> {
        let added = self
            .add_pods(backend, &[node])?
            .pop()
            .expect("one result per pod")?;
        let hosts = [
            added.pod.netns.clone(),
            self.plan.node_of(&added.pod).netns.clone(),
        ];
        self.wait_links_up_in(&hosts, LINKS_UP_TIMEOUT)?;
        Ok(added.pod)
    }

    /// Adds one pod to each of `nodes` at once, as a runtime starting several pods does:
    /// their namespaces are made in parallel, then the backend wires them in parallel (one
    /// thread per pod; what serializes them is the backend's and the kernel's own locking).
    /// Returns one result per pod, in the order of `nodes`, without waiting for their links
    /// to carry packets (the caller measures that). A pod that failed is undone, and nothing
    /// of it is left; the others stand. An error for the whole batch before any pod is
    /// wired (no pod lifecycle, a plan the backend refuses, the state not saved) leaves
    /// nothing either.
    ///
    /// 1. every pod planned (next position on its node, first free address of its block),
    ///    and the plan validated by the backend;
    /// 2. their namespaces on the run's record, then made (on a VM node: by its agent);
    /// 3. the backend wires each; failures are undone;
    /// 4. addresses the backend reported are applied; the plan is saved. Pods wired before
    ///    this step fails stay, on the run's record (the error is the batch's).
    pub fn add_pods(&mut self, backend: &dyn Backend, nodes: &[u32]) -> Result<Vec<Result<Added>>> {
        self.add_pods_watched(backend, nodes, &|_, _, _| {})
    }

    /// [`Topology::add_pods`], calling `on_wired` from each pod's thread the moment the
    /// backend has wired it, with the address it has (the one the backend reported, or the
    /// plan's) and when: what waits for a pod (churn's prober) starts then, not once the
    /// whole batch and the run's bookkeeping are done.
    pub fn add_pods_watched(
        &mut self,
        backend: &dyn Backend,
        nodes: &[u32],
        on_wired: &(dyn Fn(&PodPlan, IpAddr, Instant) + Sync),
    ) -> Result<Vec<Result<Added>>> {
        let pods = lifecycle(backend)?;
        // 1. The plan, as the backend must accept it (its device names stay unique).
        let mut planned: Vec<Result<PodPlan>> = Vec::with_capacity(nodes.len());
        for &node in nodes {
            planned.push(
                self.plan
                    .add_pod(node)
                    .map(|at| self.plan.pods[at].clone())
                    .map_err(HarnessError::from),
            );
        }
        if let Err(e) = backend.validate(&self.plan) {
            for pod in planned.iter().flatten() {
                let _ = self.plan.remove_pod(&pod.role);
            }
            return Err(e.into());
        }
        // 2. Their namespaces, on record first, then made in parallel.
        let ours: Vec<PodPlan> = planned.iter().flatten().cloned().collect();
        for pod in &ours {
            if pod.own_netns && self.node_agent(pod).is_none() {
                self.state.namespaces.push(pod.netns.clone());
            }
        }
        self.state.plan = Some(self.plan.clone());
        if let Err(e) = self.state.save() {
            for pod in &ours {
                self.undo(None, pod);
            }
            return Err(e);
        }
        let family = self.plan.ip_family();
        let made: Vec<Result<Option<Host>>> = std::thread::scope(|s| {
            let jobs: Vec<_> = ours
                .iter()
                .map(|pod| {
                    let agent = self.node_agent(pod);
                    s.spawn(move || -> Result<Option<Host>> {
                        if !pod.own_netns {
                            return Ok(None);
                        }
                        make_pod_host(pod, family, agent).map(Some)
                    })
                })
                .collect();
            jobs.into_iter().map(join).collect()
        });
        let mut failed: BTreeMap<String, HarnessError> = BTreeMap::new();
        for (pod, host) in ours.iter().zip(made) {
            match host {
                Ok(Some(h)) => {
                    self.hosts.insert(pod.netns.clone(), h);
                }
                Ok(None) => {}
                Err(e) => {
                    failed.insert(pod.role.clone(), e);
                }
            }
        }
        // 3. Wired by the backend, in parallel.
        let wired: Vec<Result<Instant>> = {
            let ctx = self.context();
            let ctx = &ctx;
            std::thread::scope(|s| {
                let jobs: Vec<_> = ours
                    .iter()
                    .filter(|p| !failed.contains_key(&p.role))
                    .map(|pod| {
                        s.spawn(move || {
                            pods.add_pod(ctx, pod)?;
                            // An IPv6 pod is ready once DAD ended on its addresses, as a CNI
                            // ADD returns only then (the reference plugins' SettleAddresses).
                            if family.has_v6() && pod.own_netns {
                                wait_addresses_settled(
                                    &[(pod.netns.as_str(), ctx.host(&pod.netns))],
                                    DAD_TIMEOUT,
                                )?;
                            }
                            let at = Instant::now();
                            // The address it answers on, of those the backend reported.
                            let mut seen = pod.clone();
                            if let Some(r) = ctx.reported.pod(&pod.role) {
                                seen.ip = r.ip;
                                seen.ip6 = r.ip6.or(seen.ip6);
                            }
                            on_wired(pod, ctx.plan.answering_addr(&seen), at);
                            // The node's end of the pod's link runs DAD on its link-local
                            // address too. A runtime does not wait for it (the time above
                            // does not), but the pod is handed back only once the node's
                            // namespace is settled, so a check that follows finds nothing
                            // tentative.
                            if family.has_v6() && pod.own_netns {
                                let node = ctx.plan.node_of(pod).netns.as_str();
                                wait_addresses_settled(&[(node, ctx.host(node))], DAD_TIMEOUT)?;
                            }
                            Ok(at)
                        })
                    })
                    .collect();
                jobs.into_iter().map(join).collect()
            })
        };
        let mut wired_at: BTreeMap<String, Instant> = BTreeMap::new();
        let unfailed: Vec<&PodPlan> = ours
            .iter()
            .filter(|p| !failed.contains_key(&p.role))
            .collect();
        for (pod, w) in unfailed.into_iter().zip(wired) {
            match w {
                Ok(at) => {
                    wired_at.insert(pod.role.clone(), at);
                }
                Err(e) => {
                    failed.insert(pod.role.clone(), e);
                }
            }
        }
        // What the backend reported of failed pods goes with them.
        let mut reports = self.reported.take_pods();
        reports.retain(|role, _| !failed.contains_key(role));
        for pod in ours.iter().filter(|p| failed.contains_key(&p.role)) {
            let wired_by_backend = self.hosts.contains_key(&pod.netns) || !pod.own_netns;
            self.undo(wired_by_backend.then_some(backend), pod);
        }
        // 4. What the backend reported is applied, the plan saved.
        self.save_daemons()?;
        self.apply_reports(reports)?;
        self.state.plan = Some(self.plan.clone());
        self.state.save()?;
        Ok(planned
            .into_iter()
            .map(|p| {
                let p = p?;
                if let Some(e) = failed.remove(&p.role) {
                    return Err(e);
                }
                let pod = self
                    .plan
                    .pods
                    .iter()
                    .find(|q| q.role == p.role)
                    .cloned()
                    .unwrap_or(p);
                let wired_at = wired_at[&pod.role];
                Ok(Added { pod, wired_at })
            })
            .collect())
    }

    /// Removes the pods called `roles` at once: the backend unwires them in parallel, then
    /// their namespaces are deleted in parallel. Returns for each (in the order of `roles`)
    /// when its namespace was gone, or every error its removal met (removal never stops
    /// early); the plan and the state are saved once.
    pub fn remove_pods(
        &mut self,
        backend: &dyn Backend,
        roles: &[String],
    ) -> Vec<std::result::Result<Instant, Vec<HarnessError>>> {
        let lc = match lifecycle(backend) {
            Ok(lc) => lc,
            Err(e) => {
                let what = e.to_string();
                return roles
                    .iter()
                    .map(|_| {
                        Err(vec![HarnessError::Unsupported {
                            what: what.clone(),
                            fix: "stand up a topology with the pods you need (--pods-per-node)"
                                .into(),
                        }])
                    })
                    .collect();
            }
        };
        let pods: Vec<Option<PodPlan>> = roles
            .iter()
            .map(|r| self.plan.pods.iter().find(|p| p.role == *r).cloned())
            .collect();
        let present: Vec<&PodPlan> = pods.iter().flatten().collect();
        // The backend unwires each, in parallel.
        let unwired: Vec<Option<HarnessError>> = {
            let ctx = self.context();
            let ctx = &ctx;
            std::thread::scope(|s| {
                let jobs: Vec<_> = present
                    .iter()
                    .map(|&pod| s.spawn(move || lc.remove_pod(ctx, pod).err()))
                    .collect();
                jobs.into_iter()
                    .map(|j| j.join().unwrap_or_else(|_| Some(panicked())))
                    .collect()
            })
        };
        // Their processes (stopped by pid) and our handles go first: a netlink socket
        // in a namespace keeps it, and its devices, alive.
        let mut gone: Vec<(Vec<HarnessError>, Instant)> = Vec::new();
        let mut deletions: Vec<(&PodPlan, Option<Arc<AgentClient>>)> = Vec::new();
        for &pod in &present {
            let agent = if pod.own_netns {
                self.release_pod_netns(pod)
            } else {
                None
            };
            deletions.push((pod, agent));
        }
        let deleted: Vec<(Vec<HarnessError>, Instant)> = std::thread::scope(|s| {
            let jobs: Vec<_> = deletions
                .iter()
                .map(|(pod, agent)| {
                    s.spawn(move || {
                        let errors = if pod.own_netns {
                            delete_pod_netns(&pod.netns, agent.as_ref())
                        } else {
                            Vec::new()
                        };
                        (errors, Instant::now())
                    })
                })
                .collect();
            jobs.into_iter()
                .map(|j| {
                    j.join()
                        .unwrap_or_else(|_| (vec![panicked()], Instant::now()))
                })
                .collect()
        });
        for ((unwire, (del, at)), &pod) in unwired.into_iter().zip(deleted).zip(&present) {
            let ns_gone = del.is_empty();
            let mut errors: Vec<HarnessError> = unwire.into_iter().collect();
            errors.extend(del);
            let _ = self.plan.remove_pod(&pod.role);
            if ns_gone {
                self.state
                    .namespaces
                    .retain(|n| *n != pod.netns || !pod.own_netns);
            }
            gone.push((errors, at));
        }
        self.state.plan = Some(self.plan.clone());
        let saved = self.save_daemons().and_then(|()| self.state.save()).err();
        let mut done = gone.into_iter();
        pods.iter()
            .zip(roles)
            .map(|(p, role)| match p {
                // The planner's own words: no such pod, and which there are.
                None => Err(vec![self.plan.remove_pod(role).err().map_or_else(
                    || HarnessError::Unsupported {
                        what: format!("pod {role}"),
                        fix: "name a pod of the run".into(),
                    },
                    HarnessError::from,
                )]),
                Some(_) => {
                    let (mut errors, at) = done.next().expect("one per present pod");
                    if let Some(e) = &saved {
                        errors.push(HarnessError::Unsupported {
                            what: format!("saving the run's state: {e}"),
                            fix: "check that /run/cnbench is writable".into(),
                        });
                    }
                    if errors.is_empty() {
                        Ok(at)
                    } else {
                        Err(errors)
                    }
                }
            })
            .collect()
    }

    /// The agent of the machine `pod`'s node lives on, for a node of the VM substrate.
    fn node_agent(&self, pod: &PodPlan) -> Option<Arc<AgentClient>> {
        self.hosts
            .get(&self.plan.node_of(pod).netns)
            .and_then(Host::agent)
            .cloned()
    }

    /// Adds a pod to node `node` whose namespace exists and is empty: what a container
    /// runtime hands a plugin before its ADD (conformance checks run plugins there
    /// themselves). Removed like any pod ([`Topology::remove_pod`]).
    pub fn add_pod_unwired(&mut self, backend: &dyn Backend, node: u32) -> Result<PodPlan> {
        let at = self.plan.add_pod(node)?;
        let pod = self.plan.pods[at].clone();
        if let Err(e) = backend.validate(&self.plan) {
            let _ = self.plan.remove_pod(&pod.role);
            return Err(e.into());
        }
        if pod.own_netns {
            let agent = self.node_agent(&pod);
            if agent.is_none() {
                self.state.namespaces.push(pod.netns.clone());
            }
            self.state.plan = Some(self.plan.clone());
            let family = self.plan.ip_family();
            let made = self
                .state
                .save()
                .and_then(|()| make_pod_host(&pod, family, agent));
            match made {
                Ok(host) => {
                    self.hosts.insert(pod.netns.clone(), host);
                }
                Err(e) => {
                    self.undo(None, &pod);
                    return Err(e);
                }
            }
        }
        self.state.plan = Some(self.plan.clone());
        self.state.save()?;
        Ok(pod)
    }

    /// Deletes the namespace of pod `role` (its processes stopped by pid first) while the
    /// pod stays in the plan: a container gone before its runtime's DEL. Removing the pod
    /// afterwards ([`Topology::remove_pod`]) finds the namespace gone, which is no error.
    pub fn delete_pod_namespace(&mut self, role: &str) -> Result<()> {
        let pod = self
            .plan
            .pods
            .iter()
            .find(|p| p.role == role && p.own_netns)
            .cloned()
            .ok_or_else(|| HarnessError::Unsupported {
                what: format!("pod {role} has no namespace of its own"),
                fix: "name a pod of the run with its own namespace".into(),
            })?;
        let agent = self.release_pod_netns(&pod);
        if let Some(e) = delete_pod_netns(&pod.netns, agent.as_ref())
            .into_iter()
            .next()
        {
            return Err(e);
        }
        self.state.namespaces.retain(|n| *n != pod.netns);
        self.state.save()
    }

    /// Unwires and removes the pod called `role`. Never stops early: every error is returned
    /// (an empty list means nothing of the pod is left).
    pub fn remove_pod(&mut self, backend: &dyn Backend, role: &str) -> Vec<HarnessError> {
        match self.remove_pods(backend, &[role.to_string()]).pop() {
            Some(Err(errors)) => errors,
            _ => Vec::new(),
        }
    }

    /// Stops the run's processes in `pod`'s namespace (by pid) and drops our handle of it,
    /// since a netlink socket in a namespace keeps it, and its devices, alive. Returns the
    /// agent that deletes it when it is on another machine.
    fn release_pod_netns(&mut self, pod: &PodPlan) -> Option<Arc<AgentClient>> {
        for (_, netns, pid) in self.procs.list() {
            if netns == pod.netns {
                self.procs.stop(&netns, pid);
            }
        }
        let host = self.hosts.remove(&pod.netns);
        host.as_ref()
            .and_then(Host::agent)
            .cloned()
            .or_else(|| self.node_agent(pod))
    }

    /// A failed add undone; what the undoing met is only told (the add's error is returned).
    fn undo(&mut self, backend: Option<&dyn Backend>, pod: &PodPlan) {
        for extra in self.unmake_pod(backend, pod) {
            eprintln!("cnbench: while undoing the pod {}: {extra}", pod.role);
        }
    }

    /// The backend unwires `pod` (when given), its processes and namespace go, the plan and
    /// the state forget it. A namespace that could not be deleted stays on record, so `down`
    /// and `clean` still find it.
    fn unmake_pod(&mut self, backend: Option<&dyn Backend>, pod: &PodPlan) -> Vec<HarnessError> {
        let mut errors = Vec::new();
        if let Some(pods) = backend.and_then(|b| b.capabilities().pods) {
            errors.extend(pods.remove_pod(&self.context(), pod).err());
        }
        let mut gone = true;
        if pod.own_netns {
            let agent = self.release_pod_netns(pod);
            let deleted = delete_pod_netns(&pod.netns, agent.as_ref());
            gone = deleted.is_empty();
            errors.extend(deleted);
        }
        let _ = self.plan.remove_pod(&pod.role);
        if gone {
            self.state
                .namespaces
                .retain(|n| *n != pod.netns || !pod.own_netns);
        }
        self.state.plan = Some(self.plan.clone());
        if let Err(e) = self.save_daemons().and_then(|()| self.state.save()) {
            errors.push(e);
        }
        errors
    }
}

/// Makes `pod`'s namespace where its node lives (here, or through the node's agent), with
/// the sysctls of every namespace a run makes. The caller has recorded it in the run's
/// state first.
fn make_pod_host(
    pod: &PodPlan,
    family: crate::topology::IpFamily,
    agent: Option<Arc<AgentClient>>,
) -> Result<Host> {
    match agent {
        None => {
            let host = Host::open(Netns::create(&pod.netns)?)?;
            host.set_sysctls(namespace_sysctls(family))?;
            Ok(host)
        }
        Some(agent) => {
            agent.call(
                Call::CreateNetns {
                    name: pod.netns.clone(),
                    sysctls: namespace_sysctls(family)
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                },
                CALL_TIMEOUT,
            )?;
            Ok(Host::remote(&pod.netns, agent))
        }
    }
}

/// Deletes a pod's namespace with everything still in it (here, or through its machine's
/// agent); every error.
fn delete_pod_netns(name: &str, agent: Option<&Arc<AgentClient>>) -> Vec<HarnessError> {
    match agent {
        Some(agent) => agent
            .call(
                Call::DeleteNetns {
                    name: name.to_string(),
                },
                CALL_TIMEOUT,
            )
            .err()
            .into_iter()
            .collect(),
        None => state::destroy_namespaces(&[name.to_string()]),
    }
}

/// A thread's result; a panic is an error, not a crash of the whole batch.
fn join<T>(h: std::thread::ScopedJoinHandle<'_, Result<T>>) -> Result<T> {
    h.join().unwrap_or_else(|_| Err(panicked()))
}

fn panicked() -> HarnessError {
    HarnessError::Unsupported {
        what: "a pod's thread panicked".into(),
        fix: "report it as a bug of cnbench".into(),
    }
}

/// The backend's pod lifecycle, or why there is none.
fn lifecycle(backend: &dyn Backend) -> Result<&dyn PodLifecycle> {
    backend
        .capabilities()
        .pods
        .ok_or_else(|| HarnessError::Unsupported {
            what: format!(
                "backend {} cannot add or remove pods on a standing topology",
                backend.info().name
            ),
            fix: "stand up a topology with the pods you need (--pods-per-node)".into(),
        })
}

/// A standing topology and its backend, as checks that need pods of their own use it.
pub(crate) struct Bench<'a> {
    pub(crate) topo: &'a mut Topology,
    pub(crate) backend: &'a dyn Backend,
}

impl crate::backend::PodBench for Bench<'_> {
    fn context(&self) -> crate::backend::Context<'_> {
        self.topo.context()
    }

    fn add_pod(&mut self, node: u32) -> Result<PodPlan> {
        self.topo.add_pod(self.backend, node)
    }

    fn add_pod_unwired(&mut self, node: u32) -> Result<PodPlan> {
        self.topo.add_pod_unwired(self.backend, node)
    }

    fn delete_pod_namespace(&mut self, role: &str) -> Result<()> {
        self.topo.delete_pod_namespace(role)
    }

    fn remove_pod(&mut self, role: &str) -> Vec<HarnessError> {
        self.topo.remove_pod(self.backend, role)
    }
}
