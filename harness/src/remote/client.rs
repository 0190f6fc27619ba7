//! The harness's end of a node agent session: calls from many threads over one stream, a
//! reader thread that hands each reply to its caller and each process event to its process.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use netlink_packet_route::RouteNetlinkMessage;

use super::protocol::{
    read_frame, write_frame, Call, ExitRecord, FromAgent, Hello, RemoteError, Reply, ToAgent,
    Versions, Welcome, PROTOCOL_VERSION,
};
use crate::error::{HarnessError, Result};
use crate::netlink::{decode_message, encode_message};
use crate::signals;

/// How long an ordinary call may take before the agent counts as hung. Calls that wait on
/// purpose (a probe, an accept) add their own timeout to it.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// What happened to a process the agent started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcEvent {
    /// A line of its stdout.
    Line(String),
    /// It ended; the last lines of its stderr.
    Exited(ExitRecord, String),
}

type Answer = (
    std::result::Result<Reply, RemoteError>,
    Option<Receiver<ProcEvent>>,
);

/// The byte stream to an agent, and how to close it for good.
pub struct Connection {
    /// What the agent sends.
    pub reader: Box<dyn Read + Send>,
    /// What the harness sends.
    pub writer: Box<dyn Write + Send>,
    /// Ends the connection in both directions. A socket's reader and writer are clones of
    /// one fd, so dropping the writer alone would not end it; pipes need nothing more.
    pub close: Box<dyn Fn() + Send + Sync>,
}

impl Connection {
    /// A unix socket (a VM's control socket).
    pub fn unix(stream: std::os::unix::net::UnixStream) -> io::Result<Connection> {
        let reader = stream.try_clone()?;
        let closer = stream.try_clone()?;
        Ok(Connection {
            reader: Box::new(reader),
            writer: Box::new(stream),
            close: Box::new(move || {
                let _ = closer.shutdown(std::net::Shutdown::Both);
            }),
        })
    }

    /// A pair of pipes (an agent started as a child with `--listen stdio`): dropping the
    /// writer closes the agent's stdin.
    pub fn pipes(reader: Box<dyn Read + Send>, writer: Box<dyn Write + Send>) -> Connection {
        Connection {
            reader,
            writer,
            close: Box::new(|| {}),
        }
    }
}

struct Shared {
    /// What the harness calls the node (`cnb-<run>-node0`), for messages.
    node: String,
    /// Where to look when the session dies (a VM's console log), for messages.
    look_at: String,
    writer: Mutex<Box<dyn Write + Send>>,
    close: Box<dyn Fn() + Send + Sync>,
    pending: Mutex<HashMap<u64, Sender<Answer>>>,
    procs: Mutex<HashMap<u64, Sender<ProcEvent>>>,
    /// Why the session ended, once it has.
    dead: Mutex<Option<String>>,
    /// The next call id.
    next_id: AtomicU64,
}

/// The agent's first message, read versions first: an answer of another version may have
/// another shape.
enum FirstAnswer {
    Welcome(Welcome),
    Refused(Versions, String),
    OtherVersion(Versions),
    Unexpected(String),
}

impl FirstAnswer {
    fn of(v: serde_json::Value) -> FirstAnswer {
        let versions = Versions::of(&v);
        match serde_json::from_value::<FromAgent>(v) {
            Ok(FromAgent::Welcome(w)) if w.protocol == PROTOCOL_VERSION => FirstAnswer::Welcome(w),
            Ok(FromAgent::Refused {
                protocol,
                cnbench,
                reason,
            }) => FirstAnswer::Refused(Versions { protocol, cnbench }, reason),
            other => match versions {
                Some(v) if v.protocol != PROTOCOL_VERSION => FirstAnswer::OtherVersion(v),
                _ => FirstAnswer::Unexpected(match other {
                    Ok(m) => format!("{m:?}"),
                    Err(e) => e.to_string(),
                }),
            },
        }
    }
}

/// A session with one node agent. Cheap to share (`Arc`); every method may be called from
/// any thread.
pub struct AgentClient {
    shared: Arc<Shared>,
    welcome: Welcome,
}

impl std::fmt::Debug for AgentClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentClient")
            .field("node", &self.shared.node)
            .finish()
    }
}

impl AgentClient {
    /// Opens a session: sends [`Hello`] naming `node`, waits up to `timeout` for the agent's
    /// answer (giving up at SIGINT/SIGTERM), then starts the reader thread. `look_at` says
    /// where to look when the session dies (a log file). A version mismatch is refused by
    /// the agent, and named here, with the two versions and the fix; a `Welcome` of another
    /// version is refused here.
    pub fn connect(
        node: &str,
        look_at: &str,
        conn: Connection,
        timeout: Duration,
    ) -> Result<AgentClient> {
        let Connection {
            mut reader,
            mut writer,
            close,
        } = conn;
        let fail = |message: String| HarnessError::Agent {
            node: node.to_string(),
            message,
        };
        let hello = ToAgent::Hello(Hello {
            protocol: PROTOCOL_VERSION,
            cnbench: env!("CARGO_PKG_VERSION").to_string(),
            node: node.to_string(),
        });
        write_frame(&mut *writer, &hello).map_err(|e| fail(format!("cannot send hello: {e}")))?;
        // The first answer is read on a thread so a silent agent cannot hang the harness.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let first = read_frame::<serde_json::Value>(&mut *reader);
            let _ = tx.send((first, reader));
        });
        let deadline = Instant::now() + timeout;
        let (first, reader) = loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(answer) => break answer,
                Err(_) if signals::interrupted() => {
                    close();
                    return Err(HarnessError::Interrupted);
                }
                Err(_) if Instant::now() >= deadline => {
                    close();
                    return Err(fail(format!(
                        "no answer to hello within {} s (see {look_at})",
                        timeout.as_secs()
                    )));
                }
                Err(_) => {}
            }
        };
        let answer = match first {
            Ok(Some(v)) => FirstAnswer::of(v),
            Ok(None) => {
                return Err(fail(format!(
                    "closed the connection before answering hello (see {look_at})"
                )))
            }
            Err(e) => FirstAnswer::Unexpected(e.to_string()),
        };
        let ours = format!(
            "harness: cnbench {}, protocol {PROTOCOL_VERSION}",
            env!("CARGO_PKG_VERSION")
        );
        let welcome = match answer {
            FirstAnswer::Welcome(w) => w,
            FirstAnswer::Refused(v, reason) => {
                return Err(fail(format!(
                    "refused the session: {reason} (agent: cnbench {}, protocol {}; {ours}); \
                     run the same cnbench build on both ends",
                    v.cnbench, v.protocol
                )))
            }
            FirstAnswer::OtherVersion(v) => {
                close();
                return Err(fail(format!(
                    "answered in another protocol (agent: cnbench {}, protocol {}; {ours}); \
                     run the same cnbench build on both ends",
                    v.cnbench, v.protocol
                )));
            }
            FirstAnswer::Unexpected(what) => {
                close();
                return Err(fail(format!(
                    "bad answer to hello ({what}): not a cnbench agent of this protocol"
                )));
            }
        };
        let shared = Arc::new(Shared {
            node: node.to_string(),
            look_at: look_at.to_string(),
            writer: Mutex::new(writer),
            close,
            pending: Mutex::new(HashMap::new()),
            procs: Mutex::new(HashMap::new()),
            dead: Mutex::new(None),
            next_id: AtomicU64::new(1),
        });
        let for_reader = Arc::clone(&shared);
        std::thread::Builder::new()
            .name(format!("agent-{node}"))
            .spawn(move || read_loop(&for_reader, reader))
            .map_err(|e| fail(format!("cannot start its reader thread: {e}")))?;
        let for_keepalive = Arc::downgrade(&shared);
        std::thread::Builder::new()
            .name(format!("keepalive-{node}"))
            .spawn(move || keepalive(for_keepalive))
            .map_err(|e| fail(format!("cannot start its keepalive thread: {e}")))?;
        Ok(AgentClient { shared, welcome })
    }

    /// What the agent said about itself.
    pub fn welcome(&self) -> &Welcome {
        &self.welcome
    }

    /// The node this session drives.
    pub fn node(&self) -> &str {
        &self.shared.node
    }

    /// Why the session ended, if it has.
    pub fn dead(&self) -> Option<String> {
        lock(&self.shared.dead).clone()
    }

    fn error(&self, message: String) -> HarnessError {
        HarnessError::Agent {
            node: self.shared.node.clone(),
            message,
        }
    }

    /// Sends a call and waits up to `limit` for its reply.
    pub fn call(&self, call: Call, limit: Duration) -> Result<Reply> {
        self.call_with_events(call, limit).map(|(r, _)| r)
    }

    /// [`AgentClient::call`] that keeps the agent's refusal as it came (with its errno);
    /// the outer error is the session's.
    pub fn call_raw(
        &self,
        call: Call,
        limit: Duration,
    ) -> Result<std::result::Result<Reply, RemoteError>> {
        match self.call_with_events_raw(call, limit)? {
            (Ok(r), _) => Ok(Ok(r)),
            (Err(e), _) => Ok(Err(e)),
        }
    }

    fn call_with_events(
        &self,
        call: Call,
        limit: Duration,
    ) -> Result<(Reply, Option<Receiver<ProcEvent>>)> {
        match self.call_with_events_raw(call, limit)? {
            (Ok(reply), events) => Ok((reply, events)),
            (Err(e), _) => Err(self.error(e.message)),
        }
    }

    /// Sends a call and waits up to `limit` for its answer. Not cut short by SIGINT: every
    /// call has a limit of its own, and teardown's calls must finish after a Ctrl-C.
    fn call_with_events_raw(&self, call: Call, limit: Duration) -> Result<Answer> {
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel();
        // Registered before the session is checked, so a death in between drops `tx`.
        lock(&self.shared.pending).insert(id, tx);
        let forget = || {
            lock(&self.shared.pending).remove(&id);
        };
        if let Some(why) = self.dead() {
            forget();
            return Err(self.error(why));
        }
        let sent = write_frame(
            &mut **lock(&self.shared.writer),
            &ToAgent::Call { id, call },
        );
        if let Err(e) = sent {
            forget();
            let why = format!("connection lost while sending a request: {e}");
            mark_dead(&self.shared, why.clone());
            return Err(self.error(why));
        }
        match rx.recv_timeout(limit) {
            Ok(answer) => Ok(answer),
            Err(RecvTimeoutError::Disconnected) => {
                let why = self.dead().unwrap_or_else(|| "session ended".into());
                Err(self.error(why))
            }
            Err(RecvTimeoutError::Timeout) => {
                forget();
                // An answer that came in between still names what it made: undo it.
                if let Ok((Ok(reply), _)) = rx.try_recv() {
                    undo(&self.shared, &reply);
                }
                Err(self.error(format!(
                    "no reply within {} s (see {})",
                    limit.as_secs(),
                    self.shared.look_at
                )))
            }
        }
    }

    /// Starts a process in `netns` on the agent's machine.
    pub fn spawn(
        self: &Arc<Self>,
        netns: &str,
        argv: Vec<String>,
        stdin: bool,
        what: &str,
    ) -> Result<RemoteProc> {
        let call = Call::Spawn {
            netns: netns.to_string(),
            argv,
            stdin,
            what: what.to_string(),
        };
        match self.call_with_events(call, CALL_TIMEOUT)? {
            (Reply::Spawned { proc_id, pid }, Some(events)) => Ok(RemoteProc {
                agent: Arc::clone(self),
                proc_id,
                pid,
                events,
                exit: None,
            }),
            (other, _) => Err(self.error(format!("answered a spawn with {other:?}"))),
        }
    }

    /// How far the agent machine's wall clock is from this one's ([`crate::clock`]).
    pub fn clock_offset(&self) -> Result<crate::clock::ClockOffset> {
        crate::clock::measure(CALL_TIMEOUT, || {
            match self.call(Call::Clock, CALL_TIMEOUT)? {
                Reply::Clock { realtime_ns } => Ok(realtime_ns),
                other => Err(self.error(format!("answered a clock reading with {other:?}"))),
            }
        })
    }

    /// Ends the session politely: the agent stops what it started and deletes the
    /// namespaces it made; then the session is over on this side too (a VM's agent closes
    /// only its port, not the host's socket, so the harness does not wait to see it close).
    pub fn shutdown(&self, limit: Duration) -> Result<()> {
        let answer = self.call(Call::Shutdown, limit);
        let was_dead = self.dead().is_some();
        self.end();
        match answer {
            Ok(_) => Ok(()),
            // The agent may close the stream right after its reply; losing that race is fine.
            Err(_) if was_dead => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Ends the session on this side: later calls fail at once, and the connection closes.
    pub fn end(&self) {
        mark_dead(&self.shared, "the session was ended".into());
        (self.shared.close)();
    }

    /// Sends an ICMP probe: see [`Call::IcmpProbe`].
    pub fn icmp_probe(
        &self,
        netns: &str,
        to: IpAddr,
        df_size: Option<u32>,
        timeout: Duration,
    ) -> Result<Reply> {
        self.call(
            Call::IcmpProbe {
                netns: netns.to_string(),
                to,
                df_size,
                timeout_ms: timeout.as_millis() as u64,
            },
            CALL_TIMEOUT + timeout,
        )
    }
}

impl Drop for AgentClient {
    fn drop(&mut self) {
        // The connection ends: the agent sees the harness gone and stops what the session
        // started; the reader thread sees the end and marks the session dead.
        (self.shared.close)();
        *lock(&self.shared.writer) = Box::new(io::sink());
    }
}

/// What [`RemoteProc::next_line`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// A line of its stdout.
    Line(String),
    /// It has ended ([`RemoteProc::exit`] says how).
    Ended,
    /// Nothing within the limit.
    Nothing,
}

/// A process the agent started: its stdout lines and its end arrive as events.
pub struct RemoteProc {
    agent: Arc<AgentClient>,
    proc_id: u64,
    pid: u32,
    events: Receiver<ProcEvent>,
    exit: Option<(ExitRecord, String)>,
}

impl std::fmt::Debug for RemoteProc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteProc")
            .field("node", &self.agent.node())
            .field("pid", &self.pid)
            .finish()
    }
}

impl RemoteProc {
    /// Its pid on the agent's machine.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Waits up to `limit` for its next stdout line. An error only when the session died.
    pub fn next_line(&mut self, limit: Duration) -> Result<Next> {
        if self.exit.is_some() {
            return Ok(Next::Ended);
        }
        match self.events.recv_timeout(limit) {
            Ok(ProcEvent::Line(l)) => Ok(Next::Line(l)),
            Ok(ProcEvent::Exited(status, tail)) => {
                self.exit = Some((status, tail));
                Ok(Next::Ended)
            }
            Err(RecvTimeoutError::Timeout) => Ok(Next::Nothing),
            Err(RecvTimeoutError::Disconnected) => Err(self
                .agent
                .error(self.agent.dead().unwrap_or_else(|| "session ended".into()))),
        }
    }

    /// How it ended and the tail of its stderr, once it has.
    pub fn exit(&self) -> Option<&(ExitRecord, String)> {
        self.exit.as_ref()
    }

    /// Writes to its stdin.
    pub fn write_stdin(&self, data: &str) -> Result<()> {
        self.agent
            .call(
                Call::WriteStdin {
                    proc_id: self.proc_id,
                    data: data.to_string(),
                },
                CALL_TIMEOUT,
            )
            .map(|_| ())
    }

    /// Stops it (SIGTERM, SIGKILL after `grace`) and returns how it ended.
    pub fn stop(&mut self, grace: Duration) -> Result<ExitRecord> {
        if let Some((e, _)) = &self.exit {
            return Ok(*e);
        }
        let reply = match self.agent.call(
            Call::Stop {
                proc_id: self.proc_id,
                grace_ms: grace.as_millis() as u64,
            },
            CALL_TIMEOUT + grace,
        ) {
            Ok(reply) => reply,
            Err(e) => {
                // It ended by itself before the stop arrived: the agent forgets a process
                // once its `Exited` frame is out, so that frame came before this answer and
                // its event is already here.
                while let Ok(ev) = self.events.try_recv() {
                    if let ProcEvent::Exited(status, tail) = ev {
                        self.exit = Some((status, tail));
                    }
                }
                return match &self.exit {
                    Some((status, _)) => Ok(*status),
                    None => Err(e),
                };
            }
        };
        // Drain what it wrote before it ended, so `exit` is known.
        while let Ok(ev) = self.events.recv_timeout(Duration::from_secs(1)) {
            if let ProcEvent::Exited(status, tail) = ev {
                self.exit = Some((status, tail));
                break;
            }
        }
        match reply {
            Reply::Exit(e) => {
                // Known to have ended, even if its Exited event is still on its way.
                self.exit.get_or_insert((e, String::new()));
                Ok(e)
            }
            other => Err(self.agent.error(format!("answered a stop with {other:?}"))),
        }
    }
}

impl Drop for RemoteProc {
    fn drop(&mut self) {
        // A process nobody holds any more is not left running on the agent (a stop of an
        // already dead session fails at once).
        if self.exit.is_none() && self.agent.dead().is_none() {
            let _ = self.stop(Duration::from_millis(200));
        }
    }
}

/// Ends every live session of `agents` politely (each agent stops its processes and deletes
/// its namespaces), each given 10 s; returns every error (it never stops early).
pub fn shutdown_all(agents: &[Arc<AgentClient>]) -> Vec<HarnessError> {
    agents
        .iter()
        .filter(|a| a.dead().is_none())
        .filter_map(|a| a.shutdown(Duration::from_secs(10)).err())
        .collect()
}

/// How often the harness tells an agent it is still there: an agent that hears nothing for
/// its idle timeout (60 s by default, `cnbench agent --idle-timeout`) takes its session as
/// cut and cleans up.
pub const KEEPALIVE: Duration = Duration::from_secs(10);

/// Sends a `Clock` call every [`KEEPALIVE`] while the session lives (its reply, which
/// nobody waits for, is dropped by the reader), so that an agent whose harness is cut off
/// by the network, not closed, still ends its session.
fn keepalive(shared: std::sync::Weak<Shared>) {
    let mut since = std::time::Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if lock(&shared.dead).is_some() {
            return;
        }
        if since.elapsed() < KEEPALIVE {
            continue;
        }
        since = std::time::Instant::now();
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        let sent = write_frame(
            &mut **lock(&shared.writer),
            &ToAgent::Call {
                id,
                call: Call::Clock,
            },
        );
        if sent.is_err() {
            return;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn mark_dead(shared: &Shared, why: String) {
    let mut dead = lock(&shared.dead);
    if dead.is_none() {
        *dead = Some(why);
    }
    drop(dead);
    // Dropping the senders wakes every waiting caller and process reader with the reason.
    lock(&shared.pending).clear();
    lock(&shared.procs).clear();
}

/// Stops or closes what a call nobody waits for any more made on the agent (a process, a
/// listener); the answer to that is for nobody either.
fn undo(shared: &Shared, reply: &Reply) {
    let call = match *reply {
        Reply::Spawned { proc_id, .. } => {
            lock(&shared.procs).remove(&proc_id);
            Call::Stop {
                proc_id,
                grace_ms: 0,
            }
        }
        Reply::Listening { listener_id, .. } => Call::TcpClose { listener_id },
        _ => return,
    };
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let _ = write_frame(&mut **lock(&shared.writer), &ToAgent::Call { id, call });
}

fn read_loop(shared: &Shared, mut reader: Box<dyn Read + Send>) {
    let why = loop {
        match read_frame::<FromAgent>(&mut *reader) {
            Ok(Some(FromAgent::Reply { id, result })) => {
                let events = match &result {
                    // Registered before the caller even sees the reply: the agent may send
                    // the first output line right behind it.
                    Ok(Reply::Spawned { proc_id, .. }) => {
                        let (tx, rx) = mpsc::channel();
                        lock(&shared.procs).insert(*proc_id, tx);
                        Some(rx)
                    }
                    _ => None,
                };
                let waiting = lock(&shared.pending).remove(&id);
                match (waiting, &result) {
                    (Some(tx), _) => {
                        let _ = tx.send((result, events));
                    }
                    // Made after its caller gave up: nobody will ever stop it.
                    (None, Ok(reply)) => undo(shared, reply),
                    (None, Err(_)) => {}
                }
            }
            Ok(Some(FromAgent::Output { proc_id, line })) => {
                if let Some(tx) = lock(&shared.procs).get(&proc_id) {
                    let _ = tx.send(ProcEvent::Line(line));
                }
            }
            Ok(Some(FromAgent::Exited {
                proc_id,
                status,
                stderr_tail,
            })) => {
                if let Some(tx) = lock(&shared.procs).remove(&proc_id) {
                    let _ = tx.send(ProcEvent::Exited(status, stderr_tail));
                }
            }
            Ok(Some(other)) => break format!("sent {other:?} in the middle of a session"),
            Ok(None) => {
                break format!(
                    "the agent closed the connection (the node stopped or the agent crashed: \
                     see {})",
                    shared.look_at
                )
            }
            Err(e) => break format!("connection lost: {e} (see {})", shared.look_at),
        }
    };
    mark_dead(shared, why);
}

impl crate::netlink::Relay for AgentClient {
    /// Relays one rtnetlink request; the errno of a refusal comes back as the same OS error
    /// a local socket would give, so messages and hints are the same on every substrate.
    fn netlink(
        &self,
        netns: &str,
        msg: RouteNetlinkMessage,
        flags: u16,
        peer: Option<&str>,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        let call = Call::Netlink {
            netns: netns.to_string(),
            message: encode_message(msg, flags),
            peer_netns: peer.map(str::to_string),
        };
        // The session's own failures are not the kernel's: no errno, the agent named.
        let lost = |e: HarnessError| io::Error::new(io::ErrorKind::BrokenPipe, e.to_string());
        match self
            .call_with_events_raw(call, CALL_TIMEOUT)
            .map_err(lost)?
        {
            (Ok(Reply::Netlink(answers)), _) => answers
                .iter()
                .map(|b| decode_message(b).map(|(m, _)| m))
                .collect(),
            (Ok(other), _) => Err(io::Error::other(format!(
                "agent of {} answered a netlink request with {other:?}",
                self.shared.node
            ))),
            // The kernel's refusal on the agent is the same OS error here.
            (Err(e), _) => Err(match e.errno {
                Some(errno) => io::Error::from_raw_os_error(errno),
                None => io::Error::other(format!("agent of {}: {}", self.shared.node, e.message)),
            }),
        }
    }
}
