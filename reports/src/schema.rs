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

use serde::{Deserialize, Deserializer, Serialize};

use crate::environment::Environment;
use crate::stats::Stats;
use crate::substrate::{BaselineSubstrateMismatch, Substrate};

/// Version of the result schema this build writes. Every version from [`OLDEST_SCHEMA_VERSION`]
/// up to this one is read ([`crate::read_result`], [`crate::read_scale`], and so `compare` and
/// `report`): versions since then only added fields, each with a default, so a gate baseline
/// committed by a user survives an upgrade. Files of any other version are refused.
///
/// - 5: the substrate (`substrate`) is required.
/// - 6: `parameters.backend_options`; `faults[].probe_clocks`.
pub const SCHEMA_VERSION: u32 = 6;

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

    /// How many checks passed, failed, and failed as expected.
    pub fn check_counts(&self) -> CheckCounts {
        let mut counts = CheckCounts::default();
        for check in &self.checks {
            match check.outcome {
                CheckOutcome::Pass => counts.passed += 1,
                CheckOutcome::Fail => counts.failed += 1,
                CheckOutcome::ExpectedFailure => counts.expected_failures += 1,
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
}

fn cnbench_generator() -> String {
    "cnbench".into()
}

fn one() -> u32 {
    1
}

/// One network namespace the run built, with its devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceRecord {
    /// Namespace name, `cnb-<run>-<role>`.
    pub name: String,
    /// What it plays: `"switch"`, `"router"`, `"node"` or `"pod"`.
    pub role: String,
    /// For a pod, the namespace name of its node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Its network devices (loopback left out).
    pub devices: Vec<DeviceRecord>,
}

/// One network device in a namespace, as the kernel reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    /// Interface name, e.g. `"eth0"`, `"cni0"`, `"flannel.1"`.
    pub name: String,
    /// Link kind, e.g. `"veth"`, `"bridge"`, `"vxlan"`, `"tun"`.
    pub kind: String,
    /// MAC address (`"02:42:ac:11:00:02"`); absent for devices without one (TUN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// Addresses as CIDR strings, e.g. `"10.168.0.1/24"`.
    pub addresses: Vec<String>,
    /// MTU in bytes.
    pub mtu_bytes: u32,
    /// The device it is enslaved to (e.g. the bridge a veth is attached to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master: Option<String>,
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

/// Verdict of a check. Serialized as `"pass"`, `"fail"` or `"expected_failure"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckOutcome {
    /// Actual matches expected.
    Pass,
    /// Actual differs from expected.
    Fail,
    /// Failed, and the backend declares that it must (e.g. host-gw across an l3 underlay).
    ExpectedFailure,
}

impl CheckOutcome {
    /// Short label for human output: `"PASS"`, `"FAIL"` or `"XFAIL"`.
    pub fn label(self) -> &'static str {
        match self {
            CheckOutcome::Pass => "PASS",
            CheckOutcome::Fail => "FAIL",
            CheckOutcome::ExpectedFailure => "XFAIL",
        }
    }
}

impl fmt::Display for CheckOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

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

/// What one repetition cost: CPU, syscalls and user/kernel crossings per packet, per role and
/// for the whole machine, device transmissions per packet, and the kernel's error counters.
///
/// "The workload's packets" and "bytes" are those through the client pod's `eth0`, sent plus
/// received, over the repetition (warm-up included): every packet of the workload crosses it
/// exactly once. Per-packet figures divide by them unless a field says otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostSample {
    /// One entry per role process (client, server, each datapath daemon, BIRD).
    pub roles: Vec<RoleCost>,
    /// How long the counters ran, in nanoseconds.
    #[serde(default)]
    pub interval_ns: u64,
    /// Whether the tracepoint counters ran (syscalls, crossings, device transmissions); an
    /// untraced repetition leaves those figures out.
    #[serde(default)]
    pub traced: bool,
    /// The workload's packets: sent plus received on the client pod's `eth0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packets: Option<u64>,
    /// The workload's bytes: sent plus received on the client pod's `eth0` (layer 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// CPU of the whole machine during the repetition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<MachineCost>,
    /// Why `machine` is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_unavailable: Option<String>,
    /// Transmissions by any device with the name of one of the run's devices
    /// (tracepoint `net:net_dev_xmit`, every CPU, filtered by device name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_xmits: Option<u64>,
    /// `device_xmits / packets`: how many devices a packet is transmitted by on its way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_xmits_per_packet: Option<f64>,
    /// Why the tracepoint figures are missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_xmits_unavailable: Option<String>,
    /// Cross-check of `device_xmits_per_packet` from the run's own device counters: packets
    /// sent by every device in every namespace of the run, divided by `packets`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_tx_per_packet: Option<f64>,
    /// The kernel's SNMP error counters, summed over the namespaces of the client, the server
    /// and their nodes, as changes during the repetition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<KernelCounters>,
    /// Why `kernel` is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_unavailable: Option<String>,
    /// User/kernel crossings a packet takes on the sending (client's) node: the client's
    /// data-moving syscalls per packet plus, for a userspace datapath, its node's daemon's.
    /// The article's claim for flannel UDP mode is 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sending_node_crossings_per_packet: Option<f64>,
    /// The same on the receiving (server's) node: the server's plus its node's daemon's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiving_node_crossings_per_packet: Option<f64>,
    /// Why syscall counts are missing, when they are (never reported as zero).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syscalls_unavailable: Option<String>,
    /// How the figures were obtained.
    pub method: String,
}

/// CPU time of the whole machine during one repetition, from `/proc/stat` (all CPUs; clock
/// ticks of 10 ms, so about ±10 ms per CPU).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MachineCost {
    /// CPUs counted.
    pub cpus: u32,
    /// Busy time over all CPUs (user, nice, system, irq, softirq), in nanoseconds.
    pub busy_ns: u64,
    /// Of that, time in softirq (where most packet processing happens), in nanoseconds.
    pub softirq_ns: u64,
    /// Busy time not accounted to the run's role processes or to softirq: other programs
    /// and kernel threads, in nanoseconds. A large value means a disturbed repetition. An
    /// estimate: without `CONFIG_IRQ_TIME_ACCOUNTING`, packet work that ksoftirqd does for
    /// the run counts here too; with it, softirq time that ran inside a role is subtracted
    /// twice.
    pub outside_roles_ns: u64,
    /// `busy / bytes`, in CPU seconds per GB (10^9 bytes) of the workload's bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_s_per_gb: Option<f64>,
    /// `busy / packets`, in CPU seconds per million of the workload's packets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_s_per_mpacket: Option<f64>,
}

/// Changes of the kernel's SNMP counters (`/proc/net/snmp`) during one repetition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelCounters {
    /// Namespaces read.
    pub namespaces: Vec<String>,
    /// `Tcp: RetransSegs`: TCP segments retransmitted.
    pub tcp_retrans_segs: u64,
    /// `Udp: InErrors`: UDP datagrams that could not be delivered (includes buffer errors).
    pub udp_in_errors: u64,
    /// `Udp: RcvbufErrors`: UDP datagrams dropped because a socket's receive buffer was full.
    pub udp_rcvbuf_errors: u64,
    /// `Udp: SndbufErrors`: UDP sends that failed for lack of buffer.
    pub udp_sndbuf_errors: u64,
    /// `Udp: NoPorts`: UDP datagrams to a port nobody listens on.
    pub udp_no_ports: u64,
}

/// The cost of one role process during one repetition (warm-up included).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleCost {
    /// `client`, `server`, or `daemon n0`.
    pub role: String,
    /// Namespace it ran in.
    pub netns: String,
    /// Its pid.
    pub pid: u32,
    /// CPU time it used, in nanoseconds (all its threads, from `/proc/<pid>/schedstat`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_ns: Option<u64>,
    /// Syscalls it entered (tracepoint `raw_syscalls:sys_enter`, filtered by its threads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syscalls: Option<u64>,
    /// Of those, the ones that move packet data across the user/kernel boundary (read,
    /// write, send*, recv* and their vector and batch forms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_syscalls: Option<u64>,
    /// Packets on the device it moves packets through (the pod's `eth0`, or the daemon's
    /// TUN), sent plus received.
    pub packets: u64,
    /// `syscalls / packets`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syscalls_per_packet: Option<f64>,
    /// `data_syscalls / packets`: user/kernel crossings per packet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crossings_per_packet: Option<f64>,
    /// `cpu / the workload's bytes`, in CPU seconds per GB (10^9 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_s_per_gb: Option<f64>,
    /// `cpu / the workload's packets`, in CPU seconds per million packets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_s_per_mpacket: Option<f64>,
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

/// The figures of one repetition. Serialized flat, tagged by `"workload"`:
/// `{"workload":"tcp-stream","streams":1,...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "workload", rename_all = "kebab-case")]
pub enum Sample {
    /// A `tcp-stream` repetition.
    TcpStream(TcpStreamSample),
    /// A `udp-stream` repetition.
    UdpStream(UdpStreamSample),
    /// A `tcp-rr` repetition.
    TcpRr(RrSample),
    /// A `udp-rr` repetition.
    UdpRr(RrSample),
    /// A `tcp-crr` repetition (connect, request, response, close; the latency is that of the
    /// whole transaction).
    TcpCrr(RrSample),
}

impl Sample {
    /// The workload name of this sample: `"tcp-stream"`, `"udp-stream"`, `"tcp-rr"`,
    /// `"udp-rr"` or `"tcp-crr"`.
    pub fn workload(&self) -> &'static str {
        match self {
            Sample::TcpStream(_) => "tcp-stream",
            Sample::UdpStream(_) => "udp-stream",
            Sample::TcpRr(_) => "tcp-rr",
            Sample::UdpRr(_) => "udp-rr",
            Sample::TcpCrr(_) => "tcp-crr",
        }
    }

    /// The headline figures by metric name (the name carries the unit): `throughput_bps` for
    /// tcp-stream; `packets_per_s`, `throughput_bps` and `loss_percent` for udp-stream;
    /// `transactions_per_s`, `rtt_p50_ns`, `rtt_p90_ns`, `rtt_p99_ns`, `rtt_p999_ns`,
    /// `rtt_max_ns` and `rtt_mean_ns` for the request/response workloads.
    pub fn metrics(&self) -> Vec<(&'static str, f64)> {
        match self {
            Sample::TcpStream(s) => vec![("throughput_bps", s.throughput_bps)],
            Sample::UdpStream(s) => vec![
                ("packets_per_s", s.packets_per_s),
                ("throughput_bps", s.throughput_bps),
                ("loss_percent", s.loss_percent),
            ],
            Sample::TcpRr(s) | Sample::UdpRr(s) | Sample::TcpCrr(s) => vec![
                ("transactions_per_s", s.transactions_per_s),
                ("rtt_p50_ns", s.rtt_p50_ns as f64),
                ("rtt_p90_ns", s.rtt_p90_ns as f64),
                ("rtt_p99_ns", s.rtt_p99_ns as f64),
                ("rtt_p999_ns", s.rtt_p999_ns as f64),
                ("rtt_max_ns", s.rtt_max_ns as f64),
                ("rtt_mean_ns", s.rtt_mean_ns),
            ],
        }
    }

    /// Whether a larger value of `metric` is better (throughput) or worse (latency, loss);
    /// `None` for a metric this schema does not know.
    pub fn higher_is_better(metric: &str) -> Option<bool> {
        match metric {
            "throughput_bps" | "packets_per_s" | "transactions_per_s" => Some(true),
            "loss_percent" | "rtt_p50_ns" | "rtt_p90_ns" | "rtt_p99_ns" | "rtt_p999_ns"
            | "rtt_max_ns" | "rtt_mean_ns" => Some(false),
            _ => None,
        }
    }
}

/// One udp-stream repetition: datagrams of one size sent as fast as the client can, counted at
/// the server during its measurement window (warm-up excluded).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UdpStreamSample {
    /// UDP payload of each datagram, in bytes.
    pub message_size_bytes: u32,
    /// Datagrams the client sent during its own measurement window.
    pub packets_sent: u64,
    /// Datagrams received by the server during its measurement window.
    pub packets_received: u64,
    /// Payload bytes received by the server during its measurement window.
    pub bytes_received: u64,
    /// Length of the server's measurement window, in nanoseconds.
    pub window_ns: u64,
    /// `packets_received / window`, in datagrams per second.
    #[serde(deserialize_with = "f64_or_nan")]
    pub packets_per_s: f64,
    /// `bytes_received × 8 / window` (UDP payload), in bits per second.
    #[serde(deserialize_with = "f64_or_nan")]
    pub throughput_bps: f64,
    /// Of the datagrams sent in the client's window, the share never received, in percent.
    #[serde(deserialize_with = "f64_or_nan")]
    pub loss_percent: f64,
}

/// One tcp-stream repetition: bulk transfer over `streams` connections, counted at the server
/// during the measurement window (warm-up excluded).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TcpStreamSample {
    /// Number of parallel TCP connections.
    pub streams: u32,
    /// Size of each `send`, in bytes.
    pub message_size_bytes: u32,
    /// Payload bytes received by the server during the window, all streams together.
    pub bytes_received: u64,
    /// Length of the measurement window, in nanoseconds.
    pub window_ns: u64,
    /// Goodput, `bytes_received × 8 / window`, in bits per second.
    #[serde(deserialize_with = "f64_or_nan")]
    pub throughput_bps: f64,
}

/// One request/response repetition (tcp-rr, udp-rr, tcp-crr): one transaction at a time;
/// every transaction's round trip is recorded (HdrHistogram) during the measurement window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RrSample {
    /// Size of the request and of the response, in bytes.
    pub message_size_bytes: u32,
    /// Requests that got no response within the retry timeout and were sent again (udp-rr
    /// only; TCP retransmits for itself, so always 0 there).
    #[serde(default)]
    pub timeouts: u64,
    /// Completed transactions during the window.
    pub transactions: u64,
    /// Length of the measurement window, in nanoseconds.
    pub window_ns: u64,
    /// `transactions / window`, in transactions per second.
    #[serde(deserialize_with = "f64_or_nan")]
    pub transactions_per_s: f64,
    /// Shortest round trip, in nanoseconds.
    pub rtt_min_ns: u64,
    /// Mean round trip, in nanoseconds.
    #[serde(deserialize_with = "f64_or_nan")]
    pub rtt_mean_ns: f64,
    /// Median round trip, in nanoseconds.
    pub rtt_p50_ns: u64,
    /// 90th percentile round trip, in nanoseconds.
    pub rtt_p90_ns: u64,
    /// 99th percentile round trip, in nanoseconds.
    pub rtt_p99_ns: u64,
    /// 99.9th percentile round trip, in nanoseconds.
    pub rtt_p999_ns: u64,
    /// Longest round trip, in nanoseconds.
    pub rtt_max_ns: u64,
}

/// Statistics of one headline metric over the repetitions of a measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricSummary {
    /// Metric name, with its unit, e.g. `"throughput_bps"` (see [`Sample::metrics`]).
    pub metric: String,
    /// Statistics, in the unit of the metric.
    pub stats: Stats,
}

/// Reads an `f64` that may have been written as `null`.
///
/// serde_json writes NaN and infinities as `null`. Without this, one division by a zero-length
/// window would make a whole result file unreadable; with it the figure reads back as NaN.
pub(crate) fn f64_or_nan<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::NAN))
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
                expected_failures: 1
            }
        );
        r.checks.retain(|c| c.outcome != CheckOutcome::Fail);
        assert!(r.checks_passed());
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
    fn serialized_shape() {
        let r = full_result();
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["schema_version"], 6);
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
