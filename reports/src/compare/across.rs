//! Comparing across backends (`cnbench compare --across-backends`): which backend options
//! differ between the two runs, and their conformance verdicts, compared instead of their
//! checks one by one (two datapaths name their devices and checks differently).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::checks::normalize_subject;
use super::verdict::Verdict;
use crate::schema::{CheckOutcome, RunResult};

/// A backend option (a flag of the backend, without its dashes: `datapath`, `pod-wiring`)
/// whose value differs between the two runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptionChange {
    /// The option, by its flag without the dashes.
    pub option: String,
    /// Its value in the baseline; `None` when the baseline's backend does not have it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    /// Its value in the candidate; `None` when the candidate's backend does not have it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate: Option<String>,
}

/// How one run fared in its conformance checks, for a comparison across backends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conformance {
    /// Checks that were made (those that did not apply left out).
    pub checks: usize,
    /// Checks that failed (and were not declared to), each as `kind subject` with run ids
    /// replaced by `<run>`, in the order they ran.
    pub failed: Vec<String>,
    /// Checks that were not made because they do not apply (outcome `not_applicable`):
    /// neither passes nor failures.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub not_applicable: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Conformance {
    fn of(r: &RunResult) -> Conformance {
        let not_applicable = r
            .checks
            .iter()
            .filter(|c| c.outcome == CheckOutcome::NotApplicable)
            .count();
        Conformance {
            checks: r.checks.len() - not_applicable,
            not_applicable,
            failed: r
                .checks
                .iter()
                .filter(|c| c.outcome == CheckOutcome::Fail)
                .map(|c| format!("{} {}", c.check, normalize_subject(&c.subject, r)))
                .collect(),
        }
    }

    /// Whether every check made passed or failed as expected.
    pub fn passed(&self) -> bool {
        self.failed.is_empty()
    }
}

/// The conformance verdicts of two runs of different backends: whether each passed all its
/// checks, not check by check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConformanceComparison {
    /// The baseline's checks.
    pub baseline: Conformance,
    /// The candidate's checks.
    pub candidate: Conformance,
    /// `regression` when the candidate failed a check and the baseline failed none,
    /// `improvement` the other way round, `pass` otherwise (both passed, or both failed some).
    pub verdict: Verdict,
}

/// The conformance verdicts of both runs, or `None` (with a warning) when one of them ran no
/// checks; `None` without a warning when neither did.
pub(super) fn compare_conformance(
    baseline: &RunResult,
    candidate: &RunResult,
) -> (Option<ConformanceComparison>, Vec<String>) {
    match (baseline.checks.is_empty(), candidate.checks.is_empty()) {
        (true, true) => return (None, Vec::new()),
        (false, false) => {}
        (b_none, _) => {
            let side = if b_none { "baseline" } else { "candidate" };
            return (
                None,
                vec![format!(
                    "the {side} has no conformance checks: conformance not compared; compare \
                     results that both hold checks (as `cnbench run --json` writes them)"
                )],
            );
        }
    }
    let (b, c) = (Conformance::of(baseline), Conformance::of(candidate));
    let verdict = match (b.passed(), c.passed()) {
        (true, false) => Verdict::Regression,
        (false, true) => Verdict::Improvement,
        _ => Verdict::Pass,
    };
    (
        Some(ConformanceComparison {
            baseline: b,
            candidate: c,
            verdict,
        }),
        Vec::new(),
    )
}

/// The backend options in effect in `r` (for its [`super::RunInfo`]):
/// [`crate::Parameters::backend_options`], with the two options schema version 5 recorded in
/// fields of their own (`datapath`, `bgp_topology`) where they are not in it.
pub(super) fn backend_options(r: &RunResult) -> BTreeMap<String, String> {
    let p = &r.parameters;
    let mut options = p.backend_options.clone();
    for (flag, value) in [("datapath", &p.datapath), ("bgp-topology", &p.bgp_topology)] {
        if let Some(v) = value {
            options.entry(flag.to_owned()).or_insert_with(|| v.clone());
        }
    }
    options
}

/// The backend options whose values differ between the runs, by flag. A result of schema
/// version 5 recorded only the options given on its command line, where one of version 6 on
/// records every option in effect: an option missing from a version 5 result is unknown, not
/// absent, and is not counted as a difference against a later result (between two version 5
/// results, one given and one not is a difference, as it always was).
pub(super) fn option_changes(baseline: &RunResult, candidate: &RunResult) -> Vec<OptionChange> {
    let (b, c) = (backend_options(baseline), backend_options(candidate));
    let old = |r: &RunResult| r.schema_version <= 5;
    let both_old = old(baseline) && old(candidate);
    let complete = |r: &RunResult| both_old || !old(r);
    let mut flags: Vec<&String> = b.keys().chain(c.keys()).collect();
    flags.sort();
    flags.dedup();
    flags
        .into_iter()
        .filter_map(|flag| {
            let (bv, cv) = (b.get(flag), c.get(flag));
            let known = match (bv, cv) {
                (Some(_), Some(_)) => true,
                (None, _) => complete(baseline),
                (_, None) => complete(candidate),
            };
            (known && bv != cv).then(|| OptionChange {
                option: flag.clone(),
                baseline: bv.cloned(),
                candidate: cv.cloned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
