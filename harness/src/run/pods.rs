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

use std::sync::Arc;

use crate::backend::{Backend, PodLifecycle};
use crate::error::{HarnessError, Result};
use crate::host::Host;
use crate::netns::Netns;
use crate::remote::client::CALL_TIMEOUT;
use crate::remote::protocol::Call;
use crate::state;
use crate::topology::PodPlan;

use super::{Topology, LINKS_UP_TIMEOUT, NEW_NAMESPACE_SYSCTLS};

impl Topology {
    /// Adds a pod to node `node` and wires it; returns it as planned (with the address the
    /// backend reported, where it chose one). On failure nothing of the pod is left and the
    /// run's state says so.
    pub fn add_pod(&mut self, backend: &dyn Backend, node: u32) -> Result<PodPlan> {
        let pods = lifecycle(backend)?;
        // 1. The plan, as the backend must accept it (its device names stay unique).
        let at = self.plan.add_pod(node)?;
        let pod = self.plan.pods[at].clone();
        if let Err(e) = backend.validate(&self.plan) {
            let _ = self.plan.remove_pod(&pod.role);
            return Err(e.into());
        }
        // 2. Its namespace, on record first.
        if pod.own_netns {
            if let Err(e) = self.make_pod_netns(&pod) {
                self.undo(None, &pod);
                return Err(e);
            }
        }
        // 3. Wired by the backend; undone if that fails (what it reported goes too).
        if let Err(e) = pods.add_pod(&self.context(), &pod) {
            self.reported.take_pods();
            self.undo(Some(backend), &pod);
            return Err(e);
        }
        // 4. Its links carry packets, what the backend reported is applied, the plan saved.
        self.wait_links_up(LINKS_UP_TIMEOUT)?;
        self.save_daemons()?;
        self.apply_wiring()?;
        self.state.plan = Some(self.plan.clone());
        self.state.save()?;
        Ok(self
            .plan
            .pods
            .iter()
            .find(|p| p.role == pod.role)
            .cloned()
            .unwrap_or(pod))
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
            if let Err(e) = self.make_pod_netns(&pod) {
                self.undo(None, &pod);
                return Err(e);
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
        for (_, netns, pid) in self.procs.list() {
            if netns == pod.netns {
                self.procs.stop(&netns, pid);
            }
        }
        let host = self.hosts.remove(&pod.netns);
        let agent = host.as_ref().and_then(Host::agent).cloned();
        match agent {
            Some(agent) => {
                agent.call(
                    Call::DeleteNetns {
                        name: pod.netns.clone(),
                    },
                    CALL_TIMEOUT,
                )?;
            }
            None => {
                if let Some(e) = state::destroy_namespaces(std::slice::from_ref(&pod.netns))
                    .into_iter()
                    .next()
                {
                    return Err(e);
                }
            }
        }
        self.state.namespaces.retain(|n| *n != pod.netns);
        self.state.save()
    }

    /// Unwires and removes the pod called `role`. Never stops early: every error is returned
    /// (an empty list means nothing of the pod is left).
    pub fn remove_pod(&mut self, backend: &dyn Backend, role: &str) -> Vec<HarnessError> {
        let Some(pod) = self.plan.pods.iter().find(|p| p.role == role).cloned() else {
            return vec![self.plan.remove_pod(role).err().map_or_else(
                || HarnessError::Unsupported {
                    what: format!("pod {role}"),
                    fix: "name a pod of the run".into(),
                },
                HarnessError::from,
            )];
        };
        if let Err(e) = lifecycle(backend) {
            return vec![e];
        }
        self.unmake_pod(Some(backend), &pod)
    }

    /// Records the pod's namespace, then makes it where its node lives.
    fn make_pod_netns(&mut self, pod: &PodPlan) -> Result<()> {
        let node_host = &self.hosts[&self.plan.node_of(pod).netns];
        let agent = node_host.agent().cloned();
        if agent.is_none() {
            self.state.namespaces.push(pod.netns.clone());
        }
        self.state.plan = Some(self.plan.clone());
        self.state.save()?;
        let host = match agent {
            None => {
                let host = Host::open(Netns::create(&pod.netns)?)?;
                host.set_sysctls(&NEW_NAMESPACE_SYSCTLS)?;
                host
            }
            Some(agent) => {
                agent.call(
                    Call::CreateNetns {
                        name: pod.netns.clone(),
                        sysctls: NEW_NAMESPACE_SYSCTLS
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect(),
                    },
                    CALL_TIMEOUT,
                )?;
                Host::remote(&pod.netns, Arc::clone(&agent))
            }
        };
        self.hosts.insert(pod.netns.clone(), host);
        Ok(())
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
            // The run's processes there first (stopped by pid), then our handle, then the
            // namespace with everything still in it.
            for (_, netns, pid) in self.procs.list() {
                if netns == pod.netns {
                    self.procs.stop(&netns, pid);
                }
            }
            let host = self.hosts.remove(&pod.netns);
            let agent = host
                .as_ref()
                .and_then(Host::agent)
                .cloned()
                .or_else(|| self.hosts[&self.plan.node_of(pod).netns].agent().cloned());
            let deleted: Vec<HarnessError> = match agent {
                Some(agent) => agent
                    .call(
                        Call::DeleteNetns {
                            name: pod.netns.clone(),
                        },
                        CALL_TIMEOUT,
                    )
                    .err()
                    .into_iter()
                    .collect(),
                None => state::destroy_namespaces(std::slice::from_ref(&pod.netns)),
            };
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
