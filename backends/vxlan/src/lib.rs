//! The vxlan backend: flannel's VXLAN mode. Each node has the `cni0` pod bridge (its pods in
//! 100.96.N.0/24, gateway .1) and a kernel VXLAN device `flannel.1` (VNI 1, UDP 8472, learning
//! off) holding 100.96.N.0/32. cnbench plays flanneld's control plane: on every node, for
//! every other node M, a route `100.96.M.0/24 via 100.96.M.0 dev flannel.1 onlink`, a
//! permanent neighbour entry for M's VTEP and an FDB entry sending M's VTEP MAC to M's
//! underlay IP. The kernel then wraps each pod packet in Ethernet + VXLAN + UDP + IP (50
//! bytes) between node IPs, so it needs only IP reachability between nodes: l2 and l3 work.

mod expect;
mod vtep;

/// Builds one node: forwarding on, the pod bridge with its pods, `flannel.1` with `mac`.
fn build_node(ctx: &Context<'_>, node: &NodePlan, mac: [u8; 6]) -> Result<()> {
    // The node routes between cni0 and flannel.1; a new namespace starts with forwarding off.
    ctx.host(&node.netns)
        .set_sysctl("net.ipv4.ip_forward", "1")?;
    let pod_mtu = ctx.plan.spec.mtu - OVERHEAD;
    podnet::build_pod_bridge(ctx, node, BRIDGE, pod_mtu)?;
    vtep::create(ctx, node, pod_mtu, mac)
}

fn unsupported(kind: FaultKind) -> harness::HarnessError {
    harness::HarnessError::Unsupported {
        what: format!("vxlan cannot suffer the fault {kind}"),
        fix: "vxlan's own fault is vtep-change".into(),
    }
}

use harness::backend::{BackendInfo, BackendOptions, Context, Datapath, Defaults, Expectations};
use harness::fault::FaultKind;
use harness::topology::{NodePlan, Plan, PodNetwork, Underlay};
use harness::{podnet, Backend, PlanError, Result};

pub use vtep::{vtep_ip, vtep_mac, OVERHEAD, VNI, VTEP_DEV, VXLAN_PORT};

/// The pod bridge, as flannel's CNI configuration names it.
pub const BRIDGE: &str = "cni0";

/// What `cnbench list` shows.
pub static INFO: BackendInfo = BackendInfo {
    name: "vxlan",
    summary: "cni0 bridge + kernel VXLAN flannel.1 (VNI 1, UDP 8472), static FDB and neighbours",
    underlays: &[Underlay::L2, Underlay::L3],
    link_kinds: &["veth", "bridge", "vxlan"],
    binaries: &[],
    built: true,
};

/// The vxlan backend.
#[derive(Debug, Default)]
pub struct Vxlan;

/// Makes the backend from its options.
pub fn make(options: &BackendOptions) -> Result<Box<dyn Backend>, String> {
    match &options.datapath {
        None => Ok(Box::new(Vxlan)),
        Some(d) => Err(format!(
            "--datapath {d}: vxlan has one datapath (the kernel's VXLAN device); leave --datapath out"
        )),
    }
}

impl Backend for Vxlan {
    fn info(&self) -> &'static BackendInfo {
        &INFO
    }

    fn datapath(&self) -> Datapath {
        Datapath::Kernel
    }

    fn defaults(&self) -> Defaults {
        harness::podnet::flannel_defaults()
    }

    fn pod_network(&self) -> PodNetwork {
        harness::podnet::FLANNEL_POD_NETWORK
    }

    fn validate(&self, plan: &Plan) -> Result<(), PlanError> {
        if !INFO.underlays.contains(&plan.spec.underlay) {
            return Err(PlanError::Backend {
                backend: INFO.name.into(),
                why: "flannel.1 sends to the other nodes' underlay IPs: use --underlay l2 or l3"
                    .into(),
            });
        }
        Ok(())
    }

    fn setup(&self, ctx: &Context<'_>) -> Result<()> {
        let plan = ctx.plan;
        for node in &plan.nodes {
            build_node(ctx, node, vtep_mac(plan, node))?;
        }
        self.reprogram(ctx, &plan.nodes.iter().collect::<Vec<_>>())
    }

    fn own_faults(&self) -> &'static [FaultKind] {
        &[FaultKind::VtepChange]
    }

    fn inject(&self, ctx: &Context<'_>, kind: FaultKind, node: &NodePlan) -> Result<()> {
        match kind {
            // The VTEP goes, and with it every route, neighbour and FDB entry on it.
            FaultKind::VtepChange => ctx.host(&node.netns).nl().delete_link(VTEP_DEV),
            other => Err(unsupported(other)),
        }
    }

    fn lift(&self, ctx: &Context<'_>, kind: FaultKind, node: &NodePlan) -> Result<()> {
        match kind {
            // Back as after a reboot: the same device with a new MAC. What the node and its
            // peers must learn is the control plane's part (`reprogram`).
            FaultKind::VtepChange => vtep::create(
                ctx,
                node,
                ctx.plan.spec.mtu - OVERHEAD,
                vtep::fresh_vtep_mac(ctx.plan),
            ),
            other => Err(unsupported(other)),
        }
    }

    fn setup_node(&self, ctx: &Context<'_>, node: &NodePlan) -> Result<()> {
        // A rebooted node's VTEP comes back with a new MAC too.
        build_node(ctx, node, vtep::fresh_vtep_mac(ctx.plan))
    }

    fn reprograms(&self) -> bool {
        true
    }

    fn reprogram(&self, ctx: &Context<'_>, nodes: &[&NodePlan]) -> Result<()> {
        for node in nodes {
            for remote in ctx.plan.nodes.iter().filter(|r| r.index != node.index) {
                vtep::program_peer(ctx, node, remote)?;
            }
        }
        Ok(())
    }

    fn expectations(&self, plan: &Plan) -> Expectations {
        expect::expectations(plan)
    }
}

#[cfg(test)]
mod tests;
