//! The underlay: how nodes reach each other. The harness builds it for every backend, so no
//! backend repeats it: `l2` is a bridge in a switch namespace with one port per node; `l3` is
//! a router namespace with one bridge per subnet (the router's address on the bridge) and
//! forwarding on.

use crate::backend::{
    DeviceMtu, DeviceSet, Expectations, FdbExpect, NeighbourExpect, SysctlExpect,
};
use crate::error::Result;
use crate::host::Host;
use crate::netlink::RouteSpec;
use crate::topology::{NodePlan, Plan, Substrate};
use ipnet::IpNet;
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
    if let Some(sw) = &plan.switch {
        let h = &hosts[&sw.netns];
        for (k, br) in sw.bridges().into_iter().enumerate() {
            h.nl().create_bridge(br, plan.bridge_mac(k as u8), mtu)?;
            h.nl().set_up(br)?;
        }
        // One L2 domain: each further bridge hangs off the first by a trunk veth, so a
        // frame between bridges crosses the first (a star: no loop, no STP needed).
        for (k, br) in sw.more_bridges.iter().enumerate() {
            let (on_first, on_this) = crate::topology::SwitchPlan::trunk(k + 1);
            h.nl().create_veth(&on_first, &on_this, None, mtu)?;
            h.nl().set_master(&on_first, &sw.bridge)?;
            h.nl().set_master(&on_this, br)?;
            h.nl().set_up(&on_first)?;
            h.nl().set_up(&on_this)?;
        }
    } else if let Some(rt) = plan.router() {
        let h = &hosts[&rt.netns];
        h.nl().set_up("lo")?;
        for (i, (br, _)) in rt.segments.iter().enumerate() {
            h.nl().create_bridge(
                br,
                plan.bridge_mac(i as u8 + 1),
                plan.spec.segment_mtu_of(i),
            )?;
            for net in router_nets(plan, i) {
                h.nl().add_address(br, net)?;
            }
            h.nl().set_up(br)?;
        }
        SysctlExpect::write(h, &router_sysctls(plan))?;
    } else {
        return Ok(());
    }
    for node in &plan.nodes {
        attach_node(plan, hosts, node)?;
    }
    Ok(())
}

/// What the l3 router needs of its kernel: forwarding on for each family of the run, to
/// route between the segments.
pub fn router_sysctls(plan: &Plan) -> Vec<SysctlExpect> {
    SysctlExpect::forwarding(plan.ip_family())
}

/// The hub a node's `eth0` is cabled to: the switch or router namespace, and the bridge of
/// the node's segment there. None without an underlay.
pub fn hub_of(plan: &Plan, node: &NodePlan) -> Option<(String, String)> {
    if let Some(sw) = &plan.switch {
        let bridges = sw.bridges();
        Some((
            sw.netns.clone(),
            bridges.get(node.switch_bridge).unwrap_or(&bridges[0]).to_string(),
        ))
    } else {
        plan.router()
            .map(|rt| (rt.netns.clone(), rt.segments[node.segment].0.clone()))
    }
}

/// Cables `node` to its hub: a veth pair from the hub's port to the node's `eth0`, the
/// node's address, and on l3 its default route via the router. Setup does it for every node;
/// a node that is set up again (node-restart) gets it alone.
pub fn attach_node(plan: &Plan, hosts: &BTreeMap<String, Host>, node: &NodePlan) -> Result<()> {
    let Some((hub_netns, bridge)) = hub_of(plan, node) else {
        return Ok(());
    };
    let (hub, h) = (&hosts[&hub_netns], &hosts[&node.netns]);
    let mtu = plan.spec.segment_mtu_of(node.segment);
    h.nl().set_up("lo")?;
    if hub.same_machine(h) {
        hub.nl()
            .create_veth(&node.switch_port, NODE_DEV, Some(h.as_peer()), mtu)?;
        h.nl().set_mac(NODE_DEV, plan.node_mac(node.index))?;
    } else {
        // A VM node: its NIC is `eth0` in the VM and the tap QEMU made, named after the
        // port, in the hub. Only the MTU is ours to set.
        hub.nl().set_mtu(&node.switch_port, mtu)?;
        h.nl().set_mtu(NODE_DEV, mtu)?;
    }
    hub.nl().set_master(&node.switch_port, &bridge)?;
    hub.nl().set_up(&node.switch_port)?;
    for net in plan.node_nets(node) {
        h.nl().add_address(NODE_DEV, net)?;
    }
    h.nl().set_up(NODE_DEV)?;
    restore_node_routes(plan, hosts, node)
}

/// The router's addresses on segment `i`, one per family of the run.
fn router_nets(plan: &Plan, i: usize) -> Vec<IpNet> {
    let Some(rt) = plan.router() else {
        return Vec::new();
    };
    let mut v = Vec::new();
    if plan.ip_family().has_v4() {
        v.push(IpNet::from(rt.segments[i].1));
    }
    v.extend(rt.segments6.get(i).map(|n| IpNet::from(*n)));
    v
}

/// Puts back the node's own underlay configuration, as a node's network configuration does
/// when its link comes back: the kernel deletes every route through a device that goes down
/// (`fib_sync_down_dev`) and restores only the connected ones, so l3's default routes via the
/// router come back here; and it flushes a downed link's IPv6 addresses
/// (`keep_addr_on_down` is 0 by default), so those are added again (and go through DAD).
pub fn restore_node_routes(
    plan: &Plan,
    hosts: &BTreeMap<String, Host>,
    node: &NodePlan,
) -> Result<()> {
    let nl = hosts[&node.netns].nl();
    if let Some(ip6) = node.underlay_ip6 {
        let held = nl.addresses6()?;
        if !held.iter().any(|a| a.net == IpNet::from(ip6)) {
            nl.add_address(NODE_DEV, ip6)?;
        }
    }
    for gw in plan.node_gateways(node) {
        nl.replace_route(&RouteSpec::default_via(gw, NODE_DEV))?;
    }
    Ok(())
}

/// What the underlay promises: node and router routes, MTUs, the router's forwarding, the
/// switch's learned MACs and the nodes' neighbour entries for each other (same segment) or
/// their router.
pub fn expectations(plan: &Plan) -> Expectations {
    let mut e = Expectations::default();
    let dev = |name: &str, kind: &str| (name.to_string(), kind.to_string());
    // A VM node's `eth0` is its virtual NIC (a device of no link kind) and the hub's port
    // the tap QEMU made; between namespaces both are the ends of a veth pair.
    // On the SSH substrate `eth0` is the node's macvlan or ipvlan of the host's interface,
    // with no port of cnbench's at the other end.
    let (node_kind, port_kind) = match plan.spec.substrate {
        Substrate::Netns => ("veth", "veth"),
        Substrate::Vm => ("device", "tun"),
        Substrate::Ssh => (
            plan.spec
                .ssh
                .as_ref()
                .map_or("macvlan", |s| s.node_link.as_str()),
            "",
        ),
    };
    for node in &plan.nodes {
        let nets = plan.node_nets(node);
        if nets.is_empty() {
            // A VM has its NIC whether or not it is cabled.
            if plan.spec.substrate == Substrate::Vm {
                e.devices.push(DeviceSet {
                    netns: node.netns.clone(),
                    devices: vec![dev(NODE_DEV, node_kind)],
                });
            }
            continue;
        }
        e.devices.push(DeviceSet {
            netns: node.netns.clone(),
            devices: vec![dev(NODE_DEV, node_kind)],
        });
        e.add_routes(
            &node.netns,
            nets.iter().map(|n| RouteSpec::connected(*n, NODE_DEV)),
        );
        e.add_routes(
            &node.netns,
            plan.node_gateways(node)
                .into_iter()
                .map(|gw| RouteSpec::default_via(gw, NODE_DEV)),
        );
        e.mtus.push(DeviceMtu {
            netns: node.netns.clone(),
            dev: NODE_DEV.into(),
            mtu_bytes: plan.spec.segment_mtu_of(node.segment),
        });
    }
    if let Some(sw) = &plan.switch {
        e.routes.entry(sw.netns.clone()).or_default();
        let mut devices: Vec<_> = sw.bridges().iter().map(|b| dev(b, "bridge")).collect();
        devices.extend(plan.nodes.iter().map(|n| dev(&n.switch_port, port_kind)));
        for k in 1..=sw.more_bridges.len() {
            let (a, b) = crate::topology::SwitchPlan::trunk(k);
            devices.push(dev(&a, "veth"));
            devices.push(dev(&b, "veth"));
        }
        e.devices.push(DeviceSet {
            netns: sw.netns.clone(),
            devices,
        });
        for node in &plan.nodes {
            e.mtus.push(DeviceMtu {
                netns: sw.netns.clone(),
                dev: node.switch_port.clone(),
                mtu_bytes: plan.spec.mtu,
            });
        }
    }
    if let Some(rt) = plan.router() {
        let mut devices: Vec<_> = rt
            .segments
            .iter()
            .map(|(br, _)| dev(br, "bridge"))
            .collect();
        devices.extend(plan.nodes.iter().map(|n| dev(&n.switch_port, port_kind)));
        e.devices.push(DeviceSet {
            netns: rt.netns.clone(),
            devices,
        });
        e.add_routes(
            &rt.netns,
            rt.segments.iter().enumerate().flat_map(|(i, (br, _))| {
                router_nets(plan, i)
                    .into_iter()
                    .map(move |n| RouteSpec::connected(n, br))
            }),
        );
        e.add_sysctls(&rt.netns, router_sysctls(plan));
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
        .or(plan.router().map(|r| r.netns.clone()));
    let Some(hub) = hub else { return e };
    for &(a, b) in talked {
        let (na, nb) = (&plan.nodes[a as usize], &plan.nodes[b as usize]);
        let bridge = match hub_of(plan, na) {
            Some((_, br)) => br,
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
        // On a switch of several bridges, `b`'s bridge learned `a`'s MAC on the trunk `a`'s
        // frames came in by: its uplink, or on the first bridge the trunk to `a`'s bridge.
        if let Some(sw) = &plan.switch {
            if na.switch_bridge != nb.switch_bridge {
                let bridges = sw.bridges();
                let port = if nb.switch_bridge == 0 {
                    crate::topology::SwitchPlan::trunk(na.switch_bridge).0
                } else {
                    crate::topology::SwitchPlan::trunk(nb.switch_bridge).1
                };
                e.fdb.push(FdbExpect {
                    netns: hub.clone(),
                    bridge: bridges[nb.switch_bridge].to_string(),
                    port,
                    mac_netns: na.netns.clone(),
                    mac_dev: NODE_DEV.into(),
                    label: format!("{} via trunk", na.role),
                });
            }
        }
        // One entry per family: ARP for IPv4, NDP for IPv6.
        let (ips, owner_netns, owner_dev) = if na.segment == nb.segment {
            (
                plan.node_nets(nb).iter().map(|n| n.addr()).collect(),
                nb.netns.clone(),
                NODE_DEV.to_string(),
            )
        } else {
            let rt = plan.router().expect("l3 has a router");
            (
                plan.node_gateways(na),
                rt.netns.clone(),
                rt.segments[na.segment].0.clone(),
            )
        };
        for ip in ips {
            e.neighbours.push(NeighbourExpect {
                netns: na.netns.clone(),
                dev: NODE_DEV.into(),
                ip,
                owner_netns: owner_netns.clone(),
                owner_dev: owner_dev.clone(),
            });
        }
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
