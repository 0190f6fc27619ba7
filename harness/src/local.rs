//! What a namespace of this machine does for a host: run a program to its end, read and
//! write sysctls and `/proc/net` files. A [`crate::host::Host`] here calls these, and a node
//! agent calls the same ones for its harness, so both substrates behave alike by
//! construction.

use std::fs;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{HarnessError, Result};
use crate::netns::Netns;
use crate::process;
use crate::process::ExitRecord;

/// What a program run to its end by [`crate::host::Host::run`] or
/// [`crate::host::Host::exec`] left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdOutput {
    /// How it ended.
    pub status: ExitRecord,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
    /// Why it was killed, if it was (its process group, by its pid); `status` then says by
    /// which signal.
    pub killed: Option<Killed>,
    /// Its pid (on its machine), for messages about it.
    pub pid: Option<u32>,
}

/// Why a program run to its end was killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Killed {
    /// It did not finish within its limit.
    TimedOut,
    /// SIGINT or SIGTERM reached the harness while it ran, and it was interruptible.
    Interrupted,
}

/// What a program run to its end gets beyond its arguments: environment variables added to
/// the harness's own, bytes on its stdin (none: `/dev/null`), and how long it may take.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecInput {
    /// Variables set on top of the inherited environment.
    pub env: Vec<(String, String)>,
    /// Written to its stdin, which is then closed.
    pub stdin: Option<String>,
    /// Killed after this long.
    pub limit: Duration,
    /// Killed early, as if it timed out, when SIGINT or SIGTERM reaches the harness (a
    /// plugin's ADD is given up on an interrupt; a DEL during teardown is not).
    pub interruptible: bool,
}

/// Runs `cmd` inside a namespace of this machine to its end with `input`; one that does not
/// finish in time (or is interrupted) is killed with its process group, by its pid, and
/// returned with [`CmdOutput::killed`] set.
///
/// It runs in a process group of its own: a Ctrl-C typed at the harness's terminal reaches
/// the harness, which decides (a plugin's DEL during teardown must not die of it), and a kill
/// takes the program's own children along (an IPAM plugin, `iptables` holding a lock).
pub fn exec_to_end(ns: &Netns, mut cmd: Command, input: &ExecInput) -> Result<CmdOutput> {
    use std::os::unix::process::CommandExt;
    let what = format!("{:?}", cmd.get_program());
    cmd.process_group(0)
        .envs(input.env.iter().map(|(k, v)| (k, v)))
        .stdin(if input.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = process::spawn_in(ns, cmd, &what)?;
    let pid = child.id();
    // Written on a thread: a program that reads nothing must not block the harness on a
    // full pipe (its timeout still applies). Dropping the pipe closes its stdin.
    let feed = child
        .stdin
        .take()
        .zip(input.stdin.clone())
        .map(|(mut pipe, data)| {
            std::thread::spawn(move || {
                let _ = pipe.write_all(data.as_bytes());
            })
        });
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
    let deadline = Instant::now() + input.limit;
    let mut killed = None;
    let status = loop {
        let interrupted = input.interruptible && crate::signals::interrupted();
        match child.try_wait() {
            Ok(Some(s)) => break s.into(),
            Ok(None) if Instant::now() < deadline && !interrupted => {
                std::thread::sleep(Duration::from_millis(5))
            }
            _ => {
                killed = Some(if interrupted {
                    Killed::Interrupted
                } else {
                    Killed::TimedOut
                });
                process::stop_group(&mut child, Duration::from_millis(100));
                break child
                    .try_wait()
                    .ok()
                    .flatten()
                    .map(Into::into)
                    .unwrap_or_default();
            }
        }
    };
    // After a kill, a grandchild that inherited the pipes may keep them open: read what is
    // there without waiting for it (and do not wait for a write it never reads).
    let was_killed = killed.is_some();
    if let Some(feed) = feed {
        join_within(feed, was_killed);
    }
    Ok(CmdOutput {
        status,
        stdout: join_within(out, was_killed),
        stderr: join_within(err, was_killed),
        killed,
        pid: Some(pid),
    })
}

/// What a helper thread returned; after a kill, only if it finishes within a moment
/// (otherwise the default, and the thread is left to end with its pipe).
fn join_within<T: Default>(thread: std::thread::JoinHandle<T>, killed: bool) -> T {
    if killed {
        let deadline = Instant::now() + Duration::from_millis(200);
        while !thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if !thread.is_finished() {
            return T::default();
        }
    }
    thread.join().unwrap_or_default()
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
