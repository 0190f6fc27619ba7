//! Control-plane scale results: one point per (variant, node count), a variant being one
//! value of each backend option the sweep varied (bgp: `bgp-topology` × `bgp-announce`), so
//! convergence, sessions, routes, daemon CPU and memory can be plotted against N per variant,
//! and the size at which a variant stopped converging is named with its reason.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::environment::Environment;
use crate::schema::SCHEMA_VERSION;
use crate::substrate::Substrate;

/// The result of `cnbench scale`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScaleResult {
    /// Version of this schema.
    pub schema_version: u32,
    /// Always `"scale"`, to tell this file from a run result.
    pub kind: String,
    /// When it started, in milliseconds since the Unix epoch.
    pub started_unix_ms: u64,
    /// The machine (for VM nodes, the machine QEMU ran on).
    pub environment: Environment,
    /// Where the nodes lived. Under emulation ([`Substrate::emulated`]) convergence times and
    /// CPU figures compare behaviour, not speed, and are reported apart from native ones.
    pub substrate: Substrate,
    /// The backend scaled (`bgp`).
    pub backend: String,
    /// Underlay of the nodes (`l2`, `l3`).
    pub underlay: String,
    /// The runs' IP families (`ipv4`, `ipv6`, `dual`); none in files before schema version 8
    /// (`ipv4`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_family: Option<String>,
    /// The backend options every point had, defaults resolved (`bgp-announce: pod`); the
    /// options the sweep varies are each point's [`ScalePoint::variant`] (before schema
    /// version 11, [`ScalePoint::topology`]). Empty in files written before schema version 7.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub backend_options: BTreeMap<String, String>,
    /// The backend options the sweep varied, in the order their values were combined
    /// (`["bgp-topology", "bgp-announce"]`). Empty in files before schema version 11, whose
    /// sweep varied `bgp-topology` only (see [`ScalePoint::options`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub swept: Vec<String>,
    /// The machine's `MemAvailable` (`/proc/meminfo`) before the first point, in bytes: what
    /// the nodes of one variant may use; divided by a point's
    /// [`ScalePoint::daemon_rss_bytes_per_node_mean`] it gives the largest N memory allows
    /// ([`ScaleResult::nodes_memory_allows`]). Added in schema version 11.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_available_before_bytes: Option<u64>,
    /// The limit on convergence of every point, in milliseconds (`--timeout`). Added in
    /// schema version 11.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<f64>,
    /// Whether each variant's curve stopped at its first size that did not converge
    /// (`--until-fails`): its last point is then the limit, with [`ScalePoint::limit`] saying
    /// why. Added in schema version 11.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub until_fails: bool,
    /// One point per variant and size, in the order they ran.
    pub points: Vec<ScalePoint>,
}

impl ScaleResult {
    /// An empty result that starts now, its substrate [`Substrate::netns`] with the kernel of
    /// `environment`; a scale run on VMs sets [`ScaleResult::substrate`] before the first write.
    pub fn new(environment: Environment, backend: &str, underlay: &str) -> ScaleResult {
        ScaleResult {
            schema_version: SCHEMA_VERSION,
            kind: "scale".into(),
            ip_family: Some("ipv4".into()),
            started_unix_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
            substrate: Substrate::netns(environment.kernel.clone()),
            environment,
            backend: backend.into(),
            underlay: underlay.into(),
            backend_options: Default::default(),
            swept: Vec::new(),
            mem_available_before_bytes: None,
            timeout_ms: None,
            until_fails: false,
            points: Vec::new(),
        }
    }

    /// The largest node count the memory available before the sweep
    /// ([`ScaleResult::mem_available_before_bytes`]) holds at `p`'s memory per node
    /// ([`ScalePoint::daemon_rss_bytes_per_node_mean`]): the daemons' resident memory only,
    /// not the kernel's for namespaces, devices and routes.
    pub fn nodes_memory_allows(&self, p: &ScalePoint) -> Option<u64> {
        let per_node = p.daemon_rss_bytes_per_node_mean.filter(|b| *b > 0.0)?;
        Some((self.mem_available_before_bytes? as f64 / per_node).floor() as u64)
    }

    /// The swept options whose value differs between this result's points, in sweep order
    /// (what tells one curve from another).
    pub fn varied(&self) -> Vec<String> {
        let options: Vec<BTreeMap<String, String>> =
            self.points.iter().map(ScalePoint::options).collect();
        let mut names: Vec<String> = self.swept.clone();
        for o in &options {
            for k in o.keys() {
                if !names.contains(k) {
                    names.push(k.clone());
                }
            }
        }
        names
            .into_iter()
            .filter(|k| {
                let first = options.first().and_then(|o| o.get(k));
                options.iter().any(|o| o.get(k) != first)
            })
            .collect()
    }
}

/// Why a point did not converge within the time limit: the first of these that the point's
/// measurements show, in this order (see `harness::scale::classify`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitReason {
    /// The machine ran short of memory: `MemAvailable` fell below a twentieth of the
    /// machine's memory.
    Memory,
    /// Sessions that were Established dropped again: a speaker's hold timer expired, its
    /// peer's keepalives having not arrived (or not been read) in time.
    Keepalives,
    /// The daemons kept the machine's CPUs busy (at least four fifths of all cores, on
    /// average, from their start until the time ran out), or the machine's CPUs were busy
    /// nine tenths of the point (setup failing then, its daemons too starved to answer,
    /// counts here).
    Cpu,
    /// Sessions never came up, with CPU and memory to spare.
    Sessions,
    /// Nothing above: every session up, CPU and memory to spare, yet not every route in
    /// place in time (a longer `--timeout` may be enough).
    Time,
    /// The point could not be measured: setup failed or the planner refused it.
    Error,
}

impl LimitReason {
    /// Its name as in the JSON (`keepalives`).
    pub fn as_str(self) -> &'static str {
        match self {
            LimitReason::Memory => "memory",
            LimitReason::Keepalives => "keepalives",
            LimitReason::Cpu => "cpu",
            LimitReason::Sessions => "sessions",
            LimitReason::Time => "time",
            LimitReason::Error => "error",
        }
    }
}

/// Why a point did not converge, from what was measured at it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScaleLimit {
    /// The reason.
    pub reason: LimitReason,
    /// The measurements behind it, in words (`12 sessions dropped (hold timer expired);
    /// daemons used 1.93 of 2 CPUs`).
    pub detail: String,
}

/// One variant at one size.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScalePoint {
    /// In files before schema version 11, the value of the one option the sweep varied,
    /// bgp's `bgp-topology` (`mesh` or `rr`); empty since, where [`ScalePoint::variant`]
    /// names every swept option. Read both through [`ScalePoint::options`].
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub topology: String,
    /// The value of each option the sweep varied, at this point (`bgp-topology: rr`,
    /// `bgp-announce: pod`). Added in schema version 11.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variant: BTreeMap<String, String>,
    /// Nodes.
    pub nodes: u32,
    /// Whether it converged within the time limit.
    pub converged: bool,
    /// What went wrong, if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Time to build namespaces, links and addresses, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup_ms: Option<f64>,
    /// From starting the daemons until every node has every route and every pod pair
    /// answers, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub convergence_ms: Option<f64>,
    /// BGP sessions established, counted once per pair.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions_total: Option<u64>,
    /// BGP sessions the topology has, counted once per pair. Added in schema version 11.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions_expected: Option<u64>,
    /// Times a session that was Established went down again because a speaker's hold timer
    /// expired (its peer's keepalives missed), from the daemons' start until the end of the
    /// point, counted at the speaker whose timer expired. Added in schema version 11.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions_dropped: Option<u64>,
    /// Most sessions on any one speaker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions_per_node_max: Option<u64>,
    /// Fewest BGP-learned routes on any node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routes_per_node_min: Option<u64>,
    /// Most BGP-learned routes on any node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routes_per_node_max: Option<u64>,
    /// Resident memory of all daemons together, in bytes, at convergence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon_rss_bytes_total: Option<u64>,
    /// Resident memory of the largest daemon, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon_rss_bytes_max: Option<u64>,
    /// Resident memory of the node with the most, all its daemons summed (FRR runs zebra,
    /// bgpd and staticd per node), in bytes. Added in schema version 11.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon_rss_bytes_per_node_max: Option<u64>,
    /// Resident memory of the nodes' daemons per node, on average, in bytes. Added in
    /// schema version 11.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon_rss_bytes_per_node_mean: Option<f64>,
    /// CPU time of all daemons until convergence, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon_cpu_ms_total: Option<f64>,
    /// From the daemons' start until their costs were read (at convergence, or when the
    /// time ran out), in milliseconds: the wall time of [`ScalePoint::daemon_cpu_ms_total`].
    /// Added in schema version 11.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon_wall_ms: Option<f64>,
    /// The machine's `MemAvailable` (`/proc/meminfo`) at convergence, in bytes. Added in
    /// schema version 11.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_available_bytes: Option<u64>,
    /// The machine's one-minute load average (`/proc/loadavg`: the run queue, runnable and
    /// uninterruptible tasks, averaged over about a minute, so the point before weighs in
    /// too) at convergence, or when setup failed; it counts every process of the machine,
    /// not only the run's. Added in schema version 11.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_1m: Option<f64>,
    /// The share of all the machine's CPU time that was not idle (`/proc/stat`), from the
    /// start of the point's setup until convergence, or until setup failed: 0 to 1. It counts
    /// every process of the machine, the kernel's work included. Added in schema version 11.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_cpu_busy: Option<f64>,
    /// Why the point did not converge, when it did not. Added in schema version 11.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<ScaleLimit>,
    /// Packets the kernel dropped from full receive backlogs during the point
    /// (`/proc/net/softnet_stat`, second column, all CPUs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub softnet_drops: Option<u64>,
}

impl ScalePoint {
    /// The value of each option the sweep varied: [`ScalePoint::variant`], or in a file
    /// before schema version 11 (whose sweeps, all bgp's, varied `bgp-topology` only)
    /// `bgp-topology` → [`ScalePoint::topology`].
    pub fn options(&self) -> BTreeMap<String, String> {
        if self.variant.is_empty() && !self.topology.is_empty() {
            return BTreeMap::from([("bgp-topology".to_string(), self.topology.clone())]);
        }
        self.variant.clone()
    }

    /// The daemons' CPU time over their wall time: how many CPUs they kept busy on average.
    pub fn daemon_cpus_busy(&self) -> Option<f64> {
        let wall = self.daemon_wall_ms.filter(|w| *w > 0.0)?;
        Some(self.daemon_cpu_ms_total? / wall)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(variant: &[(&str, &str)]) -> ScalePoint {
        ScalePoint {
            variant: variant
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn an_old_point_names_its_topology_as_an_option() {
        let old = ScalePoint {
            topology: "rr".into(),
            ..Default::default()
        };
        assert_eq!(old.options()["bgp-topology"], "rr");
        let new = point(&[("bgp-topology", "mesh"), ("bgp-announce", "pod")]);
        assert_eq!(new.options().len(), 2);
        // Nothing is written for the old field.
        let v = serde_json::to_value(&new).unwrap();
        assert!(v.get("topology").is_none(), "{v}");
        assert_eq!(v["variant"]["bgp-announce"], "pod");
    }

    #[test]
    fn only_the_options_that_vary_tell_curves_apart() {
        let mut r = ScaleResult::new(Default::default(), "bgp", "l2");
        r.swept = vec!["bgp-topology".into(), "bgp-announce".into()];
        r.points = vec![
            point(&[("bgp-topology", "mesh"), ("bgp-announce", "block")]),
            point(&[("bgp-topology", "rr"), ("bgp-announce", "block")]),
        ];
        assert_eq!(r.varied(), ["bgp-topology"]);
        r.points
            .push(point(&[("bgp-topology", "rr"), ("bgp-announce", "pod")]));
        assert_eq!(r.varied(), ["bgp-topology", "bgp-announce"]);
    }

    #[test]
    fn memory_allows_what_is_available_over_each_nodes_share() {
        let mut r = ScaleResult::new(Default::default(), "bgp", "l2");
        let p = ScalePoint {
            daemon_rss_bytes_per_node_mean: Some(5.0 * 1024.0 * 1024.0),
            daemon_cpu_ms_total: Some(3000.0),
            daemon_wall_ms: Some(2000.0),
            ..Default::default()
        };
        assert_eq!(r.nodes_memory_allows(&p), None);
        r.mem_available_before_bytes = Some(20 * 1024 * 1024 * 1024);
        assert_eq!(r.nodes_memory_allows(&p), Some(4096));
        assert_eq!(p.daemon_cpus_busy(), Some(1.5));
        assert_eq!(
            serde_json::to_value(LimitReason::Keepalives).unwrap(),
            LimitReason::Keepalives.as_str()
        );
    }
}
