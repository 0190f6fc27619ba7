//! External generators: iperf3 (tcp-stream, udp-stream) and sockperf (tcp-rr, udp-rr), run by
//! the agent so that cnbench's own figures can be checked against well-known tools in the same
//! session, on the same pods and CPUs.
//!
//! The agent is already pinned when these functions run, and a child inherits the affinity of
//! the thread that starts it, so the tools run on the agent's CPU. Every tool is started with
//! `PR_SET_PDEATHSIG = SIGKILL`, so killing the agent kills its tool. (The signal follows the
//! *thread* that started the child: here that is always the thread that then waits for it.)
//!
//! # Server
//!
//! - iperf3: `iperf3 -s -B IP -p PORT --forceflush` (one server answers any number of tests in
//!   a row; `--forceflush` makes it write its `Server listening on PORT` line at once instead
//!   of when its stdout buffer fills).
//! - sockperf: `sockperf server -i IP -p PORT [--tcp]`: one protocol per server, TCP when the
//!   server is for tcp-rr. sockperf prints its `listen on:` line *before* it binds; the line
//!   `using recvfrom() to block on socket(s)` (or `epoll()`, ...) comes after.
//!
//! Port 0 means the tool's conventional port (iperf3 5201, sockperf 11111), not an ephemeral
//! one: neither tool can report a port the kernel chose. The agent prints `ready <port>` once
//! the tool's line has appeared *and* the socket is in this network namespace's
//! `/proc/thread-self/net/{tcp,tcp6,udp,udp6}` table (LISTEN, or bound for UDP): no probe
//! connection is made, since iperf3 would count one as a failed test.
//!
//! # Client and how its figures become a [`Sample`]
//!
//! iperf3 3.12 reads `-t` and `-O` as whole seconds (`-t 1.5` runs 1 s), so both are rounded
//! *up* to whole seconds and the window recorded is the one iperf3 reports, not the one asked
//! for. See [`parse_iperf3`] for the fields used. iperf3 3.12 runs all `-P` streams in one
//! thread (cnbench uses a thread per stream); with a pinned agent both share one CPU anyway.
//!
//! sockperf has no warm-up setting. What it does instead, used here: it sends a few dummy
//! messages before the test and then drops the first 400 ms and the last 50 ms of every run
//! from its statistics (its `[Valid Duration]`). So `cfg.warmup_ms` is not applied: the
//! warm-up is sockperf's fixed 400 ms of traffic. Its `--pre-warmup-wait` only sleeps before
//! the dummy messages and sends nothing, so it is no warm-up and is not used. `-t` is whole
//! seconds, `ceil((duration + 450 ms) / 1 s)`, so the valid window is at least
//! `duration_ms`; the window recorded is the one sockperf reports. See [`parse_sockperf`].
//! sockperf 3.7 also sleeps a fixed 2 s after its dummy messages and about 0.1 s at the end,
//! so a 1 s test takes about 4.3 s of wall time (well inside `cfg.expected_runtime()`, which
//! has 10 s of slack).
//!
//! iperf3 with `-O` reports a receiver window that starts when the *server's* omit timer
//! fires: on a loaded CPU that can be late, and the window recorded shorter than `-t` (seen:
//! 451 ms of a 1 s test with the client and server sharing a busy CPU). The rate stays
//! honest (bytes in that window / that window); the window length shows it happened.
//!
//! # Failures
//!
//! A tool that is missing gives an error naming the Debian package to install. A tool that
//! fails gives its command line and the tail of its output. iperf3 3.12 with `--json` and
//! sockperf 3.7 both exit with status 0 on most failures (refused connection, port in use),
//! so failure is read from the output, not only from the exit status. A client that is still
//! running at `cfg.expected_runtime()` is killed (by its pid) and reported.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use reports::{RrSample, Sample, TcpStreamSample, UdpStreamSample};
use serde_json::Value;

use crate::error::WorkloadError;
use crate::task::{ClientConfig, Generator, ServeConfig, Workload};

/// iperf3's conventional port, used when the bind port is 0.
pub const IPERF3_DEFAULT_PORT: u16 = 5201;

/// sockperf's conventional port, used when the bind port is 0.
pub const SOCKPERF_DEFAULT_PORT: u16 = 11111;

/// How long a tool server may take to say it listens before the agent gives up.
const READY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long after its listening line the tool's socket may take to show up in `/proc`.
const BOUND_TIMEOUT: Duration = Duration::from_secs(2);

/// sockperf 3.7 drops this much of the start of every run from its statistics.
pub const SOCKPERF_SKIPPED_START: Duration = Duration::from_millis(400);

/// sockperf 3.7 drops this much of the end of every run from its statistics.
pub const SOCKPERF_SKIPPED_END: Duration = Duration::from_millis(50);

/// sockperf's smallest message: its own header.
pub const SOCKPERF_MIN_MESSAGE: u32 = 14;

/// How long the iperf3 client keeps retrying while the server is still busy with the test
/// before (iperf3 serves one test at a time and may not have reset yet).
const BUSY_RETRY_FOR: Duration = Duration::from_secs(3);

/// Pause between two tries against a busy iperf3 server.
const BUSY_RETRY_PAUSE: Duration = Duration::from_millis(100);

/// Lines of tool output kept for error messages.
const TAIL_LINES: usize = 12;

/// Runs the external server of `cfg.generator`; prints `ready <port>` once it listens, then
/// waits for the tool. Returns only on failure (the tool exited, or never listened).
pub(crate) fn serve(cfg: &ServeConfig, out: &mut dyn Write) -> Result<(), WorkloadError> {
    let plan = ServerPlan::new(cfg)?;
    let program = program_of(cfg.generator)?;
    let cmdline = command_line(program, &plan.args);
    let mut child = command(program, &plan.args)
        .spawn()
        .map_err(|e| spawn_error(cfg.generator, &cmdline, e))?;
    let tail = Tail::default();
    let (tx, rx) = mpsc::channel();
    let readers = start_readers(&mut child, &tx, &tail, true, false)?;
    drop(tx);
    let addr = SocketAddr::new(cfg.bind.ip(), plan.port);

    let fail_before_ready = |mut child: Child, readers: Vec<JoinHandle<()>>, why: String| {
        let pid = child.id();
        let _ = child.kill();
        let status = child.wait();
        join(readers);
        WorkloadError::listen(
            addr,
            io::Error::other(format!(
                "`{cmdline}` {why} (pid {pid}, {}); its output ends with: {}",
                describe_status(status),
                tail.text()
            )),
        )
    };

    match wait_for_ready_line(cfg.generator, &rx, Instant::now() + READY_TIMEOUT) {
        ReadyWait::Ready => {}
        ReadyWait::Exited => {
            return Err(fail_before_ready(
                child,
                readers,
                "exited before it listened".into(),
            ))
        }
        ReadyWait::TimedOut => {
            return Err(fail_before_ready(
                child,
                readers,
                format!(
                    "did not say it listens within {} s: killed it",
                    READY_TIMEOUT.as_secs()
                ),
            ))
        }
    }
    // Nothing reads lines any more; the readers keep draining the pipes into the tail.
    drop(rx);
    if !wait_bound(plan.port, plan.tcp, Instant::now() + BOUND_TIMEOUT) {
        let proto = if plan.tcp { "TCP" } else { "UDP" };
        return Err(fail_before_ready(
            child,
            readers,
            format!(
                "said it listens, but no {proto} socket on port {} appeared in \
                 /proc/thread-self/net within {} s: killed it",
                plan.port,
                BOUND_TIMEOUT.as_secs()
            ),
        ));
    }

    let started = Instant::now();
    let announced = writeln!(out, "ready {}", plan.port).and_then(|()| out.flush());
    if let Err(e) = announced {
        let _ = child.kill();
        let _ = child.wait();
        join(readers);
        return Err(WorkloadError::Output(e));
    }
    let status = child.wait();
    join(readers);
    Err(WorkloadError::Measurement(format!(
        "the {} server `{cmdline}` exited ({}) after serving for {:.1} s; its output ends \
         with: {}",
        cfg.generator,
        describe_status(status),
        started.elapsed().as_secs_f64(),
        tail.text()
    )))
}

/// Runs one client test with the external tool and converts its output to a sample. The
/// caller has validated `cfg` and pinned this thread.
pub(crate) fn run_client(cfg: &ClientConfig) -> Result<Sample, WorkloadError> {
    let deadline = Instant::now() + cfg.expected_runtime();
    let args = client_args(cfg)?;
    let program = program_of(cfg.generator)?;
    let cmdline = command_line(program, &args);
    let busy_until = Instant::now() + BUSY_RETRY_FOR;
    loop {
        let run = run_to_end(cfg.generator, program, &args, &cmdline, deadline)?;
        let parsed = match cfg.generator {
            Generator::Iperf3 => parse_iperf3(&run.stdout, cfg.workload, cfg.message_size),
            _ => parse_sockperf(&run.stdout, cfg.workload, cfg.message_size),
        };
        let problem = match (parsed, run.status.success()) {
            (Ok(sample), true) => return Ok(sample),
            (Ok(_), false) => format!("it exited with {}", run.status),
            (Err(e), _) if e.contains(IPERF3_BUSY) && Instant::now() < busy_until => {
                std::thread::sleep(BUSY_RETRY_PAUSE);
                continue;
            }
            (Err(e), true) => e,
            (Err(e), false) => format!("it exited with {}: {e}", run.status),
        };
        // iperf3 writes its whole report, errors included, as JSON on stdout (quoted in
        // `problem`); anything else it says goes to stderr. sockperf writes all to stdout.
        let said = match cfg.generator {
            Generator::Iperf3 => format!("its stderr: {}", tail_of(&run.stderr)),
            _ => format!("its output ends with: {}", run.tail),
        };
        return Err(WorkloadError::Measurement(format!(
            "`{cmdline}` failed: {problem}; {said}"
        )));
    }
}

/// The generator's name and version as results record it (`"iperf3 3.12"`), or why the tool
/// cannot be used (not installed: with the package to install).
pub fn tool_version(generator: Generator) -> Result<String, String> {
    let Some(program) = generator.program() else {
        return Ok(generator.name().to_string());
    };
    version_of(generator, program)
}

/// [`tool_version`] for a given program name (tests use a name that does not exist).
fn version_of(generator: Generator, program: &str) -> Result<String, String> {
    let args = vec!["--version".to_string()];
    let cmdline = command_line(program, &args);
    let deadline = Instant::now() + Duration::from_secs(10);
    match run_to_end(generator, program, &args, &cmdline, deadline) {
        Ok(run) => {
            let text = format!("{}\n{}", run.stdout, run.stderr);
            Ok(parse_version(generator, &text).unwrap_or_else(|| {
                let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
                format!("{program} (unrecognised version: {})", first.trim())
            }))
        }
        Err(WorkloadError::InvalidConfig { reason, .. }) => Err(reason),
        Err(e) => Err(e.to_string()),
    }
}

/// The external program of an external generator.
fn program_of(generator: Generator) -> Result<&'static str, WorkloadError> {
    generator.program().ok_or_else(not_external)
}

fn not_external() -> WorkloadError {
    WorkloadError::InvalidConfig {
        what: "generator",
        reason: "cnbench is not an external tool: its agents serve and run it themselves".into(),
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

/// How the server is started: its arguments, the port it will listen on, and whether that
/// socket is TCP (iperf3 always listens on TCP; data sockets come per test).
#[derive(Debug, PartialEq, Eq)]
struct ServerPlan {
    args: Vec<String>,
    port: u16,
    tcp: bool,
}

impl ServerPlan {
    fn new(cfg: &ServeConfig) -> Result<Self, WorkloadError> {
        let ip = cfg.bind.ip().to_string();
        match cfg.generator {
            Generator::Iperf3 => {
                let port = nonzero_or(cfg.bind.port(), IPERF3_DEFAULT_PORT);
                Ok(ServerPlan {
                    args: strings(&["-s", "-B", &ip, "-p", &port.to_string(), "--forceflush"]),
                    port,
                    tcp: true,
                })
            }
            Generator::Sockperf => {
                sockperf_ipv4(cfg.bind.ip())?;
                let port = nonzero_or(cfg.bind.port(), SOCKPERF_DEFAULT_PORT);
                let tcp = cfg.workload == Workload::TcpRr;
                let mut args = strings(&["server", "-i", &ip, "-p", &port.to_string()]);
                if tcp {
                    args.push("--tcp".into());
                }
                Ok(ServerPlan { args, port, tcp })
            }
            Generator::Cnbench => Err(not_external()),
        }
    }
}

fn nonzero_or(port: u16, default: u16) -> u16 {
    if port == 0 {
        default
    } else {
        port
    }
}

/// sockperf 3.7 rejects IPv6 addresses (`'-i' Invalid address: ::1`): say so up front.
fn sockperf_ipv4(ip: IpAddr) -> Result<(), WorkloadError> {
    if ip.is_ipv6() {
        return Err(WorkloadError::InvalidConfig {
            what: "generator",
            reason: format!(
                "sockperf 3.7 takes IPv4 addresses only, not {ip}: use an IPv4 pod network \
                 or the cnbench generator"
            ),
        });
    }
    Ok(())
}

/// The client's arguments (see the module docs).
fn client_args(cfg: &ClientConfig) -> Result<Vec<String>, WorkloadError> {
    let ip = cfg.target.ip().to_string();
    let port = cfg.target.port().to_string();
    let size = cfg.message_size.to_string();
    match cfg.generator {
        Generator::Iperf3 => {
            let mut args = strings(&[
                "-c",
                &ip,
                "-p",
                &port,
                "-t",
                &whole_seconds_up(cfg.duration_ms).to_string(),
                "-O",
                &whole_seconds_up(cfg.warmup_ms).to_string(),
                "-l",
                &size,
                "-P",
                &cfg.streams.to_string(),
            ]);
            if cfg.workload == Workload::UdpStream {
                args.extend(strings(&["-u", "-b", "0"]));
            }
            let connect_ms = crate::protocol::CONNECT_TIMEOUT.as_millis().to_string();
            args.extend(strings(&["--connect-timeout", &connect_ms, "--json"]));
            Ok(args)
        }
        Generator::Sockperf => {
            sockperf_ipv4(cfg.target.ip())?;
            if cfg.message_size < SOCKPERF_MIN_MESSAGE {
                return Err(WorkloadError::InvalidConfig {
                    what: "message_size",
                    reason: format!(
                        "sockperf sends at least {SOCKPERF_MIN_MESSAGE} bytes (its header), \
                         not {}: use a message size of {SOCKPERF_MIN_MESSAGE} or more, or the \
                         cnbench generator",
                        cfg.message_size
                    ),
                });
            }
            let skipped = (SOCKPERF_SKIPPED_START + SOCKPERF_SKIPPED_END).as_millis() as u64;
            // At least 2 s: with `-t 1` sockperf 3.7 sometimes keeps no observation at all
            // ("No valid observations found"), seen on a loaded machine.
            let seconds = whole_seconds_up(cfg.duration_ms.saturating_add(skipped)).max(2);
            let mut args = strings(&["ping-pong", "-i", &ip, "-p", &port]);
            if cfg.workload == Workload::TcpRr {
                args.push("--tcp".into());
            }
            args.extend(strings(&[
                "-t",
                &seconds.to_string(),
                "-m",
                &size,
                "--full-rtt",
            ]));
            Ok(args)
        }
        Generator::Cnbench => Err(not_external()),
    }
}

/// Milliseconds rounded up to whole seconds (0 stays 0).
fn whole_seconds_up(ms: u64) -> u64 {
    ms.div_ceil(1000)
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The command as a shell-like line, for messages.
fn command_line(program: &str, args: &[String]) -> String {
    std::iter::once(program)
        .chain(args.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The tool's command: stdin closed, stdout and stderr piped, killed when the thread that
/// starts it dies (so when the agent dies).
fn command(program: &str, args: &[String]) -> Command {
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
fn spawn_error(generator: Generator, cmdline: &str, e: io::Error) -> WorkloadError {
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

fn describe_status(status: io::Result<ExitStatus>) -> String {
    match status {
        Ok(s) => s.to_string(),
        Err(e) => format!("exit status unknown: {e}"),
    }
}

/// The last lines a tool wrote (stdout and stderr interleaved as they arrived), ANSI colours
/// removed.
#[derive(Clone, Default)]
struct Tail(Arc<Mutex<VecDeque<String>>>);

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
    fn text(&self) -> String {
        let lines = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if lines.is_empty() {
            return "(nothing)".into();
        }
        lines.iter().cloned().collect::<Vec<_>>().join(" | ")
    }
}

/// The last lines of `text`, as [`Tail::text`] gives them.
fn tail_of(text: &str) -> String {
    let tail = Tail::default();
    for line in text.lines() {
        tail.push(&strip_ansi(line));
    }
    tail.text()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Pipe {
    Stdout,
    Stderr,
}

/// What a reader thread reports: a line (while anyone listens), and the end of its pipe with
/// everything it read if asked to keep it.
enum Event {
    Line(String),
    Closed(Pipe, String),
}

/// Starts a reader thread per pipe. Each pushes every line into `tail`, sends it as an
/// [`Event::Line`] if `lines` (until the receiver is gone), and at the end of the pipe sends
/// [`Event::Closed`] with the whole text if `keep`.
fn start_readers(
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
                let _ = child.kill();
                let _ = child.wait();
                join(handles);
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

fn join(handles: Vec<JoinHandle<()>>) {
    for h in handles {
        let _ = h.join();
    }
}

enum ReadyWait {
    Ready,
    Exited,
    TimedOut,
}

/// Reads the server's lines until its listening line, the end of both pipes (it exited), or
/// the deadline.
fn wait_for_ready_line(generator: Generator, rx: &Receiver<Event>, deadline: Instant) -> ReadyWait {
    let mut open = 2;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Event::Line(line)) if is_ready_line(generator, &line) => return ReadyWait::Ready,
            Ok(Event::Line(_)) => {}
            Ok(Event::Closed(..)) => {
                open -= 1;
                if open == 0 {
                    return ReadyWait::Exited;
                }
            }
            Err(RecvTimeoutError::Timeout) => return ReadyWait::TimedOut,
            Err(RecvTimeoutError::Disconnected) => return ReadyWait::Exited,
        }
    }
}

/// Whether `line` is the server's sign that it listens: iperf3's `Server listening on PORT`,
/// sockperf's `using recvfrom() to block on socket(s)` (printed after bind and listen; its
/// earlier `listen on:` line comes before the bind).
fn is_ready_line(generator: Generator, line: &str) -> bool {
    match generator {
        Generator::Iperf3 => line.contains("Server listening on"),
        Generator::Sockperf => line.contains("to block on socket"),
        Generator::Cnbench => false,
    }
}

/// Waits until a socket on `port` shows in this namespace's `/proc/thread-self/net` tables:
/// LISTEN for TCP, bound (state 07) for UDP. True at once if those tables cannot be read
/// (the tool's line is then the only sign).
fn wait_bound(port: u16, tcp: bool, deadline: Instant) -> bool {
    let (files, state) = if tcp {
        (["tcp", "tcp6"], "0A")
    } else {
        (["udp", "udp6"], "07")
    };
    loop {
        let mut readable = false;
        for f in files {
            if let Ok(table) = std::fs::read_to_string(format!("/proc/thread-self/net/{f}")) {
                readable = true;
                if proc_net_has(&table, port, state) {
                    return true;
                }
            }
        }
        if !readable {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether a `/proc/net/{tcp,udp}[6]` table has a socket with local port `port` in `state`
/// (two hex digits: `0A` LISTEN, `07` for an unconnected UDP socket).
fn proc_net_has(table: &str, port: u16, state: &str) -> bool {
    table.lines().skip(1).any(|line| {
        let mut fields = line.split_whitespace();
        let local = fields.nth(1);
        let st = fields.nth(1);
        let local_port = local
            .and_then(|l| l.rsplit_once(':'))
            .and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
        local_port == Some(port) && st == Some(state)
    })
}

/// What a finished tool run left.
struct Finished {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    tail: String,
}

/// Runs a tool to its end and collects its output; kills it (by its pid, through its
/// still-unreaped [`Child`]) if it is still running at `deadline`.
fn run_to_end(
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
                let _ = child.kill();
                let status = child.wait();
                join(readers);
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

/// Removes ANSI escape sequences (sockperf colours some lines).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        // CSI: ESC [ parameters final-byte (0x40..=0x7e). Other escapes: drop the next char.
        if chars.next() == Some('[') {
            for c in chars.by_ref() {
                if ('\u{40}'..='\u{7e}').contains(&c) {
                    break;
                }
            }
        }
    }
    out
}

/// The version from `--version` output: `iperf 3.12 (cJSON 1.7.15)` → `iperf3 3.12`,
/// `sockperf, version 3.7-no.git` → `sockperf 3.7`.
fn parse_version(generator: Generator, text: &str) -> Option<String> {
    let version = match generator {
        Generator::Iperf3 => text.lines().find_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some("iperf"))
                .then(|| words.next())
                .flatten()
        })?,
        Generator::Sockperf => text.lines().find_map(|l| {
            let (_, v) = l.split_once("version ")?;
            v.split(['-', ' ']).next()
        })?,
        Generator::Cnbench => return Some("cnbench".into()),
    };
    let ok = version.starts_with(|c: char| c.is_ascii_digit());
    ok.then(|| format!("{} {version}", generator.name()))
}

/// The `error` iperf3 puts in its JSON when the server is still busy with the last test.
const IPERF3_BUSY: &str = "the server is busy";

/// Converts iperf3's `--json` output (verified on 3.12) into a sample. All figures are the
/// receiver's (iperf3 sends the server's counts back to the client at the end of the test),
/// after the `-O` warm-up:
///
/// - **tcp-stream**: `end.sum_received`: `bytes` → `bytes_received`;
///   `end − start` → `window_ns` (3.12 puts the *sender's* duration in `seconds`, while its
///   `bits_per_second` is `bytes × 8 / (end − start)`); `bits_per_second` →
///   `throughput_bps`.
/// - **udp-stream**: `end.sum_received`: `bytes`, `end − start` and `bits_per_second` as for
///   TCP. `packets_received` = `bytes / blksize`: exact, since every datagram carries
///   exactly `blksize` payload bytes. The receiver's own `packets` and `lost_packets` are not
///   used: with `-O`, 3.12's client adds the warm-up's lost datagrams to `lost_packets` (in
///   a captured run, `tests/data/iperf3-3.12-udp-stream-O1.{json,server.txt}`, the server
///   printed 21447 lost of 1280215, the client JSON 40109, which is those plus the 18662
///   lost in the omitted second), so `packets − lost_packets` is wrong.
///   `packets_sent` = `end.sum_sent.packets`, the client's count over its own window after
///   warm-up (iperf3 has no per-window count at the receiver for what was sent).
///   `packets_per_s` = `packets_received / window`.
///   `loss_percent` = `(packets_sent − packets_received) / packets_sent × 100`, floored at
///   0: the two windows have the same length but the server's starts and ends a moment
///   later than the client's, so at a steady rate their counts compare; a negative
///   difference is that edge effect, not negative loss.
///
/// An iperf3 `error` in the JSON (it exits 0 after one in JSON mode) is returned as the error.
pub(crate) fn parse_iperf3(
    json: &str,
    workload: Workload,
    message_size: u32,
) -> Result<Sample, String> {
    let v: Value = serde_json::from_str(json.trim())
        .map_err(|e| format!("its output is not iperf3 JSON ({e})"))?;
    if let Some(e) = v.get("error").and_then(Value::as_str) {
        return Err(format!("iperf3 reported: {e}"));
    }
    let received = &v["end"]["sum_received"];
    let bytes = json_u64(received, "bytes", "end.sum_received")?;
    let start = json_f64(received, "start", "end.sum_received")?;
    let end = json_f64(received, "end", "end.sum_received")?;
    let bps = json_f64(received, "bits_per_second", "end.sum_received")?;
    let window_s = end - start;
    if window_s.is_nan() || window_s <= 0.0 {
        return Err(format!(
            "iperf3's receiver window is {window_s} s (end.sum_received start {start}, end \
             {end}): nothing was measured"
        ));
    }
    let window_ns = (window_s * 1e9).round() as u64;
    let test = &v["start"]["test_start"];
    match workload {
        Workload::TcpStream => Ok(Sample::TcpStream(TcpStreamSample {
            streams: json_u64(test, "num_streams", "start.test_start")? as u32,
            message_size_bytes: message_size,
            bytes_received: bytes,
            window_ns,
            throughput_bps: bps,
        })),
        Workload::UdpStream => {
            let blksize = json_u64(test, "blksize", "start.test_start")?;
            if blksize != u64::from(message_size) {
                return Err(format!(
                    "iperf3 sent {blksize}-byte datagrams, not the {message_size} bytes asked for"
                ));
            }
            let packets_sent = json_u64(&v["end"]["sum_sent"], "packets", "end.sum_sent")?;
            let packets_received = bytes / blksize;
            let loss_percent = if packets_sent == 0 {
                0.0
            } else {
                packets_sent.saturating_sub(packets_received) as f64 * 100.0 / packets_sent as f64
            };
            Ok(Sample::UdpStream(UdpStreamSample {
                message_size_bytes: message_size,
                packets_sent,
                packets_received,
                bytes_received: bytes,
                window_ns,
                packets_per_s: packets_received as f64 / window_s,
                throughput_bps: bps,
                loss_percent,
            }))
        }
        w => Err(format!("iperf3 does not run {w}")),
    }
}

fn json_f64(obj: &Value, key: &str, at: &str) -> Result<f64, String> {
    obj.get(key)
        .and_then(Value::as_f64)
        .ok_or_else(|| format!("iperf3's JSON has no number {at}.{key}"))
}

/// A count; iperf3 writes integers, but accept a float with no fraction too.
fn json_u64(obj: &Value, key: &str, at: &str) -> Result<u64, String> {
    let x = json_f64(obj, key, at)?;
    if x < 0.0 || x.fract() != 0.0 {
        return Err(format!("iperf3's JSON has {at}.{key} = {x}, not a count"));
    }
    Ok(x as u64)
}

/// Converts `sockperf ping-pong --full-rtt` output (verified on 3.7) into a sample. Every
/// figure is sockperf's own, over its `[Valid Duration]` (the run minus its first 400 ms and
/// last 50 ms); its times are microseconds with three decimals, so nanoseconds are exact:
///
/// - `transactions`: `Total N observations` (round trips in the valid window);
/// - `window_ns`: the valid `RunTime` (seconds, millisecond resolution);
/// - `transactions_per_s` = `transactions / window`;
/// - `rtt_p50/p90/p99/p999_ns`: its `percentile 50.000 / 90.000 / 99.000 / 99.900` lines
///   (exact order statistics of all observations; cnbench's are HdrHistogram values,
///   within 0.1 %);
/// - `rtt_min_ns` / `rtt_max_ns`: its `<MIN>` / `<MAX>` observations;
/// - `rtt_mean_ns`: its `avg-rtt`;
/// - `timeouts`: its `# dropped messages` (requests whose reply never came: sockperf does not
///   resend, it counts them and goes on; always 0 over TCP).
///
/// Without `--full-rtt` sockperf prints half round trips (`avg-lat`): that is refused.
pub(crate) fn parse_sockperf(
    text: &str,
    workload: Workload,
    message_size: u32,
) -> Result<Sample, String> {
    let mut window_s = None;
    let mut observations = None;
    let mut mean = None;
    let mut dropped = None;
    let mut min = None;
    let mut max = None;
    let mut pct: Vec<(f64, f64)> = Vec::new();
    let mut errors = Vec::new();
    for raw in text.lines() {
        let line = strip_ansi(raw);
        let line = line.trim();
        let line = line.strip_prefix("sockperf:").unwrap_or(line).trim();
        if line.starts_with("ERROR")
            || line.contains("No messages were received")
            || line.contains("No valid observations")
        {
            errors.push(line.to_string());
        } else if line.starts_with("[Valid Duration]") {
            window_s = number_after(line, "RunTime=");
        } else if line.contains("avg-lat=") {
            return Err(
                "sockperf printed half round trips (avg-lat): run it with --full-rtt".into(),
            );
        } else if let Some(x) = number_after(line, "avg-rtt=") {
            mean = Some(x);
        } else if let Some(x) = number_after(line, "# dropped messages =") {
            dropped = Some(x);
        } else if let Some(rest) = line.strip_prefix("Total ") {
            if let Some((n, _)) = rest.split_once(" observations") {
                observations = n.trim().parse::<u64>().ok();
            }
        } else if let Some(x) = number_after(line, "<MAX> observation =") {
            max = Some(x);
        } else if let Some(x) = number_after(line, "<MIN> observation =") {
            min = Some(x);
        } else if let Some(rest) = line.strip_prefix("---> percentile ") {
            if let Some((p, v)) = rest.split_once('=') {
                if let (Ok(p), Ok(v)) = (p.trim().parse::<f64>(), v.trim().parse::<f64>()) {
                    pct.push((p, v));
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(format!("sockperf reported: {}", errors.join(" | ")));
    }
    let percentile = |p: f64| {
        pct.iter()
            .find(|(q, _)| (q - p).abs() < 1e-9)
            .map(|&(_, v)| v)
    };
    let need = |what: &str, x: Option<f64>| {
        x.ok_or_else(|| format!("sockperf's output has no {what} (did the test run at all?)"))
    };
    let window_s = need("[Valid Duration] RunTime", window_s)?;
    let transactions =
        observations.ok_or("sockperf's output has no `Total N observations` line")?;
    if window_s <= 0.0 || transactions == 0 {
        return Err(format!(
            "sockperf measured {transactions} round trips in {window_s} s: nothing to report"
        ));
    }
    let ns = |usec: f64| (usec * 1000.0).round() as u64;
    let rr = RrSample {
        message_size_bytes: message_size,
        timeouts: dropped.unwrap_or(0.0) as u64,
        transactions,
        window_ns: (window_s * 1e9).round() as u64,
        transactions_per_s: transactions as f64 / window_s,
        rtt_min_ns: ns(need("<MIN> observation", min)?),
        rtt_mean_ns: need("avg-rtt", mean)? * 1000.0,
        rtt_p50_ns: ns(need("percentile 50.000", percentile(50.0))?),
        rtt_p90_ns: ns(need("percentile 90.000", percentile(90.0))?),
        rtt_p99_ns: ns(need("percentile 99.000", percentile(99.0))?),
        rtt_p999_ns: ns(need("percentile 99.900", percentile(99.9))?),
        rtt_max_ns: ns(need("<MAX> observation", max)?),
    };
    match workload {
        Workload::TcpRr => Ok(Sample::TcpRr(rr)),
        Workload::UdpRr => Ok(Sample::UdpRr(rr)),
        w => Err(format!("sockperf does not run {w}")),
    }
}

/// The number right after `key` in `line` (spaces skipped), if `key` is there.
fn number_after(line: &str, key: &str) -> Option<f64> {
    let (_, rest) = line.split_once(key)?;
    let rest = rest.trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == 'e' || c == '+'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const IPERF3_TCP: &str = include_str!("../tests/data/iperf3-3.12-tcp-stream-P2-O1.json");
    const IPERF3_UDP: &str = include_str!("../tests/data/iperf3-3.12-udp-stream-O1.json");
    const IPERF3_REFUSED: &str = include_str!("../tests/data/iperf3-3.12-refused.json");
    const SOCKPERF_UDP: &str = include_str!("../tests/data/sockperf-3.7-udp-rr.txt");
    const SOCKPERF_TCP: &str = include_str!("../tests/data/sockperf-3.7-tcp-rr.txt");
    const SOCKPERF_NO_SERVER: &str = include_str!("../tests/data/sockperf-3.7-no-server.txt");
    const SOCKPERF_REFUSED: &str = include_str!("../tests/data/sockperf-3.7-refused.txt");
    /// Seen once over a same-node ipip path on a loaded machine (the tail of a harness error).
    const SOCKPERF_NO_VALID: &str =
        include_str!("../tests/data/sockperf-3.7-no-valid-observations.txt");

    fn client(generator: Generator, workload: Workload) -> ClientConfig {
        ClientConfig {
            generator,
            duration_ms: 1500,
            warmup_ms: 200,
            ..ClientConfig::new(workload, "10.0.0.2:5201".parse().unwrap())
        }
    }

    #[test]
    fn iperf3_tcp_uses_the_receiver_summary() {
        let Sample::TcpStream(s) = parse_iperf3(IPERF3_TCP, Workload::TcpStream, 131_072).unwrap()
        else {
            panic!("not a tcp-stream sample")
        };
        assert_eq!(s.streams, 2);
        assert_eq!(s.message_size_bytes, 131_072);
        assert_eq!(s.bytes_received, 2_630_484_074);
        assert_eq!(s.window_ns, 1_000_264_000);
        assert_eq!(s.throughput_bps, 21_038_318_475.922356);
        let derived = s.bytes_received as f64 * 8.0 / (s.window_ns as f64 / 1e9);
        assert!((derived - s.throughput_bps).abs() / derived < 1e-6);
    }

    #[test]
    fn iperf3_udp_derives_received_packets_from_bytes() {
        let Sample::UdpStream(s) = parse_iperf3(IPERF3_UDP, Workload::UdpStream, 64).unwrap()
        else {
            panic!("not a udp-stream sample")
        };
        assert_eq!(s.message_size_bytes, 64);
        assert_eq!(s.packets_sent, 1_280_220);
        assert_eq!(s.bytes_received, 80_561_152);
        // 80561152 / 64; the server printed 21447 lost of 1280215 for this window.
        assert_eq!(s.packets_received, 1_258_768);
        assert_eq!(1_280_215 - 21_447, s.packets_received);
        assert_eq!(s.window_ns, 1_999_568_000);
        assert!((s.packets_per_s - 1_258_768.0 / 1.999568).abs() < 1e-6);
        assert!((s.loss_percent - 21_452.0 * 100.0 / 1_280_220.0).abs() < 1e-9);
        // Not the client JSON's 3.13 %, which includes the warm-up's losses.
        assert!(s.loss_percent < 1.7);
        // The same test with the wrong datagram size is refused, not miscounted.
        assert!(parse_iperf3(IPERF3_UDP, Workload::UdpStream, 65).is_err());
    }

    #[test]
    fn iperf3_errors_come_from_its_json() {
        let e = parse_iperf3(IPERF3_REFUSED, Workload::TcpStream, 1).unwrap_err();
        assert_eq!(
            e,
            "iperf3 reported: unable to connect to server: Connection refused"
        );
        let busy = r#"{"start":{},"intervals":[],"end":{},"error":"the server is busy running a test. try again later"}"#;
        assert!(parse_iperf3(busy, Workload::TcpStream, 1)
            .unwrap_err()
            .contains(IPERF3_BUSY));
        let e = parse_iperf3("iperf3: parameter error", Workload::TcpStream, 1).unwrap_err();
        assert!(e.starts_with("its output is not iperf3 JSON"), "{e}");
        let e = parse_iperf3(r#"{"end":{}}"#, Workload::TcpStream, 1).unwrap_err();
        assert!(e.contains("end.sum_received.bytes"), "{e}");
    }

    #[test]
    fn sockperf_summary_becomes_an_rr_sample() {
        let Sample::UdpRr(s) = parse_sockperf(SOCKPERF_UDP, Workload::UdpRr, 64).unwrap() else {
            panic!("not a udp-rr sample")
        };
        assert_eq!(s.message_size_bytes, 64);
        assert_eq!(s.transactions, 6964);
        assert_eq!(s.window_ns, 550_000_000);
        assert!((s.transactions_per_s - 6964.0 / 0.55).abs() < 1e-6);
        assert_eq!(s.rtt_min_ns, 19_957);
        assert_eq!(s.rtt_p50_ns, 77_672);
        assert_eq!(s.rtt_p90_ns, 83_880);
        assert_eq!(s.rtt_p99_ns, 121_615);
        assert_eq!(s.rtt_p999_ns, 222_897);
        assert_eq!(s.rtt_max_ns, 2_897_675);
        assert!((s.rtt_mean_ns - 78_710.0).abs() < 1e-6);
        assert_eq!(s.timeouts, 0);

        let Sample::TcpRr(t) = parse_sockperf(SOCKPERF_TCP, Workload::TcpRr, 64).unwrap() else {
            panic!("not a tcp-rr sample")
        };
        assert_eq!(t.transactions, 6789);
        assert_eq!(t.rtt_p50_ns, 79_551);
        assert_eq!(t.rtt_min_ns, 22_169);
        assert_eq!(t.rtt_max_ns, 3_259_251);
    }

    #[test]
    fn sockperf_failures_are_errors() {
        let e = parse_sockperf(SOCKPERF_NO_SERVER, Workload::UdpRr, 64).unwrap_err();
        assert!(
            e.contains("No messages were received from the server"),
            "{e}"
        );
        let e = parse_sockperf(SOCKPERF_REFUSED, Workload::TcpRr, 64).unwrap_err();
        assert!(e.contains("Connection refused"), "{e}");
        let e = parse_sockperf(SOCKPERF_NO_VALID, Workload::UdpRr, 64).unwrap_err();
        assert!(
            e.starts_with("sockperf reported: No valid observations found"),
            "{e}"
        );
        let half = SOCKPERF_UDP.replace("avg-rtt", "avg-lat");
        assert!(parse_sockperf(&half, Workload::UdpRr, 64)
            .unwrap_err()
            .contains("--full-rtt"));
        let no_p999: String = SOCKPERF_UDP
            .lines()
            .filter(|l| !l.contains("99.900"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(parse_sockperf(&no_p999, Workload::UdpRr, 64)
            .unwrap_err()
            .contains("percentile 99.900"));
    }

    #[test]
    fn versions() {
        assert_eq!(
            parse_version(
                Generator::Iperf3,
                "iperf 3.12 (cJSON 1.7.15)\nLinux vm 6.18.44 #1 SMP x86_64\n"
            )
            .as_deref(),
            Some("iperf3 3.12")
        );
        assert_eq!(
            parse_version(
                Generator::Sockperf,
                "sockperf, version 3.7-no.git\n   compiled 2021-08-23 12:14:23\n"
            )
            .as_deref(),
            Some("sockperf 3.7")
        );
        assert_eq!(parse_version(Generator::Iperf3, "something else"), None);
        assert_eq!(tool_version(Generator::Cnbench).as_deref(), Ok("cnbench"));
        assert_eq!(
            version_of(Generator::Iperf3, "cnbench-test-no-such-tool"),
            Err("iperf3 is not installed: apt-get install iperf3".to_string())
        );
        assert_eq!(
            version_of(Generator::Sockperf, "cnbench-test-no-such-tool"),
            Err("sockperf is not installed: apt-get install sockperf".to_string())
        );
    }

    #[test]
    fn iperf3_command_lines() {
        let c = client(Generator::Iperf3, Workload::TcpStream);
        assert_eq!(
            command_line("iperf3", &client_args(&c).unwrap()),
            "iperf3 -c 10.0.0.2 -p 5201 -t 2 -O 1 -l 131072 -P 1 --connect-timeout 5000 --json"
        );
        let c = ClientConfig {
            warmup_ms: 0,
            duration_ms: 1000,
            message_size: 1472,
            ..client(Generator::Iperf3, Workload::UdpStream)
        };
        assert_eq!(
            command_line("iperf3", &client_args(&c).unwrap()),
            "iperf3 -c 10.0.0.2 -p 5201 -t 1 -O 0 -l 1472 -P 1 -u -b 0 --connect-timeout 5000 \
             --json"
        );
        let s = ServeConfig {
            workload: Workload::UdpStream,
            bind: "10.0.0.2:0".parse().unwrap(),
            cpu: None,
            generator: Generator::Iperf3,
        };
        let plan = ServerPlan::new(&s).unwrap();
        assert_eq!(
            command_line("iperf3", &plan.args),
            "iperf3 -s -B 10.0.0.2 -p 5201 --forceflush"
        );
        assert_eq!((plan.port, plan.tcp), (5201, true));
    }

    #[test]
    fn sockperf_command_lines() {
        let c = client(Generator::Sockperf, Workload::TcpRr);
        // 1500 ms + 450 ms sockperf drops → 2 s.
        assert_eq!(
            command_line("sockperf", &client_args(&c).unwrap()),
            "sockperf ping-pong -i 10.0.0.2 -p 5201 --tcp -t 2 -m 64 --full-rtt"
        );
        let c = ClientConfig {
            duration_ms: 600,
            ..client(Generator::Sockperf, Workload::UdpRr)
        };
        assert_eq!(
            command_line("sockperf", &client_args(&c).unwrap()),
            "sockperf ping-pong -i 10.0.0.2 -p 5201 -t 2 -m 64 --full-rtt"
        );
        let small = ClientConfig {
            message_size: 8,
            ..c.clone()
        };
        let e = client_args(&small).unwrap_err().to_string();
        assert!(e.contains("at least 14 bytes"), "{e}");
        let v6 = ClientConfig {
            target: "[fd00::2]:11111".parse().unwrap(),
            ..c
        };
        assert!(client_args(&v6).unwrap_err().to_string().contains("IPv4"));

        for (workload, tcp, flag) in [
            (Workload::TcpRr, true, " --tcp"),
            (Workload::UdpRr, false, ""),
        ] {
            let plan = ServerPlan::new(&ServeConfig {
                workload,
                bind: "10.0.0.2:0".parse().unwrap(),
                cpu: None,
                generator: Generator::Sockperf,
            })
            .unwrap();
            assert_eq!(
                command_line("sockperf", &plan.args),
                format!("sockperf server -i 10.0.0.2 -p 11111{flag}")
            );
            assert_eq!((plan.port, plan.tcp), (11111, tcp));
        }
    }

    #[test]
    fn ready_lines() {
        assert!(is_ready_line(
            Generator::Iperf3,
            "Server listening on 5201 (test #1)"
        ));
        assert!(!is_ready_line(Generator::Iperf3, "-----------"));
        let before_bind = "sockperf: [SERVER] listen on:";
        assert!(!is_ready_line(Generator::Sockperf, before_bind));
        let after_bind = strip_ansi("sockperf: [tid 9088] using recvfrom() to block on socket(s)");
        assert!(is_ready_line(Generator::Sockperf, &after_bind));
    }

    #[test]
    fn proc_net_tables() {
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:14B5 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0\n   1: 0100007F:C350 0100007F:14B5 01 00000000:00000000 00:00000000 00000000     0        0 12346 1\n";
        assert!(proc_net_has(tcp, 5301, "0A"));
        assert!(!proc_net_has(tcp, 5301, "07"));
        assert!(!proc_net_has(tcp, 50000, "0A"));
        let udp6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n  100: 00000000000000000000000001000000:2B67 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 5555 2 0000000000000000 0\n";
        assert!(proc_net_has(udp6, 11111, "07"));
    }

    #[test]
    fn ansi_colours_are_stripped() {
        assert_eq!(
            strip_ansi("sockperf: \u{1b}[2;35m====> avg-rtt=78.710 (std-dev=37.632)\u{1b}[0m"),
            "sockperf: ====> avg-rtt=78.710 (std-dev=37.632)"
        );
    }

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
