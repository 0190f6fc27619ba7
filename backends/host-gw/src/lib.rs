//! The host-gw backend: flannel's host-gw mode. Each node has the `cni0` pod bridge (its
//! pods in 100.96.N.0/24, gateway .1), forwarding on, and for every other node M a plain
//! route `100.96.M.0/24 via <M's underlay IP> dev eth0`. No tunnel and no overhead: the pod
//! packet itself crosses the underlay, so the next hop must be on the node's own L2 segment.
//! On an l3 underlay the plan is accepted to show exactly that: nodes on the other segment
//! get no route (the kernel would refuse it), and every probe to their pods is declared an
//! expected failure with the reason.

mod expect;
mod route;

use harness::backend::{BackendInfo, BackendOptions, Context, Datapath, Defaults, Expectations};
use harness::topology::{NodePlan, Plan, PodNetwork, Underlay};
use harness::{podnet, Backend, PlanError, Result};

pub use route::{route_to, NotOnLink};

/// The pod bridge, as flannel's CNI configuration names it.
pub const BRIDGE: &str = "cni0";

/// What `cnbench list` shows.
pub static INFO: BackendInfo = BackendInfo {
    name: "host-gw",
    summary: "cni0 bridge, no tunnel: routes to each node's pod block via the node's IP (l2; l3 shows why it fails)",
    underlays: &[Underlay::L2, Underlay::L3],
    link_kinds: &["veth", "bridge"],
    binaries: &[],
    built: true,
};

/// The host-gw backend.
#[derive(Debug, Default)]
pub struct HostGw;

/// Makes the backend from its options.
pub fn make(options: &BackendOptions) -> Result<Box<dyn Backend>, String> {
    match &options.datapath {
        None => Ok(Box::new(HostGw)),
        Some(d) => Err(format!(
            "--datapath {d}: host-gw has one datapath (kernel routes); leave --datapath out"
        )),
    }
}

impl Backend for HostGw {
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
                why: "it routes to the other nodes' underlay IPs: use --underlay l2 (or l3 to see \
                      where host-gw stops working)"
                    .into(),
            });
        }
        Ok(())
    }

    fn setup(&self, ctx: &Context<'_>) -> Result<()> {
        for node in &ctx.plan.nodes {
            self.setup_node(ctx, node)?;
        }
        self.reprogram(ctx, &ctx.plan.nodes.iter().collect::<Vec<_>>())
    }

    fn setup_node(&self, ctx: &Context<'_>, node: &NodePlan) -> Result<()> {
        // The node routes between cni0 and eth0; a new namespace starts with forwarding off.
        ctx.host(&node.netns)
            .set_sysctl("net.ipv4.ip_forward", "1")?;
        podnet::build_pod_bridge(ctx, node, BRIDGE, ctx.plan.spec.mtu)
    }

    fn reprograms(&self) -> bool {
        true
    }

    /// flanneld's route check: every route to a remote block in place (the kernel deletes
    /// them when `eth0` goes down and never puts them back).
    fn reprogram(&self, ctx: &Context<'_>, nodes: &[&NodePlan]) -> Result<()> {
        for node in nodes {
            let nl = ctx.host(&node.netns).nl();
            for remote in ctx.plan.nodes.iter().filter(|r| r.index != node.index) {
                // A remote on another segment gets no route: the kernel would refuse the
                // gateway (ENETUNREACH); the expectations declare its pods unreachable.
                if let Ok(route) = route_to(node, remote) {
                    nl.replace_route(&route)?;
                }
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
