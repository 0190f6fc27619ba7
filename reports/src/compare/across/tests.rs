//! Comparisons across backends: refused without the option, compared with it by workload,
//! variant and path, checks by their verdicts.

use std::collections::BTreeMap;
use std::path::Path;

use crate::compare::*;
use crate::fixtures::{of_backend, rr_result, stream_result};
use crate::schema::{CheckOutcome, CheckRecord, RunResult};

fn across() -> CompareOptions {
    CompareOptions {
        across_backends: true,
        ..CompareOptions::default()
    }
}

fn with_options(mut r: RunResult, options: &[(&str, &str)]) -> RunResult {
    let map: BTreeMap<String, String> = options
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    r.parameters.set_backend_options(map);
    r
}

fn fail(r: &mut RunResult, i: usize) {
    r.checks[i].outcome = CheckOutcome::Fail;
    r.checks[i].actual = "no reply".into();
}

#[test]
fn different_backends_are_refused_without_the_option() {
    let bridge = of_backend(rr_result("base01", 1.0), "bridge");
    let cni = of_backend(rr_result("cand02", 1.0), "cni");
    let err = compare(&bridge, &cni, &CompareOptions::default()).unwrap_err();
    assert_eq!(
        err,
        CompareError::BackendMismatch {
            baseline: "bridge".into(),
            candidate: "cni".into()
        }
    );
    let message = err.to_string();
    assert!(
        message
            .ends_with("or pass --across-backends to compare them by workload, variant and path"),
        "{message}"
    );
    assert!(!message.contains('\n'));
}

#[test]
fn identical_measurements_of_two_backends_pass() {
    let bridge = of_backend(rr_result("base01", 1.0), "bridge");
    let cni = with_options(
        of_backend(rr_result("cand02", 1.0), "cni"),
        &[("cni-conf", "docker0.conflist")],
    );
    let c = compare(&bridge, &cni, &across()).unwrap();
    assert!(c.across_backends);
    assert!(c.options.across_backends);
    assert_eq!(
        (c.baseline.backend.as_str(), c.candidate.backend.as_str()),
        ("bridge", "cni")
    );
    assert_eq!(
        c.candidate
            .backend_options
            .get("cni-conf")
            .map(String::as_str),
        Some("docker0.conflist")
    );
    assert_eq!(
        c.option_changes,
        [OptionChange {
            option: "cni-conf".into(),
            baseline: None,
            candidate: Some("docker0.conflist".into()),
        }]
    );
    // Every metric matched by workload, variant and path, and decided as always.
    assert_eq!(c.metrics.len(), 7);
    assert!(c
        .metrics
        .iter()
        .all(|m| m.change == 0.0 && matches!(m.verdict, Verdict::Pass | Verdict::Info)));
    // Checks are not compared one by one; the verdicts are, and both passed.
    assert!(c.checks.is_empty());
    let conformance = c.conformance.as_ref().unwrap();
    assert_eq!(conformance.verdict, Verdict::Pass);
    assert_eq!(conformance.baseline.checks, 3);
    assert!(conformance.baseline.passed() && conformance.candidate.passed());
    // Differing options are the point here: no warning about them.
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(c.verdict, Verdict::Pass);
    assert_eq!(c.exit_code(), 0);
    // Six metrics and the conformance pass; rtt_max_ns is information.
    assert_eq!((c.counts().pass, c.counts().info), (7, 1));
}

#[test]
fn a_failed_check_on_the_candidate_side_is_a_regression() {
    let bridge = of_backend(rr_result("base01", 1.0), "bridge");
    let mut cni = of_backend(rr_result("cand02", 1.0), "cni");
    fail(&mut cni, 0);
    // The candidate has other checks than the baseline: nothing to match them with.
    cni.checks.push(CheckRecord {
        check: "cni-result".into(),
        subject: "cnb-cand02-n0p0 eth0".into(),
        expected: "100.96.0.2/24".into(),
        actual: "none".into(),
        outcome: CheckOutcome::Fail,
        reason: None,
    });
    let c = compare(&bridge, &cni, &across()).unwrap();
    let conformance = c.conformance.as_ref().unwrap();
    assert_eq!(conformance.verdict, Verdict::Regression);
    assert_eq!(
        conformance.candidate.failed,
        [
            "reachability cnb-<run>-n0p0 -> 100.96.1.2 icmp",
            "cni-result cnb-<run>-n0p0 eth0"
        ]
    );
    assert_eq!(conformance.candidate.checks, 4);
    assert!(conformance.baseline.failed.is_empty());
    assert!(c.checks.is_empty());
    // No warning about checks only in one result: they are not matched across backends.
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(c.verdict, Verdict::Regression);
    assert_eq!(c.exit_code(), 1);
    assert_eq!(c.counts().regression, 1);

    // The other way round: an improvement. Failing on both sides: pass, as a check failing
    // in both does one by one.
    let back = compare(&cni, &bridge, &across()).unwrap();
    assert_eq!(
        back.conformance.as_ref().unwrap().verdict,
        Verdict::Improvement
    );
    assert_eq!(back.exit_code(), 0);
    let mut bridge_failing = bridge.clone();
    fail(&mut bridge_failing, 1);
    let both = compare(&bridge_failing, &cni, &across()).unwrap();
    let conformance = both.conformance.as_ref().unwrap();
    assert_eq!(conformance.verdict, Verdict::Pass);
    assert_eq!(conformance.baseline.failed, ["mtu cnb-<run>-n1:flannel.1"]);
    assert_eq!(both.exit_code(), 0);
    // An expected failure is not a failure.
    let mut xfail = cni.clone();
    xfail.checks.truncate(3);
    xfail.checks[0].outcome = CheckOutcome::ExpectedFailure;
    let c = compare(&bridge, &xfail, &across()).unwrap();
    assert_eq!(c.conformance.unwrap().verdict, Verdict::Pass);
}

#[test]
fn checks_that_do_not_apply_are_counted_apart_and_decide_nothing() {
    let bridge = of_backend(rr_result("base01", 1.0), "bridge");
    let mut cni = of_backend(rr_result("cand02", 1.0), "cni");
    cni.checks
        .push(crate::fixtures::not_applicable_check(&cni.run_id));
    let c = compare(&bridge, &cni, &across()).unwrap();
    let conformance = c.conformance.as_ref().unwrap();
    assert_eq!(conformance.verdict, Verdict::Pass);
    assert_eq!(
        (
            conformance.candidate.checks,
            conformance.candidate.not_applicable
        ),
        (3, 1)
    );
    assert!(conformance.candidate.passed());
    assert_eq!(conformance.baseline.not_applicable, 0);
    let v = serde_json::to_value(&c).unwrap();
    assert_eq!(v["conformance"]["candidate"]["not_applicable"], 1);
    // Left out when there are none, and read as none when absent.
    assert!(v["conformance"]["baseline"].get("not_applicable").is_none());
    let back: Comparison = serde_json::from_value(v).unwrap();
    assert_eq!(back.conformance, c.conformance);
    // A failure beside it still decides.
    fail(&mut cni, 0);
    let c = compare(&bridge, &cni, &across()).unwrap();
    assert_eq!(c.conformance.unwrap().verdict, Verdict::Regression);
}

#[test]
fn measurements_are_decided_as_always_across_backends() {
    let bridge = of_backend(stream_result("base01", &[10.0e9, 10.1e9, 9.9e9]), "bridge");
    let cni = of_backend(stream_result("cand02", &[7.0e9, 7.05e9, 6.95e9]), "cni");
    let c = compare(&bridge, &cni, &across()).unwrap();
    assert_eq!(c.metrics[0].verdict, Verdict::Regression);
    assert_eq!(c.conformance.as_ref().unwrap().verdict, Verdict::Pass);
    assert_eq!(c.exit_code(), 1);
    // A measurement the candidate lacks is still bad input.
    let mut other_path = cni.clone();
    other_path.measurements[0].path = "same-node".into();
    assert_eq!(
        compare(&bridge, &other_path, &across()).unwrap_err(),
        CompareError::MissingMeasurement {
            measurement: "tcp-stream cross-node".into()
        }
    );
    // And an emulated result against a native one is refused, across backends too.
    let mut emulated = cni.clone();
    emulated.substrate = crate::Substrate::vm_tcg("6.1.0-56-cloud-amd64");
    assert!(matches!(
        compare(&bridge, &emulated, &across()),
        Err(CompareError::SubstrateMismatch { .. })
    ));
}

#[test]
fn one_backend_with_other_options_is_across_only_when_asked() {
    let builtin = with_options(rr_result("base01", 1.0), &[("pod-wiring", "builtin")]);
    let mut cni = with_options(
        rr_result("cand02", 1.0),
        &[("pod-wiring", "cni"), ("cni-conf", "bridge.conflist")],
    );
    fail(&mut cni, 0);
    let changes = vec![
        OptionChange {
            option: "cni-conf".into(),
            baseline: None,
            candidate: Some("bridge.conflist".into()),
        },
        OptionChange {
            option: "pod-wiring".into(),
            baseline: Some("builtin".into()),
            candidate: Some("cni".into()),
        },
    ];

    // Without the option: compared check by check, as always, with a warning per option.
    let c = compare(&builtin, &cni, &CompareOptions::default()).unwrap();
    assert!(!c.across_backends);
    assert_eq!(c.option_changes, changes);
    assert_eq!(c.checks.len(), 3);
    assert_eq!(c.checks[0].verdict, Verdict::Regression);
    assert!(c.conformance.is_none());
    assert_eq!(
        c.warnings,
        [
            "backend option cni-conf differs (baseline not given, candidate bridge.conflist): \
             figures and checks may differ for that reason alone; run both with the same \
             --cni-conf, or pass --across-backends to compare the two on purpose",
            "backend option pod-wiring differs (baseline builtin, candidate cni): figures and \
             checks may differ for that reason alone; run both with the same --pod-wiring, or \
             pass --across-backends to compare the two on purpose"
        ]
    );

    // With it: across backends (one backend, two wirings), the verdicts compared.
    let c = compare(&builtin, &cni, &across()).unwrap();
    assert!(c.across_backends);
    assert_eq!(c.option_changes, changes);
    assert!(c.checks.is_empty());
    assert_eq!(c.conformance.as_ref().unwrap().verdict, Verdict::Regression);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(c.exit_code(), 1);

    // Asked, but nothing differs: an ordinary comparison.
    let c = compare(&builtin, &builtin, &across()).unwrap();
    assert!(!c.across_backends);
    assert!(c.option_changes.is_empty());
    assert_eq!(c.checks.len(), 3);
    assert!(c.conformance.is_none());
}

#[test]
fn options_a_schema_5_result_did_not_record_are_not_differences() {
    let mut v5 = rr_result("base01", 1.0);
    v5.schema_version = 5;
    let v6 = with_options(rr_result("cand02", 1.0), &[("datapath", "kernel")]);
    let c = compare(&v5, &v6, &across()).unwrap();
    assert!(c.option_changes.is_empty(), "{:?}", c.option_changes);
    assert!(!c.across_backends);
    assert_eq!(c.checks.len(), 3);
    // What a version 5 result did record counts, by its own field.
    v5.parameters.datapath = Some("batched".into());
    let c = compare(&v5, &v6, &CompareOptions::default()).unwrap();
    assert_eq!(c.baseline.backend_options["datapath"], "batched");
    assert_eq!(
        c.option_changes,
        [OptionChange {
            option: "datapath".into(),
            baseline: Some("batched".into()),
            candidate: Some("kernel".into()),
        }]
    );
    // Between two version 5 results, one given and one not is a difference.
    let mut other_v5 = rr_result("cand02", 1.0);
    other_v5.schema_version = 5;
    let c = compare(&other_v5, &v5, &CompareOptions::default()).unwrap();
    assert_eq!(c.option_changes.len(), 1);
    assert!(c.warnings[0]
        .starts_with("backend option datapath differs (baseline not given, candidate batched)"));
}

#[test]
fn a_side_without_checks_is_warned_about() {
    let bridge = of_backend(rr_result("base01", 1.0), "bridge");
    let mut cni = of_backend(rr_result("cand02", 1.0), "cni");
    cni.checks.clear();
    let c = compare(&bridge, &cni, &across()).unwrap();
    assert!(c.conformance.is_none());
    assert_eq!(
        c.warnings,
        [
            "the candidate has no conformance checks: conformance not compared; compare results \
          that both hold checks (as `cnbench run --json` writes them)"
        ]
    );
    assert_eq!(c.exit_code(), 0);
    let mut neither = bridge.clone();
    neither.checks.clear();
    let c = compare(&neither, &cni, &across()).unwrap();
    assert!(c.conformance.is_none() && c.warnings.is_empty());
}

#[test]
fn a_comparison_across_backends_round_trips_through_json() {
    let bridge = of_backend(rr_result("base01", 1.0), "bridge");
    let mut cni = of_backend(rr_result("cand02", 1.0), "cni");
    fail(&mut cni, 0);
    let c = compare(&bridge, &cni, &across()).unwrap();
    let v = serde_json::to_value(&c).unwrap();
    assert_eq!(v["across_backends"], true);
    assert_eq!(v["options"]["across_backends"], true);
    assert_eq!(v["baseline"]["backend"], "bridge");
    assert_eq!(v["candidate"]["backend"], "cni");
    assert_eq!(v["conformance"]["verdict"], "regression");
    assert_eq!(
        v["conformance"]["candidate"]["failed"][0],
        "reachability cnb-<run>-n0p0 -> 100.96.1.2 icmp"
    );
    assert_eq!(v["checks"], serde_json::json!([]));
    let back: Comparison = serde_json::from_value(v).unwrap();
    assert_eq!(back.conformance, c.conformance);
    // A comparison written before these fields existed still reads.
    let mut old =
        serde_json::to_value(compare(&bridge, &bridge, &CompareOptions::default()).unwrap())
            .unwrap();
    let o = old.as_object_mut().unwrap();
    o.remove("across_backends");
    o["options"]
        .as_object_mut()
        .unwrap()
        .remove("across_backends");
    let back: Comparison = serde_json::from_value(old).unwrap();
    assert!(!back.across_backends && !back.options.across_backends);
}

#[test]
fn real_results_of_two_backends_compare_on_the_paths_both_measured() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../render/tests/data");
    let vxlan = crate::read_result(&data.join("vxlan.json")).unwrap();
    let host_gw = crate::read_result(&data.join("host-gw-l3.json")).unwrap();
    // host-gw on an l3 underlay measured same-node only; vxlan both paths.
    let c = compare(&host_gw, &vxlan, &across()).unwrap();
    assert!(c.across_backends);
    assert!(c.metrics.iter().all(|m| m.path == "same-node"));
    assert!(c.checks.is_empty());
    let conformance = c.conformance.as_ref().unwrap();
    assert_eq!(
        (conformance.baseline.checks, conformance.candidate.checks),
        (host_gw.checks.len(), vxlan.checks.len())
    );
    assert!(
        c.warnings
            .iter()
            .any(|w| w == "tcp-stream cross-node is only in the candidate: not compared"),
        "{:?}",
        c.warnings
    );
    assert!(
        c.warnings.iter().any(|w| w.starts_with("underlay differs")),
        "{:?}",
        c.warnings
    );
    // The other way round, vxlan's cross-node measurements have no counterpart.
    assert!(matches!(
        compare(&vxlan, &host_gw, &across()),
        Err(CompareError::MissingMeasurement { .. })
    ));
}

#[test]
fn different_ip_families_are_refused_even_across_backends() {
    let v4 = rr_result("base01", 1.0);
    let mut v6 = rr_result("cand02", 1.0);
    v6.parameters.ip_family = Some("ipv6".into());
    for options in [CompareOptions::default(), across()] {
        let err = compare(&v4, &v6, &options).unwrap_err();
        assert_eq!(
            err,
            CompareError::FamilyMismatch {
                baseline: "ipv4".into(),
                candidate: "ipv6".into()
            }
        );
        assert!(err
            .to_string()
            .ends_with("(run the candidate with --ip-family ipv4)"));
    }
    // A file written before schema version 8 has no family: it is IPv4, comparable with one.
    let mut old = rr_result("old001", 1.0);
    old.parameters.ip_family = None;
    assert!(compare(&old, &v4, &CompareOptions::default()).is_ok());
    let json = serde_json::to_value(&v4).unwrap();
    let mut map = json.as_object().unwrap().clone();
    map["parameters"]
        .as_object_mut()
        .unwrap()
        .remove("ip_family");
    map.insert("schema_version".into(), 7.into());
    let read: RunResult = serde_json::from_value(map.into()).unwrap();
    assert_eq!(read.parameters.ip_family(), "ipv4");
}
