//! The examples of `examples/cni/` with Debian's reference plugins (which `ci/test.sh`
//! installs): every example passes every check, its plugins' effect checks included; the
//! docker0 chain is measured like every backend; `--pod-wiring cni` passes on vxlan, host-gw
//! and bgp; a chain needing a kernel feature this kernel lacks is refused before anything
//! exists. Needs root.

mod common;

use common::{code, run, run_id_of, text, Cleanup};
use reports::{CheckOutcome, RunResult};

/// An example's path: `name` with its extension, or a `.conflist` without one.
fn conf(name: &str) -> String {
    let file = if name.ends_with(".conf") {
        name.to_string()
    } else {
        format!("{name}.conflist")
    };
    format!("{}/examples/cni/{file}", env!("CARGO_MANIFEST_DIR"))
}

/// Runs `backend` with the chain `file` and `extra`, without measuring unless `extra` asks:
/// exit 0, nothing left; the result.
fn passes(backend: &str, file: &str, extra: &[&str]) -> RunResult {
    let c = conf(file);
    let json = std::env::temp_dir().join(format!(
        "cnbench-cni-{backend}-{file}-{}.json",
        std::process::id()
    ));
    let mut args = vec![
        "run",
        "--backend",
        backend,
        "--cni-conf",
        &c,
        "--no-baseline",
        "--json",
        json.to_str().unwrap(),
    ];
    if !extra.contains(&"--workloads") {
        args.extend_from_slice(&["--workloads", "none"]);
    }
    args.extend_from_slice(extra);
    let o = run(&args);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("cnbench run "),
        "{backend} {file}: {}",
        text(&o)
    );
    let id = run_id_of(&stdout);
    let _guard = Cleanup(vec![id.clone()]);
    assert_eq!(code(&o), 0, "{backend} {file}: {}", text(&o));
    common::assert_nothing_left(&id);
    let r = reports::read_result(&json).expect("result parses");
    let _ = std::fs::remove_file(&json);
    r
}

/// Every check passed; the only expected failures allowed are the known portmap CHECK bug's.
fn assert_all_passed(r: &RunResult, what: &str) {
    for c in &r.checks {
        match c.outcome {
            CheckOutcome::Pass => {}
            CheckOutcome::ExpectedFailure
                if c.check == "cni-check"
                    && c.subject.ends_with(" portmap")
                    && c.reason
                        .as_deref()
                        .is_some_and(|r| r.contains("plugins#819")) => {}
            _ => panic!("{what}: {c:#?}"),
        }
    }
}

/// Each pod's `eth0` as the result recorded it (of the pods on `node`, if given).
fn pod_eth0s<'a>(
    r: &'a RunResult,
    node: Option<&'a str>,
) -> impl Iterator<Item = &'a reports::DeviceRecord> {
    r.topology
        .iter()
        .filter(move |n| n.role == "pod" && (node.is_none() || n.node.as_deref() == node))
        .flat_map(|n| n.devices.iter().filter(|d| d.name == "eth0"))
}

/// Names of the checks `r` ran, each once.
fn kinds(r: &RunResult) -> Vec<&str> {
    let mut k: Vec<&str> = r.checks.iter().map(|c| c.check.as_str()).collect();
    k.sort();
    k.dedup();
    k
}

fn assert_ran(r: &RunResult, what: &str, checks: &[&str]) {
    let k = kinds(r);
    for c in checks {
        assert!(k.contains(c), "{what}: no {c} check among {k:?}");
    }
}

#[test]
fn the_docker0_chain_is_measured_like_every_backend() {
    let json =
        std::env::temp_dir().join(format!("cnbench-cni-docker0-m-{}.json", std::process::id()));
    let c = conf("docker0");
    let mut args = vec![
        "run",
        "--backend",
        "cni",
        "--cni-conf",
        &c,
        "--json",
        json.to_str().unwrap(),
    ];
    args.extend_from_slice(common::SHORT);
    let o = run(&args);
    let id = run_id_of(&String::from_utf8_lossy(&o.stdout));
    let _guard = Cleanup(vec![id.clone()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    common::assert_nothing_left(&id);
    let r = reports::read_result(&json).unwrap();
    let _ = std::fs::remove_file(&json);
    assert_all_passed(&r, "docker0");
    assert_ran(
        &r,
        "docker0",
        &[
            "interface",
            "route",
            "fdb",
            "neighbours",
            "cni-check",
            "pmtu",
        ],
    );
    common::assert_full_measurement(&r, "same-node");
    let baseline = r
        .baseline
        .as_ref()
        .expect("the host-net baseline of the same session");
    common::assert_nothing_left(&baseline.run_id);
    // The result names the chain and each binary with the versions it reported.
    let network = r
        .components
        .iter()
        .find(|c| c.role == "cni-network")
        .expect("the network");
    assert_eq!(
        (network.name.as_str(), network.version.as_deref()),
        ("docker0", Some("1.0.0"))
    );
    assert!(
        network.notes.iter().any(|n| n == "chain: bridge"),
        "{network:?}"
    );
    for plugin in ["bridge", "host-local"] {
        let p = r
            .components
            .iter()
            .find(|c| c.role == "cni-plugin" && c.name == plugin)
            .unwrap_or_else(|| panic!("{plugin} in {:?}", r.components));
        assert_eq!(
            p.path.as_deref(),
            Some(format!("/usr/lib/cni/{plugin}").as_str())
        );
        assert!(p.supported_versions.iter().any(|v| v == "1.0.0"), "{p:?}");
    }
    assert_eq!(
        r.parameters
            .backend_options
            .get("cni-conf")
            .map(String::as_str),
        Some(c.as_str())
    );
}

#[test]
fn every_single_node_example_passes_with_its_plugins_effects() {
    let chain = passes("cni", "bridge-chain", &[]);
    assert_all_passed(&chain, "bridge-chain");
    assert_ran(
        &chain,
        "bridge-chain",
        &["portmap", "bandwidth", "firewall", "tuning", "cni-check"],
    );
    // Both directions of the shaping, every pod's host port, each pod's rules and settings.
    let count = |k: &str| chain.checks.iter().filter(|c| c.check == k).count();
    assert_eq!(
        (count("portmap"), count("bandwidth"), count("firewall")),
        (2, 2, 2)
    );
    assert_eq!(count("tuning"), 6, "two sysctls and the MTU, per pod");

    let ptp = passes("cni", "ptp", &[]);
    assert_all_passed(&ptp, "ptp");
    // The node routes between the pods of a ptp chain: one hop.
    let ttl = ptp
        .checks
        .iter()
        .find(|c| c.check == "ttl")
        .expect("a ttl check");
    assert!(ttl.expected.contains("1 routed hop"), "{ttl:?}");

    let mac = passes("cni", "macvlan", &["--underlay", "l2"]);
    assert_all_passed(&mac, "macvlan");
    let pods: Vec<&str> = pod_eth0s(&mac, None).map(|d| d.kind.as_str()).collect();
    assert_eq!(pods, ["macvlan", "macvlan"]);

    // A single plugin configuration (`.conf`) of an older version: a list of one, run at
    // 0.3.1, where CHECK does not exist and is not called.
    let old = passes("cni", "ptp-0.3.1.conf", &[]);
    assert_all_passed(&old, "ptp-0.3.1.conf");
    let network = old
        .components
        .iter()
        .find(|c| c.role == "cni-network")
        .unwrap();
    assert_eq!(network.version.as_deref(), Some("0.3.1"));
    assert!(old
        .checks
        .iter()
        .filter(|c| c.check == "cni-check")
        .all(|c| c.actual.contains("0.3.1 has no CHECK")));

    // Static IPAM takes each pod's planned address through the `ips` capability.
    let st = passes("cni", "bridge-static", &[]);
    assert_all_passed(&st, "bridge-static");
    let mut addrs: Vec<String> = pod_eth0s(&st, None)
        .flat_map(|d| d.addresses.clone())
        .collect();
    addrs.sort();
    assert_eq!(addrs, ["172.17.0.2/16", "172.17.0.3/16"]);
}

#[test]
fn ipvlan_runs_where_the_kernel_has_it_and_is_refused_before_anything_elsewhere() {
    let here = harness::detect::probe_link_kinds(&["ipvlan"]).expect("probe");
    if here[0].result.is_ok() {
        let r = passes("cni", "ipvlan", &["--underlay", "l2"]);
        assert_all_passed(&r, "ipvlan");
        return;
    }
    let before = common::cnb_namespaces();
    let root = common::root_netns_snapshot();
    let c = conf("ipvlan");
    let o = run(&[
        "run",
        "--backend",
        "cni",
        "--underlay",
        "l2",
        "--cni-conf",
        &c,
        "--workloads",
        "none",
        "--no-baseline",
    ]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("ipvlan") && err.contains("--substrate vm") && err.trim().lines().count() == 1,
        "{err}"
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    if stdout.contains("cnbench run ") {
        common::assert_nothing_left(&run_id_of(&stdout));
    }
    let made: Vec<String> = common::cnb_namespaces()
        .into_iter()
        .filter(|n| !before.contains(n) && !n.ends_with("-probe"))
        .filter(|n| stdout.contains(n.split('-').nth(1).unwrap_or("-")))
        .collect();
    assert!(made.is_empty(), "{made:?}");
    assert_eq!(root, common::root_netns_snapshot());
}

#[test]
fn pod_wiring_cni_passes_on_vxlan_host_gw_and_bgp() {
    // flannel's own chain on each; the full chain (portmap, bandwidth, firewall, tuning) on
    // vxlan, where the firewall's rules must have passed forwarded traffic and tuning's MTU
    // is the path's.
    for (backend, chain) in [
        ("vxlan", "flannel"),
        ("host-gw", "flannel"),
        ("bgp", "flannel"),
        ("vxlan", "bridge-chain"),
    ] {
        let r = passes(
            backend,
            chain,
            &[
                "--pod-wiring",
                "cni",
                "--workloads",
                "tcp-rr",
                "--duration",
                "0.3",
                "--warmup",
                "0.1",
                "--repeat",
                "1",
            ],
        );
        assert_all_passed(&r, backend);
        assert_ran(
            &r,
            backend,
            &["interface", "route", "cni-check", "portmap", "reachability"],
        );
        if chain == "bridge-chain" {
            assert_ran(&r, chain, &["bandwidth", "firewall", "tuning", "encap"]);
            let pmtu = r.checks.iter().find(|c| c.check == "pmtu").expect("pmtu");
            assert!(
                pmtu.subject.contains("1400 bytes"),
                "tuning's MTU is the path's: {pmtu:?}"
            );
            assert!(r
                .checks
                .iter()
                .filter(|c| c.check == "firewall")
                .all(|c| c.actual.contains(" packets]") && !c.actual.contains("[0 packets]")));
        }
        // Each node's pods in its own block of the backend's pod network (not the
        // configuration's subnet), as flannel's lease gives it.
        let net = if backend == "bgp" { "10.20" } else { "100.96" };
        for (node, block) in [("n0", format!("{net}.0.")), ("n1", format!("{net}.1."))] {
            let pods: Vec<&String> = pod_eth0s(&r, Some(node))
                .flat_map(|d| d.addresses.iter())
                .collect();
            assert!(
                pods.len() == 2 && pods.iter().all(|a| a.starts_with(&block)),
                "{backend} {node}: {pods:?}"
            );
        }
        assert!(
            r.measurements.iter().any(|m| m.path == "cross-node"),
            "{backend}: measured across nodes"
        );
        let wiring = r
            .parameters
            .backend_options
            .get("pod-wiring")
            .map(String::as_str);
        assert_eq!(wiring, Some("cni"), "{backend}");
    }
}

/// A node restart under a chain: the node's pods are added again (their stale attachments
/// deleted first, each asking for its address again), and every pair answers again.
#[test]
fn a_node_restart_under_a_chain_recovers() {
    let c = conf("cbr0");
    let json =
        std::env::temp_dir().join(format!("cnbench-cni-restart-{}.json", std::process::id()));
    let o = run(&[
        "fault",
        "--backend",
        "vxlan",
        "--pod-wiring",
        "cni",
        "--cni-conf",
        &c,
        "--fault",
        "node-restart",
        "--json",
        json.to_str().unwrap(),
    ]);
    let id = run_id_of(&String::from_utf8_lossy(&o.stdout));
    let _guard = Cleanup(vec![id.clone()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    common::assert_nothing_left(&id);
    let r = reports::read_result(&json).unwrap();
    let _ = std::fs::remove_file(&json);
    assert_eq!(r.faults.len(), 1);
    assert!(r.faults[0].outcome.passed(), "{:#?}", r.faults[0]);
    assert_all_passed(&r, "vxlan --pod-wiring cni after a node restart");
}
