//! cnbench traffic generators.
//!
//! A workload runs as two agent processes that the harness starts inside pod network
//! namespaces (`cnbench task '<json>'`, the JSON being an [`AgentTask`]). This crate knows a
//! pod only as an IP and a port: nothing of namespaces, backends or netlink.
//!
//! # Agents
//!
//! - **Server** ([`AgentTask::Serve`]): pins itself if asked, listens (`SO_REUSEADDR`,
//!   backlog 128), prints exactly one line `ready <port>` and then serves every workload, any
//!   number of tests, until it is killed. The accept thread reads each connection's header
//!   itself (each read bounded by [`protocol::HEADER_TIMEOUT`], 2 s, so a silent peer cannot
//!   hold it up for long), serves tcp-crr connections on the spot (a thread per connection
//!   would put thread creation into every timed transaction) and starts one thread per
//!   connection for the other workloads.
//! - **Client** ([`AgentTask::Client`]): pins itself if asked, runs one test and prints
//!   exactly one line: the JSON of a [`reports::Sample`].
//!
//! # Wire protocol
//!
//! Every connection starts with a 32-byte header from the client (magic `CNBW`, protocol
//! version 2, workload id, warm-up ms, duration ms, message size; big-endian) and a 20-byte
//! ack from the server (magic `CNBA`, status 0 or a refusal code, a 32-bit `aux` field and a
//! 64-bit cookie). So one server answers every workload, a wrong program on the port or a
//! different cnbench build is reported as such (a client reads the 8 bytes of magic and
//! status first, so even a version-1 server's refusal is understood), and the connect +
//! header exchange happen before any clock starts. The byte layout is in [`protocol`]. After
//! the ack:
//!
//! - **tcp-stream**: the client writes `message_size`-byte buffers as fast as it can, then
//!   half-closes; the server drains to EOF and answers with a 28-byte result (magic `CNBR`,
//!   bytes in window, window ns, bytes total). The client checks that the server's total is
//!   exactly what it sent.
//! - **tcp-rr**: `message_size` bytes each way, one transaction at a time, until the client
//!   closes.
//! - **udp-stream** and **udp-rr**: before acking, the server opens a fresh UDP socket on the
//!   IP the client reached it on and an ephemeral port; the ack's `aux` is that port and its
//!   cookie a fresh random 64-bit value. Every datagram is exactly `message_size` bytes
//!   (16..=65507) and starts with a 64-bit sequence number and the cookie; the server ignores
//!   a datagram of another size or cookie (a stray). The TCP connection stays open as the
//!   control channel.
//!   - udp-stream: the client sends datagrams with sequence numbers 0, 1, 2, ...; when it
//!     has stopped it writes a 28-byte trailer (magic `CNBT`, the first sequence number it
//!     sent inside its own window, how many it sent inside it, how many in all); the server
//!     drains and answers with a 52-byte result (magic `CNBU`, packets and payload bytes in
//!     its window, window ns, how many distinct sequence numbers of the trailer's range and
//!     in all it received, strays).
//!   - udp-rr: the server echoes every request datagram; the client closes the control
//!     connection when done, and the server then closes its UDP socket.
//! - **tcp-crr**: no separate exchange: the client writes header + request in one write
//!   right after connecting, the server answers ack + response (the request echoed) in one
//!   write and closes first.
//!
//! # What is measured
//!
//! - **tcp-stream** (`streams` connections, a thread each, all connected before any data
//!   flows): throughput at the *receiver*. Each server connection timestamps every `recv` on
//!   completion; its window runs from the last `recv` completing at or before
//!   `first byte + warm-up` to the last completing at or before
//!   `first byte + warm-up + duration`, and counts exactly the bytes those `recv`s returned.
//!   The client sends for warm-up + duration + [`stream::SEND_MARGIN`] so the window is
//!   covered; if it were not, the window would shrink rather than the rate inflate. The
//!   sample sums bytes over connections and reports the mean window;
//!   `throughput_bps = bytes_received * 8 / window`. The client writes from one
//!   preallocated buffer; the server reads into a reused 256 KiB buffer.
//! - **udp-stream**: datagrams and UDP payload bytes per second at the *receiver*, and loss.
//!   The client sends with `sendmmsg`, 64 datagrams per call, for warm-up + duration +
//!   [`stream::SEND_MARGIN`], retries a call refused with `ENOBUFS`/`EAGAIN`, and counts what
//!   the kernel accepted. Its own window is `start + warm-up` to `start + warm-up + duration`
//!   (a call belongs to it if it starts inside it); `packets_sent` is what it sent there. The
//!   server (receive buffer: 4 MiB asked for, capped by `net.core.rmem_max`) receives with
//!   `recvmmsg`, up to 64 datagrams per call, timestamps every call on completion and keeps
//!   its window as tcp-stream does: from the last call completing at or before
//!   `first datagram + warm-up` to `first datagram + warm-up + duration` if datagrams kept
//!   arriving after that (so a stall or loss at the end lowers the rate), otherwise to the
//!   last call completing inside it (the sender stopped early: the window shrinks). It
//!   counts the datagrams and payload bytes of the calls completing inside:
//!   `packets_received`, `bytes_received`, `window_ns`;
//!   `packets_per_s = packets_received / window`,
//!   `throughput_bps = bytes_received * 8 / window`. It also marks every sequence number in
//!   a bitmap. After the client's trailer it keeps receiving until 200 ms pass without a
//!   datagram (at most 2 s), then counts the distinct sequence numbers of the client's
//!   window it received at any time:
//!   `loss_percent = 100 * (1 - received_in_range / packets_sent)`. If no datagram arrived
//!   inside the window the rates are 0 over the nominal window. The server allocates
//!   everything before its ack, so the first datagrams find it receiving.
//! - **tcp-rr**: `TCP_NODELAY` on both ends; the client times each transaction with two
//!   monotonic timestamps (before the write, after the read) and records every round trip
//!   after warm-up in an HdrHistogram (ns, 3 significant digits). The window runs from the
//!   end of the last warm-up transaction to the end of the last measured one;
//!   `transactions_per_s = transactions / window`. Figures are full round trips, not
//!   half round trips.
//! - **udp-rr**: as tcp-rr, one datagram each way at a time over a connected UDP socket
//!   (one `send` and one `recv` per side per transaction, no allocation); the timestamps
//!   are taken before the `send` and after the `recv` that returns the matching reply. A
//!   reply with another sequence number (the late answer to a request already given up on)
//!   is ignored. A request unanswered for 200 ms counts as a timeout (`timeouts`, window
//!   only) and the client sends a new request with a new sequence number: the given-up
//!   transaction is not recorded, the new one is timed from its own send. A window in which
//!   no request was answered is an error, not a sample.
//! - **tcp-crr**: one transaction = `socket()`, `TCP_NODELAY`, connect, one write of header +
//!   request, reading ack + response and the end of file, `close()`. The server closes
//!   first, so the TIME_WAIT state stays on the server and the client's ephemeral ports are
//!   free again at once. The time runs from before `socket()` to after `close()`; warm-up,
//!   window, histogram and rates as tcp-rr (`timeouts` 0).
//!
//! # Timeouts
//!
//! Connect: [`protocol::CONNECT_TIMEOUT`] (5 s; also every tcp-crr connect). Once a test
//! runs, every read and write on both ends gives up after warm-up + duration +
//! [`protocol::TIMEOUT_SLACK`] (10 s) of silence, so a dead peer fails the test instead of
//! hanging it; the UDP servers watch their control connection every 100–200 ms and stop
//! when the client goes away.

#![warn(missing_docs)]

mod crr;
mod error;
mod external;
mod pin;
pub mod probe;
pub mod protocol;
mod round_trips;
mod rr;
mod server;
pub mod stream;
mod task;
mod udp;

use std::io::Write;

pub use error::WorkloadError;
pub use external::tool_version;
pub use pin::{allowed_cpus, pin_to_cpu};
pub use probe::{run_probe, ProbeAgent, ProbeConfig, PROBE_PORT};
pub use server::{serve, Server, LISTEN_BACKLOG};
pub use task::{
    AgentTask, ClientConfig, Generator, ServeConfig, Workload, DEFAULT_DURATION_MS,
    DEFAULT_WARMUP_MS, MAX_MESSAGE_SIZE, MAX_UDP_PAYLOAD,
};

/// Runs one agent: the body of the hidden `cnbench task '<json>'` subcommand.
///
/// - `Serve`: pins the process's main thread (if `cpu` is set), listens, writes exactly one
///   line `ready <port>\n` to `out` and flushes, then serves until the process is killed.
///   Returns only on failure.
/// - `Client`: pins, runs the test, writes exactly one line, the JSON of the
///   [`reports::Sample`], and flushes.
///
/// Nothing else is written to `out`; diagnostics go to stderr.
pub fn run_agent(task: &AgentTask, out: &mut dyn Write) -> Result<(), WorkloadError> {
    // Pin first, before any thread exists, so every thread of the agent inherits it.
    if let Some(cpu) = task.cpu() {
        pin_to_cpu(cpu)?;
    }
    match task {
        AgentTask::Serve(cfg) if cfg.generator != Generator::Cnbench => external::serve(cfg, out),
        AgentTask::Serve(cfg) => {
            let server = Server::bind(cfg)?;
            announce_ready(out, server.local_addr().port())?;
            server.run()
        }
        AgentTask::Client(cfg) => write_json_line(out, &run_client(cfg)?, "sample"),
        AgentTask::Probe(cfg) => probe::run_probe(cfg, out),
    }
}

/// Writes the line `ready <port>` that every listening agent (server, external tool server,
/// probe) prints once its socket is bound, and flushes it: the harness waits for that line
/// before it starts the other side.
fn announce_ready(out: &mut dyn Write, port: u16) -> Result<(), WorkloadError> {
    writeln!(out, "ready {port}").map_err(WorkloadError::Output)?;
    out.flush().map_err(WorkloadError::Output)
}

/// Writes an agent's result, `value` (`what` names it in an error), as one line of JSON and
/// flushes it: the harness reads exactly one such line.
fn write_json_line(
    out: &mut dyn Write,
    value: &impl serde::Serialize,
    what: &str,
) -> Result<(), WorkloadError> {
    let line = serde_json::to_string(value)
        .map_err(|e| WorkloadError::Measurement(format!("serializing the {what} to JSON: {e}")))?;
    writeln!(out, "{line}").map_err(WorkloadError::Output)?;
    out.flush().map_err(WorkloadError::Output)
}

/// Runs one client test and returns its sample. Validates `cfg` first; pins the calling
/// thread (and so every thread it starts) if `cfg.cpu` is set.
pub fn run_client(cfg: &ClientConfig) -> Result<reports::Sample, WorkloadError> {
    cfg.validate()?;
    if let Some(cpu) = cfg.cpu {
        pin_to_cpu(cpu)?;
    }
    if cfg.generator != Generator::Cnbench {
        return external::run_client(cfg);
    }
    match cfg.workload {
        Workload::TcpStream => stream::run(cfg),
        Workload::UdpStream => udp::run_stream(cfg),
        Workload::TcpRr => rr::run(cfg),
        Workload::UdpRr => udp::run_rr(cfg),
        Workload::TcpCrr => crr::run(cfg),
    }
}
