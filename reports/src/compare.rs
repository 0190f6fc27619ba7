//! Comparing two results of the same backend: per-metric verdicts from the repetitions, and
//! conformance checks that stopped passing. The library side of
//! `cnbench compare BASELINE.json CANDIDATE.json`.
//!
//! # What is compared
//!
//! Measurements are matched by workload, variant, path (`same-node`, `cross-node`) and
//! traffic generator (its name; a different version only warns). Every metric of the
//! baseline's `summary` is compared, using the per-repetition values of
//! [`MeasurementRecord::metric_values`]. A baseline measurement or metric without a
//! counterpart in the candidate is an error ([`CompareError`]); parameters that make figures
//! incomparable (duration, message size, placement, streams, underlay, nodes, MTU, datapath,
//! generator, another machine or kernel) only give warnings.
//!
//! # The decision rule
//!
//! For one metric, with `b` the baseline's repetitions and `c` the candidate's:
//!
//! - **change**: `median(c) / median(b) - 1`, a fraction (`+0.12` = 12 % higher). For
//!   `loss_percent` it is `(median(c) - median(b)) / 100` instead, a difference in
//!   percentage points written as a fraction (a relative change of a loss near 0 % means
//!   nothing). "Worse" is higher for latency and loss and lower for rates
//!   ([`Sample::higher_is_better`]).
//! - **interval**: a percentile bootstrap interval of the change at [`CONFIDENCE`] (95 %):
//!   resample `b` and `c` with replacement, each at its own size, take the change of the two
//!   medians, and read the 2.5th and 97.5th percentiles of that distribution. When both
//!   sides have an odd number of repetitions the distribution is computed exactly, not
//!   sampled: a resample's median is the `i`-th smallest value with probability
//!   `P(Binomial(n, i/n) >= (n+1)/2) - P(Binomial(n, (i-1)/n) >= (n+1)/2)`, and every pair
//!   of medians is weighed by the product of those (the limit of infinitely many
//!   resamples). Otherwise [`RESAMPLES`] (4000) resamples are drawn with splitmix64 from the
//!   fixed seed [`SEED`]. Either way a comparison is deterministic. With three repetitions a
//!   side the interval is exactly `[min(c)/max(b) - 1, max(c)/min(b) - 1]`: every candidate
//!   repetition against every baseline repetition.
//! - **threshold** `t`: the smallest change that matters ([`CompareOptions::threshold_for`]):
//!   the `--threshold` (default [`DEFAULT_THRESHOLD`], 5 %) times the metric's factor from
//!   [`THRESHOLD_FACTORS`] (tail latencies vary more between runs: p90 2x, p99 3x,
//!   p99.9 6x, loss 2x, in percentage points), unless a per-metric override names the
//!   metric.
//! - **noise guard** `g`: the change of medians must also be [`NOISE_Z`] (3) standard errors
//!   from zero, where the standard error counts how far whole runs move, not only how far
//!   repetitions scatter. On the log scale,
//!   `g = 3 * sqrt(s^2 * (1/n_b + 1/n_c) + 2 * r^2)`, with `s` the spread of the repetitions
//!   (the standard deviations of the logarithms of both sides, pooled as a root mean square:
//!   about the coefficient of variation) and `r` the run-to-run variation: `s` times
//!   [`RUN_TO_RUN`] (1), but at least the metric's floor ([`CompareOptions::run_noise_for`]:
//!   [`RUN_NOISE`], 7 %, for rates, p50 and mean, 1.5x to 3x that for tail latencies
//!   ([`RUN_NOISE_FACTORS`]), 2 percentage points for loss). A rise must exceed `e^g - 1`, a fall `1 - e^-g`: with
//!   tight repetitions, +35 % and -26 % for rates, p50 and mean.
//!
//!   Why: repetitions run back to back and share the state of the machine; runs do not. On
//!   the development VM (two vCPUs, no other work measured), consecutive runs of the same
//!   build differed by up to 35 % in tcp-crr p50 and 56 % in udp-stream packets/s, while each
//!   run's repetitions agreed within 4 % and 15 %. The bootstrap interval says how sure the
//!   difference between these two runs is, not whether the code caused it; the guard demands
//!   a change larger than runs of the same code show. The price is power: by default a
//!   latency must rise by more than a third, a rate fall by more than a quarter, to be
//!   called a regression; smaller changes beyond the threshold are inconclusive. On a
//!   machine known to repeat closely, lower [`CompareOptions::noise_floor`].
//!
//! Then, with `[lo, hi]` the interval and `p` the change, both turned so that positive is
//! worse:
//!
//! - **regression** iff `lo > t` and `p > g` (as a rise or fall, see above): worse by more
//!   than the threshold with confidence, and by more than runs of the same code differ;
//! - **improvement** iff `hi < -t` and `-p > g`;
//! - **pass** iff `|p| <= t`, or the whole interval lies within `[-t, t]`;
//! - **inconclusive** otherwise: the change is beyond the threshold but the repetitions
//!   cannot say whether it is real ([`INCONCLUSIVE_HINT`]).
//!
//! With fewer than two (finite) repetitions on either side there is no interval and no
//! guard: **pass** if `|p| <= t`, **inconclusive** otherwise.
//!
//! Metrics noisy by nature ([`NOT_GATED`]: `rtt_max_ns`, the single longest round trip of a
//! repetition) are reported with their change and interval but get the verdict **info** and
//! never decide anything, unless a per-metric threshold names them.
//!
//! # Disturbed measurements
//!
//! Each repetition records how much CPU other work used meanwhile. When other work
//! disturbed a measurement in either run (more than a quarter of a CPU during a repetition,
//! the [`crate::stats::Warning::Disturbed`] of its warnings), its tail latencies and loss
//! ([`DISTURBED_UNDECIDABLE`]) are not decided, nor any other change within
//! [`DISTURBED_RATIO`] (4x) either way: a would-be regression or improvement becomes
//! inconclusive. On the two-CPU development VM, runs of the same build differed by 2.5x in
//! tcp-stream throughput with a third of a CPU of other work, and by 2.8x in transactions per
//! second and 130x in p99.9 with a whole CPU, each run's repetitions agreeing closely; no
//! statistic of the repetitions can tell that from a regression, only the record of the
//! disturbance can.
//!
//! # Emulated results
//!
//! Every result says where its nodes lived ([`crate::Substrate`]). Two results whose
//! substrates are not alike (an emulated VM run against a namespace run) are never compared:
//! [`CompareError::SubstrateMismatch`] (and [`CompareFilesError::SubstrateMismatch`], which
//! names the files). When both runs are emulated (QEMU TCG), figures compare behaviour, not
//! speed, and vary by ±20–35 % between runs of the same code: the noise floor is raised to at
//! least [`EMULATED_RUN_NOISE`] (25 %), so only changes well beyond that are decided, and the
//! comparison warns about it.
//!
//! # Checks
//!
//! Checks are matched by kind and subject, after each result's run id (and that of its
//! host-net baseline) in the subject is replaced by `<run>`, so `cnb-ab12-n0p0` of one run
//! matches `cnb-cd34-n0p0` of the other. A check that passed (or failed as expected) in the
//! baseline and fails in the candidate is always a **regression**; one that failed and now
//! passes is an **improvement**. A check missing from the candidate, and a new check that
//! fails, are warnings.
//!
//! # Exit code
//!
//! [`Comparison::exit_code`]: 0 when nothing regressed and nothing is inconclusive, 1 when
//! anything regressed, 3 when something is inconclusive but nothing regressed. (2 is for bad
//! input: any [`CompareError`].)

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::ReportError;
use crate::human::format_metric;
use crate::schema::{CheckOutcome, CheckRecord, MeasurementRecord, RunResult, Sample};
use crate::substrate::{Substrate, SubstrateKind, EMULATED_CAVEAT};

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

/// What to do when two results' substrates are not alike.
pub const SUBSTRATE_FIX: &str = "compare VM results with VM results (emulated with emulated) \
    and namespace results with namespace results";

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
const ABSOLUTE_METRICS: &[&str] = &["loss_percent"];

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

/// Why two results could not be compared, or an option not read. Every message is one line
/// that says what to change.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CompareError {
    /// A threshold that is not a percentage or a fraction.
    #[error("bad threshold `{text}`: {why}; write a percentage (5%) or a fraction (0.05)")]
    BadThreshold {
        /// The text given.
        text: String,
        /// What is wrong with it.
        why: String,
    },
    /// A per-metric threshold without `=`.
    #[error("bad per-metric threshold `{text}`: write METRIC=THRESHOLD, e.g. rtt_p99_ns=10%")]
    BadOverride {
        /// The text given.
        text: String,
    },
    /// A per-metric threshold for a metric the schema does not know.
    #[error(
        "unknown metric `{metric}` in a per-metric threshold; use one of throughput_bps, \
         packets_per_s, loss_percent, transactions_per_s, rtt_p50_ns, rtt_p90_ns, rtt_p99_ns, \
         rtt_p999_ns, rtt_max_ns, rtt_mean_ns"
    )]
    UnknownMetric {
        /// The name given.
        metric: String,
    },
    /// The two results are of different backends.
    #[error(
        "the baseline is backend {baseline} but the candidate is backend {candidate}; compare \
         two runs of the same backend (`cnbench run --backend {baseline}` for both)"
    )]
    BackendMismatch {
        /// The baseline's backend.
        baseline: String,
        /// The candidate's backend.
        candidate: String,
    },
    /// A measurement of the baseline is not in the candidate.
    #[error(
        "the baseline measured {measurement} but the candidate did not; run the candidate \
         with the same --workloads and --generator (and check that its run completed)"
    )]
    MissingMeasurement {
        /// The measurement: label and path, e.g. `tcp-rr cross-node`.
        measurement: String,
    },
    /// A measurement of the baseline is not in the candidate, whose run did not complete.
    #[error(
        "the baseline measured {measurement} but the candidate did not: the candidate run did \
         not complete ({outcome}); run it again until it completes"
    )]
    CandidateIncomplete {
        /// The measurement: label and path, e.g. `udp-stream 64 B cross-node`.
        measurement: String,
        /// How the candidate run ended (`interrupted`, `error: ...`).
        outcome: String,
    },
    /// A metric of a baseline measurement is not in the candidate's.
    #[error(
        "{measurement} of the candidate has no {metric} (the baseline has); its repetitions \
         failed or were left out: run the candidate again until that workload completes"
    )]
    MissingMetric {
        /// The measurement: label and path.
        measurement: String,
        /// The metric, e.g. `rtt_p99_ns`.
        metric: String,
    },
    /// One result is emulated and the other native (or one ran on VMs and the other in
    /// namespaces): their figures are not alike.
    #[error(
        "the baseline (run {baseline_run}) ran on {baseline} but the candidate (run \
         {candidate_run}) on {candidate}: emulated and native figures are not alike (emulation \
         runs 10–50× slower); {fix}",
        fix = SUBSTRATE_FIX
    )]
    SubstrateMismatch {
        /// The baseline's run id.
        baseline_run: String,
        /// Where the baseline's nodes lived.
        baseline: Box<Substrate>,
        /// The candidate's run id.
        candidate_run: String,
        /// Where the candidate's nodes lived.
        candidate: Box<Substrate>,
    },
    /// Neither result has anything to compare.
    #[error(
        "there is nothing to compare: the baseline has no measurements and neither result has \
         conformance checks; pass the --json files of runs that measured or checked something"
    )]
    NothingToCompare,
}

/// The verdict on one metric, one check, or a whole comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Within the threshold (or a check whose outcome did not get worse).
    Pass,
    /// Reported only: a metric that never gates ([`NOT_GATED`]).
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

/// How a metric's change is expressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeScale {
    /// `candidate / baseline - 1`, a fraction.
    Relative,
    /// `(candidate - baseline) / 100` of a metric in percent: percentage points, as a
    /// fraction (0.02 = 2 percentage points).
    PercentagePoints,
}

impl ChangeScale {
    /// A change as text: `+12.3%` (relative) or `+2.0 pp` (percentage points).
    pub fn format(self, change: f64) -> String {
        if change.is_nan() {
            return "-".into();
        }
        if change.is_infinite() {
            return if change > 0.0 { "+inf" } else { "-inf" }.into();
        }
        match self {
            ChangeScale::Relative => format!("{:+.1}%", change * 100.0),
            ChangeScale::PercentagePoints => format!("{:+.1} pp", change * 100.0),
        }
    }
}

/// One side of a comparison: what was run, for the headers of the reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// Run id.
    pub run_id: String,
    /// Backend.
    pub backend: String,
    /// Datapath option of the backend, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datapath: Option<String>,
    /// Git revision of cnbench, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_revision: Option<String>,
    /// cnbench version.
    pub cnbench_version: String,
    /// Start, in milliseconds since the Unix epoch.
    pub started_unix_ms: u64,
    /// Measurement window of each repetition, in milliseconds.
    pub duration_ms: u64,
    /// Repetitions asked for.
    pub repeat: u32,
    /// CPU placement.
    pub placement: String,
    /// Nodes.
    pub nodes: u32,
    /// Underlay.
    pub underlay: String,
    /// Kernel of the machine.
    pub kernel: String,
    /// Where the nodes lived (namespaces, or VMs and whether emulated).
    pub substrate: Substrate,
    /// How the run ended (`passed`, `checks failed`, `error: ...`).
    pub outcome: String,
}

impl RunInfo {
    fn of(r: &RunResult) -> RunInfo {
        let p = &r.parameters;
        RunInfo {
            run_id: r.run_id.clone(),
            backend: p.backend.clone(),
            datapath: p.datapath.clone(),
            git_revision: r.environment.git_revision.clone(),
            cnbench_version: r.environment.cnbench_version.clone(),
            started_unix_ms: r.started_unix_ms,
            duration_ms: p.duration_ms,
            repeat: p.repeat,
            placement: p.placement.clone(),
            nodes: p.nodes,
            underlay: p.underlay.clone(),
            kernel: r.environment.kernel.clone(),
            substrate: r.substrate.clone(),
            outcome: r.outcome.to_string(),
        }
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
    /// The bootstrap interval of `change` at [`CONFIDENCE`], `[low, high]`; absent with
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

    /// The change as text (`+12.3%`, `+2.0 pp`).
    pub fn change_text(&self) -> String {
        self.scale.format(self.change)
    }

    /// The interval as text (`[+8.1%, +15.0%]`), or `-` when there is none.
    pub fn interval_text(&self) -> String {
        match self.interval {
            Some([lo, hi]) => format!("[{}, {}]", self.scale.format(lo), self.scale.format(hi)),
            None => "-".into(),
        }
    }

    /// The threshold as text (`5%`, `10 pp`), or `-` when the metric does not gate.
    pub fn threshold_text(&self) -> String {
        match (self.threshold, self.scale) {
            (Some(t), ChangeScale::Relative) => format!("{}%", trim_number(t * 100.0)),
            (Some(t), ChangeScale::PercentagePoints) => format!("{} pp", trim_number(t * 100.0)),
            (None, _) => "-".into(),
        }
    }

    /// One line for messages: `tcp-rr cross-node rtt_p99_ns: 25.1 µs -> 31.2 µs (+24.3%,
    /// 95% interval [+20.1%, +30.0%], threshold 15%)`.
    pub fn describe(&self) -> String {
        let mut line = format!(
            "{} {}: {} -> {} ({}",
            self.case(),
            self.metric,
            format_metric(&self.metric, self.baseline_median),
            format_metric(&self.metric, self.candidate_median),
            self.change_text()
        );
        if self.interval.is_some() {
            let _ = write!(
                line,
                ", {:.0}% interval {}",
                CONFIDENCE * 100.0,
                self.interval_text()
            );
        }
        if self.threshold.is_some() {
            let _ = write!(line, ", threshold {}", self.threshold_text());
        }
        line.push(')');
        line
    }
}

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

impl CheckComparison {
    /// One line: `reachability n0p0 -> n1p0 icmp: PASS -> FAIL (expected: answer, actual:
    /// no answer)`.
    pub fn describe(&self) -> String {
        let mut line = format!(
            "{} {}: {} -> {} (expected: {}, actual: {})",
            self.check,
            self.subject,
            self.baseline.label(),
            self.candidate.label(),
            self.expected,
            self.candidate_actual
        );
        if let Some(reason) = &self.reason {
            let _ = write!(line, " reason: {reason}");
        }
        line
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
    fn add(&mut self, v: Verdict) {
        match v {
            Verdict::Pass => self.pass += 1,
            Verdict::Info => self.info += 1,
            Verdict::Improvement => self.improvement += 1,
            Verdict::Inconclusive => self.inconclusive += 1,
            Verdict::Regression => self.regression += 1,
        }
    }

    /// `2 regressions, 1 inconclusive, 3 improvements, 40 pass, 4 info`, leaving out zeros
    /// (but always giving `pass`).
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.regression > 0 {
            parts.push(format!(
                "{} regression{}",
                self.regression,
                if self.regression == 1 { "" } else { "s" }
            ));
        }
        if self.inconclusive > 0 {
            parts.push(format!("{} inconclusive", self.inconclusive));
        }
        if self.improvement > 0 {
            parts.push(format!(
                "{} improvement{}",
                self.improvement,
                if self.improvement == 1 { "" } else { "s" }
            ));
        }
        parts.push(format!("{} pass", self.pass));
        if self.info > 0 {
            parts.push(format!("{} info", self.info));
        }
        parts.join(", ")
    }
}

/// Everything a comparison found: every metric row, every compared check, the warnings, and
/// the overall verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The baseline run.
    pub baseline: RunInfo,
    /// The candidate run.
    pub candidate: RunInfo,
    /// The options used.
    pub options: CompareOptions,
    /// One row per metric of each matched measurement, in the baseline's order.
    pub metrics: Vec<MetricComparison>,
    /// One row per check found in both results, in the baseline's order.
    pub checks: Vec<CheckComparison>,
    /// What makes the comparison less trustworthy, each with what to change.
    pub warnings: Vec<String>,
    /// Regression if any row regressed; else inconclusive if any row is; else improvement if
    /// any row improved; else pass.
    pub verdict: Verdict,
}

impl Comparison {
    /// The process exit code for `cnbench compare`: 1 if anything regressed, 3 if anything is
    /// inconclusive and nothing regressed, 0 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self.verdict {
            Verdict::Regression => 1,
            Verdict::Inconclusive => 3,
            _ => 0,
        }
    }

    /// How many rows, metrics and checks together, got each verdict.
    pub fn counts(&self) -> VerdictCounts {
        let mut counts = VerdictCounts::default();
        for v in self
            .metrics
            .iter()
            .map(|m| m.verdict)
            .chain(self.checks.iter().map(|c| c.verdict))
        {
            counts.add(v);
        }
        counts
    }

    /// The one-line summary: `REGRESSION: 2 regressions, 40 pass (threshold 5%)`, with the
    /// hint when something is inconclusive.
    pub fn summary_line(&self) -> String {
        let mut line = format!(
            "{}: {} (threshold {}",
            self.verdict.label(),
            self.counts().describe(),
            format_args!("{}%", trim_number(self.options.threshold * 100.0))
        );
        if !self.options.per_metric.is_empty() {
            let overrides: Vec<String> = self
                .options
                .per_metric
                .iter()
                .map(|(m, t)| format!("{m} {}%", trim_number(t * 100.0)))
                .collect();
            let _ = write!(line, "; {}", overrides.join(", "));
        }
        line.push(')');
        if self.counts().inconclusive > 0 {
            let _ = write!(
                line,
                "; to decide the inconclusive ones, {INCONCLUSIVE_HINT}"
            );
        }
        line
    }
}

/// Compares `candidate` against `baseline` (see the module documentation for the rules).
///
/// Refuses results whose substrates are not alike ([`CompareError::SubstrateMismatch`]);
/// [`compare_files`] does the same naming the files.
pub fn compare(
    baseline: &RunResult,
    candidate: &RunResult,
    options: &CompareOptions,
) -> Result<Comparison, CompareError> {
    if !baseline.substrate.comparable_with(&candidate.substrate) {
        return Err(CompareError::SubstrateMismatch {
            baseline_run: baseline.run_id.clone(),
            baseline: Box::new(baseline.substrate.clone()),
            candidate_run: candidate.run_id.clone(),
            candidate: Box::new(candidate.substrate.clone()),
        });
    }
    let (b_backend, c_backend) = (&baseline.parameters.backend, &candidate.parameters.backend);
    if b_backend != c_backend {
        return Err(CompareError::BackendMismatch {
            baseline: b_backend.clone(),
            candidate: c_backend.clone(),
        });
    }
    if baseline.measurements.is_empty() && baseline.checks.is_empty() && candidate.checks.is_empty()
    {
        return Err(CompareError::NothingToCompare);
    }

    let mut warnings = parameter_warnings(baseline, candidate);
    let (options, emulation) = emulated_options(&baseline.substrate, options);
    let options = &options;
    warnings.extend(emulation);
    let pairs = match_measurements(&baseline.measurements, &candidate.measurements).map_err(
        |e| match e {
            CompareError::MissingMeasurement { measurement }
                if !matches!(
                    candidate.outcome,
                    crate::Outcome::Passed | crate::Outcome::ChecksFailed
                ) =>
            {
                CompareError::CandidateIncomplete {
                    measurement,
                    outcome: candidate.outcome.to_string().replace('\n', " "),
                }
            }
            e => e,
        },
    )?;
    let mut metrics = Vec::new();
    for (b, c) in &pairs {
        warnings.extend(measurement_warnings(b, c));
        metrics.extend(compare_measurement(b, c, options)?);
    }
    warnings.extend(disturbance_warning(&pairs));
    for c in &candidate.measurements {
        if !pairs.iter().any(|(_, pc)| std::ptr::eq(*pc, c)) {
            warnings.push(format!(
                "{} {} is only in the candidate: not compared",
                c.label(),
                c.path
            ));
        }
    }
    warnings.extend(session_baseline_warnings(baseline, candidate, options));

    let (checks, check_warnings) = compare_checks(baseline, candidate);
    warnings.extend(check_warnings);

    let mut verdict = Verdict::Pass;
    for v in metrics
        .iter()
        .map(|m| m.verdict)
        .chain(checks.iter().map(|c| c.verdict))
    {
        verdict = match (verdict, v) {
            (_, Verdict::Regression) | (Verdict::Regression, _) => Verdict::Regression,
            (_, Verdict::Inconclusive) | (Verdict::Inconclusive, _) => Verdict::Inconclusive,
            (_, Verdict::Improvement) | (Verdict::Improvement, _) => Verdict::Improvement,
            _ => Verdict::Pass,
        };
    }

    Ok(Comparison {
        baseline: RunInfo::of(baseline),
        candidate: RunInfo::of(candidate),
        options: options.clone(),
        metrics,
        checks,
        warnings,
        verdict,
    })
}

/// Why two result files could not be compared: a file that cannot be read, results on
/// substrates that are not alike (both files named), or any [`CompareError`].
#[derive(Debug, thiserror::Error)]
pub enum CompareFilesError {
    /// A file could not be read as a run result (missing, not JSON, another schema version, a
    /// scale result).
    #[error(transparent)]
    Read(#[from] ReportError),
    /// One file holds an emulated result and the other a native one (or one is of VMs and the
    /// other of namespaces).
    #[error(
        "{} is a result of {baseline} but {} is one of {candidate}: emulated and native \
         figures are not alike (emulation runs 10–50× slower); {fix}",
        baseline_file.display(),
        candidate_file.display(),
        fix = SUBSTRATE_FIX
    )]
    SubstrateMismatch {
        /// The baseline file.
        baseline_file: PathBuf,
        /// Where the baseline's nodes lived.
        baseline: Box<Substrate>,
        /// The candidate file.
        candidate_file: PathBuf,
        /// Where the candidate's nodes lived.
        candidate: Box<Substrate>,
    },
    /// The results were read but cannot be compared.
    #[error(transparent)]
    Compare(#[from] CompareError),
}

/// Reads the result files `baseline` and `candidate` ([`crate::read_result`]) and compares
/// them ([`compare`]). Results whose substrates are not alike are refused with
/// [`CompareFilesError::SubstrateMismatch`], which names both files.
pub fn compare_files(
    baseline: &Path,
    candidate: &Path,
    options: &CompareOptions,
) -> Result<Comparison, CompareFilesError> {
    let b = crate::read_result(baseline)?;
    let c = crate::read_result(candidate)?;
    if !b.substrate.comparable_with(&c.substrate) {
        return Err(CompareFilesError::SubstrateMismatch {
            baseline_file: baseline.to_owned(),
            baseline: Box::new(b.substrate),
            candidate_file: candidate.to_owned(),
            candidate: Box::new(c.substrate),
        });
    }
    Ok(compare(&b, &c, options)?)
}

/// The options to compare two runs on `substrate` with (both runs' substrates are alike), and
/// the warning that says what emulation changes: for emulated runs, the noise floor is at
/// least [`EMULATED_RUN_NOISE`].
fn emulated_options(
    substrate: &Substrate,
    options: &CompareOptions,
) -> (CompareOptions, Option<String>) {
    let mut options = options.clone();
    if !substrate.emulated {
        return (options, None);
    }
    let mut warning = format!(
        "both runs are emulated ({}): {EMULATED_CAVEAT}; runs of the same code differ by \
         ±20–35 % under emulation",
        substrate.how()
    );
    if options.noise_floor < EMULATED_RUN_NOISE {
        let _ = write!(
            warning,
            ", so the noise floor is raised from {}% to {}% and only larger changes are decided",
            trim_number(options.noise_floor * 100.0),
            trim_number(EMULATED_RUN_NOISE * 100.0)
        );
        options.noise_floor = EMULATED_RUN_NOISE;
    }
    (options, Some(warning))
}

/// The lines saying where the compared runs' nodes lived, for runs not in plain namespaces:
/// none when both are, one when both ran alike, one per side otherwise.
pub(crate) fn substrate_lines(cmp: &Comparison) -> Vec<String> {
    let (b, c) = (&cmp.baseline.substrate, &cmp.candidate.substrate);
    let plain = |s: &Substrate| s.kind == SubstrateKind::Netns && !s.emulated;
    if plain(b) && plain(c) {
        Vec::new()
    } else if b == c {
        vec![b.summary_line()]
    } else {
        vec![
            format!("baseline {}", b.summary_line()),
            format!("candidate {}", c.summary_line()),
        ]
    }
}

/// The generator's name without its version: `iperf3 3.16` -> `iperf3`.
fn generator_name(generator: &str) -> &str {
    generator.split_whitespace().next().unwrap_or("")
}

fn same_key(a: &MeasurementRecord, b: &MeasurementRecord) -> bool {
    a.workload == b.workload
        && a.variant == b.variant
        && a.path == b.path
        && generator_name(&a.generator) == generator_name(&b.generator)
}

/// Pairs each baseline measurement with the candidate's measurement of the same case; the
/// k-th of a case in one with the k-th of that case in the other.
fn match_measurements<'a>(
    baseline: &'a [MeasurementRecord],
    candidate: &'a [MeasurementRecord],
) -> Result<Vec<(&'a MeasurementRecord, &'a MeasurementRecord)>, CompareError> {
    let mut used = vec![false; candidate.len()];
    let mut pairs = Vec::new();
    for b in baseline {
        let found = candidate
            .iter()
            .enumerate()
            .find(|(i, c)| !used[*i] && same_key(b, c));
        match found {
            Some((i, c)) => {
                used[i] = true;
                pairs.push((b, c));
            }
            None => {
                return Err(CompareError::MissingMeasurement {
                    measurement: format!("{} {}", b.label(), b.path),
                })
            }
        }
    }
    Ok(pairs)
}

/// The metric names of a measurement: those of its summary, or of its repetitions when the
/// summary is empty.
fn metric_names(m: &MeasurementRecord) -> Vec<String> {
    if m.summary.is_empty() {
        m.metric_values()
            .into_iter()
            .map(|(name, _)| name.to_owned())
            .collect()
    } else {
        m.summary.iter().map(|s| s.metric.clone()).collect()
    }
}

fn values_of(m: &MeasurementRecord, metric: &str) -> Option<Vec<f64>> {
    m.metric_values()
        .into_iter()
        .find(|(name, _)| *name == metric)
        .map(|(_, values)| values)
}

/// Repetitions of `m` that other work disturbed ([`crate::stats::Warning::Disturbed`]): how
/// many, and the most CPUs other work used.
fn disturbance(m: &MeasurementRecord) -> Option<(usize, f64)> {
    crate::stats::warnings(m).into_iter().find_map(|w| match w {
        crate::stats::Warning::Disturbed { count, cpu_share } => Some((count, cpu_share)),
        _ => None,
    })
}

/// How much other work disturbed a matched pair of measurements, in either run.
#[derive(Debug, Clone, PartialEq)]
struct Disturbance {
    /// `other work used up to 0.8 CPUs during 3 of the baseline's repetitions`.
    note: String,
}

impl Disturbance {
    fn of(b: &MeasurementRecord, c: &MeasurementRecord) -> Option<Disturbance> {
        let mut parts = Vec::new();
        for (side, m) in [("baseline", b), ("candidate", c)] {
            if let Some((count, cpus)) = disturbance(m) {
                parts.push(format!(
                    "up to {cpus:.1} CPUs during {count} of the {side}'s repetitions"
                ));
            }
        }
        (!parts.is_empty()).then(|| Disturbance {
            note: format!("other work used {}", parts.join(" and ")),
        })
    }

    /// What is not decided on such measurements.
    fn consequence() -> String {
        format!(
            "tail latencies and loss are not decided, nor other changes within {}x",
            trim_number(DISTURBED_RATIO)
        )
    }

    /// Turns a regression or improvement into inconclusive when the disturbance could
    /// account for it: always for [`DISTURBED_UNDECIDABLE`] metrics, otherwise within
    /// [`DISTURBED_RATIO`].
    fn apply(&self, row: &mut MetricComparison) {
        if !matches!(row.verdict, Verdict::Regression | Verdict::Improvement) {
            return;
        }
        let ratio = 1.0 + row.change;
        let undecidable = DISTURBED_UNDECIDABLE.contains(&row.metric.as_str())
            || row.scale != ChangeScale::Relative;
        let within = ratio < DISTURBED_RATIO && ratio > 1.0 / DISTURBED_RATIO;
        if undecidable || within {
            row.verdict = Verdict::Inconclusive;
            row.note = Some(format!(
                "{}: {}; rerun both on a quiet machine",
                self.note,
                Disturbance::consequence()
            ));
        }
    }
}

/// One warning for every measurement that other work disturbed, in either run.
fn disturbance_warning(pairs: &[(&MeasurementRecord, &MeasurementRecord)]) -> Option<String> {
    let mut count = 0;
    let (mut most_b, mut most_c) = (0.0f64, 0.0f64);
    for (b, c) in pairs {
        if Disturbance::of(b, c).is_none() {
            continue;
        }
        count += 1;
        most_b = most_b.max(disturbance(b).map_or(0.0, |d| d.1));
        most_c = most_c.max(disturbance(c).map_or(0.0, |d| d.1));
    }
    if count == 0 {
        return None;
    }
    let sides: Vec<String> = [("baseline", most_b), ("candidate", most_c)]
        .iter()
        .filter(|(_, cpus)| *cpus > 0.0)
        .map(|(side, cpus)| format!("up to {cpus:.1} CPUs in the {side}"))
        .collect();
    Some(format!(
        "other work used the machine during {count} of {} measurements ({}): there, {}; stop \
         other work and rerun both",
        pairs.len(),
        sides.join(", "),
        Disturbance::consequence()
    ))
}

fn compare_measurement(
    b: &MeasurementRecord,
    c: &MeasurementRecord,
    options: &CompareOptions,
) -> Result<Vec<MetricComparison>, CompareError> {
    let case = format!("{} {}", b.label(), b.path);
    let disturbed = Disturbance::of(b, c);
    let mut rows = Vec::new();
    for metric in metric_names(b) {
        let b_values = values_of(b, &metric).unwrap_or_default();
        let Some(c_values) = values_of(c, &metric) else {
            return Err(CompareError::MissingMetric {
                measurement: case,
                metric,
            });
        };
        rows.push(compare_metric(
            &b.label(),
            &b.path,
            &metric,
            b_values,
            c_values,
            options.threshold_for(&metric),
            options.run_noise_for(&metric),
        ));
    }
    if let Some(d) = &disturbed {
        for row in &mut rows {
            d.apply(row);
        }
    }
    Ok(rows)
}

/// Compares one metric's repetitions; `threshold` `None` means the metric does not gate.
fn compare_metric(
    measurement: &str,
    path: &str,
    metric: &str,
    baseline_values: Vec<f64>,
    candidate_values: Vec<f64>,
    threshold: Option<f64>,
    run_noise: f64,
) -> MetricComparison {
    let higher_is_better = Sample::higher_is_better(metric).unwrap_or(true);
    let scale = if ABSOLUTE_METRICS.contains(&metric) {
        ChangeScale::PercentagePoints
    } else {
        ChangeScale::Relative
    };
    let b: Vec<f64> = finite(&baseline_values);
    let c: Vec<f64> = finite(&candidate_values);
    let mut row = MetricComparison {
        measurement: measurement.to_owned(),
        path: path.to_owned(),
        metric: metric.to_owned(),
        higher_is_better,
        baseline_median: median(&b),
        candidate_median: median(&c),
        baseline_values,
        candidate_values,
        scale,
        change: f64::NAN,
        interval: None,
        threshold,
        noise_guard: None,
        verdict: Verdict::Inconclusive,
        note: None,
    };
    if b.is_empty() || c.is_empty() {
        let side = if b.is_empty() {
            "baseline"
        } else {
            "candidate"
        };
        row.note = Some(format!(
            "the {side} has no finite value: nothing to compare"
        ));
        if threshold.is_none() {
            row.verdict = Verdict::Info;
        }
        return row;
    }
    row.change = change(scale, row.baseline_median, row.candidate_median);
    let enough = b.len() >= 2 && c.len() >= 2;
    if enough {
        row.interval = Some(bootstrap_interval(&b, &c, scale));
    }
    let Some(t) = threshold else {
        row.verdict = Verdict::Info;
        row.note = Some("noisy by nature: reported, never gates".into());
        return row;
    };
    // Turned so that positive is worse.
    let worse = |x: f64| if higher_is_better { -x } else { x };
    let point = worse(row.change);
    let Some([lo, hi]) = row.interval else {
        if point.abs() <= t {
            row.verdict = Verdict::Pass;
        } else {
            row.verdict = Verdict::Inconclusive;
            row.note = Some(format!(
                "{} repetition(s) against {}: a change cannot be told from noise",
                b.len(),
                c.len()
            ));
        }
        return row;
    };
    let (wlo, whi) = if higher_is_better {
        (-hi, -lo)
    } else {
        (lo, hi)
    };
    // The noise guard, on the log scale for relative changes: a rise must exceed e^g - 1
    // and a fall 1 - e^-g.
    let spread = pooled_spread(&b, &c, scale);
    let run = (RUN_TO_RUN * spread).max(run_noise);
    let (nb, nc) = (b.len() as f64, c.len() as f64);
    let g = NOISE_Z * (spread * spread * (1.0 / nb + 1.0 / nc) + 2.0 * run * run).sqrt();
    let (up, down) = match scale {
        ChangeScale::PercentagePoints => (g, g),
        ChangeScale::Relative => (g.exp_m1(), -(-g).exp_m1()),
    };
    let (guard_worse, guard_better) = if higher_is_better {
        (down, up)
    } else {
        (up, down)
    };
    let guard = if point > 0.0 {
        guard_worse
    } else {
        guard_better
    };
    row.noise_guard = Some(guard);
    row.verdict = if wlo > t && point > guard_worse {
        Verdict::Regression
    } else if whi < -t && -point > guard_better {
        Verdict::Improvement
    } else if point.abs() <= t || (wlo >= -t && whi <= t) {
        Verdict::Pass
    } else {
        Verdict::Inconclusive
    };
    if row.verdict == Verdict::Inconclusive {
        row.note = Some(if wlo > t || whi < -t {
            format!(
                "beyond the threshold, but not beyond what runs of the same build differ by \
                 (noise guard {}); more repetitions do not lower that much, a lower noise \
                 floor on a machine whose runs repeat closely does",
                scale.format(guard).trim_start_matches('+')
            )
        } else {
            "the interval crosses the threshold".into()
        });
    }
    row
}

fn finite(values: &[f64]) -> Vec<f64> {
    values.iter().copied().filter(|v| v.is_finite()).collect()
}

/// Median of `values` (NaN when empty).
fn median(values: &[f64]) -> f64 {
    crate::stats::median(values).unwrap_or(f64::NAN)
}

/// The change from baseline median `b` to candidate median `c`.
fn change(scale: ChangeScale, b: f64, c: f64) -> f64 {
    match scale {
        ChangeScale::PercentagePoints => (c - b) / 100.0,
        ChangeScale::Relative if b == 0.0 => {
            if c == 0.0 {
                0.0
            } else {
                f64::INFINITY.copysign(c)
            }
        }
        ChangeScale::Relative => c / b - 1.0,
    }
}

/// The spread of the repetitions of both sides, pooled (root mean square of the two sample
/// standard deviations): of the natural logarithms of the values for relative changes (about
/// the coefficient of variation, but symmetric for rises and falls), of the values divided by
/// 100 for percentage points. With a value of 0 or below, the coefficient of variation.
fn pooled_spread(b: &[f64], c: &[f64], scale: ChangeScale) -> f64 {
    let sd = |v: &[f64]| -> f64 {
        if v.len() < 2 {
            return 0.0;
        }
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    };
    let spread = |v: &[f64]| -> f64 {
        match scale {
            ChangeScale::PercentagePoints => sd(v) / 100.0,
            ChangeScale::Relative if v.iter().all(|x| *x > 0.0) => {
                sd(&v.iter().map(|x| x.ln()).collect::<Vec<f64>>())
            }
            ChangeScale::Relative => {
                let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
                if mean == 0.0 {
                    0.0
                } else {
                    sd(v) / mean.abs()
                }
            }
        }
    };
    let (sb, sc) = (spread(b), spread(c));
    ((sb * sb + sc * sc) / 2.0).sqrt()
}

/// splitmix64: a tiny, fast generator with good statistical quality for resampling.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform index below `n` (n > 0), by multiply-shift.
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
}

/// The percentile bootstrap interval at [`CONFIDENCE`] of the change of medians.
fn bootstrap_interval(b: &[f64], c: &[f64], scale: ChangeScale) -> [f64; 2] {
    let (rb, rc) = (Resampler::new(b), Resampler::new(c));
    exact_interval(&rb, &rc, scale).unwrap_or_else(|| sampled_interval(&rb, &rc, scale))
}

/// The tails of [`CONFIDENCE`]: 2.5 % each.
fn tail() -> f64 {
    (1.0 - CONFIDENCE) / 2.0
}

/// The bootstrap interval from every pair of resample medians with its probability, when
/// both counts are odd; `None` otherwise.
fn exact_interval(rb: &Resampler, rc: &Resampler, scale: ChangeScale) -> Option<[f64; 2]> {
    let (pb, pc) = (rb.pmf()?, rc.pmf()?);
    let mut atoms: Vec<(f64, f64)> = Vec::with_capacity(pb.len() * pc.len());
    for (i, p) in pb.iter().enumerate() {
        for (j, q) in pc.iter().enumerate() {
            atoms.push((change(scale, rb.sorted[i], rc.sorted[j]), p * q));
        }
    }
    atoms.sort_by(|x, y| x.0.total_cmp(&y.0));
    // The smallest change whose cumulative probability reaches `level`.
    let at = |level: f64| {
        let mut cumulative = 0.0;
        for (value, p) in &atoms {
            cumulative += p;
            if cumulative >= level - 1e-12 {
                return *value;
            }
        }
        atoms[atoms.len() - 1].0
    };
    Some([at(tail()), at(1.0 - tail())])
}

/// The bootstrap interval from [`RESAMPLES`] resamples drawn from the fixed [`SEED`].
fn sampled_interval(rb: &Resampler, rc: &Resampler, scale: ChangeScale) -> [f64; 2] {
    let mut rng = SplitMix64(SEED);
    let mut changes: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            let mb = rb.median(&mut rng);
            let mc = rc.median(&mut rng);
            change(scale, mb, mc)
        })
        .collect();
    changes.sort_by(f64::total_cmp);
    let at = |p: f64| {
        let rank = (p * RESAMPLES as f64).ceil() as usize;
        changes[rank.clamp(1, RESAMPLES) - 1]
    };
    [at(tail()), at(1.0 - tail())]
}

/// Draws the median of a resample (with replacement, of the same size) of some values.
///
/// For an odd count `n` the median of a resample is the `i`-th smallest value with a known
/// probability: it is at most the `i`-th smallest iff at least `(n + 1) / 2` of the `n`
/// draws are, so `P(index <= i) = P(Binomial(n, (i + 1) / n) >= (n + 1) / 2)`. Drawing the
/// index from that distribution is the same as drawing the resample and taking its median,
/// with one random number instead of `n`. For an even count the resample is drawn.
struct Resampler {
    sorted: Vec<f64>,
    /// For an odd count: `P(index <= i)` for each index `i`.
    cdf: Option<Vec<f64>>,
}

impl Resampler {
    fn new(values: &[f64]) -> Resampler {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let cdf = (n % 2 == 1).then(|| {
            (0..n)
                .map(|i| binomial_at_least(n, (i + 1) as f64 / n as f64, n.div_ceil(2)))
                .collect()
        });
        Resampler { sorted, cdf }
    }

    /// For an odd count: the probability that a resample's median is each value.
    fn pmf(&self) -> Option<Vec<f64>> {
        let cdf = self.cdf.as_ref()?;
        Some(
            cdf.iter()
                .scan(0.0, |below, p| {
                    let mass = p - *below;
                    *below = *p;
                    Some(mass)
                })
                .collect(),
        )
    }

    fn median(&self, rng: &mut SplitMix64) -> f64 {
        let n = self.sorted.len();
        if let Some(cdf) = &self.cdf {
            let u = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
            let i = cdf.partition_point(|p| *p <= u).min(n - 1);
            return self.sorted[i];
        }
        let mut counts = vec![0u32; n];
        for _ in 0..n {
            counts[rng.below(n)] += 1;
        }
        // The k-th smallest value of the resample, counting from 1.
        let kth = |k: u32| {
            let mut seen = 0;
            for (i, count) in counts.iter().enumerate() {
                seen += count;
                if seen >= k {
                    return self.sorted[i];
                }
            }
            self.sorted[n - 1]
        };
        let half = (n / 2) as u32;
        (kth(half) + kth(half + 1)) / 2.0
    }
}

/// `P(X >= k)` for `X ~ Binomial(n, p)`.
fn binomial_at_least(n: usize, p: f64, k: usize) -> f64 {
    if p >= 1.0 {
        return 1.0;
    }
    let ln_fact: Vec<f64> = std::iter::once(0.0)
        .chain((1..=n).scan(0.0, |acc, i| {
            *acc += (i as f64).ln();
            Some(*acc)
        }))
        .collect();
    (k..=n)
        .map(|j| {
            let ln_choose = ln_fact[n] - ln_fact[j] - ln_fact[n - j];
            (ln_choose + j as f64 * p.ln() + (n - j) as f64 * (1.0 - p).ln()).exp()
        })
        .sum::<f64>()
        .min(1.0)
}

/// Warnings about parameters and machines that make the figures of the two runs differ for
/// reasons other than the code.
fn parameter_warnings(baseline: &RunResult, candidate: &RunResult) -> Vec<String> {
    let (b, c) = (&baseline.parameters, &candidate.parameters);
    let mut out = Vec::new();
    let mut differ = |what: &str, bv: String, cv: String| {
        if bv != cv {
            out.push(format!(
                "{what} differs (baseline {bv}, candidate {cv}): figures may differ for that \
                 reason alone; run both with the same {what}"
            ));
        }
    };
    differ(
        "duration",
        format!("{} ms", b.duration_ms),
        format!("{} ms", c.duration_ms),
    );
    differ(
        "warm-up",
        format!("{} ms", b.warmup_ms),
        format!("{} ms", c.warmup_ms),
    );
    let size = |s: Option<u32>| s.map_or_else(|| "default".to_owned(), |s| format!("{s} B"));
    differ(
        "message size",
        size(b.message_size_bytes),
        size(c.message_size_bytes),
    );
    differ("placement", b.placement.clone(), c.placement.clone());
    differ("streams", b.streams.to_string(), c.streams.to_string());
    differ("underlay", b.underlay.clone(), c.underlay.clone());
    differ("nodes", b.nodes.to_string(), c.nodes.to_string());
    differ(
        "pods per node",
        b.pods_per_node.to_string(),
        c.pods_per_node.to_string(),
    );
    differ("mtu", b.mtu.to_string(), c.mtu.to_string());
    let opt = |s: &Option<String>| s.clone().unwrap_or_else(|| "default".into());
    differ("datapath", opt(&b.datapath), opt(&c.datapath));
    differ("bgp topology", opt(&b.bgp_topology), opt(&c.bgp_topology));
    differ("generator", b.generator.clone(), c.generator.clone());

    let (be, ce) = (&baseline.environment, &candidate.environment);
    let machine = |e: &crate::Environment| {
        format!(
            "{} / {} CPUs / {}",
            e.hostname.as_deref().unwrap_or("?"),
            e.cpu_count,
            e.cpu_model.as_deref().unwrap_or("?")
        )
    };
    if machine(be) != machine(ce) {
        out.push(format!(
            "the runs are from different machines (baseline {}, candidate {}): compare runs \
             from one machine",
            machine(be),
            machine(ce)
        ));
    }
    if be.kernel != ce.kernel {
        out.push(format!(
            "the runs are on different kernels (baseline {}, candidate {}): the kernel's \
             datapath may account for differences",
            be.kernel, ce.kernel
        ));
    }
    let (bs, cs) = (&baseline.substrate, &candidate.substrate);
    if bs.kind == SubstrateKind::Vm && bs.kernel_release != cs.kernel_release {
        out.push(format!(
            "the VMs ran different kernels (baseline {}, candidate {}): the kernel's datapath \
             may account for differences; boot both with the same kernel",
            bs.kernel_release, cs.kernel_release
        ));
    }
    for (side, r) in [("baseline", baseline), ("candidate", candidate)] {
        if !matches!(
            r.outcome,
            crate::Outcome::Passed | crate::Outcome::ChecksFailed
        ) {
            out.push(format!(
                "the {side} run did not complete ({}): its figures may be partial",
                r.outcome
            ));
        }
    }
    out
}

/// The message size of a measurement's first repetition.
fn message_size(m: &MeasurementRecord) -> Option<u32> {
    m.repetitions.first().map(|s| match s {
        Sample::TcpStream(t) => t.message_size_bytes,
        Sample::UdpStream(u) => u.message_size_bytes,
        Sample::TcpRr(r) | Sample::UdpRr(r) | Sample::TcpCrr(r) => r.message_size_bytes,
    })
}

/// Median measurement window of a measurement's repetitions, in nanoseconds.
fn window_ns(m: &MeasurementRecord) -> f64 {
    let windows: Vec<f64> = m
        .repetitions
        .iter()
        .map(|s| match s {
            Sample::TcpStream(t) => t.window_ns as f64,
            Sample::UdpStream(u) => u.window_ns as f64,
            Sample::TcpRr(r) | Sample::UdpRr(r) | Sample::TcpCrr(r) => r.window_ns as f64,
        })
        .collect();
    median(&windows)
}

/// Warnings about one matched pair of measurements.
fn measurement_warnings(b: &MeasurementRecord, c: &MeasurementRecord) -> Vec<String> {
    let case = format!("{} {}", b.label(), b.path);
    let mut out = Vec::new();
    if b.generator != c.generator {
        out.push(format!(
            "{case}: generator differs (baseline {}, candidate {}): another version may \
             measure differently",
            b.generator, c.generator
        ));
    }
    if b.placement.kind != c.placement.kind {
        out.push(format!(
            "{case}: placement differs (baseline {}, candidate {}): figures are not comparable; \
             run both with the same --placement",
            b.placement.kind, c.placement.kind
        ));
    }
    if b.datapath != c.datapath {
        out.push(format!(
            "{case}: datapath differs (baseline {}, candidate {})",
            b.datapath, c.datapath
        ));
    }
    if let (Some(bs), Some(cs)) = (message_size(b), message_size(c)) {
        if bs != cs {
            out.push(format!(
                "{case}: message size differs (baseline {bs} B, candidate {cs} B): figures \
                 are not comparable; run both with the same --message-size and MTU"
            ));
        }
    }
    let (bw, cw) = (window_ns(b), window_ns(c));
    if bw.is_finite() && cw.is_finite() && (bw - cw).abs() > 0.1 * bw.max(cw) {
        out.push(format!(
            "{case}: measurement window differs (baseline {}, candidate {}): run both with \
             the same --duration",
            crate::human::format_ns(bw),
            crate::human::format_ns(cw)
        ));
    }
    if let (Some(Sample::TcpStream(bs)), Some(Sample::TcpStream(cs))) =
        (b.repetitions.first(), c.repetitions.first())
    {
        if bs.streams != cs.streams {
            out.push(format!(
                "{case}: streams differ (baseline {}, candidate {}): run both with the same \
                 --streams",
                bs.streams, cs.streams
            ));
        }
    }
    out
}

/// Compares the host-net baselines measured in each session, if both have one: when the
/// machine itself got faster or slower between the sessions, differences in the backend's
/// figures may be the machine's.
fn session_baseline_warnings(
    baseline: &RunResult,
    candidate: &RunResult,
    options: &CompareOptions,
) -> Vec<String> {
    let (Some(bb), Some(cb)) = (&baseline.baseline, &candidate.baseline) else {
        return Vec::new();
    };
    let Ok(pairs) = match_measurements(&bb.measurements, &cb.measurements) else {
        return Vec::new();
    };
    let mut moved = Vec::new();
    for (b, c) in pairs {
        if let Ok(rows) = compare_measurement(b, c, options) {
            moved.extend(
                rows.into_iter()
                    .filter(|r| matches!(r.verdict, Verdict::Regression | Verdict::Improvement))
                    .map(|r| format!("{} {} {}", r.case(), r.metric, r.change_text())),
            );
        }
    }
    if moved.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "the {} baseline measured in each session moved too ({}): the machine, not the \
         datapath, may account for differences; compare runs made under the same conditions",
        bb.backend,
        moved.join(", ")
    )]
}

/// A check's subject with the run ids of `r` (its own and its host-net baseline's) replaced
/// by `<run>`.
fn normalize_subject(subject: &str, r: &RunResult) -> String {
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
fn compare_checks(
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

/// A number without trailing zeros: 5 -> `5`, 2.5 -> `2.5`, 12.345 -> `12.35`.
pub(crate) fn trim_number(x: f64) -> String {
    let text = format!("{x:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_owned()
}

/// The comparison as a plain-text report for a terminal: a table with one row per metric
/// (measurement, path, metric, baseline median, candidate median, change, 95 % interval,
/// threshold, verdict), then the checks that changed, the warnings, and the verdict line.
pub fn render_table(cmp: &Comparison) -> String {
    let mut out = String::new();
    let (b, c) = (&cmp.baseline, &cmp.candidate);
    let rev = |r: &RunInfo| {
        r.git_revision
            .as_ref()
            .map(|g| format!(" ({g})"))
            .unwrap_or_default()
    };
    let _ = writeln!(
        out,
        "compare {}: baseline run {}{} against candidate run {}{}",
        b.backend,
        b.run_id,
        rev(b),
        c.run_id,
        rev(c)
    );
    for line in substrate_lines(cmp) {
        let _ = writeln!(out, "{line}");
    }
    if cmp.metrics.is_empty() {
        let _ = writeln!(out, "\nmetrics: none measured");
    } else {
        let mut rows = vec![[
            "measurement",
            "path",
            "metric",
            "baseline",
            "candidate",
            "change",
            "95% interval",
            "threshold",
            "verdict",
        ]
        .map(String::from)
        .to_vec()];
        for m in &cmp.metrics {
            rows.push(vec![
                m.measurement.clone(),
                m.path.clone(),
                m.metric.clone(),
                format_metric(&m.metric, m.baseline_median),
                format_metric(&m.metric, m.candidate_median),
                m.change_text(),
                m.interval_text(),
                m.threshold_text(),
                m.verdict.label().to_owned(),
            ]);
        }
        let right = [false, false, false, true, true, true, true, true, false];
        out.push('\n');
        out.push_str(&crate::human::table(&rows, &right, "  "));
        let notes: Vec<String> = cmp
            .metrics
            .iter()
            .filter(|m| m.verdict == Verdict::Inconclusive && m.note.is_some())
            .map(|m| {
                format!(
                    "  {} {}: {}",
                    m.case(),
                    m.metric,
                    m.note.as_deref().unwrap_or("")
                )
            })
            .collect();
        if !notes.is_empty() {
            let _ = writeln!(out, "\ninconclusive:");
            for n in notes {
                let _ = writeln!(out, "{n}");
            }
        }
    }

    let changed: Vec<&CheckComparison> = cmp
        .checks
        .iter()
        .filter(|c| c.verdict != Verdict::Pass)
        .collect();
    let still = cmp
        .checks
        .iter()
        .filter(|c| c.verdict == Verdict::Pass && c.candidate == CheckOutcome::Fail)
        .count();
    let _ = write!(out, "\nchecks: {} compared", cmp.checks.len());
    if still > 0 {
        let _ = write!(out, ", {still} failing in both");
    }
    out.push('\n');
    for c in changed {
        let _ = writeln!(out, "  {:<12} {}", c.verdict.label(), c.describe());
    }

    if !cmp.warnings.is_empty() {
        let _ = writeln!(out, "\nwarnings:");
        for w in &cmp.warnings {
            let _ = writeln!(out, "  {w}");
        }
    }
    let _ = writeln!(out, "\nverdict: {}", cmp.summary_line());
    out
}

/// Results made to order for the tests of the comparison and its exporters.
#[cfg(test)]
pub(crate) mod tests_support {
    use crate::schema::*;
    use crate::test_support::full_result;

    /// A deterministic generator for test noise: splitmix64 with normal deviates.
    pub(crate) struct Noise(super::SplitMix64);

    impl Noise {
        pub(crate) fn new(seed: u64) -> Noise {
            Noise(super::SplitMix64(
                seed.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ 0x1234_5678,
            ))
        }

        fn uniform(&mut self) -> f64 {
            // 53 random bits in (0, 1].
            ((self.0.next() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
        }

        /// A standard normal deviate (Box-Muller).
        pub(crate) fn normal(&mut self) -> f64 {
            let (u, v) = (self.uniform(), self.uniform());
            (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
        }

        /// `x` times `1 + cv * N(0, 1)`.
        pub(crate) fn jitter(&mut self, x: f64, cv: f64) -> f64 {
            x * (1.0 + cv * self.normal())
        }
    }

    /// The finished run of `full_result` under run id `run_id` (in its namespace names and
    /// check subjects too), every check passing or failing as expected, and `measurements`.
    pub(crate) fn result(run_id: &str, measurements: Vec<MeasurementRecord>) -> RunResult {
        let mut r = full_result();
        let json = serde_json::to_string(&r).unwrap().replace("ab12", run_id);
        r = serde_json::from_str(&json).unwrap();
        r.checks[1].outcome = CheckOutcome::Pass;
        r.checks[1].actual = "1450".into();
        r.measurements = measurements;
        r.outcome = Outcome::Passed;
        r
    }

    /// A measurement of `samples` on `path`, summarized.
    pub(crate) fn measurement(
        workload: &str,
        variant: Option<&str>,
        path: &str,
        samples: Vec<Sample>,
    ) -> MeasurementRecord {
        let endpoint = |pod: &str| Endpoint {
            pod: pod.into(),
            netns: format!("cnb-x-{pod}"),
            ip: "100.96.0.2".into(),
        };
        let mut m = MeasurementRecord {
            workload: workload.into(),
            variant: variant.map(String::from),
            generator: "cnbench".into(),
            client: endpoint("n0p0"),
            server: endpoint(if path == "same-node" { "n0p1" } else { "n1p0" }),
            path: path.into(),
            datapath: "kernel".into(),
            placement: Placement {
                kind: "same-cpu".into(),
                client_cpu: 1,
                server_cpu: 1,
                daemon_cpu: None,
            },
            repetitions: samples,
            summary: vec![],
            costs: vec![],
            traced: None,
            vs_baseline: vec![],
            warnings: vec![],
        };
        m.summarize();
        m
    }

    /// A tcp-stream repetition.
    pub(crate) fn stream(bps: f64) -> Sample {
        Sample::TcpStream(TcpStreamSample {
            streams: 1,
            message_size_bytes: 131_072,
            bytes_received: (bps / 8.0) as u64,
            window_ns: 1_000_000_000,
            throughput_bps: bps,
        })
    }

    /// A udp-stream repetition of `size`-byte datagrams.
    pub(crate) fn udp(size: u32, pps: f64, loss_percent: f64) -> Sample {
        Sample::UdpStream(UdpStreamSample {
            message_size_bytes: size,
            packets_sent: (pps / (1.0 - loss_percent / 100.0).max(0.01)) as u64,
            packets_received: pps as u64,
            bytes_received: (pps * f64::from(size)) as u64,
            window_ns: 1_000_000_000,
            packets_per_s: pps,
            throughput_bps: pps * f64::from(size) * 8.0,
            loss_percent,
        })
    }

    /// Round trips of a request/response repetition: p50, p90, p99, p99.9, max, in ns; the
    /// mean is 1.17 p50 and the rate its inverse.
    pub(crate) fn rr(workload: &str, rtt: [f64; 5]) -> Sample {
        let mean = rtt[0] * 1.17;
        let s = RrSample {
            message_size_bytes: 64,
            timeouts: 0,
            transactions: (1e9 / mean) as u64,
            window_ns: 1_000_000_000,
            transactions_per_s: 1e9 / mean,
            rtt_min_ns: (rtt[0] * 0.6) as u64,
            rtt_mean_ns: mean,
            rtt_p50_ns: rtt[0].round() as u64,
            rtt_p90_ns: rtt[1].round() as u64,
            rtt_p99_ns: rtt[2].round() as u64,
            rtt_p999_ns: rtt[3].round() as u64,
            rtt_max_ns: rtt[4].round() as u64,
        };
        match workload {
            "udp-rr" => Sample::UdpRr(s),
            "tcp-crr" => Sample::TcpCrr(s),
            _ => Sample::TcpRr(s),
        }
    }

    /// A vxlan result with one cross-node tcp-stream measurement of `bps`.
    pub(crate) fn stream_result(run_id: &str, bps: &[f64]) -> RunResult {
        let samples = bps.iter().map(|b| stream(*b)).collect();
        result(
            run_id,
            vec![measurement("tcp-stream", None, "cross-node", samples)],
        )
    }

    /// Round trips of vxlan's cross-node tcp-rr (from a real run), in ns.
    pub(crate) const VXLAN_RR: [f64; 5] = [14_479.0, 21_295.0, 25_071.0, 153_727.0, 477_439.0];

    /// A vxlan result with a cross-node tcp-rr measurement: three repetitions within 1.5 % of
    /// vxlan's figures times `latency`.
    pub(crate) fn rr_result(run_id: &str, latency: f64) -> RunResult {
        let samples = [1.0, 1.015, 0.985]
            .iter()
            .map(|f| rr("tcp-rr", VXLAN_RR.map(|x| x * latency * f)))
            .collect();
        result(
            run_id,
            vec![measurement("tcp-rr", None, "cross-node", samples)],
        )
    }

    /// A vxlan result with a cross-node tcp-rr measurement whose repetitions scatter by
    /// 15-35 %; `which` 1 and 2 give medians 18 % apart.
    pub(crate) fn noisy_rr_result(run_id: &str, which: u32) -> RunResult {
        let factors: [f64; 3] = if which == 1 {
            [1.0, 1.3, 0.85]
        } else {
            [1.18, 0.92, 1.35]
        };
        let samples = factors
            .iter()
            .map(|f| rr("tcp-rr", VXLAN_RR.map(|x| x * f)))
            .collect();
        result(
            run_id,
            vec![measurement("tcp-rr", None, "cross-node", samples)],
        )
    }

    /// Medians of every workload of a backend, from real runs: tcp-stream bit/s, udp-stream
    /// 64 B and max-payload packets/s (and that payload), loss %, and the round trips
    /// (p50, p90, p99, p99.9, max) of tcp-rr, udp-rr and tcp-crr.
    pub(crate) struct Figures {
        pub(crate) backend: &'static str,
        pub(crate) path: &'static str,
        pub(crate) stream_bps: f64,
        pub(crate) udp64_pps: f64,
        pub(crate) udpmax_pps: f64,
        pub(crate) udpmax_size: u32,
        pub(crate) loss_percent: f64,
        pub(crate) tcp_rr: [f64; 5],
        pub(crate) udp_rr: [f64; 5],
        pub(crate) tcp_crr: [f64; 5],
    }

    /// The figures of five backends, from the runs in /work/samples and two host-net runs.
    pub(crate) const BACKENDS: [Figures; 5] = [
        Figures {
            backend: "bridge",
            path: "same-node",
            stream_bps: 11.03e9,
            udp64_pps: 261_867.0,
            udpmax_pps: 121_792.0,
            udpmax_size: 1472,
            loss_percent: 0.0,
            tcp_rr: [20_447.0, 34_783.0, 66_943.0, 265_727.0, 696_319.0],
            udp_rr: [7_643.0, 13_215.0, 15_727.0, 116_863.0, 3_354_623.0],
            tcp_crr: [39_839.0, 43_327.0, 175_231.0, 342_271.0, 2_572_287.0],
        },
        Figures {
            backend: "vxlan",
            path: "cross-node",
            stream_bps: 10.32e9,
            udp64_pps: 125_503.0,
            udpmax_pps: 110_047.0,
            udpmax_size: 1422,
            loss_percent: 0.0,
            tcp_rr: VXLAN_RR,
            udp_rr: [12_991.0, 19_615.0, 22_815.0, 154_111.0, 379_135.0],
            tcp_crr: [72_319.0, 78_975.0, 227_711.0, 725_503.0, 5_378_047.0],
        },
        Figures {
            backend: "flannel-udp",
            path: "cross-node",
            stream_bps: 452.2e6,
            udp64_pps: 53_359.0,
            udpmax_pps: 41_000.0,
            udpmax_size: 1472,
            loss_percent: 74.6,
            tcp_rr: [61_000.0, 80_000.0, 120_000.0, 400_000.0, 2_000_000.0],
            udp_rr: [58_000.0, 75_000.0, 110_000.0, 380_000.0, 1_800_000.0],
            tcp_crr: [180_000.0, 230_000.0, 600_000.0, 1_500_000.0, 6_000_000.0],
        },
        Figures {
            backend: "host-gw",
            path: "same-node",
            stream_bps: 4.38e9,
            udp64_pps: 238_213.0,
            udpmax_pps: 237_294.0,
            udpmax_size: 1472,
            loss_percent: 0.0,
            tcp_rr: [8_579.0, 14_399.0, 16_543.0, 112_991.0, 1_710_463.0],
            udp_rr: [7_903.0, 13_547.0, 16_139.0, 110_111.0, 670_466_047.0],
            tcp_crr: [43_663.0, 47_167.0, 183_935.0, 375_551.0, 1_887_231.0],
        },
        Figures {
            backend: "host-net",
            path: "cross-node",
            stream_bps: 11.5e9,
            udp64_pps: 277_046.0,
            udpmax_pps: 260_443.0,
            udpmax_size: 1472,
            loss_percent: 0.0,
            tcp_rr: [8_319.0, 14_047.0, 16_079.0, 84_863.0, 288_255.0],
            udp_rr: [7_299.0, 12_735.0, 14_903.0, 84_927.0, 283_135.0],
            tcp_crr: [43_391.0, 46_079.0, 161_151.0, 279_039.0, 488_959.0],
        },
    ];

    /// A full result of `f` (all five workloads, six measurements) with `reps` repetitions,
    /// each figure times `1 + cv * N(0, 1)` drawn from `noise`; stream rates times `rate` and
    /// round trips times `latency`. The maximum round trip varies ten times as much.
    pub(crate) fn realistic(
        f: &Figures,
        run_id: &str,
        reps: usize,
        cv: f64,
        noise: &mut Noise,
        rate: f64,
        latency: f64,
    ) -> RunResult {
        let mut measurements = Vec::new();
        let samples = |noise: &mut Noise, make: &mut dyn FnMut(&mut Noise) -> Sample| {
            (0..reps).map(|_| make(noise)).collect::<Vec<Sample>>()
        };
        let s = samples(noise, &mut |n| stream(n.jitter(f.stream_bps * rate, cv)));
        measurements.push(measurement("tcp-stream", None, f.path, s));
        for (variant, pps, size) in [
            ("64 B", f.udp64_pps, 64),
            ("max payload", f.udpmax_pps, f.udpmax_size),
        ] {
            let s = samples(noise, &mut |n| {
                let loss = (f.loss_percent + f.loss_percent * cv * n.normal()).clamp(0.0, 100.0);
                udp(size, n.jitter(pps * rate, cv), loss)
            });
            measurements.push(measurement("udp-stream", Some(variant), f.path, s));
        }
        for (workload, rtt) in [
            ("tcp-rr", f.tcp_rr),
            ("udp-rr", f.udp_rr),
            ("tcp-crr", f.tcp_crr),
        ] {
            let s = samples(noise, &mut |n| {
                let mut r = rtt.map(|x| n.jitter(x * latency, cv));
                r[4] = rtt[4] * latency * (1.0 + 10.0 * cv * n.normal()).max(0.1);
                rr(workload, r)
            });
            measurements.push(measurement(workload, None, f.path, s));
        }
        let mut r = result(run_id, measurements);
        r.parameters.backend = f.backend.into();
        r
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::*;
    use super::*;
    use crate::test_support::cost_with_outside_work;

    fn cmp(b: &RunResult, c: &RunResult) -> Comparison {
        compare(b, c, &CompareOptions::default()).unwrap()
    }

    fn row<'a>(cmp: &'a Comparison, case: &str, metric: &str) -> &'a MetricComparison {
        cmp.metrics
            .iter()
            .find(|m| m.case() == case && m.metric == metric)
            .unwrap_or_else(|| panic!("no row {case} {metric}"))
    }

    fn verdicts(cmp: &Comparison, v: Verdict) -> Vec<String> {
        cmp.metrics
            .iter()
            .filter(|m| m.verdict == v)
            .map(|m| m.describe())
            .collect()
    }

    #[test]
    fn identical_results_pass() {
        for f in &BACKENDS {
            let r = realistic(f, "ab12", 3, 0.03, &mut Noise::new(1), 1.0, 1.0);
            let c = cmp(&r, &r);
            assert_eq!(c.verdict, Verdict::Pass, "{}", render_table(&c));
            assert_eq!(c.exit_code(), 0);
            assert_eq!(c.metrics.len(), 1 + 3 + 3 + 3 * 7);
            assert!(c
                .metrics
                .iter()
                .all(|m| m.change == 0.0 && matches!(m.verdict, Verdict::Pass | Verdict::Info)));
            assert_eq!(c.checks.len(), 3);
            assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        }
    }

    /// Two runs of the same code: the figures of five backends drawn again with noise of 2 %
    /// and 3 % per repetition, three repetitions a side, 200 seeds each (30000 metric
    /// comparisons): nothing may come out a regression, or an improvement.
    #[test]
    fn a_a_never_regresses() {
        let mut rows = 0;
        let mut inconclusive = 0;
        for (i, f) in BACKENDS.iter().enumerate() {
            for cv in [0.02, 0.03] {
                for seed in 0..200u64 {
                    let mut noise = Noise::new(seed * 31 + i as u64 + (cv * 1000.0) as u64);
                    let a = realistic(f, "aaaa01", 3, cv, &mut noise, 1.0, 1.0);
                    let b = realistic(f, "bbbb02", 3, cv, &mut noise, 1.0, 1.0);
                    let c = cmp(&a, &b);
                    let bad: Vec<String> = verdicts(&c, Verdict::Regression)
                        .into_iter()
                        .chain(verdicts(&c, Verdict::Improvement))
                        .collect();
                    assert!(
                        bad.is_empty(),
                        "{} cv {cv} seed {seed}: {bad:#?}",
                        f.backend
                    );
                    assert_ne!(c.exit_code(), 1);
                    rows += c.metrics.len();
                    inconclusive += c.counts().inconclusive;
                }
            }
        }
        assert_eq!(rows, 5 * 2 * 200 * 28);
        // Most of it is decided: pass.
        assert!(
            inconclusive * 10 < rows,
            "{inconclusive} of {rows} inconclusive"
        );
    }

    #[test]
    fn throughput_down_30_percent_is_a_regression() {
        let base = stream_result("base01", &[10.0e9, 10.1e9, 9.9e9]);
        let cand = stream_result("cand02", &[7.0e9, 7.05e9, 6.95e9]);
        let c = cmp(&base, &cand);
        let r = row(&c, "tcp-stream cross-node", "throughput_bps");
        assert_eq!(r.verdict, Verdict::Regression, "{}", r.describe());
        assert!((r.change + 0.3).abs() < 1e-9);
        assert_eq!(r.baseline_median, 10.0e9);
        assert_eq!(r.candidate_median, 7.0e9);
        assert_eq!(c.verdict, Verdict::Regression);
        assert_eq!(c.exit_code(), 1);

        // With 2 % noise on every figure of every backend, over 100 seeds: always.
        for f in &BACKENDS {
            for seed in 0..100u64 {
                let mut noise = Noise::new(seed + 7);
                let a = realistic(f, "aaaa01", 3, 0.02, &mut noise, 1.0, 1.0);
                let b = realistic(f, "bbbb02", 3, 0.02, &mut noise, 0.7, 1.0);
                let c = cmp(&a, &b);
                for m in c
                    .metrics
                    .iter()
                    .filter(|m| m.metric == "throughput_bps" || m.metric == "packets_per_s")
                {
                    assert_eq!(m.verdict, Verdict::Regression, "{}", m.describe());
                }
                assert_eq!(c.exit_code(), 1);
            }
        }
    }

    #[test]
    fn rate_limit_to_a_fifth_is_a_regression_everywhere_it_shows() {
        for f in &BACKENDS {
            let mut noise = Noise::new(99);
            let a = realistic(f, "aaaa01", 3, 0.03, &mut noise, 1.0, 1.0);
            let b = realistic(f, "bbbb02", 3, 0.03, &mut noise, 0.2, 1.0);
            let c = cmp(&a, &b);
            let regressed: Vec<(String, String)> = c
                .metrics
                .iter()
                .filter(|m| m.verdict == Verdict::Regression)
                .map(|m| (m.measurement.clone(), m.metric.clone()))
                .collect();
            for (label, metric) in [
                ("tcp-stream", "throughput_bps"),
                ("udp-stream 64 B", "packets_per_s"),
                ("udp-stream 64 B", "throughput_bps"),
                ("udp-stream max payload", "packets_per_s"),
                ("udp-stream max payload", "throughput_bps"),
            ] {
                assert!(
                    regressed.contains(&(label.into(), metric.into())),
                    "{}: {label} {metric} not a regression:\n{}",
                    f.backend,
                    render_table(&c)
                );
            }
            // The request/response workloads did not change.
            assert!(regressed
                .iter()
                .all(|(l, _)| l.starts_with("udp-stream") || l.starts_with("tcp-stream")));
        }
    }

    /// A comparison that assumes runs repeat within 2 %, as on a quiet machine.
    fn quiet() -> CompareOptions {
        CompareOptions {
            noise_floor: 0.02,
            ..CompareOptions::default()
        }
    }

    #[test]
    fn latency_up_20_percent_is_a_regression_where_runs_repeat_closely() {
        let (base, cand) = (rr_result("base01", 1.0), rr_result("cand02", 1.2));
        let c = compare(&base, &cand, &quiet()).unwrap();
        for metric in ["rtt_p50_ns", "rtt_p90_ns", "rtt_p99_ns", "rtt_mean_ns"] {
            let r = row(&c, "tcp-rr cross-node", metric);
            assert_eq!(r.verdict, Verdict::Regression, "{}", r.describe());
            assert!((r.change - 0.2).abs() < 0.001, "{}", r.describe());
        }
        // Fewer transactions per second is worse too.
        let tps = row(&c, "tcp-rr cross-node", "transactions_per_s");
        assert_eq!(tps.verdict, Verdict::Regression, "{}", tps.describe());
        assert!(tps.change < -0.16);
        // p99.9's threshold is 30 %: a 20 % rise passes.
        assert_eq!(
            row(&c, "tcp-rr cross-node", "rtt_p999_ns").verdict,
            Verdict::Pass
        );
        // The longest round trip never gates.
        assert_eq!(
            row(&c, "tcp-rr cross-node", "rtt_max_ns").verdict,
            Verdict::Info
        );
        assert_eq!(c.exit_code(), 1);

        // By default, 20 % is within what runs of the same build differ by: inconclusive,
        // and the note says why.
        let c = cmp(&base, &cand);
        let p50 = row(&c, "tcp-rr cross-node", "rtt_p50_ns");
        assert_eq!(p50.verdict, Verdict::Inconclusive, "{}", p50.describe());
        assert!(
            p50.note.as_deref().unwrap().contains("noise guard 34."),
            "{:?}",
            p50.note
        );
        assert_eq!(c.exit_code(), 3);

        // With 2 % noise on every figure, over 100 seeds and five backends: p50 and mean
        // regress at least 95 times in 100.
        for f in &BACKENDS {
            let mut hits = 0;
            for seed in 0..100u64 {
                let mut noise = Noise::new(seed + 1000);
                let a = realistic(f, "aaaa01", 3, 0.02, &mut noise, 1.0, 1.0);
                let b = realistic(f, "bbbb02", 3, 0.02, &mut noise, 1.0, 1.2);
                let c = compare(&a, &b, &quiet()).unwrap();
                hits += c
                    .metrics
                    .iter()
                    .filter(|m| m.metric == "rtt_p50_ns" || m.metric == "rtt_mean_ns")
                    .filter(|m| m.verdict == Verdict::Regression)
                    .count();
                assert!(verdicts(&c, Verdict::Improvement).is_empty());
            }
            assert!(hits >= 95 * 6, "{}: {hits} of 600", f.backend);
        }
    }

    #[test]
    fn latency_up_half_is_a_regression_by_default() {
        let c = cmp(&rr_result("base01", 1.0), &rr_result("cand02", 1.5));
        for metric in ["transactions_per_s", "rtt_p50_ns", "rtt_mean_ns"] {
            let r = row(&c, "tcp-rr cross-node", metric);
            assert_eq!(r.verdict, Verdict::Regression, "{}", r.describe());
        }
        // Tail latencies move more between runs: +50 % is not enough to tell.
        for metric in ["rtt_p90_ns", "rtt_p99_ns", "rtt_p999_ns"] {
            let r = row(&c, "tcp-rr cross-node", metric);
            assert_eq!(r.verdict, Verdict::Inconclusive, "{}", r.describe());
        }
        // Doubled, p90 and p99 are regressions too; p99.9 needs more.
        let c = cmp(&rr_result("base01", 1.0), &rr_result("cand02", 2.0));
        for metric in ["rtt_p90_ns", "rtt_p99_ns"] {
            let r = row(&c, "tcp-rr cross-node", metric);
            assert_eq!(r.verdict, Verdict::Regression, "{}", r.describe());
        }
        assert_eq!(
            row(&c, "tcp-rr cross-node", "rtt_p999_ns").verdict,
            Verdict::Inconclusive
        );
        // With 2 % noise, over 100 seeds and five backends: p50 and mean always regress.
        for f in &BACKENDS {
            for seed in 0..100u64 {
                let mut noise = Noise::new(seed + 2000);
                let a = realistic(f, "aaaa01", 3, 0.02, &mut noise, 1.0, 1.0);
                let b = realistic(f, "bbbb02", 3, 0.02, &mut noise, 1.0, 1.5);
                let c = cmp(&a, &b);
                for m in c
                    .metrics
                    .iter()
                    .filter(|m| m.metric == "rtt_p50_ns" || m.metric == "rtt_mean_ns")
                {
                    assert_eq!(m.verdict, Verdict::Regression, "{}", m.describe());
                }
            }
        }
    }

    #[test]
    fn direction_follows_the_metric() {
        // Latency down 40 %: better.
        let c = compare(
            &rr_result("base01", 1.0),
            &rr_result("cand02", 0.6),
            &quiet(),
        )
        .unwrap();
        let p50 = row(&c, "tcp-rr cross-node", "rtt_p50_ns");
        assert_eq!(p50.verdict, Verdict::Improvement, "{}", p50.describe());
        assert!(!p50.higher_is_better);
        let tps = row(&c, "tcp-rr cross-node", "transactions_per_s");
        assert_eq!(tps.verdict, Verdict::Improvement, "{}", tps.describe());
        assert!(tps.higher_is_better && tps.change > 0.6);
        assert_eq!(c.verdict, Verdict::Improvement);
        assert_eq!(c.exit_code(), 0);
        // Throughput up 50 %: better.
        let up = cmp(
            &stream_result("base01", &[10.0e9, 10.1e9, 9.9e9]),
            &stream_result("cand02", &[15.0e9, 15.1e9, 14.9e9]),
        );
        assert_eq!(up.metrics[0].verdict, Verdict::Improvement);
        assert_eq!(up.exit_code(), 0);
    }

    #[test]
    fn noisy_repetitions_are_inconclusive_with_the_hint() {
        let c = cmp(&noisy_rr_result("base01", 1), &noisy_rr_result("cand02", 2));
        let p50 = row(&c, "tcp-rr cross-node", "rtt_p50_ns");
        assert_eq!(p50.verdict, Verdict::Inconclusive, "{}", p50.describe());
        assert!((p50.change - 0.18).abs() < 0.001);
        let [lo, hi] = p50.interval.unwrap();
        assert!(lo < 0.0 && hi > 0.05, "{lo} {hi}");
        assert_eq!(
            p50.note.as_deref(),
            Some("the interval crosses the threshold")
        );
        assert!(verdicts(&c, Verdict::Regression).is_empty());
        assert_eq!(c.verdict, Verdict::Inconclusive);
        assert_eq!(c.exit_code(), 3);
        let text = render_table(&c);
        assert!(
            text.contains("run more repetitions (--repeat 5) or longer (--duration)"),
            "{text}"
        );
        assert!(text.contains("verdict: inconclusive: "), "{text}");
    }

    #[test]
    fn one_repetition_decides_only_a_pass() {
        let base = stream_result("base01", &[10.0e9]);
        let small = cmp(&base, &stream_result("cand02", &[9.8e9]));
        assert_eq!(small.metrics[0].verdict, Verdict::Pass);
        assert_eq!(small.metrics[0].interval, None);
        assert_eq!(small.exit_code(), 0);
        let big = cmp(&base, &stream_result("cand02", &[5.0e9]));
        assert_eq!(big.metrics[0].verdict, Verdict::Inconclusive);
        assert_eq!(big.metrics[0].interval, None);
        assert!(big.metrics[0]
            .note
            .as_deref()
            .unwrap()
            .contains("cannot be told from noise"));
        assert_eq!(big.exit_code(), 3);
        // One side with three: still no interval.
        let mixed = cmp(
            &stream_result("base01", &[10.0e9, 10.1e9, 9.9e9]),
            &stream_result("cand02", &[5.0e9]),
        );
        assert_eq!(mixed.metrics[0].verdict, Verdict::Inconclusive);
        // Two a side is enough for an interval.
        let two = cmp(
            &stream_result("base01", &[10.0e9, 10.1e9]),
            &stream_result("cand02", &[5.0e9, 5.05e9]),
        );
        assert!(two.metrics[0].interval.is_some());
        assert_eq!(two.metrics[0].verdict, Verdict::Regression);
    }

    #[test]
    fn bootstrap_interval_of_three_is_every_pair_and_repeatable() {
        let b = [100.0, 104.0, 98.0];
        let c = [120.0, 126.0, 119.0];
        let [lo, hi] = bootstrap_interval(&b, &c, ChangeScale::Relative);
        assert!((lo - (119.0 / 104.0 - 1.0)).abs() < 1e-12, "{lo}");
        assert!((hi - (126.0 / 98.0 - 1.0)).abs() < 1e-12, "{hi}");
        assert_eq!(bootstrap_interval(&b, &c, ChangeScale::Relative), [lo, hi]);
        // More repetitions: narrower than every pair.
        let b9: Vec<f64> = (0..9).map(|i| 100.0 + f64::from(i)).collect();
        let c9: Vec<f64> = (0..9).map(|i| 110.0 + f64::from(i)).collect();
        let [lo9, hi9] = bootstrap_interval(&b9, &c9, ChangeScale::Relative);
        assert!(
            lo9 > 110.0 / 108.0 - 1.0 && hi9 < 118.0 / 100.0 - 1.0,
            "{lo9} {hi9}"
        );
        assert!(lo9 < 0.1 && hi9 > 0.09);
    }

    #[test]
    fn exact_and_sampled_bootstrap_agree() {
        let mut noise = Noise::new(42);
        for n in [3usize, 5, 7, 9] {
            for _ in 0..20 {
                let b: Vec<f64> = (0..n).map(|_| noise.jitter(100.0, 0.05)).collect();
                let c: Vec<f64> = (0..n).map(|_| noise.jitter(110.0, 0.05)).collect();
                let (rb, rc) = (Resampler::new(&b), Resampler::new(&c));
                let exact = exact_interval(&rb, &rc, ChangeScale::Relative).unwrap();
                let sampled = sampled_interval(&rb, &rc, ChangeScale::Relative);
                // Both are changes between repetitions; with 4000 resamples a percentile can
                // land on the neighbouring pair, so allow a little.
                for k in 0..2 {
                    assert!(
                        (exact[k] - sampled[k]).abs() < 0.03,
                        "n {n}: exact {exact:?} sampled {sampled:?}"
                    );
                }
            }
        }
        // Even counts have no exact form; they are sampled, repeatably.
        let (rb, rc) = (
            Resampler::new(&[100.0, 103.0, 98.0, 101.0]),
            Resampler::new(&[120.0, 118.0]),
        );
        assert!(exact_interval(&rb, &rc, ChangeScale::Relative).is_none());
        let [lo, hi] = sampled_interval(&rb, &rc, ChangeScale::Relative);
        assert_eq!([lo, hi], sampled_interval(&rb, &rc, ChangeScale::Relative));
        assert!((118.0 / 103.0 - 1.0..0.16).contains(&lo), "{lo}");
        assert!(hi <= 120.0 / 98.0 - 1.0 && hi > 0.2, "{hi}");
        // The median of a resample of one value is that value.
        let one = Resampler::new(&[5.0]);
        assert_eq!(one.pmf(), Some(vec![1.0]));
    }

    #[test]
    fn binomial_tails() {
        assert!((binomial_at_least(3, 1.0 / 3.0, 2) - 7.0 / 27.0).abs() < 1e-12);
        assert!((binomial_at_least(3, 2.0 / 3.0, 2) - 20.0 / 27.0).abs() < 1e-12);
        assert_eq!(binomial_at_least(3, 1.0, 2), 1.0);
        assert!((binomial_at_least(5, 0.2, 3) - 0.05792).abs() < 1e-12);
        // Resample medians of three values: 7/27, 13/27, 7/27.
        let pmf = Resampler::new(&[3.0, 1.0, 2.0]).pmf().unwrap();
        for (p, want) in pmf.iter().zip([7.0 / 27.0, 13.0 / 27.0, 7.0 / 27.0]) {
            assert!((p - want).abs() < 1e-12, "{pmf:?}");
        }
    }

    #[test]
    fn the_noise_guard_keeps_a_shift_within_the_spread_undecided() {
        // Every candidate repetition 12 % above every baseline one, but the repetitions
        // themselves scatter by about 5 %: runs of the same code can differ that much.
        let base = stream_result("base01", &[10.0e9, 10.5e9, 9.5e9]);
        let cand = stream_result("cand02", &[12.2e9, 12.8e9, 11.6e9]);
        let c = cmp(&base, &cand);
        let r = &c.metrics[0];
        assert_eq!(r.verdict, Verdict::Inconclusive, "{}", r.describe());
        assert!(r.interval.unwrap()[0] > 0.05);
        assert!(
            r.note.as_deref().unwrap().contains("noise guard"),
            "{:?}",
            r.note
        );
        // A run-to-run floor of 1 % instead of 7 % does not change that: the spread of the
        // repetitions (5 %) stands in for the run-to-run variation...
        let opts = CompareOptions {
            noise_floor: 0.01,
            ..CompareOptions::default()
        };
        assert_eq!(
            compare(&base, &cand, &opts).unwrap().metrics[0].verdict,
            Verdict::Inconclusive
        );
        // ...but tight repetitions 8 % apart are decided only with the lower floor.
        // Also: the guard of the first comparison, about +34 % for a rise.
        assert!(
            (r.noise_guard.unwrap() - 0.34).abs() < 0.05,
            "{:?}",
            r.noise_guard
        );
        let base = stream_result("base01", &[10.0e9, 10.02e9, 9.98e9]);
        let cand = stream_result("cand02", &[10.8e9, 10.82e9, 10.78e9]);
        assert_eq!(cmp(&base, &cand).metrics[0].verdict, Verdict::Inconclusive);
        assert_eq!(
            compare(&base, &cand, &opts).unwrap().metrics[0].verdict,
            Verdict::Improvement
        );
    }

    #[test]
    fn max_rtt_is_information_unless_named() {
        let base = rr_result("base01", 1.0);
        let mut cand = rr_result("cand02", 1.0);
        for s in &mut cand.measurements[0].repetitions {
            if let Sample::TcpRr(r) = s {
                r.rtt_max_ns *= 10;
            }
        }
        cand.measurements[0].summarize();
        let c = cmp(&base, &cand);
        let max = row(&c, "tcp-rr cross-node", "rtt_max_ns");
        assert_eq!(max.verdict, Verdict::Info);
        assert!((max.change - 9.0).abs() < 0.01);
        assert_eq!(max.threshold, None);
        assert_eq!(max.threshold_text(), "-");
        assert_eq!(c.verdict, Verdict::Pass);
        assert_eq!(c.exit_code(), 0);
        let opts = CompareOptions::from_args(None, &["rtt_max_ns=50%"]).unwrap();
        let gated = compare(&base, &cand, &opts).unwrap();
        assert_eq!(
            row(&gated, "tcp-rr cross-node", "rtt_max_ns").verdict,
            Verdict::Regression
        );
    }

    #[test]
    fn loss_is_compared_in_percentage_points() {
        let udp_result = |id: &str, loss: [f64; 3]| {
            let samples = loss.iter().map(|l| udp(64, 100_000.0, *l)).collect();
            result(
                id,
                vec![measurement(
                    "udp-stream",
                    Some("64 B"),
                    "cross-node",
                    samples,
                )],
            )
        };
        let zero = udp_result("base01", [0.0, 0.0, 0.0]);
        let c = cmp(&zero, &zero);
        let loss = row(&c, "udp-stream 64 B cross-node", "loss_percent");
        assert_eq!((loss.change, loss.verdict), (0.0, Verdict::Pass));
        assert_eq!(loss.scale, ChangeScale::PercentagePoints);
        assert_eq!(loss.threshold_text(), "10 pp");
        // 0 % to 0.5 %: a relative change would be infinite; half a point passes.
        let c = cmp(&zero, &udp_result("cand02", [0.5, 0.4, 0.6]));
        let loss = row(&c, "udp-stream 64 B cross-node", "loss_percent");
        assert_eq!(loss.verdict, Verdict::Pass, "{}", loss.describe());
        assert_eq!(loss.change_text(), "+0.5 pp");
        // 0 % to 25 %: a regression.
        let c = cmp(&zero, &udp_result("cand02", [25.0, 24.0, 26.0]));
        let loss = row(&c, "udp-stream 64 B cross-node", "loss_percent");
        assert_eq!(loss.verdict, Verdict::Regression, "{}", loss.describe());
        assert!((loss.change - 0.25).abs() < 1e-12);
    }

    /// `r`'s measurements with other work using `cpus` CPUs (of 2) during every repetition.
    fn disturbed(mut r: RunResult, cpus: f64) -> RunResult {
        for m in &mut r.measurements {
            m.costs = m
                .repetitions
                .iter()
                .map(|_| cost_with_outside_work((cpus * 1e9) as u64))
                .collect();
        }
        r
    }

    #[test]
    fn disturbed_measurements_decide_only_what_disturbance_cannot_explain() {
        let base = rr_result("base01", 1.0);
        // Other work used 0.4 CPUs during the candidate: latency doubled is not decided...
        let c = cmp(&base, &disturbed(rr_result("cand02", 2.0), 0.4));
        assert!(
            verdicts(&c, Verdict::Regression).is_empty(),
            "{}",
            render_table(&c)
        );
        assert_eq!(c.exit_code(), 3);
        let p50 = row(&c, "tcp-rr cross-node", "rtt_p50_ns");
        assert_eq!(p50.verdict, Verdict::Inconclusive, "{}", p50.describe());
        let note = p50.note.as_deref().unwrap();
        assert_eq!(
            note,
            "other work used up to 0.4 CPUs during 3 of the candidate's repetitions: tail \
             latencies and loss are not decided, nor other changes within 4x; rerun both on a \
             quiet machine"
        );
        assert_eq!(
            c.warnings,
            vec![
                "other work used the machine during 1 of 1 measurements (up to 0.4 CPUs in the \
                 candidate): there, tail latencies and loss are not decided, nor other changes \
                 within 4x; stop other work and rerun both"
            ]
        );
        // ...five times is, except for the tail latencies.
        let c = cmp(
            &disturbed(base.clone(), 1.2),
            &disturbed(rr_result("cand02", 5.0), 1.2),
        );
        assert_eq!(
            row(&c, "tcp-rr cross-node", "rtt_p50_ns").verdict,
            Verdict::Regression
        );
        assert_eq!(
            row(&c, "tcp-rr cross-node", "rtt_p99_ns").verdict,
            Verdict::Inconclusive
        );
        assert!(c.warnings[0]
            .contains("(up to 1.2 CPUs in the baseline, up to 1.2 CPUs in the candidate)"));
        // Below a quarter of a CPU nothing changes.
        let c = cmp(&base, &disturbed(rr_result("cand02", 2.0), 0.2));
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        assert_eq!(
            row(&c, "tcp-rr cross-node", "rtt_p99_ns").verdict,
            Verdict::Regression
        );
    }

    #[test]
    fn a_check_that_stops_passing_is_a_regression() {
        let base = rr_result("ab12", 1.0);
        let mut cand = rr_result("cd34", 1.0);
        cand.checks[0].outcome = CheckOutcome::Fail;
        cand.checks[0].actual = "no reply".into();
        cand.checks[2].outcome = CheckOutcome::Fail;
        let c = cmp(&base, &cand);
        assert_eq!(c.checks.len(), 3);
        assert_eq!(c.checks[0].verdict, Verdict::Regression);
        assert_eq!(c.checks[0].subject, "cnb-<run>-n0p0 -> 100.96.1.2 icmp");
        assert_eq!(c.checks[0].baseline, CheckOutcome::Pass);
        assert_eq!(c.checks[0].candidate_actual, "no reply");
        // An expected failure that now fails for real is a regression too.
        assert_eq!(c.checks[2].baseline, CheckOutcome::ExpectedFailure);
        assert_eq!(c.checks[2].verdict, Verdict::Regression);
        assert_eq!(c.checks[1].verdict, Verdict::Pass);
        // Metrics all pass; the checks decide.
        assert!(verdicts(&c, Verdict::Regression).is_empty());
        assert_eq!(c.verdict, Verdict::Regression);
        assert_eq!(c.exit_code(), 1);
        let text = render_table(&c);
        assert!(text.contains("checks: 3 compared\n"), "{text}");
        assert!(
            text.contains(
                "REGRESSION   reachability cnb-<run>-n0p0 -> 100.96.1.2 icmp: PASS -> FAIL"
            ),
            "{text}"
        );

        // Back again: an improvement; failing in both: pass.
        let back = cmp(&cand, &base);
        assert_eq!(back.checks[0].verdict, Verdict::Improvement);
        assert_eq!(back.exit_code(), 0);
        let both = cmp(&cand, &cand);
        assert_eq!(both.checks[0].verdict, Verdict::Pass);
        assert!(render_table(&both).contains("checks: 3 compared, 2 failing in both"));
    }

    #[test]
    fn run_ids_are_normalized_in_subjects() {
        let mut base = rr_result("ab12f0", 1.0);
        base.checks.push(CheckRecord {
            check: "fdb".into(),
            subject: "cnb-ab12f0-n0 cni0: n0p0 on port vab12f0n0p0".into(),
            expected: "learned".into(),
            actual: "learned".into(),
            outcome: CheckOutcome::Pass,
            reason: None,
        });
        base.baseline = Some(crate::Baseline {
            run_id: "ee99ee".into(),
            backend: "host-net".into(),
            topology: "2 nodes".into(),
            substrate: base.substrate.clone(),
            measurements: vec![],
        });
        base.checks.push(CheckRecord {
            check: "baseline".into(),
            subject: "cnb-ee99ee-n0".into(),
            expected: "up".into(),
            actual: "up".into(),
            outcome: CheckOutcome::Pass,
            reason: None,
        });
        let mut cand = rr_result("cd34a1", 1.0);
        cand.checks.push(CheckRecord {
            check: "fdb".into(),
            subject: "cnb-cd34a1-n0 cni0: n0p0 on port vcd34a1n0p0".into(),
            expected: "learned".into(),
            actual: "nothing".into(),
            outcome: CheckOutcome::Fail,
            reason: None,
        });
        cand.baseline = Some(crate::Baseline {
            run_id: "ff77ff".into(),
            backend: "host-net".into(),
            topology: "2 nodes".into(),
            substrate: cand.substrate.clone(),
            measurements: vec![],
        });
        cand.checks.push(CheckRecord {
            check: "baseline".into(),
            subject: "cnb-ff77ff-n0".into(),
            expected: "up".into(),
            actual: "up".into(),
            outcome: CheckOutcome::Pass,
            reason: None,
        });
        let c = cmp(&base, &cand);
        assert_eq!(c.checks.len(), 5, "{:#?}", c.warnings);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        let fdb = c.checks.iter().find(|x| x.check == "fdb").unwrap();
        assert_eq!(fdb.subject, "cnb-<run>-n0 cni0: n0p0 on port v<run>n0p0");
        assert_eq!(fdb.verdict, Verdict::Regression);
        let bl = c.checks.iter().find(|x| x.check == "baseline").unwrap();
        assert_eq!(bl.subject, "cnb-<run>-n0");
    }

    #[test]
    fn checks_only_in_one_result_are_warnings() {
        let base = rr_result("ab12", 1.0);
        let mut cand = rr_result("cd34", 1.0);
        cand.checks.remove(1);
        cand.checks.push(CheckRecord {
            check: "ttl".into(),
            subject: "n0p0 -> n1p0".into(),
            expected: "62".into(),
            actual: "63".into(),
            outcome: CheckOutcome::Fail,
            reason: None,
        });
        let c = cmp(&base, &cand);
        assert_eq!(c.checks.len(), 2);
        assert_eq!(
            c.warnings,
            vec![
                "1 check of the baseline is missing from the candidate (not compared): mtu \
                 cnb-<run>-n1:flannel.1"
                    .to_owned(),
                "1 check only in the candidate fails: ttl n0p0 -> n1p0".to_owned(),
            ]
        );
        assert_eq!(c.exit_code(), 0);
    }

    #[test]
    fn bad_inputs_are_refused_with_what_to_change() {
        let base = rr_result("base01", 1.0);
        let mut other = rr_result("cand02", 1.0);
        other.parameters.backend = "bridge".into();
        let err = compare(&base, &other, &CompareOptions::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the baseline is backend vxlan but the candidate is backend bridge; compare two \
             runs of the same backend (`cnbench run --backend vxlan` for both)"
        );

        let mut missing = rr_result("cand02", 1.0);
        missing.measurements[0].path = "same-node".into();
        let err = compare(&base, &missing, &CompareOptions::default()).unwrap_err();
        assert_eq!(
            err,
            CompareError::MissingMeasurement {
                measurement: "tcp-rr cross-node".into()
            }
        );
        assert!(err.to_string().starts_with(
            "the baseline measured tcp-rr cross-node but the candidate did not; run the \
             candidate with the same --workloads"
        ));

        let mut stopped = rr_result("cand02", 1.0);
        stopped.measurements.clear();
        stopped.outcome = crate::Outcome::Error {
            message: "udp-stream client exited".into(),
        };
        let err = compare(&base, &stopped, &CompareOptions::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the baseline measured tcp-rr cross-node but the candidate did not: the candidate \
             run did not complete (error: udp-stream client exited); run it again until it \
             completes"
        );

        let mut no_metric = rr_result("cand02", 1.0);
        no_metric.measurements[0].repetitions.clear();
        no_metric.measurements[0].summarize();
        let err = compare(&base, &no_metric, &CompareOptions::default()).unwrap_err();
        assert_eq!(
            err,
            CompareError::MissingMetric {
                measurement: "tcp-rr cross-node".into(),
                metric: "transactions_per_s".into()
            }
        );
        assert!(err.to_string().starts_with(
            "tcp-rr cross-node of the candidate has no transactions_per_s (the baseline has)"
        ));

        let mut empty = rr_result("base01", 1.0);
        empty.measurements.clear();
        empty.checks.clear();
        let err = compare(&empty, &empty, &CompareOptions::default()).unwrap_err();
        assert_eq!(err, CompareError::NothingToCompare);
        assert!(err.to_string().starts_with("there is nothing to compare"));
        // Checks alone are something to compare.
        let mut checks_only = rr_result("base01", 1.0);
        checks_only.measurements.clear();
        assert_eq!(cmp(&checks_only, &checks_only).exit_code(), 0);
        // Every message is one line.
        for e in [
            CompareError::NothingToCompare,
            CompareError::UnknownMetric { metric: "x".into() },
            CompareError::BadOverride { text: "x".into() },
        ] {
            assert!(!e.to_string().contains('\n'));
        }
    }

    #[test]
    fn thresholds_are_read_from_text() {
        assert_eq!(parse_threshold("5%"), Ok(0.05));
        assert_eq!(parse_threshold(" 2.5 % "), Ok(0.025));
        assert_eq!(parse_threshold("0.05"), Ok(0.05));
        assert_eq!(parse_threshold("0"), Ok(0.0));
        assert_eq!(parse_threshold("1"), Ok(1.0));
        assert_eq!(parse_threshold("150%"), Ok(1.5));
        for (text, why) in [
            ("5", "a fraction above 1 is ambiguous"),
            ("-1%", "it is negative"),
            ("abc", "it is not a number"),
            ("", "it is empty"),
            ("%", "it is empty"),
            ("inf", "it is not a finite number"),
        ] {
            let err = parse_threshold(text).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("bad threshold `{text}`: {why}")),
                "{err}"
            );
            assert!(
                err.ends_with("write a percentage (5%) or a fraction (0.05)"),
                "{err}"
            );
        }

        assert_eq!(
            parse_metric_threshold("rtt_p99_ns=10%"),
            Ok(("rtt_p99_ns".into(), 0.10))
        );
        assert_eq!(
            parse_metric_threshold(" loss_percent = 0.02"),
            Ok(("loss_percent".into(), 0.02))
        );
        for bad in ["rtt_p99_ns", "=5%", "rtt_p99_ns="] {
            assert_eq!(
                parse_metric_threshold(bad).unwrap_err().to_string(),
                format!(
                    "bad per-metric threshold `{bad}`: write METRIC=THRESHOLD, e.g. \
                     rtt_p99_ns=10%"
                )
            );
        }
        let err = parse_metric_threshold("rtt_p98_ns=5%")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "unknown metric `rtt_p98_ns` in a per-metric threshold; use one of throughput_bps"
            ),
            "{err}"
        );
        // Every metric the schema knows is listed in that message.
        for m in [
            "throughput_bps",
            "packets_per_s",
            "loss_percent",
            "transactions_per_s",
            "rtt_p50_ns",
            "rtt_p90_ns",
            "rtt_p99_ns",
            "rtt_p999_ns",
            "rtt_max_ns",
            "rtt_mean_ns",
        ] {
            assert!(Sample::higher_is_better(m).is_some());
            assert!(err.contains(m), "{m}");
        }
        assert!(parse_metric_threshold("rtt_p99_ns=ten")
            .unwrap_err()
            .to_string()
            .starts_with("bad threshold `ten`"));
    }

    #[test]
    fn options_from_arguments_and_per_metric_thresholds() {
        let o = CompareOptions::default();
        assert_eq!(o.threshold, 0.05);
        assert_eq!(o.threshold_for("throughput_bps"), Some(0.05));
        assert_eq!(o.threshold_for("rtt_p50_ns"), Some(0.05));
        assert_eq!(o.threshold_for("rtt_mean_ns"), Some(0.05));
        assert!((o.threshold_for("rtt_p90_ns").unwrap() - 0.10).abs() < 1e-12);
        assert!((o.threshold_for("rtt_p99_ns").unwrap() - 0.15).abs() < 1e-12);
        assert!((o.threshold_for("rtt_p999_ns").unwrap() - 0.30).abs() < 1e-12);
        assert!((o.threshold_for("loss_percent").unwrap() - 0.10).abs() < 1e-12);
        assert_eq!(o.threshold_for("rtt_max_ns"), None);

        let o = CompareOptions::from_args(
            Some("10%"),
            &["rtt_p99_ns=12%,rtt_p999_ns=0.5", "throughput_bps=3%"],
        )
        .unwrap();
        assert_eq!(o.threshold, 0.10);
        assert_eq!(o.threshold_for("rtt_p99_ns"), Some(0.12));
        assert_eq!(o.threshold_for("rtt_p999_ns"), Some(0.5));
        assert_eq!(o.threshold_for("throughput_bps"), Some(0.03));
        // --threshold scales the defaults of the tails.
        assert!((o.threshold_for("rtt_p90_ns").unwrap() - 0.20).abs() < 1e-12);
        assert_eq!(o.threshold_for("transactions_per_s"), Some(0.10));
        assert!(CompareOptions::from_args(Some("x"), &[] as &[&str]).is_err());
        assert!(CompareOptions::from_args(None, &["nope=1%"]).is_err());

        // The override is applied, and shown in the verdict line.
        let c = compare(
            &rr_result("base01", 1.0),
            &rr_result("cand02", 1.2),
            &CompareOptions::from_args(None, &["rtt_p50_ns=30%"]).unwrap(),
        )
        .unwrap();
        assert_eq!(
            row(&c, "tcp-rr cross-node", "rtt_p50_ns").verdict,
            Verdict::Pass
        );
        assert!(
            c.summary_line().contains("(threshold 5%; rtt_p50_ns 30%)"),
            "{}",
            c.summary_line()
        );
    }

    #[test]
    fn differing_parameters_and_machines_are_warned_about() {
        let base = rr_result("base01", 1.0);
        let mut cand = rr_result("cand02", 1.0);
        cand.parameters.duration_ms = 1000;
        cand.parameters.placement = "same-cpu".into();
        cand.environment.hostname = Some("other-host".into());
        cand.environment.kernel = "6.1.0".into();
        cand.measurements[0].placement.kind = "cross-cpu".into();
        cand.outcome = crate::Outcome::Interrupted;
        let w = cmp(&base, &cand).warnings;
        let has = |prefix: &str| w.iter().any(|x| x.starts_with(prefix));
        assert!(
            has("duration differs (baseline 10000 ms, candidate 1000 ms)"),
            "{w:#?}"
        );
        assert!(
            has("placement differs (baseline cross-cpu, candidate same-cpu)"),
            "{w:#?}"
        );
        assert!(has("the runs are from different machines"), "{w:#?}");
        assert!(has("the runs are on different kernels"), "{w:#?}");
        assert!(
            has("tcp-rr cross-node: placement differs (baseline same-cpu, candidate cross-cpu)"),
            "{w:#?}"
        );
        assert!(
            has("the candidate run did not complete (interrupted)"),
            "{w:#?}"
        );
        assert!(w.iter().all(|x| !x.contains('\n')));
        // Warnings do not change the verdict.
        assert_eq!(cmp(&base, &cand).exit_code(), 0);
    }

    #[test]
    fn measurements_match_by_path_and_extra_ones_warn() {
        let f = &BACKENDS[1];
        let mut noise = Noise::new(5);
        let mut base = realistic(f, "aaaa01", 3, 0.02, &mut noise, 1.0, 1.0);
        let mut cand = realistic(f, "bbbb02", 3, 0.02, &mut noise, 1.0, 1.0);
        // The same workloads on the other path, slower, in a different order.
        let same_node: Vec<MeasurementRecord> = realistic(f, "x", 3, 0.02, &mut noise, 0.5, 2.0)
            .measurements
            .into_iter()
            .map(|mut m| {
                m.path = "same-node".into();
                m
            })
            .collect();
        base.measurements.extend(same_node.clone());
        cand.measurements.splice(0..0, same_node.clone());
        let extra = same_node[0].clone();
        let mut extra = extra;
        extra.workload = "tcp-stream".into();
        extra.generator = "iperf3 3.12".into();
        cand.measurements.push(extra);
        let c = cmp(&base, &cand);
        assert_eq!(c.metrics.len(), 56);
        assert!(
            verdicts(&c, Verdict::Regression).is_empty(),
            "{}",
            render_table(&c)
        );
        assert_eq!(
            c.warnings,
            vec!["tcp-stream [iperf3 3.12] same-node is only in the candidate: not compared"]
        );
        // A generator's version does not matter for matching, but is warned about.
        let mut iperf_base = base.clone();
        iperf_base.measurements[0].generator = "iperf3 3.12".into();
        let mut iperf_cand = base.clone();
        iperf_cand.measurements[0].generator = "iperf3 3.16".into();
        let w = cmp(&iperf_base, &iperf_cand).warnings;
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].starts_with("tcp-stream [iperf3 3.12] cross-node: generator differs"));
    }

    #[test]
    fn a_moving_session_baseline_is_warned_about() {
        let f = &BACKENDS[4];
        let mut noise = Noise::new(3);
        let host_a = realistic(f, "h1", 3, 0.01, &mut noise, 1.0, 1.0);
        let host_b = realistic(f, "h2", 3, 0.01, &mut noise, 0.5, 1.0);
        let mut base = rr_result("base01", 1.0);
        let mut cand = rr_result("cand02", 1.0);
        let as_baseline = |r: RunResult| crate::Baseline {
            run_id: r.run_id,
            backend: "host-net".into(),
            topology: "2 nodes on an l2 underlay".into(),
            substrate: r.substrate,
            measurements: r.measurements,
        };
        base.baseline = Some(as_baseline(host_a.clone()));
        cand.baseline = Some(as_baseline(host_a));
        assert!(cmp(&base, &cand).warnings.is_empty());
        cand.baseline = Some(as_baseline(host_b));
        let w = cmp(&base, &cand).warnings;
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with(
                "the host-net baseline measured in each session moved too (tcp-stream \
                 cross-node throughput_bps -5"
            ),
            "{}",
            w[0]
        );
    }

    #[test]
    fn table_has_units_verdicts_and_a_summary() {
        let c = cmp(&rr_result("base01", 1.0), &rr_result("cand02", 2.0));
        let text = render_table(&c);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "compare vxlan: baseline run base01 (abc123) against candidate run cand02 (abc123)"
        );
        assert!(
            lines[2].starts_with("measurement  path        metric"),
            "{text}"
        );
        assert!(
            lines[2].ends_with("95% interval  threshold  verdict"),
            "{text}"
        );
        let p50 = lines.iter().find(|l| l.contains("rtt_p50_ns")).unwrap();
        assert!(p50.contains("14.5 µs") && p50.contains("29.0 µs"), "{p50}");
        assert!(
            p50.contains("+100.0%") && p50.ends_with("REGRESSION"),
            "{p50}"
        );
        let p999 = lines.iter().find(|l| l.contains("rtt_p999_ns")).unwrap();
        assert!(p999.ends_with("inconclusive"), "{p999}");
        let max = lines.iter().find(|l| l.contains("rtt_max_ns")).unwrap();
        assert!(max.ends_with("info"), "{max}");
        assert!(
            text.trim_end().ends_with(
                "verdict: REGRESSION: 5 regressions, 1 inconclusive, 3 pass, 1 info \
                     (threshold 5%); to decide the inconclusive ones, run more repetitions \
                     (--repeat 5) or longer (--duration)"
            ),
            "{text}"
        );
        // Columns line up: every row's verdict starts where the header's does.
        let verdict_col = lines[2].chars().count() - "verdict".len();
        for l in &lines[3..10] {
            let verdict: String = l.chars().skip(verdict_col).collect();
            assert!(
                ["REGRESSION", "inconclusive", "info"].contains(&verdict.as_str()),
                "{l}"
            );
        }
    }

    #[test]
    fn a_comparison_round_trips_through_json() {
        let c = cmp(&noisy_rr_result("base01", 1), &noisy_rr_result("cand02", 2));
        let json = serde_json::to_string_pretty(&c).unwrap();
        let back: Comparison = serde_json::from_str(&json).unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        // Compared as JSON values: the parser may round a float's last bit either way.
        assert_eq!(serde_json::to_value(&back).unwrap(), v);
        assert_eq!(back.metrics.len(), c.metrics.len());
        assert_eq!(back.verdict, c.verdict);
        assert_eq!(v["verdict"], "inconclusive");
        assert_eq!(v["metrics"][1]["metric"], "rtt_p50_ns");
        assert_eq!(v["metrics"][1]["verdict"], "inconclusive");
        assert_eq!(v["metrics"][1]["scale"], "relative");
        assert_eq!(v["checks"][0]["baseline"], "pass");
        assert_eq!(v["options"]["threshold"], 0.05);
        assert_eq!(v["baseline"]["run_id"], "base01");
    }

    #[test]
    fn zero_and_missing_figures_survive_json() {
        // A broken baseline (no throughput at all) and a NaN repetition in the candidate.
        let base = stream_result("base01", &[0.0, 0.0, 0.0]);
        let cand = stream_result("cand02", &[1.0e9, f64::NAN, 1.1e9]);
        let c = cmp(&base, &cand);
        let r = &c.metrics[0];
        assert!(r.change.is_infinite() && r.change > 0.0);
        assert_eq!(r.change_text(), "+inf");
        assert_eq!(r.candidate_median, 1.05e9);
        assert_eq!(r.verdict, Verdict::Improvement, "{}", r.describe());
        let json = serde_json::to_string(&c).unwrap();
        let back: Comparison = serde_json::from_str(&json).unwrap();
        assert!(back.metrics[0].change.is_nan());
        assert!(back.metrics[0].candidate_values[1].is_nan());
        assert!(back.metrics[0].interval.unwrap()[1].is_nan());
        assert!(render_table(&c).contains("+inf"));
        // Nothing finite on one side: inconclusive, and said why.
        let none = stream_result("cand02", &[f64::NAN, f64::NAN]);
        let c = cmp(&stream_result("base01", &[1.0e9, 1.0e9, 1.0e9]), &none);
        assert_eq!(c.metrics[0].verdict, Verdict::Inconclusive);
        assert_eq!(
            c.metrics[0].note.as_deref(),
            Some("the candidate has no finite value: nothing to compare")
        );
    }

    fn on_vms(mut r: RunResult) -> RunResult {
        r.substrate = crate::Substrate::vm_tcg("6.1.0-56-cloud-amd64");
        r
    }

    #[test]
    fn emulated_and_native_results_are_not_compared() {
        let native = stream_result("base01", &[10.0e9, 10.1e9, 9.9e9]);
        let emulated = on_vms(stream_result("cand02", &[0.3e9, 0.31e9, 0.29e9]));
        for (b, c) in [(&native, &emulated), (&emulated, &native)] {
            let err = compare(b, c, &CompareOptions::default()).unwrap_err();
            assert!(
                matches!(&err, CompareError::SubstrateMismatch { baseline_run, candidate_run, .. }
                    if *baseline_run == b.run_id && *candidate_run == c.run_id),
                "{err:?}"
            );
            let message = err.to_string();
            assert!(!message.contains('\n'), "{message}");
            for part in [
                format!("the baseline (run {}) ran on {}", b.run_id, b.substrate),
                format!("the candidate (run {}) on {}", c.run_id, c.substrate),
                "emulated and native figures are not alike".into(),
                "compare VM results with VM results".into(),
            ] {
                assert!(message.contains(&part), "{part:?} missing from {message}");
            }
        }
        // The substrates are checked first: with another backend too, that is the error.
        let mut bridge = emulated.clone();
        bridge.parameters.backend = "bridge".into();
        assert!(matches!(
            compare(&native, &bridge, &CompareOptions::default()),
            Err(CompareError::SubstrateMismatch { .. })
        ));
    }

    #[test]
    fn compare_files_names_both_files_of_a_substrate_mismatch() {
        let dir = std::env::temp_dir().join(format!(
            "cnbench-reports-compare-files-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let (ns, vm) = (dir.join("vxlan-netns.json"), dir.join("vxlan-vm.json"));
        let write = |path: &Path, r: &RunResult| {
            std::fs::write(path, crate::to_json(r).unwrap()).unwrap();
        };
        write(&ns, &rr_result("base01", 1.0));
        write(&vm, &on_vms(rr_result("cand02", 30.0)));

        let err = compare_files(&ns, &vm, &CompareOptions::default()).unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(&err, CompareFilesError::SubstrateMismatch { baseline_file, candidate_file, .. }
                if *baseline_file == ns && *candidate_file == vm),
            "{err:?}"
        );
        assert!(
            message.starts_with(&format!(
                "{} is a result of netns (network namespaces, kernel 6.8.0-45-generic) but {} \
                 is one of vm (QEMU TCG emulation, kernel 6.1.0-56-cloud-amd64): emulated and \
                 native figures are not alike",
                ns.display(),
                vm.display()
            )),
            "{message}"
        );
        assert!(
            message.ends_with(
                "compare VM results with VM results (emulated with emulated) and namespace \
                 results with namespace results"
            ),
            "{message}"
        );

        // Alike substrates compare; other errors pass through unchanged.
        let same = compare_files(&vm, &vm, &CompareOptions::default()).unwrap();
        assert_eq!(same.verdict, Verdict::Pass);
        let missing = dir.join("missing.json");
        let err = compare_files(&ns, &missing, &CompareOptions::default()).unwrap_err();
        assert!(matches!(
            err,
            CompareFilesError::Read(ReportError::Read { .. })
        ));
        assert!(err.to_string().contains("missing.json"), "{err}");
        let mut bridge = rr_result("cand02", 1.0);
        bridge.parameters.backend = "bridge".into();
        write(&vm, &bridge);
        let err = compare_files(&ns, &vm, &CompareOptions::default()).unwrap_err();
        assert!(
            matches!(
                err,
                CompareFilesError::Compare(CompareError::BackendMismatch { .. })
            ),
            "{err:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn emulated_runs_decide_only_changes_beyond_emulation_noise() {
        // 30 % slower with tight repetitions: a regression between namespace runs...
        let base = on_vms(stream_result("base01", &[10.0e9, 10.1e9, 9.9e9]));
        let cand = on_vms(stream_result("cand02", &[7.0e9, 7.05e9, 6.95e9]));
        let c = cmp(&base, &cand);
        // ...but not beyond what emulated runs of the same code differ by.
        let r = row(&c, "tcp-stream cross-node", "throughput_bps");
        assert_eq!(r.verdict, Verdict::Inconclusive, "{}", r.describe());
        assert_eq!(c.options.noise_floor, EMULATED_RUN_NOISE);
        assert!(
            c.warnings.iter().any(|w| w.starts_with(
                "both runs are emulated (QEMU TCG emulation): figures compare behaviour, not \
                 speed"
            ) && w.contains("noise floor is raised from 7% to 25%")),
            "{:?}",
            c.warnings
        );
        // A change of behaviour (a fifth of the throughput) is still decided.
        let cand = on_vms(stream_result("cand02", &[2.0e9, 2.02e9, 1.98e9]));
        let c = cmp(&base, &cand);
        assert_eq!(c.verdict, Verdict::Regression);
        // A floor set higher than the emulated one is kept.
        let options = CompareOptions {
            noise_floor: 0.4,
            ..CompareOptions::default()
        };
        let c = compare(&base, &cand, &options).unwrap();
        assert_eq!(c.options.noise_floor, 0.4);
        assert!(!c.warnings.iter().any(|w| w.contains("raised")));

        // Every report says where the runs lived.
        let text = render_table(&c);
        assert_eq!(
            text.lines().nth(1),
            Some(
                "substrate: vm (QEMU TCG emulation, kernel 6.1.0-56-cloud-amd64): figures \
                 compare behaviour, not speed"
            ),
            "{text}"
        );
        assert_eq!(c.baseline.substrate, base.substrate);
        // Namespace runs say nothing of it.
        let plain = cmp(&rr_result("base01", 1.0), &rr_result("cand02", 1.0));
        assert!(substrate_lines(&plain).is_empty());
        assert!(!render_table(&plain).contains("substrate"));
        // VMs on different kernels are warned about.
        let mut newer = cand.clone();
        newer.substrate.kernel_release = "6.12.0".into();
        let c = cmp(&base, &newer);
        assert!(
            c.warnings.iter().any(|w| w.starts_with(
                "the VMs ran different kernels (baseline \
                    6.1.0-56-cloud-amd64, candidate 6.12.0)"
            )),
            "{:?}",
            c.warnings
        );
        assert_eq!(
            substrate_lines(&c),
            [
                "baseline substrate: vm (QEMU TCG emulation, kernel 6.1.0-56-cloud-amd64): \
                 figures compare behaviour, not speed",
                "candidate substrate: vm (QEMU TCG emulation, kernel 6.12.0): figures compare \
                 behaviour, not speed"
            ]
        );
    }

    #[test]
    fn sample_files_compare_with_themselves() {
        // Real results, kept with the render crate's tests.
        for name in ["vxlan", "flannel-udp", "host-gw-l3"] {
            let path = format!(
                "{}/../render/tests/data/{name}.json",
                env!("CARGO_MANIFEST_DIR")
            );
            let r = crate::read_result(std::path::Path::new(&path)).unwrap();
            let c = cmp(&r, &r);
            assert!(verdicts(&c, Verdict::Regression).is_empty(), "{path}");
            assert!(c.checks.iter().all(|x| x.verdict == Verdict::Pass));
            assert_eq!(c.checks.len(), r.checks.len());
            let text = render_table(&c);
            assert!(text.contains("verdict: pass: "), "{text}");
        }
    }
}
