//! The one thing host-gw programs: on each node, a route to every other node's pod block with
//! that node's underlay IP as the next hop. The kernel accepts a gateway only if it is on a
//! connected subnet of the output device (otherwise `ip route add` fails with ENETUNREACH,
//! "Nexthop has invalid gateway"), which is why host-gw needs every node on one L2 segment.

use harness::netlink::RouteSpec;
use harness::topology::NodePlan;
use harness::underlay;

/// A remote node whose underlay IP is not on this node's underlay subnet: no host-gw route
/// to its pods can exist. Its text is the reason an expected failure shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "host-gw needs every node on one L2 segment: {next_hop} is not on {node}'s subnet {subnet}, \
     so no route to its pods can be installed"
)]
pub struct NotOnLink {
    /// The remote node's underlay IP (the next hop host-gw would need).
    pub next_hop: std::net::Ipv4Addr,
    /// The node that would hold the route (`n0`).
    pub node: String,
    /// That node's underlay subnet.
    pub subnet: ipnet::Ipv4Net,
}

/// The route `node` needs to reach `remote`'s pods (`<block> via <remote IP> dev eth0 proto
/// static`), or why the kernel would refuse it: `remote` is not on `node`'s subnet.
pub fn route_to(node: &NodePlan, remote: &NodePlan) -> Result<RouteSpec, NotOnLink> {
    let own = node
        .underlay_ip
        .expect("validate refuses plans without an underlay");
    let next_hop = remote
        .underlay_ip
        .expect("validate refuses plans without an underlay")
        .addr();
    if !own.trunc().contains(&next_hop) {
        return Err(NotOnLink {
            next_hop,
            node: node.role.clone(),
            subnet: own.trunc(),
        });
    }
    let block = remote
        .pod_block
        .expect("host-gw plans a pod block per node");
    Ok(RouteSpec::via(block, next_hop, underlay::NODE_DEV))
}
