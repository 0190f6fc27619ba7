//! `index.html`: one self-contained page (inline CSS, plots as inline SVG, no scripts, fonts
//! or anything else fetched), readable offline and as an e-mail attachment.

use std::fmt::Write as _;

use reports::CheckOutcome;

use crate::escape::html as esc;
use crate::model::Group;
use crate::overview::{overview, Overview};
use crate::tables::{self, Table, Tone};
use crate::words::substrate_line;
use crate::Rendered;

const CSS: &str = "
body{font-family:'DejaVu Sans',system-ui,sans-serif;margin:0 auto;max-width:1240px;padding:0 20px 40px;color:#212529;line-height:1.45}
h1{font-size:1.7em;margin:24px 0 4px}h2{margin-top:36px;border-bottom:1px solid #dee2e6;padding-bottom:4px}
h3{margin:24px 0 8px}
nav a{margin-right:14px}
table{border-collapse:collapse;margin:8px 0 16px;font-size:.88em}
th,td{border:1px solid #dee2e6;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f1f3f5}
td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
td.pass{background:#e6f4ea}td.fail{background:#fde2e1;font-weight:bold}td.xfail{background:#fff4d6}
td.muted{color:#868e96}
.scroll{overflow-x:auto}
figure{margin:20px 0 36px}
figure svg{max-width:100%;height:auto;display:block;border:1px solid #e9ecef}
figcaption{font-size:.9em;color:#495057;margin-top:6px;max-width:1200px}
details{margin:6px 0 12px}summary{cursor:pointer;font-weight:bold}
.note{color:#495057;font-size:.92em}
.warn{color:#8a5300}
.emulated{background:#fff4d6;border-left:4px solid #e8a200;padding:6px 10px}
.overview{border:1px solid #ced4da;border-radius:6px;padding:4px 16px 8px;margin:16px 0 24px;background:#fcfcfd}
.overview h2{margin-top:12px}
.overview table{font-size:.9em}
ul.warn li{color:#8a5300}
";

fn table(out: &mut String, t: &Table) {
    if t.rows.is_empty() {
        out.push_str("<p class=\"note\">Nothing to show.</p>\n");
        return;
    }
    out.push_str("<div class=\"scroll\"><table>\n<tr>");
    for h in &t.head {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr>\n");
    for row in &t.rows {
        out.push_str("<tr>");
        for c in row {
            let class = match c.tone {
                Tone::Plain => "",
                Tone::Num => " class=\"num\"",
                Tone::Pass => " class=\"pass\"",
                Tone::Fail => " class=\"fail\"",
                Tone::XFail => " class=\"xfail\"",
                Tone::Muted => " class=\"muted\"",
            };
            let _ = write!(out, "<td{class}>{}</td>", esc(&c.text));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table></div>\n");
}

/// The SVG as plotters wrote it, made fit for inlining: the XML namespace declaration (an
/// `http://` URL, and redundant inside HTML) is dropped, and the plot gets an accessible name.
pub(crate) fn inline_svg(svg: &str, title: &str) -> String {
    let svg = svg.trim_start_matches(|c: char| c != '<');
    let svg = svg
        .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
        .unwrap_or(svg);
    let svg = svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1);
    svg.replacen(
        "<svg ",
        &format!("<svg role=\"img\" aria-label=\"{}\" ", esc(title)),
        1,
    )
}

/// The whole page: the inputs and machines, then the sections of each group of results
/// (namespace results, VM results), each under its own heading when there is more than
/// namespace results.
pub(crate) fn render(groups: &[Group], rendered: &[Rendered]) -> String {
    let mut o = String::new();
    o.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    o.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let title = crate::report_title(groups);
    let _ = writeln!(o, "<title>{}</title>", esc(&title));
    let _ = writeln!(o, "<style>{CSS}</style>\n</head>\n<body>");
    let _ = writeln!(o, "<h1>{}</h1>", esc(&title));
    for g in groups.iter().filter(|g| g.emulated()) {
        let _ = writeln!(
            o,
            "<p class=\"emulated\"><b>Emulated:</b> {} ran under {}; their figures compare \
             behaviour, not speed, and are shown apart, under <a href=\"#{}\">{}</a>.</p>",
            esc(&g.files().join(", ")),
            esc(&g.substrates[0].how()),
            esc(&anchor(g)),
            esc(&g.title())
        );
    }
    for g in groups {
        if let Some(ov) = overview(&g.model) {
            at_a_glance(&mut o, g, &ov);
        }
    }
    let grouped = groups.iter().any(|g| g.mark.is_some());
    o.push_str("<nav><a href=\"#inputs\">Inputs</a><a href=\"#environment\">Environment</a>");
    if grouped {
        for g in groups {
            let _ = write!(
                o,
                "<a href=\"#{}\">{}</a>",
                esc(&anchor(g)),
                esc(&g.title())
            );
        }
    } else if let Some(g) = groups.first() {
        o.push_str(
            "<a href=\"#parameters\">Parameters</a><a href=\"#conformance\">Conformance</a>",
        );
        if g.model
            .runs
            .iter()
            .any(|r| !r.result.plugin_calls.is_empty())
        {
            o.push_str("<a href=\"#plugin-calls\">Plugin calls</a>");
        }
        o.push_str("<a href=\"#results\">Results</a>");
        if has_churn(g) {
            o.push_str("<a href=\"#churn\">Pod churn</a>");
        }
        o.push_str(
            "<a href=\"#plots\">Plots</a><a href=\"#costs\">Costs</a>\
             <a href=\"#warnings\">Warnings</a>",
        );
        if !g.model.scales.is_empty() {
            o.push_str("<a href=\"#scale\">Scale</a>");
        }
    }
    o.push_str("</nav>\n");

    o.push_str("<h2 id=\"inputs\">Inputs</h2>\n");
    table(&mut o, &tables::inputs(groups));
    for run in groups.iter().flat_map(|g| &g.model.runs) {
        if let reports::Outcome::Error { message } = &run.result.outcome {
            let _ = writeln!(
                o,
                "<p class=\"warn\">{} stopped with an error, so its figures are incomplete: {}</p>",
                esc(run.file),
                esc(message)
            );
        }
    }

    o.push_str("<h2 id=\"environment\">Environment</h2>\n");
    if grouped {
        o.push_str(
            "<p class=\"note\">The machines cnbench ran on; for VM results, the machine QEMU \
             ran on (the VMs' kernel is in their parameters).</p>\n",
        );
    }
    table(&mut o, &tables::environment(groups));

    for (g, r) in groups.iter().zip(rendered) {
        group(&mut o, g, r);
    }
    o.push_str("</body>\n</html>\n");
    o
}

/// The first screen of a group: each backend and path against host-net, the structural
/// costs, the conformance verdict and the warnings about them.
fn at_a_glance(o: &mut String, g: &Group, ov: &Overview) {
    let _ = writeln!(
        o,
        "<section class=\"overview\">\n<h2 id=\"{}\">{}</h2>",
        esc(&g.id("at-a-glance")),
        esc(&g.marked("At a glance"))
    );
    table(o, &ov.table);
    let _ = writeln!(o, "<p class=\"note\">{}</p>", esc(&ov.legend));
    if !ov.software.is_empty() {
        let _ = writeln!(
            o,
            "<p><b>Software under test</b> (run by the backend, not written by cnbench):</p>\n\
             <ul class=\"software\">"
        );
        for s in &ov.software {
            let _ = write!(o, "<li><b>{}</b>: {}", esc(&s.run), esc(&s.line));
            if !s.notes.is_empty() {
                o.push_str("<ul class=\"note\">");
                for n in &s.notes {
                    let _ = write!(o, "<li>{}</li>", esc(n));
                }
                o.push_str("</ul>");
            }
            o.push_str("</li>\n");
        }
        o.push_str("</ul>\n");
    }
    for n in &ov.notes {
        let _ = writeln!(o, "<p class=\"note\">{}.</p>", esc(n));
    }
    if ov.warnings.is_empty() {
        o.push_str("<p class=\"note\">No warnings about these figures.</p>\n");
    } else {
        let _ = writeln!(
            o,
            "<p><b>Warnings</b> ({}):</p>\n<ul class=\"warn\">",
            ov.warnings.len()
        );
        for (at, w) in &ov.warnings {
            let _ = writeln!(o, "<li><b>{}</b>: {}</li>", esc(at), esc(w));
        }
        o.push_str("</ul>\n");
    }
    o.push_str("</section>\n");
}

/// The plugin calls of each run that made any (a CNI chain's verbs), one table per run with a
/// row per plugin and verb; nothing when no run made any.
fn plugin_calls(o: &mut String, g: &Group, h2: &str, h3: &str) {
    let runs: Vec<_> = g
        .model
        .runs
        .iter()
        .filter(|r| !r.result.plugin_calls.is_empty())
        .collect();
    if runs.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "<{h2} id=\"{}\">{}</{h2}>",
        esc(&g.id("plugin-calls")),
        esc(&g.marked("Plugin calls"))
    );
    let _ = writeln!(
        o,
        "<p class=\"note\">Every invocation of a plugin the run made, per plugin and verb. {}</p>",
        esc(crate::plugin_calls::LEGEND)
    );
    for run in runs {
        let calls = &run.result.plugin_calls;
        let _ = writeln!(
            o,
            "<{h3}>{}: {}</{h3}>",
            esc(&run.label),
            esc(&crate::plugin_calls::total(calls).unwrap_or_default())
        );
        table(o, &tables::plugin_calls(calls));
    }
}

/// Whether any run of the group measured pod churn.
fn has_churn(g: &Group) -> bool {
    g.model
        .runs
        .iter()
        .any(|r| r.result.measurements.iter().any(crate::churn::is_churn))
}

/// The pod churn of the group's runs: a row per run and concurrency level, then what the
/// daemons held over the cycles; nothing when no run measured churn.
fn churn(o: &mut String, g: &Group, h2: &str, h3: &str) {
    let t = tables::churn(&g.model);
    if t.rows.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "<{h2} id=\"{}\">{}</{h2}>",
        esc(&g.id("churn")),
        esc(&g.marked("Pod churn"))
    );
    let how = crate::churn::how(g.model.runs.iter().filter_map(|r| r.result.churn.as_ref()));
    let _ = writeln!(
        o,
        "<p class=\"note\">{} {}</p>",
        esc(crate::churn::LEGEND),
        esc(&how)
    );
    table(o, &t);
    let daemons = tables::churn_daemons(&g.model);
    if !daemons.rows.is_empty() {
        let _ = writeln!(o, "<{h3}>{}</{h3}>", esc("Daemons over the cycles"));
        o.push_str(
            "<p class=\"note\">Open file descriptors and resident memory of each daemon \
             before the first cycle and after the last; the run's daemon-fds and daemon-rss \
             checks (under Conformance) judge whether they grew.</p>\n",
        );
        table(o, &daemons);
    }
}

/// The anchor of a group's heading: `namespace-results`, `vm-emulated`.
fn anchor(g: &Group) -> String {
    if g.slug.is_empty() {
        "namespace-results".to_owned()
    } else {
        g.slug.clone()
    }
}

/// The sections of one group of results. Under a group heading (when the report has more
/// than namespace results) every heading is one level down and names the group.
fn group(o: &mut String, g: &Group, r: &Rendered) {
    let model = &g.model;
    let (h2, h3) = if g.mark.is_some() {
        ("h3", "h4")
    } else {
        ("h2", "h3")
    };
    let heading = |o: &mut String, level: &str, id: Option<&str>, text: &str| {
        let id = id
            .map(|id| format!(" id=\"{}\"", esc(&g.id(id))))
            .unwrap_or_default();
        let _ = writeln!(o, "<{level}{id}>{}</{level}>", esc(&g.marked(text)));
    };
    if g.mark.is_some() {
        let _ = writeln!(o, "<h2 id=\"{}\">{}</h2>", esc(&anchor(g)), esc(&g.title()));
        let class = if g.emulated() { "emulated" } else { "note" };
        for s in &g.substrates {
            let _ = writeln!(o, "<p class=\"{class}\">{}</p>", esc(&substrate_line(s)));
        }
        if g.emulated() {
            let _ = writeln!(
                o,
                "<p class=\"emulated\">{}.</p>",
                esc(reports::EMULATED_NOTE)
            );
        }
    }

    if !model.runs.is_empty() {
        heading(o, h2, Some("parameters"), "Parameters");
        table(o, &tables::parameters(model));

        heading(o, h2, Some("conformance"), "Conformance");
        o.push_str(
            "<p class=\"note\">Each check compares what the backend declares with what the \
             kernel shows (or what traffic does). An expected failure (xfail) is one the \
             backend declares it must fail, such as host-gw across an l3 underlay. A check not \
             applicable (n/a) was not made, because it does not apply (its reason says why, \
             such as a CNI plugin that speaks no version with the verb it needs): neither a pass \
             nor a failure.</p>\n",
        );
        table(o, &tables::conformance(model));
        for run in &model.runs {
            for (outcome, what) in [
                (CheckOutcome::Fail, "failed checks"),
                (CheckOutcome::ExpectedFailure, "expected failures"),
                (CheckOutcome::NotApplicable, "checks not applicable"),
            ] {
                let t = tables::evidence(&run.result.checks, outcome);
                if t.rows.is_empty() {
                    continue;
                }
                let open = if outcome == CheckOutcome::Fail {
                    " open"
                } else {
                    ""
                };
                let _ = writeln!(
                    o,
                    "<details{open}><summary>{}: {} {what}</summary>",
                    esc(&run.label),
                    t.rows.len()
                );
                table(o, &t);
                o.push_str("</details>\n");
            }
        }

        plugin_calls(o, g, h2, h3);

        heading(o, h2, Some("results"), "Results");
        o.push_str(
            "<p class=\"note\">Medians over the repetitions of each workload, with the range; \
             \"vs host-net\" divides by the median of the host-network baseline measured in \
             the same session.</p>\n",
        );
        table(o, &tables::headline(model));
        let ratios = tables::ratios(model);
        if !ratios.rows.is_empty() {
            heading(o, h3, None, "Compared with host-net (ratio of medians)");
            o.push_str(
                "<p class=\"note\">Above 1 means more than host-net: better for rates, worse \
                 for round-trip times. cnbench divides by the baseline measurement of the same \
                 workload and variant; the baseline is measured between two nodes, so same-node \
                 rows are compared with that cross-node host path.</p>\n",
            );
            table(o, &ratios);
        }
        churn(o, g, h2, h3);
    }

    heading(o, h2, Some("plots"), "Plots");
    for p in &r.plots {
        let _ = writeln!(o, "<figure id=\"plot-{}\">", esc(&p.name));
        o.push_str(&inline_svg(&p.svg, &p.title));
        let _ = writeln!(
            o,
            "<figcaption><b>{}.</b> {} Files: <a href=\"{n}.svg\">{n}.svg</a>, \
             <a href=\"{n}.png\">{n}.png</a>.</figcaption>\n</figure>",
            esc(&p.title),
            esc(&p.caption),
            n = esc(&p.name)
        );
    }
    for (title, why) in &r.omitted {
        let _ = writeln!(
            o,
            "<p class=\"note\">Plot left out, {}: {}.</p>",
            esc(title),
            esc(why)
        );
    }

    if !model.runs.is_empty() {
        heading(o, h2, Some("costs"), "Costs");
        o.push_str(
            "<p class=\"note\">Medians over repetitions. Packets and bytes are those of the \
             client pod's eth0, sent plus received, warm-up included. Kernel counters are \
             summed over all repetitions; TCP retransmissions on veth paths are mostly \
             reordering between CPUs, not loss.</p>\n",
        );
        table(o, &tables::costs(model));
        heading(o, h3, None, "Per role");
        table(o, &tables::roles(model));

        heading(o, h2, Some("warnings"), "Warnings");
        let warnings = tables::warnings(model);
        if warnings.is_empty() {
            o.push_str("<p class=\"note\">None: every measurement was steady.</p>\n");
        } else {
            o.push_str("<ul>\n");
            for (at, w) in warnings {
                let _ = writeln!(o, "<li><b>{}</b>: {}</li>", esc(&at), esc(&w));
            }
            o.push_str("</ul>\n");
        }
    }

    let faults = tables::faults(model);
    if !faults.rows.is_empty() {
        heading(o, h2, Some("faults"), "Faults");
        o.push_str(
            "<p class=\"note\">Each fault was injected while every pod probed every other at a \
             fixed rate (sequence-numbered UDP). Lost during: probes sent while the fault held; \
             lost after: sent after it ended; recovery: from the fault's end until every pair \
             answered again for good (router-down: its end is the router going down, and the \
             pairs must answer through the other router while it is down). Every conformance \
             check then ran again.</p>\n",
        );
        table(o, &faults);
        let evidence = tables::fault_evidence(model);
        if !evidence.rows.is_empty() {
            heading(o, h3, None, "Checks that failed after a fault");
            table(o, &evidence);
        }
    }

    if !model.scales.is_empty() {
        heading(o, h2, Some("scale"), "Control-plane scale");
        table(o, &tables::scale(model));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page of `vxlan.json` (from tests/data) as run by a backend that recorded
    /// `components`, without plots.
    fn page(components: Vec<reports::ComponentRecord>) -> String {
        let inputs = crate::test_support::vxlan_with(components);
        let (groups, rendered) = crate::test_support::unplotted(&inputs);
        render(&groups, &rendered)
    }

    #[test]
    fn the_software_under_test_is_at_a_glance() {
        let html = page(reports::fixtures::cni_components());
        let glance = &html[html.find("At a glance").unwrap()..html.find("<nav>").unwrap()];
        assert!(
            glance.contains(
                "<p><b>Software under test</b> (run by the backend, not written by cnbench):</p>\n\
                 <ul class=\"software\">\n<li><b>vxlan</b>: CNI network docker0 (CNI 1.0.0; chain \
                 bridge -&gt; portmap; /etc/cni/net.d/docker0.conflist) · bridge \
                 /usr/lib/cni/bridge (CNI 0.1.0–1.0.0) · host-local /usr/lib/cni/host-local (CNI \
                 0.1.0–1.0.0) · portmap /usr/lib/cni/portmap (CNI 0.1.0–1.0.0)<ul \
                 class=\"note\"><li>docker0: bridge: mtu 1400 kept as configured (the \
                 backend&#39;s pod MTU is 1450)</li></ul></li>\n</ul>\n"
            ),
            "{glance}"
        );
        // Under the table and its legend, before the warnings.
        let at = glance.find("Software under test").unwrap();
        assert!(glance.find("</table>").unwrap() < at, "{glance}");
        assert!(
            at < glance
                .find("No warnings")
                .or(glance.find("<b>Warnings</b>"))
                .unwrap()
        );
    }

    #[test]
    fn no_software_under_test_is_shown_when_none_was_recorded() {
        let html = page(Vec::new());
        assert!(html.contains("At a glance"));
        assert!(!html.contains("Software under test"), "{html}");
    }

    #[test]
    fn plugin_calls_and_checks_that_did_not_apply() {
        let inputs = crate::test_support::vxlan_cni();
        let (groups, rendered) = crate::test_support::unplotted(&inputs);
        let html = render(&groups, &rendered);
        // Counted at a glance and in the matrix, listed with the reason under Conformance.
        assert!(
            html.contains("<td class=\"pass\">90 passed · 1 not applicable</td>"),
            "{html}"
        );
        assert!(
            html.contains("<tr><td>cni-gc</td><td class=\"muted\">1 n/a</td></tr>"),
            "{html}"
        );
        assert!(
            html.contains(
                "<details><summary>vxlan: 1 checks not applicable</summary>\n<div \
                 class=\"scroll\"><table>\n<tr><th>kind</th><th>subject</th><th>expected</th>\
                 <th>actual</th><th>reason</th></tr>\n<tr><td>cni-gc</td><td>cnb-e5e9fa-n0 \
                 docker0</td><td>GC succeeds</td><td>not made</td><td>not applicable: the plugin \
                 supports up to CNI 1.0.0, GC came with 1.1.0</td></tr>"
            ),
            "{html}"
        );
        assert!(html.contains("A check not applicable (n/a) was not made"));
        // The plugin calls after the conformance, before the results, linked from the top.
        assert!(html.contains("<a href=\"#plugin-calls\">Plugin calls</a>"));
        let at = html
            .find("<h2 id=\"plugin-calls\">Plugin calls</h2>")
            .unwrap();
        assert!(html.find("<h2 id=\"conformance\">").unwrap() < at);
        let end = html.find("<h2 id=\"results\">").unwrap();
        assert!(at < end);
        let section = &html[at..end];
        assert!(
            section.contains(
                "<h3>vxlan: 27 plugin calls, 10.4 s of wall time, 3 not ok</h3>\n<div \
                 class=\"scroll\"><table>\n<tr><th>plugin</th><th>verb</th><th>calls</th>\
                 <th>median (ms)</th><th>p90 (ms)</th><th>max (ms)</th><th>not ok</th></tr>\n\
                 <tr><td>bridge</td><td>ADD</td><td class=\"num\">4</td><td \
                 class=\"num\">42.6</td><td class=\"num\">52.3</td><td class=\"num\">52.3</td>\
                 <td class=\"muted\">none</td></tr>"
            ),
            "{section}"
        );
        assert!(
            section.contains("<td class=\"fail\">1 timed out</td>"),
            "{section}"
        );
        assert_eq!(section.matches("<tr>").count(), 1 + 9, "{section}");
    }

    #[test]
    fn nothing_of_plugin_calls_or_checks_that_did_not_apply_without_them() {
        let html = page(reports::fixtures::cni_components());
        assert!(!html.contains("plugin-calls"), "{html}");
        assert!(!html.contains("Plugin calls"), "{html}");
        assert!(!html.contains("1 n/a"), "{html}");
        assert!(!html.contains("not applicable<"), "{html}");
        assert!(!html.contains("checks not applicable"), "{html}");
    }

    #[test]
    fn pod_churn_has_a_section_with_a_row_per_level() {
        let inputs = vec![
            crate::Input::run(
                "vxlan.json",
                reports::fixtures::churn_result("ch01", "vxlan", 1.0, 100.0, false),
            ),
            crate::Input::run(
                "bgp.json",
                reports::fixtures::churn_result("ch02", "bgp", 0.5, 150.0, true),
            ),
        ];
        let (groups, rendered) = crate::test_support::unplotted(&inputs);
        let html = render(&groups, &rendered);
        assert!(html.contains("<a href=\"#churn\">Pod churn</a>"), "{html}");
        let at = html.find("<h2 id=\"churn\">Pod churn</h2>").unwrap();
        assert!(html.find("<h2 id=\"results\">").unwrap() < at);
        let section = &html[at..html.find("<h2 id=\"plots\">").unwrap()];
        assert!(section.contains("sent every 1.00 ms"), "{section}");
        assert!(
            section.contains(
                "<tr><td>vxlan</td><td class=\"num\">1</td><td class=\"num\">4</td><td \
                 class=\"num\">2</td><td class=\"num\">110 pods/s</td><td \
                 class=\"num\">4.00 ms</td><td class=\"num\">6.00 ms</td><td \
                 class=\"num\">6.00 ms</td><td class=\"num\">6.00 ms</td><td \
                 class=\"num\">13.0 ms</td><td class=\"num\">40.0 ms</td>"
            ),
            "{section}"
        );
        // bgp has withdrawal times, so the table has their column and vxlan a dash in it.
        assert!(section.contains("<th>withdrawn p50</th>"), "{section}");
        assert!(
            section.contains("<td class=\"num\">10.5 ms</td>"),
            "{section}"
        );
        assert_eq!(
            section.matches("<td>vxlan</td>").count(),
            2 + 2,
            "{section}"
        );
        assert!(
            section.contains(
                "<tr><td>vxlan</td><td>vxlan daemon n1</td><td class=\"num\">413</td><td \
                 class=\"num\">30</td><td class=\"num\">34</td>"
            ),
            "{section}"
        );
        // At a glance points to it and asks for no host-net baseline.
        let glance = &html[..html.find("<nav>").unwrap()];
        assert!(
            glance.contains("vxlan measured pod churn at concurrency 1, 4: see Pod churn below"),
            "{glance}"
        );
        assert!(!glance.contains("no host-net baseline"), "{glance}");
        // The headline medians name churn metrics in words.
        assert!(
            html.contains("<td>pods added per second</td><td class=\"num\">110 pods/s</td>"),
            "{html}"
        );
    }

    #[test]
    fn no_pod_churn_without_it() {
        let html = page(Vec::new());
        assert!(!html.contains("Pod churn"), "{html}");
        assert!(!html.contains("id=\"churn\""), "{html}");
    }

    #[test]
    fn inlined_svg_has_no_namespace_url() {
        let svg = "<svg width=\"10\" height=\"10\" viewBox=\"0 0 10 10\" xmlns=\"http://www.w3.org/2000/svg\">\n</svg>\n";
        let s = inline_svg(svg, "A <plot>");
        assert!(!s.contains("http://"), "{s}");
        assert!(
            s.starts_with("<svg role=\"img\" aria-label=\"A &lt;plot&gt;\" width=\"10\""),
            "{s}"
        );
    }
}
