//! The bgp backend: the article's Calico section with the BGP daemon Calico uses, BIRD.
//!
//! No bridge and no tunnel. Each pod has `10.20.N.x/32` on `eth0` and a default route via
//! 169.254.1.1; the host end of its veth (`caliXXXXXXXX`) stays in the node with proxy ARP on,
//! and the node has a `/32 dev caliX scope link` route per local pod. One BIRD per node
//! announces the node's pod block (`10.20.N.0/24`) and installs what it learns into the
//! kernel (`proto bird`): a full mesh (`--bgp-topology mesh`) or route reflectors (`rr`). On an
//! l3 underlay the router between the segments runs BIRD too, as the article's border router,
//! so pod routes cross the segments without encapsulation.

mod bird;
mod checks;
mod config;
mod converge;
mod error;
mod expect;
mod neighbours;
mod peering;
mod pods;
mod scale;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use harness::backend::{BackendInfo, BackendOptions, Context, Datapath, Defaults, Expectations};
use harness::fault::FaultKind;
use harness::topology::{NodePlan, Plan, PodNetwork, Underlay};
use harness::{Backend, PlanError, Result};

pub use bird::{parse_protocols, BgpProtocol, BirdFiles};
pub use config::{render as render_config, HOLD_S};
pub use error::BgpError;
pub use expect::next_hop;
pub use peering::{reflectors, sessions, BgpTopology, Speaker, NODE_AS, ROUTER_AS};
pub use pods::{cali_name, GATEWAY};
pub use scale::scale_point;

/// What `cnbench list` shows.
pub static INFO: BackendInfo = BackendInfo {
    name: "bgp",
    summary: "Calico-style /32 routes and proxy ARP; BIRD on every node (mesh or route reflector)",
    underlays: &[Underlay::L2, Underlay::L3],
    link_kinds: &["veth"],
    binaries: &["bird", "birdc"],
    built: true,
};

/// How long setup waits for every route before it lets the checks show what is missing.
pub const CONVERGE_WAIT: Duration = Duration::from_secs(30);

/// How long every BIRD gets to load its configuration and open its control socket.
const READY_WAIT: Duration = Duration::from_secs(10);

/// Makes the backend from its options.
pub fn make(options: &BackendOptions) -> Result<Box<dyn Backend>, String> {
    if let Some(d) = &options.datapath {
        return Err(format!(
            "--datapath {d}: bgp has one datapath (kernel routes); leave --datapath out"
        ));
    }
    let topology = match &options.bgp_topology {
        None => BgpTopology::default(),
        Some(t) => t.parse().map_err(|e: BgpError| e.to_string())?,
    };
    Ok(Box::new(Bgp::new(topology)))
}

/// What setup saw of the control plane, for the checks and for `cnbench scale`.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// When the first BIRD was started.
    pub bird_started: Option<Instant>,
    /// Time from the first BIRD's start until every route was in place and a pod pair
    /// answered, or what was missing; None when setup did not wait.
    pub convergence: Option<std::result::Result<Duration, String>>,
}

/// The bgp backend.
#[derive(Debug)]
pub struct Bgp {
    topology: BgpTopology,
    /// How long setup waits for convergence; None: not at all (the caller measures it).
    wait: Option<Duration>,
    progress: Mutex<Progress>,
}

impl Bgp {
    /// A backend with `topology` whose setup waits for convergence.
    pub fn new(topology: BgpTopology) -> Bgp {
        Bgp {
            topology,
            wait: Some(CONVERGE_WAIT),
            progress: Mutex::new(Progress::default()),
        }
    }

    /// A backend whose setup only starts BIRD: the caller measures convergence itself.
    pub fn without_waiting(topology: BgpTopology) -> Bgp {
        Bgp {
            wait: None,
            ..Bgp::new(topology)
        }
    }

    /// The BGP topology.
    pub fn topology(&self) -> BgpTopology {
        self.topology
    }

    /// What setup saw.
    pub fn progress(&self) -> Progress {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Checks the plan's shape, without looking at the machine.
pub fn validate_plan(plan: &Plan) -> std::result::Result<(), PlanError> {
    let refuse = |why: String| PlanError::Backend {
        backend: INFO.name.into(),
        why,
    };
    if !INFO.underlays.contains(&plan.spec.underlay) {
        return Err(refuse(format!(
            "BGP speakers peer over an underlay and `--underlay {}` makes none: use --underlay l2 or l3",
            plan.spec.underlay
        )));
    }
    if plan.spec.nodes < 2 {
        return Err(refuse(format!(
            "{} node has no BGP peer: use --nodes 2 or more",
            plan.spec.nodes
        )));
    }
    let mut names: Vec<String> = plan
        .pods
        .iter()
        .map(|p| cali_name(plan.run_id(), p))
        .collect();
    names.sort();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(refuse(format!(
            "two pods of run {} hash to one device name {}: use another --run-id",
            plan.run_id(),
            w[0]
        )));
    }
    Ok(())
}

/// Checks that BIRD is installed; `find` looks a program up on PATH.
pub fn require_bird(
    find: impl Fn(&str) -> Option<std::path::PathBuf>,
) -> std::result::Result<(), BgpError> {
    for binary in ["bird", "birdc"] {
        if find(binary).is_none() {
            return Err(BgpError::MissingBird { binary });
        }
    }
    Ok(())
}

impl Backend for Bgp {
    fn effective_options(&self) -> BackendOptions {
        BackendOptions {
            bgp_topology: Some(self.topology.as_str().into()),
            ..Default::default()
        }
    }

    fn info(&self) -> &'static BackendInfo {
        &INFO
    }

    fn datapath(&self) -> Datapath {
        Datapath::Kernel
    }

    fn defaults(&self) -> Defaults {
        Defaults {
            nodes: 2,
            pods_per_node: 2,
            underlay: Underlay::L2,
            pod_cidr: "10.20.0.0/16".parse().expect("valid"),
        }
    }

    fn pod_network(&self) -> PodNetwork {
        PodNetwork::PerNodeBlocks { block_prefix: 24 }
    }

    fn validate(&self, plan: &Plan) -> std::result::Result<(), PlanError> {
        validate_plan(plan)?;
        require_bird(harness::capability::find_binary).map_err(|e| PlanError::Backend {
            backend: INFO.name.into(),
            why: e.to_string(),
        })
    }

    fn setup(&self, ctx: &Context<'_>) -> Result<()> {
        let plan = ctx.plan;
        for node in &plan.nodes {
            pods::wire_node(ctx, node)?;
        }
        neighbours::preresolve(ctx)?;
        let speakers = Speaker::all(plan);
        for &s in &speakers {
            bird::write_config(ctx, self.topology, s)?;
        }
        let started = Instant::now();
        *self.lock() = Progress {
            bird_started: Some(started),
            convergence: None,
        };
        let mut pids = Vec::new();
        for &s in &speakers {
            pids.push((s, bird::spawn(ctx, s)?));
        }
        bird::wait_ready(ctx, &pids, READY_WAIT)?;
        if let Some(limit) = self.wait {
            let converged = converge::wait_converged(plan, ctx.hosts, started, limit);
            if let Err(why) = &converged {
                // Not fatal: the checks show exactly which routes and sessions are missing.
                eprintln!("cnbench: bgp did not converge: {why}");
            }
            self.lock().convergence = Some(converged);
        }
        Ok(())
    }

    fn setup_node(&self, ctx: &Context<'_>, node: &NodePlan) -> Result<()> {
        pods::wire_node(ctx, node)?;
        // Large topologies pin every underlay neighbour; the restarted node's eth0 has a new
        // MAC, so every entry is written again.
        neighbours::preresolve(ctx)?;
        let speaker = Speaker::Node(node.index);
        bird::write_config(ctx, self.topology, speaker)?;
        start_bird(ctx, speaker)
    }

    fn own_faults(&self) -> &'static [FaultKind] {
        &[FaultKind::BirdRestart]
    }

    fn reprograms(&self) -> bool {
        true
    }

    /// BIRD is the control plane of the pod routes; what cnbench put in place itself is the
    /// node's stand-in for a default route on l2 (`169.254.1.1 dev eth0`, see
    /// [`pods::node_gateway_route`]), which the kernel deletes when `eth0` goes down, as a
    /// node's network configuration would put back.
    fn reprogram(&self, ctx: &Context<'_>, nodes: &[&NodePlan]) -> Result<()> {
        if let Some(r) = pods::node_gateway_route(ctx.plan) {
            for node in nodes {
                ctx.host(&node.netns).nl().replace_route(&r)?;
            }
        }
        Ok(())
    }

    fn inject(&self, ctx: &Context<'_>, kind: FaultKind, node: &NodePlan) -> Result<()> {
        match kind {
            // SIGTERM: BIRD shuts down cleanly, its sessions close and its peers withdraw
            // the node's block at once; the routes it put in its own kernel go with it.
            FaultKind::BirdRestart => ctx
                .stop_process(&Speaker::Node(node.index).what(ctx.plan), &node.netns)
                .map(|_| ()),
            other => Err(unsupported(other)),
        }
    }

    fn lift(&self, ctx: &Context<'_>, kind: FaultKind, node: &NodePlan) -> Result<()> {
        match kind {
            // Started again as setup started it; BGP itself brings the routes back.
            FaultKind::BirdRestart => start_bird(ctx, Speaker::Node(node.index)),
            other => Err(unsupported(other)),
        }
    }

    fn expectations(&self, plan: &Plan) -> Expectations {
        expect::expectations(plan)
    }

    fn extra_checks(&self, ctx: &Context<'_>) -> Vec<reports::CheckRecord> {
        checks::extra_checks(self, ctx)
    }
}

/// Starts `speaker`'s BIRD (configuration written) and waits until it is ready.
fn start_bird(ctx: &Context<'_>, speaker: Speaker) -> Result<()> {
    let pid = bird::spawn(ctx, speaker)?;
    bird::wait_ready(ctx, &[(speaker, pid)], READY_WAIT)?;
    Ok(())
}

fn unsupported(kind: FaultKind) -> harness::HarnessError {
    harness::HarnessError::Unsupported {
        what: format!("bgp cannot suffer the fault {kind}"),
        fix: "bgp's own fault is bird-restart".into(),
    }
}

#[cfg(test)]
mod tests;
