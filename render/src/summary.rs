//! `summary.md`: the report in Markdown, for a pull request or an issue: environment,
//! conformance per backend, the plugin calls of runs that made any, headline medians with
//! their ratio to host-net, pod churn per concurrency level, and the plots as links to the PNGs beside it; results of each
//! substrate (namespaces, emulated VMs) under a heading of their own when there is more than
//! namespace results.

use std::fmt::Write as _;

use reports::CheckOutcome;

use crate::escape::markdown as cell;
use crate::model::Group;
use crate::overview::overview;
use crate::tables::{self, Table};
use crate::words::substrate_line;
use crate::Rendered;

fn table(out: &mut String, t: &Table) {
    if t.rows.is_empty() {
        out.push_str("Nothing to show.\n\n");
        return;
    }
    let head: Vec<String> = t.head.iter().map(|h| cell(h)).collect();
    let _ = writeln!(out, "| {} |", head.join(" | "));
    let align: Vec<&str> = (0..t.head.len())
        .map(|i| {
            let numeric = t
                .rows
                .iter()
                .all(|r| r.get(i).is_some_and(|c| c.tone == tables::Tone::Num));
            if numeric {
                "---:"
            } else {
                "---"
            }
        })
        .collect();
    let _ = writeln!(out, "| {} |", align.join(" | "));
    for row in &t.rows {
        let cells: Vec<String> = row.iter().map(|c| cell(&c.text)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out.push('\n');
}

/// The whole summary: inputs and machines, then each group of results (namespace results,
/// VM results) under its own heading when there is more than namespace results.
pub(crate) fn render(groups: &[Group], rendered: &[Rendered]) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# {}\n", crate::report_title(groups));
    for g in groups.iter().filter(|g| g.emulated()) {
        let _ = writeln!(
            o,
            "> **Emulated:** {} ran under {}; their figures compare behaviour, not speed, and \
             are shown apart, under *{}*.\n",
            cell(&g.files().join(", ")),
            g.substrates[0].how(),
            g.title()
        );
    }
    for g in groups {
        if let Some(ov) = overview(&g.model) {
            let _ = writeln!(o, "## {}\n", cell(&g.marked("At a glance")));
            table(&mut o, &ov.table);
            let _ = writeln!(o, "{}\n", cell(&ov.legend));
            if !ov.software.is_empty() {
                let _ = writeln!(
                    o,
                    "**Software under test** (run by the backend, not written by cnbench):\n"
                );
                for s in &ov.software {
                    let _ = writeln!(o, "- **{}**: {}", cell(&s.run), cell(&s.line));
                    for n in &s.notes {
                        let _ = writeln!(o, "  - {}", cell(n));
                    }
                }
                o.push('\n');
            }
            for n in &ov.notes {
                let _ = writeln!(o, "*{}.*\n", cell(n));
            }
            if !ov.warnings.is_empty() {
                let _ = writeln!(o, "**Warnings** ({}):\n", ov.warnings.len());
                for (at, w) in &ov.warnings {
                    let _ = writeln!(o, "- **{}**: {}", cell(at), cell(w));
                }
                o.push('\n');
            }
        }
    }
    o.push_str(
        "The full report, with every table and the plots inline, is `index.html` beside this \
         file.\n\n## Inputs\n\n",
    );
    table(&mut o, &tables::inputs(groups));
    for run in groups.iter().flat_map(|g| &g.model.runs) {
        if let reports::Outcome::Error { message } = &run.result.outcome {
            let _ = writeln!(
                o,
                "> **{}** stopped with an error, so its figures are incomplete: {}\n",
                run.file,
                cell(message)
            );
        }
    }
    o.push_str("## Environment\n\n");
    table(&mut o, &tables::environment(groups));
    for (g, r) in groups.iter().zip(rendered) {
        group(&mut o, g, r);
    }
    o
}

/// The sections of one group. Under a group heading every heading is one level down and
/// names the group.
fn group(o: &mut String, g: &Group, r: &Rendered) {
    let model = &g.model;
    let (h2, h3) = if g.mark.is_some() {
        ("###", "####")
    } else {
        ("##", "###")
    };
    if g.mark.is_some() {
        let _ = writeln!(o, "## {}\n", g.title());
        let lead = if g.emulated() { "**Emulated:** " } else { "" };
        for s in &g.substrates {
            let _ = writeln!(o, "> {lead}{}\n", substrate_line(s));
        }
        if g.emulated() {
            let _ = writeln!(o, "{}.\n", reports::EMULATED_NOTE);
        }
    }

    if !model.runs.is_empty() {
        let _ = writeln!(o, "{h2} {}\n", g.marked("Parameters"));
        table(o, &tables::parameters(model));

        let _ = writeln!(o, "{h2} {}\n", g.marked("Conformance"));
        table(o, &tables::conformance(model));
        for run in &model.runs {
            for (outcome, what) in [
                (CheckOutcome::Fail, "Failed checks"),
                (CheckOutcome::ExpectedFailure, "Expected failures"),
                (CheckOutcome::NotApplicable, "Not applicable"),
            ] {
                let t = tables::evidence(&run.result.checks, outcome);
                if t.rows.is_empty() {
                    continue;
                }
                let _ = writeln!(o, "{h3} {what}: {} ({})\n", run.label, t.rows.len());
                table(o, &t);
            }
        }

        let calls: Vec<_> = model
            .runs
            .iter()
            .filter(|r| !r.result.plugin_calls.is_empty())
            .collect();
        if !calls.is_empty() {
            let _ = writeln!(
                o,
                "{h2} {}\n\nEvery invocation of a plugin the run made, per plugin and verb. {}\n",
                g.marked("Plugin calls"),
                cell(crate::plugin_calls::LEGEND)
            );
            for run in calls {
                let c = &run.result.plugin_calls;
                let _ = writeln!(
                    o,
                    "{h3} {}: {}\n",
                    cell(&run.label),
                    cell(&crate::plugin_calls::total(c).unwrap_or_default())
                );
                table(o, &tables::plugin_calls(c));
            }
        }

        let _ = writeln!(
            o,
            "{h2} {}\n\nMedians over repetitions with their range; \"vs host-net\" is the \
             ratio to the host-network baseline of the same session.\n",
            g.marked("Headline medians")
        );
        table(o, &tables::headline(model));

        let churn = tables::churn(model);
        if !churn.rows.is_empty() {
            let how = crate::churn::how(model.runs.iter().filter_map(|r| r.result.churn.as_ref()));
            let _ = writeln!(
                o,
                "{h2} {}\n\n{} {}\n",
                g.marked("Pod churn"),
                cell(crate::churn::LEGEND),
                cell(&how)
            );
            table(o, &churn);
            let daemons = tables::churn_daemons(model);
            if !daemons.rows.is_empty() {
                let _ = writeln!(o, "{h3} Daemons over the cycles\n");
                table(o, &daemons);
            }
        }
    }

    let _ = writeln!(o, "{h2} {}\n", g.marked("Plots"));
    for p in &r.plots {
        let _ = writeln!(
            o,
            "{h3} {}\n\n![{}]({}.png)\n\n{} ([SVG]({}.svg))\n",
            p.title, p.title, p.name, p.caption, p.name
        );
    }
    for (title, why) in &r.omitted {
        let _ = writeln!(o, "*Plot left out, {title}: {why}.*\n");
    }

    if !model.runs.is_empty() {
        let warnings = tables::warnings(model);
        if !warnings.is_empty() {
            let mut at: Vec<&str> = warnings.iter().map(|(a, _)| a.as_str()).collect();
            at.dedup();
            let _ = writeln!(
                o,
                "{h2} {}\n\n{} warnings about {} measurements (noisy repetitions, outliers, \
                 other work on the machine, missing cost figures): see `index.html`.\n",
                g.marked("Warnings"),
                warnings.len(),
                at.len()
            );
        }
    }
    let faults = tables::faults(model);
    if !faults.rows.is_empty() {
        let _ = writeln!(
            o,
            "{h2} {}\n\nInjected while every pod probed every other; recovery is from the \
             fault's end until every pair answered again for good.\n",
            g.marked("Faults")
        );
        table(o, &faults);
        let evidence = tables::fault_evidence(model);
        if !evidence.rows.is_empty() {
            let _ = writeln!(o, "{h3} Checks that failed after a fault\n");
            table(o, &evidence);
        }
    }
    if !model.scales.is_empty() {
        let _ = writeln!(o, "{h2} {}\n", g.marked("Control-plane scale"));
        table(o, &tables::scale(model));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// summary.md of `vxlan.json` (from tests/data) as run by a backend that recorded
    /// `components`, without plots.
    fn summary_md(components: Vec<reports::ComponentRecord>) -> String {
        let inputs = crate::test_support::vxlan_with(components);
        let (groups, rendered) = crate::test_support::unplotted(&inputs);
        render(&groups, &rendered)
    }

    #[test]
    fn the_software_under_test_is_at_a_glance() {
        let md = summary_md(reports::fixtures::cni_components());
        let glance = &md[md.find("## At a glance").unwrap()..md.find("## Inputs").unwrap()];
        assert!(
            glance.contains(
                "**Software under test** (run by the backend, not written by cnbench):\n\n\
                 - **vxlan**: CNI network docker0 (CNI 1.0.0; chain bridge -&gt; portmap; \
                 /etc/cni/net.d/docker0.conflist) · bridge /usr/lib/cni/bridge (CNI \
                 0.1.0–1.0.0) · host-local /usr/lib/cni/host-local (CNI 0.1.0–1.0.0) · portmap \
                 /usr/lib/cni/portmap (CNI 0.1.0–1.0.0)\n  \
                 - docker0: bridge: mtu 1400 kept as configured (the backend's pod MTU is \
                 1450)\n\n"
            ),
            "{glance}"
        );
        // After the table and its legend.
        assert!(glance.find("| backend |").unwrap() < glance.find("Software under test").unwrap());
    }

    #[test]
    fn no_software_under_test_is_shown_when_none_was_recorded() {
        let md = summary_md(Vec::new());
        assert!(md.contains("## At a glance"));
        assert!(!md.contains("Software under test"), "{md}");
    }

    #[test]
    fn plugin_calls_and_checks_that_did_not_apply() {
        let inputs = crate::test_support::vxlan_cni();
        let (groups, rendered) = crate::test_support::unplotted(&inputs);
        let md = render(&groups, &rendered);
        // Counted at a glance and in the matrix, listed with the reason under Conformance.
        assert!(md.contains("| 90 passed · 1 not applicable |"), "{md}");
        assert!(md.contains("| all checks | 90 pass · 1 n/a |"), "{md}");
        assert!(md.contains("| cni-gc | 1 n/a |"), "{md}");
        assert!(
            md.contains(
                "### Not applicable: vxlan (1)\n\n| kind | subject | expected | actual | reason \
                 |\n| --- | --- | --- | --- | --- |\n| cni-gc | cnb-e5e9fa-n0 docker0 | GC \
                 succeeds | not made | not applicable: the plugin supports up to CNI 1.0.0, GC \
                 came with 1.1.0 |\n"
            ),
            "{md}"
        );
        // The plugin calls after the conformance, before the headline medians.
        let at = md.find("## Plugin calls\n").unwrap();
        assert!(md.find("## Conformance").unwrap() < at);
        assert!(at < md.find("## Headline medians").unwrap());
        let section = &md[at..md.find("## Headline medians").unwrap()];
        assert!(
            section.contains(
                "### vxlan: 27 plugin calls, 10.4 s of wall time, 3 not ok\n\n\
                 | plugin | verb | calls | median (ms) | p90 (ms) | max (ms) | not ok |\n\
                 | --- | --- | ---: | ---: | ---: | ---: | --- |\n\
                 | bridge | ADD | 4 | 42.6 | 52.3 | 52.3 | none |\n"
            ),
            "{section}"
        );
        assert!(
            section.contains("| portmap | CHECK | 4 | 3.15 | 3.30 | 3.30 | 2 errors (code 7) |\n"),
            "{section}"
        );
        assert!(section.contains("the slowest call"), "{section}");
    }

    #[test]
    fn pod_churn_has_a_table() {
        let inputs = vec![crate::Input::run(
            "vxlan.json",
            reports::fixtures::churn_result("ch01", "vxlan", 1.0, 100.0, false),
        )];
        let (groups, rendered) = crate::test_support::unplotted(&inputs);
        let md = render(&groups, &rendered);
        let at = md.find("## Pod churn\n").unwrap();
        assert!(md.find("## Headline medians").unwrap() < at);
        assert!(
            md[at..].contains(
                "| vxlan | 1 | 4 | 2 | 110 pods/s | 4.00 ms | 6.00 ms | 6.00 ms | 6.00 ms | \
                 13.0 ms | 40.0 ms | 40.0 ms | 40.0 ms | 6.00 ms | 1.00 ms | 4.00 ms | 2.10 ms \
                 | 525 µs | 4.20 ms | none |\n"
            ),
            "{md}"
        );
        assert!(md.contains("### Daemons over the cycles"), "{md}");
        assert!(!summary_md(Vec::new()).contains("Pod churn"));
    }

    #[test]
    fn nothing_of_plugin_calls_or_checks_that_did_not_apply_without_them() {
        let md = summary_md(reports::fixtures::cni_components());
        assert!(!md.contains("Plugin calls"), "{md}");
        assert!(!md.contains("plugin call"), "{md}");
        assert!(!md.contains("n/a"), "{md}");
        assert!(!md.contains("not applicable"), "{md}");
        assert!(!md.contains("Not applicable"), "{md}");
    }
}
