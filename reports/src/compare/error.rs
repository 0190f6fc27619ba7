//! Why two results could not be compared, or an option not read.

use std::path::PathBuf;

use crate::error::ReportError;
use crate::substrate::Substrate;

/// What to do when two results' substrates are not alike.
pub const SUBSTRATE_FIX: &str = "compare VM results with VM results (emulated with emulated) \
    and namespace results with namespace results";

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
    /// The two results are of different backends, and
    /// [`CompareOptions::across_backends`](super::CompareOptions::across_backends) was not
    /// given.
    #[error(
        "the baseline is backend {baseline} but the candidate is backend {candidate}; compare \
         two runs of the same backend (`cnbench run --backend {baseline}` for both) or pass \
         --across-backends to compare them by workload, variant and path"
    )]
    BackendMismatch {
        /// The baseline's backend.
        baseline: String,
        /// The candidate's backend.
        candidate: String,
    },
    /// The two results are of different IP families: an IPv6 path is not the IPv4 one
    /// changed, so no difference between them is a regression.
    #[error(
        "the baseline ran --ip-family {baseline} but the candidate --ip-family {candidate}; \
         compare runs of one family (run the candidate with --ip-family {baseline})"
    )]
    FamilyMismatch {
        /// The baseline's family.
        baseline: String,
        /// The candidate's family.
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
