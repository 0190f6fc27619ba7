//! What the vxlan backend promises: the pod bridge's tables, a VTEP per IP family of the run
//! (`flannel.1`, `flannel-v6.1`) and forwarding on for each family in every node, one onlink
//! route per remote node and family, its VTEP entries, VXLAN on the wire of each family and
//! the pods' path MTU (50 bytes under the underlay's, 70 with IPv6).

use cni_runtime::wiring::PodWiring;
use harness::backend::{Expectations, SysctlExpect, VtepExpect, Wire};
use harness::podnet;
use harness::topology::{Family, Plan};

use crate::vtep::{
    pod_mtu, route_to, underlay_ip, vtep_addr, vtep_dev, vtep_host_route6, vtep_mtu, VNI,
    VXLAN_PORT,
};
use crate::BRIDGE;

/// The kernel settings setup writes in every node, and the sysctls check reads back: the
/// node routes between cni0 and its VTEPs, so forwarding on for each family of the run (a new
/// namespace starts with both off).
pub fn node_sysctls(plan: &Plan) -> Vec<SysctlExpect> {
    SysctlExpect::forwarding(plan.ip_family())
}

/// Every declaration of the vxlan backend for `plan`, its pods wired by `pods`.
pub fn expectations(plan: &Plan, pods: &PodWiring) -> Expectations {
    let pod_mtu = pod_mtu(plan);
    let mut e = pods.pod_expectations(plan, || {
        podnet::pod_bridge_expectations(plan, BRIDGE, pod_mtu)
    });
    let families = plan.families();
    for &family in &families {
        podnet::add_node_device(
            &mut e,
            plan,
            vtep_dev(family),
            "vxlan",
            vtep_mtu(plan, family),
        );
    }
    // Whoever wires the pods, setup turns forwarding on in every node.
    for node in &plan.nodes {
        e.add_sysctls(&node.netns, node_sysctls(plan));
    }
    for node in &plan.nodes {
        // The IPv4 VTEP's address is a /32: the kernel adds only a local-table route for it.
        // The IPv6 one's /128 gets a main-table route too. The routes to other blocks are ours.
        if families.contains(&Family::V6) {
            e.add_routes(&node.netns, [vtep_host_route6(node)]);
        }
        let remotes = plan.nodes.iter().filter(|r| r.index != node.index);
        for &family in &families {
            e.add_routes(&node.netns, remotes.clone().map(|r| route_to(r, family)));
        }
        for remote in remotes {
            for &family in &families {
                e.vteps.push(VtepExpect {
                    netns: node.netns.clone(),
                    dev: vtep_dev(family).into(),
                    remote_node_ip: underlay_ip(plan, remote, family),
                    remote_vtep_ip: vtep_addr(remote, family),
                    owner_netns: remote.netns.clone(),
                    owner_dev: vtep_dev(family).into(),
                });
            }
        }
    }
    // One wire for both families: the wire check captures each family's ping and expects the
    // node addresses of that family outside.
    let wire = Wire::Udp {
        port: VXLAN_PORT,
        vni: Some(VNI),
    };
    // The pods' own MTU is the path's: the chain's where a chain wires them.
    podnet::add_overlay_facts(&mut e, plan, pods.pod_mtu(plan, pod_mtu), wire);
    e
}
