//! Calico-style pod wiring: no bridge. Each pod's veth has its host end (`caliXXXXXXXX`) in
//! the node with proxy ARP on; the pod has its address as a /32 and reaches everything
//! through the fictitious gateway 169.254.1.1, which no device owns: the node answers the
//! pod's ARP for it with the host end's own MAC. The node routes to each local pod with a
//! `/32 dev caliX scope link` route.

use std::net::Ipv4Addr;

use harness::backend::{Context, SysctlExpect};
use harness::netlink::{RouteProto, RouteScope, RouteSpec};
use harness::topology::{NodePlan, Plan, PodPlan, Underlay};
use harness::Result;
use ipnet::Ipv4Net;

/// The gateway every pod routes through (Calico's): link-local, owned by no device.
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);

/// The pod's device, as in the article.
pub const POD_DEV: &str = "eth0";

/// Name of the host end of `pod`'s veth: `cali` and 8 hex digits of a hash of the run id and
/// the pod (Calico hashes the workload's id the same way), so names are unique per pod and,
/// with the run id in the hash, differ between runs (tracepoints filter by device name).
pub fn cali_name(run_id: &str, pod: &PodPlan) -> String {
    // FNV-1a, 32 bits: small, stable across builds and platforms.
    let mut h: u32 = 0x811c_9dc5;
    for b in run_id.bytes().chain([b'/']).chain(pod.role.bytes()) {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("cali{h:08x}")
}

/// The pod's address as Calico gives it: a /32.
pub fn pod_ip(pod: &PodPlan) -> Ipv4Net {
    Ipv4Net::new(pod.ip.addr(), 32).expect("/32 is valid")
}

/// The pod's routes: `169.254.1.1 dev eth0 scope link` (so the gateway is on-link), then
/// `default via 169.254.1.1 dev eth0`.
pub fn pod_routes() -> [RouteSpec; 2] {
    [
        RouteSpec {
            dst: Ipv4Net::new(GATEWAY, 32).expect("valid").into(),
            via: None,
            dev: POD_DEV.into(),
            proto: RouteProto::Boot,
            scope: RouteScope::Link,
            src: None,
            onlink: false,
        },
        RouteSpec {
            dst: Ipv4Net::default().into(),
            via: Some(GATEWAY.into()),
            dev: POD_DEV.into(),
            proto: RouteProto::Boot,
            scope: RouteScope::Universe,
            src: None,
            onlink: false,
        },
    ]
}

/// The node's route to a local pod: `10.20.N.x/32 dev caliX scope link`.
pub fn node_pod_route(run_id: &str, pod: &PodPlan) -> RouteSpec {
    RouteSpec {
        dst: pod_ip(pod).into(),
        via: None,
        dev: cali_name(run_id, pod),
        proto: RouteProto::Boot,
        scope: RouteScope::Link,
        src: None,
        onlink: false,
    }
}

/// What the host end of `pod`'s veth needs of the node's kernel, as Calico sets it: proxy
/// ARP on, so the node answers the pod's ARP for 169.254.1.1 (owned by no device) with the
/// host end's own MAC (`arp_process` answers by proxy on a device with `proxy_arp` and
/// forwarding on, for a target it routes through another device); and no proxy delay: an ARP
/// request is a broadcast, whose proxied answer the kernel otherwise queues for a random
/// part of `proxy_delay` (80 jiffies, 0.8 s). [`wire_pod`] writes these and the
/// expectations declare them, so the two cannot drift.
pub fn pod_sysctls(run_id: &str, pod: &PodPlan) -> [SysctlExpect; 2] {
    let cali = cali_name(run_id, pod);
    [
        SysctlExpect::new(format!("net.ipv4.conf.{cali}.proxy_arp"), "1"),
        SysctlExpect::new(format!("net.ipv4.neigh.{cali}.proxy_delay"), "0"),
    ]
}

/// The node's route that lets proxy ARP answer for the gateway, when it needs one.
///
/// The kernel answers an ARP request by proxy only for a target it has a unicast route to
/// through another device (`arp_process` looks the target up as if forwarding it). A real
/// node has a default route, which covers 169.254.1.1; on an l3 underlay ours do (via the
/// router). On l2 the nodes have no default route, so without this stand-in for it the pod's
/// ARP for its gateway stays INCOMPLETE.
pub fn node_gateway_route(plan: &Plan) -> Option<RouteSpec> {
    (plan.spec.underlay == Underlay::L2).then(|| RouteSpec {
        dst: Ipv4Net::new(GATEWAY, 32).expect("valid").into(),
        via: None,
        dev: harness::underlay::NODE_DEV.into(),
        proto: RouteProto::Boot,
        scope: RouteScope::Link,
        src: None,
        onlink: false,
    })
}

/// Wires every pod of `node` and makes the node a router for them.
pub fn wire_node(ctx: &Context<'_>, node: &NodePlan) -> Result<()> {
    let plan = ctx.plan;
    let nl = ctx.host(&node.netns).nl();
    // Forwarding on: the node routes between its pods and eth0.
    SysctlExpect::write(ctx.host(&node.netns), &[SysctlExpect::ip_forward()])?;
    for pod in plan.pods.iter().filter(|p| p.node == node.index) {
        wire_pod(ctx, pod)?;
    }
    if let Some(r) = node_gateway_route(plan) {
        nl.add_route(&r)?;
    }
    Ok(())
}

/// Wires one pod to its node (at setup, or a pod added to a standing topology): its veth
/// with the host end `caliX` in the node, the pod's /32 and routes, proxy ARP on the host
/// end, the node's /32 route to the pod. Its block is announced already, so no BGP update
/// is needed for it.
pub fn wire_pod(ctx: &Context<'_>, pod: &PodPlan) -> Result<()> {
    let plan = ctx.plan;
    let host = ctx.host(&plan.node_of(pod).netns);
    let nl = host.nl();
    let cali = cali_name(plan.run_id(), pod);
    let pod_host = ctx.host(&pod.netns);
    nl.create_veth(&cali, POD_DEV, Some(pod_host.as_peer()), plan.spec.mtu)?;
    let pnl = pod_host.nl();
    pnl.set_up("lo")?;
    pnl.add_address(POD_DEV, pod_ip(pod))?;
    pnl.set_up(POD_DEV)?;
    for r in pod_routes() {
        pnl.add_route(&r)?;
    }
    // Proxy ARP on the host end, and no proxy delay.
    SysctlExpect::write(host, &pod_sysctls(plan.run_id(), pod))?;
    nl.set_up(&cali)?;
    nl.add_route(&node_pod_route(plan.run_id(), pod))
}

/// Unwires one pod: its host end deleted, which deletes the pair and the node's route
/// through it.
pub fn unwire_pod(ctx: &Context<'_>, pod: &PodPlan) -> Result<()> {
    let plan = ctx.plan;
    ctx.host(&plan.node_of(pod).netns)
        .nl()
        .delete_link(&cali_name(plan.run_id(), pod))
}
