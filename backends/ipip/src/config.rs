//! What a node's userspace ipip daemon is told: its own underlay IP, its tunnel device, and
//! which node IP owns each remote pod block. Built from the plan by the harness side and
//! passed as JSON on the daemon's command line, so a restarted daemon gets the same one.

use std::net::Ipv4Addr;

use harness::netlink::{RouteProto, RouteScope, RouteSpec};
use harness::topology::{NodePlan, Plan};
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::{OVERHEAD, TUNNEL_DEV};

/// A remote node as the daemon needs it: the pod block behind it and where to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    /// The remote node's pod block (`100.96.1.0/24`).
    pub block: Ipv4Net,
    /// The remote node's underlay IP (outer destination).
    pub node_ip: Ipv4Addr,
}

/// The daemon's whole configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonConfig {
    /// The node's role (`n0`), for messages.
    pub node: String,
    /// The node's underlay IP: the raw socket is bound to it, so it is the outer source and
    /// only packets addressed to it are received.
    pub local: Ipv4Addr,
    /// The TUN device to create (`tunl0`).
    pub dev: String,
    /// The TUN's MTU in bytes (underlay − 20).
    pub mtu: u32,
    /// The whole pod network, routed into the TUN (`100.96.0.0/16`).
    pub pod_cidr: Ipv4Net,
    /// Every other node.
    pub peers: Vec<Peer>,
}

impl DaemonConfig {
    /// The configuration of `node`'s daemon in `plan`.
    pub fn for_node(plan: &Plan, node: &NodePlan) -> DaemonConfig {
        DaemonConfig {
            node: node.role.clone(),
            local: node
                .underlay_ip
                .expect("validate requires an underlay")
                .addr(),
            dev: TUNNEL_DEV.into(),
            mtu: plan.spec.mtu - OVERHEAD,
            pod_cidr: plan.spec.pod_cidr,
            peers: plan
                .nodes
                .iter()
                .filter(|r| r.index != node.index)
                .map(|r| Peer {
                    block: r.pod_block.expect("per-node blocks are planned"),
                    node_ip: r.underlay_ip.expect("validate requires an underlay").addr(),
                })
                .collect(),
        }
    }

    /// As JSON, for the daemon's command line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a config of plain values serializes")
    }
}

/// The one route the userspace daemon adds in its node: the whole pod network into the TUN,
/// as flannel's `100.96.0.0/16 dev flannel0`. The node's own block stays on `cni0`, which is
/// more specific. Declared and added from this one function, so the declaration is exactly
/// what the kernel shows: `proto static` (cnbench's control plane) and `scope link` (no
/// gateway: the TUN is a point-to-point device and the daemon picks the remote).
pub fn tunnel_route(pod_cidr: Ipv4Net, dev: &str) -> RouteSpec {
    RouteSpec {
        dst: pod_cidr.trunc(),
        via: None,
        dev: dev.into(),
        proto: RouteProto::Static,
        scope: RouteScope::Link,
        src: None,
        onlink: false,
    }
}
