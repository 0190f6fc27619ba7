//! The batched datapath: what the same UDP encapsulation costs with fewer syscalls. One
//! thread per direction, so neither waits for the other:
//!
//! - TUN -> UDP: the TUN fd is non-blocking; after `poll()` says it is readable, up to
//!   [`BATCH`] packets are drained with one `read()` each (a TUN hands over one packet per
//!   read: there is no batched read without IFF_VNET_HDR offload) until EAGAIN, then all of
//!   them leave in one `sendmmsg()`, each to its own peer. Per packet: one read, plus a share
//!   of one poll, one EAGAIN read and one sendmmsg.
//! - UDP -> TUN: the socket is blocking; one `recvmmsg(MSG_WAITFORONE)` waits for the first
//!   datagram and takes up to [`BATCH`] that are already queued, then each is written to the
//!   TUN with its own `write()` (a TUN takes one packet per write without offload, so this
//!   side cannot be batched further). Per packet: one write, plus a share of one recvmmsg.
//!
//! At one packet in flight (tcp-rr) the batches are of one, and the saving is what the
//! second thread avoids: no poll and no EAGAIN read on the receiving side.

use std::sync::{mpsc, Arc};

use super::{
    last_error, poll_forever, Datapath, BATCH, INVALID, NO_ROUTE, SEND_FAILED, WRITE_FAILED,
};
use userspace::ipv4_destination;
use userspace::sys::{interrupted, transient, would_block};
use userspace::DaemonError;

/// Forwards until either direction hits an unrecoverable error, and returns that error.
pub fn run(dp: Datapath) -> Result<(), DaemonError> {
    dp.tun
        .set_nonblocking(true)
        .map_err(|e| dp.fatal(format!("set {} non-blocking", dp.tun_name), e))?;
    let dp = Arc::new(dp);
    let (tx, rx) = mpsc::channel();
    for (name, direction) in [
        (
            "flannel-udp-tx",
            tun_to_udp as fn(&Datapath) -> Result<(), DaemonError>,
        ),
        ("flannel-udp-rx", udp_to_tun),
    ] {
        let (mine, tx) = (Arc::clone(&dp), tx.clone());
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let _ = tx.send(direction(&mine));
            })
            .map_err(|e| dp.fatal(format!("start thread {name}"), e))?;
    }
    drop(tx);
    // Returning ends the process, and with it the other thread.
    match rx.recv() {
        Ok(result) => result,
        Err(_) => Ok(()),
    }
}

/// Room per packet: the TUN MTU bounds both sides; one byte more tells an oversized packet.
fn slot_len(dp: &Datapath) -> usize {
    dp.mtu + 1
}

/// A zeroed `mmsghdr` array (msghdr has padding fields on some targets: never built
/// field by field).
fn zeroed_msgs() -> ([libc::mmsghdr; BATCH], [libc::iovec; BATCH]) {
    // SAFETY: mmsghdr and iovec are plain C data; all-zero is a valid (empty) value.
    unsafe { (std::mem::zeroed(), std::mem::zeroed()) }
}

/// TUN -> UDP: drain, then one sendmmsg.
fn tun_to_udp(dp: &Datapath) -> Result<(), DaemonError> {
    let cap = slot_len(dp);
    let mut bufs = vec![0u8; cap * BATCH];
    let (mut msgs, mut iovs) = zeroed_msgs();
    let mut pfd = [libc::pollfd {
        fd: dp.tun_fd(),
        events: libc::POLLIN,
        revents: 0,
    }];
    let mut drained = true;
    loop {
        if drained {
            poll_forever(dp, &mut pfd)?;
        }
        // Fill up to BATCH slots; a packet that cannot be sent frees its slot again.
        let mut m = 0;
        drained = false;
        while m < BATCH {
            // SAFETY: slot m lies inside bufs (m < BATCH).
            let slot = unsafe { bufs.as_mut_ptr().add(m * cap) };
            // SAFETY: slot is valid for cap bytes of writes.
            let n = unsafe { libc::read(dp.tun_fd(), slot.cast(), cap) };
            if n < 0 {
                let e = last_error();
                if would_block(&e) {
                    drained = true;
                    break;
                }
                if interrupted(&e) {
                    continue;
                }
                return Err(dp.fatal(format!("read {}", dp.tun_name), e));
            }
            let n = n as usize;
            // SAFETY: read initialised n <= cap bytes of the slot.
            let pkt = unsafe { std::slice::from_raw_parts(slot, n) };
            let Some(dst) = ipv4_destination(pkt).filter(|_| n <= dp.mtu) else {
                dp.drops.count(INVALID, || {
                    format!("not IPv4 or over the MTU, from {}", dp.tun_name)
                });
                continue;
            };
            let Some(peer) = dp.table.lookup(dst) else {
                dp.drops
                    .count(NO_ROUTE, || format!("to {}", std::net::Ipv4Addr::from(dst)));
                continue;
            };
            iovs[m] = libc::iovec {
                iov_base: slot.cast(),
                iov_len: n,
            };
            let h = &mut msgs[m].msg_hdr;
            h.msg_name = (dp.table.get(peer) as *const libc::sockaddr_in)
                .cast_mut()
                .cast();
            h.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            h.msg_iov = &mut iovs[m];
            h.msg_iovlen = 1;
            m += 1;
        }
        send_all(dp, &mut msgs[..m])?;
    }
}

/// Sends every message, resuming after partial sends; a message the kernel refuses is
/// counted and skipped (sendmmsg reports an error only for the first message it could not
/// send).
fn send_all(dp: &Datapath, msgs: &mut [libc::mmsghdr]) -> Result<(), DaemonError> {
    let mut off = 0;
    while off < msgs.len() {
        let rest = &mut msgs[off..];
        // SAFETY: rest is a valid array of initialised mmsghdr whose buffers and names live
        // until the call returns.
        let r = unsafe { libc::sendmmsg(dp.sock_fd(), rest.as_mut_ptr(), rest.len() as u32, 0) };
        if r >= 0 {
            off += r as usize;
            continue;
        }
        let e = last_error();
        if interrupted(&e) {
            continue;
        }
        if would_block(&e) || transient(&e) {
            let to = rest[0].msg_hdr.msg_name as *const libc::sockaddr_in;
            // SAFETY: msg_name points at a sockaddr_in of the table.
            let ip = std::net::Ipv4Addr::from(u32::from_be(unsafe { (*to).sin_addr.s_addr }));
            dp.drops
                .count(SEND_FAILED, || format!("sendmmsg to {ip}: {e}"));
            off += 1;
            continue;
        }
        return Err(dp.fatal("sendmmsg on the UDP socket", e));
    }
    Ok(())
}

/// UDP -> TUN: one recvmmsg, then one write per datagram.
fn udp_to_tun(dp: &Datapath) -> Result<(), DaemonError> {
    let cap = slot_len(dp);
    let mut bufs = vec![0u8; cap * BATCH];
    let (mut msgs, mut iovs) = zeroed_msgs();
    for i in 0..BATCH {
        iovs[i] = libc::iovec {
            // SAFETY: slot i lies inside bufs.
            iov_base: unsafe { bufs.as_mut_ptr().add(i * cap) }.cast(),
            iov_len: cap,
        };
        msgs[i].msg_hdr.msg_iov = &mut iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    loop {
        // SAFETY: msgs and the buffers they point to are valid and live across the call; the
        // sender's address is not asked for (msg_name is null).
        let r = unsafe {
            libc::recvmmsg(
                dp.sock_fd(),
                msgs.as_mut_ptr(),
                BATCH as u32,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if r < 0 {
            let e = last_error();
            if interrupted(&e) || transient(&e) || would_block(&e) {
                continue;
            }
            return Err(dp.fatal("recvmmsg on the UDP socket", e));
        }
        for (i, msg) in msgs[..r as usize].iter_mut().enumerate() {
            let n = msg.msg_len as usize;
            let truncated = msg.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
            msg.msg_hdr.msg_flags = 0;
            // SAFETY: message i was received into slot i of bufs, n.min(cap) bytes of it
            // written by the kernel.
            let pkt = unsafe { std::slice::from_raw_parts(bufs.as_ptr().add(i * cap), n.min(cap)) };
            if truncated || n > dp.mtu || ipv4_destination(pkt).is_none() {
                dp.drops.count(INVALID, || {
                    "a datagram that is not an IPv4 packet within the MTU".into()
                });
                continue;
            }
            // SAFETY: pkt is valid for its length.
            let w = unsafe { libc::write(dp.tun_fd(), pkt.as_ptr().cast(), pkt.len()) };
            if w < 0 {
                let e = last_error();
                dp.drops
                    .count(WRITE_FAILED, || format!("write {}: {e}", dp.tun_name));
            }
        }
    }
}
