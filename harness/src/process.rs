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

/// Spawns `cmd` inside `netns`.
///
/// The child enters the namespace between fork and exec, so the parent's threads are never
/// moved. `PR_SET_PDEATHSIG` fires when the *thread* that forked the child exits, so spawn only
/// from a thread that lives as long as the child should (the harness's main thread).
pub fn spawn_in(netns: &Netns, mut cmd: Command, what: &str) -> Result<Child> {
    let fd = netns.fd().as_raw_fd();
    // SAFETY: the closure runs in the forked child before exec and calls only
    // async-signal-safe functions (setns, prctl, getppid); it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl: then nobody would kill us.
            if libc::getppid() == 1 {
                return Err(std::io::Error::other("parent exited"));
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

/// Pids of every process whose network namespace is the one with inode `ino`.
pub fn pids_in_netns(ino: u64) -> Vec<i32> {
    let want = format!("net:[{ino}]");
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/ns/net"))
                .map(|l| l.to_string_lossy() == want)
                .unwrap_or(false)
        })
        .collect()
}

/// Kills (SIGKILL) the given pids and waits up to `wait` for them to disappear.
pub fn kill_pids(pids: &[i32], wait: Duration) {
    for &pid in pids {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline
        && pids
            .iter()
            .any(|p| std::path::Path::new(&format!("/proc/{p}")).exists() && !is_zombie(*p))
    {
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(true)
}
