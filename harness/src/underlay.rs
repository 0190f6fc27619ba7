//! The underlay: how nodes reach each other. The harness builds it for every backend, so no
//! backend repeats it: `l2` is a bridge in a switch namespace with one port per node; `l3` is
//! a router namespace with one bridge per subnet (the router's address on the bridge) and
//! forwarding on.

use crate::backend::{
    DeviceMtu, DeviceSet, Expectations, FdbExpect, NeighbourExpect, SysctlExpect,
};
use crate::error::Result;
use crate::host::Host;
use crate::netlink::{RouteProto, RouteSpec};
use crate::topology::{Family, NodePlan, Plan, RouterPlan, Substrate, Underlay};
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
    let l3 = plan.spec.underlay == Underlay::L3;
    if let Some(sw) = &plan.switch {
        let h = &hosts[&sw.netns];
        h.nl().set_up("lo")?;
        for (k, br) in sw.bridges().into_iter().enumerate() {
            // l3's segment bridges keep the MACs and MTUs they have in a router's namespace.
            let (mac, mtu) = if l3 {
                (plan.bridge_mac(k as u8 + 1), plan.spec.segment_mtu_of(k))
            } else {
                (plan.bridge_mac(k as u8), mtu)
            };
            h.nl().create_bridge(br, mac, mtu)?;
            h.nl().set_up(br)?;
        }
        // l2's bridges are one L2 domain: each further bridge hangs off the first by a
        // trunk veth, so a frame between bridges crosses the first (a star: no loop, no STP
        // needed). l3's are the segments, joined only by the routers.
        for (k, br) in sw.more_bridges.iter().enumerate().filter(|_| !l3) {
            let (on_first, on_this) = crate::topology::SwitchPlan::trunk(k + 1);
            h.nl().create_veth(&on_first, &on_this, None, mtu)?;
            h.nl().set_master(&on_first, &sw.bridge)?;
            h.nl().set_master(&on_this, br)?;
            h.nl().set_up(&on_first)?;
            h.nl().set_up(&on_this)?;
        }
    }
    if let (Some(sw), true) = (&plan.switch, l3) {
        for rt in &plan.routers {
            build_router_on_switch(plan, hosts, &sw.netns, rt)?;
        }
    } else if plan.switch.is_some() {
        // l2: the switch is all of it.
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

/// One of two routers: its namespace's loopback, a veth into each segment bridge of the
/// switch (`s1` in the router, `rts1` on `br1`), its address on each, its sysctls.
fn build_router_on_switch(
    plan: &Plan,
    hosts: &BTreeMap<String, Host>,
    switch_netns: &str,
    rt: &RouterPlan,
) -> Result<()> {
    let (sw, h) = (&hosts[switch_netns], &hosts[&rt.netns]);
    h.nl().set_up("lo")?;
    SysctlExpect::write(h, &router_sysctls(plan))?;
    for (i, ((dev, _), port)) in rt.segments.iter().zip(&rt.switch_ports).enumerate() {
        let mtu = plan.spec.segment_mtu_of(i);
        sw.nl().create_veth(port, dev, Some(h.as_peer()), mtu)?;
        sw.nl().set_master(port, &format!("br{}", i + 1))?;
        sw.nl().set_up(port)?;
        for net in router_nets_of(plan, rt, i) {
            h.nl().add_address(dev, net)?;
        }
        h.nl().set_up(dev)?;
    }
    Ok(())
}

/// router-down, first half: every link of router `rt`'s namespace down, as a router that
/// loses power: its segment links lose carrier on the switch and it answers nothing.
pub fn router_down(hosts: &BTreeMap<String, Host>, rt: &RouterPlan) -> Result<()> {
    let nl = hosts[&rt.netns].nl();
    for (dev, _) in &rt.segments {
        nl.set_down(dev)?;
    }
    nl.set_down("lo")
}

/// How long router-down's returning router tries to reach each node, in ms.
const ROUTER_BACK_TIMEOUT_MS: u64 = 3000;

/// router-down, second half: the router's links up again and its addresses as they were
/// (the kernel keeps IPv4 addresses on a downed link and flushes IPv6 ones,
/// `keep_addr_on_down` 0); its connected routes come back with them. Then it reaches every
/// node of each segment once (ICMP echo), so that each node hears from it (its ARP
/// request, its neighbour solicitation) and takes a failed neighbour entry for it back as
/// a next hop. The gratuitous ARP that `arp_notify` sends as the link comes up does not do
/// it: it leaves before the bridge port on the other end of the veth forwards again (the
/// bridge learns of the carrier from linkwatch, up to a second later) and is dropped there.
pub fn router_up(plan: &Plan, hosts: &BTreeMap<String, Host>, rt: &RouterPlan) -> Result<()> {
    let nl = hosts[&rt.netns].nl();
    nl.set_up("lo")?;
    let held = if plan.ip_family().has_v6() {
        nl.addresses6()?
    } else {
        Vec::new()
    };
    for (i, (dev, _)) in rt.segments.iter().enumerate() {
        for net in router_nets_of(plan, rt, i) {
            let missing = match net {
                IpNet::V4(_) => false,
                IpNet::V6(_) => !held.iter().any(|a| a.net == net),
            };
            if missing {
                nl.add_address(dev, net)?;
            }
        }
        nl.set_up(dev)?;
    }
    let h = &hosts[&rt.netns];
    // Its IPv6 addresses (the link-local ones too) are tentative until DAD ends: a probe sent
    // from one would have the nodes solicit an address that does not answer yet, and leave
    // them a FAILED entry for it.
    if plan.ip_family().has_v6() {
        crate::run::wait_addresses_settled(&[(rt.netns.as_str(), h)], crate::run::DAD_TIMEOUT)?;
    }
    let timeout = std::time::Duration::from_millis(ROUTER_BACK_TIMEOUT_MS);
    // A node that does not answer is for the check after the fault to report.
    for node in &plan.nodes {
        for ip in plan.node_nets(node) {
            let _ = crate::checks::icmp_echo_within(h, ip.addr(), timeout);
        }
    }
    Ok(())
}

/// What an l3 router needs of its kernel: forwarding on for each family of the run, to
/// route between the segments.
pub fn router_sysctls(plan: &Plan) -> Vec<SysctlExpect> {
    SysctlExpect::forwarding(plan.ip_family())
}

/// How long a node's neighbour entry for a router stays reachable without confirmation with
/// two routers, in ms (`base_reachable_time_ms`; the kernel's default is 30,000). A dead
/// router's entry goes stale after 0.5 to 1.5 times this, then waits
/// [`NEIGH_DELAY_FIRST_PROBE_S`], then fails after [`NEIGH_UCAST_PROBES`] unanswered probes
/// [`NEIGH_RETRANS_MS`] apart: at most about 3.1 s from the router's last answer until the
/// kernel stops choosing it (`fib_multipath_use_neigh`), instead of about 53 s with the
/// kernel's defaults (45 + 5 + 3).
pub const NEIGH_REACHABLE_MS: u32 = 1000;
/// Seconds a stale entry waits before the first unicast probe (`delay_first_probe_time`,
/// default 5).
pub const NEIGH_DELAY_FIRST_PROBE_S: u32 = 1;
/// Milliseconds between probes (`retrans_time_ms`, default 1,000). The kernel keeps it in
/// jiffies and reads back the rounded value (250 reads 252 at HZ 250), so it is a whole
/// number of jiffies at HZ 100, 250, 300 and 1000.
pub const NEIGH_RETRANS_MS: u32 = 200;
/// Unicast probes before an entry fails (`ucast_solicit`, the kernel's default 3).
pub const NEIGH_UCAST_PROBES: u32 = 3;

/// What a node needs of its kernel to route through two routers: ECMP that skips a next
/// hop whose neighbour entry failed (`net.ipv4.fib_multipath_use_neigh`; IPv6 has no such
/// switch: its multipath selection skips an unreachable sibling only in a namespace that
/// does not forward, see docs/design.md §3), and `eth0`'s neighbour timers short enough that
/// a dead router's entry fails within seconds ([`NEIGH_REACHABLE_MS`]). None with one
/// router.
pub fn node_sysctls(plan: &Plan) -> Vec<SysctlExpect> {
    if plan.routers.len() < 2 {
        return Vec::new();
    }
    let mut v = Vec::new();
    for family in plan.families() {
        let f = match family {
            Family::V4 => "ipv4",
            Family::V6 => "ipv6",
        };
        if family == Family::V4 {
            v.push(SysctlExpect::new("net.ipv4.fib_multipath_use_neigh", "1"));
        }
        let key = |k: &str| format!("net.{f}.neigh.{NODE_DEV}.{k}");
        v.push(SysctlExpect::new(
            key("base_reachable_time_ms"),
            NEIGH_REACHABLE_MS.to_string(),
        ));
        v.push(SysctlExpect::new(
            key("delay_first_probe_time"),
            NEIGH_DELAY_FIRST_PROBE_S.to_string(),
        ));
        v.push(SysctlExpect::new(
            key("retrans_time_ms"),
            NEIGH_RETRANS_MS.to_string(),
        ));
        v.push(SysctlExpect::new(
            key("ucast_solicit"),
            NEIGH_UCAST_PROBES.to_string(),
        ));
    }
    v
}

/// The hub a node's `eth0` is cabled to: the switch or router namespace, and the bridge of
/// the node's segment there. None without an underlay.
pub fn hub_of(plan: &Plan, node: &NodePlan) -> Option<(String, String)> {
    if let Some(sw) = &plan.switch {
        let bridges = sw.bridges();
        Some((
            sw.netns.clone(),
            bridges
                .get(node.switch_bridge)
                .unwrap_or(&bridges[0])
                .to_string(),
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
    SysctlExpect::write(h, &node_sysctls(plan))?;
    h.nl().set_up(NODE_DEV)?;
    restore_node_routes(plan, hosts, node)
}

/// The first router's addresses on segment `i`, one per family of the run.
fn router_nets(plan: &Plan, i: usize) -> Vec<IpNet> {
    match plan.router() {
        Some(rt) => router_nets_of(plan, rt, i),
        None => Vec::new(),
    }
}

/// Router `rt`'s addresses on segment `i`, one per family of the run.
fn router_nets_of(plan: &Plan, rt: &RouterPlan, i: usize) -> Vec<IpNet> {
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
    if plan.routers.len() > 1 {
        // One default route per family through every router (ECMP).
        for family in plan.families() {
            let hops: Vec<_> = plan
                .node_routers(node)
                .into_iter()
                .filter(|ip| Family::of(*ip) == family)
                .collect();
            let default = match family {
                Family::V4 => IpNet::V4(Default::default()),
                Family::V6 => IpNet::V6(Default::default()),
            };
            nl.replace_multipath_route(default, &hops, NODE_DEV, RouteProto::Static)?;
        }
        return Ok(());
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
        // With two routers, the ECMP default route reads as one route per next hop.
        let gateways = if plan.routers.len() > 1 {
            plan.node_routers(node)
        } else {
            plan.node_gateways(node)
        };
        e.add_routes(
            &node.netns,
            gateways
                .into_iter()
                .map(|gw| RouteSpec::default_via(gw, NODE_DEV)),
        );
        e.add_sysctls(&node.netns, node_sysctls(plan));
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
        devices.extend(
            plan.routers
                .iter()
                .flat_map(|r| r.switch_ports.iter().map(|p| dev(p, "veth"))),
        );
        let trunks = if plan.spec.underlay == Underlay::L2 {
            sw.more_bridges.len()
        } else {
            0
        };
        for k in 1..=trunks {
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
                mtu_bytes: plan.spec.segment_mtu_of(node.segment),
            });
        }
    }
    for rt in &plan.routers {
        let mut devices: Vec<_> = if rt.on_switch() {
            rt.segments.iter().map(|(d, _)| dev(d, "veth")).collect()
        } else {
            let mut v: Vec<_> = rt
                .segments
                .iter()
                .map(|(br, _)| dev(br, "bridge"))
                .collect();
            v.extend(plan.nodes.iter().map(|n| dev(&n.switch_port, port_kind)));
            v
        };
        devices.sort();
        e.devices.push(DeviceSet {
            netns: rt.netns.clone(),
            devices,
        });
        e.add_routes(
            &rt.netns,
            rt.segments.iter().enumerate().flat_map(|(i, (d, _))| {
                router_nets_of(plan, rt, i)
                    .into_iter()
                    .map(move |n| RouteSpec::connected(n, d))
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
        if let (Some(sw), Underlay::L2) = (&plan.switch, plan.spec.underlay) {
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
        } else if plan.routers.len() > 1 {
            // Through two routers the flow went to the one its hash chose (ECMP), which no
            // declaration knows: the neighbour table check (nothing unresolved) stands for it.
            continue;
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
