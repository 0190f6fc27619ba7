//! The run lifecycle against the real kernel, with backends written for the tests: setup
//! failure rolls back everything; teardown removes everything; the plan is validated before
//! anything exists; addresses setup chose are the ones checked; pods come and go on a
//! standing topology and leave nothing behind.

use std::net::Ipv4Addr;

use cnbench_harness::backend::{
    BackendInfo, Capabilities, Context, Datapath, Expectations, PodLifecycle, PodReport,
};
use cnbench_harness::netns::Netns;
use cnbench_harness::run::{Launch, Topology};
use cnbench_harness::state::{Mode, RunState};
use cnbench_harness::topology::{
    new_run_id, Defaults, NodePlan, Plan, PodNetwork, PodPlan, TopologyRequest, Underlay,
};
use cnbench_harness::{Backend, PlanError, Result};
use ipnet::Ipv4Net;
use reports::CheckOutcome;

const INFO: BackendInfo = BackendInfo {
    name: "test",
    summary: "test backend",
    datapath: Datapath::Kernel,
    defaults: Defaults {
        nodes: 2,
        pods_per_node: 2,
        underlay: Underlay::L2,
        pod_cidr: Ipv4Net::new_assert(Ipv4Addr::new(100, 96, 0, 0), 16),
    },
    pod_network: PodNetwork::PerNodeBlocks { block_prefix: 24 },
    overhead_bytes: 0,
    underlays: &[Underlay::L2],
    programs: &[],
    link_kinds: &["veth", "bridge"],
    optional_kinds: &[],
    daemon_device: None,
    options: &[],
    faults: &[],
    ipv6: cnbench_harness::backend::Ipv6Support::Yes,
};

/// Wires pods onto a bridge per node, then fails (or not) half-way. With `own_addresses`,
/// it gives each pod an address of its own choosing (from the top of its node's block, as an
/// IPAM plugin might) and reports it, instead of the planned one.
#[derive(Default)]
struct Flaky {
    fail: bool,
    refuse: bool,
    own_addresses: bool,
}

/// The address a pod gets when the backend chooses: counting down from .250 of the block.
fn chosen(pod: &PodPlan, node: &NodePlan) -> PodReport {
    let block = node.pod_block.unwrap();
    let ip = Ipv4Addr::from(u32::from(block.network()) + 250 - pod.index);
    PodReport {
        ip: Ipv4Net::new(ip, block.prefix_len()).unwrap(),
        gateway: pod.gateway,
        ip6: None,
        gateway6: None,
        detail: Some(serde_json::json!({ "chosen_by": "the test backend" })),
    }
}

impl Flaky {
    fn wire(&self, ctx: &Context<'_>, pod: &PodPlan) -> Result<()> {
        let node = ctx.plan.node_of(pod);
        let mut pod = pod.clone();
        if self.own_addresses {
            let a = chosen(&pod, node);
            pod.ip = a.ip;
            ctx.report_pod(&pod, a);
        }
        ctx.wire_pod_veth(&pod, 1500)?;
        ctx.host(&node.netns)
            .nl()
            .set_master(&pod.host_veth, "cni0")
    }
}

impl Backend for Flaky {
    fn info(&self) -> &BackendInfo {
        &INFO
    }

    fn validate(&self, _plan: &Plan) -> std::result::Result<(), PlanError> {
        if self.refuse {
            return Err(INFO.refuse("refused on purpose"));
        }
        Ok(())
    }

    fn setup_node(&self, ctx: &Context<'_>, node: &NodePlan) -> Result<()> {
        let nl = ctx.host(&node.netns).nl();
        nl.create_bridge("cni0", ctx.plan.bridge_mac(9), 1500)?;
        nl.add_address("cni0", node.pod_gateway.unwrap())?;
        nl.set_up("cni0")?;
        for pod in ctx.plan.pods.iter().filter(|p| p.node == node.index) {
            self.wire(ctx, pod)?;
        }
        if self.fail && node.index == 0 {
            // Like a real mistake: a second bridge with the same name.
            nl.create_bridge("cni0", [2, 0, 0, 0, 0, 1], 1500)?;
        }
        Ok(())
    }

    fn expectations(&self, plan: &Plan) -> Expectations {
        let mut e = Expectations::default();
        e.add_full_matrix(plan);
        e
    }

    fn capabilities(&self) -> Capabilities<'_> {
        Capabilities {
            pods: Some(self),
            ..Capabilities::default()
        }
    }
}

impl PodLifecycle for Flaky {
    fn add_pod(&self, ctx: &Context<'_>, pod: &PodPlan) -> Result<()> {
        self.wire(ctx, pod)
    }

    fn remove_pod(&self, ctx: &Context<'_>, pod: &PodPlan) -> Result<()> {
        ctx.host(&ctx.plan.node_of(pod).netns)
            .nl()
            .delete_link(&pod.host_veth)
    }
}

fn launch() -> Launch {
    Launch {
        mode: Mode::Run,
        backend_options: Default::default(),
        exe: std::env::current_exe().unwrap(),
    }
}

fn plan() -> Plan {
    INFO.plan(&TopologyRequest::default(), new_run_id())
        .unwrap()
}

/// The same-node cells of a check (pods on one bridge reach each other; this backend has no
/// overlay, so cross-node cells fail).
fn same_node(checks: &[reports::CheckRecord]) -> Vec<&reports::CheckRecord> {
    checks
        .iter()
        .filter(|c| c.subject.contains("[same-node]"))
        .collect()
}

#[test]
fn setup_failure_rolls_back_and_returns_the_original_error() {
    let b = Flaky {
        fail: true,
        ..Flaky::default()
    };
    let p = plan();
    let names = p.namespaces();
    let id = p.run_id().to_string();
    let err = Topology::up(&b, p, launch()).err().expect("setup fails");
    let msg = err.to_string();
    assert!(
        msg.contains("create bridge cni0") && msg.contains("already exists"),
        "{msg}"
    );
    for n in &names {
        assert!(!Netns::exists(n), "{n} left behind");
    }
    assert!(!RunState::dir(&id).exists(), "state dir left behind");
}

#[test]
fn a_refused_plan_creates_nothing() {
    let b = Flaky {
        refuse: true,
        ..Flaky::default()
    };
    let p = plan();
    let names = p.namespaces();
    let id = p.run_id().to_string();
    let err = Topology::up(&b, p, launch()).err().expect("refused");
    assert!(err.is_bad_input(), "{err}");
    assert!(names.iter().all(|n| !Netns::exists(n)));
    assert!(!RunState::dir(&id).exists());
}

#[test]
fn a_working_topology_passes_its_matrix_and_goes_away() {
    let b = Flaky::default();
    let p = plan();
    let names = p.namespaces();
    let mut topo = Topology::up(&b, p, launch()).expect("up");
    assert_eq!(names.len(), 1 + 2 + 4, "switch, nodes, pods");
    let checks = topo.check(&b, &mut |_| {});
    // Same-node pairs answer over cni0; cross-node pairs have no route (this backend has no
    // overlay), so those cells fail: the check must say so, not pass.
    let same = same_node(&checks);
    let cross: Vec<_> = checks
        .iter()
        .filter(|c| c.subject.contains("[cross-node]"))
        .collect();
    assert!(
        !same.is_empty() && same.iter().all(|c| c.outcome == CheckOutcome::Pass),
        "{same:#?}"
    );
    assert!(
        !cross.is_empty() && cross.iter().all(|c| c.outcome == CheckOutcome::Fail),
        "{cross:#?}"
    );
    let errors = topo.down(&b);
    assert!(errors.is_empty(), "{errors:?}");
    assert!(names.iter().all(|n| !Netns::exists(n)));
}

#[test]
fn addresses_setup_reports_are_the_ones_checked_and_kept() {
    let b = Flaky {
        own_addresses: true,
        ..Flaky::default()
    };
    let p = plan();
    let id = p.run_id().to_string();
    let mut topo = Topology::up(&b, p, launch()).expect("up");
    // The plan now holds the addresses the pods really have, not the planned .2 and .3.
    let ips: Vec<String> = topo.plan().pods.iter().map(|p| p.ip.to_string()).collect();
    assert_eq!(
        ips,
        [
            "100.96.0.250/24",
            "100.96.0.249/24",
            "100.96.1.250/24",
            "100.96.1.249/24"
        ]
    );
    // The matrix probes them, and they answer (with the planned addresses, nothing would).
    let checks = topo.check(&b, &mut |_| {});
    let same = same_node(&checks);
    assert!(
        same.iter().any(|c| c.subject.contains("100.96.0.249")),
        "{same:#?}"
    );
    assert!(
        !same.is_empty() && same.iter().all(|c| c.outcome == CheckOutcome::Pass),
        "{same:#?}"
    );
    // `check` and `down` from another process see them too: the state keeps the plan.
    let saved = RunState::load(&id)
        .unwrap()
        .plan
        .expect("the plan as built");
    assert_eq!(saved.pods[0].ip.to_string(), "100.96.0.250/24");
    assert!(topo.down(&b).is_empty());
}

#[test]
fn pods_come_and_go_on_a_standing_topology() {
    let b = Flaky::default();
    let p = plan();
    let id = p.run_id().to_string();
    let mut topo = Topology::up(&b, p, launch()).expect("up");
    let added = topo.add_pod(&b, 0).expect("a pod added to n0");
    assert_eq!(
        (added.role.as_str(), added.ip.to_string()),
        ("n0p2", "100.96.0.4/24".into())
    );
    assert!(Netns::exists(&added.netns));
    assert!(RunState::load(&id)
        .unwrap()
        .namespaces
        .contains(&added.netns));
    // The new pod is in the matrix, and reaches its node's other pods.
    let checks = topo.check(&b, &mut |_| {});
    let with_new: Vec<_> = same_node(&checks)
        .into_iter()
        .filter(|c| c.subject.contains("n0p2"))
        .collect();
    assert!(
        !with_new.is_empty() && with_new.iter().all(|c| c.outcome == CheckOutcome::Pass),
        "{with_new:#?}"
    );
    // Removed: its namespace, its host veth and its record are gone; the rest still works.
    let errors = topo.remove_pod(&b, "n0p2");
    assert!(errors.is_empty(), "{errors:?}");
    assert!(!Netns::exists(&added.netns));
    let n0 = topo.hosts()[&topo.plan().nodes[0].netns]
        .nl()
        .links()
        .unwrap();
    assert!(!n0.iter().any(|l| l.name == added.host_veth), "{n0:?}");
    assert!(!RunState::load(&id)
        .unwrap()
        .namespaces
        .contains(&added.netns));
    assert!(topo.plan().pods.iter().all(|p| p.role != "n0p2"));
    let again = topo.check(&b, &mut |_| {});
    assert!(same_node(&again)
        .iter()
        .all(|c| c.outcome == CheckOutcome::Pass));
    // A pod that is not there is named in the error.
    let missing = topo.remove_pod(&b, "n5p5");
    assert!(
        missing[0].to_string().contains("no such pod"),
        "{missing:?}"
    );
    let names = RunState::load(&id).unwrap().namespaces;
    assert!(topo.down(&b).is_empty());
    assert!(names.iter().all(|n| !Netns::exists(n)));
}
