//! What the flannel-udp backend promises: the pod bridge's tables, forwarding on, `flannel0`
//! (a TUN) and the one route to it on every node, UDP 8285 between node IPs on the wire, a path MTU 28
//! bytes below the underlay's, and two routed hops between pods of different nodes.

use harness::backend::{Expectations, Wire};
use harness::podnet;
use harness::topology::Plan;

use crate::{BRIDGE, OVERHEAD, TUN_DEV, UDP_PORT};

/// Every declaration of the flannel-udp backend for `plan`.
pub fn expectations(plan: &Plan) -> Expectations {
    let pod_mtu = plan.spec.mtu - OVERHEAD;
    let mut e = podnet::pod_bridge_expectations(plan, BRIDGE, pod_mtu);
    // The node routes between cni0 and flannel0.
    e.add_node_forwarding(plan);
    // flannel0 and its route, as every userspace daemon makes them. The daemons leave the
    // inner TTL alone (flanneld decrements it once more on each side).
    userspace::declare_tunnels(&mut e, plan, TUN_DEV, pod_mtu);
    let wire = Wire::Udp {
        port: UDP_PORT,
        vni: None,
    };
    podnet::add_overlay_facts(&mut e, plan, pod_mtu, wire);
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FlannelUdp;
    use harness::topology::{TopologyRequest, Underlay};
    use harness::Backend;

    fn plan(underlay: Underlay) -> Plan {
        let req = TopologyRequest {
            underlay: Some(underlay),
            ..Default::default()
        };
        let plan = crate::INFO.plan(&req, "t1".into()).unwrap();
        FlannelUdp::default().validate(&plan).unwrap();
        plan
    }

    fn routes(e: &Expectations, ns: &str) -> Vec<String> {
        let mut v: Vec<String> = e.routes[ns].iter().map(|r| r.to_string()).collect();
        v.sort();
        v
    }

    #[test]
    fn declares_the_articles_tables_on_l2() {
        let p = plan(Underlay::L2);
        let e = expectations(&p);
        // The node: the pod network into flannel0, its own block on cni0; a pod: its block
        // and the default route via its node's cni0.
        let tables: [(&str, [&str; 2]); 2] = [
            (
                "cnb-t1-n0",
                [
                    "100.96.0.0/16 dev flannel0 proto static scope link",
                    "100.96.0.0/24 dev cni0 proto kernel scope link src 100.96.0.1",
                ],
            ),
            (
                "cnb-t1-n1p0",
                [
                    "100.96.1.0/24 dev eth0 proto kernel scope link src 100.96.1.2",
                    "default via 100.96.1.1 dev eth0 proto static",
                ],
            ),
        ];
        for (netns, want) in tables {
            assert_eq!(routes(&e, netns), want, "{netns}");
        }
        let n0 = &e
            .devices
            .iter()
            .find(|d| d.netns == "cnb-t1-n0")
            .unwrap()
            .devices;
        for (dev, kind) in [("flannel0", "tun"), ("cni0", "bridge")] {
            assert!(n0.contains(&(dev.into(), kind.into())), "{dev}: {n0:?}");
        }
        let mtu = |dev: &str| {
            e.mtus
                .iter()
                .find(|m| m.netns == "cnb-t1-n1" && m.dev == dev)
                .unwrap()
                .mtu_bytes
        };
        assert_eq!((mtu("flannel0"), mtu("cni0")), (1472, 1472));
        // 4 pods: 12 ordered pairs x (ICMP, TCP), plus each pod to its node.
        assert_eq!(e.reachability.len(), 28);
        assert_eq!(e.measure[0].path, "cross-node");
        assert_eq!(e.measure[1].path, "same-node");
        let enc = &e.encap[0];
        assert_eq!((enc.from, enc.to), (0, 2));
        assert_eq!(enc.capture_netns, "cnb-t1-sw");
        assert_eq!(enc.capture_dev, p.nodes[0].switch_port);
        assert_eq!(
            enc.wire,
            Wire::Udp {
                port: 8285,
                vni: None
            }
        );
        assert_eq!(e.pmtu[0].path_mtu, 1472);
        assert_eq!(e.paths[0].hops, 2);
    }

    #[test]
    fn captures_at_the_router_on_l3() {
        let p = plan(Underlay::L3);
        let e = expectations(&p);
        assert_eq!(e.encap[0].capture_netns, "cnb-t1-rt");
        assert_eq!(
            routes(&e, "cnb-t1-n1"),
            [
                "100.96.0.0/16 dev flannel0 proto static scope link",
                "100.96.1.0/24 dev cni0 proto kernel scope link src 100.96.1.1",
            ]
        );
        // Each node resolves its router, not the other node.
        let n0 = e
            .neighbours
            .iter()
            .find(|n| n.netns == "cnb-t1-n0" && n.dev == "eth0")
            .unwrap();
        assert_eq!(n0.owner_netns, "cnb-t1-rt");
    }
}
