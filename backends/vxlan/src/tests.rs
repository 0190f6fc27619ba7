//! Declarations of the vxlan backend for default and l3 plans (no root needed).

use super::*;
use harness::backend::Wire;
use harness::topology::{TopologyRequest, Underlay};

fn plan(req: TopologyRequest) -> Result<Plan, PlanError> {
    let plan = INFO.plan(&req, "t1".into())?;
    Vxlan::default().validate(&plan)?;
    Ok(plan)
}

fn routes(e: &Expectations, netns: &str) -> Vec<String> {
    let mut v: Vec<String> = e.routes[netns].iter().map(|r| r.to_string()).collect();
    v.sort();
    v
}

#[test]
fn declares_flannels_tables_on_l2() {
    let p = plan(TopologyRequest::default()).unwrap();
    let e = Vxlan::default().expectations(&p);
    assert_eq!(
        routes(&e, "cnb-t1-n0"),
        [
            "100.96.0.0/24 dev cni0 proto kernel scope link src 100.96.0.1",
            "100.96.1.0/24 via 100.96.1.0 dev flannel.1 proto static onlink",
        ]
    );
    assert_eq!(
        routes(&e, "cnb-t1-n1p0"),
        [
            "100.96.1.0/24 dev eth0 proto kernel scope link src 100.96.1.2",
            "default via 100.96.1.1 dev eth0 proto static",
        ]
    );
    // flannel.1 joins cni0 and the pods' veths.
    let n0 = e.devices.iter().find(|d| d.netns == "cnb-t1-n0").unwrap();
    assert!(n0
        .devices
        .contains(&("flannel.1".to_string(), "vxlan".to_string())));
    assert_eq!(n0.devices.len(), 4, "{n0:?}");
    // Pod side and VTEP are 50 bytes under the underlay.
    for dev in ["flannel.1", "cni0", "vt1n0p0"] {
        let m = e
            .mtus
            .iter()
            .find(|m| m.netns == "cnb-t1-n0" && m.dev == dev)
            .unwrap();
        assert_eq!(m.mtu_bytes, 1450, "{dev}");
    }
    // One VTEP entry per remote node: n1's VTEP .0 behind n1's underlay IP.
    assert_eq!(e.vteps.len(), 2);
    let v = e.vteps.iter().find(|v| v.netns == "cnb-t1-n0").unwrap();
    assert_eq!(v.remote_node_ip.to_string(), "10.168.0.2");
    assert_eq!(v.remote_vtep_ip.to_string(), "100.96.1.0");
    assert_eq!(v.owner_netns, "cnb-t1-n1");
    // VXLAN on the switch port of the sender's node.
    assert_eq!(e.encap.len(), 1);
    let enc = &e.encap[0];
    assert_eq!((enc.from, enc.to), (0, 2));
    assert_eq!(enc.capture_netns, "cnb-t1-sw");
    assert_eq!(enc.capture_dev, "n0");
    assert_eq!(
        enc.wire,
        Wire::Udp {
            port: 8472,
            vni: Some(1)
        }
    );
    assert_eq!(e.pmtu[0].path_mtu, 1450);
    assert_eq!(e.paths[0].hops, 2);
    // Four pods: 12 ordered pairs, ICMP and TCP, plus four pod -> node probes; all reach.
    assert_eq!(e.reachability.len(), 28);
    assert!(e
        .reachability
        .iter()
        .all(|r| r.expect == harness::backend::Expect::Reach));
    let paths: Vec<&str> = e.measure.iter().map(|m| m.path.as_str()).collect();
    assert_eq!(paths, ["cross-node", "same-node"]);
    // Underlay evidence: n0 resolved n1 on eth0.
    assert!(e
        .neighbours
        .iter()
        .any(|n| n.netns == "cnb-t1-n0" && n.dev == "eth0" && n.ip.to_string() == "10.168.0.2"));
}

#[test]
fn crosses_a_router_on_l3() {
    let p = plan(TopologyRequest {
        underlay: Some(Underlay::L3),
        ..Default::default()
    })
    .unwrap();
    let e = Vxlan::default().expectations(&p);
    let v = e.vteps.iter().find(|v| v.netns == "cnb-t1-n0").unwrap();
    assert_eq!(v.remote_node_ip.to_string(), "10.168.2.2");
    assert_eq!(e.encap[0].capture_netns, "cnb-t1-rt");
    assert_eq!(e.encap[0].capture_dev, "n0");
    // The router is on the outer header's path only: still two hops for the pod packet.
    assert_eq!(e.paths[0].hops, 2);
    assert!(routes(&e, "cnb-t1-n1")
        .contains(&"100.96.0.0/24 via 100.96.0.0 dev flannel.1 proto static onlink".to_string()));
    // n0 resolved its router, not n1, on eth0.
    assert!(e
        .neighbours
        .iter()
        .any(|n| n.netns == "cnb-t1-n0" && n.ip.to_string() == "10.168.1.1"));
}

#[test]
fn vtep_macs_are_fixed_and_distinct() {
    let p = plan(TopologyRequest {
        nodes: Some(3),
        ..Default::default()
    })
    .unwrap();
    let macs: Vec<[u8; 6]> = p.nodes.iter().map(|n| vtep_mac(&p, n)).collect();
    assert_eq!(macs[0], vtep_mac(&p, &p.nodes[0]));
    assert!(macs[0] != macs[1] && macs[1] != macs[2] && macs[0] != macs[2]);
    // Locally administered unicast, never a bridge MAC of the run.
    assert!(macs.iter().all(|m| m[0] & 0x03 == 0x02));
    assert!(macs.iter().all(|m| *m != p.bridge_mac(m[5])));
    assert_eq!(vtep_ip(&p.nodes[2]).to_string(), "100.96.2.0");
}

#[test]
fn refuses_a_single_node_without_underlay() {
    let e = plan(TopologyRequest {
        nodes: Some(1),
        underlay: Some(Underlay::None),
        ..Default::default()
    })
    .unwrap_err();
    assert!(e.to_string().contains("--underlay l2 or l3"), "{e}");
}

#[test]
fn every_node_declares_the_forwarding_setup_turns_on() {
    let p = plan(TopologyRequest::default()).unwrap();
    let e = Vxlan::default().expectations(&p);
    for node in &p.nodes {
        assert_eq!(
            e.sysctls[&node.netns],
            [harness::backend::SysctlExpect::ip_forward()]
        );
    }
    assert_eq!(e.sysctls.len(), p.nodes.len());
}

fn mtu_of(e: &Expectations, netns: &str, dev: &str) -> Option<u32> {
    e.mtus
        .iter()
        .find(|m| m.netns == netns && m.dev == dev)
        .map(|m| m.mtu_bytes)
}

fn devices_of(e: &Expectations, netns: &str) -> Vec<String> {
    let mut v: Vec<String> = e
        .devices
        .iter()
        .filter(|d| d.netns == netns)
        .flat_map(|d| d.devices.iter().map(|(n, k)| format!("{n} {k}")))
        .collect();
    v.sort();
    v
}

fn family(f: harness::topology::IpFamily, underlay: Underlay) -> Plan {
    plan(TopologyRequest {
        ip_family: f,
        underlay: Some(underlay),
        ..Default::default()
    })
    .unwrap()
}

#[test]
fn dual_stack_adds_flannel_v6_beside_flannel_1() {
    let p = family(harness::topology::IpFamily::Dual, Underlay::L2);
    let e = Vxlan::default().expectations(&p);
    // Both VTEPs, each 50 or 70 bytes under the underlay; the pods and cni0 take the smaller.
    assert_eq!(
        devices_of(&e, "cnb-t1-n0"),
        [
            "cni0 bridge",
            "flannel-v6.1 vxlan",
            "flannel.1 vxlan",
            "vt1n0p0 veth",
            "vt1n0p1 veth"
        ]
    );
    assert_eq!(mtu_of(&e, "cnb-t1-n0", "flannel.1"), Some(1450));
    assert_eq!(mtu_of(&e, "cnb-t1-n0", "flannel-v6.1"), Some(1430));
    for (netns, dev) in [
        ("cnb-t1-n0", "cni0"),
        ("cnb-t1-n0", "vt1n0p0"),
        ("cnb-t1-n0p0", "eth0"),
    ] {
        assert_eq!(mtu_of(&e, netns, dev), Some(1430), "{netns} {dev}");
    }
    assert_eq!(pod_mtu(&p), 1430);
    // One path MTU for both families: the pods' own links are the narrowest hop of each.
    assert!(e.pmtu.iter().all(|m| m.path_mtu == 1430), "{:?}", e.pmtu);
    // (eth0 and its routes are the underlay's declarations, which the harness adds.)
    // Per family: the onlink route to n1's block through n1's VTEP address, and the
    // kernel's route for the IPv6 VTEP's /128 (IPv4's /32 has only a local-table one).
    assert_eq!(
        routes(&e, "cnb-t1-n0"),
        [
            "100.96.0.0/24 dev cni0 proto kernel scope link src 100.96.0.1",
            "100.96.1.0/24 via 100.96.1.0 dev flannel.1 proto static onlink",
            "fd00:100:96:1::/64 via fd00:100:96:1:: dev flannel-v6.1 proto static onlink",
            "fd00:100:96::/128 dev flannel-v6.1 proto kernel",
            "fd00:100:96::/64 dev cni0 proto kernel",
        ]
    );
    // A VTEP entry per remote node and family: IPv6 ones name n1's IPv6 underlay address
    // and its IPv6 VTEP (the first address of its block).
    assert_eq!(e.vteps.len(), 4);
    let v6: Vec<_> = e
        .vteps
        .iter()
        .filter(|v| v.netns == "cnb-t1-n0" && v.dev == "flannel-v6.1")
        .collect();
    assert_eq!(v6.len(), 1, "{:?}", e.vteps);
    assert_eq!(v6[0].remote_node_ip.to_string(), "fd00:10:168::2");
    assert_eq!(v6[0].remote_vtep_ip.to_string(), "fd00:100:96:1::");
    assert_eq!(
        (v6[0].owner_netns.as_str(), v6[0].owner_dev.as_str()),
        ("cnb-t1-n1", "flannel-v6.1")
    );
    assert!(e.vteps.iter().any(|v| v.netns == "cnb-t1-n0"
        && v.dev == "flannel.1"
        && v.remote_node_ip.to_string() == "10.168.0.2"));
    // Forwarding for both families, written by setup from the same list.
    for node in &p.nodes {
        assert_eq!(
            e.sysctls[&node.netns],
            [
                harness::backend::SysctlExpect::ip_forward(),
                harness::backend::SysctlExpect::ip6_forward()
            ]
        );
    }
    assert_eq!(expect::node_sysctls(&p), e.sysctls["cnb-t1-n1"]);
    // The wire: one declaration, checked once per family (the IPv6 ping's outer header
    // between the nodes' IPv6 addresses).
    assert_eq!(e.encap.len(), 1);
    assert_eq!(
        e.encap[0].wire,
        Wire::Udp {
            port: 8472,
            vni: Some(1)
        }
    );
    // Every pod to every address of every other: 12 ordered pairs, 2 families, ICMP and
    // TCP, plus each pod to its gateway per family.
    assert_eq!(e.reachability.len(), 12 * 2 * 2 + 4 * 2);
    assert!(e
        .reachability
        .iter()
        .any(|r| r.to_ip.to_string() == "fd00:100:96:1::2" && r.path == "cross-node"));
}

#[test]
fn ipv6_only_has_flannel_v6_alone() {
    let p = family(harness::topology::IpFamily::Ipv6, Underlay::L2);
    let e = Vxlan::default().expectations(&p);
    let devs = devices_of(&e, "cnb-t1-n1");
    assert!(devs.contains(&"flannel-v6.1 vxlan".to_string()), "{devs:?}");
    assert!(!devs.iter().any(|d| d.starts_with("flannel.1")), "{devs:?}");
    assert_eq!(mtu_of(&e, "cnb-t1-n1", "flannel.1"), None);
    assert_eq!(mtu_of(&e, "cnb-t1-n1", "cni0"), Some(1430));
    // No IPv4 anywhere in the node's table, and only IPv6 forwarding.
    let r = routes(&e, "cnb-t1-n1");
    assert!(r.iter().all(|r| r.starts_with("fd00:")), "{r:?}");
    assert!(r.contains(
        &"fd00:100:96::/64 via fd00:100:96:: dev flannel-v6.1 proto static onlink".to_string()
    ));
    assert_eq!(
        e.sysctls["cnb-t1-n1"],
        [harness::backend::SysctlExpect::ip6_forward()]
    );
    assert!(e.vteps.iter().all(|v| v.dev == "flannel-v6.1"
        && v.remote_node_ip.is_ipv6()
        && v.remote_vtep_ip.is_ipv6()));
    assert_eq!(e.vteps.len(), 2);
    // A pod on n1 reaches n0's pods at their IPv6 addresses only.
    assert!(e.reachability.iter().all(|r| r.to_ip.is_ipv6()));
}

#[test]
fn ipv6_crosses_the_router_on_l3() {
    let p = family(harness::topology::IpFamily::Ipv6, Underlay::L3);
    let e = Vxlan::default().expectations(&p);
    // n1 is on the other segment: its IPv6 underlay address behind the router.
    let v = e.vteps.iter().find(|v| v.netns == "cnb-t1-n0").unwrap();
    assert_eq!(v.remote_node_ip.to_string(), "fd00:10:168:2::2");
    assert_eq!(e.encap[0].capture_netns, "cnb-t1-rt");
    // The router decrements only the outer hop limit.
    assert_eq!(e.paths[0].hops, 2);
    // n0 resolved its router's IPv6 address, not n1's, on eth0.
    assert!(e
        .neighbours
        .iter()
        .any(|n| n.netns == "cnb-t1-n0" && n.ip.to_string() == "fd00:10:168:1::1"));
    assert!(!e
        .neighbours
        .iter()
        .any(|n| n.netns == "cnb-t1-n0" && n.ip.to_string() == "fd00:10:168:2::2"));
}

#[test]
fn ipv6_vtep_macs_differ_from_the_ipv4_ones() {
    let p = family(harness::topology::IpFamily::Dual, Underlay::L2);
    for node in &p.nodes {
        let (m4, m6) = (vtep_mac(&p, node), vtep_mac6(&p, node));
        assert_ne!(m4, m6);
        assert_eq!(m6[0] & 0x03, 0x02, "locally administered unicast");
        assert!(p.nodes.iter().all(|n| vtep_mac(&p, n) != m6));
    }
    assert_eq!(vtep_ip6(&p.nodes[1]).to_string(), "fd00:100:96:1::");
    assert!(vtep::route_to(&p.nodes[1], Family::V6).onlink);
}
