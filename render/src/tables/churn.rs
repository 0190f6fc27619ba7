//! Pod churn: one row per run and concurrency level (see [`crate::churn`]), and the daemons'
//! file descriptors and memory over the cycles.

use super::*;
use crate::churn::{cells, head, levels, Level};
use crate::model::Model;
use crate::units::format_bytes;

/// Every churn level of every run, a row each, led by the run's label; no rows without churn
/// measurements. A level some of whose pods failed to be added or never answered shows them
/// as a failure.
pub(crate) fn churn(model: &Model) -> Table {
    let runs: Vec<(&str, Vec<Level>)> = model
        .runs
        .iter()
        .map(|r| (r.label.as_str(), levels(&r.result.measurements)))
        .filter(|(_, l)| !l.is_empty())
        .collect();
    // One set of columns for all runs: the withdrawal column when any level has it.
    let all: Vec<Level> = runs.iter().flat_map(|(_, l)| l.iter().cloned()).collect();
    let cols = head(&all);
    let mut t = Table {
        head: std::iter::once("series".to_owned())
            .chain(cols.iter().map(|(h, _)| (*h).to_owned()))
            .collect(),
        rows: Vec::new(),
    };
    for (label, levels) in &runs {
        for level in levels {
            let failed = !level.not_ok().is_empty();
            let mut row = vec![TCell::plain(*label)];
            row.extend(cells(level, &all, "none").into_iter().zip(&cols).map(
                |(text, (_, numeric))| {
                    let tone = match (numeric, failed) {
                        (true, _) => Tone::Num,
                        (false, true) => Tone::Fail,
                        (false, false) => Tone::Muted,
                    };
                    TCell { text, tone }
                },
            ));
            t.rows.push(row);
        }
    }
    t
}

/// What each daemon of each churn run held before the first cycle and after the last; no
/// rows when no run recorded any. A daemon whose count grew is not judged here: the run's
/// `daemon-fds` and `daemon-rss` checks do that, and are listed under Conformance.
pub(crate) fn churn_daemons(model: &Model) -> Table {
    let mut t = Table {
        head: [
            "series",
            "daemon",
            "pid",
            "fds first",
            "fds last",
            "RSS first",
            "RSS last",
        ]
        .map(String::from)
        .to_vec(),
        rows: Vec::new(),
    };
    for run in &model.runs {
        let Some(c) = &run.result.churn else {
            continue;
        };
        for d in &c.daemons {
            let count = |v: Option<&u64>| v.map(u64::to_string).unwrap_or_else(|| "–".into());
            let bytes = |v: Option<&u64>| {
                v.map(|b| format_bytes(*b as f64))
                    .unwrap_or_else(|| "–".into())
            };
            t.rows.push(vec![
                TCell::plain(&run.label),
                TCell::plain(&d.what),
                TCell::num(d.pid.to_string()),
                TCell::num(count(d.fds.first())),
                TCell::num(count(d.fds.last())),
                TCell::num(bytes(d.rss_bytes.first())),
                TCell::num(bytes(d.rss_bytes.last())),
            ]);
        }
    }
    t
}
