//! The vxlan backend: flannel's VXLAN mode. Each node has the `cni0` pod bridge (its pods in
//! 100.96.N.0/24, gateway .1) and a kernel VXLAN device `flannel.1` (VNI 1, UDP 8472, learning
//! off) holding 100.96.N.0/32. cnbench plays flanneld's control plane: on every node, for
//! every other node M, a route `100.96.M.0/24 via 100.96.M.0 dev flannel.1 onlink`, a
//! permanent neighbour entry for M's VTEP and an FDB entry sending M's VTEP MAC to M's
//! underlay IP. The kernel then wraps each pod packet in Ethernet + VXLAN + UDP + IP (50
//! bytes) between node IPs, so it needs only IP reachability between nodes: l2 and l3 work.
//!
//! With `--pod-wiring cni` a CNI chain wires the pods instead of cnbench (as flannel's CNI
//! plugin hands them to `bridge` with the node's lease): each node runs the chain with its
//! block and the 50-byte smaller MTU, and cnbench keeps the VTEPs, FDB and routes.

mod expect;
mod vtep;

use cni_runtime::options::POD_WIRING_OPTIONS;
use cni_runtime::wiring::Wired;
use harness::backend::{
    BackendInfo, BackendOptions, Capabilities, Context, ControlPlane, Expectations, FaultDecl,
    OwnFaults, SysctlExpect,
};
use harness::podnet::{self, BridgePods, FLANNEL_STYLE};
use harness::topology::{NodePlan, Plan};
use harness::{Backend, PlanError, Result};

pub use vtep::{vtep_ip, vtep_mac, OVERHEAD, VNI, VTEP_DEV, VXLAN_PORT};

/// The pod bridge, as flannel's CNI configuration names it.
pub const BRIDGE: &str = "cni0";

/// What `cnbench list` shows.
pub const INFO: BackendInfo = BackendInfo {
    name: "vxlan",
    summary: "cni0 bridge + kernel VXLAN flannel.1 (VNI 1, UDP 8472), static FDB and neighbours",
    overhead_bytes: OVERHEAD,
    link_kinds: &["veth", "bridge", "vxlan"],
    faults: &[VTEP_CHANGE],
    options: &POD_WIRING_OPTIONS,
    ..FLANNEL_STYLE
};

/// The node's VTEP deleted and created again with a new MAC, as after a reboot: the peers'
/// FDB and neighbour entries for it are stale until the control plane reprograms them.
pub const VTEP_CHANGE: FaultDecl = FaultDecl {
    name: "vtep-change",
    summary: "the node's flannel.1 deleted, then created again with a new MAC",
    needs: "VXLAN device",
    peers_must_relearn: true,
};

/// Pods on a node's cni0; the other nodes' routes and tunnels already cover its block.
static PODS: BridgePods = BridgePods {
    bridge: BRIDGE,
    overhead_bytes: OVERHEAD,
};

/// The vxlan backend, with who wires its pods.
#[derive(Debug)]
pub struct Vxlan(Wired);

impl Default for Vxlan {
    /// With cnbench's own pod wiring.
    fn default() -> Vxlan {
        Vxlan(Wired::builtin(&INFO))
    }
}

/// Makes the backend from its options (`--pod-wiring`, the CNI settings).
pub fn make(
    options: &BackendOptions,
    plan: &Plan,
) -> std::result::Result<Box<dyn Backend>, String> {
    let wired = Wired::from_options(options, plan, plan.spec.mtu - OVERHEAD, &INFO)
        .map_err(|e| e.to_string())?;
    Ok(Box::new(Vxlan(wired)))
}

impl Backend for Vxlan {
    fn info(&self) -> &BackendInfo {
        &self.0.info
    }

    fn options(&self) -> BackendOptions {
        self.0.options()
    }

    fn validate(&self, plan: &Plan) -> Result<(), PlanError> {
        INFO.require_underlay(
            plan,
            "flannel.1 sends to the other nodes' underlay IPs: use --underlay l2 or l3",
        )?;
        self.0
            .pods
            .validate(plan)
            .map_err(|why| INFO.refuse(why.to_string()))
    }

    /// Every node with its first VTEP MAC (derived from the plan, so runs compare); the
    /// harness then has every node told of every other ([`ControlPlane::reprogram`]).
    fn setup(&self, ctx: &Context<'_>) -> Result<()> {
        for node in &ctx.plan.nodes {
            self.build_node(ctx, node, vtep_mac(ctx.plan, node))?;
        }
        Ok(())
    }

    /// A node built again (after a restart): its VTEP gets a new MAC, as a rebooted host's
    /// does.
    fn setup_node(&self, ctx: &Context<'_>, node: &NodePlan) -> Result<()> {
        self.build_node(ctx, node, vtep::fresh_vtep_mac(ctx.plan))
    }

    fn capabilities(&self) -> Capabilities<'_> {
        Capabilities {
            faults: Some(self),
            control_plane: Some(self),
            pods: Some(self.0.pods.pods(&PODS)),
            teardown: self.0.pods.teardown(),
            ..Capabilities::default()
        }
    }

    fn expectations(&self, plan: &Plan) -> Expectations {
        expect::expectations(plan, &self.0.pods)
    }

    fn extra_checks(&self, ctx: &Context<'_>) -> Vec<reports::CheckRecord> {
        self.0.pods.extra_checks(ctx)
    }

    fn programs(&self) -> Vec<std::path::PathBuf> {
        self.0.pods.programs()
    }
}

impl Vxlan {
    /// Builds one node: forwarding on, `flannel.1` with `mac`, the pods on cni0 (cnbench's
    /// or the chain's).
    fn build_node(&self, ctx: &Context<'_>, node: &NodePlan, mac: [u8; 6]) -> Result<()> {
        // The node routes between cni0 and flannel.1; a new namespace starts with forwarding
        // off.
        SysctlExpect::write(ctx.host(&node.netns), &[SysctlExpect::ip_forward()])?;
        let pod_mtu = ctx.plan.spec.mtu - OVERHEAD;
        vtep::create(ctx, node, pod_mtu, mac)?;
        self.0.pods.wire_node(ctx, node, || {
            podnet::build_pod_bridge(ctx, node, BRIDGE, pod_mtu)
        })
    }
}

impl OwnFaults for Vxlan {
    fn faults(&self) -> &'static [FaultDecl] {
        &[VTEP_CHANGE]
    }

    fn inject(&self, ctx: &Context<'_>, _fault: &FaultDecl, node: &NodePlan) -> Result<()> {
        ctx.host(&node.netns).nl().delete_link(VTEP_DEV)
    }

    fn lift(&self, ctx: &Context<'_>, _fault: &FaultDecl, node: &NodePlan) -> Result<()> {
        vtep::create(
            ctx,
            node,
            ctx.plan.spec.mtu - OVERHEAD,
            vtep::fresh_vtep_mac(ctx.plan),
        )
    }
}

/// cnbench plays flanneld: each node gets a route, a neighbour and an FDB entry per peer.
impl ControlPlane for Vxlan {
    fn reprogram(&self, ctx: &Context<'_>, nodes: &[&NodePlan]) -> Result<()> {
        for node in nodes {
            for remote in ctx.plan.nodes.iter().filter(|r| r.index != node.index) {
                vtep::program_peer(ctx, node, remote)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
