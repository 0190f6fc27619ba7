//! Faults during traffic (`cnbench fault`): while a paced probe stream runs across every pod
//! pair, one fault is injected, held, lifted, and the backend's control plane reacts; the
//! probes give the packets lost during and after the fault and the time until every pair
//! answered again, and the full conformance check then runs again and must pass (no stale
//! neighbour or FDB entry, no route of a dead peer, routes back where they are declared).
//!
//! | fault | who injects it | what it does |
//! |---|---|---|
//! | `link-flap` | harness | one node's underlay `eth0` down for the hold time, then up |
//! | `router-down` | harness | every link of one of two l3 routers down until every pair answers through the other (and at least the hold time), then up |
//! | `loss` | harness | nftables drops P % of the packets entering every underlay port |
//! | `node-restart` | harness + backend | one node's namespaces and pods deleted, then built again |
//! | its own | the backend ([`crate::backend::OwnFaults`]) | `daemon-restart`, `speaker-restart`, `vtep-change`, ... |
//!
//! Files: `kind` (which faults there are), `inject` (the harness's own faults), `probes`
//! (the probe stream), `run` (one fault from start to check).

mod inject;
mod kind;
mod probes;
mod run;

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::error::PlanError;
use crate::topology::Plan;

pub use inject::LOSS_TABLE;
pub use kind::{applicable, named, FaultKind};
pub use probes::probe_port;
pub use run::run_faults;

/// How the control plane reacts once a fault is lifted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Recovery {
    /// Every node is reprogrammed from the state after the fault (what flanneld does).
    Full,
    /// Deliberately broken: only the faulted node is reprogrammed; the others keep what they
    /// knew (a VTEP's old MAC). The check after the fault must catch it.
    FaultedNodeOnly,
}

impl Recovery {
    /// The result name.
    pub fn name(self) -> &'static str {
        match self {
            Recovery::Full => "full",
            Recovery::FaultedNodeOnly => "faulted-node-only",
        }
    }
}

/// One fault to inject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultSpec {
    /// Which.
    pub kind: FaultKind,
    /// The node it hits (index into the plan's nodes); unused for loss and router-down.
    pub node: u32,
    /// The router router-down takes down (its role, `rt` or `rt2`); unused otherwise.
    pub router: String,
    /// How long it lasts.
    pub hold: Duration,
    /// Percentage of underlay packets dropped, for loss (1..=100).
    pub loss_percent: u32,
    /// How the control plane reacts.
    pub recovery: Recovery,
}

/// Shortest hold accepted.
pub const MIN_HOLD: Duration = Duration::from_millis(10);
/// Longest hold accepted.
pub const MAX_HOLD: Duration = Duration::from_secs(600);
/// Shortest TCP window of the loss fault accepted.
pub const MIN_TCP_WINDOW: Duration = Duration::from_millis(100);
/// Longest TCP window of the loss fault accepted.
pub const MAX_TCP_WINDOW: Duration = Duration::from_secs(60);
/// Longest recovery limit accepted.
pub const MAX_RECOVERY_LIMIT: Duration = Duration::from_secs(600);

/// How the probe stream and the fault's phases run.
#[derive(Debug, Clone)]
pub struct FaultOptions {
    /// Probes per second to each peer.
    pub rate_pps: u64,
    /// Probing before the fault (shows the pairs answer).
    pub before: Duration,
    /// Probing after every pair answered again (shows they keep answering).
    pub after: Duration,
    /// How long the pairs get to answer again after the fault's end before they are
    /// reported as not recovered.
    pub recovery_limit: Duration,
    /// Measurement window of each TCP throughput run of the loss fault.
    pub tcp_window: Duration,
    /// The cnbench binary (probe and workload agents run as `<exe> task '<json>'`).
    pub agent_exe: PathBuf,
}

/// Warm-up before each TCP throughput window of the loss fault.
const TCP_WARMUP: Duration = Duration::from_millis(200);

/// How the loss fault measures TCP throughput (before the loss and under it): one untraced
/// tcp-stream repetition of one connection, client and server on one CPU.
pub fn tcp_options(opts: &FaultOptions) -> crate::measure::MeasureOptions {
    crate::measure::MeasureOptions {
        workloads: vec![workloads::Workload::TcpStream],
        duration: opts.tcp_window,
        warmup: TCP_WARMUP,
        repeat: 1,
        placement: crate::measure::CpuPlacement::SameCpu,
        streams: 1,
        message_size: None,
        generator: workloads::Generator::Cnbench,
        trace: false,
        agent_exe: opts.agent_exe.clone(),
        tweaks: Vec::new(),
    }
}

/// Refuses a fault that cannot run on this backend and plan, before anything is created.
pub fn validate(backend: &dyn Backend, plan: &Plan, spec: &FaultSpec) -> Result<(), PlanError> {
    let name = backend.info().name;
    let refuse = |why: String| Err(PlanError::Fault { why });
    let applies = applicable(backend, plan);
    if !applies.contains(&spec.kind) {
        let ssh = plan.spec.substrate == crate::topology::Substrate::Ssh;
        let why = match spec.kind {
            FaultKind::Loss if ssh => "it drops packets on cnbench's own switch or router, and \
                 on the SSH substrate the underlay is the hosts' network"
                .to_string(),
            FaultKind::LinkFlap | FaultKind::Loss => {
                "it acts on the underlay and this topology has none (--underlay none)".to_string()
            }
            FaultKind::RouterDown => format!(
                "it takes one of two routers down and this topology has {} (underlay {}): use \
                 --underlay l3 --routers 2",
                plan.routers.len(),
                plan.spec.underlay
            ),
            FaultKind::Own(decl) => format!("{name} has no {}", decl.needs),
            FaultKind::NodeRestart if ssh => "on the SSH substrate a node's namespace lives as \
                 long as its agent's session, and cnbench does not restart the hosts"
                .to_string(),
            FaultKind::NodeRestart => format!("{name} cannot set up one node again"),
        };
        return refuse(format!(
            "--fault {} does not apply to backend {name}: {why}; faults that apply: {}",
            spec.kind,
            applies
                .iter()
                .map(|k| k.name())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if spec.kind == FaultKind::RouterDown && plan.router_named(&spec.router).is_none() {
        return refuse(format!(
            "--router {}: the topology's routers are {}",
            spec.router,
            plan.routers
                .iter()
                .map(|r| r.role.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if spec.kind.targets_node() && spec.node >= plan.spec.nodes {
        return refuse(format!(
            "--node {}: the topology has nodes 0..={}",
            spec.node,
            plan.spec.nodes - 1
        ));
    }
    if !(MIN_HOLD..=MAX_HOLD).contains(&spec.hold) {
        return refuse(format!(
            "--hold {} s: use {} ms to {} s",
            spec.hold.as_secs_f64(),
            MIN_HOLD.as_millis(),
            MAX_HOLD.as_secs()
        ));
    }
    if !(1..=100).contains(&spec.loss_percent) {
        return refuse(format!("--loss {}%: use 1 to 100 %", spec.loss_percent));
    }
    if spec.recovery == Recovery::FaultedNodeOnly {
        let breaks = match spec.kind {
            FaultKind::NodeRestart => true,
            FaultKind::Own(decl) => decl.peers_must_relearn,
            FaultKind::Loss | FaultKind::LinkFlap | FaultKind::RouterDown => false,
        };
        if !breaks || backend.capabilities().control_plane.is_none() {
            return refuse(format!(
                "--broken-recovery skips reprogramming the peers after a fault they must learn \
                 of (node-restart, or a backend's own such as a VTEP's new MAC) on a backend \
                 whose control plane cnbench plays; it changes nothing for {} on {name}",
                spec.kind
            ));
        }
    }
    if spec.kind == FaultKind::Loss && crate::detect::find_binary("nft").is_none() {
        return refuse(
            "--fault loss drops packets with nftables and the program nft is not on PATH: \
             install it (`apt-get install nftables`)"
                .into(),
        );
    }
    Ok(())
}

/// Refuses probe and recovery options out of range.
pub fn validate_options(opts: &FaultOptions) -> Result<(), PlanError> {
    let refuse = |why: String| Err(PlanError::Fault { why });
    if !(1..=workloads::probe::MAX_RATE_PPS).contains(&opts.rate_pps) {
        return refuse(format!(
            "--rate {}: use 1 to {} probes per second per pair",
            opts.rate_pps,
            workloads::probe::MAX_RATE_PPS
        ));
    }
    if opts.recovery_limit.is_zero() || opts.recovery_limit > MAX_RECOVERY_LIMIT {
        return refuse(format!(
            "--recovery-limit {} s: use more than 0 and at most {} s",
            opts.recovery_limit.as_secs_f64(),
            MAX_RECOVERY_LIMIT.as_secs()
        ));
    }
    if !(MIN_TCP_WINDOW..=MAX_TCP_WINDOW).contains(&opts.tcp_window) {
        return refuse(format!(
            "--tcp-window {} s: use {} ms to {} s",
            opts.tcp_window.as_secs_f64(),
            MIN_TCP_WINDOW.as_millis(),
            MAX_TCP_WINDOW.as_secs()
        ));
    }
    if opts.before > MAX_HOLD || opts.after > MAX_HOLD {
        return refuse(format!(
            "--before/--after: at most {} s",
            MAX_HOLD.as_secs()
        ));
    }
    Ok(())
}
