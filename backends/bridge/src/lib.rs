//! The bridge backend: the article's single-node section. One node with a `docker0` bridge
//! (172.17.0.1/16), each pod in its own namespace with `eth0` joined by a veth pair to a port of
//! the bridge, default route via the bridge. Pods reach each other over L2: ARP, then the
//! bridge's learned CAM table.

use harness::backend::{
    BackendInfo, Context, Datapath, Defaults, DeviceMtu, Expectations, FdbExpect, IsolationExpect,
    NeighbourExpect,
};
use harness::netlink::RouteSpec;
use harness::topology::{Plan, PodNetwork, Underlay};
use harness::{Backend, PlanError, Result};

/// The bridge's name, as Docker calls it.
pub const BRIDGE: &str = "docker0";

/// What `cnbench list` shows.
pub static INFO: BackendInfo = BackendInfo {
    name: "bridge",
    summary: "single node: pods on a docker0 bridge through veth pairs (L2, ARP, CAM table)",
    underlays: &[Underlay::None],
    link_kinds: &["veth", "bridge"],
    binaries: &[],
    built: true,
};

/// The bridge backend.
#[derive(Debug, Default)]
pub struct Bridge;

impl Backend for Bridge {
    fn info(&self) -> &'static BackendInfo {
        &INFO
    }

    fn datapath(&self) -> Datapath {
        Datapath::Kernel
    }

    fn defaults(&self) -> Defaults {
        Defaults {
            nodes: 1,
            pods_per_node: 2,
            underlay: Underlay::None,
            pod_cidr: "172.17.0.0/16".parse().expect("valid"),
        }
    }

    fn pod_network(&self) -> PodNetwork {
        PodNetwork::SingleSubnet
    }

    fn validate(&self, plan: &Plan) -> Result<(), PlanError> {
        if plan.spec.nodes != 1 {
            return Err(PlanError::Backend {
                backend: INFO.name.into(),
                why: format!(
                    "it is single-node (pods on one docker0), not {}: use --nodes 1, or a cross-host backend such as vxlan",
                    plan.spec.nodes
                ),
            });
        }
        if plan.spec.pods_per_node < 2 {
            return Err(PlanError::Backend {
                backend: INFO.name.into(),
                why: "it needs at least 2 pods to connect: use --pods-per-node 2 or more".into(),
            });
        }
        Ok(())
    }

    fn setup(&self, ctx: &Context<'_>) -> Result<()> {
        let plan = ctx.plan;
        let mtu = plan.spec.mtu;
        for node in &plan.nodes {
            let nl = ctx.host(&node.netns).nl();
            let gw = node.pod_gateway.expect("single subnet plans a gateway");
            nl.set_up("lo")?;
            nl.create_bridge(BRIDGE, plan.bridge_mac(0x10 + node.index as u8), mtu)?;
            nl.add_address(BRIDGE, gw)?;
            nl.set_up(BRIDGE)?;
            for pod in plan.pods.iter().filter(|p| p.node == node.index) {
                ctx.wire_pod_veth(pod, mtu)?;
                nl.set_master(&pod.host_veth, BRIDGE)?;
            }
        }
        Ok(())
    }

    fn expectations(&self, plan: &Plan) -> Expectations {
        let mut e = Expectations::default();
        let mtu = plan.spec.mtu;
        for node in &plan.nodes {
            let gw = node.pod_gateway.expect("single subnet plans a gateway");
            // The article's node table: the docker0 subnet, connected.
            e.add_routes(&node.netns, [RouteSpec::connected(gw, BRIDGE)]);
            e.mtus.push(DeviceMtu {
                netns: node.netns.clone(),
                dev: BRIDGE.into(),
                mtu_bytes: mtu,
            });
        }
        let pods = &plan.pods;
        for pod in pods {
            let node = plan.node_of(pod);
            let gw = node.pod_gateway.expect("gateway").addr();
            // The article's pod table: default via docker0, the subnet on eth0.
            e.add_routes(
                &pod.netns,
                [
                    RouteSpec::default_via(gw, "eth0"),
                    RouteSpec::connected(pod.ip, "eth0"),
                ],
            );
            for (netns, dev) in [(&pod.netns, "eth0"), (&node.netns, pod.host_veth.as_str())] {
                e.mtus.push(DeviceMtu {
                    netns: netns.clone(),
                    dev: dev.into(),
                    mtu_bytes: mtu,
                });
            }
            // CAM table: the pod's eth0 MAC learned on its own port.
            e.fdb.push(FdbExpect {
                netns: node.netns.clone(),
                bridge: BRIDGE.into(),
                port: pod.host_veth.clone(),
                mac_netns: pod.netns.clone(),
                mac_dev: "eth0".into(),
                label: pod.role.clone(),
            });
            // ARP: each pod resolved its peers and its gateway to their real MACs.
            for peer in pods
                .iter()
                .filter(|p| p.node == pod.node && p.role != pod.role)
            {
                e.neighbours.push(NeighbourExpect {
                    netns: pod.netns.clone(),
                    dev: "eth0".into(),
                    ip: peer.ip.addr(),
                    owner_netns: peer.netns.clone(),
                    owner_dev: "eth0".into(),
                });
            }
            e.neighbours.push(NeighbourExpect {
                netns: pod.netns.clone(),
                dev: "eth0".into(),
                ip: gw,
                owner_netns: node.netns.clone(),
                owner_dev: BRIDGE.into(),
            });
        }
        // Separate namespaces, separate port spaces.
        if let [a, b, ..] = pods.as_slice() {
            e.isolation.push(IsolationExpect {
                a: (a.role.clone(), a.netns.clone()),
                b: (b.role.clone(), b.netns.clone()),
                shared_ports: false,
            });
        }
        e.add_full_matrix(plan);
        e.add_default_measure_pairs(plan);
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness::topology::TopologyRequest;

    fn plan(req: TopologyRequest) -> Result<Plan, PlanError> {
        let b = Bridge;
        let plan = Plan::new(req.resolve(&b.defaults(), "t1".into()), b.pod_network())?;
        b.validate(&plan)?;
        Ok(plan)
    }

    #[test]
    fn declares_the_articles_tables() {
        let p = plan(TopologyRequest::default()).unwrap();
        let e = Bridge.expectations(&p);
        let pod0: Vec<String> = e.routes["cnb-t1-n0p0"]
            .iter()
            .map(|r| r.to_string())
            .collect();
        assert_eq!(
            pod0,
            [
                "default via 172.17.0.1 dev eth0 proto static",
                "172.17.0.0/16 dev eth0 proto kernel scope link src 172.17.0.2"
            ]
        );
        let node: Vec<String> = e.routes["cnb-t1-n0"]
            .iter()
            .map(|r| r.to_string())
            .collect();
        assert_eq!(
            node,
            ["172.17.0.0/16 dev docker0 proto kernel scope link src 172.17.0.1"]
        );
        // The CAM table: each pod's MAC on its own port.
        assert_eq!(e.fdb.len(), 2);
        assert_eq!(e.fdb[0].port, "vt1n0p0");
        // ARP: each pod resolves its peer and its gateway.
        assert_eq!(e.neighbours.len(), 4);
        assert!(!e.isolation[0].shared_ports);
        assert_eq!(e.measure.len(), 1);
        assert_eq!(e.measure[0].path, "same-node");
        // Two pods: ICMP + TCP each way, plus pod -> node.
        assert_eq!(e.reachability.len(), 6);
    }

    #[test]
    fn refuses_what_a_single_bridge_cannot_be() {
        let two = plan(TopologyRequest {
            nodes: Some(2),
            ..Default::default()
        })
        .unwrap_err();
        assert!(two.to_string().contains("single-node"), "{two}");
        let one = plan(TopologyRequest {
            pods_per_node: Some(1),
            ..Default::default()
        })
        .unwrap_err();
        assert!(one.to_string().contains("at least 2 pods"), "{one}");
    }
}
