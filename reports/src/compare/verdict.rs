//! Verdicts and the rows they are given to: one metric of one measurement
//! ([`MetricComparison`]), and how many rows got each verdict ([`VerdictCounts`]).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::rule::ChangeScale;

/// The verdict on one metric, one check, or a whole comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Within the threshold (or a check whose outcome did not get worse, or that applied in
    /// neither run).
    Pass,
    /// Reported only: a metric that never gates ([`NOT_GATED`](super::NOT_GATED)), or a check
    /// made in one run and not applicable in the other.
    Info,
    /// Better by more than the threshold, with confidence.
    Improvement,
    /// Beyond the threshold, but the repetitions cannot tell whether for real.
    Inconclusive,
    /// Worse by more than the threshold, with confidence; or a check that stopped passing.
    Regression,
}

impl Verdict {
    /// The word used in tables: `pass`, `info`, `improvement`, `inconclusive`, `REGRESSION`.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Info => "info",
            Verdict::Improvement => "improvement",
            Verdict::Inconclusive => "inconclusive",
            Verdict::Regression => "REGRESSION",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One metric of one measurement, baseline against candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricComparison {
    /// The measurement's label (`tcp-rr`, `udp-stream 64 B`, `tcp-stream [iperf3 3.16]`).
    pub measurement: String,
    /// `same-node` or `cross-node`.
    pub path: String,
    /// Metric name, with its unit (`rtt_p99_ns`).
    pub metric: String,
    /// Whether higher is better (rates) or worse (latency, loss).
    pub higher_is_better: bool,
    /// The baseline's repetitions, in the metric's unit.
    #[serde(deserialize_with = "values_or_nan")]
    pub baseline_values: Vec<f64>,
    /// The candidate's repetitions, in the metric's unit.
    #[serde(deserialize_with = "values_or_nan")]
    pub candidate_values: Vec<f64>,
    /// Median of the baseline's finite repetitions (NaN, written `null`, when none).
    #[serde(deserialize_with = "crate::schema::f64_or_nan")]
    pub baseline_median: f64,
    /// Median of the candidate's finite repetitions.
    #[serde(deserialize_with = "crate::schema::f64_or_nan")]
    pub candidate_median: f64,
    /// How `change`, `interval` and `threshold` are expressed.
    pub scale: ChangeScale,
    /// The change of the medians, as a fraction (see [`ChangeScale`]); positive means the
    /// candidate's figure is higher, whether that is better or worse.
    #[serde(deserialize_with = "crate::schema::f64_or_nan")]
    pub change: f64,
    /// The bootstrap interval of `change` at [`CONFIDENCE`](super::CONFIDENCE), `[low, high]`; absent with
    /// fewer than two repetitions on a side.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "interval_or_nan"
    )]
    pub interval: Option<[f64; 2]>,
    /// The threshold applied, as a fraction; absent for a metric that does not gate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// The noise guard applied (see the module documentation), as a fraction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise_guard: Option<f64>,
    /// The verdict.
    pub verdict: Verdict,
    /// Why the verdict is what it is, when that needs saying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Reads numbers that may have been written as `null` (JSON has no NaN or infinity).
fn values_or_nan<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
    let values: Vec<Option<f64>> = Deserialize::deserialize(d)?;
    Ok(values.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect())
}

/// Reads an interval whose bounds may have been written as `null` (an infinite change).
fn interval_or_nan<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<[f64; 2]>, D::Error> {
    let bounds: Option<[Option<f64>; 2]> = Deserialize::deserialize(d)?;
    Ok(bounds.map(|b| b.map(|x| x.unwrap_or(f64::NAN))))
}

impl MetricComparison {
    /// `label path`, e.g. `tcp-rr cross-node`.
    pub fn case(&self) -> String {
        format!("{} {}", self.measurement, self.path)
    }
}

/// How many rows (metrics and checks together) got each verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerdictCounts {
    /// Rows that passed.
    pub pass: usize,
    /// Rows reported only.
    pub info: usize,
    /// Rows that improved.
    pub improvement: usize,
    /// Rows that could not be decided.
    pub inconclusive: usize,
    /// Rows that regressed.
    pub regression: usize,
}

impl VerdictCounts {
    pub(super) fn add(&mut self, v: Verdict) {
        match v {
            Verdict::Pass => self.pass += 1,
            Verdict::Info => self.info += 1,
            Verdict::Improvement => self.improvement += 1,
            Verdict::Inconclusive => self.inconclusive += 1,
            Verdict::Regression => self.regression += 1,
        }
    }
}
