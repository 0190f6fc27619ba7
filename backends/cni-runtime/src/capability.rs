//! The capability arguments cnbench gives a chain as its runtime (CNI specification §3,
//! "Deriving runtimeConfig"; the keys are the CNI conventions'): each plugin gets those it
//! declares in its `capabilities`.

use harness::topology::{Plan, PodPlan};
use serde_json::{Map, Value};

/// The port a pod's listener uses for the portmap check.
pub const POD_PORT: u16 = 8080;

/// The first host port cnbench maps: pod `k` of a node gets host port `HOST_PORT_BASE + k`.
pub const HOST_PORT_BASE: u16 = 30000;

/// The capability arguments of `pod`: `portMappings` (host port [`HOST_PORT_BASE`] + its
/// index on the node to its port [`POD_PORT`], TCP) and `ips` (its planned address of each
/// family of the run, for a static IPAM).
pub fn args(plan: &Plan, pod: &PodPlan) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        "portMappings".into(),
        serde_json::json!([{
            "hostPort": HOST_PORT_BASE + pod.index as u16,
            "containerPort": POD_PORT,
            "protocol": "tcp"
        }]),
    );
    let ips: Vec<String> = plan
        .families()
        .into_iter()
        .filter_map(|f| plan.pod_net(pod, f))
        .map(|n| n.to_string())
        .collect();
    m.insert("ips".into(), serde_json::json!(ips));
    m
}
