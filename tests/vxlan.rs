//! End-to-end runs of the vxlan backend (flannel's VXLAN mode) through the `cnbench` binary,
//! as root, on both underlays: every check passes, `flannel.1` and its control-plane entries
//! are what the article describes, VXLAN (UDP 8472, VNI 1) is on the wire, the JSON result
//! parses, and nothing of the run (nor of its host-net baseline) is left.

mod common;

/// `cnbench run --backend vxlan` with `extra`: exit 0, nothing of it or of its baseline left.
fn run_vxlan(extra: &[&str]) -> reports::RunResult {
    common::run_ok("vxlan", extra).0
}

fn assert_all_pass(r: &reports::RunResult) {
    assert_eq!(r.parameters.backend, "vxlan");
    assert_eq!(r.outcome, reports::Outcome::Passed);
    common::assert_checks_passed(r);
    for kind in [
        "routes",
        "mtu",
        "reachability",
        "neighbours",
        "fdb",
        "isolation",
        "devices",
        "vxlan",
        "encap",
        "pmtu",
        "ttl",
    ] {
        assert!(r.checks.iter().any(|c| c.check == kind), "no {kind} check");
    }
}

fn check<'a>(r: &'a reports::RunResult, kind: &str, subject_has: &str) -> &'a reports::CheckRecord {
    r.checks
        .iter()
        .find(|c| c.check == kind && c.subject.contains(subject_has))
        .unwrap_or_else(|| panic!("no {kind} check about {subject_has:?}: {:#?}", r.checks))
}

#[test]
fn vxlan_on_l2_builds_flannel_1_and_passes_every_check() {
    let r = run_vxlan(&[]);
    assert_all_pass(&r);
    // flannel.1 on n0: a VXLAN device 50 bytes under the underlay, with the .0 of its block.
    let n0 = r
        .topology
        .iter()
        .find(|n| n.role == "node" && n.node.as_deref() == Some("n0"))
        .unwrap();
    let vtep = n0.devices.iter().find(|d| d.name == "flannel.1").unwrap();
    assert_eq!(vtep.kind, "vxlan");
    assert_eq!(vtep.addresses, ["100.96.0.0/32"]);
    assert_eq!(vtep.mtu_bytes, 1450);
    let cni0 = n0.devices.iter().find(|d| d.name == "cni0").unwrap();
    assert_eq!(cni0.addresses, ["100.96.0.1/24"]);
    // The control plane's route, neighbour and FDB entry for n1.
    let routes = check(&r, "routes", "-n0");
    assert!(
        routes
            .actual
            .contains("100.96.1.0/24 via 100.96.1.0 dev flannel.1 proto static onlink"),
        "{routes:?}"
    );
    let fdb = check(&r, "vxlan", "fdb");
    assert!(fdb.actual.contains("dst 10.168.0."), "{fdb:?}");
    let encap = check(&r, "encap", "-sw");
    assert!(encap.actual.contains("udp dport 8472 vni 1"), "{encap:?}");
    let pmtu: Vec<&str> = r
        .checks
        .iter()
        .filter(|c| c.check == "pmtu")
        .map(|c| c.subject.as_str())
        .collect();
    assert!(pmtu.iter().any(|s| s.contains("1450 bytes")), "{pmtu:?}");
    // Measured across the tunnel and on the bridge, in the kernel.
    let paths: Vec<(&str, &str)> = r
        .measurements
        .iter()
        .map(|m| (m.workload.as_str(), m.path.as_str()))
        .collect();
    assert!(paths.contains(&("tcp-stream", "cross-node")), "{paths:?}");
    assert!(paths.contains(&("tcp-rr", "cross-node")), "{paths:?}");
    for m in &r.measurements {
        assert_eq!(m.datapath, "kernel");
    }
    let stream = r
        .measurements
        .iter()
        .find(|m| m.workload == "tcp-stream" && m.path == "cross-node")
        .unwrap()
        .summary_of("throughput_bps")
        .unwrap();
    assert!(
        stream.median > 1e8,
        "implausible throughput {}",
        stream.median
    );
}

#[test]
fn vxlan_on_l3_crosses_the_router() {
    let r = run_vxlan(&["--underlay", "l3", "--no-baseline"]);
    assert_all_pass(&r);
    assert_eq!(r.parameters.underlay, "l3");
    // The outer header goes node to node through the router: captured on n0's router port.
    let encap = check(&r, "encap", "-rt");
    assert!(
        encap
            .actual
            .contains("10.168.1.2 -> 10.168.2.2 udp dport 8472 vni 1"),
        "{encap:?}"
    );
    // The router decrements only the outer TTL: the pod packet crosses two routed hops.
    let ttl = check(&r, "ttl", "n0p0");
    assert!(ttl.actual.contains("ttl 62"), "{ttl:?}");
    assert!(r
        .measurements
        .iter()
        .any(|m| m.workload == "tcp-rr" && m.path == "cross-node"));
}
