//! What each node's BIRD announces (`--bgp-announce`): its pod block, as the article's
//! Calico does for the addresses of its own blocks, or one /32 per local pod, as Calico does
//! for addresses borrowed from another node's block (its BIRD learns the workload routes
//! from the kernel and exports them). The configuration, the expectations, convergence and
//! the withdrawal check all take the announced prefixes from here.

use std::fmt;
use std::str::FromStr;

use harness::topology::{NodePlan, Plan};
use ipnet::Ipv4Net;

use crate::error::BgpError;
use crate::pods::pod_ip;

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

/// The prefixes `node` announces as `plan` stands: its block, or its pods' /32s (none for a
/// node without pods).
pub fn announced(plan: &Plan, announce: Announce, node: &NodePlan) -> Vec<Ipv4Net> {
    match announce {
        Announce::Block => vec![node.pod_block.expect("bgp plans have a block per node")],
        Announce::Pod => plan
            .pods
            .iter()
            .filter(|p| p.node == node.index)
            .map(pod_ip)
            .collect(),
    }
}
