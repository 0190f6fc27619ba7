//! Who peers with whom: the BGP speakers of a plan (every node, and the underlay router on
//! an l3 underlay), their autonomous systems, and the sessions between them for a full mesh
//! or for route reflectors. Pure: the BIRD configurations, the expectations and the checks
//! are all derived from this one place.
//!
//! Autonomous systems follow Calico's "AS per rack" layout for routed fabrics: the nodes of
//! one L2 segment are one AS (64512, Calico's default, plus the segment number) and speak
//! iBGP among themselves, mesh or reflected; on an l3 underlay the router between the
//! segments is the article's border router, in its own AS, and speaks eBGP with every node.
//! eBGP is what makes the router useful: it rewrites the next hop to itself on the way to the
//! other segment (the original next hop is not on that segment, so no route could use it),
//! and the AS path stops a segment's own blocks from coming back to it.
//!
//! Each family of the run has its own session between two peers, between their addresses of
//! that family, carrying that family's routes only (Calico's BIRD and BIRD6 did the same):
//! every next hop is then an address of the session's own family, as the kernel route
//! needs it, with no extended next hop (RFC 8950) or IPv4-mapped next hop to configure.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use harness::topology::{Family, NodePlan, Plan};

use crate::error::BgpError;

/// AS of the nodes of segment 0 (Calico's default AS); segment `s` is this plus `s`.
pub const NODE_AS: u32 = 64512;
/// AS of the underlay router on an l3 underlay (the border router).
pub const ROUTER_AS: u32 = 65000;

/// How the nodes of one segment peer among themselves (`--bgp-topology`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BgpTopology {
    /// Every node with every other node of its segment: k(k−1)/2 sessions, routes learned
    /// straight from their origin.
    #[default]
    Mesh,
    /// Route reflectors: the first node of each segment, and its second when the segment has
    /// four nodes or more (two, so that one can fail); every other node peers only with them.
    Rr,
}

impl BgpTopology {
    /// The CLI name.
    pub fn as_str(self) -> &'static str {
        match self {
            BgpTopology::Mesh => "mesh",
            BgpTopology::Rr => "rr",
        }
    }
}

impl fmt::Display for BgpTopology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BgpTopology {
    type Err = BgpError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "mesh" => Ok(BgpTopology::Mesh),
            "rr" => Ok(BgpTopology::Rr),
            other => Err(BgpError::Topology(other.to_string())),
        }
    }
}

/// A BGP speaker: one BIRD process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Speaker {
    /// Node number `n`.
    Node(u32),
    /// Border router `i` of the l3 underlay (`plan.routers[i]`; one today, two with
    /// `--routers 2`).
    Router(u32),
}

impl Speaker {
    /// Every speaker of the plan: the nodes, then the routers.
    pub fn all(plan: &Plan) -> Vec<Speaker> {
        let mut v: Vec<Speaker> = plan.nodes.iter().map(|n| Speaker::Node(n.index)).collect();
        v.extend(routers(plan));
        v
    }

    /// Whether it is a border router.
    pub fn is_router(self) -> bool {
        matches!(self, Speaker::Router(_))
    }

    /// Short name (`n0`, `router`, `router2` for a second router), used for its directory,
    /// its BGP protocol names and in messages.
    pub fn role(self, plan: &Plan) -> String {
        match self {
            Speaker::Node(n) => plan.nodes[n as usize].role.clone(),
            Speaker::Router(0) => "router".into(),
            Speaker::Router(i) => format!("router{}", i + 1),
        }
    }

    /// The namespace it runs in.
    pub fn netns(self, plan: &Plan) -> String {
        match self {
            Speaker::Node(n) => plan.nodes[n as usize].netns.clone(),
            Speaker::Router(i) => router(plan, i).netns.clone(),
        }
    }

    /// Its BGP router id: the node's IPv4 underlay IP, or the router's first IPv4 address.
    /// A router id is a 32-bit number that need not be an address of the speaker (RFC 6286):
    /// an ipv6 run plans its IPv4 addresses without configuring them, and they stay unique
    /// ids.
    pub fn router_id(self, plan: &Plan) -> Ipv4Addr {
        match self {
            Speaker::Node(n) => node_ip(&plan.nodes[n as usize]),
            Speaker::Router(i) => router(plan, i).segments[0].1.addr(),
        }
    }

    /// Its autonomous system.
    pub fn asn(self, plan: &Plan) -> u32 {
        match self {
            Speaker::Node(n) => NODE_AS + plan.nodes[n as usize].segment as u32,
            Speaker::Router(_) => ROUTER_AS,
        }
    }

    /// The name of its process in the run's supervisor (`bird on n0`).
    pub fn what(self, plan: &Plan) -> String {
        format!("bird on {}", self.role(plan))
    }
}

/// The underlay address of a node (every node of a bgp plan has one: validate refuses
/// plans without an underlay).
pub fn node_ip(node: &NodePlan) -> Ipv4Addr {
    node.underlay_ip
        .expect("bgp plans always have an underlay")
        .addr()
}

fn router(plan: &Plan, i: u32) -> &harness::topology::RouterPlan {
    plan.routers
        .get(i as usize)
        .expect("only l3 plans have router speakers")
}

/// The border routers of the plan as speakers (none on l2).
pub fn routers(plan: &Plan) -> impl Iterator<Item = Speaker> {
    (0..plan.routers.len() as u32).map(Speaker::Router)
}

/// The route reflectors of segment `segment` (node indices), for `Rr`: the first node of the
/// segment, and the second too when the segment has four nodes or more.
pub fn reflectors(plan: &Plan, topology: BgpTopology, segment: usize) -> Vec<u32> {
    if topology != BgpTopology::Rr {
        return Vec::new();
    }
    let members: Vec<u32> = plan
        .nodes
        .iter()
        .filter(|n| n.segment == segment)
        .map(|n| n.index)
        .collect();
    let count = if members.len() >= 4 { 2 } else { 1 };
    members.into_iter().take(count).collect()
}

/// Whether node `n` is a route reflector.
pub fn is_reflector(plan: &Plan, topology: BgpTopology, n: u32) -> bool {
    reflectors(plan, topology, plan.nodes[n as usize].segment).contains(&n)
}

/// Every BGP session of the plan, each pair once (lower speaker first).
pub fn sessions(plan: &Plan, topology: BgpTopology) -> Vec<(Speaker, Speaker)> {
    let mut out = Vec::new();
    let segments = plan.spec.underlay_cidrs.len().max(1);
    for seg in 0..segments {
        let members: Vec<u32> = plan
            .nodes
            .iter()
            .filter(|n| n.segment == seg)
            .map(|n| n.index)
            .collect();
        let rrs = reflectors(plan, topology, seg);
        for (i, &a) in members.iter().enumerate() {
            for &b in &members[i + 1..] {
                let peer = match topology {
                    BgpTopology::Mesh => true,
                    BgpTopology::Rr => rrs.contains(&a) || rrs.contains(&b),
                };
                if peer {
                    out.push((Speaker::Node(a), Speaker::Node(b)));
                }
            }
        }
    }
    // Every node with every border router (eBGP); the routers do not peer with each other:
    // each learns every block from the nodes themselves.
    for r in routers(plan) {
        out.extend(plan.nodes.iter().map(|n| (Speaker::Node(n.index), r)));
    }
    out
}

/// The peers of `speaker`, in session order.
pub fn peers_of(plan: &Plan, topology: BgpTopology, speaker: Speaker) -> Vec<Speaker> {
    sessions(plan, topology)
        .into_iter()
        .filter_map(|(a, b)| {
            if a == speaker {
                Some(b)
            } else if b == speaker {
                Some(a)
            } else {
                None
            }
        })
        .collect()
}

/// The address `speaker` uses towards `peer` in its session of `family` (its own end of the
/// session), and the peer's. Nodes have one address per family; the router uses its address
/// on the peer's segment.
pub fn session_addresses(
    plan: &Plan,
    speaker: Speaker,
    peer: Speaker,
    family: Family,
) -> (IpAddr, IpAddr) {
    let addr = |s: Speaker, other: Speaker| match (s, other) {
        (Speaker::Node(n), _) => node_addr(plan, &plan.nodes[n as usize], family),
        (Speaker::Router(i), Speaker::Node(m)) => {
            router_addr_of(plan, i, plan.nodes[m as usize].segment, family)
        }
        (Speaker::Router(_), Speaker::Router(_)) => {
            unreachable!("border routers do not peer with each other")
        }
    };
    (addr(speaker, peer), addr(peer, speaker))
}

/// A node's underlay address of `family` (every node of a bgp plan has one per family of
/// the run: validate refuses plans without an underlay).
pub fn node_addr(plan: &Plan, node: &NodePlan, family: Family) -> IpAddr {
    plan.node_ip(node, family)
        .unwrap_or_else(|| panic!("bgp plans give every node an underlay {family} address"))
}

/// Router `i`'s address of `family` on segment `segment`.
pub fn router_addr_of(plan: &Plan, i: u32, segment: usize, family: Family) -> IpAddr {
    let rt = router(plan, i);
    match family {
        Family::V4 => rt.segments[segment].1.addr().into(),
        Family::V6 => rt.segments6[segment].addr().into(),
    }
}

/// The name of the BGP protocol a speaker runs for its session of `family` with `peer`:
/// `peer_n1` (IPv4, as before IPv6 existed), `peer6_n1` (IPv6).
pub fn protocol_name(plan: &Plan, peer: Speaker, family: Family) -> String {
    match family {
        Family::V4 => format!("peer_{}", peer.role(plan)),
        Family::V6 => format!("peer6_{}", peer.role(plan)),
    }
}

/// The BGP protocols `speaker` runs: one per peer and family of the run, in session order.
pub fn protocols_of(
    plan: &Plan,
    topology: BgpTopology,
    speaker: Speaker,
) -> Vec<(Speaker, Family)> {
    peers_of(plan, topology, speaker)
        .into_iter()
        .flat_map(|p| plan.families().into_iter().map(move |f| (p, f)))
        .collect()
}

/// Every BGP session of the plan, counting one per family of the run between two peers.
pub fn session_count(plan: &Plan, topology: BgpTopology) -> usize {
    sessions(plan, topology).len() * plan.families().len()
}
