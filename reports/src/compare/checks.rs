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
    /// The baseline's reason, when it gave one other than the candidate's (why the check did
    /// not apply in the baseline, or why it failed as expected there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_reason: Option<String>,
    /// `regression` (passed, now fails), `improvement` (failed, now passes), `info` (made in
    /// one run only: not applicable in the other, so not compared) or `pass`.
    pub verdict: Verdict,
}

impl CheckComparison {
    /// Whether the check did not apply in either run (so its outcomes were not compared).
    pub fn not_applicable(&self) -> bool {
        self.baseline == CheckOutcome::NotApplicable
            || self.candidate == CheckOutcome::NotApplicable
    }
}

/// The verdict on one check from its outcome in the baseline and in the candidate: one that
/// passed (or failed as expected) and now fails is a regression, the other way round an
/// improvement. A check that did not apply in one run was made in at most one of them, so
/// there is nothing to compare: `info` when it was made in the other (the warnings say so
/// when that matters), `pass` when it applied in neither.
fn check_verdict(baseline: CheckOutcome, candidate: CheckOutcome) -> Verdict {
    use CheckOutcome::{Fail, NotApplicable};
    match (baseline, candidate) {
        (NotApplicable, NotApplicable) => Verdict::Pass,
        (NotApplicable, _) | (_, NotApplicable) => Verdict::Info,
        (Fail, Fail) => Verdict::Pass,
        (_, Fail) => Verdict::Regression,
        (Fail, _) => Verdict::Improvement,
        _ => Verdict::Pass,
    }
}

/// A check's subject with the run ids of `r` (its own and its host-net baseline's) replaced
/// by `<run>`, and device names made of a prefix and 8 random or run-hashed hex digits
/// (`veth1a2b3c4d` of the reference CNI plugins, `cali1a2b3c4d` of the bgp backend) by
/// `veth<id>`, `cali<id>`: the same device of two runs has another name in each.
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
    for prefix in ["veth", "cali"] {
        out = hide_hex_suffix(&out, prefix);
    }
    out
}

/// `text` with every `<prefix>` followed by exactly 8 lowercase hex digits (and then no
/// more name characters) replaced by `<prefix><id>`.
fn hide_hex_suffix(text: &str, prefix: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        let tail = &from[prefix.len()..];
        let hex = tail
            .bytes()
            .take_while(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
            .count();
        let next = tail.as_bytes().get(hex);
        let ends = next.is_none_or(|b| !(b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-'));
        if hex == 8 && ends {
            out.push_str(prefix);
            out.push_str("<id>");
            rest = &tail[8..];
        } else {
            out.push_str(prefix);
            rest = tail;
        }
    }
    out.push_str(rest);
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
    let mut no_longer_apply = Vec::new();
    let mut newly_failing = Vec::new();
    for b in &baseline.checks {
        let k = key(b, baseline);
        let Some(i) = (0..candidate.checks.len()).find(|i| !used[*i] && candidate_keys[*i] == k)
        else {
            missing.push(format!("{} {}", k.0, k.1));
            continue;
        };
        used[i] = true;
        let c = &candidate.checks[i];
        let verdict = check_verdict(b.outcome, c.outcome);
        let named = || format!("{} {}", k.0, k.1);
        match (b.outcome, c.outcome) {
            (CheckOutcome::NotApplicable, CheckOutcome::NotApplicable) => {}
            (_, CheckOutcome::NotApplicable) => {
                no_longer_apply.push(with_reason(named(), c.reason.as_deref()))
            }
            (CheckOutcome::NotApplicable, CheckOutcome::Fail) => newly_failing.push(named()),
            _ => {}
        }
        rows.push(CheckComparison {
            check: k.0,
            subject: k.1,
            expected: normalize_subject(&c.expected, candidate),
            baseline: b.outcome,
            candidate: c.outcome,
            baseline_actual: normalize_subject(&b.actual, baseline),
            candidate_actual: normalize_subject(&c.actual, candidate),
            reason: c.reason.clone(),
            baseline_reason: b.reason.clone().filter(|r| c.reason.as_ref() != Some(r)),
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
    if !no_longer_apply.is_empty() {
        let n = no_longer_apply.len();
        warnings.push(format!(
            "{n} check{} the baseline made {} not apply in the candidate (not compared): {}",
            if n == 1 { "" } else { "s" },
            if n == 1 { "does" } else { "do" },
            list_some(&no_longer_apply)
        ));
    }
    if !newly_failing.is_empty() {
        let n = newly_failing.len();
        warnings.push(format!(
            "{n} check{} that did not apply in the baseline fail{} in the candidate (not \
             compared): {}",
            if n == 1 { "" } else { "s" },
            if n == 1 { "s" } else { "" },
            list_some(&newly_failing)
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

/// `kind subject`, with the reason in parentheses when there is one.
fn with_reason(named: String, reason: Option<&str>) -> String {
    match reason {
        Some(r) => format!("{named} ({r})"),
        None => named,
    }
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

#[cfg(test)]
mod normalize_tests {
    use super::hide_hex_suffix;

    #[test]
    fn plugin_made_device_names_are_hidden() {
        assert_eq!(
            hide_hex_suffix("cnb-<run>-n0 docker0: n0p0 on port vethdc2b4bde", "veth"),
            "cnb-<run>-n0 docker0: n0p0 on port veth<id>"
        );
        assert_eq!(
            hide_hex_suffix("veth1234567 veth123456789", "veth"),
            "veth1234567 veth123456789"
        );
        assert_eq!(hide_hex_suffix("cali0a1b2c3d)", "cali"), "cali<id>)");
    }
}
