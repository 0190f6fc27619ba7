//! Markdown of a comparison, for a pull-request comment: the verdict first, then what
//! changed, then everything in a collapsed section.
//!
//! The layout, top to bottom:
//! - a heading naming the backend (both sides, when their backends or backend options
//!   differ: `bridge (baseline) vs cni (candidate), across backends`) with the verdict in
//!   bold capitals when it fails the gate (**REGRESSION**, **INCONCLUSIVE**) and in bold lower
//!   case otherwise (**pass**, **improvement**), and the one-line summary with the counts;
//! - for runs not in plain namespaces, a quoted line with the substrate, in bold as
//!   **Emulated** when the runs were emulated (their figures compare behaviour, not speed);
//! - the parameters of both runs side by side (backend, its options when either has any, run
//!   id, git revision, cnbench version, substrate, duration, repetitions, placement,
//!   outcome, and the software under test when either recorded any: a CNI network and its
//!   plugins);
//! - a table of the metrics that regressed, improved or are inconclusive (regressions first),
//!   with the notes of the inconclusive ones;
//! - the checks that changed (across backends, the conformance verdicts instead: checks are
//!   not compared one by one there), and the warnings;
//! - a `<details>` section with every metric.
//!
//! Text from the results is escaped, so subjects like `<run>` or a `|` in a reason cannot
//! break the table or vanish as HTML.

use std::fmt::Write as _;

use reports::compare::INCONCLUSIVE_HINT;
use reports::{CheckComparison, Comparison, MetricComparison, RunInfo, Verdict};

use super::wording::{
    change_text, describe_check, describe_conformance, interval_text, options_text, sides_text,
    software_text, substrate_lines, summary_line, threshold_text, CHECKS_ACROSS,
};
use crate::escape::{code, code_span, markdown as escape};
use crate::units::{format_metric, trim_number};
use crate::words::metric_label;

/// The comparison as Markdown for a pull-request comment (see the module documentation).
pub fn markdown(cmp: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### cnbench compare {}: {}\n",
        escape(&sides_text(cmp).unwrap_or_else(|| cmp.candidate.backend.clone())),
        marker(cmp.verdict)
    );
    let _ = writeln!(
        out,
        "{}\n",
        escape(
            summary_line(cmp)
                .split_once(": ")
                .map_or("", |(_, rest)| rest)
        )
    );
    let emulated = cmp.baseline.substrate.emulated || cmp.candidate.substrate.emulated;
    for line in substrate_lines(cmp) {
        let lead = if emulated { "**Emulated:** " } else { "" };
        let _ = writeln!(out, "> {lead}{}\n", escape(&line));
    }
    let _ = writeln!(out, "{}\n", escape(&cmp.options.noise_floor_source()));

    runs_table(&mut out, &cmp.baseline, &cmp.candidate);

    let mut changed: Vec<&MetricComparison> = cmp
        .metrics
        .iter()
        .filter(|m| {
            matches!(
                m.verdict,
                Verdict::Regression | Verdict::Improvement | Verdict::Inconclusive
            )
        })
        .collect();
    // Regressions first, then inconclusive, then improvements; the baseline's order within.
    changed.sort_by_key(|m| match m.verdict {
        Verdict::Regression => 0,
        Verdict::Inconclusive => 1,
        _ => 2,
    });
    if changed.is_empty() {
        let _ = writeln!(
            out,
            "#### Metrics\n\nNo metric changed beyond its threshold ({} compared).\n",
            cmp.metrics.len()
        );
    } else {
        let _ = writeln!(out, "#### Metrics that changed\n");
        metric_table(&mut out, &changed, true);
        let notes: Vec<String> = changed
            .iter()
            .filter(|m| m.verdict == Verdict::Inconclusive)
            .filter_map(|m| {
                m.note.as_ref().map(|n| {
                    format!(
                        "- {} `{}`: {}",
                        escape(&m.case()),
                        code(&m.metric),
                        escape(n)
                    )
                })
            })
            .collect();
        if !notes.is_empty() {
            let _ = writeln!(
                out,
                "Inconclusive: the change is beyond the threshold, but the repetitions cannot \
                 tell whether it is real; {}.\n",
                escape(INCONCLUSIVE_HINT)
            );
            for n in notes {
                let _ = writeln!(out, "{n}");
            }
            out.push('\n');
        }
    }

    let changed_checks: Vec<&CheckComparison> = cmp
        .checks
        .iter()
        .filter(|c| c.verdict != Verdict::Pass)
        .collect();
    if cmp.across_backends {
        let _ = writeln!(
            out,
            "#### Conformance\n\nChecks: {}.\n",
            escape(CHECKS_ACROSS)
        );
        if let Some(c) = &cmp.conformance {
            let _ = writeln!(
                out,
                "- {} {}\n",
                marker(c.verdict),
                escape(&describe_conformance(c))
            );
        }
    } else if !changed_checks.is_empty() {
        let _ = writeln!(out, "#### Checks that changed\n");
        for c in changed_checks {
            let _ = writeln!(
                out,
                "- {} {}",
                marker(c.verdict),
                escape(&describe_check(c))
            );
        }
        out.push('\n');
    } else if !cmp.checks.is_empty() {
        let _ = writeln!(
            out,
            "#### Checks\n\nNo check changed its outcome ({} compared).\n",
            cmp.checks.len()
        );
    }

    if !cmp.warnings.is_empty() {
        let _ = writeln!(out, "#### Warnings\n");
        for w in &cmp.warnings {
            let _ = writeln!(out, "- {}", escape(w));
        }
        out.push('\n');
    }

    if !cmp.metrics.is_empty() {
        let _ = writeln!(
            out,
            "<details>\n<summary>All {} metrics</summary>\n",
            cmp.metrics.len()
        );
        let all: Vec<&MetricComparison> = cmp.metrics.iter().collect();
        metric_table(&mut out, &all, false);
        let _ = writeln!(out, "</details>");
    }
    out
}

/// The verdict as a bold word: capitals for the ones that fail a gate.
fn marker(v: Verdict) -> &'static str {
    match v {
        Verdict::Regression => "**REGRESSION**",
        Verdict::Inconclusive => "**INCONCLUSIVE**",
        Verdict::Improvement => "**improvement**",
        Verdict::Info => "info",
        Verdict::Pass => "**pass**",
    }
}

fn runs_table(out: &mut String, b: &RunInfo, c: &RunInfo) {
    let _ = writeln!(out, "| | baseline | candidate |\n|---|---|---|");
    let opt = |s: &Option<String>| s.as_deref().map_or_else(|| "-".to_owned(), code_span);
    let mut rows: Vec<(&str, String, String)> =
        vec![("backend", escape(&b.backend), escape(&c.backend))];
    if !b.backend_options.is_empty() || !c.backend_options.is_empty() {
        let options = |r: &RunInfo| opt(&options_text(r, " "));
        rows.push(("backend options", options(b), options(c)));
    }
    rows.extend([
        ("run", code_span(&b.run_id), code_span(&c.run_id)),
        ("git revision", opt(&b.git_revision), opt(&c.git_revision)),
        (
            "cnbench",
            escape(&b.cnbench_version),
            escape(&c.cnbench_version),
        ),
        ("datapath", opt(&b.datapath), opt(&c.datapath)),
        (
            "substrate",
            escape(&b.substrate.to_string()),
            escape(&c.substrate.to_string()),
        ),
        ("duration", seconds(b.duration_ms), seconds(c.duration_ms)),
        ("repetitions", b.repeat.to_string(), c.repeat.to_string()),
        ("placement", escape(&b.placement), escape(&c.placement)),
        ("outcome", escape(&b.outcome), escape(&c.outcome)),
    ]);
    if !b.components.is_empty() || !c.components.is_empty() {
        let software =
            |r: &RunInfo| software_text(r).map_or_else(|| "-".to_owned(), |s| escape(&s));
        rows.push(("software under test", software(b), software(c)));
    }
    for (name, bv, cv) in rows {
        let _ = writeln!(out, "| {name} | {bv} | {cv} |");
    }
    out.push('\n');
}

fn seconds(ms: u64) -> String {
    format!("{} s", trim_number(ms as f64 / 1000.0))
}

/// A table of metric rows; `verdict_first` puts the verdict in the first column.
/// A metric in words with its field name in code (what `--metric-threshold` takes):
/// `round trip p50 `rtt_p50_ns``; a metric this build does not know by its field name alone.
fn metric_cell(metric: &str) -> String {
    match metric_label(metric) {
        label if label == metric => format!("`{}`", code(metric)),
        label => format!("{} `{}`", escape(label), code(metric)),
    }
}

fn metric_table(out: &mut String, rows: &[&MetricComparison], verdict_first: bool) {
    let header = [
        "measurement",
        "metric",
        "baseline",
        "candidate",
        "change",
        "95% interval",
        "threshold",
    ];
    let mut head: Vec<&str> = header.to_vec();
    if verdict_first {
        head.insert(0, "verdict");
    } else {
        head.push("verdict");
    }
    let _ = writeln!(out, "| {} |", head.join(" | "));
    let align: Vec<&str> = head
        .iter()
        .map(|h| match *h {
            "baseline" | "candidate" | "change" | "95% interval" | "threshold" => "---:",
            _ => "---",
        })
        .collect();
    let _ = writeln!(out, "|{}|", align.join("|"));
    for m in rows {
        let mut cells = vec![
            escape(&m.case()),
            metric_cell(&m.metric),
            escape(&format_metric(&m.metric, m.baseline_median)),
            escape(&format_metric(&m.metric, m.candidate_median)),
            escape(&change_text(m)),
            escape(&interval_text(m)),
            escape(&threshold_text(m)),
        ];
        let verdict = marker(m.verdict).to_owned();
        if verdict_first {
            cells.insert(0, verdict);
        } else {
            cells.push(verdict);
        }
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use reports::fixtures::{noisy_rr_result, of_backend, rr_result, stream_result};
    use reports::{compare, CompareOptions};

    #[test]
    fn regression_comes_first_with_a_bold_marker() {
        let base = stream_result("base01", &[10.0e9, 10.1e9, 9.9e9]);
        let cand = stream_result("cand02", &[7.0e9, 7.05e9, 6.95e9]);
        let cmp = compare(&base, &cand, &CompareOptions::default()).unwrap();
        let md = markdown(&cmp);
        let first = md.lines().next().unwrap();
        assert_eq!(first, "### cnbench compare vxlan: **REGRESSION**", "{md}");
        assert!(md.contains("1 regression"), "{md}");
        assert!(md.contains("| backend | vxlan | vxlan |"), "{md}");
        assert!(md.contains("| run | `base01` | `cand02` |"), "{md}");
        assert!(
            md.contains("| git revision | `abc123` | `abc123` |"),
            "{md}"
        );
        assert!(md.contains("| duration | 10 s | 10 s |"), "{md}");
        assert!(md.contains("| repetitions | 3 | 3 |"), "{md}");
        let changes = md.find("#### Metrics that changed").unwrap();
        let details = md.find("<details>").unwrap();
        assert!(changes < details);
        let row = md[changes..details]
            .lines()
            .find(|l| l.starts_with("| **REGRESSION**"))
            .unwrap();
        assert!(row.contains("tcp-stream cross-node"), "{row}");
        assert!(row.contains("`throughput_bps`"), "{row}");
        assert!(
            row.contains("10.00 Gbit/s") && row.contains("7.00 Gbit/s"),
            "{row}"
        );
        assert!(row.contains("-30.0%"), "{row}");
        assert!(md.contains("<summary>All 1 metrics</summary>"), "{md}");
        assert!(md.trim_end().ends_with("</details>"), "{md}");
    }

    #[test]
    fn every_table_row_has_as_many_cells_as_its_header() {
        let base = noisy_rr_result("base01", 1);
        let cand = noisy_rr_result("cand02", 2);
        let md = markdown(&compare(&base, &cand, &CompareOptions::default()).unwrap());
        let mut columns = None;
        for line in md.lines() {
            if line.starts_with('|') {
                let cells = line.replace("\\|", "").matches('|').count();
                match columns {
                    None => columns = Some(cells),
                    Some(n) => assert_eq!(n, cells, "{line}\n{md}"),
                }
            } else {
                columns = None;
            }
        }
    }

    #[test]
    fn pass_and_inconclusive_markers() {
        let base = rr_result("base01", 1.0);
        let same = markdown(&compare(&base, &base, &CompareOptions::default()).unwrap());
        assert!(
            same.starts_with("### cnbench compare vxlan: **pass**"),
            "{same}"
        );
        assert!(
            same.contains("No metric changed beyond its threshold"),
            "{same}"
        );

        let noisy = markdown(
            &compare(
                &noisy_rr_result("base01", 1),
                &noisy_rr_result("cand02", 2),
                &CompareOptions::default(),
            )
            .unwrap(),
        );
        assert!(
            noisy.starts_with("### cnbench compare vxlan: **INCONCLUSIVE**"),
            "{noisy}"
        );
        assert!(noisy.contains("--repeat 5"), "{noisy}");
    }

    #[test]
    fn emulated_runs_are_marked_at_the_top() {
        let on_vms = |mut r: reports::RunResult| {
            r.substrate = reports::Substrate::vm_tcg("6.1.0-56-cloud-amd64");
            r
        };
        let base = on_vms(rr_result("base01", 1.0));
        let md = markdown(&compare(&base, &base, &CompareOptions::default()).unwrap());
        let line = md.lines().nth(4).unwrap_or_default();
        assert_eq!(
            line,
            "> **Emulated:** substrate: vm (QEMU TCG emulation, kernel 6.1.0-56-cloud-amd64): \
             figures compare behaviour, not speed",
            "{md}"
        );
        assert!(
            md.contains(
                "| substrate | vm (QEMU TCG emulation, kernel 6.1.0-56-cloud-amd64) | vm (QEMU \
                 TCG emulation, kernel 6.1.0-56-cloud-amd64) |"
            ),
            "{md}"
        );
        assert!(
            md.contains("- both runs are emulated (QEMU TCG emulation)"),
            "{md}"
        );

        let plain = rr_result("base01", 1.0);
        let md = markdown(&compare(&plain, &plain, &CompareOptions::default()).unwrap());
        assert!(!md.contains("Emulated"), "{md}");
        assert!(
            md.contains(
                "| substrate | netns (network namespaces, kernel 6.8.0-45-generic) | netns \
                 (network namespaces, kernel 6.8.0-45-generic) |"
            ),
            "{md}"
        );
    }

    #[test]
    fn across_backends_the_heading_names_both_and_the_conformance_is_shown() {
        let across = CompareOptions {
            across_backends: true,
            ..CompareOptions::default()
        };
        let bridge = of_backend(rr_result("base01", 1.0), "bridge");
        let mut cni = of_backend(rr_result("cand02", 1.0), "cni");
        cni.parameters
            .set_backend_options([("cni-conf".to_owned(), "docker0.conflist".to_owned())].into());
        cni.checks[0].outcome = reports::CheckOutcome::Fail;
        let md = markdown(&compare(&bridge, &cni, &across).unwrap());
        assert_eq!(
            md.lines().next(),
            Some(
                "### cnbench compare bridge (baseline) vs cni cni-conf=docker0.conflist \
                 (candidate), across backends: **REGRESSION**"
            ),
            "{md}"
        );
        assert!(md.contains("| backend | bridge | cni |"), "{md}");
        assert!(
            md.contains("| backend options | - | `cni-conf=docker0.conflist` |"),
            "{md}"
        );
        assert!(
            md.contains(
                "#### Conformance\n\nChecks: not compared one by one across backends (their \
                 devices and names differ): only whether each run passed them all.\n\n- \
                 **REGRESSION** baseline: all 3 checks passed; candidate: 1 of 3 checks failed \
                 (reachability cnb-&lt;run&gt;-n0p0 -&gt; 100.96.1.2 icmp)\n"
            ),
            "{md}"
        );
        assert!(!md.contains("#### Checks"), "{md}");
        // Runs of one backend without options have no options row.
        let same = markdown(&compare(&bridge, &bridge, &across).unwrap());
        assert!(!same.contains("backend options"), "{same}");
        assert!(
            same.starts_with("### cnbench compare bridge: **pass**"),
            "{same}"
        );
    }

    #[test]
    fn the_software_under_test_is_a_row_of_the_runs_table() {
        let base = of_backend(rr_result("base01", 1.0), "cni");
        let mut cand = of_backend(rr_result("cand02", 1.0), "cni");
        cand.components = reports::fixtures::cni_components();
        let md = markdown(&compare(&base, &cand, &CompareOptions::default()).unwrap());
        assert!(
            md.contains(
                "| software under test | - | CNI network docker0 (CNI 1.0.0; chain bridge \
                 -&gt; portmap; /etc/cni/net.d/docker0.conflist) · bridge /usr/lib/cni/bridge \
                 (CNI 0.1.0–1.0.0) · host-local /usr/lib/cni/host-local (CNI 0.1.0–1.0.0) · \
                 portmap /usr/lib/cni/portmap (CNI 0.1.0–1.0.0) |\n"
            ),
            "{md}"
        );
        // Only one side recorded any: no warning about them.
        assert!(!md.contains("#### Warnings"), "{md}");

        // Both did, and they differ: the row gives each, the warning what differs.
        let mut with = base.clone();
        with.components = reports::fixtures::cni_components();
        with.components[0].notes[2] = "chain: bridge".into();
        let md = markdown(&compare(&with, &cand, &CompareOptions::default()).unwrap());
        assert!(
            md.contains("| software under test | CNI network docker0 (CNI 1.0.0; chain bridge; "),
            "{md}"
        );
        assert!(
            md.contains(
                "#### Warnings\n\n- the runs drove different software under test (CNI network \
                 docker0: chain differs (baseline bridge, candidate bridge -&gt; portmap)): "
            ),
            "{md}"
        );

        // Neither: no row.
        let plain = markdown(&compare(&base, &base, &CompareOptions::default()).unwrap());
        assert!(!plain.contains("software under test"), "{plain}");
    }

    #[test]
    fn checks_that_did_not_apply_are_information() {
        use crate::test_support::rr_with_gc;
        use reports::CheckOutcome::{Fail, NotApplicable};
        let c = compare(
            &rr_with_gc("base01", NotApplicable),
            &rr_with_gc("cand02", Fail),
            &CompareOptions::default(),
        )
        .unwrap();
        let md = markdown(&c);
        assert!(
            md.contains(
                "#### Checks that changed\n\n- info cni-gc cnb-&lt;run&gt;-n0 docker0: N/A -&gt; \
                 FAIL (expected: GC succeeds, actual: CNI error 7) baseline reason: not \
                 applicable: the plugin supports up to CNI 1.0.0, GC came with 1.1.0\n"
            ),
            "{md}"
        );
        assert!(
            md.contains(
                "- 1 check that did not apply in the baseline fails in the candidate (not \
                 compared): cni-gc cnb-&lt;run&gt;-n0 docker0\n"
            ),
            "{md}"
        );
        assert!(
            md.starts_with("### cnbench compare vxlan: **pass**"),
            "{md}"
        );
        // Not applicable in both: nothing changed.
        let both = markdown(
            &compare(
                &rr_with_gc("base01", NotApplicable),
                &rr_with_gc("cand02", NotApplicable),
                &CompareOptions::default(),
            )
            .unwrap(),
        );
        assert!(
            both.contains("#### Checks\n\nNo check changed its outcome (4 compared).\n"),
            "{both}"
        );
    }

    #[test]
    fn text_from_results_is_escaped() {
        let mut base = rr_result("base01", 1.0);
        base.checks[0].outcome = reports::CheckOutcome::Pass;
        let mut cand = rr_result("cand02", 1.0);
        cand.checks[0].outcome = reports::CheckOutcome::Fail;
        cand.checks[0].reason = Some("a | in a <reason>".into());
        let md = markdown(&compare(&base, &cand, &CompareOptions::default()).unwrap());
        assert!(md.contains("#### Checks that changed"), "{md}");
        let line = md
            .lines()
            .find(|l| l.starts_with("- **REGRESSION**"))
            .unwrap();
        assert!(line.contains("cnb-&lt;run&gt;-n0p0"), "{line}");
        assert!(line.contains("a \\| in a &lt;reason&gt;"), "{line}");
    }
}
