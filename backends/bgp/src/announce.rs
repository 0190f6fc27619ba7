//! What each node's BIRD announces (`--bgp-announce`): its pod block, as the article's
//! Calico does for the addresses of its own blocks, or one /32 per local pod, as Calico does
//! for addresses borrowed from another node's block (its BIRD learns the workload routes
//! from the kernel and exports them); per family of the run (a /32 or a /128 per pod). The
//! configuration, the expectations, convergence and the withdrawal check all take the
//! announced prefixes from here.

use std::fmt;
use std::str::FromStr;

use harness::topology::{Family, NodePlan, Plan};
use ipnet::IpNet;

use crate::error::BgpError;
use crate::pods::pod_host_net;

/// What a node announces to its peers (`--bgp-announce`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Announce {
    /// The node's pod block (`10.20.N.0/24`), from a static blackhole route: one route per
    /// node, whatever its pods do.
    #[default]
    Block,
    /// One /32 per local pod, learned from the node's kernel as the pod's route appears and
    /// withdrawn as it goes; the block stays a blackhole in the node's kernel only.
    Pod,
}

impl Announce {
    /// The CLI name.
    pub fn as_str(self) -> &'static str {
        match self {
            Announce::Block => "block",
            Announce::Pod => "pod",
        }
    }
}

impl fmt::Display for Announce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Announce {
    type Err = BgpError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "block" => Ok(Announce::Block),
            "pod" => Ok(Announce::Pod),
            other => Err(BgpError::Announce(other.to_string())),
        }
    }
}

/// The prefixes `node` announces as `plan` stands, per family of the run (IPv4 first): its
/// block, or its pods' host prefixes (none for a node without pods).
pub fn announced(plan: &Plan, announce: Announce, node: &NodePlan) -> Vec<IpNet> {
    plan.families()
        .into_iter()
        .flat_map(|f| announced_of(plan, announce, node, f))
        .collect()
}

/// The prefixes of `family` that `node` announces: its block of the family (`10.20.N.0/24`,
/// `fd00:10:20:N::/64`), or its pods' /32s or /128s.
pub fn announced_of(
    plan: &Plan,
    announce: Announce,
    node: &NodePlan,
    family: Family,
) -> Vec<IpNet> {
    match announce {
        Announce::Block => match family {
            Family::V4 => vec![node
                .pod_block
                .expect("bgp plans have a block per node")
                .into()],
            Family::V6 => node.pod_block6.map(IpNet::from).into_iter().collect(),
        },
        Announce::Pod => plan
            .pods
            .iter()
            .filter(|p| p.node == node.index)
            .filter_map(|p| pod_host_net(plan, p, family))
            .collect(),
    }
}
