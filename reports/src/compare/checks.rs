//! Check comparison: the conformance checks of both results matched by kind and subject (run
//! ids replaced by `<run>`), and what changed.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::verdict::Verdict;
use crate::schema::{CheckOutcome, CheckRecord, RunResult};

/// One conformance check, baseline against candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckComparison {
    /// Kind of check (`reachability`, `mtu`, ...).
    pub check: String,
    /// What was checked, with run ids replaced by `<run>`.
    pub subject: String,
    /// What was expected (the candidate's).
    pub expected: String,
    /// Its outcome in the baseline.
    pub baseline: CheckOutcome,
    /// Its outcome in the candidate.
    pub candidate: CheckOutcome,
    /// What the baseline saw.
    pub baseline_actual: String,
    /// What the candidate saw.
    pub candidate_actual: String,
    /// The candidate's reason, when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `regression` (passed, now fails), `improvement` (failed, now passes) or `pass`.
    pub verdict: Verdict,
}

/// A check's subject with the run ids of `r` (its own and its host-net baseline's) replaced
/// by `<run>`.
pub(super) fn normalize_subject(subject: &str, r: &RunResult) -> String {
    let mut out = subject.to_owned();
    let ids =
        std::iter::once(r.run_id.as_str()).chain(r.baseline.iter().map(|b| b.run_id.as_str()));
    for id in ids {
        // Too short an id could match inside addresses or names by chance.
        if id.len() >= 4 {
            out = out.replace(id, "<run>");
        }
    }
    out
}

/// Matches the checks of both results and gives one row per check found in both, with
/// warnings for checks only in one.
pub(super) fn compare_checks(
    baseline: &RunResult,
    candidate: &RunResult,
) -> (Vec<CheckComparison>, Vec<String>) {
    let key = |c: &CheckRecord, r: &RunResult| (c.check.clone(), normalize_subject(&c.subject, r));
    let candidate_keys: Vec<(String, String)> =
        candidate.checks.iter().map(|c| key(c, candidate)).collect();
    let mut used = vec![false; candidate.checks.len()];
    let mut rows = Vec::new();
    let mut warnings = Vec::new();
    let mut missing = Vec::new();
    for b in &baseline.checks {
        let k = key(b, baseline);
        let Some(i) = (0..candidate.checks.len()).find(|i| !used[*i] && candidate_keys[*i] == k)
        else {
            missing.push(format!("{} {}", k.0, k.1));
            continue;
        };
        used[i] = true;
        let c = &candidate.checks[i];
        let passed = |o: CheckOutcome| o != CheckOutcome::Fail;
        let verdict = match (passed(b.outcome), passed(c.outcome)) {
            (true, false) => Verdict::Regression,
            (false, true) => Verdict::Improvement,
            _ => Verdict::Pass,
        };
        rows.push(CheckComparison {
            check: k.0,
            subject: k.1,
            expected: normalize_subject(&c.expected, candidate),
            baseline: b.outcome,
            candidate: c.outcome,
            baseline_actual: normalize_subject(&b.actual, baseline),
            candidate_actual: normalize_subject(&c.actual, candidate),
            reason: c.reason.clone(),
            verdict,
        });
    }
    if !missing.is_empty() {
        warnings.push(format!(
            "{} check{} of the baseline {} missing from the candidate (not compared): {}",
            missing.len(),
            if missing.len() == 1 { "" } else { "s" },
            if missing.len() == 1 { "is" } else { "are" },
            list_some(&missing)
        ));
    }
    let new_failures: Vec<String> = candidate
        .checks
        .iter()
        .zip(&used)
        .filter(|(c, used)| !**used && c.outcome == CheckOutcome::Fail)
        .map(|(c, _)| format!("{} {}", c.check, normalize_subject(&c.subject, candidate)))
        .collect();
    if !new_failures.is_empty() {
        warnings.push(format!(
            "{} check{} only in the candidate fail{}: {}",
            new_failures.len(),
            if new_failures.len() == 1 { "" } else { "s" },
            if new_failures.len() == 1 { "s" } else { "" },
            list_some(&new_failures)
        ));
    }
    (rows, warnings)
}

/// The first few items joined, with how many more.
fn list_some(items: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut text = items
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if items.len() > SHOWN {
        let _ = write!(text, "; and {} more", items.len() - SHOWN);
    }
    text
}
