//! The [`Backend`] trait: what a datapath is ([`BackendInfo`]), what it builds on one node,
//! and what it promises ([`Expectations`]). Everything else — namespaces, the underlay, the
//! checks, measurement, faults, teardown — is the harness's job, so a backend is mostly
//! declarations plus the few actions that are its own.
//!
//! What only some backends can do is an optional capability ([`capability`]): faults of
//! their own parts, a control plane cnbench plays, pods added and removed on a standing
//! topology, a control plane measured at many sizes. A backend opts into each by returning it
//! from [`Backend::capabilities`]; the harness asks for it and never names a backend.
//!
//! Files: `info` (the static facts), `options` (backend-specific command-line options, as
//! declared and as given), `context` (what setup gets), `expect` (the promises), `capability`
//! (the optional traits).

pub mod capability;
mod context;
mod expect;
mod info;
mod options;

use reports::CheckRecord;

use crate::error::{PlanError, Result};
use crate::topology::{NodePlan, Plan};

pub use capability::{
    Capabilities, Conformance, ControlPlane, ControlPlaneScale, FaultDecl, OwnFaults, PodBench,
    PodLifecycle, SweptOption, Teardown,
};
pub use context::{pod_mac, Context, PodReport, Reported, DAEMON_CPU};
pub use expect::{
    DeviceMtu, DeviceSet, EncapExpect, Expect, Expectations, FdbExpect, InterfaceExpect,
    IsolationExpect, MeasurePair, NeighbourExpect, PathExpect, PmtuExpect, Probe, ProbeProto,
    RouteExpect, SysctlExpect, VtepExpect, Wire,
};
pub use info::{BackendInfo, Datapath, Ipv6Support, OptionalKind, Program};
pub use options::{BackendOptions, OptionDecl};

/// A datapath, as the harness drives it. Made by the registry of the `cnbench` binary from
/// its options and the plan, and validated there, so a backend the harness gets can run the
/// plan it was made for.
pub trait Backend: Send + Sync {
    /// What it is, with its options resolved (ipip's datapath: kernel or userspace).
    fn info(&self) -> &BackendInfo;

    /// The backend-specific options in effect, every default resolved (`datapath: faithful`,
    /// `bgp-topology: mesh`), so a result says exactly what ran and `check` and `down` make
    /// the same backend again.
    fn options(&self) -> BackendOptions {
        BackendOptions::default()
    }

    /// Refuses plans it cannot run, with the option to change. Called before anything is
    /// created.
    fn validate(&self, plan: &Plan) -> std::result::Result<(), PlanError>;

    /// Builds one node and its pods: what setup does per node, and what a node restart does
    /// again on the node's fresh, empty namespaces (the underlay is cabled; pod namespaces
    /// exist and are empty).
    fn setup_node(&self, ctx: &Context<'_>, node: &NodePlan) -> Result<()>;

    /// Builds the whole topology: every node. The harness then applies the pod addresses
    /// setup reported and, for a control plane cnbench plays, programs every node with what
    /// it must know of the others ([`ControlPlane::reprogram`]).
    fn setup(&self, ctx: &Context<'_>) -> Result<()> {
        for node in &ctx.plan.nodes {
            self.setup_node(ctx, node)?;
        }
        Ok(())
    }

    /// What the kernel must look like and what must (not) reach what. `plan` is the plan as
    /// built: pod addresses are those setup reported ([`Context::report_pod`]) where it
    /// reported any, and pods added since setup are in it.
    fn expectations(&self, plan: &Plan) -> Expectations;

    /// Checks of its own (a daemon killed and restarted, a BGP session table), run after the
    /// declared ones.
    fn extra_checks(&self, _ctx: &Context<'_>) -> Vec<CheckRecord> {
        Vec::new()
    }

    /// The optional capabilities it has.
    fn capabilities(&self) -> Capabilities<'_> {
        Capabilities::default()
    }

    /// The programs it runs inside its nodes, as found on this machine, for a VM node's
    /// image to carry: its declared [`BackendInfo::programs`] looked up on `PATH` (a CNI
    /// chain adds its plugin binaries, found on its own path).
    fn programs(&self) -> Vec<std::path::PathBuf> {
        self.info()
            .programs
            .iter()
            .filter_map(|p| crate::detect::find_binary(p.name))
            .collect()
    }
}
