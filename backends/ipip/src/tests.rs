//! Declarations for default plans (no root needed), the datapath choice, the daemon's
//! configuration and its decapsulation.

use std::net::Ipv4Addr;

use harness::backend::Wire;
use harness::topology::{TopologyRequest, Underlay};

use super::*;
use crate::daemon::decapsulate;

fn plan(b: &Ipip, req: TopologyRequest) -> Result<Plan, PlanError> {
    let plan = INFO.plan(&req, "t1".into())?;
    b.validate(&plan)?;
    Ok(plan)
}

fn routes(e: &Expectations, netns: &str) -> Vec<String> {
    e.routes[netns].iter().map(|r| r.to_string()).collect()
}

#[test]
fn userspace_declares_the_tun_its_route_and_ipip_on_the_wire() {
    let b = Ipip::new(Datapath::Userspace);
    let p = plan(&b, TopologyRequest::default()).unwrap();
    assert_eq!(p.pods.len(), 4);
    let e = b.expectations(&p);
    assert_eq!(
        routes(&e, "cnb-t1-n0"),
        [
            "100.96.0.0/24 dev cni0 proto kernel scope link src 100.96.0.1",
            "100.96.0.0/16 dev tunl0 proto static scope link",
        ]
    );
    let n1 = e.devices.iter().find(|d| d.netns == "cnb-t1-n1").unwrap();
    assert!(n1.devices.contains(&("tunl0".into(), "tun".into())));
    assert!(n1.devices.contains(&("cni0".into(), "bridge".into())));
    // Pods and tunnel 20 bytes below the 1500-byte underlay.
    assert!(e
        .mtus
        .iter()
        .filter(|m| m.dev == "tunl0" || m.dev == "cni0" || m.dev == "eth0")
        .all(|m| m.mtu_bytes == 1480));
    assert_eq!(e.mtus.iter().filter(|m| m.dev == "tunl0").count(), 2);
    // n0p0 -> n1p0: IP-in-IP seen on n0's switch port.
    let encap = &e.encap[0];
    assert_eq!(
        (encap.from, encap.to, encap.wire),
        (0, 2, Wire::IpIp),
        "{encap:?}"
    );
    assert_eq!(
        (encap.capture_netns.as_str(), encap.capture_dev.as_str()),
        ("cnb-t1-sw", "n0")
    );
    assert_eq!(e.pmtu[0].path_mtu, 1480);
    assert_eq!(e.paths[0].hops, 2);
    // 4 pods: 12 ordered pairs, ICMP + TCP, plus each pod to its node.
    assert_eq!(e.reachability.len(), 28);
    let paths: Vec<&str> = e.measure.iter().map(|m| m.path.as_str()).collect();
    assert_eq!(paths, ["cross-node", "same-node"]);
    // Tunnel traffic leaves underlay evidence: n0 resolved n1's node IP.
    assert!(e
        .neighbours
        .iter()
        .any(|n| n.netns == "cnb-t1-n0" && n.ip == Ipv4Addr::new(10, 168, 0, 2)));
}

#[test]
fn kernel_declares_one_onlink_route_per_remote_node() {
    let b = Ipip::new(Datapath::Kernel);
    let p = plan(
        &b,
        TopologyRequest {
            nodes: Some(3),
            ..Default::default()
        },
    )
    .unwrap();
    let e = b.expectations(&p);
    assert_eq!(
        routes(&e, "cnb-t1-n0"),
        [
            "100.96.0.0/24 dev cni0 proto kernel scope link src 100.96.0.1",
            "100.96.1.0/24 via 10.168.0.2 dev tunl0 proto static onlink",
            "100.96.2.0/24 via 10.168.0.3 dev tunl0 proto static onlink",
        ]
    );
    let n0 = e.devices.iter().find(|d| d.netns == "cnb-t1-n0").unwrap();
    assert!(n0.devices.contains(&("tunl0".into(), "ipip".into())));
    assert_eq!(e.encap[0].wire, Wire::IpIp);
    assert_eq!(b.info().datapath, Datapath::Kernel);
    assert_eq!(b.options().get("datapath"), Some("kernel"));
}

#[test]
fn on_l3_the_wire_is_watched_in_the_router() {
    let b = Ipip::new(Datapath::Userspace);
    let p = plan(
        &b,
        TopologyRequest {
            underlay: Some(Underlay::L3),
            mtu: Some(9000),
            ..Default::default()
        },
    )
    .unwrap();
    let e = b.expectations(&p);
    assert_eq!(e.encap[0].capture_netns, "cnb-t1-rt");
    assert_eq!(e.encap[0].capture_dev, "n0");
    assert_eq!(e.pmtu[0].path_mtu, 8980);
    // Across the router, n0 resolves its gateway, not n1.
    assert!(e
        .neighbours
        .iter()
        .any(|n| n.netns == "cnb-t1-n0" && n.ip == Ipv4Addr::new(10, 168, 1, 1)));
}

#[test]
fn refuses_what_a_tunnel_cannot_be() {
    let b = Ipip::new(Datapath::Userspace);
    let none = plan(
        &b,
        TopologyRequest {
            nodes: Some(1),
            underlay: Some(Underlay::None),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(none.to_string().contains("--underlay l2 or l3"), "{none}");
    let small = plan(
        &b,
        TopologyRequest {
            mtu: Some(590),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(small.to_string().contains("--mtu 596"), "{small}");
}

#[test]
fn the_datapath_is_detected_not_assumed() {
    let has = |v: bool| move || -> Result<bool, String> { Ok(v) };
    assert_eq!(choose_datapath(None, has(true)), Ok(Datapath::Kernel));
    assert_eq!(choose_datapath(None, has(false)), Ok(Datapath::Userspace));
    assert_eq!(
        choose_datapath(Some("kernel"), has(true)),
        Ok(Datapath::Kernel)
    );
    let lacking = choose_datapath(Some("kernel"), has(false)).unwrap_err();
    assert!(lacking.contains("lacks the ipip module"), "{lacking}");
    assert!(lacking.contains("--datapath userspace"), "{lacking}");
    assert!(!lacking.contains('\n'), "one line: {lacking}");
    // Userspace needs no probe at all.
    let never = || -> Result<bool, String> { panic!("probed") };
    assert_eq!(
        choose_datapath(Some("userspace"), never),
        Ok(Datapath::Userspace)
    );
    assert_eq!(
        choose_datapath(Some("offload"), never),
        Ok(Datapath::Userspace)
    );
    let other = choose_datapath(Some("batched"), has(true)).unwrap_err();
    assert!(
        other.contains("`kernel`") && other.contains("`userspace`") && other.contains("`offload`"),
        "{other}"
    );
    // The offload datapath is a userspace one that says which it is.
    let o = Ipip::with_offload(Datapath::Userspace, true);
    assert_eq!(o.info().datapath, Datapath::Userspace);
    assert_eq!(o.options().get("datapath"), Some("offload"));
    assert_eq!(
        Ipip::with_offload(Datapath::Kernel, true)
            .options()
            .get("datapath"),
        Some("kernel")
    );
    // A mixed run says what each side ran; the kernel datapath has no peers to mix.
    let mixed = Ipip::with_peers(Datapath::Userspace, true, Some(false));
    assert_eq!(mixed.options().get("peer-datapath"), Some("userspace"));
    let k = Ipip::with_peers(Datapath::Kernel, false, Some(true));
    assert_eq!(k.options().get("peer-datapath"), None);
    let failed = choose_datapath(None, || Err("needs root".into())).unwrap_err();
    assert_eq!(failed, "needs root");
}

#[test]
fn daemon_config_names_every_other_node() {
    let b = Ipip::new(Datapath::Userspace);
    let p = plan(
        &b,
        TopologyRequest {
            nodes: Some(3),
            underlay: Some(Underlay::L3),
            ..Default::default()
        },
    )
    .unwrap();
    let c = TunnelConfig::for_node(&p, &p.nodes[1], TUNNEL_DEV, OVERHEAD);
    assert_eq!(c.node_ip, Ipv4Addr::new(10, 168, 2, 2));
    assert_eq!((c.tun.as_str(), c.mtu), ("tunl0", 1480));
    let peers: Vec<(String, Ipv4Addr)> = c
        .peers
        .iter()
        .map(|p| (p.block.to_string(), p.node_ip))
        .collect();
    assert_eq!(
        peers,
        [
            ("100.96.0.0/24".into(), Ipv4Addr::new(10, 168, 1, 2)),
            ("100.96.2.0/24".into(), Ipv4Addr::new(10, 168, 1, 3)),
        ]
    );
    assert!(c.validate("ipip", daemon::MAX_TUN_MTU).is_ok());
    // The route the daemon adds is the one declared.
    assert_eq!(
        c.route().to_string(),
        "100.96.0.0/16 dev tunl0 proto static scope link"
    );
    assert!(e_routes_declare(&b, &p, &c.route().to_string()));
}

/// Whether every node's declared routes hold `route`.
fn e_routes_declare(b: &Ipip, p: &Plan, route: &str) -> bool {
    let e = b.expectations(p);
    p.nodes
        .iter()
        .all(|n| e.routes[&n.netns].iter().any(|r| r.to_string() == route))
}

fn ipv4(proto: u8, src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0];
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(payload);
    let len = (p.len() as u16).to_be_bytes();
    p[2..4].copy_from_slice(&len);
    p
}

#[test]
fn decapsulation_strips_the_outer_header_of_known_nodes_only() {
    let inner = ipv4(1, [100, 96, 1, 2], [100, 96, 0, 2], b"ping");
    let outer = ipv4(4, [10, 168, 0, 2], [10, 168, 0, 1], &inner);
    let nodes = [Ipv4Addr::new(10, 168, 0, 2)];
    assert_eq!(decapsulate(&outer, &nodes), Ok(inner.as_slice()));
    // Outer options (IHL 6) are skipped too.
    let mut with_opts = outer.clone();
    with_opts[0] = 0x46;
    with_opts.splice(20..20, [1, 1, 1, 1]);
    assert_eq!(decapsulate(&with_opts, &nodes), Ok(inner.as_slice()));
    let stranger = ipv4(4, [10, 168, 0, 9], [10, 168, 0, 1], &inner);
    assert!(decapsulate(&stranger, &nodes).is_err());
    let gre = ipv4(47, [10, 168, 0, 2], [10, 168, 0, 1], &inner);
    assert!(decapsulate(&gre, &nodes).is_err());
    let v6_inner = ipv4(4, [10, 168, 0, 2], [10, 168, 0, 1], &[0x60; 40]);
    assert!(decapsulate(&v6_inner, &nodes).is_err());
    assert!(decapsulate(&outer[..19], &nodes).is_err());
}
