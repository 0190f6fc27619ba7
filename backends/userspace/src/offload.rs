//! The `offload` datapath's shared plumbing: a TUN opened with virtio-net headers and
//! TSO/USO offloads ([`crate::tun::open`] with [`crate::TunnelConfig::offload`]) hands the
//! daemon whole 64 KB super-packets and takes coalesced ones back, so one read and one write
//! move tens of packets.
//!
//! - TUN -> wire: [`Segments`] reads one super-packet with tun-rs's `recv_multiple`, which
//!   splits it at its `gso_size` into path-MTU packets (headers rebuilt, checksums finished:
//!   the packets the kernel would have put on the wire). The daemon then sends them with one
//!   `sendmmsg`: flannel-udp as UDP GSO messages ([`gso_runs`], [`set_udp_segment`]: the
//!   kernel keeps each message one skb down to where it must be cut, and cuts it at exactly
//!   the sizes the TUN's segments had), ipip as one message per segment (a raw socket has no
//!   GSO).
//! - wire -> TUN: received packets go into a [`GroWriter`], whose `flush` hands them to
//!   tun-rs's `send_multiple`: consecutive segments of one TCP (or UDP) flow are coalesced
//!   into one super-packet with a virtio-net header (GRO in userspace), and each is one
//!   `write()`. flannel-udp's socket has UDP GRO on ([`enable_udp_gro`]): the kernel hands
//!   over a train of datagrams as one buffer plus its segment size ([`udp_gro_size`]), which
//!   [`split_at_segments`] cuts back into the inner packets.
//!
//! Segmentation and coalescing are tun-rs's (the crate made for the job; it follows
//! wireguard-go's TUN offload code). What is kept here is what no crate offers in a form
//! this daemon can use: the UDP GSO message grouping and the `UDP_SEGMENT` / `UDP_GRO`
//! control messages, each a few lines over `sendmmsg`/`recvmmsg` that the daemons already
//! call themselves.

use std::io;

use tun_rs::{GROTable, SyncDevice, IDEAL_BATCH_SIZE, VIRTIO_NET_HDR_LEN};

/// `UDP_SEGMENT` (include/uapi/linux/udp.h): the GSO segment size of a UDP send, as a socket
/// option or a per-message control message (a u16).
pub const UDP_SEGMENT: libc::c_int = 103;
/// `UDP_GRO` (include/uapi/linux/udp.h): receive trains of datagrams as one buffer; each
/// receive then carries a control message with the segment size (an int).
pub const UDP_GRO: libc::c_int = 104;
/// Segments one UDP GSO send may carry. The kernel's `UDP_MAX_SEGMENTS` is 64 up to 6.10 and
/// 128 since; udp_send_skb refuses more with EINVAL, so the older value is used everywhere.
pub const UDP_MAX_SEGMENTS: usize = 64;
/// Largest UDP payload of one datagram (one GSO message included): 65535 − 20 − 8.
pub const MAX_UDP_PAYLOAD: usize = 65507;
/// Packets one TUN read can split into, and the most a [`GroWriter`] holds: tun-rs's batch
/// size (a 64 KB super-packet of 536-byte segments is 123 of them).
pub const BATCH: usize = IDEAL_BATCH_SIZE;
/// Socket buffers asked for: a train of super-packets must not overflow the defaults (about
/// 200 KiB) while the daemon's one CPU is busy elsewhere.
pub const SOCKET_BUFFER: usize = 4 << 20;
/// Room for one received buffer: with UDP GRO a receive can be a whole 64 KB train.
pub const RECV_BUFFER: usize = 65536;
/// Capacity of each [`GroWriter`] buffer: a coalesced packet of up to 64 KB, with the room
/// tun-rs asks for (twice the virtio-net header).
pub const COALESCED_CAPACITY: usize = 65535 + 2 * VIRTIO_NET_HDR_LEN;
/// Bytes of a control buffer with one `UDP_SEGMENT` or `UDP_GRO` message (CMSG_SPACE of an
/// int, the larger of the two payloads).
pub const CMSG_LEN: usize = 24;
/// A read of at least this many packets is a super-packet worth saying so once
/// ([`Segments::report_growth`]).
pub const REPORTED_SUPER_PACKET: usize = 8;

/// What one offload TUN read gave: packets of at most the TUN MTU, in order.
pub struct Segments {
    /// The raw read: virtio-net header and the super-packet.
    original: Vec<u8>,
    /// One packet each.
    bufs: Vec<Vec<u8>>,
    /// Each packet's length.
    sizes: Vec<usize>,
    /// How many of `bufs` the last read filled.
    n: usize,
    /// Largest number of packets one read gave so far (the daemons say once in their log
    /// that super-packets arrive).
    pub largest: usize,
}

impl Segments {
    /// Buffers for a TUN of `mtu` bytes.
    pub fn new(mtu: usize) -> Segments {
        // The first buffer also takes a packet that came without GSO, which is at most the
        // MTU too; every one gets a little slack so an off-by-one in a header is an error
        // of that packet, not of the read.
        let slot = mtu + 64;
        Segments {
            original: vec![0u8; VIRTIO_NET_HDR_LEN + 65535],
            bufs: (0..BATCH).map(|_| vec![0u8; slot]).collect(),
            sizes: vec![0; BATCH],
            n: 0,
            largest: 0,
        }
    }

    /// Reads one (super-)packet from `tun` and splits it; returns how many packets it gave.
    /// An error whose `raw_os_error` is none is a malformed super-packet (tun-rs could not
    /// split it): drop it and read on.
    pub fn read(&mut self, tun: &SyncDevice) -> io::Result<usize> {
        self.n = 0;
        let n = tun.recv_multiple(&mut self.original, &mut self.bufs, &mut self.sizes, 0)?;
        self.n = n;
        self.largest = self.largest.max(n);
        Ok(n)
    }

    /// Says once on stderr (the run's log) that super-packets arrive: when the largest read so
    /// far, `before` the last one, has just reached [`REPORTED_SUPER_PACKET`] packets, with
    /// whether the TUN has UDP segmentation offload. A daemon whose reads stay small says
    /// nothing.
    pub fn report_growth(&self, before: usize, daemon: &str, node: &str, tun: &SyncDevice) {
        if self.largest >= REPORTED_SUPER_PACKET && before < REPORTED_SUPER_PACKET {
            eprintln!(
                "{daemon} daemon on {node}: offload: super-packets arrive (a read gave {} \
                 packets; UDP segmentation offload {})",
                self.largest,
                // TUN_F_USO4/6 exist from Linux 6.2; tun-rs asks for them and goes on without.
                if tun.udp_gso() {
                    "on"
                } else {
                    "off: the kernel's TUN has no USO (Linux < 6.2)"
                }
            );
        }
    }

    /// Packet `i` of the last read.
    #[inline]
    pub fn get(&self, i: usize) -> &[u8] {
        &self.bufs[i][..self.sizes[i]]
    }

    /// Packets of the last read.
    #[inline]
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether the last read gave nothing.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
}

/// Packets on their way into an offload TUN, coalesced by tun-rs on [`GroWriter::flush`].
pub struct GroWriter {
    /// One packet each, after [`VIRTIO_NET_HDR_LEN`] bytes of room for the header tun-rs
    /// writes (`send_multiple`'s `offset`).
    bufs: Vec<Vec<u8>>,
    /// How many of `bufs` hold a packet.
    n: usize,
    /// tun-rs's flow tables, kept across flushes so they are allocated once.
    table: GROTable,
}

impl Default for GroWriter {
    fn default() -> Self {
        GroWriter::new()
    }
}

impl GroWriter {
    /// An empty writer holding up to [`BATCH`] packets.
    pub fn new() -> GroWriter {
        GroWriter {
            // tun-rs coalesces a packet into an earlier one only if that buffer's capacity
            // already holds the result (it never reallocates: InsufficientCap), so each has
            // room for a whole 64 KB super-packet. Pages are only touched as they fill.
            bufs: (0..BATCH)
                .map(|_| Vec::with_capacity(COALESCED_CAPACITY))
                .collect(),
            n: 0,
            table: GROTable::default(),
        }
    }

    /// Queues `pkt` (a whole IP packet). Returns whether the writer is now full: flush then.
    pub fn push(&mut self, pkt: &[u8]) -> bool {
        let b = &mut self.bufs[self.n];
        b.clear();
        b.resize(VIRTIO_NET_HDR_LEN, 0);
        b.extend_from_slice(pkt);
        self.n += 1;
        self.n == BATCH
    }

    /// Packets queued.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Coalesces what is queued and writes it to `tun` (one `write()` per coalesced packet);
    /// empties the writer whatever happens. An error is of some packet of the batch (the TUN
    /// refused it): count it and carry on, unless it is EBADFD (the TUN is gone).
    pub fn flush(&mut self, tun: &SyncDevice) -> io::Result<()> {
        if self.n == 0 {
            return Ok(());
        }
        let n = std::mem::take(&mut self.n);
        tun.send_multiple(&mut self.table, &mut self.bufs[..n], VIRTIO_NET_HDR_LEN)
            .map(|_| ())
    }
}

/// One UDP GSO message: packets `start..end` of a read, all to one peer, each but the last
/// exactly `segment` bytes (udp_send_skb cuts the payload every `gso_size` bytes, so a
/// shorter packet can only end a message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// First packet.
    pub start: usize,
    /// One past the last packet.
    pub end: usize,
    /// Size of every packet but the last (the `UDP_SEGMENT` value).
    pub segment: usize,
}

/// Groups packets into UDP GSO messages: consecutive packets to the same peer (`peer[i]`;
/// none for a packet that is dropped, which ends a message), of equal length but for a
/// shorter last one, at most [`UDP_MAX_SEGMENTS`] and [`MAX_UDP_PAYLOAD`] bytes each. `out`
/// is cleared first.
pub fn gso_runs(lens: &[usize], peer: &[Option<usize>], out: &mut Vec<Run>) {
    out.clear();
    let mut i = 0;
    while i < lens.len() {
        let Some(p) = peer[i] else {
            i += 1;
            continue;
        };
        let segment = lens[i];
        let (start, mut bytes) = (i, lens[i]);
        i += 1;
        while i < lens.len()
            && peer[i] == Some(p)
            && lens[i] <= segment
            && lens[i - 1] == segment
            && i - start < UDP_MAX_SEGMENTS
            && bytes + lens[i] <= MAX_UDP_PAYLOAD
        {
            bytes += lens[i];
            i += 1;
        }
        out.push(Run {
            start,
            end: i,
            segment,
        });
    }
}

/// The packets of a buffer the kernel coalesced with UDP GRO: cut every `segment` bytes
/// (udp_gro_receive merges only datagrams of one size, and a shorter one only last). Without
/// a segment size the buffer is one packet.
pub fn split_at_segments(buf: &[u8], segment: Option<usize>) -> std::slice::Chunks<'_, u8> {
    let size = segment.filter(|s| *s > 0).unwrap_or(buf.len().max(1));
    buf.chunks(size)
}

/// Puts a `UDP_SEGMENT` control message of `segment` bytes into `ctrl` and points `msg` at
/// it, so the kernel sends the message's payload as datagrams of that size (UDP GSO).
pub fn set_udp_segment(ctrl: &mut [u8; CMSG_LEN], msg: &mut libc::msghdr, segment: u16) {
    ctrl.fill(0);
    msg.msg_control = ctrl.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE is pure arithmetic on its argument.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(std::mem::size_of::<u16>() as u32) } as _;
    // msg_controllen is a usize on glibc and a u32 on musl: the cast is needed on one.
    #[allow(clippy::unnecessary_cast)]
    let len = msg.msg_controllen as usize;
    debug_assert!(len <= CMSG_LEN);
    // SAFETY: msg_control points at ctrl, which has room for one header with a u16 payload
    // (CMSG_SPACE(2) <= CMSG_LEN); CMSG_FIRSTHDR is then that header, CMSG_DATA its payload,
    // both inside ctrl. The payload may be unaligned for u16: written unaligned.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(msg);
        (*c).cmsg_level = libc::SOL_UDP;
        (*c).cmsg_type = UDP_SEGMENT;
        (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<u16>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<u16>(), segment);
    }
}

/// Takes the control message off `msg` (a message sent without GSO).
pub fn clear_control(msg: &mut libc::msghdr) {
    msg.msg_control = std::ptr::null_mut();
    msg.msg_controllen = 0;
}

/// The segment size of a received message, from its `UDP_GRO` control message (udp_cmsg_recv
/// adds one, an int, to every receive of a GRO'd buffer); none for a single datagram.
pub fn udp_gro_size(msg: &libc::msghdr) -> Option<usize> {
    // msg_controllen is a usize on glibc and a u32 on musl: the cast is needed on one.
    #[allow(clippy::unnecessary_cast)]
    let len = msg.msg_controllen as usize;
    if msg.msg_control.is_null() || len < std::mem::size_of::<libc::cmsghdr>() {
        return None;
    }
    // SAFETY: msg's control buffer was filled by recvmmsg, which set msg_controllen to what
    // it wrote; CMSG_FIRSTHDR/NXTHDR stay inside it and return null past its end. The int
    // payload may be unaligned: read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_UDP && (*c).cmsg_type == UDP_GRO {
                let size = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>());
                return usize::try_from(size).ok().filter(|s| *s > 0);
            }
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
    None
}

/// Turns UDP GRO on for `fd` (a UDP socket): the kernel then queues a GSO skb as one buffer
/// instead of cutting it up (udp_unexpected_gso), and coalesces trains where the device does
/// GRO.
pub fn enable_udp_gro(fd: libc::c_int) -> io::Result<()> {
    setsockopt_int(fd, libc::SOL_UDP, UDP_GRO, 1)
}

/// Asks for [`SOCKET_BUFFER`]-byte buffers on `fd`: first with SO_RCVBUFFORCE/SO_SNDBUFFORCE
/// (the daemon is root in its node, and those ignore net.core.rmem_max/wmem_max), else with
/// the ordinary options, which the kernel caps at those limits. Best effort: larger buffers
/// are a wish, not a need.
pub fn grow_buffers(fd: libc::c_int) {
    let n = SOCKET_BUFFER as libc::c_int;
    for (force, plain) in [
        (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
        (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
    ] {
        if setsockopt_int(fd, libc::SOL_SOCKET, force, n).is_err() {
            let _ = setsockopt_int(fd, libc::SOL_SOCKET, plain, n);
        }
    }
}

fn setsockopt_int(
    fd: libc::c_int,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: value is a live c_int for the length given; the kernel only reads it.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether the IPv4 packet `pkt` is whole: its total-length field is its length. A GRO'd
/// buffer cut at the wrong size shows up here.
pub fn whole_ipv4(pkt: &[u8]) -> bool {
    pkt.len() >= 20
        && pkt[0] >> 4 == 4
        && usize::from(u16::from_be_bytes([pkt[2], pkt[3]])) == pkt.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(lens: &[usize], peer: &[Option<usize>]) -> Vec<(usize, usize, usize)> {
        let mut out = Vec::new();
        gso_runs(lens, peer, &mut out);
        out.iter().map(|r| (r.start, r.end, r.segment)).collect()
    }

    #[test]
    fn groups_segments_into_gso_messages() {
        // One super-packet cut at 1420 with a short tail: one message.
        assert_eq!(
            runs(&[1420, 1420, 1420, 300], &[Some(0); 4]),
            [(0, 4, 1420)]
        );
        // A shorter packet ends a message; a longer one starts a new one.
        assert_eq!(
            runs(&[1420, 300, 1420, 1420], &[Some(0); 4]),
            [(0, 2, 1420), (2, 4, 1420)]
        );
        assert_eq!(
            runs(&[100, 1420], &[Some(0); 2]),
            [(0, 1, 100), (1, 2, 1420)]
        );
        // Another peer, or a dropped packet, ends a message.
        assert_eq!(
            runs(
                &[1420, 1420, 1420, 1420],
                &[Some(0), Some(1), None, Some(1)]
            ),
            [(0, 1, 1420), (1, 2, 1420), (3, 4, 1420)]
        );
        // At most 64 segments, and at most 65507 bytes, per message.
        let r = runs(&[100; 130], &[Some(0); 130]);
        assert_eq!(r, [(0, 64, 100), (64, 128, 100), (128, 130, 100)]);
        let r = runs(&[1472; 50], &[Some(0); 50]);
        assert_eq!(r, [(0, 44, 1472), (44, 50, 1472)]);
        const { assert!(44 * 1472 <= MAX_UDP_PAYLOAD && 45 * 1472 > MAX_UDP_PAYLOAD) };
        assert!(runs(&[], &[]).is_empty());
    }

    #[test]
    fn cuts_a_gro_buffer_into_its_packets_and_reads_the_control_message() {
        let pkt = |len: usize| {
            let mut p = vec![0u8; len];
            p[0] = 0x45;
            p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            p
        };
        let mut train = Vec::new();
        for len in [1400, 1400, 1400, 200] {
            train.extend_from_slice(&pkt(len));
        }
        let cut: Vec<&[u8]> = split_at_segments(&train, Some(1400)).collect();
        assert_eq!(cut.len(), 4);
        assert!(cut.iter().all(|p| whole_ipv4(p)));
        assert_eq!(split_at_segments(&train[..1400], None).count(), 1);
        // Cut at the wrong size, the packets are not whole.
        assert!(!split_at_segments(&train, Some(1000)).all(whole_ipv4));

        // The control buffers hold a UDP_GRO int (and so a UDP_SEGMENT u16).
        // SAFETY: CMSG_SPACE is pure arithmetic on its argument.
        let int_space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) };
        assert!(int_space as usize <= CMSG_LEN);
        // A control message written for a send reads back as a receive's would.
        let mut ctrl = [0u8; CMSG_LEN];
        // SAFETY: msghdr is plain C data; all-zero is a valid empty value.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        assert_eq!(udp_gro_size(&msg), None);
        set_udp_segment(&mut ctrl, &mut msg, 1400);
        // SAFETY: msg_control points at ctrl, which holds one cmsghdr.
        unsafe { (*libc::CMSG_FIRSTHDR(&msg)).cmsg_type = UDP_GRO };
        // The kernel's UDP_GRO payload is an int; on little-endian the u16 written reads
        // back the same with zeroed upper bytes.
        if cfg!(target_endian = "little") {
            assert_eq!(udp_gro_size(&msg), Some(1400));
        }
        clear_control(&mut msg);
        assert_eq!(udp_gro_size(&msg), None);
    }
}
