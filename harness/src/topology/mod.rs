//! The topology planner: from a few numbers and CIDRs to every namespace, device name and
//! address of a run. Pure logic: it touches nothing, so the whole plan is validated before
//! the first netlink call (docs/design.md §5 rule 3).
//!
//! This file: what the user asked for (the request, a backend's defaults, the resolved spec
//! and its validation, the underlay, pod-network and substrate kinds). `plan`: everything a
//! run will create, laid out from a spec, and pods added to and removed from it.

mod plan;

pub use plan::{NodePlan, Plan, PodPlan, RouterPlan, SwitchPlan};

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::error::PlanError;

/// How nodes reach each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Underlay {
    /// A single node: no underlay at all.
    None,
    /// Every node on one switch (a bridge in its own namespace).
    L2,
    /// Nodes on two subnets joined by a router namespace.
    L3,
}

impl Underlay {
    /// The CLI name.
    pub fn as_str(self) -> &'static str {
        match self {
            Underlay::None => "none",
            Underlay::L2 => "l2",
            Underlay::L3 => "l3",
        }
    }

    /// The default underlay subnets (docs/design.md §3).
    pub fn default_cidrs(self) -> Vec<Ipv4Net> {
        match self {
            Underlay::None => vec![],
            Underlay::L2 => vec!["10.168.0.0/24".parse().expect("valid")],
            Underlay::L3 => vec![
                "10.168.1.0/24".parse().expect("valid"),
                "10.168.2.0/24".parse().expect("valid"),
            ],
        }
    }
}

impl fmt::Display for Underlay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Underlay {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(Underlay::None),
            "l2" => Ok(Underlay::L2),
            "l3" => Ok(Underlay::L3),
            _ => Err(format!("unknown underlay {s:?}: use l2, l3 or none")),
        }
    }
}

/// How a backend addresses its pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PodNetwork {
    /// Pods are processes in their node's namespace and use the node's IP (host-net).
    HostNetwork,
    /// One subnet for the single node: gateway `.1` on the node, pods from `.2` (docker0).
    SingleSubnet,
    /// One block of `block_prefix` per node: node N gets block N, gateway is the block's
    /// first host, pods follow (flannel's `100.96.N.0/24`).
    PerNodeBlocks {
        /// Prefix length of each node's block.
        block_prefix: u8,
    },
}

/// What the user asked for, with every default applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopologySpec {
    /// Run id: lowercase letters and digits, at most 6 (device names must fit 15 bytes).
    pub run_id: String,
    /// Number of node namespaces.
    pub nodes: u32,
    /// Pods on each node.
    pub pods_per_node: u32,
    /// Underlay kind.
    pub underlay: Underlay,
    /// The pod network.
    pub pod_cidr: Ipv4Net,
    /// Underlay subnets: one for `l2`, two for `l3`, none for `none`.
    pub underlay_cidrs: Vec<Ipv4Net>,
    /// MTU of the underlay links, in bytes.
    pub mtu: u32,
    /// Where the nodes live.
    #[serde(default)]
    pub substrate: Substrate,
}

/// Where a run's nodes live (docs/design.md §4a).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Substrate {
    /// Network namespaces on this machine.
    #[default]
    Netns,
    /// One QEMU VM per node (its own kernel), driven by a `cnbench agent` inside it; pods are
    /// namespaces inside their node's VM, the switch or router a namespace here.
    Vm,
}

impl Substrate {
    /// The CLI name.
    pub fn as_str(self) -> &'static str {
        match self {
            Substrate::Netns => "netns",
            Substrate::Vm => "vm",
        }
    }
}

impl fmt::Display for Substrate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Substrate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "netns" => Ok(Substrate::Netns),
            "vm" => Ok(Substrate::Vm),
            other => Err(format!(
                "unknown substrate {other:?}: use netns (namespaces here) or vm (a QEMU VM per node)"
            )),
        }
    }
}

/// Largest node count the planner accepts.
pub const MAX_NODES: u32 = 250;
/// Largest pod count per node the planner accepts.
pub const MAX_PODS_PER_NODE: u32 = 250;
/// Largest pod count of a whole topology: the conformance checks probe every ordered pair of
/// pods, so their number grows with its square.
pub const MAX_PODS: u32 = 500;

/// Makes a fresh run id: 6 lowercase hex digits from the kernel's random source.
pub fn new_run_id() -> String {
    let mut b = [0u8; 3];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut b);
    }
    if b == [0, 0, 0] {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() ^ std::process::id())
            .unwrap_or(1);
        b = [(t >> 16) as u8, (t >> 8) as u8, t as u8];
    }
    format!("{:02x}{:02x}{:02x}", b[0], b[1], b[2])
}

/// Namespace name of a role in a run: `cnb-<run>-<role>`.
pub fn netns_name(run_id: &str, role: &str) -> String {
    format!("{}{run_id}-{role}", crate::netns::NETNS_PREFIX)
}

pub(crate) fn invalid(
    option: &'static str,
    value: impl ToString,
    why: impl Into<String>,
) -> PlanError {
    PlanError::Invalid {
        option,
        value: value.to_string(),
        why: why.into(),
    }
}

/// Host addresses of `net` (excluding network and broadcast for prefixes below /31).
pub(crate) fn host_count(net: &Ipv4Net) -> u64 {
    let size = 1u64 << (32 - u32::from(net.prefix_len()));
    if net.prefix_len() >= 31 {
        size
    } else {
        size - 2
    }
}

/// The `k`-th host address of `net` (k = 1 is the first usable one).
pub(crate) fn nth_host(net: &Ipv4Net, k: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.network()) + k)
}

fn reserved_ranges() -> [(&'static str, Ipv4Net); 4] {
    [
        ("loopback", "127.0.0.0/8".parse().expect("valid")),
        (
            "link-local (used by Calico-style pods)",
            "169.254.0.0/16".parse().expect("valid"),
        ),
        ("multicast", "224.0.0.0/4".parse().expect("valid")),
        ("this-network", "0.0.0.0/8".parse().expect("valid")),
    ]
}

impl TopologySpec {
    /// Checks every field on its own and against the others.
    pub fn validate(&self) -> Result<(), PlanError> {
        if self.run_id.is_empty()
            || self.run_id.len() > 6
            || !self
                .run_id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return Err(invalid(
                "run-id",
                &self.run_id,
                "use 1 to 6 lowercase letters or digits",
            ));
        }
        if self.nodes == 0 {
            return Err(invalid("nodes", 0, "a topology needs at least 1 node"));
        }
        if self.nodes > MAX_NODES {
            return Err(invalid(
                "nodes",
                self.nodes,
                format!("at most {MAX_NODES} nodes fit one machine's namespaces and naming"),
            ));
        }
        if self.pods_per_node == 0 || self.pods_per_node > MAX_PODS_PER_NODE {
            return Err(invalid(
                "pods-per-node",
                self.pods_per_node,
                format!("use 1 to {MAX_PODS_PER_NODE}"),
            ));
        }
        let pods = u64::from(self.nodes) * u64::from(self.pods_per_node);
        if pods > u64::from(MAX_PODS) {
            return Err(invalid(
                "pods-per-node",
                self.pods_per_node,
                format!(
                    "{} nodes x {} pods is {pods} pods, at most {MAX_PODS} fit (the checks probe \
                     every pod pair): use fewer nodes or pods per node",
                    self.nodes, self.pods_per_node
                ),
            ));
        }
        if !(576..=65535).contains(&self.mtu) {
            return Err(invalid(
                "mtu",
                self.mtu,
                "use 576 (the IPv4 minimum) to 65535 bytes",
            ));
        }
        let want = match self.underlay {
            Underlay::None => 0,
            Underlay::L2 => 1,
            Underlay::L3 => 2,
        };
        if self.underlay == Underlay::None && self.nodes > 1 {
            return Err(invalid(
                "underlay",
                "none",
                format!(
                    "{} nodes need an underlay to reach each other: use --underlay l2 or l3",
                    self.nodes
                ),
            ));
        }
        if self.underlay_cidrs.len() != want {
            let shown: Vec<String> = self.underlay_cidrs.iter().map(|c| c.to_string()).collect();
            return Err(invalid(
                "underlay-cidr",
                shown.join(","),
                format!(
                    "underlay {} needs {want} subnet(s), comma-separated",
                    self.underlay
                ),
            ));
        }
        let mut named: Vec<(&'static str, Ipv4Net)> = vec![("--pod-cidr", self.pod_cidr)];
        named.extend(self.underlay_cidrs.iter().map(|c| ("--underlay-cidr", *c)));
        for (name, net) in &named {
            if net.addr() != net.network() {
                return Err(invalid(
                    if *name == "--pod-cidr" {
                        "pod-cidr"
                    } else {
                        "underlay-cidr"
                    },
                    net,
                    format!("host bits are set: did you mean {}?", net.trunc()),
                ));
            }
            for (what, reserved) in reserved_ranges() {
                if overlaps(net, &reserved) {
                    return Err(PlanError::Overlap {
                        a_name: name,
                        a: net.to_string(),
                        b_name: what,
                        b: reserved.to_string(),
                    });
                }
            }
        }
        for i in 0..named.len() {
            for j in i + 1..named.len() {
                if overlaps(&named[i].1, &named[j].1) {
                    return Err(PlanError::Overlap {
                        a_name: named[i].0,
                        a: named[i].1.to_string(),
                        b_name: named[j].0,
                        b: named[j].1.to_string(),
                    });
                }
            }
        }
        // Underlay capacity: l2 puts every node on one subnet; l3 alternates nodes between two
        // subnets and keeps .1 of each for the router.
        for (seg, net) in self.underlay_cidrs.iter().enumerate() {
            let on_segment = match self.underlay {
                Underlay::L3 => (self.nodes + 1 - seg as u32) / 2 + 1,
                _ => self.nodes,
            };
            if host_count(net) < u64::from(on_segment) {
                return Err(invalid(
                    "underlay-cidr",
                    net,
                    format!("too small for {on_segment} addresses: use a shorter prefix"),
                ));
            }
        }
        Ok(())
    }
}

/// Whether two networks share any address.
pub fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Topology defaults a backend suggests (the article's shapes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Defaults {
    /// Nodes.
    pub nodes: u32,
    /// Pods per node.
    pub pods_per_node: u32,
    /// Underlay.
    pub underlay: Underlay,
    /// Pod CIDR.
    pub pod_cidr: Ipv4Net,
}

/// The topology options of the command line; `None` takes the backend's default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopologyRequest {
    /// `--nodes`.
    pub nodes: Option<u32>,
    /// `--pods-per-node`.
    pub pods_per_node: Option<u32>,
    /// `--underlay`.
    pub underlay: Option<Underlay>,
    /// `--pod-cidr`.
    pub pod_cidr: Option<Ipv4Net>,
    /// `--underlay-cidr` (comma-separated on the command line).
    pub underlay_cidrs: Option<Vec<Ipv4Net>>,
    /// `--mtu`.
    pub mtu: Option<u32>,
    /// `--substrate`.
    pub substrate: Substrate,
}

/// The default underlay MTU, in bytes (Ethernet).
pub const DEFAULT_MTU: u32 = 1500;

impl TopologyRequest {
    /// Fills every unset option from the backend's defaults. A multi-node request on a
    /// backend whose default has no underlay gets `l2`, so that `--nodes 3` alone means
    /// something (the backend may still refuse it).
    pub fn resolve(&self, defaults: &Defaults, run_id: String) -> TopologySpec {
        let nodes = self.nodes.unwrap_or(defaults.nodes);
        let underlay =
            self.underlay
                .unwrap_or(if nodes > 1 && defaults.underlay == Underlay::None {
                    Underlay::L2
                } else {
                    defaults.underlay
                });
        TopologySpec {
            run_id,
            nodes,
            pods_per_node: self.pods_per_node.unwrap_or(defaults.pods_per_node),
            underlay,
            pod_cidr: self.pod_cidr.unwrap_or(defaults.pod_cidr),
            underlay_cidrs: self
                .underlay_cidrs
                .clone()
                .unwrap_or_else(|| underlay.default_cidrs()),
            mtu: self.mtu.unwrap_or(DEFAULT_MTU),
            substrate: self.substrate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(nodes: u32, pods: u32, underlay: Underlay) -> TopologySpec {
        TopologyRequest {
            nodes: Some(nodes),
            pods_per_node: Some(pods),
            underlay: Some(underlay),
            ..Default::default()
        }
        .resolve(
            &Defaults {
                nodes: 2,
                pods_per_node: 1,
                underlay: Underlay::L2,
                pod_cidr: "100.96.0.0/16".parse().unwrap(),
            },
            "abc123".into(),
        )
    }

    #[test]
    fn l2_addresses_follow_the_article() {
        let plan = Plan::new(spec(2, 1, Underlay::L2), PodNetwork::HostNetwork).unwrap();
        let ips: Vec<String> = plan
            .nodes
            .iter()
            .map(|n| n.underlay_ip.unwrap().to_string())
            .collect();
        assert_eq!(ips, ["10.168.0.1/24", "10.168.0.2/24"]);
        assert_eq!(
            plan.namespaces(),
            ["cnb-abc123-sw", "cnb-abc123-n0", "cnb-abc123-n1"]
        );
        // Host-network pods live in their node's namespace with the node's IP.
        assert_eq!(plan.pods[1].netns, "cnb-abc123-n1");
        assert_eq!(plan.pods[1].ip.to_string(), "10.168.0.2/24");
        assert!(!plan.pods[1].own_netns);
    }

    #[test]
    fn l3_alternates_segments_behind_a_router() {
        let plan = Plan::new(spec(3, 1, Underlay::L3), PodNetwork::HostNetwork).unwrap();
        let rt = plan.router.as_ref().unwrap();
        assert_eq!(rt.segments[0].1.to_string(), "10.168.1.1/24");
        assert_eq!(rt.segments[1].1.to_string(), "10.168.2.1/24");
        let n: Vec<(usize, String, String)> = plan
            .nodes
            .iter()
            .map(|n| {
                (
                    n.segment,
                    n.underlay_ip.unwrap().to_string(),
                    n.underlay_gateway.unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            n,
            [
                (0, "10.168.1.2/24".into(), "10.168.1.1".into()),
                (1, "10.168.2.2/24".into(), "10.168.2.1".into()),
                (0, "10.168.1.3/24".into(), "10.168.1.1".into()),
            ]
        );
    }

    #[test]
    fn single_subnet_is_dockers() {
        let mut s = spec(1, 2, Underlay::None);
        s.pod_cidr = "172.17.0.0/16".parse().unwrap();
        let plan = Plan::new(s, PodNetwork::SingleSubnet).unwrap();
        assert_eq!(
            plan.nodes[0].pod_gateway.unwrap().to_string(),
            "172.17.0.1/16"
        );
        let pods: Vec<String> = plan.pods.iter().map(|p| p.ip.to_string()).collect();
        assert_eq!(pods, ["172.17.0.2/16", "172.17.0.3/16"]);
        assert_eq!(plan.pods[0].gateway.unwrap().to_string(), "172.17.0.1");
        assert!(plan.pods.iter().all(|p| p.host_veth.len() <= 15));
        assert_eq!(plan.pods[0].netns, "cnb-abc123-n0p0");
    }

    #[test]
    fn per_node_blocks_are_flannels() {
        let plan = Plan::new(
            spec(3, 2, Underlay::L2),
            PodNetwork::PerNodeBlocks { block_prefix: 24 },
        )
        .unwrap();
        assert_eq!(
            plan.nodes[2].pod_block.unwrap().to_string(),
            "100.96.2.0/24"
        );
        assert_eq!(plan.pods[5].ip.to_string(), "100.96.2.3/24");
    }

    #[test]
    fn bad_input_is_refused_with_the_fix() {
        let zero = Plan::new(spec(0, 1, Underlay::L2), PodNetwork::HostNetwork).unwrap_err();
        assert!(zero.to_string().starts_with("--nodes 0:"), "{zero}");

        let mut overlap = spec(2, 1, Underlay::L2);
        overlap.pod_cidr = "10.168.0.0/16".parse().unwrap();
        let e = Plan::new(overlap, PodNetwork::PerNodeBlocks { block_prefix: 24 }).unwrap_err();
        assert!(matches!(e, PlanError::Overlap { .. }), "{e}");
        assert!(e.to_string().contains("overlaps"));

        let none = Plan::new(spec(2, 1, Underlay::None), PodNetwork::HostNetwork).unwrap_err();
        assert!(
            none.to_string().contains("use --underlay l2 or l3"),
            "{none}"
        );

        let mut small = spec(5, 1, Underlay::L2);
        small.underlay_cidrs = vec!["10.168.0.0/30".parse().unwrap()];
        let e = Plan::new(small, PodNetwork::HostNetwork).unwrap_err();
        assert!(e.to_string().contains("too small"), "{e}");

        let mut host_bits = spec(2, 1, Underlay::L2);
        host_bits.pod_cidr = "100.96.0.5/16".parse().unwrap();
        let e = Plan::new(host_bits, PodNetwork::PerNodeBlocks { block_prefix: 24 }).unwrap_err();
        assert!(e.to_string().contains("did you mean 100.96.0.0/16"), "{e}");

        let mut mtu = spec(2, 1, Underlay::L2);
        mtu.mtu = 100;
        assert!(Plan::new(mtu, PodNetwork::HostNetwork).is_err());

        let mut loopback = spec(2, 1, Underlay::L2);
        loopback.underlay_cidrs = vec!["127.0.0.0/24".parse().unwrap()];
        assert!(Plan::new(loopback, PodNetwork::HostNetwork).is_err());

        let l3_one = TopologySpec {
            underlay_cidrs: vec!["10.168.1.0/24".parse().unwrap()],
            ..spec(2, 1, Underlay::L3)
        };
        let e = Plan::new(l3_one, PodNetwork::HostNetwork).unwrap_err();
        assert!(e.to_string().contains("needs 2 subnet"), "{e}");

        let blocks = Plan::new(
            TopologySpec {
                pod_cidr: "100.96.0.0/23".parse().unwrap(),
                ..spec(3, 1, Underlay::L2)
            },
            PodNetwork::PerNodeBlocks { block_prefix: 24 },
        )
        .unwrap_err();
        assert!(
            blocks.to_string().contains("3 nodes need one each"),
            "{blocks}"
        );
    }

    #[test]
    fn counts_are_limited_and_the_limit_is_named() {
        let net = PodNetwork::HostNetwork;
        let e = Plan::new(spec(MAX_NODES + 1, 1, Underlay::L2), net).unwrap_err();
        assert!(e.to_string().contains("at most 250 nodes"), "{e}");
        for pods in [0, MAX_PODS_PER_NODE + 1] {
            let e = Plan::new(spec(2, pods, Underlay::L2), net).unwrap_err();
            assert!(e.to_string().contains("use 1 to 250"), "{e}");
        }
        let e = Plan::new(spec(MAX_NODES, MAX_PODS_PER_NODE, Underlay::L2), net).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--pods-per-node 250: 250 nodes x 250 pods is 62500 pods, at most 500 fit (the \
             checks probe every pod pair): use fewer nodes or pods per node"
        );
        // At the limits, a plan is made.
        let plan = Plan::new(spec(MAX_NODES, MAX_PODS / MAX_NODES, Underlay::L2), net).unwrap();
        assert_eq!(plan.pods.len(), MAX_PODS as usize);
        assert!(Plan::new(spec(1, MAX_PODS_PER_NODE, Underlay::None), net).is_ok());
    }

    #[test]
    fn pods_are_added_at_the_first_free_address_and_removed_by_name() {
        let mut plan = Plan::new(
            spec(2, 2, Underlay::L2),
            PodNetwork::PerNodeBlocks { block_prefix: 24 },
        )
        .unwrap();
        let i = plan.add_pod(0).unwrap();
        assert_eq!(i, 2, "after n0's pods, before n1's");
        let p = &plan.pods[i];
        assert_eq!(
            (p.role.as_str(), p.ip.to_string()),
            ("n0p2", "100.96.0.4/24".into())
        );
        assert_eq!(p.netns, "cnb-abc123-n0p2");
        assert_eq!(p.gateway.unwrap().to_string(), "100.96.0.1");
        // A removed pod's address is the next one's; its position is not reused.
        let gone = plan.remove_pod("n0p0").unwrap();
        assert_eq!(gone.ip.to_string(), "100.96.0.2/24");
        let i = plan.add_pod(0).unwrap();
        assert_eq!(
            (plan.pods[i].role.as_str(), plan.pods[i].ip.to_string()),
            ("n0p3", "100.96.0.2/24".into())
        );
        let last = plan.add_pod(1).unwrap();
        assert_eq!(last, plan.pods.len() - 1);
        assert!(plan
            .remove_pod("n9p9")
            .unwrap_err()
            .to_string()
            .contains("no such pod"));
        assert!(plan
            .add_pod(5)
            .unwrap_err()
            .to_string()
            .starts_with("--node 5"));
        // Host-network pods share their node's namespace and address.
        let mut host = Plan::new(spec(2, 1, Underlay::L2), PodNetwork::HostNetwork).unwrap();
        let i = host.add_pod(1).unwrap();
        assert_eq!(host.pods[i].netns, "cnb-abc123-n1");
        assert_eq!(host.pods[i].ip.to_string(), "10.168.0.2/24");
        assert!(!host.pods[i].own_netns);
    }

    #[test]
    fn run_ids_are_short_and_fresh() {
        let a = new_run_id();
        assert_eq!(a.len(), 6);
        assert!(TopologySpec {
            run_id: "ABC".into(),
            ..spec(2, 1, Underlay::L2)
        }
        .validate()
        .is_err());
        assert!(TopologySpec {
            run_id: "abcdefg".into(),
            ..spec(2, 1, Underlay::L2)
        }
        .validate()
        .is_err());
    }
}
