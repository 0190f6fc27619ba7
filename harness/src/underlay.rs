//! The underlay: how nodes reach each other. The harness builds it for every backend, so no
//! backend repeats it: `l2` is a bridge in a switch namespace with one port per node; `l3` is
//! a router namespace with one bridge per subnet (the router's address on the bridge) and
//! forwarding on.

use crate::backend::{DeviceMtu, DeviceSet, Expectations, FdbExpect, NeighbourExpect};
use crate::error::Result;
use crate::host::Host;
use crate::netlink::RouteSpec;
use crate::topology::Plan;
use std::collections::BTreeMap;

/// The node's underlay device, as in the article.
pub const NODE_DEV: &str = "eth0";

/// Builds the switch or router and gives every node its `eth0` on it.
pub fn build(plan: &Plan, hosts: &BTreeMap<String, Host>) -> Result<()> {
    let mtu = plan.spec.mtu;
    for node in &plan.nodes {
        let h = &hosts[&node.netns];
        h.nl().set_up("lo")?;
    }
    let (hub_netns, bridges): (String, Vec<String>) = if let Some(sw) = &plan.switch {
        let h = &hosts[&sw.netns];
        h.nl().create_bridge(&sw.bridge, plan.bridge_mac(0), mtu)?;
        h.nl().set_up(&sw.bridge)?;
        (sw.netns.clone(), vec![sw.bridge.clone()])
    } else if let Some(rt) = &plan.router {
        let h = &hosts[&rt.netns];
        h.nl().set_up("lo")?;
        for (i, (br, ip)) in rt.segments.iter().enumerate() {
            h.nl()
                .create_bridge(br, plan.bridge_mac(i as u8 + 1), mtu)?;
            h.nl().add_address(br, *ip)?;
            h.nl().set_up(br)?;
        }
        h.set_sysctl("net.ipv4.ip_forward", "1")?;
        (
            rt.netns.clone(),
            rt.segments.iter().map(|s| s.0.clone()).collect(),
        )
    } else {
        return Ok(());
    };
    let hub = &hosts[&hub_netns];
    for node in &plan.nodes {
        let h = &hosts[&node.netns];
        hub.nl()
            .create_veth(&node.switch_port, NODE_DEV, Some(h.netns().fd()), mtu)?;
        hub.nl()
            .set_master(&node.switch_port, &bridges[node.segment])?;
        hub.nl().set_up(&node.switch_port)?;
        if let Some(ip) = node.underlay_ip {
            h.nl().add_address(NODE_DEV, ip)?;
        }
        h.nl().set_up(NODE_DEV)?;
        if let Some(gw) = node.underlay_gateway {
            h.nl().add_route(&RouteSpec::default_via(gw, NODE_DEV))?;
        }
    }
    Ok(())
}

/// What the underlay promises: node and router routes, MTUs, the switch's learned MACs and
/// the nodes' neighbour entries for each other (same segment) or their router.
pub fn expectations(plan: &Plan) -> Expectations {
    let mut e = Expectations::default();
    let mtu = plan.spec.mtu;
    let dev = |name: &str, kind: &str| (name.to_string(), kind.to_string());
    for node in &plan.nodes {
        let Some(ip) = node.underlay_ip else { continue };
        e.devices.push(DeviceSet {
            netns: node.netns.clone(),
            devices: vec![dev(NODE_DEV, "veth")],
        });
        e.add_routes(&node.netns, [RouteSpec::connected(ip, NODE_DEV)]);
        if let Some(gw) = node.underlay_gateway {
            e.add_routes(&node.netns, [RouteSpec::default_via(gw, NODE_DEV)]);
        }
        e.mtus.push(DeviceMtu {
            netns: node.netns.clone(),
            dev: NODE_DEV.into(),
            mtu_bytes: mtu,
        });
    }
    if let Some(sw) = &plan.switch {
        e.routes.entry(sw.netns.clone()).or_default();
        let mut devices = vec![dev(&sw.bridge, "bridge")];
        devices.extend(plan.nodes.iter().map(|n| dev(&n.switch_port, "veth")));
        e.devices.push(DeviceSet {
            netns: sw.netns.clone(),
            devices,
        });
        for node in &plan.nodes {
            e.mtus.push(DeviceMtu {
                netns: sw.netns.clone(),
                dev: node.switch_port.clone(),
                mtu_bytes: mtu,
            });
        }
    }
    if let Some(rt) = &plan.router {
        let mut devices: Vec<_> = rt
            .segments
            .iter()
            .map(|(br, _)| dev(br, "bridge"))
            .collect();
        devices.extend(plan.nodes.iter().map(|n| dev(&n.switch_port, "veth")));
        e.devices.push(DeviceSet {
            netns: rt.netns.clone(),
            devices,
        });
        e.add_routes(
            &rt.netns,
            rt.segments
                .iter()
                .map(|(br, ip)| RouteSpec::connected(*ip, br)),
        );
    }
    e
}

/// Layer-2 evidence that appears only once nodes have talked to each other over the
/// underlay: the switch (or router bridge) learned each node's MAC on its port, and a node
/// resolved the peer it talked to (or its router).
pub fn traffic_expectations(plan: &Plan, talked: &[(u32, u32)]) -> Expectations {
    let mut e = Expectations::default();
    let hub = plan
        .switch
        .as_ref()
        .map(|s| s.netns.clone())
        .or(plan.router.as_ref().map(|r| r.netns.clone()));
    let Some(hub) = hub else { return e };
    for &(a, b) in talked {
        let (na, nb) = (&plan.nodes[a as usize], &plan.nodes[b as usize]);
        let bridge = match &plan.switch {
            Some(sw) => sw.bridge.clone(),
            None => format!("br{}", na.segment + 1),
        };
        e.fdb.push(FdbExpect {
            netns: hub.clone(),
            bridge,
            port: na.switch_port.clone(),
            mac_netns: na.netns.clone(),
            mac_dev: NODE_DEV.into(),
            label: na.role.clone(),
        });
        let (ip, owner_netns, owner_dev) = if na.segment == nb.segment {
            (
                nb.underlay_ip.expect("underlay").addr(),
                nb.netns.clone(),
                NODE_DEV.to_string(),
            )
        } else {
            let rt = plan.router.as_ref().expect("l3 has a router");
            (
                na.underlay_gateway.expect("l3 gateway"),
                rt.netns.clone(),
                rt.segments[na.segment].0.clone(),
            )
        };
        e.neighbours.push(NeighbourExpect {
            netns: na.netns.clone(),
            dev: NODE_DEV.into(),
            ip,
            owner_netns,
            owner_dev,
        });
    }
    e
}

/// [`traffic_expectations`] for every ordered pair of nodes: what an overlay leaves behind
/// once every node sent tunnelled packets to every other during the reachability matrix.
pub fn mesh_traffic_expectations(plan: &Plan) -> Expectations {
    let talked: Vec<(u32, u32)> = plan
        .nodes
        .iter()
        .flat_map(|a| plan.nodes.iter().map(move |b| (a.index, b.index)))
        .filter(|(a, b)| a != b)
        .collect();
    traffic_expectations(plan, &talked)
}
