//! The hosts of one run: checked, then each given a session with a `cnbench agent` started
//! through ssh; ended politely at teardown (each agent stops what it started and deletes its
//! namespaces), and just as well when this process dies (the agent reads end-of-file on
//! its stdin and cleans up).

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::client::{Ready, Ssh};
use crate::error::{HarnessError, Result};
use crate::remote::client::Connection;
use crate::remote::AgentClient;
use crate::signals;
use crate::topology::Plan;

/// How long a host may take from ssh's start to its agent's welcome (connect, log in,
/// start the agent, make the node's namespace).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// Seconds a host's agent waits for anything from this harness before it takes its session
/// as cut and cleans up (`cnbench agent --idle-timeout`).
pub const AGENT_IDLE_TIMEOUT_S: u64 = 30;

/// The hosts of a run, with their sessions.
#[derive(Debug)]
pub struct SshNodes {
    /// One session per node, in plan order.
    pub agents: Vec<Arc<AgentClient>>,
    /// What each host's preflight found, in plan order.
    pub ready: Vec<Ready>,
    /// How each host is reached.
    links: Vec<Ssh>,
    /// The ssh clients carrying the sessions (children of this process).
    clients: Mutex<Vec<Child>>,
    /// Copies of this binary not yet known to be removed (their agent removes them once
    /// started).
    copies: Mutex<Vec<(usize, String)>>,
}

/// The file of this run's copy of cnbench on a host (node `role`): in /tmp, named for the
/// run and the node, so two nodes on one machine never share it.
pub fn copy_path(run_id: &str, role: &str) -> String {
    format!("/tmp/cnbench-{run_id}-{role}")
}

/// Checks every host (in parallel), copies this binary where asked, then starts an agent on
/// each through ssh and opens its session. `exe` is this binary, `kinds` the link kinds the
/// run creates on the hosts (its uplink's among them), `logs` where each ssh's stderr goes
/// (the agent's complaints with it).
pub fn connect(plan: &Plan, exe: &Path, kinds: &[&str], logs: &Path) -> Result<SshNodes> {
    let spec = plan.spec.ssh.clone().unwrap_or_default();
    let links: Vec<Ssh> = plan
        .spec
        .hosts
        .iter()
        .map(|h| Ssh {
            host: h.clone(),
            spec: spec.clone(),
        })
        .collect();
    let mut nodes = SshNodes {
        agents: Vec::new(),
        ready: Vec::new(),
        links,
        clients: Mutex::new(Vec::new()),
        copies: Mutex::new(Vec::new()),
    };
    match nodes.open(plan, exe, kinds, logs) {
        Ok(()) => Ok(nodes),
        Err(e) => {
            for extra in nodes.shutdown() {
                eprintln!("cnbench: while rolling back: {extra}");
            }
            Err(e)
        }
    }
}

impl SshNodes {
    fn open(&mut self, plan: &Plan, exe: &Path, kinds: &[&str], logs: &Path) -> Result<()> {
        let spec = plan.spec.ssh.clone().unwrap_or_default();
        let remote_exe: Vec<String> = plan
            .nodes
            .iter()
            .map(|n| {
                if spec.copy_exe {
                    copy_path(plan.run_id(), &n.role)
                } else {
                    spec.remote_exe.clone().unwrap_or_else(|| "cnbench".into())
                }
            })
            .collect();
        // 1. Copies first (a copy is what the preflight asks), each on record before it
        //    exists.
        if spec.copy_exe {
            *lock(&self.copies) = remote_exe.iter().cloned().enumerate().collect();
            std::thread::scope(|s| {
                let jobs: Vec<_> = self
                    .links
                    .iter()
                    .zip(&remote_exe)
                    .map(|(l, r)| s.spawn(move || l.copy(exe, r)))
                    .collect();
                jobs.into_iter().map(join).collect::<Result<Vec<()>>>()
            })?;
        }
        // 2. Every host checked before any is used.
        let mtu = plan.spec.mtu;
        let ready: Vec<Result<Ready>> = std::thread::scope(|s| {
            let jobs: Vec<_> = self
                .links
                .iter()
                .zip(&remote_exe)
                .map(|(l, r)| s.spawn(move || l.preflight(r, mtu, kinds)))
                .collect();
            jobs.into_iter().map(join).collect()
        });
        self.ready = ready.into_iter().collect::<Result<_>>()?;
        if signals::interrupted() {
            return Err(HarnessError::Interrupted);
        }
        // 3. The sessions: every ssh started from this thread (its children die with it,
        //    PR_SET_PDEATHSIG), then the hellos in parallel.
        std::fs::create_dir_all(logs)
            .map_err(|e| HarnessError::io(format!("create {}", logs.display()), e))?;
        let mut pipes = Vec::new();
        for ((link, ready), node) in self.links.iter().zip(&self.ready).zip(&plan.nodes) {
            let mut argv = Vec::new();
            if ready.sudo {
                argv.extend(["sudo".to_string(), "-n".into()]);
            }
            argv.extend([
                ready.exe.clone(),
                "agent".into(),
                "--listen".into(),
                "stdio".into(),
            ]);
            // A host cut off by the network ends its session half a minute later (three
            // keepalives missed), not at TCP's keepalive, hours later.
            argv.extend(["--idle-timeout".into(), AGENT_IDLE_TIMEOUT_S.to_string()]);
            if spec.copy_exe {
                argv.push("--remove-exe".into());
            }
            let log = logs.join(format!("ssh-{}.log", node.role));
            let err = File::create(&log)
                .map_err(|e| HarnessError::io(format!("create {}", log.display()), e))?;
            let mut cmd = link.command(&argv);
            cmd.stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(err)
                // A group of its own: a Ctrl-C at the terminal reaches this process, which
                // tears down through the session, and not ssh, which would cut it first.
                .process_group(0);
            // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
            unsafe {
                cmd.pre_exec(|| {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            let mut child = cmd.spawn().map_err(|e| {
                link.refused(format!("cannot start ssh: {e}"), "install openssh-client")
            })?;
            let out = child.stdout.take().expect("piped");
            let inp = child.stdin.take().expect("piped");
            lock(&self.clients).push(child);
            pipes.push((out, inp, log));
        }
        let agents: Vec<Result<AgentClient>> = std::thread::scope(|s| {
            let jobs: Vec<_> = pipes
                .into_iter()
                .zip(&plan.nodes)
                .zip(&self.links)
                .map(|(((out, inp, log), node), link)| {
                    s.spawn(move || {
                        AgentClient::connect(
                            &node.netns,
                            &log.display().to_string(),
                            Connection::pipes(Box::new(out), Box::new(inp)),
                            CONNECT_TIMEOUT,
                        )
                        .map_err(|e| {
                            let stderr = std::fs::read_to_string(&log).unwrap_or_default();
                            match stderr.lines().rfind(|l| !l.trim().is_empty()) {
                                Some(line) => link.refused(
                                    format!("its agent did not open a session: {line}"),
                                    format!("see {} ({e})", log.display()),
                                ),
                                None => e,
                            }
                        })
                    })
                })
                .collect();
            jobs.into_iter().map(join).collect()
        });
        // Sessions that opened are kept even if another failed, so teardown ends them.
        let mut first = None;
        for a in agents {
            match a {
                Ok(a) => self.agents.push(Arc::new(a)),
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first {
            return Err(e);
        }
        // Each agent removed its copy when it started.
        lock(&self.copies).clear();
        Ok(())
    }

    /// The kernel release of each host, in plan order.
    pub fn kernels(&self) -> Vec<String> {
        self.ready
            .iter()
            .map(|r| r.facts.kernel_release.clone())
            .collect()
    }

    /// Ends every session politely (each agent stops its processes and deletes its
    /// namespaces), then the ssh clients (by pid), then any copy of this binary whose agent
    /// never started. Never stops early.
    pub fn shutdown(&self) -> Vec<HarnessError> {
        let errors = crate::remote::client::shutdown_all(&self.agents);
        for mut c in std::mem::take(&mut *lock(&self.clients)) {
            // After a shutdown the agent has exited and ssh with it; otherwise the session
            // ends here, and the agent cleans up on its end-of-file.
            let deadline = Instant::now() + Duration::from_secs(2);
            while Instant::now() < deadline && matches!(c.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
            crate::process::stop(&mut c, Duration::from_secs(2));
        }
        for (i, path) in std::mem::take(&mut *lock(&self.copies)) {
            self.links[i].remove(&path);
        }
        errors
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn join<T>(h: std::thread::ScopedJoinHandle<'_, Result<T>>) -> Result<T> {
    h.join().unwrap_or_else(|_| {
        Err(HarnessError::Unsupported {
            what: "a host's thread panicked".into(),
            fix: "report this as a bug".into(),
        })
    })
}
