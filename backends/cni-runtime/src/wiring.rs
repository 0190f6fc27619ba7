//! Who wires a backend's pods: cnbench's own wiring, or a CNI chain ([`PodWiring`]), and a
//! backend's facts and options with it ([`Wired`]). The `cni` backend is a [`Wired`] whose
//! chain is all it is; vxlan, host-gw and bgp hold one for `--pod-wiring`.

use std::path::PathBuf;

use harness::backend::{
    BackendInfo, BackendOptions, Context, Expectations, PodLifecycle, Teardown,
};
use harness::topology::{NodePlan, Plan};
use harness::Result;
use reports::CheckRecord;

use crate::chain::{Chain, Scope};
use crate::error::CniError;
use crate::options::{pod_wiring, POD_WIRING_OPTION};

/// A backend's facts with who wires its pods: its `BackendInfo` with the kinds the chain's
/// plugins make added, and the options in effect.
#[derive(Debug)]
pub struct Wired {
    /// Who wires the pods.
    pub pods: PodWiring,
    /// The backend's info, with the chain's link kinds.
    pub info: BackendInfo,
}

impl Wired {
    /// `base`, its pods wired by `pods`.
    pub fn new(pods: PodWiring, base: &BackendInfo) -> Wired {
        Wired {
            info: BackendInfo {
                link_kinds: pods.link_kinds(base.link_kinds),
                ..*base
            },
            pods,
        }
    }

    /// `base` with cnbench's own pods.
    pub fn builtin(base: &BackendInfo) -> Wired {
        Wired::new(PodWiring::Builtin, base)
    }

    /// `base` with the pods the options ask for ([`PodWiring::from_options`]).
    pub fn from_options(
        o: &BackendOptions,
        plan: &Plan,
        pod_mtu: u32,
        base: &BackendInfo,
    ) -> Result<Wired, CniError> {
        Ok(Wired::new(PodWiring::from_options(o, plan, pod_mtu)?, base))
    }

    /// The pod-wiring options in effect.
    pub fn options(&self) -> BackendOptions {
        let mut o = BackendOptions::new();
        self.pods.resolve_into(&mut o);
        o
    }
}

/// Who wires the pods of a backend that keeps its own control plane between nodes.
#[derive(Debug)]
pub enum PodWiring {
    /// cnbench's own wiring.
    Builtin,
    /// A CNI chain, run per node with the node's blocks, one per family of the run
    /// (`--pod-wiring cni`).
    Cni(Box<Chain>),
}

impl PodWiring {
    /// From the backend's options (`--pod-wiring`, and the CNI settings with `cni`): the
    /// chain loaded and its binaries found, with `pod_mtu` the MTU the backend's
    /// encapsulation leaves.
    pub fn from_options(
        o: &BackendOptions,
        plan: &Plan,
        pod_mtu: u32,
    ) -> Result<PodWiring, CniError> {
        Ok(match pod_wiring(o)? {
            None => PodWiring::Builtin,
            Some(settings) => PodWiring::Cni(Box::new(Chain::new(
                settings,
                plan,
                Scope::PerNode { pod_mtu },
            )?)),
        })
    }

    /// The chain, if a chain wires the pods.
    pub fn chain(&self) -> Option<&Chain> {
        match self {
            PodWiring::Builtin => None,
            PodWiring::Cni(c) => Some(c),
        }
    }

    /// The options in effect, every default resolved.
    pub fn resolve_into(&self, o: &mut BackendOptions) {
        match self {
            PodWiring::Builtin => o.set(POD_WIRING_OPTION.flag, "builtin"),
            PodWiring::Cni(c) => {
                // The cni backend has no --pod-wiring: its chain is all it is.
                if c.scope() != Scope::Whole {
                    o.set(POD_WIRING_OPTION.flag, "cni");
                }
                c.settings().resolve_into(o);
            }
        }
    }

    /// `base` and the kinds the chain's plugins create. BackendInfo holds static slices; a
    /// backend is made a few times per process at most, so the union is leaked rather than
    /// the info's shape changed for the backends a chain may wire.
    pub fn link_kinds(&self, base: &'static [&'static str]) -> &'static [&'static str] {
        match self {
            PodWiring::Builtin => base,
            PodWiring::Cni(c) => {
                let mut kinds = base.to_vec();
                for k in c.link_kinds() {
                    if !kinds.contains(&k) {
                        kinds.push(k);
                    }
                }
                Box::leak(kinds.into_boxed_slice())
            }
        }
    }

    /// Refuses what the chain cannot run on the plan's substrate.
    pub fn validate(&self, plan: &Plan) -> Result<(), CniError> {
        self.chain().map_or(Ok(()), |c| c.validate(plan))
    }

    /// Wires the pods of `node`: cnbench's way (`builtin`), or by the chain.
    pub fn wire_node(
        &self,
        ctx: &Context<'_>,
        node: &NodePlan,
        builtin: impl FnOnce() -> Result<()>,
    ) -> Result<()> {
        match self {
            PodWiring::Builtin => builtin(),
            PodWiring::Cni(c) => {
                ctx.host(&node.netns).nl().set_up("lo")?;
                c.setup_node(ctx, node)
            }
        }
    }

    /// What the pods promise: the backend's own declarations (`builtin`), or the chain's
    /// results. Under a chain the nodes' tables are shared with it, so the backend's routes
    /// there must be present among the chain's; the pods' gateways are probed by the
    /// backend's matrix.
    pub fn pod_expectations(
        &self,
        plan: &Plan,
        builtin: impl FnOnce() -> Expectations,
    ) -> Expectations {
        match self {
            PodWiring::Builtin => builtin(),
            PodWiring::Cni(c) => {
                // On one node the chain's gateways are probed here; per node the backend's
                // matrix probes each node's gateway already.
                let mut e = crate::expect::pod_expectations(
                    plan,
                    c.network(),
                    c.pod_mtu(plan),
                    c.scope() == Scope::Whole,
                );
                for node in &plan.nodes {
                    e.devices.push(harness::backend::DeviceSet {
                        netns: node.netns.clone(),
                        devices: crate::expect::node_devices(plan, c.network(), node),
                    });
                    e.shared_route_tables.push(node.netns.clone());
                }
                e
            }
        }
    }

    /// The chain's own checks (each plugin's CHECK, each plugin's effect); none for the
    /// built-in wiring.
    pub fn extra_checks(&self, ctx: &Context<'_>) -> Vec<CheckRecord> {
        match self {
            PodWiring::Builtin => Vec::new(),
            PodWiring::Cni(c) => {
                let mut out = crate::checks::records(ctx, c.settings().timeout);
                out.extend(crate::effects::checks(ctx, c.network()));
                out
            }
        }
    }

    /// The pod lifecycle: the backend's own, or the chain's.
    pub fn pods<'a>(&'a self, builtin: &'a dyn PodLifecycle) -> &'a dyn PodLifecycle {
        match self {
            PodWiring::Builtin => builtin,
            PodWiring::Cni(c) => c.as_ref(),
        }
    }

    /// The chain's teardown (its DELs), if a chain wires the pods.
    pub fn teardown(&self) -> Option<&dyn Teardown> {
        self.chain().map(|c| c as &dyn Teardown)
    }

    /// The MTU of the pods' interfaces: `builtin` (what cnbench's own wiring gives them),
    /// or what the chain gives them (a tuning plugin may set less than the backend leaves),
    /// which is then the pods' path MTU.
    pub fn pod_mtu(&self, plan: &Plan, builtin: u32) -> u32 {
        self.chain().map_or(builtin, |c| c.pod_mtu(plan))
    }

    /// The chain's binaries, for a VM image to carry.
    pub fn programs(&self) -> Vec<PathBuf> {
        self.chain().map(Chain::programs).unwrap_or_default()
    }
}
