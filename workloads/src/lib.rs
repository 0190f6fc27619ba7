//! cnbench traffic generators.
//!
//! A workload runs as two agent processes that the harness starts inside pod network
//! namespaces (`cnbench agent '<json>'`, the JSON being an [`AgentTask`]). This crate knows a
//! pod only as an IP and a port: nothing of namespaces, backends or netlink.
//!
//! # Agents
//!
//! - **Server** ([`AgentTask::Serve`]): pins itself if asked, listens (`SO_REUSEADDR`,
//!   backlog 128), prints exactly one line `ready <port>` and then serves every workload, any
//!   number of tests, one thread per connection, until it is killed.
//! - **Client** ([`AgentTask::Client`]): pins itself if asked, runs one test and prints
//!   exactly one line: the JSON of a [`reports::Sample`].
//!
//! # Wire protocol
//!
//! Every connection starts with a 32-byte header from the client (magic `CNBW`, protocol
//! version, workload id, warm-up ms, duration ms, message size; big-endian) and an 8-byte ack
//! from the server (magic `CNBA`, status 0 or a refusal code). So one server answers both
//! workloads, a wrong program on the port or a different cnbench build is reported as such,
//! and the connect + header exchange happen before any clock starts. The byte layout is in
//! [`protocol`]. After the ack:
//!
//! - **tcp-stream**: the client writes `message_size`-byte buffers as fast as it can, then
//!   half-closes; the server drains to EOF and answers with a 28-byte result (magic `CNBR`,
//!   bytes in window, window ns, bytes total). The client checks that the server's total is
//!   exactly what it sent.
//! - **tcp-rr**: `message_size` bytes each way, one transaction at a time, until the client
//!   closes.
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
//! - **tcp-rr**: `TCP_NODELAY` on both ends; the client times each transaction with two
//!   monotonic timestamps (before the write, after the read) and records every round trip
//!   after warm-up in an HdrHistogram (ns, 3 significant digits). The window runs from the
//!   end of the last warm-up transaction to the end of the last measured one;
//!   `transactions_per_s = transactions / window`. Figures are full round trips, not
//!   half round trips.
//!
//! # Timeouts
//!
//! Connect: [`protocol::CONNECT_TIMEOUT`] (5 s). Once a test runs, every read and write on
//! both ends gives up after warm-up + duration + [`protocol::TIMEOUT_SLACK`] (10 s) of
//! silence, so a dead peer fails the test instead of hanging it.

#![warn(missing_docs)]

mod crr;
mod error;
mod external;
mod pin;
pub mod protocol;
mod rr;
mod server;
pub mod stream;
mod task;
mod udp;

use std::io::Write;

pub use error::WorkloadError;
pub use external::tool_version;
pub use pin::{allowed_cpus, pin_to_cpu};
pub use server::{serve, Server, LISTEN_BACKLOG};
pub use task::{
    AgentTask, ClientConfig, Generator, ServeConfig, Workload, DEFAULT_DURATION_MS,
    DEFAULT_WARMUP_MS, MAX_MESSAGE_SIZE, MAX_UDP_PAYLOAD,
};

/// Runs one agent: the body of the hidden `cnbench agent '<json>'` subcommand.
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
            writeln!(out, "ready {}", server.local_addr().port()).map_err(WorkloadError::Output)?;
            out.flush().map_err(WorkloadError::Output)?;
            server.run()
        }
        AgentTask::Client(cfg) => {
            let sample = run_client(cfg)?;
            let line = serde_json::to_string(&sample).map_err(|e| {
                WorkloadError::Measurement(format!("serializing the sample to JSON: {e}"))
            })?;
            writeln!(out, "{line}").map_err(WorkloadError::Output)?;
            out.flush().map_err(WorkloadError::Output)
        }
    }
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
