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

use std::collections::VecDeque;
use std::io::{self, Write};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use reports::{LossRun, PeerProbe, ProbeReport};
use serde::{Deserialize, Serialize};
use socket2::{Domain, Protocol, Socket, Type};

use crate::error::WorkloadError;

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

/// Length of every probe datagram, in bytes.
pub const PROBE_LEN: usize = 40;

const MAGIC: &[u8; 4] = b"CNBP";
const VERSION: u8 = 1;
const KIND_REQUEST: u8 = 1;
const KIND_REPLY: u8 = 2;

/// How far in the future `start_unix_ns` may be: a larger value is a unit mistake.
const MAX_START_AHEAD: Duration = Duration::from_secs(3600);

/// Datagrams handled per wake-up before the schedule is looked at again, so a flood of
/// requests cannot hold up the agent's own probes.
const MAX_RECV_BATCH: usize = 256;

/// Highest round trip the histogram holds without resizing, in ns (the reply timeout bounds
/// every recorded one).
const HIST_HIGH_NS: u64 = 10_000_000_000;

/// Configuration of a probe agent.
///
/// JSON (as [`crate::AgentTask::Probe`]): `{"role":"probe","bind":"10.0.0.2:7471",
/// "peers":["10.0.1.2:7471","10.0.2.2:7471"],"rate_pps":1000,"duration_ms":10000,
/// "start_unix_ns":1700000000000000000,"linger_ms":300,"cpu":1}`. `peers`, `rate_pps`,
/// `start_unix_ns`, `linger_ms` and `cpu` may be left out.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    /// The pod's IP and the agent's port (not 0: the peers must know it in advance; usually
    /// [`PROBE_PORT`]).
    pub bind: SocketAddr,
    /// Every other pod's probe address.
    #[serde(default)]
    pub peers: Vec<SocketAddr>,
    /// Probes sent to each peer per second, 1..=[`MAX_RATE_PPS`].
    #[serde(default = "default_rate_pps")]
    pub rate_pps: u64,
    /// How long to send, in ms (more than 0).
    pub duration_ms: u64,
    /// When to begin sending, `CLOCK_REALTIME` ns since the Unix epoch, so that all agents
    /// of a run start together; at once if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_unix_ns: Option<u64>,
    /// How long to keep answering after the last send slot, in ms.
    #[serde(default = "default_linger_ms")]
    pub linger_ms: u64,
    /// CPU to pin the agent to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<u32>,
    /// End the schedule early when a line `stop` (or end of file) arrives on stdin: the
    /// agent sends nothing more, lingers as usual and reports. The harness gives a long
    /// duration and stops the stream once every pair has recovered from a fault.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stop_on_stdin: bool,
}

fn default_rate_pps() -> u64 {
    DEFAULT_RATE_PPS
}

fn default_linger_ms() -> u64 {
    DEFAULT_LINGER_MS
}

impl ProbeConfig {
    /// A probe agent on `bind` probing `peers` at the default rate for `duration_ms`,
    /// starting at once.
    pub fn new(bind: SocketAddr, peers: Vec<SocketAddr>, duration_ms: u64) -> Self {
        ProbeConfig {
            bind,
            peers,
            rate_pps: DEFAULT_RATE_PPS,
            duration_ms,
            start_unix_ns: None,
            linger_ms: DEFAULT_LINGER_MS,
            cpu: None,
            stop_on_stdin: false,
        }
    }

    /// Checks the settings before the socket is opened.
    pub fn validate(&self) -> Result<(), WorkloadError> {
        let bad = |what, reason: String| Err(WorkloadError::InvalidConfig { what, reason });
        if self.bind.port() == 0 {
            return bad(
                "bind",
                format!(
                    "{}: a probe agent needs a fixed port its peers know in advance \
                     (usually {PROBE_PORT}), not 0",
                    self.bind
                ),
            );
        }
        if self.duration_ms == 0 {
            return bad(
                "duration_ms",
                "the probe stream must last more than 0 ms".into(),
            );
        }
        if !(1..=MAX_RATE_PPS).contains(&self.rate_pps) {
            return bad(
                "rate_pps",
                format!(
                    "{} probes/s per peer is out of range: use 1..={MAX_RATE_PPS} (default: \
                     {DEFAULT_RATE_PPS})",
                    self.rate_pps
                ),
            );
        }
        let total = self.rate_pps.saturating_mul(self.peers.len() as u64);
        if total > MAX_TOTAL_RATE_PPS {
            return bad(
                "rate_pps",
                format!(
                    "{} probes/s to each of {} peers is {total}/s, more than one agent sends \
                     ({MAX_TOTAL_RATE_PPS}/s): lower the rate",
                    self.rate_pps,
                    self.peers.len()
                ),
            );
        }
        if self.peers.len() > usize::from(u16::MAX) {
            return bad(
                "peers",
                format!("{} peers; at most {}", self.peers.len(), u16::MAX),
            );
        }
        for p in &self.peers {
            if p.port() == 0 || p.is_ipv4() != self.bind.is_ipv4() || *p == self.bind {
                return bad(
                    "peers",
                    format!(
                        "{p} cannot be probed from {}: a peer needs a port, the bind \
                         address's IP family, and must not be the agent itself",
                        self.bind
                    ),
                );
            }
        }
        if self.linger_ms > 60_000 {
            return bad("linger_ms", format!("{} ms; at most 60000", self.linger_ms));
        }
        Ok(())
    }
}

/// A bound probe agent: [`ProbeAgent::bind`], then [`ProbeAgent::run`].
pub struct ProbeAgent {
    cfg: ProbeConfig,
    sock: UdpSocket,
    id: u64,
}

impl ProbeAgent {
    /// Validates `cfg` (with `start_unix_ns` against the clock) and opens the agent's socket
    /// (non-blocking, 1 MiB buffers asked for).
    /// From here on requests queue up and are answered once [`ProbeAgent::run`] runs.
    pub fn bind(cfg: &ProbeConfig) -> Result<ProbeAgent, WorkloadError> {
        cfg.validate()?;
        let addr = cfg.bind;
        let fail = |source: io::Error| WorkloadError::Listen {
            addr,
            source,
            hint: "is the address one of this pod's, and is no other probe agent on the port?",
        };
        let sock = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))
            .map_err(fail)?;
        // Larger buffers ride out a short stall without dropping; refusals are harmless.
        let _ = sock.set_recv_buffer_size(1 << 20);
        let _ = sock.set_send_buffer_size(1 << 20);
        sock.bind(&addr.into()).map_err(fail)?;
        sock.set_nonblocking(true).map_err(fail)?;
        // Refuse a start time that is wrong already now, before the `ready` line.
        start_offset_ns(cfg, realtime_ns())?;
        Ok(ProbeAgent {
            cfg: cfg.clone(),
            sock: sock.into(),
            id: crate::protocol::new_cookie(),
        })
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.sock.local_addr().unwrap_or(self.cfg.bind)
    }

    /// Runs the schedule to its end (plus the linger) and returns what was seen. With
    /// `stop_on_stdin`, a line `stop` on stdin ends the schedule early.
    pub fn run(self) -> Result<ProbeReport, WorkloadError> {
        let stop = self.cfg.stop_on_stdin.then(watch_stdin_for_stop);
        self.run_until(stop)
    }

    /// Runs the schedule until its end or until `stop` turns true (then nothing more is sent;
    /// the agent lingers as usual), and returns what was seen.
    pub fn run_until(self, stop: Option<Arc<AtomicBool>>) -> Result<ProbeReport, WorkloadError> {
        set_timer_slack();
        let cfg = &self.cfg;
        let epoch = Instant::now();
        let now_unix = realtime_ns();
        let n = cfg.peers.len() as u64;
        let start_rel = start_offset_ns(cfg, now_unix)?;
        let duration_ns = i128::from(cfg.duration_ms) * 1_000_000;
        let mut schedule = Schedule {
            start_rel_ns: start_rel,
            total_rate: u128::from(cfg.rate_pps) * u128::from(n),
            peers: n,
            slots: rounds(cfg.rate_pps, cfg.duration_ms) * n,
        };
        let end_send_rel = start_rel + duration_ns;
        let linger = Duration::from_millis(cfg.linger_ms).max(REPLY_TIMEOUT);
        let mut finish_rel = end_send_rel + linger.as_nanos() as i128;

        let mut peers = cfg
            .peers
            .iter()
            .map(|_| PeerState::new())
            .collect::<Result<Vec<_>, _>>()?;
        let mut errors = ErrorLog::default();
        let mut buf = [0u8; 64];
        let mut g: u64 = 0;
        let rel = |t: Instant| t.duration_since(epoch).as_nanos() as i128;
        loop {
            self.drain(&mut peers, &mut buf, &mut errors)?;
            let now = Instant::now();
            let now_rel = rel(now);
            if stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed)) && g < schedule.slots {
                // Asked to stop: no slot after this one, then the usual linger.
                schedule.slots = g;
                finish_rel = finish_rel.min(now_rel + linger.as_nanos() as i128);
            }
            schedule.due(&mut g, now_rel, |j, send| {
                if send {
                    self.send(j, &mut peers[j], &mut errors);
                } else {
                    peers[j].skipped += 1;
                }
            });
            let now = Instant::now();
            for p in &mut peers {
                p.decide(now, false);
            }
            let now_rel = rel(now);
            let pending = peers.iter().any(|p| !p.pending.is_empty());
            if g >= schedule.slots && now_rel >= finish_rel && !pending {
                break;
            }
            if g >= schedule.slots && now_rel >= finish_rel + 1_000_000_000 {
                // Cannot happen (every probe is decided a reply timeout after it was sent and
                // nothing is sent after the last slot), but never hang on it.
                for p in &mut peers {
                    p.decide(now, true);
                }
                break;
            }
            let mut wake = finish_rel;
            if g < schedule.slots {
                wake = wake.min(schedule.deadline(g));
            }
            if let Some(t) = peers.iter().filter_map(PeerState::next_decision).min() {
                wake = wake.min(rel(t));
            }
            let mut sleep =
                Duration::from_nanos((wake - now_rel).clamp(0, i128::from(u64::MAX)) as u64);
            if stop.is_some() {
                // Look at the stop flag at least this often even when nothing is due.
                sleep = sleep.min(STOP_POLL);
            }
            wait_readable(&self.sock, sleep)
                .map_err(|e| WorkloadError::io(cfg.bind, "waiting on the probe socket", e))?;
        }
        Ok(ProbeReport {
            from: cfg.bind.to_string(),
            rate_pps: cfg.rate_pps,
            reply_timeout_ns: REPLY_TIMEOUT.as_nanos() as u64,
            peers: cfg
                .peers
                .iter()
                .zip(peers)
                .map(|(addr, p)| p.into_report(*addr))
                .collect(),
        })
    }

    /// Sends the next probe to peer `j`; a refused send is a lost probe.
    fn send(&self, j: usize, p: &mut PeerState, errors: &mut ErrorLog) {
        let peer = self.cfg.peers[j];
        let seq = p.next_seq;
        p.next_seq += 1;
        let sent_unix_ns = realtime_ns();
        let sent = Instant::now();
        let msg = encode(&Probe {
            kind: KIND_REQUEST,
            peer_index: j as u16,
            sender_id: self.id,
            seq,
            sent_unix_ns,
            echo_unix_ns: 0,
        });
        let failed = loop {
            match self.sock.send_to(&msg, peer) {
                Ok(_) => break false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    errors.note("sending a probe to", peer, &e);
                    break true;
                }
            }
        };
        if p.sent == 0 {
            p.first_sent_unix_ns = sent_unix_ns;
        }
        p.sent += 1;
        p.last_sent_unix_ns = sent_unix_ns;
        if failed {
            p.send_errors += 1;
        }
        p.pending.push_back(Pending {
            seq,
            sent_unix_ns,
            sent,
            state: if failed {
                State::Failed
            } else {
                State::Waiting
            },
        });
    }

    /// Handles every datagram waiting on the socket (at most [`MAX_RECV_BATCH`]): answers
    /// requests, matches replies.
    fn drain(
        &self,
        peers: &mut [PeerState],
        buf: &mut [u8; 64],
        errors: &mut ErrorLog,
    ) -> Result<(), WorkloadError> {
        for _ in 0..MAX_RECV_BATCH {
            let (len, src) = match self.sock.recv_from(buf) {
                Ok(r) => r,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if is_network_error(&e) => {
                    // An ICMP error for an earlier send (a peer not up yet, a fault).
                    errors.note("receiving on", self.cfg.bind, &e);
                    continue;
                }
                Err(e) => {
                    return Err(WorkloadError::io(
                        self.cfg.bind,
                        "receiving on the probe socket",
                        e,
                    ))
                }
            };
            let Some(probe) = decode(&buf[..len]) else {
                continue;
            };
            let now = Instant::now();
            match probe.kind {
                KIND_REQUEST => {
                    let reply = encode(&Probe {
                        kind: KIND_REPLY,
                        echo_unix_ns: realtime_ns(),
                        ..probe
                    });
                    loop {
                        match self.sock.send_to(&reply, src) {
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                            Err(e) => errors.note("answering", src, &e),
                            Ok(_) => {}
                        }
                        break;
                    }
                }
                _ if probe.sender_id == self.id => {
                    if let Some(p) = peers.get_mut(usize::from(probe.peer_index)) {
                        p.reply(probe.seq, now);
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Runs a probe agent: binds, writes `ready <port>` to `out`, runs, writes the JSON of the
/// [`ProbeReport`] as one line. Nothing else goes to `out`; the first error of each kind on
/// the socket goes to stderr.
pub fn run_probe(cfg: &ProbeConfig, out: &mut dyn Write) -> Result<(), WorkloadError> {
    let agent = ProbeAgent::bind(cfg)?;
    writeln!(out, "ready {}", agent.local_addr().port()).map_err(WorkloadError::Output)?;
    out.flush().map_err(WorkloadError::Output)?;
    let report = agent.run()?;
    let line = serde_json::to_string(&report).map_err(|e| {
        WorkloadError::Measurement(format!("serializing the probe report to JSON: {e}"))
    })?;
    writeln!(out, "{line}").map_err(WorkloadError::Output)?;
    out.flush().map_err(WorkloadError::Output)
}

/// When sending starts, in ns after `now_unix` (negative if `start_unix_ns` is past; 0 if
/// it is not set). A start more than an hour ahead, or so far back that the whole duration is
/// past, is refused: it is a unit mistake or a stale configuration.
fn start_offset_ns(cfg: &ProbeConfig, now_unix: u64) -> Result<i128, WorkloadError> {
    let Some(start) = cfg.start_unix_ns else {
        return Ok(0);
    };
    let offset = i128::from(start) - i128::from(now_unix);
    let bad = |reason| {
        Err(WorkloadError::InvalidConfig {
            what: "start_unix_ns",
            reason,
        })
    };
    if offset > MAX_START_AHEAD.as_nanos() as i128 {
        return bad(format!(
            "{start} is {} s in the future; it must be CLOCK_REALTIME in ns since the epoch",
            offset / 1_000_000_000
        ));
    }
    if offset + i128::from(cfg.duration_ms) * 1_000_000 < 0 {
        return bad(format!(
            "{start} plus the duration ({} ms) is already past ({} s ago): nothing is left to              send; it must be CLOCK_REALTIME in ns since the epoch",
            cfg.duration_ms,
            -offset / 1_000_000_000
        ));
    }
    Ok(offset)
}

/// Send rounds per peer: those whose time `k / rate` lies before the end of the duration.
fn rounds(rate_pps: u64, duration_ms: u64) -> u64 {
    let r = (u128::from(rate_pps) * u128::from(duration_ms)).div_ceil(1000);
    r.min(u128::from(u64::MAX)) as u64
}

/// The send schedule, in ns relative to the agent's monotonic epoch.
struct Schedule {
    start_rel_ns: i128,
    /// Slots per second over all peers.
    total_rate: u128,
    peers: u64,
    /// Send slots over all peers.
    slots: u64,
}

impl Schedule {
    /// When slot `g` is due: `start + floor(g * 1e9 / total_rate)`, exact at any `g`.
    fn deadline(&self, g: u64) -> i128 {
        debug_assert!(self.peers > 0);
        self.start_rel_ns + (u128::from(g) * 1_000_000_000 / self.total_rate) as i128
    }

    /// Goes through the slots from `*g` that are due at `now_rel`, calling `f(peer, true)`
    /// for each to send and `f(peer, false)` for each to skip (a newer slot of the same peer
    /// is due too), and advances `*g` past them.
    fn due(&self, g: &mut u64, now_rel: i128, mut f: impl FnMut(usize, bool)) {
        while *g < self.slots && self.deadline(*g) <= now_rel {
            let newer = *g + self.peers;
            let skip = newer < self.slots && self.deadline(newer) <= now_rel;
            f((*g % self.peers) as usize, !skip);
            *g += 1;
        }
    }
}

/// What is known of one sent probe that is not decided yet.
struct Pending {
    seq: u64,
    sent_unix_ns: u64,
    sent: Instant,
    state: State,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Sent, no reply yet.
    Waiting,
    /// The kernel refused to send it: lost.
    Failed,
    /// Answered in time, with this round trip in ns.
    Answered(u64),
}

/// The stream to one peer.
struct PeerState {
    next_seq: u64,
    sent: u64,
    answered: u64,
    skipped: u64,
    send_errors: u64,
    late_replies: u64,
    first_sent_unix_ns: u64,
    last_sent_unix_ns: u64,
    rtt: Histogram<u64>,
    rtt_max_ns: u64,
    /// Sent probes not decided yet, in sequence order (at most a reply timeout's worth).
    pending: VecDeque<Pending>,
    /// The loss run still growing, if the last decided probe was lost.
    open_run: Option<LossRun>,
    losses: Vec<LossRun>,
}

impl PeerState {
    fn new() -> Result<PeerState, WorkloadError> {
        let mut rtt = Histogram::<u64>::new_with_bounds(1, HIST_HIGH_NS, 3)
            .map_err(|e| WorkloadError::Measurement(format!("creating the histogram: {e}")))?;
        rtt.auto(true);
        Ok(PeerState {
            next_seq: 0,
            sent: 0,
            answered: 0,
            skipped: 0,
            send_errors: 0,
            late_replies: 0,
            first_sent_unix_ns: 0,
            last_sent_unix_ns: 0,
            rtt,
            rtt_max_ns: 0,
            pending: VecDeque::new(),
            open_run: None,
            losses: Vec::new(),
        })
    }

    /// A reply to probe `seq` arrived at `now`.
    fn reply(&mut self, seq: u64, now: Instant) {
        let Some(front) = self.pending.front().map(|f| f.seq) else {
            // Every probe is decided already: a late or duplicate reply (or a forged seq).
            if seq < self.next_seq {
                self.late_replies += 1;
            }
            return;
        };
        if seq < front {
            self.late_replies += 1;
            return;
        }
        let Some(p) = self.pending.get_mut((seq - front) as usize) else {
            return; // never sent
        };
        match p.state {
            State::Waiting => {
                let rtt = now.saturating_duration_since(p.sent);
                if rtt <= REPLY_TIMEOUT {
                    p.state = State::Answered(rtt.as_nanos() as u64);
                } else {
                    self.late_replies += 1;
                }
            }
            State::Answered(_) => self.late_replies += 1,
            State::Failed => {}
        }
    }

    /// Decides, in order, every probe that is answered, refused, or past its reply timeout
    /// at `now` (with `all`, every pending probe: the unanswered ones are lost).
    fn decide(&mut self, now: Instant, all: bool) {
        while let Some(p) = self.pending.front() {
            let lost = match p.state {
                State::Answered(_) => false,
                State::Failed => true,
                State::Waiting if all || now.saturating_duration_since(p.sent) > REPLY_TIMEOUT => {
                    true
                }
                State::Waiting => break,
            };
            let Some(p) = self.pending.pop_front() else {
                break;
            };
            if lost {
                match &mut self.open_run {
                    Some(run) => {
                        run.count += 1;
                        run.last_sent_unix_ns = p.sent_unix_ns;
                    }
                    None => {
                        self.open_run = Some(LossRun {
                            first_seq: p.seq,
                            count: 1,
                            first_sent_unix_ns: p.sent_unix_ns,
                            last_sent_unix_ns: p.sent_unix_ns,
                            answered_again_unix_ns: None,
                        })
                    }
                }
            } else {
                if let State::Answered(ns) = p.state {
                    // Within bounds by construction (auto-resizing besides).
                    let _ = self.rtt.record(ns.max(1));
                    self.rtt_max_ns = self.rtt_max_ns.max(ns);
                }
                self.answered += 1;
                if let Some(mut run) = self.open_run.take() {
                    run.answered_again_unix_ns = Some(p.sent_unix_ns);
                    self.losses.push(run);
                }
            }
        }
    }

    /// When the oldest undecided probe's reply timeout ends.
    fn next_decision(&self) -> Option<Instant> {
        self.pending.front().map(|p| p.sent + REPLY_TIMEOUT)
    }

    fn into_report(mut self, peer: SocketAddr) -> PeerProbe {
        if let Some(run) = self.open_run.take() {
            self.losses.push(run);
        }
        let answered_any = !self.rtt.is_empty();
        PeerProbe {
            peer: peer.to_string(),
            sent: self.sent,
            answered: self.answered,
            skipped: self.skipped,
            send_errors: self.send_errors,
            late_replies: self.late_replies,
            first_sent_unix_ns: self.first_sent_unix_ns,
            last_sent_unix_ns: self.last_sent_unix_ns,
            rtt_p50_ns: if answered_any {
                self.rtt.value_at_quantile(0.5)
            } else {
                0
            },
            rtt_max_ns: self.rtt_max_ns,
            losses: self.losses,
        }
    }
}

/// One probe datagram, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Probe {
    kind: u8,
    peer_index: u16,
    sender_id: u64,
    seq: u64,
    sent_unix_ns: u64,
    echo_unix_ns: u64,
}

fn encode(p: &Probe) -> [u8; PROBE_LEN] {
    let mut b = [0u8; PROBE_LEN];
    b[0..4].copy_from_slice(MAGIC);
    b[4] = VERSION;
    b[5] = p.kind;
    b[6..8].copy_from_slice(&p.peer_index.to_be_bytes());
    b[8..16].copy_from_slice(&p.sender_id.to_be_bytes());
    b[16..24].copy_from_slice(&p.seq.to_be_bytes());
    b[24..32].copy_from_slice(&p.sent_unix_ns.to_be_bytes());
    b[32..40].copy_from_slice(&p.echo_unix_ns.to_be_bytes());
    b
}

fn decode(b: &[u8]) -> Option<Probe> {
    if b.len() != PROBE_LEN || &b[0..4] != MAGIC || b[4] != VERSION {
        return None;
    }
    let kind = b[5];
    if kind != KIND_REQUEST && kind != KIND_REPLY {
        return None;
    }
    let u64_at = |i: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[i..i + 8]);
        u64::from_be_bytes(a)
    };
    Some(Probe {
        kind,
        peer_index: u16::from_be_bytes([b[6], b[7]]),
        sender_id: u64_at(8),
        seq: u64_at(16),
        sent_unix_ns: u64_at(24),
        echo_unix_ns: u64_at(32),
    })
}

/// Errors a fault or a peer that is not up yet causes: they are counted or ignored, never
/// fatal.
fn is_network_error(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::ECONNREFUSED
                | libc::ECONNRESET
                | libc::ENETUNREACH
                | libc::EHOSTUNREACH
                | libc::EHOSTDOWN
                | libc::ENETDOWN
                | libc::ENOBUFS
                | libc::ENOMEM
                | libc::EPERM
                | libc::EACCES
                | libc::EMSGSIZE
                | libc::EPROTO
                | libc::ENOPROTOOPT
                | libc::ETIMEDOUT
                | libc::EINTR
        )
    )
}

/// Writes the first socket error of each kind to stderr, so a stream of them during a fault
/// does not flood it.
#[derive(Default)]
struct ErrorLog {
    seen: Vec<Option<i32>>,
}

impl ErrorLog {
    fn note(&mut self, op: &str, addr: SocketAddr, e: &io::Error) {
        let code = e.raw_os_error();
        if !self.seen.contains(&code) {
            self.seen.push(code);
            eprintln!("probe: {op} {addr}: {e} (counted; further errors of this kind not shown)");
        }
    }
}

/// `CLOCK_REALTIME` in ns since the Unix epoch (0 before 1970).
fn realtime_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Asks for 1 µs of timer slack on this thread (default 50 µs), so sleeps end near the next
/// send slot. Failure only costs precision.
fn set_timer_slack() {
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument and touches no memory.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1_000 as libc::c_ulong, 0, 0, 0);
    }
}

/// Sleeps until `sock` is readable or `timeout` has passed (ns precision, unlike `poll`). A
/// signal ends the sleep early.
/// How often a stoppable agent looks at its stop flag when nothing else wakes it.
const STOP_POLL: Duration = Duration::from_millis(20);

/// Reads stdin on a thread of its own; the flag turns true at a line `stop` or at end of
/// file (the harness went away: stop rather than probe for the whole duration).
fn watch_stdin_for_stop() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let set = Arc::clone(&flag);
    std::thread::spawn(move || {
        let mut line = String::new();
        let stdin = io::stdin();
        loop {
            line.clear();
            match stdin.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) if line.trim() == "stop" => break,
                Ok(_) => {}
            }
        }
        set.store(true, Ordering::Relaxed);
    });
    flag
}

fn wait_readable(sock: &UdpSocket, timeout: Duration) -> io::Result<()> {
    let mut pfd = libc::pollfd {
        fd: sock.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ts = libc::timespec {
        tv_sec: timeout.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as _,
    };
    // SAFETY: one valid pollfd, a valid timespec, no signal mask.
    let r = unsafe { libc::ppoll(&mut pfd, 1, &ts, std::ptr::null()) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn wire_format_round_trips_and_rejects_strays() {
        let p = Probe {
            kind: KIND_REQUEST,
            peer_index: 3,
            sender_id: 0x0102_0304_0506_0708,
            seq: 42,
            sent_unix_ns: 1_700_000_000_123_456_789,
            echo_unix_ns: 0,
        };
        let b = encode(&p);
        assert_eq!(&b[0..6], b"CNBP\x01\x01");
        assert_eq!(&b[16..24], &42u64.to_be_bytes());
        assert_eq!(decode(&b), Some(p));
        assert_eq!(decode(&b[..39]), None);
        let mut longer = b.to_vec();
        longer.push(0);
        assert_eq!(decode(&longer), None);
        for (i, v) in [(0, b'X'), (4, 2), (5, 0), (5, 3)] {
            let mut c = b;
            c[i] = v;
            assert_eq!(decode(&c), None, "byte {i} = {v}");
        }
    }

    #[test]
    fn rounds_cover_the_duration() {
        assert_eq!(rounds(1000, 1000), 1000);
        assert_eq!(rounds(1, 500), 1);
        assert_eq!(rounds(3, 1000), 3);
        assert_eq!(rounds(3, 1001), 4);
        let s = Schedule {
            start_rel_ns: -5,
            total_rate: 3000,
            peers: 3,
            slots: 3000,
        };
        assert_eq!(s.deadline(0), -5);
        assert_eq!(s.deadline(1), 333_333 - 5);
        assert_eq!(s.deadline(3), 1_000_000 - 5);
        assert_eq!(s.deadline(2999), 999_666_666 - 5);
    }

    #[test]
    fn a_late_wake_up_sends_one_probe_per_peer_and_skips_the_rest() {
        // 3 peers at 1000/s: a slot every 333 µs, each peer's every 1 ms.
        let s = Schedule {
            start_rel_ns: 0,
            total_rate: 3000,
            peers: 3,
            slots: 3000,
        };
        let mut g = 0;
        let mut calls = Vec::new();
        // On time: slot 0 only.
        s.due(&mut g, 0, |j, send| calls.push((j, send)));
        assert_eq!((g, &calls[..]), (1, &[(0, true)][..]));
        // 200 µs late for slot 1: slots 1 and 2 late but still the newest of their peers.
        calls.clear();
        s.due(&mut g, 866_666, |j, send| calls.push((j, send)));
        assert_eq!(calls, [(1, true), (2, true)]);
        // 10.5 ms behind: slots 3..=33 due; each peer sends only its newest.
        calls.clear();
        s.due(&mut g, 11_166_666, |j, send| calls.push((j, send)));
        assert_eq!(g, 34);
        let sent: Vec<usize> = calls.iter().filter(|c| c.1).map(|c| c.0).collect();
        assert_eq!(sent, [1, 2, 0]);
        assert_eq!(calls.iter().filter(|c| !c.1).count(), 31 - 3);
        // A start 0.5 s in the past: the first wake-up skips what is past.
        let past = Schedule {
            start_rel_ns: -500_000_000,
            ..s
        };
        let (mut g, mut sent, mut skipped) = (0, 0, 0);
        past.due(
            &mut g,
            0,
            |_, send| if send { sent += 1 } else { skipped += 1 },
        );
        assert_eq!((sent, skipped), (3, 1500 - 3 + 1));
        // The end of the schedule: nothing past the last slot.
        let mut g = 0;
        let mut n = 0;
        s.due(&mut g, i128::MAX / 2, |_, send| n += usize::from(send));
        assert_eq!((g, n), (3000, 3));
    }

    #[test]
    fn config_json_shape_and_defaults() {
        let cfg: ProbeConfig = serde_json::from_value(json!({
            "bind": "10.0.0.2:7471", "peers": ["10.0.1.2:7471"], "duration_ms": 5000
        }))
        .unwrap();
        assert_eq!(cfg.rate_pps, DEFAULT_RATE_PPS);
        assert_eq!(cfg.linger_ms, DEFAULT_LINGER_MS);
        assert_eq!((cfg.start_unix_ns, cfg.cpu), (None, None));
        assert_eq!(
            cfg,
            ProbeConfig::new(addr("10.0.0.2:7471"), vec![addr("10.0.1.2:7471")], 5000)
        );
        let err = serde_json::from_value::<ProbeConfig>(json!({
            "bind": "10.0.0.2:7471", "duration_ms": 5000, "rate": 5
        }))
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown field `rate`"), "{err}");
    }

    #[test]
    fn validation_names_the_setting() {
        let ok = ProbeConfig::new(addr("10.0.0.2:7471"), vec![addr("10.0.1.2:7471")], 1000);
        ok.validate().unwrap();
        let cases: Vec<(ProbeConfig, &str)> = vec![
            (
                ProbeConfig {
                    bind: addr("10.0.0.2:0"),
                    ..ok.clone()
                },
                "invalid bind",
            ),
            (
                ProbeConfig {
                    duration_ms: 0,
                    ..ok.clone()
                },
                "invalid duration_ms",
            ),
            (
                ProbeConfig {
                    rate_pps: 0,
                    ..ok.clone()
                },
                "invalid rate_pps",
            ),
            (
                ProbeConfig {
                    rate_pps: MAX_RATE_PPS,
                    peers: (1..=11)
                        .map(|i| addr(&format!("10.0.{i}.2:7471")))
                        .collect(),
                    ..ok.clone()
                },
                "lower the rate",
            ),
            (
                ProbeConfig {
                    peers: vec![addr("[fd00::2]:7471")],
                    ..ok.clone()
                },
                "invalid peers",
            ),
            (
                ProbeConfig {
                    peers: vec![addr("10.0.0.2:7471")],
                    ..ok.clone()
                },
                "invalid peers",
            ),
            (
                ProbeConfig {
                    linger_ms: 60_001,
                    ..ok.clone()
                },
                "invalid linger_ms",
            ),
        ];
        for (cfg, want) in cases {
            let e = cfg.validate().unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
    }

    fn state_at(t0: Instant) -> (PeerState, Vec<Instant>) {
        let mut p = PeerState::new().unwrap();
        let times: Vec<Instant> = (0..10).map(|i| t0 + Duration::from_millis(i)).collect();
        for (i, &t) in times.iter().enumerate() {
            p.pending.push_back(Pending {
                seq: i as u64,
                sent_unix_ns: 1_000 + i as u64,
                sent: t,
                state: State::Waiting,
            });
        }
        p.next_seq = 10;
        p.sent = 10;
        (p, times)
    }

    #[test]
    fn decisions_build_loss_runs_in_order() {
        let t0 = Instant::now();
        let (mut p, times) = state_at(t0);
        let ms = Duration::from_millis;
        // 0, 1 answered; 2, 3, 4 not; 5 answered; 6 refused; 7 answered late; 8, 9 answered.
        p.reply(0, times[0] + ms(1));
        p.reply(1, times[1] + ms(1));
        p.reply(1, times[1] + ms(2)); // a duplicate
        p.pending[6].state = State::Failed;
        p.reply(5, times[5] + ms(3));
        p.reply(8, times[8] + ms(1));
        p.reply(9, times[9] + ms(1));
        p.reply(10, times[9] + ms(1)); // never sent: ignored
                                       // Before any timeout: only 0 and 1 are decided (2 is still waiting).
        p.decide(t0 + ms(20), false);
        assert_eq!((p.answered, p.pending.len()), (2, 8));
        p.reply(7, times[7] + ms(101)); // late
        p.decide(t0 + ms(200), false);
        assert!(p.pending.is_empty());
        assert_eq!(p.answered, 5);
        assert_eq!(p.late_replies, 2);
        assert_eq!(p.rtt_max_ns, 3_000_000);
        p.reply(2, t0 + ms(300)); // after its decision
        assert_eq!(p.late_replies, 3);
        let r = p.into_report(addr("10.0.1.2:7471"));
        assert_eq!(r.losses.len(), 2);
        assert_eq!(
            (r.losses[0].first_seq, r.losses[0].count),
            (2, 3),
            "{:?}",
            r.losses
        );
        assert_eq!(r.losses[0].first_sent_unix_ns, 1_002);
        assert_eq!(r.losses[0].last_sent_unix_ns, 1_004);
        assert_eq!(r.losses[0].answered_again_unix_ns, Some(1_005));
        assert_eq!((r.losses[1].first_seq, r.losses[1].count), (6, 2));
        assert_eq!(r.losses[1].answered_again_unix_ns, Some(1_008));
        assert_eq!(
            r.answered + r.losses.iter().map(|l| l.count).sum::<u64>(),
            10
        );
    }

    #[test]
    fn a_stop_ends_a_long_schedule_early() {
        // Two agents on loopback probe each other for a minute; a stop after 300 ms ends
        // both well before, with every probe sent answered.
        let (a, b) = (addr("127.0.0.1:17491"), addr("127.0.0.1:17492"));
        let flag = Arc::new(AtomicBool::new(false));
        // Both bound before either sends, so no first probe meets a closed port.
        let bind = |me, peer| ProbeAgent::bind(&ProbeConfig::new(me, vec![peer], 60_000)).unwrap();
        let (agent_a, agent_b) = (bind(a, b), bind(b, a));
        let run = |agent: ProbeAgent, flag: Arc<AtomicBool>| {
            std::thread::spawn(move || agent.run_until(Some(flag)).unwrap())
        };
        let started = Instant::now();
        let (ta, tb) = (run(agent_a, flag.clone()), run(agent_b, flag.clone()));
        std::thread::sleep(Duration::from_millis(300));
        flag.store(true, Ordering::Relaxed);
        let (ra, rb) = (ta.join().unwrap(), tb.join().unwrap());
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        for r in [ra, rb] {
            let p = &r.peers[0];
            assert!(p.sent >= 100 && p.sent < 2_000, "{p:?}");
            // Loopback answers all but (on a loaded machine) a reply later than the timeout.
            assert!(p.answered * 100 >= p.sent * 99, "{p:?}");
        }
    }

    #[test]
    fn a_loss_at_the_end_stays_open() {
        let t0 = Instant::now();
        let (mut p, times) = state_at(t0);
        for (i, &t) in times.iter().enumerate().take(7) {
            p.reply(i as u64, t + Duration::from_micros(50));
        }
        p.decide(t0 + Duration::from_millis(5), true);
        let r = p.into_report(addr("10.0.1.2:7471"));
        assert_eq!(r.answered, 7);
        assert_eq!(r.rtt_p50_ns / 1000, 50);
        assert_eq!(r.losses.len(), 1);
        assert_eq!((r.losses[0].first_seq, r.losses[0].count), (7, 3));
        assert_eq!(r.losses[0].answered_again_unix_ns, None);
    }
}
