//! What the host-gw backend promises: the pod bridge's tables, forwarding on in every node (in
//! each family of the run), a route per reachable remote node and family, pod IPs on the wire
//! at the full underlay MTU, and, on an l3 underlay, every probe to a node on the other
//! segment as an expected failure with its reason (naming the next hop of the probe's
//! family).

use cni_runtime::wiring::PodWiring;
use harness::backend::{Expect, Expectations, MeasurePair, Wire};
use harness::topology::{Family, NodePlan, Plan};
use harness::{podnet, underlay};

use crate::route::route_to;
use crate::{node_sysctls, BRIDGE};

/// Every declaration of the host-gw backend for `plan`, its pods wired by `pods`.
pub fn expectations(plan: &Plan, pods: &PodWiring) -> Expectations {
    let mtu = plan.spec.mtu;
    let mut e = pods.pod_expectations(plan, || podnet::pod_bridge_expectations(plan, BRIDGE, mtu));
    // Whoever wires the pods, setup turns forwarding on in every node, per family.
    for node in &plan.nodes {
        e.add_sysctls(&node.netns, node_sysctls(plan));
    }
    for node in &plan.nodes {
        let routes = plan
            .nodes
            .iter()
            .filter(|r| r.index != node.index)
            .flat_map(|r| plan.families().into_iter().map(move |f| (r, f)))
            .filter_map(|(r, f)| route_to(node, r, f).ok());
        e.add_routes(&node.netns, routes);
    }
    e.add_full_matrix(plan);
    // A pod packet to a node on another segment leaves by the node's default route (of its
    // family) to the underlay router, which has no route to pod blocks: it is dropped there.
    for probe in &mut e.reachability {
        let (Some(a), Some(b)) = (pod_node(plan, &probe.from), pod_node(plan, &probe.to)) else {
            continue;
        };
        let family = Family::of(probe.to_ip);
        if let Err(why) = route_to(&plan.nodes[a as usize], &plan.nodes[b as usize], family) {
            probe.expect = Expect::Unreachable {
                reason: why.to_string(),
            };
        }
    }
    // Nodes forward pod packets to their same-segment peers over eth0: the switch (or
    // router bridge) learns their MACs and each resolves the peer it routes through.
    let talked: Vec<(u32, u32)> = plan
        .nodes
        .iter()
        .flat_map(|a| plan.nodes.iter().map(move |b| (a, b)))
        .filter(|(a, b)| a.index != b.index && routed(plan, a, b))
        .map(|(a, b)| (a.index, b.index))
        .collect();
    e.merge(underlay::traffic_expectations(plan, &talked));
    let cross = reachable_cross_node_pair(plan);
    if let Some((from, to)) = cross {
        // No encapsulation, so the path MTU is the underlay's; the source node routes (cni0
        // -> eth0), the destination node routes (eth0 -> cni0). The harness declares these
        // facts once per family: each family's packets carry the pod addresses of it.
        e.add_path_facts(plan, (from, to), 2, pods.pod_mtu(plan, mtu), Wire::Plain);
        e.measure.push(MeasurePair {
            client: from,
            server: to,
            path: "cross-node".into(),
        });
    }
    // A same-node pair, as the default pairs choose it (a cross-segment pair would not
    // answer, so the default cross-node choice is not used).
    let same = plan.pods.iter().enumerate().find_map(|(i, a)| {
        plan.pods
            .iter()
            .enumerate()
            .find(|(j, b)| *j != i && a.node == b.node)
            .map(|(j, _)| (i, j))
    });
    if let Some((client, server)) = same {
        e.measure.push(MeasurePair {
            client,
            server,
            path: "same-node".into(),
        });
    }
    e
}

/// The node index of the pod labelled `role`, if `role` names a pod.
fn pod_node(plan: &Plan, role: &str) -> Option<u32> {
    plan.pods.iter().find(|p| p.role == role).map(|p| p.node)
}

/// Whether `node` has a host-gw route to `remote`'s pods in every family of the run (the
/// families' segments are the same, so they agree).
fn routed(plan: &Plan, node: &NodePlan, remote: &NodePlan) -> bool {
    plan.families()
        .into_iter()
        .all(|f| route_to(node, remote, f).is_ok())
}

/// Indexes into `plan.pods` of the first pod pair on two different nodes that host-gw can
/// connect (nodes on one segment), if any.
fn reachable_cross_node_pair(plan: &Plan) -> Option<(usize, usize)> {
    plan.pods.iter().enumerate().find_map(|(i, a)| {
        plan.pods
            .iter()
            .enumerate()
            .find(|(_, b)| a.node != b.node && routed(plan, plan.node_of(a), plan.node_of(b)))
            .map(|(j, _)| (i, j))
    })
}
