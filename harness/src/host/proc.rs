//! A process started in a host, here or on a node agent's machine, with its stdout read
//! line by line.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::error::{HarnessError, Result};
use crate::netns::Netns;
use crate::process;
use crate::remote::client::Next;
use crate::remote::RemoteProc;
use crate::signals;

/// A process started in a host, with its stdout read line by line.
pub struct Proc {
    what: String,
    netns: String,
    kind: ProcKind,
}

enum ProcKind {
    Local {
        child: Child,
        stdin: Option<ChildStdin>,
        lines: mpsc::Receiver<std::io::Result<String>>,
    },
    Remote(RemoteProc),
}

impl Proc {
    /// Starts `cmd` in a namespace of this machine, stdout piped and read line by line on a
    /// thread of its own, stderr kept for errors, stdin piped when `stdin`.
    pub(super) fn start_local(
        ns: &Netns,
        mut cmd: Command,
        stdin: bool,
        what: &str,
    ) -> Result<Proc> {
        cmd.stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = process::spawn_in(ns, cmd, what)?;
        let stdout = child.stdout.take().expect("piped");
        let stdin = child.stdin.take();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Proc {
            what: what.to_string(),
            netns: ns.name().to_string(),
            kind: ProcKind::Local {
                child,
                stdin,
                lines: rx,
            },
        })
    }

    /// A process a node agent started in `netns`.
    pub(super) fn remote(netns: &str, what: &str, p: RemoteProc) -> Proc {
        Proc {
            what: what.to_string(),
            netns: netns.to_string(),
            kind: ProcKind::Remote(p),
        }
    }

    /// Its pid on its machine.
    pub fn pid(&self) -> u32 {
        match &self.kind {
            ProcKind::Local { child, .. } => child.id(),
            ProcKind::Remote(p) => p.pid(),
        }
    }

    /// What it is (`tcp-rr server`).
    pub fn what(&self) -> &str {
        &self.what
    }

    /// The namespace it runs in.
    pub fn netns(&self) -> &str {
        &self.netns
    }

    fn error(&self, message: String) -> HarnessError {
        HarnessError::Process {
            what: self.what.clone(),
            netns: self.netns.clone(),
            message,
        }
    }

    /// Waits up to `limit` for its next stdout line, polling for SIGINT/SIGTERM. Its end
    /// before a line is an error with its stderr.
    pub fn next_line(&mut self, limit: Duration) -> Result<String> {
        let deadline = Instant::now() + limit;
        loop {
            if signals::interrupted() {
                return Err(HarnessError::Interrupted);
            }
            let step = Duration::from_millis(50);
            match &mut self.kind {
                ProcKind::Local { lines, child, .. } => match lines.recv_timeout(step) {
                    Ok(Ok(line)) => return Ok(line),
                    Ok(Err(e)) => return Err(self.error(format!("reading its output: {e}"))),
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        let _ = child.wait();
                        let tail = self.stderr_tail();
                        return Err(self.error(with_tail("exited without a result", &tail)));
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                },
                ProcKind::Remote(p) => match p.next_line(step)? {
                    Next::Line(line) => return Ok(line),
                    Next::Ended => {
                        let (status, tail) = p.exit().cloned().unwrap_or_default();
                        return Err(self.error(with_tail(
                            &format!("exited without a result ({status})"),
                            &tail,
                        )));
                    }
                    Next::Nothing => {}
                },
            }
            if Instant::now() >= deadline {
                let tail = self.stderr_tail();
                return Err(self.error(with_tail(
                    &format!("no result within {} s", limit.as_secs()),
                    &tail,
                )));
            }
        }
    }

    /// Its stderr, once it has exited (empty while it runs).
    fn stderr_tail(&mut self) -> String {
        match &mut self.kind {
            ProcKind::Local { child, .. } => {
                let mut s = String::new();
                if let Ok(Some(_)) = child.try_wait() {
                    if let Some(mut e) = child.stderr.take() {
                        use std::io::Read;
                        let _ = e.read_to_string(&mut s);
                    }
                }
                s.trim().to_string()
            }
            ProcKind::Remote(p) => p
                .exit()
                .map(|(_, t)| t.trim().to_string())
                .unwrap_or_default(),
        }
    }

    /// Writes to its stdin (started with `stdin`); a gone process shows when its output is
    /// read.
    pub fn write_stdin(&mut self, data: &str) {
        match &mut self.kind {
            ProcKind::Local { stdin, .. } => {
                if let Some(s) = stdin.as_mut() {
                    let _ = s.write_all(data.as_bytes()).and_then(|_| s.flush());
                }
            }
            ProcKind::Remote(p) => {
                let _ = p.write_stdin(data);
            }
        }
    }

    /// Waits up to `limit` for it to exit by itself, else stops it (SIGTERM, then SIGKILL);
    /// returns how it ended.
    pub fn finish(&mut self, limit: Duration) -> String {
        match &mut self.kind {
            ProcKind::Local { child, .. } => {
                let deadline = Instant::now() + limit;
                while Instant::now() < deadline {
                    if let Ok(Some(s)) = child.try_wait() {
                        return s.to_string();
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                process::stop(child, Duration::from_millis(500));
                "killed".into()
            }
            ProcKind::Remote(p) => {
                let deadline = Instant::now() + limit;
                while p.exit().is_none() && Instant::now() < deadline {
                    if p.next_line(Duration::from_millis(50)).is_err() {
                        break;
                    }
                }
                if let Some((status, _)) = p.exit() {
                    return status.to_string();
                }
                let _ = p.stop(Duration::from_millis(500));
                "killed".into()
            }
        }
    }

    /// Stops it now (SIGTERM, then SIGKILL after a grace period).
    pub fn stop(&mut self) {
        match &mut self.kind {
            ProcKind::Local { child, .. } => process::stop(child, Duration::from_millis(500)),
            ProcKind::Remote(p) => {
                let _ = p.stop(Duration::from_millis(500));
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let ProcKind::Local { child, .. } = &mut self.kind {
            if let Ok(None) = child.try_wait() {
                process::stop(child, Duration::from_millis(200));
            }
        }
    }
}

fn with_tail(message: &str, tail: &str) -> String {
    if tail.is_empty() {
        message.to_string()
    } else {
        format!("{message}: {tail}")
    }
}
