//! JUnit XML of a comparison, for the test reports of CI systems, written by `quick-junit`.
//!
//! One `<testsuites>` with two `<testsuite>`s: `metrics` (one `<testcase>` per metric row,
//! class name `cnbench.<backend>.<measurement>.<path>`, name the metric's field name; its
//! messages name it in words too: `round trip p50 (rtt_p50_ns) regressed: ...`) and `checks`
//! (one per compared check, class name `cnbench.<backend>.checks.<kind>`, name the subject; across
//! backends, one test case `cnbench.<backend>.checks.conformance` for the conformance
//! verdicts, checks not being compared one by one, which the suite's `<system-out>` says).
//! `<backend>` is the candidate's; the report's name says both when they differ (`cnbench
//! compare bridge (baseline) vs cni (candidate), across backends`). A
//! regression is a `<failure type="regression">` whose message gives baseline, candidate and
//! change; an inconclusive row is `<skipped>` with what to do; a check that did not apply in
//! either run (outcome `not_applicable`) is `<skipped>` with its reason (and, when it was made
//! in the other run, which side it did not apply in and the other side's outcome); passes,
//! improvements and information are plain test cases whose `<system-out>` says what was seen. The warnings of
//! the comparison go to the `<system-out>` of the metrics suite, and both runs are described
//! in its `<properties>` (their substrate, whether emulated and backend options included; each
//! component of the software under test a run recorded, such as a CNI network and its
//! plugins, as `<side>.component.<role>.<name>`, e.g. `candidate.component.cni-plugin.bridge`
//! = `path /usr/lib/cni/bridge; supported versions 0.1.0, ..., 1.0.0`). When the runs were
//! emulated (QEMU TCG), every suite's name ends in `(emulated)`: such figures compare
//! behaviour, not speed.
//!
//! quick-junit escapes everything from the results for XML and drops what XML 1.0 cannot
//! carry (ANSI escape sequences, control characters other than tab, line feed and carriage
//! return).

use std::fmt::Write as _;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use reports::compare::INCONCLUSIVE_HINT;
use reports::{CheckComparison, Comparison, ConformanceComparison, MetricComparison, Verdict};

use super::wording::{
    change_text, describe_check, describe_conformance, describe_metric, interval_text,
    options_text, sides_text, threshold_text, CHECKS_ACROSS,
};
use crate::components;
use crate::units::format_metric;
use crate::words::{metric_named, plural};

/// The comparison as JUnit XML (see the module documentation).
pub fn junit(cmp: &Comparison) -> String {
    let backend = &cmp.candidate.backend;
    let what = sides_text(cmp).unwrap_or_else(|| backend.clone());
    let title = if cmp.baseline.substrate.emulated || cmp.candidate.substrate.emulated {
        format!("cnbench compare {what} (emulated)")
    } else {
        format!("cnbench compare {what}")
    };

    let mut metrics = suite(&format!("{title}: metrics"));
    metrics.add_properties(properties(cmp));
    metrics.add_test_cases(cmp.metrics.iter().map(|m| metric_case(backend, m)));
    if !cmp.warnings.is_empty() {
        metrics.set_system_out(cmp.warnings.join("\n"));
    }
    let mut checks = suite(&format!("{title}: checks"));
    checks.add_test_cases(cmp.checks.iter().map(|c| check_case(backend, c)));
    if cmp.across_backends {
        checks.add_test_cases(cmp.conformance.iter().map(|c| conformance_case(backend, c)));
        checks.set_system_out(format!("checks: {CHECKS_ACROSS}"));
    }

    let mut report = Report::new(title);
    report.add_test_suites([metrics, checks]);
    report
        .to_string()
        .expect("a JUnit report of strings serializes into memory")
}

fn suite(name: &str) -> TestSuite {
    let mut s = TestSuite::new(name);
    s.set_time(Duration::ZERO);
    s
}

/// Both runs (with the software under test each recorded), the threshold and the verdict.
fn properties(cmp: &Comparison) -> Vec<Property> {
    let mut properties = Vec::new();
    for (side, r) in [("baseline", &cmp.baseline), ("candidate", &cmp.candidate)] {
        let mut add = |key: &str, value: String| {
            properties.push(Property::new(format!("{side}.{key}"), value));
        };
        add("run_id", r.run_id.clone());
        add("backend", r.backend.clone());
        if let Some(options) = options_text(r, ",") {
            add("backend_options", options);
        }
        if let Some(rev) = &r.git_revision {
            add("git_revision", rev.clone());
        }
        add("substrate", r.substrate.to_string());
        add("emulated", r.substrate.emulated.to_string());
        add("duration_ms", r.duration_ms.to_string());
        add("repeat", r.repeat.to_string());
        for c in &r.components {
            add(
                &format!("component.{}.{}", c.role, c.name),
                components::full(c),
            );
        }
    }
    properties.push(Property::new(
        "across_backends",
        cmp.across_backends.to_string(),
    ));
    properties.push(Property::new(
        "threshold",
        cmp.options.threshold.to_string(),
    ));
    properties.push(Property::new("verdict", cmp.verdict.label()));
    properties
}

/// A class name part: dots separate packages in JUnit viewers, so none inside a part.
fn part(text: &str) -> String {
    text.replace('.', "_")
}

fn case(classname: String, name: &str, status: TestCaseStatus, output: String) -> TestCase {
    let mut c = TestCase::new(name, status);
    c.set_classname(classname)
        .set_time(Duration::ZERO)
        .set_system_out(output);
    c
}

fn failure(message: String, details: &str) -> TestCaseStatus {
    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
    status
        .set_type("regression")
        .set_message(message)
        .set_description(details);
    status
}

fn metric_case(backend: &str, m: &MetricComparison) -> TestCase {
    let classname = format!(
        "cnbench.{}.{}.{}",
        part(backend),
        part(&m.measurement),
        part(&m.path)
    );
    let values = |v: &[f64]| {
        v.iter()
            .map(|x| format_metric(&m.metric, *x))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut output = format!(
        "{}: {}\nbaseline repetitions: {}\ncandidate repetitions: {}",
        m.verdict.label(),
        describe_metric(m),
        values(&m.baseline_values),
        values(&m.candidate_values)
    );
    if let Some(note) = &m.note {
        let _ = write!(output, "\nnote: {note}");
    }
    let figures = format!(
        "baseline {}, candidate {}, change {} (95% interval {}, threshold {})",
        format_metric(&m.metric, m.baseline_median),
        format_metric(&m.metric, m.candidate_median),
        change_text(m),
        interval_text(m),
        threshold_text(m)
    );
    let status = match m.verdict {
        Verdict::Regression => failure(
            format!("{} regressed: {figures}", metric_named(&m.metric)),
            &output,
        ),
        Verdict::Inconclusive => {
            let mut status = TestCaseStatus::skipped();
            status.set_message(format!(
                "inconclusive: {figures}{}; {INCONCLUSIVE_HINT}",
                m.note
                    .as_ref()
                    .map(|n| format!(": {n}"))
                    .unwrap_or_default(),
            ));
            status
        }
        _ => TestCaseStatus::success(),
    };
    // The test case keeps the field name: CI systems track a test's history by its name, and
    // the words may be reworded where the field name may not.
    case(classname, &m.metric, status, output)
}

fn check_case(backend: &str, c: &CheckComparison) -> TestCase {
    let output = format!("{}: {}", c.verdict.label(), describe_check(c));
    let status = match c.verdict {
        _ if c.not_applicable() => not_applicable(c),
        Verdict::Regression => failure(
            format!(
                "check {} stopped passing: baseline {} ({}), candidate {} ({}), expected {}",
                c.check,
                c.baseline.label(),
                c.baseline_actual,
                c.candidate.label(),
                c.candidate_actual,
                c.expected
            ),
            &output,
        ),
        _ => TestCaseStatus::success(),
    };
    case(
        format!("cnbench.{}.checks.{}", part(backend), part(&c.check)),
        &c.subject,
        status,
        output,
    )
}

/// A check that did not apply in either run, skipped with the reason: as it is when it applied
/// in neither, with the side it did not apply in and the other side's outcome otherwise
/// (`not applicable: ... (in the baseline; candidate PASS, not compared)`).
fn not_applicable(c: &CheckComparison) -> TestCaseStatus {
    use reports::CheckOutcome::NotApplicable;
    let baseline_reason = c.baseline_reason.as_ref().or(c.reason.as_ref());
    let (reason, side) = match (c.baseline, c.candidate) {
        (NotApplicable, NotApplicable) => (c.reason.as_ref().or(baseline_reason), None),
        (NotApplicable, other) => (baseline_reason, Some(("baseline", "candidate", other))),
        (other, _) => (c.reason.as_ref(), Some(("candidate", "baseline", other))),
    };
    let mut message = reason.cloned().unwrap_or_else(|| "not applicable".into());
    if let Some((na, made, outcome)) = side {
        let _ = write!(
            message,
            " (in the {na}; {made} {}, not compared)",
            outcome.label()
        );
    }
    let mut status = TestCaseStatus::skipped();
    status.set_message(message);
    status
}

/// The conformance verdicts across backends, as one test case.
fn conformance_case(backend: &str, c: &ConformanceComparison) -> TestCase {
    let output = format!("{}: {}", c.verdict.label(), describe_conformance(c));
    let status = match c.verdict {
        Verdict::Regression => failure(
            format!(
                "the candidate failed {} check{} where the baseline failed none: {}",
                c.candidate.failed.len(),
                plural(c.candidate.failed.len()),
                c.candidate.failed.join("; ")
            ),
            &output,
        ),
        _ => TestCaseStatus::success(),
    };
    case(
        format!("cnbench.{}.checks.conformance", part(backend)),
        "all checks",
        status,
        output,
    )
}

#[cfg(test)]
mod tests;
