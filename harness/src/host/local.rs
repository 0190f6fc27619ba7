//! What a host does when its namespace is on this machine: the implementations a node
//! agent also runs for the harness (so both substrates behave alike by construction).

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::CmdOutput;
use crate::error::{HarnessError, Result};
use crate::netns::Netns;
use crate::process;

/// Opens a TCP listener on `ip:port` (0: any free port) in a namespace of this machine;
/// returns it and its port. The error says where, and keeps its kind (`AddrInUse`).
pub(crate) fn listen_in(
    ns: &Netns,
    ip: Ipv4Addr,
    port: u16,
) -> std::io::Result<(TcpListener, u16)> {
    let l = ns
        .run_in(|| TcpListener::bind((ip, port)))
        .map_err(std::io::Error::other)?
        .map_err(|e| std::io::Error::new(e.kind(), format!("listen on {ip}:{port}: {e}")))?;
    let port = l.local_addr()?.port();
    Ok((l, port))
}

/// Waits up to `timeout` for one connection on `l` and returns its source address.
pub(crate) fn accept_within(
    l: &TcpListener,
    timeout: Duration,
) -> std::result::Result<Ipv4Addr, String> {
    let _ = l.set_nonblocking(true);
    let deadline = Instant::now() + timeout;
    loop {
        match l.accept() {
            Ok((_, SocketAddr::V4(peer))) => return Ok(*peer.ip()),
            Ok((_, other)) => return Err(format!("unexpected peer {other}")),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(format!("accept: {e}")),
        }
    }
}

/// Runs `cmd` inside a namespace of this machine to its end, killing it after `limit`.
pub(crate) fn run_to_end(ns: &Netns, mut cmd: Command, limit: Duration) -> Result<CmdOutput> {
    let what = format!("{:?}", cmd.get_program());
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = process::spawn_in(ns, cmd, &what)?;
    // The pipes are drained on threads, so a chatty program cannot block on a full one.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_string(&mut s);
            }
            s
        })
    };
    let out = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let err = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                process::stop(&mut child, Duration::from_millis(100));
                return Err(HarnessError::Process {
                    what,
                    netns: ns.name().to_string(),
                    message: format!("did not finish within {} ms", limit.as_millis()),
                });
            }
        }
    };
    Ok(CmdOutput {
        status: status.into(),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

/// Writes sysctls of a namespace of this machine, on one thread that entered it.
pub(crate) fn write_sysctls(ns: &Netns, pairs: &[(&str, &str)]) -> Result<()> {
    let written = ns.run_in(|| {
        for (key, value) in pairs {
            let path = format!("/proc/sys/{}", key.replace('.', "/"));
            fs::write(&path, value).map_err(|e| (key, value, e))?;
        }
        Ok(())
    })?;
    written.map_err(|(key, value, e)| {
        HarnessError::io(format!("in {}: set {key}={value}", ns.name()), e)
    })
}

/// Reads a sysctl of a namespace of this machine.
pub(crate) fn read_sysctl(ns: &Netns, key: &str) -> Result<String> {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    ns.run_in(|| fs::read_to_string(&path))?
        .map(|s| s.trim().to_string())
        .map_err(|e| HarnessError::io(format!("in {}: read {key}", ns.name()), e))
}

/// Reads `/proc/net/<file>` as a namespace of this machine sees it (`/proc/net` follows the
/// reading thread's namespace).
pub(crate) fn read_proc_net(ns: &Netns, file: &str) -> Result<String> {
    let path = format!("/proc/thread-self/net/{file}");
    ns.run_in(|| fs::read_to_string(&path))?
        .map_err(|e| HarnessError::io(format!("in {}: read /proc/net/{file}", ns.name()), e))
}
