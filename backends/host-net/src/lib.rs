//! The host-net backend: "pods" are processes in their node's namespace and use the node's IP,
//! as Kubernetes `hostNetwork: true` pods do. No devices of its own, no encapsulation: it is
//! the same-session baseline every other backend is compared with. Port conflicts between
//! pods on one node are real, and a check proves it.

use std::net::Ipv4Addr;

use harness::backend::{
    BackendInfo, Capabilities, Context, Datapath, Expectations, IsolationExpect, PodLifecycle, Wire,
};
use harness::topology::{Defaults, NodePlan, Plan, PodNetwork, PodPlan, Underlay};
use harness::{underlay, Backend, PlanError, Result};
use ipnet::Ipv4Net;

/// What `cnbench list` shows.
pub const INFO: BackendInfo = BackendInfo {
    name: "host-net",
    summary: "pods share their node's network namespace and IP (the baseline: no overhead)",
    datapath: Datapath::Kernel,
    defaults: Defaults {
        nodes: 2,
        pods_per_node: 1,
        underlay: Underlay::L2,
        // Unused: host-net pods have no addresses of their own. Recorded for the result.
        pod_cidr: Ipv4Net::new_assert(Ipv4Addr::new(100, 96, 0, 0), 16),
    },
    pod_network: PodNetwork::HostNetwork,
    overhead_bytes: 0,
    underlays: &[Underlay::L2, Underlay::L3],
    programs: &[],
    link_kinds: &["veth", "bridge"],
    optional_kinds: &[],
    daemon_device: None,
    options: &[],
    faults: &[],
    ipv6: harness::backend::Ipv6Support::Yes,
};

/// The host-net backend.
#[derive(Debug, Default)]
pub struct HostNet;

impl Backend for HostNet {
    fn info(&self) -> &BackendInfo {
        &INFO
    }

    fn validate(&self, plan: &Plan) -> Result<(), PlanError> {
        INFO.require_underlay(
            plan,
            "pods use the node's underlay address: use --underlay l2 or l3",
        )
    }

    fn setup_node(&self, _ctx: &Context<'_>, _node: &NodePlan) -> Result<()> {
        // Nothing beyond the underlay the harness builds: a node, new or restarted, is whole
        // once its eth0 is cabled.
        Ok(())
    }

    fn capabilities(&self) -> Capabilities<'_> {
        Capabilities {
            pods: Some(self),
            ..Capabilities::default()
        }
    }

    fn expectations(&self, plan: &Plan) -> Expectations {
        let mut e = Expectations::default();
        e.add_full_matrix(plan);
        // Nodes talk to each other directly: node 0 with every other node.
        let talked: Vec<(u32, u32)> = (1..plan.spec.nodes)
            .flat_map(|n| [(0, n), (n, 0)])
            .collect();
        e.merge(underlay::traffic_expectations(plan, &talked));
        // Every node: a second host-net process cannot bind a port the first holds.
        for node in &plan.nodes {
            let pods: Vec<_> = plan.pods.iter().filter(|p| p.node == node.index).collect();
            // A node whose pods were all removed has no process to check.
            let Some(a) = pods.first().copied() else {
                continue;
            };
            let b_label = pods
                .get(1)
                .map(|p| p.role.clone())
                .unwrap_or_else(|| format!("another host-net process on {}", node.role));
            e.isolation.push(IsolationExpect {
                a: (a.role.clone(), a.netns.clone()),
                b: (b_label, node.netns.clone()),
                shared_ports: true,
            });
        }
        // Node to node: nothing routes on l2; on l3 the router is one hop. No encapsulation:
        // the "pod" IPs are the node IPs on the wire.
        if let Some(pair) = Expectations::cross_node_pair(plan, false) {
            let (a, b) = (&plan.pods[pair.0], &plan.pods[pair.1]);
            let (na, nb) = (plan.node_of(a), plan.node_of(b));
            let hops = u8::from(na.segment != nb.segment);
            // Across a narrower second segment (`--segment-mtu`) the router refuses what does
            // not fit: the path MTU is the narrower link's.
            e.add_path_facts(
                plan,
                pair,
                hops,
                plan.underlay_path_mtu(na, nb),
                Wire::Plain,
            );
        }
        e.add_default_measure_pairs(plan);
        e
    }
}

/// A host-network pod is a process in its node's namespace: adding one wires nothing, and
/// removing one unwires nothing (its processes stop with it).
impl PodLifecycle for HostNet {
    fn add_pod(&self, _ctx: &Context<'_>, _pod: &PodPlan) -> Result<()> {
        Ok(())
    }

    fn remove_pod(&self, _ctx: &Context<'_>, _pod: &PodPlan) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness::topology::TopologyRequest;

    fn plan(req: TopologyRequest) -> Result<Plan, PlanError> {
        let plan = INFO.plan(&req, "t1".into())?;
        HostNet.validate(&plan)?;
        Ok(plan)
    }

    #[test]
    fn pods_are_their_nodes() {
        let p = plan(TopologyRequest::default()).unwrap();
        let e = HostNet.expectations(&p);
        // Pods in node namespaces: n0p0 reaches n1p0 at the node's IP, cross-node.
        assert!(e
            .reachability
            .iter()
            .all(|r| r.path == "cross-node" && r.to_ip.to_string().starts_with("10.168.0.")));
        assert!(e.isolation.iter().all(|i| i.shared_ports));
        assert_eq!(e.measure[0].path, "cross-node");
        // The switch learned n0's MAC on its port; n0 resolved n1.
        assert!(e
            .fdb
            .iter()
            .any(|f| f.port == "n0" && f.mac_netns == "cnb-t1-n0"));
        assert!(e
            .neighbours
            .iter()
            .any(|n| n.netns == "cnb-t1-n0" && n.ip.to_string() == "10.168.0.2"));
    }

    #[test]
    fn needs_an_underlay() {
        let none = plan(TopologyRequest {
            nodes: Some(1),
            underlay: Some(Underlay::None),
            ..Default::default()
        })
        .unwrap_err();
        assert!(none.to_string().contains("--underlay l2 or l3"), "{none}");
    }
}
