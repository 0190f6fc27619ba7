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
    loop {
        let mut fds = [
            libc::pollfd {
                fd: f.tun.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: f.raw.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: `fds` is a valid array of two pollfd for the length given; both
        // descriptors are owned by `f` and open for the whole call.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if interrupted(&e) {
                continue;
            }
            return Err(f.io("poll the TUN and the raw socket", e));
        }
        if fds[0].revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
            return Err(f.io(
                "the TUN device went away",
                std::io::Error::from_raw_os_error(libc::EBADF),
            ));
        }
        if fds[0].revents & libc::POLLIN != 0 {
            out.tun_to_wire(f)?;
        }
        // A raw socket reports POLLERR for a queued ICMP error: reading clears it.
        if fds[1].revents & (libc::POLLIN | libc::POLLERR) != 0 {
            inb.wire_to_tun(f)?;
        }
    }
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
            let now = self.segs.largest;
            if now >= 8 && before < 8 {
                eprintln!(
                    "ipip daemon on {}: offload: super-packets arrive (a read of tunl0 gave {now} packets)",
                    f.node
                );
            }
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

/// Sends every message, resuming after partial sends; a message the kernel refuses
/// (ENOBUFS, EHOSTUNREACH: lost as a full NIC would lose it) is counted and skipped.
fn send_all(f: &Forwarder, msgs: &mut [libc::mmsghdr]) -> Result<(), DaemonError> {
    let mut off = 0;
    while off < msgs.len() {
        let rest = &mut msgs[off..];
        // SAFETY: rest is a valid array of initialised mmsghdr whose iovecs, buffers and
        // names (the peer table's) live until the call returns.
        let r =
            unsafe { libc::sendmmsg(f.raw.as_raw_fd(), rest.as_mut_ptr(), rest.len() as u32, 0) };
        if r >= 0 {
            off += r as usize;
            continue;
        }
        let e = std::io::Error::last_os_error();
        if interrupted(&e) {
            continue;
        }
        if would_block(&e) || transient(&e) {
            f.drops.count("the raw socket refused it", || e.to_string());
            off += 1;
            continue;
        }
        return Err(f.io("sendmmsg on the raw socket", e));
    }
    Ok(())
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
        Inbound {
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
        }
    }

    fn wire_to_tun(&mut self, f: &Forwarder) -> Result<(), DaemonError> {
        let slot = self.slot;
        for _ in 0..ROUNDS {
            for i in 0..RECV_BATCH {
                self.iovs[i] = libc::iovec {
                    // SAFETY: slot i lies inside bufs.
                    iov_base: unsafe { self.bufs.as_mut_ptr().add(i * slot) }.cast(),
                    iov_len: slot,
                };
                let h = &mut self.msgs[i].msg_hdr;
                h.msg_iov = &mut self.iovs[i];
                h.msg_iovlen = 1;
                h.msg_flags = 0;
            }
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
