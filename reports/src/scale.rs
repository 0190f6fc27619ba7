//! Control-plane scale results: one point per (topology, node count), so convergence,
//! sessions, routes and daemon memory can be plotted against N.

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
    /// option the sweep varies is each point's [`ScalePoint::topology`]. Empty in files
    /// written before schema version 7.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub backend_options: std::collections::BTreeMap<String, String>,
    /// One point per topology and size, in the order they ran.
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
            points: Vec::new(),
        }
    }
}

/// One topology at one size.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScalePoint {
    /// `mesh` or `rr`.
    pub topology: String,
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
    /// Most sessions on any one speaker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions_per_node_max: Option<u64>,
    /// Fewest BGP-learned routes on any node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routes_per_node_min: Option<u64>,
    /// Most BGP-learned routes on any node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routes_per_node_max: Option<u64>,
    /// Resident memory of all daemons together, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon_rss_bytes_total: Option<u64>,
    /// Resident memory of the largest daemon, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon_rss_bytes_max: Option<u64>,
    /// CPU time of all daemons until convergence, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon_cpu_ms_total: Option<f64>,
    /// Packets the kernel dropped from full receive backlogs during the point
    /// (`/proc/net/softnet_stat`, second column, all CPUs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub softnet_drops: Option<u64>,
}
