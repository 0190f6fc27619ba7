//! The plots of a report, built from the model: what is shown, in which units, and a caption
//! saying how it was measured. A plot with no data at all is left out (the report says so);
//! a panel with no data is dropped and named in the plot's footnote; a row with no data in
//! one panel says "no data" there.

use crate::chart::{color, Axis, BarChart, BarPanel, Body, Chart, Key, Mark};
use crate::model::{cell, find, metric_stats, Case, Group, Model, PATHS};

mod churn;
mod costs;
mod latency;
mod scale;
mod throughput;

use churn::{churn_rate, reachable_cdf};
use costs::{cpu_per_gb, device_xmits, per_packet, PerPacket};
use latency::{latency, latency_cdf};
use scale::scale;
pub(crate) use scale::variant_label;
use throughput::throughput;

/// One plot of the report.
pub(crate) struct Figure {
    /// File stem: `DIR/<name>.svg`, `DIR/<name>.png`.
    pub name: &'static str,
    pub chart: Chart,
    /// What is shown and how it was measured, for the HTML and Markdown.
    pub caption: String,
}

/// A plot left out, and why.
pub(crate) struct Omitted {
    pub title: &'static str,
    pub why: String,
}

/// Every plot the inputs have data for, and the ones left out.
pub(crate) fn build(model: &Model) -> (Vec<Figure>, Vec<Omitted>) {
    let mut figures = Vec::new();
    let mut omitted = Vec::new();
    let mut add = |r: Result<Figure, Omitted>| match r {
        Ok(f) => figures.push(f),
        Err(o) => omitted.push(o),
    };
    add(throughput(model));
    add(latency(model));
    add(latency_cdf(model));
    add(cpu_per_gb(model));
    add(per_packet(model, PerPacket::Syscalls));
    add(per_packet(model, PerPacket::Crossings));
    add(device_xmits(model));
    add(scale(model));
    add(reachable_cdf(model));
    add(churn_rate(model));
    (figures, omitted)
}

/// Marks a figure of `group`: its title names the group (`Throughput per backend — VM results
/// (emulated)`) unless the report holds only namespace results, and for emulated results the
/// plot's footnote and the caption say that the figures compare behaviour, not speed.
pub(crate) fn mark(f: &mut Figure, group: &Group) {
    f.chart.title = group.marked(&f.chart.title);
    if group.emulated() {
        let note = format!(
            "Emulated ({}): {}.",
            group.substrates[0].how(),
            reports::EMULATED_CAVEAT
        );
        f.chart.footnote = Some(match f.chart.footnote.take() {
            Some(n) => format!("{note} {n}"),
            None => note,
        });
        f.caption = format!("Emulated: {}. {}", reports::EMULATED_NOTE, f.caption);
    }
}

pub(super) fn path_keys() -> Vec<Key> {
    PATHS
        .iter()
        .enumerate()
        .map(|(i, p)| Key {
            label: (*p).to_owned(),
            color: color(i),
            mark: Mark::Box,
        })
        .collect()
}

/// Drops panels without data (named in the footnote) and rows without data in any panel.
pub(super) fn prune(mut b: BarChart) -> Option<(BarChart, Option<String>)> {
    let empty: Vec<String> = b
        .panels
        .iter()
        .filter(|p| !p.has_data())
        .map(|p| p.title.clone())
        .collect();
    b.panels.retain(BarPanel::has_data);
    if b.panels.is_empty() {
        return None;
    }
    let keep: Vec<bool> = (0..b.rows.len())
        .map(|r| {
            b.panels
                .iter()
                .any(|p| p.cells[r].iter().any(Option::is_some))
        })
        .collect();
    let mut r = 0;
    b.rows.retain(|_| {
        r += 1;
        keep[r - 1]
    });
    for p in &mut b.panels {
        let mut r = 0;
        p.cells.retain(|_| {
            r += 1;
            keep[r - 1]
        });
    }
    let note = (!empty.is_empty()).then(|| format!("No data for: {}.", empty.join(", ")));
    Some((b, note))
}

pub(super) fn bar_figure(
    name: &'static str,
    title: &'static str,
    chart: BarChart,
    caption: String,
    missing: &str,
) -> Result<Figure, Omitted> {
    match prune(chart) {
        Some((body, footnote)) => Ok(Figure {
            name,
            chart: Chart {
                title: title.to_owned(),
                body: Body::Bars(body),
                footnote,
            },
            caption,
        }),
        None => Err(Omitted {
            title,
            why: missing.to_owned(),
        }),
    }
}

pub(super) const BASELINE_NOTE: &str =
    "host-net is the host-network baseline measured in the same \
    session as the run it is named after (traffic between the nodes' own network namespaces, no \
    pod network).";

pub(super) const RANGE_NOTE: &str =
    "Bars show the median over repetitions; whiskers span the smallest to the largest repetition.";

pub(super) fn generator_note(model: &Model) -> String {
    let external: Vec<String> = model
        .runs
        .iter()
        .filter_map(|r| {
            crate::model::external_generator(r.result).map(|g| format!("{} ({g})", r.label))
        })
        .collect();
    if external.is_empty() {
        String::new()
    } else {
        format!(
            " Measured with an external traffic generator, not cnbench's own, and labelled \
             [tool]: {}.",
            external.join(", ")
        )
    }
}

/// A panel with one row per series and one bar per path: the median of `metric`.
pub(super) fn metric_panel(
    model: &Model,
    case: &Case,
    metric: &str,
    title: String,
    axis: Axis,
) -> BarPanel {
    let cells = model
        .series
        .iter()
        .map(|s| {
            PATHS
                .iter()
                .map(|p| cell(find(s.measurements, case, p).and_then(|m| metric_stats(m, metric))))
                .collect()
        })
        .collect();
    BarPanel { title, axis, cells }
}

/// Rows of series × path, for the figures whose groups are something else than the path;
/// only combinations with a measurement.
pub(super) fn series_path_rows(
    model: &Model,
    cases: &[Case],
) -> Vec<(usize, &'static str, String)> {
    let mut rows = Vec::new();
    for (i, s) in model.series.iter().enumerate() {
        for p in PATHS {
            if cases.iter().any(|c| find(s.measurements, c, p).is_some()) {
                rows.push((i, p, format!("{} · {p}", s.label)));
            }
        }
    }
    rows
}
