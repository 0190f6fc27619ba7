//! The probe agent's socket and main loop ([`ProbeAgent`]): it binds, then sends each due
//! probe, answers every request, matches replies and sleeps in between until the schedule,
//! a reply timeout or a datagram wakes it. The wire format, the schedule and the per-peer
//! accounting it drives are in sibling modules; what is here is the I/O and the clocks.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reports::ProbeReport;
use socket2::{Domain, Protocol, Socket, Type};

use crate::error::WorkloadError;

use super::config::{start_offset_ns, ProbeConfig};
use super::peer::PeerState;
use super::schedule::Schedule;
use super::wire::{decode, encode, Probe, KIND_REPLY, KIND_REQUEST};
use super::REPLY_TIMEOUT;

/// Datagrams handled per wake-up before the schedule is looked at again, so a flood of
/// requests cannot hold up the agent's own probes.
const MAX_RECV_BATCH: usize = 256;

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
        let mut schedule = Schedule::new(start_rel, cfg.rate_pps, n, cfg.duration_ms);
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
                    peers[j].skip();
                }
            });
            let now = Instant::now();
            for p in &mut peers {
                p.decide(now, false);
            }
            let now_rel = rel(now);
            let pending = peers.iter().any(PeerState::undecided);
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
        let seq = p.next_seq();
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
        p.sent(seq, sent_unix_ns, sent, failed);
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

/// Sleeps until `sock` is readable or `timeout` has passed (ns precision, unlike `poll`). A
/// signal ends the sleep early.
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

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
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
}
