//! Results of cnbench runs as data: the versioned JSON schema, statistics over repetitions,
//! the comparison of two results, the records of faults, probes and control-plane scale, and
//! the files they are read from and written to.
//!
//! This is the bottom layer of cnbench. It knows nothing of namespaces, netlink, backends or
//! workloads: the harness fills a [`RunResult`] as a run goes, [`ResultWriter`] saves it after
//! every step, [`read_result`] and [`read_scale`] read any schema version from
//! [`OLDEST_SCHEMA_VERSION`] on, and [`compare()`] decides what changed between two results.
//! Nothing here is written for people to read except messages (errors, warnings, the notes
//! of a comparison): every human form of these results (terminal text, Markdown, JUnit, HTML,
//! plots) is made by the `render` crate. The only things it reads from the system are `/proc`
//! and `/etc/os-release`, to describe the machine ([`Environment::capture`]).
//!
//! Every result says where its nodes lived ([`Substrate`]): network namespaces on the
//! harness's machine, or QEMU VMs. Results of VMs under emulation (QEMU TCG) are never
//! compared with or divided by native ones.
//!
//! ```
//! # extern crate cnbench_reports as reports;
//! use reports::{Environment, Parameters, RunResult};
//!
//! let env = Environment::capture("0.1.0", None);
//! let result = RunResult::new("ab12", env, Parameters::default());
//! assert!(result.checks_passed());
//! assert_eq!(result.schema_version, reports::SCHEMA_VERSION);
//! ```

#![warn(missing_docs)]

pub mod calibration;
pub mod check;
pub mod churn;
pub mod compare;
pub mod component;
pub mod cost;
pub mod environment;
pub mod error;
pub mod fault;
pub mod measurement;
pub mod paired;
pub mod plugin_call;
pub mod probe;
pub mod read;
pub mod sample;
pub mod scale;
pub mod schema;
pub mod stats;
pub mod substrate;
pub mod topology;
pub mod writer;

#[cfg(any(test, feature = "test-support"))]
#[doc(hidden)]
pub mod fixtures;

pub use churn::{ChurnRecord, ChurnSample, DaemonCpu, DaemonUsage, PodTimes};
pub use compare::{
    compare, compare_files, parse_metric_threshold, parse_threshold, ChangeScale, CheckComparison,
    CompareError, CompareFilesError, CompareOptions, Comparison, Conformance,
    ConformanceComparison, MetricComparison, OptionChange, RunInfo, Verdict, VerdictCounts,
};
pub use component::ComponentRecord;
pub use environment::Environment;
pub use error::ReportError;
pub use fault::{FaultOutcome, FaultRecord, PairRecovery, TcpUnderLoss};
pub use plugin_call::PluginCallRecord;
pub use probe::{
    lost_between, recovered_at, LossRun, NodeClock, PeerProbe, ProbeReport, ProbeSummary,
};
pub use read::{read_result, read_scale};
pub use scale::{LimitReason, ScaleLimit, ScalePoint, ScaleResult};
pub use schema::{
    reads_schema_version, Baseline, CheckCounts, CheckOutcome, CheckRecord, CostSample,
    DeviceRecord, Endpoint, KernelCounters, MachineCost, MeasurementRecord, MetricRatio,
    MetricSummary, NamespaceRecord, NodeMachineCost, Outcome, Parameters, Placement, RoleCost,
    RrSample, RunResult, Sample, TcpStreamSample, Timings, TracedRepetition, UdpStreamSample,
    OLDEST_SCHEMA_VERSION, SCHEMA_VERSION,
};
pub use stats::{mad_outliers, percentile_sorted, warnings, Stats, Warning};
pub use substrate::{
    BaselineSubstrateMismatch, Substrate, SubstrateKind, EMULATED_CAVEAT, EMULATED_NOTE,
};
pub use writer::{to_json, ResultWriter};
