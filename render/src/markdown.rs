//! `summary.md`: the report in Markdown, for a pull request or an issue: environment,
//! conformance per backend, headline medians with their ratio to host-net, and the plots as
//! links to the PNGs beside it.

use std::fmt::Write as _;

use reports::CheckOutcome;

use crate::model::Model;
use crate::tables::{self, Table};
use crate::Rendered;

/// A table cell's text made safe for a Markdown table: pipes escaped, line breaks flattened.
fn cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

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

/// The whole summary.
pub(crate) fn render(model: &Model, r: &Rendered) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# {}\n", crate::report_title(model));
    o.push_str(
        "The full report, with every table and the plots inline, is `index.html` beside this \
         file.\n\n## Inputs\n\n",
    );
    table(&mut o, &tables::inputs(model));
    for run in &model.runs {
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
    table(&mut o, &tables::environment(model));

    if !model.runs.is_empty() {
        o.push_str("## Parameters\n\n");
        table(&mut o, &tables::parameters(model));

        o.push_str("## Conformance\n\n");
        table(&mut o, &tables::conformance(model));
        for run in &model.runs {
            for (outcome, what) in [
                (CheckOutcome::Fail, "Failed checks"),
                (CheckOutcome::ExpectedFailure, "Expected failures"),
            ] {
                let t = tables::evidence(&run.result.checks, outcome);
                if t.rows.is_empty() {
                    continue;
                }
                let _ = writeln!(o, "### {what}: {} ({})\n", run.label, t.rows.len());
                table(&mut o, &t);
            }
        }

        o.push_str(
            "## Headline medians\n\nMedians over repetitions with their range; \"vs host-net\" \
             is the ratio to the host-network baseline of the same session.\n\n",
        );
        table(&mut o, &tables::headline(model));
    }

    o.push_str("## Plots\n\n");
    for p in &r.plots {
        let _ = writeln!(
            o,
            "### {}\n\n![{}]({}.png)\n\n{} ([SVG]({}.svg))\n",
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
                "## Warnings\n\n{} warnings about {} measurements (noisy repetitions, outliers, \
                 other work on the machine, missing cost figures): see `index.html`.\n",
                warnings.len(),
                at.len()
            );
        }
    }
    let faults = tables::faults(model);
    if !faults.rows.is_empty() {
        o.push_str(
            "## Faults\n\nInjected while every pod probed every other; recovery is from the \
             fault's end until every pair answered again for good.\n\n",
        );
        table(&mut o, &faults);
        let evidence = tables::fault_evidence(model);
        if !evidence.rows.is_empty() {
            o.push_str("### Checks that failed after a fault\n\n");
            table(&mut o, &evidence);
        }
    }
    if !model.scales.is_empty() {
        o.push_str("## Control-plane scale\n\n");
        table(&mut o, &tables::scale(model));
    }
    o
}
