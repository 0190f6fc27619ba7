//! The words of a comparison, shared by its terminal table, Markdown and JUnit forms: a
//! metric row or a check in one line, the change, interval and threshold as text, the counts
//! and the verdict line, both sides when their backends (or backend options) differ, the
//! conformance verdicts across backends, and the software under test of each side.

use std::fmt::Write as _;

use reports::compare::{CONFIDENCE, INCONCLUSIVE_HINT};
use reports::{
    ChangeScale, CheckComparison, Comparison, Conformance, ConformanceComparison, MetricComparison,
    RunInfo, VerdictCounts,
};

use crate::components;
use crate::units::{format_metric, trim_number};
use crate::words::{metric_named, notable, plural, substrate_line};

/// The change as text: `+12.3%`, `+2.0 pp`, `+inf`, `-` when there is none.
pub fn change_text(m: &MetricComparison) -> String {
    m.scale.format(m.change)
}

/// The interval as text (`[+8.1%, +15.0%]`), or `-` when there is none.
pub fn interval_text(m: &MetricComparison) -> String {
    match m.interval {
        Some([lo, hi]) => format!("[{}, {}]", m.scale.format(lo), m.scale.format(hi)),
        None => "-".into(),
    }
}

/// The threshold as text (`5%`, `10 pp`), or `-` when the metric does not gate.
pub fn threshold_text(m: &MetricComparison) -> String {
    match (m.threshold, m.scale) {
        (Some(t), ChangeScale::Relative) => format!("{}%", trim_number(t * 100.0)),
        (Some(t), ChangeScale::PercentagePoints) => format!("{} pp", trim_number(t * 100.0)),
        (Some(t), ChangeScale::PerPacket) => format!("±{} /pkt", trim_number(t)),
        (None, _) => "-".into(),
    }
}

/// One line for a metric row, the metric in words with its field name: `tcp-rr cross-node
/// round trip p99 (rtt_p99_ns): 25.1 µs -> 31.2 µs (+24.3%, 95% interval [+20.1%, +30.0%],
/// threshold 15%)`.
pub fn describe_metric(m: &MetricComparison) -> String {
    let mut line = format!(
        "{} {}: {} -> {} ({}",
        m.case(),
        metric_named(&m.metric),
        format_metric(&m.metric, m.baseline_median),
        format_metric(&m.metric, m.candidate_median),
        change_text(m)
    );
    if m.interval.is_some() {
        let _ = write!(
            line,
            ", {:.0}% interval {}",
            CONFIDENCE * 100.0,
            interval_text(m)
        );
    }
    if m.threshold.is_some() {
        let _ = write!(line, ", threshold {}", threshold_text(m));
    }
    line.push(')');
    line
}

/// One line for a check: `reachability n0p0 -> n1p0 icmp: PASS -> FAIL (expected: answer,
/// actual: no answer)`, then the candidate's reason and the baseline's when it gave another
/// (why a check did not apply, or failed as expected, there): `cni-gc cnb-<run>-n0 docker0:
/// N/A -> PASS (expected: GC succeeds, actual: GC succeeded) baseline reason: not applicable:
/// ...`.
pub fn describe_check(c: &CheckComparison) -> String {
    let mut line = format!(
        "{} {}: {} -> {} (expected: {}, actual: {})",
        c.check,
        c.subject,
        c.baseline.label(),
        c.candidate.label(),
        c.expected,
        c.candidate_actual
    );
    if let Some(reason) = &c.reason {
        let _ = write!(line, " reason: {reason}");
    }
    if let Some(reason) = &c.baseline_reason {
        let sep = if c.reason.is_some() { ";" } else { "" };
        let _ = write!(line, "{sep} baseline reason: {reason}");
    }
    line
}

/// `2 regressions, 1 inconclusive, 3 improvements, 40 pass, 4 info`, leaving out zeros (but
/// always giving `pass`).
pub fn counts_text(counts: &VerdictCounts) -> String {
    let mut parts = Vec::new();
    if counts.regression > 0 {
        parts.push(format!(
            "{} regression{}",
            counts.regression,
            plural(counts.regression)
        ));
    }
    if counts.inconclusive > 0 {
        parts.push(format!("{} inconclusive", counts.inconclusive));
    }
    if counts.improvement > 0 {
        parts.push(format!(
            "{} improvement{}",
            counts.improvement,
            plural(counts.improvement)
        ));
    }
    parts.push(format!("{} pass", counts.pass));
    if counts.info > 0 {
        parts.push(format!("{} info", counts.info));
    }
    parts.join(", ")
}

/// The one-line summary: `REGRESSION: 2 regressions, 40 pass (threshold 5%)`, with the
/// per-metric thresholds, and the hint when something is inconclusive.
pub fn summary_line(cmp: &Comparison) -> String {
    let counts = cmp.counts();
    let mut line = format!(
        "{}: {} (threshold {}%",
        cmp.verdict.label(),
        counts_text(&counts),
        trim_number(cmp.options.threshold * 100.0)
    );
    if !cmp.options.per_metric.is_empty() {
        let overrides: Vec<String> = cmp
            .options
            .per_metric
            .iter()
            .map(|(m, t)| format!("{m} {}%", trim_number(t * 100.0)))
            .collect();
        let _ = write!(line, "; {}", overrides.join(", "));
    }
    line.push(')');
    if counts.inconclusive > 0 {
        let _ = write!(
            line,
            "; to decide the inconclusive ones, {INCONCLUSIVE_HINT}"
        );
    }
    line
}

/// What a comparison across backends says of its checks.
pub const CHECKS_ACROSS: &str = "not compared one by one across backends (their devices and \
    names differ): only whether each run passed them all";

/// How many failed checks a line names before it says how many more there are.
const NAMED_CHECKS: usize = 10;

/// What is compared, when the two runs are not of one backend with the same options: each
/// side's backend with the options that differ as set on that side, and whether the
/// comparison is across backends: `bridge (baseline) vs cni (candidate), across backends`,
/// `vxlan (baseline) vs vxlan pod-wiring=cni (candidate), across backend options`. `None` for
/// two runs of one backend with the same options.
pub fn sides_text(cmp: &Comparison) -> Option<String> {
    let (b, c) = (&cmp.baseline, &cmp.candidate);
    if b.backend == c.backend && cmp.option_changes.is_empty() {
        return None;
    }
    let side = |r: &RunInfo, value: fn(&reports::OptionChange) -> &Option<String>| {
        let mut text = r.backend.clone();
        for o in &cmp.option_changes {
            if let Some(v) = value(o) {
                let _ = write!(text, " {}={v}", o.option);
            }
        }
        text
    };
    let mut text = format!(
        "{} (baseline) vs {} (candidate)",
        side(b, |o| &o.baseline),
        side(c, |o| &o.candidate)
    );
    if cmp.across_backends {
        text.push_str(if b.backend == c.backend {
            ", across backend options"
        } else {
            ", across backends"
        });
    }
    Some(text)
}

/// A run's backend options as `k=v` pairs separated by `sep`, or `None` when it has none.
pub fn options_text(r: &RunInfo, sep: &str) -> Option<String> {
    (!r.backend_options.is_empty()).then(|| {
        r.backend_options
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(sep)
    })
}

/// One side's conformance: `all 90 checks passed`, `2 of 88 checks failed (mtu ...;
/// reachability ...)`, each followed by `, 2 not applicable` when some checks did not apply.
fn conformance_text(c: &Conformance) -> String {
    let mut text = made_text(c);
    if c.not_applicable > 0 {
        let _ = write!(text, ", {} not applicable", c.not_applicable);
    }
    text
}

/// How the checks that were made fared.
fn made_text(c: &Conformance) -> String {
    if c.checks == 0 {
        return "no check made".to_owned();
    }
    if c.passed() {
        return if c.checks == 1 {
            "its 1 check passed".to_owned()
        } else {
            format!("all {} checks passed", c.checks)
        };
    }
    let mut named = c
        .failed
        .iter()
        .take(NAMED_CHECKS)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if c.failed.len() > NAMED_CHECKS {
        let _ = write!(named, "; and {} more", c.failed.len() - NAMED_CHECKS);
    }
    format!(
        "{} of {} check{} failed ({named})",
        c.failed.len(),
        c.checks,
        plural(c.checks)
    )
}

/// The conformance verdicts of both runs in one line: `baseline: all 90 checks passed;
/// candidate: 2 of 88 checks failed (mtu cnb-<run>-n1:cni0; reachability ...)`.
pub fn describe_conformance(c: &ConformanceComparison) -> String {
    format!(
        "baseline: {}; candidate: {}",
        conformance_text(&c.baseline),
        conformance_text(&c.candidate)
    )
}

/// The lines saying where the compared runs' nodes lived, for runs not in plain namespaces:
/// none when both are, one when both ran alike, one per side otherwise.
pub fn substrate_lines(cmp: &Comparison) -> Vec<String> {
    let (b, c) = (&cmp.baseline.substrate, &cmp.candidate.substrate);
    if !notable(b) && !notable(c) {
        Vec::new()
    } else if b == c {
        vec![substrate_line(b)]
    } else {
        vec![
            format!("baseline {}", substrate_line(b)),
            format!("candidate {}", substrate_line(c)),
        ]
    }
}

/// The software under test of one side in one line (`CNI network docker0 (CNI 1.0.0; ...) ·
/// bridge /usr/lib/cni/bridge (CNI 0.1.0–1.0.0) · ...`), or `None` when it recorded none.
pub fn software_text(r: &RunInfo) -> Option<String> {
    components::line(&r.components)
}

/// The lines naming the software under test of the compared runs (a CNI network and its
/// plugins): none when neither recorded any, one when both drove the same, one per side
/// otherwise (`none recorded` for a side without).
pub fn software_lines(cmp: &Comparison) -> Vec<String> {
    let lead = components::LEAD;
    match (software_text(&cmp.baseline), software_text(&cmp.candidate)) {
        (None, None) => Vec::new(),
        (b, c) if b == c => vec![format!("{lead}: {}", b.unwrap_or_default())],
        (b, c) => {
            let or_none = |s: Option<String>| s.unwrap_or_else(|| "none recorded".into());
            vec![
                format!("baseline {lead}: {}", or_none(b)),
                format!("candidate {lead}: {}", or_none(c)),
            ]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reports::fixtures::{rr_result, stream_result};
    use reports::{compare, CompareOptions, RunResult, Verdict};

    fn cmp(b: &RunResult, c: &RunResult) -> Comparison {
        compare(b, c, &CompareOptions::default()).unwrap()
    }

    #[test]
    fn a_row_in_words() {
        let c = cmp(&rr_result("base01", 1.0), &rr_result("cand02", 2.0));
        let p50 = c.metrics.iter().find(|m| m.metric == "rtt_p50_ns").unwrap();
        assert_eq!(
            describe_metric(p50),
            "tcp-rr cross-node round trip p50 (rtt_p50_ns): 14.5 µs -> 29.0 µs (+100.0%, 95% \
             interval [+94.1%, +106.1%], threshold 5%)"
        );
        let max = c.metrics.iter().find(|m| m.metric == "rtt_max_ns").unwrap();
        assert_eq!(max.verdict, Verdict::Info);
        assert_eq!(threshold_text(max), "-");
        assert_eq!(
            counts_text(&c.counts()),
            "5 regressions, 1 inconclusive, 3 pass, 1 info"
        );
    }

    #[test]
    fn loss_reads_in_percentage_points() {
        let loss = |id: &str, l: f64| {
            let samples = (0..3)
                .map(|_| reports::fixtures::udp(64, 100_000.0, l))
                .collect();
            reports::fixtures::result(
                id,
                vec![reports::fixtures::measurement(
                    "udp-stream",
                    Some("64 B"),
                    "cross-node",
                    samples,
                )],
            )
        };
        let c = cmp(&loss("base01", 0.0), &loss("cand02", 0.5));
        let row = c
            .metrics
            .iter()
            .find(|m| m.metric == "loss_percent")
            .unwrap();
        assert_eq!(threshold_text(row), "10 pp");
        assert_eq!(change_text(row), "+0.5 pp");
    }

    #[test]
    fn the_verdict_line_names_the_thresholds_and_the_hint() {
        let c = compare(
            &rr_result("base01", 1.0),
            &rr_result("cand02", 1.2),
            &CompareOptions::from_args(None, &["rtt_p50_ns=30%"]).unwrap(),
        )
        .unwrap();
        let line = summary_line(&c);
        assert!(line.contains("(threshold 5%; rtt_p50_ns 30%)"), "{line}");
        let noisy = cmp(
            &reports::fixtures::noisy_rr_result("base01", 1),
            &reports::fixtures::noisy_rr_result("cand02", 2),
        );
        let line = summary_line(&noisy);
        assert!(line.starts_with("inconclusive: "), "{line}");
        assert!(
            line.ends_with(
                "; to decide the inconclusive ones, run more repetitions (--repeat 5) or \
                 longer (--duration)"
            ),
            "{line}"
        );
        // An infinite change (from nothing) reads as such.
        let zero = cmp(
            &stream_result("base01", &[0.0, 0.0, 0.0]),
            &stream_result("cand02", &[1.0e9, 1.1e9, 1.0e9]),
        );
        assert_eq!(change_text(&zero.metrics[0]), "+inf");
    }

    #[test]
    fn many_failed_checks_are_named_up_to_ten() {
        let conformance = |failed: usize| Conformance {
            checks: 40,
            failed: (0..failed).map(|i| format!("mtu n{i}")).collect(),
            not_applicable: 0,
        };
        let c = ConformanceComparison {
            baseline: Conformance {
                checks: 1,
                failed: vec![],
                not_applicable: 0,
            },
            candidate: conformance(12),
            verdict: Verdict::Regression,
        };
        assert_eq!(
            describe_conformance(&c),
            "baseline: its 1 check passed; candidate: 12 of 40 checks failed (mtu n0; mtu n1; \
             mtu n2; mtu n3; mtu n4; mtu n5; mtu n6; mtu n7; mtu n8; mtu n9; and 2 more)"
        );
    }

    #[test]
    fn checks_that_did_not_apply_in_words() {
        let na = |failed: usize, checks: usize, not_applicable: usize| Conformance {
            checks,
            failed: (0..failed).map(|i| format!("mtu n{i}")).collect(),
            not_applicable,
        };
        let c = ConformanceComparison {
            baseline: na(0, 88, 2),
            candidate: na(1, 3, 1),
            verdict: Verdict::Regression,
        };
        assert_eq!(
            describe_conformance(&c),
            "baseline: all 88 checks passed, 2 not applicable; candidate: 1 of 3 checks failed \
             (mtu n0), 1 not applicable"
        );
        assert_eq!(
            conformance_text(&na(0, 0, 2)),
            "no check made, 2 not applicable"
        );

        // One by one: the reasons of both sides.
        use crate::test_support::rr_with_gc as with_gc;
        use reports::CheckOutcome::{NotApplicable, Pass};
        let c = cmp(&with_gc("base01", NotApplicable), &with_gc("cand02", Pass));
        let row = &c.checks[3];
        assert_eq!(
            describe_check(row),
            "cni-gc cnb-<run>-n0 docker0: N/A -> PASS (expected: GC succeeds, actual: GC \
             succeeded) baseline reason: not applicable: the plugin supports up to CNI 1.0.0, \
             GC came with 1.1.0"
        );
        let c = cmp(&with_gc("base01", Pass), &with_gc("cand02", NotApplicable));
        assert_eq!(
            describe_check(&c.checks[3]),
            "cni-gc cnb-<run>-n0 docker0: PASS -> N/A (expected: GC succeeds, actual: not \
             made) reason: not applicable: the plugin supports up to CNI 1.0.0, GC came with \
             1.1.0"
        );
    }

    #[test]
    fn where_the_runs_lived() {
        let on_vms = |kernel: &str, mut r: RunResult| {
            r.substrate = reports::Substrate::vm_tcg(kernel);
            r
        };
        let plain = cmp(&rr_result("base01", 1.0), &rr_result("cand02", 1.0));
        assert!(substrate_lines(&plain).is_empty());
        let base = on_vms("6.1.0-56-cloud-amd64", rr_result("base01", 1.0));
        let same = cmp(&base, &base);
        assert_eq!(
            substrate_lines(&same),
            [
                "substrate: vm (QEMU TCG emulation, kernel 6.1.0-56-cloud-amd64): figures \
              compare behaviour, not speed"
            ]
        );
        let newer = on_vms("6.12.0", rr_result("cand02", 1.0));
        assert_eq!(
            substrate_lines(&cmp(&base, &newer)),
            [
                "baseline substrate: vm (QEMU TCG emulation, kernel 6.1.0-56-cloud-amd64): \
                 figures compare behaviour, not speed",
                "candidate substrate: vm (QEMU TCG emulation, kernel 6.12.0): figures compare \
                 behaviour, not speed"
            ]
        );
    }
}
