//! A workload or probe agent: `cnbench agent '<json>'` started inside a host, with a reader
//! of its stdout lines (its `ready <port>` and its one-line JSON result).

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use workloads::AgentTask;

use crate::error::{HarnessError, Result};
use crate::host::Host;
use crate::process;
use crate::signals;

/// A running agent process and a reader of its stdout lines.
pub(crate) struct Agent {
    pub(crate) child: Child,
    lines: mpsc::Receiver<std::io::Result<String>>,
    what: String,
    netns: String,
}

impl Agent {
    /// Starts `<exe> agent '<task>'` inside `host`; `role` names it in errors
    /// (`tcp-rr server`).
    pub(crate) fn start(host: &Host, exe: &PathBuf, task: &AgentTask, role: &str) -> Result<Agent> {
        let what = match task {
            AgentTask::Serve(s) => format!("{} {role}", s.workload),
            AgentTask::Client(c) => format!("{} {role}", c.workload),
            AgentTask::Probe(_) => format!("probe {role}"),
        };
        let mut cmd = Command::new(exe);
        cmd.arg("agent")
            .arg(task.to_json())
            // A stoppable probe agent is told to stop on its stdin.
            .stdin(match task {
                AgentTask::Probe(p) if p.stop_on_stdin => Stdio::piped(),
                _ => Stdio::null(),
            })
            .stdout(Stdio::piped())
            // A client's stderr is read when it fails; a server lives long and could fill a
            // pipe nobody reads, so its diagnostics go straight to ours.
            .stderr(match task {
                AgentTask::Client(_) | AgentTask::Probe(_) => Stdio::piped(),
                AgentTask::Serve(_) => Stdio::inherit(),
            });
        let mut child = host.spawn(cmd, &what)?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Agent {
            child,
            lines: rx,
            what,
            netns: host.name().to_string(),
        })
    }

    /// An error about this agent, with its stderr if it has exited.
    pub(crate) fn error(&mut self, message: String) -> HarnessError {
        let mut stderr = String::new();
        if let Ok(Some(_)) = self.child.try_wait() {
            if let Some(mut e) = self.child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut stderr);
            }
        }
        let stderr = stderr.trim();
        HarnessError::Process {
            what: self.what.clone(),
            netns: self.netns.clone(),
            message: if stderr.is_empty() {
                message
            } else {
                format!("{message}: {stderr}")
            },
        }
    }

    /// Waits for the next stdout line, polling for SIGINT/SIGTERM.
    pub(crate) fn next_line(&mut self, limit: Duration) -> Result<String> {
        let deadline = Instant::now() + limit;
        loop {
            if signals::interrupted() {
                return Err(HarnessError::Interrupted);
            }
            match self.lines.recv_timeout(Duration::from_millis(50)) {
                Ok(Ok(line)) => return Ok(line),
                Ok(Err(e)) => return Err(self.error(format!("reading its output: {e}"))),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let _ = self.child.wait();
                    return Err(self.error("exited without a result".into()));
                }
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() >= deadline => {
                    return Err(self.error(format!("no result within {} s", limit.as_secs())));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
        }
    }

    /// Tells a probe agent started with `stop_on_stdin` to end its schedule; it then
    /// lingers and prints its report. A broken pipe (the agent is gone) shows when the report
    /// is read.
    pub(crate) fn request_stop(&mut self) {
        if let Some(stdin) = self.child.stdin.as_mut() {
            let _ = stdin.write_all(b"stop\n").and_then(|_| stdin.flush());
        }
    }

    /// Waits for the `ready <port>` line.
    pub(crate) fn ready_port(&mut self, limit: Duration) -> Result<u16> {
        let line = self.next_line(limit)?;
        line.strip_prefix("ready ")
            .and_then(|p| p.trim().parse().ok())
            .ok_or_else(|| self.error(format!("expected `ready <port>`, got {line:?}")))
    }

    /// Ends the agent (SIGTERM, then SIGKILL after a grace period).
    pub(crate) fn stop(&mut self) {
        process::stop(&mut self.child, Duration::from_millis(500));
    }

    /// Waits briefly for the agent to exit by itself, else stops it; returns how it ended.
    pub(crate) fn stop_and_status(&mut self) -> String {
        // A client exits by itself once it printed its result.
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s.to_string();
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.stop();
        "killed".into()
    }
}
