//! External generators: iperf3 (tcp-stream, udp-stream) and sockperf (tcp-rr, udp-rr), run by
//! the agent so that cnbench's own figures can be checked against well-known tools in the same
//! session, on the same pods and CPUs.
//!
//! The agent is already pinned when these functions run, and a child inherits the affinity of
//! the thread that starts it, so the tools run on the agent's CPU. Every tool is started with
//! `PR_SET_PDEATHSIG = SIGKILL`, so killing the agent kills its tool. (The signal follows the
//! *thread* that started the child: here that is always the thread that then waits for it.)
//!
//! [`serve`] and [`run_client`] here are the two agent roles; the rest is by concept:
//!
//! - [`args`]: the tools' command lines, and how cnbench's settings map onto them;
//! - [`process`]: starting a tool, reading its output as it comes, killing it;
//! - [`ready`]: knowing when a tool server listens;
//! - [`parse`]: a tool's output turned into a [`Sample`];
//! - [`version`]: which version of a tool is installed, for the results.
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

mod args;
mod parse;
mod process;
mod ready;
mod version;

use std::io::{self, Write};
use std::net::SocketAddr;
use std::process::Child;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use reports::Sample;

use crate::error::WorkloadError;
use crate::task::{ClientConfig, Generator, ServeConfig};

use args::{client_args, command_line, ServerPlan};
use parse::{parse_iperf3, parse_sockperf, IPERF3_BUSY};
use process::{
    command, describe_status, join, kill_and_reap, run_to_end, spawn_error, start_readers, tail_of,
    Tail,
};
use ready::{wait_bound, wait_for_ready_line, ReadyWait};
pub use version::tool_version;

/// How long a tool server may take to say it listens before the agent gives up.
const READY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long after its listening line the tool's socket may take to show up in `/proc`.
const BOUND_TIMEOUT: Duration = Duration::from_secs(2);

/// How long the iperf3 client keeps retrying while the server is still busy with the test
/// before (iperf3 serves one test at a time and may not have reset yet).
const BUSY_RETRY_FOR: Duration = Duration::from_secs(3);

/// Pause between two tries against a busy iperf3 server.
const BUSY_RETRY_PAUSE: Duration = Duration::from_millis(100);

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
        let status = kill_and_reap(&mut child, readers);
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
    if let Err(e) = crate::announce_ready(out, plan.port) {
        let _ = kill_and_reap(&mut child, readers);
        return Err(e);
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
