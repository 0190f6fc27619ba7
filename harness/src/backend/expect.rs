//! What a backend promises about the topology it built ([`Expectations`]): devices, routes,
//! MTUs, kernel settings, neighbour and FDB entries, the reachability matrix, the wire, the
//! path, and the pod pairs to measure. The checks compare each with what the kernel shows or
//! traffic does.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::host::Host;
use crate::netlink::RouteSpec;
use crate::topology::{Family, IpFamily, Plan};

/// Whether a probe must succeed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "expect", rename_all = "snake_case")]
pub enum Expect {
    /// It must get through.
    Reach,
    /// It must not, and this is why (shown as an expected failure).
    Unreachable {
        /// The reason, from the backend.
        reason: String,
    },
}

/// A protocol a reachability probe uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeProto {
    /// ICMP echo.
    Icmp,
    /// A TCP connect to a listener in the target namespace.
    Tcp,
}

/// One cell of the reachability matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    /// Label of the source (`n0p0`).
    pub from: String,
    /// Namespace the probe is sent from.
    pub from_netns: String,
    /// Label of the target (`n1p0`, `node n0`).
    pub to: String,
    /// Namespace that owns the target address (a TCP listener is opened there).
    pub to_netns: String,
    /// Target address.
    pub to_ip: IpAddr,
    /// Protocol.
    pub proto: ProbeProto,
    /// The path class (`same-node`, `cross-node`, `pod-node`).
    pub path: String,
    /// What must happen.
    pub expect: Expect,
}

/// A device whose MTU is declared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceMtu {
    /// Namespace.
    pub netns: String,
    /// Device.
    pub dev: String,
    /// MTU in bytes.
    pub mtu_bytes: u32,
}

/// After traffic, `netns` must have a resolved neighbour entry on `dev` for `ip`, holding
/// the MAC of `owner_dev` in `owner_netns`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighbourExpect {
    /// Namespace holding the entry.
    pub netns: String,
    /// Device of the entry.
    pub dev: String,
    /// The neighbour's IP.
    pub ip: IpAddr,
    /// Namespace of the device that owns `ip`.
    pub owner_netns: String,
    /// The device that owns `ip`; empty: whichever device of `owner_netns` holds it.
    pub owner_dev: String,
}

/// After traffic, bridge `bridge` in `netns` must have learned the MAC of `mac_dev` (in
/// `mac_netns`) on port `port`: the article's CAM table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FdbExpect {
    /// Namespace of the bridge.
    pub netns: String,
    /// The bridge.
    pub bridge: String,
    /// The port the MAC must be learned on.
    pub port: String,
    /// Namespace of the device whose MAC it is.
    pub mac_netns: String,
    /// The device whose MAC it is.
    pub mac_dev: String,
    /// Label for output (`n0p0`).
    pub label: String,
}

/// Port-space isolation between two pods.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IsolationExpect {
    /// First pod label and namespace.
    pub a: (String, String),
    /// Second pod label and namespace.
    pub b: (String, String),
    /// True when both share one port space (host network): the second bind must fail.
    pub shared_ports: bool,
}

/// A pair of pods to measure between.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeasurePair {
    /// Index into `plan.pods` of the client.
    pub client: usize,
    /// Index into `plan.pods` of the server.
    pub server: usize,
    /// `same-node` or `cross-node`.
    pub path: String,
}

/// The exact set of devices (other than `lo`) in a namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceSet {
    /// Namespace.
    pub netns: String,
    /// `(name, kind)` of every device, kind as the kernel names it (`veth`, `bridge`, `vxlan`,
    /// `tun`), or `*` for any kind (a device a plugin's result names without its kind).
    pub devices: Vec<(String, String)>,
}

/// A VXLAN control-plane entry: on `dev` in `netns`, the remote VTEP (`remote_vtep_ip`, the
/// remote node's `flannel.1` address) has a permanent neighbour entry with the MAC of
/// `owner_dev` in `owner_netns`, and that MAC has an FDB entry whose destination is the remote
/// node's underlay IP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VtepExpect {
    /// Namespace holding the entries.
    pub netns: String,
    /// The VXLAN device.
    pub dev: String,
    /// The remote node's underlay IP (FDB `dst`).
    pub remote_node_ip: IpAddr,
    /// The remote VTEP's overlay IP (neighbour entry).
    pub remote_vtep_ip: IpAddr,
    /// Namespace of the remote VTEP device.
    pub owner_netns: String,
    /// The remote VTEP device.
    pub owner_dev: String,
}

/// How pod-to-pod packets look on the underlay wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "wire", rename_all = "kebab-case")]
pub enum Wire {
    /// Not encapsulated: the pod IPs are the packet's own (host-gw, bgp, and the single
    /// node's bridge).
    Plain,
    /// Inside UDP to `port` between the node IPs; with a VXLAN header carrying `vni`.
    Udp {
        /// Destination UDP port (8285 flannel UDP, 8472 flannel VXLAN).
        port: u16,
        /// VXLAN network identifier, when the payload is a VXLAN frame.
        vni: Option<u32>,
    },
    /// IP-in-IP (IP protocol 4) between the node IPs.
    IpIp,
}

/// Capture on the underlay while a pod pings a pod on another node, and check what the
/// packets look like.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncapExpect {
    /// Index into `plan.pods` of the sender.
    pub from: usize,
    /// Index into `plan.pods` of the receiver.
    pub to: usize,
    /// Namespace to capture in (the switch or the router).
    pub capture_netns: String,
    /// Device to capture on (the sender node's port there).
    pub capture_dev: String,
    /// What the packets must look like.
    pub wire: Wire,
}

/// A don't-fragment probe from one pod to another: `path_mtu` bytes must get through, one
/// more must be refused (an ICMP "fragmentation needed", or the sender's own kernel refusing
/// it), never dropped in silence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PmtuExpect {
    /// Index into `plan.pods` of the sender.
    pub from: usize,
    /// Index into `plan.pods` of the receiver.
    pub to: usize,
    /// The largest IP packet, in bytes, that crosses the path.
    pub path_mtu: u32,
}

/// Facts of one pod-to-pod path: the routed hops a packet takes (the reply's TTL is 64 minus
/// them), and that the receiver sees the sender's own pod IP as the source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathExpect {
    /// Index into `plan.pods` of the sender.
    pub from: usize,
    /// Index into `plan.pods` of the receiver.
    pub to: usize,
    /// IP hops (routers, including nodes that route) between them.
    pub hops: u8,
}

/// A device a component said it made (a CNI plugin's result): it exists in `netns`, with
/// the MAC and MTU given, holding every address given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceExpect {
    /// Namespace it must be in.
    pub netns: String,
    /// Its name.
    pub dev: String,
    /// Its MAC (`aa:bb:cc:dd:ee:ff`), when the promise names one.
    pub mac: Option<String>,
    /// Its MTU in bytes, when the promise names one.
    pub mtu_bytes: Option<u32>,
    /// Addresses (with prefix) it must hold.
    pub addresses: Vec<IpNet>,
    /// Who promised it, for output (`n0p0: bridge ADD result`).
    pub source: String,
}

/// A route that must be among the routes of a namespace's main table (where a backend does
/// not own the whole table: a plugin's result lists the routes it added, not the kernel's
/// connected ones).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteExpect {
    /// Namespace.
    pub netns: String,
    /// Destination.
    pub dst: IpNet,
    /// Gateway, if the route has one.
    pub via: Option<IpAddr>,
    /// Output device, when the promise names it.
    pub dev: Option<String>,
    /// Who promised it, for output.
    pub source: String,
}

impl std::fmt::Display for RouteExpect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.dst.prefix_len() == 0 {
            f.write_str("default")?;
        } else {
            write!(f, "{}", self.dst)?;
        }
        if let Some(via) = self.via {
            write!(f, " via {via}")?;
        }
        if let Some(dev) = &self.dev {
            write!(f, " dev {dev}")?;
        }
        Ok(())
    }
}

/// A kernel setting of a namespace that a backend relies on: `key` must read `value`.
///
/// Setup writes the very list it declares ([`SysctlExpect::write`]), from one function per
/// setting, so what is set and what is checked cannot drift apart. A setting changed by hand
/// later breaks the datapath, often only once some cache expires (a pod's neighbour entry for
/// its gateway outlives the proxy ARP that made it); the `sysctls` check sees it at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SysctlExpect {
    /// The key, dotted as `sysctl` names it (`net.ipv4.conf.cali1a2b3c4d.proxy_arp`); a device
    /// name in it must have no dot (`/proc/sys` paths are made by replacing every dot).
    pub key: String,
    /// The value the kernel must show, as `/proc/sys` prints it without the newline (`1`).
    pub value: String,
}

impl SysctlExpect {
    /// `key` must read `value`.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> SysctlExpect {
        SysctlExpect {
            key: key.into(),
            value: value.into(),
        }
    }

    /// IPv4 forwarding on, which every namespace that routes needs (a node between its pods
    /// and the underlay, the l3 underlay's router). `net.ipv4.ip_forward` is per namespace
    /// and off in a new one; off, the kernel drops every packet it would have to forward,
    /// without an ICMP error (`ip_error` only counts it, as `InAddrErrors`).
    pub fn ip_forward() -> SysctlExpect {
        SysctlExpect::new("net.ipv4.ip_forward", "1")
    }

    /// IPv6 forwarding on (`net.ipv6.conf.all.forwarding`), the IPv6 counterpart: off, the
    /// kernel drops what it would forward and answers nothing (RFC 4443 allows silence).
    /// On, the namespace is an IPv6 router: it neither accepts router advertisements nor
    /// solicits them.
    pub fn ip6_forward() -> SysctlExpect {
        SysctlExpect::new("net.ipv6.conf.all.forwarding", "1")
    }

    /// Forwarding on for each family of `family`, IPv4's first: what a namespace that routes
    /// (a node, the l3 router) needs, and nothing for a family the run does not have.
    pub fn forwarding(family: IpFamily) -> Vec<SysctlExpect> {
        family
            .families()
            .into_iter()
            .map(|f| match f {
                Family::V4 => SysctlExpect::ip_forward(),
                Family::V6 => SysctlExpect::ip6_forward(),
            })
            .collect()
    }

    /// Writes `sysctls` in `host`'s namespace, all at once.
    pub fn write(host: &Host, sysctls: &[SysctlExpect]) -> Result<()> {
        let pairs: Vec<(&str, &str)> = sysctls
            .iter()
            .map(|s| (s.key.as_str(), s.value.as_str()))
            .collect();
        host.set_sysctls(&pairs)
    }
}

impl std::fmt::Display for SysctlExpect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

/// Everything a backend promises about the topology it built.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expectations {
    /// The exact main-table routes of each namespace (IPv4 and IPv6).
    pub routes: BTreeMap<String, Vec<RouteSpec>>,
    /// MTUs of the devices on the path.
    pub mtus: Vec<DeviceMtu>,
    /// The kernel settings of each namespace that the datapath relies on (forwarding, proxy
    /// ARP), by namespace.
    pub sysctls: BTreeMap<String, Vec<SysctlExpect>>,
    /// The reachability matrix.
    pub reachability: Vec<Probe>,
    /// Neighbour entries that traffic must leave behind.
    pub neighbours: Vec<NeighbourExpect>,
    /// Bridge FDB entries that traffic must leave behind.
    pub fdb: Vec<FdbExpect>,
    /// Port-space isolation checks.
    pub isolation: Vec<IsolationExpect>,
    /// Pod pairs to measure.
    pub measure: Vec<MeasurePair>,
    /// Exact device sets per namespace.
    pub devices: Vec<DeviceSet>,
    /// VXLAN FDB and neighbour entries.
    pub vteps: Vec<VtepExpect>,
    /// Encapsulation seen on the wire.
    pub encap: Vec<EncapExpect>,
    /// Path MTU probes.
    pub pmtu: Vec<PmtuExpect>,
    /// TTL and source-address facts of paths.
    pub paths: Vec<PathExpect>,
    /// Devices a component's result promised.
    pub interfaces: Vec<InterfaceExpect>,
    /// Routes that must be present, among others.
    pub present_routes: Vec<RouteExpect>,
    /// Namespaces whose main table something else writes to as well (a CNI chain on a
    /// node): the routes declared for them must be present, others may be too.
    pub shared_route_tables: Vec<String>,
}

impl Expectations {
    /// Adds everything of `other` to `self`.
    pub fn merge(&mut self, other: Expectations) {
        for (ns, routes) in other.routes {
            self.routes.entry(ns).or_default().extend(routes);
        }
        self.mtus.extend(other.mtus);
        for (ns, sysctls) in other.sysctls {
            self.sysctls.entry(ns).or_default().extend(sysctls);
        }
        self.reachability.extend(other.reachability);
        self.neighbours.extend(other.neighbours);
        self.fdb.extend(other.fdb);
        self.isolation.extend(other.isolation);
        self.measure.extend(other.measure);
        self.devices.extend(other.devices);
        self.vteps.extend(other.vteps);
        self.encap.extend(other.encap);
        self.pmtu.extend(other.pmtu);
        self.paths.extend(other.paths);
        self.interfaces.extend(other.interfaces);
        self.present_routes.extend(other.present_routes);
        self.shared_route_tables.extend(other.shared_route_tables);
    }

    /// Adds routes for a namespace.
    pub fn add_routes(&mut self, netns: &str, routes: impl IntoIterator<Item = RouteSpec>) {
        self.routes
            .entry(netns.to_string())
            .or_default()
            .extend(routes);
    }

    /// Declares kernel settings of a namespace (one: `[SysctlExpect::ip_forward()]`).
    pub fn add_sysctls(&mut self, netns: &str, sysctls: impl IntoIterator<Item = SysctlExpect>) {
        self.sysctls
            .entry(netns.to_string())
            .or_default()
            .extend(sysctls);
    }

    /// Declares IPv4 forwarding on in every node: what a backend whose nodes route between
    /// their pods and the underlay writes in each with [`SysctlExpect::ip_forward`].
    pub fn add_node_forwarding(&mut self, plan: &Plan) {
        for node in &plan.nodes {
            self.add_sysctls(&node.netns, SysctlExpect::forwarding(plan.ip_family()));
        }
    }

    /// Adds the full pod-to-pod matrix (ICMP and TCP for every ordered pair of pods, to each
    /// of the target's addresses: both families of a dual-stack run) and, for pods with their
    /// own namespace, pod-to-own-node probes, all expected to succeed. A backend then marks
    /// the cells it expects to fail.
    pub fn add_full_matrix(&mut self, plan: &Plan) {
        for a in &plan.pods {
            for b in &plan.pods {
                if a.role == b.role {
                    continue;
                }
                let path = if a.node == b.node {
                    "same-node"
                } else {
                    "cross-node"
                };
                for to_ip in plan.pod_addrs(b) {
                    for proto in [ProbeProto::Icmp, ProbeProto::Tcp] {
                        self.reachability.push(Probe {
                            from: a.role.clone(),
                            from_netns: a.netns.clone(),
                            to: b.role.clone(),
                            to_netns: b.netns.clone(),
                            to_ip,
                            proto,
                            path: path.into(),
                            expect: Expect::Reach,
                        });
                    }
                }
            }
            if a.own_netns {
                let node = plan.node_of(a);
                for family in plan.families() {
                    if let Some(gw) = plan.node_pod_gateway(node, family) {
                        self.reachability.push(Probe {
                            from: a.role.clone(),
                            from_netns: a.netns.clone(),
                            to: format!("node {}", node.role),
                            to_netns: node.netns.clone(),
                            to_ip: gw.addr(),
                            proto: ProbeProto::Icmp,
                            path: "pod-node".into(),
                            expect: Expect::Reach,
                        });
                    }
                }
            }
        }
    }

    /// The first pod pair on different nodes (`(from, to)` indices into `plan.pods`), if any;
    /// with `same_segment`, only nodes on one underlay segment.
    pub fn cross_node_pair(plan: &Plan, same_segment: bool) -> Option<(usize, usize)> {
        plan.pods.iter().enumerate().find_map(|(i, a)| {
            plan.pods.iter().enumerate().find_map(|(j, b)| {
                let (na, nb) = (plan.node_of(a), plan.node_of(b));
                (a.node != b.node && (!same_segment || na.segment == nb.segment)).then_some((i, j))
            })
        })
    }

    /// The first pod pair on one node, if any.
    pub fn same_node_pair(plan: &Plan) -> Option<(usize, usize)> {
        plan.pods.iter().enumerate().find_map(|(i, a)| {
            plan.pods
                .iter()
                .enumerate()
                .find_map(|(j, b)| (i != j && a.node == b.node && a.ip != b.ip).then_some((i, j)))
        })
    }

    /// Declares the facts of the path from pod `from` to pod `to`: its MTU (`path_mtu`
    /// bytes), its routed hops (TTL) and an unchanged source address; and, when the pods are
    /// on different nodes of an underlay, what its packets look like on the wire there
    /// (captured on the sending node's switch or router port).
    pub fn add_path_facts(
        &mut self,
        plan: &Plan,
        (from, to): (usize, usize),
        hops: u8,
        path_mtu: u32,
        wire: Wire,
    ) {
        self.pmtu.push(PmtuExpect { from, to, path_mtu });
        self.paths.push(PathExpect { from, to, hops });
        let (a, b) = (&plan.pods[from], &plan.pods[to]);
        if a.node == b.node {
            return;
        }
        let node = plan.node_of(a);
        let hub = plan
            .switch
            .as_ref()
            .map(|s| s.netns.clone())
            .or_else(|| plan.router().map(|r| r.netns.clone()));
        if let Some(capture_netns) = hub {
            self.encap.push(EncapExpect {
                from,
                to,
                capture_netns,
                capture_dev: node.switch_port.clone(),
                wire,
            });
        }
    }

    /// Measures between the first pod pair of each path class the plan has (same-node and
    /// cross-node), cross-node first.
    pub fn add_default_measure_pairs(&mut self, plan: &Plan) {
        let find = |same: bool| {
            plan.pods.iter().enumerate().find_map(|(i, a)| {
                plan.pods
                    .iter()
                    .enumerate()
                    .find(|(j, b)| *j != i && (a.node == b.node) == same && a.ip != b.ip)
                    .map(|(j, _)| (i, j))
            })
        };
        if let Some((c, s)) = find(false) {
            self.measure.push(MeasurePair {
                client: c,
                server: s,
                path: "cross-node".into(),
            });
        }
        if let Some((c, s)) = find(true) {
            self.measure.push(MeasurePair {
                client: c,
                server: s,
                path: "same-node".into(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_every_namespaces_sysctls() {
        let proxy_arp = SysctlExpect::new("net.ipv4.conf.cali0.proxy_arp", "1");
        let mut a = Expectations::default();
        a.add_sysctls("cnb-t1-rt", [SysctlExpect::ip_forward()]);
        a.add_sysctls("cnb-t1-n0", [SysctlExpect::ip_forward()]);
        let mut b = Expectations::default();
        b.add_sysctls("cnb-t1-n0", [proxy_arp.clone()]);
        b.add_sysctls("cnb-t1-n1", [SysctlExpect::ip_forward()]);
        a.merge(b);
        assert_eq!(a.sysctls["cnb-t1-rt"], [SysctlExpect::ip_forward()]);
        assert_eq!(
            a.sysctls["cnb-t1-n0"],
            [SysctlExpect::ip_forward(), proxy_arp]
        );
        assert_eq!(a.sysctls["cnb-t1-n1"], [SysctlExpect::ip_forward()]);
        assert_eq!(
            SysctlExpect::ip_forward().to_string(),
            "net.ipv4.ip_forward=1"
        );
    }
}
