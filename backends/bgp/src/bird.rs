//! BIRD processes: one per speaker, in the speaker's namespace, in the foreground as a daemon
//! of the run's supervisor (killed by pid at teardown, never by name), with its configuration,
//! control socket, pid file and log under the run's directory on the speaker's machine
//! (`/run/cnbench/<run>/bird/<speaker>/`), so teardown and `cnbench clean` remove them with the
//! run. That machine is this one for a namespace here, and the VM for a node of the VM
//! substrate (whose agent removes its files when the run's session ends); the paths are the
//! same on both, and everything that touches them goes through the speaker's [`Host`]
//! (`write_file`, `run`) or the run's supervisor, so one code path serves both substrates.
//! `birdc`, run inside the speaker's host, reads the sessions back through the control socket.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::backend::Context;
use harness::host::Host;
use harness::state::RunState;
use harness::topology::Plan;

use crate::config;
use crate::error::BgpError;
use crate::peering::Speaker;
use crate::speaker::{Setup, SpeakerDaemon, SpeakerKind};

/// How long one `birdc` may take. Generous: on an emulated VM node starting a dynamically
/// linked program alone takes a noticeable part of a second.
const BIRDC_LIMIT: Duration = Duration::from_secs(5);

/// Pause between two readiness probes of a BIRD that did not answer yet.
const READY_POLL: Duration = Duration::from_millis(20);

/// The files of one speaker's BIRD, on the speaker's machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BirdFiles {
    /// The directory holding them (`/run/cnbench/<run>/bird/<speaker>`).
    pub dir: PathBuf,
}

impl BirdFiles {
    /// The files of `speaker` in run `run_id`.
    pub fn of(run_id: &str, plan: &Plan, speaker: Speaker) -> BirdFiles {
        BirdFiles {
            dir: RunState::dir(run_id).join(Self::subdir(plan, speaker)),
        }
    }
    /// The directory inside the run's directory, as [`Host::write_file`] names files.
    fn subdir(plan: &Plan, speaker: Speaker) -> PathBuf {
        Path::new("bird").join(speaker.role(plan))
    }
    /// `bird.conf`.
    pub fn config(&self) -> PathBuf {
        self.dir.join("bird.conf")
    }
    /// The control socket `birdc -s` talks to.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("bird.ctl")
    }
    /// The pid file.
    pub fn pid(&self) -> PathBuf {
        self.dir.join("bird.pid")
    }
    /// BIRD's log.
    pub fn log(&self) -> PathBuf {
        self.dir.join("bird.log")
    }
    /// BIRD's stderr (startup errors come here, before the log is open), for a BIRD on this
    /// machine; a node agent keeps the tail of its daemons' stderr itself.
    pub fn stderr(&self) -> PathBuf {
        self.dir.join("bird.stderr")
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BgpError + '_ {
    move |source| BgpError::Io {
        path: path.to_path_buf(),
        source,
    }
}

use crate::speaker::host_of;

/// Writes `speaker`'s configuration where its BIRD will read it (the speaker's machine), after
/// BIRD has parsed a copy on this machine (`bird -p`, which starts nothing), so a generator bug
/// is reported with BIRD's own words before any daemon runs. On the netns substrate the copy
/// and the speaker's file are one file.
pub fn write_config(
    ctx: &Context<'_>,
    setup: Setup,
    speaker: Speaker,
) -> Result<BirdFiles, BgpError> {
    let plan = ctx.plan;
    let files = BirdFiles::of(plan.run_id(), plan, speaker);
    let text = config::render_timed(
        plan,
        setup.topology,
        setup.announce,
        speaker,
        &files.log(),
        setup.timers,
    );
    parse_locally(plan, speaker, &files, &text)?;
    let name = BirdFiles::subdir(plan, speaker).join("bird.conf");
    let written = crate::speaker::write_config_file(ctx.hosts, plan, speaker, &name, &text)?;
    // The socket, pid file and log go beside the configuration: the directory `write_file`
    // made is the one every other part of the backend names.
    debug_assert_eq!(Path::new(&written), files.config());
    Ok(files)
}

/// Has BIRD parse `text` as `speaker`'s configuration, from a copy at its path on this
/// machine.
fn parse_locally(
    plan: &Plan,
    speaker: Speaker,
    files: &BirdFiles,
    text: &str,
) -> Result<(), BgpError> {
    fs::create_dir_all(&files.dir).map_err(io(&files.dir))?;
    let path = files.config();
    fs::write(&path, text).map_err(io(&path))?;
    let out = Command::new("bird")
        .arg("-p")
        .arg("-c")
        .arg(&path)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| BgpError::Config {
            speaker: speaker.role(plan),
            path: path.clone(),
            message: format!("cannot run bird -p: {e}"),
        })?;
    if !out.status.success() {
        return Err(BgpError::Config {
            speaker: speaker.role(plan),
            path,
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

/// Starts `speaker`'s BIRD (configuration already written) inside its host, as a daemon of
/// the run's supervisor; returns its pid on the speaker's machine. Does not wait for it.
///
/// A control socket left by an earlier instance (a restart) does no harm: readiness is a
/// `birdc` that gets an answer, and a socket nobody listens on refuses the connection.
pub fn spawn(ctx: &Context<'_>, speaker: Speaker) -> harness::Result<u32> {
    let plan = ctx.plan;
    let files = BirdFiles::of(plan.run_id(), plan, speaker);
    let host = host_of(ctx.hosts, plan, speaker);
    let mut cmd = Command::new("bird");
    cmd.arg("-f")
        .arg("-c")
        .arg(files.config())
        .arg("-s")
        .arg(files.socket())
        .arg("-P")
        .arg(files.pid())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr_sink(host, &files)?);
    ctx.procs.spawn(host, ctx.exe, cmd, &speaker.what(plan))
}

/// Where BIRD's stderr goes: for a BIRD on this machine, a file beside its log (nobody reads a
/// pipe of a daemon, and a full one would block it). A node agent ignores the `Command`'s
/// stdio and keeps the tail itself; the supervisor hands it over when BIRD has ended
/// ([`harness::supervisor::Supervisor::ended`]).
fn stderr_sink(host: &Host, files: &BirdFiles) -> Result<Stdio, BgpError> {
    if host.local().is_none() {
        return Ok(Stdio::null());
    }
    fs::create_dir_all(&files.dir).map_err(io(&files.dir))?;
    let path = files.stderr();
    let file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io(&path))?;
    Ok(file.into())
}

/// Waits until every started BIRD answers `birdc` (it opens its control socket once its
/// configuration is loaded); a BIRD that exits instead is reported with its stderr and log.
///
/// One speaker at a time: they were all started before, so the wait is the slowest one's,
/// and `birdc` runs about once per speaker instead of once per speaker per round (a scale
/// point starts hundreds).
pub fn wait_ready(
    ctx: &Context<'_>,
    started: &[(Speaker, u32)],
    limit: Duration,
) -> Result<(), BgpError> {
    let plan = ctx.plan;
    let deadline = Instant::now() + limit;
    for &(speaker, pid) in started {
        let host = host_of(ctx.hosts, plan, speaker);
        loop {
            if let Some((exit, tail)) = ctx.procs.ended(host.name(), pid) {
                return Err(not_running(
                    host,
                    plan,
                    speaker,
                    &format!("exited at startup ({exit})"),
                    &tail,
                ));
            }
            let err = match birdc(host, plan, speaker, &["show", "status"]) {
                Ok(_) => break,
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(not_running(
                    host,
                    plan,
                    speaker,
                    &format!(
                        "did not answer on its control socket within {} s ({err})",
                        limit.as_secs()
                    ),
                    "",
                ));
            }
            std::thread::sleep(READY_POLL);
        }
    }
    Ok(())
}

/// Waits until no IPv6 address in any of `speakers`' namespaces is tentative, for a run with
/// IPv6: BIRD binds each IPv6 session to its underlay address, and the kernel refuses to bind
/// a tentative one (EADDRNOTAVAIL: RFC 4862 §5.4, a tentative address is not used), which
/// BIRD answers with its error wait. A real node's address settled long before its BGP
/// daemon started; so here, and the convergence time measures BGP, not duplicate address
/// detection. An address that failed detection is reported at once.
pub fn wait_addresses_usable(
    ctx: &Context<'_>,
    speakers: &[Speaker],
    limit: Duration,
) -> Result<(), BgpError> {
    let plan = ctx.plan;
    if !plan.ip_family().has_v6() {
        return Ok(());
    }
    let deadline = Instant::now() + limit;
    for &speaker in speakers {
        let host = host_of(ctx.hosts, plan, speaker);
        loop {
            let addrs = host.nl().addresses6().map_err(|source| BgpError::Host {
                speaker: speaker.role(plan),
                netns: speaker.netns(plan),
                what: "reading its IPv6 addresses".into(),
                source: Box::new(source),
            })?;
            let failed = addrs.iter().any(|a| a.dad_failed);
            let bad: Vec<String> = addrs
                .iter()
                .filter(|a| a.tentative || a.dad_failed)
                .map(|a| {
                    let state = if a.dad_failed {
                        "dadfailed"
                    } else {
                        "tentative"
                    };
                    format!("{} {state}", a.net)
                })
                .collect();
            if bad.is_empty() {
                break;
            }
            if failed || Instant::now() >= deadline {
                return Err(BgpError::AddressNotUsable {
                    speaker: speaker.role(plan),
                    netns: speaker.netns(plan),
                    addresses: bad.join(", "),
                    waited_s: limit.as_secs(),
                });
            }
            std::thread::sleep(READY_POLL);
        }
    }
    Ok(())
}

/// The error for a BIRD that is not running as it should, with the last lines of its
/// stderr (`stderr_tail`: what a node agent kept; a BIRD here wrote it to its file) and its
/// log, both read where they are: on the speaker's machine.
fn not_running(
    host: &Host,
    plan: &Plan,
    speaker: Speaker,
    what: &str,
    stderr_tail: &str,
) -> BgpError {
    let files = BirdFiles::of(plan.run_id(), plan, speaker);
    let last = |text: &str| {
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(5)..].join(" | ")
    };
    let parts: Vec<String> = [
        read_on(host, &files.stderr()),
        stderr_tail.to_string(),
        read_on(host, &files.log()),
    ]
    .iter()
    .map(|t| last(t))
    .filter(|t| !t.is_empty())
    .collect();
    BgpError::NotRunning {
        daemon: "BIRD",
        speaker: speaker.role(plan),
        netns: speaker.netns(plan),
        what: what.to_string(),
        log: if parts.is_empty() {
            format!("(nothing on stderr, nothing in {})", files.log().display())
        } else {
            parts.join(" | ")
        },
    }
}

/// The contents of `path` on `host`'s machine, or nothing if it cannot be read (a file that
/// was never written). `cat` is on every machine cnbench runs on: a VM node's busybox has
/// it (its `/init` uses it).
fn read_on(host: &Host, path: &Path) -> String {
    match host.run("cat", &[path.display().to_string()], BIRDC_LIMIT) {
        Ok(out) if out.status.success() => out.stdout,
        _ => String::new(),
    }
}

/// Runs `birdc -s <socket> <args>` inside `speaker`'s host (its machine is where the socket
/// is) and returns what it printed; an error unless BIRD answered.
fn birdc(host: &Host, plan: &Plan, speaker: Speaker, args: &[&str]) -> Result<String, BgpError> {
    let socket = BirdFiles::of(plan.run_id(), plan, speaker).socket();
    let fail = |message: String| BgpError::Birdc {
        speaker: speaker.role(plan),
        socket: socket.clone(),
        message,
    };
    let mut argv = vec!["-s".to_string(), socket.display().to_string()];
    argv.extend(args.iter().map(|a| a.to_string()));
    crate::speaker::run_cli(host, "birdc", &argv, BIRDC_LIMIT, |out| {
        out.status.success() && out.stdout.contains("BIRD")
    })
    .map_err(fail)
}

/// One BGP protocol as `birdc show protocols` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpProtocol {
    /// Protocol name (`peer_n1`).
    pub name: String,
    /// BIRD's state column (`up`, `start`).
    pub state: String,
    /// The info column (`Established`, `Connect`, `Active  Socket: ...`).
    pub info: String,
}

impl BgpProtocol {
    /// Whether the session is up.
    pub fn established(&self) -> bool {
        self.info.starts_with("Established")
    }
}

/// Parses `birdc show protocols`: keeps the BGP rows.
///
/// ```text
/// Name       Proto      Table      State  Since         Info
/// peer_n1    BGP        ---        up     10:39:12.400  Established
/// ```
pub fn parse_protocols(text: &str) -> Vec<BgpProtocol> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next()?;
            if words.next()? != "BGP" {
                return None;
            }
            let _table = words.next()?;
            let state = words.next()?.to_string();
            let _since = words.next();
            let info = words.collect::<Vec<_>>().join(" ");
            Some(BgpProtocol {
                name: name.to_string(),
                state,
                info,
            })
        })
        .collect()
}

/// Asks `speaker`'s BIRD for its BGP sessions through its control socket (`birdc -s SOCK show
/// protocols`), run inside the speaker's host among `hosts`.
pub fn show_protocols(
    hosts: &BTreeMap<String, Host>,
    plan: &Plan,
    speaker: Speaker,
) -> Result<Vec<BgpProtocol>, BgpError> {
    let text = birdc(
        host_of(hosts, plan, speaker),
        plan,
        speaker,
        &["show", "protocols"],
    )?;
    Ok(parse_protocols(&text))
}

/// The routes `speaker`'s BIRD holds (`birdc show route`), each as `<prefix> from
/// <protocol>` (`10.20.1.0/24 from peer_n1`): what it learned and what it announces,
/// without the times that change by themselves.
pub fn show_routes(
    hosts: &BTreeMap<String, Host>,
    plan: &Plan,
    speaker: Speaker,
) -> Result<Vec<String>, BgpError> {
    let text = birdc(
        host_of(hosts, plan, speaker),
        plan,
        speaker,
        &["show", "route"],
    )?;
    Ok(parse_routes(&text))
}

/// Parses `birdc show route` (BIRD 2): a route's first line starts with its prefix, its
/// protocol is the first word in brackets.
///
/// ```text
/// Table master4:
/// 10.20.1.0/24         unicast [peer_n1 10:39:12.400] * (100) [i]
///         via 10.0.0.2 on eth0
/// ```
pub fn parse_routes(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with(char::is_whitespace))
        .filter_map(|l| {
            let prefix = l.split_whitespace().next()?;
            prefix.parse::<ipnet::IpNet>().ok()?;
            let proto = l.split('[').nth(1)?.split_whitespace().next()?;
            Some(format!("{prefix} from {proto}"))
        })
        .collect()
}

/// BIRD as a [`SpeakerDaemon`]: one `bird` process per speaker.
#[derive(Debug, Clone, Copy)]
pub struct Bird;

impl SpeakerDaemon for Bird {
    fn kind(&self) -> SpeakerKind {
        SpeakerKind::Bird
    }

    fn write_config(
        &self,
        ctx: &Context<'_>,
        setup: Setup,
        speaker: Speaker,
    ) -> Result<(), BgpError> {
        write_config(ctx, setup, speaker).map(|_| ())
    }

    fn spawn(
        &self,
        ctx: &Context<'_>,
        _setup: Setup,
        speaker: Speaker,
    ) -> harness::Result<Vec<u32>> {
        spawn(ctx, speaker).map(|p| vec![p])
    }

    fn wait_ready(
        &self,
        ctx: &Context<'_>,
        speaker: Speaker,
        pids: &[u32],
        deadline: Instant,
    ) -> Result<(), BgpError> {
        let started: Vec<(Speaker, u32)> = pids.iter().map(|&p| (speaker, p)).collect();
        wait_ready(
            ctx,
            &started,
            deadline.saturating_duration_since(Instant::now()),
        )
    }

    fn sessions(
        &self,
        hosts: &BTreeMap<String, Host>,
        plan: &Plan,
        speaker: Speaker,
    ) -> Result<Vec<BgpProtocol>, BgpError> {
        show_protocols(hosts, plan, speaker)
    }

    fn routes(
        &self,
        hosts: &BTreeMap<String, Host>,
        plan: &Plan,
        speaker: Speaker,
    ) -> Result<Vec<String>, BgpError> {
        show_routes(hosts, plan, speaker)
    }

    fn processes(&self, plan: &Plan, speaker: Speaker) -> Vec<String> {
        vec![speaker.what(plan)]
    }

    fn logs(&self, plan: &Plan, speaker: Speaker) -> String {
        let files = BirdFiles::of(plan.run_id(), plan, speaker);
        let read = |p: PathBuf| fs::read_to_string(p).unwrap_or_default();
        read(files.log()) + &read(files.stderr())
    }

    /// BIRD logs the NOTIFICATION it sends then as `<protocol>: Error: Hold timer expired`
    /// (the peer that receives it logs `Received: Hold timer expired`, not counted).
    fn hold_timer_expiries(&self, logs: &str) -> u64 {
        logs.lines()
            .filter(|l| l.contains(": Error: Hold timer expired"))
            .count() as u64
    }

    fn control(&self, plan: &Plan, speaker: Speaker) -> String {
        format!(
            "birdc -s {}",
            BirdFiles::of(plan.run_id(), plan, speaker)
                .socket()
                .display()
        )
    }
}
