//! The wire protocol between a client and a server agent (see the crate documentation for
//! the picture). All integers are big-endian.
//!
//! ```text
//! client -> server  header, 32 bytes:
//!     0  magic        b"CNBW"
//!     4  version      u16   (PROTOCOL_VERSION)
//!     6  workload     u16   (1 tcp-stream, 2 tcp-rr)
//!     8  warmup_ms    u64
//!    16  duration_ms  u64
//!    24  message_size u32
//!    28  flags        u32   (0; reserved)
//! server -> client  ack, 8 bytes:
//!     0  magic        b"CNBA"
//!     4  status       u32   (0 accepted; otherwise a Reject code, then the server closes)
//! tcp-stream, after the client's half-close, server -> client  result, 28 bytes:
//!     0  magic            b"CNBR"
//!     4  bytes_in_window  u64
//!    12  window_ns        u64
//!    20  bytes_total      u64   (everything received, warm-up and tail included)
//! ```

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::error::WorkloadError;
use crate::task::{Workload, MAX_MESSAGE_SIZE};

/// Version of the wire protocol; client and server must agree.
pub const PROTOCOL_VERSION: u16 = 1;
/// How long a client waits for the TCP handshake.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Slack added to every data-phase read/write timeout beyond warm-up + duration, so a dead
/// peer fails the test instead of hanging it, while a slow but live one never trips it.
pub const TIMEOUT_SLACK: Duration = Duration::from_secs(10);
/// How long a server waits for the header after accepting a connection.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

const HEADER_MAGIC: [u8; 4] = *b"CNBW";
const ACK_MAGIC: [u8; 4] = *b"CNBA";
const RESULT_MAGIC: [u8; 4] = *b"CNBR";

/// Size of [`Header`] on the wire, in bytes.
pub const HEADER_LEN: usize = 32;
const ACK_LEN: usize = 8;
const RESULT_LEN: usize = 28;

/// The first thing a client sends on every connection: what test this connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The workload the server must run on this connection.
    pub workload: Workload,
    /// Warm-up before the server's tcp-stream window opens, in milliseconds.
    pub warmup_ms: u64,
    /// Length of the server's tcp-stream window, in milliseconds.
    pub duration_ms: u64,
    /// Message size in bytes (the tcp-rr request/response size).
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
    /// Message size 0 or above [`MAX_MESSAGE_SIZE`].
    BadMessageSize = 4,
}

impl Reject {
    fn from_code(code: u32) -> Option<Reject> {
        Some(match code {
            1 => Reject::BadMagic,
            2 => Reject::BadVersion,
            3 => Reject::UnknownWorkload,
            4 => Reject::BadMessageSize,
            _ => return None,
        })
    }

    fn explain(self) -> String {
        match self {
            Reject::BadMagic => "the server did not recognise our header".into(),
            Reject::BadVersion => format!(
                "the server does not speak protocol version {PROTOCOL_VERSION}: run the same \
                 cnbench build on both ends"
            ),
            Reject::UnknownWorkload => "the server does not know this workload: run the same \
                 cnbench build on both ends"
                .into(),
            Reject::BadMessageSize => {
                format!("the server refused the message size (1..={MAX_MESSAGE_SIZE} bytes)")
            }
        }
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

impl Header {
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
        if u16::from_be_bytes([b[4], b[5]]) != PROTOCOL_VERSION {
            return Err(Reject::BadVersion);
        }
        let workload =
            workload_from_id(u16::from_be_bytes([b[6], b[7]])).ok_or(Reject::UnknownWorkload)?;
        let message_size = u32::from_be_bytes(b[24..28].try_into().expect("4 bytes"));
        if message_size == 0 || message_size > MAX_MESSAGE_SIZE {
            return Err(Reject::BadMessageSize);
        }
        Ok(Header {
            workload,
            warmup_ms: u64::from_be_bytes(b[8..16].try_into().expect("8 bytes")),
            duration_ms: u64::from_be_bytes(b[16..24].try_into().expect("8 bytes")),
            message_size,
        })
    }

    /// Idle timeout for reads and writes once the test runs: warm-up + duration + slack.
    pub fn data_timeout(&self) -> Duration {
        Duration::from_millis(self.warmup_ms.saturating_add(self.duration_ms))
            .saturating_add(TIMEOUT_SLACK)
    }
}

/// The server's ack: `Ok` or why it refused.
pub fn encode_ack(status: Result<(), Reject>) -> [u8; ACK_LEN] {
    let mut b = [0u8; ACK_LEN];
    b[0..4].copy_from_slice(&ACK_MAGIC);
    let code = match status {
        Ok(()) => 0,
        Err(r) => r as u32,
    };
    b[4..8].copy_from_slice(&code.to_be_bytes());
    b
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
            bytes_in_window: u64::from_be_bytes(b[4..12].try_into().ok()?),
            window_ns: u64::from_be_bytes(b[12..20].try_into().ok()?),
            bytes_total: u64::from_be_bytes(b[20..28].try_into().ok()?),
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

/// Opens one client connection: connect (with [`CONNECT_TIMEOUT`]), set `TCP_NODELAY` if
/// asked, set the data-phase timeouts, send the header and wait for the server's ack.
pub(crate) fn open(
    target: SocketAddr,
    header: &Header,
    nodelay: bool,
) -> Result<TcpStream, WorkloadError> {
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
    let mut ack = [0u8; ACK_LEN];
    conn.read_exact(&mut ack).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            WorkloadError::Protocol {
                peer: target,
                detail: "the peer closed the connection instead of acknowledging the test \
                         header: is a cnbench server (the same build) listening on that port?"
                    .into(),
            }
        } else {
            io("waiting for the server to accept the test", e)
        }
    })?;
    if ack[0..4] != ACK_MAGIC {
        return Err(WorkloadError::Protocol {
            peer: target,
            detail: "the peer's answer is not a cnbench ack: is another program listening on \
                     that port?"
                .into(),
        });
    }
    match u32::from_be_bytes(ack[4..8].try_into().expect("4 bytes")) {
        0 => Ok(conn),
        code => Err(WorkloadError::Protocol {
            peer: target,
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

/// Reads exactly `buf.len()` bytes, or returns `Ok(false)` if the peer closed the connection
/// cleanly before the first byte. A close in the middle is `UnexpectedEof`.
pub(crate) fn read_exact_or_eof(conn: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match conn.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
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
        assert_eq!(Header::decode(&b), Ok(h));

        let mut bad = b;
        bad[0] = b'X';
        assert_eq!(Header::decode(&bad), Err(Reject::BadMagic));
        let mut bad = b;
        bad[5] = 99;
        assert_eq!(Header::decode(&bad), Err(Reject::BadVersion));
        let mut bad = b;
        bad[7] = 77;
        assert_eq!(Header::decode(&bad), Err(Reject::UnknownWorkload));
        let mut bad = b;
        bad[24..28].copy_from_slice(&0u32.to_be_bytes());
        assert_eq!(Header::decode(&bad), Err(Reject::BadMessageSize));
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
        assert_eq!(encode_ack(Ok(()))[4..8], [0, 0, 0, 0]);
        let b = encode_ack(Err(Reject::BadVersion));
        assert_eq!(
            Reject::from_code(u32::from_be_bytes(b[4..8].try_into().unwrap())),
            Some(Reject::BadVersion)
        );
    }
}
