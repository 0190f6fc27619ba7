//! Pre-resolved underlay neighbours for large topologies.
//!
//! In a big full mesh every node ARPs for all of its peers at the same moment. On this one
//! machine all of those broadcasts are flooded by one bridge to every node and land in the
//! two CPUs' receive backlogs (`net.core.netdev_max_backlog`, 1000 packets): tens of thousands
//! were dropped at 40 nodes, the BGP SYNs behind them died, and convergence took minutes or
//! never came (docs/machine-notes.md "BIRD at scale"). Real hosts on real switches do not share one
//! backlog. So from [`PRERESOLVE_FROM_NODES`] nodes on, every node (and the router) gets a
//! permanent neighbour entry for each underlay address it talks to, like a static ARP table;
//! small topologies keep real ARP, which the neighbour checks then verify. The same holds for
//! NDP's solicitations (multicast, flooded alike), so each family of the run gets its entries.

use harness::backend::Context;
use harness::underlay::NODE_DEV;
use harness::Result;

use crate::peering::{node_addr, router_addr_of};

/// Node count from which underlay neighbours are pre-resolved.
pub const PRERESOLVE_FROM_NODES: u32 = 10;

/// Adds the permanent entries, when the topology is large enough to need them.
pub fn preresolve(ctx: &Context<'_>) -> Result<()> {
    let plan = ctx.plan;
    if plan.spec.nodes < PRERESOLVE_FROM_NODES {
        return Ok(());
    }
    let mut macs = Vec::new();
    for node in &plan.nodes {
        let link = ctx.host(&node.netns).nl().link(NODE_DEV)?;
        macs.push(link.mac.unwrap_or_default());
    }
    for family in plan.families() {
        for a in &plan.nodes {
            let nl = ctx.host(&a.netns).nl();
            for b in plan
                .nodes
                .iter()
                .filter(|b| b.index != a.index && b.segment == a.segment)
            {
                nl.add_neighbour(NODE_DEV, node_addr(plan, b, family), macs[b.index as usize])?;
            }
        }
        for (i, rt) in plan.routers.iter().enumerate() {
            let router = ctx.host(&rt.netns).nl();
            for (seg, (bridge, _)) in rt.segments.iter().enumerate() {
                let mac = router.link(bridge)?.mac.unwrap_or_default();
                for node in plan.nodes.iter().filter(|n| n.segment == seg) {
                    ctx.host(&node.netns).nl().add_neighbour(
                        NODE_DEV,
                        router_addr_of(plan, i as u32, seg, family),
                        mac,
                    )?;
                    router.add_neighbour(
                        bridge,
                        node_addr(plan, node, family),
                        macs[node.index as usize],
                    )?;
                }
            }
        }
    }
    Ok(())
}
