//! What a node's userspace daemon is told: its own underlay address, the pod network, which
//! node owns each remote pod block (flanneld learns the same table from etcd or the
//! Kubernetes API; cnbench plays that control plane), its TUN and the CPU to run on. Built
//! from the plan on the harness side and passed as JSON on the daemon's command line, so a
//! restarted daemon gets the same one.

use std::net::Ipv4Addr;

use harness::backend::Expectations;
use harness::netlink::{RouteProto, RouteScope, RouteSpec};
use harness::podnet;
use harness::topology::{NodePlan, Plan};
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::error::DaemonError;

/// One remote node: the pod block it owns and its underlay address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Peer {
    /// The remote node's pod block (`100.96.1.0/24`).
    pub block: Ipv4Net,
    /// The remote node's underlay IP.
    pub node_ip: Ipv4Addr,
}

/// The part of a userspace daemon's configuration every such daemon has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TunnelConfig {
    /// The node's role (`n0`), for messages.
    pub node: String,
    /// The node's underlay IP: the daemon's socket is bound to it.
    pub node_ip: Ipv4Addr,
    /// The whole pod network (`100.96.0.0/16`), routed into the TUN.
    pub pod_network: Ipv4Net,
    /// Every other node.
    pub peers: Vec<Peer>,
    /// Name of the TUN device (`flannel0`, `tunl0`).
    pub tun: String,
    /// MTU of the TUN device in bytes: the underlay's minus the encapsulation's overhead.
    pub mtu: u32,
    /// CPU to pin the daemon (and its threads) to; none lets the scheduler choose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<usize>,
    /// Whether the TUN is opened with virtio-net headers and TSO/USO offloads (the `offload`
    /// datapath: 64 KB super-packets in, coalesced ones out; see [`crate::offload`]). Absent
    /// means off, so configurations written before it still parse.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub offload: bool,
}

impl TunnelConfig {
    /// The configuration of `node`'s daemon in `plan`, with a TUN `tun` whose MTU is the
    /// underlay's minus `overhead_bytes`.
    pub fn for_node(plan: &Plan, node: &NodePlan, tun: &str, overhead_bytes: u32) -> Self {
        TunnelConfig {
            node: node.role.clone(),
            node_ip: node
                .underlay_ip
                .expect("the backend refuses plans without an underlay")
                .addr(),
            pod_network: plan.spec.pod_cidr,
            peers: plan
                .nodes
                .iter()
                .filter(|r| r.index != node.index)
                .map(|r| Peer {
                    block: r.pod_block.expect("per-node blocks are planned"),
                    node_ip: r
                        .underlay_ip
                        .expect("the backend refuses plans without an underlay")
                        .addr(),
                })
                .collect(),
            tun: tun.into(),
            mtu: plan.spec.mtu - overhead_bytes,
            cpu: None,
            offload: false,
        }
    }

    /// Rejects what no userspace datapath can do: a TUN name the kernel refuses, an MTU
    /// outside 68 (IPv4's minimum) to `max_mtu` (what one datagram of the daemon's socket
    /// carries), pod blocks outside the pod network, of different sizes (the lookup masks
    /// with one prefix), with host bits, or listed twice.
    pub fn validate(&self, daemon: &'static str, max_mtu: u32) -> Result<(), DaemonError> {
        let bad = |why: String| Err(DaemonError::Config { daemon, why });
        if self.tun.is_empty() || self.tun.len() > 15 || self.tun.contains(['/', ' ']) {
            return bad(format!(
                "TUN name {:?}: use 1 to 15 bytes without '/' or spaces (IFNAMSIZ)",
                self.tun
            ));
        }
        if !(68..=max_mtu).contains(&self.mtu) {
            return bad(format!(
                "TUN MTU {}: use 68 (the IPv4 minimum) to {max_mtu} (the largest packet one \
                 datagram carries)",
                self.mtu
            ));
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

    /// The one route the daemon adds in its node ([`tunnel_route`]).
    pub fn route(&self) -> RouteSpec {
        tunnel_route(self.pod_network, &self.tun)
    }
}

/// The route a userspace daemon installs: the whole pod network into its TUN, as flannel's
/// `100.96.0.0/16 dev flannel0`. The node's own block stays on `cni0`, which is more
/// specific, so only remote pods take it. Declared and added from this one function, so the
/// declaration is exactly what the kernel shows: `proto static` (cnbench's control plane),
/// `scope link` and no `src` (no gateway, and no address on the TUN to pick one from: the
/// daemon picks the remote node itself).
pub fn tunnel_route(pod_network: Ipv4Net, dev: &str) -> RouteSpec {
    RouteSpec {
        dst: pod_network.trunc().into(),
        via: None,
        dev: dev.into(),
        proto: RouteProto::Static,
        scope: RouteScope::Link,
        src: None,
        onlink: false,
    }
}

/// Declares what every userspace daemon makes on each node of `plan`: its TUN `tun` (the
/// kernel reports a TUN's kind as `tun`) at `mtu` beside the pod bridge, and the route of
/// the whole pod network into it ([`tunnel_route`]).
pub fn declare_tunnels(e: &mut Expectations, plan: &Plan, tun: &str, mtu: u32) {
    podnet::add_node_device(e, plan, tun, "tun", mtu);
    for node in &plan.nodes {
        e.add_routes(&node.netns, [tunnel_route(plan.spec.pod_cidr, tun)]);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn config() -> TunnelConfig {
        TunnelConfig {
            node: "n0".into(),
            node_ip: "10.168.0.1".parse().unwrap(),
            pod_network: "100.96.0.0/16".parse().unwrap(),
            peers: vec![
                Peer {
                    block: "100.96.1.0/24".parse().unwrap(),
                    node_ip: "10.168.0.2".parse().unwrap(),
                },
                Peer {
                    block: "100.96.2.0/24".parse().unwrap(),
                    node_ip: "10.168.0.3".parse().unwrap(),
                },
            ],
            tun: "flannel0".into(),
            mtu: 1472,
            cpu: None,
            offload: false,
        }
    }

    #[test]
    fn refuses_what_no_datapath_can_do() {
        assert!(config().validate("test", 65507).is_ok());
        let why = |c: TunnelConfig| c.validate("test", 65507).unwrap_err().to_string();
        let mut c = config();
        c.tun = "a-name-far-too-long".into();
        assert!(why(c).contains("IFNAMSIZ"));
        let mut c = config();
        c.mtu = 70000;
        assert!(why(c).contains("65507"));
        let mut c = config();
        c.peers[1].block = "100.96.2.0/25".parse().unwrap();
        assert!(why(c).contains("one size"));
        let mut c = config();
        c.peers[1].block = "10.0.0.0/24".parse().unwrap();
        assert!(why(c).contains("outside the pod network"));
        let mut c = config();
        c.peers[1].block = c.peers[0].block;
        assert!(why(c).contains("listed twice"));
        let mut c = config();
        c.peers[1].block = "100.96.2.7/24".parse().unwrap();
        assert!(why(c).contains("host bits"));
        // The JSON a daemon gets on its command line, and back.
        let json = serde_json::to_string(&config()).unwrap();
        assert_eq!(
            serde_json::from_str::<TunnelConfig>(&json).unwrap(),
            config()
        );
        assert_eq!(
            config().route().to_string(),
            "100.96.0.0/16 dev flannel0 proto static scope link"
        );
    }
}
