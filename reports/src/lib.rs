//! Results of cnbench runs: the versioned JSON schema, statistics over repetitions, human
//! summaries and the incremental result writer.
//!
//! This is the bottom layer of cnbench. It knows nothing of namespaces, netlink, backends or
//! workloads: the harness fills a [`RunResult`] as a run goes, [`ResultWriter`] saves it after
//! every step, and [`render_summary`] turns it into the table people read. The only things it
//! reads from the system are `/proc` and `/etc/os-release`, to describe the machine
//! ([`Environment::capture`]).
//!
//! Every result says where its nodes lived ([`Substrate`]): network namespaces on the
//! harness's machine, or QEMU VMs. Results of VMs under emulation (QEMU TCG) are marked as
//! such wherever they are shown, and are never compared with or divided by native ones.
//!
//! ```
//! # extern crate cnbench_reports as reports;
//! use reports::{Environment, Parameters, RunResult};
//!
//! let env = Environment::capture("0.1.0", None);
//! let result = RunResult::new("ab12", env, Parameters::default());
//! assert!(result.checks_passed());
//! println!("{}", reports::render_summary(&result));
//! ```

#![warn(missing_docs)]

pub mod compare;
pub mod environment;
pub mod error;
pub mod fault;
pub mod human;
pub mod junit;
pub mod markdown;
pub mod probe;
pub mod read;
pub mod scale;
pub mod schema;
pub mod stats;
pub mod substrate;
pub mod writer;

#[cfg(test)]
mod test_support;

pub use compare::{
    compare, compare_files, parse_metric_threshold, parse_threshold, render_table, CheckComparison,
    CompareError, CompareFilesError, CompareOptions, Comparison, MetricComparison, Verdict,
};
pub use environment::Environment;
pub use error::ReportError;
pub use fault::{render_faults, FaultOutcome, FaultRecord, PairRecovery, TcpUnderLoss};
pub use human::{
    cost_summary, format_bps, format_check, format_metric, format_ns, format_rate, format_sample,
    render_summary, render_topology,
};
pub use junit::to_junit;
pub use markdown::to_markdown;
pub use probe::{
    lost_between, recovered_at, LossRun, NodeClock, PeerProbe, ProbeReport, ProbeSummary,
};
pub use read::{read_result, read_scale};
pub use scale::{ScalePoint, ScaleResult};
pub use schema::{
    reads_schema_version, Baseline, CheckCounts, CheckOutcome, CheckRecord, CostSample,
    DeviceRecord, Endpoint, KernelCounters, MachineCost, MeasurementRecord, MetricRatio,
    MetricSummary, NamespaceRecord, Outcome, Parameters, Placement, RoleCost, RrSample, RunResult,
    Sample, TcpStreamSample, Timings, TracedRepetition, UdpStreamSample, OLDEST_SCHEMA_VERSION,
    SCHEMA_VERSION,
};
pub use stats::{mad_outliers, warnings, Stats, Warning};
pub use substrate::{
    BaselineSubstrateMismatch, Substrate, SubstrateKind, EMULATED_CAVEAT, EMULATED_NOTE,
};
pub use writer::{to_json, ResultWriter};
