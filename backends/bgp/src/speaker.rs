//! Which BGP daemon each speaker runs (`--bgp-speaker`, `--bgp-reflector-speaker`,
//! `--bgp-router-speaker`), and the small trait every daemon implements: write its native
//! configuration (checked by the daemon itself first), start its processes through the run's
//! supervisor inside the speaker's namespace, wait until it answers, and read its sessions and
//! routes back from its own CLI (`birdc`, `vtysh`, `gobgp`).
//!
//! The nodes run `--bgp-speaker` (default bird); route reflectors run
//! `--bgp-reflector-speaker` and the l3 border router `--bgp-router-speaker`, both defaulting
//! to `--bgp-speaker`, so a GoBGP reflector serving BIRD clients is
//! `--bgp-speaker bird --bgp-reflector-speaker gobgp`. Peering (peering.rs) does not change
//! with the daemon: who peers with whom, AS numbers, timers and filters are the same.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

use harness::backend::Context;
use harness::host::Host;
use harness::netlink::RouteProto;
use harness::topology::Plan;

use crate::announce::Announce;
use crate::bird::BgpProtocol;
use crate::error::BgpError;
use crate::peering::{is_reflector, BgpTopology, Speaker};

/// `RTPROT_BGP` (linux/rtnetlink.h): the protocol zebra gives the routes bgpd (or any other
/// BGP client) installs, and the one cnbench gives the routes it programs from GoBGP's RIB.
pub const RTPROT_BGP: u8 = 186;

/// Where Debian's frr package puts its daemons (not on PATH).
pub const FRR_DIR: &str = "/usr/lib/frr";

/// A BGP daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum SpeakerKind {
    /// BIRD 2, as Calico runs it.
    #[default]
    Bird,
    /// FRR: zebra, staticd and bgpd, as MetalLB and many fabrics run it.
    Frr,
    /// GoBGP, as kube-router and Cilium embed it; its routes programmed by cnbench.
    Gobgp,
}

impl SpeakerKind {
    /// The CLI name.
    pub fn as_str(self) -> &'static str {
        match self {
            SpeakerKind::Bird => "bird",
            SpeakerKind::Frr => "frr",
            SpeakerKind::Gobgp => "gobgp",
        }
    }

    /// The protocol of the routes it puts in the kernel.
    pub fn route_proto(self) -> RouteProto {
        match self {
            SpeakerKind::Bird => RouteProto::Bird,
            SpeakerKind::Frr | SpeakerKind::Gobgp => RouteProto::Other(RTPROT_BGP),
        }
    }

    /// Its implementation.
    pub fn daemon(self) -> &'static dyn SpeakerDaemon {
        match self {
            SpeakerKind::Bird => &crate::bird::Bird,
            SpeakerKind::Frr => &crate::frr::Frr,
            SpeakerKind::Gobgp => &crate::gobgp::Gobgp,
        }
    }

    /// The programs it needs (path or name on PATH) and the Debian package of each.
    pub fn programs(self) -> Vec<(PathBuf, &'static str)> {
        match self {
            SpeakerKind::Bird => vec![("bird".into(), "bird2"), ("birdc".into(), "bird2")],
            SpeakerKind::Frr => {
                let mut v: Vec<(PathBuf, &'static str)> = ["zebra", "staticd", "bgpd"]
                    .iter()
                    .map(|d| (Path::new(FRR_DIR).join(d), "frr"))
                    .collect();
                v.push(("vtysh".into(), "frr"));
                v
            }
            SpeakerKind::Gobgp => vec![("gobgpd".into(), "gobgpd"), ("gobgp".into(), "gobgpd")],
        }
    }

    /// The first program it needs that is missing here, with its package: `Err` names the fix.
    pub fn require(self) -> Result<Vec<PathBuf>, String> {
        self.programs()
            .into_iter()
            .map(|(p, package)| {
                let found = if p.is_absolute() {
                    p.is_file().then(|| p.clone())
                } else {
                    harness::detect::find_binary(&p.to_string_lossy())
                };
                found.ok_or_else(|| {
                    format!(
                        "--bgp-speaker {}: {} is not installed: install Debian's {package} package (`apt-get install {package}`) or choose another --bgp-speaker",
                        self.as_str(),
                        p.display()
                    )
                })
            })
            .collect()
    }
}

impl fmt::Display for SpeakerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SpeakerKind {
    type Err = BgpError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "bird" => Ok(SpeakerKind::Bird),
            "frr" => Ok(SpeakerKind::Frr),
            "gobgp" => Ok(SpeakerKind::Gobgp),
            other => Err(BgpError::SpeakerKind(other.to_string())),
        }
    }
}

/// Which daemon each role runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Speakers {
    /// Every node that is not a route reflector (`--bgp-speaker`).
    pub node: SpeakerKind,
    /// The route reflectors (`--bgp-reflector-speaker`, default `--bgp-speaker`).
    pub reflector: SpeakerKind,
    /// The l3 border router (`--bgp-router-speaker`, default `--bgp-speaker`).
    pub router: SpeakerKind,
}

impl Speakers {
    /// Every role running `kind`.
    pub fn all(kind: SpeakerKind) -> Speakers {
        Speakers {
            node: kind,
            reflector: kind,
            router: kind,
        }
    }

    /// The daemon `speaker` runs.
    pub fn of(&self, plan: &Plan, topology: BgpTopology, speaker: Speaker) -> SpeakerKind {
        match speaker {
            Speaker::Node(n) if is_reflector(plan, topology, n) => self.reflector,
            Speaker::Node(_) => self.node,
            Speaker::Router(_) => self.router,
        }
    }

    /// The daemons a run of `plan` starts, each once.
    pub fn used(&self, plan: &Plan, topology: BgpTopology) -> Vec<SpeakerKind> {
        let mut v: Vec<SpeakerKind> = Speaker::all(plan)
            .into_iter()
            .map(|s| self.of(plan, topology, s))
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// The route protocol each speaker's namespace gets its BGP routes with.
    pub fn protos(&self, plan: &Plan, topology: BgpTopology) -> RouteProtos {
        RouteProtos(
            Speaker::all(plan)
                .into_iter()
                .map(|s| (s.netns(plan), self.of(plan, topology, s).route_proto()))
                .collect(),
        )
    }
}

/// Per speaker namespace, the protocol its BGP routes carry in the kernel (`proto bird`,
/// `proto bgp`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteProtos(pub BTreeMap<String, RouteProto>);

impl RouteProtos {
    /// The protocol of `netns`'s BGP routes (BIRD's for a namespace that is no speaker).
    pub fn of(&self, netns: &str) -> RouteProto {
        self.0.get(netns).copied().unwrap_or(RouteProto::Bird)
    }
}

/// What a speaker's configuration depends on besides the plan.
#[derive(Debug, Clone, Copy)]
pub struct Setup {
    /// How the nodes peer.
    pub topology: BgpTopology,
    /// What each node announces.
    pub announce: Announce,
    /// The sessions' keepalive and hold times.
    pub timers: crate::config::Timers,
}

/// One BGP daemon, as the backend drives it. Every method acts inside the speaker's own host.
pub trait SpeakerDaemon: Sync {
    /// Which daemon.
    fn kind(&self) -> SpeakerKind;

    /// Renders `speaker`'s configuration, has the daemon check it, and writes it where the
    /// daemon reads it (under `/run/cnbench/<run>/<daemon>/<speaker>/`).
    fn write_config(
        &self,
        ctx: &Context<'_>,
        setup: Setup,
        speaker: Speaker,
    ) -> Result<(), BgpError>;

    /// Starts its processes (configuration written) as daemons of the run's supervisor;
    /// returns their pids. Does not wait.
    fn spawn(&self, ctx: &Context<'_>, setup: Setup, speaker: Speaker)
        -> harness::Result<Vec<u32>>;

    /// Waits until the started processes answer on their control sockets, up to `deadline`;
    /// a process that ended is reported with its logs.
    fn wait_ready(
        &self,
        ctx: &Context<'_>,
        speaker: Speaker,
        pids: &[u32],
        deadline: Instant,
    ) -> Result<(), BgpError>;

    /// The BGP sessions, as the daemon's own CLI shows them.
    fn sessions(
        &self,
        hosts: &BTreeMap<String, Host>,
        plan: &Plan,
        speaker: Speaker,
    ) -> Result<Vec<BgpProtocol>, BgpError>;

    /// The routes the daemon holds (`<prefix> from <source>`), as its own CLI shows them.
    fn routes(
        &self,
        hosts: &BTreeMap<String, Host>,
        plan: &Plan,
        speaker: Speaker,
    ) -> Result<Vec<String>, BgpError>;

    /// The names of its processes in the run's supervisor, in the order they are stopped.
    fn processes(&self, plan: &Plan, speaker: Speaker) -> Vec<String>;

    /// The command that reads its state, for the checks' subjects.
    fn control(&self, plan: &Plan, speaker: Speaker) -> String;

    /// The log lines of `speaker`'s daemon on this machine (its log file and what it wrote
    /// to stderr), for [`SpeakerDaemon::hold_timer_expiries`]; empty if none was written.
    fn logs(&self, plan: &Plan, speaker: Speaker) -> String;

    /// Of `logs`, the lines saying this speaker's hold timer expired: a session that was
    /// Established and went down because the peer's keepalives stopped reaching it in time
    /// (RFC 4271 §6.5). Only the end whose timer ran out logs it so, so each drop counts once.
    fn hold_timer_expiries(&self, logs: &str) -> u64;
}

/// The host `speaker` runs in.
pub fn host_of<'h>(hosts: &'h BTreeMap<String, Host>, plan: &Plan, speaker: Speaker) -> &'h Host {
    let netns = speaker.netns(plan);
    hosts
        .get(&netns)
        .unwrap_or_else(|| panic!("speaker namespace {netns} is not part of this run's plan"))
}

/// Writes `text` as `name` (relative to the run's directory) on `speaker`'s machine, through
/// its host; returns the file's path there.
pub fn write_config_file(
    hosts: &BTreeMap<String, Host>,
    plan: &Plan,
    speaker: Speaker,
    name: &std::path::Path,
    text: &str,
) -> Result<String, BgpError> {
    host_of(hosts, plan, speaker)
        .write_file(plan.run_id(), &name.to_string_lossy(), text)
        .map_err(|source| BgpError::Host {
            speaker: speaker.role(plan),
            netns: speaker.netns(plan),
            what: format!("writing its configuration {}", name.display()),
            source: Box::new(source),
        })
}

/// Runs a speaker's CLI, `program argv`, inside `host` and returns what it printed, or why
/// not: it could not run, or `answered` says its output is not the daemon's answer (the
/// message is then its stdout and stderr). Each daemon wraps the message in its own error.
pub fn run_cli(
    host: &Host,
    program: &str,
    argv: &[String],
    limit: std::time::Duration,
    answered: impl Fn(&harness::host::CmdOutput) -> bool,
) -> Result<String, String> {
    let out = host
        .run(program, argv, limit)
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if !answered(&out) {
        return Err(format!("{} {}", out.stdout.trim(), out.stderr.trim())
            .trim()
            .to_string());
    }
    Ok(out.stdout)
}

/// The last lines of `text`, on one line.
pub fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(5)..].join(" | ")
}
