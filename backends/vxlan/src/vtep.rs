//! The VTEPs: flannel's kernel VXLAN devices on each node, one per IP family of the network
//! (`flannel.1` over the IPv4 underlay, `flannel-v6.1` over the IPv6 one), and the
//! control-plane entries (route, neighbour, FDB) that flanneld programs on every node for
//! every other node, per family. cnbench plays flanneld: it knows every node's VTEP MACs and
//! underlay IPs from the plan, so the devices run with learning off and nothing is ever
//! flooded.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use harness::netlink::{RouteSpec, VxlanSpec};
use harness::topology::{Family, NodePlan, Plan};
use harness::{underlay, Context, Result};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// The IPv4 VXLAN device, as flannel names it (`flannel.<VNI>`).
pub const VTEP_DEV: &str = "flannel.1";
/// The IPv6 VXLAN device, as flannel names it (`flannel-v6.<VNI>`): a second device because a
/// kernel VXLAN device sends over one family only, the family of its local address.
pub const VTEP_DEV6: &str = "flannel-v6.1";
/// flannel's VXLAN network identifier (both devices: the kernel tells them apart by family).
pub const VNI: u32 = 1;
/// flannel's VXLAN UDP port: the Linux kernel's historical default, not IANA's 4789.
pub const VXLAN_PORT: u16 = 8472;
/// Bytes VXLAN adds to every packet on an IPv4 underlay: outer IPv4 (20) + UDP (8) + VXLAN
/// (8) + the inner Ethernet header (14).
pub const OVERHEAD: u32 = 50;
/// Bytes VXLAN adds on an IPv6 underlay: the outer IPv6 header is 40 bytes (RFC 8200 §3),
/// 20 more than IPv4's; the kernel's `VXLAN6_HEADROOM`.
pub const OVERHEAD6: u32 = 70;

/// The VXLAN device of `family`.
pub fn vtep_dev(family: Family) -> &'static str {
    match family {
        Family::V4 => VTEP_DEV,
        Family::V6 => VTEP_DEV6,
    }
}

/// What VXLAN over an underlay of `family` adds to a packet.
pub fn overhead(family: Family) -> u32 {
    match family {
        Family::V4 => OVERHEAD,
        Family::V6 => OVERHEAD6,
    }
}

/// What the run's pods lose to the wrapping: one MTU serves every family of a pod, so the
/// larger overhead of the run's families (70 when it has IPv6), as flannel gives its pods
/// the smaller of its VTEPs' MTUs.
pub fn pod_overhead(plan: &Plan) -> u32 {
    plan.families()
        .into_iter()
        .map(overhead)
        .max()
        .unwrap_or(OVERHEAD)
}

/// The MTU of the pods' links and of cni0.
pub fn pod_mtu(plan: &Plan) -> u32 {
    plan.spec.mtu - pod_overhead(plan)
}

/// The MTU of the VTEP of `family`: the underlay's less that family's wrapping, what the
/// kernel gives a VXLAN device bound to `eth0` when none is asked for (`vxlan_config_apply`).
pub fn vtep_mtu(plan: &Plan, family: Family) -> u32 {
    plan.spec.mtu - overhead(family)
}

/// The fixed MAC of `node`'s `flannel.1`. flanneld publishes each VTEP's MAC so the others can
/// program it; a fixed, per-node MAC lets cnbench know it before the device exists. Locally
/// administered, distinct from the bridges' MACs of the run (second byte 0xf1, "flannel.1").
pub fn vtep_mac(plan: &Plan, node: &NodePlan) -> [u8; 6] {
    let mut mac = plan.bridge_mac(node.index as u8);
    mac[1] = 0xf1;
    mac
}

/// The fixed MAC of `node`'s `flannel-v6.1`: a device of its own has a MAC of its own
/// (flanneld publishes it beside the IPv4 one); second byte 0xf6.
pub fn vtep_mac6(plan: &Plan, node: &NodePlan) -> [u8; 6] {
    let mut mac = plan.bridge_mac(node.index as u8);
    mac[1] = 0xf6;
    mac
}

/// The fixed MAC of `node`'s VTEP of `family`.
pub fn vtep_mac_of(plan: &Plan, node: &NodePlan, family: Family) -> [u8; 6] {
    match family {
        Family::V4 => vtep_mac(plan, node),
        Family::V6 => vtep_mac6(plan, node),
    }
}

/// The VTEP's overlay address: flannel gives `flannel.1` the `.0` of the node's block, as a
/// /32 (so the kernel adds no subnet route for it, only a local one).
pub fn vtep_ip(node: &NodePlan) -> Ipv4Addr {
    node.pod_block
        .expect("vxlan plans a pod block per node")
        .network()
}

/// The IPv6 VTEP's overlay address: the first address of the node's IPv6 block (its network
/// address, `fd00:100:96:N::`), as a /128, as flannel gives `flannel-v6.1` its lease's
/// first address.
pub fn vtep_ip6(node: &NodePlan) -> Ipv6Addr {
    node.pod_block6
        .expect("vxlan plans an IPv6 pod block per node on ipv6 and dual")
        .network()
}

/// The VTEP address of `family`.
pub fn vtep_addr(node: &NodePlan, family: Family) -> IpAddr {
    match family {
        Family::V4 => vtep_ip(node).into(),
        Family::V6 => vtep_ip6(node).into(),
    }
}

/// The VTEP address with its host prefix (/32, /128), as the device holds it.
fn vtep_net(node: &NodePlan, family: Family) -> IpNet {
    match family {
        Family::V4 => Ipv4Net::new(vtep_ip(node), 32).expect("/32").into(),
        Family::V6 => Ipv6Net::new(vtep_ip6(node), 128).expect("/128").into(),
    }
}

/// The route the kernel adds to the main table for the IPv6 VTEP's /128: IPv6 adds a prefix
/// route for every address, a /128 too (`inet6_addr_add` -> `addrconf_prefix_route`), where
/// IPv4 adds only a local-table route for a /32.
pub fn vtep_host_route6(node: &NodePlan) -> RouteSpec {
    RouteSpec::connected(vtep_net(node, Family::V6), VTEP_DEV6)
}

/// `node`'s underlay address of `family` (the VTEP's local address, a peer's FDB `dst`).
pub fn underlay_ip(plan: &Plan, node: &NodePlan, family: Family) -> IpAddr {
    plan.node_ip(node, family)
        .expect("validate refuses plans without an underlay")
}

/// The route to `remote`'s pod block of `family`: through its VTEP address on the VTEP of
/// that family, `onlink` because that address is on no subnet of the device (the kernel
/// would refuse the gateway otherwise: ENETUNREACH for IPv4; EHOSTUNREACH for IPv6, whose
/// `ip6_validate_gw` wants a route through the device to a gateway that is not link-local,
/// and there is none). The kernel resolves the gateway through the permanent neighbour entry,
/// then the FDB gives the underlay IP to send the VXLAN packet to.
pub fn route_to(remote: &NodePlan, family: Family) -> RouteSpec {
    let block: IpNet = match family {
        Family::V4 => remote.pod_block.expect("a pod block per node").into(),
        Family::V6 => remote
            .pod_block6
            .expect("an IPv6 pod block per node")
            .into(),
    };
    RouteSpec {
        onlink: true,
        ..RouteSpec::via(block, vtep_addr(remote, family), vtep_dev(family))
    }
}

/// A fresh MAC for a VTEP created again (a vtep-change or a node restart): locally
/// administered, unicast, distinct from the run's fixed ones (second byte 0xf2), the rest
/// random, as a device the kernel creates without an address gets a random one.
pub fn fresh_vtep_mac(plan: &Plan) -> [u8; 6] {
    let mut mac = plan.bridge_mac(0);
    mac[1] = 0xf2;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32).rotate_left(13))
        .unwrap_or(0)
        ^ std::process::id().rotate_left(7);
    mac[2..].copy_from_slice(&nanos.to_be_bytes());
    mac
}

/// Creates `node`'s VTEP of `family`: VNI 1, UDP 8472, local = the node's underlay IP of
/// that family, bound to `eth0`, learning off, the family's MTU, MAC `mac`; gives it the
/// first address of the node's block of that family as a host address and brings it up.
pub fn create(ctx: &Context<'_>, node: &NodePlan, family: Family, mac: [u8; 6]) -> Result<()> {
    let nl = ctx.host(&node.netns).nl();
    let dev = vtep_dev(family);
    nl.create_vxlan(&VxlanSpec {
        name: dev.into(),
        vni: VNI,
        local: underlay_ip(ctx.plan, node, family),
        underlay_dev: underlay::NODE_DEV.into(),
        port: VXLAN_PORT,
        mtu: vtep_mtu(ctx.plan, family),
        mac,
    })?;
    nl.add_address(dev, vtep_net(node, family))?;
    nl.set_up(dev)
}

/// Programs, in `node`, what flanneld programs when it learns of `remote`, for every family
/// of the run, from `remote`'s VTEP as it is now (its MAC, as flanneld reads it from the
/// remote's lease): the FDB entry (remote VTEP MAC -> remote underlay IP), the permanent
/// neighbour entry (remote VTEP IP -> remote VTEP MAC) and the onlink route to the remote
/// block. Idempotent: an FDB entry for the remote's underlay IP under another MAC (its VTEP
/// before a restart) is deleted, the neighbour entry and the route are replaced.
pub fn program_peer(ctx: &Context<'_>, node: &NodePlan, remote: &NodePlan) -> Result<()> {
    for family in ctx.plan.families() {
        program_peer_family(ctx, node, remote, family)?;
    }
    Ok(())
}

fn program_peer_family(
    ctx: &Context<'_>,
    node: &NodePlan,
    remote: &NodePlan,
    family: Family,
) -> Result<()> {
    let nl = ctx.host(&node.netns).nl();
    let dev = vtep_dev(family);
    let mac = ctx
        .host(&remote.netns)
        .nl()
        .link(dev)?
        .mac
        .unwrap_or_else(|| vtep_mac_of(ctx.plan, remote, family));
    let remote_ip = underlay_ip(ctx.plan, remote, family);
    let index = nl.link_index(dev)?;
    let mut present = false;
    for e in nl
        .fdb()?
        .into_iter()
        .filter(|e| e.port == index && e.dst == Some(remote_ip))
    {
        if e.mac == mac {
            present = true;
        } else {
            nl.delete_fdb(dev, e.mac, remote_ip)?;
        }
    }
    if !present {
        nl.append_fdb(dev, mac, remote_ip)?;
    }
    nl.add_neighbour(dev, vtep_addr(remote, family), mac)?;
    nl.replace_route(&route_to(remote, family))
}
