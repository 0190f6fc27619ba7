//! Paced probe streams between pods, for fault injection.
//!
//! While a fault is injected, every pod runs one probe agent ([`crate::AgentTask::Probe`]).
//! An agent has one UDP socket on its pod's IP and a fixed port ([`PROBE_PORT`] unless the
//! harness gives another; every agent must know every other's address before any starts).
//! On it the agent
//!
//! - answers every probe request it receives, from whoever sends it, from the moment it is
//!   bound (before its own start time too) until it exits, and
//! - sends requests to each of its peers at `rate_pps`, from `start_unix_ns` (or at once)
//!   for `duration_ms`, and matches the replies.
//!
//! It prints `ready <port>` once bound and, at the end, one line: the JSON of a
//! [`reports::ProbeReport`]. With `stop_on_stdin` a line `stop` on its stdin ends the
//! schedule early (the harness probes until a fault has been recovered from, not for a
//! duration fixed in advance). The figures drawn from it are in [`reports::probe`].
//!
//! # Wire format
//!
//! Requests and replies are 40-byte datagrams, big-endian:
//!
//! ```text
//! offset  field          type
//!      0  magic          [u8;4]  "CNBP"
//!      4  version        u8      1
//!      5  kind           u8      1 = request, 2 = reply
//!      6  peer_index     u16     the sender's index of the peer it probes (echoed)
//!      8  sender_id      u64     random per agent run (echoed): a reply to another agent,
//!                                or to an earlier run of this one, is not counted
//!     16  seq            u64     per (sender, peer): 0, 1, 2, ... for every probe sent
//!     24  sent_unix_ns   u64     the sender's CLOCK_REALTIME when it sent the request
//!     32  echo_unix_ns   u64     reply: the responder's CLOCK_REALTIME when it received the
//!                                request; request: 0
//! ```
//!
//! A reply is the request with `kind` 2 and `echo_unix_ns` filled in, sent back to the
//! request's source address. Datagrams of another length, magic, version or kind are ignored.
//!
//! # Pacing
//!
//! The schedule is absolute: with `n` peers, send slot `g` (peer `g % n`, round `g / n`) is
//! due at `start + g / (rate_pps * n)` seconds, so the peers' probes are spread evenly over
//! each interval instead of going out in a burst, and there is no drift. Rounds run while
//! their time is before `start + duration`: `ceil(rate_pps * duration_ms / 1000)` per peer.
//! Between due slots the agent sleeps in `ppoll` on its socket until the next slot, the next
//! reply deadline or the end (timer slack set to 1 µs), and wakes to answer requests. When
//! it wakes late, it sends every due slot unless a newer slot of the same peer is due too:
//! then the older one is *skipped* (counted in `skipped`, never sent, takes no sequence
//! number). So it never sends a peer more than one probe at a time to catch up. If
//! `start_unix_ns` is already past, the slots before now are skipped.
//!
//! # Loss accounting
//!
//! A probe is *answered* if its reply (right sender id, peer index and sequence number)
//! arrives within [`REPLY_TIMEOUT`] of sending it, on `CLOCK_MONOTONIC`; its round trip goes
//! into a histogram (p50, max). Otherwise it is *lost*: no reply, a reply after the timeout
//! (also counted in `late_replies`), or a send the kernel refused (`ENETUNREACH`,
//! `EHOSTUNREACH`, `ENOBUFS`, `EAGAIN`, `EPERM` from a firewall, ...: also counted in
//! `send_errors`; pacing goes on). Probes are decided in sequence order (a probe is decided
//! once it is answered or its timeout passed, and after every earlier one), and consecutive
//! lost probes are joined into a [`reports::LossRun`] that records the send time of its first
//! and last probe and of the answered probe that ended it. Duplicate replies count in
//! `late_replies` and change nothing else. Errors on receive (an ICMP error reported as
//! `ECONNREFUSED` while a peer is not up yet, unreachable networks during a fault) are
//! ignored.
//!
//! After its last send slot the agent keeps answering for `linger_ms` (and waits at least
//! [`REPLY_TIMEOUT`] for its own last replies), so peers whose schedule ends a little later
//! are still answered. Agents given the same `start_unix_ns` and `duration_ms` end together;
//! agents whose ends differ by more than the linger see the late peer's last probes lost.
//!
//! # Clocks
//!
//! Send times in the report, and `start_unix_ns`, are `CLOCK_REALTIME` ns of the machine the
//! agent runs on, so a loss run and a recovery time are in the sender's clock alone. The
//! harness gives the start time on that clock and puts the report back on its own before
//! comparing it with its fault times (`cnbench_harness::clock`: a VM node's clock is up to a
//! second off). Round trips and timeouts use `CLOCK_MONOTONIC`.
//!
//! # Source layout
//!
//! [`run_probe`] is the agent's body; [`ProbeConfig`] (file `config.rs`) is what the harness
//! gives it, [`ProbeAgent`] (`agent.rs`) its socket and main loop. The wire format
//! (`wire.rs`), the pacing (`schedule.rs`) and the loss accounting of one peer (`peer.rs`)
//! have a file each: none of them does I/O, so each is tested alone.

mod agent;
mod config;
mod peer;
mod schedule;
mod wire;

use std::io::Write;
use std::time::Duration;

use crate::error::WorkloadError;

pub use agent::ProbeAgent;
pub use config::ProbeConfig;
pub use wire::PROBE_LEN;

/// The UDP port of a pod's probe agent unless the harness chooses another.
pub const PROBE_PORT: u16 = 7471;

/// Probes sent to each peer per second unless configured.
pub const DEFAULT_RATE_PPS: u64 = 1000;

/// Highest rate accepted per peer, in probes per second.
pub const MAX_RATE_PPS: u64 = 100_000;

/// Highest rate accepted over all peers together, in probes per second: one thread sends
/// them and answers as many.
pub const MAX_TOTAL_RATE_PPS: u64 = 1_000_000;

/// How long a probe waits for its reply before it counts as lost.
pub const REPLY_TIMEOUT: Duration = Duration::from_millis(100);

/// How long an agent keeps answering after its last send slot unless configured, in ms.
pub const DEFAULT_LINGER_MS: u64 = 300;

/// Runs a probe agent: binds, writes `ready <port>` to `out`, runs, writes the JSON of the
/// [`ProbeReport`](reports::ProbeReport) as one line. Nothing else goes to `out`; the first error of each kind on
/// the socket goes to stderr.
pub fn run_probe(cfg: &ProbeConfig, out: &mut dyn Write) -> Result<(), WorkloadError> {
    let agent = ProbeAgent::bind(cfg)?;
    crate::announce_ready(out, agent.local_addr().port())?;
    crate::write_json_line(out, &agent.run()?, "probe report")
}
