//! Running an external tool as a child of the agent: its command (killed with the agent),
//! reader threads that keep the tail of its output and hand on its lines, a run to the end
//! under a deadline, and the errors for a tool that is missing or failed. Both agent roles
//! start their tool through here.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use crate::error::WorkloadError;
use crate::task::Generator;

use super::parse::strip_ansi;

/// Lines of tool output kept for error messages.
const TAIL_LINES: usize = 12;

/// The tool's command: stdin closed, stdout and stderr piped, killed when the thread that
/// starts it dies (so when the agent dies).
pub(super) fn command(program: &str, args: &[String]) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs in the forked child before exec. It calls only prctl and
    // getppid, both async-signal-safe, and builds errors from raw OS codes, which does not
    // allocate. If the agent died between fork and prctl, the child has been re-parented
    // already and would never get the signal: it fails the spawn instead of running orphaned.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
    cmd
}

/// The error for a tool that could not be started: the install command when it is missing.
pub(super) fn spawn_error(generator: Generator, cmdline: &str, e: io::Error) -> WorkloadError {
    if e.kind() == io::ErrorKind::NotFound {
        return not_installed(generator);
    }
    WorkloadError::Measurement(format!("starting `{cmdline}` failed: {e}"))
}

fn not_installed(generator: Generator) -> WorkloadError {
    WorkloadError::InvalidConfig {
        what: "generator",
        reason: format!(
            "{} is not installed: apt-get install {}",
            generator.name(),
            package_of(generator)
        ),
    }
}

pub(super) fn describe_status(status: io::Result<ExitStatus>) -> String {
    match status {
        Ok(s) => s.to_string(),
        Err(e) => format!("exit status unknown: {e}"),
    }
}

/// The Debian package that installs the generator's tool.
fn package_of(generator: Generator) -> &'static str {
    match generator {
        Generator::Iperf3 => "iperf3",
        Generator::Sockperf => "sockperf",
        Generator::Cnbench => "cnbench",
    }
}

/// The last lines a tool wrote (stdout and stderr interleaved as they arrived), ANSI colours
/// removed.
#[derive(Clone, Default)]
pub(super) struct Tail(Arc<Mutex<VecDeque<String>>>);

impl Tail {
    fn push(&self, line: &str) {
        if line.trim().is_empty() {
            return;
        }
        let mut lines = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if lines.len() == TAIL_LINES {
            lines.pop_front();
        }
        lines.push_back(line.trim().to_string());
    }

    /// The lines joined with ` | ` (one line, so a harness that keeps the last line of an
    /// agent's stderr keeps all of it), or `(nothing)`.
    pub(super) fn text(&self) -> String {
        let lines = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if lines.is_empty() {
            return "(nothing)".into();
        }
        lines.iter().cloned().collect::<Vec<_>>().join(" | ")
    }
}

/// The last lines of `text`, as [`Tail::text`] gives them.
pub(super) fn tail_of(text: &str) -> String {
    let tail = Tail::default();
    for line in text.lines() {
        tail.push(&strip_ansi(line));
    }
    tail.text()
}

/// Which of a tool's output pipes a reader thread reads.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Pipe {
    Stdout,
    Stderr,
}

/// What a reader thread reports: a line (while anyone listens), and the end of its pipe with
/// everything it read if asked to keep it.
pub(super) enum Event {
    Line(String),
    Closed(Pipe, String),
}

/// Starts a reader thread per pipe. Each pushes every line into `tail`, sends it as an
/// [`Event::Line`] if `lines` (until the receiver is gone), and at the end of the pipe sends
/// [`Event::Closed`] with the whole text if `keep`.
pub(super) fn start_readers(
    child: &mut Child,
    tx: &Sender<Event>,
    tail: &Tail,
    lines: bool,
    keep: bool,
) -> Result<Vec<JoinHandle<()>>, WorkloadError> {
    let mut handles = Vec::new();
    let pipes: [(Pipe, Option<Box<dyn Read + Send>>); 2] = [
        (
            Pipe::Stdout,
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ),
        (
            Pipe::Stderr,
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ),
    ];
    for (which, pipe) in pipes {
        let Some(pipe) = pipe else { continue };
        let (tx, tail) = (tx.clone(), tail.clone());
        let spawned = std::thread::Builder::new()
            .name("cnbench-tool-output".into())
            .spawn(move || read_pipe(pipe, which, &tx, &tail, lines, keep));
        match spawned {
            Ok(h) => handles.push(h),
            Err(e) => {
                let _ = kill_and_reap(child, handles);
                return Err(WorkloadError::Measurement(format!(
                    "starting a thread to read the tool's output failed: {e}"
                )));
            }
        }
    }
    Ok(handles)
}

fn read_pipe(
    pipe: Box<dyn Read + Send>,
    which: Pipe,
    tx: &Sender<Event>,
    tail: &Tail,
    lines: bool,
    keep: bool,
) {
    let mut reader = BufReader::new(pipe);
    let mut all = String::new();
    let mut buf = Vec::new();
    let mut listening = lines;
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let raw = String::from_utf8_lossy(&buf);
        let line = strip_ansi(raw.trim_end());
        tail.push(&line);
        if keep {
            all.push_str(&raw);
        }
        if listening && tx.send(Event::Line(line)).is_err() {
            listening = false;
        }
    }
    let _ = tx.send(Event::Closed(which, all));
}

/// Waits for the reader threads, which end once the tool's pipes close.
pub(super) fn join(handles: Vec<JoinHandle<()>>) {
    for h in handles {
        let _ = h.join();
    }
}

/// Kills a tool that is still running (by its pid, through its still-unreaped [`Child`], so
/// the pid cannot be another process's yet), reaps it and waits for its reader threads.
/// Returns how it ended, for the error message.
pub(super) fn kill_and_reap(
    child: &mut Child,
    readers: Vec<JoinHandle<()>>,
) -> io::Result<ExitStatus> {
    let _ = child.kill();
    let status = child.wait();
    join(readers);
    status
}

/// What a finished tool run left.
pub(super) struct Finished {
    pub(super) status: ExitStatus,
    pub(super) stdout: String,
    pub(super) stderr: String,
    pub(super) tail: String,
}

/// Runs a tool to its end and collects its output; kills it (by its pid, through its
/// still-unreaped [`Child`]) if it is still running at `deadline`.
pub(super) fn run_to_end(
    generator: Generator,
    program: &str,
    args: &[String],
    cmdline: &str,
    deadline: Instant,
) -> Result<Finished, WorkloadError> {
    let mut child = command(program, args)
        .spawn()
        .map_err(|e| spawn_error(generator, cmdline, e))?;
    let tail = Tail::default();
    let (tx, rx) = mpsc::channel();
    let readers = start_readers(&mut child, &tx, &tail, false, true)?;
    drop(tx);
    let (mut stdout, mut stderr) = (String::new(), String::new());
    let mut open = readers.len();
    while open > 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Event::Closed(Pipe::Stdout, text)) => {
                stdout = text;
                open -= 1;
            }
            Ok(Event::Closed(Pipe::Stderr, text)) => {
                stderr = text;
                open -= 1;
            }
            Ok(Event::Line(_)) => {}
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {
                let pid = child.id();
                let status = kill_and_reap(&mut child, readers);
                return Err(WorkloadError::Measurement(format!(
                    "`{cmdline}` was still running at its deadline (warm-up + duration + \
                     slack): killed it (pid {pid}, {}); is the server reachable and running \
                     {generator}? Its output ends with: {}",
                    describe_status(status),
                    tail.text()
                )));
            }
        }
    }
    let status = child.wait().map_err(|e| {
        WorkloadError::Measurement(format!("waiting for `{cmdline}` to exit failed: {e}"))
    })?;
    join(readers);
    Ok(Finished {
        status,
        stdout,
        stderr,
        tail: tail.text(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_tool_past_its_deadline_is_killed() {
        let args = vec!["5".to_string()];
        let started = Instant::now();
        let e = run_to_end(
            Generator::Iperf3,
            "sleep",
            &args,
            "sleep 5",
            Instant::now() + Duration::from_millis(200),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(started.elapsed() < Duration::from_secs(3));
        assert!(e.contains("killed it"), "{e}");
        assert!(e.contains("signal: 9"), "{e}");
    }

    #[test]
    fn a_missing_tool_names_its_package() {
        let e = spawn_error(
            Generator::Sockperf,
            "sockperf server",
            io::Error::from(io::ErrorKind::NotFound),
        );
        assert_eq!(
            e.to_string(),
            "invalid generator: sockperf is not installed: apt-get install sockperf"
        );
    }
}
