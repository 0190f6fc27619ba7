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

/// Whether `r` has a `check` record whose subject or expectation contains `needle`.
fn has(r: &RunResult, check: &str, needle: &str) -> bool {
    r.checks
        .iter()
        .any(|c| c.check == check && (c.subject.contains(needle) || c.expected.contains(needle)))
}

/// A dual-stack chain: the pods' IPv6 addresses are the chain's (from its ADD results, into
/// the plan), every promise of the results holds in both families (addresses, default
/// routes, the gateways answering and resolved by ARP and NDP), cnbench's oracle runs per
/// family, and the workloads measure each family.
#[test]
fn a_dual_stack_chain_is_checked_and_measured_in_both_families() {
    let mut extra = vec!["--ip-family", "dual", "--workloads", "tcp-rr"];
    extra.extend_from_slice(common::SHORT);
    let r = passes("cni", "bridge-dual", &extra);
    assert_all_passed(&r, "bridge-dual");
    assert_ran(
        &r,
        "bridge-dual",
        &[
            "interface",
            "route",
            "neighbours",
            "fdb",
            "pmtu",
            "ttl",
            "ipam",
            "cni-check",
            "addresses",
        ],
    );
    let eth0 = r
        .checks
        .iter()
        .find(|c| c.check == "interface" && c.subject.contains("n0p0 eth0"))
        .expect("the pod's interface");
    assert!(
        eth0.expected.contains("172.17.0.2/16, fd00:172:17::2/64")
            && eth0.actual.contains("fd00:172:17::2/64"),
        "{eth0:?}"
    );
    assert!(has(&r, "route", "default via fd00:172:17::1 dev eth0"));
    assert!(has(&r, "reachability", "gateway fd00:172:17::1"));
    assert!(has(&r, "neighbours", "eth0 neighbour fd00:172:17::1"));
    assert!(has(&r, "neighbours", "eth0 neighbour fd00:172:17::3"));
    assert!(has(&r, "reachability", "(fd00:172:17::3) tcp [same-node]"));
    assert!(has(&r, "pmtu", "(fd00:172:17::3) DF packet of 1501"));
    let ipam = r.checks.iter().find(|c| c.check == "ipam").unwrap();
    assert_eq!(ipam.actual, "2 pods, 4 addresses", "{ipam:?}");
    let paths: Vec<(&str, &str, &str)> = r
        .measurements
        .iter()
        .map(|m| (m.workload.as_str(), m.path.as_str(), m.server.ip.as_str()))
        .collect();
    assert_eq!(
        paths,
        [
            ("tcp-rr", "same-node", "172.17.0.3"),
            ("tcp-rr", "same-node ipv6", "fd00:172:17::3")
        ]
    );
    let v6 = &r.measurements[1];
    assert!(
        v6.summary_of("transactions_per_s").unwrap().median > 0.0,
        "{v6:?}"
    );
}

/// An IPv6-only chain on an ipv6 run: its pods have IPv6 addresses alone, and nothing
/// IPv4 is probed.
#[test]
fn an_ipv6_only_chain_passes_on_an_ipv6_run() {
    let r = passes("cni", "bridge-ipv6", &["--ip-family", "ipv6"]);
    assert_all_passed(&r, "bridge-ipv6");
    assert!(has(&r, "reachability", "(fd00:172:17::3) tcp [same-node]"));
    assert!(has(&r, "neighbours", "eth0 neighbour fd00:172:17::1"));
    assert!(
        r.checks
            .iter()
            .filter(|c| c.check == "reachability")
            .all(|c| !c.subject.contains("172.17.0.")),
        "an ipv6 run probes no IPv4 address"
    );
    let ipam = r.checks.iter().find(|c| c.check == "ipam").unwrap();
    assert_eq!(ipam.actual, "2 pods, 2 addresses", "{ipam:?}");
}

/// host-gw with a chain run per node on a dual-stack run: each node's chain gets the node's
/// IPv4 and IPv6 blocks, so its pods are in both, and the pairs across nodes answer in both
/// families over host-gw's routes.
#[test]
fn pod_wiring_cni_on_host_gw_takes_each_nodes_blocks_of_both_families() {
    let r = passes(
        "host-gw",
        "cbr0-dual",
        &["--pod-wiring", "cni", "--ip-family", "dual"],
    );
    assert_all_passed(&r, "host-gw cbr0-dual");
    for (pod, v4, v6) in [
        ("n0p0", "100.96.0.2/24", "fd00:100:96::2/64"),
        ("n1p1", "100.96.1.3/24", "fd00:100:96:1::3/64"),
    ] {
        let eth0 = r
            .checks
            .iter()
            .find(|c| c.check == "interface" && c.subject.contains(&format!("{pod} eth0")))
            .unwrap_or_else(|| panic!("{pod}'s interface"));
        assert!(
            eth0.actual.contains(v4) && eth0.actual.contains(v6),
            "{pod} in its node's blocks: {eth0:?}"
        );
    }
    assert!(has(
        &r,
        "reachability",
        "(fd00:100:96:1::3) tcp [cross-node]"
    ));
    let network = r
        .components
        .iter()
        .find(|c| c.role == "cni-network")
        .unwrap();
    assert!(
        network
            .notes
            .iter()
            .any(|n| n.contains("one range set per family")),
        "{network:?}"
    );
}

/// A chain whose IPAM gives pods other families than the run's is refused before anything
/// is made, in one line naming the configuration and the fix; one whose IPAM cnbench cannot
/// read is refused at its first ADD, after which nothing is left.
#[test]
fn a_chain_of_other_families_than_the_run_is_refused_with_the_fix() {
    for (file, family, says) in [
        (
            "docker0",
            "dual",
            "its pods get IPv4 addresses only (172.17.0.0/16) but the run is --ip-family dual: add an IPv6 range to its IPAM",
        ),
        (
            "bridge-dual",
            "ipv4",
            "but the run is --ip-family ipv4, which disables IPv6 in every namespace: pass --ip-family dual",
        ),
    ] {
        let c = conf(file);
        let o = run(&[
            "run",
            "--backend",
            "cni",
            "--cni-conf",
            &c,
            "--ip-family",
            family,
            "--workloads",
            "none",
            "--no-baseline",
        ]);
        assert_eq!(code(&o), 2, "{file} {family}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(&format!("--cni-conf {c}: ")) && err.contains(says),
            "{file} {family}: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(
            !String::from_utf8_lossy(&o.stdout).contains("cnbench run "),
            "refused before anything was made: {}",
            text(&o)
        );
    }

    // Static IPAM given its address in the configuration's `args` (which cnbench does not
    // read): only the first ADD's result shows it is IPv4 alone.
    let dir = std::env::temp_dir().join(format!("cnbench-cni-args-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let c = dir.join("args-v4.conflist");
    std::fs::write(
        &c,
        r#"{"cniVersion": "1.0.0", "name": "argsv4", "plugins": [{"type": "bridge",
            "bridge": "cni0", "isGateway": true, "ipam": {"type": "static"},
            "args": {"cni": {"ips": ["172.17.0.9/16"]}}}]}"#,
    )
    .unwrap();
    let o = run(&[
        "run",
        "--backend",
        "cni",
        "--cni-conf",
        c.to_str().unwrap(),
        "--ip-family",
        "dual",
        "--workloads",
        "none",
        "--no-baseline",
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    let id = run_id_of(&stdout);
    let _guard = Cleanup(vec![id.clone()]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("CNI ADD of n0p0: --cni-conf ")
            && err.contains("the chain's result gives the pod IPv4 addresses only (172.17.0.9/16) but the run is --ip-family dual")
            && err.contains("or use --ip-family ipv4"),
        "{err}"
    );
    common::assert_nothing_left(&id);
    let _ = std::fs::remove_dir_all(&dir);
}
