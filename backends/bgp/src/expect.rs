//! What the bgp backend promises, per family of the run: the article's Calico tables (a /32
//! and a /128 per local pod, one `proto bird` route per remote pod block, or per remote pod
//! with `--bgp-announce pod`, with the right next hop of the family), forwarding on in every
//! node, the pods' routes via 169.254.1.1 answered by proxy ARP (on, without delay, on each
//! pod's host end) and via the host end's link-local `fe80::ecee:eeff:feee:eeee`, no bridge
//! and no tunnel, pod IPs on the wire at the full underlay MTU, and every pod reaching every
//! pod and its node.

use std::net::IpAddr;

use cni_runtime::wiring::PodWiring;
use harness::backend::{
    DeviceMtu, DeviceSet, Expectations, IsolationExpect, NeighbourExpect, Wire,
};
use harness::netlink::{RouteProto, RouteScope, RouteSpec};
use harness::topology::{Family, NodePlan, Plan};
use harness::underlay::{self, NODE_DEV};
use ipnet::IpNet;

use crate::announce::{announced, Announce};
use crate::peering::{node_addr, router_addr_of};
use crate::pods::{self, cali_name, POD_DEV};
use crate::speaker::RouteProtos;

/// The next hops `node` uses for what `remote` announces of `family` (its pod block, or its
/// pods' host routes): the remote node itself when both share a segment (BGP keeps the
/// originator's next hop inside an AS), otherwise every border router on the node's own
/// segment (eBGP set it to itself; with two routers the speaker installs both paths, ECMP,
/// which the kernel's route dump lists as one route per next hop). Each family's session
/// carries its own next hop, an address of the family.
pub fn next_hops(plan: &Plan, node: &NodePlan, remote: &NodePlan, family: Family) -> Vec<IpAddr> {
    if node.segment == remote.segment {
        vec![node_addr(plan, remote, family)]
    } else {
        assert!(
            !plan.routers.is_empty(),
            "nodes on different segments are on an l3 underlay"
        );
        (0..plan.routers.len() as u32)
            .map(|i| router_addr_of(plan, i, node.segment, family))
            .collect()
    }
}

fn family_of(net: &IpNet) -> Family {
    Family::of(net.addr())
}

/// A BGP-learned route as a speaker installs it (BIRD's `proto bird`, zebra's and cnbench's
/// GoBGP programmer's `proto bgp`: `proto`), through a gateway.
pub fn bird_route(dst: IpNet, via: IpAddr, dev: &str, proto: RouteProto) -> RouteSpec {
    RouteSpec {
        dst,
        via: Some(via),
        dev: dev.into(),
        proto,
        scope: RouteScope::Universe,
        src: None,
        onlink: false,
    }
}

/// The routes BGP must install on `node`: one per prefix every other node announces (its
/// pod block of each family, or each of its pods' /32s and /128s), through [`next_hops`];
/// none to a remote block in pod mode, where blocks are not announced.
pub fn learned_routes(
    plan: &Plan,
    announce: Announce,
    protos: &RouteProtos,
    node: &NodePlan,
) -> Vec<RouteSpec> {
    let proto = protos.of(&node.netns);
    plan.nodes
        .iter()
        .filter(|r| r.index != node.index)
        .flat_map(|r| {
            announced(plan, announce, r)
                .into_iter()
                .flat_map(move |dst| {
                    next_hops(plan, node, r, family_of(&dst))
                        .into_iter()
                        .map(move |via| bird_route(dst, via, NODE_DEV, proto))
                })
        })
        .collect()
}

/// The routes BGP must install on border router `rt`: every announced prefix via its node,
/// on the bridge of the node's segment.
pub fn router_routes(
    plan: &Plan,
    announce: Announce,
    protos: &RouteProtos,
    rt: &harness::topology::RouterPlan,
) -> Vec<RouteSpec> {
    let proto = protos.of(&rt.netns);
    plan.nodes
        .iter()
        .flat_map(|n| {
            announced(plan, announce, n).into_iter().map(move |dst| {
                bird_route(
                    dst,
                    node_addr(plan, n, family_of(&dst)),
                    &rt.segments[n.segment].0,
                    proto,
                )
            })
        })
        .collect()
}

/// Every declaration of the bgp backend for `plan`, its nodes announcing what `announce`
/// says, its pods wired by `wiring`.
pub fn expectations(
    plan: &Plan,
    announce: Announce,
    protos: &RouteProtos,
    wiring: &PodWiring,
) -> Expectations {
    let mtu = plan.spec.mtu;
    let mut e = wiring.pod_expectations(plan, || calico_pods(plan));
    // Whoever wires the pods, setup turns forwarding on in every node, per family.
    for node in &plan.nodes {
        e.add_sysctls(&node.netns, pods::node_sysctls(plan));
    }
    for node in &plan.nodes {
        e.add_routes(&node.netns, pods::node_gateway_route(plan));
        e.add_routes(&node.netns, learned_routes(plan, announce, protos, node));
    }
    for rt in &plan.routers {
        e.add_routes(&rt.netns, router_routes(plan, announce, protos, rt));
    }
    e.add_full_matrix(plan);
    // The planner's pod gateway (.1, ::1 of the block) is a bridge address other backends
    // put on the node; Calico has none, so a pod reaches its node at the node's own address
    // of the probe's family.
    for probe in &mut e.reachability {
        if probe.path != "pod-node" {
            continue;
        }
        if let Some(node) = plan.nodes.iter().find(|n| n.netns == probe.to_netns) {
            probe.to_ip = node_addr(plan, node, Family::of(probe.to_ip));
        }
    }
    // Pod packets cross between every pair of nodes (the matrix): the underlay learns every
    // node's MAC and each node resolves its next hops (peers on its segment, or the router).
    let mut traffic = underlay::mesh_traffic_expectations(plan);
    // Many pairs share one piece of evidence (a node's MAC on its port, its router's entry).
    let mut fdb = Vec::new();
    for f in traffic.fdb.drain(..) {
        if !fdb.contains(&f) {
            fdb.push(f);
        }
    }
    let mut neighbours = Vec::new();
    for n in traffic.neighbours.drain(..) {
        if !neighbours.contains(&n) {
            neighbours.push(n);
        }
    }
    traffic.fdb = fdb;
    traffic.neighbours = neighbours;
    e.merge(traffic);
    if let Some((from, to)) = Expectations::cross_node_pair(plan, false) {
        // Routed by the sending node and the receiving node, and by the border router when
        // the nodes are on different segments; no encapsulation: the underlay MTU is the
        // path MTU and the pod IPs are on the wire.
        let (a, b) = (plan.node_of(&plan.pods[from]), plan.node_of(&plan.pods[to]));
        let hops = if a.segment == b.segment { 2 } else { 3 };
        e.add_path_facts(
            plan,
            (from, to),
            hops,
            wiring.pod_mtu(plan, mtu),
            Wire::Plain,
        );
    }
    e.add_default_measure_pairs(plan);
    e
}

/// What cnbench's own Calico-style wiring promises of the pods: per node one cali veth and
/// a /32 and a /128 route per local pod; per pod its routes via 169.254.1.1, answered by
/// proxy ARP (on, without delay, on its host end), and via `fe80::ecee:eeff:feee:eeee`, the
/// host end's own link-local address (no DAD on either end, proxy NDP on as Calico sets it);
/// the pod's entries for its gateways and its node's entries for it; separate port spaces.
/// Made from the plan, so a pod added later (churn, `PodLifecycle`) is declared with it.
fn calico_pods(plan: &Plan) -> Expectations {
    let mut e = Expectations::default();
    let mtu = plan.spec.mtu;
    let run = plan.run_id();
    for node in &plan.nodes {
        let local: Vec<_> = plan.pods.iter().filter(|p| p.node == node.index).collect();
        // Devices: eth0 (the underlay declares it) and one cali veth per pod; no bridge, no
        // tunnel.
        e.devices.push(DeviceSet {
            netns: node.netns.clone(),
            devices: local
                .iter()
                .map(|p| (cali_name(run, p), "veth".to_string()))
                .collect(),
        });
        e.add_routes(
            &node.netns,
            local.iter().flat_map(|p| pods::node_pod_routes(plan, p)),
        );
        for p in &local {
            e.mtus.push(DeviceMtu {
                netns: node.netns.clone(),
                dev: cali_name(run, p),
                mtu_bytes: mtu,
            });
        }
    }
    for pod in &plan.pods {
        let node = plan.node_of(pod);
        let cali = cali_name(run, pod);
        e.devices.push(DeviceSet {
            netns: pod.netns.clone(),
            devices: vec![(POD_DEV.into(), "veth".into())],
        });
        e.add_routes(&pod.netns, pods::pod_routes(plan, pod));
        e.add_sysctls(&node.netns, pods::pod_sysctls(plan, pod));
        let own = pods::pod_own_sysctls(plan);
        if !own.is_empty() {
            e.add_sysctls(&pod.netns, own);
        }
        e.mtus.push(DeviceMtu {
            netns: pod.netns.clone(),
            dev: POD_DEV.into(),
            mtu_bytes: mtu,
        });
        for family in plan.families() {
            let Some(net) = pods::pod_host_net(plan, pod, family) else {
                continue;
            };
            // The pod's entry for its gateway holds the host end's MAC: answered by proxy
            // ARP (IPv4), by the host end's own NDP (IPv6).
            e.neighbours.push(NeighbourExpect {
                netns: pod.netns.clone(),
                dev: POD_DEV.into(),
                ip: pods::gateway(family),
                owner_netns: node.netns.clone(),
                owner_dev: cali.clone(),
            });
            // And the node resolved the pod on its cali device.
            e.neighbours.push(NeighbourExpect {
                netns: node.netns.clone(),
                dev: cali.clone(),
                ip: net.addr(),
                owner_netns: pod.netns.clone(),
                owner_dev: POD_DEV.into(),
            });
        }
    }
    if let [a, b, ..] = plan.pods.as_slice() {
        e.isolation.push(IsolationExpect {
            a: (a.role.clone(), a.netns.clone()),
            b: (b.role.clone(), b.netns.clone()),
            shared_ports: false,
        });
    }
    e
}
