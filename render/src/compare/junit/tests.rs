//! The JUnit XML is read back with quick-junit's own parser, so these tests check what a CI
//! system reads, not the text.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use reports::fixtures::{noisy_rr_result, of_backend, rr_result};
use reports::{compare, CheckOutcome, CompareOptions, Substrate};

use super::junit;

fn parse(xml: &str) -> Report {
    assert!(
        xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
        "{xml}"
    );
    Report::deserialize_from_str(xml).unwrap_or_else(|e| panic!("{e}\n{xml}"))
}

fn cases(r: &Report) -> Vec<&TestCase> {
    r.test_suites.iter().flat_map(|s| &s.test_cases).collect()
}

/// (message, type, description) of every failure, in document order.
fn failures(r: &Report) -> Vec<(String, String, String)> {
    cases(r)
        .iter()
        .filter_map(|c| match &c.status {
            TestCaseStatus::NonSuccess {
                kind: NonSuccessKind::Failure,
                message,
                ty,
                description,
                ..
            } => Some((
                message
                    .as_ref()
                    .map(|m| m.as_str().to_owned())
                    .unwrap_or_default(),
                ty.as_ref()
                    .map(|t| t.as_str().to_owned())
                    .unwrap_or_default(),
                description
                    .as_ref()
                    .map(|d| d.as_str().to_owned())
                    .unwrap_or_default(),
            )),
            _ => None,
        })
        .collect()
}

fn skipped(r: &Report) -> Vec<String> {
    cases(r)
        .iter()
        .filter_map(|c| match &c.status {
            TestCaseStatus::Skipped { message, .. } => Some(
                message
                    .as_ref()
                    .map(|m| m.as_str().to_owned())
                    .unwrap_or_default(),
            ),
            _ => None,
        })
        .collect()
}

fn property(s: &TestSuite, name: &str) -> Option<String> {
    s.properties
        .iter()
        .find(|p| p.name.as_str() == name)
        .map(|p| p.value.as_str().to_owned())
}

fn classname(c: &TestCase) -> &str {
    c.classname.as_ref().map(|n| n.as_str()).unwrap_or("")
}

#[test]
fn regressions_fail_and_inconclusive_rows_are_skipped() {
    let base = rr_result("base01", 1.0);
    let mut cand = rr_result("cand02", 2.0);
    cand.checks[0].outcome = CheckOutcome::Fail;
    cand.checks[0].actual = "no reply".into();
    let cmp = compare(&base, &cand, &CompareOptions::default()).unwrap();
    let r = parse(&junit(&cmp));
    assert_eq!((r.tests, r.failures, r.skipped, r.errors), (10, 6, 1, 0));
    assert_eq!(r.test_suites.len(), 2);
    let (metrics, checks) = (&r.test_suites[0], &r.test_suites[1]);
    assert_eq!(metrics.name.as_str(), "cnbench compare vxlan: metrics");
    assert_eq!(metrics.tests, 7);
    assert_eq!(checks.name.as_str(), "cnbench compare vxlan: checks");
    assert_eq!(checks.failures, 1);

    let all = cases(&r);
    assert_eq!(all.len(), 10);
    assert_eq!(classname(all[1]), "cnbench.vxlan.tcp-rr.cross-node");
    assert_eq!(all[1].name.as_str(), "rtt_p50_ns");
    let failed = failures(&r);
    assert_eq!(failed.len(), 6);
    assert_eq!(
        failed[1].0,
        "round trip p50 (rtt_p50_ns) regressed: baseline 14.5 µs, candidate 29.0 µs, change +100.0% \
         (95% interval [+94.1%, +106.1%], threshold 5%)"
    );
    assert_eq!(failed[1].1, "regression");
    assert!(
        failed[1].2.starts_with(
            "REGRESSION: tcp-rr cross-node round trip p50 (rtt_p50_ns): 14.5 µs -> 29.0 µs"
        ),
        "{}",
        failed[1].2
    );
    // The check: class, subject with the run id replaced, and the message.
    let check = all[7];
    assert_eq!(classname(check), "cnbench.vxlan.checks.reachability");
    assert_eq!(check.name.as_str(), "cnb-<run>-n0p0 -> 100.96.1.2 icmp");
    assert!(failed[5].0.starts_with(
        "check reachability stopped passing: baseline PASS (reply in 41 µs), candidate FAIL \
         (no reply)"
    ));
    // The runs are described.
    assert_eq!(
        property(metrics, "baseline.git_revision").as_deref(),
        Some("abc123")
    );
    assert_eq!(property(metrics, "verdict").as_deref(), Some("REGRESSION"));

    let noisy = compare(
        &noisy_rr_result("base01", 1),
        &noisy_rr_result("cand02", 2),
        &CompareOptions::default(),
    )
    .unwrap();
    let r = parse(&junit(&noisy));
    let skipped = skipped(&r);
    assert_eq!(skipped.len(), 5);
    assert!(
        skipped[0].starts_with("inconclusive: baseline 59.03 k/s"),
        "{}",
        skipped[0]
    );
    assert!(
        skipped[0].ends_with("run more repetitions (--repeat 5) or longer (--duration)"),
        "{}",
        skipped[0]
    );
    assert_eq!((r.failures, r.skipped), (0, 5));
}

#[test]
fn everything_from_the_results_is_escaped() {
    let base = rr_result("base01", 1.0);
    let mut cand = rr_result("cand02", 1.0);
    cand.checks[0].outcome = CheckOutcome::Fail;
    cand.checks[0].subject = "cnb-cand02-n0p0 -> <\"x\" & 'y'>\u{1b}[31m".into();
    cand.checks[0].actual = "]]> <!-- & \"".into();
    cand.checks[0].reason = Some("line one\nline two".into());
    let mut base2 = base.clone();
    base2.checks[0].subject = "cnb-base01-n0p0 -> <\"x\" & 'y'>\u{1b}[31m".into();
    let cmp = compare(&base2, &cand, &CompareOptions::default()).unwrap();
    let xml = junit(&cmp);
    // What XML cannot carry is dropped; the rest is escaped and reads back as it was.
    assert!(!xml.contains('\u{1b}'), "{xml}");
    let r = parse(&xml);
    let case = cases(&r)
        .into_iter()
        .find(|c| classname(c).ends_with("reachability"))
        .unwrap();
    assert_eq!(case.name.as_str(), "cnb-<run>-n0p0 -> <\"x\" & 'y'>");
    let failed = failures(&r);
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0].0.contains("FAIL (]]> <!-- & \")"),
        "{}",
        failed[0].0
    );
    assert!(
        failed[0].2.contains("reason: line one\nline two"),
        "{}",
        failed[0].2
    );
}

#[test]
fn emulated_runs_are_named_so() {
    let mut base = rr_result("base01", 1.0);
    base.substrate = Substrate::vm_tcg("6.1.0-56-cloud-amd64");
    let r = parse(&junit(
        &compare(&base, &base, &CompareOptions::default()).unwrap(),
    ));
    assert_eq!(
        r.name.as_ref().map(|n| n.as_str()),
        Some("cnbench compare vxlan (emulated)")
    );
    let metrics = &r.test_suites[0];
    assert_eq!(
        metrics.name.as_str(),
        "cnbench compare vxlan (emulated): metrics"
    );
    assert_eq!(
        property(metrics, "candidate.substrate").as_deref(),
        Some("vm (QEMU TCG emulation, kernel 6.1.0-56-cloud-amd64)")
    );
    assert_eq!(
        property(metrics, "baseline.emulated").as_deref(),
        Some("true")
    );
    let out = metrics
        .system_out
        .as_ref()
        .map(|o| o.as_str())
        .unwrap_or("");
    assert!(out.starts_with("both runs are emulated"), "{out}");
}

#[test]
fn warnings_go_to_the_suite_output() {
    let base = rr_result("base01", 1.0);
    let mut cand = rr_result("cand02", 1.0);
    cand.parameters.duration_ms = 1000;
    let xml = junit(&compare(&base, &cand, &CompareOptions::default()).unwrap());
    let r = parse(&xml);
    let out = r.test_suites[0]
        .system_out
        .as_ref()
        .map(|o| o.as_str())
        .unwrap_or("");
    let duration = out
        .lines()
        .find(|l| l.starts_with("duration differs"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        duration.contains("run both with the same duration"),
        "{duration}"
    );
    // Every test case passed: no failure, no skip.
    assert!(cases(&r)
        .iter()
        .all(|c| matches!(c.status, TestCaseStatus::Success { .. })));
    assert!(!xml.contains("<failure") && !xml.contains("<skipped"));
}

#[test]
fn checks_that_did_not_apply_are_skipped_with_their_reason() {
    use crate::test_support::rr_with_gc;
    use CheckOutcome::{Fail, NotApplicable, Pass};
    let skipped_of = |b: CheckOutcome, c: CheckOutcome| {
        let cmp = compare(
            &rr_with_gc("base01", b),
            &rr_with_gc("cand02", c),
            &CompareOptions::default(),
        )
        .unwrap();
        let r = parse(&junit(&cmp));
        let gc = cases(&r)
            .into_iter()
            .find(|c| classname(c) == "cnbench.vxlan.checks.cni-gc")
            .unwrap()
            .clone();
        (r.failures, skipped(&r), gc)
    };
    let reason = "not applicable: the plugin supports up to CNI 1.0.0, GC came with 1.1.0";

    let (failures, skipped, gc) = skipped_of(NotApplicable, NotApplicable);
    assert_eq!((failures, skipped), (0, vec![reason.to_owned()]));
    assert_eq!(gc.name.as_str(), "cnb-<run>-n0 docker0");

    // Made on one side only: skipped, never failed, saying where it did not apply.
    let (failures, skipped, gc) = skipped_of(NotApplicable, Fail);
    assert_eq!(failures, 0);
    assert_eq!(
        skipped,
        [format!(
            "{reason} (in the baseline; candidate FAIL, not compared)"
        )]
    );
    let out = gc.system_out.as_ref().map(|o| o.as_str()).unwrap_or("");
    assert!(
        out.starts_with("info: cni-gc cnb-<run>-n0 docker0: N/A -> FAIL"),
        "{out}"
    );
    let (failures, skipped, _) = skipped_of(Pass, NotApplicable);
    assert_eq!(failures, 0);
    assert_eq!(
        skipped,
        [format!(
            "{reason} (in the candidate; baseline PASS, not compared)"
        )]
    );
    // Made on both sides, it is a test case as any other.
    let (_, skipped, gc) = skipped_of(Pass, Pass);
    assert!(skipped.is_empty());
    assert!(matches!(gc.status, TestCaseStatus::Success { .. }));
}

#[test]
fn across_backends_the_conformance_is_one_test_case() {
    let across = CompareOptions {
        across_backends: true,
        ..CompareOptions::default()
    };
    let bridge = of_backend(rr_result("base01", 1.0), "bridge");
    let mut cni = of_backend(rr_result("cand02", 1.0), "cni");
    cni.checks[0].outcome = CheckOutcome::Fail;
    cni.checks[1].outcome = CheckOutcome::Fail;
    let r = parse(&junit(&compare(&bridge, &cni, &across).unwrap()));
    assert_eq!(
        r.name.as_ref().map(|n| n.as_str()),
        Some("cnbench compare bridge (baseline) vs cni (candidate), across backends")
    );
    let (metrics, checks) = (&r.test_suites[0], &r.test_suites[1]);
    assert_eq!(
        checks.name.as_str(),
        "cnbench compare bridge (baseline) vs cni (candidate), across backends: checks"
    );
    assert_eq!((checks.tests, checks.failures), (1, 1));
    let case = &checks.test_cases[0];
    assert_eq!(classname(case), "cnbench.cni.checks.conformance");
    assert_eq!(case.name.as_str(), "all checks");
    assert_eq!(
        failures(&r),
        [(
            "the candidate failed 2 checks where the baseline failed none: reachability \
             cnb-<run>-n0p0 -> 100.96.1.2 icmp; mtu cnb-<run>-n1:flannel.1"
                .to_owned(),
            "regression".to_owned(),
            "REGRESSION: baseline: all 3 checks passed; candidate: 2 of 3 checks failed \
             (reachability cnb-<run>-n0p0 -> 100.96.1.2 icmp; mtu cnb-<run>-n1:flannel.1)"
                .to_owned()
        )]
    );
    assert!(checks
        .system_out
        .as_ref()
        .is_some_and(|o| o.as_str().starts_with("checks: not compared one by one")));
    assert_eq!(
        property(metrics, "baseline.backend").as_deref(),
        Some("bridge")
    );
    assert_eq!(
        property(metrics, "candidate.backend").as_deref(),
        Some("cni")
    );
    assert_eq!(
        property(metrics, "across_backends").as_deref(),
        Some("true")
    );
    assert_eq!(
        classname(&metrics.test_cases[0]),
        "cnbench.cni.tcp-rr.cross-node"
    );
}

#[test]
fn the_software_under_test_is_given_as_properties() {
    let base = of_backend(rr_result("base01", 1.0), "cni");
    let mut cand = base.clone();
    cand.run_id = "cand02".into();
    cand.components = reports::fixtures::cni_components();
    cand.components[1].path = Some("/opt/cni/bin/bridge".into());
    let mut with = base.clone();
    with.components = reports::fixtures::cni_components();

    // Both sides recorded theirs: a property per component and side, and the warning.
    let r = parse(&junit(
        &compare(&with, &cand, &CompareOptions::default()).unwrap(),
    ));
    let metrics = &r.test_suites[0];
    assert_eq!(
        property(metrics, "baseline.component.cni-plugin.bridge").as_deref(),
        Some(
            "path /usr/lib/cni/bridge; supported versions 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0"
        )
    );
    assert_eq!(
        property(metrics, "candidate.component.cni-plugin.bridge").as_deref(),
        Some(
            "path /opt/cni/bin/bridge; supported versions 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0"
        )
    );
    assert_eq!(
        property(metrics, "candidate.component.cni-network.docker0").as_deref(),
        Some(
            "version 1.0.0; supported versions 1.0.0; configuration: \
             /etc/cni/net.d/docker0.conflist; bridge: mtu 1400 kept as configured (the \
             backend's pod MTU is 1450); chain: bridge -> portmap"
        )
    );
    let components = |side: &str| {
        metrics
            .properties
            .iter()
            .filter(|p| p.name.as_str().starts_with(&format!("{side}.component.")))
            .count()
    };
    assert_eq!((components("baseline"), components("candidate")), (4, 4));
    let out = metrics
        .system_out
        .as_ref()
        .map(|o| o.as_str())
        .unwrap_or("");
    assert!(
        out.contains(
            "the runs drove different software under test (CNI plugin bridge: path differs \
             (baseline /usr/lib/cni/bridge, candidate /opt/cni/bin/bridge))"
        ),
        "{out}"
    );

    // Without components, none.
    let r = parse(&junit(
        &compare(&base, &base, &CompareOptions::default()).unwrap(),
    ));
    assert!(
        !r.test_suites[0]
            .properties
            .iter()
            .any(|p| p.name.as_str().contains(".component.")),
        "{:?}",
        r.test_suites[0].properties
    );
}
