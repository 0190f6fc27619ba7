//! tcp-crr: connect, request, response, close, one transaction at a time.
//!
//! A transaction is one TCP connection with exactly one round trip of data on it:
//!
//! 1. the client creates a socket (`TCP_NODELAY`), connects, and writes the 32-byte header
//!    and the `message_size`-byte request in **one** write;
//! 2. the server (its accept thread, no thread per connection) reads both, writes the 20-byte
//!    ack and the response (the request echoed) in **one** write, and closes first, HTTP/1.0
//!    style, so the TIME_WAIT state stays on the server and the client never runs out of
//!    ephemeral ports;
//! 3. the client reads ack + response, reads the end of file, and closes.
//!
//! The client takes a timestamp before `socket()` and one after `close()`; every transaction
//! after warm-up goes into an HdrHistogram exactly as for tcp-rr ([`round_trips`]). So a
//! figure is the full cost of a short-lived connection as an application sees it: socket
//! creation, the handshake, one request/response and the teardown.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use reports::Sample;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::error::WorkloadError;
use crate::protocol::{
    self, Ack, Header, ACK_LEN, ACK_PREFIX_LEN, CONNECT_TIMEOUT, HEADER_LEN, HEADER_TIMEOUT,
};
use crate::round_trips::{self, Transaction};
use crate::task::ClientConfig;

/// Everything a client transaction needs, prepared once so the loop does not allocate.
struct Client {
    peer: SocketAddr,
    addr: SockAddr,
    domain: Domain,
    read_timeout: Duration,
    /// Header and request, sent with one write.
    request: Vec<u8>,
    /// Ack + response, plus one byte to notice a longer answer.
    answer: Vec<u8>,
}

/// Runs a tcp-crr test; `cfg` is already validated.
pub(crate) fn run(cfg: &ClientConfig) -> Result<Sample, WorkloadError> {
    let peer = cfg.target;
    let header = Header::of(cfg);
    let size = cfg.message_size as usize;
    let mut request = Vec::with_capacity(HEADER_LEN + size);
    request.extend_from_slice(&header.encode());
    request.extend((0..size).map(|i| (i % 251) as u8));
    let mut client = Client {
        peer,
        addr: SockAddr::from(peer),
        domain: Domain::for_address(peer),
        read_timeout: header.data_timeout(),
        request,
        answer: vec![0u8; ACK_LEN + size + 1],
    };
    let measured = round_trips::measure(
        Duration::from_millis(cfg.warmup_ms),
        Duration::from_millis(cfg.duration_ms),
        || {
            let t0 = Instant::now();
            Ok(Transaction::Answered(t0, client.transact()?))
        },
    )?;
    Ok(Sample::TcpCrr(measured.sample(cfg.message_size)))
}

impl Client {
    /// One transaction; returns the instant right after `close()`. The caller takes the
    /// start timestamp just before calling, so the time includes `socket()`.
    fn transact(&mut self) -> Result<Instant, WorkloadError> {
        let peer = self.peer;
        let io = |op, e| WorkloadError::io(peer, op, e);
        let sock = Socket::new(self.domain, Type::STREAM, Some(Protocol::TCP))
            .map_err(|e| io("creating a tcp-crr socket", e))?;
        sock.set_tcp_nodelay(true)
            .map_err(|e| io("setting TCP_NODELAY", e))?;
        // Bounds the blocking connect and the request write.
        sock.set_write_timeout(Some(CONNECT_TIMEOUT))
            .map_err(|e| io("setting the write timeout", e))?;
        sock.set_read_timeout(Some(self.read_timeout))
            .map_err(|e| io("setting the read timeout", e))?;
        sock.connect(&self.addr)
            .map_err(|e| connect_error(peer, e))?;
        (&sock)
            .write_all(&self.request)
            .map_err(|e| io("sending a tcp-crr header and request", e))?;
        let mut got = 0;
        loop {
            match (&sock).read(&mut self.answer[got..]) {
                Ok(0) => break,
                Ok(n) => {
                    got += n;
                    if got == self.answer.len() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // A server that refused the header may reset the connection (it closes
                    // without reading the request): its refusal says more than the reset.
                    if got >= ACK_PREFIX_LEN {
                        protocol::check_ack_prefix(peer, &self.answer[..got])?;
                    }
                    return Err(io("reading a tcp-crr response", e));
                }
            }
        }
        if got == self.answer.len() {
            return Err(WorkloadError::Protocol {
                peer,
                detail: format!(
                    "the tcp-crr answer is longer than the {ACK_LEN}-byte ack and the {}-byte \
                     response, or the server did not close: run the same cnbench build on \
                     both ends",
                    self.answer.len() - 1 - ACK_LEN
                ),
            });
        }
        drop(sock);
        let t1 = Instant::now();

        protocol::check_ack(peer, &self.answer[..got.min(ACK_LEN)])?;
        if got != self.answer.len() - 1 {
            return Err(WorkloadError::Protocol {
                peer,
                detail: format!(
                    "the tcp-crr response has {} bytes, expected {}: the server closed early; \
                     check its stderr",
                    got.saturating_sub(ACK_LEN),
                    self.answer.len() - 1 - ACK_LEN
                ),
            });
        }
        Ok(t1)
    }
}

/// A failed connect in the middle of a tcp-crr test. Running out of local ports gets its own
/// advice (the server closes first, so it should not happen).
fn connect_error(peer: SocketAddr, e: io::Error) -> WorkloadError {
    // A blocking connect that hits SO_SNDTIMEO fails with EINPROGRESS.
    let e = if e.raw_os_error() == Some(libc::EINPROGRESS) {
        io::Error::new(io::ErrorKind::TimedOut, "connect timed out")
    } else {
        e
    };
    if e.kind() == io::ErrorKind::AddrNotAvailable {
        return WorkloadError::Connect {
            addr: peer,
            source: e,
            hint: "no free local port for another tcp-crr connection: are connections to this \
                   server left in TIME_WAIT on the client side (`ss -tan state time-wait`)? \
                   widen net.ipv4.ip_local_port_range or shorten the test",
        };
    }
    WorkloadError::connect(peer, e)
}

/// Serves one tcp-crr connection whose header the accept thread has read: read the request,
/// write ack + response in one write, close. Runs on the accept thread, with the caller's
/// [`HEADER_TIMEOUT`] read timeout; `buf` is reused across connections.
pub(crate) fn serve(
    mut conn: TcpStream,
    header: &Header,
    peer: SocketAddr,
    buf: &mut Vec<u8>,
) -> Result<(), WorkloadError> {
    let io = |op, e| WorkloadError::io(peer, op, e);
    buf.resize(ACK_LEN + header.message_size as usize, 0);
    buf[..ACK_LEN].copy_from_slice(&protocol::encode_ack(Ok(Ack::TCP)));
    conn.read_exact(&mut buf[ACK_LEN..])
        .map_err(|e| io("reading a tcp-crr request", e))?;
    conn.set_nodelay(true)
        .map_err(|e| io("setting TCP_NODELAY", e))?;
    conn.set_write_timeout(Some(HEADER_TIMEOUT))
        .map_err(|e| io("setting the write timeout", e))?;
    conn.write_all(buf)
        .map_err(|e| io("sending a tcp-crr ack and response", e))?;
    // Close first: the request has been read completely, so this sends a FIN (not a reset)
    // and leaves the TIME_WAIT state here rather than on the client.
    drop(conn);
    Ok(())
}
