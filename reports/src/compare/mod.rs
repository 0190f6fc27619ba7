//! Comparing two results of the same backend (or, when asked, of different backends):
//! per-metric verdicts from the repetitions, and conformance checks that stopped passing. The
//! library side of `cnbench compare BASELINE.json CANDIDATE.json`.
//!
//! # What is compared
//!
//! Measurements are matched by workload, variant, path (`same-node`, `cross-node`) and
//! traffic generator (its name; a different version only warns). Every metric of the
//! baseline's `summary` is compared, using the per-repetition values of
//! [`crate::MeasurementRecord::metric_values`]. A baseline measurement or metric without a
//! counterpart in the candidate is an error ([`CompareError`]); parameters that make figures
//! incomparable (duration, message size, placement, streams, underlay, nodes, MTU, datapath,
//! generator, another machine or kernel) only give warnings. So does software under test that
//! differs ([`crate::RunResult::components`], when both results record theirs): a CNI plugin
//! run from another path or supporting other versions, a network of another CNI version or
//! chain, a component only one run had; one warning names every difference. Results without
//! components (schema version 5, backends that run only cnbench's code) are compared as
//! before.
//!
//! # The decision rule
//!
//! For one metric, with `b` the baseline's repetitions and `c` the candidate's:
//!
//! - **change**: `median(c) / median(b) - 1`, a fraction (`+0.12` = 12 % higher). For
//!   `loss_percent` it is `(median(c) - median(b)) / 100` instead, a difference in
//!   percentage points written as a fraction (a relative change of a loss near 0 % means
//!   nothing). "Worse" is higher for latency and loss and lower for rates
//!   ([`crate::Sample::higher_is_better`]).
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
//! A check that did not apply (outcome `not_applicable`, e.g. a CNI plugin's GC with a plugin
//! that speaks no CNI version that has it) was not made, so it is never a regression or an
//! improvement: not applicable on both sides it is a **pass** (nothing changed); not
//! applicable on one side only it is **info** (reported, never deciding), whatever its outcome
//! on the other side, and the comparison carries the baseline's reason beside the
//! candidate's. Two such cases also warn, as a check missing from the candidate and a new
//! failing check do: a check the baseline made that does not apply in the candidate (what the
//! candidate no longer proves), and a check that did not apply in the baseline and fails in
//! the candidate.
//!
//! # Across backends
//!
//! Results of different backends are refused ([`CompareError::BackendMismatch`]) unless
//! [`CompareOptions::across_backends`] is set (`--across-backends`): then they are compared,
//! and so are results of one backend whose backend options differ
//! ([`crate::Parameters::backend_options`], e.g. `pod-wiring`). Measurements are matched and
//! decided exactly as above. Checks cannot be matched one to one across datapaths (their
//! devices and names differ), so only the conformance *verdicts* are compared
//! ([`ConformanceComparison`]): a candidate that failed a check where the baseline failed none
//! is a **regression** (the failed checks named), the other way round an **improvement**;
//! checks that did not apply are counted apart and decide nothing; [`Comparison::checks`]
//! stays empty. [`Comparison::option_changes`] lists the backend options
//! that differ, whether or not the comparison is across backends.
//!
//! # Exit code
//!
//! [`Comparison::exit_code`]: 0 when nothing regressed and nothing is inconclusive, 1 when
//! anything regressed, 3 when something is inconclusive but nothing regressed. (2 is for bad
//! input: any [`CompareError`].)

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use across::{backend_options, compare_conformance, option_changes};
use checks::compare_checks;
use components::component_warning;
use disturbance::disturbance_warning;
use measurements::{compare_measurement, match_measurements};
use warnings::{
    emulated_options, measurement_warnings, parameter_warnings, session_baseline_warnings,
};

use crate::component::ComponentRecord;
use crate::schema::RunResult;
use crate::substrate::Substrate;

mod across;
mod bootstrap;
mod checks;
mod components;
pub mod counts;
mod disturbance;
mod error;
mod measurements;
mod options;
mod rule;
mod verdict;
mod warnings;

#[cfg(test)]
mod tests;

pub use across::{Conformance, ConformanceComparison, OptionChange};
pub use checks::CheckComparison;
pub use counts::{DEFAULT_COUNT_TOLERANCE, GATED_COUNT_WORKLOADS};
pub use error::{CompareError, CompareFilesError, SUBSTRATE_FIX};
pub use options::{
    parse_metric_threshold, parse_threshold, CalibrationInUse, CompareOptions, CONFIDENCE,
    DEFAULT_THRESHOLD, DISTURBED_RATIO, DISTURBED_UNDECIDABLE, EMULATED_RUN_NOISE,
    INCONCLUSIVE_HINT, LOSS_RUN_NOISE, NOISE_Z, NOT_GATED, RESAMPLES, RUN_NOISE, RUN_NOISE_FACTORS,
    RUN_TO_RUN, SEED, THRESHOLD_FACTORS,
};
pub use rule::ChangeScale;

pub(crate) use bootstrap::SplitMix64;
pub use verdict::{MetricComparison, Verdict, VerdictCounts};

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
    /// Every backend option in effect, by flag without the dashes (`pod-wiring` → `cni`);
    /// for a result of schema version 5, those it recorded (`datapath`, `bgp-topology`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub backend_options: BTreeMap<String, String>,
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
    /// The software under test the run drove but cnbench did not write (a CNI network and
    /// its plugins), as the result records it; empty for results without any (schema version
    /// 5, backends that run only their own code).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<ComponentRecord>,
}

impl RunInfo {
    /// The header facts of result `r`.
    pub fn of(r: &RunResult) -> RunInfo {
        let p = &r.parameters;
        RunInfo {
            run_id: r.run_id.clone(),
            backend: p.backend.clone(),
            datapath: p.datapath.clone(),
            backend_options: backend_options(r),
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
            components: r.components.clone(),
        }
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
    /// One row per check found in both results, in the baseline's order; empty across
    /// backends, where [`Comparison::conformance`] compares the verdicts instead.
    pub checks: Vec<CheckComparison>,
    /// Whether the results were compared across backends: of different backends, or of one
    /// backend with different backend options, with [`CompareOptions::across_backends`].
    #[serde(default)]
    pub across_backends: bool,
    /// The backend options whose values differ between the runs (across backends or not).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub option_changes: Vec<OptionChange>,
    /// Across backends, when both results hold checks: whether each passed them all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conformance: Option<ConformanceComparison>,
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

    /// Every row's verdict: metrics, checks, and the conformance verdict across backends.
    fn verdicts(&self) -> impl Iterator<Item = Verdict> + '_ {
        self.metrics
            .iter()
            .map(|m| m.verdict)
            .chain(self.checks.iter().map(|c| c.verdict))
            .chain(self.conformance.iter().map(|c| c.verdict))
    }

    /// The verdict of the whole from its rows: regression if any row regressed; else
    /// inconclusive if any row is; else improvement if any row improved; else pass.
    pub fn overall(&self) -> Verdict {
        let mut verdict = Verdict::Pass;
        for v in self.verdicts() {
            verdict = match (verdict, v) {
                (_, Verdict::Regression) | (Verdict::Regression, _) => Verdict::Regression,
                (_, Verdict::Inconclusive) | (Verdict::Inconclusive, _) => Verdict::Inconclusive,
                (_, Verdict::Improvement) | (Verdict::Improvement, _) => Verdict::Improvement,
                _ => Verdict::Pass,
            };
        }
        verdict
    }

    /// How many rows, metrics and checks together (the conformance verdicts across
    /// backends counting as one), got each verdict.
    pub fn counts(&self) -> VerdictCounts {
        let mut counts = VerdictCounts::default();
        for v in self.verdicts() {
            counts.add(v);
        }
        counts
    }
}

/// Compares `candidate` against `baseline` (see the module documentation for the rules).
///
/// Refuses results whose substrates are not alike ([`CompareError::SubstrateMismatch`]);
/// [`compare_files`] does the same naming the files. Refuses results of different backends
/// ([`CompareError::BackendMismatch`]) unless [`CompareOptions::across_backends`] is set.
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
    let (b_family, c_family) = (
        baseline.parameters.ip_family(),
        candidate.parameters.ip_family(),
    );
    if b_family != c_family {
        return Err(CompareError::FamilyMismatch {
            baseline: b_family.into(),
            candidate: c_family.into(),
        });
    }
    let (b_backend, c_backend) = (&baseline.parameters.backend, &candidate.parameters.backend);
    if b_backend != c_backend && !options.across_backends {
        return Err(CompareError::BackendMismatch {
            baseline: b_backend.clone(),
            candidate: c_backend.clone(),
        });
    }
    if baseline.measurements.is_empty() && baseline.checks.is_empty() && candidate.checks.is_empty()
    {
        return Err(CompareError::NothingToCompare);
    }

    let option_changes = option_changes(baseline, candidate);
    let across = options.across_backends && (b_backend != c_backend || !option_changes.is_empty());
    let mut warnings = parameter_warnings(baseline, candidate, &option_changes, across);
    warnings.extend(component_warning(baseline, candidate));
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
        let (counts, count_warnings) = counts::compare_counts(b, c, options);
        metrics.extend(counts);
        warnings.extend(count_warnings);
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

    let (checks, conformance, check_warnings) = if across {
        let (conformance, w) = compare_conformance(baseline, candidate);
        (Vec::new(), conformance, w)
    } else {
        let (checks, w) = compare_checks(baseline, candidate);
        (checks, None, w)
    };
    warnings.extend(check_warnings);

    let mut cmp = Comparison {
        baseline: RunInfo::of(baseline),
        candidate: RunInfo::of(candidate),
        options: options.clone(),
        metrics,
        checks,
        across_backends: across,
        option_changes,
        conformance,
        warnings,
        verdict: Verdict::Pass,
    };
    cmp.verdict = cmp.overall();
    Ok(cmp)
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
