//! What the ipip backend promises: the pod bridge's tables, `tunl0` on every node (a TUN for
//! the userspace datapath, a kernel `ipip` device for the kernel one) at the underlay MTU
//! − 20, the routes into it, IP protocol 4 between node IPs on the wire, a path MTU 20 bytes
//! below the underlay's, and two routed hops pod to pod.

use harness::backend::{DeviceMtu, Expectations, Wire};
use harness::topology::Plan;
use harness::{podnet, underlay, Datapath};

use crate::{kernel, BRIDGE, OVERHEAD, TUNNEL_DEV};
use userspace::tunnel_route;

/// Every declaration of the ipip backend for `plan` running `datapath`.
pub fn expectations(plan: &Plan, datapath: Datapath) -> Expectations {
    let pod_mtu = plan.spec.mtu - OVERHEAD;
    let mut e = podnet::pod_bridge_expectations(plan, BRIDGE, pod_mtu);
    let kind = match datapath {
        Datapath::Userspace => "tun",
        Datapath::Kernel => "ipip",
    };
    for node in &plan.nodes {
        // tunl0 sits beside cni0 and the pods' veths in the node's device set.
        if let Some(set) = e.devices.iter_mut().find(|d| d.netns == node.netns) {
            set.devices.push((TUNNEL_DEV.into(), kind.into()));
        }
        e.mtus.push(DeviceMtu {
            netns: node.netns.clone(),
            dev: TUNNEL_DEV.into(),
            mtu_bytes: pod_mtu,
        });
        match datapath {
            // The daemon adds one route for the whole pod network and picks the remote node
            // itself; the node's own block stays on cni0 (more specific).
            Datapath::Userspace => {
                e.add_routes(&node.netns, [tunnel_route(plan.spec.pod_cidr, TUNNEL_DEV)]);
            }
            // The kernel device learns the remote from each route's gateway: one per node.
            Datapath::Kernel => {
                let remotes = plan.nodes.iter().filter(|r| r.index != node.index);
                e.add_routes(&node.netns, remotes.map(kernel::route_to));
            }
        }
    }
    e.add_full_matrix(plan);
    e.add_default_measure_pairs(plan);
    // Every node sends IP-in-IP packets to every other node over eth0 during the matrix: the
    // switch (or router bridge) learns its MAC and it resolves its peer (or its router).
    e.merge(underlay::mesh_traffic_expectations(plan));
    // The source node routes (cni0 -> tunl0), the destination node routes (tunl0 -> cni0); on l3 the
    // router decrements the outer header's TTL, not the pod packet's. The pods' links are
    // the overhead below the underlay MTU, so a full pod packet plus its wrapping is exactly
    // one underlay MTU.
    if let Some(pair) = Expectations::cross_node_pair(plan, false) {
        e.add_path_facts(plan, pair, 2, pod_mtu, Wire::IpIp);
    }
    e
}
