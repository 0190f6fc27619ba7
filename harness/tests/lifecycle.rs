//! The run lifecycle against the real kernel, with test backends: setup failure rolls back
//! everything; teardown removes everything; the plan is validated before anything exists.

use std::sync::atomic::{AtomicBool, Ordering};

use cnbench_harness::backend::{BackendInfo, Context, Datapath, Defaults, Expectations};
use cnbench_harness::netns::Netns;
use cnbench_harness::run::{Launch, Topology};
use cnbench_harness::state::{Mode, RunState};
use cnbench_harness::topology::{new_run_id, Plan, PodNetwork, TopologyRequest, Underlay};
use cnbench_harness::{Backend, HarnessError, PlanError, Result};

static INFO: BackendInfo = BackendInfo {
    name: "test",
    summary: "test backend",
    underlays: &[Underlay::L2],
    link_kinds: &["veth", "bridge"],
    binaries: &[],
    built: true,
};

/// Wires pods onto a bridge, then fails (or not) half-way.
struct Flaky {
    fail: bool,
    refuse: bool,
    torn_down: AtomicBool,
}

impl Backend for Flaky {
    fn info(&self) -> &'static BackendInfo {
        &INFO
    }
    fn datapath(&self) -> Datapath {
        Datapath::Kernel
    }
    fn defaults(&self) -> Defaults {
        Defaults {
            nodes: 2,
            pods_per_node: 2,
            underlay: Underlay::L2,
            pod_cidr: "100.96.0.0/16".parse().unwrap(),
        }
    }
    fn pod_network(&self) -> PodNetwork {
        PodNetwork::PerNodeBlocks { block_prefix: 24 }
    }
    fn validate(&self, _plan: &Plan) -> Result<(), PlanError> {
        if self.refuse {
            return Err(PlanError::Backend {
                backend: "test".into(),
                why: "refused on purpose".into(),
            });
        }
        Ok(())
    }
    fn setup(&self, ctx: &Context<'_>) -> Result<()> {
        for node in &ctx.plan.nodes {
            let nl = ctx.host(&node.netns).nl();
            nl.create_bridge("cni0", ctx.plan.bridge_mac(9), 1500)?;
            nl.add_address("cni0", node.pod_gateway.unwrap())?;
            nl.set_up("cni0")?;
        }
        for pod in &ctx.plan.pods {
            ctx.wire_pod_veth(pod, 1500)?;
            ctx.host(&ctx.plan.node_of(pod).netns)
                .nl()
                .set_master(&pod.host_veth, "cni0")?;
        }
        if self.fail {
            // Like a real mistake: a second bridge with the same name.
            ctx.host(&ctx.plan.nodes[0].netns).nl().create_bridge(
                "cni0",
                [2, 0, 0, 0, 0, 1],
                1500,
            )?;
        }
        Ok(())
    }
    fn teardown(&self, _ctx: &Context<'_>) -> Vec<HarnessError> {
        self.torn_down.store(true, Ordering::SeqCst);
        Vec::new()
    }
    fn expectations(&self, plan: &Plan) -> Expectations {
        let mut e = Expectations::default();
        e.add_full_matrix(plan);
        e
    }
}

fn launch() -> Launch {
    Launch {
        mode: Mode::Run,
        backend_options: Default::default(),
        exe: std::env::current_exe().unwrap(),
    }
}

fn plan(b: &Flaky) -> Plan {
    let spec = TopologyRequest::default().resolve(&b.defaults(), new_run_id());
    Plan::new(spec, b.pod_network()).unwrap()
}

#[test]
fn setup_failure_rolls_back_and_returns_the_original_error() {
    let b = Flaky {
        fail: true,
        refuse: false,
        torn_down: AtomicBool::new(false),
    };
    let p = plan(&b);
    let names = p.namespaces();
    let id = p.run_id().to_string();
    let err = Topology::up(&b, p, launch()).err().expect("setup fails");
    let msg = err.to_string();
    assert!(
        msg.contains("create bridge cni0") && msg.contains("already exists"),
        "{msg}"
    );
    assert!(b.torn_down.load(Ordering::SeqCst), "backend teardown ran");
    for n in &names {
        assert!(!Netns::exists(n), "{n} left behind");
    }
    assert!(!RunState::dir(&id).exists(), "state dir left behind");
}

#[test]
fn a_refused_plan_creates_nothing() {
    let b = Flaky {
        fail: false,
        refuse: true,
        torn_down: AtomicBool::new(false),
    };
    let p = plan(&b);
    let names = p.namespaces();
    let id = p.run_id().to_string();
    let err = Topology::up(&b, p, launch()).err().expect("refused");
    assert!(err.is_bad_input(), "{err}");
    assert!(names.iter().all(|n| !Netns::exists(n)));
    assert!(!RunState::dir(&id).exists());
}

#[test]
fn a_working_topology_passes_its_matrix_and_goes_away() {
    let b = Flaky {
        fail: false,
        refuse: false,
        torn_down: AtomicBool::new(false),
    };
    let p = plan(&b);
    let names = p.namespaces();
    let mut topo = Topology::up(&b, p, launch()).expect("up");
    assert_eq!(names.len(), 1 + 2 + 4, "switch, nodes, pods");
    let checks = topo.check(&b, &mut |_| {});
    // Same-node pairs answer over cni0; cross-node pairs have no route (this backend has no
    // overlay), so those cells fail: the check must say so, not pass.
    let same: Vec<_> = checks
        .iter()
        .filter(|c| c.subject.contains("[same-node]"))
        .collect();
    let cross: Vec<_> = checks
        .iter()
        .filter(|c| c.subject.contains("[cross-node]"))
        .collect();
    assert!(
        !same.is_empty()
            && same
                .iter()
                .all(|c| c.outcome == reports::CheckOutcome::Pass),
        "{same:#?}"
    );
    assert!(
        !cross.is_empty()
            && cross
                .iter()
                .all(|c| c.outcome == reports::CheckOutcome::Fail),
        "{cross:#?}"
    );
    let errors = topo.down(&b);
    assert!(errors.is_empty(), "{errors:?}");
    assert!(names.iter().all(|n| !Netns::exists(n)));
}
