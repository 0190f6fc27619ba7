//! The one thing host-gw programs: on each node, a route to every other node's pod block with
//! that node's underlay IP as the next hop, once per address family of the run. The kernel
//! accepts a gateway only if it is on a connected subnet of the output device: IPv4 refuses
//! one that is not with ENETUNREACH ("Nexthop has invalid gateway", `fib_check_nh`), IPv6
//! with EHOSTUNREACH (`ip6_validate_gw`: the gateway would itself be reached through a
//! gateway). That is why host-gw needs every node on one L2 segment, in both families.
//!
//! For IPv6 the next hop is the remote node's global underlay address, as flannel's host-gw
//! uses the node's public IPv6 address: a link-local next hop (RFC 4291 §2.5.6) would be
//! just as valid to the kernel but is not what flannel programs.

use std::net::IpAddr;

use harness::netlink::RouteSpec;
use harness::topology::{Family, NodePlan};
use harness::underlay;
use ipnet::IpNet;

/// A remote node whose underlay IP is not on this node's underlay subnet: no host-gw route
/// to its pods can exist. Its text is the reason an expected failure shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "host-gw needs every node on one L2 segment: {next_hop} is not on {node}'s subnet {subnet}, \
     so no route to its pods can be installed"
)]
pub struct NotOnLink {
    /// The remote node's underlay IP of the family (the next hop host-gw would need).
    pub next_hop: IpAddr,
    /// The node that would hold the route (`n0`).
    pub node: String,
    /// That node's underlay subnet of the same family.
    pub subnet: IpNet,
}

/// The route `node` needs to reach `remote`'s pods of `family` (`<block> via <remote IP>
/// dev eth0 proto static`), or why the kernel would refuse it: `remote` is not on `node`'s
/// subnet of that family.
///
/// `family` must be one the plan has (`Plan::families`): an ipv6 run plans IPv4 fields it
/// never configures, so asking for IPv4 there would name addresses no node holds.
pub fn route_to(
    node: &NodePlan,
    remote: &NodePlan,
    family: Family,
) -> Result<RouteSpec, NotOnLink> {
    let own = underlay_net(node, family);
    let next_hop = underlay_net(remote, family).addr();
    if !own.trunc().contains(&next_hop) {
        return Err(NotOnLink {
            next_hop,
            node: node.role.clone(),
            subnet: own.trunc(),
        });
    }
    Ok(RouteSpec::via(
        pod_block(remote, family),
        next_hop,
        underlay::NODE_DEV,
    ))
}

/// `node`'s underlay address of `family`, with its prefix.
fn underlay_net(node: &NodePlan, family: Family) -> IpNet {
    match family {
        Family::V4 => node.underlay_ip.map(IpNet::from),
        Family::V6 => node.underlay_ip6.map(IpNet::from),
    }
    .expect("validate refuses plans without an underlay, and the plan has the family")
}

/// `node`'s pod block of `family`.
fn pod_block(node: &NodePlan, family: Family) -> IpNet {
    match family {
        Family::V4 => node.pod_block.map(IpNet::from),
        Family::V6 => node.pod_block6.map(IpNet::from),
    }
    .expect("host-gw plans a pod block per node in each family of the run")
}
