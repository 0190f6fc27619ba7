//! The thresholds of a comparison: the defaults, the factors of tail metrics, the noise floor,
//! and reading them from the command line ([`CompareOptions::from_args`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::CompareError;
use crate::schema::Sample;

/// The `--threshold` when none is given: changes within 5 % pass.
pub const DEFAULT_THRESHOLD: f64 = 0.05;

/// Confidence of the bootstrap interval (95 %).
pub const CONFIDENCE: f64 = 0.95;

/// Bootstrap resamples per metric.
pub const RESAMPLES: usize = 4000;

/// Seed of the bootstrap's random numbers (splitmix64); fixed, so verdicts are repeatable.
pub const SEED: u64 = 0x636e_6265_6e63_6821;

/// How many standard errors (run-to-run variation included) the change of medians must be
/// from zero to be called a regression or an improvement (see the module documentation).
pub const NOISE_Z: f64 = 3.0;

/// How far a whole run's figures shift from one run to the next, at least, as a multiple of
/// the spread of its repetitions (see [`RUN_NOISE`] for the floor).
pub const RUN_TO_RUN: f64 = 1.0;

/// How far a whole run's median may shift from one run to the next on the same machine
/// (standard deviation, as a fraction), at least, whatever its repetitions say: the default
/// of [`CompareOptions::noise_floor`], 7 %, for rates, p50 and mean; tail latencies take the
/// multiples of [`RUN_NOISE_FACTORS`] (p90 10.5 %, p99 14 %, p99.9 21 %).
///
/// Repetitions follow each other within a second and share the machine's state; runs do not.
/// On the two-CPU development VM, with no other work measured, the medians of consecutive
/// runs of the same build differed by up to 35 % (tcp-crr p50) while each run's three
/// repetitions agreed within 4 %. With this floor and three repetitions a side, the noise
/// guard is at least +35 % for a rise and -26 % for a fall.
pub const RUN_NOISE: f64 = 0.07;

/// The smallest [`CompareOptions::noise_floor`] used when both runs are emulated (QEMU TCG,
/// [`crate::Substrate::emulated`]): 25 %. Under emulation the figures of runs of the same code
/// differ by ±20–35 %; with this floor and three repetitions a side, a rate must fall by about
/// two thirds, or a latency nearly triple, to be decided: a change of behaviour, not of speed.
pub const EMULATED_RUN_NOISE: f64 = 0.25;

/// [`RUN_NOISE`] of tail latencies, as multiples of it; metrics not listed use 1x.
pub const RUN_NOISE_FACTORS: &[(&str, f64)] = &[
    ("rtt_p90_ns", 1.5),
    ("rtt_p99_ns", 2.0),
    ("rtt_p999_ns", 3.0),
];

/// [`RUN_NOISE`] for `loss_percent`, in percentage points as a fraction: 2 points.
pub const LOSS_RUN_NOISE: f64 = 0.02;

/// On a measurement that other work disturbed in either run (more than
/// [`crate::stats::DISTURBED_CPU_SHARE`] of a CPU during a repetition, as in its warnings),
/// the factor a figure must change by, either way, to count as a regression or an
/// improvement: 4 (a rate down to a quarter, a latency up to four times). On the two-CPU
/// development VM, runs of the same build with a third of a CPU of other work differed by
/// 2.5x in tcp-stream throughput; with a whole CPU, by 2.8x in udp-rr transactions per second.
pub const DISTURBED_RATIO: f64 = 4.0;

/// Metrics never decided on a measurement that other work disturbed in either run (more than
/// [`crate::stats::DISTURBED_CPU_SHARE`] of a CPU, as in its warnings): tail latencies
/// (preemption puts whole scheduler time slices into them; seen between two runs of the same
/// code: p99 of tcp-crr up 86 % with 0.7 CPUs of other work, p99.9 of udp-rr up 130x with
/// a whole CPU) and loss.
pub const DISTURBED_UNDECIDABLE: &[&str] = &["rtt_p99_ns", "rtt_p999_ns", "loss_percent"];

/// What to do about an inconclusive verdict.
pub const INCONCLUSIVE_HINT: &str = "run more repetitions (--repeat 5) or longer (--duration)";

/// Metrics that never decide a verdict unless a per-metric threshold names them: the
/// longest round trip of a repetition is a single extreme event, noisy by nature.
pub const NOT_GATED: &[&str] = &["rtt_max_ns"];

/// The threshold of each metric as a multiple of `--threshold`; metrics not listed use 1x.
/// Tail percentiles rest on few transactions and move between runs much more than medians
/// and rates do; loss under a flood is the race between sender and receiver. With the
/// default 5 %: p90 10 %, p99 15 %, p99.9 30 %, loss 10 percentage points.
pub const THRESHOLD_FACTORS: &[(&str, f64)] = &[
    ("rtt_p90_ns", 2.0),
    ("rtt_p99_ns", 3.0),
    ("rtt_p999_ns", 6.0),
    ("loss_percent", 2.0),
];

/// Metrics whose change is a difference in percentage points rather than a relative change.
pub(super) const ABSOLUTE_METRICS: &[&str] = &["loss_percent"];

/// How to compare: the threshold and per-metric overrides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareOptions {
    /// The smallest relative change that matters, as a fraction (0.05 = 5 %), for the
    /// headline metrics; tail metrics use a multiple of it ([`THRESHOLD_FACTORS`]).
    pub threshold: f64,
    /// Thresholds by metric name (`"rtt_p99_ns" => 0.10`), as fractions; they win over
    /// `threshold` and its factors, and make a [`NOT_GATED`] metric gate. For `loss_percent`
    /// the fraction is of all packets: 0.02 is 2 percentage points.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub per_metric: BTreeMap<String, f64>,
    /// The smallest run-to-run variation the noise guard assumes for rates, p50 and mean, as
    /// a fraction (default [`RUN_NOISE`], 7 %; tail latencies take multiples of it). Lower it
    /// on a machine where runs are known to repeat more closely, to decide smaller changes.
    #[serde(default = "default_noise_floor")]
    pub noise_floor: f64,
    /// Compare results of different backends, or of one backend with different backend
    /// options (`--across-backends`): measurements are matched as always, by workload,
    /// variant, path and generator, and the conformance checks by their verdicts (whether
    /// each run passed them all) instead of one by one. Without it, results of different
    /// backends are refused ([`CompareError::BackendMismatch`]).
    #[serde(default)]
    pub across_backends: bool,
    /// The change of an exact per-packet count (device transmissions, crossings) that
    /// decides, in counts per packet (`--count-tolerance`, default
    /// [`super::DEFAULT_COUNT_TOLERANCE`], 0.05; see [`super::counts`]).
    #[serde(default = "default_count_tolerance")]
    pub count_tolerance: f64,
    /// The measured noise floor in use, when a calibration was given
    /// ([`crate::calibration`]): its per-metric run-to-run noise replaces `noise_floor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<CalibrationInUse>,
}

/// A calibration a comparison uses, as the comparison records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationInUse {
    /// Where it came from, for the reports.
    pub source: String,
    /// Its per-metric noise.
    pub noise: Vec<crate::calibration::CalibratedNoise>,
}

fn default_count_tolerance() -> f64 {
    super::counts::DEFAULT_COUNT_TOLERANCE
}

fn default_noise_floor() -> f64 {
    RUN_NOISE
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            threshold: DEFAULT_THRESHOLD,
            per_metric: BTreeMap::new(),
            noise_floor: RUN_NOISE,
            across_backends: false,
            count_tolerance: default_count_tolerance(),
            calibration: None,
        }
    }
}

impl CompareOptions {
    /// Options with `threshold` (a fraction), no per-metric overrides and the default noise
    /// floor.
    pub fn new(threshold: f64) -> Self {
        CompareOptions {
            threshold,
            per_metric: BTreeMap::new(),
            noise_floor: RUN_NOISE,
            across_backends: false,
            count_tolerance: default_count_tolerance(),
            calibration: None,
        }
    }

    /// Options from command-line text: `threshold` as for [`parse_threshold`] (the default
    /// when `None`), and overrides as for [`parse_metric_threshold`], each argument possibly
    /// holding several separated by commas (`rtt_p99_ns=10%,rtt_p999_ns=40%`).
    pub fn from_args<S: AsRef<str>>(
        threshold: Option<&str>,
        overrides: &[S],
    ) -> Result<Self, CompareError> {
        let mut options = CompareOptions::new(match threshold {
            Some(text) => parse_threshold(text)?,
            None => DEFAULT_THRESHOLD,
        });
        for arg in overrides {
            for part in arg.as_ref().split(',').filter(|p| !p.trim().is_empty()) {
                let (metric, value) = parse_metric_threshold(part)?;
                options.per_metric.insert(metric, value);
            }
        }
        Ok(options)
    }

    /// The threshold of `metric` as a fraction, or `None` when it does not gate: the
    /// per-metric override if any, else `None` for a [`NOT_GATED`] metric, else
    /// `threshold` times the metric's factor in [`THRESHOLD_FACTORS`].
    pub fn threshold_for(&self, metric: &str) -> Option<f64> {
        if let Some(t) = self.per_metric.get(metric) {
            return Some(*t);
        }
        if NOT_GATED.contains(&metric) {
            return None;
        }
        let factor = THRESHOLD_FACTORS
            .iter()
            .find(|(m, _)| *m == metric)
            .map_or(1.0, |(_, f)| *f);
        Some(self.threshold * factor)
    }

    /// The run-to-run variation assumed for `metric` of the measurement `measurement` on
    /// `path`: the calibration's, when one is in use and has it, else
    /// [`CompareOptions::run_noise_for`].
    pub fn run_noise_for_case(&self, measurement: &str, path: &str, metric: &str) -> f64 {
        self.calibration
            .as_ref()
            .and_then(|c| {
                c.noise
                    .iter()
                    .find(|n| n.measurement == measurement && n.path == path && n.metric == metric)
            })
            .map_or_else(|| self.run_noise_for(metric), |n| n.run_to_run)
    }

    /// Where the noise floor comes from, in words: the calibration, or the fixed floor.
    pub fn noise_floor_source(&self) -> String {
        match &self.calibration {
            Some(c) => format!("noise floor {}", c.source),
            None => format!(
                "noise floor: the fixed {}% (no calibration; `cnbench calibrate` measures this \
                 machine's)",
                (self.noise_floor * 100.0 * 100.0).round() / 100.0
            ),
        }
    }

    /// The smallest run-to-run variation assumed for `metric` (see [`RUN_NOISE`]):
    /// `noise_floor` times the metric's factor in [`RUN_NOISE_FACTORS`], or
    /// [`LOSS_RUN_NOISE`] for `loss_percent`.
    pub fn run_noise_for(&self, metric: &str) -> f64 {
        if ABSOLUTE_METRICS.contains(&metric) {
            return LOSS_RUN_NOISE;
        }
        let factor = RUN_NOISE_FACTORS
            .iter()
            .find(|(m, _)| *m == metric)
            .map_or(1.0, |(_, f)| *f);
        self.noise_floor * factor
    }
}

/// Reads a threshold: a percentage (`5%`, `2.5 %`) or a fraction from 0 to 1 (`0.05`).
pub fn parse_threshold(text: &str) -> Result<f64, CompareError> {
    let bad = |why: &str| CompareError::BadThreshold {
        text: text.to_owned(),
        why: why.to_owned(),
    };
    let trimmed = text.trim();
    let (number, percent) = match trimmed.strip_suffix('%') {
        Some(n) => (n.trim(), true),
        None => (trimmed, false),
    };
    if number.is_empty() {
        return Err(bad("it is empty"));
    }
    let value: f64 = number.parse().map_err(|_| bad("it is not a number"))?;
    if !value.is_finite() {
        return Err(bad("it is not a finite number"));
    }
    if value < 0.0 {
        return Err(bad("it is negative"));
    }
    if percent {
        Ok(value / 100.0)
    } else if value > 1.0 {
        Err(bad(
            "a fraction above 1 is ambiguous (did you mean a percentage?)",
        ))
    } else {
        Ok(value)
    }
}

/// Reads a per-metric threshold `METRIC=THRESHOLD`, e.g. `rtt_p99_ns=10%`; the metric must
/// be one the schema knows, the threshold as for [`parse_threshold`].
pub fn parse_metric_threshold(text: &str) -> Result<(String, f64), CompareError> {
    let Some((metric, value)) = text.split_once('=') else {
        return Err(CompareError::BadOverride {
            text: text.to_owned(),
        });
    };
    let metric = metric.trim();
    if metric.is_empty() || value.trim().is_empty() {
        return Err(CompareError::BadOverride {
            text: text.to_owned(),
        });
    }
    if Sample::higher_is_better(metric).is_none() {
        return Err(CompareError::UnknownMetric {
            metric: metric.to_owned(),
        });
    }
    Ok((metric.to_owned(), parse_threshold(value)?))
}
