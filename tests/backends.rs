//! End-to-end runs of the built backends through the `cnbench` binary, as root: every check
//! passes, the JSON result is complete, the root namespace is untouched, and nothing of the
//! run is left, also after SIGINT during measurement and after SIGKILL followed by `clean`.
//! Durations are short: these tests prove behaviour, benchmarks measure.

mod common;

use std::time::Duration;

use common::{code, namespaces_of, root_netns_snapshot, run, run_id_of, text, Cleanup, Running};

fn run_backend(backend: &str, extra: &[&str]) -> (reports::RunResult, String) {
    common::run_ok(backend, extra)
}

fn assert_complete(r: &reports::RunResult, backend: &str, path: &str) {
    assert_eq!(r.schema_version, reports::SCHEMA_VERSION);
    assert_eq!(r.parameters.backend, backend);
    assert_eq!(r.outcome, reports::Outcome::Passed);
    assert!(r.environment.kernel.len() > 1);
    common::assert_checks_passed(r);
    for kind in [
        "routes",
        "mtu",
        "reachability",
        "neighbours",
        "fdb",
        "isolation",
    ] {
        assert!(r.checks.iter().any(|c| c.check == kind), "no {kind} check");
    }
    common::assert_full_measurement(r, path);
    for m in &r.measurements {
        assert_eq!(m.path, path);
        assert_eq!(m.datapath, "kernel");
        assert_eq!(m.repetitions.len(), 1);
    }
    // Plausible, not fast: speed belongs to benchmarks, and a loaded machine is slow.
    let rr = r
        .measurements
        .iter()
        .find(|m| m.workload == "tcp-rr")
        .unwrap();
    let p50 = rr.summary_of("rtt_p50_ns").unwrap();
    assert!(
        p50.median > 100.0 && p50.median < 1e7,
        "implausible p50 {}",
        p50.median
    );
    assert!(r.timings.setup_ns.is_some() && r.timings.teardown_ns.is_some());
}

#[test]
fn bridge_passes_every_check_and_leaves_the_root_namespace_alone() {
    let before = root_netns_snapshot();
    let (r, stdout) = run_backend("bridge", &[]);
    assert_complete(&r, "bridge", "same-node");
    // The article's single-node section: docker0 with 172.17.0.1/16, pods from .2.
    let node = r.topology.iter().find(|n| n.role == "node").unwrap();
    let docker0 = node.devices.iter().find(|d| d.name == "docker0").unwrap();
    assert_eq!(docker0.addresses, ["172.17.0.1/16"]);
    assert!(stdout.contains("PASS  fdb"), "{stdout}");
    assert_eq!(root_netns_snapshot(), before, "the root namespace changed");
}

#[test]
fn host_net_passes_every_check_on_l2() {
    let before = root_netns_snapshot();
    let (r, _) = run_backend("host-net", &[]);
    assert_complete(&r, "host-net", "cross-node");
    let ips: Vec<String> = r
        .topology
        .iter()
        .filter(|n| n.role == "node")
        .flat_map(|n| n.devices.iter().flat_map(|d| d.addresses.clone()))
        .filter(|a| a.starts_with("10.168."))
        .collect();
    assert_eq!(ips, ["10.168.0.1/24", "10.168.0.2/24"]);
    // Host-network pods share their node's port space.
    let iso = r.checks.iter().find(|c| c.check == "isolation").unwrap();
    assert!(iso.actual.contains("address in use"), "{iso:?}");
    assert_eq!(root_netns_snapshot(), before, "the root namespace changed");
}

#[test]
fn host_net_on_an_l3_underlay_routes_through_the_router() {
    let (r, _) = run_backend(
        "host-net",
        &["--underlay", "l3", "--nodes", "3", "--workloads", "none"],
    );
    assert_eq!(r.outcome, reports::Outcome::Passed);
    let routes = r
        .checks
        .iter()
        .find(|c| c.check == "routes" && c.subject.ends_with("-n1"))
        .unwrap();
    assert!(
        routes.actual.contains("default via 10.168.2.1 dev eth0"),
        "{routes:?}"
    );
    assert!(r
        .checks
        .iter()
        .any(|c| c.check == "reachability" && c.subject.contains("n0p0 -> n1p0")));
}

#[test]
fn up_check_detects_a_hand_made_change_and_down_removes_everything() {
    let o = run(&["up", "--backend", "bridge"]);
    let stdout = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(code(&o), 0, "{}", text(&o));
    let id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("run ").and_then(|r| r.split(' ').next()))
        .unwrap()
        .to_string();
    let _guard = Cleanup(vec![id.clone()]);
    assert_eq!(namespaces_of(&id).len(), 3, "node and two pods");

    let o = run(&["check", &id]);
    assert_eq!(code(&o), 0, "{}", text(&o));

    // Someone deletes a pod's default route by hand: the routes check must catch it.
    let pod = format!("cnb-{id}-n0p0");
    let st = std::process::Command::new("ip")
        .args(["netns", "exec", &pod, "ip", "route", "del", "default"])
        .status()
        .unwrap();
    assert!(st.success());
    let o = run(&["check", &id]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.lines()
            .any(|l| l.starts_with("FAIL  routes") && l.contains(&pod)),
        "{out}"
    );

    let o = run(&["down", &id]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(namespaces_of(&id).is_empty());
    assert!(!std::path::Path::new(&format!("/run/cnbench/{id}")).exists());
}

#[test]
fn sigint_during_measurement_tears_everything_down() {
    let mut r = Running::start(&[
        "run",
        "--backend",
        "host-net",
        "--duration",
        "20",
        "--repeat",
        "1",
    ]);
    let first = r.wait_for("cnbench run", Duration::from_secs(10));
    let id = run_id_of(&first);
    let _guard = Cleanup(vec![id.clone()]);
    r.wait_for("== measuring", Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(300));
    assert!(!namespaces_of(&id).is_empty());
    r.signal(libc::SIGINT);
    assert_eq!(r.wait(Duration::from_secs(15)), Some(130));
    assert!(
        namespaces_of(&id).is_empty(),
        "left {:?}",
        namespaces_of(&id)
    );
    assert!(!std::path::Path::new(&format!("/run/cnbench/{id}")).exists());
}

#[test]
fn sigkill_leaves_state_that_clean_removes() {
    let mut r = Running::start(&[
        "run",
        "--backend",
        "bridge",
        "--duration",
        "20",
        "--repeat",
        "1",
    ]);
    let first = r.wait_for("cnbench run", Duration::from_secs(10));
    let id = run_id_of(&first);
    let _guard = Cleanup(vec![id.clone()]);
    r.wait_for("== measuring", Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(300));
    r.signal(libc::SIGKILL);
    r.wait(Duration::from_secs(5));
    // The crash left the topology and its state; the agents died with their parent.
    assert_eq!(namespaces_of(&id).len(), 3);
    let o = run(&["status"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(&format!("{id}  bridge")),
        "{}",
        text(&o)
    );

    let o = run(&["clean"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(&format!("removed {id}")),
        "{}",
        text(&o)
    );
    assert!(
        namespaces_of(&id).is_empty(),
        "left {:?}",
        namespaces_of(&id)
    );
    assert!(!std::path::Path::new(&format!("/run/cnbench/{id}")).exists());
}
