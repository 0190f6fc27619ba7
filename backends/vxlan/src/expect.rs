//! What the vxlan backend promises: the pod bridge's tables, `flannel.1` and forwarding on in
//! every node, one onlink route per remote node, its VTEP entries, VXLAN on the wire and the 50-byte
//! smaller path MTU.

use cni_runtime::wiring::PodWiring;
use harness::backend::{Expectations, VtepExpect, Wire};
use harness::podnet;
use harness::topology::Plan;

use crate::vtep::{route_to, vtep_ip, OVERHEAD, VNI, VTEP_DEV, VXLAN_PORT};
use crate::BRIDGE;

/// Every declaration of the vxlan backend for `plan`, its pods wired by `pods`.
pub fn expectations(plan: &Plan, pods: &PodWiring) -> Expectations {
    let pod_mtu = plan.spec.mtu - OVERHEAD;
    let mut e = pods.pod_expectations(plan, || {
        podnet::pod_bridge_expectations(plan, BRIDGE, pod_mtu)
    });
    podnet::add_node_device(&mut e, plan, VTEP_DEV, "vxlan", pod_mtu);
    // Whoever wires the pods, setup turns forwarding on in every node.
    e.add_node_forwarding(plan);
    for node in &plan.nodes {
        // The VTEP's address is a /32: the kernel adds only a local-table route for it, so
        // the main table gets nothing from it; the routes to other blocks are ours.
        let remotes = plan.nodes.iter().filter(|r| r.index != node.index);
        e.add_routes(&node.netns, remotes.clone().map(route_to));
        for remote in remotes {
            e.vteps.push(VtepExpect {
                netns: node.netns.clone(),
                dev: VTEP_DEV.into(),
                remote_node_ip: remote.underlay_ip.expect("underlay").addr().into(),
                remote_vtep_ip: vtep_ip(remote).into(),
                owner_netns: remote.netns.clone(),
                owner_dev: VTEP_DEV.into(),
            });
        }
    }
    let wire = Wire::Udp {
        port: VXLAN_PORT,
        vni: Some(VNI),
    };
    // The pods' own MTU is the path's: the chain's where a chain wires them.
    podnet::add_overlay_facts(&mut e, plan, pods.pod_mtu(plan, pod_mtu), wire);
    e
}
