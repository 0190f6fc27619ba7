//! The pod side every bridge-based backend shares (docker's `docker0`, flannel's `cni0`): a
//! bridge in each node holding the node's pod gateway address, and each pod's veth pair on
//! it. Backends call these so the wiring and its declarations are written once.

use crate::topology::Defaults;
use std::net::Ipv4Addr;

use ipnet::{IpNet, Ipv4Net};

use crate::backend::{
    BackendInfo, Context, Datapath, DeviceMtu, DeviceSet, Expectations, FdbExpect, Ipv6Support,
    IsolationExpect, NeighbourExpect, PodLifecycle, Wire,
};
use crate::error::Result;
use crate::netlink::RouteSpec;
use crate::topology::{NodePlan, Plan, PodNetwork, PodPlan, Underlay};

/// Builds `bridge` in `node` with the node's pod gateway address and every pod of the node
/// on it, pods' links at `pod_mtu`.
pub fn build_pod_bridge(
    ctx: &Context<'_>,
    node: &NodePlan,
    bridge: &str,
    pod_mtu: u32,
) -> Result<()> {
    let plan = ctx.plan;
    let nl = ctx.host(&node.netns).nl();
    nl.set_up("lo")?;
    nl.create_bridge(bridge, plan.bridge_mac(0x10 + node.index as u8), pod_mtu)?;
    for gw in gateways(plan, node) {
        nl.add_address(bridge, gw)?;
    }
    nl.set_up(bridge)?;
    for pod in plan.pods.iter().filter(|p| p.node == node.index) {
        attach_pod(ctx, pod, bridge, pod_mtu)?;
    }
    Ok(())
}

/// The node's addresses on its pod bridge, one per family of the run (the pods' gateways).
fn gateways(plan: &Plan, node: &NodePlan) -> Vec<IpNet> {
    plan.families()
        .into_iter()
        .filter_map(|f| plan.node_pod_gateway(node, f))
        .collect()
}

/// Wires `pod` to `bridge` of its node: its veth pair, the host end a port of the bridge.
pub fn attach_pod(ctx: &Context<'_>, pod: &PodPlan, bridge: &str, pod_mtu: u32) -> Result<()> {
    ctx.wire_pod_veth(pod, pod_mtu)?;
    ctx.host(&ctx.plan.node_of(pod).netns)
        .nl()
        .set_master(&pod.host_veth, bridge)
}

/// Pods added to and removed from a pod bridge on a standing topology: the pod's veth pair
/// made and put on the bridge, or deleted (deleting one end deletes both). Nothing else
/// changes: the pod is in its node's block, which every route and tunnel already covers.
#[derive(Debug, Clone, Copy)]
pub struct BridgePods {
    /// The pod bridge (`cni0`, `docker0`).
    pub bridge: &'static str,
    /// Bytes the pod MTU is below the underlay's (the encapsulation's overhead).
    pub overhead_bytes: u32,
}

impl PodLifecycle for BridgePods {
    fn add_pod(&self, ctx: &Context<'_>, pod: &PodPlan) -> Result<()> {
        let mtu = ctx.plan.spec.mtu - self.overhead_bytes;
        attach_pod(ctx, pod, self.bridge, mtu)
    }

    fn remove_pod(&self, ctx: &Context<'_>, pod: &PodPlan) -> Result<()> {
        ctx.host(&ctx.plan.node_of(pod).netns)
            .nl()
            .delete_link(&pod.host_veth)
    }
}

/// What [`build_pod_bridge`] promises, on every node: the bridge's connected route in the
/// node; each pod's default route via the bridge and its connected route; MTUs of the
/// bridge, both veth ends; each pod's MAC learned on its own port (the CAM table); each pod's
/// ARP entries for its same-node peers and its gateway; separate port spaces.
pub fn pod_bridge_expectations(plan: &Plan, bridge: &str, pod_mtu: u32) -> Expectations {
    let mut e = Expectations::default();
    for node in &plan.nodes {
        let mut devices = vec![(bridge.to_string(), "bridge".to_string())];
        devices.extend(
            plan.pods
                .iter()
                .filter(|p| p.node == node.index)
                .map(|p| (p.host_veth.clone(), "veth".to_string())),
        );
        e.devices.push(DeviceSet {
            netns: node.netns.clone(),
            devices,
        });
        e.add_routes(
            &node.netns,
            gateways(plan, node)
                .into_iter()
                .map(|gw| RouteSpec::connected(gw, bridge)),
        );
        e.mtus.push(DeviceMtu {
            netns: node.netns.clone(),
            dev: bridge.into(),
            mtu_bytes: pod_mtu,
        });
    }
    let pods = &plan.pods;
    for pod in pods {
        let node = plan.node_of(pod);
        let gws = gateways(plan, node);
        e.devices.push(DeviceSet {
            netns: pod.netns.clone(),
            devices: vec![("eth0".into(), "veth".into())],
        });
        for family in plan.families() {
            let (Some(gw), Some(ip)) = (
                plan.node_pod_gateway(node, family),
                plan.pod_net(pod, family),
            ) else {
                continue;
            };
            e.add_routes(
                &pod.netns,
                [
                    RouteSpec::default_via(gw.addr(), "eth0"),
                    RouteSpec::connected(ip, "eth0"),
                ],
            );
        }
        for (netns, dev) in [(&pod.netns, "eth0"), (&node.netns, pod.host_veth.as_str())] {
            e.mtus.push(DeviceMtu {
                netns: netns.clone(),
                dev: dev.into(),
                mtu_bytes: pod_mtu,
            });
        }
        e.fdb.push(FdbExpect {
            netns: node.netns.clone(),
            bridge: bridge.into(),
            port: pod.host_veth.clone(),
            mac_netns: pod.netns.clone(),
            mac_dev: "eth0".into(),
            label: pod.role.clone(),
        });
        // ARP entries for IPv4, NDP entries for IPv6: each family resolves on its own.
        for peer in pods
            .iter()
            .filter(|p| p.node == pod.node && p.role != pod.role)
        {
            for ip in plan.pod_addrs(peer) {
                e.neighbours.push(NeighbourExpect {
                    netns: pod.netns.clone(),
                    dev: "eth0".into(),
                    ip,
                    owner_netns: peer.netns.clone(),
                    owner_dev: "eth0".into(),
                });
            }
        }
        for gw in gws {
            e.neighbours.push(NeighbourExpect {
                netns: pod.netns.clone(),
                dev: "eth0".into(),
                ip: gw.addr(),
                owner_netns: node.netns.clone(),
                owner_dev: bridge.into(),
            });
        }
    }
    if let [a, b, ..] = pods.as_slice() {
        e.isolation.push(IsolationExpect {
            a: (a.role.clone(), a.netns.clone()),
            b: (b.role.clone(), b.netns.clone()),
            shared_ports: false,
        });
    }
    e
}

/// Declares a device `dev` of kernel kind `kind` at `mtu` beside the pod bridge on every node
/// (a tunnel's device: `flannel.1`, `flannel0`, `tunl0`): in the node's exact device set,
/// with its MTU.
pub fn add_node_device(e: &mut Expectations, plan: &Plan, dev: &str, kind: &str, mtu: u32) {
    for node in &plan.nodes {
        if let Some(set) = e.devices.iter_mut().find(|d| d.netns == node.netns) {
            set.devices.push((dev.into(), kind.into()));
        }
        e.mtus.push(DeviceMtu {
            netns: node.netns.clone(),
            dev: dev.into(),
            mtu_bytes: mtu,
        });
    }
}

/// What every overlay on a pod bridge promises beyond its own devices and routes: every pod
/// reaches every other, the default pod pairs are measured, the nodes' tunnelled traffic
/// leaves its traces on the underlay (every node sends to every other over eth0: the switch
/// or router bridge learns its MAC, and it resolves its peer or its router), and a
/// cross-node path has two routed hops (the source node routes cni0 -> tunnel, the
/// destination tunnel -> cni0; on l3 the router decrements only the outer header's TTL), a
/// path MTU of the pods' links (the overhead below the underlay's, so a full pod packet plus
/// its wrapping is exactly one underlay MTU), and `wire` on the underlay.
pub fn add_overlay_facts(e: &mut Expectations, plan: &Plan, pod_mtu: u32, wire: Wire) {
    e.add_full_matrix(plan);
    e.add_default_measure_pairs(plan);
    e.merge(crate::underlay::mesh_traffic_expectations(plan));
    if let Some(pair) = Expectations::cross_node_pair(plan, false) {
        e.add_path_facts(plan, pair, 2, pod_mtu, wire);
    }
}

/// The facts every flannel-style backend shares, to build its [`crate::backend::BackendInfo`]
/// from (`BackendInfo { name: ..., ..podnet::FLANNEL_STYLE }`): the article's cross-host
/// shape and addressing, either underlay, and a pod bridge of veths.
pub const FLANNEL_STYLE: BackendInfo = BackendInfo {
    name: "",
    summary: "",
    datapath: Datapath::Kernel,
    defaults: FLANNEL_DEFAULTS,
    pod_network: FLANNEL_POD_NETWORK,
    overhead_bytes: 0,
    underlays: &[Underlay::L2, Underlay::L3],
    programs: &[],
    link_kinds: &["veth", "bridge"],
    optional_kinds: &[],
    daemon_device: None,
    options: &[],
    faults: &[],
    ipv6: Ipv6Support::NotYet,
};

/// How flannel-style backends address pods: a /24 per node from the pod network.
pub const FLANNEL_POD_NETWORK: PodNetwork = PodNetwork::PerNodeBlocks { block_prefix: 24 };

/// The article's cross-host shape for flannel-style backends: 2 nodes with 2 pods each on an
/// l2 underlay, pods from 100.96.0.0/16 (100.96.N.0/24 on node N).
pub const FLANNEL_DEFAULTS: Defaults = Defaults {
    nodes: 2,
    pods_per_node: 2,
    underlay: Underlay::L2,
    pod_cidr: Ipv4Net::new_assert(Ipv4Addr::new(100, 96, 0, 0), 16),
};
