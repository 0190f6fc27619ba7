//! The userspace ipip daemon with the TUN's offloads (`--datapath offload`). Same TUN, route
//! and raw IP-protocol-4 socket as [`crate::daemon`], and the same packets on the wire, so an
//! offload node interoperates with a `userspace` one; what changes is how many packets a
//! syscall moves. One thread, both fds non-blocking, one `poll()`:
//!
//! - TUN readable: one `read()` brings a super-packet of up to 64 KB with its virtio-net
//!   header, cut by tun-rs into packets of at most the TUN MTU
//!   (`userspace::offload::Segments`); they leave in one `sendmmsg()`, one message each to
//!   the node owning its destination. A raw socket has no segmentation offload of its own
//!   (UDP_SEGMENT is UDP's), so each packet is its own message; the kernel writes each
//!   outer header as for the `userspace` datapath.
//! - socket readable: one `recvmmsg()` takes up to [`RECV_BATCH`] IP-in-IP packets (outer
//!   header included, as raw IPv4 sockets get them); each is checked and stripped
//!   ([`crate::daemon::decapsulate`]), and the inner packets are coalesced by tun-rs (TCP
//!   and UDP GRO) into super-packets, one `write()` each.
//!
//! Each side moves at most [`ROUNDS`] batches before looking at the other again, so neither
//! starves on the daemon's one CPU.

use std::os::fd::AsRawFd;

use userspace::offload::{GroWriter, Segments, BATCH};
use userspace::sys::{interrupted, transient, would_block};
use userspace::{ipv4_destination, DaemonError};

use crate::daemon::{decapsulate, Forwarder};

/// Packets per `recvmmsg` of the raw socket.
pub const RECV_BATCH: usize = 64;
/// Batches (TUN reads, or `recvmmsg` calls) per direction before polling again.
pub const ROUNDS: usize = 8;

/// Moves packets both ways until a descriptor fails. `mtu` is the TUN's.
pub(crate) fn forward(f: &Forwarder, mtu: usize) -> Result<(), DaemonError> {
    let mut out = Outbound::new(mtu);
    let mut inb = Inbound::new(mtu);
    f.poll_loop(|f| out.tun_to_wire(f), |f| inb.wire_to_tun(f))
}

/// TUN -> wire: super-packets cut into packets, one `sendmmsg` per read.
struct Outbound {
    segs: Segments,
    msgs: Vec<libc::mmsghdr>,
    iovs: Vec<libc::iovec>,
}

impl Outbound {
    fn new(mtu: usize) -> Outbound {
        Outbound {
            segs: Segments::new(mtu),
            // SAFETY: mmsghdr and iovec are plain C data; all-zero is a valid (empty) value.
            msgs: (0..BATCH).map(|_| unsafe { std::mem::zeroed() }).collect(),
            // SAFETY: as above.
            iovs: (0..BATCH).map(|_| unsafe { std::mem::zeroed() }).collect(),
        }
    }

    fn tun_to_wire(&mut self, f: &Forwarder) -> Result<(), DaemonError> {
        for _ in 0..ROUNDS {
            let before = self.segs.largest;
            let n = match self.segs.read(&f.tun) {
                Ok(n) => n,
                Err(e) if would_block(&e) => return Ok(()),
                Err(e) if interrupted(&e) => continue,
                // tun-rs could not split the super-packet (malformed headers): that one only.
                Err(e) if e.raw_os_error().is_none() => {
                    f.drops
                        .count("a super-packet tun-rs could not split", || e.to_string());
                    continue;
                }
                Err(e) => return Err(f.io("read the TUN", e)),
            };
            // Once, in the run's log: super-packets arrive (a read of 8 packets or more).
            self.segs.report_growth(before, "ipip", &f.node, &f.tun);
            let mut m = 0;
            for i in 0..n {
                let pkt = self.segs.get(i);
                // Only IPv4 is carried; a new TUN can still see IPv6 chatter.
                let Some(dst) = ipv4_destination(pkt) else {
                    continue;
                };
                let Some(to) = f.peers.lookup(dst) else {
                    f.drops.count("no node owns the destination's block", || {
                        format!("to {}", std::net::Ipv4Addr::from(dst))
                    });
                    continue;
                };
                let to = f.peers.get(to);
                self.iovs[m] = libc::iovec {
                    iov_base: pkt.as_ptr().cast_mut().cast(),
                    iov_len: pkt.len(),
                };
                let h = &mut self.msgs[m].msg_hdr;
                h.msg_name = to.as_ptr().cast_mut().cast();
                h.msg_namelen = to.len();
                h.msg_iov = &mut self.iovs[m];
                h.msg_iovlen = 1;
                m += 1;
            }
            send_all(f, &mut self.msgs[..m])?;
        }
        Ok(())
    }
}

/// Sends every message ([`userspace::sys::send_messages`]); one the kernel refuses is
/// counted.
fn send_all(f: &Forwarder, msgs: &mut [libc::mmsghdr]) -> Result<(), DaemonError> {
    userspace::sys::send_messages(f.raw.as_raw_fd(), msgs, |_, e| {
        f.drops.count("the raw socket refused it", || e.to_string());
    })
    .map_err(|e| f.io("sendmmsg on the raw socket", e))
}

/// Wire -> TUN: `recvmmsg` of IP-in-IP packets, stripped, coalesced into the TUN.
struct Inbound {
    /// Room per packet: the underlay's MTU (the TUN's plus the outer header), outer options,
    /// and one byte more to tell an oversized packet (MSG_TRUNC).
    slot: usize,
    bufs: Vec<u8>,
    msgs: Vec<libc::mmsghdr>,
    iovs: Vec<libc::iovec>,
    gro: GroWriter,
}

impl Inbound {
    fn new(mtu: usize) -> Inbound {
        let slot = mtu + 60 + 1;
        let mut inb = Inbound {
            slot,
            bufs: vec![0u8; slot * RECV_BATCH],
            // SAFETY: mmsghdr and iovec are plain C data; all-zero is a valid (empty) value.
            msgs: (0..RECV_BATCH)
                .map(|_| unsafe { std::mem::zeroed() })
                .collect(),
            // SAFETY: as above.
            iovs: (0..RECV_BATCH)
                .map(|_| unsafe { std::mem::zeroed() })
                .collect(),
            gro: GroWriter::new(),
        };
        // Each message points at its slot once: the vectors' heap storage never moves, and
        // recvmmsg changes only msg_len and msg_flags (both written for every message it
        // fills), so nothing needs setting again per call.
        for i in 0..RECV_BATCH {
            inb.iovs[i] = libc::iovec {
                // SAFETY: slot i lies inside bufs.
                iov_base: unsafe { inb.bufs.as_mut_ptr().add(i * slot) }.cast(),
                iov_len: slot,
            };
            let h = &mut inb.msgs[i].msg_hdr;
            h.msg_iov = &mut inb.iovs[i];
            h.msg_iovlen = 1;
        }
        inb
    }

    fn wire_to_tun(&mut self, f: &Forwarder) -> Result<(), DaemonError> {
        let slot = self.slot;
        for _ in 0..ROUNDS {
            // SAFETY: msgs and the buffers they point to are valid and live across the call;
            // the sender's address is not asked for (msg_name is null).
            let r = unsafe {
                libc::recvmmsg(
                    f.raw.as_raw_fd(),
                    self.msgs.as_mut_ptr(),
                    RECV_BATCH as u32,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if r < 0 {
                let e = std::io::Error::last_os_error();
                if would_block(&e) {
                    break;
                }
                // EINTR, or an ICMP error the socket queued (a peer was unreachable).
                if interrupted(&e) || transient(&e) {
                    continue;
                }
                return Err(f.io("recvmmsg on the raw socket", e));
            }
            for i in 0..r as usize {
                let msg = &self.msgs[i];
                let n = (msg.msg_len as usize).min(slot);
                if msg.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 || n == slot {
                    f.drops.count(
                        "an IP-in-IP packet larger than the underlay MTU",
                        String::new,
                    );
                    continue;
                }
                let pkt = &self.bufs[i * slot..i * slot + n];
                match decapsulate(pkt, &f.nodes) {
                    Ok(inner) => {
                        if self.gro.push(inner) {
                            flush(f, &mut self.gro)?;
                        }
                    }
                    Err(why) => {
                        f.drops.count(why, String::new);
                    }
                }
            }
            flush(f, &mut self.gro)?;
            if (r as usize) < RECV_BATCH {
                break;
            }
        }
        Ok(())
    }
}

/// Writes what `gro` holds into the TUN; a refused packet is counted, a vanished TUN ends the
/// daemon.
fn flush(f: &Forwarder, gro: &mut GroWriter) -> Result<(), DaemonError> {
    match gro.flush(&f.tun) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EBADFD) => Err(f.io("write the TUN", e)),
        Err(e) => {
            f.drops.count("the TUN refused it", || e.to_string());
            Ok(())
        }
    }
}
