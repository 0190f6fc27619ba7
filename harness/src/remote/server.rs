//! The agent's end: `cnbench agent --listen <where>` serves one session at a time, and
//! whatever a session made (processes, namespaces, listeners, files) ends with it — after a
//! `Shutdown` and just as well after a dropped connection, so a harness that dies leaves
//! nothing running on the node.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::protocol::{
    read_frame, write_frame, Call, ExitRecord, FromAgent, RemoteError, Reply, ToAgent, Welcome,
    PROTOCOL_VERSION,
};
use crate::checks::reachability;
use crate::error::HarnessError;
use crate::host::{read_proc_net, read_sysctl, write_sysctls};
use crate::netlink::{decode_message, encode_message, Netlink};
use crate::netns::Netns;
use crate::process;

/// Where the agent waits for its harness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// A character device (a VM's virtio-serial port): opened, served, reopened.
    Device(PathBuf),
    /// A unix socket path.
    Unix(PathBuf),
    /// A TCP address (a remote host).
    Tcp(SocketAddr),
    /// Its own stdin and stdout: one session, then exit.
    Stdio,
}

impl std::str::FromStr for Listen {
    type Err = String;
    fn from_str(s: &str) -> Result<Listen, String> {
        if s == "stdio" {
            Ok(Listen::Stdio)
        } else if let Some(p) = s.strip_prefix("unix:") {
            Ok(Listen::Unix(p.into()))
        } else if let Some(a) = s.strip_prefix("tcp:") {
            let addr: SocketAddr = a
                .parse()
                .map_err(|e| format!("--listen {s}: {e}; use tcp:<ip>:<port>"))?;
            // Whoever connects can run programs as root here: until the protocol
            // authenticates its harness, only this machine may connect (reach it from
            // elsewhere through an SSH tunnel, `ssh -L`).
            if !addr.ip().is_loopback() {
                return Err(format!(
                    "--listen {s}: the agent does not authenticate its harness yet, so it \
                     listens on loopback only (tcp:127.0.0.1:<port>, reached through an SSH \
                     tunnel)"
                ));
            }
            Ok(Listen::Tcp(addr))
        } else if s.starts_with('/') {
            Ok(Listen::Device(s.into()))
        } else {
            Err(format!(
                "--listen {s}: use a device path (/dev/vport0p1), unix:<path>, tcp:<ip>:<port> \
                 or stdio"
            ))
        }
    }
}

/// Serves sessions on `listen` until the process is killed (`Stdio`: one session). `exe` is
/// the program a spawn of `cnbench` runs (this binary).
pub fn serve(listen: &Listen, exe: &Path) -> io::Result<()> {
    match listen {
        Listen::Stdio => {
            serve_session(Box::new(io::stdin()), Box::new(io::stdout()), exe);
            Ok(())
        }
        Listen::Device(path) => loop {
            let dev = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)?;
            let reader = dev.try_clone()?;
            eprintln!("cnbench agent: serving on {}", path.display());
            serve_session(Box::new(reader), Box::new(dev), exe);
            // A virtio port reads end-of-file while no host is connected: do not spin.
            std::thread::sleep(Duration::from_millis(200));
        },
        Listen::Unix(path) => {
            let _ = std::fs::remove_file(path);
            let l = std::os::unix::net::UnixListener::bind(path)?;
            for s in l.incoming() {
                let s = s?;
                serve_session(Box::new(s.try_clone()?), Box::new(s), exe);
            }
            Ok(())
        }
        Listen::Tcp(addr) => {
            let l = TcpListener::bind(addr)?;
            for s in l.incoming() {
                let s = s?;
                let _ = s.set_nodelay(true);
                serve_session(Box::new(s.try_clone()?), Box::new(s), exe);
            }
            Ok(())
        }
    }
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEnd {
    /// The harness asked (`Shutdown`).
    Shutdown,
    /// The connection dropped (end of stream or an error), with what happened.
    Dropped(String),
    /// The hello was refused (version mismatch) or was not a hello.
    Refused(String),
}

/// Serves one session on a stream and cleans up after it, however it ended.
pub fn serve_session(
    mut reader: Box<dyn Read + Send>,
    writer: Box<dyn Write + Send>,
    exe: &Path,
) -> SessionEnd {
    let out = Arc::new(Mutex::new(writer));
    let send = |msg: &FromAgent| -> io::Result<()> { write_frame(&mut **lock(&out), msg) };
    let hello = match read_frame::<ToAgent>(&mut *reader) {
        Ok(Some(ToAgent::Hello(h))) => h,
        Ok(Some(ToAgent::Call { .. })) => {
            let reason = "a call before hello".to_string();
            let _ = send(&refused(&reason));
            return SessionEnd::Refused(reason);
        }
        Ok(None) => return SessionEnd::Dropped("closed before hello".into()),
        Err(e) => {
            let reason = format!("unreadable hello: {e}");
            let _ = send(&refused(&reason));
            return SessionEnd::Refused(reason);
        }
    };
    if hello.protocol != PROTOCOL_VERSION {
        let reason = format!(
            "the harness speaks protocol {} and this agent {PROTOCOL_VERSION}",
            hello.protocol
        );
        eprintln!("cnbench agent: refused cnbench {}: {reason}", hello.cnbench);
        let _ = send(&refused(&reason));
        return SessionEnd::Refused(reason);
    }
    let session = match Session::new(&hello.node, Arc::clone(&out), exe) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            let reason = format!("cannot open its own namespace: {e}");
            let _ = send(&refused(&reason));
            return SessionEnd::Refused(reason);
        }
    };
    let welcome = FromAgent::Welcome(Welcome {
        protocol: PROTOCOL_VERSION,
        cnbench: env!("CARGO_PKG_VERSION").to_string(),
        kernel_release: nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default(),
        link_kinds: probe_kinds(),
    });
    if let Err(e) = send(&welcome) {
        session.cleanup();
        return SessionEnd::Dropped(format!("cannot answer hello: {e}"));
    }
    let end = loop {
        match read_frame::<ToAgent>(&mut *reader) {
            Ok(Some(ToAgent::Call {
                id,
                call: Call::Shutdown,
            })) => {
                session.cleanup();
                let _ = send(&FromAgent::Reply {
                    id,
                    result: Ok(Reply::Done),
                });
                break SessionEnd::Shutdown;
            }
            Ok(Some(ToAgent::Call { id, call })) => {
                // Calls run concurrently: a probe that waits must not hold up the others.
                let s = Arc::clone(&session);
                std::thread::spawn(move || match call {
                    // A spawn writes its reply itself, before the process's first line.
                    Call::Spawn {
                        netns,
                        argv,
                        stdin,
                        what,
                    } => s.spawn(id, &netns, argv, stdin, &what),
                    call => {
                        let result = s.handle(call);
                        s.reply(id, result);
                    }
                });
            }
            Ok(Some(ToAgent::Hello(_))) => break SessionEnd::Dropped("a second hello".into()),
            Ok(None) => break SessionEnd::Dropped("the harness closed the connection".into()),
            Err(e) => break SessionEnd::Dropped(format!("connection lost: {e}")),
        }
    };
    if end != SessionEnd::Shutdown {
        eprintln!("cnbench agent: session ended ({end:?}); stopping what it started");
        session.cleanup();
    }
    end
}

fn refused(reason: &str) -> FromAgent {
    FromAgent::Refused {
        protocol: PROTOCOL_VERSION,
        cnbench: env!("CARGO_PKG_VERSION").to_string(),
        reason: reason.to_string(),
    }
}

/// The link kinds the harness may ask for that this kernel can create.
fn probe_kinds() -> Vec<String> {
    const KINDS: [&str; 5] = ["ipip", "vxlan", "veth", "bridge", "tun"];
    match crate::capability::probe_link_kinds(&KINDS) {
        Ok(found) => found
            .into_iter()
            .filter(|k| k.result.is_ok())
            .map(|k| k.kind.to_string())
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A process a session started.
struct Running {
    pid: u32,
    stdin: Option<Arc<Mutex<ChildStdin>>>,
    /// Set by its reader thread when it has been reaped.
    exit: Arc<(Mutex<Option<ExitRecord>>, Condvar)>,
}

struct Session {
    node: String,
    own: Arc<Netns>,
    made: Mutex<BTreeMap<String, Arc<Netns>>>,
    netlinks: Mutex<HashMap<String, Arc<Netlink>>>,
    procs: Mutex<HashMap<u64, Running>>,
    listeners: Mutex<HashMap<u64, TcpListener>>,
    /// The `/run/cnbench/<run>` directories files were written to (with whatever the
    /// session's processes put next to them: BIRD's socket and log).
    run_dirs: Mutex<std::collections::BTreeSet<PathBuf>>,
    /// Set when cleanup begins: a call still running then undoes what it makes.
    closing: std::sync::atomic::AtomicBool,
    next: AtomicU64,
    out: Arc<Mutex<Box<dyn Write + Send>>>,
    exe: PathBuf,
}

type CallResult = Result<Reply, RemoteError>;

fn err(e: impl std::fmt::Display) -> RemoteError {
    RemoteError {
        message: e.to_string(),
        errno: None,
    }
}

impl Session {
    fn new(node: &str, out: Arc<Mutex<Box<dyn Write + Send>>>, exe: &Path) -> io::Result<Session> {
        Ok(Session {
            node: node.to_string(),
            own: Arc::new(Netns::current(node).map_err(io::Error::other)?),
            made: Mutex::new(BTreeMap::new()),
            netlinks: Mutex::new(HashMap::new()),
            procs: Mutex::new(HashMap::new()),
            listeners: Mutex::new(HashMap::new()),
            run_dirs: Mutex::new(Default::default()),
            closing: Default::default(),
            next: AtomicU64::new(1),
            out,
            exe: exe.to_path_buf(),
        })
    }

    /// Answers call `id`; an answer too large for a frame becomes an error that says so, so
    /// the harness is not left waiting.
    fn reply(&self, id: u64, result: CallResult) {
        let mut out = lock(&self.out);
        let sent = write_frame(&mut **out, &FromAgent::Reply { id, result });
        if let Err(e) = sent {
            if e.kind() == io::ErrorKind::InvalidInput {
                let result = Err(err(format!("the answer could not be sent: {e}")));
                let _ = write_frame(&mut **out, &FromAgent::Reply { id, result });
            }
        }
    }

    /// The command of an argv: a program named `cnbench` is this agent's own binary (the
    /// harness cannot know its path here), any other is looked up on this machine's `PATH`.
    fn command(&self, argv: &[String]) -> Result<Command, RemoteError> {
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
    fn ns(&self, name: &str) -> Result<Arc<Netns>, RemoteError> {
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

    fn netlink(&self, name: &str) -> Result<Arc<Netlink>, RemoteError> {
        if let Some(nl) = lock(&self.netlinks).get(name) {
            return Ok(Arc::clone(nl));
        }
        let ns = self.ns(name)?;
        let nl = Arc::new(Netlink::open(&ns).map_err(err)?);
        lock(&self.netlinks).insert(name.to_string(), Arc::clone(&nl));
        Ok(nl)
    }

    fn handle(&self, call: Call) -> CallResult {
        match call {
            Call::CreateNetns { name, sysctls } => {
                if !name.starts_with(crate::netns::NETNS_PREFIX) {
                    return Err(err(format!(
                        "namespace {name}: cnbench makes only namespaces named {}*",
                        crate::netns::NETNS_PREFIX
                    )));
                }
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
                match nl.relay(msg, flags, None) {
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
                if let Some((key, _)) = pairs.iter().find(|(k, _)| !k.starts_with("net.")) {
                    return Err(err(format!("sysctl {key}: the agent sets net.* keys only")));
                }
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
            // Answered by the session loop itself.
            Call::Spawn { .. } | Call::Shutdown => Err(err("not a call of its own")),
            Call::Run {
                netns,
                argv,
                timeout_ms,
            } => {
                let ns = self.ns(&netns)?;
                let cmd = self.command(&argv)?;
                let out = crate::host::run_to_end(&ns, cmd, Duration::from_millis(timeout_ms))
                    .map_err(err)?;
                Ok(Reply::Output {
                    status: out.status,
                    stdout: out.stdout,
                    stderr: out.stderr,
                })
            }
            Call::WriteStdin { proc_id, data } => {
                // Written outside the table's lock: a child that does not read its stdin
                // may block the write, and must not block every other call with it.
                let stdin = lock(&self.procs)
                    .get(&proc_id)
                    .ok_or_else(|| err(format!("no process {proc_id}")))?
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
                let r = running.ok_or_else(|| err(format!("no process {proc_id}")))?;
                Ok(Reply::Exit(stop(&r, Duration::from_millis(grace_ms))))
            }
            Call::WriteFile { path, contents } => {
                let p = PathBuf::from(&path);
                // /run/cnbench/<run>/...: the run's directory goes when the session ends.
                let run_dir: PathBuf = p.components().take(4).collect();
                if !p.starts_with("/run/cnbench/")
                    || path.contains("..")
                    || p.components().count() < 5
                {
                    return Err(err(format!(
                        "{path}: the agent writes only under /run/cnbench/<run>/"
                    )));
                }
                if let Some(dir) = p.parent() {
                    std::fs::create_dir_all(dir).map_err(err)?;
                }
                lock(&self.run_dirs).insert(run_dir);
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
                let echo = reachability::icmp_probe_within(
                    &ns,
                    to,
                    df_size.map(|s| s as usize),
                    Duration::from_millis(timeout_ms),
                );
                Ok(Reply::Echo((&echo).into()))
            }
            Call::TcpListen { netns, ip, port } => {
                let ns = self.ns(&netns)?;
                let l = ns
                    .run_in(|| TcpListener::bind((ip, port)))
                    .map_err(err)?
                    .map_err(|e| RemoteError {
                        message: format!("listen on {ip}:{port}: {e}"),
                        errno: e.raw_os_error(),
                    })?;
                let port = l.local_addr().map_err(err)?.port();
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
                crate::host::accept_within(&l, Duration::from_millis(timeout_ms))
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
                let r =
                    reachability::tcp_connect_to(&ns, ip, port, Duration::from_millis(timeout_ms));
                Ok(Reply::Probe((&r).into()))
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
                let probe = || {
                    reachability::icmp_probe_within(&from, to, None, reachability::PROBE_TIMEOUT)
                        .result
                };
                let (frames, probe) =
                    crate::checks::wire::capture_while(&cap, &nl, &dev, probe).map_err(err)?;
                Ok(Reply::Frames {
                    frames,
                    echo: (&probe).into(),
                })
            }
        }
    }

    fn delete_netns(&self, name: &str) -> crate::error::Result<()> {
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

    /// Starts a process and answers the call `id`: the reply goes out before any of the
    /// process's output, so the harness knows the process when its first line arrives.
    fn spawn(&self, id: u64, netns: &str, argv: Vec<String>, stdin: bool, what: &str) {
        let result = self.start(netns, argv, stdin, what);
        let (result, go) = match result {
            Ok((reply, go)) => (Ok(reply), Some(go)),
            Err(e) => (Err(e), None),
        };
        self.reply(id, result);
        if let Some(go) = go {
            let _ = go.send(());
        }
    }

    fn start(
        &self,
        netns: &str,
        argv: Vec<String>,
        stdin: bool,
        what: &str,
    ) -> Result<(Reply, mpsc::Sender<()>), RemoteError> {
        let ns = self.ns(netns)?;
        let mut cmd = self.command(&argv)?;
        cmd.stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = spawner(ns, cmd, what.to_string()).map_err(err)?;
        let pid = child.id();
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let exit = Arc::new((Mutex::new(None), Condvar::new()));
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        lock(&self.procs).insert(
            id,
            Running {
                pid,
                stdin: child.stdin.take().map(|s| Arc::new(Mutex::new(s))),
                exit: Arc::clone(&exit),
            },
        );
        let ending = self.closing.load(Ordering::SeqCst);
        // Its output waits for `go`, sent once the reply is written.
        let reply = Reply::Spawned { proc_id: id, pid };
        let out = Arc::clone(&self.out);
        let (go_tx, go_rx) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            let tail = Arc::new(Mutex::new(Vec::<String>::new()));
            let tail_w = Arc::clone(&tail);
            let (err_done, err_ended) = mpsc::channel::<()>();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
                    let mut t = lock(&tail_w);
                    t.push(line);
                    if t.len() > 20 {
                        t.remove(0);
                    }
                }
                let _ = err_done.send(());
            });
            let _ = go_rx.recv();
            for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
                let _ = write_frame(&mut **lock(&out), &FromAgent::Output { proc_id: id, line });
            }
            let record = child.wait().map(ExitRecord::from).unwrap_or_default();
            // Reaped: from here on its pid may belong to another process, so `stop` must
            // not signal it any more.
            let (m, cv) = &*exit;
            *lock(m) = Some(record);
            cv.notify_all();
            // A grandchild may hold stderr open: its tail is what arrived by then.
            let _ = err_ended.recv_timeout(Duration::from_secs(1));
            let stderr_tail = lock(&tail).join("\n");
            let _ = write_frame(
                &mut **lock(&out),
                &FromAgent::Exited {
                    proc_id: id,
                    status: record,
                    stderr_tail,
                },
            );
        });
        if ending {
            if let Some(r) = lock(&self.procs).remove(&id) {
                stop(&r, Duration::ZERO);
            }
            return Err(err("the session is ending"));
        }
        Ok((reply, go_tx))
    }

    /// Stops every process, closes every listener, deletes every namespace and file.
    fn cleanup(&self) {
        self.closing.store(true, Ordering::SeqCst);
        let procs: Vec<Running> = lock(&self.procs).drain().map(|(_, r)| r).collect();
        for p in &procs {
            stop(p, Duration::from_millis(200));
        }
        lock(&self.listeners).clear();
        let names: Vec<String> = lock(&self.made).keys().cloned().collect();
        for name in names {
            if let Err(e) = self.delete_netns(&name) {
                eprintln!("cnbench agent: {e}");
            }
        }
        lock(&self.netlinks).clear();
        let dirs = std::mem::take(&mut *lock(&self.run_dirs));
        for dir in dirs {
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                if e.kind() != io::ErrorKind::NotFound {
                    eprintln!("cnbench agent: remove {}: {e}", dir.display());
                }
            }
        }
    }
}

/// SIGTERM, then SIGKILL after `grace`; waits until its reader thread reaped it.
fn stop(p: &Running, grace: Duration) -> ExitRecord {
    let (m, cv) = &*p.exit;
    let pid = Pid::from_raw(p.pid as i32);
    if lock(m).is_none() {
        let _ = kill(pid, Signal::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    let mut done = lock(m);
    while done.is_none() && Instant::now() < deadline {
        done = cv
            .wait_timeout(done, Duration::from_millis(10))
            .map(|(g, _)| g)
            .unwrap_or_else(|p| p.into_inner().0);
    }
    if done.is_none() {
        let _ = kill(pid, Signal::SIGKILL);
        let deadline = Instant::now() + Duration::from_secs(5);
        while done.is_none() && Instant::now() < deadline {
            done = cv
                .wait_timeout(done, Duration::from_millis(10))
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }
    done.unwrap_or_default()
}

type SpawnJob = (
    Arc<Netns>,
    Command,
    String,
    mpsc::Sender<crate::error::Result<std::process::Child>>,
);

/// Starts processes from one thread that lives as long as the agent: `PR_SET_PDEATHSIG`
/// fires when the thread that forked a child exits, and call threads are short-lived.
fn spawner(
    ns: Arc<Netns>,
    cmd: Command,
    what: String,
) -> crate::error::Result<std::process::Child> {
    static JOBS: OnceLock<Mutex<mpsc::Sender<SpawnJob>>> = OnceLock::new();
    let jobs = JOBS.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnJob>();
        std::thread::spawn(move || {
            for (ns, cmd, what, reply) in rx {
                let _ = reply.send(process::spawn_in(&ns, cmd, &what));
            }
        });
        Mutex::new(tx)
    });
    let (tx, rx) = mpsc::channel();
    lock(jobs)
        .send((ns, cmd, what.clone(), tx))
        .map_err(|_| HarnessError::Process {
            what: what.clone(),
            netns: String::new(),
            message: "the agent's spawner thread is gone".into(),
        })?;
    rx.recv().map_err(|_| HarnessError::Process {
        what,
        netns: String::new(),
        message: "the agent's spawner thread is gone".into(),
    })?
}
