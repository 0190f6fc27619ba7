//! Expectations from the chain's own results: every interface a result names exists in
//! the namespace it names with the MAC and MTU given, every address is on the interface its
//! index points to, every route is present, every gateway answers and is resolved (ARP, or
//! neighbour discovery for IPv6), each in both IP families;
//! then cnbench's oracle where the main plugin makes it meaningful (peers resolved directly
//! on a bridge or macvlan, each pod's MAC learned on its port of the bridge plugin's
//! bridge).

use harness::backend::{
    DeviceMtu, DeviceSet, Expect, Expectations, FdbExpect, InterfaceExpect, IsolationExpect,
    NeighbourExpect, Probe, ProbeProto, RouteExpect,
};
use harness::topology::{Family, NodePlan, Plan, PodPlan};

use crate::conf::NetworkList;
use crate::result::CniResult;
use crate::runtime::attachment_of;

/// Plugins that make devices in the pod their result does not list (the vrf plugin's VRF
/// device): a chain with one gets no exact device set for its pods.
const UNLISTED_DEVICES: [&str; 1] = ["vrf"];

/// The kernel's main routing table (`RT_TABLE_MAIN`).
const MAIN_TABLE: u32 = 254;

/// The link kind of the pod's interface the main plugin makes, where cnbench knows it.
pub fn pod_link_kind(main_plugin: &str) -> &'static str {
    match main_plugin {
        "bridge" | "ptp" => "veth",
        "macvlan" => "macvlan",
        "ipvlan" => "ipvlan",
        "vlan" => "vlan",
        _ => "*",
    }
}

/// Whether pods of one node reach each other at layer 2 (ARP for each other, not for a
/// router): a bridge's ports, a macvlan parent's children.
fn pods_share_l2(main_plugin: &str) -> bool {
    matches!(main_plugin, "bridge" | "macvlan")
}

/// The bridge the bridge plugin puts pods on (`bridge`, default `cni0`), if it is the main
/// plugin.
pub fn bridge_name(network: &NetworkList) -> Option<String> {
    let main = &network.plugins[0];
    (main.plugin_type == "bridge").then(|| main.str_key("bridge").unwrap_or("cni0").to_string())
}

/// The namespace a result's sandbox path names, if it is one of the run's.
fn netns_of_sandbox<'a>(plan: &'a Plan, pod: &'a PodPlan, sandbox: &str) -> String {
    let name = sandbox.rsplit('/').next().unwrap_or(sandbox);
    if plan.pods.iter().any(|p| p.netns == name) || plan.nodes.iter().any(|n| n.netns == name) {
        name.to_string()
    } else if sandbox.is_empty() {
        pod.netns.clone()
    } else {
        sandbox.to_string()
    }
}

/// Everything the results of the pods a chain wired promise, and what cnbench's oracle adds
/// for them: per pod, its devices (exactly the result's pod interfaces), each result
/// interface, each route, each gateway answering and resolved, the MTU of its interface
/// (`pod_mtu`); per node pair of pods, their ARP entries on a shared L2 and the bridge's
/// learned MACs; port isolation between the first two pods. `gateway_probes`: whether to
/// probe each result's gateway (a backend whose matrix probes the node's gateway already
/// says no).
pub fn pod_expectations(
    plan: &Plan,
    network: &NetworkList,
    pod_mtu: u32,
    gateway_probes: bool,
) -> Expectations {
    let mut e = Expectations::default();
    let main = network.plugins[0].plugin_type.as_str();
    let bridge = bridge_name(network);
    let adds_unlisted_devices = network
        .plugins
        .iter()
        .any(|p| UNLISTED_DEVICES.contains(&p.plugin_type.as_str()));
    let wired: Vec<(&PodPlan, String, CniResult)> = plan
        .pods
        .iter()
        .filter_map(|p| attachment_of(p).map(|(a, r)| (p, a.ifname, r)))
        .collect();
    for (pod, ifname, r) in &wired {
        let node = plan.node_of(pod);
        let source = |what: &str| format!("{}: {what} of the chain's ADD result", pod.role);
        // The pod's devices are exactly its result's, unless a plugin of the chain makes one
        // it does not list (vrf's device, by design).
        if !adds_unlisted_devices {
            e.devices.push(DeviceSet {
                netns: pod.netns.clone(),
                devices: r
                    .pod_interfaces()
                    .map(|(_, i)| (i.name.clone(), pod_link_kind(main).to_string()))
                    .collect(),
            });
        }
        for (idx, i) in r.interfaces.iter().enumerate() {
            let netns = if i.in_pod() {
                netns_of_sandbox(plan, pod, i.sandbox.as_deref().unwrap_or(""))
            } else {
                node.netns.clone()
            };
            e.interfaces.push(InterfaceExpect {
                netns,
                dev: i.name.clone(),
                mac: i.mac.clone(),
                mtu_bytes: i.mtu,
                // An address without an interface index is the pod's CNI_IFNAME's (the
                // specification makes the index optional).
                addresses: r
                    .ips
                    .iter()
                    .filter(|ip| match ip.interface {
                        Some(k) => k == idx,
                        None => i.in_pod() && i.name == *ifname,
                    })
                    .map(|ip| ip.address)
                    .collect(),
                source: source(&format!("interfaces[{idx}]")),
            });
        }
        // Each family's gateway: the first address of the family that names one (a route
        // without `gw` goes through it, as the reference plugins' `ConfigureIface` does).
        let gateway_of = |family: Family| {
            r.ips.iter().find_map(|ip| match ip.gateway {
                Some(g) if Family::of(ip.address.addr()) == family && Family::of(g) == family => {
                    Some(g)
                }
                _ => None,
            })
        };
        let single_if = {
            let mut ifs = r.pod_interfaces();
            match (ifs.next(), ifs.next()) {
                (Some((_, i)), None) => Some(i.name.clone()),
                _ => None,
            }
        };
        for (k, route) in r.routes.iter().enumerate() {
            // cnbench reads the main table (254); a route a 1.1 result puts in another is not
            // checked here.
            if route.table.is_some_and(|t| t != MAIN_TABLE) {
                continue;
            }
            let family = Family::of(route.dst.addr());
            let via = match route.gw {
                Some(g) if Family::of(g) == family => Some(g),
                // A next hop of the other family is not a route the kernel takes.
                Some(_) => continue,
                None => gateway_of(family),
            };
            e.present_routes.push(RouteExpect {
                netns: pod.netns.clone(),
                dst: route.dst,
                via,
                dev: single_if.clone(),
                source: source(&format!("routes[{k}]")),
            });
        }
        e.mtus.push(DeviceMtu {
            netns: pod.netns.clone(),
            dev: ifname.clone(),
            mtu_bytes: pod_mtu,
        });
        // The gateway's owner on the node: the bridge plugin's bridge; ptp's host end of
        // this pod's own pair (every pair's host end holds the gateway address); else
        // whichever device holds it.
        let owner_dev = match (&bridge, main) {
            (Some(b), _) => b.clone(),
            (None, "ptp") => r
                .node_interfaces()
                .next()
                .map(|(_, i)| i.name.clone())
                .unwrap_or_default(),
            _ => String::new(),
        };
        for family in plan.families() {
            // A gateway is promised to answer where the pod routes through it (a result may
            // name one its routes never use: host-local always does).
            let Some(gw) = gateway_of(family).filter(|gw| {
                r.routes.iter().any(|route| match route.gw {
                    Some(g) => g == *gw,
                    None => Family::of(route.dst.addr()) == family,
                })
            }) else {
                continue;
            };
            if gateway_probes {
                e.reachability.push(Probe {
                    from: pod.role.clone(),
                    from_netns: pod.netns.clone(),
                    to: format!("gateway {gw}"),
                    to_netns: node.netns.clone(),
                    to_ip: gw,
                    proto: ProbeProto::Icmp,
                    path: "pod-node".into(),
                    expect: Expect::Reach,
                });
            }
            // Resolved by ARP for IPv4, by neighbour discovery for IPv6 (RFC 4861 §7).
            e.neighbours.push(NeighbourExpect {
                netns: pod.netns.clone(),
                dev: ifname.clone(),
                ip: gw,
                owner_netns: node.netns.clone(),
                owner_dev: owner_dev.clone(),
            });
        }
        if let Some(b) = &bridge {
            if let Some((_, port)) = r.node_interfaces().find(|(_, i)| i.name != *b) {
                e.fdb.push(FdbExpect {
                    netns: node.netns.clone(),
                    bridge: b.clone(),
                    port: port.name.clone(),
                    mac_netns: pod.netns.clone(),
                    mac_dev: ifname.clone(),
                    label: pod.role.clone(),
                });
            }
        }
    }
    if pods_share_l2(main) {
        for (pod, ifname, _) in &wired {
            for (peer, peer_if, _) in wired
                .iter()
                .filter(|(p, _, _)| p.node == pod.node && p.role != pod.role)
            {
                // Each family of the run whose addresses share a subnet: the pods resolve
                // each other directly (ARP, or neighbour discovery for IPv6).
                for family in plan.families() {
                    let (Some(a), Some(b)) =
                        (plan.pod_net(pod, family), plan.pod_net(peer, family))
                    else {
                        continue;
                    };
                    if a.trunc() != b.trunc() {
                        continue;
                    }
                    e.neighbours.push(NeighbourExpect {
                        netns: pod.netns.clone(),
                        dev: ifname.clone(),
                        ip: b.addr(),
                        owner_netns: peer.netns.clone(),
                        owner_dev: peer_if.clone(),
                    });
                }
            }
        }
    }
    if let [(a, _, _), (b, _, _), ..] = wired.as_slice() {
        e.isolation.push(IsolationExpect {
            a: (a.role.clone(), a.netns.clone()),
            b: (b.role.clone(), b.netns.clone()),
            shared_ports: false,
        });
    }
    e
}

/// The devices the chain made on `node`, as its pods' results name them (each once): the
/// bridge plugin's bridge, host ends of veth pairs, bandwidth's ifb devices; `*` (any kind)
/// where cnbench cannot tell from a name.
pub fn node_devices(plan: &Plan, network: &NetworkList, node: &NodePlan) -> Vec<(String, String)> {
    let bridge = bridge_name(network);
    let main = network.plugins[0].plugin_type.as_str();
    let mut out: Vec<(String, String)> = Vec::new();
    for pod in plan.pods.iter().filter(|p| p.node == node.index) {
        let Some((_, r)) = attachment_of(pod) else {
            continue;
        };
        for (_, i) in r.node_interfaces() {
            if out.iter().any(|(n, _)| *n == i.name) {
                continue;
            }
            let kind = if bridge.as_deref() == Some(i.name.as_str()) {
                "bridge"
            } else if matches!(main, "bridge" | "ptp") && i.name.starts_with("veth") {
                "veth"
            } else if i.name.starts_with("bwp") {
                "ifb"
            } else {
                "*"
            };
            out.push((i.name.clone(), kind.to_string()));
        }
    }
    out
}
