//! One workload measured between one client and one server: every repetition, their
//! statistics, costs and warnings, and the ratios to a baseline.

use serde::{Deserialize, Serialize};

use crate::cost::CostSample;
use crate::sample::Sample;
use crate::schema::{cnbench_generator, MetricRatio};
use crate::stats::Stats;

/// One workload measured between one client and one server, with every repetition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeasurementRecord {
    /// Workload: `"tcp-stream"`, `"udp-stream"`, `"tcp-rr"`, `"udp-rr"` or `"tcp-crr"`.
    pub workload: String,
    /// Which case of the workload, when it has several: udp-stream runs `"64 B"` payloads
    /// and `"max payload"` (the largest payload that fits the pod MTU unfragmented).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// The traffic generator: `"cnbench"`, or the external tool with its version
    /// (`"iperf3 3.12"`, `"sockperf 3.7"`) when `--generator` chose one.
    #[serde(default = "cnbench_generator")]
    pub generator: String,
    /// The side that sends (stream) or asks (request/response).
    pub client: Endpoint,
    /// The side that receives (stream) or answers (request/response).
    pub server: Endpoint,
    /// Whether the pods are on one node: `"same-node"` or `"cross-node"`.
    pub path: String,
    /// Where packets were moved: `"kernel"` or `"userspace"`.
    pub datapath: String,
    /// The CPUs client and server were pinned to.
    pub placement: Placement,
    /// Every repetition, in the order it ran.
    pub repetitions: Vec<Sample>,
    /// Statistics per headline metric over the repetitions (see [`MeasurementRecord::summarize`]).
    pub summary: Vec<MetricSummary>,
    /// What each repetition cost, in the same order as `repetitions`: CPU per role and for
    /// the machine, packets, device counters and kernel counters. These repetitions run
    /// untraced, so syscall figures are in `traced`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub costs: Vec<CostSample>,
    /// One more repetition, run with the tracepoint counters on (syscalls and crossings per
    /// role, `net:net_dev_xmit`). Counting every syscall costs time on the hot path (about
    /// 2 µs per tcp-rr round trip here), so its figures are kept apart and are not in
    /// `summary`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traced: Option<TracedRepetition>,
    /// Each metric's median as a ratio to the same-session host-net baseline.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vs_baseline: Vec<MetricRatio>,
    /// What makes these figures less trustworthy (high variation, outliers, other work on
    /// the machine), each with what to change; refreshed by [`MeasurementRecord::summarize`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<crate::stats::Warning>,
}

/// The repetition that counted syscalls and device transmissions: its own (perturbed)
/// figures and its costs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TracedRepetition {
    /// The figures of this repetition, slowed by the tracing; for reference only.
    pub sample: Sample,
    /// Its costs, with the syscall and device-transmission figures filled in.
    pub cost: CostSample,
}

impl MeasurementRecord {
    /// The workload with its variant and, for an external generator, the generator:
    /// `"udp-stream 64 B"`, `"tcp-stream [iperf3 3.12]"`.
    pub fn label(&self) -> String {
        let mut label = self.workload.clone();
        if let Some(v) = &self.variant {
            label.push(' ');
            label.push_str(v);
        }
        if self.generator != "cnbench" {
            label.push_str(&format!(" [{}]", self.generator));
        }
        label
    }

    /// Whether `other` measures the same thing (workload and variant), so their figures can
    /// be compared or divided.
    pub fn same_case(&self, other: &MeasurementRecord) -> bool {
        self.workload == other.workload && self.variant == other.variant
    }

    /// Fills `summary` from `repetitions`: one [`MetricSummary`] per metric of
    /// [`Sample::metrics`], in that order.
    pub fn summarize(&mut self) {
        self.summary = self
            .metric_values()
            .into_iter()
            .filter_map(|(metric, values)| {
                Stats::of(&values).map(|stats| MetricSummary {
                    metric: metric.to_owned(),
                    stats,
                })
            })
            .collect();
        self.warnings = crate::stats::warnings(self);
    }

    /// The values of each headline metric across the repetitions, by metric name, in the
    /// order the metrics first appear.
    pub fn metric_values(&self) -> Vec<(&'static str, Vec<f64>)> {
        let mut series: Vec<(&'static str, Vec<f64>)> = Vec::new();
        for sample in &self.repetitions {
            for (metric, value) in sample.metrics() {
                match series.iter_mut().find(|(m, _)| *m == metric) {
                    Some((_, values)) => values.push(value),
                    None => series.push((metric, vec![value])),
                }
            }
        }
        series
    }

    /// The names of its headline metrics: those of its `summary`, or of its repetitions when
    /// the summary is empty.
    pub fn metric_names(&self) -> Vec<String> {
        if self.summary.is_empty() {
            self.metric_values()
                .into_iter()
                .map(|(name, _)| name.to_owned())
                .collect()
        } else {
            self.summary.iter().map(|s| s.metric.clone()).collect()
        }
    }

    /// Its median of `metric` as a multiple of the baseline's (dimensionless), if
    /// [`crate::RunResult::apply_baseline`] gave one.
    pub fn ratio_to_baseline(&self, metric: &str) -> Option<f64> {
        self.vs_baseline
            .iter()
            .find(|r| r.metric == metric)
            .map(|r| r.ratio)
    }

    /// The summary statistics of `metric`, if [`MeasurementRecord::summarize`] produced them.
    pub fn summary_of(&self, metric: &str) -> Option<&Stats> {
        self.summary
            .iter()
            .find(|s| s.metric == metric)
            .map(|s| &s.stats)
    }
}

/// One end of a measurement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// Pod name, e.g. `"n0p0"`.
    pub pod: String,
    /// Its network namespace, e.g. `"cnb-ab12-n0p0"`.
    pub netns: String,
    /// The IP address traffic is sent to or from.
    pub ip: String,
}

/// The CPUs the client and server processes were pinned to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    /// `"same-cpu"` or `"cross-cpu"`.
    pub kind: String,
    /// CPU number of the client.
    pub client_cpu: u32,
    /// CPU number of the server.
    pub server_cpu: u32,
    /// CPU the datapath daemons are pinned to, for a userspace datapath.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon_cpu: Option<u32>,
}

/// Statistics of one headline metric over the repetitions of a measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricSummary {
    /// Metric name, with its unit, e.g. `"throughput_bps"` (see [`Sample::metrics`]).
    pub metric: String,
    /// Statistics, in the unit of the metric.
    pub stats: Stats,
}
