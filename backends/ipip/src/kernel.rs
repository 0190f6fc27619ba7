//! The kernel datapath: a kernel `ipip` device `tunl0` and, on every node, one route per
//! remote node, `100.96.M.0/24 via <node M IP> dev tunl0 onlink`, as Calico programs it.
//! The device has no fixed remote, so the kernel takes each packet's outer destination from
//! the route's gateway (ip_tunnel_xmit's NBMA case), and `onlink` is needed because no subnet
//! on `tunl0` contains the remote node's IP.
//!
//! The machines cnbench is developed on have no ipip module; this path runs end to end on the
//! VM substrate, whose kernel has it (tests/vm.rs). Kernel behaviour it relies on: loading the ipip module gives every namespace a fallback `tunl0` (local and
//! remote any) unless `net.core.fb_tunnels_only_for_init_net` says otherwise, and a second
//! device of that name cannot be made; such a `tunl0` is reused (MTU set, brought up), which
//! is what Calico does.

use harness::backend::Context;
use harness::netlink::{LinkKind, RouteSpec};
use harness::topology::NodePlan;
use harness::{underlay, Result};

use crate::TUNNEL_DEV;

/// Makes `node`'s `tunl0` (local = the node's underlay IP, MTU `mtu`, up) and its routes to
/// every other node's pod block.
pub fn setup_node(ctx: &Context<'_>, node: &NodePlan, mtu: u32) -> Result<()> {
    let nl = ctx.host(&node.netns).nl();
    let local = node
        .underlay_ip
        .expect("validate requires an underlay")
        .addr();
    let fallback = nl
        .links()?
        .into_iter()
        .any(|l| l.name == TUNNEL_DEV && l.kind == LinkKind::Other("ipip".into()));
    if fallback {
        nl.set_mtu(TUNNEL_DEV, mtu)?;
    } else {
        nl.create_ipip(TUNNEL_DEV, local, underlay::NODE_DEV, mtu)?;
    }
    nl.set_up(TUNNEL_DEV)?;
    for remote in ctx.plan.nodes.iter().filter(|r| r.index != node.index) {
        nl.add_route(&route_to(remote))?;
    }
    Ok(())
}

/// The route a node has to `remote`'s pod block: through `tunl0`, with `remote`'s underlay
/// IP as the gateway (the outer destination), `onlink`, `proto static` (cnbench's control
/// plane).
pub fn route_to(remote: &NodePlan) -> RouteSpec {
    RouteSpec {
        onlink: true,
        ..RouteSpec::via(
            remote.pod_block.expect("per-node blocks are planned"),
            remote
                .underlay_ip
                .expect("validate requires an underlay")
                .addr(),
            TUNNEL_DEV,
        )
    }
}
