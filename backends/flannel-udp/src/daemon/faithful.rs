//! The faithful datapath: flanneld's UDP proxy loop, re-done. One thread, both fds
//! non-blocking, one `poll()` over the TUN and the socket; then at most one packet from each
//! fd that poll reported readable, as flanneld's proxy does:
//!
//! - TUN readable: one `read()` (one IP packet), look up the destination's /24, one
//!   `sendto()` of the whole packet as a UDP datagram to that node's daemon;
//! - socket readable: one `recv()` (one datagram = one IP packet), one `write()` into the
//!   TUN, where the kernel receives it as if it arrived on `flannel0` and routes it to cni0.
//!
//! So a packet costs the sending node two user/kernel crossings beyond the pod's own (the
//! article's "three copies": pod -> kernel, kernel -> daemon, daemon -> kernel) plus the
//! `poll()` that found it: three syscalls and two crossings per packet. (Draining each fd
//! until EAGAIN would save polls under load but add a read that moves nothing.) Differences from flanneld, on purpose: the
//! inner TTL is left alone (flanneld decrements it on both sides) and a packet with no route
//! is dropped and counted (flanneld answers ICMP net unreachable).

use super::{
    last_error, peer_addr, poll_fds, poll_forever, ready, Datapath, INVALID, NO_ROUTE, SEND_FAILED,
    WRITE_FAILED,
};
use userspace::ipv4_destination;
use userspace::sys::{interrupted, transient, would_block};
use userspace::DaemonError;

/// Forwards until an unrecoverable error.
pub fn run(dp: &Datapath) -> Result<(), DaemonError> {
    dp.tun
        .set_nonblocking(true)
        .map_err(|e| dp.fatal(format!("set {} non-blocking", dp.tun_name), e))?;
    // Room for any packet either side can hand over (the TUN MTU bounds both); a bigger one
    // shows up as exactly-full and is dropped as invalid.
    let mut buf = vec![0u8; dp.mtu + 1];
    let mut fds = poll_fds(dp);
    loop {
        poll_forever(dp, &mut fds)?;
        if ready(&fds[0]) {
            tun_to_udp(dp, &mut buf)?;
        }
        if ready(&fds[1]) {
            udp_to_tun(dp, &mut buf)?;
        }
    }
}

/// Moves one packet from the TUN to its peer; false when the TUN had nothing (EAGAIN).
fn tun_to_udp(dp: &Datapath, buf: &mut [u8]) -> Result<bool, DaemonError> {
    // SAFETY: buf is valid for buf.len() bytes of writes.
    let n = unsafe { libc::read(dp.tun_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        let e = last_error();
        if would_block(&e) {
            return Ok(false);
        }
        if interrupted(&e) {
            return Ok(true);
        }
        return Err(dp.fatal(format!("read {}", dp.tun_name), e));
    }
    let pkt = &buf[..n as usize];
    let Some(dst) = ipv4_destination(pkt).filter(|_| pkt.len() <= dp.mtu) else {
        dp.drops.count(INVALID, || {
            format!("not IPv4 or over the MTU, from {}", dp.tun_name)
        });
        return Ok(true);
    };
    let Some(peer) = dp.table.lookup(dst) else {
        dp.drops
            .count(NO_ROUTE, || format!("to {}", std::net::Ipv4Addr::from(dst)));
        return Ok(true);
    };
    let to = dp.table.get(peer);
    // SAFETY: pkt is valid for its length; `to` is a valid sockaddr_in of the given size.
    let sent = unsafe {
        libc::sendto(
            dp.sock_fd(),
            pkt.as_ptr().cast(),
            pkt.len(),
            0,
            (to as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if sent < 0 {
        // Send buffer full (EAGAIN), the peer unreachable on the underlay: the packet is lost
        // as it would be on a congested link; TCP above recovers.
        let e = last_error();
        dp.drops.count(SEND_FAILED, || {
            format!("sendto {}: {e}", peer_addr(dp.table.get(peer)))
        });
    }
    Ok(true)
}

/// Moves one datagram from the socket into the TUN; false when the socket had nothing.
fn udp_to_tun(dp: &Datapath, buf: &mut [u8]) -> Result<bool, DaemonError> {
    // SAFETY: buf is valid for buf.len() bytes of writes.
    let n = unsafe { libc::recv(dp.sock_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        let e = last_error();
        if would_block(&e) {
            return Ok(false);
        }
        if interrupted(&e) || transient(&e) {
            return Ok(true);
        }
        return Err(dp.fatal("recv on the UDP socket", e));
    }
    let pkt = &buf[..n as usize];
    if ipv4_destination(pkt).is_none() || pkt.len() > dp.mtu {
        dp.drops.count(INVALID, || {
            "a datagram that is not an IPv4 packet within the MTU".into()
        });
        return Ok(true);
    }
    // SAFETY: pkt is valid for its length.
    let w = unsafe { libc::write(dp.tun_fd(), pkt.as_ptr().cast(), pkt.len()) };
    if w < 0 {
        let e = last_error();
        dp.drops
            .count(WRITE_FAILED, || format!("write {}: {e}", dp.tun_name));
    }
    Ok(true)
}
