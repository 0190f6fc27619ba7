//! JUnit XML of a run's checks (`cnbench cni-check --junit`), for a plugin author's CI,
//! written by `quick-junit`: one `<testsuite>` named after the command and the run (`cnbench
//! cni-check docker0`), one `<testcase>` per check, class name `cnbench.<backend>.<check>`,
//! name its subject. A failed check is a `<failure>` whose message is the reason and whose
//! text is expected and actual; a check that did not apply is `<skipped>` with its reason;
//! an expected failure passes, its `<system-out>` saying so; every case's `<system-out>` has
//! expected and actual (the evidence). The software under test is in the suite's properties.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use reports::{CheckOutcome, CheckRecord, RunResult};

/// The checks of `result` as JUnit XML; `command` names what ran (`cni-check`).
pub fn checks(result: &RunResult, command: &str) -> Result<String, quick_junit::SerializeError> {
    let backend = &result.parameters.backend;
    let network = result
        .components
        .iter()
        .find(|c| c.role == "cni-network")
        .map(|c| format!(" {}", c.name))
        .unwrap_or_default();
    let title = format!("cnbench {command}{network}");
    let mut suite = TestSuite::new(title.clone());
    suite.set_time(Duration::ZERO);
    suite.add_property(Property::new("run_id", result.run_id.clone()));
    suite.add_property(Property::new("backend", backend.clone()));
    for c in &result.components {
        let mut value = Vec::new();
        if let Some(p) = &c.path {
            value.push(format!("path {p}"));
        }
        if let Some(v) = &c.version {
            value.push(format!("version {v}"));
        }
        if !c.supported_versions.is_empty() {
            value.push(format!(
                "supported versions {}",
                c.supported_versions.join(", ")
            ));
        }
        suite.add_property(Property::new(
            format!("component.{}.{}", c.role, c.name),
            value.join("; "),
        ));
    }
    suite.add_test_cases(result.checks.iter().map(|c| case(backend, c)));
    let mut report = Report::new(title);
    report.add_test_suite(suite);
    report.to_string()
}

fn case(backend: &str, c: &CheckRecord) -> TestCase {
    let evidence = format!("expected: {}\nactual: {}", c.expected, c.actual);
    let status = match c.outcome {
        CheckOutcome::Pass => TestCaseStatus::success(),
        CheckOutcome::ExpectedFailure => TestCaseStatus::success(),
        CheckOutcome::Fail => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_type("check failed")
                .set_message(c.reason.clone().unwrap_or_else(|| "check failed".into()))
                .set_description(evidence.clone());
            s
        }
        CheckOutcome::NotApplicable => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(c.reason.clone().unwrap_or_else(|| "not applicable".into()));
            s
        }
    };
    let out = match (c.outcome, &c.reason) {
        (CheckOutcome::ExpectedFailure, Some(r)) => format!("expected failure: {r}\n{evidence}"),
        _ => evidence,
    };
    let mut t = TestCase::new(c.subject.clone(), status);
    t.set_classname(format!(
        "cnbench.{}.{}",
        backend.replace('.', "_"),
        c.check.replace('.', "_")
    ))
    .set_time(Duration::ZERO)
    .set_system_out(out);
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(
        check: &str,
        subject: &str,
        outcome: CheckOutcome,
        reason: Option<&str>,
    ) -> CheckRecord {
        CheckRecord {
            check: check.into(),
            subject: subject.into(),
            expected: "a well-formed error".into(),
            actual: "refused with code 6".into(),
            outcome,
            reason: reason.map(String::from),
        }
    }

    #[test]
    fn every_check_is_a_case_failures_fail_and_what_does_not_apply_is_skipped() {
        let mut r = RunResult::new("ab12", reports::Environment::default(), Default::default());
        r.parameters.backend = "cni".into();
        r.components = reports::fixtures::cni_components();
        r.checks = vec![
            check("conformance", "VERSION of bridge", CheckOutcome::Pass, None),
            check(
                "conformance",
                "a second DEL of n0p2",
                CheckOutcome::Fail,
                Some("the plugin breaks CNI spec §2 DEL"),
            ),
            check(
                "conformance",
                "GC of bridge",
                CheckOutcome::NotApplicable,
                Some("bridge supports up to 1.0.0"),
            ),
        ];
        let xml = checks(&r, "cni-check").unwrap();
        assert!(
            xml.contains("testsuite name=\"cnbench cni-check docker0\""),
            "{xml}"
        );
        assert!(
            xml.contains("classname=\"cnbench.cni.conformance\""),
            "{xml}"
        );
        assert!(
            xml.contains(
                "<failure message=\"the plugin breaks CNI spec §2 DEL\" type=\"check failed\">"
            ),
            "{xml}"
        );
        assert!(
            xml.contains("<skipped message=\"bridge supports up to 1.0.0\""),
            "{xml}"
        );
        assert!(xml.contains("tests=\"3\""), "{xml}");
        assert!(xml.contains("component.cni-plugin.bridge"), "{xml}");
    }
}
