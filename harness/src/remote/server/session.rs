//! One session of the agent: the namespaces, processes, listeners and files it made, and
//! the answer to each call.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::procs::{stop, Running};
use super::wire::Out;
use super::{lock, NodeNamespace};
use crate::cost::{RoleSpec, Window};
use crate::local::{exec_to_end, read_proc_net, read_sysctl, write_sysctls, ExecInput};
use crate::netlink::{decode_message, encode_message, Netlink};
use crate::netns::Netns;
use crate::probe;
use crate::process;
use crate::remote::protocol::{Call, FromAgent, RemoteError, Reply};

/// What a session made, and where its answers go.
pub(super) struct Session {
    /// The name the harness gives the agent's own namespace.
    pub(super) node: String,
    /// The node's namespace: the agent's own, or one the session made.
    pub(super) own: Arc<Netns>,
    /// Whether the session made `own` (and deletes it at its end).
    pub(super) own_made: bool,
    /// The namespaces the session made (pods), by name.
    pub(super) made: Mutex<BTreeMap<String, Arc<Netns>>>,
    /// One netlink socket per namespace, opened on first use.
    pub(super) netlinks: Mutex<HashMap<String, Arc<Netlink>>>,
    /// The processes the session started and that have not ended yet, by the id it gave
    /// them (shared with each one's output thread, which removes it once it has ended).
    pub(super) procs: Arc<Mutex<HashMap<u64, Running>>>,
    /// Open TCP listeners (of the checks), by id.
    pub(super) listeners: Mutex<HashMap<u64, TcpListener>>,
    /// The topmost directories the session made to write files in (removed whole).
    pub(super) dirs: Mutex<Vec<PathBuf>>,
    /// Files the session wrote into directories that were there before.
    pub(super) files: Mutex<Vec<PathBuf>>,
    /// Set when cleanup begins: a call still running then undoes what it makes.
    pub(super) closing: std::sync::atomic::AtomicBool,
    /// Open cost windows (`Call::CostStart`), by id: their perf counters close when the
    /// window ends or the session's cleanup drops them.
    pub(super) costs: Mutex<HashMap<u64, Window>>,
    /// The next id of a process, listener or cost window.
    pub(super) next: AtomicU64,
    /// Where frames to the harness go (one writer at a time, each within the deadline).
    pub(super) out: Arc<Out>,
    /// This binary: what a spawn of `cnbench` runs.
    pub(super) exe: PathBuf,
}

pub(super) type CallResult = Result<Reply, RemoteError>;

/// A namespace name the agent accepts: `cnb-` and lowercase letters, digits and dashes, as
/// the harness makes them (nothing that could leave `/run/netns`).
fn check_name(name: &str) -> Result<(), RemoteError> {
    let ok = name.starts_with(crate::netns::NETNS_PREFIX)
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(err(format!(
            "namespace {name:?}: the agent makes only namespaces named {}<letters, digits, \
             dashes>",
            crate::netns::NETNS_PREFIX
        )))
    }
}

/// Sysctls the agent writes: a namespace's networking (`net.*`), nothing machine-wide.
fn check_sysctls(pairs: &[(String, String)]) -> Result<(), RemoteError> {
    match pairs.iter().find(|(k, _)| !k.starts_with("net.")) {
        Some((key, _)) => Err(err(format!("sysctl {key}: the agent sets net.* keys only"))),
        None => Ok(()),
    }
}

/// The answer to a call about a process that is not in the session's table: it has ended
/// (its `Exited` frame went out before it left the table) or was never started.
fn gone(proc_id: u64) -> RemoteError {
    err(format!(
        "process {proc_id} has exited (or this session never started it)"
    ))
}

/// The answer to a call about a cost window the session does not have.
fn no_window(cost_id: u64) -> RemoteError {
    err(format!(
        "cost window {cost_id} has ended (or this session never opened it)"
    ))
}

/// A failed call, in words.
pub(super) fn err(e: impl std::fmt::Display) -> RemoteError {
    RemoteError {
        message: e.to_string(),
        errno: None,
    }
}

impl Session {
    pub(super) fn new(
        node: &str,
        out: Arc<Out>,
        exe: &Path,
        mode: NodeNamespace,
    ) -> io::Result<Session> {
        let own = match mode {
            NodeNamespace::Own => Netns::current(node),
            NodeNamespace::Made => {
                check_name(node).map_err(|e| io::Error::other(e.message))?;
                Netns::create(node)
            }
        };
        Ok(Session {
            node: node.to_string(),
            own: Arc::new(own.map_err(io::Error::other)?),
            own_made: mode == NodeNamespace::Made,
            made: Mutex::new(BTreeMap::new()),
            netlinks: Mutex::new(HashMap::new()),
            procs: Arc::new(Mutex::new(HashMap::new())),
            listeners: Mutex::new(HashMap::new()),
            costs: Mutex::new(HashMap::new()),
            dirs: Mutex::new(Vec::new()),
            files: Mutex::new(Vec::new()),
            closing: Default::default(),
            next: AtomicU64::new(1),
            out,
            exe: exe.to_path_buf(),
        })
    }

    /// Answers call `id`; an answer too large for a frame becomes an error that says so, so
    /// the harness is not left waiting.
    pub(super) fn reply(&self, id: u64, result: CallResult) {
        let sent = self.out.send(&FromAgent::Reply { id, result });
        if let Err(e) = sent {
            if e.kind() == io::ErrorKind::InvalidInput && self.out.dead().is_none() {
                let result = Err(err(format!("the answer could not be sent: {e}")));
                let _ = self.out.send(&FromAgent::Reply { id, result });
            }
        }
    }

    /// The command of an argv: a program named `cnbench` is this agent's own binary (the
    /// harness cannot know its path here), any other is looked up on this machine's `PATH`.
    pub(super) fn command(&self, argv: &[String]) -> Result<Command, RemoteError> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| err("a process with an empty argv"))?;
        let mut cmd = if program == "cnbench" {
            Command::new(&self.exe)
        } else {
            Command::new(program)
        };
        cmd.args(args);
        Ok(cmd)
    }

    /// A namespace of this session: the agent's own, or one it made.
    pub(super) fn ns(&self, name: &str) -> Result<Arc<Netns>, RemoteError> {
        if name == self.node {
            return Ok(Arc::clone(&self.own));
        }
        lock(&self.made).get(name).cloned().ok_or_else(|| {
            err(format!(
                "namespace {name} is neither this node ({}) nor one this session made",
                self.node
            ))
        })
    }

    pub(super) fn netlink(&self, name: &str) -> Result<Arc<Netlink>, RemoteError> {
        if let Some(nl) = lock(&self.netlinks).get(name) {
            return Ok(Arc::clone(nl));
        }
        let ns = self.ns(name)?;
        let nl = Arc::new(Netlink::open(&ns).map_err(err)?);
        lock(&self.netlinks).insert(name.to_string(), Arc::clone(&nl));
        Ok(nl)
    }

    pub(super) fn handle(&self, call: Call) -> CallResult {
        match call {
            Call::CreateNetns { name, sysctls } => {
                check_name(&name)?;
                check_sysctls(&sysctls)?;
                let ns = Netns::create(&name).map_err(err)?;
                let pairs: Vec<(&str, &str)> = sysctls
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let written = write_sysctls(&ns, &pairs);
                lock(&self.made).insert(name.clone(), Arc::new(ns));
                if self.closing.load(Ordering::SeqCst) {
                    let _ = self.delete_netns(&name);
                    return Err(err("the session is ending"));
                }
                written.map_err(err)?;
                Ok(Reply::Done)
            }
            Call::DeleteNetns { name } => {
                self.delete_netns(&name).map_err(err)?;
                Ok(Reply::Done)
            }
            Call::Clock => Ok(Reply::Clock {
                realtime_ns: crate::clock::realtime_ns(),
            }),
            Call::Netlink {
                netns,
                message,
                peer_netns,
            } => {
                let (mut msg, flags) = decode_message(&message).map_err(err)?;
                let nl = self.netlink(&netns)?;
                // The peer is one of this session's namespaces; its fd goes into the request.
                // A namespace by the harness's own fd or pid would mean whatever that number
                // names here (pid 1: this machine's own namespace), so it is refused.
                if crate::netlink::names_netns_by_pid(&mut msg) {
                    return Err(err(
                        "a link request naming a namespace by pid: name it by peer_netns",
                    ));
                }
                let peer = peer_netns.map(|p| self.ns(&p)).transpose()?;
                match &peer {
                    Some(p) => crate::netlink::set_peer_netns_fd(&mut msg, p.fd().as_raw_fd()),
                    None if crate::netlink::names_netns(&mut msg) => {
                        return Err(err(
                            "a link request naming a namespace by fd or pid: name it by \
                             peer_netns",
                        ))
                    }
                    None => {}
                }
                match nl.relay(msg, flags) {
                    Ok(answers) => Ok(Reply::Netlink(
                        answers.into_iter().map(|m| encode_message(m, 0)).collect(),
                    )),
                    Err(e) => Err(RemoteError {
                        message: e.to_string(),
                        errno: e.raw_os_error(),
                    }),
                }
            }
            Call::SetSysctls { netns, pairs } => {
                check_sysctls(&pairs)?;
                let ns = self.ns(&netns)?;
                let pairs: Vec<(&str, &str)> = pairs
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                write_sysctls(&ns, &pairs).map_err(err)?;
                Ok(Reply::Done)
            }
            Call::Sysctl { netns, key } => read_sysctl(&*self.ns(&netns)?, &key)
                .map(Reply::Text)
                .map_err(err),
            Call::ProcNet { netns, file } => {
                if file.contains('/') || file.starts_with('.') {
                    return Err(err(format!("/proc/net/{file}: not a file name")));
                }
                read_proc_net(&*self.ns(&netns)?, &file)
                    .map(Reply::Text)
                    .map_err(err)
            }
            Call::Uplink {
                netns,
                parent,
                kind,
                name,
            } => self.uplink(&netns, &parent, kind, &name),
            Call::ArpProbe {
                netns,
                dev,
                addr,
                wait_ms,
            } => self.arp_probe(&netns, &dev, addr, wait_ms),
            // Answered by the session loop itself.
            Call::Spawn { .. } | Call::Shutdown => Err(err("not a call of its own")),
            Call::Run {
                netns,
                argv,
                timeout_ms,
                env,
                stdin,
            } => {
                let ns = self.ns(&netns)?;
                let cmd = self.command(&argv)?;
                let input = ExecInput {
                    env,
                    stdin,
                    limit: Duration::from_millis(timeout_ms),
                    interruptible: false,
                };
                let out = exec_to_end(&ns, cmd, &input).map_err(err)?;
                Ok(Reply::Output {
                    status: out.status,
                    stdout: out.stdout,
                    stderr: out.stderr,
                    killed: out.killed,
                    pid: out.pid,
                })
            }
            Call::WriteStdin { proc_id, data } => {
                // Written outside the table's lock: a child that does not read its stdin
                // may block the write, and must not block every other call with it.
                let stdin = lock(&self.procs)
                    .get(&proc_id)
                    .ok_or_else(|| gone(proc_id))?
                    .stdin
                    .clone()
                    .ok_or_else(|| err(format!("process {proc_id} has no stdin")))?;
                let mut stdin = lock(&stdin);
                stdin
                    .write_all(data.as_bytes())
                    .and_then(|_| stdin.flush())
                    .map_err(err)?;
                Ok(Reply::Done)
            }
            Call::Stop { proc_id, grace_ms } => {
                let running = lock(&self.procs).remove(&proc_id);
                let r = running.ok_or_else(|| gone(proc_id))?;
                Ok(Reply::Exit(stop(&r, Duration::from_millis(grace_ms))))
            }
            Call::WriteFile { path, contents } => {
                let p = PathBuf::from(&path);
                if !p.starts_with("/run/cnbench/")
                    || path.contains("..")
                    || p.components().count() < 5
                {
                    return Err(err(format!(
                        "{path}: the agent writes only under /run/cnbench/<run>/"
                    )));
                }
                let dir = p.parent().expect("checked depth");
                // The topmost directory that does not exist yet is the session's to remove.
                let first_missing = dir
                    .ancestors()
                    .take_while(|a| !a.exists())
                    .last()
                    .map(Path::to_path_buf);
                std::fs::create_dir_all(dir).map_err(err)?;
                match first_missing {
                    Some(d) => lock(&self.dirs).push(d),
                    None => lock(&self.files).push(p.clone()),
                }
                std::fs::write(&p, contents).map_err(|e| err(format!("write {path}: {e}")))?;
                Ok(Reply::Done)
            }
            Call::IcmpProbe {
                netns,
                to,
                df_size,
                timeout_ms,
            } => {
                let ns = self.ns(&netns)?;
                let echo = probe::icmp_probe_within(
                    &ns,
                    to,
                    df_size.map(|s| s as usize),
                    Duration::from_millis(timeout_ms),
                );
                Ok(Reply::Echo((&echo).into()))
            }
            Call::TcpListen { netns, ip, port } => {
                let ns = self.ns(&netns)?;
                let (l, port) = probe::listen_in(&ns, ip, port).map_err(|e| RemoteError {
                    message: e.to_string(),
                    errno: e.raw_os_error().or_else(|| {
                        (e.kind() == io::ErrorKind::AddrInUse).then_some(libc::EADDRINUSE)
                    }),
                })?;
                let id = self.next.fetch_add(1, Ordering::Relaxed);
                lock(&self.listeners).insert(id, l);
                Ok(Reply::Listening {
                    listener_id: id,
                    port,
                })
            }
            Call::TcpAccept {
                listener_id,
                timeout_ms,
            } => {
                let l = lock(&self.listeners)
                    .remove(&listener_id)
                    .ok_or_else(|| err(format!("no listener {listener_id}")))?;
                probe::accept_within(&l, Duration::from_millis(timeout_ms))
                    .map(Reply::Peer)
                    .map_err(err)
            }
            Call::TcpClose { listener_id } => {
                lock(&self.listeners).remove(&listener_id);
                Ok(Reply::Done)
            }
            Call::TcpConnect {
                netns,
                ip,
                port,
                timeout_ms,
            } => {
                let ns = self.ns(&netns)?;
                let r = probe::tcp_connect_to(&ns, ip, port, Duration::from_millis(timeout_ms));
                Ok(Reply::Probe((&r).into()))
            }
            Call::CostStart {
                roles,
                devices,
                traced,
                untraced_endpoints,
            } => {
                // A role that is not a process of this session is not read (its figures say
                // why); the others are measured all the same.
                let (ok, refused): (Vec<_>, Vec<_>) = roles
                    .into_iter()
                    .map(|r| (self.check_role(&r).err(), r))
                    .partition(|(e, _)| e.is_none());
                let ok: Vec<RoleSpec> = ok.into_iter().map(|(_, r)| r).collect();
                let packets = |netns: &str, dev: &str| self.packets(netns, dev);
                let mut w = Window::start(&ok, &devices, traced, untraced_endpoints, &packets);
                for (e, r) in refused {
                    w.refuse(r, e.map(|e| e.message).unwrap_or_default());
                }
                let cost_id = self.next.fetch_add(1, Ordering::Relaxed);
                lock(&self.costs).insert(cost_id, w);
                if self.closing.load(Ordering::SeqCst) {
                    lock(&self.costs).remove(&cost_id);
                    return Err(err("the session is ending"));
                }
                Ok(Reply::CostStarted { cost_id })
            }
            Call::CostWatch { cost_id, role } => {
                let checked = self.check_role(&role);
                let packets = |netns: &str, dev: &str| self.packets(netns, dev);
                let mut costs = lock(&self.costs);
                let w = costs.get_mut(&cost_id).ok_or_else(|| no_window(cost_id))?;
                match checked {
                    Ok(()) => w.watch(role, &packets),
                    Err(e) => w.refuse(role, e.message),
                }
                Ok(Reply::Done)
            }
            Call::CostStopRole { cost_id, pid } => {
                let mut costs = lock(&self.costs);
                let w = costs.get_mut(&cost_id).ok_or_else(|| no_window(cost_id))?;
                if !w.has_role(pid) {
                    return Err(err(format!(
                        "cost window {cost_id} has no role of pid {pid}"
                    )));
                }
                w.stop_role(pid);
                Ok(Reply::Done)
            }
            Call::CostEnd { cost_id } => {
                let w = lock(&self.costs)
                    .remove(&cost_id)
                    .ok_or_else(|| no_window(cost_id))?;
                let packets = |netns: &str, dev: &str| self.packets(netns, dev);
                Ok(Reply::Cost(w.end(&packets)))
            }
            Call::CaptureEcho {
                capture_netns,
                dev,
                from_netns,
                to,
            } => {
                let cap = self.ns(&capture_netns)?;
                let nl = self.netlink(&capture_netns)?;
                let from = self.ns(&from_netns)?;
                let ping =
                    || probe::icmp_probe_within(&from, to, None, probe::PROBE_TIMEOUT).result;
                let (frames, seen) = probe::capture_while(&cap, &nl, &dev, ping).map_err(err)?;
                Ok(Reply::Frames {
                    frames,
                    echo: (&seen).into(),
                })
            }
        }
    }

    /// A role of a cost window must be a process in one of this session's namespaces: the
    /// agent attaches counters to no other process of its machine.
    fn check_role(&self, role: &RoleSpec) -> Result<(), RemoteError> {
        let ino = self.ns(&role.netns)?.inode().map_err(err)?;
        let link = std::fs::read_link(format!("/proc/{}/ns/net", role.pid))
            .map_err(|e| err(format!("{} (pid {}): {e}", role.role, role.pid)))?;
        if link.to_string_lossy() != format!("net:[{ino}]") {
            return Err(err(format!(
                "{} (pid {}) is not a process in namespace {}",
                role.role, role.pid, role.netns
            )));
        }
        Ok(())
    }

    /// Packets sent plus received by `dev` in `netns` (one of this session's namespaces).
    fn packets(&self, netns: &str, dev: &str) -> Result<u64, String> {
        let l = self
            .netlink(netns)
            .map_err(|e| e.message)?
            .link(dev)
            .map_err(|e| format!("packet counters of {dev} in {netns} unreadable: {e}"))?;
        Ok(l.rx_packets + l.tx_packets)
    }

    pub(super) fn delete_netns(&self, name: &str) -> crate::error::Result<()> {
        let Some(ns) = lock(&self.made).remove(name) else {
            return Ok(());
        };
        lock(&self.netlinks).remove(name);
        // Processes in it first, so nothing keeps its devices alive.
        if let Ok(ino) = ns.inode() {
            process::kill_pids(&process::pids_in_netns(&[ino]), Duration::from_secs(2));
        }
        drop(ns);
        Netns::delete(name)
    }

    /// Stops every process, closes every listener, deletes every namespace and file.
    pub(super) fn cleanup(&self) {
        self.closing.store(true, Ordering::SeqCst);
        let procs: Vec<Running> = lock(&self.procs).drain().map(|(_, r)| r).collect();
        for p in &procs {
            stop(p, Duration::from_millis(200));
        }
        lock(&self.listeners).clear();
        lock(&self.costs).clear();
        let names: Vec<String> = lock(&self.made).keys().cloned().collect();
        for name in names {
            if let Err(e) = self.delete_netns(&name) {
                say!("{e}");
            }
        }
        lock(&self.netlinks).clear();
        if self.own_made {
            if let Ok(ino) = self.own.inode() {
                process::kill_pids(&process::pids_in_netns(&[ino]), Duration::from_secs(2));
            }
            if let Err(e) = Netns::delete(&self.node) {
                say!("{e}");
            }
        }
        // Files first, then the directories the session made (with what its processes put
        // in them, such as BIRD's socket); nothing that was there before.
        for file in std::mem::take(&mut *lock(&self.files)) {
            let _ = std::fs::remove_file(&file);
        }
        for dir in std::mem::take(&mut *lock(&self.dirs)) {
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                if e.kind() != io::ErrorKind::NotFound {
                    say!("remove {}: {e}", dir.display());
                }
            }
        }
    }
}
