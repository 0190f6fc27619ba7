//! What the ipip backend promises: the pod bridge's tables, forwarding on and `tunl0` on
//! every node (a TUN for the userspace datapath, a kernel `ipip` device for the kernel one)
//! at the underlay MTU − 20, the routes into it, IP protocol 4 between node IPs on the wire,
//! a path MTU 20 bytes below the underlay's, and two routed hops pod to pod.

use harness::backend::{Expectations, Wire};
use harness::topology::Plan;
use harness::{podnet, Datapath};

use crate::{kernel, BRIDGE, OVERHEAD, TUNNEL_DEV};

/// Every declaration of the ipip backend for `plan` running `datapath`.
pub fn expectations(plan: &Plan, datapath: Datapath) -> Expectations {
    let pod_mtu = plan.spec.mtu - OVERHEAD;
    let mut e = podnet::pod_bridge_expectations(plan, BRIDGE, pod_mtu);
    // Either datapath: the node routes between cni0 and tunl0.
    e.add_node_forwarding(plan);
    match datapath {
        // The daemon's TUN and its one route for the whole pod network (it picks the remote
        // node itself; the node's own block stays on cni0, more specific).
        Datapath::Userspace => userspace::declare_tunnels(&mut e, plan, TUNNEL_DEV, pod_mtu),
        // The kernel device learns the remote from each route's gateway: one per node.
        Datapath::Kernel => {
            podnet::add_node_device(&mut e, plan, TUNNEL_DEV, "ipip", pod_mtu);
            for node in &plan.nodes {
                let remotes = plan.nodes.iter().filter(|r| r.index != node.index);
                e.add_routes(&node.netns, remotes.map(kernel::route_to));
            }
        }
    }
    podnet::add_overlay_facts(&mut e, plan, pod_mtu, Wire::IpIp);
    e
}
