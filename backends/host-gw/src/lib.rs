//! The host-gw backend: flannel's host-gw mode. Each node has the `cni0` pod bridge (its
//! pods in 100.96.N.0/24, gateway .1), forwarding on, and for every other node M a plain
//! route `100.96.M.0/24 via <M's underlay IP> dev eth0`. No tunnel and no overhead: the pod
//! packet itself crosses the underlay, so the next hop must be on the node's own L2 segment.
//! On an l3 underlay the plan is accepted to show exactly that: nodes on the other segment
//! get no route (the kernel would refuse it), and every probe to their pods is declared an
//! expected failure with the reason.
//!
//! With `--ip-family ipv6` or `dual` it does the same for the IPv6 blocks (fd00:100:96:N::/64,
//! gateway `::1` on cni0): `fd00:100:96:M::/64 via <M's IPv6 underlay IP> dev eth0`, the
//! next hop a global address on the shared segment as flannel uses the node's public IPv6
//! address, and IPv6 forwarding on beside IPv4's.
//!
//! With `--pod-wiring cni` a CNI chain wires the pods (each node runs it with its block of
//! each family of the run); cnbench keeps the routes between nodes.

mod expect;
mod route;

use cni_runtime::options::POD_WIRING_OPTIONS;
use cni_runtime::wiring::Wired;
use harness::backend::{
    BackendInfo, BackendOptions, Capabilities, Context, ControlPlane, Expectations, Ipv6Support,
    SysctlExpect,
};
use harness::podnet::{self, BridgePods, FLANNEL_STYLE};
use harness::topology::{NodePlan, Plan};
use harness::{Backend, PlanError, Result};

pub use route::{route_to, NotOnLink};

/// The pod bridge, as flannel's CNI configuration names it.
pub const BRIDGE: &str = "cni0";

/// What `cnbench list` shows.
pub const INFO: BackendInfo = BackendInfo {
    name: "host-gw",
    summary: "cni0 bridge, no tunnel: routes to each node's pod block via the node's IP (l2; l3 shows why it fails)",
    options: &POD_WIRING_OPTIONS,
    ipv6: Ipv6Support::Yes,
    ..FLANNEL_STYLE
};

/// Pods on a node's cni0; the other nodes' routes to its block already cover them.
static PODS: BridgePods = BridgePods {
    bridge: BRIDGE,
    overhead_bytes: 0,
};

/// The host-gw backend, with who wires its pods.
#[derive(Debug)]
pub struct HostGw(Wired);

impl Default for HostGw {
    /// With cnbench's own pod wiring.
    fn default() -> HostGw {
        HostGw(Wired::builtin(&INFO))
    }
}

/// Makes the backend from its options (`--pod-wiring`, the CNI settings).
pub fn make(
    options: &BackendOptions,
    plan: &Plan,
) -> std::result::Result<Box<dyn Backend>, String> {
    let wired =
        Wired::from_options(options, plan, plan.spec.mtu, &INFO).map_err(|e| e.to_string())?;
    Ok(Box::new(HostGw(wired)))
}

impl Backend for HostGw {
    fn info(&self) -> &BackendInfo {
        &self.0.info
    }

    fn options(&self) -> BackendOptions {
        self.0.options()
    }

    fn validate(&self, plan: &Plan) -> Result<(), PlanError> {
        INFO.require_underlay(
            plan,
            "it routes to the other nodes' underlay IPs: use --underlay l2 (or l3 to see \
             where host-gw stops working)",
        )?;
        self.0
            .pods
            .validate(plan)
            .map_err(|why| INFO.refuse(why.to_string()))
    }

    fn setup_node(&self, ctx: &Context<'_>, node: &NodePlan) -> Result<()> {
        // The node routes between cni0 and eth0; a new namespace starts with forwarding off.
        SysctlExpect::write(ctx.host(&node.netns), &node_sysctls(ctx.plan))?;
        self.0.pods.wire_node(ctx, node, || {
            podnet::build_pod_bridge(ctx, node, BRIDGE, ctx.plan.spec.mtu)
        })
    }

    fn capabilities(&self) -> Capabilities<'_> {
        Capabilities {
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

/// What every node's kernel must have for host-gw, written by setup and declared by the
/// expectations: forwarding on in each family of the run (IPv4's alone on ipv4, IPv6's alone
/// on ipv6). A namespace starts with both off; then the kernel drops what it would forward
/// without an error to the sender: IPv4's `ip_error` only counts it, and `ip6_forward` counts
/// it as `InAddrErrors` and frees it (RFC 4443 requires no ICMPv6 message for it).
pub fn node_sysctls(plan: &Plan) -> Vec<SysctlExpect> {
    SysctlExpect::forwarding(plan.ip_family())
}

/// cnbench plays flanneld: each node gets a route to every peer's block via the peer's
/// underlay IP, where the peer is on its segment.
impl ControlPlane for HostGw {
    fn reprogram(&self, ctx: &Context<'_>, nodes: &[&NodePlan]) -> Result<()> {
        for node in nodes {
            let nl = ctx.host(&node.netns).nl();
            for remote in ctx.plan.nodes.iter().filter(|r| r.index != node.index) {
                for family in ctx.plan.families() {
                    if let Ok(route) = route_to(node, remote, family) {
                        nl.replace_route(&route)?;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
