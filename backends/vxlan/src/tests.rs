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
