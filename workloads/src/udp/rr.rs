//! udp-rr, both ends: the client's request loop and the server's echo.
//!
//! One datagram each way at a time over a connected client socket; one `send` and
//! one `recv` per side per transaction, no allocation. A reply whose sequence number is not
//! the one outstanding is stale (the answer to a request already given up on) and ignored.
//! A request unanswered after [`RETRY_TIMEOUT`] counts as a timeout and the client sends a
//! new request with a new sequence number: the given-up transaction is not recorded and the
//! new one is timed from its own send. The server echoes every request until the control
//! connection reaches end of file, then closes its socket. Warm-up and window are
//! tcp-rr's ([`round_trips::measure`]).

use std::io;
use std::net::{Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use reports::Sample;

use crate::error::WorkloadError;
use crate::protocol::{self, new_cookie, Header, UDP_PREFIX_LEN};
use crate::round_trips::{self, Transaction};
use crate::task::ClientConfig;

use super::{
    check_size, connect_udp, fill_datagram, is_timeout, is_transient_send_error,
    open_server_socket, poll_control, udp_error, ENOBUFS_BACKOFF,
};

/// udp-rr: how long the client waits for the reply to a request before counting a timeout
/// and sending a new request. Far above any round trip of a working datapath (µs to a few
/// ms, even emulated), so a timeout means a lost request or reply.
pub(crate) const RETRY_TIMEOUT: Duration = Duration::from_millis(200);
/// udp-rr: the server's receive timeout; after each one it checks whether the client closed
/// the control connection.
const RR_IDLE_POLL: Duration = Duration::from_millis(200);

/// The udp-rr client's socket and buffers, prepared once.
struct RrClient {
    sock: UdpSocket,
    udp_peer: SocketAddr,
    /// The request: sequence number, cookie, filler.
    req: Vec<u8>,
    /// Room for one byte more than a reply, to notice a longer datagram.
    resp: Vec<u8>,
    seq: u64,
}

impl RrClient {
    /// Sends a request with a new sequence number and waits for its reply: a
    /// [`Transaction::TimedOut`] if none came within [`RETRY_TIMEOUT`].
    #[inline]
    fn attempt(&mut self) -> Result<Transaction, WorkloadError> {
        self.seq += 1;
        self.req[..8].copy_from_slice(&self.seq.to_be_bytes());
        let t0 = Instant::now();
        loop {
            match self.sock.send(&self.req) {
                Ok(_) => break,
                Err(e) if is_transient_send_error(&e) => {
                    if t0.elapsed() >= RETRY_TIMEOUT {
                        return Ok(Transaction::TimedOut(Instant::now()));
                    }
                    // See udp-stream: let softirq drain the queue.
                    std::thread::sleep(ENOBUFS_BACKOFF);
                }
                Err(e) => return Err(udp_error(self.udp_peer, "sending a udp-rr request", e)),
            }
        }
        loop {
            match self.sock.recv(&mut self.resp) {
                Ok(n) => {
                    let t1 = Instant::now();
                    // The same sequence number and cookie, and the same size: our reply.
                    if n == self.req.len()
                        && self.resp[..UDP_PREFIX_LEN] == self.req[..UDP_PREFIX_LEN]
                    {
                        return Ok(Transaction::Answered(t0, t1));
                    }
                    // A stale reply or a stray: keep waiting, but not past the timeout.
                    if t1.duration_since(t0) >= RETRY_TIMEOUT {
                        return Ok(Transaction::TimedOut(t1));
                    }
                }
                Err(e) if is_timeout(&e) => return Ok(Transaction::TimedOut(Instant::now())),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(udp_error(self.udp_peer, "waiting for a udp-rr reply", e)),
            }
        }
    }
}

/// Runs a udp-rr test; `cfg` is already validated.
pub(crate) fn run_rr(cfg: &ClientConfig) -> Result<Sample, WorkloadError> {
    check_size(cfg)?;
    let peer = cfg.target;
    let (conn, ack) = protocol::open_with_ack(peer, &Header::of(cfg), true)?;
    let (sock, udp_peer) = connect_udp(peer, &ack, cfg)?;
    sock.set_read_timeout(Some(RETRY_TIMEOUT))
        .map_err(|e| WorkloadError::io(udp_peer, "setting the UDP receive timeout", e))?;
    let size = cfg.message_size as usize;
    let mut req = vec![0u8; size];
    fill_datagram(&mut req, ack.cookie);
    let mut c = RrClient {
        sock,
        udp_peer,
        req,
        resp: vec![0u8; size + 1],
        seq: 0,
    };
    let measured = round_trips::measure(
        Duration::from_millis(cfg.warmup_ms),
        Duration::from_millis(cfg.duration_ms),
        || c.attempt(),
    )?;
    // Tell the server we are done: it closes its UDP socket on EOF.
    let _ = conn.shutdown(Shutdown::Both);

    if measured.trips.len() == 0 {
        return Err(WorkloadError::Measurement(format!(
            "udp-rr to {udp_peer}: no request was answered during the {} ms window ({} \
             timed out after {} ms each): does the datapath forward UDP between the pods?",
            cfg.duration_ms,
            measured.timeouts,
            RETRY_TIMEOUT.as_millis()
        )));
    }
    Ok(Sample::UdpRr(measured.sample(cfg.message_size)))
}

/// Serves one udp-rr test after the header: open the UDP socket, ack, echo every request
/// until the client closes the control connection.
pub(crate) fn serve_rr(
    conn: &mut TcpStream,
    header: &Header,
    peer: SocketAddr,
) -> Result<(), WorkloadError> {
    let io = |op, e| WorkloadError::io(peer, op, e);
    let size = header.message_size as usize;
    let mut buf = vec![0u8; size + 1];
    let cookie = new_cookie();
    let sock = open_server_socket(conn, peer, cookie, RR_IDLE_POLL)?;
    let cookie = cookie.to_be_bytes();
    let mut client: Option<SocketAddr> = None;
    let mut idle = Duration::ZERO;
    let idle_limit = header.data_timeout();
    loop {
        match sock.recv_from(&mut buf) {
            Ok((n, src)) => {
                idle = Duration::ZERO;
                if n != size || buf[8..16] != cookie {
                    continue; // A stray.
                }
                if client != Some(src) {
                    // The first request: from now on the kernel delivers only the client's.
                    sock.connect(src)
                        .map_err(|e| io("connecting the server's UDP socket to the client", e))?;
                    client = Some(src);
                }
                match sock.send(&buf[..n]) {
                    Ok(_) => {}
                    // The reply is lost; the client times out and sends a new request.
                    Err(e)
                        if is_transient_send_error(&e)
                            || e.kind() == io::ErrorKind::ConnectionRefused => {}
                    Err(e) => return Err(io("sending a udp-rr reply", e)),
                }
            }
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::ConnectionRefused => {
                // Quiet (or the client's port is gone): has the client finished?
                idle += RR_IDLE_POLL;
                match poll_control(conn, &mut [0u8; 1])
                    .map_err(|e| io("watching the udp-rr control connection", e))?
                {
                    Some(0) => return Ok(()),
                    Some(_) => {
                        return Err(WorkloadError::Protocol {
                            peer,
                            detail: "unexpected data on the udp-rr control connection: run \
                                     the same cnbench build on both ends"
                                .into(),
                        })
                    }
                    None if idle > idle_limit => {
                        return Err(io(
                            "waiting for udp-rr requests",
                            io::ErrorKind::TimedOut.into(),
                        ))
                    }
                    None => {}
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io("receiving udp-rr requests", e)),
        }
    }
}
