//! The bridge backend: the article's single-node section. One node with a `docker0` bridge
//! (172.17.0.1/16), each pod in its own namespace with `eth0` joined by a veth pair to a port of
//! the bridge, default route via the bridge. Pods reach each other over L2: ARP, then the
//! bridge's learned CAM table.

use std::net::Ipv4Addr;

use harness::backend::{BackendInfo, Capabilities, Context, Datapath, Expectations, Wire};
use harness::podnet::{self, BridgePods};
use harness::topology::{Defaults, NodePlan, Plan, PodNetwork, Underlay};
use harness::{Backend, PlanError, Result};
use ipnet::Ipv4Net;

/// The bridge's name, as Docker calls it.
pub const BRIDGE: &str = "docker0";

/// What `cnbench list` shows.
pub const INFO: BackendInfo = BackendInfo {
    name: "bridge",
    summary: "single node: pods on a docker0 bridge through veth pairs (L2, ARP, CAM table)",
    datapath: Datapath::Kernel,
    defaults: Defaults {
        nodes: 1,
        pods_per_node: 2,
        underlay: Underlay::None,
        pod_cidr: Ipv4Net::new_assert(Ipv4Addr::new(172, 17, 0, 0), 16),
    },
    pod_network: PodNetwork::SingleSubnet,
    overhead_bytes: 0,
    underlays: &[Underlay::None],
    programs: &[],
    link_kinds: &["veth", "bridge"],
    optional_kinds: &[],
    daemon_device: None,
    options: &[],
    faults: &[],
    ipv6: harness::backend::Ipv6Support::Yes,
};

/// Pods come and go as docker's do: a veth pair on docker0.
static PODS: BridgePods = BridgePods {
    bridge: BRIDGE,
    overhead_bytes: 0,
};

/// The bridge backend.
#[derive(Debug, Default)]
pub struct Bridge;

impl Backend for Bridge {
    fn info(&self) -> &BackendInfo {
        &INFO
    }

    fn validate(&self, plan: &Plan) -> Result<(), PlanError> {
        if plan.spec.nodes != 1 {
            return Err(INFO.refuse(format!(
                "it is single-node (pods on one docker0), not {}: use --nodes 1, or a cross-host backend such as vxlan",
                plan.spec.nodes
            )));
        }
        if plan.spec.underlay != Underlay::None {
            return Err(INFO.refuse(format!(
                "a single node needs no underlay: leave out --underlay {}",
                plan.spec.underlay
            )));
        }
        if plan.spec.pods_per_node < 2 {
            return Err(
                INFO.refuse("it needs at least 2 pods to connect: use --pods-per-node 2 or more")
            );
        }
        Ok(())
    }

    fn setup_node(&self, ctx: &Context<'_>, node: &NodePlan) -> Result<()> {
        podnet::build_pod_bridge(ctx, node, BRIDGE, ctx.plan.spec.mtu)
    }

    fn capabilities(&self) -> Capabilities<'_> {
        Capabilities {
            pods: Some(&PODS),
            ..Capabilities::default()
        }
    }

    fn expectations(&self, plan: &Plan) -> Expectations {
        // The article's tables: docker0's subnet on the node; default via docker0 and the
        // subnet on eth0 in each pod; ARP and the bridge's CAM table after traffic.
        let mut e = podnet::pod_bridge_expectations(plan, BRIDGE, plan.spec.mtu);
        e.add_full_matrix(plan);
        // Pod to pod over the bridge: no router on the way, the link MTU is the path MTU.
        if let Some(pair) = Expectations::same_node_pair(plan) {
            e.add_path_facts(plan, pair, 0, plan.spec.mtu, Wire::Plain);
        }
        e.add_default_measure_pairs(plan);
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness::topology::TopologyRequest;

    fn plan(req: TopologyRequest) -> Result<Plan, PlanError> {
        let plan = INFO.plan(&req, "t1".into())?;
        Bridge.validate(&plan)?;
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
