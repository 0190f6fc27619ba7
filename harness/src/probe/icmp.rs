//! ICMP echo from a raw socket created inside the namespace.

use std::io::ErrorKind;
use std::mem::MaybeUninit;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use etherparse::{IcmpEchoHeader, Icmpv4Header, Icmpv4Slice, Icmpv4Type};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::{Echo, ProbeResult};
use crate::netns::Netns;

/// Echo requests an ICMP probe sends (one per equal share of the timeout).
const ECHO_ATTEMPTS: u16 = 6;

static ECHO_ID: AtomicU16 = AtomicU16::new(0);

/// Sends ICMP echo requests from a namespace of this machine to `to`, up to six spread over
/// `timeout` (the first may wait for ARP). With `df_size`, each request is an IP packet of
/// exactly that many bytes with the don't-fragment bit set, sent regardless of any cached
/// path MTU (`IP_PMTUDISC_PROBE`): the way to test what a path carries. (`Host::icmp_probe`
/// does the same on every host.)
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
