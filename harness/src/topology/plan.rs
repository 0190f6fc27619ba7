//! The plan: every namespace, device name and address a run will create, laid out from a
//! validated spec before anything exists; and the changes a standing topology goes through
//! (a pod added or removed).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

use super::limits;
use super::{
    host_count, invalid, netns_name, nth_host, Family, IpFamily, PodNetwork, Substrate,
    TopologySpec, Underlay, BLOCK_PREFIX6, MAX_PODS, MAX_PODS_PER_NODE,
};
use crate::error::PlanError;

/// The underlay switch (for `l2`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwitchPlan {
    /// Namespace `cnb-<run>-sw`.
    pub netns: String,
    /// The bridge inside it (the first, when there are more).
    pub bridge: String,
    /// Further bridges of the same L2 domain, when the nodes are more than one bridge's
    /// ports (`--bridge-ports`): bridge k (from 1) is joined to the first by a trunk veth,
    /// [`SwitchPlan::trunk`] k.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_bridges: Vec<String>,
}

impl SwitchPlan {
    /// Every bridge of the switch, the first first.
    pub fn bridges(&self) -> Vec<&str> {
        std::iter::once(self.bridge.as_str())
            .chain(self.more_bridges.iter().map(String::as_str))
            .collect()
    }

    /// The trunk that joins bridge `k` (from 1) to the first: its port on the first bridge
    /// and its port on bridge `k`, the two ends of one veth pair.
    pub fn trunk(k: usize) -> (String, String) {
        (format!("t{k}a"), format!("t{k}b"))
    }
}

/// An underlay router (for `l3`): with one router, one bridge per subnet in its namespace,
/// its address on each; with two, a veth into each segment bridge of the switch namespace
/// and its address on that.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouterPlan {
    /// Its role name: `rt` for the first router, `rt2` for the second.
    pub role: String,
    /// Namespace `cnb-<run>-rt` (`cnb-<run>-rt2`).
    pub netns: String,
    /// `(device, router address/prefix)` per subnet: the segment's bridge (`br1`) when the
    /// router holds the bridges, else its veth into the segment (`s1`). The first router is
    /// the subnet's first host (`.1`), the second its last (`.254` of a /24).
    pub segments: Vec<(String, Ipv4Net)>,
    /// The router's IPv6 address on each subnet (`::1`; the second router's at the same
    /// position as its IPv4 one, `::fe` of a /24), for ipv6 and dual.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments6: Vec<Ipv6Net>,
    /// With two routers, the switch-side end of each segment veth (`rts1`), a port of
    /// segment bridge `br<n>` in the switch namespace; empty when the router holds the
    /// bridges itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub switch_ports: Vec<String>,
}

impl RouterPlan {
    /// Whether the segment bridges are in the switch namespace rather than the router's.
    pub fn on_switch(&self) -> bool {
        !self.switch_ports.is_empty()
    }
}

/// One node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodePlan {
    /// Position, from 0.
    pub index: u32,
    /// Short role name, `n0`.
    pub role: String,
    /// Namespace `cnb-<run>-n0`.
    pub netns: String,
    /// Underlay address of `eth0` (None without an underlay).
    pub underlay_ip: Option<Ipv4Net>,
    /// Default gateway on the underlay (`l3` only).
    pub underlay_gateway: Option<Ipv4Addr>,
    /// Which underlay subnet the node is on.
    pub segment: usize,
    /// Name of the node's port on the switch or router bridge.
    pub switch_port: String,
    /// Which bridge of the l2 switch the port is on (0, the first, unless the switch has
    /// more: [`SwitchPlan::more_bridges`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub switch_bridge: usize,
    /// The node's pod block (PerNodeBlocks and SingleSubnet).
    pub pod_block: Option<Ipv4Net>,
    /// The node's own address in its pod block (the bridge gateway, `.1`).
    pub pod_gateway: Option<Ipv4Net>,
    /// IPv6 underlay address of `eth0` (ipv6 and dual).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub underlay_ip6: Option<Ipv6Net>,
    /// IPv6 default gateway on the underlay (`l3` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub underlay_gateway6: Option<Ipv6Addr>,
    /// The node's IPv6 pod block (a /64 of `pod_cidr6`, or all of it for a single subnet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_block6: Option<Ipv6Net>,
    /// The node's own address in its IPv6 pod block (`::1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_gateway6: Option<Ipv6Net>,
}

/// One pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodPlan {
    /// Index of its node.
    pub node: u32,
    /// Position on its node, from 0.
    pub index: u32,
    /// Short role name, `n0p1`.
    pub role: String,
    /// Namespace it lives in: its own (`cnb-<run>-n0p1`) or its node's (host network).
    pub netns: String,
    /// Whether `netns` is the pod's own namespace.
    pub own_netns: bool,
    /// The pod's IPv4 address with its prefix. An ipv6 run plans it too (positions and
    /// names follow it) but configures it nowhere: use [`Plan::pod_addrs`] for what a pod has.
    pub ip: Ipv4Net,
    /// The pod's default gateway, if it has its own namespace.
    pub gateway: Option<Ipv4Addr>,
    /// The pod's IPv6 address with its prefix (ipv6 and dual).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip6: Option<Ipv6Net>,
    /// The pod's IPv6 default gateway in its block (`::1`), if it has its own namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway6: Option<Ipv6Addr>,
    /// Name of the host end of its veth, in the node namespace (unique per run, at most 15
    /// bytes, so tracepoints can be filtered by device name).
    pub host_veth: String,
    /// What the backend recorded of the pod at setup beyond its address (a CNI plugin's ADD
    /// result), for its expectations, checks and the pod's removal; none when it recorded
    /// nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

/// Everything a run will create, decided before anything is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The resolved request.
    pub spec: TopologySpec,
    /// How pods are addressed.
    pub pod_network: PodNetwork,
    /// The switch, for `l2`.
    pub switch: Option<SwitchPlan>,
    /// The routers, for `l3` (none otherwise); [`Plan::router`] is the first.
    pub routers: Vec<RouterPlan>,
    /// The nodes.
    pub nodes: Vec<NodePlan>,
    /// The pods, node by node.
    pub pods: Vec<PodPlan>,
}

impl Plan {
    /// Validates `spec` and lays out every namespace, name and address.
    pub fn new(spec: TopologySpec, pod_network: PodNetwork) -> Result<Plan, PlanError> {
        spec.validate()?;
        let run = spec.run_id.clone();
        // The SSH substrate's l2 segment is the hosts' own network: nothing to build.
        // Nodes fill the switch's bridges in order (limits::switch_layout).
        let layout = match (spec.underlay, spec.substrate) {
            (Underlay::L2, Substrate::Netns) => {
                limits::switch_layout(spec.nodes, spec.bridge_ports())?
            }
            _ => vec![spec.nodes],
        };
        let bridge_of: Vec<usize> = layout
            .iter()
            .enumerate()
            .flat_map(|(b, count)| std::iter::repeat_n(b, *count as usize))
            .collect();
        let switch =
            (spec.underlay == Underlay::L2 && spec.substrate != Substrate::Ssh).then(|| {
                SwitchPlan {
                    netns: netns_name(&run, "sw"),
                    bridge: "br0".into(),
                    more_bridges: (1..layout.len()).map(|k| format!("br{k}")).collect(),
                }
            });
        let routers = if spec.underlay == Underlay::L3 {
            (0..spec.routers).map(|r| router_plan(&spec, r)).collect()
        } else {
            Vec::new()
        };
        // Two routers: the segment bridges move to a switch namespace of their own, so a
        // router that goes down leaves the segments standing.
        let switch = switch.or_else(|| {
            (spec.underlay == Underlay::L3 && spec.routers > 1).then(|| SwitchPlan {
                netns: netns_name(&run, "sw"),
                bridge: "br1".into(),
                more_bridges: (2..=spec.underlay_cidrs.len())
                    .map(|k| format!("br{k}"))
                    .collect(),
            })
        });
        let v6 = spec.ip_family.has_v6();

        let blocks = pod_blocks(&spec, pod_network)?;
        let blocks6 = if v6 {
            pod_blocks6(&spec, pod_network)?
        } else {
            None
        };
        let mut nodes = Vec::new();
        for n in 0..spec.nodes {
            let role = format!("n{n}");
            let (segment, underlay_ip, gw) = match spec.underlay {
                Underlay::None => (0, None, None),
                // docs/design.md §3: node N = 10.168.0.(N+1).
                Underlay::L2 => {
                    let net = spec.underlay_cidrs[0];
                    let ip = match spec.hosts.get(n as usize).and_then(|h| h.addr) {
                        Some(given) => given,
                        None => {
                            Ipv4Net::new(nth_host(&net, n + 1), net.prefix_len()).expect("valid")
                        }
                    };
                    (0, Some(ip), None)
                }
                // Alternate nodes between the two subnets; .1 is the router.
                Underlay::L3 => {
                    let seg = (n % 2) as usize;
                    let net = spec.underlay_cidrs[seg];
                    let ip =
                        Ipv4Net::new(nth_host(&net, n / 2 + 2), net.prefix_len()).expect("valid");
                    (seg, Some(ip), Some(nth_host(&net, 1)))
                }
            };
            // IPv6 follows the IPv4 layout position for position: node N is `::(N+1)` on
            // l2; on l3 the router is `::1` of each segment.
            let (underlay_ip6, gw6) = match (v6, spec.underlay) {
                (false, _) | (_, Underlay::None) => (None, None),
                (true, Underlay::L2) => {
                    let net = spec.underlay_cidrs6[0];
                    (Some(host6(&net, u128::from(n) + 1)), None)
                }
                (true, Underlay::L3) => {
                    let net = spec.underlay_cidrs6[segment];
                    (
                        Some(host6(&net, u128::from(n / 2) + 2)),
                        Some(nth_host6(&net, 1)),
                    )
                }
            };
            let (pod_block6, pod_gateway6) = match &blocks6 {
                Some(b) => {
                    let block = b[n as usize];
                    (Some(block), Some(host6(&block, 1)))
                }
                None => (None, None),
            };
            let (pod_block, pod_gateway) = match &blocks {
                Some(b) => {
                    let block = b[n as usize];
                    let gw = Ipv4Net::new(nth_host(&block, 1), block.prefix_len()).expect("valid");
                    (Some(block), Some(gw))
                }
                None => (None, None),
            };
            nodes.push(NodePlan {
                index: n,
                netns: netns_name(&run, &role),
                switch_port: role.clone(),
                switch_bridge: match spec.underlay {
                    Underlay::L3 => segment,
                    _ => bridge_of.get(n as usize).copied().unwrap_or(0),
                },
                role,
                underlay_ip,
                underlay_gateway: gw,
                segment,
                pod_block,
                pod_gateway,
                underlay_ip6,
                underlay_gateway6: gw6,
                pod_block6,
                pod_gateway6,
            });
        }

        let mut pods = Vec::new();
        for node in &nodes {
            for p in 0..spec.pods_per_node {
                let role = format!("{}p{p}", node.role);
                let (netns, own, ip, gateway) = match pod_network {
                    PodNetwork::HostNetwork => (
                        node.netns.clone(),
                        false,
                        node.underlay_ip.unwrap_or_else(|| {
                            Ipv4Net::new(Ipv4Addr::LOCALHOST, 8).expect("valid")
                        }),
                        None,
                    ),
                    PodNetwork::SingleSubnet | PodNetwork::PerNodeBlocks { .. } => {
                        let block = node.pod_block.expect("blocks planned for this network");
                        // .1 is the node's gateway; pods follow from .2.
                        let ip = Ipv4Net::new(nth_host(&block, p + 2), block.prefix_len())
                            .expect("valid");
                        let gw = node.pod_gateway.map(|g| g.addr());
                        (netns_name(&run, &role), true, ip, gw)
                    }
                };
                let (ip6, gateway6) = match (pod_network, node.pod_block6) {
                    (PodNetwork::HostNetwork, _) => (host_network_ip6(node, v6), None),
                    (_, Some(block)) => (
                        Some(host6(&block, u128::from(p) + 2)),
                        node.pod_gateway6.map(|g| g.addr()),
                    ),
                    (_, None) => (None, None),
                };
                pods.push(PodPlan {
                    node: node.index,
                    index: p,
                    host_veth: format!("v{run}{role}"),
                    role,
                    netns,
                    own_netns: own,
                    ip,
                    gateway,
                    ip6,
                    gateway6,
                    detail: None,
                });
            }
        }
        Ok(Plan {
            spec,
            pod_network,
            switch,
            routers,
            nodes,
            pods,
        })
    }

    /// The first underlay router (l3), the one every node's default route goes through.
    pub fn router(&self) -> Option<&RouterPlan> {
        self.routers.first()
    }

    /// Every namespace of the run, in creation order (underlay, nodes, pods).
    pub fn namespaces(&self) -> Vec<String> {
        let mut v = Vec::new();
        v.extend(self.switch.iter().map(|s| s.netns.clone()));
        v.extend(self.routers.iter().map(|r| r.netns.clone()));
        v.extend(self.nodes.iter().map(|n| n.netns.clone()));
        v.extend(
            self.pods
                .iter()
                .filter(|p| p.own_netns)
                .map(|p| p.netns.clone()),
        );
        v
    }

    /// The run id.
    pub fn run_id(&self) -> &str {
        &self.spec.run_id
    }

    /// The run's IP families.
    pub fn ip_family(&self) -> IpFamily {
        self.spec.ip_family
    }

    /// The run's address families, IPv4 first.
    pub fn families(&self) -> Vec<Family> {
        self.spec.ip_family.families()
    }

    /// What a pod has of `family`: its address with its prefix, if the run has the family.
    pub fn pod_net(&self, pod: &PodPlan, family: Family) -> Option<IpNet> {
        match family {
            Family::V4 if self.spec.ip_family.has_v4() => Some(pod.ip.into()),
            Family::V6 if self.spec.ip_family.has_v6() => pod.ip6.map(IpNet::from),
            _ => None,
        }
    }

    /// The one address a pod is timed by where one is enough (churn): its IPv6 one where the
    /// run has IPv6 (in a dual run the one that waits for duplicate address detection, so the
    /// later of the two to answer), else its IPv4 one.
    pub fn answering_addr(&self, pod: &PodPlan) -> IpAddr {
        match self.pod_net(pod, Family::V6) {
            Some(net) => net.addr(),
            None => pod.ip.addr().into(),
        }
    }

    /// A pod's addresses, one per family of the run, IPv4 first.
    pub fn pod_addrs(&self, pod: &PodPlan) -> Vec<IpAddr> {
        self.families()
            .into_iter()
            .filter_map(|f| self.pod_net(pod, f).map(|n| n.addr()))
            .collect()
    }

    /// A node's underlay address of `family`, if it has one.
    pub fn node_ip(&self, node: &NodePlan, family: Family) -> Option<IpAddr> {
        match family {
            Family::V4 if self.spec.ip_family.has_v4() => node.underlay_ip.map(|n| n.addr().into()),
            Family::V6 => node.underlay_ip6.map(|n| n.addr().into()),
            _ => None,
        }
    }

    /// The path MTU between two nodes over the underlay, in bytes: the narrower of their
    /// segments' (the router forwards between them).
    pub fn underlay_path_mtu(&self, a: &NodePlan, b: &NodePlan) -> u32 {
        self.spec
            .segment_mtu_of(a.segment)
            .min(self.spec.segment_mtu_of(b.segment))
    }

    /// A node's underlay addresses with their prefixes, one per family of the run.
    pub fn node_nets(&self, node: &NodePlan) -> Vec<IpNet> {
        let mut v = Vec::new();
        if self.spec.ip_family.has_v4() {
            v.extend(node.underlay_ip.map(IpNet::from));
        }
        v.extend(node.underlay_ip6.map(IpNet::from));
        v
    }

    /// A node's underlay gateways (l3: its router), one per family of the run.
    pub fn node_gateways(&self, node: &NodePlan) -> Vec<IpAddr> {
        let mut v = Vec::new();
        if self.spec.ip_family.has_v4() {
            v.extend(node.underlay_gateway.map(IpAddr::from));
        }
        v.extend(node.underlay_gateway6.map(IpAddr::from));
        v
    }

    /// Every router's address on a node's segment, one per family of the run and router,
    /// the first router's first: the next hops of the node's default routes (two routers:
    /// one multipath route per family).
    pub fn node_routers(&self, node: &NodePlan) -> Vec<IpAddr> {
        let mut v = Vec::new();
        for family in self.families() {
            for rt in &self.routers {
                match family {
                    Family::V4 => v.extend(
                        rt.segments
                            .get(node.segment)
                            .map(|(_, n)| IpAddr::from(n.addr())),
                    ),
                    Family::V6 => v.extend(
                        rt.segments6
                            .get(node.segment)
                            .map(|n| IpAddr::from(n.addr())),
                    ),
                }
            }
        }
        v
    }

    /// The router namespace called `role` (`rt`, `rt2`).
    pub fn router_named(&self, role: &str) -> Option<&RouterPlan> {
        self.routers.iter().find(|r| r.role == role)
    }

    /// A node's address in its pod block of `family` (the pods' gateway), if it has one.
    pub fn node_pod_gateway(&self, node: &NodePlan, family: Family) -> Option<IpNet> {
        match family {
            Family::V4 if self.spec.ip_family.has_v4() => node.pod_gateway.map(IpNet::from),
            Family::V6 => node.pod_gateway6.map(IpNet::from),
            _ => None,
        }
    }

    /// The node a pod lives on.
    pub fn node_of(&self, pod: &PodPlan) -> &NodePlan {
        &self.nodes[pod.node as usize]
    }

    /// Adds a pod to node `node` (a standing topology's new pod): the next free position on
    /// the node, and the first address of the node's block that no pod has (the node's own
    /// for host-network pods). Returns its index in [`Plan::pods`]; pods stay node by node.
    pub fn add_pod(&mut self, node: u32) -> Result<usize, PlanError> {
        let Some(n) = self.nodes.get(node as usize).cloned() else {
            return Err(invalid(
                "node",
                node,
                format!(
                    "the topology has nodes 0..={}",
                    self.nodes.len().saturating_sub(1)
                ),
            ));
        };
        let on_node = self.pods.iter().filter(|p| p.node == node).count() as u32;
        if on_node >= MAX_PODS_PER_NODE || self.pods.len() as u32 >= MAX_PODS {
            return Err(invalid(
                "pods",
                self.pods.len(),
                // The limit only: what to do about it is the caller's (remove a pod, add
                // fewer).
                format!("at most {MAX_PODS_PER_NODE} pods per node and {MAX_PODS} in all"),
            ));
        }
        let index = self
            .pods
            .iter()
            .filter(|p| p.node == node)
            .map(|p| p.index + 1)
            .max()
            .unwrap_or(0);
        let role = format!("{}p{index}", n.role);
        let run = self.spec.run_id.clone();
        let v6 = self.spec.ip_family.has_v6();
        let pod = match self.pod_network {
            PodNetwork::HostNetwork => PodPlan {
                node,
                index,
                host_veth: format!("v{run}{role}"),
                netns: n.netns.clone(),
                own_netns: false,
                ip: n
                    .underlay_ip
                    .unwrap_or_else(|| Ipv4Net::new(Ipv4Addr::LOCALHOST, 8).expect("valid")),
                gateway: None,
                ip6: host_network_ip6(&n, v6),
                gateway6: None,
                detail: None,
                role,
            },
            PodNetwork::SingleSubnet | PodNetwork::PerNodeBlocks { .. } => {
                let block = n.pod_block.expect("blocks planned for this network");
                // .1 is the node's gateway; pods take the lowest free address from .2.
                let taken = |a: Ipv4Addr| self.pods.iter().any(|p| p.ip.addr() == a);
                let ip = (2..=host_count(&block) as u32)
                    .map(|k| nth_host(&block, k))
                    .find(|a| !taken(*a))
                    .ok_or_else(|| {
                        invalid(
                            "pods",
                            self.pods.len(),
                            format!("node {}'s block {block} has no free address", n.role),
                        )
                    })?;
                // The IPv6 address: the lowest free one from `::2`, as IPv4's.
                let ip6 = match n.pod_block6 {
                    Some(block6) => {
                        let taken6 = |a: Ipv6Addr| {
                            self.pods
                                .iter()
                                .any(|p| p.ip6.is_some_and(|i| i.addr() == a))
                        };
                        let free = (2..=u128::from(MAX_PODS) + 2)
                            .map(|k| nth_host6(&block6, k))
                            .find(|a| block6.contains(a) && !taken6(*a))
                            .ok_or_else(|| {
                                invalid(
                                    "pods",
                                    self.pods.len(),
                                    format!("node {}'s block {block6} has no free address", n.role),
                                )
                            })?;
                        Some(Ipv6Net::new(free, block6.prefix_len()).expect("valid"))
                    }
                    None => None,
                };
                PodPlan {
                    node,
                    index,
                    host_veth: format!("v{run}{role}"),
                    netns: netns_name(&run, &role),
                    own_netns: true,
                    ip: Ipv4Net::new(ip, block.prefix_len()).expect("valid"),
                    gateway: n.pod_gateway.map(|g| g.addr()),
                    ip6,
                    gateway6: n.pod_gateway6.map(|g| g.addr()),
                    detail: None,
                    role,
                }
            }
        };
        if pod.host_veth.len() > 15 {
            return Err(invalid(
                "pods",
                self.pods.len(),
                format!("{} is longer than a device name may be", pod.host_veth),
            ));
        }
        let at = self
            .pods
            .iter()
            .rposition(|p| p.node <= node)
            .map_or(0, |i| i + 1);
        self.pods.insert(at, pod);
        Ok(at)
    }

    /// Removes the pod called `role` from the plan and returns it.
    pub fn remove_pod(&mut self, role: &str) -> Result<PodPlan, PlanError> {
        match self.pods.iter().position(|p| p.role == role) {
            Some(i) => Ok(self.pods.remove(i)),
            None => Err(invalid(
                "pod",
                role,
                format!(
                    "no such pod; the pods are {}",
                    self.pods
                        .iter()
                        .map(|p| p.role.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }

    /// The MAC of node `index`'s underlay device, locally administered and the same every
    /// time the node is made: a machine keeps its NIC's address across a reboot, and its
    /// peers' neighbour entries for it stay right (an IPv6 router does not relearn a global
    /// address's MAC from a neighbour solicitation sent from the link-local one).
    pub fn node_mac(&self, index: u32) -> [u8; 6] {
        let id = u32::from_str_radix(&self.spec.run_id, 36).unwrap_or(0);
        [
            0x02,
            // Nodes past 255 carry their index's high bits here: 0xce to 0xd1 for up to
            // 1,024 nodes, clear of the bridges' 0xcb.
            0xce + (index >> 8) as u8,
            (id >> 16) as u8,
            (id >> 8) as u8,
            id as u8,
            index as u8,
        ]
    }

    /// A locally administered MAC for a bridge of this run, so bridge MACs never change as
    /// ports come and go (a bridge without one takes its lowest port MAC).
    pub fn bridge_mac(&self, ordinal: u8) -> [u8; 6] {
        let id = u32::from_str_radix(&self.spec.run_id, 36).unwrap_or(0);
        [
            0x02,
            0xcb,
            (id >> 16) as u8,
            (id >> 8) as u8,
            id as u8,
            ordinal,
        ]
    }
}

/// Router `r` (from 0) of an l3 spec: the first at each segment's first host, the second at
/// its last (the same position in IPv6), so nodes keep the addresses they have with one.
fn router_plan(spec: &TopologySpec, r: u32) -> RouterPlan {
    let role = if r == 0 {
        "rt".to_string()
    } else {
        format!("rt{}", r + 1)
    };
    let two = spec.routers > 1;
    let position = |net: &Ipv4Net| if r == 0 { 1 } else { host_count(net) };
    RouterPlan {
        netns: netns_name(&spec.run_id, &role),
        segments: spec
            .underlay_cidrs
            .iter()
            .enumerate()
            .map(|(i, net)| {
                let ip = Ipv4Net::new(nth_host(net, position(net) as u32), net.prefix_len())
                    .expect("valid");
                let dev = if two {
                    format!("s{}", i + 1)
                } else {
                    format!("br{}", i + 1)
                };
                (dev, ip)
            })
            .collect(),
        segments6: spec
            .underlay_cidrs6
            .iter()
            .zip(&spec.underlay_cidrs)
            .map(|(net, v4)| host6(net, u128::from(position(v4))))
            .collect(),
        switch_ports: if two {
            (1..=spec.underlay_cidrs.len())
                .map(|i| format!("{role}s{i}"))
                .collect()
        } else {
            Vec::new()
        },
        role,
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn pod_blocks(spec: &TopologySpec, net: PodNetwork) -> Result<Option<Vec<Ipv4Net>>, PlanError> {
    let cidr = spec.pod_cidr;
    match net {
        PodNetwork::HostNetwork => Ok(None),
        PodNetwork::SingleSubnet => {
            let need = u64::from(spec.nodes * spec.pods_per_node) + 1;
            if host_count(&cidr) < need {
                return Err(invalid(
                    "pod-cidr",
                    cidr,
                    format!("too small for {need} addresses (pods and the gateway): use a shorter prefix"),
                ));
            }
            Ok(Some(vec![cidr; spec.nodes as usize]))
        }
        PodNetwork::PerNodeBlocks { block_prefix } => {
            if cidr.prefix_len() > block_prefix {
                return Err(invalid(
                    "pod-cidr",
                    cidr,
                    format!("must be /{block_prefix} or larger: each node takes a /{block_prefix}"),
                ));
            }
            let count = 1u64 << u32::from(block_prefix - cidr.prefix_len());
            if count < u64::from(spec.nodes) {
                return Err(invalid(
                    "pod-cidr",
                    cidr,
                    format!(
                        "holds {count} /{block_prefix} blocks, {} nodes need one each",
                        spec.nodes
                    ),
                ));
            }
            let block_hosts =
                host_count(&Ipv4Net::new(cidr.network(), block_prefix).expect("valid"));
            if block_hosts < u64::from(spec.pods_per_node) + 1 {
                return Err(invalid(
                    "pods-per-node",
                    spec.pods_per_node,
                    format!("a /{block_prefix} block holds {} pods", block_hosts - 1),
                ));
            }
            Ok(Some(
                cidr.subnets(block_prefix)
                    .expect("prefix checked")
                    .take(spec.nodes as usize)
                    .collect(),
            ))
        }
    }
}

/// The `k`-th address of an IPv6 network (k = 1 is `::1`).
pub(crate) fn nth_host6(net: &Ipv6Net, k: u128) -> Ipv6Addr {
    Ipv6Addr::from(u128::from(net.network()) + k)
}

fn host6(net: &Ipv6Net, k: u128) -> Ipv6Net {
    Ipv6Net::new(nth_host6(net, k), net.prefix_len()).expect("valid")
}

/// A host-network pod's IPv6 address: its node's, or loopback on a node without an underlay.
fn host_network_ip6(node: &NodePlan, v6: bool) -> Option<Ipv6Net> {
    v6.then(|| {
        node.underlay_ip6
            .unwrap_or_else(|| Ipv6Net::new(Ipv6Addr::LOCALHOST, 128).expect("valid"))
    })
}

/// Each node's IPv6 pod block: a /64 of `pod_cidr6` per node ([`BLOCK_PREFIX6`]), or the
/// whole of it for a single subnet.
fn pod_blocks6(spec: &TopologySpec, net: PodNetwork) -> Result<Option<Vec<Ipv6Net>>, PlanError> {
    let Some(cidr) = spec.pod_cidr6 else {
        return Ok(None);
    };
    match net {
        PodNetwork::HostNetwork => Ok(None),
        PodNetwork::SingleSubnet => {
            if cidr.prefix_len() > 120 {
                return Err(invalid(
                    "pod-cidr6",
                    cidr,
                    "too small for a node's pods and its gateway: use /120 or shorter (a /64 is usual)",
                ));
            }
            Ok(Some(vec![cidr; spec.nodes as usize]))
        }
        PodNetwork::PerNodeBlocks { .. } => {
            if cidr.prefix_len() > BLOCK_PREFIX6 {
                return Err(invalid(
                    "pod-cidr6",
                    cidr,
                    format!(
                        "must be /{BLOCK_PREFIX6} or larger: each node takes a /{BLOCK_PREFIX6}"
                    ),
                ));
            }
            let bits = u32::from(BLOCK_PREFIX6 - cidr.prefix_len());
            if bits < 32 && (1u64 << bits) < u64::from(spec.nodes) {
                return Err(invalid(
                    "pod-cidr6",
                    cidr,
                    format!(
                        "holds {} /{BLOCK_PREFIX6} blocks, {} nodes need one each",
                        1u64 << bits,
                        spec.nodes
                    ),
                ));
            }
            Ok(Some(
                cidr.subnets(BLOCK_PREFIX6)
                    .expect("prefix checked")
                    .take(spec.nodes as usize)
                    .collect(),
            ))
        }
    }
}
