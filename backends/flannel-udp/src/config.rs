//! What a node's daemon is told: its own address, the pod network, and which node owns each
//! remote pod block (flanneld learns the same table from etcd or the Kubernetes API; cnbench
//! plays that control plane and hands it over as JSON on the command line).

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::error::DaemonError;
use crate::mode::DatapathMode;
use crate::{OVERHEAD, TUN_DEV, UDP_PORT};
use harness::topology::{NodePlan, Plan};

/// One remote node: the pod block it owns and where its daemon listens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Peer {
    /// The remote node's pod block (`100.96.1.0/24`).
    pub block: Ipv4Net,
    /// The remote node's underlay IP.
    pub node_ip: Ipv4Addr,
}

/// The daemon's whole configuration (`cnbench daemon flannel-udp '<json>'`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// The node's role (`n0`), for messages.
    pub node: String,
    /// The node's underlay IP: the UDP socket binds here.
    pub node_ip: Ipv4Addr,
    /// UDP port of every daemon (8285).
    pub port: u16,
    /// The whole pod network (`100.96.0.0/16`), routed to the TUN.
    pub pod_network: Ipv4Net,
    /// Remote pod blocks and the nodes that own them.
    pub peers: Vec<Peer>,
    /// Name of the TUN device (`flannel0`).
    pub tun: String,
    /// MTU of the TUN device: underlay MTU minus 28.
    pub mtu: u32,
    /// How packets are moved.
    pub datapath: DatapathMode,
    /// CPU to pin the daemon (and its threads) to; none lets the scheduler choose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<usize>,
}

impl DaemonConfig {
    /// The configuration of `node`'s daemon in `plan`.
    pub fn for_node(plan: &Plan, node: &NodePlan, datapath: DatapathMode) -> DaemonConfig {
        DaemonConfig {
            node: node.role.clone(),
            node_ip: node
                .underlay_ip
                .expect("validate refuses plans without an underlay")
                .addr(),
            port: UDP_PORT,
            pod_network: plan.spec.pod_cidr,
            peers: plan
                .nodes
                .iter()
                .filter(|r| r.index != node.index)
                .map(|r| Peer {
                    block: r.pod_block.expect("per-node blocks"),
                    node_ip: r.underlay_ip.expect("underlay").addr(),
                })
                .collect(),
            tun: TUN_DEV.into(),
            mtu: plan.spec.mtu - OVERHEAD,
            datapath,
            cpu: None,
        }
    }

    /// Parses and checks a configuration.
    pub fn parse(json: &str) -> Result<DaemonConfig, DaemonError> {
        let c: DaemonConfig = serde_json::from_str(json).map_err(|e| DaemonError::Config {
            why: format!("not a flannel-udp daemon configuration: {e}"),
        })?;
        c.validate()?;
        Ok(c)
    }

    /// Rejects what the datapath cannot do.
    pub fn validate(&self) -> Result<(), DaemonError> {
        let bad = |why: String| Err(DaemonError::Config { why });
        if self.tun.is_empty() || self.tun.len() > 15 || self.tun.contains(['/', ' ']) {
            return bad(format!(
                "TUN name {:?}: use 1 to 15 bytes without '/' or spaces (IFNAMSIZ)",
                self.tun
            ));
        }
        // A whole IP packet must fit one UDP datagram: 65535 - 20 (IP) - 8 (UDP).
        if !(68..=65507).contains(&self.mtu) {
            return bad(format!(
                "TUN MTU {}: use 68 (the IPv4 minimum) to 65507 (the largest UDP payload)",
                self.mtu
            ));
        }
        if self.port == 0 {
            return bad("UDP port 0: use flannel's 8285".into());
        }
        let prefix = self.peers.first().map(|p| p.block.prefix_len());
        for (i, p) in self.peers.iter().enumerate() {
            if !self.pod_network.contains(&p.block) {
                return bad(format!(
                    "peer block {} is outside the pod network {}",
                    p.block, self.pod_network
                ));
            }
            if Some(p.block.prefix_len()) != prefix {
                return bad(format!(
                    "peer block {} is a /{}, the others are /{}: every node's block has one size",
                    p.block,
                    p.block.prefix_len(),
                    prefix.unwrap_or(0)
                ));
            }
            if p.block.addr() != p.block.network() {
                return bad(format!("peer block {} has host bits set", p.block));
            }
            if self.peers[..i].iter().any(|q| q.block == p.block) {
                return bad(format!("peer block {} is listed twice", p.block));
            }
        }
        Ok(())
    }

    /// The configuration as the JSON argument of `cnbench daemon flannel-udp`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a daemon configuration serializes")
    }
}
