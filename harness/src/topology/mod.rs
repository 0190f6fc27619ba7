//! The topology planner: from a few numbers and CIDRs to every namespace, device name and
//! address of a run. Pure logic: it touches nothing, so the whole plan is validated before
//! the first netlink call (docs/design.md §5 rule 3).
//!
//! This file: what the user asked for (the request, a backend's defaults, the resolved spec
//! and its validation, the underlay, pod-network and substrate kinds). `plan`: everything a
//! run will create, laid out from a spec, and pods added to and removed from it.

mod hosts;
pub mod limits;
mod plan;

pub use hosts::{SshHost, SshSpec};
pub use limits::{MAX_NODES, MAX_PODS, MAX_PODS_PER_NODE};
pub use plan::{NodePlan, Plan, PodPlan, RouterPlan, SwitchPlan};

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
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

    /// The default underlay subnets of a small topology (docs/design.md §3):
    /// `10.168.0.0/24` for l2, `10.168.1.0/24` and `10.168.2.0/24` for l3.
    pub fn default_cidrs(self) -> Vec<Ipv4Net> {
        self.default_cidrs_for(2, 1)
    }

    /// The default underlay subnets for `nodes` nodes and `routers` l3 routers: today's /24s
    /// while they hold them, wider ones when the count needs it ([`limits::default_l2_cidr`],
    /// [`limits::default_l3_cidrs`]).
    pub fn default_cidrs_for(self, nodes: u32, routers: u32) -> Vec<Ipv4Net> {
        match self {
            Underlay::None => vec![],
            Underlay::L2 => vec![limits::default_l2_cidr(nodes)],
            Underlay::L3 => limits::default_l3_cidrs(nodes, routers),
        }
    }

    /// The default IPv6 underlay subnets: unique local (RFC 4193) /64s that spell the IPv4
    /// ones, `fd00:10:168::/64` for `10.168.0.0/24` (docs/design.md §3).
    pub fn default_cidrs6(self) -> Vec<Ipv6Net> {
        match self {
            Underlay::None => vec![],
            Underlay::L2 => vec!["fd00:10:168::/64".parse().expect("valid")],
            Underlay::L3 => vec![
                "fd00:10:168:1::/64".parse().expect("valid"),
                "fd00:10:168:2::/64".parse().expect("valid"),
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

/// Which IP families a run's pods and underlay have (docs/design.md §3a).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpFamily {
    /// IPv4 only; IPv6 is disabled in every namespace (the default).
    #[default]
    Ipv4,
    /// IPv6 only: the underlay and the pods have IPv6 addresses and nothing else.
    Ipv6,
    /// Both: every node and pod has an address of each family (Kubernetes dual-stack).
    Dual,
}

impl IpFamily {
    /// The CLI name.
    pub fn as_str(self) -> &'static str {
        match self {
            IpFamily::Ipv4 => "ipv4",
            IpFamily::Ipv6 => "ipv6",
            IpFamily::Dual => "dual",
        }
    }

    /// Whether the run has IPv4 addresses.
    pub fn has_v4(self) -> bool {
        self != IpFamily::Ipv6
    }

    /// Whether the run has IPv6 addresses.
    pub fn has_v6(self) -> bool {
        self != IpFamily::Ipv4
    }

    /// Its address families, IPv4 first.
    pub fn families(self) -> Vec<Family> {
        let mut v = Vec::new();
        if self.has_v4() {
            v.push(Family::V4);
        }
        if self.has_v6() {
            v.push(Family::V6);
        }
        v
    }
}

impl fmt::Display for IpFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for IpFamily {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ipv4" => Ok(IpFamily::Ipv4),
            "ipv6" => Ok(IpFamily::Ipv6),
            "dual" => Ok(IpFamily::Dual),
            _ => Err(format!("unknown IP family {s:?}: use ipv4, ipv6 or dual")),
        }
    }
}

/// One address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Family {
    /// `ipv4` or `ipv6`.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::V4 => "ipv4",
            Family::V6 => "ipv6",
        }
    }

    /// The family of an address.
    pub fn of(ip: IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The IPv6 pod network for a backend whose IPv4 default is `v4`: the unique local /48 that
/// spells its first two octets (`100.96.0.0/16` gives `fd00:100:96::/48`), or the /64 for a
/// single subnet (`172.17.0.0/16` gives `fd00:172:17::/64`).
pub fn default_pod_cidr6(v4: Ipv4Net, pod_network: PodNetwork) -> Ipv6Net {
    let o = v4.network().octets();
    // Decimal digits read as hex: a mnemonic, not an encoding (each octet is at most 0x255).
    let spell = |b: u8| u16::from_str_radix(&b.to_string(), 16).expect("decimal digits are hex");
    let prefix = match pod_network {
        PodNetwork::PerNodeBlocks { .. } => 48,
        _ => 64,
    };
    Ipv6Net::new(
        Ipv6Addr::new(0xfd00, spell(o[0]), spell(o[1]), 0, 0, 0, 0, 0),
        prefix,
    )
    .expect("valid prefix")
}

/// The prefix of each node's IPv6 pod block: a /64, flannel's default (`SubnetLenIPv6`) and
/// kubeadm's (`--node-cidr-mask-size-ipv6`), so a block is one link's worth of addresses.
pub const BLOCK_PREFIX6: u8 = 64;

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
    /// The IP families of the run (absent in results before IPv6: ipv4).
    #[serde(default)]
    pub ip_family: IpFamily,
    /// The IPv6 pod network, for ipv6 and dual.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_cidr6: Option<Ipv6Net>,
    /// IPv6 underlay subnets (as many as `underlay_cidrs`), for ipv6 and dual.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub underlay_cidrs6: Vec<Ipv6Net>,
    /// MTU of the l3 underlay's second segment, in bytes, when it is narrower than `mtu`: a
    /// smaller link on the path between the segments, where the router must refuse what does
    /// not fit (ICMP "fragmentation needed", ICMPv6 "packet too big").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment_mtu: Option<u32>,
    /// Routers of the l3 underlay (1 or 2; absent in results before two routers: 1). With
    /// two, both segments reach both routers and the segment bridges live in a switch
    /// namespace of their own, so a router that goes down takes no segment with it.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub routers: u32,
    /// Ports one underlay bridge takes before the l2 switch adds another, joined to the first
    /// by a trunk (default [`limits::BRIDGE_PORTS`], the kernel's limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge_ports: Option<u32>,
    /// The SSH substrate's hosts, one per node in node order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<SshHost>,
    /// How the SSH substrate reaches its hosts and joins their network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<SshSpec>,
}

fn one() -> u32 {
    1
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

impl TopologySpec {
    /// The ports one underlay bridge takes ([`limits::BRIDGE_PORTS`] unless lowered).
    pub fn bridge_ports(&self) -> u32 {
        self.bridge_ports.unwrap_or(limits::BRIDGE_PORTS)
    }

    /// The MTU of underlay segment `segment`, in bytes.
    pub fn segment_mtu_of(&self, segment: usize) -> u32 {
        match (segment, self.segment_mtu) {
            (1, Some(m)) => m,
            _ => self.mtu,
        }
    }
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
    /// One host per node, reached over SSH (`--hosts`), each driven by a `cnbench agent`
    /// started there through the system's ssh client; the node is a namespace on the host
    /// joined to the host's own network by a macvlan or ipvlan of its interface.
    Ssh,
}

impl Substrate {
    /// The CLI name.
    pub fn as_str(self) -> &'static str {
        match self {
            Substrate::Netns => "netns",
            Substrate::Vm => "vm",
            Substrate::Ssh => "ssh",
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
            "ssh" => Ok(Substrate::Ssh),
            other => Err(format!(
                "unknown substrate {other:?}: use netns (namespaces here), vm (a QEMU VM per \
                 node) or ssh (hosts reached over SSH, --hosts)"
            )),
        }
    }
}

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

fn reserved_ranges() -> [(&'static str, IpNet); 4] {
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
                format!(
                    "at most {MAX_NODES} nodes fit one machine's namespaces and device names: \
                     use fewer nodes"
                ),
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
        if pods > u64::from(limits::MAX_PLANNED_PODS) {
            return Err(invalid(
                "pods-per-node",
                self.pods_per_node,
                format!(
                    "{} nodes x {} pods is {pods} pods, at most {} fit one machine: use fewer \
                     nodes or pods per node",
                    self.nodes,
                    self.pods_per_node,
                    limits::MAX_PLANNED_PODS
                ),
            ));
        }
        self.validate_routers()?;
        if !(576..=65535).contains(&self.mtu) {
            return Err(invalid(
                "mtu",
                self.mtu,
                "use 576 (the IPv4 minimum) to 65535 bytes",
            ));
        }
        // RFC 8200 §5: every IPv6 link carries at least 1280 bytes.
        if self.ip_family.has_v6() && self.mtu < 1280 {
            return Err(invalid(
                "mtu",
                self.mtu,
                "IPv6 needs at least 1280 bytes on every link (RFC 8200): use 1280 or more",
            ));
        }
        self.validate_v6()?;
        self.validate_hosts()?;
        if let Some(m) = self.segment_mtu {
            if self.underlay != Underlay::L3 {
                return Err(invalid(
                    "segment-mtu",
                    m,
                    "a narrower segment needs two: use --underlay l3",
                ));
            }
            let min = if self.ip_family.has_v6() { 1280 } else { 576 };
            if m < min || m >= self.mtu {
                return Err(invalid(
                    "segment-mtu",
                    m,
                    format!(
                        "use {min} (the {} minimum) to {} (below --mtu {})",
                        if min == 1280 { "IPv6" } else { "IPv4" },
                        self.mtu - 1,
                        self.mtu
                    ),
                ));
            }
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
        let mut named: Vec<(&'static str, IpNet)> = vec![("--pod-cidr", self.pod_cidr.into())];
        named.extend(
            self.underlay_cidrs
                .iter()
                .map(|c| ("--underlay-cidr", IpNet::from(*c))),
        );
        check_ranges(&named, &reserved_ranges())?;
        // Underlay capacity: l2 puts every node on one subnet; l3 alternates nodes between two
        // subnets and keeps .1 of each for the router (and the last host for a second one).
        for (seg, net) in self.underlay_cidrs.iter().enumerate() {
            let on_segment = match self.underlay {
                Underlay::L3 => (self.nodes + 1 - seg as u32) / 2 + self.routers,
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

impl TopologySpec {
    /// The router count and the bridge ports on their own and against the underlay.
    fn validate_routers(&self) -> Result<(), PlanError> {
        if self.routers == 0 || self.routers > limits::MAX_ROUTERS {
            return Err(invalid(
                "routers",
                self.routers,
                format!(
                    "use 1 or {} (the l3 underlay's border routers)",
                    limits::MAX_ROUTERS
                ),
            ));
        }
        if self.routers > 1 && self.underlay != Underlay::L3 {
            return Err(invalid(
                "routers",
                self.routers,
                format!(
                    "routers join the two segments of the l3 underlay, and underlay {} has \
                     none: add --underlay l3",
                    self.underlay
                ),
            ));
        }
        if self.routers > 1 && self.substrate == Substrate::Vm {
            return Err(invalid(
                "routers",
                self.routers,
                "the VM substrate makes one hub namespace here (QEMU's taps are in it), and \
                 two routers need a switch namespace beside them: use --substrate netns or \
                 --routers 1",
            ));
        }
        if let Some(ports) = self.bridge_ports {
            if !(2..=limits::BRIDGE_PORTS).contains(&ports) {
                return Err(invalid(
                    "bridge-ports",
                    ports,
                    format!(
                        "use 2 to {} (a Linux bridge's ports, BR_MAX_PORTS less port 0)",
                        limits::BRIDGE_PORTS
                    ),
                ));
            }
            if self.underlay != Underlay::L2 || self.substrate != Substrate::Netns {
                return Err(invalid(
                    "bridge-ports",
                    ports,
                    "only the l2 switch of the namespace substrate is split over bridges: use \
                     --underlay l2 --substrate netns, or leave it out",
                ));
            }
        }
        if self.underlay == Underlay::L2 && self.substrate == Substrate::Netns {
            limits::switch_layout(self.nodes, self.bridge_ports())?;
        }
        Ok(())
    }
}

/// Whether two networks share any address.
pub fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Each of `named` (`(flag, network)`, one family) on its own (no host bits, clear of
/// `reserved`) and against the others (no two overlapping).
fn check_ranges(
    named: &[(&'static str, IpNet)],
    reserved: &[(&'static str, IpNet)],
) -> Result<(), PlanError> {
    let overlap = |a: &IpNet, b: &IpNet| a.contains(&b.network()) || b.contains(&a.network());
    for (name, net) in named {
        if net.addr() != net.network() {
            return Err(invalid(
                name.trim_start_matches("--"),
                net,
                format!("host bits are set: did you mean {}?", net.trunc()),
            ));
        }
        for (what, r) in reserved {
            if overlap(net, r) {
                return Err(PlanError::Overlap {
                    a_name: name,
                    a: net.to_string(),
                    b_name: what,
                    b: r.to_string(),
                });
            }
        }
    }
    for (i, (a_name, a)) in named.iter().enumerate() {
        for (b_name, b) in &named[i + 1..] {
            if overlap(a, b) {
                return Err(PlanError::Overlap {
                    a_name,
                    a: a.to_string(),
                    b_name,
                    b: b.to_string(),
                });
            }
        }
    }
    Ok(())
}

fn reserved_ranges6() -> [(&'static str, IpNet); 5] {
    [
        ("unspecified and loopback", "::/127".parse().expect("valid")),
        ("IPv4-mapped", "::ffff:0:0/96".parse().expect("valid")),
        (
            "link-local (next hops, Calico-style gateways)",
            "fe80::/10".parse().expect("valid"),
        ),
        ("multicast", "ff00::/8".parse().expect("valid")),
        ("documentation", "2001:db8::/32".parse().expect("valid")),
    ]
}

impl TopologySpec {
    /// The IPv6 half of [`TopologySpec::validate`]: CIDRs only with an IPv6 family, and on
    /// their own and against each other as IPv4's are.
    /// The SSH substrate's hosts: one per node, on one l2 network, each with an interface,
    /// and addresses given for all or none.
    fn validate_hosts(&self) -> Result<(), PlanError> {
        if self.substrate != Substrate::Ssh {
            if self.ssh.is_some() {
                return Err(invalid(
                    "substrate",
                    self.substrate,
                    "--ssh-option, --remote-exe, --copy-exe and --underlay-iface are for hosts \
                     reached over SSH: add --substrate ssh --hosts HOST1,HOST2",
                ));
            }
            if let Some(h) = self.hosts.first() {
                return Err(invalid(
                    "hosts",
                    h,
                    "hosts are nodes of the SSH substrate: add --substrate ssh",
                ));
            }
            return Ok(());
        }
        let ssh = self.ssh.clone().unwrap_or_default();
        ssh.validate()
            .map_err(|why| invalid("ssh-option", ssh.options.join(","), why))?;
        if self.hosts.is_empty() {
            return Err(invalid(
                "hosts",
                "",
                "the SSH substrate needs a host per node: --hosts HOST1,HOST2",
            ));
        }
        if self.hosts.len() != self.nodes as usize {
            return Err(invalid(
                "nodes",
                self.nodes,
                format!(
                    "the SSH substrate has a node per host and --hosts names {}: drop --nodes \
                     or name as many hosts",
                    self.hosts.len()
                ),
            ));
        }
        // A single node (the bridge backend) needs no underlay; nodes that talk do it over
        // the hosts' own network.
        if self.underlay == Underlay::L3 {
            return Err(invalid(
                "underlay",
                self.underlay,
                "on the SSH substrate the hosts' own network is the underlay, one l2 segment \
                 that cnbench does not cable: use --underlay l2",
            ));
        }
        for (i, h) in self.hosts.iter().enumerate() {
            if ssh.iface_of(h).is_none() {
                return Err(invalid(
                    "hosts",
                    h,
                    "name the host's interface that carries the underlay: HOST%IFACE, or \
                     --underlay-iface IFACE for every host",
                ));
            }
            if let Some(dup) = self.hosts[..i]
                .iter()
                .find(|o| o.host == h.host && o.port == h.port)
            {
                return Err(invalid(
                    "hosts",
                    dup,
                    "each node needs a host of its own: name every host once",
                ));
            }
        }
        let given = self.hosts.iter().filter(|h| h.addr.is_some()).count();
        if given != 0 && given != self.hosts.len() {
            return Err(invalid(
                "hosts",
                self.hosts.iter().find(|h| h.addr.is_none()).expect("one"),
                "give every host its node's address (HOST=ADDR/LEN) or none (they then follow \
                 --underlay-cidr)",
            ));
        }
        let net = self.underlay_cidrs.first();
        for h in &self.hosts {
            if let (Some(a), Some(net)) = (h.addr, net) {
                if a.trunc() != *net {
                    return Err(invalid(
                        "hosts",
                        format!("{h}={a}"),
                        format!("every node's address must be on one network ({net})"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn validate_v6(&self) -> Result<(), PlanError> {
        if !self.ip_family.has_v6() {
            if let Some(net) = self.pod_cidr6 {
                return Err(invalid(
                    "pod-cidr6",
                    net,
                    "an IPv6 pod network needs IPv6: add --ip-family ipv6 or dual",
                ));
            }
            if let Some(net) = self.underlay_cidrs6.first() {
                return Err(invalid(
                    "underlay-cidr6",
                    net,
                    "an IPv6 underlay needs IPv6: add --ip-family ipv6 or dual",
                ));
            }
            return Ok(());
        }
        if self.underlay_cidrs6.len() != self.underlay_cidrs.len() {
            let shown: Vec<String> = self.underlay_cidrs6.iter().map(|c| c.to_string()).collect();
            return Err(invalid(
                "underlay-cidr6",
                shown.join(","),
                format!(
                    "underlay {} needs {} IPv6 subnet(s), comma-separated",
                    self.underlay,
                    self.underlay_cidrs.len()
                ),
            ));
        }
        let mut named: Vec<(&'static str, IpNet)> = Vec::new();
        named.extend(self.pod_cidr6.map(|c| ("--pod-cidr6", IpNet::from(c))));
        named.extend(
            self.underlay_cidrs6
                .iter()
                .map(|c| ("--underlay-cidr6", IpNet::from(*c))),
        );
        check_ranges(&named, &reserved_ranges6())?;
        // A node's address is its position in the subnet, and SLAAC-free links need no /64:
        // the subnet only has to hold the nodes (and the router's ::1).
        for (seg, net) in self.underlay_cidrs6.iter().enumerate() {
            if net.prefix_len() > 120 {
                return Err(invalid(
                    "underlay-cidr6",
                    net,
                    "too small for a topology's nodes: use /120 or shorter",
                ));
            }
            // IPv6 positions follow IPv4's: the highest is the IPv4 subnet's last host (a
            // second router's) or the last node's.
            let highest = match self.underlay_cidrs.get(seg) {
                Some(v4) if self.routers > 1 => host_count(v4),
                _ => u64::from(self.nodes) + 1,
            };
            if highest >= 1u64 << (128 - u32::from(net.prefix_len())).min(63) {
                return Err(invalid(
                    "underlay-cidr6",
                    net,
                    format!("too small for address {highest}: use a shorter prefix (a /64)"),
                ));
            }
        }
        Ok(())
    }
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

// The IPv6 defaults are derived (`default_pod_cidr6`, `Underlay::default_cidrs6`) rather than
// declared per backend: every backend's IPv6 ranges follow its IPv4 ones.

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
    /// `--ip-family`.
    pub ip_family: IpFamily,
    /// `--pod-cidr6`.
    pub pod_cidr6: Option<Ipv6Net>,
    /// `--underlay-cidr6` (comma-separated on the command line).
    pub underlay_cidrs6: Option<Vec<Ipv6Net>>,
    /// `--segment-mtu`.
    pub segment_mtu: Option<u32>,
    /// `--routers` (l3; default 1).
    pub routers: Option<u32>,
    /// `--bridge-ports` (l2; default [`limits::BRIDGE_PORTS`]).
    pub bridge_ports: Option<u32>,
    /// `--hosts` (the SSH substrate).
    pub hosts: Vec<SshHost>,
    /// `--ssh-option`, `--remote-exe`, `--copy-exe`, `--underlay-iface`, `--node-link`.
    pub ssh: Option<SshSpec>,
}

/// The default underlay MTU, in bytes (Ethernet).
pub const DEFAULT_MTU: u32 = 1500;

impl TopologyRequest {
    /// Fills every unset option from the backend's defaults. A multi-node request on a
    /// backend whose default has no underlay gets `l2`, so that `--nodes 3` alone means
    /// something (the backend may still refuse it).
    pub fn resolve(
        &self,
        defaults: &Defaults,
        pod_network: PodNetwork,
        run_id: String,
    ) -> TopologySpec {
        let ssh = self.substrate == Substrate::Ssh;
        // On the SSH substrate a node per host; a different --nodes is refused by validation.
        let nodes = self.nodes.unwrap_or(if ssh && !self.hosts.is_empty() {
            self.hosts.len() as u32
        } else {
            defaults.nodes
        });
        let underlay =
            self.underlay
                .unwrap_or(if nodes > 1 && defaults.underlay == Underlay::None {
                    Underlay::L2
                } else {
                    defaults.underlay
                });
        let routers = self.routers.unwrap_or(1);
        // A default pod network grows with the node count, keeping its first blocks.
        let pod_cidr = self.pod_cidr.unwrap_or(match pod_network {
            PodNetwork::PerNodeBlocks { block_prefix } => {
                limits::scaled_pod_cidr(defaults.pod_cidr, block_prefix, nodes)
            }
            _ => defaults.pod_cidr,
        });
        TopologySpec {
            run_id,
            nodes,
            pods_per_node: self.pods_per_node.unwrap_or(defaults.pods_per_node),
            underlay,
            pod_cidr,
            routers,
            bridge_ports: self.bridge_ports,
            underlay_cidrs: self.underlay_cidrs.clone().unwrap_or_else(|| {
                // Hosts that all name their node's address name the network too.
                match self
                    .hosts
                    .iter()
                    .map(|h| h.addr)
                    .collect::<Option<Vec<_>>>()
                {
                    Some(addrs) if ssh && !addrs.is_empty() => vec![addrs[0].trunc()],
                    _ => underlay.default_cidrs_for(nodes, routers),
                }
            }),
            mtu: self.mtu.unwrap_or(DEFAULT_MTU),
            substrate: self.substrate,
            ip_family: self.ip_family,
            // Given ones are kept even without IPv6, so validation can refuse them by name.
            pod_cidr6: self.pod_cidr6.or_else(|| {
                (self.ip_family.has_v6() && pod_network != PodNetwork::HostNetwork)
                    .then(|| default_pod_cidr6(defaults.pod_cidr, pod_network))
            }),
            segment_mtu: self.segment_mtu,
            hosts: self.hosts.clone(),
            ssh: self.ssh.clone().or_else(|| ssh.then(SshSpec::default)),
            underlay_cidrs6: self.underlay_cidrs6.clone().unwrap_or_else(|| {
                if self.ip_family.has_v6() {
                    underlay.default_cidrs6()
                } else {
                    Vec::new()
                }
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(nodes: u32, pods: u32, underlay: Underlay) -> TopologySpec {
        spec6(nodes, pods, underlay, IpFamily::Ipv4)
    }

    fn spec6(nodes: u32, pods: u32, underlay: Underlay, family: IpFamily) -> TopologySpec {
        TopologyRequest {
            nodes: Some(nodes),
            pods_per_node: Some(pods),
            underlay: Some(underlay),
            ip_family: family,
            ..Default::default()
        }
        .resolve(
            &Defaults {
                nodes: 2,
                pods_per_node: 1,
                underlay: Underlay::L2,
                pod_cidr: "100.96.0.0/16".parse().unwrap(),
            },
            PodNetwork::PerNodeBlocks { block_prefix: 24 },
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
        let rt = plan.router().unwrap();
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
        assert!(e.to_string().contains("at most 1000 nodes"), "{e}");
        for pods in [0, MAX_PODS_PER_NODE + 1] {
            let e = Plan::new(spec(2, pods, Underlay::L2), net).unwrap_err();
            assert!(e.to_string().contains("use 1 to 250"), "{e}");
        }
        let e = Plan::new(spec(MAX_NODES, MAX_PODS_PER_NODE, Underlay::L2), net).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--pods-per-node 250: 1000 nodes x 250 pods is 250000 pods, at most 2000 fit one \
             machine: use fewer nodes or pods per node"
        );
        // The pair limit is where pairs are probed: a plan of 1,000 pods is made, and
        // refused for the checks with the fix.
        let plan = Plan::new(spec(MAX_NODES, 1, Underlay::L2), net).unwrap();
        let e = limits::check_probed_pods(&plan).unwrap_err();
        assert!(e.to_string().contains("at most 500 fit"), "{e}");
        assert!(e.to_string().contains("cnbench scale"), "{e}");
        let plan = Plan::new(spec(MAX_PODS / 2, 2, Underlay::L2), net).unwrap();
        assert!(limits::check_probed_pods(&plan).is_ok());
        assert!(Plan::new(spec(1, MAX_PODS_PER_NODE, Underlay::None), net).is_ok());
        // The longest names fit a device name.
        let blocks = PodNetwork::PerNodeBlocks { block_prefix: 24 };
        let mut big = Plan::new(spec(MAX_NODES, 1, Underlay::L2), blocks).unwrap();
        let i = big.add_pod(MAX_NODES - 1);
        assert!(i.is_err(), "churn's pair limit holds for added pods too");
        big.pods.truncate(1);
        let i = big.add_pod(MAX_NODES - 1).unwrap();
        assert_eq!(big.pods[i].host_veth, "vabc123n999p0");
    }

    #[test]
    fn a_thousand_nodes_plan_with_the_defaults_and_small_runs_keep_their_addresses() {
        let blocks = PodNetwork::PerNodeBlocks { block_prefix: 24 };
        for pods in [1, 2] {
            let plan = Plan::new(spec(1000, pods, Underlay::L2), blocks).unwrap();
            assert_eq!(plan.spec.underlay_cidrs[0].to_string(), "10.168.0.0/22");
            assert_eq!(plan.spec.pod_cidr.to_string(), "100.96.0.0/14");
            let last = &plan.nodes[999];
            assert_eq!(last.underlay_ip.unwrap().to_string(), "10.168.3.232/22");
            assert_eq!(last.pod_block.unwrap().to_string(), "100.99.231.0/24");
            assert_eq!(plan.switch.as_ref().unwrap().more_bridges.len(), 0);
            // MACs stay unique past 255 nodes.
            let macs: std::collections::BTreeSet<_> = (0..1000).map(|i| plan.node_mac(i)).collect();
            assert_eq!(macs.len(), 1000);
            assert_eq!(plan.node_mac(3)[1], 0xce);
        }
        let l3 = Plan::new(spec(1000, 1, Underlay::L3), blocks).unwrap();
        assert_eq!(
            l3.nodes[998].underlay_ip.unwrap().to_string(),
            "10.168.3.245/23"
        );
        // Small runs: today's addresses and prefixes.
        let small = Plan::new(spec(250, 2, Underlay::L2), blocks).unwrap();
        assert_eq!(small.spec.underlay_cidrs[0].to_string(), "10.168.0.0/24");
        assert_eq!(small.spec.pod_cidr.to_string(), "100.96.0.0/16");
        assert_eq!(
            small.nodes[2].underlay_ip.unwrap().to_string(),
            "10.168.0.3/24"
        );
        // A pod network given by hand is not widened: refused with the fix.
        let mut given = spec(300, 1, Underlay::L2);
        given.pod_cidr = "100.96.0.0/16".parse().unwrap();
        let e = Plan::new(given, blocks).unwrap_err();
        assert!(e.to_string().contains("300 nodes need one each"), "{e}");
    }

    #[test]
    fn two_routers_take_each_segments_first_and_last_host() {
        let blocks = PodNetwork::PerNodeBlocks { block_prefix: 24 };
        let mut s = spec6(3, 1, Underlay::L3, IpFamily::Dual);
        s.routers = 2;
        let plan = Plan::new(s, blocks).unwrap();
        assert_eq!(
            plan.namespaces()[..3],
            ["cnb-abc123-sw", "cnb-abc123-rt", "cnb-abc123-rt2"]
        );
        let sw = plan.switch.as_ref().unwrap();
        assert_eq!(sw.bridges(), ["br1", "br2"]);
        let rt2 = plan.router_named("rt2").unwrap();
        let segs: Vec<String> = rt2
            .segments
            .iter()
            .map(|(d, n)| format!("{d} {n}"))
            .collect();
        assert_eq!(segs, ["s1 10.168.1.254/24", "s2 10.168.2.254/24"]);
        assert_eq!(rt2.segments6[1].to_string(), "fd00:10:168:2::fe/64");
        assert_eq!(rt2.switch_ports, ["rt2s1", "rt2s2"]);
        assert_eq!(plan.router().unwrap().segments[0].0, "s1");
        // Nodes keep the addresses they have with one router, and route through both.
        assert_eq!(
            plan.nodes[1].underlay_ip.unwrap().to_string(),
            "10.168.2.2/24"
        );
        assert_eq!(plan.nodes[1].switch_bridge, 1);
        let hops: Vec<String> = plan
            .node_routers(&plan.nodes[1])
            .iter()
            .map(|h| h.to_string())
            .collect();
        assert_eq!(
            hops,
            [
                "10.168.2.1",
                "10.168.2.254",
                "fd00:10:168:2::1",
                "fd00:10:168:2::fe"
            ]
        );
        // One router: today's layout, bridges in the router's namespace.
        let one = Plan::new(spec(3, 1, Underlay::L3), blocks).unwrap();
        assert!(one.switch.is_none());
        assert!(!one.router().unwrap().on_switch());
        // A segment full of nodes has no room for the second router.
        let mut full = spec(506, 1, Underlay::L3);
        full.underlay_cidrs = Underlay::L3.default_cidrs();
        full.routers = 2;
        let e = Plan::new(full, blocks).unwrap_err();
        assert!(e.to_string().contains("too small for 255 addresses"), "{e}");
        // Refusals name the fix.
        let mut l2 = spec(2, 1, Underlay::L2);
        l2.routers = 2;
        let e = Plan::new(l2, blocks).unwrap_err();
        assert!(e.to_string().ends_with("add --underlay l3"), "{e}");
    }

    #[test]
    fn a_switch_of_several_bridges_joins_them_by_trunks() {
        let mut s = spec(4, 1, Underlay::L2);
        s.bridge_ports = Some(3);
        let plan = Plan::new(s, PodNetwork::HostNetwork).unwrap();
        let sw = plan.switch.as_ref().unwrap();
        assert_eq!(sw.bridges(), ["br0", "br1"]);
        let on: Vec<usize> = plan.nodes.iter().map(|n| n.switch_bridge).collect();
        assert_eq!(on, [0, 0, 1, 1]);
        assert_eq!(SwitchPlan::trunk(1), ("t1a".into(), "t1b".into()));
        // Only l2 on namespaces is split, and a bridge needs at least 2 ports.
        let mut l3 = spec(4, 1, Underlay::L3);
        l3.bridge_ports = Some(3);
        let e = Plan::new(l3, PodNetwork::HostNetwork).unwrap_err();
        assert!(e.to_string().contains("--underlay l2"), "{e}");
        let mut one = spec(4, 1, Underlay::L2);
        one.bridge_ports = Some(1);
        let e = Plan::new(one, PodNetwork::HostNetwork).unwrap_err();
        assert!(
            e.to_string().starts_with("--bridge-ports 1: use 2 to 1023"),
            "{e}"
        );
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
    fn ipv6_follows_the_ipv4_layout_in_unique_local_ranges() {
        let blocks = PodNetwork::PerNodeBlocks { block_prefix: 24 };
        let plan = Plan::new(spec6(2, 2, Underlay::L2, IpFamily::Dual), blocks).unwrap();
        assert_eq!(plan.spec.pod_cidr6.unwrap().to_string(), "fd00:100:96::/48");
        let n1 = &plan.nodes[1];
        assert_eq!(n1.underlay_ip6.unwrap().to_string(), "fd00:10:168::2/64");
        assert_eq!(n1.pod_block6.unwrap().to_string(), "fd00:100:96:1::/64");
        assert_eq!(n1.pod_gateway6.unwrap().to_string(), "fd00:100:96:1::1/64");
        let p = &plan.pods[3];
        assert_eq!(p.ip6.unwrap().to_string(), "fd00:100:96:1::3/64");
        assert_eq!(p.gateway6.unwrap().to_string(), "fd00:100:96:1::1");
        let addrs: Vec<String> = plan.pod_addrs(p).iter().map(|a| a.to_string()).collect();
        assert_eq!(addrs, ["100.96.1.3", "fd00:100:96:1::3"]);
        // IPv6 only: the pods have their IPv6 address and nothing else.
        let only = Plan::new(spec6(2, 2, Underlay::L2, IpFamily::Ipv6), blocks).unwrap();
        let addrs: Vec<String> = only
            .pod_addrs(&only.pods[0])
            .iter()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(addrs, ["fd00:100:96::2"]);
        assert_eq!(only.node_nets(&only.nodes[0]).len(), 1);
        // l3: the router is ::1 of each segment, nodes alternate as in IPv4.
        let l3 = Plan::new(spec6(3, 1, Underlay::L3, IpFamily::Dual), blocks).unwrap();
        let rt = l3.router().unwrap();
        let segs: Vec<String> = rt.segments6.iter().map(|n| n.to_string()).collect();
        assert_eq!(segs, ["fd00:10:168:1::1/64", "fd00:10:168:2::1/64"]);
        assert_eq!(
            l3.nodes[2].underlay_ip6.unwrap().to_string(),
            "fd00:10:168:1::3/64"
        );
        assert_eq!(
            l3.node_gateways(&l3.nodes[1])
                .iter()
                .map(|g| g.to_string())
                .collect::<Vec<_>>(),
            ["10.168.2.1", "fd00:10:168:2::1"]
        );
        // A single subnet is one /64 that spells docker's.
        assert_eq!(
            default_pod_cidr6("172.17.0.0/16".parse().unwrap(), PodNetwork::SingleSubnet)
                .to_string(),
            "fd00:172:17::/64"
        );
        // An IPv4 run plans no IPv6 and records none.
        let v4 = Plan::new(spec6(2, 1, Underlay::L2, IpFamily::Ipv4), blocks).unwrap();
        assert!(v4.pods.iter().all(|p| p.ip6.is_none()));
        let json = serde_json::to_string(&v4).unwrap();
        assert!(!json.contains("ip6") && !json.contains("cidr6"), "{json}");
    }

    #[test]
    fn ipv6_bad_input_is_refused_with_the_fix() {
        let blocks = PodNetwork::PerNodeBlocks { block_prefix: 24 };
        let mut v4 = spec6(2, 1, Underlay::L2, IpFamily::Ipv4);
        v4.pod_cidr6 = Some("fd00:1::/48".parse().unwrap());
        let e = Plan::new(v4, blocks).unwrap_err();
        assert!(
            e.to_string().ends_with("add --ip-family ipv6 or dual"),
            "{e}"
        );

        let mut mtu = spec6(2, 1, Underlay::L2, IpFamily::Dual);
        mtu.mtu = 1200;
        let e = Plan::new(mtu, blocks).unwrap_err();
        assert!(e.to_string().contains("at least 1280"), "{e}");

        let mut overlap = spec6(2, 1, Underlay::L2, IpFamily::Ipv6);
        overlap.pod_cidr6 = Some("fd00:10::/32".parse().unwrap());
        let e = Plan::new(overlap, blocks).unwrap_err();
        assert!(matches!(e, PlanError::Overlap { .. }), "{e}");
        assert!(e.to_string().contains("--underlay-cidr6"), "{e}");

        let mut link_local = spec6(2, 1, Underlay::L2, IpFamily::Ipv6);
        link_local.underlay_cidrs6 = vec!["fe80::/64".parse().unwrap()];
        let e = Plan::new(link_local, blocks).unwrap_err();
        assert!(e.to_string().contains("link-local"), "{e}");

        let mut small = spec6(2, 1, Underlay::L2, IpFamily::Ipv6);
        small.pod_cidr6 = Some("fd00:100:96::/80".parse().unwrap());
        let e = Plan::new(small, blocks).unwrap_err();
        assert!(e.to_string().contains("must be /64 or larger"), "{e}");

        let mut few = spec6(3, 1, Underlay::L2, IpFamily::Ipv6);
        few.pod_cidr6 = Some("fd00:100:96::/63".parse().unwrap());
        let e = Plan::new(few, blocks).unwrap_err();
        assert!(e.to_string().contains("3 nodes need one each"), "{e}");

        let mut one_segment = spec6(2, 1, Underlay::L3, IpFamily::Dual);
        one_segment.underlay_cidrs6.pop();
        let e = Plan::new(one_segment, blocks).unwrap_err();
        assert!(e.to_string().contains("needs 2 IPv6 subnet"), "{e}");

        let mut host_bits = spec6(2, 1, Underlay::L2, IpFamily::Ipv6);
        host_bits.pod_cidr6 = Some("fd00:100:96::5/48".parse().unwrap());
        let e = Plan::new(host_bits, blocks).unwrap_err();
        assert!(
            e.to_string().contains("did you mean fd00:100:96::/48"),
            "{e}"
        );
    }

    #[test]
    fn pods_added_to_an_ipv6_plan_get_the_first_free_ipv6_address() {
        let blocks = PodNetwork::PerNodeBlocks { block_prefix: 24 };
        let mut plan = Plan::new(spec6(2, 2, Underlay::L2, IpFamily::Dual), blocks).unwrap();
        plan.remove_pod("n0p0").unwrap();
        let i = plan.add_pod(0).unwrap();
        assert_eq!(
            plan.pods[i].ip6.unwrap().to_string(),
            "fd00:100:96::2/64",
            "the removed pod's address is the next one's"
        );
        assert_eq!(plan.pods[i].ip.to_string(), "100.96.0.2/24");
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
