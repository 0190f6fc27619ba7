//! Calico-style pod wiring: no bridge. Each pod's veth has its host end (`caliXXXXXXXX`, MAC
//! `ee:ee:ee:ee:ee:ee`, as Calico's CNI plugin sets it) in the node; the pod has its
//! addresses as host prefixes (/32, /128) and reaches everything through a gateway on its
//! veth. IPv4: the fictitious 169.254.1.1, which no device owns: the node answers the pod's
//! ARP for it by proxy with the host end's MAC. IPv6: the host end's own link-local address,
//! `fe80::ecee:eeff:feee:eeee` (the EUI-64 of that MAC), which the host end answers NDP for
//! itself. The node routes to each local pod with a `/32` and a `/128` route `dev caliX`.

use std::net::{Ipv4Addr, Ipv6Addr};

use harness::backend::{Context, SysctlExpect};
use harness::netlink::{RouteProto, RouteScope, RouteSpec};
use harness::topology::{Family, NodePlan, Plan, PodPlan, Underlay};
use harness::Result;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// The IPv4 gateway every pod routes through (Calico's): link-local, owned by no device.
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);

/// The MAC of every pod's host end (Calico's CNI plugin sets it, so that the kernel does not
/// have to make one up, and every pod sees one gateway MAC whatever its node).
pub const HOST_MAC: [u8; 6] = [0xee; 6];

/// The IPv6 gateway every pod routes through: the link-local address the kernel gives the
/// host end from [`HOST_MAC`] (modified EUI-64, RFC 4291 §2.5.1 and appendix A: `ff:fe` in
/// the middle, the universal/local bit flipped), as Calico's CNI plugin reads it off the host
/// end and routes the pod's default through it. Each host end owns it on its own link.
pub const GATEWAY6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0xecee, 0xeeff, 0xfeee, 0xeeee);

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

/// The pod's address of `family` as Calico gives it (a /32, a /128), if the run has the
/// family.
pub fn pod_host_net(plan: &Plan, pod: &PodPlan, family: Family) -> Option<IpNet> {
    plan.pod_net(pod, family).map(|n| match n {
        IpNet::V4(v4) => IpNet::V4(Ipv4Net::new(v4.addr(), 32).expect("/32 is valid")),
        IpNet::V6(v6) => IpNet::V6(Ipv6Net::new(v6.addr(), 128).expect("/128 is valid")),
    })
}

/// The pod's addresses as Calico gives them, one per family of the run, IPv4 first.
pub fn pod_host_nets(plan: &Plan, pod: &PodPlan) -> Vec<IpNet> {
    plan.families()
        .into_iter()
        .filter_map(|f| pod_host_net(plan, pod, f))
        .collect()
}

/// The pod's gateway of `family`.
pub fn gateway(family: Family) -> std::net::IpAddr {
    match family {
        Family::V4 => GATEWAY.into(),
        Family::V6 => GATEWAY6.into(),
    }
}

/// The pod's routes, per family of the run. IPv4: `169.254.1.1 dev eth0 scope link` (so the
/// gateway is on-link), then `default via 169.254.1.1 dev eth0`. IPv6: the kernel's own
/// route for the /128 (`proto kernel`: IPv6 adds a prefix route for every address, a /128
/// included, where IPv4 adds none for a /32), and `default via fe80::ecee:eeff:feee:eeee dev
/// eth0`, on-link without a flag: every link has `fe80::/64` (RFC 4291 §2.5.6).
pub fn pod_routes(plan: &Plan, pod: &PodPlan) -> Vec<RouteSpec> {
    let mut v = Vec::new();
    if plan.ip_family().has_v4() {
        v.push(RouteSpec {
            dst: Ipv4Net::new(GATEWAY, 32).expect("valid").into(),
            via: None,
            dev: POD_DEV.into(),
            proto: RouteProto::Boot,
            scope: RouteScope::Link,
            src: None,
            onlink: false,
        });
        v.push(RouteSpec {
            dst: Ipv4Net::default().into(),
            via: Some(GATEWAY.into()),
            dev: POD_DEV.into(),
            proto: RouteProto::Boot,
            scope: RouteScope::Universe,
            src: None,
            onlink: false,
        });
    }
    if let Some(net) = pod_host_net(plan, pod, Family::V6) {
        v.push(RouteSpec::connected(net, POD_DEV));
        v.push(RouteSpec {
            proto: RouteProto::Boot,
            ..RouteSpec::default_via(GATEWAY6, POD_DEV)
        });
    }
    v
}

/// The routes setup adds in the pod: [`pod_routes`] but the kernel's own.
fn pod_routes_added(plan: &Plan, pod: &PodPlan) -> Vec<RouteSpec> {
    pod_routes(plan, pod)
        .into_iter()
        .filter(|r| r.proto != RouteProto::Kernel)
        .collect()
}

/// The node's routes to a local pod, per family of the run: `10.20.N.x/32 dev caliX scope
/// link`, `fd00:10:20:N::x/128 dev caliX` (the kernel keeps no scope for IPv6 routes: every
/// one is universe).
pub fn node_pod_routes(plan: &Plan, pod: &PodPlan) -> Vec<RouteSpec> {
    let cali = cali_name(plan.run_id(), pod);
    pod_host_nets(plan, pod)
        .into_iter()
        .map(|dst| RouteSpec {
            scope: match dst {
                IpNet::V4(_) => RouteScope::Link,
                IpNet::V6(_) => RouteScope::Universe,
            },
            dst,
            via: None,
            dev: cali.clone(),
            proto: RouteProto::Boot,
            src: None,
            onlink: false,
        })
        .collect()
}

/// What the host end of `pod`'s veth needs of the node's kernel, as Calico's CNI plugin sets
/// it, per family of the run.
///
/// IPv4: proxy ARP on, so the node answers the pod's ARP for 169.254.1.1 (owned by no
/// device) with the host end's own MAC (`arp_process` answers by proxy on a device with
/// `proxy_arp` and forwarding on, for a target it routes through another device); and no
/// proxy delay: an ARP request is a broadcast, whose proxied answer the kernel otherwise
/// queues for a random part of `proxy_delay` (80 jiffies, 0.8 s).
///
/// IPv6: no duplicate address detection (`accept_dad` 0, written before the link is up), so
/// the host end's link-local address, the pods' gateway, is usable at once instead of
/// tentative for a second (RFC 4862 §5.4: a tentative address is not answered for); a veth
/// has one other end, which cannot hold it. And proxy NDP on (`proxy_ndp` 1), as Calico
/// writes it: the kernel answers by proxy only for addresses with a proxy entry (`ip -6
/// neigh add proxy`, `pndisc_is_router`), and the gateway needs none, since the host end
/// owns it; a declared setting all the same, which the sysctls check reads back.
///
/// [`wire_pod`] writes these and the expectations declare them, so the two cannot drift.
pub fn pod_sysctls(plan: &Plan, pod: &PodPlan) -> Vec<SysctlExpect> {
    let cali = cali_name(plan.run_id(), pod);
    let mut v = Vec::new();
    if plan.ip_family().has_v4() {
        v.push(SysctlExpect::new(
            format!("net.ipv4.conf.{cali}.proxy_arp"),
            "1",
        ));
        v.push(SysctlExpect::new(
            format!("net.ipv4.neigh.{cali}.proxy_delay"),
            "0",
        ));
    }
    if plan.ip_family().has_v6() {
        v.push(SysctlExpect::new(
            format!("net.ipv6.conf.{cali}.accept_dad"),
            "0",
        ));
        v.push(SysctlExpect::new(
            format!("net.ipv6.conf.{cali}.proxy_ndp"),
            "1",
        ));
    }
    v
}

/// What the pod's own end needs of the pod's kernel: with IPv6, no duplicate address
/// detection on `eth0` (Calico's CNI plugin turns it off on both ends of the veth), so the
/// pod's /128 and link-local addresses are usable as soon as they are made.
pub fn pod_own_sysctls(plan: &Plan) -> Vec<SysctlExpect> {
    if plan.ip_family().has_v6() {
        vec![SysctlExpect::new(
            format!("net.ipv6.conf.{POD_DEV}.accept_dad"),
            "0",
        )]
    } else {
        Vec::new()
    }
}

/// Forwarding on in a node, per family of the run: it routes between its pods and `eth0`
/// (`net.ipv4.ip_forward`, `net.ipv6.conf.all.forwarding`, which the kernel also copies to
/// `default` and so to every host end made later). Off, the kernel drops what it would
/// forward.
pub fn node_sysctls(plan: &Plan) -> Vec<SysctlExpect> {
    SysctlExpect::forwarding(plan.ip_family())
}

/// The node's route that lets proxy ARP answer for the gateway, when it needs one.
///
/// The kernel answers an ARP request by proxy only for a target it has a unicast route to
/// through another device (`arp_process` looks the target up as if forwarding it). A real
/// node has a default route, which covers 169.254.1.1; on an l3 underlay ours do (via the
/// router). On l2 the nodes have no default route, so without this stand-in for it the pod's
/// ARP for its gateway stays INCOMPLETE. IPv4 only: the IPv6 gateway is an address of the
/// host end, answered without a route.
pub fn node_gateway_route(plan: &Plan) -> Option<RouteSpec> {
    (plan.spec.underlay == Underlay::L2 && plan.ip_family().has_v4()).then(|| RouteSpec {
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
    SysctlExpect::write(ctx.host(&node.netns), &node_sysctls(plan))?;
    for pod in plan.pods.iter().filter(|p| p.node == node.index) {
        wire_pod(ctx, pod)?;
    }
    if let Some(r) = node_gateway_route(plan) {
        nl.add_route(&r)?;
    }
    Ok(())
}

/// Wires one pod to its node (at setup, or a pod added to a standing topology): its veth
/// with the host end `caliX` in the node, the pod's addresses and routes, the host end's
/// settings, the node's routes to the pod. Its block is announced already, so no BGP update
/// is needed for it.
///
/// Order matters for IPv6: `accept_dad` is read when an address is made, so both ends' are
/// written before their links come up (the link-local addresses) and before the pod's /128;
/// and an IPv6 route needs its device up (`fib6_nh_init` refuses a down one).
pub fn wire_pod(ctx: &Context<'_>, pod: &PodPlan) -> Result<()> {
    let plan = ctx.plan;
    let host = ctx.host(&plan.node_of(pod).netns);
    let nl = host.nl();
    let cali = cali_name(plan.run_id(), pod);
    let pod_host = ctx.host(&pod.netns);
    nl.create_veth(&cali, POD_DEV, Some(pod_host.as_peer()), plan.spec.mtu)?;
    // Before it is up: the IPv6 link-local address is made from it (the pods' gateway).
    nl.set_mac(&cali, HOST_MAC)?;
    let pnl = pod_host.nl();
    pnl.set_up("lo")?;
    SysctlExpect::write(pod_host, &pod_own_sysctls(plan))?;
    for net in pod_host_nets(plan, pod) {
        pnl.add_address(POD_DEV, net)?;
    }
    pnl.set_up(POD_DEV)?;
    for r in pod_routes_added(plan, pod) {
        pnl.add_route(&r)?;
    }
    // Proxy ARP on the host end without delay; IPv6 without DAD, proxy NDP on.
    SysctlExpect::write(host, &pod_sysctls(plan, pod))?;
    nl.set_up(&cali)?;
    for r in node_pod_routes(plan, pod) {
        nl.add_route(&r)?;
    }
    Ok(())
}

/// Unwires one pod: its host end deleted, which deletes the pair and the node's routes
/// through it.
pub fn unwire_pod(ctx: &Context<'_>, pod: &PodPlan) -> Result<()> {
    let plan = ctx.plan;
    ctx.host(&plan.node_of(pod).netns)
        .nl()
        .delete_link(&cali_name(plan.run_id(), pod))
}
