//! What the vxlan backend promises: the pod bridge's tables, `flannel.1` on every node, one
//! onlink route per remote node, its VTEP entries, VXLAN on the wire and the 50-byte
//! smaller path MTU.

use harness::backend::{DeviceMtu, Expectations, VtepExpect, Wire};
use harness::topology::Plan;
use harness::{podnet, underlay};

use crate::vtep::{route_to, vtep_ip, OVERHEAD, VNI, VTEP_DEV, VXLAN_PORT};
use crate::BRIDGE;

/// Every declaration of the vxlan backend for `plan`.
pub fn expectations(plan: &Plan) -> Expectations {
    let pod_mtu = plan.spec.mtu - OVERHEAD;
    let mut e = podnet::pod_bridge_expectations(plan, BRIDGE, pod_mtu);
    for node in &plan.nodes {
        // flannel.1 sits beside cni0 and the pods' veths in the node's device set.
        if let Some(set) = e.devices.iter_mut().find(|d| d.netns == node.netns) {
            set.devices.push((VTEP_DEV.into(), "vxlan".into()));
        }
        e.mtus.push(DeviceMtu {
            netns: node.netns.clone(),
            dev: VTEP_DEV.into(),
            mtu_bytes: pod_mtu,
        });
        // The VTEP's address is a /32: the kernel adds only a local-table route for it, so
        // the main table gets nothing from it; the routes to other blocks are ours.
        let remotes = plan.nodes.iter().filter(|r| r.index != node.index);
        e.add_routes(&node.netns, remotes.clone().map(route_to));
        for remote in remotes {
            e.vteps.push(VtepExpect {
                netns: node.netns.clone(),
                dev: VTEP_DEV.into(),
                remote_node_ip: remote.underlay_ip.expect("underlay").addr(),
                remote_vtep_ip: vtep_ip(remote),
                owner_netns: remote.netns.clone(),
                owner_dev: VTEP_DEV.into(),
            });
        }
    }
    e.add_full_matrix(plan);
    e.add_default_measure_pairs(plan);
    // Every node sends tunnelled (VXLAN) packets to every other node over eth0 during the matrix: the
    // switch (or router bridge) learns its MAC and it resolves its peer (or its router).
    e.merge(underlay::mesh_traffic_expectations(plan));
    // The source node routes (cni0 -> flannel.1), the destination node routes (flannel.1 -> cni0); on l3 the
    // router decrements the outer header's TTL, not the pod packet's. The pods' links are
    // the overhead below the underlay MTU, so a full pod packet plus its wrapping is exactly
    // one underlay MTU.
    if let Some(pair) = Expectations::cross_node_pair(plan, false) {
        e.add_path_facts(
            plan,
            pair,
            2,
            pod_mtu,
            Wire::Udp {
                port: VXLAN_PORT,
                vni: Some(VNI),
            },
        );
    }
    e
}
