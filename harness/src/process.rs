//! Processes inside namespaces: started with `setns` in the child, bound to die with the
//! harness, stopped by pid only.

use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::error::{HarnessError, Result};
use crate::netns::Netns;
use serde::{Deserialize, Serialize};

/// How a process ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRecord {
    /// Its exit code, if it exited.
    pub code: Option<i32>,
    /// The signal that ended it, if one did.
    pub signal: Option<i32>,
}

impl From<std::process::ExitStatus> for ExitRecord {
    fn from(s: std::process::ExitStatus) -> ExitRecord {
        use std::os::unix::process::ExitStatusExt;
        ExitRecord {
            code: s.code(),
            signal: s.signal(),
        }
    }
}

impl ExitRecord {
    /// Whether it exited with code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

impl std::fmt::Display for ExitRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.code, self.signal) {
            (Some(c), _) => write!(f, "exit code {c}"),
            (None, Some(s)) => write!(f, "killed by signal {s}"),
            (None, None) => write!(f, "ended"),
        }
    }
}

/// Spawns `cmd` inside `netns`.
///
/// The child enters the namespace between fork and exec, so the parent's threads are never
/// moved. `PR_SET_PDEATHSIG` fires when the *thread* that forked the child exits, so spawn only
/// from a thread that lives as long as the child should (the harness's main thread).
pub fn spawn_in(netns: &Netns, cmd: Command, what: &str) -> Result<Child> {
    spawn_in_with(netns, cmd, what, true)
}

/// Spawns `cmd` inside `netns`; with `die_with_parent` false the child outlives the harness
/// (a daemon of a topology left standing by `cnbench up`; its pid is recorded in the run's
/// state so `down` and `clean` can stop it).
pub fn spawn_in_with(
    netns: &Netns,
    mut cmd: Command,
    what: &str,
    die_with_parent: bool,
) -> Result<Child> {
    let fd = netns.fd().as_raw_fd();
    // Compared with the child's parent after prctl: not 1, since the parent may be pid 1
    // itself (the node agent is a VM's init).
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs in the forked child before exec and calls only
    // async-signal-safe functions (setns, prctl, getppid); it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if die_with_parent {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent may have died between fork and prctl: then nobody would kill us.
                if libc::getppid() != parent {
                    return Err(std::io::Error::other("parent exited"));
                }
            } else {
                // Its own session: a Ctrl-C at the terminal of `cnbench up` does not reach it.
                libc::setsid();
            }
            Ok(())
        });
    }
    cmd.spawn().map_err(|e| HarnessError::Process {
        what: what.to_string(),
        netns: netns.name().to_string(),
        message: format!("cannot start {:?}: {e}", cmd.get_program()),
    })
}

/// Stops a child: SIGTERM, then SIGKILL after `grace`; always reaps it.
pub fn stop(child: &mut Child, grace: Duration) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let pid = Pid::from_raw(child.id() as i32);
    let _ = kill(pid, Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Stops a child that leads its own process group (`Command::process_group(0)`) with its
/// group: SIGTERM to the group, SIGKILL to it after `grace` (to what is left of it, the
/// child's own children too); always reaps the child. Still by pid: the group's id is the
/// child's pid.
pub fn stop_group(child: &mut Child, grace: Duration) {
    let group = Pid::from_raw(-(child.id() as i32));
    let _ = kill(group, Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = kill(group, Signal::SIGKILL);
    let _ = child.wait();
}

/// Pids of every process whose network namespace is one of those with inodes `inos` (one
/// pass over /proc, however many namespaces a run has).
pub fn pids_in_netns(inos: &[u64]) -> Vec<i32> {
    let wanted: Vec<String> = inos.iter().map(|i| format!("net:[{i}]")).collect();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/ns/net"))
                .map(|l| wanted.iter().any(|w| *w == *l.to_string_lossy()))
                .unwrap_or(false)
        })
        .collect()
}

/// Whether process `pid` runs in the named namespace of this machine.
pub fn pid_in_netns(pid: u32, netns: &str) -> bool {
    let Ok(ns) = Netns::open(netns) else {
        return false;
    };
    let Ok(ino) = ns.inode() else { return false };
    std::fs::read_link(format!("/proc/{pid}/ns/net"))
        .map(|l| l.to_string_lossy() == format!("net:[{ino}]"))
        .unwrap_or(false)
}

/// Kills (SIGKILL) the given pids and waits up to `wait` for them to disappear.
pub fn kill_pids(pids: &[i32], wait: Duration) {
    for &pid in pids {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline && pids.iter().any(|p| alive(*p as u32)) {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether process `pid` exists and has not exited (a zombie, exited but not yet reaped,
/// does not count).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}
