//! A comparison for a terminal: the table `cnbench compare` prints.

use std::fmt::Write as _;

use reports::{CheckComparison, CheckOutcome, Comparison, RunInfo, Verdict};

use super::table::{columns, header};
use crate::compare::wording::{
    change_text, describe_check, describe_conformance, interval_text, sides_text, software_lines,
    substrate_lines, summary_line, threshold_text, CHECKS_ACROSS,
};
use crate::units::format_metric;
use crate::words::metric_named;

/// The comparison as a plain-text report for a terminal: a header naming the backend (both
/// sides, when their backends or backend options differ; where the runs lived, and the
/// software under test when they recorded any), a table with one row per metric
/// (measurement, path, metric, baseline median, candidate median, change, 95 % interval,
/// threshold, verdict), then the checks that changed (a check made in one run and not
/// applicable in the other among them, as `info`; across backends, the conformance
/// verdicts), the warnings, and the verdict line.
pub fn compare_table(cmp: &Comparison) -> String {
    let mut out = String::new();
    let (b, c) = (&cmp.baseline, &cmp.candidate);
    let rev = |r: &RunInfo| {
        r.git_revision
            .as_ref()
            .map(|g| format!(" ({g})"))
            .unwrap_or_default()
    };
    let _ = writeln!(
        out,
        "compare {}: baseline run {}{} against candidate run {}{}",
        sides_text(cmp).unwrap_or_else(|| b.backend.clone()),
        b.run_id,
        rev(b),
        c.run_id,
        rev(c)
    );
    for line in substrate_lines(cmp).into_iter().chain(software_lines(cmp)) {
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(out, "{}", cmp.options.noise_floor_source());
    if cmp.metrics.is_empty() {
        let _ = writeln!(out, "\nmetrics: none measured");
    } else {
        let mut rows = vec![header(&[
            "measurement",
            "path",
            "metric",
            "baseline",
            "candidate",
            "change",
            "95% interval",
            "threshold",
            "verdict",
        ])];
        for m in &cmp.metrics {
            rows.push(vec![
                m.measurement.clone(),
                m.path.clone(),
                metric_named(&m.metric),
                format_metric(&m.metric, m.baseline_median),
                format_metric(&m.metric, m.candidate_median),
                change_text(m),
                interval_text(m),
                threshold_text(m),
                m.verdict.label().to_owned(),
            ]);
        }
        let right = [false, false, false, true, true, true, true, true, false];
        out.push('\n');
        out.push_str(&columns(&rows, &right, "  "));
        let notes: Vec<String> = cmp
            .metrics
            .iter()
            .filter(|m| m.verdict == Verdict::Inconclusive && m.note.is_some())
            .map(|m| {
                format!(
                    "  {} {}: {}",
                    m.case(),
                    metric_named(&m.metric),
                    m.note.as_deref().unwrap_or("")
                )
            })
            .collect();
        if !notes.is_empty() {
            let _ = writeln!(out, "\ninconclusive:");
            for n in notes {
                let _ = writeln!(out, "{n}");
            }
        }
    }

    let changed: Vec<&CheckComparison> = cmp
        .checks
        .iter()
        .filter(|c| c.verdict != Verdict::Pass)
        .collect();
    let still = cmp
        .checks
        .iter()
        .filter(|c| c.verdict == Verdict::Pass && c.candidate == CheckOutcome::Fail)
        .count();
    let neither = cmp
        .checks
        .iter()
        .filter(|c| c.baseline == CheckOutcome::NotApplicable)
        .filter(|c| c.candidate == CheckOutcome::NotApplicable)
        .count();
    if cmp.across_backends {
        let _ = writeln!(out, "\nchecks: {CHECKS_ACROSS}");
        if let Some(c) = &cmp.conformance {
            let _ = writeln!(
                out,
                "  {:<12} {}",
                c.verdict.label(),
                describe_conformance(c)
            );
        }
    } else {
        let _ = write!(out, "\nchecks: {} compared", cmp.checks.len());
        if still > 0 {
            let _ = write!(out, ", {still} failing in both");
        }
        if neither > 0 {
            let _ = write!(out, ", {neither} not applicable in both");
        }
        out.push('\n');
        for c in changed {
            let _ = writeln!(out, "  {:<12} {}", c.verdict.label(), describe_check(c));
        }
    }

    if !cmp.warnings.is_empty() {
        let _ = writeln!(out, "\nwarnings:");
        for w in &cmp.warnings {
            let _ = writeln!(out, "  {w}");
        }
    }
    let _ = writeln!(out, "\nverdict: {}", summary_line(cmp));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use reports::fixtures::{noisy_rr_result, of_backend, rr_result, stream_result};
    use reports::{compare, CompareOptions, RunResult};

    fn cmp(b: &RunResult, c: &RunResult) -> Comparison {
        compare(b, c, &CompareOptions::default()).unwrap()
    }

    #[test]
    fn table_has_units_verdicts_and_a_summary() {
        let c = cmp(&rr_result("base01", 1.0), &rr_result("cand02", 2.0));
        let text = compare_table(&c);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "compare vxlan: baseline run base01 (abc123) against candidate run cand02 (abc123)"
        );
        assert!(
            lines[1].starts_with("noise floor: the fixed 7% (no calibration"),
            "{text}"
        );
        assert!(
            lines[3].starts_with("measurement  path        metric"),
            "{text}"
        );
        assert!(
            lines[3].ends_with("95% interval  threshold  verdict"),
            "{text}"
        );
        let p50 = lines.iter().find(|l| l.contains("rtt_p50_ns")).unwrap();
        assert!(p50.contains("14.5 µs") && p50.contains("29.0 µs"), "{p50}");
        assert!(
            p50.contains("+100.0%") && p50.ends_with("REGRESSION"),
            "{p50}"
        );
        let p999 = lines.iter().find(|l| l.contains("rtt_p999_ns")).unwrap();
        assert!(p999.ends_with("inconclusive"), "{p999}");
        let max = lines.iter().find(|l| l.contains("rtt_max_ns")).unwrap();
        assert!(max.ends_with("info"), "{max}");
        assert!(
            text.trim_end().ends_with(
                "verdict: REGRESSION: 5 regressions, 1 inconclusive, 3 pass, 1 info \
                 (threshold 5%); to decide the inconclusive ones, run more repetitions \
                 (--repeat 5) or longer (--duration)"
            ),
            "{text}"
        );
        // Columns line up: every row's verdict starts where the header's does.
        let verdict_col = lines[3].chars().count() - "verdict".len();
        for l in &lines[4..11] {
            let verdict: String = l.chars().skip(verdict_col).collect();
            assert!(
                ["REGRESSION", "inconclusive", "info"].contains(&verdict.as_str()),
                "{l}"
            );
        }
    }

    #[test]
    fn noisy_repetitions_are_inconclusive_with_the_hint() {
        let c = cmp(&noisy_rr_result("base01", 1), &noisy_rr_result("cand02", 2));
        let text = compare_table(&c);
        assert!(
            text.contains("run more repetitions (--repeat 5) or longer (--duration)"),
            "{text}"
        );
        assert!(
            text.contains("\ninconclusive:\n  tcp-rr cross-node "),
            "{text}"
        );
        assert!(
            text.contains(
                "\n  tcp-rr cross-node round trip p50 (rtt_p50_ns): the interval crosses the \
                 threshold\n"
            ),
            "{text}"
        );
        assert!(text.contains("verdict: inconclusive: "), "{text}");
    }

    #[test]
    fn checks_that_changed_are_listed() {
        let base = rr_result("ab12", 1.0);
        let mut cand = rr_result("cd34", 1.0);
        cand.checks[0].outcome = CheckOutcome::Fail;
        cand.checks[0].actual = "no reply".into();
        cand.checks[2].outcome = CheckOutcome::Fail;
        let text = compare_table(&cmp(&base, &cand));
        assert!(text.contains("checks: 3 compared\n"), "{text}");
        assert!(
            text.contains(
                "REGRESSION   reachability cnb-<run>-n0p0 -> 100.96.1.2 icmp: PASS -> FAIL"
            ),
            "{text}"
        );
        let both = cmp(&cand, &cand);
        assert!(compare_table(&both).contains("checks: 3 compared, 2 failing in both"));
    }

    #[test]
    fn checks_that_did_not_apply_are_listed_as_information() {
        use crate::test_support::rr_with_gc;
        use CheckOutcome::{NotApplicable, Pass};
        let text = compare_table(&cmp(
            &rr_with_gc("ab12", NotApplicable),
            &rr_with_gc("cd34", Pass),
        ));
        assert!(
            text.contains(
                "checks: 4 compared\n  info         cni-gc cnb-<run>-n0 docker0: N/A -> PASS \
                 (expected: GC succeeds, actual: GC succeeded) baseline reason: not applicable: \
                 the plugin supports up to CNI 1.0.0, GC came with 1.1.0\n"
            ),
            "{text}"
        );
        assert!(text.contains("verdict: pass: "), "{text}");
        // Not applicable in both: counted, not listed.
        let text = compare_table(&cmp(
            &rr_with_gc("ab12", NotApplicable),
            &rr_with_gc("cd34", NotApplicable),
        ));
        assert!(
            text.contains("checks: 4 compared, 1 not applicable in both\n\n"),
            "{text}"
        );
        // Made in the baseline only: listed, and warned about.
        let text = compare_table(&cmp(
            &rr_with_gc("ab12", Pass),
            &rr_with_gc("cd34", NotApplicable),
        ));
        assert!(
            text.contains("  info         cni-gc cnb-<run>-n0 docker0: PASS -> N/A"),
            "{text}"
        );
        assert!(
            text.contains(
                "\nwarnings:\n  1 check the baseline made does not apply in the candidate"
            ),
            "{text}"
        );
    }

    #[test]
    fn an_infinite_change_and_emulated_runs_are_shown() {
        let c = cmp(
            &stream_result("base01", &[0.0, 0.0, 0.0]),
            &stream_result("cand02", &[1.0e9, f64::NAN, 1.1e9]),
        );
        assert!(compare_table(&c).contains("+inf"));
        let on_vms = |mut r: RunResult| {
            r.substrate = reports::Substrate::vm_tcg("6.1.0-56-cloud-amd64");
            r
        };
        let base = on_vms(stream_result("base01", &[10.0e9, 10.1e9, 9.9e9]));
        let cand = on_vms(stream_result("cand02", &[2.0e9, 2.02e9, 1.98e9]));
        let text = compare_table(&cmp(&base, &cand));
        assert_eq!(
            text.lines().nth(1),
            Some(
                "substrate: vm (QEMU TCG emulation, kernel 6.1.0-56-cloud-amd64): figures \
                 compare behaviour, not speed"
            ),
            "{text}"
        );
        let plain = cmp(&rr_result("base01", 1.0), &rr_result("cand02", 1.0));
        assert!(!compare_table(&plain).contains("substrate"));
    }

    #[test]
    fn across_backends_both_are_named_and_the_verdicts_compared() {
        let across = CompareOptions {
            across_backends: true,
            ..CompareOptions::default()
        };
        let bridge = of_backend(rr_result("base01", 1.0), "bridge");
        let mut cni = of_backend(rr_result("cand02", 1.0), "cni");
        let text = compare_table(&compare(&bridge, &cni, &across).unwrap());
        assert_eq!(
            text.lines().next(),
            Some(
                "compare bridge (baseline) vs cni (candidate), across backends: baseline run \
                 base01 (abc123) against candidate run cand02 (abc123)"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "\nchecks: not compared one by one across backends (their devices and names \
                 differ): only whether each run passed them all\n  pass         baseline: all \
                 3 checks passed; candidate: all 3 checks passed\n"
            ),
            "{text}"
        );
        assert!(text.contains("verdict: pass: 7 pass, 1 info"), "{text}");

        cni.checks[0].outcome = CheckOutcome::Fail;
        let text = compare_table(&compare(&bridge, &cni, &across).unwrap());
        assert!(
            text.contains(
                "  REGRESSION   baseline: all 3 checks passed; candidate: 1 of 3 checks failed \
                 (reachability cnb-<run>-n0p0 -> 100.96.1.2 icmp)\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("verdict: REGRESSION: 1 regression, 6 pass"),
            "{text}"
        );

        // One backend, two pod wirings; and the same without the option: both named, checks
        // compared one by one.
        let wiring = |id: &str, value: &str| {
            let mut r = rr_result(id, 1.0);
            r.parameters
                .set_backend_options([("pod-wiring".to_owned(), value.to_owned())].into());
            r
        };
        let (builtin, cni) = (wiring("base01", "builtin"), wiring("cand02", "cni"));
        let text = compare_table(&compare(&builtin, &cni, &across).unwrap());
        assert!(
            text.starts_with(
                "compare vxlan pod-wiring=builtin (baseline) vs vxlan pod-wiring=cni \
                 (candidate), across backend options: baseline run base01"
            ),
            "{text}"
        );
        let text = compare_table(&cmp(&builtin, &cni));
        assert!(
            text.starts_with(
                "compare vxlan pod-wiring=builtin (baseline) vs vxlan pod-wiring=cni \
                 (candidate): baseline run base01"
            ),
            "{text}"
        );
        assert!(text.contains("checks: 3 compared"), "{text}");
    }

    #[test]
    fn the_software_under_test_is_named_under_the_header() {
        let with = |id: &str| {
            let mut r = of_backend(rr_result(id, 1.0), "cni");
            r.components = reports::fixtures::cni_components();
            r
        };
        let (base, mut cand) = (with("base01"), with("cand02"));
        let text = compare_table(&cmp(&base, &cand));
        assert_eq!(
            text.lines().nth(1),
            Some(
                "software under test: CNI network docker0 (CNI 1.0.0; chain bridge -> portmap; \
                 /etc/cni/net.d/docker0.conflist) · bridge /usr/lib/cni/bridge (CNI \
                 0.1.0–1.0.0) · host-local /usr/lib/cni/host-local (CNI 0.1.0–1.0.0) · portmap \
                 /usr/lib/cni/portmap (CNI 0.1.0–1.0.0)"
            ),
            "{text}"
        );
        // Different software: each side's, and the warning.
        cand.components[2].supported_versions.push("1.1.0".into());
        let text = compare_table(&cmp(&base, &cand));
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[1].starts_with("baseline software under test: CNI network docker0"),
            "{text}"
        );
        assert!(
            lines[2].starts_with("candidate software under test: CNI network docker0")
                && lines[2].contains("host-local /usr/lib/cni/host-local (CNI 0.1.0–1.1.0)"),
            "{text}"
        );
        assert!(
            text.contains(
                "warnings:\n  the runs drove different software under test (CNI plugin \
                 host-local: supported versions differ (only the candidate's: 1.1.0)): "
            ),
            "{text}"
        );
        // None recorded on either side: nothing said.
        let plain = compare_table(&cmp(&rr_result("base01", 1.0), &rr_result("cand02", 1.0)));
        assert!(!plain.contains("software under test"), "{plain}");
        assert!(
            plain.lines().nth(1).unwrap().starts_with("noise floor"),
            "{plain}"
        );
    }

    #[test]
    fn sample_files_compare_with_themselves() {
        for name in ["vxlan", "flannel-udp", "host-gw-l3"] {
            let path = format!("{}/tests/data/{name}.json", env!("CARGO_MANIFEST_DIR"));
            let r = reports::read_result(std::path::Path::new(&path)).unwrap();
            let text = compare_table(&cmp(&r, &r));
            assert!(text.contains("verdict: pass: "), "{text}");
        }
    }
}
