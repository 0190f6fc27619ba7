//! The plugin calls of a run ([`reports::RunResult::plugin_calls`]: every invocation of a CNI
//! plugin, with its wall time) summed up compactly, one row per plugin and verb: calls,
//! median, p90 and max wall time in milliseconds, and the calls that did not end `ok`,
//! counted by how they ended (`2 errors (code 7)`, `1 timed out`). Every form of a run (the
//! terminal summary, `index.html` and `summary.md`) shows this table; a run without plugin
//! calls shows nothing of them.
//!
//! The p90 is the nearest rank (the smallest wall time at least 90 % of the calls took no
//! longer than), so with fewer than 10 calls it is the slowest call.

use reports::PluginCallRecord;

use crate::units::{format_ns, sig3};
use crate::words::plural;

/// The verbs in the order a plugin's rows are shown; others follow in the order they came.
const VERBS: [&str; 6] = ["ADD", "CHECK", "DEL", "VERSION", "GC", "STATUS"];

/// The heading of each column.
pub(crate) const HEAD: [&str; 7] = [
    "plugin",
    "verb",
    "calls",
    "median (ms)",
    "p90 (ms)",
    "max (ms)",
    "not ok",
];

/// Which columns hold figures (right-aligned).
pub(crate) const NUMERIC: [bool; 7] = [false, false, true, true, true, true, false];

/// What the columns mean, in one sentence.
pub(crate) const LEGEND: &str = "Wall time of each invocation, from its start to its exit; \
    p90 is the nearest rank, so with fewer than 10 calls it is the slowest call. Not ok: the \
    calls that ended otherwise than ok (a CNI error with its code, a non-zero exit without one, \
    output that is not a result, a timeout, an interruption).";

/// One plugin and verb.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    pub plugin: String,
    pub verb: String,
    pub calls: usize,
    pub median_ns: f64,
    pub p90_ns: f64,
    pub max_ns: f64,
    /// The calls that did not end `ok`, in words (`2 errors (code 7), 1 timed out`); empty
    /// when every call did.
    pub not_ok: String,
}

impl Row {
    /// The row's cells as text, in the order of [`HEAD`]; `none` (given) for a row whose
    /// calls all ended `ok`.
    pub(crate) fn cells(&self, none: &str) -> [String; 7] {
        [
            self.plugin.clone(),
            self.verb.clone(),
            self.calls.to_string(),
            ms(self.median_ns),
            ms(self.p90_ns),
            ms(self.max_ns),
            if self.not_ok.is_empty() {
                none.to_owned()
            } else {
                self.not_ok.clone()
            },
        ]
    }
}

/// A wall time in milliseconds, to about three significant digits: `41.2`, `1.52`, `10000`.
fn ms(ns: f64) -> String {
    sig3(ns / 1e6)
}

/// One row per plugin (in the order each was first called) and verb (ADD, CHECK, DEL,
/// VERSION, GC, STATUS, then any other in the order it came); empty without calls.
pub(crate) fn rows(calls: &[PluginCallRecord]) -> Vec<Row> {
    let mut plugins: Vec<&str> = Vec::new();
    let mut others: Vec<&str> = Vec::new();
    for c in calls {
        if !plugins.contains(&c.plugin.as_str()) {
            plugins.push(&c.plugin);
        }
        if !VERBS.contains(&c.verb.as_str()) && !others.contains(&c.verb.as_str()) {
            others.push(&c.verb);
        }
    }
    let mut rows = Vec::new();
    for plugin in plugins {
        for verb in VERBS.iter().chain(&others) {
            let mine: Vec<&PluginCallRecord> = calls
                .iter()
                .filter(|c| c.plugin == plugin && c.verb == *verb)
                .collect();
            if mine.is_empty() {
                continue;
            }
            let mut walls: Vec<f64> = mine.iter().map(|c| c.wall_ns as f64).collect();
            walls.sort_by(f64::total_cmp);
            rows.push(Row {
                plugin: plugin.to_owned(),
                verb: (*verb).to_owned(),
                calls: mine.len(),
                median_ns: reports::stats::median(&walls).unwrap_or(f64::NAN),
                p90_ns: nearest_rank(&walls, 0.9),
                max_ns: walls[walls.len() - 1],
                not_ok: not_ok(&mine),
            });
        }
    }
    rows
}

/// The `q` quantile of sorted, non-empty `values` by nearest rank: the value at rank
/// `ceil(q × n)`.
fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The calls that did not end `ok`, counted by how they ended: CNI errors first (with their
/// codes), then every other ending in the order it first came: `2 errors (code 7), 1 timed
/// out`. Empty when all ended `ok`.
fn not_ok(calls: &[&PluginCallRecord]) -> String {
    let mut codes: Vec<&str> = Vec::new();
    let mut errors = 0;
    let mut others: Vec<(&str, usize)> = Vec::new();
    for c in calls {
        let outcome = c.outcome.trim();
        if outcome == "ok" {
            continue;
        }
        if let Some(rest) = outcome.strip_prefix("error") {
            errors += 1;
            let code = rest.trim();
            if !code.is_empty() && !codes.contains(&code) {
                codes.push(code);
            }
            continue;
        }
        match others.iter_mut().find(|(o, _)| *o == outcome) {
            Some((_, n)) => *n += 1,
            None => others.push((outcome, 1)),
        }
    }
    codes.sort_by(|a, b| match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    });
    let mut parts = Vec::new();
    if errors > 0 {
        let mut text = format!("{errors} error{}", plural(errors));
        match codes.as_slice() {
            [] => {}
            [one] => text.push_str(&format!(" (code {one})")),
            many => text.push_str(&format!(" (codes {})", many.join(", "))),
        }
        parts.push(text);
    }
    parts.extend(others.into_iter().map(|(o, n)| format!("{n} {o}")));
    parts.join(", ")
}

/// How many calls there were, their wall time together, and how many did not end `ok`:
/// `27 plugin calls, 10.5 s of wall time, 3 not ok`; `None` without calls.
pub(crate) fn total(calls: &[PluginCallRecord]) -> Option<String> {
    if calls.is_empty() {
        return None;
    }
    let wall: u64 = calls.iter().map(|c| c.wall_ns).sum();
    let failed = calls.iter().filter(|c| c.outcome.trim() != "ok").count();
    let mut text = format!(
        "{} plugin call{}, {} of wall time",
        calls.len(),
        plural(calls.len()),
        format_ns(wall as f64)
    );
    if failed > 0 {
        text.push_str(&format!(", {failed} not ok"));
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reports::fixtures::cni_plugin_calls;

    fn call(verb: &str, wall_us: u64, outcome: &str) -> PluginCallRecord {
        PluginCallRecord {
            pod: "n0p0".into(),
            node: "n0".into(),
            plugin: "bridge".into(),
            verb: verb.into(),
            wall_ns: wall_us * 1000,
            outcome: outcome.into(),
        }
    }

    #[test]
    fn one_row_per_plugin_and_verb() {
        let text: Vec<String> = rows(&cni_plugin_calls())
            .iter()
            .map(|r| r.cells("-").join(" | "))
            .collect();
        assert_eq!(
            text,
            [
                "bridge | ADD | 4 | 42.6 | 52.3 | 52.3 | -",
                "bridge | CHECK | 4 | 6.05 | 6.30 | 6.30 | -",
                "bridge | DEL | 4 | 21.6 | 10000 | 10000 | 1 timed out",
                "bridge | VERSION | 1 | 1.52 | 1.52 | 1.52 | -",
                "host-local | VERSION | 1 | 1.41 | 1.41 | 1.41 | -",
                "portmap | ADD | 4 | 12.2 | 13.0 | 13.0 | -",
                "portmap | CHECK | 4 | 3.15 | 3.30 | 3.30 | 2 errors (code 7)",
                "portmap | DEL | 4 | 9.85 | 10.1 | 10.1 | -",
                "portmap | VERSION | 1 | 1.63 | 1.63 | 1.63 | -",
            ]
        );
        assert_eq!(
            total(&cni_plugin_calls()).unwrap(),
            "27 plugin calls, 10.4 s of wall time, 3 not ok"
        );
        assert!(rows(&[]).is_empty());
        assert_eq!(total(&[]), None);
    }

    #[test]
    fn p90_is_the_nearest_rank() {
        // 1..=20 ms: the 18th smallest; with 9 calls, the slowest.
        let twenty: Vec<PluginCallRecord> = (1..=20).map(|i| call("ADD", i * 1000, "ok")).collect();
        let r = &rows(&twenty)[0];
        assert_eq!((r.median_ns, r.p90_ns, r.max_ns), (10.5e6, 18e6, 20e6));
        let nine = &rows(&twenty[..9])[0];
        assert_eq!((nine.p90_ns, nine.max_ns), (9e6, 9e6));
        let one = &rows(&twenty[..1])[0];
        assert_eq!((one.median_ns, one.p90_ns, one.max_ns), (1e6, 1e6, 1e6));
    }

    #[test]
    fn every_ending_but_ok_is_counted() {
        let calls = [
            call("ADD", 5, "error 11"),
            call("ADD", 5, "timed out"),
            call("ADD", 5, "error 7"),
            call("ADD", 5, "ok"),
            call("ADD", 5, "bad output"),
            call("ADD", 5, "error 7"),
            call("ADD", 5, "failed"),
            call("ADD", 5, "interrupted"),
            call("ADD", 5, "failed"),
            call("ADD", 5, "error"),
        ];
        assert_eq!(
            rows(&calls)[0].not_ok,
            "4 errors (codes 7, 11), 1 timed out, 1 bad output, 2 failed, 1 interrupted"
        );
        assert_eq!(rows(&calls[..1])[0].not_ok, "1 error (code 11)");
        assert_eq!(rows(&calls[3..4])[0].not_ok, "");
        // A verb cnbench does not know yet comes after the known ones.
        let odd = [call("FOO", 5, "ok"), call("DEL", 5, "ok")];
        let verbs: Vec<String> = rows(&odd).into_iter().map(|r| r.verb).collect();
        assert_eq!(verbs, ["DEL", "FOO"]);
    }
}
