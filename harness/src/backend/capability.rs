//! What only some backends can do, each an optional trait a backend opts into by returning it
//! from [`super::Backend::capabilities`]. The harness asks for a capability where it needs
//! one (a fault of the backend's own, reprogramming after a fault, a pod added to a standing
//! topology, `cnbench scale`) and says plainly when a backend lacks it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reports::{CheckRecord, ScalePoint};

use super::{Backend, Context};
use crate::error::Result;
use crate::host::Host;
use crate::topology::{NodePlan, Plan, PodPlan};

/// The capabilities of one backend; each is `None` unless the backend has it.
#[derive(Clone, Copy, Default)]
pub struct Capabilities<'a> {
    /// Faults of its own parts (`daemon-restart`, `speaker-restart`, `vtep-change`).
    pub faults: Option<&'a dyn OwnFaults>,
    /// A control plane that cnbench plays: it reprograms nodes after a change.
    pub control_plane: Option<&'a dyn ControlPlane>,
    /// Pods added to and removed from a standing topology.
    pub pods: Option<&'a dyn PodLifecycle>,
    /// A control plane measured at many sizes (`cnbench scale`).
    pub scale: Option<&'a dyn ControlPlaneScale>,
    /// Undoing of its own, before the harness removes the namespaces (a CNI plugin's DEL).
    pub teardown: Option<&'a dyn Teardown>,
    /// Checks that need pods of their own on the standing topology (a CNI plugin's
    /// contract).
    pub conformance: Option<&'a dyn Conformance>,
}

/// A fault of a backend's own parts, as `cnbench fault --fault NAME` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultDecl {
    /// Its name (`daemon-restart`).
    pub name: &'static str,
    /// What it does, in words (`the node's datapath daemon killed, then started again`).
    pub summary: &'static str,
    /// What a backend needs to suffer it, for the refusal of a backend that has none
    /// (`datapath daemon`).
    pub needs: &'static str,
    /// Whether the other nodes must learn of what it changed (a VTEP's new MAC): then
    /// `--broken-recovery`, which leaves them unprogrammed, applies to it.
    pub peers_must_relearn: bool,
    /// Older names that still select it on the command line (`bird-restart` for
    /// `speaker-restart`); listings show only [`FaultDecl::name`].
    pub aliases: &'static [&'static str],
}

/// Faults of a backend's own parts.
pub trait OwnFaults {
    /// The faults, in the order `--fault all` runs them.
    fn faults(&self) -> &'static [FaultDecl];

    /// Begins `fault` (one of [`OwnFaults::faults`]) on `node`: stops the daemon or BIRD,
    /// removes the VTEP.
    fn inject(&self, ctx: &Context<'_>, fault: &FaultDecl, node: &NodePlan) -> Result<()>;

    /// Ends `fault` on `node` the way a real host comes back by itself: the daemon or BIRD
    /// started again as setup started it, the VTEP created again with a new MAC. What the
    /// other nodes must learn about it is [`ControlPlane::reprogram`]'s job.
    fn lift(&self, ctx: &Context<'_>, fault: &FaultDecl, node: &NodePlan) -> Result<()>;
}

/// A control plane cnbench plays (flanneld's role for vxlan and host-gw; the stand-in default
/// route of bgp's nodes).
pub trait ControlPlane {
    /// Programs in each of `nodes` what it must know about every other node, from the other
    /// nodes' state *now* (a VTEP's current MAC), as flanneld does when a lease changes or
    /// its route check runs. Idempotent: what is in place is replaced, what is stale removed.
    fn reprogram(&self, ctx: &Context<'_>, nodes: &[&NodePlan]) -> Result<()>;
}

/// Pods wired and unwired on a standing topology, as a container runtime adds and deletes
/// them: one at a time, or several at once from as many threads (`cnbench churn`), hence
/// `Sync`. The harness has made the pod's namespace (and removes it
/// afterwards); the backend wires it to its node and updates whatever its control plane must.
pub trait PodLifecycle: Sync {
    /// Wires `pod` (already in `ctx.plan`) to its node, as setup wires its pods.
    fn add_pod(&self, ctx: &Context<'_>, pod: &PodPlan) -> Result<()>;

    /// Unwires `pod` (still in `ctx.plan`): removes what [`PodLifecycle::add_pod`] made
    /// outside the pod's own namespace.
    fn remove_pod(&self, ctx: &Context<'_>, pod: &PodPlan) -> Result<()>;

    /// What the backend's own parts hold for `node` that the kernel's tables do not show,
    /// as lines to compare before and after pods came and went (`cnbench churn`'s leak
    /// check): the routes its BGP speaker knows, an IPAM's reservations. Default: nothing.
    fn held(&self, _ctx: &Context<'_>, _node: &NodePlan) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
}

/// What a backend must undo itself before its namespaces go, in an order of its own: a CNI
/// runtime's DEL of every attachment whose ADD was started (a plugin may hold state outside
/// the run's namespaces, such as an IPAM reservation in a directory the configuration
/// names). Everything inside the namespaces goes with them anyway.
pub trait Teardown {
    /// Undoes what setup did outside the harness's knowledge. Called first on every
    /// teardown (after a failed setup too, and from `cnbench down`), while every namespace
    /// still exists; never stops early and returns every error (teardown goes on).
    fn teardown(&self, ctx: &Context<'_>) -> Vec<crate::error::HarnessError>;
}

/// What checks that need pods of their own may do to a standing topology: add a pod (wired
/// by the backend, or only its empty namespace), delete a pod's namespace while the pod
/// stays, remove a pod. Everything is on the run's record, so teardown and `clean` find it.
pub trait PodBench {
    /// What the backend gets while it checks, as the topology stands now.
    fn context(&self) -> Context<'_>;

    /// Adds a pod to node `node`, wired by the backend; returns it as planned.
    fn add_pod(&mut self, node: u32) -> Result<PodPlan>;

    /// Adds a pod to node `node` whose namespace exists and is empty.
    fn add_pod_unwired(&mut self, node: u32) -> Result<PodPlan>;

    /// Deletes pod `role`'s namespace; the pod stays until removed.
    fn delete_pod_namespace(&mut self, role: &str) -> Result<()>;

    /// Removes pod `role` (the backend unwires it, its namespace goes); every error.
    fn remove_pod(&mut self, role: &str) -> Vec<crate::error::HarnessError>;
}

/// Checks a backend makes with pods of its own on the standing topology, after every other
/// check: a CNI plugin's contract (a pod added and broken, deleted twice, deleted after its
/// namespace is gone). It removes every pod it added.
pub trait Conformance {
    /// Runs the checks on `bench`.
    fn check(&self, bench: &mut dyn PodBench) -> Vec<CheckRecord>;
}

/// One backend option a scale sweep may vary, and its values when the command line gives
/// none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweptOption {
    /// The option's flag without dashes (`bgp-topology`).
    pub flag: &'static str,
    /// Its values when the command line names none (`mesh`, `rr`); one value keeps the
    /// option fixed unless asked for more.
    pub defaults: Vec<String>,
}

impl SweptOption {
    /// Option `flag`, swept over `defaults` unless the command line says otherwise.
    pub fn new(flag: &'static str, defaults: &[&str]) -> SweptOption {
        SweptOption {
            flag,
            defaults: defaults.iter().map(|v| v.to_string()).collect(),
        }
    }
}

/// A control plane measured at many sizes (`cnbench scale`): the harness plans each point,
/// sets it up, measures what every backend's daemons cost and tears it down; the backend
/// says when its control plane started and when it converged.
pub trait ControlPlaneScale {
    /// The backend options a sweep may vary, in the order their values are combined (every
    /// combination is one variant, each measured at every size): bgp's `bgp-topology`
    /// (`mesh`, `rr`) and `bgp-announce` (`block`).
    fn sweep(&self) -> Vec<SweptOption>;

    /// The same backend, but whose setup starts the control plane without waiting for it to
    /// converge (the sweep measures that).
    fn for_sweep(&self) -> Box<dyn Backend>;

    /// When the control plane of the topology just set up started (its daemons' start).
    fn started(&self) -> Option<Instant>;

    /// Waits up to `timeout` (from `started`) for convergence on the standing topology and
    /// fills in what it measured: convergence time, routes (or the error), and the sessions
    /// ([`ScalePoint::sessions_total`] Established, [`ScalePoint::sessions_expected`], and
    /// [`ScalePoint::sessions_dropped`] by an expired hold timer), from which the harness
    /// tells why a point did not converge. Calls
    /// `at_convergence` as soon as the control plane converged or the time ran out, before
    /// anything else: the harness reads what the daemons cost up to then.
    fn measure(
        &self,
        plan: &Plan,
        hosts: &BTreeMap<String, Host>,
        started: Instant,
        timeout: Duration,
        point: &mut ScalePoint,
        at_convergence: &mut dyn FnMut(&mut ScalePoint),
    );
}
