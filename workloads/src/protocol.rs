//! The wire protocol between a client and a server agent (see the crate documentation for
//! the picture). All integers are big-endian.
//!
//! ```text
//! client -> server  header, 32 bytes (every connection):
//!     0  magic        b"CNBW"
//!     4  version      u16   (PROTOCOL_VERSION, 2)
//!     6  workload     u16   (1 tcp-stream, 2 tcp-rr, 3 udp-stream, 4 udp-rr, 5 tcp-crr)
//!     8  warmup_ms    u64
//!    16  duration_ms  u64
//!    24  message_size u32   (1..=16777216 for the TCP workloads, 16..=65507 for the UDP ones)
//!    28  flags        u32   (0; reserved)
//! server -> client  ack, 20 bytes:
//!     0  magic        b"CNBA"
//!     4  status       u32   (0 accepted; otherwise a Reject code, then the server closes)
//!     8  aux          u32   (udp-stream, udp-rr: the server's UDP port; otherwise 0)
//!    12  cookie       u64   (udp-stream, udp-rr: this test's random cookie, never 0; else 0)
//!
//! A client reads the first 8 bytes of the ack before the rest, so a refusal from a
//! version-1 server (whose ack was 8 bytes) is still understood.
//!
//! tcp-stream, after the client's half-close, server -> client  result, 28 bytes:
//!     0  magic            b"CNBR"
//!     4  bytes_in_window  u64
//!    12  window_ns        u64
//!    20  bytes_total      u64   (everything received, warm-up and tail included)
//!
//! udp-stream and udp-rr datagram (UDP, message_size bytes, both directions for udp-rr):
//!     0  seq          u64   (udp-stream: 0, 1, 2, ... in sending order; udp-rr: per request)
//!     8  cookie       u64   (the ack's cookie; a datagram without it is a stray, ignored)
//!    16  filler       message_size - 16 bytes
//!
//! udp-stream, after the client's last datagram, client -> server  trailer, 28 bytes:
//!     0  magic            b"CNBT"
//!     4  first_seq        u64   (first seq the client sent inside its own window)
//!    12  sent_in_window   u64   (seqs first_seq .. first_seq + sent_in_window were sent
//!                                inside that window; 0: none)
//!    20  sent_total       u64   (every datagram the client sent)
//! udp-stream, after the drain, server -> client  result, 52 bytes:
//!     0  magic              b"CNBU"
//!     4  packets_in_window  u64
//!    12  bytes_in_window    u64   (UDP payload)
//!    20  window_ns          u64   (0: no datagram arrived at all)
//!    28  received_in_range  u64   (distinct seqs of the trailer's range received, any time)
//!    36  received_total     u64   (distinct seqs received, any time)
//!    44  strays             u64   (datagrams ignored: wrong size, cookie or seq)
//!
//! tcp-crr: the client writes header + request (message_size bytes) in one write right after
//! connect; the server writes ack + response (the request echoed) in one write and closes.
//! ```

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::error::WorkloadError;
use crate::task::{Workload, MAX_MESSAGE_SIZE, MAX_UDP_PAYLOAD};

/// Version of the wire protocol; client and server must agree. Version 2 added the UDP
/// workloads and tcp-crr, and grew the ack from 8 to 20 bytes.
pub const PROTOCOL_VERSION: u16 = 2;
/// How long a client waits for the TCP handshake (also every tcp-crr connect and request
/// write).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Slack added to every data-phase read/write timeout beyond warm-up + duration, so a dead
/// peer fails the test instead of hanging it, while a slow but live one never trips it.
pub const TIMEOUT_SLACK: Duration = Duration::from_secs(10);
/// How long the server's accept thread waits, per read, for a new connection's header (and
/// for a tcp-crr request, which it serves itself), and per write for a tcp-crr response.
/// Clients send the header right after connecting, so this only bounds how long a silent
/// peer can hold up the accept loop.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(2);

const HEADER_MAGIC: [u8; 4] = *b"CNBW";
const ACK_MAGIC: [u8; 4] = *b"CNBA";
const RESULT_MAGIC: [u8; 4] = *b"CNBR";
const TRAILER_MAGIC: [u8; 4] = *b"CNBT";
const UDP_RESULT_MAGIC: [u8; 4] = *b"CNBU";

/// Size of [`Header`] on the wire, in bytes.
pub const HEADER_LEN: usize = 32;
/// Size of the server's ack on the wire, in bytes.
pub const ACK_LEN: usize = 20;
/// The part of the ack every protocol version shares (magic and status), in bytes.
pub(crate) const ACK_PREFIX_LEN: usize = 8;
const RESULT_LEN: usize = 28;
/// Size of [`UdpTrailer`] on the wire, in bytes.
pub const UDP_TRAILER_LEN: usize = 28;
/// Size of [`UdpStreamResult`] on the wire, in bytes.
pub const UDP_RESULT_LEN: usize = 52;

/// Bytes every udp-stream and udp-rr datagram starts with: the 8-byte sequence number and the
/// 8-byte test cookie. It is also the smallest message size the UDP workloads accept.
pub const UDP_PREFIX_LEN: usize = 16;

/// The first thing a client sends on every connection: what test this connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The workload the server must run on this connection.
    pub workload: Workload,
    /// Warm-up before the server's window opens (tcp-stream, udp-stream), in milliseconds.
    pub warmup_ms: u64,
    /// Length of the server's window (tcp-stream, udp-stream), in milliseconds.
    pub duration_ms: u64,
    /// Message size in bytes: per write (tcp-stream), per datagram (udp-stream), per request
    /// and per response (the request/response workloads).
    pub message_size: u32,
}

/// Why a server refused a header; sent as the ack status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Reject {
    /// The first four bytes were not `CNBW`.
    BadMagic = 1,
    /// A protocol version this server does not speak.
    BadVersion = 2,
    /// A workload id this server does not know.
    UnknownWorkload = 3,
    /// Message size outside [`min_message_size`]..=[`Workload::max_message_size`].
    BadMessageSize = 4,
    /// The server could not open the UDP socket a udp-stream or udp-rr test needs.
    UdpSocket = 5,
}

impl Reject {
    /// The refusal for an ack status code; `None` for 0 (accepted) and unknown codes.
    pub fn from_code(code: u32) -> Option<Reject> {
        Some(match code {
            1 => Reject::BadMagic,
            2 => Reject::BadVersion,
            3 => Reject::UnknownWorkload,
            4 => Reject::BadMessageSize,
            5 => Reject::UdpSocket,
            _ => return None,
        })
    }

    /// What the refusal means to the client, and what to do about it.
    pub fn explain(self) -> String {
        match self {
            Reject::BadMagic => "the server did not recognise our header".into(),
            Reject::BadVersion => format!(
                "the server does not speak protocol version {PROTOCOL_VERSION}: run the same \
                 cnbench build on both ends"
            ),
            Reject::UnknownWorkload => "the server does not know this workload: run the same \
                 cnbench build on both ends"
                .into(),
            Reject::BadMessageSize => format!(
                "the server refused the message size (1..={MAX_MESSAGE_SIZE} bytes for the TCP \
                 workloads, {UDP_PREFIX_LEN}..={MAX_UDP_PAYLOAD} for the UDP ones)"
            ),
            Reject::UdpSocket => "the server could not open a UDP socket for the test: see the \
                 server agent's stderr"
                .into(),
        }
    }
}

/// The smallest message size `w` accepts, in bytes: [`UDP_PREFIX_LEN`] for the UDP workloads
/// (every datagram carries a sequence number and the test cookie), 1 for the others.
pub fn min_message_size(w: Workload) -> u32 {
    if w.is_udp() {
        UDP_PREFIX_LEN as u32
    } else {
        1
    }
}

fn workload_id(w: Workload) -> u16 {
    match w {
        Workload::TcpStream => 1,
        Workload::TcpRr => 2,
        Workload::UdpStream => 3,
        Workload::UdpRr => 4,
        Workload::TcpCrr => 5,
    }
}

fn workload_from_id(id: u16) -> Option<Workload> {
    Workload::ALL
        .iter()
        .copied()
        .find(|w| workload_id(*w) == id)
}

/// The protocol version a raw header claims (whatever its magic), for log messages.
pub fn header_version(b: &[u8; HEADER_LEN]) -> u16 {
    u16::from_be_bytes([b[4], b[5]])
}

/// The big-endian `u64` at the start of `b` (at least 8 bytes), as every message of this
/// crate's wire formats carries them.
pub(crate) fn be_u64(b: &[u8]) -> u64 {
    u64::from_be_bytes(b[..8].try_into().expect("8 bytes"))
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes(b[..4].try_into().expect("4 bytes"))
}

impl Header {
    /// The header a client sends for `cfg`.
    pub fn of(cfg: &crate::task::ClientConfig) -> Header {
        Header {
            workload: cfg.workload,
            warmup_ms: cfg.warmup_ms,
            duration_ms: cfg.duration_ms,
            message_size: cfg.message_size,
        }
    }
    /// The header's 32 bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&HEADER_MAGIC);
        b[4..6].copy_from_slice(&PROTOCOL_VERSION.to_be_bytes());
        b[6..8].copy_from_slice(&workload_id(self.workload).to_be_bytes());
        b[8..16].copy_from_slice(&self.warmup_ms.to_be_bytes());
        b[16..24].copy_from_slice(&self.duration_ms.to_be_bytes());
        b[24..28].copy_from_slice(&self.message_size.to_be_bytes());
        // 28..32: flags, zero.
        b
    }

    /// Parses and checks a header; the error is the status to send back.
    pub fn decode(b: &[u8; HEADER_LEN]) -> Result<Header, Reject> {
        if b[0..4] != HEADER_MAGIC {
            return Err(Reject::BadMagic);
        }
        if header_version(b) != PROTOCOL_VERSION {
            return Err(Reject::BadVersion);
        }
        let workload =
            workload_from_id(u16::from_be_bytes([b[6], b[7]])).ok_or(Reject::UnknownWorkload)?;
        let message_size = be_u32(&b[24..28]);
        if message_size < min_message_size(workload) || message_size > workload.max_message_size() {
            return Err(Reject::BadMessageSize);
        }
        Ok(Header {
            workload,
            warmup_ms: be_u64(&b[8..16]),
            duration_ms: be_u64(&b[16..24]),
            message_size,
        })
    }

    /// Idle timeout for reads and writes once the test runs: warm-up + duration + slack.
    pub fn data_timeout(&self) -> Duration {
        Duration::from_millis(self.warmup_ms.saturating_add(self.duration_ms))
            .saturating_add(TIMEOUT_SLACK)
    }
}

/// What an accepting server tells the client besides "accepted".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ack {
    /// udp-stream and udp-rr: the UDP port the server receives the test's datagrams on (same
    /// IP as the control connection). 0 for the TCP workloads.
    pub aux: u32,
    /// udp-stream and udp-rr: the random cookie every datagram of this test carries (never
    /// 0). 0 for the TCP workloads.
    pub cookie: u64,
}

impl Ack {
    /// The ack of a TCP workload: nothing but "accepted".
    pub const TCP: Ack = Ack { aux: 0, cookie: 0 };

    /// The UDP port carried in `aux`, if it is one.
    pub fn udp_port(&self) -> Option<u16> {
        u16::try_from(self.aux).ok().filter(|p| *p != 0)
    }
}

/// The server's ack: `Ok` with what the client needs to know, or why it refused.
pub fn encode_ack(status: Result<Ack, Reject>) -> [u8; ACK_LEN] {
    let mut b = [0u8; ACK_LEN];
    b[0..4].copy_from_slice(&ACK_MAGIC);
    let (code, ack) = match status {
        Ok(ack) => (0, ack),
        Err(r) => (r as u32, Ack::default()),
    };
    b[4..8].copy_from_slice(&code.to_be_bytes());
    b[8..12].copy_from_slice(&ack.aux.to_be_bytes());
    b[12..20].copy_from_slice(&ack.cookie.to_be_bytes());
    b
}

/// Parses an ack: `None` if the magic is wrong, `Some(Err(status))` for a refusal (the
/// status code, known to [`Reject::from_code`] or not), `Some(Ok(ack))` if accepted.
pub fn decode_ack(b: &[u8; ACK_LEN]) -> Option<Result<Ack, u32>> {
    if b[0..4] != ACK_MAGIC {
        return None;
    }
    Some(match be_u32(&b[4..8]) {
        0 => Ok(Ack {
            aux: be_u32(&b[8..12]),
            cookie: be_u64(&b[12..20]),
        }),
        code => Err(code),
    })
}

/// Checks the first [`ACK_PREFIX_LEN`] bytes of an ack (magic and status), which every
/// protocol version shares: a refusal, or another program, becomes a clear error.
pub(crate) fn check_ack_prefix(peer: SocketAddr, b: &[u8]) -> Result<(), WorkloadError> {
    if b.len() < ACK_PREFIX_LEN {
        return Err(WorkloadError::Protocol {
            peer,
            detail: format!(
                "the peer closed the connection after {} bytes instead of acknowledging the \
                 test header: is a cnbench server (the same build) listening on that port?",
                b.len()
            ),
        });
    }
    if b[0..4] != ACK_MAGIC {
        return Err(WorkloadError::Protocol {
            peer,
            detail: "the peer's answer is not a cnbench ack: is another program listening on \
                     that port?"
                .into(),
        });
    }
    match be_u32(&b[4..8]) {
        0 => Ok(()),
        code => Err(WorkloadError::Protocol {
            peer,
            detail: match Reject::from_code(code) {
                Some(r) => format!("the server refused the test: {}", r.explain()),
                None => format!(
                    "the server refused the test with unknown status {code}: run the same \
                     cnbench build on both ends"
                ),
            },
        }),
    }
}

/// Checks a complete ack as read from the wire (`b` may be shorter than [`ACK_LEN`] if the
/// peer closed early) and returns what the server said.
pub(crate) fn check_ack(peer: SocketAddr, b: &[u8]) -> Result<Ack, WorkloadError> {
    check_ack_prefix(peer, b)?;
    let full: &[u8; ACK_LEN] = b
        .get(..ACK_LEN)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| WorkloadError::Protocol {
            peer,
            detail: format!(
                "the server's ack is {} bytes, protocol version {PROTOCOL_VERSION} sends \
                 {ACK_LEN}: run the same cnbench build on both ends",
                b.len()
            ),
        })?;
    // check_ack_prefix let only an accepting ack with the right magic through.
    decode_ack(full)
        .and_then(Result::ok)
        .ok_or_else(|| WorkloadError::Protocol {
            peer,
            detail: "the server's ack is not an acceptance".into(),
        })
}

/// What the tcp-stream server measured on one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamResult {
    /// Bytes received inside the measurement window.
    pub bytes_in_window: u64,
    /// Length of the window actually covered, in nanoseconds.
    pub window_ns: u64,
    /// Every byte received on the connection after the header.
    pub bytes_total: u64,
}

impl StreamResult {
    /// The result's 28 bytes.
    pub fn encode(&self) -> [u8; RESULT_LEN] {
        let mut b = [0u8; RESULT_LEN];
        b[0..4].copy_from_slice(&RESULT_MAGIC);
        b[4..12].copy_from_slice(&self.bytes_in_window.to_be_bytes());
        b[12..20].copy_from_slice(&self.window_ns.to_be_bytes());
        b[20..28].copy_from_slice(&self.bytes_total.to_be_bytes());
        b
    }

    /// Parses a result; `None` if the magic is wrong.
    pub fn decode(b: &[u8; RESULT_LEN]) -> Option<StreamResult> {
        if b[0..4] != RESULT_MAGIC {
            return None;
        }
        Some(StreamResult {
            bytes_in_window: be_u64(&b[4..12]),
            window_ns: be_u64(&b[12..20]),
            bytes_total: be_u64(&b[20..28]),
        })
    }

    /// Reads the server's result after the client's half-close.
    pub(crate) fn read_from(conn: &mut TcpStream, peer: SocketAddr) -> Result<Self, WorkloadError> {
        let mut b = [0u8; RESULT_LEN];
        conn.read_exact(&mut b)
            .map_err(|e| WorkloadError::io(peer, "reading the server's tcp-stream result", e))?;
        StreamResult::decode(&b).ok_or_else(|| WorkloadError::Protocol {
            peer,
            detail: "the tcp-stream result did not start with the expected magic".into(),
        })
    }
}

/// What the udp-stream client tells the server once it has stopped sending: which sequence
/// numbers it sent inside its own window, so the server can count the loss among them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UdpTrailer {
    /// The first sequence number sent inside the client's window.
    pub first_seq: u64,
    /// How many datagrams were sent inside the client's window: sequence numbers
    /// `first_seq .. first_seq + sent_in_window`. 0 if none.
    pub sent_in_window: u64,
    /// Every datagram the client sent, warm-up and tail included.
    pub sent_total: u64,
}

impl UdpTrailer {
    /// The trailer's 28 bytes.
    pub fn encode(&self) -> [u8; UDP_TRAILER_LEN] {
        let mut b = [0u8; UDP_TRAILER_LEN];
        b[0..4].copy_from_slice(&TRAILER_MAGIC);
        b[4..12].copy_from_slice(&self.first_seq.to_be_bytes());
        b[12..20].copy_from_slice(&self.sent_in_window.to_be_bytes());
        b[20..28].copy_from_slice(&self.sent_total.to_be_bytes());
        b
    }

    /// Parses a trailer; `None` if the magic is wrong or the range is impossible.
    pub fn decode(b: &[u8; UDP_TRAILER_LEN]) -> Option<UdpTrailer> {
        if b[0..4] != TRAILER_MAGIC {
            return None;
        }
        let t = UdpTrailer {
            first_seq: be_u64(&b[4..12]),
            sent_in_window: be_u64(&b[12..20]),
            sent_total: be_u64(&b[20..28]),
        };
        let end = t.first_seq.checked_add(t.sent_in_window)?;
        (end <= t.sent_total).then_some(t)
    }
}

/// What the udp-stream server measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UdpStreamResult {
    /// Datagrams received inside the server's window.
    pub packets_in_window: u64,
    /// UDP payload bytes received inside the server's window.
    pub bytes_in_window: u64,
    /// Length of the server's window, in nanoseconds; 0 if no datagram arrived at all.
    pub window_ns: u64,
    /// Distinct sequence numbers of the trailer's range received (at any time).
    pub received_in_range: u64,
    /// Distinct sequence numbers received (at any time).
    pub received_total: u64,
    /// Datagrams ignored: wrong size, wrong cookie or impossible sequence number.
    pub strays: u64,
}

impl UdpStreamResult {
    /// The result's 52 bytes.
    pub fn encode(&self) -> [u8; UDP_RESULT_LEN] {
        let mut b = [0u8; UDP_RESULT_LEN];
        b[0..4].copy_from_slice(&UDP_RESULT_MAGIC);
        for (i, v) in [
            self.packets_in_window,
            self.bytes_in_window,
            self.window_ns,
            self.received_in_range,
            self.received_total,
            self.strays,
        ]
        .into_iter()
        .enumerate()
        {
            b[4 + 8 * i..12 + 8 * i].copy_from_slice(&v.to_be_bytes());
        }
        b
    }

    /// Parses a result; `None` if the magic is wrong.
    pub fn decode(b: &[u8; UDP_RESULT_LEN]) -> Option<UdpStreamResult> {
        if b[0..4] != UDP_RESULT_MAGIC {
            return None;
        }
        let f = |i: usize| be_u64(&b[4 + 8 * i..12 + 8 * i]);
        Some(UdpStreamResult {
            packets_in_window: f(0),
            bytes_in_window: f(1),
            window_ns: f(2),
            received_in_range: f(3),
            received_total: f(4),
            strays: f(5),
        })
    }
}

/// Opens one client connection: connect (with [`CONNECT_TIMEOUT`]), set `TCP_NODELAY` if
/// asked, set the data-phase timeouts, send the header and wait for the server's ack.
pub(crate) fn open(
    target: SocketAddr,
    header: &Header,
    nodelay: bool,
) -> Result<TcpStream, WorkloadError> {
    open_with_ack(target, header, nodelay).map(|(conn, _)| conn)
}

/// [`open`], also returning what the server's ack carried (the UDP workloads need it).
pub(crate) fn open_with_ack(
    target: SocketAddr,
    header: &Header,
    nodelay: bool,
) -> Result<(TcpStream, Ack), WorkloadError> {
    let sock = Socket::new(
        Domain::for_address(target),
        Type::STREAM,
        Some(Protocol::TCP),
    )
    .map_err(|e| WorkloadError::connect(target, e))?;
    sock.connect_timeout(&SockAddr::from(target), CONNECT_TIMEOUT)
        .map_err(|e| WorkloadError::connect(target, e))?;
    let mut conn: TcpStream = sock.into();
    let io = |op, e| WorkloadError::io(target, op, e);
    conn.set_nodelay(nodelay)
        .map_err(|e| io("setting TCP_NODELAY", e))?;
    let timeout = Some(header.data_timeout());
    conn.set_read_timeout(timeout)
        .map_err(|e| io("setting the read timeout", e))?;
    conn.set_write_timeout(timeout)
        .map_err(|e| io("setting the write timeout", e))?;
    conn.write_all(&header.encode())
        .map_err(|e| io("sending the test header", e))?;
    // The shared prefix first: a refusal (from any protocol version) ends there.
    let mut ack = [0u8; ACK_LEN];
    let got = read_up_to(&mut conn, &mut ack[..ACK_PREFIX_LEN])
        .map_err(|e| io("waiting for the server to accept the test", e))?;
    check_ack_prefix(target, &ack[..got])?;
    let rest = read_up_to(&mut conn, &mut ack[ACK_PREFIX_LEN..])
        .map_err(|e| io("reading the server's ack", e))?;
    let ack = check_ack(target, &ack[..ACK_PREFIX_LEN + rest])?;
    Ok((conn, ack))
}

/// Reads until `buf` is full or the peer closes; returns how many bytes were read.
pub(crate) fn read_up_to(conn: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match conn.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Reads exactly `buf.len()` bytes, or returns `Ok(false)` if the peer closed the connection
/// cleanly before the first byte. A close in the middle is `UnexpectedEof`.
pub(crate) fn read_exact_or_eof(conn: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    match read_up_to(conn, buf)? {
        0 if !buf.is_empty() => Ok(false),
        n if n == buf.len() => Ok(true),
        _ => Err(io::ErrorKind::UnexpectedEof.into()),
    }
}

/// A fresh random 64-bit test cookie, never 0. Not cryptographic: it only has to make a
/// datagram left over from an earlier test (or sent by something else) unlikely to pass.
pub(crate) fn new_cookie() -> u64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // RandomState is seeded from the OS once per thread and differs on every call.
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    h.finish().max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_rejects() {
        let h = Header {
            workload: Workload::TcpRr,
            warmup_ms: 1500,
            duration_ms: 10_000,
            message_size: 64,
        };
        let b = h.encode();
        assert_eq!(&b[0..4], b"CNBW");
        assert_eq!(&b[4..6], &[0, 2]);
        assert_eq!(Header::decode(&b), Ok(h));

        let mut bad = b;
        bad[0] = b'X';
        assert_eq!(Header::decode(&bad), Err(Reject::BadMagic));
        let mut bad = b;
        bad[5] = 99;
        assert_eq!(Header::decode(&bad), Err(Reject::BadVersion));
        let mut bad = b;
        bad[5] = 1;
        assert_eq!(Header::decode(&bad), Err(Reject::BadVersion));
        assert_eq!(header_version(&bad), 1);
        let mut bad = b;
        bad[7] = 77;
        assert_eq!(Header::decode(&bad), Err(Reject::UnknownWorkload));
        let mut bad = b;
        bad[24..28].copy_from_slice(&0u32.to_be_bytes());
        assert_eq!(Header::decode(&bad), Err(Reject::BadMessageSize));
    }

    #[test]
    fn every_workload_round_trips_and_udp_sizes_are_bounded() {
        for w in Workload::ALL {
            let h = Header {
                workload: *w,
                warmup_ms: 0,
                duration_ms: 1,
                message_size: 64,
            };
            assert_eq!(Header::decode(&h.encode()), Ok(h));
        }
        let size = |workload, message_size| {
            Header::decode(
                &Header {
                    workload,
                    warmup_ms: 0,
                    duration_ms: 1,
                    message_size,
                }
                .encode(),
            )
        };
        assert!(size(Workload::UdpStream, 16).is_ok());
        assert!(size(Workload::UdpRr, 65_507).is_ok());
        assert_eq!(size(Workload::UdpStream, 15), Err(Reject::BadMessageSize));
        assert_eq!(size(Workload::UdpRr, 65_508), Err(Reject::BadMessageSize));
        assert!(size(Workload::TcpCrr, 1).is_ok());
        assert!(size(Workload::TcpCrr, MAX_MESSAGE_SIZE).is_ok());
    }

    #[test]
    fn stream_result_round_trip() {
        let r = StreamResult {
            bytes_in_window: 123_456_789_012,
            window_ns: 10_000_000_123,
            bytes_total: 200_000_000_000,
        };
        assert_eq!(StreamResult::decode(&r.encode()), Some(r));
        let mut bad = r.encode();
        bad[3] = 0;
        assert_eq!(StreamResult::decode(&bad), None);
    }

    #[test]
    fn ack_codes() {
        assert_eq!(encode_ack(Ok(Ack::TCP))[4..8], [0, 0, 0, 0]);
        let b = encode_ack(Err(Reject::BadVersion));
        assert_eq!(decode_ack(&b), Some(Err(2)));
        assert_eq!(Reject::from_code(2), Some(Reject::BadVersion));
        assert_eq!(Reject::from_code(5), Some(Reject::UdpSocket));
        assert_eq!(Reject::from_code(0), None);
        let mut bad = b;
        bad[0] = b'H';
        assert_eq!(decode_ack(&bad), None);
    }

    #[test]
    fn ack_with_udp_port_and_cookie_round_trips() {
        let ack = Ack {
            aux: 40_123,
            cookie: 0x0123_4567_89ab_cdef,
        };
        let b = encode_ack(Ok(ack));
        assert_eq!(b.len(), 20);
        assert_eq!(&b[0..4], b"CNBA");
        assert_eq!(&b[8..12], &40_123u32.to_be_bytes());
        assert_eq!(decode_ack(&b), Some(Ok(ack)));
        assert_eq!(ack.udp_port(), Some(40_123));
        assert_eq!(Ack::TCP.udp_port(), None);
        assert_eq!(
            Ack {
                aux: 70_000,
                cookie: 1
            }
            .udp_port(),
            None
        );
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert_eq!(check_ack(peer, &b).unwrap(), ack);
    }

    #[test]
    fn short_and_refusing_acks_are_explained() {
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        // A version-1 server's refusal: 8 bytes, status 2.
        let v1 = &encode_ack(Err(Reject::BadVersion))[..8];
        let e = check_ack(peer, v1).unwrap_err().to_string();
        assert!(e.contains("does not speak protocol version 2"), "{e}");
        // A version-1 server's acceptance: 8 bytes, status 0, then nothing.
        let e = check_ack(peer, &encode_ack(Ok(Ack::TCP))[..8])
            .unwrap_err()
            .to_string();
        assert!(e.contains("the same cnbench build"), "{e}");
        let e = check_ack(peer, b"CNB").unwrap_err().to_string();
        assert!(e.contains("closed the connection after 3 bytes"), "{e}");
        let e = check_ack(peer, &encode_ack(Err(Reject::BadMessageSize)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("16..=65507"), "{e}");
    }

    #[test]
    fn udp_trailer_and_result_round_trip() {
        let t = UdpTrailer {
            first_seq: 1_000,
            sent_in_window: 5_000_000,
            sent_total: 6_000_000,
        };
        let b = t.encode();
        assert_eq!(&b[0..4], b"CNBT");
        assert_eq!(UdpTrailer::decode(&b), Some(t));
        // A range beyond what was sent is impossible.
        let bad = UdpTrailer {
            sent_in_window: 5_999_001,
            ..t
        };
        assert_eq!(UdpTrailer::decode(&bad.encode()), None);

        let r = UdpStreamResult {
            packets_in_window: 1,
            bytes_in_window: 2,
            window_ns: 3,
            received_in_range: 4,
            received_total: 5,
            strays: 6,
        };
        let b = r.encode();
        assert_eq!(&b[0..4], b"CNBU");
        assert_eq!(&b[44..52], &6u64.to_be_bytes());
        assert_eq!(UdpStreamResult::decode(&b), Some(r));
        let mut bad = b;
        bad[0] = 0;
        assert_eq!(UdpStreamResult::decode(&bad), None);
    }

    #[test]
    fn cookies_differ_and_are_never_zero() {
        let a = new_cookie();
        let b = new_cookie();
        assert_ne!(a, 0);
        assert_ne!(a, b);
    }
}
