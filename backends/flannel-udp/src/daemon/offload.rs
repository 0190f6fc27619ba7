//! The offload datapath: the same UDP encapsulation with the TUN's offloads, so a syscall
//! moves a super-packet rather than a packet. One thread per direction, both fds blocking:
//!
//! - TUN -> UDP: one `read()` of the TUN (opened with IFF_VNET_HDR and TSO/USO) brings a
//!   super-packet of up to 64 KB with its virtio-net header; tun-rs cuts it at its `gso_size`
//!   into packets of at most the TUN MTU (`userspace::offload::Segments`). Consecutive
//!   packets to one peer of one size leave as one UDP GSO message (a `UDP_SEGMENT` control
//!   message): udp_send_skb builds one GSO skb, which crosses veth and bridge whole and is
//!   cut where a device needs it, each datagram exactly one of the TUN's packets. One
//!   `sendmmsg()` sends all messages of the read. Per super-packet: one read, one sendmmsg.
//! - UDP -> TUN: the socket has UDP GRO on. A GSO skb from an offload peer arrives whole
//!   (udp_queue_rcv_skb queues it without segmenting when the socket asked for GRO), and
//!   where the receiving device does GRO, trains of single datagrams arrive coalesced
//!   (udp_gro_receive); both come with a `UDP_GRO` control message giving the segment size,
//!   at which the buffer is cut back into packets. One `recvmmsg(MSG_WAITFORONE)` takes up
//!   to [`RECV_BATCH`] such buffers; their packets are coalesced again by tun-rs (TCP and UDP
//!   GRO) and each coalesced packet is one `write()` with a virtio-net header.
//!
//! What it does not batch: packets that reach the TUN one by one (request/response, small
//! datagrams, ACKs) cost a read and a sendmmsg each, as faithful's read and sendto, so
//! udp-stream with 64-byte datagrams makes about two daemon syscalls per packet where
//! `batched`, which drains the TUN before each sendmmsg, makes about one. Draining here too
//! would add an EAGAIN read and a poll to every super-packet and every tcp-rr packet.
//!
//! Two threads rather than one poll loop over both fds: measured on one CPU (daemons, client
//! and server all pinned to it, 2-core VM shared with builds), tcp-stream gave 5.8, 5.8, 6.0,
//! 2.9 Gbit/s with two threads against 5.5, 5.4, 5.3, 3.2 with one (interleaved runs), and
//! about the same with `--placement cross-cpu` (6.4–8.1 against 7.2–7.4): no gain from the
//! single loop, and blocking fds need neither `poll()` nor an EAGAIN read per batch.
//!
//! Every datagram on the wire is one inner IP packet of at most the TUN MTU, as with the
//! other datapaths, so an offload node interoperates with faithful and batched ones: a
//! receiver without UDP GRO gets the GSO skb cut into datagrams by the kernel
//! (udp_rcv_segment).

use std::sync::{mpsc, Arc};

use super::{last_error, send_all, Datapath, INVALID, NO_ROUTE, WRITE_FAILED};
use userspace::offload::{
    clear_control, gso_runs, set_udp_segment, split_at_segments, udp_gro_size, whole_ipv4,
    GroWriter, Run, Segments, BATCH, CMSG_LEN, RECV_BUFFER,
};
use userspace::sys::{interrupted, transient};
use userspace::{ipv4_destination, DaemonError};

/// Buffers per `recvmmsg`: each can be a 64 KB GRO train, so a few are plenty.
pub const RECV_BATCH: usize = 8;

/// Forwards until either direction hits an unrecoverable error, and returns that error.
pub fn run(dp: Datapath) -> Result<(), DaemonError> {
    let dp = Arc::new(dp);
    let (tx, rx) = mpsc::channel();
    for (name, direction) in [
        (
            "flannel-udp-otx",
            tun_to_udp as fn(&Datapath) -> Result<(), DaemonError>,
        ),
        ("flannel-udp-orx", udp_to_tun),
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

/// What the TUN -> UDP direction keeps between reads.
struct Tx {
    segs: Segments,
    peers: Vec<Option<usize>>,
    lens: Vec<usize>,
    runs: Vec<Run>,
    msgs: Vec<libc::mmsghdr>,
    iovs: Vec<libc::iovec>,
    ctrls: Vec<[u8; CMSG_LEN]>,
}

impl Tx {
    fn new(mtu: usize) -> Tx {
        Tx {
            segs: Segments::new(mtu),
            peers: vec![None; BATCH],
            lens: vec![0; BATCH],
            runs: Vec::with_capacity(BATCH),
            // SAFETY: mmsghdr and iovec are plain C data; all-zero is a valid (empty) value.
            msgs: (0..BATCH).map(|_| unsafe { std::mem::zeroed() }).collect(),
            // SAFETY: as above.
            iovs: (0..BATCH).map(|_| unsafe { std::mem::zeroed() }).collect(),
            ctrls: vec![[0u8; CMSG_LEN]; BATCH],
        }
    }

    /// One super-packet read (the TUN is blocking) and one sendmmsg of its GSO messages.
    fn step(&mut self, dp: &Datapath) -> Result<(), DaemonError> {
        let before = self.segs.largest;
        let n = match self.segs.read(&dp.tun) {
            Ok(n) => n,
            Err(e) if interrupted(&e) => return Ok(()),
            // tun-rs could not split the super-packet (malformed headers): that packet only.
            Err(e) if e.raw_os_error().is_none() => {
                dp.drops.count(INVALID, || {
                    format!("a super-packet from {}: {e}", dp.tun_name)
                });
                return Ok(());
            }
            Err(e) => return Err(dp.fatal(format!("read {}", dp.tun_name), e)),
        };
        self.segs
            .report_growth(before, "flannel-udp", &dp.node, &dp.tun);
        for i in 0..n {
            let pkt = self.segs.get(i);
            self.lens[i] = pkt.len();
            self.peers[i] = None;
            let Some(dst) = ipv4_destination(pkt).filter(|_| pkt.len() <= dp.mtu) else {
                dp.drops.count(INVALID, || {
                    format!("not IPv4 or over the MTU, from {}", dp.tun_name)
                });
                continue;
            };
            match dp.table.lookup(dst) {
                Some(p) => self.peers[i] = Some(p),
                None => {
                    dp.drops
                        .count(NO_ROUTE, || format!("to {}", std::net::Ipv4Addr::from(dst)));
                }
            }
        }
        gso_runs(&self.lens[..n], &self.peers[..n], &mut self.runs);
        // One message per run: its packets' buffers as the iovecs (the kernel copies them
        // into one skb; gso_size cuts it where each packet ended).
        for (i, iov) in self.iovs[..n].iter_mut().enumerate() {
            let pkt = self.segs.get(i);
            *iov = libc::iovec {
                iov_base: pkt.as_ptr().cast_mut().cast(),
                iov_len: pkt.len(),
            };
        }
        for (m, r) in self.runs.iter().enumerate() {
            let peer = self.peers[r.start].expect("a run is of packets with a peer");
            let h = &mut self.msgs[m].msg_hdr;
            h.msg_name = (dp.table.get(peer) as *const libc::sockaddr_in)
                .cast_mut()
                .cast();
            h.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            h.msg_iov = &mut self.iovs[r.start];
            h.msg_iovlen = (r.end - r.start) as _;
            if r.end - r.start > 1 {
                // segment <= TUN MTU <= 65507: fits the u16.
                set_udp_segment(&mut self.ctrls[m], h, r.segment as u16);
            } else {
                clear_control(h);
            }
        }
        send_all(dp, &mut self.msgs[..self.runs.len()])
    }
}

/// TUN -> UDP on a thread of its own (blocking TUN).
fn tun_to_udp(dp: &Datapath) -> Result<(), DaemonError> {
    let mut tx = Tx::new(dp.mtu);
    loop {
        tx.step(dp)?;
    }
}

/// What the UDP -> TUN direction keeps between receives.
struct Rx {
    bufs: Vec<u8>,
    ctrls: [[u8; CMSG_LEN]; RECV_BATCH],
    msgs: [libc::mmsghdr; RECV_BATCH],
    iovs: [libc::iovec; RECV_BATCH],
    gro: GroWriter,
}

impl Rx {
    fn new() -> Box<Rx> {
        Box::new(Rx {
            bufs: vec![0u8; RECV_BUFFER * RECV_BATCH],
            ctrls: [[0u8; CMSG_LEN]; RECV_BATCH],
            // SAFETY: mmsghdr and iovec are plain C data; all-zero is a valid (empty) value.
            msgs: unsafe { std::mem::zeroed() },
            // SAFETY: as above.
            iovs: unsafe { std::mem::zeroed() },
            gro: GroWriter::new(),
        })
    }

    /// One recvmmsg of GRO trains (blocking until the first, MSG_WAITFORONE), cut into
    /// packets and coalesced into the TUN.
    fn step(&mut self, dp: &Datapath) -> Result<(), DaemonError> {
        for i in 0..RECV_BATCH {
            self.iovs[i] = libc::iovec {
                // SAFETY: slot i lies inside bufs.
                iov_base: unsafe { self.bufs.as_mut_ptr().add(i * RECV_BUFFER) }.cast(),
                iov_len: RECV_BUFFER,
            };
            let h = &mut self.msgs[i].msg_hdr;
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = 1;
            // recvmsg overwrites msg_controllen with what it wrote: set it again each time.
            h.msg_control = self.ctrls[i].as_mut_ptr().cast();
            h.msg_controllen = CMSG_LEN as _;
            h.msg_flags = 0;
        }
        // SAFETY: msgs and the buffers they point to are valid and live across the call; the
        // sender's address is not asked for (msg_name is null).
        let r = unsafe {
            libc::recvmmsg(
                dp.sock_fd(),
                self.msgs.as_mut_ptr(),
                RECV_BATCH as u32,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if r < 0 {
            let e = last_error();
            if interrupted(&e) || transient(&e) {
                return Ok(());
            }
            return Err(dp.fatal("recvmmsg on the UDP socket", e));
        }
        for (i, msg) in self.msgs[..r as usize].iter().enumerate() {
            let n = (msg.msg_len as usize).min(RECV_BUFFER);
            if msg.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                dp.drops
                    .count(INVALID, || "a datagram larger than 64 KiB".into());
                continue;
            }
            let segment = udp_gro_size(&msg.msg_hdr);
            let buf = &self.bufs[i * RECV_BUFFER..i * RECV_BUFFER + n];
            for pkt in split_at_segments(buf, segment) {
                // Each datagram is one whole inner IPv4 packet of at most the MTU; with GRO
                // the total-length check also catches a train cut at the wrong size.
                if pkt.len() > dp.mtu || !whole_ipv4(pkt) {
                    dp.drops.count(INVALID, || {
                        "a datagram that is not an IPv4 packet within the MTU".into()
                    });
                    continue;
                }
                if self.gro.push(pkt) {
                    flush(dp, &mut self.gro)?;
                }
            }
        }
        flush(dp, &mut self.gro)
    }
}

/// UDP -> TUN on a thread of its own (blocking socket).
fn udp_to_tun(dp: &Datapath) -> Result<(), DaemonError> {
    let mut rx = Rx::new();
    loop {
        rx.step(dp)?;
    }
}

/// Writes what `gro` holds into the TUN; a refused packet is counted, a vanished TUN ends the
/// daemon.
fn flush(dp: &Datapath, gro: &mut GroWriter) -> Result<(), DaemonError> {
    match gro.flush(&dp.tun) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EBADFD) => {
            Err(dp.fatal(format!("write {}", dp.tun_name), e))
        }
        Err(e) => {
            dp.drops
                .count(WRITE_FAILED, || format!("write {}: {e}", dp.tun_name));
            Ok(())
        }
    }
}
