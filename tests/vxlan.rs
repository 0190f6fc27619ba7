//! End-to-end runs of the vxlan backend (flannel's VXLAN mode) through the `cnbench` binary,
//! as root, on both underlays: every check passes, `flannel.1` and its control-plane entries
//! are what the article describes, VXLAN (UDP 8472, VNI 1) is on the wire, the JSON result
//! parses, and nothing of the run (nor of its host-net baseline) is left. With IPv6 (dual on
//! l2, ipv6 on l3) `flannel-v6.1` carries the IPv6 pods inside IPv6 between the nodes' IPv6
//! addresses. On a standing topology, forwarding turned off by hand in a node, or an IPv6
//! route deleted by hand, fails `cnbench check`.

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
        "sysctls",
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
    // The router forwards between the segments: the underlay declares it.
    let rt = check(&r, "sysctls", "-rt");
    assert_eq!(rt.actual, "net.ipv4.ip_forward=1", "{rt:?}");
    assert!(r
        .measurements
        .iter()
        .any(|m| m.workload == "tcp-rr" && m.path == "cross-node"));
}

#[test]
fn forwarding_turned_off_by_hand_in_a_node_fails_the_check() {
    use common::{code, run, run_id_of, text, Cleanup};
    let o = run(&["up", "--backend", "vxlan"]);
    let id = run_id_of(&String::from_utf8_lossy(&o.stdout));
    let _guard = Cleanup(vec![id.clone()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = run(&["check", &id]);
    let out = text(&o);
    assert_eq!(code(&o), 0, "{out}");
    let node = format!("cnb-{id}-n1");
    assert!(
        out.lines()
            .any(|l| l.starts_with("PASS  sysctls") && l.contains(&node)),
        "{out}"
    );

    // Someone turns forwarding off in n1: its pods are cut off from the other node. The
    // sysctls check names the setting, beside whatever traffic check fails with it.
    let st = std::process::Command::new("ip")
        .args(["netns", "exec", &node, "sysctl", "-q", "-w"])
        .arg("net.ipv4.ip_forward=0")
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
        failed.contains("reason: net.ipv4.ip_forward is 0, not 1"),
        "{failed}"
    );
    // n0 was left alone.
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

#[test]
fn vxlan_dual_stack_wraps_ipv6_pods_in_ipv6_on_flannel_v6() {
    let r = run_vxlan(&["--ip-family", "dual", "--workloads", "tcp-rr"]);
    assert_all_pass(&r);
    assert_eq!(r.parameters.ip_family(), "dual");
    // Both VTEPs on n0: flannel.1 50 bytes under the underlay, flannel-v6.1 70; the pods'
    // side takes the smaller.
    let n0 = r
        .topology
        .iter()
        .find(|n| n.role == "node" && n.node.as_deref() == Some("n0"))
        .unwrap();
    let mtu = |name: &str| {
        n0.devices
            .iter()
            .find(|d| d.name == name)
            .map(|d| d.mtu_bytes)
    };
    assert_eq!(mtu("flannel.1"), Some(1450));
    assert_eq!(mtu("flannel-v6.1"), Some(1430));
    assert_eq!(mtu("cni0"), Some(1430));
    assert_eq!(
        n0.devices
            .iter()
            .find(|d| d.name == "flannel-v6.1")
            .unwrap()
            .kind,
        "vxlan"
    );
    // The IPv6 pod packet inside VXLAN inside IPv6 between the nodes' IPv6 addresses, on the
    // switch port of n0.
    let encap = r
        .checks
        .iter()
        .find(|c| c.check == "encap" && c.expected.contains("fd00:10:168::"))
        .unwrap_or_else(|| panic!("no IPv6 encap check: {:#?}", r.checks));
    assert_eq!(encap.outcome, reports::CheckOutcome::Pass, "{encap:?}");
    assert!(
        encap
            .actual
            .contains("fd00:10:168::1 -> fd00:10:168::2 udp dport 8472 vni 1, inner fd00:100:96::2 -> fd00:100:96:1::2"),
        "{encap:?}"
    );
    // The IPv4 one still between the IPv4 addresses.
    assert!(r.checks.iter().any(|c| c.check == "encap"
        && c.actual
            .contains("10.168.0.1 -> 10.168.0.2 udp dport 8472 vni 1")));
    // flanneld's three entries for n1, per family.
    let routes = check(&r, "routes", "-n0");
    for want in [
        "100.96.1.0/24 via 100.96.1.0 dev flannel.1 proto static onlink",
        "fd00:100:96:1::/64 via fd00:100:96:1:: dev flannel-v6.1 proto static onlink",
        "fd00:100:96::/128 dev flannel-v6.1 proto kernel",
    ] {
        assert!(routes.actual.contains(want), "{want}: {routes:?}");
    }
    let neigh = check(&r, "vxlan", "flannel-v6.1 neighbour fd00:100:96:1::");
    assert!(neigh.actual.ends_with("PERMANENT"), "{neigh:?}");
    let fdb = r
        .checks
        .iter()
        .find(|c| c.check == "vxlan" && c.subject.contains("-n0 flannel-v6.1 fdb"))
        .unwrap();
    assert!(
        fdb.actual.contains("dst fd00:10:168::2 permanent"),
        "{fdb:?}"
    );
    // One path MTU, 70 under the underlay, for both families.
    for dst in ["(100.96.1.2)", "(fd00:100:96:1::2)"] {
        assert!(
            r.checks.iter().any(|c| c.check == "pmtu"
                && c.subject.contains(dst)
                && c.subject.contains("1430 bytes")),
            "no 1430-byte pmtu check to {dst}"
        );
    }
    // Forwarding in both families (beside the IPv6 settings every namespace declares).
    let sysctls = check(&r, "sysctls", "-n1");
    assert!(
        sysctls.actual.contains("net.ipv4.ip_forward=1")
            && sysctls.actual.contains("net.ipv6.conf.all.forwarding=1"),
        "{sysctls:?}"
    );
    // Measured once per family.
    let paths: Vec<&str> = r
        .measurements
        .iter()
        .filter(|m| m.workload == "tcp-rr")
        .map(|m| m.path.as_str())
        .collect();
    assert!(paths.contains(&"cross-node"), "{paths:?}");
    assert!(paths.contains(&"cross-node ipv6"), "{paths:?}");
}

#[test]
fn vxlan_ipv6_only_on_l3_crosses_the_router() {
    let r = run_vxlan(&[
        "--ip-family",
        "ipv6",
        "--underlay",
        "l3",
        "--workloads",
        "none",
    ]);
    assert_all_pass(&r);
    assert_eq!(r.parameters.underlay, "l3");
    // Only flannel-v6.1: an ipv6 run has no IPv4 VTEP.
    let n1 = r
        .topology
        .iter()
        .find(|n| n.role == "node" && n.node.as_deref() == Some("n1"))
        .unwrap();
    let names: Vec<&str> = n1.devices.iter().map(|d| d.name.as_str()).collect();
    assert!(names.contains(&"flannel-v6.1"), "{names:?}");
    assert!(!names.contains(&"flannel.1"), "{names:?}");
    // The outer IPv6 header goes node to node through the router, across the two segments.
    let encap = check(&r, "encap", "-rt");
    assert!(
        encap
            .actual
            .contains("fd00:10:168:1::2 -> fd00:10:168:2::2 udp dport 8472 vni 1"),
        "{encap:?}"
    );
    assert!(!r
        .checks
        .iter()
        .any(|c| c.check == "encap" && c.actual.contains("10.168.1.2")));
    // The router decrements only the outer hop limit.
    let ttl = check(&r, "ttl", "n0p0");
    assert!(ttl.actual.contains("ttl 62"), "{ttl:?}");
    let fdb = check(&r, "vxlan", "-n0 flannel-v6.1 fdb");
    assert!(
        fdb.actual.contains("dst fd00:10:168:2::2 permanent"),
        "{fdb:?}"
    );
    // IPv6 forwarding only: an ipv6 run writes no IPv4 setting.
    for ns in ["-rt", "-n0"] {
        let c = check(&r, "sysctls", ns);
        assert!(
            c.actual.contains("net.ipv6.conf.all.forwarding=1")
                && !c.actual.contains("net.ipv4.ip_forward"),
            "{c:?}"
        );
    }
}

#[test]
fn an_ipv6_route_deleted_by_hand_fails_the_check() {
    use common::{code, run, run_id_of, text, Cleanup};
    let o = run(&["up", "--backend", "vxlan", "--ip-family", "ipv6"]);
    let id = run_id_of(&String::from_utf8_lossy(&o.stdout));
    let _guard = Cleanup(vec![id.clone()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = run(&["check", &id]);
    assert_eq!(code(&o), 0, "{}", text(&o));

    // Someone deletes n0's route to n1's IPv6 block: n0's pods lose n1's, and the routes
    // check names the missing route.
    let n0 = format!("cnb-{id}-n0");
    let route = "fd00:100:96:1::/64";
    let st = std::process::Command::new("ip")
        .args(["netns", "exec", &n0, "ip", "-6", "route", "del", route])
        .status()
        .unwrap();
    assert!(st.success());
    let o = run(&["check", &id]);
    let out = text(&o);
    assert_eq!(code(&o), 1, "{out}");
    let failed = out
        .lines()
        .find(|l| l.starts_with("FAIL  routes") && l.contains(&n0))
        .unwrap_or_else(|| panic!("no failing routes check of {n0}: {out}"));
    assert!(
        failed.contains(&format!(
            "missing: [\"{route} via fd00:100:96:1:: dev flannel-v6.1 proto static onlink\"]"
        )),
        "{failed}"
    );
    // The cut is seen in traffic too, and n1's table was left alone.
    assert!(
        out.lines().any(|l| l.starts_with("FAIL  reachability")
            && l.contains("n0p0 -> n1p0 (fd00:100:96:1::2)")),
        "{out}"
    );
    let n1 = format!("cnb-{id}-n1");
    assert!(
        out.lines()
            .any(|l| l.starts_with("PASS  routes") && l.contains(&n1)),
        "{out}"
    );

    let o = run(&["down", &id]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    common::assert_nothing_left(&id);
}

#[test]
fn a_dual_stack_chain_wires_vxlan_pods_and_an_ipv4_chain_is_refused() {
    use common::{code, run, text};
    // The chain's host-local gets each node's block of both families.
    let dual = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/cni/cbr0-dual.conflist"
    );
    let json = std::env::temp_dir().join(format!(
        "cnbench-test-vxlan-chain-{}.json",
        std::process::id()
    ));
    let o = run(&[
        "run",
        "--backend",
        "vxlan",
        "--ip-family",
        "dual",
        "--pod-wiring",
        "cni",
        "--cni-conf",
        dual,
        "--workloads",
        "none",
        "--no-baseline",
        "--json",
        json.to_str().unwrap(),
    ]);
    let id = common::run_id_of(&String::from_utf8_lossy(&o.stdout));
    let _guard = common::Cleanup(vec![id.clone()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let r = reports::read_result(&json).expect("the result parses");
    let _ = std::fs::remove_file(&json);
    common::assert_nothing_left(&id);
    common::assert_checks_passed(&r);
    assert!(r
        .checks
        .iter()
        .any(|c| c.check == "reachability" && c.subject.contains("(fd00:100:96:1::")));
    // A chain without an IPv6 range cannot give a dual-stack pod its IPv6 address.
    let v4 = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/cni/cbr0.conflist");
    let o = run(&[
        "run",
        "--backend",
        "vxlan",
        "--ip-family",
        "dual",
        "--pod-wiring",
        "cni",
        "--cni-conf",
        v4,
    ]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("IPv4 addresses only") && err.contains("or use --ip-family ipv4"),
        "{}",
        text(&o)
    );
}
