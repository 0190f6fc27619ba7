//! FRR as a speaker: per speaker a zebra (the kernel's routes: it installs what bgpd selects
//! as `proto bgp`), a staticd (the node's pod block as a blackhole, as Calico's BIRD has it)
//! and a bgpd, each started in the foreground by the run's supervisor inside the speaker's
//! namespace and stopped by pid. Nothing of FRR's global state is used: every daemon gets its
//! configuration file (`-f`), pid file (`-i`), zebra socket (`-z`), vty socket directory
//! (`--vty_socket`) and log (`--log file:`) under `/run/cnbench/<run>/frr/<speaker>/`, and
//! `vtysh --vty_socket` reads it back. The daemons drop to Debian's `frr` user, as they do
//! when the package's service runs them (FRR refuses to run as root unless root is in the
//! `frrvty` group), so that directory is given to `frr`. staticd's and bgpd's configurations
//! are checked first by their own daemon in dry-run mode (`-C`), whose exit status is 0 even
//! for an unknown command: its "No such command on config line" messages are what refuses
//! it (zebra's holds only its hostname).
//!
//! The configuration is BIRD's (config.rs) in FRR's words: the same AS numbers and peers
//! (peering.rs), keepalive 1 s and hold 3 s, connect retry 1 s, graceful restart off, no
//! minimum advertisement interval (`frr defaults datacenter`); a node announces its block
//! (`network`) and tells its iBGP peers only routes with an empty AS path (its own and, on a
//! reflector, its clients'), the border router only its own block; reflectors mark their
//! clients.
//!
//! Each family of the run (`--ip-family ipv4|ipv6|dual`) has its session per peer, between
//! the two speakers' addresses of that family, activated in its own address family only
//! (`no bgp default ipv4-unicast`), its blackhole in staticd (`ipv6 route <block6>
//! blackhole`) and its prefix-lists and route-maps (`OWN6`, `TO_ROUTER6`). An IPv6 route from
//! a peer on the same link carries its global and its link-local address (RFC 2545 §3), and
//! bgpd installs the link-local one by default; every IPv6 session's inbound route-map
//! `FROM_PEER6` sets `ipv6 next-hop prefer-global`, so the kernel routes are via the peer's
//! global underlay address (or the router's segment address), as declared. With
//! `--bgp-announce pod` a node announces its pods' host routes instead of its block: zebra
//! reads them from the kernel (`/32 dev caliX scope link`, `/128 dev caliX`, proto boot:
//! its type kernel, including a route added or deleted later and a device deleted with
//! its routes), bgpd takes them with `redistribute kernel route-map PODS` (a prefix-list of
//! the pod network `ge 32`, `ge 128`) and tags them, the border router gets only the tagged
//! ones (a reflector's clients' pods come from the clients themselves), and the block stays
//! an unannounced blackhole.
//!
//! Known race (FRR 8.4): bgpd learns a peer's interface when the session comes up; a
//! session that a retrying peer brings up before bgpd has zebra's interfaces keeps none,
//! and bgpd then drops every IPv6 update with a link-local next hop ("sent a v6 LL
//! next-hop and there's no peer interface information. Hence, withdrawing") for the
//! session's life. Seen after a restart (bgp-restore) in about one run in six on l3, when
//! the restart found the stopped zebra's socket file and started bgpd before the new zebra
//! listened; [`Frr::spawn`] removes that file first and waits for the new one.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::backend::Context;
use harness::host::Host;
use harness::state::RunState;
use harness::topology::{Family, Plan};

use ipnet::IpNet;

use crate::announce::Announce;
use crate::bird::BgpProtocol;
use crate::config::CONNECT_RETRY_S;
use crate::error::BgpError;
use crate::peering::{is_reflector, peers_of, session_addresses, Speaker};
use crate::speaker::{
    host_of, tail, write_config_file, Setup, SpeakerDaemon, SpeakerKind, FRR_DIR,
};

/// The daemons of one speaker, in the order they start (zebra first: the others connect to
/// its socket, retrying until it is there).
pub const DAEMONS: [&str; 3] = ["zebra", "staticd", "bgpd"];

/// The tag bgpd gives the pod routes it takes from the node's kernel (`--bgp-announce pod`),
/// which marks them as this node's own.
const POD_TAG: u32 = 64512;

/// How long one `vtysh` may take.
const VTYSH_LIMIT: Duration = Duration::from_secs(5);

/// The files of one speaker's FRR, on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrrFiles {
    /// `/run/cnbench/<run>/frr/<speaker>`: configurations, sockets, pid files, logs.
    pub dir: PathBuf,
}

impl FrrFiles {
    /// The files of `speaker`.
    pub fn of(plan: &Plan, speaker: Speaker) -> FrrFiles {
        FrrFiles {
            dir: RunState::dir(plan.run_id()).join(Self::subdir(plan, speaker)),
        }
    }
    fn subdir(plan: &Plan, speaker: Speaker) -> PathBuf {
        Path::new("frr").join(speaker.role(plan))
    }
    /// `<daemon>.conf`.
    pub fn config(&self, daemon: &str) -> PathBuf {
        self.dir.join(format!("{daemon}.conf"))
    }
    /// zebra's API socket.
    pub fn zserv(&self) -> PathBuf {
        self.dir.join("zserv.api")
    }
}

/// The configuration of `daemon` (zebra, staticd, bgpd) of `speaker`.
pub fn render(plan: &Plan, setup: Setup, speaker: Speaker, daemon: &str) -> String {
    let mut c = String::new();
    let role = speaker.role(plan);
    let _ = writeln!(
        c,
        "! FRR {daemon} configuration of {role}, bgp backend ({}), run {}. Generated by cnbench.",
        setup.topology,
        plan.run_id()
    );
    let _ = writeln!(c, "hostname {role}");
    match daemon {
        "zebra" => {}
        "staticd" => {
            if let Speaker::Node(n) = speaker {
                // Calico's blackhole: a packet for an unused address of the block stops here
                // (in pod mode too, where the block itself is not announced).
                for family in plan.families() {
                    let block = block_of(plan, n, family);
                    let _ = writeln!(c, "{} route {block} blackhole", ip_word(family));
                }
            }
        }
        _ => c.push_str(&bgpd(plan, setup, speaker)),
    }
    c
}

/// Node `n`'s pod block of `family`.
fn block_of(plan: &Plan, n: u32, family: Family) -> IpNet {
    let node = &plan.nodes[n as usize];
    match family {
        Family::V4 => node
            .pod_block
            .expect("bgp plans have a block per node")
            .into(),
        Family::V6 => node
            .pod_block6
            .expect("bgp plans with IPv6 have an IPv6 block per node")
            .into(),
    }
}

/// FRR's word for a family in its commands (`ip route`, `ipv6 prefix-list`).
fn ip_word(family: Family) -> &'static str {
    match family {
        Family::V4 => "ip",
        Family::V6 => "ipv6",
    }
}

/// The suffix of a family's prefix-list and route-map names: none for IPv4 (the names an
/// ipv4 run always had), `6` for IPv6.
fn suffix(family: Family) -> &'static str {
    match family {
        Family::V4 => "",
        Family::V6 => "6",
    }
}

/// What a node originates, as a prefix-list entry of `family`: its block, or with
/// `--bgp-announce pod` any host route of the pod network (a /32 or /128: its pods' routes,
/// which zebra learns from the kernel).
fn own_prefixes(plan: &Plan, announce: Announce, n: u32, family: Family) -> String {
    match (announce, family) {
        (Announce::Block, _) => block_of(plan, n, family).to_string(),
        (Announce::Pod, Family::V4) => format!("{} ge 32", plan.spec.pod_cidr),
        (Announce::Pod, Family::V6) => format!(
            "{} ge 128",
            plan.spec
                .pod_cidr6
                .expect("bgp plans with IPv6 have an IPv6 pod network")
        ),
    }
}

fn bgpd(plan: &Plan, setup: Setup, speaker: Speaker) -> String {
    let topology = setup.topology;
    let families = plan.families();
    let mut c = String::new();
    // datacenter: no minimum advertisement interval (traditional waits 30 s per eBGP update).
    c.push_str("frr defaults datacenter\n");
    let peers = peers_of(plan, topology, speaker);
    if let Speaker::Node(n) = speaker {
        for &family in &families {
            let _ = writeln!(
                c,
                "{} prefix-list OWN{} seq 5 permit {}",
                ip_word(family),
                suffix(family),
                own_prefixes(plan, setup.announce, n, family)
            );
        }
        // Routes with an empty AS path: this node's and its iBGP peers' (a reflector's
        // clients'), never what the border router sent (the router tells every node itself).
        c.push_str("bgp as-path access-list IBGP seq 5 permit ^$\n");
        c.push_str("route-map TO_IBGP permit 10\n match as-path IBGP\nexit\n");
        for &family in &families {
            let (ip, sfx) = (ip_word(family), suffix(family));
            let _ = writeln!(
                c,
                "route-map TO_ROUTER{sfx} permit 10\n match {ip} address prefix-list OWN{sfx}"
            );
            if setup.announce == Announce::Pod {
                // A reflector also holds its clients' pods' routes, which the prefix-list
                // matches as well: only what this node took from its own kernel (tagged
                // there; a route's tag stays in this bgpd, BGP does not carry it) goes to the
                // router, as BIRD sends only its kernel protocol's routes.
                let _ = writeln!(c, " match tag {POD_TAG}");
            }
            c.push_str("exit\n");
            if setup.announce == Announce::Pod {
                // The pods' host routes among the kernel routes zebra read (`/32 dev caliX
                // scope link`, proto boot: zebra's type kernel), as Calico's BIRD learns them.
                let _ = writeln!(
                    c,
                    "route-map PODS{sfx} permit 10\n match {ip} address prefix-list OWN{sfx}\n set tag {POD_TAG}\nexit"
                );
            }
        }
    }
    if families.contains(&Family::V6) {
        // An IPv6 route from a peer on the same link carries the peer's global and its
        // link-local address as next hops (RFC 2545 §3), and bgpd installs the link-local one
        // unless told otherwise; Calico's tables (expect.rs) route via the global address.
        c.push_str("route-map FROM_PEER6 permit 10\n set ipv6 next-hop prefer-global\nexit\n");
    }
    let _ = writeln!(c, "router bgp {}", speaker.asn(plan));
    let _ = writeln!(c, " bgp router-id {}", speaker.router_id(plan));
    c.push_str(
        " no bgp ebgp-requires-policy\n no bgp default ipv4-unicast\n no bgp network import-check\n",
    );
    // Graceful restart would keep a dead peer's routes; they must go within the hold time.
    c.push_str(" bgp graceful-restart-disable\n");
    let t = setup.timers;
    let _ = writeln!(c, " timers bgp {} {}", t.keepalive_s, t.hold_s);
    // One session per peer and family, between the two speakers' addresses of that family.
    for &p in &peers {
        for &family in &families {
            let (_, remote) = session_addresses(plan, speaker, p, family);
            let _ = writeln!(c, " neighbor {remote} remote-as {}", p.asn(plan));
            let _ = writeln!(c, " neighbor {remote} timers connect {CONNECT_RETRY_S}");
        }
    }
    for &family in &families {
        let sfx = suffix(family);
        let _ = writeln!(c, " address-family {} unicast", family.as_str());
        if let Speaker::Node(n) = speaker {
            match setup.announce {
                Announce::Block => {
                    let _ = writeln!(c, "  network {}", block_of(plan, n, family));
                }
                Announce::Pod => {
                    let _ = writeln!(c, "  redistribute kernel route-map PODS{sfx}");
                }
            }
        }
        // Both border routers' paths, when a plan has two (ECMP).
        c.push_str("  maximum-paths 8\n  maximum-paths ibgp 8\n");
        for &p in &peers {
            let (_, remote) = session_addresses(plan, speaker, p, family);
            let _ = writeln!(c, "  neighbor {remote} activate");
            if family == Family::V6 {
                let _ = writeln!(c, "  neighbor {remote} route-map FROM_PEER6 in");
            }
            match (speaker, p) {
                (Speaker::Node(me), Speaker::Node(other)) => {
                    if is_reflector(plan, topology, me) && !is_reflector(plan, topology, other) {
                        let _ = writeln!(c, "  neighbor {remote} route-reflector-client");
                    }
                    let _ = writeln!(c, "  neighbor {remote} route-map TO_IBGP out");
                }
                (Speaker::Node(_), Speaker::Router(_)) => {
                    let _ = writeln!(c, "  neighbor {remote} route-map TO_ROUTER{sfx} out");
                }
                // The router passes every block on; a node drops its own AS's coming back.
                (Speaker::Router(_), _) => {}
            }
        }
        c.push_str(" exit-address-family\n");
    }
    c.push_str("exit\n");
    c
}

/// The lines of a daemon's dry run that refuse a configuration.
fn refusals(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains("on config line") || l.contains("% "))
        .collect()
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BgpError + '_ {
    move |source| BgpError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Gives `path` to FRR's user, which its daemons run as.
fn give_to_frr(path: &Path) -> Result<(), BgpError> {
    let out = Command::new("chown")
        .arg("-R")
        .arg("frr:frr")
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .map_err(io(path))?;
    if !out.status.success() {
        return Err(BgpError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(format!(
                "chown frr:frr: {} (does Debian's frr package's user exist?)",
                String::from_utf8_lossy(&out.stderr).trim()
            )),
        });
    }
    Ok(())
}

/// FRR as a [`SpeakerDaemon`].
#[derive(Debug, Clone, Copy)]
pub struct Frr;

impl Frr {
    fn vtysh(
        &self,
        host: &Host,
        plan: &Plan,
        speaker: Speaker,
        daemon: &str,
        command: &str,
    ) -> Result<String, BgpError> {
        let files = FrrFiles::of(plan, speaker);
        let fail = |message: String| BgpError::Cli {
            speaker: speaker.role(plan),
            command: format!(
                "vtysh --vty_socket {} -d {daemon} -c '{command}'",
                files.dir.display()
            ),
            message,
        };
        let args = vec![
            "--vty_socket".to_string(),
            files.dir.display().to_string(),
            "-d".into(),
            daemon.into(),
            "-c".into(),
            command.into(),
        ];
        crate::speaker::run_cli(host, "vtysh", &args, VTYSH_LIMIT, |out| {
            out.status.success() && !out.stdout.trim().is_empty()
        })
        .map_err(fail)
    }
}

impl SpeakerDaemon for Frr {
    fn kind(&self) -> SpeakerKind {
        SpeakerKind::Frr
    }

    fn write_config(
        &self,
        ctx: &Context<'_>,
        setup: Setup,
        speaker: Speaker,
    ) -> Result<(), BgpError> {
        let plan = ctx.plan;
        let files = FrrFiles::of(plan, speaker);
        for daemon in DAEMONS {
            let text = render(plan, setup, speaker, daemon);
            let name = FrrFiles::subdir(plan, speaker).join(format!("{daemon}.conf"));
            write_config_file(ctx.hosts, plan, speaker, &name, &text)?;
        }
        give_to_frr(&files.dir)?;
        // zebra's file holds only its hostname, and its dry run reads the kernel of the
        // namespace it runs in (this machine's own): only staticd's and bgpd's are checked.
        for daemon in ["staticd", "bgpd"] {
            let path = files.config(daemon);
            let mut cmd = Command::new(Path::new(FRR_DIR).join(daemon));
            cmd.arg("-C").arg("-f").arg(&path);
            if daemon == "bgpd" {
                cmd.arg("-S");
            } else {
                cmd.args(["-u", "frr", "-g", "frr"]);
            }
            let out = cmd
                .stdin(Stdio::null())
                .output()
                .map_err(|e| BgpError::Config {
                    speaker: speaker.role(plan),
                    path: path.clone(),
                    message: format!("cannot run {daemon} -C: {e}"),
                })?;
            let stderr = String::from_utf8_lossy(&out.stderr);
            let bad = refusals(&stderr);
            if !out.status.success() || !bad.is_empty() {
                return Err(BgpError::Config {
                    speaker: speaker.role(plan),
                    path,
                    message: format!("{daemon} -C: {}", bad.join(" | ")),
                });
            }
        }
        Ok(())
    }

    fn spawn(
        &self,
        ctx: &Context<'_>,
        _setup: Setup,
        speaker: Speaker,
    ) -> harness::Result<Vec<u32>> {
        let plan = ctx.plan;
        let files = FrrFiles::of(plan, speaker);
        let host = host_of(ctx.hosts, plan, speaker);
        let mut pids = Vec::new();
        // A restart finds the stopped zebra's socket file still there: gone first, the wait
        // below waits for the new zebra. bgpd must have zebra's interfaces before a peer's
        // session comes up, or it keeps no interface for that session and drops every IPv6
        // update with a link-local next hop (the race in the module doc).
        let _ = fs::remove_file(files.zserv());
        for daemon in DAEMONS {
            let stderr = files.dir.join(format!("{daemon}.stderr"));
            let sink = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&stderr)
                .map_err(|e| harness::HarnessError::io(stderr.display().to_string(), e))?;
            let mut cmd = Command::new(Path::new(FRR_DIR).join(daemon));
            cmd.args(["-u", "frr", "-g", "frr"])
                .arg("-f")
                .arg(files.config(daemon))
                .arg("-i")
                .arg(files.dir.join(format!("{daemon}.pid")))
                .arg("-z")
                .arg(files.zserv())
                .arg("--vty_socket")
                .arg(&files.dir)
                .arg("--log")
                .arg(format!(
                    "file:{}",
                    files.dir.join(format!("{daemon}.log")).display()
                ));
            if daemon == "bgpd" {
                cmd.args(["-p", "179"]);
            }
            cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(sink);
            pids.push(
                ctx.procs
                    .spawn(host, ctx.exe, cmd, &process(plan, speaker, daemon))?,
            );
            if daemon == "zebra" {
                // staticd and bgpd retry zebra's socket, but only every few seconds: wait for
                // it, so that the first routes are not held back by a retry timer.
                let deadline = Instant::now() + Duration::from_secs(5);
                while !files.zserv().exists() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
        Ok(pids)
    }

    fn wait_ready(
        &self,
        ctx: &Context<'_>,
        speaker: Speaker,
        pids: &[u32],
        deadline: Instant,
    ) -> Result<(), BgpError> {
        let plan = ctx.plan;
        let host = host_of(ctx.hosts, plan, speaker);
        let files = FrrFiles::of(plan, speaker);
        loop {
            for (&pid, daemon) in pids.iter().zip(DAEMONS) {
                if let Some((exit, _)) = ctx.procs.ended(host.name(), pid) {
                    let log = |ext: &str| {
                        fs::read_to_string(files.dir.join(format!("{daemon}.{ext}")))
                            .unwrap_or_default()
                    };
                    return Err(BgpError::NotRunning {
                        speaker: speaker.role(plan),
                        netns: speaker.netns(plan),
                        what: format!("{daemon} exited at startup ({exit})"),
                        log: format!("{} {}", tail(&log("stderr")), tail(&log("log"))),
                        daemon: "FRR",
                    });
                }
            }
            let ready = ["zebra", "bgpd"]
                .iter()
                .map(|d| self.vtysh(host, plan, speaker, d, "show version"))
                .collect::<Result<Vec<_>, _>>();
            match ready {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() >= deadline => {
                    return Err(BgpError::NotRunning {
                        speaker: speaker.role(plan),
                        netns: speaker.netns(plan),
                        what: format!("did not answer vtysh in time ({e})"),
                        log: String::new(),
                        daemon: "FRR",
                    })
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    /// One `show bgp <family> unicast summary json` per family of the run: a peer address
    /// is a session of the family it is activated in.
    fn sessions(
        &self,
        hosts: &BTreeMap<String, Host>,
        plan: &Plan,
        speaker: Speaker,
    ) -> Result<Vec<BgpProtocol>, BgpError> {
        let host = host_of(hosts, plan, speaker);
        let mut out = Vec::new();
        for family in plan.families() {
            let command = format!("show bgp {} unicast summary json", family.as_str());
            let text = self.vtysh(host, plan, speaker, "bgpd", &command)?;
            out.extend(parse_summary(&text).map_err(|message| BgpError::Cli {
                speaker: speaker.role(plan),
                command: format!("vtysh {command}"),
                message,
            })?);
        }
        Ok(out)
    }

    /// One `show bgp <family> unicast json` per family of the run.
    fn routes(
        &self,
        hosts: &BTreeMap<String, Host>,
        plan: &Plan,
        speaker: Speaker,
    ) -> Result<Vec<String>, BgpError> {
        let host = host_of(hosts, plan, speaker);
        let mut out = Vec::new();
        for family in plan.families() {
            let command = format!("show bgp {} unicast json", family.as_str());
            let text = self.vtysh(host, plan, speaker, "bgpd", &command)?;
            out.extend(parse_routes(&text).map_err(|message| BgpError::Cli {
                speaker: speaker.role(plan),
                command: format!("vtysh {command}"),
                message,
            })?);
        }
        Ok(out)
    }

    fn processes(&self, plan: &Plan, speaker: Speaker) -> Vec<String> {
        // bgpd first: its sessions close with a notification; zebra last takes its routes.
        ["bgpd", "staticd", "zebra"]
            .iter()
            .map(|d| process(plan, speaker, d))
            .collect()
    }

    fn logs(&self, plan: &Plan, speaker: Speaker) -> String {
        let dir = FrrFiles::of(plan, speaker).dir;
        ["bgpd.log", "bgpd.stderr"]
            .iter()
            .map(|f| fs::read_to_string(dir.join(f)).unwrap_or_default())
            .collect()
    }

    /// bgpd logs each NOTIFICATION it sends or receives as `%NOTIFICATION: sent to neighbor
    /// <peer> 4/0 (Hold Timer Expired...)` or `received from neighbor`: only the sent ones
    /// are this speaker's timer.
    fn hold_timer_expiries(&self, logs: &str) -> u64 {
        logs.lines()
            .filter(|l| {
                l.contains("NOTIFICATION: sent to neighbor") && l.contains("Hold Timer Expired")
            })
            .count() as u64
    }

    fn control(&self, plan: &Plan, speaker: Speaker) -> String {
        format!(
            "vtysh --vty_socket {}",
            FrrFiles::of(plan, speaker).dir.display()
        )
    }
}

/// The name of `daemon` of `speaker` in the run's supervisor (`bgpd on n0`).
pub fn process(plan: &Plan, speaker: Speaker, daemon: &str) -> String {
    format!("{daemon} on {}", speaker.role(plan))
}

/// Parses `show bgp ipv4|ipv6 unicast summary json`: one session per peer address.
pub fn parse_summary(text: &str) -> Result<Vec<BgpProtocol>, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let Some(peers) = v["peers"].as_object() else {
        // No session configured (or none yet): FRR prints `{}`.
        return Ok(Vec::new());
    };
    Ok(peers
        .iter()
        .map(|(addr, p)| {
            let state = p["state"].as_str().unwrap_or("?").to_string();
            BgpProtocol {
                name: addr.clone(),
                info: state.clone(),
                state,
            }
        })
        .collect())
}

/// Parses `show bgp ipv4|ipv6 unicast json`: `<prefix> from <next hop>` per path, the next
/// hop its first (an IPv6 path lists its global address first, then the link-local one).
pub fn parse_routes(text: &str) -> Result<Vec<String>, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    if let Some(routes) = v["routes"].as_object() {
        for (prefix, paths) in routes {
            for p in paths.as_array().into_iter().flatten() {
                let via = p["nexthops"][0]["ip"].as_str().unwrap_or("local");
                let via = if via == "0.0.0.0" || via == "::" {
                    "local"
                } else {
                    via
                };
                out.push(format!("{prefix} from {via}"));
            }
        }
    }
    Ok(out)
}
