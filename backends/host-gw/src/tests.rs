//! Declarations of the host-gw backend for l2 and l3 plans, in each address family (no root
//! needed).

use super::*;
use harness::backend::{Expect, Wire};
use harness::topology::{IpFamily, TopologyRequest, Underlay};

fn plan(req: TopologyRequest) -> Result<Plan, PlanError> {
    let plan = INFO.plan(&req, "t1".into())?;
    HostGw::default().validate(&plan)?;
    Ok(plan)
}

fn l3(nodes: u32) -> Plan {
    plan(TopologyRequest {
        nodes: Some(nodes),
        underlay: Some(Underlay::L3),
        ..Default::default()
    })
    .unwrap()
}

fn of_family(family: IpFamily, underlay: Underlay, nodes: u32) -> Plan {
    plan(TopologyRequest {
        nodes: Some(nodes),
        underlay: Some(underlay),
        ip_family: family,
        ..Default::default()
    })
    .unwrap()
}

fn routes(e: &Expectations, netns: &str) -> Vec<String> {
    let mut v: Vec<String> = e.routes[netns].iter().map(|r| r.to_string()).collect();
    v.sort();
    v
}

#[test]
fn routes_via_the_peer_node_on_l2() {
    let p = plan(TopologyRequest::default()).unwrap();
    let e = HostGw::default().expectations(&p);
    assert_eq!(
        routes(&e, "cnb-t1-n0"),
        [
            "100.96.0.0/24 dev cni0 proto kernel scope link src 100.96.0.1",
            "100.96.1.0/24 via 10.168.0.2 dev eth0 proto static",
        ]
    );
    // No tunnel device: cni0 and the pods' veths only, at the full underlay MTU.
    let n0 = e.devices.iter().find(|d| d.netns == "cnb-t1-n0").unwrap();
    assert_eq!(n0.devices.len(), 3, "{n0:?}");
    assert!(e.mtus.iter().all(|m| m.mtu_bytes == 1500));
    assert!(e.reachability.iter().all(|r| r.expect == Expect::Reach));
    assert_eq!(e.encap[0].wire, Wire::Plain);
    assert_eq!((e.encap[0].from, e.encap[0].to), (0, 2));
    assert_eq!(e.encap[0].capture_netns, "cnb-t1-sw");
    assert_eq!(e.pmtu[0].path_mtu, 1500);
    assert_eq!(e.paths[0].hops, 2);
    let paths: Vec<&str> = e.measure.iter().map(|m| m.path.as_str()).collect();
    assert_eq!(paths, ["cross-node", "same-node"]);
    // n0 resolved n1, its next hop, on eth0.
    assert!(e
        .neighbours
        .iter()
        .any(|n| n.netns == "cnb-t1-n0" && n.dev == "eth0" && n.ip.to_string() == "10.168.0.2"));
}

#[test]
fn two_segments_cannot_be_routed() {
    let p = l3(2);
    let e = HostGw::default().expectations(&p);
    // Only the node's own block: no route to n1's pods can be installed.
    assert_eq!(
        routes(&e, "cnb-t1-n0"),
        ["100.96.0.0/24 dev cni0 proto kernel scope link src 100.96.0.1"]
    );
    for r in &e.reachability {
        match (r.path.as_str(), &r.expect) {
            ("cross-node", Expect::Unreachable { reason }) => {
                assert!(reason.starts_with("host-gw needs every node on one L2 segment"));
            }
            ("cross-node", other) => panic!("{r:?}: {other:?}"),
            (_, expect) => assert_eq!(expect, &Expect::Reach, "{r:?}"),
        }
    }
    let r = e
        .reachability
        .iter()
        .find(|r| r.from == "n0p0" && r.to == "n1p0")
        .unwrap();
    assert_eq!(
        r.expect,
        Expect::Unreachable {
            reason: "host-gw needs every node on one L2 segment: 10.168.2.2 is not on n0's \
                     subnet 10.168.1.0/24, so no route to its pods can be installed"
                .into()
        }
    );
    // Nothing crosses the segments, so nothing on the wire to declare; same-node only.
    assert!(e.encap.is_empty() && e.pmtu.is_empty() && e.paths.is_empty());
    let paths: Vec<&str> = e.measure.iter().map(|m| m.path.as_str()).collect();
    assert_eq!(paths, ["same-node"]);
}

#[test]
fn same_segment_nodes_still_work_on_l3() {
    let p = l3(3);
    let e = HostGw::default().expectations(&p);
    // n0 and n2 share 10.168.1.0/24; n1 is behind the router.
    assert_eq!(
        routes(&e, "cnb-t1-n0"),
        [
            "100.96.0.0/24 dev cni0 proto kernel scope link src 100.96.0.1",
            "100.96.2.0/24 via 10.168.1.3 dev eth0 proto static",
        ]
    );
    let expect = |from: &str, to: &str| {
        e.reachability
            .iter()
            .find(|r| r.from == from && r.to == to)
            .unwrap()
            .expect
            .clone()
    };
    assert_eq!(expect("n0p0", "n2p1"), Expect::Reach);
    assert_eq!(expect("n2p1", "n0p0"), Expect::Reach);
    assert!(matches!(expect("n1p0", "n2p0"), Expect::Unreachable { .. }));
    // The wire between n0 and n2: the router namespace's segment bridge, n0's port.
    let enc = &e.encap[0];
    assert_eq!(
        (p.pods[enc.from].role.as_str(), p.pods[enc.to].role.as_str()),
        ("n0p0", "n2p0")
    );
    assert_eq!(enc.capture_netns, "cnb-t1-rt");
    assert_eq!(enc.capture_dev, "n0");
    assert_eq!(e.measure[0].path, "cross-node");
    assert_eq!(p.pods[e.measure[0].server].role, "n2p0");
}

#[test]
fn refuses_no_underlay() {
    let e = plan(TopologyRequest {
        nodes: Some(1),
        underlay: Some(Underlay::None),
        ..Default::default()
    })
    .unwrap_err();
    assert!(e.to_string().contains("--underlay l2"), "{e}");
}

#[test]
fn every_node_declares_the_forwarding_setup_turns_on() {
    let p = l3(3);
    let e = HostGw::default().expectations(&p);
    for node in &p.nodes {
        assert_eq!(
            e.sysctls[&node.netns],
            [harness::backend::SysctlExpect::ip_forward()]
        );
    }
    // Nothing else: pods, the switch and the router (the underlay's) are not the backend's.
    assert_eq!(e.sysctls.len(), 3);
}

#[test]
fn dual_routes_each_family_via_the_peers_address_of_it() {
    let p = of_family(IpFamily::Dual, Underlay::L2, 2);
    let e = HostGw::default().expectations(&p);
    // The IPv4 block via n1's IPv4 address, the IPv6 block via its global IPv6 address on
    // the shared segment (not a link-local one); cni0's connected routes of both families.
    assert_eq!(
        routes(&e, "cnb-t1-n0"),
        [
            "100.96.0.0/24 dev cni0 proto kernel scope link src 100.96.0.1",
            "100.96.1.0/24 via 10.168.0.2 dev eth0 proto static",
            "fd00:100:96:1::/64 via fd00:10:168::2 dev eth0 proto static",
            "fd00:100:96::/64 dev cni0 proto kernel",
        ]
    );
    assert_eq!(
        routes(&e, "cnb-t1-n1"),
        [
            "100.96.0.0/24 via 10.168.0.1 dev eth0 proto static",
            "100.96.1.0/24 dev cni0 proto kernel scope link src 100.96.1.1",
            "fd00:100:96:1::/64 dev cni0 proto kernel",
            "fd00:100:96::/64 via fd00:10:168::1 dev eth0 proto static",
        ]
    );
    // Every probe of both families must get through, and there are as many of each.
    assert!(e.reachability.iter().all(|r| r.expect == Expect::Reach));
    let v6 = e.reachability.iter().filter(|r| r.to_ip.is_ipv6()).count();
    assert_eq!(2 * v6, e.reachability.len());
    // The nodes forward both families; no encapsulation, at the full underlay MTU.
    for node in &p.nodes {
        assert_eq!(
            e.sysctls[&node.netns],
            [SysctlExpect::ip_forward(), SysctlExpect::ip6_forward()]
        );
    }
    assert!(e.encap.iter().all(|c| c.wire == Wire::Plain));
    assert!(e.pmtu.iter().all(|m| m.path_mtu == 1500));
    // n0 resolved n1, its next hop, by ARP and by NDP.
    for ip in ["10.168.0.2", "fd00:10:168::2"] {
        assert!(
            e.neighbours
                .iter()
                .any(|n| n.netns == "cnb-t1-n0" && n.dev == "eth0" && n.ip.to_string() == ip),
            "{ip}: {:?}",
            e.neighbours
        );
    }
}

#[test]
fn ipv6_routes_only_ipv6_and_forwards_only_ipv6() {
    let p = of_family(IpFamily::Ipv6, Underlay::L2, 2);
    let e = HostGw::default().expectations(&p);
    // The plan still holds IPv4 fields an ipv6 run never configures: no IPv4 route may come
    // from them.
    assert_eq!(
        routes(&e, "cnb-t1-n0"),
        [
            "fd00:100:96:1::/64 via fd00:10:168::2 dev eth0 proto static",
            "fd00:100:96::/64 dev cni0 proto kernel",
        ]
    );
    assert!(e.reachability.iter().all(|r| r.to_ip.is_ipv6()));
    assert!(e.reachability.iter().all(|r| r.expect == Expect::Reach));
    for node in &p.nodes {
        assert_eq!(e.sysctls[&node.netns], [SysctlExpect::ip6_forward()]);
    }
    assert_eq!(node_sysctls(&p), [SysctlExpect::ip6_forward()]);
    assert!(e
        .neighbours
        .iter()
        .all(|n| n.ip.is_ipv6() || n.netns.ends_with("-sw")));
    let paths: Vec<&str> = e.measure.iter().map(|m| m.path.as_str()).collect();
    assert_eq!(paths, ["cross-node", "same-node"]);
}

#[test]
fn an_ipv6_next_hop_across_the_router_is_the_expected_failures_reason() {
    let p = of_family(IpFamily::Ipv6, Underlay::L3, 2);
    let (n0, n1) = (&p.nodes[0], &p.nodes[1]);
    let why = route_to(n0, n1, harness::topology::Family::V6).unwrap_err();
    assert_eq!(
        why,
        NotOnLink {
            next_hop: "fd00:10:168:2::2".parse().unwrap(),
            node: "n0".into(),
            subnet: "fd00:10:168:1::/64".parse().unwrap(),
        }
    );
    let e = HostGw::default().expectations(&p);
    assert_eq!(
        routes(&e, "cnb-t1-n0"),
        ["fd00:100:96::/64 dev cni0 proto kernel"]
    );
    let r = e
        .reachability
        .iter()
        .find(|r| r.from == "n0p0" && r.to == "n1p0")
        .unwrap();
    assert_eq!(
        r.expect,
        Expect::Unreachable {
            reason: "host-gw needs every node on one L2 segment: fd00:10:168:2::2 is not on \
                     n0's subnet fd00:10:168:1::/64, so no route to its pods can be installed"
                .into()
        }
    );
    // The same cells as IPv4 on l3: every cross-node probe, and nothing else.
    let v4 = l3(2);
    let e4 = HostGw::default().expectations(&v4);
    let xfail = |e: &Expectations| {
        let mut v: Vec<(String, String, String)> = e
            .reachability
            .iter()
            .filter(|r| matches!(r.expect, Expect::Unreachable { .. }))
            .map(|r| (r.from.clone(), r.to.clone(), format!("{:?}", r.proto)))
            .collect();
        v.sort();
        v
    };
    assert_eq!(xfail(&e), xfail(&e4));
    assert!(e.encap.is_empty() && e.pmtu.is_empty() && e.paths.is_empty());
}

#[test]
fn dual_on_l3_names_each_familys_next_hop() {
    let p = of_family(IpFamily::Dual, Underlay::L3, 2);
    let e = HostGw::default().expectations(&p);
    let reasons: Vec<(bool, String)> = e
        .reachability
        .iter()
        .filter(|r| r.from == "n0p0" && r.to == "n1p0")
        .map(|r| match &r.expect {
            Expect::Unreachable { reason } => (r.to_ip.is_ipv6(), reason.clone()),
            other => panic!("{r:?}: {other:?}"),
        })
        .collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    for (v6, reason) in reasons {
        let hop = if v6 {
            "fd00:10:168:2::2 is not on n0's subnet fd00:10:168:1::/64"
        } else {
            "10.168.2.2 is not on n0's subnet 10.168.1.0/24"
        };
        assert!(reason.contains(hop), "{reason}");
    }
}
