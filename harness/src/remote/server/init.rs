//! The agent as PID 1 (a VM's init, or the first process of a PID namespace): the kernel
//! hands every orphaned process to PID 1, which must reap them or they stay zombies forever.
//! As tini and dumb-init do, PID 1 forks: the child goes on as the agent (its own children
//! stay its own, so no exit status of theirs is taken from it), and PID 1 does nothing but
//! reap whatever ends until the agent does.

use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, getpid, ForkResult, Pid};

use crate::error::{HarnessError, Result};

/// What PID 1 does when its agent child has ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterAgent {
    /// Exit with the agent's status (one session on stdio: the caller waits for it).
    Exit,
    /// Start a new agent: a machine's init must never exit (the kernel would panic).
    Respawn,
}

/// Returns at once, as the agent, unless this process is PID 1: then it forks, returns in
/// the child (the agent), and stays PID 1 in the parent, reaping every process that ends
/// there, never returning. When the agent child ends, PID 1 exits with its status (the
/// exit code, or 128 + the signal that killed it) or starts a new agent, as `after` says.
///
/// Call it first thing, before this process has any other thread: the child of a fork has
/// only the forking thread, and whatever another thread held (a lock) would stay held.
pub fn reap_orphans_if_pid1(after: AfterAgent) -> Result<()> {
    if getpid() != Pid::from_raw(1) {
        return Ok(());
    }
    loop {
        // SAFETY: the caller's contract is that this process has one thread only, so the
        // child is a whole copy of it and may run any code, allocation and locks included.
        let agent = match unsafe { fork() } {
            Ok(ForkResult::Child) => return Ok(()),
            Ok(ForkResult::Parent { child }) => child,
            Err(e) if after == AfterAgent::Respawn => {
                say!("init: cannot fork the agent: {e}; trying again");
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
            Err(e) => {
                return Err(HarnessError::io(
                    "cnbench agent as PID 1: fork the agent",
                    e.into(),
                ))
            }
        };
        let started = Instant::now();
        let status = reap_until(agent);
        match after {
            AfterAgent::Exit => std::process::exit(status),
            AfterAgent::Respawn => {
                say!("init: the agent ended (status {status}); starting another");
                // An agent that dies at once must not make init spin.
                if started.elapsed() < Duration::from_secs(1) {
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        }
    }
}

/// Reaps every child that ends (orphans handed to PID 1, and `agent`) until `agent` has;
/// its status as a shell gives it (the exit code, or 128 + the signal).
fn reap_until(agent: Pid) -> i32 {
    loop {
        match waitpid(None::<Pid>, None) {
            Ok(WaitStatus::Exited(pid, code)) if pid == agent => return code,
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == agent => return 128 + signal as i32,
            // An orphan, reaped (or a stop/continue report, which blocking waitpid does not give).
            Ok(_) | Err(Errno::EINTR) => {}
            // No child at all: the agent is gone without its status reaching this loop.
            Err(Errno::ECHILD) => return 1,
            Err(e) => {
                say!("init: waitpid: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}
