//! A workload or probe task: `cnbench task '<json>'` started inside a host (on this machine
//! or a node agent's), with a reader of its stdout lines (its `ready <port>` and its
//! one-line JSON result).

use std::path::Path;
use std::time::Duration;

use workloads::AgentTask;

use crate::error::{HarnessError, Result};
use crate::host::{Host, Proc};

/// A running task process.
pub(crate) struct Task {
    proc: Proc,
}

impl Task {
    /// Starts `<exe> task '<task>'` inside `host`; `role` names it in errors
    /// (`tcp-rr server`). A stoppable probe is told to stop on its stdin.
    pub(crate) fn start(host: &Host, exe: &Path, task: &AgentTask, role: &str) -> Result<Task> {
        let what = match task {
            AgentTask::Serve(s) => format!("{} {role}", s.workload),
            AgentTask::Client(c) => format!("{} {role}", c.workload),
            AgentTask::Probe(_) => format!("probe {role}"),
        };
        let stdin = matches!(task, AgentTask::Probe(p) if p.stop_on_stdin);
        let args = ["task".to_string(), task.to_json()];
        Ok(Task {
            proc: host.start(exe, &args, stdin, &what)?,
        })
    }

    /// Its pid on its machine.
    pub(crate) fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// An error about this task.
    pub(crate) fn error(&mut self, message: String) -> HarnessError {
        HarnessError::Process {
            what: self.proc.what().to_string(),
            netns: self.proc.netns().to_string(),
            message,
        }
    }

    /// Waits for the next stdout line, polling for SIGINT/SIGTERM.
    pub(crate) fn next_line(&mut self, limit: Duration) -> Result<String> {
        self.proc.next_line(limit)
    }

    /// Tells a probe started with `stop_on_stdin` to end its schedule; it then lingers and
    /// prints its report. A gone probe shows when the report is read.
    pub(crate) fn request_stop(&mut self) {
        self.proc.write_stdin("stop\n");
    }

    /// Waits for the `ready <port>` line.
    pub(crate) fn ready_port(&mut self, limit: Duration) -> Result<u16> {
        let line = self.next_line(limit)?;
        line.strip_prefix("ready ")
            .and_then(|p| p.trim().parse().ok())
            .ok_or_else(|| self.error(format!("expected `ready <port>`, got {line:?}")))
    }

    /// Ends the task (SIGTERM, then SIGKILL after a grace period).
    pub(crate) fn stop(&mut self) {
        self.proc.stop();
    }

    /// Waits briefly for the task to exit by itself (a client exits once it printed its
    /// result), else stops it; returns how it ended.
    pub(crate) fn stop_and_status(&mut self) -> String {
        self.proc.finish(Duration::from_secs(2))
    }
}
