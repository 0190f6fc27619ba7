//! The run's long-lived processes (datapath daemons, BIRDs, QEMUs): started inside hosts of
//! either substrate, recorded by (namespace, pid), stopped by pid at teardown, never by name.

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::host::Host;
use crate::process::{kill_pids, pid_in_netns, spawn_in_with, stop, ExitRecord};

/// A long-lived process of a run (a datapath daemon), as recorded.
#[derive(Debug)]
pub struct Daemon {
    /// What it is (`flannel-udp daemon on n0`).
    pub what: String,
    /// Namespace it runs in.
    pub netns: String,
    /// Its pid.
    pub pid: u32,
    /// The handle, when this process started it (none after `attach`).
    pub child: Option<Child>,
    /// The handle of a daemon on a node agent's machine.
    pub remote: Option<crate::remote::RemoteProc>,
}

/// The run's daemons: started inside hosts, killed by pid at teardown.
#[derive(Debug, Default)]
pub struct Supervisor {
    daemons: std::sync::Mutex<Vec<Daemon>>,
    /// Whether daemons die with this process (`run`) or outlive it (`up`).
    pub die_with_parent: bool,
}

impl Supervisor {
    /// A supervisor whose daemons die with this process when `die_with_parent`.
    pub fn new(die_with_parent: bool) -> Supervisor {
        Supervisor {
            daemons: Default::default(),
            die_with_parent,
        }
    }

    /// Re-adopts daemons recorded in a run's state (by pid only).
    pub fn adopt(&self, recorded: impl IntoIterator<Item = (String, String, u32)>) {
        let mut d = self.lock();
        for (what, netns, pid) in recorded {
            d.push(Daemon {
                what,
                netns,
                pid,
                child: None,
                remote: None,
            });
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Daemon>> {
        self.daemons.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a daemon in `host` and records it. On a node agent's machine the program
    /// `exe` (the harness's own binary) is the agent's `cnbench`, any other is looked up on
    /// that machine's `PATH` (or at its absolute path there); the `Command`'s environment,
    /// working directory and stdio settings stay here: the agent pipes stdout and keeps the
    /// tail of stderr.
    pub fn spawn(&self, host: &Host, exe: &Path, cmd: Command, what: &str) -> Result<u32> {
        let (pid, child, remote) = match (host.local(), host.agent()) {
            (Some(ns), _) => {
                let child = spawn_in_with(ns, cmd, what, self.die_with_parent)?;
                (child.id(), Some(child), None)
            }
            (None, Some(agent)) => {
                let program = if Path::new(cmd.get_program()) == exe {
                    "cnbench".to_string()
                } else {
                    cmd.get_program().to_string_lossy().into_owned()
                };
                let mut argv = vec![program];
                argv.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
                let p = agent.spawn(host.name(), argv, false, what)?;
                (p.pid(), None, Some(p))
            }
            (None, None) => unreachable!("a host is local or remote"),
        };
        self.lock().push(Daemon {
            what: what.to_string(),
            netns: host.name().to_string(),
            pid,
            child,
            remote,
        });
        Ok(pid)
    }

    /// Waits up to `limit` for the first stdout line of a daemon this process started, here
    /// or on a node agent's machine (an empty line if it closed its stdout first; for an
    /// agent's daemon that ended, the last line of its stderr). `None` if it is not one of
    /// ours or wrote nothing in time.
    pub fn first_line(&self, netns: &str, pid: u32, limit: Duration) -> Option<String> {
        use crate::remote::client::Next;
        let stdout = self
            .lock()
            .iter_mut()
            .find(|d| d.netns == netns && d.pid == pid)
            .and_then(|d| d.child.as_mut()?.stdout.take());
        if let Some(out) = stdout {
            // Read on a thread of its own, so a silent daemon costs only `limit`.
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                use std::io::BufRead;
                let mut line = String::new();
                let _ = std::io::BufReader::new(out).read_line(&mut line);
                let _ = tx.send(line);
            });
            return rx.recv_timeout(limit).ok();
        }
        let deadline = Instant::now() + limit;
        // In short looks, the table unlocked in between (others may stop daemons meanwhile)
        // and SIGINT heeded.
        while Instant::now() < deadline && !crate::signals::interrupted() {
            let mut d = self.lock();
            let p = d
                .iter_mut()
                .find(|d| d.netns == netns && d.pid == pid)?
                .remote
                .as_mut()?;
            match p.next_line(Duration::from_millis(50)) {
                Ok(Next::Line(l)) => return Some(l),
                // What it said before it ended stands in for the `ready` it never wrote.
                Ok(Next::Ended) => {
                    return p.exit().map(|(status, tail)| {
                        format!("{} ({status})", tail.lines().last().unwrap_or("no stderr"))
                    })
                }
                Ok(Next::Nothing) => {}
                Err(_) => return None,
            }
        }
        None
    }

    /// How a daemon of this supervisor ended, once it has: its exit and the tail of its
    /// stderr as a node agent collected it (empty for a daemon of this machine, whose stderr
    /// went where its `Command` said). None while it runs, and for a daemon adopted from a
    /// state file (not a child of this process). Stdout lines of an agent's daemon that nobody
    /// has read are passed over to reach its end.
    pub fn ended(&self, netns: &str, pid: u32) -> Option<(ExitRecord, String)> {
        let mut d = self.lock();
        let d = d.iter_mut().find(|d| d.netns == netns && d.pid == pid)?;
        if let Some(p) = d.remote.as_mut() {
            loop {
                match p.next_line(Duration::ZERO) {
                    Ok(crate::remote::client::Next::Line(_)) => {}
                    Ok(crate::remote::client::Next::Nothing) => return None,
                    Ok(crate::remote::client::Next::Ended) => return p.exit().cloned(),
                    // The session to its agent is gone, and the daemon with it.
                    Err(e) => return Some((ExitRecord::default(), e.to_string())),
                }
            }
        }
        let status = d.child.as_mut()?.try_wait().ok()??;
        Some((ExitRecord::from(status), String::new()))
    }

    /// `(what, netns, pid)` of every recorded daemon.
    pub fn list(&self) -> Vec<(String, String, u32)> {
        self.lock()
            .iter()
            .map(|d| (d.what.clone(), d.netns.clone(), d.pid))
            .collect()
    }

    /// Stops one daemon (SIGTERM, then SIGKILL) and forgets it.
    /// A daemon is named by its namespace and pid: pids of different machines (VM nodes
    /// booted alike hand out the same ones) may be equal.
    pub fn stop(&self, netns: &str, pid: u32) {
        let taken = {
            let mut d = self.lock();
            d.iter()
                .position(|x| x.netns == netns && x.pid == pid)
                .map(|i| d.remove(i))
        };
        if let Some(mut d) = taken {
            if let Some(p) = d.remote.as_mut() {
                let _ = p.stop(Duration::from_millis(500));
                return;
            }
            match d.child.as_mut() {
                Some(c) => stop(c, Duration::from_millis(500)),
                // Adopted from a state file: the pid may have been reused since, so it is
                // killed only if it still lives in the daemon's namespace.
                None if pid_in_netns(pid, &d.netns) => {
                    kill_pids(&[pid as i32], Duration::from_secs(2))
                }
                None => {}
            }
        }
    }

    /// Forgets a daemon that is already gone with its machine (a VM powered off), without
    /// signalling anything.
    pub fn forget(&self, netns: &str, pid: u32) {
        self.lock().retain(|d| !(d.netns == netns && d.pid == pid));
    }

    /// Stops every daemon.
    pub fn stop_all(&self) {
        for (_, netns, pid) in self.list() {
            self.stop(&netns, pid);
        }
    }
}
