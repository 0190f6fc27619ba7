//! What a namespace of this machine does for a host: run a program to its end, read and
//! write sysctls and `/proc/net` files. A [`crate::host::Host`] here calls these, and a node
//! agent calls the same ones for its harness, so both substrates behave alike by
//! construction.

use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{HarnessError, Result};
use crate::netns::Netns;
use crate::process;
use crate::process::ExitRecord;

/// What a program run to its end by [`Host::run`] left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdOutput {
    /// How it ended.
    pub status: ExitRecord,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
}

/// Runs `cmd` inside a namespace of this machine to its end, killing it after `limit`.
pub fn run_to_end(ns: &Netns, mut cmd: Command, limit: Duration) -> Result<CmdOutput> {
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
pub fn write_sysctls(ns: &Netns, pairs: &[(&str, &str)]) -> Result<()> {
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
pub fn read_sysctl(ns: &Netns, key: &str) -> Result<String> {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    ns.run_in(|| fs::read_to_string(&path))?
        .map(|s| s.trim().to_string())
        .map_err(|e| HarnessError::io(format!("in {}: read {key}", ns.name()), e))
}

/// Reads `/proc/net/<file>` as a namespace of this machine sees it (`/proc/net` follows the
/// reading thread's namespace).
pub fn read_proc_net(ns: &Netns, file: &str) -> Result<String> {
    let path = format!("/proc/thread-self/net/{file}");
    ns.run_in(|| fs::read_to_string(&path))?
        .map_err(|e| HarnessError::io(format!("in {}: read /proc/net/{file}", ns.name()), e))
}
