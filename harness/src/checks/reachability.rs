//! The reachability matrix: ICMP echo from a raw socket and a TCP connect to a listener,
//! both created inside the namespaces concerned.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::mem::MaybeUninit;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use etherparse::{IcmpEchoHeader, Icmpv4Header, Icmpv4Slice, Icmpv4Type};
use reports::{CheckOutcome, CheckRecord};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::backend::{Expect, Probe, ProbeProto};
use crate::host::Host;
use crate::netns::Netns;

/// How long a probe waits for an answer.
/// How long a probe waits for an answer. Generous on purpose: a probe shares the per-CPU
/// receive backlog with whatever else the machine forwards, and a busy moment must not read as
/// a broken datapath; a probe that must fail costs this much, in parallel with the others.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Echo requests an ICMP probe sends (one per equal share of the timeout).
const ECHO_ATTEMPTS: u16 = 6;

/// What a probe saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeResult {
    /// An answer came back after this long.
    Answered(Duration),
    /// An ICMP error came back instead (type, code, from).
    IcmpError(u8, u8, Ipv4Addr),
    /// The connection was refused or reset.
    Refused,
    /// Nothing came back in time.
    Silence,
    /// The sender's own kernel refused it: larger than the link MTU with DF set (EMSGSIZE).
    TooBig,
    /// The probe could not be sent (the kernel said why).
    SendError(String),
}

impl ProbeResult {
    /// Whether it got through.
    pub fn ok(&self) -> bool {
        matches!(self, ProbeResult::Answered(_))
    }
}

impl std::fmt::Display for ProbeResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProbeResult::Answered(d) => write!(f, "answered in {} µs", d.as_micros()),
            ProbeResult::IcmpError(3, c, from) => {
                write!(f, "ICMP destination unreachable (code {c}) from {from}")
            }
            ProbeResult::IcmpError(11, _, from) => write!(f, "ICMP time exceeded from {from}"),
            ProbeResult::IcmpError(t, c, from) => write!(f, "ICMP type {t} code {c} from {from}"),
            ProbeResult::Refused => write!(f, "connection refused"),
            ProbeResult::Silence => {
                write!(f, "no answer within {} ms", PROBE_TIMEOUT.as_millis())
            }
            ProbeResult::TooBig => write!(f, "refused by the sender's kernel: message too long"),
            ProbeResult::SendError(e) => write!(f, "not sent: {e}"),
        }
    }
}

static ECHO_ID: AtomicU16 = AtomicU16::new(0);

/// Sends ICMP echo requests from `from` to `to` (up to 3, the first may wait for ARP) and
/// waits for the reply.
pub fn icmp_echo(from: &Host, to: Ipv4Addr) -> ProbeResult {
    icmp_probe(from, to, None).result
}

/// What an echo probe saw, with the reply's IP TTL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Echo {
    /// The outcome.
    pub result: ProbeResult,
    /// TTL of the reply's IP header (64 minus the routed hops back, for a Linux replier).
    pub ttl: Option<u8>,
}

/// Sends ICMP echo requests from `from` to `to`. With `df_size`, each request is an IP
/// packet of exactly that many bytes with the don't-fragment bit set, sent regardless of
/// any cached path MTU (`IP_PMTUDISC_PROBE`): the way to test what a path carries.
pub fn icmp_probe(from: &Host, to: Ipv4Addr, df_size: Option<usize>) -> Echo {
    from.icmp_probe(to, df_size, PROBE_TIMEOUT)
}

/// Sends ICMP echo requests from `from` to `to` within `timeout` (six attempts spread over
/// it): a quick look, for polling a path that is expected to come back.
pub fn icmp_echo_within(from: &Host, to: Ipv4Addr, timeout: Duration) -> ProbeResult {
    from.icmp_probe(to, None, timeout).result
}

/// [`icmp_probe`] with its own timeout (the implementation for a namespace of this machine;
/// [`Host::icmp_probe`] works on every host).
pub fn icmp_probe_within(
    from: &Netns,
    to: Ipv4Addr,
    df_size: Option<usize>,
    timeout: Duration,
) -> Echo {
    let fail = |result| Echo { result, ttl: None };
    let sock = match from.run_in(|| Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))) {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return fail(ProbeResult::SendError(e.to_string())),
        Err(e) => return fail(ProbeResult::SendError(e.to_string())),
    };
    let payload: Vec<u8> = match df_size {
        Some(size) => {
            // IP header (20) + ICMP header (8) + payload = size.
            let mode: libc::c_int = libc::IP_PMTUDISC_PROBE;
            // SAFETY: setsockopt on a socket we own, with a pointer to a c_int that outlives
            // the call and its exact size.
            let rc = unsafe {
                libc::setsockopt(
                    sock.as_raw_fd(),
                    libc::IPPROTO_IP,
                    libc::IP_MTU_DISCOVER,
                    (&mode as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            if rc != 0 {
                return fail(ProbeResult::SendError(
                    std::io::Error::last_os_error().to_string(),
                ));
            }
            vec![0xcb; size.saturating_sub(28)]
        }
        None => b"cnbench-probe-00".to_vec(),
    };
    let id = (std::process::id() as u16) ^ ECHO_ID.fetch_add(1, Ordering::Relaxed).rotate_left(7);
    let dest = SockAddr::from(SocketAddrV4::new(to, 0));
    let start = Instant::now();
    let deadline = start + timeout;
    let mut buf = vec![MaybeUninit::<u8>::uninit(); 65536];
    for seq in 0..ECHO_ATTEMPTS {
        let hdr = Icmpv4Header::with_checksum(
            Icmpv4Type::EchoRequest(IcmpEchoHeader { id, seq }),
            &payload,
        );
        let mut pkt = hdr.to_bytes().to_vec();
        pkt.extend_from_slice(&payload);
        let sent = Instant::now();
        if let Err(e) = sock.send_to(&pkt, &dest) {
            // EMSGSIZE: the sender's own kernel refused a packet larger than its link MTU.
            return fail(match e.raw_os_error() {
                Some(libc::EMSGSIZE) => ProbeResult::TooBig,
                _ => ProbeResult::SendError(e.to_string()),
            });
        }
        // Each attempt gets an equal share of the budget.
        let attempt_end = (sent + timeout / u32::from(ECHO_ATTEMPTS)).min(deadline);
        loop {
            let now = Instant::now();
            if now >= attempt_end {
                break;
            }
            let _ = sock.set_read_timeout(Some(attempt_end - now));
            let n = match sock.recv(&mut buf) {
                Ok(n) => n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
                Err(e) => return fail(ProbeResult::SendError(e.to_string())),
            };
            // SAFETY: recv initialised the first n bytes.
            let bytes: &[u8] = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast(), n) };
            if let Some(result) = parse_icmp(bytes, id, to, sent) {
                let ttl = result.ok().then(|| bytes[8]);
                return Echo { result, ttl };
            }
        }
    }
    fail(ProbeResult::Silence)
}

/// Interprets a packet from a raw ICMP socket (it carries the IPv4 header).
fn parse_icmp(bytes: &[u8], id: u16, to: Ipv4Addr, sent: Instant) -> Option<ProbeResult> {
    let ihl = usize::from(bytes.first()? & 0x0f) * 4;
    let src = Ipv4Addr::new(*bytes.get(12)?, bytes[13], bytes[14], bytes[15]);
    let icmp = Icmpv4Slice::from_slice(bytes.get(ihl..)?).ok()?;
    match icmp.icmp_type() {
        Icmpv4Type::EchoReply(e) if e.id == id && src == to => {
            Some(ProbeResult::Answered(sent.elapsed()))
        }
        Icmpv4Type::DestinationUnreachable(_) | Icmpv4Type::TimeExceeded(_) => {
            // The quoted datagram must be our echo request: inner header then ICMP id.
            let inner = icmp.payload();
            let inner_ihl = usize::from(inner.first()? & 0x0f) * 4;
            let dst = Ipv4Addr::new(*inner.get(16)?, inner[17], inner[18], inner[19]);
            let inner_id = u16::from_be_bytes([*inner.get(inner_ihl + 4)?, inner[inner_ihl + 5]]);
            (dst == to && inner_id == id)
                .then(|| ProbeResult::IcmpError(icmp.type_u8(), icmp.code_u8(), src))
        }
        _ => None,
    }
}

/// Connects from `from` to a listener opened in `to` on `ip`, and returns the source address
/// the listener saw (to prove no NAT rewrote it).
pub fn tcp_peer(from: &Host, to: &Host, ip: Ipv4Addr) -> Result<Ipv4Addr, ProbeResult> {
    let listener = to.tcp_listen(ip).map_err(ProbeResult::SendError)?;
    match from.tcp_connect(ip, listener.port, PROBE_TIMEOUT) {
        // connect() returns when the SYN-ACK arrived; the listener sees the connection only
        // once the final ACK crossed the path, which through a userspace datapath takes a
        // while.
        ProbeResult::Answered(_) => listener
            .accept_peer(PROBE_TIMEOUT)
            .map_err(ProbeResult::SendError),
        other => Err(match other {
            ProbeResult::SendError(e) => ProbeResult::SendError(e),
            o => ProbeResult::SendError(o.to_string()),
        }),
    }
}

/// Opens a listener in `to` on `ip` (any free port) and connects to it from `from`.
pub fn tcp_connect(from: &Host, to: &Host, ip: Ipv4Addr) -> ProbeResult {
    match to.tcp_listen(ip) {
        Ok(listener) => from.tcp_connect(ip, listener.port, PROBE_TIMEOUT),
        Err(e) => ProbeResult::SendError(e),
    }
}

/// Connects from a namespace of this machine to `ip:port` within `timeout` (the
/// implementation; [`Host::tcp_connect`] works on every host).
pub fn tcp_connect_to(from: &Netns, ip: Ipv4Addr, port: u16, timeout: Duration) -> ProbeResult {
    let sock = match from.run_in(|| Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))) {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return ProbeResult::SendError(e.to_string()),
        Err(e) => return ProbeResult::SendError(e.to_string()),
    };
    let start = Instant::now();
    let addr = SockAddr::from(SocketAddr::from((ip, port)));
    match sock.connect_timeout(&addr, timeout) {
        Ok(()) => ProbeResult::Answered(start.elapsed()),
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => ProbeResult::Refused,
        Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
            ProbeResult::Silence
        }
        Err(e) => ProbeResult::SendError(e.to_string()),
    }
}

/// How many probes run at once: a probe that must fail waits out its whole timeout, so a
/// serial matrix of N pods would take O(N²) seconds when a backend expects failures.
const PARALLEL_PROBES: usize = 16;

/// Runs every probe of the matrix, several at a time, and returns results in probe order.
pub(super) fn matrix(hosts: &BTreeMap<String, Host>, probes: &[Probe]) -> Vec<CheckRecord> {
    let mut out = Vec::with_capacity(probes.len());
    for chunk in probes.chunks(PARALLEL_PROBES) {
        std::thread::scope(|s| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|p| s.spawn(move || one(hosts, p)))
                .collect();
            out.extend(
                handles
                    .into_iter()
                    .map(|h| h.join().expect("probe thread panicked")),
            );
        });
    }
    out
}

fn one(hosts: &BTreeMap<String, Host>, p: &Probe) -> CheckRecord {
    let from = &hosts[&p.from_netns];
    let (proto, result) = match p.proto {
        ProbeProto::Icmp => ("icmp", icmp_echo(from, p.to_ip)),
        ProbeProto::Tcp => ("tcp", tcp_connect(from, &hosts[&p.to_netns], p.to_ip)),
    };
    let subject = format!("{} -> {} ({}) {proto} [{}]", p.from, p.to, p.to_ip, p.path);
    let (expected, outcome, reason) = match (&p.expect, result.ok()) {
        (Expect::Reach, true) => ("answer".to_string(), CheckOutcome::Pass, None),
        (Expect::Reach, false) => (
            "answer".to_string(),
            CheckOutcome::Fail,
            Some("a pod pair the backend must connect did not answer".to_string()),
        ),
        // Only a probe that went out and got nothing (or an error from the network) shows
        // the path is missing; one that could not even be sent proves nothing.
        (Expect::Unreachable { reason }, false)
            if !matches!(result, ProbeResult::SendError(_) | ProbeResult::TooBig) =>
        {
            (
                "no answer".to_string(),
                CheckOutcome::ExpectedFailure,
                Some(reason.clone()),
            )
        }
        (Expect::Unreachable { .. }, false) => (
            "no answer".to_string(),
            CheckOutcome::Fail,
            Some("the probe could not be sent, so it proves nothing".to_string()),
        ),
        (Expect::Unreachable { reason }, true) => (
            "no answer".to_string(),
            CheckOutcome::Fail,
            Some(format!("expected to fail ({reason}) but it answered")),
        ),
    };
    CheckRecord {
        check: "reachability".into(),
        subject,
        expected,
        actual: result.to_string(),
        outcome,
        reason,
    }
}
