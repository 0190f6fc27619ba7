//! `cnbench churn` end to end on real namespaces: pods added and removed cycle after cycle on
//! bridge, vxlan, bgp (both announce modes) and the reference CNI bridge plugin, every pod
//! timed until wired, reachable and gone, and nothing left behind; a plugin that leaks and a
//! route left by hand are caught; an interruption tears everything down.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use reports::{CheckOutcome, RunResult, Sample};

use common::{assert_nothing_left, cnbench, namespaces_of, run_id_of, Cleanup, Running};

/// Runs `cnbench churn ARGS --json F`; returns its exit code, its result and its stdout.
/// Whatever happens, the run is removed afterwards, and it must have left nothing.
fn churn(args: &[&str]) -> (i32, RunResult, String) {
    let json = std::env::temp_dir().join(format!(
        "cnbench-churn-{}-{}.json",
        std::process::id(),
        args.join("").replace('/', "_")
    ));
    let out = cnbench()
        .arg("churn")
        .args(args)
        .arg("--json")
        .arg(&json)
        .output()
        .expect("cnbench runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let id = run_id_of(&stdout);
    let _guard = Cleanup(vec![id.clone()]);
    assert_nothing_left(&id);
    let result = reports::read_result(&json).unwrap_or_else(|e| {
        panic!(
            "no result: {e}\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let _ = std::fs::remove_file(&json);
    (out.status.code().unwrap_or(-1), result, stdout)
}

/// Every failed check, as lines.
fn failed(r: &RunResult) -> Vec<String> {
    r.checks
        .iter()
        .filter(|c| c.outcome == CheckOutcome::Fail)
        .map(|c| format!("{} {}: {}", c.check, c.subject, c.actual))
        .collect()
}

/// The churn cycles of each level, by concurrency.
fn cycles(r: &RunResult) -> Vec<(u32, Vec<&reports::ChurnSample>)> {
    r.measurements
        .iter()
        .filter(|m| m.workload == "churn")
        .map(|m| {
            let samples: Vec<&reports::ChurnSample> = m
                .repetitions
                .iter()
                .map(|s| match s {
                    Sample::Churn(c) => c,
                    other => panic!("a churn measurement holds {other:?}"),
                })
                .collect();
            (samples[0].concurrency, samples)
        })
        .collect()
}

/// A clean churn: exit 0, no failed check, one leak check per namespace (all passed), every
/// level with its cycles, every pod of every cycle wired, reachable from its own node (and
/// another when `cross`), removed and unreachable after.
fn assert_clean(code: i32, r: &RunResult, out: &str, levels: &[u32], k: usize, cross: bool) {
    assert_eq!(code, 0, "{:#?}\n{out}", failed(r));
    assert!(failed(r).is_empty(), "{:#?}", failed(r));
    let namespaces = r.topology.len();
    let leaks = r.checks.iter().filter(|c| c.check == "leak").count();
    assert!(
        leaks > namespaces,
        "{leaks} leak checks for {namespaces} namespaces"
    );
    assert!(r.checks.iter().any(|c| c.check == "daemon-fds"));
    let got = cycles(r);
    assert_eq!(
        got.iter().map(|(c, _)| *c).collect::<Vec<_>>(),
        levels,
        "{out}"
    );
    for (c, samples) in got {
        assert_eq!(samples.len(), k, "concurrency {c}");
        for s in samples {
            assert_eq!((s.failed_adds, s.never_reachable), (0, 0), "{s:?}");
            assert_eq!(s.times.len() as u32, s.pods);
            assert!(s.pods_per_s > 0.0 && s.removed_per_s > 0.0, "{s:?}");
            for t in &s.times {
                assert!(t.wired_ns.is_some() && t.removed_ns.is_some(), "{t:?}");
                assert!(t.reachable_same_node_ns.is_some(), "{t:?}");
                assert!(t.unreachable_ns.is_some(), "{t:?}");
                assert_eq!(t.reachable_ns.is_some(), cross, "{t:?}");
                // Probing starts once a pod is wired: no answer comes before.
                assert!(t.reachable_same_node_ns.unwrap() >= t.wired_ns.unwrap());
            }
        }
    }
    let record = r.churn.as_ref().expect("the churn's record");
    assert!(record
        .daemons
        .iter()
        .all(|d| d.fds.len() == 1 + k * levels.len()));
}

#[test]
fn bridge_and_vxlan_pods_come_and_go_without_leaks() {
    let (code, r, out) = churn(&[
        "-b",
        "bridge",
        "--pods",
        "12",
        "--concurrency",
        "1,4",
        "--cycles",
        "2",
    ]);
    assert_clean(code, &r, &out, &[1, 4], 2, false);
    // The terminal shows the level table.
    assert!(out.contains("pods/cycle"), "{out}");

    let (code, r, out) = churn(&[
        "-b",
        "vxlan",
        "--pods",
        "8",
        "--concurrency",
        "4",
        "--cycles",
        "2",
    ]);
    assert_clean(code, &r, &out, &[4], 2, true);
}

#[test]
fn every_other_backend_with_pods_of_their_own_churns_cleanly() {
    for backend in ["host-gw", "flannel-udp", "ipip"] {
        let (code, r, out) = churn(&[
            "-b",
            backend,
            "--pods",
            "6",
            "--concurrency",
            "3",
            "--cycles",
            "2",
        ]);
        assert_clean(code, &r, &out, &[3], 2, true);
    }
    // vxlan's pods wired by the reference plugins: an ADD and a DEL per pod, cnbench's VTEPs.
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/cni/flannel.conflist");
    let (code, r, out) = churn(&[
        "-b",
        "vxlan",
        "--pod-wiring",
        "cni",
        "--cni-conf",
        conf.to_str().unwrap(),
        "--pods",
        "6",
        "--concurrency",
        "3",
        "--cycles",
        "2",
    ]);
    assert_clean(code, &r, &out, &[3], 2, true);
    assert!(r.plugin_calls.iter().any(|c| c.verb == "DEL"));
}

#[test]
fn bgp_announces_each_pod_and_withdraws_it() {
    // Pod mode: each pod's /32 crosses the route reflector, and leaves every other node.
    let (code, r, out) = churn(&[
        "-b",
        "bgp",
        "--bgp-topology",
        "rr",
        "--bgp-announce",
        "pod",
        "--nodes",
        "3",
        "--pods",
        "9",
        "--concurrency",
        "3",
        "--cycles",
        "2",
    ]);
    assert_clean(code, &r, &out, &[3], 2, true);
    for (_, samples) in cycles(&r) {
        for s in samples {
            assert!(s.times.iter().all(|t| t.withdrawn_ns.is_some()), "{s:?}");
        }
    }
    // BIRD's own routes were compared too, and BIRD's memory and files held flat.
    assert!(r
        .checks
        .iter()
        .any(|c| c.check == "leak" && c.subject.contains("backend's own parts")));
    assert!(r
        .checks
        .iter()
        .any(|c| c.check == "daemon-rss" && c.subject.starts_with("bird on n")));

    // Block mode: the block covers every pod; no node has a host route to withdraw.
    let (code, r, out) = churn(&[
        "-b",
        "bgp",
        "--pods",
        "6",
        "--concurrency",
        "2",
        "--cycles",
        "2",
    ]);
    assert_clean(code, &r, &out, &[2], 2, true);
    for (_, samples) in cycles(&r) {
        assert!(samples
            .iter()
            .all(|s| s.times.iter().all(|t| t.withdrawn_ns.is_none())));
    }
}

#[test]
fn the_reference_bridge_plugin_churns_through_add_and_del() {
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/cni/cbr0.conflist");
    let (code, r, out) = churn(&[
        "-b",
        "cni",
        "--cni-conf",
        conf.to_str().unwrap(),
        "--pods",
        "6",
        "--concurrency",
        "1,3",
        "--cycles",
        "2",
    ]);
    assert_clean(code, &r, &out, &[1, 3], 2, false);
    // Every pod went through the plugins: an ADD and a DEL each.
    let adds = r.plugin_calls.iter().filter(|c| c.verb == "ADD").count();
    assert!(adds >= 2 * (6 + 6), "{adds} ADDs");
}

#[test]
fn a_plugin_that_leaks_and_a_route_left_by_hand_are_caught() {
    // The rule-breaker's DEL keeps the IPAM reservation: host-local's file stays.
    let dir = std::env::temp_dir().join(format!("cnbench-churn-leak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("leaks.conflist");
    std::fs::write(
        &conf,
        r#"{"cniVersion": "1.1.0", "name": "rb", "plugins": [{"type": "cni-rulebreaker", "mode": "leaks",
            "ipam": {"type": "host-local", "subnet": "10.31.0.0/24", "routes": [{"dst": "0.0.0.0/0"}]}}]}"#,
    )
    .unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_cni-rulebreaker"));
    let path = format!("{}:/usr/lib/cni", bin.parent().unwrap().display());
    let (code, r, out) = churn(&[
        "-b",
        "cni",
        "--cni-conf",
        conf.to_str().unwrap(),
        "--cni-path",
        &path,
        "--pods",
        "3",
        "--concurrency",
        "1",
        "--cycles",
        "1",
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, 1, "{out}");
    let leaks: Vec<String> = failed(&r)
        .into_iter()
        .filter(|l| l.starts_with("leak "))
        .collect();
    assert!(
        leaks
            .iter()
            .any(|l| l.contains("backend's own parts") && l.contains("ipam ")),
        "{leaks:#?}"
    );

    // A route added by hand in a node while the pods churn is named as left.
    let mut run = Running::start(&[
        "churn",
        "-b",
        "bridge",
        "--pods",
        "30",
        "--concurrency",
        "1",
        "--cycles",
        "3",
    ]);
    let first = run.wait_for("cnbench churn ", Duration::from_secs(30));
    let id = run_id_of(&first);
    let _guard = Cleanup(vec![id.clone()]);
    run.wait_for("cycle 1/3", Duration::from_secs(60));
    let node = format!("cnb-{id}-n0");
    let added = Command::new("ip")
        .args(["-n", &node, "route", "add", "blackhole", "10.99.0.0/24"])
        .status()
        .unwrap();
    assert!(added.success());
    let code = run.wait(Duration::from_secs(120));
    run.drain();
    let seen = run.seen.join("\n");
    assert_eq!(code, Some(1), "{seen}");
    assert!(
        run.seen.iter().any(|l| l.starts_with("FAIL  leak  ")
            && l.contains(&node)
            && l.contains("left: route blackhole 10.99.0.0/24")),
        "{seen}"
    );
    assert_nothing_left(&id);
}

#[test]
fn an_interrupted_churn_tears_everything_down() {
    let mut run = Running::start_as_job(&[
        "churn",
        "-b",
        "vxlan",
        "--pods",
        "200",
        "--concurrency",
        "4",
        "--cycles",
        "20",
    ]);
    let first = run.wait_for("cnbench churn ", Duration::from_secs(30));
    let id = run_id_of(&first);
    let _guard = Cleanup(vec![id.clone()]);
    run.wait_for("cycle 1/20", Duration::from_secs(60));
    // Mid-cycle: some pods added, some being added.
    std::thread::sleep(Duration::from_millis(300));
    assert!(namespaces_of(&id).len() > 3, "{:?}", namespaces_of(&id));
    run.signal_group(libc::SIGINT);
    assert_eq!(run.wait(Duration::from_secs(60)), Some(130));
    assert_nothing_left(&id);
}
