//! The batched datapath: what the same UDP encapsulation costs with fewer syscalls and
//! without the losses of default-sized buffers. One thread (SCHED_BATCH: its wake-ups do not
//! preempt the pods), both fds non-blocking, one `poll()` over the TUN and the socket, as the
//! faithful datapath; then, per readable fd:
//!
//! - TUN readable: up to [`BATCH`] packets, one `read()` each (a TUN hands over one packet
//!   per read: there is no batched read without IFF_VNET_HDR offload), then all of them
//!   leave in one `sendmmsg()`, each to its own peer;
//! - socket readable: one non-blocking `recvmmsg()` takes up to [`BATCH`] queued datagrams,
//!   then each is written to the TUN with its own `write()` (a TUN takes one packet per
//!   write without offload, so this side cannot be batched further).
//!
//! What each choice bought, measured with `cnbench run -b flannel-udp --repeat 1
//! --no-baseline` on this 2-core VM with everything (both pods' agents, both daemons) on one
//! CPU, release builds, the variants interleaved in rounds (medians of 4 rounds; tcp-rr of
//! 6). The machine was shared with other builds (load average 4 to 8 on 2 CPUs), so the
//! figures are about half of a quiet machine's and only their ratios within one sitting
//! count:
//!
//! | variant | tcp-stream Gbit/s | udp-stream 64 B kpps | tcp-rr p50 µs |
//! |---|---|---|---|
//! | before: a thread per direction, default buffers | 0.26 | 31 | 69.4 |
//! | one thread, one `poll()` loop, default buffers | 0.26 | 25 | 61.7 |
//! | + 4 MiB socket buffers | 0.58 | 50 | 61–64 |
//! | + the faithful calls at one packet in flight | (same) | (same) | 59.6 |
//! | + SCHED_BATCH (5 more rounds, against the row above) | 0.74 vs 0.71 | 59 vs 61 | 56.0 vs 60.1 |
//! | faithful (for reference) | 0.30 | 20 | 58.4–59.6 |
//! | the C poll/drain forwarder, `ci/userspace-ref.c` | 0.39 | 36 | 60.1 |
//!
//! - **One thread, not one per direction**: tcp-rr p50 −7.7 µs (69.4 → 61.7). On one CPU
//!   two threads cost a context switch to the other thread at every direction change, which
//!   a round trip has on both nodes; one `poll()` over both fds, as faithful, has none.
//! - **4 MiB socket buffers** (`SO_RCVBUFFORCE`/`SO_SNDBUFFORCE`: the daemon is root in its
//!   own node namespace, so `net.core.rmem_max` does not cap it): tcp-stream ×2.2 (0.26 →
//!   0.58), udp-stream 64 B ×2 (25 → 50 kpps). With every process on one CPU the receiving
//!   daemon runs only after the sender has queued a burst; the default 208 KiB (about 90
//!   full-size datagrams at 2.3 KiB of truesize) overflows and TCP halves its window.
//! - **No wasted read per round trip**: at one packet in flight (tcp-rr) the loop makes the
//!   faithful datapath's calls (`poll`, `read` + `sendto`; `poll`, `recv` + `write`) instead
//!   of draining: always draining (a read that meets EAGAIN, a `recvmmsg`) had p50 61.0 µs
//!   against 59.4–60.1 without it, and faithful 59.6 in the same rounds. A non-blocking
//!   `recvmmsg()` that returns fewer than [`BATCH`] datagrams has found the socket empty, so
//!   under load the socket side never needs an EAGAIN call either.
//! - **SCHED_BATCH** ([`yield_on_wakeup`]): tcp-rr p50 −4.2 µs (60.1 → 56.0, below
//!   faithful's), tcp-stream +5 % (0.705 → 0.744), udp-stream 64 B unchanged (61 → 59, within
//!   its spread). A woken daemon no longer preempts the pod that sent the packet; it runs
//!   when that pod blocks, which saves two context switches per hop at one packet in
//!   flight. The C reference forwarder and faithful keep the default policy.
//! - Measured and not kept: a longer TUN queue (`txqueuelen` 500 → 5000, set by hand on a
//!   standing topology: 732–748 against 779–781 Mbit/s, within the noise, although the
//!   sending node's `flannel0` drops about 170 packets of a 0.6 s tcp-stream at 500); a
//!   larger batch (a traced tcp-stream already makes 1.08–1.16 syscalls per packet per
//!   daemon: each TUN read or write is one packet, and those are what is left).
//!
//! What it cannot do: beat the C forwarder by much. Both make one TUN `read()` and one TUN
//! `write()` per packet and send every packet through the UDP stack on its own; batching
//! only saves the socket side's syscall entries. On one CPU the per-packet kernel work
//! (TUN, UDP, veth, bridge, the pods' TCP) dominates, so on one CPU batched measures about
//! the C forwarder's tcp-stream (1.0–1.1× in the quieter A/B rounds and sittings; single busy
//! sittings of `ci/userspace-ref.sh` gave 0.56× and 2.07×, see docs/design.md); with the pods
//! on two CPUs (cross-cpu) it gave 0.91 against 0.71 Gbit/s. Sending fewer
//! packets through the stack needs UDP GSO/GRO and a TUN with IFF_VNET_HDR: the offload
//! datapath.

use std::time::{Duration, Instant};

use super::{
    last_error, poll_fds, poll_forever, ready, send_all, Datapath, BATCH, INVALID, NO_ROUTE,
    WRITE_FAILED,
};
use userspace::ipv4_destination;
use userspace::sys::{interrupted, transient, would_block};
use userspace::DaemonError;

/// A `poll()` that took at least this long slept: under load it returns in about a
/// microsecond; one round trip through two daemons and a pod takes tens.
const SLEPT: Duration = Duration::from_micros(5);

/// Forwards until an unrecoverable error, and returns that error.
pub fn run(dp: &Datapath) -> Result<(), DaemonError> {
    dp.tun
        .set_nonblocking(true)
        .map_err(|e| dp.fatal(format!("set {} non-blocking", dp.tun_name), e))?;
    yield_on_wakeup(dp)?;
    let mut out = Batch::new(dp);
    let mut inn = Batch::new(dp);
    inn.prepare_receive();
    let mut fds = poll_fds(dp);
    // Whether each fd held a single packet at its last wake-up (one packet in flight).
    let (mut tun_single, mut sock_single) = (false, false);
    loop {
        let before = Instant::now();
        poll_forever(dp, &mut fds)?;
        // poll() slept: the packet that woke it arrived after everything before it was
        // moved. clock_gettime is a vDSO call, no syscall.
        let slept = before.elapsed() >= SLEPT;
        // One packet in flight and poll() slept for it: move just that one, with the
        // faithful datapath's calls (read + sendto, recv + write), and let poll() tell
        // whether another is queued (it returns at once if so, and that wake-up drains),
        // rather than a read that only meets EAGAIN.
        if ready(&fds[0]) {
            let limit = if tun_single && slept { 1 } else { BATCH };
            let (read, empty) = tun_to_udp(dp, &mut out, limit)?;
            tun_single = read == 1 && (empty || limit == 1);
        }
        if ready(&fds[1]) {
            let one = sock_single && slept;
            sock_single = udp_to_tun(dp, &mut inn, one)? == 1;
        }
    }
}

/// Makes the (one) thread SCHED_BATCH: the kernel then never lets its wake-up preempt the
/// running task (check_preempt_wakeup_fair returns early for a woken SCHED_BATCH task). On
/// the one CPU it shares with the pods, a packet the client sends wakes the daemon, which
/// otherwise preempts the client, forwards, sleeps, and switches back to the client only
/// for it to block in its own receive: two context switches per hop. Left to wait, the
/// daemon runs when the client blocks (at once, at one packet in flight) or when its slice
/// ends (under load, with more packets queued: larger batches). Needs no privilege.
fn yield_on_wakeup(dp: &Datapath) -> Result<(), DaemonError> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: param is a valid sched_param for the call; pid 0 is the calling thread.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) } != 0 {
        return Err(dp.fatal("set SCHED_BATCH", last_error()));
    }
    Ok(())
}

/// Room for [`BATCH`] packets and the `mmsghdr`s that point into it.
struct Batch {
    /// Bytes per slot: the TUN MTU bounds both sides; one byte more tells an oversized
    /// packet.
    cap: usize,
    bufs: Vec<u8>,
    msgs: Box<[libc::mmsghdr; BATCH]>,
    iovs: Box<[libc::iovec; BATCH]>,
}

impl Batch {
    fn new(dp: &Datapath) -> Batch {
        let cap = dp.mtu + 1;
        Batch {
            cap,
            bufs: vec![0u8; cap * BATCH],
            // SAFETY: mmsghdr and iovec are plain C data; all-zero is a valid (empty) value
            // (msghdr has padding fields on some targets: never built field by field).
            msgs: Box::new(unsafe { std::mem::zeroed() }),
            // SAFETY: as above.
            iovs: Box::new(unsafe { std::mem::zeroed() }),
        }
    }

    /// Slot `i` (`i < BATCH`).
    fn slot(&mut self, i: usize) -> *mut u8 {
        debug_assert!(i < BATCH);
        // SAFETY: i < BATCH, so the slot lies inside bufs.
        unsafe { self.bufs.as_mut_ptr().add(i * self.cap) }
    }

    /// Points every message at its whole slot, for recvmmsg (the boxes never move, so the
    /// pointers stay valid for the life of the batch).
    fn prepare_receive(&mut self) {
        for i in 0..BATCH {
            self.iovs[i] = libc::iovec {
                iov_base: self.slot(i).cast(),
                iov_len: self.cap,
            };
            self.msgs[i].msg_hdr.msg_iov = &mut self.iovs[i];
            self.msgs[i].msg_hdr.msg_iovlen = 1;
        }
    }
}

/// TUN -> UDP: up to `limit` reads, stopping at EAGAIN, then one sendmmsg. Returns how many
/// packets were read (sent or dropped) and whether a read met EAGAIN.
fn tun_to_udp(dp: &Datapath, b: &mut Batch, limit: usize) -> Result<(usize, bool), DaemonError> {
    let mut m = 0; // messages to send
    let mut read = 0; // packets read
    let mut empty = false;
    while read < limit {
        let slot = b.slot(m);
        // SAFETY: slot is valid for cap bytes of writes.
        let n = unsafe { libc::read(dp.tun_fd(), slot.cast(), b.cap) };
        if n < 0 {
            let e = last_error();
            if would_block(&e) {
                empty = true;
                break;
            }
            if interrupted(&e) {
                continue;
            }
            return Err(dp.fatal(format!("read {}", dp.tun_name), e));
        }
        read += 1;
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
        b.iovs[m] = libc::iovec {
            iov_base: slot.cast(),
            iov_len: n,
        };
        let h = &mut b.msgs[m].msg_hdr;
        h.msg_name = (dp.table.get(peer) as *const libc::sockaddr_in)
            .cast_mut()
            .cast();
        h.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        h.msg_iov = &mut b.iovs[m];
        h.msg_iovlen = 1;
        m += 1;
    }
    send_all(dp, &mut b.msgs[..m])?;
    Ok((read, empty))
}

/// UDP -> TUN: one non-blocking recvmmsg (fewer than BATCH back means the socket is empty:
/// no EAGAIN call needed), or with `one` a single recv; then one write per datagram. Returns
/// how many datagrams were received.
fn udp_to_tun(dp: &Datapath, b: &mut Batch, one: bool) -> Result<usize, DaemonError> {
    let r = if one {
        let slot = b.slot(0);
        // SAFETY: slot 0 is valid for cap bytes of writes.
        let n = unsafe { libc::recv(dp.sock_fd(), slot.cast(), b.cap, libc::MSG_DONTWAIT) };
        if n >= 0 {
            // As recvmmsg reports it: the length, and a datagram longer than the slot
            // (the kernel returns the slot's worth) marked truncated.
            b.msgs[0].msg_len = n as u32;
            b.msgs[0].msg_hdr.msg_flags = 0;
        }
        n.min(1) as i32
    } else {
        // SAFETY: the messages point at the batch's slots (prepare_receive), valid and live
        // across the call; the sender's address is not asked for (msg_name is null).
        unsafe {
            libc::recvmmsg(
                dp.sock_fd(),
                b.msgs.as_mut_ptr(),
                BATCH as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        }
    };
    if r < 0 {
        let e = last_error();
        if interrupted(&e) || transient(&e) || would_block(&e) {
            return Ok(0);
        }
        let op = if one { "recv" } else { "recvmmsg" };
        return Err(dp.fatal(format!("{op} on the UDP socket"), e));
    }
    for i in 0..r as usize {
        let msg = &mut b.msgs[i];
        let n = msg.msg_len as usize;
        let truncated = msg.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
        msg.msg_hdr.msg_flags = 0;
        // SAFETY: message i was received into slot i of bufs, n.min(cap) bytes of it written
        // by the kernel.
        let pkt =
            unsafe { std::slice::from_raw_parts(b.bufs.as_ptr().add(i * b.cap), n.min(b.cap)) };
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
    Ok(r as usize)
}
