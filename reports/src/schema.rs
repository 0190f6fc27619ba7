//! The versioned result schema: what one run built, checked and measured.
//!
//! A [`RunResult`] is written as JSON after every step of a run (see [`crate::ResultWriter`]),
//! so its shape is a contract with every tool that reads those files. Rules:
//! - every figure carries its unit in its name (`throughput_bps`, `rtt_p99_ns`, `window_ns`);
//! - optional fields are left out of the JSON when absent;
//! - any change a reader could notice bumps [`SCHEMA_VERSION`].

use std::collections::BTreeMap;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::environment::Environment;
use crate::substrate::{BaselineSubstrateMismatch, Substrate};

pub use crate::check::{CheckOutcome, CheckRecord};
pub use crate::cost::{CostSample, KernelCounters, MachineCost, NodeMachineCost, RoleCost};
pub use crate::measurement::{
    Endpoint, MeasurementRecord, MetricSummary, Placement, TracedRepetition,
};
pub(crate) use crate::sample::f64_or_nan;
pub use crate::sample::{RrSample, Sample, TcpStreamSample, UdpStreamSample};
pub use crate::topology::{DeviceRecord, NamespaceRecord};

/// Version of the result schema this build writes. Every version from [`OLDEST_SCHEMA_VERSION`]
/// up to this one is read ([`crate::read_result`], [`crate::read_scale`], and so `compare` and
/// `report`): versions since then only added fields, each with a default, so a gate baseline
/// committed by a user survives an upgrade. Files of any other version are refused.
///
/// - 5: the substrate (`substrate`) is required.
/// - 6: `parameters.backend_options`; `faults[].probe_clocks`; `components`;
///   `plugin_calls`; the check outcome `not_applicable`.
/// - 7: `churn` (`cnbench churn`), and the `churn` workload's samples; a scale result's
///   `backend_options`.
/// - 8: `parameters.ip_family` (absent: `ipv4`), `parameters.segment_mtu_bytes`; a scale
///   result's `ip_family`.
/// - 9: a cost sample's `machines` (the CPU and device transmissions of every node agent's
///   machine), its `roles` include the roles on those machines, and its `device_xmits`
///   sums every machine's.
/// - 10: a cost sample's `wire_segments`, `device_tx_per_segment` and
///   `sending_node_crossings_per_segment`/`receiving_node_crossings_per_segment` (per
///   path-MTU segment on the wire, where the per-packet figures count GSO super-packets);
///   `parameters.backend_options` may carry `peer-datapath` and `daemon-program`.
/// - 11: a scale result's `swept`, `mem_available_before_bytes`, `timeout_ms`,
///   `until_fails`; a scale point's `variant` (every swept option's value) in place of
///   `topology`, and its `sessions_expected`, `sessions_dropped`,
///   `daemon_rss_bytes_per_node_max`/`_mean`, `daemon_wall_ms`, `mem_available_bytes` and
///   `limit`.
pub const SCHEMA_VERSION: u32 = 11;

/// The oldest result schema version this build reads (see [`SCHEMA_VERSION`]).
pub const OLDEST_SCHEMA_VERSION: u32 = 5;

/// Whether this build reads files of schema version `version`:
/// [`OLDEST_SCHEMA_VERSION`]`..=`[`SCHEMA_VERSION`].
pub fn reads_schema_version(version: u32) -> bool {
    (OLDEST_SCHEMA_VERSION..=SCHEMA_VERSION).contains(&version)
}

/// Everything one run did: the machine, the parameters, the namespaces it built, how long each
/// phase took, every conformance check and every measurement, and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// Version of this schema ([`SCHEMA_VERSION`] when written by this build).
    pub schema_version: u32,
    /// The run id, also part of every namespace name (`cnb-<run>-<role>`).
    pub run_id: String,
    /// When the run started, in milliseconds since the Unix epoch (UTC).
    pub started_unix_ms: u64,
    /// The machine the run happened on (for a VM run, the machine QEMU ran on).
    pub environment: Environment,
    /// Where the nodes lived: network namespaces on that machine, or QEMU VMs. When
    /// [`Substrate::emulated`], the figures compare behaviour, not speed, and are never
    /// compared with or divided by native ones. Required from schema version 5 on.
    pub substrate: Substrate,
    /// What was asked for.
    pub parameters: Parameters,
    /// The namespaces and devices that were built, in creation order.
    pub topology: Vec<NamespaceRecord>,
    /// How long each phase took.
    pub timings: Timings,
    /// Every conformance check, in the order it ran.
    pub checks: Vec<CheckRecord>,
    /// Every measurement, in the order it ran.
    pub measurements: Vec<MeasurementRecord>,
    /// The host-net baseline measured in the same session, if one was (ratios in each
    /// measurement's `vs_baseline`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Baseline>,
    /// Why the baseline is missing, when it was asked for and failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_error: Option<String>,
    /// Faults injected while probes ran (`cnbench fault`), in the order they ran.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<crate::fault::FaultRecord>,
    /// The software under test the backend ran that cnbench did not write (a CNI network and
    /// its plugins), as each described itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<crate::component::ComponentRecord>,
    /// Every invocation of a plugin the backend made (a CNI chain's verbs), in order, each
    /// with its wall time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plugin_calls: Vec<crate::plugin_call::PluginCallRecord>,
    /// Pod churn's settings and what the daemons held after each cycle (`cnbench churn`);
    /// its figures are the `churn` measurements, one per concurrency level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub churn: Option<crate::churn::ChurnRecord>,
    /// How the run ended; [`Outcome::Incomplete`] while it is still going.
    pub outcome: Outcome,
}

/// Measurements of the host-net baseline, taken in the same session as the run they belong
/// to, so every figure can be given as a ratio to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// The baseline's own run id.
    pub run_id: String,
    /// The backend measured (`host-net`).
    pub backend: String,
    /// Its topology in words (`2 nodes on an l2 underlay`).
    pub topology: String,
    /// Where its nodes lived; [`RunResult::apply_baseline`] refuses a baseline whose substrate
    /// is not [`Substrate::comparable_with`] the run's.
    pub substrate: Substrate,
    /// Its measurements.
    pub measurements: Vec<MeasurementRecord>,
}

/// One metric's median as a multiple of the baseline's median for the same workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricRatio {
    /// Metric name (`throughput_bps`).
    pub metric: String,
    /// This run's median divided by the baseline's median (dimensionless).
    pub ratio: f64,
}

impl RunResult {
    /// A result for a run that is starting now: schema version [`SCHEMA_VERSION`], start time
    /// from the system clock, outcome [`Outcome::Incomplete`], nothing built, checked or
    /// measured yet, and [`Substrate::netns`] with the kernel of `environment` as its
    /// substrate. A run on VMs sets [`RunResult::substrate`] (e.g. to [`Substrate::vm_tcg`])
    /// before the first write.
    pub fn new(
        run_id: impl Into<String>,
        environment: Environment,
        parameters: Parameters,
    ) -> Self {
        let started_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        RunResult {
            schema_version: SCHEMA_VERSION,
            run_id: run_id.into(),
            started_unix_ms,
            substrate: Substrate::netns(environment.kernel.clone()),
            environment,
            parameters,
            topology: Vec::new(),
            timings: Timings::default(),
            checks: Vec::new(),
            measurements: Vec::new(),
            baseline: None,
            baseline_error: None,
            faults: Vec::new(),
            components: Vec::new(),
            plugin_calls: Vec::new(),
            churn: None,
            outcome: Outcome::Incomplete,
        }
    }

    /// Records `baseline` and gives every metric of every measurement as a ratio to the
    /// baseline's median for the same workload.
    ///
    /// Refuses, leaving the result as it was, a baseline whose substrate is not
    /// [`Substrate::comparable_with`] the run's (an emulated VM baseline for a namespace run,
    /// or the other way round): record the error in [`RunResult::baseline_error`].
    pub fn apply_baseline(&mut self, baseline: Baseline) -> Result<(), BaselineSubstrateMismatch> {
        if !baseline.substrate.comparable_with(&self.substrate) {
            return Err(BaselineSubstrateMismatch {
                run_id: self.run_id.clone(),
                run: Box::new(self.substrate.clone()),
                baseline_run_id: baseline.run_id,
                backend: baseline.backend,
                baseline: Box::new(baseline.substrate),
            });
        }
        for m in &mut self.measurements {
            m.vs_baseline.clear();
            let Some(base) = baseline.measurements.iter().find(|b| b.same_case(m)) else {
                continue;
            };
            for s in &m.summary {
                if let Some(b) = base.summary_of(&s.metric) {
                    if b.median != 0.0 && b.median.is_finite() {
                        m.vs_baseline.push(MetricRatio {
                            metric: s.metric.clone(),
                            ratio: s.stats.median / b.median,
                        });
                    }
                }
            }
        }
        self.baseline = Some(baseline);
        Ok(())
    }

    /// True iff no check has outcome [`CheckOutcome::Fail`] (expected failures are fine).
    pub fn checks_passed(&self) -> bool {
        self.checks.iter().all(|c| c.outcome != CheckOutcome::Fail)
    }

    /// How many checks passed, failed, failed as expected, and did not apply.
    pub fn check_counts(&self) -> CheckCounts {
        let mut counts = CheckCounts::default();
        for check in &self.checks {
            match check.outcome {
                CheckOutcome::Pass => counts.passed += 1,
                CheckOutcome::Fail => counts.failed += 1,
                CheckOutcome::ExpectedFailure => counts.expected_failures += 1,
                CheckOutcome::NotApplicable => counts.not_applicable += 1,
            }
        }
        counts
    }
}

/// Number of checks by outcome (see [`RunResult::check_counts`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckCounts {
    /// Checks with outcome [`CheckOutcome::Pass`].
    pub passed: usize,
    /// Checks with outcome [`CheckOutcome::Fail`].
    pub failed: usize,
    /// Checks with outcome [`CheckOutcome::ExpectedFailure`].
    pub expected_failures: usize,
    /// Checks with outcome [`CheckOutcome::NotApplicable`].
    pub not_applicable: usize,
}

/// How a run ended. Serialized as an object tagged by `"status"`, e.g.
/// `{"status":"passed"}` or `{"status":"error","message":"..."}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Still running, or stopped without a chance to say why (the process died).
    #[default]
    Incomplete,
    /// Everything ran and every check passed or failed as expected.
    Passed,
    /// Everything ran, but at least one check failed.
    ChecksFailed,
    /// Stopped by the user (Ctrl-C) or a signal.
    Interrupted,
    /// Stopped by an error.
    Error {
        /// The error, as shown to the user.
        message: String,
    },
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Incomplete => f.write_str("incomplete"),
            Outcome::Passed => f.write_str("passed"),
            Outcome::ChecksFailed => f.write_str("checks failed"),
            Outcome::Interrupted => f.write_str("interrupted"),
            Outcome::Error { message } => write!(f, "error: {message}"),
        }
    }
}

/// What the run was asked to do (the validated command-line parameters).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parameters {
    /// Backend name, e.g. `"vxlan"`.
    pub backend: String,
    /// Number of nodes.
    pub nodes: u32,
    /// Number of pods on each node.
    pub pods_per_node: u32,
    /// Underlay kind: `"l2"` or `"l3"`.
    pub underlay: String,
    /// Pod network, as a CIDR string (e.g. `"100.96.0.0/16"`).
    pub pod_cidr: String,
    /// Underlay subnets, as CIDR strings (one for `l2`, two for `l3`).
    pub underlay_cidrs: Vec<String>,
    /// MTU of the underlay devices, in bytes.
    pub mtu: u32,
    /// Workloads to measure, e.g. `["tcp-stream", "tcp-rr"]`.
    pub workloads: Vec<String>,
    /// Measurement window of each repetition, in milliseconds.
    pub duration_ms: u64,
    /// Warm-up before each measurement window, in milliseconds.
    pub warmup_ms: u64,
    /// Repetitions of each workload.
    pub repeat: u32,
    /// CPU placement of client and server: `"same-cpu"` or `"cross-cpu"`.
    pub placement: String,
    /// Parallel connections of tcp-stream.
    #[serde(default = "one")]
    pub streams: u32,
    /// Message size asked for on the command line, in bytes; each workload's default when
    /// absent (the samples record the size used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_size_bytes: Option<u32>,
    /// The traffic generator: `cnbench`, `iperf3` or `sockperf`.
    #[serde(default = "cnbench_generator")]
    pub generator: String,
    /// The backend's datapath option (`faithful`, `batched`, `userspace`, ...), when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datapath: Option<String>,
    /// How BGP speakers peered (`mesh`, `rr`), for bgp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bgp_topology: Option<String>,
    /// Every backend-specific option in effect, by its flag name without the dashes' prefix
    /// (`datapath`, `bgp-topology`) and value (`userspace`, `rr`). Empty when the backend has
    /// none, and in files of schema version 5 (which only have `datapath` and
    /// `bgp_topology`). Added in schema version 6.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub backend_options: BTreeMap<String, String>,
    /// MTU of the l3 underlay's narrower second segment, in bytes (`--segment-mtu`); none
    /// when every link has `mtu`. Added in schema version 8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment_mtu_bytes: Option<u32>,
    /// The run's IP families: `ipv4`, `ipv6` or `dual` (`--ip-family`); every run of this
    /// version names it. Files before schema version 8 have none (read them with
    /// [`Parameters::ip_family`]: `ipv4`), and are written back as they were. Added in schema
    /// version 8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_family: Option<String>,
    /// Changes made inside the run's namespaces before the measurement (`--tweak`:
    /// `sysctl:KEY=VALUE`, `nft-rules:N`, `rate:BITS`, `extra-hop`); empty for none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tweaks: Vec<String>,
}

impl Parameters {
    /// The run's IP families, `ipv4` where the file has none.
    pub fn ip_family(&self) -> &str {
        self.ip_family.as_deref().unwrap_or("ipv4")
    }

    /// Records the backend options in effect: in [`Parameters::backend_options`], and in
    /// the two fields schema version 5 knew them by (`datapath`, `bgp_topology`), so readers
    /// of either version find them.
    pub fn set_backend_options(&mut self, options: BTreeMap<String, String>) {
        self.datapath = options.get("datapath").cloned();
        self.bgp_topology = options.get("bgp-topology").cloned();
        self.backend_options = options;
    }
}

/// Wall-clock duration of each phase of the run; absent for phases that did not run (yet).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timings {
    /// Building namespaces, devices, routes and daemons, in nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup_ns: Option<u64>,
    /// Running the conformance checks, in nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checks_ns: Option<u64>,
    /// Running all workloads, warm-ups included, in nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measure_ns: Option<u64>,
    /// Tearing everything down, in nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teardown_ns: Option<u64>,
}

pub(crate) fn cnbench_generator() -> String {
    "cnbench".into()
}

fn one() -> u32 {
    1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::full_result;

    #[test]
    fn new_result_is_incomplete_and_empty() {
        let r = RunResult::new("x1", Environment::default(), Parameters::default());
        assert_eq!(r.schema_version, SCHEMA_VERSION);
        assert_eq!(r.run_id, "x1");
        assert_eq!(r.outcome, Outcome::Incomplete);
        assert!(r.started_unix_ms > 1_600_000_000_000);
        assert!(r.topology.is_empty() && r.checks.is_empty() && r.measurements.is_empty());
        assert_eq!(r.timings, Timings::default());
        assert!(r.checks_passed());
        // Namespaces on this machine unless the harness says otherwise.
        let env = Environment {
            kernel: "6.8.0-45-generic".into(),
            ..Environment::default()
        };
        let r = RunResult::new("x2", env, Parameters::default());
        assert_eq!(r.substrate, Substrate::netns("6.8.0-45-generic"));
    }

    #[test]
    fn substrate_is_required_in_a_file() {
        let mut v = serde_json::to_value(full_result()).unwrap();
        v.as_object_mut().unwrap().remove("substrate");
        let err = serde_json::from_value::<RunResult>(v).unwrap_err();
        assert!(
            err.to_string().contains("missing field `substrate`"),
            "{err}"
        );
    }

    fn host_net_baseline(substrate: Substrate) -> Baseline {
        let r = full_result();
        Baseline {
            run_id: "cd34".into(),
            backend: "host-net".into(),
            topology: "2 nodes on an l2 underlay".into(),
            substrate,
            measurements: r.measurements,
        }
    }

    #[test]
    fn a_baseline_on_the_same_substrate_gives_ratios() {
        let mut r = full_result();
        r.substrate = Substrate::vm_tcg("6.1.0-56-cloud-amd64");
        r.apply_baseline(host_net_baseline(Substrate::vm_tcg("6.1.0-56-cloud-amd64")))
            .unwrap();
        assert_eq!(r.measurements[0].vs_baseline[0].ratio, 1.0);
        assert_eq!(r.baseline.as_ref().unwrap().run_id, "cd34");
    }

    #[test]
    fn a_baseline_on_another_substrate_is_refused() {
        let mut r = full_result();
        r.substrate = Substrate::vm_tcg("6.1.0-56-cloud-amd64");
        let before = r.clone();
        let err = r
            .apply_baseline(host_net_baseline(Substrate::netns("6.8.0-45-generic")))
            .unwrap_err();
        assert_eq!(r, before, "a refused baseline leaves the result as it was");
        assert_eq!(err.run_id, "ab12");
        assert_eq!(err.baseline_run_id, "cd34");
        let message = err.to_string();
        for part in [
            "the host-net baseline (run cd34) ran on netns (network namespaces, kernel \
             6.8.0-45-generic)",
            "run ab12 ran on vm (QEMU TCG emulation, kernel 6.1.0-56-cloud-amd64)",
            "measure the baseline on the run's substrate",
            "--no-baseline",
        ] {
            assert!(message.contains(part), "{part:?} missing from {message}");
        }
    }

    #[test]
    fn only_real_failures_fail_the_checks() {
        let mut r = full_result();
        assert!(!r.checks_passed());
        assert_eq!(
            r.check_counts(),
            CheckCounts {
                passed: 1,
                failed: 1,
                expected_failures: 1,
                not_applicable: 0
            }
        );
        r.checks.retain(|c| c.outcome != CheckOutcome::Fail);
        assert!(r.checks_passed());
        // A check that did not apply is counted apart, and fails nothing.
        r.checks
            .push(crate::fixtures::not_applicable_check(&r.run_id));
        assert!(r.checks_passed());
        assert_eq!(r.check_counts().not_applicable, 1);
        assert_eq!(r.check_counts().passed, 1);
    }

    #[test]
    fn stream_metrics() {
        let s = Sample::TcpStream(TcpStreamSample {
            streams: 1,
            message_size_bytes: 1000,
            bytes_received: 1_250_000_000,
            window_ns: 1_000_000_000,
            throughput_bps: 1e10,
        });
        assert_eq!(s.workload(), "tcp-stream");
        assert_eq!(s.metrics(), vec![("throughput_bps", 1e10)]);
    }

    #[test]
    fn rr_metrics() {
        let r = full_result();
        let s = &r.measurements[1].repetitions[0];
        assert_eq!(s.workload(), "tcp-rr");
        assert_eq!(
            s.metrics(),
            vec![
                ("transactions_per_s", 41_234.0),
                ("rtt_p50_ns", 21_300.0),
                ("rtt_p90_ns", 30_000.0),
                ("rtt_p99_ns", 45_000.0),
                ("rtt_p999_ns", 90_000.0),
                ("rtt_max_ns", 1_200_000.0),
                ("rtt_mean_ns", 24_250.5),
            ]
        );
    }

    #[test]
    fn summarize_fills_one_summary_per_metric() {
        let r = full_result();
        let stream = &r.measurements[0];
        assert_eq!(stream.summary.len(), 1);
        let s = stream.summary_of("throughput_bps").unwrap();
        assert_eq!((s.n, s.median, s.min, s.max), (3, 18.42e9, 12.5e9, 19.0e9));
        let rr = &r.measurements[1];
        let names: Vec<&str> = rr.summary.iter().map(|s| s.metric.as_str()).collect();
        assert_eq!(
            names,
            [
                "transactions_per_s",
                "rtt_p50_ns",
                "rtt_p90_ns",
                "rtt_p99_ns",
                "rtt_p999_ns",
                "rtt_max_ns",
                "rtt_mean_ns"
            ]
        );
        assert_eq!(rr.summary_of("rtt_p50_ns").unwrap().median, 21_400.0);
        assert_eq!(rr.summary_of("nope"), None);
    }

    #[test]
    fn json_round_trip_keeps_every_field() {
        let r = full_result();
        let json = serde_json::to_string_pretty(&r).unwrap();
        let back: RunResult = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn plugin_calls_and_checks_that_do_not_apply_round_trip() {
        let r = crate::fixtures::cni_result();
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["checks"][3]["outcome"], "not_applicable");
        assert_eq!(v["plugin_calls"].as_array().unwrap().len(), 27);
        assert_eq!(
            v["plugin_calls"][0],
            serde_json::json!({"pod": "-", "node": "n0", "plugin": "bridge",
                "verb": "VERSION", "wall_ns": 1_520_000, "outcome": "ok"})
        );
        let back: RunResult = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
        // None recorded: the field is left out, and read as none.
        let v = serde_json::to_value(full_result()).unwrap();
        assert!(v.get("plugin_calls").is_none());
    }

    #[test]
    fn serialized_shape() {
        let r = full_result();
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["schema_version"], 11);
        assert_eq!(v["parameters"]["ip_family"], "ipv4");
        assert_eq!(
            v["substrate"],
            serde_json::json!({
                "kind": "netns",
                "emulated": false,
                "kernel_release": "6.8.0-45-generic",
                "accel": ""
            })
        );
        assert_eq!(v["outcome"], serde_json::json!({"status": "checks_failed"}));
        assert_eq!(v["checks"][0]["outcome"], "pass");
        assert_eq!(v["checks"][2]["outcome"], "expected_failure");
        // None is left out, not written as null.
        assert!(v["checks"][0].get("reason").is_none());
        assert!(v["topology"][0].get("node").is_none());
        assert!(v["topology"][0]["devices"][1].get("mac").is_none());
        let rep = &v["measurements"][0]["repetitions"][0];
        assert_eq!(rep["workload"], "tcp-stream");
        assert_eq!(rep["throughput_bps"], 18.42e9);
        assert_eq!(v["measurements"][1]["repetitions"][0]["workload"], "tcp-rr");
        assert_eq!(
            v["measurements"][0]["summary"][0]["metric"],
            "throughput_bps"
        );
        assert_eq!(v["measurements"][0]["summary"][0]["stats"]["n"], 3);

        let compact = |o: &Outcome| serde_json::to_string(o).unwrap();
        assert_eq!(compact(&Outcome::Passed), r#"{"status":"passed"}"#);
        assert_eq!(
            compact(&Outcome::Interrupted),
            r#"{"status":"interrupted"}"#
        );
        assert_eq!(
            compact(&Outcome::Error {
                message: "boom".into()
            }),
            r#"{"status":"error","message":"boom"}"#
        );
        let t = serde_json::to_string(&Timings {
            setup_ns: Some(5),
            ..Timings::default()
        })
        .unwrap();
        assert_eq!(t, r#"{"setup_ns":5}"#);
    }

    #[test]
    fn non_finite_figures_read_back_as_nan() {
        let mut r = full_result();
        if let Sample::TcpStream(s) = &mut r.measurements[0].repetitions[0] {
            s.throughput_bps = f64::INFINITY;
        }
        let json = serde_json::to_string(&r).unwrap();
        let back: RunResult = serde_json::from_str(&json).unwrap();
        match &back.measurements[0].repetitions[0] {
            Sample::TcpStream(s) => assert!(s.throughput_bps.is_nan()),
            other => panic!("wrong sample {other:?}"),
        }
    }
}
