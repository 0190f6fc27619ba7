//! `cnbench compare` and `cnbench report` through the binary: a real slowdown (a token
//! bucket on the client pod's interface) is a regression with exit 1, a result compared with
//! itself passes, bad input is exit 2 in one line, and a report is a self-contained page
//! with every plot as SVG and PNG.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{code, run, text, Cleanup};

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("cnbench-test-{}-{name}", std::process::id()))
}

/// `cnbench measure <id> --workloads tcp-stream --repeat 3 --json FILE`.
fn measure(id: &str, json: &Path) {
    let o = run(&[
        "measure",
        id,
        "--workloads",
        "tcp-stream",
        "--repeat",
        "3",
        "--duration",
        "0.5",
        "--warmup",
        "0.1",
        "--no-trace",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", text(&o));
}

#[test]
fn a_rate_limit_is_a_regression_and_the_same_result_is_not() {
    let o = run(&["up", "--backend", "bridge"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let id = common::run_id_of(&String::from_utf8_lossy(&o.stdout));
    let _guard = Cleanup(vec![id.clone()]);
    let (before, after) = (tmp("before.json"), tmp("after.json"));
    measure(&id, &before);

    // A token bucket of 200 Mbit/s on the client pod's eth0, inside the run's namespace.
    let pod = format!("cnb-{id}-n0p0");
    let st = Command::new("ip")
        .args([
            "netns", "exec", &pod, "tc", "qdisc", "add", "dev", "eth0", "root",
        ])
        .args(["tbf", "rate", "200mbit", "burst", "64kb", "latency", "50ms"])
        .status()
        .unwrap();
    assert!(st.success(), "tc tbf");
    measure(&id, &after);

    let (md, junit) = (tmp("cmp.md"), tmp("cmp.xml"));
    let o = run(&[
        "compare",
        before.to_str().unwrap(),
        after.to_str().unwrap(),
        "--markdown",
        md.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.lines()
            .any(|l| l.contains("throughput_bps") && l.contains("REGRESSION")),
        "{out}"
    );
    let md_text = std::fs::read_to_string(&md).unwrap();
    assert!(md_text.contains("**REGRESSION**"), "{md_text}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.starts_with("<?xml") && xml.contains("<failure"),
        "{xml}"
    );

    // The same result against itself: nothing to report, exit 0.
    let o = run(&[
        "compare",
        before.to_str().unwrap(),
        before.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", text(&o));

    let o = run(&["down", &id]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    common::assert_nothing_left(&id);
    for f in [before, after, md, junit] {
        let _ = std::fs::remove_file(f);
    }
}

#[test]
fn compare_refuses_what_cannot_be_compared() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("render/tests/data");
    let vxlan = data.join("vxlan.json");
    let hostgw = data.join("host-gw-l3.json");
    let one_line_exit_2 = |args: &[&str], needle: &str| {
        let o = run(args);
        assert_eq!(code(&o), 2, "{args:?}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    };
    one_line_exit_2(
        &["compare", vxlan.to_str().unwrap(), hostgw.to_str().unwrap()],
        "compare two runs of the same backend",
    );
    // Another schema version.
    let old = tmp("old-schema.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&vxlan).unwrap()).unwrap();
    v["schema_version"] = 1.into();
    std::fs::write(&old, v.to_string()).unwrap();
    one_line_exit_2(
        &["compare", old.to_str().unwrap(), vxlan.to_str().unwrap()],
        "schema_version 1",
    );
    one_line_exit_2(
        &["compare", vxlan.to_str().unwrap(), "/nonexistent.json"],
        "/nonexistent.json",
    );
    one_line_exit_2(
        &[
            "compare",
            vxlan.to_str().unwrap(),
            vxlan.to_str().unwrap(),
            "--metric-threshold",
            "rtt_p42_ns=5%",
        ],
        "rtt_p42_ns",
    );
    let _ = std::fs::remove_file(old);
}

/// `path`'s JSON changed by `edit`, written to a temporary file named `name`.
fn edited(path: &Path, name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    edit(&mut v);
    let out = tmp(name);
    std::fs::write(&out, v.to_string()).unwrap();
    out
}

/// Two results of different backends (a committed vxlan result, and the same figures named
/// bridge) are refused without `--across-backends`, naming it, and compared with it: by
/// workload, variant and path, conformance by its verdicts; a failed check on the candidate's
/// side is a regression.
#[test]
fn compare_across_backends_when_asked() {
    let vxlan = Path::new(env!("CARGO_MANIFEST_DIR")).join("render/tests/data/vxlan.json");
    let bridge = edited(&vxlan, "across-bridge.json", |v| {
        v["parameters"]["backend"] = "bridge".into();
    });
    let (b, c) = (vxlan.to_str().unwrap(), bridge.to_str().unwrap());

    let o = run(&["compare", b, c]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains(
            "the baseline is backend vxlan but the candidate is backend bridge; compare two \
             runs of the same backend (`cnbench run --backend vxlan` for both) or pass \
             --across-backends to compare them by workload, variant and path"
        ),
        "{err}"
    );

    let (md, junit) = (tmp("across.md"), tmp("across.xml"));
    let o = run(&[
        "compare",
        b,
        c,
        "--across-backends",
        "--markdown",
        md.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        "--json",
        "-",
    ]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let table = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        table.lines().next(),
        Some(
            "compare vxlan (baseline) vs bridge (candidate), across backends: baseline run \
             e5e9fa (c57ca2e0e8e7) against candidate run e5e9fa (c57ca2e0e8e7)"
        ),
        "{table}"
    );
    assert!(
        table.contains(
            "checks: not compared one by one across backends (their devices and names \
             differ): only whether each run passed them all\n  pass         baseline: all 90 \
             checks passed; candidate: all 90 checks passed"
        ),
        "{table}"
    );
    assert!(table.contains("\nverdict: pass: "), "{table}");
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["across_backends"], true);
    assert_eq!(json["baseline"]["backend"], "vxlan");
    assert_eq!(json["candidate"]["backend"], "bridge");
    assert_eq!(json["conformance"]["verdict"], "pass");
    assert_eq!(json["checks"], serde_json::json!([]));
    // 56 timed metrics and 30 exact counts (5 per request/response measurement).
    assert_eq!(json["metrics"].as_array().unwrap().len(), 86);
    assert_eq!(
        json["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["scale"] == "per_packet")
            .count(),
        30
    );
    let md_text = std::fs::read_to_string(&md).unwrap();
    assert!(
        md_text.starts_with(
            "### cnbench compare vxlan (baseline) vs bridge (candidate), across backends: \
             **pass**"
        ),
        "{md_text}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("cnbench compare vxlan (baseline) vs bridge (candidate), across backends")
            && !xml.contains("<failure"),
        "{xml}"
    );

    // A check the candidate failed, where the baseline failed none: a regression, named.
    let failing = edited(&bridge, "across-bridge-failing.json", |v| {
        v["checks"][0]["outcome"] = "fail".into();
    });
    let o = run(&["compare", b, failing.to_str().unwrap(), "--across-backends"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(
            "  REGRESSION   baseline: all 90 checks passed; candidate: 1 of 90 checks failed \
             (devices cnb-<run>-n0)"
        ),
        "{out}"
    );
    assert!(
        out.contains("\nverdict: REGRESSION: 1 regression, "),
        "{out}"
    );

    // One backend, two pod wirings: compared only when asked, across backend options.
    let with_wiring = |name: &str, wiring: &str| {
        edited(&vxlan, name, |v| {
            v["schema_version"] = reports::SCHEMA_VERSION.into();
            v["parameters"]["backend_options"] = serde_json::json!({ "pod-wiring": wiring });
        })
    };
    let builtin = with_wiring("across-builtin.json", "builtin");
    let cni = with_wiring("across-cni.json", "cni");
    let (bw, cw) = (builtin.to_str().unwrap(), cni.to_str().unwrap());
    let o = run(&["compare", bw, cw, "--across-backends"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.starts_with(
            "compare vxlan pod-wiring=builtin (baseline) vs vxlan pod-wiring=cni (candidate), \
             across backend options: "
        ),
        "{out}"
    );
    let o = run(&["compare", bw, cw]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("checks: 90 compared"), "{out}");
    assert!(
        out.contains("backend option pod-wiring differs (baseline builtin, candidate cni)"),
        "{out}"
    );

    for f in [bridge, failing, builtin, cni, md, junit] {
        let _ = std::fs::remove_file(f);
    }
}

#[test]
fn report_writes_a_self_contained_page_and_every_plot() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("render/tests/data");
    let out = tmp("report");
    let _ = std::fs::remove_dir_all(&out);
    let files: Vec<String> = ["vxlan.json", "host-gw-l3.json", "bgp-scale.json"]
        .iter()
        .map(|f| data.join(f).to_string_lossy().into_owned())
        .collect();
    let mut args = vec!["report"];
    args.extend(files.iter().map(String::as_str));
    args.extend(["--out", out.to_str().unwrap()]);
    let o = run(&args);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(!html.contains("http://") && !html.contains("https://"));
    assert!(!html.contains("<script src"));
    for plot in [
        "throughput",
        "latency",
        "cpu-per-gb",
        "crossings-per-packet",
        "bgp-scale",
    ] {
        for ext in ["svg", "png"] {
            let f = out.join(format!("{plot}.{ext}"));
            assert!(
                f.metadata().map(|m| m.len() > 1000).unwrap_or(false),
                "{f:?}"
            );
        }
    }
    assert!(html.matches("<svg").count() >= 5);
    assert!(out.join("summary.md").exists());
    let _ = std::fs::remove_dir_all(&out);
}

/// A committed version 5 result (a gate baseline from before schema 6) is still read by
/// `compare` and `report`: against a version 6 candidate of the same figures it passes, and
/// both go into one report.
#[test]
fn a_schema_5_baseline_survives_the_upgrade() {
    let v5 = Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/tests/data/vxlan-schema-v5.json");
    let v6 = tmp("candidate-v6.json");
    let mut v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&v5)
            .unwrap()
            .replace("e5e9fa", "c0ffee"),
    )
    .unwrap();
    assert_eq!(v["schema_version"], 5);
    v["schema_version"] = reports::SCHEMA_VERSION.into();
    v["parameters"]["backend_options"] = serde_json::json!({"datapath": "kernel"});
    std::fs::write(&v6, v.to_string()).unwrap();

    let o = run(&["compare", v5.to_str().unwrap(), v6.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("baseline run e5e9fa") && out.contains("candidate run c0ffee"),
        "{out}"
    );
    assert!(out.contains("verdict: pass"), "{out}");

    let report = tmp("report-v5");
    let _ = std::fs::remove_dir_all(&report);
    let o = run(&[
        "report",
        v5.to_str().unwrap(),
        v6.to_str().unwrap(),
        "--out",
        report.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert!(html.contains("e5e9fa") && html.contains("c0ffee"));
    let _ = std::fs::remove_dir_all(&report);
    let _ = std::fs::remove_file(v6);
}
