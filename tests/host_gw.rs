//! End-to-end runs of the host-gw backend (flannel's host-gw mode) through the `cnbench`
//! binary, as root: on l2 every check passes with pod IPs on the wire; on l3 the run still
//! exits 0 and every probe to a node on the other segment is an expected failure (XFAIL) with
//! its reason, while same-segment nodes keep working. The JSON result parses and nothing of
//! the run is left.

mod common;

const WHY: &str = "host-gw needs every node on one L2 segment";

/// `cnbench run --backend host-gw --no-baseline` with `extra`: exit 0, nothing left.
fn run_host_gw(extra: &[&str]) -> (reports::RunResult, String) {
    let mut args = vec!["--no-baseline"];
    args.extend_from_slice(extra);
    common::run_ok("host-gw", &args)
}

fn with(r: &reports::RunResult, outcome: reports::CheckOutcome) -> Vec<&reports::CheckRecord> {
    r.checks.iter().filter(|c| c.outcome == outcome).collect()
}

fn check<'a>(r: &'a reports::RunResult, kind: &str, subject_has: &str) -> &'a reports::CheckRecord {
    r.checks
        .iter()
        .find(|c| c.check == kind && c.subject.contains(subject_has))
        .unwrap_or_else(|| panic!("no {kind} check about {subject_has:?}: {:#?}", r.checks))
}

#[test]
fn host_gw_on_l2_routes_pods_via_the_peer_node() {
    let (r, _) = run_host_gw(&[]);
    assert_eq!(r.outcome, reports::Outcome::Passed);
    let not_pass: Vec<_> = r
        .checks
        .iter()
        .filter(|c| c.outcome != reports::CheckOutcome::Pass)
        .collect();
    assert!(not_pass.is_empty(), "{not_pass:#?}");
    let routes = check(&r, "routes", "-n0");
    assert!(
        routes
            .actual
            .contains("100.96.1.0/24 via 10.168.0.2 dev eth0 proto static"),
        "{routes:?}"
    );
    // No tunnel: the pod IPs themselves cross the switch, at the full underlay MTU.
    let encap = check(&r, "encap", "-sw");
    assert!(
        encap.actual.contains("100.96.0.2 -> 100.96.1.2"),
        "{encap:?}"
    );
    assert!(r
        .checks
        .iter()
        .any(|c| c.check == "pmtu" && c.subject.contains("1500 bytes")));
    let n0 = r
        .topology
        .iter()
        .find(|n| n.role == "node" && n.node.as_deref() == Some("n0"))
        .unwrap();
    let mut kinds: Vec<&str> = n0.devices.iter().map(|d| d.kind.as_str()).collect();
    kinds.sort();
    kinds.dedup();
    assert!(!kinds.contains(&"vxlan"), "{kinds:?}");
    let paths: Vec<(&str, &str)> = r
        .measurements
        .iter()
        .map(|m| (m.workload.as_str(), m.path.as_str()))
        .collect();
    assert!(paths.contains(&("tcp-stream", "cross-node")), "{paths:?}");
}

#[test]
fn host_gw_on_l3_fails_across_the_router_as_expected() {
    let (r, stdout) = run_host_gw(&["--underlay", "l3"]);
    assert_eq!(r.outcome, reports::Outcome::Passed);
    assert!(
        with(&r, reports::CheckOutcome::Fail).is_empty(),
        "{:#?}",
        with(&r, reports::CheckOutcome::Fail)
    );
    // Two nodes on two segments: every cross-node probe (4 pods, ICMP and TCP) is an XFAIL
    // with the reason, and nothing else is.
    let xfail = with(&r, reports::CheckOutcome::ExpectedFailure);
    assert_eq!(xfail.len(), 16, "{xfail:#?}");
    for c in &xfail {
        assert_eq!(c.check, "reachability");
        assert!(c.subject.contains("[cross-node]"), "{c:?}");
        assert!(c.reason.as_deref().unwrap_or("").starts_with(WHY), "{c:?}");
    }
    assert!(
        stdout.contains("XFAIL reachability  n0p0 -> n1p0"),
        "{stdout}"
    );
    assert!(stdout.contains(
        "10.168.2.2 is not on n0's subnet 10.168.1.0/24, so no route to its pods can be installed"
    ));
    // No route was installed towards the other segment.
    let routes = check(&r, "routes", "-n0");
    assert!(!routes.actual.contains("100.96.1.0/24"), "{routes:?}");
    // Only the same-node path is measured.
    assert!(!r.measurements.is_empty());
    assert!(r.measurements.iter().all(|m| m.path == "same-node"));
}

#[test]
fn host_gw_on_l3_still_connects_nodes_on_one_segment() {
    let (r, _) = run_host_gw(&["--underlay", "l3", "--nodes", "3", "--workloads", "none"]);
    assert_eq!(r.outcome, reports::Outcome::Passed);
    assert!(
        with(&r, reports::CheckOutcome::Fail).is_empty(),
        "{:#?}",
        with(&r, reports::CheckOutcome::Fail)
    );
    // n0 and n2 share 10.168.1.0/24; n1 is behind the router.
    let reach = |subject: &str| {
        r.checks
            .iter()
            .find(|c| c.check == "reachability" && c.subject.starts_with(subject))
            .unwrap_or_else(|| panic!("no probe {subject}"))
            .outcome
    };
    assert_eq!(reach("n0p0 -> n2p0"), reports::CheckOutcome::Pass);
    assert_eq!(reach("n2p1 -> n0p1"), reports::CheckOutcome::Pass);
    assert_eq!(
        reach("n0p0 -> n1p0"),
        reports::CheckOutcome::ExpectedFailure
    );
    assert_eq!(
        reach("n1p0 -> n2p0"),
        reports::CheckOutcome::ExpectedFailure
    );
    let routes = check(&r, "routes", "-n0");
    assert!(
        routes
            .actual
            .contains("100.96.2.0/24 via 10.168.1.3 dev eth0 proto static"),
        "{routes:?}"
    );
    // The same-segment pair's packets cross the router namespace's segment bridge unchanged.
    let encap = check(&r, "encap", "-rt");
    assert!(
        encap.actual.contains("100.96.0.2 -> 100.96.2.2"),
        "{encap:?}"
    );
    assert_eq!(with(&r, reports::CheckOutcome::ExpectedFailure).len(), 32);
}
