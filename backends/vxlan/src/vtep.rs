//! The VTEP: flannel's `flannel.1` kernel VXLAN device on each node, and the control-plane
//! entries (route, neighbour, FDB) that flanneld programs on every node for every other node.
//! cnbench plays flanneld: it knows every node's VTEP MAC and underlay IP from the plan, so
//! the device runs with learning off and nothing is ever flooded.

use std::net::Ipv4Addr;

use harness::netlink::{RouteSpec, VxlanSpec};
use harness::topology::{NodePlan, Plan};
use harness::{underlay, Context, Result};
use ipnet::Ipv4Net;

/// The VXLAN device, as flannel names it (`flannel.<VNI>`).
pub const VTEP_DEV: &str = "flannel.1";
/// flannel's VXLAN network identifier.
pub const VNI: u32 = 1;
/// flannel's VXLAN UDP port: the Linux kernel's historical default, not IANA's 4789.
pub const VXLAN_PORT: u16 = 8472;
/// Bytes VXLAN adds to every packet on the underlay: outer IPv4 (20) + UDP (8) + VXLAN (8)
/// + the inner Ethernet header (14).
pub const OVERHEAD: u32 = 50;

/// The fixed MAC of `node`'s `flannel.1`. flanneld publishes each VTEP's MAC so the others can
/// program it; a fixed, per-node MAC lets cnbench know it before the device exists. Locally
/// administered, distinct from the bridges' MACs of the run (second byte 0xf1, "flannel.1").
pub fn vtep_mac(plan: &Plan, node: &NodePlan) -> [u8; 6] {
    let mut mac = plan.bridge_mac(node.index as u8);
    mac[1] = 0xf1;
    mac
}

/// The VTEP's overlay address: flannel gives `flannel.1` the `.0` of the node's block, as a
/// /32 (so the kernel adds no subnet route for it, only a local one).
pub fn vtep_ip(node: &NodePlan) -> Ipv4Addr {
    node.pod_block
        .expect("vxlan plans a pod block per node")
        .network()
}

/// The route to `remote`'s pod block: through its VTEP address on `flannel.1`, `onlink`
/// because that address is on no subnet of the device (the kernel would refuse the gateway
/// with ENETUNREACH otherwise). The kernel resolves the gateway through the permanent
/// neighbour entry, then the FDB gives the underlay IP to send the VXLAN packet to.
pub fn route_to(remote: &NodePlan) -> RouteSpec {
    let block = remote.pod_block.expect("vxlan plans a pod block per node");
    RouteSpec {
        onlink: true,
        ..RouteSpec::via(block, vtep_ip(remote), VTEP_DEV)
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

/// Creates `flannel.1` in `node`: VNI 1, UDP 8472, local = the node's underlay IP, bound to
/// `eth0`, learning off, `mtu` bytes, MAC `mac`; gives it `.0/32` of the node's block and
/// brings it up.
pub fn create(ctx: &Context<'_>, node: &NodePlan, mtu: u32, mac: [u8; 6]) -> Result<()> {
    let nl = ctx.host(&node.netns).nl();
    let local = node
        .underlay_ip
        .expect("validate refuses plans without an underlay")
        .addr();
    nl.create_vxlan(&VxlanSpec {
        name: VTEP_DEV.into(),
        vni: VNI,
        local,
        underlay_dev: underlay::NODE_DEV.into(),
        port: VXLAN_PORT,
        mtu,
        mac,
    })?;
    let addr = Ipv4Net::new(vtep_ip(node), 32).expect("/32 is a valid prefix");
    nl.add_address(VTEP_DEV, addr)?;
    nl.set_up(VTEP_DEV)
}

/// Programs, in `node`, what flanneld programs when it learns of `remote`, from `remote`'s
/// VTEP as it is now (its MAC, as flanneld reads it from the remote's lease): the FDB entry
/// (remote VTEP MAC -> remote underlay IP), the permanent neighbour entry (remote VTEP IP ->
/// remote VTEP MAC) and the onlink route to the remote block. Idempotent: an FDB entry for
/// the remote's underlay IP under another MAC (its VTEP before a restart) is deleted, the
/// neighbour entry and the route are replaced.
pub fn program_peer(ctx: &Context<'_>, node: &NodePlan, remote: &NodePlan) -> Result<()> {
    let nl = ctx.host(&node.netns).nl();
    let mac = ctx
        .host(&remote.netns)
        .nl()
        .link(VTEP_DEV)?
        .mac
        .unwrap_or_else(|| vtep_mac(ctx.plan, remote));
    let remote_ip = remote
        .underlay_ip
        .expect("validate refuses plans without an underlay")
        .addr();
    let dev = nl.link_index(VTEP_DEV)?;
    let mut present = false;
    for e in nl
        .fdb()?
        .into_iter()
        .filter(|e| e.port == dev && e.dst == Some(remote_ip.into()))
    {
        if e.mac == mac {
            present = true;
        } else {
            nl.delete_fdb(VTEP_DEV, e.mac, remote_ip)?;
        }
    }
    if !present {
        nl.append_fdb(VTEP_DEV, mac, remote_ip)?;
    }
    nl.add_neighbour(VTEP_DEV, vtep_ip(remote), mac)?;
    nl.replace_route(&route_to(remote))
}
