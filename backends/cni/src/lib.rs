//! The cni backend: pods wired by a CNI plugin chain that cnbench did not write, run exactly
//! as a container runtime runs it (`cni_runtime`), on one node. Everything is the chain's:
//! the node's bridge or none, the pods' interfaces, addresses and routes, any rules; cnbench
//! makes the namespaces (and the node's `eth0` on an underlay, for plugins such as macvlan
//! that need a parent), checks what the results promise and what each plugin must have done,
//! and measures it like every backend.

use std::net::Ipv4Addr;

use cni_runtime::options::CHAIN_OPTIONS;
use cni_runtime::{Chain, PodWiring, Scope, Settings, Wired};
use harness::backend::{
    BackendInfo, BackendOptions, Capabilities, Context, Datapath, Expectations, PmtuExpect, Wire,
};
use harness::topology::{Defaults, NodePlan, Plan, PodNetwork, Underlay};
use harness::{Backend, PlanError, Result};
use ipnet::Ipv4Net;
use reports::CheckRecord;

/// What `cnbench list` shows. An instance's info adds the kernel link kinds its chain's
/// plugins create.
pub const INFO: BackendInfo = BackendInfo {
    name: "cni",
    summary: "a CNI plugin chain (--cni-conf) run for each pod as a container runtime runs it, on one node",
    datapath: Datapath::Kernel,
    defaults: Defaults {
        nodes: 1,
        pods_per_node: 2,
        underlay: Underlay::None,
        pod_cidr: Ipv4Net::new_assert(Ipv4Addr::new(172, 17, 0, 0), 16),
    },
    // Placeholders until the chain's IPAM answers (and the addresses a static IPAM gets
    // through the `ips` capability).
    pod_network: PodNetwork::SingleSubnet,
    overhead_bytes: 0,
    underlays: &[Underlay::None, Underlay::L2],
    programs: &[],
    link_kinds: &[],
    optional_kinds: &[],
    daemon_device: None,
    options: &CHAIN_OPTIONS,
    faults: &[],
    ipv6: harness::backend::Ipv6Support::Yes,
};

/// Main plugins that make the pod's interface from a device of the node: they need the
/// node's `eth0`, so an underlay.
const NEEDS_PARENT: [&str; 4] = ["macvlan", "ipvlan", "vlan", "host-device"];

/// Routed hops between two pods of one node under a main plugin cnbench knows: ptp routes
/// them through the node; bridge, macvlan and ipvlan switch them at layer 2.
fn routed_hops(main_plugin: &str) -> Option<u8> {
    match main_plugin {
        "ptp" => Some(1),
        "bridge" | "macvlan" | "ipvlan" => Some(0),
        _ => None,
    }
}

/// The cni backend: its chain, the whole of it; with the conformance checks of the plugin
/// contract (`cnbench cni-check`) or without (`cnbench run`).
#[derive(Debug)]
pub struct Cni(Wired, bool);

/// Makes the backend from its options: the configuration loaded and every binary found
/// before anything exists.
pub fn make(
    options: &BackendOptions,
    plan: &Plan,
) -> std::result::Result<Box<dyn Backend>, String> {
    made(options, plan, false)
}

/// The backend as [`make`] makes it, with the conformance checks of the plugin contract after
/// every other check (`cnbench cni-check`): pods of their own added, broken, deleted twice
/// and without their namespace, bad configurations, GC and STATUS.
pub fn make_conformance(
    options: &BackendOptions,
    plan: &Plan,
) -> std::result::Result<Box<dyn Backend>, String> {
    made(options, plan, true)
}

fn made(
    options: &BackendOptions,
    plan: &Plan,
    conformance: bool,
) -> std::result::Result<Box<dyn Backend>, String> {
    let settings = Settings::from_options(options).map_err(|e| e.to_string())?;
    let chain = Chain::new(settings, plan, Scope::Whole).map_err(|e| e.to_string())?;
    Ok(Box::new(Cni(
        Wired::new(PodWiring::Cni(Box::new(chain)), &INFO),
        conformance,
    )))
}

impl Cni {
    fn chain(&self) -> &Chain {
        self.0.pods.chain().expect("the cni backend is its chain")
    }
}

impl Backend for Cni {
    fn info(&self) -> &BackendInfo {
        &self.0.info
    }

    fn options(&self) -> BackendOptions {
        self.0.options()
    }

    fn validate(&self, plan: &Plan) -> std::result::Result<(), PlanError> {
        if plan.spec.nodes != 1 {
            return Err(INFO.refuse(format!(
                "it runs one node's chain, not {}: use --nodes 1, or wire pods across nodes with --backend vxlan, host-gw or bgp and --pod-wiring cni",
                plan.spec.nodes
            )));
        }
        if plan.spec.pods_per_node < 2 {
            return Err(
                INFO.refuse("it needs at least 2 pods to connect: use --pods-per-node 2 or more")
            );
        }
        let main = self.chain().main_plugin();
        if NEEDS_PARENT.contains(&main) {
            if plan.spec.underlay != Underlay::L2 {
                return Err(INFO.refuse(format!(
                    "the chain's {main} plugin makes pod interfaces from a device of the node: use --underlay l2, which gives the node its eth0"
                )));
            }
            match self.chain().network().plugins[0].str_key("master") {
                Some("eth0") | None => {}
                Some(other) => {
                    return Err(INFO.refuse(format!(
                        "the chain's {main} plugin names master {other:?}, but the node's uplink is eth0: set \"master\": \"eth0\""
                    )))
                }
            }
        }
        self.0
            .pods
            .validate(plan)
            .map_err(|why| INFO.refuse(why.to_string()))
    }

    fn setup_node(&self, ctx: &Context<'_>, node: &NodePlan) -> Result<()> {
        self.0.pods.wire_node(ctx, node, || Ok(()))
    }

    fn expectations(&self, plan: &Plan) -> Expectations {
        // The pods as their results say, the node's devices as the chain made them, its
        // route table shared with the chain (the underlay's routes must be present).
        let mut e = self.0.pods.pod_expectations(plan, Expectations::default);
        // Every pod reaches every other; each reaches its gateway (from its result, above),
        // not the plan's placeholder gateway.
        e.add_full_matrix(plan);
        e.reachability
            .retain(|p| p.path != "pod-node" || p.to.starts_with("gateway "));
        e.add_default_measure_pairs(plan);
        if let Some(pair) = Expectations::same_node_pair(plan) {
            let mtu = self.chain().pod_mtu(plan);
            match routed_hops(self.chain().main_plugin()) {
                Some(hops) => e.add_path_facts(plan, pair, hops, mtu, Wire::Plain),
                // A plugin cnbench does not know may switch or route its pods: only the path
                // MTU is promised.
                None => e.pmtu.push(PmtuExpect {
                    from: pair.0,
                    to: pair.1,
                    path_mtu: mtu,
                }),
            }
        }
        e
    }

    fn extra_checks(&self, ctx: &Context<'_>) -> Vec<CheckRecord> {
        self.0.pods.extra_checks(ctx)
    }

    fn capabilities(&self) -> Capabilities<'_> {
        Capabilities {
            pods: Some(self.chain()),
            teardown: self.0.pods.teardown(),
            conformance: self
                .1
                .then(|| self.chain() as &dyn harness::backend::Conformance),
            ..Capabilities::default()
        }
    }

    fn programs(&self) -> Vec<std::path::PathBuf> {
        self.0.pods.programs()
    }
}
