//! Pod churn (`cnbench churn`): pods added to and removed from a standing topology, C at a
//! time, cycle after cycle. One [`ChurnSample`] per cycle is a repetition of the measurement
//! of one concurrency level (workload `churn`, variant `concurrency C`), so `compare` gives
//! its headline metrics verdicts like any other; every pod's own times are kept for the
//! time-to-reachable distribution. What the cycles cost the daemons over time is in
//! [`ChurnRecord`].

use serde::{Deserialize, Serialize};

use crate::stats::percentile_sorted;

/// The measurement's workload name.
pub const CHURN_WORKLOAD: &str = "churn";

/// The variant of a concurrency level: `concurrency 8`.
pub fn variant(concurrency: u32) -> String {
    format!("concurrency {concurrency}")
}

/// One cycle at one concurrency level: `pods` pods added `concurrency` at a time, spread over
/// the nodes, each polled until it answered from a pod on another node and one on its own
/// node, then removed the same way and polled until it stopped answering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChurnSample {
    /// Pods added (and removed) in the cycle.
    pub pods: u32,
    /// Adds issued at once: the pods were added in batches of this many.
    pub concurrency: u32,
    /// Pods whose add failed (each also a failed check); they have no times.
    #[serde(default)]
    pub failed_adds: u32,
    /// Pods that did not answer from another node within the reachability limit.
    #[serde(default)]
    pub never_reachable: u32,
    /// From the first add issued until the last pod was wired, in nanoseconds.
    pub add_window_ns: u64,
    /// Pods wired per second over `add_window_ns`.
    #[serde(deserialize_with = "crate::schema::f64_or_nan")]
    pub pods_per_s: f64,
    /// From the first removal issued until the last pod was removed, in nanoseconds.
    pub remove_window_ns: u64,
    /// Pods removed per second over `remove_window_ns`.
    #[serde(deserialize_with = "crate::schema::f64_or_nan")]
    pub removed_per_s: f64,
    /// CPU time of this process (the harness: planning, namespaces, netlink, probing) over
    /// the cycle, per pod, in nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_harness_ns_per_pod: Option<f64>,
    /// CPU time of the run's daemons (datapath daemons, BGP speakers) over the cycle, per
    /// pod, in nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_daemons_ns_per_pod: Option<f64>,
    /// CPU time of the whole machine (every CPU, softirq included) over the cycle, per pod,
    /// in nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_machine_ns_per_pod: Option<f64>,
    /// CPU time of each kind of daemon over the cycle (`bird`, `flannel-udp daemon`), per
    /// pod, in nanoseconds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cpu_by_daemon: Vec<DaemonCpu>,
    /// Every pod's times, in the order the adds were issued.
    pub times: Vec<PodTimes>,
}

/// CPU time of the daemons of one kind over a cycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaemonCpu {
    /// What they are (`bird`), as the supervisor names them without the node.
    pub what: String,
    /// Their CPU time over the cycle, per pod, in nanoseconds.
    #[serde(deserialize_with = "crate::schema::f64_or_nan")]
    pub ns_per_pod: f64,
}

/// One pod's times in one cycle, each from the moment its add (or removal) was issued, in
/// nanoseconds; absent when it did not happen within the limit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PodTimes {
    /// The pod's node.
    pub node: u32,
    /// Until the add returned: namespace made, wired by the backend (a CNI ADD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wired_ns: Option<u64>,
    /// Until the first answered echo from the observer pod on another node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reachable_ns: Option<u64>,
    /// Until the first answered echo from the observer pod on its own node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reachable_same_node_ns: Option<u64>,
    /// Until the removal returned: unwired (a CNI DEL), namespace deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed_ns: Option<u64>,
    /// Until the observer on another node sent the first echo of those that stayed
    /// unanswered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreachable_ns: Option<u64>,
    /// Until the observer's node no longer had a host route (/32) to the pod: the
    /// control plane's withdrawal. Absent where the other nodes never had one (a block per
    /// node is routed instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawn_ns: Option<u64>,
}

impl ChurnSample {
    /// The headline figures by metric name (units in the names): pods per second added and
    /// removed, and the p50/p99 of time until wired, until reachable (from another node and
    /// from the same node), until removed, until unreachable and until withdrawn, and the
    /// CPU per pod. A figure no pod has is left out.
    pub fn metrics(&self) -> Vec<(&'static str, f64)> {
        let mut m = vec![
            ("pods_per_s", self.pods_per_s),
            ("removed_per_s", self.removed_per_s),
        ];
        type Field = fn(&PodTimes) -> Option<u64>;
        let fields: [(Field, &'static str, &'static str); 6] = [
            (|t| t.wired_ns, "wired_p50_ns", "wired_p99_ns"),
            (|t| t.reachable_ns, "reachable_p50_ns", "reachable_p99_ns"),
            (
                |t| t.reachable_same_node_ns,
                "reachable_same_node_p50_ns",
                "reachable_same_node_p99_ns",
            ),
            (|t| t.removed_ns, "removed_p50_ns", "removed_p99_ns"),
            (
                |t| t.unreachable_ns,
                "unreachable_p50_ns",
                "unreachable_p99_ns",
            ),
            (|t| t.withdrawn_ns, "withdrawn_p50_ns", "withdrawn_p99_ns"),
        ];
        for (field, p50, p99) in fields {
            let sorted = self.sorted(field);
            if let (Some(a), Some(b)) = (
                percentile_sorted(&sorted, 50.0),
                percentile_sorted(&sorted, 99.0),
            ) {
                m.push((p50, a));
                m.push((p99, b));
            }
        }
        for (name, v) in [
            ("cpu_harness_ns_per_pod", self.cpu_harness_ns_per_pod),
            ("cpu_daemons_ns_per_pod", self.cpu_daemons_ns_per_pod),
            ("cpu_machine_ns_per_pod", self.cpu_machine_ns_per_pod),
        ] {
            if let Some(v) = v {
                m.push((name, v));
            }
        }
        m
    }

    /// One time of every pod that has it, in nanoseconds, sorted.
    pub fn sorted(&self, field: fn(&PodTimes) -> Option<u64>) -> Vec<f64> {
        let mut v: Vec<f64> = self
            .times
            .iter()
            .filter_map(field)
            .map(|t| t as f64)
            .collect();
        v.sort_by(f64::total_cmp);
        v
    }

    /// Whether a larger value of churn metric `metric` is better; `None` for a metric that
    /// is not one of [`ChurnSample::metrics`].
    pub fn higher_is_better(metric: &str) -> Option<bool> {
        match metric {
            "pods_per_s" | "removed_per_s" => Some(true),
            m if m.starts_with("cpu_") && m.ends_with("_ns_per_pod") => Some(false),
            m if m.ends_with("_p50_ns") || m.ends_with("_p99_ns") => [
                "wired_",
                "reachable_",
                "reachable_same_node_",
                "removed_",
                "unreachable_",
                "withdrawn_",
            ]
            .iter()
            .any(|p| m.starts_with(p))
            .then_some(false),
            _ => None,
        }
    }
}

/// What a churn run did beyond its measurements: its settings, and what every daemon held
/// after each cycle (flat across cycles, or a leak).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChurnRecord {
    /// Pods added and removed per cycle.
    pub pods: u32,
    /// Cycles per concurrency level.
    pub cycles: u32,
    /// The concurrency levels, in the order they ran.
    pub concurrency: Vec<u32>,
    /// How often each pod waiting for an answer (or for silence) was probed, in
    /// nanoseconds.
    pub probe_interval_ns: u64,
    /// How long a pod gets to answer (and to stop answering) before it counts as never
    /// reachable (unreachable), in nanoseconds.
    pub reach_limit_ns: u64,
    /// What each daemon held after each cycle, in the order they ran.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub daemons: Vec<DaemonUsage>,
}

/// Open file descriptors and resident memory of one daemon after each cycle.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DaemonUsage {
    /// What it is, with its node (`bird n1`).
    pub what: String,
    /// Its process id (on its machine).
    pub pid: u32,
    /// Open file descriptors after each cycle (the first before any).
    pub fds: Vec<u64>,
    /// Resident memory (`VmRSS`) after each cycle (the first before any), in bytes.
    pub rss_bytes: Vec<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(wired: &[u64]) -> ChurnSample {
        ChurnSample {
            pods: wired.len() as u32,
            concurrency: 1,
            failed_adds: 0,
            never_reachable: 0,
            add_window_ns: 1,
            pods_per_s: 100.0,
            remove_window_ns: 1,
            removed_per_s: 50.0,
            cpu_harness_ns_per_pod: Some(3.0),
            cpu_daemons_ns_per_pod: None,
            cpu_machine_ns_per_pod: None,
            cpu_by_daemon: Vec::new(),
            times: wired
                .iter()
                .map(|&w| PodTimes {
                    wired_ns: Some(w),
                    ..PodTimes::default()
                })
                .collect(),
        }
    }

    #[test]
    fn metrics_leave_out_what_no_pod_has() {
        let s = sample(&[3, 1, 2]);
        let m = s.metrics();
        let names: Vec<&str> = m.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "pods_per_s",
                "removed_per_s",
                "wired_p50_ns",
                "wired_p99_ns",
                "cpu_harness_ns_per_pod"
            ]
        );
        assert_eq!(m[2].1, 2.0);
        for (name, _) in &m {
            assert!(ChurnSample::higher_is_better(name).is_some(), "{name}");
        }
        assert_eq!(ChurnSample::higher_is_better("pods_per_s"), Some(true));
        assert_eq!(ChurnSample::higher_is_better("wired_p99_ns"), Some(false));
        assert_eq!(ChurnSample::higher_is_better("rtt_p50_ns"), None);
    }

    #[test]
    fn samples_round_trip() {
        let s = sample(&[5]);
        let text = serde_json::to_string(&s).unwrap();
        assert!(
            !text.contains("reachable_ns"),
            "absent times are left out: {text}"
        );
        assert_eq!(serde_json::from_str::<ChurnSample>(&text).unwrap(), s);
    }
}
