//! The bgp backend: the article's Calico section with the BGP daemon Calico uses, BIRD, or
//! with FRR or GoBGP (`--bgp-speaker`, per role `--bgp-reflector-speaker` and
//! `--bgp-router-speaker`; speaker.rs says how each is driven, frr.rs and gobgp.rs how GoBGP's
//! routes reach the kernel). What follows describes BIRD; the others keep its peering.
//!
//! No bridge and no tunnel. Each pod has `10.20.N.x/32` on `eth0` and a default route via
//! 169.254.1.1; the host end of its veth (`caliXXXXXXXX`) stays in the node with proxy ARP on,
//! and the node has a `/32 dev caliX scope link` route per local pod. One BIRD per node
//! announces the node's pod block (`10.20.N.0/24`), or with `--bgp-announce pod` each local
//! pod's /32 as it learns it from the kernel, and installs what it learns into the
//! kernel (`proto bird`): a full mesh (`--bgp-topology mesh`) or route reflectors (`rr`). On an
//! l3 underlay the router between the segments runs BIRD too, as the article's border router,
//! so pod routes cross the segments without encapsulation.
//!
//! With `--ip-family ipv6` or `dual` each pod also has a /128 from its node's IPv6 block and a
//! default route via `fe80::ecee:eeff:feee:eeee`, the link-local address the host end's MAC
//! `ee:ee:ee:ee:ee:ee` gives it, as Calico's CNI plugin wires it; the node has a `/128 dev
//! caliX` route per pod, and every BIRD runs an IPv6 session next to the IPv4 one with each
//! peer, between their IPv6 underlay addresses, announcing and learning the IPv6 blocks (or
//! pods' /128s).

mod announce;
mod bird;
mod checks;
mod config;
mod converge;
mod error;
mod expect;
mod frr;
mod gobgp;
mod neighbours;
mod peering;
mod pods;
mod scale;
mod speaker;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use cni_runtime::options as wiring;
use cni_runtime::wiring::{PodWiring, Wired};
use harness::backend::{
    BackendInfo, BackendOptions, Capabilities, Context, ControlPlane, Datapath, Expectations,
    FaultDecl, OptionDecl, OwnFaults, PodLifecycle, Program, SysctlExpect,
};
use harness::topology::{Defaults, NodePlan, Plan, PodNetwork, PodPlan, Underlay};
use harness::{Backend, PlanError, Result};
use ipnet::Ipv4Net;

pub use announce::{announced, Announce};
pub use bird::{parse_protocols, BgpProtocol, BirdFiles};
pub use config::{render as render_config, Timers, HOLD_S, POD_SCAN_S};
pub use error::BgpError;
pub use expect::next_hops;
pub use peering::{reflectors, sessions, BgpTopology, Speaker, NODE_AS, ROUTER_AS};
pub use pods::{cali_name, GATEWAY};
pub use speaker::{SpeakerDaemon, SpeakerKind, Speakers, RTPROT_BGP};

/// `--bgp-speaker`: the BGP daemon of every node (and, unless told otherwise, of the route
/// reflectors and the border router).
pub const SPEAKER_OPTION: OptionDecl = OptionDecl {
    flag: "bgp-speaker",
    help: "the BGP daemon every speaker runs",
    values: &[
        ("bird", "BIRD 2, as Calico runs it"),
        (
            "frr",
            "FRR (zebra, staticd, bgpd), as MetalLB and many fabrics run it",
        ),
        (
            "gobgp",
            "GoBGP, as kube-router and Cilium embed it; cnbench programs its routes",
        ),
    ],
    value_name: "SPEAKER",
    default: Some("bird"),
};

/// `--bgp-hold-time`: the sessions' hold time; keepalives every third of it.
pub const HOLD_TIME_OPTION: OptionDecl = OptionDecl {
    flag: "bgp-hold-time",
    help: "seconds without a keepalive before a BGP session is dropped (keepalives every third of it); raise it for hundreds of nodes, whose route reflectors are too busy to keep a 3 s hold",
    values: &[],
    value_name: "SECONDS",
    default: Some("3"),
};

/// `--bgp-reflector-speaker`: the route reflectors' daemon (default: `--bgp-speaker`).
pub const REFLECTOR_SPEAKER_OPTION: OptionDecl = OptionDecl {
    flag: "bgp-reflector-speaker",
    help: "the BGP daemon of the route reflectors (--bgp-topology rr); default: --bgp-speaker",
    values: SPEAKER_OPTION.values,
    value_name: "SPEAKER",
    default: None,
};

/// `--bgp-router-speaker`: the l3 border router's daemon (default: `--bgp-speaker`).
pub const ROUTER_SPEAKER_OPTION: OptionDecl = OptionDecl {
    flag: "bgp-router-speaker",
    help: "the BGP daemon of the l3 border router; default: --bgp-speaker",
    values: SPEAKER_OPTION.values,
    value_name: "SPEAKER",
    default: None,
};

/// `--bgp-topology`: how the speakers peer.
pub const TOPOLOGY_OPTION: OptionDecl = OptionDecl {
    flag: "bgp-topology",
    help: "how bgp's BIRDs peer",
    values: &[
        ("mesh", "every node with every other: N(N-1)/2 sessions"),
        ("rr", "every node with route reflectors: about N sessions"),
    ],
    value_name: "VALUE",
    default: Some("mesh"),
};

/// `--bgp-announce`: what each node's BIRD announces.
pub const ANNOUNCE_OPTION: OptionDecl = OptionDecl {
    flag: "bgp-announce",
    help: "what each node's BIRD announces to its peers",
    values: &[
        ("block", "the node's pod block: one route per node"),
        (
            "pod",
            "a /32 (and /128) per pod, learned from the node's kernel as the pod comes and goes",
        ),
    ],
    value_name: "VALUE",
    default: Some("block"),
};

/// Its options: how the speakers peer, what they announce, which daemons speak, and who
/// wires the pods.
const OPTIONS: [OptionDecl; 10] = [
    TOPOLOGY_OPTION,
    ANNOUNCE_OPTION,
    SPEAKER_OPTION,
    HOLD_TIME_OPTION,
    REFLECTOR_SPEAKER_OPTION,
    ROUTER_SPEAKER_OPTION,
    wiring::POD_WIRING_OPTION,
    wiring::CONF_OPTION,
    wiring::PATH_OPTION,
    wiring::TIMEOUT_OPTION,
];

/// What `cnbench list` shows.
pub const INFO: BackendInfo = BackendInfo {
    name: "bgp",
    summary: "Calico-style /32 routes and proxy ARP; BIRD on every node (mesh or route reflector)",
    datapath: Datapath::Kernel,
    defaults: Defaults {
        nodes: 2,
        pods_per_node: 2,
        underlay: Underlay::L2,
        pod_cidr: Ipv4Net::new_assert(std::net::Ipv4Addr::new(10, 20, 0, 0), 16),
    },
    pod_network: PodNetwork::PerNodeBlocks { block_prefix: 24 },
    overhead_bytes: 0,
    underlays: &[Underlay::L2, Underlay::L3],
    programs: &[
        Program {
            name: "bird",
            package: "bird2",
        },
        Program {
            name: "birdc",
            package: "bird2",
        },
    ],
    link_kinds: &["veth"],
    optional_kinds: &[],
    daemon_device: None,
    options: &OPTIONS,
    faults: &[SPEAKER_RESTART],
    ipv6: harness::backend::Ipv6Support::Yes,
};

/// The programs a run needs when no speaker runs BIRD (FRR's and GoBGP's are checked when the
/// backend is made, with the package to install).
const NO_PROGRAMS: &[Program] = &[];

/// The node's BGP speaker stopped, then started again: its peers withdraw its block, and BGP
/// must bring it back. Called `bird-restart` before other speakers existed; that name still
/// works.
pub const SPEAKER_RESTART: FaultDecl = FaultDecl {
    name: "speaker-restart",
    summary: "the node's BGP speaker (BIRD, FRR or GoBGP) stopped, then started again",
    needs: "BGP speaker",
    peers_must_relearn: false,
    aliases: &["bird-restart"],
};

/// How long setup waits for every route before it lets the checks show what is missing.
pub const CONVERGE_WAIT: Duration = Duration::from_secs(30);

/// How long every speaker gets to load its configuration and open its control socket, at
/// least; see [`ready_wait`].
const READY_WAIT: Duration = Duration::from_secs(10);

/// How long setup gives the speakers of `plan`, all started at once, to answer their CLIs:
/// [`READY_WAIT`], or 100 ms per speaker when that is longer. Hundreds of daemons starting
/// on a few CPUs answer in turn (100 meshed FRR nodes are 300 processes: a bgpd did not
/// answer `vtysh` within 10 s on two CPUs), and a speaker that is merely late is not a
/// failed one: the convergence measured after it says how late.
fn ready_wait(plan: &Plan) -> Duration {
    READY_WAIT.max(Duration::from_millis(100) * Speaker::all(plan).len() as u32)
}

/// How long the speakers' IPv6 underlay addresses may stay tentative before BIRD starts:
/// duplicate address detection takes a second or two (one probe after a random delay).
const ADDRESS_WAIT: Duration = Duration::from_secs(10);

/// Makes the backend from its options (`--bgp-topology mesh|rr`, default mesh;
/// `--bgp-announce block|pod`, default block; `--pod-wiring`, default cnbench's own
/// Calico-style wiring).
///
/// `--bgp-announce pod` needs cnbench's own wiring: BIRD learns `/32 dev cali*` routes, and
/// a CNI chain's pods are reached through what its plugins make (a bridge's connected
/// block, a ptp plugin's own device names), so nothing would be announced.
pub fn make(options: &BackendOptions, plan: &Plan) -> Result<Box<dyn Backend>, String> {
    let topology = match options.get(TOPOLOGY_OPTION.flag) {
        None => BgpTopology::default(),
        Some(t) => t.parse().map_err(|e: BgpError| e.to_string())?,
    };
    let announce = match options.get(ANNOUNCE_OPTION.flag) {
        None => Announce::default(),
        Some(a) => a.parse().map_err(|e: BgpError| e.to_string())?,
    };
    let timers = match options.get(HOLD_TIME_OPTION.flag) {
        None => Timers::default(),
        Some(h) => match h.parse::<u32>() {
            Ok(s) if (3..=65535).contains(&s) => Timers::with_hold(s),
            _ => {
                return Err(format!(
                    "--bgp-hold-time {h}: use 3 to 65535 seconds (RFC 4271: a hold time below 3 s is not allowed)"
                ))
            }
        },
    };
    let kind = |flag: &str, default: SpeakerKind| -> Result<SpeakerKind, String> {
        match options.get(flag) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|e: BgpError| {
                e.to_string()
                    .replacen("--bgp-speaker", &format!("--{flag}"), 1)
            }),
        }
    };
    let node = kind(SPEAKER_OPTION.flag, SpeakerKind::Bird)?;
    let speakers = Speakers {
        node,
        reflector: kind(REFLECTOR_SPEAKER_OPTION.flag, node)?,
        router: kind(ROUTER_SPEAKER_OPTION.flag, node)?,
    };
    check_speakers(plan, topology, announce, speakers)?;
    // Refused before the chain is loaded: the fix is the same whatever the chain is.
    let chain = options
        .get(wiring::POD_WIRING_OPTION.flag)
        .is_some_and(|w| w != "builtin");
    if announce == Announce::Pod && chain {
        return Err(
            "--bgp-announce pod needs cnbench's own pod wiring (BIRD learns the pods' /32 dev cali* routes): use --pod-wiring builtin"
                .into(),
        );
    }
    if chain && plan.ip_family().has_v6() {
        return Err(format!(
            "--ip-family {}: cnbench runs a CNI chain's pods on IPv4 only (its cni backend does not run IPv6 yet): use --pod-wiring builtin or --ip-family ipv4",
            plan.ip_family()
        ));
    }
    let wired =
        Wired::from_options(options, plan, plan.spec.mtu, &INFO).map_err(|e| e.to_string())?;
    Ok(Box::new(
        Bgp::new(topology)
            .with_announce(announce)
            .with_pods(wired)
            .with_speakers(speakers)
            .with_timers(timers),
    ))
}

/// Refuses, before anything is made, what a chosen speaker cannot do here: a daemon that is
/// not installed (with its package), IPv6 or `--bgp-announce pod` on GoBGP (cnbench
/// configures it for IPv4 blocks only), and a node that is not a namespace on this
/// machine for them (their files are given to FRR's user and read here).
pub fn check_speakers(
    plan: &Plan,
    topology: BgpTopology,
    announce: Announce,
    speakers: Speakers,
) -> Result<(), String> {
    for kind in speakers.used(plan, topology) {
        if kind == SpeakerKind::Bird {
            continue;
        }
        kind.require()?;
        if kind == SpeakerKind::Gobgp && plan.ip_family().has_v6() {
            return Err(format!(
                "--bgp-speaker {kind} runs IPv4 sessions only in cnbench: use --ip-family ipv4 or --bgp-speaker bird or frr"
            ));
        }
        if kind == SpeakerKind::Gobgp && announce == Announce::Pod {
            return Err(format!(
                "--bgp-announce pod learns pod routes from the kernel through BIRD's kernel protocol or FRR's zebra; {kind} announces blocks only: use --bgp-announce block or --bgp-speaker bird or frr"
            ));
        }
        if plan.spec.substrate != harness::topology::Substrate::Netns {
            return Err(format!(
                "--bgp-speaker {kind} runs on the netns substrate only (its daemons' files are made on this machine): use --substrate netns or --bgp-speaker bird"
            ));
        }
    }
    Ok(())
}

/// Runs a GoBGP speaker's route programmer (`cnbench daemon bgp '<json>'`) inside its node:
/// GoBGP's best paths (every path of a prefix's multipath set) into the kernel, until killed.
pub fn daemon(config: &str) -> Result<(), String> {
    gobgp::program(config)
}

/// What setup saw of the control plane, for the checks and for `cnbench scale`.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// When the first speaker was started.
    pub bird_started: Option<Instant>,
    /// Time from the first speaker's start until every route was in place and a pod pair
    /// answered, or what was missing; None when setup did not wait.
    pub convergence: Option<std::result::Result<Duration, String>>,
}

/// The bgp backend.
#[derive(Debug)]
pub struct Bgp {
    topology: BgpTopology,
    /// What each node announces.
    announce: Announce,
    /// How long setup waits for convergence; None: not at all (the caller measures it).
    wait: Option<Duration>,
    progress: Mutex<Progress>,
    /// Who wires the pods (cnbench's Calico-style veths, or a CNI chain), and the info
    /// with it.
    wired: Wired,
    /// Which daemon each speaker runs.
    speakers: Speakers,
    /// The sessions' keepalive and hold times (`--bgp-hold-time`).
    timers: Timers,
}

impl Bgp {
    /// A backend with `topology` whose setup waits for convergence; each node announcing its
    /// block, its pods wired Calico's way by cnbench.
    pub fn new(topology: BgpTopology) -> Bgp {
        Bgp {
            topology,
            announce: Announce::default(),
            wait: Some(CONVERGE_WAIT),
            progress: Mutex::new(Progress::default()),
            wired: Wired::builtin(&INFO),
            speakers: Speakers::default(),
            timers: Timers::default(),
        }
    }

    /// The same, its speakers running the daemons `speakers` says.
    pub fn with_speakers(self, speakers: Speakers) -> Bgp {
        let mut wired = self.wired;
        if speakers.node != SpeakerKind::Bird
            && speakers.reflector != SpeakerKind::Bird
            && speakers.router != SpeakerKind::Bird
        {
            wired.info.programs = NO_PROGRAMS;
        }
        Bgp {
            speakers,
            wired,
            ..self
        }
    }

    /// Which daemon each speaker runs.
    pub fn speakers(&self) -> Speakers {
        self.speakers
    }

    /// The daemon `speaker` runs on `plan`.
    pub fn daemon_of(&self, plan: &Plan, speaker: Speaker) -> &'static dyn SpeakerDaemon {
        self.speakers.of(plan, self.topology, speaker).daemon()
    }

    /// The protocol of each speaker's BGP routes in its kernel.
    pub fn protos(&self, plan: &Plan) -> speaker::RouteProtos {
        self.speakers.protos(plan, self.topology)
    }

    fn setup_of(&self) -> speaker::Setup {
        speaker::Setup {
            topology: self.topology,
            announce: self.announce,
            timers: self.timers,
        }
    }

    /// The sessions' keepalive and hold times.
    pub fn timers(&self) -> Timers {
        self.timers
    }

    /// The same, its sessions with `timers`.
    pub fn with_timers(self, timers: Timers) -> Bgp {
        Bgp { timers, ..self }
    }

    /// The same, its nodes announcing what `announce` says.
    pub fn with_announce(self, announce: Announce) -> Bgp {
        Bgp { announce, ..self }
    }

    /// The same, its pods wired as `wired` says.
    pub fn with_pods(self, wired: Wired) -> Bgp {
        Bgp { wired, ..self }
    }

    /// Wires `node`: forwarding on (it routes between its pods and eth0), its pods
    /// (cnbench's way, or the chain's), and the stand-in for a default route on l2.
    fn wire_node(&self, ctx: &Context<'_>, node: &NodePlan) -> Result<()> {
        self.wired
            .pods
            .wire_node(ctx, node, || pods::wire_node(ctx, node))?;
        if let PodWiring::Cni(_) = self.wired.pods {
            SysctlExpect::write(ctx.host(&node.netns), &pods::node_sysctls(ctx.plan))?;
            if let Some(r) = pods::node_gateway_route(ctx.plan) {
                ctx.host(&node.netns).nl().replace_route(&r)?;
            }
        }
        Ok(())
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

    /// What each node announces.
    pub fn announce(&self) -> Announce {
        self.announce
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

impl Backend for Bgp {
    fn info(&self) -> &BackendInfo {
        &self.wired.info
    }

    fn options(&self) -> BackendOptions {
        let mut o = BackendOptions::new()
            .with(TOPOLOGY_OPTION.flag, self.topology.as_str())
            .with(ANNOUNCE_OPTION.flag, self.announce.as_str())
            .with(SPEAKER_OPTION.flag, self.speakers.node.as_str())
            .with(
                REFLECTOR_SPEAKER_OPTION.flag,
                self.speakers.reflector.as_str(),
            )
            .with(ROUTER_SPEAKER_OPTION.flag, self.speakers.router.as_str())
            .with(HOLD_TIME_OPTION.flag, &self.timers.hold_s.to_string());
        self.wired.pods.resolve_into(&mut o);
        o
    }

    /// The plan's shape; BIRD's presence is checked where the nodes run (`Topology::up`
    /// refuses a missing program with the package to install).
    fn validate(&self, plan: &Plan) -> std::result::Result<(), PlanError> {
        validate_plan(plan)?;
        self.wired
            .pods
            .validate(plan)
            .map_err(|why| INFO.refuse(why.to_string()))
    }

    /// Every node wired, then every speaker started at once (a speaker waits for its
    /// peers), and convergence awaited unless the caller measures it.
    fn setup(&self, ctx: &Context<'_>) -> Result<()> {
        let plan = ctx.plan;
        for node in &plan.nodes {
            self.wire_node(ctx, node)?;
        }
        neighbours::preresolve(ctx)?;
        let speakers = Speaker::all(plan);
        for &s in &speakers {
            self.daemon_of(plan, s)
                .write_config(ctx, self.setup_of(), s)?;
        }
        bird::wait_addresses_usable(ctx, &speakers, ADDRESS_WAIT)?;
        let started = Instant::now();
        *self.lock() = Progress {
            bird_started: Some(started),
            convergence: None,
        };
        let mut pids = Vec::new();
        for &s in &speakers {
            pids.push((s, self.daemon_of(plan, s).spawn(ctx, self.setup_of(), s)?));
        }
        let deadline = Instant::now() + ready_wait(ctx.plan);
        for (s, p) in &pids {
            self.daemon_of(plan, *s).wait_ready(ctx, *s, p, deadline)?;
        }
        if let Some(limit) = self.wait {
            let converged = converge::wait_converged(
                plan,
                self.announce,
                &self.protos(plan),
                ctx.hosts,
                started,
                limit,
            );
            if let Err(why) = &converged {
                // Not fatal: the checks show exactly which routes and sessions are missing.
                eprintln!("cnbench: bgp did not converge: {why}");
            }
            self.lock().convergence = Some(converged);
        }
        Ok(())
    }

    fn setup_node(&self, ctx: &Context<'_>, node: &NodePlan) -> Result<()> {
        self.wire_node(ctx, node)?;
        // Large topologies pin every underlay neighbour; the restarted node's eth0 has a new
        // MAC, so every entry is written again.
        neighbours::preresolve(ctx)?;
        let speaker = Speaker::Node(node.index);
        self.daemon_of(ctx.plan, speaker)
            .write_config(ctx, self.setup_of(), speaker)?;
        bird::wait_addresses_usable(ctx, &[speaker], ADDRESS_WAIT)?;
        self.start_speaker(ctx, speaker)
    }

    fn expectations(&self, plan: &Plan) -> Expectations {
        expect::expectations(plan, self.announce, &self.protos(plan), &self.wired.pods)
    }

    fn extra_checks(&self, ctx: &Context<'_>) -> Vec<reports::CheckRecord> {
        let mut out = checks::extra_checks(self, ctx);
        out.extend(self.wired.pods.extra_checks(ctx));
        out
    }

    fn capabilities(&self) -> Capabilities<'_> {
        Capabilities {
            faults: Some(self),
            control_plane: Some(self),
            pods: Some(self.wired.pods.pods(self)),
            // The sweep measures the speakers with cnbench's own pods.
            scale: matches!(self.wired.pods, PodWiring::Builtin)
                .then_some(self as &dyn harness::backend::ControlPlaneScale),
            teardown: self.wired.pods.teardown(),
            ..Capabilities::default()
        }
    }

    fn programs(&self) -> Vec<std::path::PathBuf> {
        let mut p: Vec<std::path::PathBuf> = self
            .wired
            .info
            .programs
            .iter()
            .filter_map(|p| harness::detect::find_binary(p.name))
            .collect();
        for kind in [
            self.speakers.node,
            self.speakers.reflector,
            self.speakers.router,
        ] {
            if kind != SpeakerKind::Bird {
                for path in kind.require().unwrap_or_default() {
                    if !p.contains(&path) {
                        p.push(path);
                    }
                }
            }
        }
        p.extend(self.wired.pods.programs());
        p
    }
}

impl OwnFaults for Bgp {
    fn faults(&self) -> &'static [FaultDecl] {
        &[SPEAKER_RESTART]
    }

    /// SIGTERM to each of the speaker's processes: BIRD and bgpd shut down cleanly, their
    /// sessions close and their peers withdraw what the node announced at once (gobgpd's
    /// close with it); BIRD's and zebra's routes in the node's own kernel go with them (the
    /// pods' own routes are not the speaker's and stay).
    fn inject(&self, ctx: &Context<'_>, _fault: &FaultDecl, node: &NodePlan) -> Result<()> {
        let speaker = Speaker::Node(node.index);
        for what in self
            .daemon_of(ctx.plan, speaker)
            .processes(ctx.plan, speaker)
        {
            ctx.stop_process(&what, &node.netns)?;
        }
        Ok(())
    }

    /// Started again as setup started it; BGP itself brings the routes back (in pod mode
    /// the new BIRD's first kernel scan, at its start, learns the pods' routes again).
    fn lift(&self, ctx: &Context<'_>, _fault: &FaultDecl, node: &NodePlan) -> Result<()> {
        self.start_speaker(ctx, Speaker::Node(node.index))
    }
}

/// BIRD is the control plane of the pod routes; what cnbench put in place itself is the
/// node's stand-in for a default route on l2 (`169.254.1.1 dev eth0`, see
/// `pods::node_gateway_route`), which the kernel deletes when `eth0` goes down, as a
/// node's network configuration would put back.
impl ControlPlane for Bgp {
    /// Puts the stand-in default route back, then lets BGP settle before the check after a
    /// fault: every route through every next hop again (a border router back from
    /// router-down is a path again once its sessions are up and its routes re-learned,
    /// seconds after its links). Not waiting for it would fail the routes check on what BGP
    /// was still doing; what is still missing after [`CONVERGE_WAIT`] the check shows.
    fn reprogram(&self, ctx: &Context<'_>, nodes: &[&NodePlan]) -> Result<()> {
        if let Some(r) = pods::node_gateway_route(ctx.plan) {
            for node in nodes {
                ctx.host(&node.netns).nl().replace_route(&r)?;
            }
        }
        let protos = self.protos(ctx.plan);
        let _ = converge::wait_routes(
            ctx.plan,
            self.announce,
            &protos,
            ctx.hosts,
            Instant::now(),
            CONVERGE_WAIT,
        );
        Ok(())
    }
}

/// A pod inside its node's block: wired Calico's way. In block mode the block is announced
/// already. In pod mode the kernel route is all BIRD needs: with `learn` it reads the
/// kernel's route notifications as they come, so the new `/32 dev caliX` route is announced
/// within milliseconds; a removed pod's route goes with its deleted device, of which Linux
/// sends no route notification, but BIRD rescans the kernel table as soon as an interface
/// goes down (its kernel protocol does so whenever `learn` is on) and withdraws it.
impl PodLifecycle for Bgp {
    fn add_pod(&self, ctx: &Context<'_>, pod: &PodPlan) -> Result<()> {
        pods::wire_pod(ctx, pod)
    }

    fn remove_pod(&self, ctx: &Context<'_>, pod: &PodPlan) -> Result<()> {
        pods::unwire_pod(ctx, pod)
    }

    /// The routes the node's speaker holds, read from its own CLI: a pod's /32 it still
    /// announces or learned after the pod went is a leak of the control plane.
    fn held(&self, ctx: &Context<'_>, node: &NodePlan) -> Result<Vec<String>> {
        let speaker = Speaker::Node(node.index);
        let daemon = self.daemon_of(ctx.plan, speaker);
        daemon
            .routes(ctx.hosts, ctx.plan, speaker)
            .map(|r| {
                r.into_iter()
                    .map(|l| format!("{} route {l}", daemon.kind()))
                    .collect()
            })
            .map_err(Into::into)
    }
}

impl Bgp {
    /// Starts `speaker`'s daemon (configuration written) and waits until it is ready.
    fn start_speaker(&self, ctx: &Context<'_>, speaker: Speaker) -> Result<()> {
        let daemon = self.daemon_of(ctx.plan, speaker);
        let pids = daemon.spawn(ctx, self.setup_of(), speaker)?;
        daemon.wait_ready(ctx, speaker, &pids, Instant::now() + READY_WAIT)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
