//! ICMP and ICMPv6 echo from a raw socket created inside the namespace.

use std::io::ErrorKind;
use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
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
    to: IpAddr,
    df_size: Option<usize>,
    timeout: Duration,
) -> Echo {
    match to {
        IpAddr::V4(to) => echo4(from, to, df_size, timeout),
        IpAddr::V6(to) => echo6(from, to, df_size, timeout),
    }
}

/// A raw socket of `domain` and `protocol` made in `from`'s namespace.
fn raw_socket(from: &Netns, domain: Domain, protocol: Protocol) -> Result<Socket, ProbeResult> {
    match from.run_in(|| Socket::new(domain, Type::RAW, Some(protocol))) {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(ProbeResult::SendError(e.to_string())),
        Err(e) => Err(ProbeResult::SendError(e.to_string())),
    }
}

/// Sets an integer socket option (`setsockopt(level, name, value)`).
fn set_int(
    sock: &Socket,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> Result<(), ProbeResult> {
    // SAFETY: setsockopt on a socket we own, with a pointer to a c_int that outlives the
    // call and its exact size.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(ProbeResult::SendError(
            std::io::Error::last_os_error().to_string(),
        ))
    }
}

fn echo4(from: &Netns, to: Ipv4Addr, df_size: Option<usize>, timeout: Duration) -> Echo {
    let fail = |result| Echo { result, ttl: None };
    let sock = match raw_socket(from, Domain::IPV4, Protocol::ICMPV4) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let payload: Vec<u8> = match df_size {
        Some(size) => {
            if let Err(e) = set_int(
                &sock,
                libc::IPPROTO_IP,
                libc::IP_MTU_DISCOVER,
                libc::IP_PMTUDISC_PROBE,
            ) {
                return fail(e);
            }
            // IP header (20) + ICMP header (8) + payload = size.
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
                .then(|| ProbeResult::IcmpError(icmp.type_u8(), icmp.code_u8(), src.into()))
        }
        _ => None,
    }
}

/// ICMPv6 types (RFC 4443 §2.1).
const ICMP6_DEST_UNREACH: u8 = 1;
const ICMP6_PACKET_TOO_BIG: u8 = 2;
const ICMP6_TIME_EXCEEDED: u8 = 3;
const ICMP6_ECHO_REQUEST: u8 = 128;
const ICMP6_ECHO_REPLY: u8 = 129;

/// The IPv6 echo: the same attempts as IPv4's over an ICMPv6 raw socket. The kernel fills in
/// the checksum of what an ICMPv6 raw socket sends (RFC 3542 §3.1), and hands up what it
/// receives without the IPv6 header, so the reply's hop limit comes from an
/// `IPV6_HOPLIMIT` control message and its source from the socket address.
fn echo6(from: &Netns, to: Ipv6Addr, df_size: Option<usize>, timeout: Duration) -> Echo {
    let fail = |result| Echo { result, ttl: None };
    let sock = match raw_socket(from, Domain::IPV6, Protocol::ICMPV6) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let mut options = vec![(libc::IPV6_RECVHOPLIMIT, 1)];
    let payload: Vec<u8> = match df_size {
        Some(size) => {
            // No router fragments IPv6; DONTFRAG keeps the sender from fragmenting too, and
            // PMTUDISC_PROBE sends at `size` whatever path MTU a Packet Too Big cached.
            options.push((libc::IPV6_MTU_DISCOVER, libc::IPV6_PMTUDISC_PROBE));
            options.push((libc::IPV6_DONTFRAG, 1));
            // IPv6 header (40) + ICMPv6 header (8) + payload = size.
            vec![0xcb; size.saturating_sub(48)]
        }
        None => b"cnbench-probe-00".to_vec(),
    };
    for (name, value) in options {
        if let Err(e) = set_int(&sock, libc::IPPROTO_IPV6, name, value) {
            return fail(e);
        }
    }
    let id = (std::process::id() as u16) ^ ECHO_ID.fetch_add(1, Ordering::Relaxed).rotate_left(7);
    let dest = SockAddr::from(SocketAddr::new(to.into(), 0));
    let start = Instant::now();
    let deadline = start + timeout;
    let mut buf = vec![0u8; 65536];
    for seq in 0..ECHO_ATTEMPTS {
        let mut pkt = vec![ICMP6_ECHO_REQUEST, 0, 0, 0];
        pkt.extend_from_slice(&id.to_be_bytes());
        pkt.extend_from_slice(&seq.to_be_bytes());
        pkt.extend_from_slice(&payload);
        let sent = Instant::now();
        if let Err(e) = sock.send_to(&pkt, &dest) {
            return fail(match e.raw_os_error() {
                Some(libc::EMSGSIZE) => ProbeResult::TooBig,
                _ => ProbeResult::SendError(e.to_string()),
            });
        }
        let attempt_end = (sent + timeout / u32::from(ECHO_ATTEMPTS)).min(deadline);
        loop {
            let now = Instant::now();
            if now >= attempt_end {
                break;
            }
            let _ = sock.set_read_timeout(Some(attempt_end - now));
            let (n, src, hops) = match recv6(&sock, &mut buf) {
                Ok(r) => r,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
                Err(e) => return fail(ProbeResult::SendError(e.to_string())),
            };
            if let Some(result) = parse_icmp6(&buf[..n], src, id, to, sent) {
                let ttl = if result.ok() { hops } else { None };
                return Echo { result, ttl };
            }
        }
    }
    fail(ProbeResult::Silence)
}

/// One `recvmsg` on an ICMPv6 raw socket: the message's length, its source, and its hop
/// limit (the `IPV6_HOPLIMIT` control message `IPV6_RECVHOPLIMIT` asked for).
fn recv6(sock: &Socket, buf: &mut [u8]) -> std::io::Result<(usize, Ipv6Addr, Option<u8>)> {
    // SAFETY: all-zero is a valid sockaddr_in6 and msghdr.
    let mut addr: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    let mut control = [0u64; 16];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&mut addr as *mut libc::sockaddr_in6).cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control);
    // SAFETY: every pointer in msg points into a local that outlives the call, with its size.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, 0) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut hops = None;
    // SAFETY: the CMSG macros walk the control buffer recvmsg filled, within msg_controllen.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::IPPROTO_IPV6 && (*c).cmsg_type == libc::IPV6_HOPLIMIT {
                let v = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>());
                hops = u8::try_from(v).ok();
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok((n as usize, Ipv6Addr::from(addr.sin6_addr.s6_addr), hops))
}

/// Interprets an ICMPv6 message (no IPv6 header) from `src`.
fn parse_icmp6(
    bytes: &[u8],
    src: Ipv6Addr,
    id: u16,
    to: Ipv6Addr,
    sent: Instant,
) -> Option<ProbeResult> {
    let kind = *bytes.first()?;
    let code = *bytes.get(1)?;
    match kind {
        ICMP6_ECHO_REPLY
            if u16::from_be_bytes([*bytes.get(4)?, *bytes.get(5)?]) == id && src == to =>
        {
            Some(ProbeResult::Answered(sent.elapsed()))
        }
        ICMP6_DEST_UNREACH | ICMP6_PACKET_TOO_BIG | ICMP6_TIME_EXCEEDED => {
            // After the 8-byte ICMPv6 header, as much of our request as fits (RFC 4443
            // §3): its IPv6 header (destination at 24..40), then the echo header.
            let inner = bytes.get(8..)?;
            let dst = Ipv6Addr::from(<[u8; 16]>::try_from(inner.get(24..40)?).ok()?);
            let inner_id = u16::from_be_bytes([*inner.get(44)?, *inner.get(45)?]);
            (dst == to && inner_id == id).then(|| ProbeResult::IcmpError(kind, code, src.into()))
        }
        _ => None,
    }
}
