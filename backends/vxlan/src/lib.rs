//! The vxlan backend: flannel's VXLAN mode. Each node has the `cni0` pod bridge (its pods in
//! 100.96.N.0/24, gateway .1) and a kernel VXLAN device `flannel.1` (VNI 1, UDP 8472, learning
//! off) holding 100.96.N.0/32. cnbench plays flanneld's control plane: on every node, for
//! every other node M, a route `100.96.M.0/24 via 100.96.M.0 dev flannel.1 onlink`, a
//! permanent neighbour entry for M's VTEP and an FDB entry sending M's VTEP MAC to M's
//! underlay IP. The kernel then wraps each pod packet in Ethernet + VXLAN + UDP + IP (50
//! bytes) between node IPs, so it needs only IP reachability between nodes: l2 and l3 work.

mod expect;
mod vtep;

use harness::backend::{BackendInfo, BackendOptions, Context, Datapath, Defaults, Expectations};
use harness::topology::{Plan, PodNetwork, Underlay};
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
        let pod_mtu = plan.spec.mtu - OVERHEAD;
        for node in &plan.nodes {
            // The node routes between cni0 and flannel.1; a new namespace starts with
            // forwarding off.
            ctx.host(&node.netns)
                .set_sysctl("net.ipv4.ip_forward", "1")?;
            podnet::build_pod_bridge(ctx, node, BRIDGE, pod_mtu)?;
            vtep::create(ctx, node, pod_mtu)?;
        }
        for node in &plan.nodes {
            for remote in plan.nodes.iter().filter(|r| r.index != node.index) {
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
