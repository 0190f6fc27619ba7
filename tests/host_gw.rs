//! End-to-end runs of the host-gw backend (flannel's host-gw mode) through the `cnbench`
//! binary, as root: on l2 every check passes with pod IPs on the wire; on l3 the run still
//! exits 0 and every probe to a node on the other segment is an expected failure (XFAIL) with
//! its reason, while same-segment nodes keep working. The same holds for IPv6 (`--ip-family
//! ipv6` and `dual`), with routes via the nodes' IPv6 underlay addresses and IPv6 forwarding
//! declared and checked. The JSON result parses and nothing of the run is left.

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

/// The reachability cells of `r` with outcome `outcome`, as `from -> to proto [path]` (the
/// target address left out, so two families' cells compare).
fn cells(r: &reports::RunResult, outcome: reports::CheckOutcome) -> Vec<String> {
    let mut v: Vec<String> = with(r, outcome)
        .iter()
        .filter(|c| c.check == "reachability")
        .map(|c| match (c.subject.find(" ("), c.subject.find(") ")) {
            (Some(a), Some(b)) => format!("{}{}", &c.subject[..a], &c.subject[b + 1..]),
            _ => c.subject.clone(),
        })
        .collect();
    v.sort();
    v
}

#[test]
fn host_gw_dual_on_l2_routes_both_families_via_the_peer_node() {
    let (r, _) = run_host_gw(&["--ip-family", "dual", "--workloads", "tcp-rr"]);
    assert_eq!(r.outcome, reports::Outcome::Passed);
    common::assert_checks_passed(&r);
    let routes = check(&r, "routes", "-n0");
    for route in [
        "100.96.1.0/24 via 10.168.0.2 dev eth0 proto static",
        "fd00:100:96:1::/64 via fd00:10:168::2 dev eth0 proto static",
    ] {
        assert!(routes.actual.contains(route), "{route}: {routes:?}");
    }
    // Both families are forwarded, and the check read both keys back.
    let sysctls = check(&r, "sysctls", "-n1");
    assert!(
        sysctls.actual.contains("net.ipv4.ip_forward=1")
            && sysctls.actual.contains("net.ipv6.conf.all.forwarding=1"),
        "{sysctls:?}"
    );
    // IPv6 pod addresses on the wire, unencapsulated, and probed in both families.
    assert!(r
        .checks
        .iter()
        .any(|c| c.check == "encap" && c.actual.contains("fd00:100:96::2 -> fd00:100:96:1::2")));
    assert!(r.checks.iter().any(|c| c.check == "reachability"
        && c.subject.contains("(fd00:100:96:1::2)")
        && c.subject.contains("[cross-node]")));
    let paths: Vec<(&str, &str)> = r
        .measurements
        .iter()
        .map(|m| (m.workload.as_str(), m.path.as_str()))
        .collect();
    assert!(paths.contains(&("tcp-rr", "cross-node")), "{paths:?}");
    assert!(paths.contains(&("tcp-rr", "cross-node ipv6")), "{paths:?}");
    let v6 = r
        .measurements
        .iter()
        .find(|m| m.path == "cross-node ipv6")
        .unwrap();
    assert!(
        v6.summary_of("transactions_per_s").unwrap().median > 0.0,
        "{v6:?}"
    );
}

#[test]
fn host_gw_ipv6_on_l3_fails_across_the_router_as_ipv4_does() {
    let (v4, _) = run_host_gw(&["--underlay", "l3", "--workloads", "none"]);
    let (v6, stdout) = run_host_gw(&[
        "--underlay",
        "l3",
        "--ip-family",
        "ipv6",
        "--workloads",
        "none",
    ]);
    // run_ok asserted exit 0 for both; the outcome and the cells that fail are the same.
    assert_eq!(v6.outcome, v4.outcome);
    assert!(
        with(&v6, reports::CheckOutcome::Fail).is_empty(),
        "{:#?}",
        with(&v6, reports::CheckOutcome::Fail)
    );
    let xfail = cells(&v6, reports::CheckOutcome::ExpectedFailure);
    assert_eq!(xfail.len(), 16, "{xfail:#?}");
    assert_eq!(xfail, cells(&v4, reports::CheckOutcome::ExpectedFailure));
    assert_eq!(
        cells(&v6, reports::CheckOutcome::Pass),
        cells(&v4, reports::CheckOutcome::Pass)
    );
    // The reason names the IPv6 next hop and subnet.
    for c in with(&v6, reports::CheckOutcome::ExpectedFailure) {
        assert!(c.reason.as_deref().unwrap_or("").starts_with(WHY), "{c:?}");
    }
    assert!(
        stdout.contains(
            "fd00:10:168:2::2 is not on n0's subnet fd00:10:168:1::/64, so no route to its pods \
             can be installed"
        ),
        "{stdout}"
    );
    let routes = check(&v6, "routes", "-n0");
    assert!(!routes.actual.contains("fd00:100:96:1::/64"), "{routes:?}");
}

#[test]
fn ipv6_forwarding_turned_off_by_hand_in_a_node_fails_the_check() {
    use common::{code, run, run_id_of, text, Cleanup};
    let o = run(&["up", "--backend", "host-gw", "--ip-family", "ipv6"]);
    let id = run_id_of(&String::from_utf8_lossy(&o.stdout));
    let _guard = Cleanup(vec![id.clone()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let node = format!("cnb-{id}-n1");
    let o = run(&["check", &id]);
    let out = text(&o);
    assert_eq!(code(&o), 0, "{out}");
    assert!(
        out.lines().any(|l| l.starts_with("PASS  sysctls")
            && l.contains(&node)
            && l.contains("net.ipv6.conf.all.forwarding=1")),
        "{out}"
    );

    // Someone turns IPv6 forwarding off in n1: the kernel drops what n1 would forward
    // between eth0 and cni0, silently. The sysctls check names the key.
    let st = std::process::Command::new("ip")
        .args(["netns", "exec", &node, "sysctl", "-q", "-w"])
        .arg("net.ipv6.conf.all.forwarding=0")
        .status()
        .unwrap();
    assert!(st.success());
    let o = run(&["check", &id]);
    let out = text(&o);
    assert_eq!(code(&o), 1, "{out}");
    let failed = out
        .lines()
        .find(|l| l.starts_with("FAIL  sysctls") && l.contains(&node))
        .unwrap_or_else(|| panic!("no failing sysctls check of {node}: {out}"));
    assert!(
        failed.contains("reason: net.ipv6.conf.all.forwarding is 0, not 1"),
        "{failed}"
    );
    // Pods across the nodes no longer reach each other (n1 forwards neither way), while
    // the pods on n0 still do.
    assert!(
        out.lines()
            .any(|l| l.starts_with("FAIL  reachability  n0p0 -> n1p0")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("PASS  reachability  n0p0 -> n0p1")),
        "{out}"
    );
    let n0 = format!("cnb-{id}-n0");
    assert!(
        out.lines()
            .any(|l| l.starts_with("PASS  sysctls") && l.contains(&n0)),
        "{out}"
    );

    let o = run(&["down", &id]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    common::assert_nothing_left(&id);
}

/// `--pod-wiring cni` runs with IPv6 (each node's chain gets both blocks), but a chain whose
/// IPAM has IPv4 ranges only is refused on a dual-stack run before anything is made.
#[test]
fn an_ipv4_only_chain_is_refused_on_a_dual_stack_run() {
    let o = common::run(&[
        "run",
        "-b",
        "host-gw",
        "--ip-family",
        "dual",
        "--pod-wiring",
        "cni",
        "--cni-conf",
        "examples/cni/cbr0.conflist",
    ]);
    let out = common::text(&o);
    assert_eq!(common::code(&o), 2, "{out}");
    assert!(
        out.contains("examples/cni/cbr0.conflist: its pods get IPv4 addresses only (100.96.0.0/16) but the run is --ip-family dual: add an IPv6 range"),
        "{out}"
    );
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("cnbench run "),
        "{out}"
    );
}
