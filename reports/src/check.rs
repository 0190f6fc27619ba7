//! One conformance check and its verdict.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One conformance check: what the backend declares against what the kernel shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRecord {
    /// Kind of check: `"reachability"`, `"routes"`, `"neighbours"`, `"fdb"`, `"mtu"`,
    /// `"isolation"`, ...
    pub check: String,
    /// What was checked, e.g. `"cnb-ab12-n0p0 -> 172.17.0.3 icmp"`.
    pub subject: String,
    /// The expected value, e.g. `"reply"`.
    pub expected: String,
    /// The observed value, e.g. `"reply in 41 µs"`.
    pub actual: String,
    /// Verdict.
    pub outcome: CheckOutcome,
    /// Why: always given for expected failures and failures, optional for passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Verdict of a check. Serialized as `"pass"`, `"fail"`, `"expected_failure"` or
/// `"not_applicable"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckOutcome {
    /// Actual matches expected.
    Pass,
    /// Actual differs from expected.
    Fail,
    /// Failed, and the backend declares that it must (e.g. host-gw across an l3 underlay).
    ExpectedFailure,
    /// Not made: it does not apply here, and the reason says why (a CNI plugin that speaks
    /// no version with the verb the check needs). Neither a pass nor a failure.
    NotApplicable,
}

impl CheckOutcome {
    /// Short label for human output: `"PASS"`, `"FAIL"`, `"XFAIL"` or `"N/A"`.
    pub fn label(self) -> &'static str {
        match self {
            CheckOutcome::Pass => "PASS",
            CheckOutcome::Fail => "FAIL",
            CheckOutcome::ExpectedFailure => "XFAIL",
            CheckOutcome::NotApplicable => "N/A",
        }
    }
}

impl fmt::Display for CheckOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}
