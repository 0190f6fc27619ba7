//! The agent's end: `cnbench agent --listen <where>` serves one session at a time, and
//! whatever a session made (processes, namespaces, listeners, files) ends with it — after a
//! `Shutdown` and just as well after a dropped connection, so a harness that dies leaves
//! nothing running on the node.

/// A line to the agent's stderr that never panics: after a cut SSH session its stderr is a
/// closed pipe, and `eprintln!` would panic there, before the session's cleanup ran.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "cnbench agent: {}", format_args!($($arg)*));
    }};
}

mod init;
mod procs;
mod session;
mod uplink;
mod wire;

pub use uplink::preflight;

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use init::{reap_orphans_if_pid1, AfterAgent};
use session::Session;
pub use wire::WRITE_TIMEOUT;
use wire::{Dead, Incoming, Out};

use super::protocol::{
    read_frame, Call, FromAgent, Reply, ToAgent, Versions, Welcome, PROTOCOL_VERSION,
};

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
/// the program a spawn of `cnbench` runs (this binary). A `Stdio` session abandoned because
/// its harness stopped reading is an error (`TimedOut`), so the agent exits saying so.
pub fn serve(listen: &Listen, exe: &Path, options: &SessionOptions) -> io::Result<()> {
    match listen {
        Listen::Stdio => {
            let reader = io::stdin().as_fd().try_clone_to_owned()?;
            let writer = io::stdout().as_fd().try_clone_to_owned()?;
            match serve_session(reader, writer, exe, NodeNamespace::Made, options) {
                SessionEnd::Wedged(why) => Err(io::Error::new(io::ErrorKind::TimedOut, why)),
                _ => Ok(()),
            }
        }
        // A VM's agent is its init: it must never exit, and its machine is the node's alone.
        Listen::Device(path) => loop {
            let opened = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .and_then(|dev| Ok((dev.try_clone()?, dev)));
            match opened {
                Ok((reader, dev)) => {
                    say!("serving on {}", path.display());
                    serve_session(reader.into(), dev.into(), exe, NodeNamespace::Own, options);
                }
                // A port has one opener at a time: threads of the last session may still
                // hold it for a moment.
                Err(e) => say!("{}: {e}; trying again", path.display()),
            }
            // A virtio port reads end-of-file while no host is connected: do not spin.
            std::thread::sleep(Duration::from_millis(200));
        },
        Listen::Unix(path) => {
            // Only a socket left by an earlier agent is replaced, never another file.
            use std::os::unix::fs::FileTypeExt;
            if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
                std::fs::remove_file(path)?;
            }
            let l = std::os::unix::net::UnixListener::bind(path)?;
            for s in l.incoming() {
                let s = s?;
                serve_session(
                    s.try_clone()?.into(),
                    s.into(),
                    exe,
                    NodeNamespace::Made,
                    options,
                );
            }
            Ok(())
        }
        Listen::Tcp(addr) => {
            let l = TcpListener::bind(addr)?;
            for s in l.incoming() {
                let s = s?;
                let _ = s.set_nodelay(true);
                serve_session(
                    s.try_clone()?.into(),
                    s.into(),
                    exe,
                    NodeNamespace::Made,
                    options,
                );
            }
            Ok(())
        }
    }
}

/// How a session is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionOptions {
    /// How long one frame to the harness may take to write before the session is abandoned
    /// as wedged ([`WRITE_TIMEOUT`]).
    pub write_timeout: Duration,
    /// How long the harness may send nothing before the session is taken as cut and cleaned
    /// up ([`IDLE_TIMEOUT`]; none: never).
    pub idle_timeout: Option<Duration>,
}

/// How long a harness may send nothing before its session is taken as cut: six of its
/// keepalives ([`crate::remote::client::KEEPALIVE`]).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

impl Default for SessionOptions {
    fn default() -> SessionOptions {
        SessionOptions {
            write_timeout: WRITE_TIMEOUT,
            idle_timeout: Some(IDLE_TIMEOUT),
        }
    }
}

/// Which namespace is the node's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeNamespace {
    /// The agent's own: a VM whose whole machine is the node (its agent is its init).
    Own,
    /// One the session makes, named as the harness names the node, and deletes at its end:
    /// on a machine that is not the node's alone, the agent never touches its own namespace
    /// (docs/design.md §5 rule 1).
    Made,
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
    /// The harness stopped reading: a frame to it was not written within the write timeout,
    /// and the session was abandoned (and cleaned up) without waiting for it.
    Wedged(String),
}

/// Serves one session on a stream (its two ends: the same socket twice, or two pipes) and
/// cleans up after it, however it ended. Each frame to the harness is written within
/// `options.write_timeout`; one that is not ends the session ([`SessionEnd::Wedged`]).
pub fn serve_session(
    reader: OwnedFd,
    writer: OwnedFd,
    exe: &Path,
    node: NodeNamespace,
    options: &SessionOptions,
) -> SessionEnd {
    let out = Arc::new(Out::new(writer, options.write_timeout));
    let mut reader = Incoming {
        fd: reader,
        out: &out,
        idle: options.idle_timeout,
        last: std::time::Instant::now(),
    };
    let send = |msg: &FromAgent| -> io::Result<()> { out.send(msg) };
    // The versions first: a hello of another version may have another shape.
    let first = match read_frame::<serde_json::Value>(&mut reader) {
        Ok(Some(v)) => v,
        Ok(None) => return SessionEnd::Dropped("closed before hello".into()),
        Err(e) => {
            let reason = format!("unreadable hello: {e}");
            let _ = send(&refused(&reason));
            return SessionEnd::Refused(reason);
        }
    };
    if let Some(v) = Versions::of(&first).filter(|v| v.protocol != PROTOCOL_VERSION) {
        let reason = format!(
            "the harness speaks protocol {} and this agent {PROTOCOL_VERSION}",
            v.protocol
        );
        say!("refused cnbench {}: {reason}", v.cnbench);
        let _ = send(&refused(&reason));
        return SessionEnd::Refused(reason);
    }
    let hello = match serde_json::from_value::<ToAgent>(first) {
        Ok(ToAgent::Hello(h)) => h,
        Ok(ToAgent::Call { .. }) => {
            let reason = "a call before hello".to_string();
            let _ = send(&refused(&reason));
            return SessionEnd::Refused(reason);
        }
        Err(e) => {
            let reason = format!("unreadable hello: {e}");
            let _ = send(&refused(&reason));
            return SessionEnd::Refused(reason);
        }
    };
    let session = match Session::new(&hello.node, Arc::clone(&out), exe, node) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            let reason = format!("cannot make or open the node's namespace: {e}");
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
        match read_frame::<ToAgent>(&mut reader) {
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
            Err(e) => match out.dead() {
                Some(Dead::TimedOut(why)) => break SessionEnd::Wedged(why),
                _ => break SessionEnd::Dropped(format!("connection lost: {e}")),
            },
        }
    };
    if end != SessionEnd::Shutdown {
        say!("session ended ({end:?}); stopping what it started");
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

/// The link kinds the harness may ask for (those its netlink layer creates) that this kernel
/// can create.
fn probe_kinds() -> Vec<String> {
    kinds_here(&crate::netlink::CREATED_KINDS)
}

/// Which of `kinds` this kernel can create (tried in a scratch namespace); none when the
/// probe itself cannot run.
pub(super) fn kinds_here(kinds: &[&str]) -> Vec<String> {
    match crate::detect::probe_link_kinds(kinds) {
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
