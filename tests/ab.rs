//! `cnbench ab` and `cnbench calibrate` through the binary, on real bridge runs: a large
//! change decided and the pairs stopping there; a budget too small to
//! decide anything ending inconclusive; the order of the pairs from the seed; a calibration
//! written, read back by `compare`, and refused when it is of another machine or cnbench
//! version; and every bad input refused before a single run.

mod common;

use std::path::PathBuf;

use common::{cnb_namespaces, code, run, text};

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("cnbench-ab-test-{}-{name}", std::process::id()))
}

/// Short runs of bridge tcp-rr: one workload, no traced repetition.
const QUICK: &[&str] = &[
    "--backend",
    "bridge",
    "--workloads",
    "tcp-rr",
    "--duration",
    "0.2",
    "--warmup",
    "0.05",
    "--no-trace",
];

fn ab(extra: &[&str]) -> std::process::Output {
    let mut args = vec!["ab"];
    args.extend_from_slice(extra);
    args.push("--");
    args.extend_from_slice(QUICK);
    run(&args)
}

fn read(path: &PathBuf) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_large_change_is_decided_and_the_pairs_stop() {
    let before = cnb_namespaces();
    let json = tmp("big.json");
    // 16000-byte requests and responses against 64-byte ones: every round trip is longer.
    let o = ab(&[
        "--b",
        "--message-size 16000",
        "--budget",
        "120s",
        "--seed",
        "42",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    let v = read(&json);
    let pairs = v["pairs"].as_array().unwrap();
    // On a quiet machine the first look (3 pairs) decides; other work on the machine makes
    // the pairs scatter and takes more.
    assert!(
        v["stopped"].as_str().unwrap().starts_with(&format!(
            "every gated metric decided after {} pairs",
            pairs.len()
        )),
        "{}",
        v["stopped"]
    );
    // The order of the pairs is the seed's.
    let orders: Vec<String> = pairs
        .iter()
        .map(|p| p["order"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = reports::paired::orders(42, pairs.len())
        .iter()
        .map(|o| {
            serde_json::to_value(o)
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(orders, expected);
    let metrics = v["comparison"]["metrics"].as_array().unwrap();
    let p50 = metrics
        .iter()
        .find(|m| m["metric"] == "rtt_p50_ns")
        .unwrap();
    assert_eq!(p50["verdict"], "regression", "{p50}");
    assert_eq!(
        p50["baseline_values"].as_array().unwrap().len(),
        pairs.len()
    );
    assert_eq!(v["comparison"]["verdict"], "regression");
    assert!(text(&o).contains("decided after "), "{}", text(&o));
    assert_eq!(cnb_namespaces(), before, "namespaces left behind");
    let _ = std::fs::remove_file(json);
}

#[test]
fn a_budget_spent_before_a_decision_is_inconclusive() {
    let json = tmp("budget.json");
    // A pair takes at least 0.5 s (two runs of a 0.25 s measurement), so at most two fit.
    let o = ab(&["--aa", "--budget", "1s", "--json", json.to_str().unwrap()]);
    assert_eq!(code(&o), 3, "{}", text(&o));
    let v = read(&json);
    let n = v["pairs"].as_array().unwrap().len();
    assert!((1..3).contains(&n), "{n} pairs in 1 s");
    let stopped = v["stopped"].as_str().unwrap();
    assert!(
        stopped.starts_with("the budget of 1 s is spent after")
            && stopped.contains("inconclusive: tcp-rr"),
        "{stopped}"
    );
    assert_eq!(v["aa"], true);
    // A/A: never a regression.
    assert!(v["comparison"]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["verdict"] != "regression"));
    let _ = std::fs::remove_file(json);
}

#[test]
fn bad_input_is_refused_before_any_run() {
    let before = cnb_namespaces();
    for (args, says) in [
        (
            vec!["--budget", "60s"],
            "sides A and B are the same configuration",
        ),
        (
            vec!["--aa", "--b", "--streams 2"],
            "--aa runs one configuration on both sides",
        ),
        (
            vec!["--b", "--streams 2", "--budget", "0.1s"],
            "one pair takes at least",
        ),
        (
            vec!["--b", "--streams 2", "--budget", "soon"],
            "give a duration",
        ),
        (vec!["--b", "--repeat 5"], "--repeat: ab and calibrate set"),
        (vec!["--b", "--bogus"], "--bogus"),
        (vec!["--b", "'unbalanced"], "unbalanced quotes"),
        (
            vec!["--b", "--streams 2", "--a-exe", "/nonexistent/cnbench"],
            "no such executable",
        ),
    ] {
        let o = ab(&args);
        assert_eq!(code(&o), 2, "{args:?}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
    }
    assert_eq!(cnb_namespaces(), before);
}

#[test]
fn a_calibration_is_read_back_by_compare_and_refused_elsewhere() {
    let cal = tmp("cal.json");
    let mut args = vec![
        "calibrate",
        "--pairs",
        "3",
        "--out",
        cal.to_str().unwrap(),
        "--",
    ];
    args.extend_from_slice(QUICK);
    let o = run(&args);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let v = read(&cal);
    assert_eq!(v["backend"], "bridge");
    assert_eq!(v["pairs"], 3);
    let p50 = v["noise"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["metric"] == "rtt_p50_ns" && n["path"] == "same-node")
        .unwrap()
        .clone();
    assert_eq!(p50["runs"], 6);
    let noise = p50["run_to_run"].as_f64().unwrap();
    assert!(noise > 0.0 && noise < 0.5, "{p50}");

    // Two results to compare with it.
    let (r1, r2) = (tmp("r1.json"), tmp("r2.json"));
    for r in [&r1, &r2] {
        let mut args = vec!["run", "--no-baseline", "--json", r.to_str().unwrap()];
        args.extend_from_slice(QUICK);
        let o = run(&args);
        assert_eq!(code(&o), 0, "{}", text(&o));
    }
    let compare = |cal: &PathBuf| {
        run(&[
            "compare",
            r1.to_str().unwrap(),
            r2.to_str().unwrap(),
            "--calibration",
            cal.to_str().unwrap(),
        ])
    };
    let o = compare(&cal);
    assert!([0, 3].contains(&code(&o)), "{}", text(&o));
    assert!(
        text(&o).contains("noise floor measured by cnbench calibrate (3 A/A pairs of bridge"),
        "{}",
        text(&o)
    );
    // Without it: the fixed floor, said so.
    let o = run(&[
        "compare",
        r1.to_str().unwrap(),
        r2.to_str().unwrap(),
        "--no-calibration",
    ]);
    assert!(
        text(&o).contains("noise floor: the fixed 7%"),
        "{}",
        text(&o)
    );

    // Another machine, another cnbench version: refused with what to do.
    for (field, value, says) in [
        (
            "machine",
            serde_json::json!({"machine_id": "0000", "hostname": "elsewhere", "cpu_count": 2, "kernel": "x"}),
            "another machine",
        ),
        (
            "cnbench_version",
            serde_json::json!("0.0.1"),
            "measured by cnbench 0.0.1",
        ),
    ] {
        let mut doctored = v.clone();
        doctored[field] = value;
        let other = tmp(&format!("cal-{field}.json"));
        std::fs::write(&other, doctored.to_string()).unwrap();
        let o = compare(&other);
        assert_eq!(code(&o), 2, "{}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(says) && err.contains("cnbench calibrate --backend bridge"),
            "{err}"
        );
        let _ = std::fs::remove_file(other);
    }
    for f in [cal, r1, r2] {
        let _ = std::fs::remove_file(f);
    }
}

#[test]
fn an_extra_hop_is_one_more_transmission_per_packet_and_decides_alone() {
    let before = cnb_namespaces();
    let (plain, hop) = (tmp("plain.json"), tmp("hop.json"));
    for (file, tweaks) in [
        (&plain, vec![]),
        (
            &hop,
            vec![
                "--tweak",
                "extra-hop",
                "--tweak",
                "sysctl:net.ipv4.tcp_slow_start_after_idle=0",
            ],
        ),
    ] {
        let mut args = vec!["run", "--no-baseline", "--json", file.to_str().unwrap()];
        args.extend_from_slice(QUICK);
        args.extend(tweaks);
        let o = run(&args);
        assert_eq!(code(&o), 0, "{}", text(&o));
    }
    let v = read(&hop);
    assert_eq!(
        v["parameters"]["tweaks"],
        serde_json::json!(["extra-hop", "sysctl:net.ipv4.tcp_slow_start_after_idle=0"])
    );
    let json = tmp("hop-cmp.json");
    let o = run(&[
        "compare",
        plain.to_str().unwrap(),
        hop.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    let cmp = read(&json);
    let tx = cmp["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == "device_tx_per_packet")
        .unwrap()
        .clone();
    assert_eq!(tx["verdict"], "regression", "{tx}");
    assert!((tx["change"].as_f64().unwrap() - 1.0).abs() < 0.01, "{tx}");
    assert!(text(&o).contains("tweaks differs (baseline none, candidate extra-hop"));
    // A tweak the kernel cannot do, or that does not parse: refused, nothing left.
    let mut args = vec!["run", "--no-baseline", "--tweak", "wormhole"];
    args.extend_from_slice(QUICK);
    let o = run(&args);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown tweak wormhole"));
    assert_eq!(cnb_namespaces(), before, "namespaces left behind");
    for f in [plain, hop, json] {
        let _ = std::fs::remove_file(f);
    }
}
