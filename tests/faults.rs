//! `cnbench fault` end to end: for every backend, every fault that applies to it is injected
//! while probes run across every pod pair; each must be recovered from, with loss and
//! recovery time in the JSON, and the conformance check after it must pass. A deliberately
//! broken recovery (vxlan's VTEP recreated with a new MAC, the peers not reprogrammed) must
//! be caught by that check. Nothing of the runs may be left behind.

mod common;

use common::{cnb_namespaces, cnbench, code, text};
use serde_json::Value;

/// Short phases and 200 probes/s per pair (5 ms resolution): the figures are not the point
/// here, recovery and the checks are, and the debug build's agents and the userspace
/// datapaths' daemons share two CPUs with everything else.
const QUICK: &[&str] = &[
    "--rate",
    "200",
    "--hold",
    "0.3",
    "--before",
    "0.3",
    "--after",
    "0.3",
    "--tcp-window",
    "0.3",
];

struct Faulted {
    code: i32,
    json: Value,
    output: String,
}

fn fault(backend: &str, extra: &[&str]) -> Faulted {
    let dir = std::env::temp_dir().join(format!("cnbench-faults-{}-{backend}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("result.json");
    let before = cnb_namespaces();
    let o = cnbench()
        .args(["fault", "--backend", backend])
        .args(QUICK)
        .args(extra)
        .arg("--json")
        .arg(&path)
        .output()
        .expect("cnbench runs");
    let output = text(&o);
    let json: Value = serde_json::from_slice(&std::fs::read(&path).unwrap_or_default())
        .unwrap_or_else(|e| panic!("no JSON result ({e}):\n{output}"));
    let _ = std::fs::remove_dir_all(&dir);
    let run_id = json["run_id"].as_str().unwrap_or_default().to_string();
    let left: Vec<String> = cnb_namespaces()
        .into_iter()
        .filter(|n| !before.contains(n) && n.starts_with(&format!("cnb-{run_id}-")))
        .collect();
    assert!(left.is_empty(), "{backend}: left behind {left:?}\n{output}");
    assert!(
        !std::path::Path::new("/run/cnbench").join(&run_id).exists(),
        "{backend}: state directory of {run_id} left behind"
    );
    Faulted {
        code: code(&o),
        json,
        output,
    }
}

/// Runs every fault that applies to `backend` and checks each one's record.
fn every_fault_recovers(backend: &str, extra: &[&str], expected: &[&str]) {
    let mut args = vec!["--fault", "all", "--recovery-limit", "20"];
    args.extend_from_slice(extra);
    let f = fault(backend, &args);
    assert_eq!(f.code, 0, "{backend}: {}", f.output);
    assert_eq!(f.json["outcome"]["status"], "passed", "{}", f.output);
    let faults = f.json["faults"].as_array().expect("faults in the JSON");
    let names: Vec<&str> = faults.iter().filter_map(|x| x["fault"].as_str()).collect();
    assert_eq!(names, expected, "{backend}: {}", f.output);
    for x in faults {
        let name = x["fault"].as_str().unwrap();
        let probes = &x["probes"];
        assert_eq!(
            x["outcome"]["status"], "recovered",
            "{backend} {name}: {x:#}"
        );
        assert!(
            probes["pairs"].as_u64().unwrap() >= 2,
            "{backend} {name}: {probes}"
        );
        assert!(probes["sent"].as_u64().unwrap() > 0, "{backend} {name}");
        assert_eq!(probes["never_recovered"], serde_json::json!([]), "{name}");
        // Recovered within the limit given (20 s), by the probes' own clock.
        let recovery_ns = probes["recovery_ns"].as_u64().unwrap();
        assert!(recovery_ns <= 20_000_000_000, "{backend} {name}: {probes}");
        // Every fault here cuts some pair for the hold time: the probes must see it (a
        // single node's restart takes every probe agent along, so nobody sees it fail).
        let lost = probes["lost_during"].as_u64().unwrap() + probes["lost_after"].as_u64().unwrap();
        if backend != "bridge" {
            assert!(
                lost > 0,
                "{backend} {name}: no probe lost, was the fault injected? {x:#}"
            );
        }
        let checks = x["checks_after"].as_array().unwrap();
        assert!(!checks.is_empty(), "{backend} {name}");
        let failed: Vec<&Value> = checks.iter().filter(|c| c["outcome"] == "fail").collect();
        assert!(failed.is_empty(), "{backend} {name}: {failed:#?}");
        assert_eq!(
            x["pairs"].as_array().unwrap().len() as u64,
            probes["pairs"].as_u64().unwrap()
        );
        if name == "loss" {
            // Throughput itself is too noisy to judge in a test on a shared machine (a
            // 300 ms window can see a stalled connection, 0 bit/s); both figures must be
            // there, and the rule must have dropped packets.
            let tcp = &x["tcp_under_loss"];
            assert!(tcp["before_bps"].is_f64(), "{x:#}");
            assert!(tcp["under_loss_bps"].is_f64(), "{x:#}");
            assert!(
                x["underlay_dropped_packets"].as_u64().unwrap_or(0) > 0,
                "{x:#}"
            );
        }
    }
    // The summary shows the table.
    assert!(
        f.output.contains("faults (probes over every pod pair"),
        "{}",
        f.output
    );
}

#[test]
fn vxlan_recovers_from_every_fault() {
    every_fault_recovers(
        "vxlan",
        &[],
        &["loss", "link-flap", "vtep-change", "node-restart"],
    );
}

#[test]
fn host_gw_recovers_from_every_fault() {
    every_fault_recovers("host-gw", &[], &["loss", "link-flap", "node-restart"]);
}

#[test]
fn flannel_udp_recovers_from_every_fault() {
    every_fault_recovers(
        "flannel-udp",
        &[],
        &["loss", "link-flap", "daemon-restart", "node-restart"],
    );
}

#[test]
fn userspace_ipip_recovers_from_every_fault() {
    every_fault_recovers(
        "ipip",
        &["--datapath", "userspace"],
        &["loss", "link-flap", "daemon-restart", "node-restart"],
    );
}

#[test]
fn bgp_recovers_from_every_fault() {
    every_fault_recovers(
        "bgp",
        &[],
        &["loss", "link-flap", "speaker-restart", "node-restart"],
    );
}

#[test]
fn host_net_recovers_from_every_fault() {
    every_fault_recovers("host-net", &[], &["loss", "link-flap", "node-restart"]);
}

#[test]
fn bridge_recovers_from_a_node_restart() {
    // One node, no underlay: only the node restart applies.
    every_fault_recovers("bridge", &[], &["node-restart"]);
}

#[test]
fn a_vtep_change_without_reprogramming_the_peers_is_caught() {
    let f = fault(
        "vxlan",
        &[
            "--fault",
            "vtep-change",
            "--broken-recovery",
            "--recovery-limit",
            "2",
        ],
    );
    assert_eq!(f.code, 1, "{}", f.output);
    assert_eq!(f.json["outcome"]["status"], "checks_failed", "{}", f.output);
    let x = &f.json["faults"][0];
    assert_ne!(x["outcome"]["status"], "recovered", "{x:#}");
    let failed: Vec<&Value> = x["checks_after"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["outcome"] == "fail")
        .collect();
    // The peer still holds the old MAC: its FDB lacks the new one and its neighbour entry
    // points at the old.
    for kind in ["fdb", "neighbours"] {
        assert!(
            failed.iter().any(|c| c["check"] == "vxlan"
                && c["subject"].as_str().unwrap().contains(if kind == "fdb" {
                    " fdb "
                } else {
                    " neighbour "
                })),
            "no failed {kind} check: {failed:#?}"
        );
    }
    assert!(
        !x["probes"]["never_recovered"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{x:#}"
    );
}

#[test]
fn faults_that_do_not_apply_are_refused_before_anything_exists() {
    let before = cnb_namespaces();
    for (args, needle) in [
        (
            vec!["--backend", "host-gw", "--fault", "vtep-change"],
            "--fault vtep-change does not apply to backend host-gw",
        ),
        (
            vec!["--backend", "bridge", "--fault", "link-flap"],
            "it acts on the underlay",
        ),
        (
            vec!["--backend", "vxlan", "--fault", "daemon-restart"],
            "has no datapath daemon",
        ),
        (
            vec!["--backend", "vxlan", "--fault", "flap"],
            "invalid value 'flap' for '--fault <FAULT>' (possible values: loss, link-flap",
        ),
        (
            vec!["--backend", "vxlan", "--fault", "loss", "--loss", "0"],
            "--loss 0",
        ),
        (
            vec!["--backend", "vxlan", "--fault", "link-flap", "--node", "7"],
            "--node 7",
        ),
        (
            vec![
                "--backend",
                "bgp",
                "--fault",
                "bird-restart",
                "--broken-recovery",
            ],
            "--broken-recovery",
        ),
        (
            vec!["--backend", "vxlan", "--fault", "loss", "--rate", "0"],
            "--rate 0",
        ),
        (
            vec!["--backend", "vxlan", "--fault", "link-flap", "--hold", "0"],
            "--hold 0",
        ),
    ] {
        let o = cnbench().arg("fault").args(&args).output().unwrap();
        assert_eq!(code(&o), 2, "{args:?}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(needle), "{args:?}: {}", text(&o));
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {}", text(&o));
    }
    let new: Vec<String> = cnb_namespaces()
        .into_iter()
        .filter(|n| !before.contains(n) && !n.ends_with("-probe"))
        .collect();
    assert!(new.is_empty(), "created {new:?}");
}

/// router-down on two routers: while the first router is down, every pair answers through
/// the second (host-net: the nodes' ECMP default route skips the router whose neighbour
/// entry failed), and once it is back every check passes, its failed neighbour entries
/// included. Five nodes make 12 cross-segment directed pairs, so some are hashed through
/// the router that goes down (all 12 through the other: one chance in 4,096).
#[test]
fn host_net_fails_over_to_the_second_router() {
    let f = fault(
        "host-net",
        &[
            "--underlay",
            "l3",
            "--routers",
            "2",
            "--nodes",
            "5",
            "--fault",
            "router-down",
            "--recovery-limit",
            "20",
        ],
    );
    assert_eq!(f.code, 0, "{}", f.output);
    let x = &f.json["faults"][0];
    assert_eq!(x["fault"], "router-down", "{x:#}");
    assert_eq!(x["target"], "rt", "{x:#}");
    assert_eq!(x["outcome"]["status"], "recovered", "{x:#}");
    let probes = &x["probes"];
    assert!(
        probes["lost_after"].as_u64().unwrap() > 0,
        "no probe lost: did the router go down? {x:#}"
    );
    assert_eq!(probes["never_recovered"], serde_json::json!([]), "{x:#}");
    let failed: Vec<&Value> = x["checks_after"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["outcome"] == "fail")
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

/// bgp with two border routers: every node peers with both and installs both paths (ECMP);
/// with one router down traffic takes the other, and once it is back BGP re-learns it as a
/// path before the check after (which declares both next hops). BIRD, FRR and GoBGP (whose
/// multipath set cnbench's route programmer installs as one multipath route).
#[test]
fn bgp_fails_over_to_the_second_border_router_with_every_speaker() {
    for speaker in ["bird", "frr", "gobgp"] {
        let f = fault(
            "bgp",
            &[
                "--bgp-speaker",
                speaker,
                "--underlay",
                "l3",
                "--routers",
                "2",
                "--nodes",
                "6",
                "--pods-per-node",
                "1",
                "--fault",
                "router-down",
                "--recovery-limit",
                "20",
            ],
        );
        assert_eq!(f.code, 0, "{speaker}: {}", f.output);
        let x = &f.json["faults"][0];
        assert_eq!(x["outcome"]["status"], "recovered", "{speaker}: {x:#}");
        assert!(
            x["probes"]["lost_after"].as_u64().unwrap() > 0,
            "{speaker}: no probe lost: did the router go down? {x:#}"
        );
        assert_eq!(
            x["probes"]["never_recovered"],
            serde_json::json!([]),
            "{speaker}: {x:#}"
        );
        // Both next hops declared, before and after: the routes check passed with them.
        let routes: Vec<&Value> = x["checks_after"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| {
                c["check"] == "routes" && c["subject"].as_str().unwrap_or("").ends_with("-n0")
            })
            .collect();
        assert_eq!(routes.len(), 1, "{speaker}: {routes:#?}");
        let expected = routes[0]["expected"].as_str().unwrap();
        assert!(
            expected.contains("via 10.168.1.1 dev eth0")
                && expected.contains("via 10.168.1.254 dev eth0"),
            "{speaker}: n0's routes do not name both routers: {expected}"
        );
        assert_eq!(routes[0]["outcome"], "pass", "{speaker}: {:#}", routes[0]);
    }
}
