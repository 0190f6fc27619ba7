//! Pods added to and removed from a standing topology of the real backends, through the
//! harness's `Topology::add_pod`/`remove_pod` and each backend's `PodLifecycle`: the new pod
//! passes every check with the others (reachable from and to every pod, across nodes too),
//! and once removed nothing of it is left and every check still passes.

mod common;

use harness::backend::BackendOptions;
use harness::run::{Launch, Topology};
use harness::state::{Mode, RunState};
use harness::topology::{new_run_id, IpFamily, TopologyRequest};
use harness::Backend;
use reports::CheckOutcome;

use common::{assert_nothing_left, Cleanup};

/// Every check failed, as lines.
fn failed(checks: &[reports::CheckRecord]) -> Vec<String> {
    checks
        .iter()
        .filter(|c| c.outcome == CheckOutcome::Fail)
        .map(|c| format!("{} {}: {}", c.check, c.subject, c.actual))
        .collect()
}

fn churn_one(backend: &dyn Backend) {
    let plan = backend
        .info()
        .plan(&TopologyRequest::default(), new_run_id())
        .unwrap();
    churn(backend, plan);
}

/// [`churn_one`] on `plan` (a backend made for it: a CNI chain keeps its run's cache).
fn churn(backend: &dyn Backend, plan: harness::Plan) {
    backend.validate(&plan).unwrap();
    let id = plan.run_id().to_string();
    let _guard = Cleanup(vec![id.clone()]);
    let launch = Launch {
        mode: Mode::Run,
        backend_options: backend.options(),
        exe: std::path::PathBuf::from(env!("CARGO_BIN_EXE_cnbench")),
    };
    let mut topo = Topology::up(backend, plan, launch).expect("up");
    let name = backend.info().name;

    // A pod on the last node: every other pod must reach it and it them.
    let last = topo.plan().nodes.len() as u32 - 1;
    let pod = topo.add_pod(backend, last).expect("pod added");
    let checks = topo.check(backend, &mut |_| {});
    assert!(failed(&checks).is_empty(), "{name}: {:#?}", failed(&checks));
    let to_new = checks
        .iter()
        .filter(|c| c.check == "reachability" && c.subject.contains(&pod.ip.addr().to_string()))
        .count();
    assert!(
        to_new > 0,
        "{name}: the new pod {} is not in the matrix",
        pod.role
    );
    // With IPv6, its IPv6 address (the one the backend reported, for a chain) is probed too.
    if topo.plan().ip_family().has_v6() {
        let ip6 = pod.ip6.expect("a pod of an IPv6 run has an IPv6 address");
        assert!(
            checks.iter().any(|c| c.check == "reachability"
                && c.outcome == CheckOutcome::Pass
                && c.subject.contains(&format!("({})", ip6.addr()))),
            "{name}: the new pod's {ip6} is not in the matrix"
        );
    }

    // Removed: no namespace, no record, and the rest still passes.
    let errors = topo.remove_pod(backend, &pod.role);
    assert!(errors.is_empty(), "{name}: {errors:?}");
    assert!(!harness::netns::Netns::exists(&pod.netns) || !pod.own_netns);
    let st = RunState::load(&id).unwrap();
    assert!(st.plan.unwrap().pods.iter().all(|p| p.role != pod.role));
    let checks = topo.check(backend, &mut |_| {});
    assert!(failed(&checks).is_empty(), "{name}: {:#?}", failed(&checks));
    assert!(topo.down(backend).is_empty());
    assert_nothing_left(&id);
}

#[test]
fn pods_come_and_go_on_vxlan_and_host_net() {
    churn_one(&backend_vxlan::Vxlan::default());
    churn_one(&backend_host_net::HostNet);
}

#[test]
fn pods_come_and_go_on_bgp_inside_the_announced_blocks() {
    let plan = backend_bgp::INFO
        .plan(&TopologyRequest::default(), "t1".into())
        .unwrap();
    let bgp = backend_bgp::make(&BackendOptions::new(), &plan).unwrap();
    churn_one(bgp.as_ref());
}

#[test]
fn pods_come_and_go_on_the_userspace_datapaths() {
    let plan = backend_flannel_udp::INFO
        .plan(&TopologyRequest::default(), "t1".into())
        .unwrap();
    let flannel = backend_flannel_udp::make(&BackendOptions::new(), &plan).unwrap();
    churn_one(flannel.as_ref());
}

/// A pod added to a standing topology whose pods a CNI chain wires gets its own ADD (its
/// address from the chain's IPAM), and its removal is the chain's DEL.
#[test]
fn pods_come_and_go_under_a_cni_chain() {
    let conf = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/cni/cbr0.conflist");
    let options = BackendOptions::new()
        .with("pod-wiring", "cni")
        .with("cni-conf", conf);
    let plan = backend_vxlan::INFO
        .plan(&TopologyRequest::default(), new_run_id())
        .unwrap();
    let vxlan = backend_vxlan::make(&options, &plan).unwrap();
    churn(vxlan.as_ref(), plan);
    let options = BackendOptions::new().with(
        "cni-conf",
        concat!(env!("CARGO_MANIFEST_DIR"), "/examples/cni/docker0.conflist"),
    );
    let plan = backend_cni::INFO
        .plan(&TopologyRequest::default(), new_run_id())
        .unwrap();
    let cni = backend_cni::make(&options, &plan).unwrap();
    churn(cni.as_ref(), plan);
    // A dual-stack chain: the new pod's addresses of both families are its ADD's.
    let options = BackendOptions::new().with(
        "cni-conf",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/cni/bridge-dual.conflist"
        ),
    );
    let request = TopologyRequest {
        ip_family: IpFamily::Dual,
        ..TopologyRequest::default()
    };
    let plan = backend_cni::INFO.plan(&request, new_run_id()).unwrap();
    let cni = backend_cni::make(&options, &plan).unwrap();
    churn(cni.as_ref(), plan);
}
