//! The vxlan backend: flannel's VXLAN mode. Each node has the `cni0` pod bridge (its pods in
//! 100.96.N.0/24, gateway .1) and a kernel VXLAN device `flannel.1` (VNI 1, UDP 8472, learning
//! off) holding 100.96.N.0/32. cnbench plays flanneld's control plane: on every node, for
//! every other node M, a route `100.96.M.0/24 via 100.96.M.0 dev flannel.1 onlink`, a
//! permanent neighbour entry for M's VTEP and an FDB entry sending M's VTEP MAC to M's
//! underlay IP. The kernel then wraps each pod packet in Ethernet + VXLAN + UDP + IP (50
//! bytes) between node IPs, so it needs only IP reachability between nodes: l2 and l3 work.
//!
//! With IPv6 (`--ip-family ipv6` or `dual`), as flannel with `EnableIPv6`, each node has a
//! second VXLAN device, `flannel-v6.1` (VNI 1, UDP 8472, local = the node's IPv6 underlay
//! address) holding `fd00:100:96:N::/128`, and the same three entries per peer for IPv6:
//! `fd00:100:96:M::/64 via fd00:100:96:M:: dev flannel-v6.1 onlink`, the neighbour entry and
//! the FDB entry to M's IPv6 underlay address. The outer IPv6 header makes the wrapping 70
//! bytes; one MTU serves a pod's both families, so its links are 70 under the underlay's. An
//! ipv6 run has only `flannel-v6.1`, a dual one both devices.
//!
//! With `--pod-wiring cni` a CNI chain wires the pods instead of cnbench (as flannel's CNI
//! plugin hands them to `bridge` with the node's lease): each node runs the chain with its
//! block and the 50-byte smaller MTU, and cnbench keeps the VTEPs, FDB and routes (IPv4 only:
//! the chain's IPAM is given IPv4 ranges).

mod expect;
mod vtep;

use cni_runtime::options::POD_WIRING_OPTIONS;
use cni_runtime::wiring::Wired;
use harness::backend::{
    BackendInfo, BackendOptions, Capabilities, Context, ControlPlane, Expectations, FaultDecl,
    Ipv6Support, OwnFaults, PodLifecycle, SysctlExpect,
};
use harness::podnet::{self, BridgePods, FLANNEL_STYLE};
use harness::topology::{Family, NodePlan, Plan, PodPlan};
use harness::{Backend, PlanError, Result};

pub use vtep::{
    pod_mtu, vtep_ip, vtep_ip6, vtep_mac, vtep_mac6, OVERHEAD, OVERHEAD6, VNI, VTEP_DEV, VTEP_DEV6,
    VXLAN_PORT,
};

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
    // flannel-v6.1 beside (dual) or instead of (ipv6) flannel.1.
    ipv6: Ipv6Support::Yes,
    ..FLANNEL_STYLE
};

/// The node's VTEPs (each family's) deleted and created again with new MACs, as after a
/// reboot: the peers' FDB and neighbour entries for them are stale until the control plane
/// reprograms them.
pub const VTEP_CHANGE: FaultDecl = FaultDecl {
    name: "vtep-change",
    summary: "the node's flannel.1 (and flannel-v6.1) deleted, then created again with new MACs",
    needs: "VXLAN device",
    peers_must_relearn: true,
    aliases: &[],
};

/// Pods on a node's cni0; the other nodes' routes and tunnels already cover its block. Their
/// links get the run's pod MTU (70 bytes under the underlay's when it has IPv6).
struct Pods;

impl Pods {
    fn bridge(plan: &Plan) -> BridgePods {
        BridgePods {
            bridge: BRIDGE,
            overhead_bytes: vtep::pod_overhead(plan),
        }
    }
}

impl PodLifecycle for Pods {
    fn add_pod(&self, ctx: &Context<'_>, pod: &PodPlan) -> Result<()> {
        Pods::bridge(ctx.plan).add_pod(ctx, pod)
    }

    fn remove_pod(&self, ctx: &Context<'_>, pod: &PodPlan) -> Result<()> {
        Pods::bridge(ctx.plan).remove_pod(ctx, pod)
    }
}

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
    let wired =
        Wired::from_options(options, plan, pod_mtu(plan), &INFO).map_err(|e| e.to_string())?;
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

    /// Every node with its first VTEP MACs (derived from the plan, so runs compare); the
    /// harness then has every node told of every other ([`ControlPlane::reprogram`]).
    fn setup(&self, ctx: &Context<'_>) -> Result<()> {
        for node in &ctx.plan.nodes {
            self.build_node(ctx, node, |f| vtep::vtep_mac_of(ctx.plan, node, f))?;
        }
        Ok(())
    }

    /// A node built again (after a restart): its VTEPs get new MACs, as a rebooted host's
    /// do.
    fn setup_node(&self, ctx: &Context<'_>, node: &NodePlan) -> Result<()> {
        self.build_node(ctx, node, |_| vtep::fresh_vtep_mac(ctx.plan))
    }

    fn capabilities(&self) -> Capabilities<'_> {
        Capabilities {
            faults: Some(self),
            control_plane: Some(self),
            pods: Some(self.0.pods.pods(&Pods)),
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
    /// Builds one node: forwarding on, a VTEP per family of the run with the MAC `mac`
    /// gives it, the pods on cni0 (cnbench's or the chain's).
    fn build_node(
        &self,
        ctx: &Context<'_>,
        node: &NodePlan,
        mac: impl Fn(Family) -> [u8; 6],
    ) -> Result<()> {
        // The node routes between cni0 and its VTEPs; a new namespace starts with forwarding
        // off for both families.
        SysctlExpect::write(ctx.host(&node.netns), &expect::node_sysctls(ctx.plan))?;
        for family in ctx.plan.families() {
            vtep::create(ctx, node, family, mac(family))?;
        }
        let pod_mtu = pod_mtu(ctx.plan);
        self.0.pods.wire_node(ctx, node, || {
            podnet::build_pod_bridge(ctx, node, BRIDGE, pod_mtu)
        })
    }
}

impl OwnFaults for Vxlan {
    fn faults(&self) -> &'static [FaultDecl] {
        &[VTEP_CHANGE]
    }

    /// Deletes every VTEP of the node: the kernel takes their neighbour and FDB entries and
    /// the routes through them with them.
    fn inject(&self, ctx: &Context<'_>, _fault: &FaultDecl, node: &NodePlan) -> Result<()> {
        let nl = ctx.host(&node.netns).nl();
        for family in ctx.plan.families() {
            nl.delete_link(vtep::vtep_dev(family))?;
        }
        Ok(())
    }

    /// Creates them again, each with a fresh MAC; the control plane then reprograms the
    /// node and its peers.
    fn lift(&self, ctx: &Context<'_>, _fault: &FaultDecl, node: &NodePlan) -> Result<()> {
        for family in ctx.plan.families() {
            vtep::create(ctx, node, family, vtep::fresh_vtep_mac(ctx.plan))?;
        }
        Ok(())
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
