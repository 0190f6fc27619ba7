//! udp-stream and udp-rr: the UDP workloads.
//!
//! Both start with the usual TCP control connection (header, ack). For them the server opens
//! a fresh UDP socket on the IP the client reached it on, an ephemeral port, and puts that
//! port and a random 64-bit cookie in its ack. Every datagram (see [`crate::protocol`])
//! starts with a sequence number and that cookie; a datagram of the wrong size or with
//! another cookie is a stray (a leftover of an earlier test, or someone else's) and ignored.
//!
//! **udp-stream**: the client sends `message_size`-byte datagrams with `sendmmsg`
//! ([`SEND_BATCH`] per call) for warm-up + duration + [`crate::stream::SEND_MARGIN`],
//! retrying on `ENOBUFS`/`EAGAIN`, and counts what the kernel took. It remembers the
//! sequence numbers it sent inside its own window (batches started between `start +
//! warm-up` and `start + warm-up + duration`) and, once it has stopped, sends them in a
//! trailer on the control connection. The server receives with `recvmmsg`
//! ([`RECV_BATCH`] per call, `MSG_WAITFORONE`), timestamps every batch on completion and
//! keeps its window like tcp-stream: it opens at the completion of the last batch at or
//! before `first datagram + warm-up` and counts the datagrams and payload bytes of the
//! batches completing up to `first datagram + warm-up + duration`. It records every sequence
//! number in a bitmap. After the trailer it drains until [`DRAIN_SILENCE`] passes without a
//! datagram (at most [`DRAIN_MAX`]), counts the distinct sequence numbers of the trailer's
//! range it received, and answers with a [`UdpStreamResult`].
//!
//! **udp-rr**: one datagram each way at a time over a connected client socket; one `send` and
//! one `recv` per side per transaction, no allocation. A reply whose sequence number is not
//! the one outstanding is stale (the answer to a request already given up on) and ignored.
//! A request unanswered after [`RETRY_TIMEOUT`] counts as a timeout and the client sends a
//! new request with a new sequence number: the given-up transaction is not recorded and the
//! new one is timed from its own send. The server echoes every request until the control
//! connection reaches end of file, then closes its socket.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use reports::{Sample, UdpStreamSample};

use crate::error::WorkloadError;
use crate::protocol::{
    self, encode_ack, new_cookie, Ack, Header, Reject, UdpStreamResult, UdpTrailer, UDP_PREFIX_LEN,
    UDP_RESULT_LEN, UDP_TRAILER_LEN,
};
use crate::round_trips::RoundTrips;
use crate::stream::SEND_MARGIN;
use crate::task::{ClientConfig, MAX_UDP_PAYLOAD};

/// Datagrams per `sendmmsg` call of the udp-stream sender.
pub(crate) const SEND_BATCH: usize = 64;
/// Datagrams per `recvmmsg` call of the udp-stream receiver (it returns as soon as at least
/// one is there).
pub(crate) const RECV_BATCH: usize = 64;
/// udp-stream: how long the sender sleeps when a send is refused with `ENOBUFS`.
const ENOBUFS_BACKOFF: Duration = Duration::from_micros(50);
/// udp-rr: how long the client waits for the reply to a request before counting a timeout
/// and sending a new request. Far above any round trip of a working datapath (µs to a few
/// ms, even emulated), so a timeout means a lost request or reply.
pub(crate) const RETRY_TIMEOUT: Duration = Duration::from_millis(200);
/// udp-stream: once the client's trailer is in, the server stops receiving after this long
/// without a datagram. The trailer is sent after the last datagram, so what is still on its
/// way is queued in the kernel and arrives within microseconds to milliseconds; 50 ms of
/// silence means nothing more is coming, without adding much to every repetition.
pub(crate) const DRAIN_SILENCE: Duration = Duration::from_millis(50);
/// udp-stream: the server stops draining this long after the trailer arrived, even if
/// datagrams (strays) keep coming.
pub(crate) const DRAIN_MAX: Duration = Duration::from_secs(2);
/// udp-stream: how often the server looks for the trailer while datagrams keep arriving.
const CONTROL_POLL: Duration = Duration::from_millis(100);
/// udp-rr: the server's receive timeout; after each one it checks whether the client closed
/// the control connection.
const RR_IDLE_POLL: Duration = Duration::from_millis(200);
/// udp-stream: the client's send timeout, so a send blocked on a full socket buffer still
/// sees the end of the test in time.
const SEND_BLOCK_LIMIT: Duration = Duration::from_millis(100);
/// Receive buffer the udp-stream server asks for, in bytes (the kernel caps it at
/// `net.core.rmem_max`).
const SERVER_RCVBUF: usize = 4 << 20;
/// Sequence numbers at or above this are not tracked (and counted as strays): it bounds the
/// server's bitmap at 512 MiB, which a sender at 10 million datagrams per second reaches
/// after about 7 minutes.
const SEQ_LIMIT: u64 = 1 << 32;
/// Rate the server's bitmap is preallocated for, in datagrams per second (a 12 s test:
/// 6 MiB); it grows if a faster sender needs more. Several times what a kernel datapath
/// delivered on the reference machines (MACHINE-NOTES: 723k 64-byte datagrams/s on veth).
const SEQ_PREALLOC_RATE: u64 = 4_000_000;

// ---------------------------------------------------------------------------------------------
// Client side.

/// The UDP workloads need room for the sequence number and the cookie in every datagram.
fn check_size(cfg: &ClientConfig) -> Result<(), WorkloadError> {
    if (cfg.message_size as usize) < UDP_PREFIX_LEN {
        return Err(WorkloadError::InvalidConfig {
            what: "message_size",
            reason: format!(
                "{} bytes is too small for {}: every datagram carries an 8-byte sequence \
                 number and an 8-byte test cookie, so use {UDP_PREFIX_LEN}..={MAX_UDP_PAYLOAD} \
                 (default: 64)",
                cfg.message_size, cfg.workload
            ),
        });
    }
    Ok(())
}

/// The client's UDP socket, connected to the port the server's ack names on the server's IP.
fn connect_udp(
    peer: SocketAddr,
    ack: &Ack,
    cfg: &ClientConfig,
) -> Result<(UdpSocket, SocketAddr), WorkloadError> {
    let port =
        ack.udp_port()
            .filter(|_| ack.cookie != 0)
            .ok_or_else(|| WorkloadError::Protocol {
                peer,
                detail: format!(
                    "the server accepted {} but its ack names no UDP port (aux {}, cookie {:#x}): \
                 run the same cnbench build on both ends",
                    cfg.workload, ack.aux, ack.cookie
                ),
            })?;
    let udp_peer = SocketAddr::new(peer.ip(), port);
    let local = if peer.is_ipv4() {
        SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))
    } else {
        SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))
    };
    let sock = UdpSocket::bind(local)
        .map_err(|e| WorkloadError::io(udp_peer, "opening the client's UDP socket", e))?;
    sock.connect(udp_peer)
        .map_err(|e| WorkloadError::io(udp_peer, "connecting the client's UDP socket", e))?;
    Ok((sock, udp_peer))
}

/// An error on the client's UDP socket; a refused one means the server's port is closed.
fn udp_error(udp_peer: SocketAddr, op: &'static str, source: io::Error) -> WorkloadError {
    if source.kind() == io::ErrorKind::ConnectionRefused {
        return WorkloadError::Io {
            peer: udp_peer,
            op,
            source,
            hint: "; the server's UDP port is closed (ICMP port unreachable): did the server \
                   agent exit? check its stderr",
        };
    }
    WorkloadError::io(udp_peer, op, source)
}

/// Send errors that mean "try again": a full socket buffer or device queue, a signal.
fn is_transient_send_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    ) || e.raw_os_error() == Some(libc::ENOBUFS)
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Fills a datagram: sequence number 0 (set per send), the cookie, a recognisable filler.
fn fill_datagram(d: &mut [u8], cookie: u64) {
    d[8..16].copy_from_slice(&cookie.to_be_bytes());
    for (i, b) in d[UDP_PREFIX_LEN..].iter_mut().enumerate() {
        *b = (i % 251) as u8;
    }
}

/// Runs a udp-stream test; `cfg` is already validated.
pub(crate) fn run_stream(cfg: &ClientConfig) -> Result<Sample, WorkloadError> {
    check_size(cfg)?;
    let peer = cfg.target;
    let (mut conn, ack) = protocol::open_with_ack(peer, &Header::of(cfg), true)?;
    let (sock, udp_peer) = connect_udp(peer, &ack, cfg)?;
    sock.set_write_timeout(Some(SEND_BLOCK_LIMIT))
        .map_err(|e| WorkloadError::io(udp_peer, "setting the UDP send timeout", e))?;

    let size = cfg.message_size as usize;
    let mut batch = Batch::new(SEND_BATCH, size);
    for i in 0..SEND_BATCH {
        fill_datagram(batch.slot_mut(i), ack.cookie);
    }

    let start = Instant::now();
    let open_at = start + Duration::from_millis(cfg.warmup_ms);
    let close_at = open_at + Duration::from_millis(cfg.duration_ms);
    let stop_at = close_at + SEND_MARGIN;
    let mut next_seq: u64 = 0;
    let mut first_in_window: Option<u64> = None;
    let mut sent_in_window: u64 = 0;
    loop {
        let t = Instant::now();
        if t >= stop_at {
            break;
        }
        for i in 0..SEND_BATCH {
            batch.slot_mut(i)[..8].copy_from_slice(&(next_seq + i as u64).to_be_bytes());
        }
        match send_batch(&sock, &mut batch, size) {
            Ok(k) => {
                if t >= open_at && t < close_at {
                    first_in_window.get_or_insert(next_seq);
                    sent_in_window += k as u64;
                }
                next_seq += k as u64;
            }
            Err(e) if is_transient_send_error(&e) => {
                if e.raw_os_error() == Some(libc::ENOBUFS) {
                    // A full queue on the way (a veth peer's backlog, a TUN nobody reads fast
                    // enough). It drains in softirq, which may run in ksoftirqd on this very
                    // CPU: sched_yield would not let it in, and spinning would starve it so
                    // that no datagram gets out for the whole window. Sleep briefly instead.
                    std::thread::sleep(ENOBUFS_BACKOFF);
                }
            }
            Err(e) => return Err(udp_error(udp_peer, "sending udp-stream datagrams", e)),
        }
    }
    drop(sock);

    let trailer = UdpTrailer {
        first_seq: first_in_window.unwrap_or(0),
        sent_in_window,
        sent_total: next_seq,
    };
    conn.write_all(&trailer.encode())
        .map_err(|e| WorkloadError::io(peer, "sending the udp-stream trailer", e))?;
    let mut b = [0u8; UDP_RESULT_LEN];
    conn.read_exact(&mut b)
        .map_err(|e| WorkloadError::io(peer, "reading the server's udp-stream result", e))?;
    let _ = conn.shutdown(Shutdown::Both);
    let r = UdpStreamResult::decode(&b).ok_or_else(|| WorkloadError::Protocol {
        peer,
        detail: "the udp-stream result did not start with the expected magic".into(),
    })?;
    stream_sample(cfg, &trailer, &r)
}

/// The udp-stream sample from what the client sent and the server measured.
fn stream_sample(
    cfg: &ClientConfig,
    sent: &UdpTrailer,
    r: &UdpStreamResult,
) -> Result<Sample, WorkloadError> {
    let peer = cfg.target;
    if sent.sent_in_window == 0 {
        return Err(WorkloadError::Measurement(format!(
            "udp-stream to {peer}: the client could not send a single datagram during its \
             {} ms window ({} in all): every send was refused with ENOBUFS/EAGAIN; is the \
             pod's interface up and its queue draining?",
            cfg.duration_ms, sent.sent_total
        )));
    }
    if r.received_in_range > sent.sent_in_window
        || r.received_total > sent.sent_total
        || r.packets_in_window > r.received_total
    {
        return Err(WorkloadError::Protocol {
            peer,
            detail: format!(
                "the server counted {} datagrams ({} of the {} sent in the client's window, \
                 {} in its own window) but this client sent {}: is a second test using the \
                 same UDP port?",
                r.received_total,
                r.received_in_range,
                sent.sent_in_window,
                r.packets_in_window,
                sent.sent_total
            ),
        });
    }
    if r.strays > 0 {
        eprintln!(
            "cnbench agent: udp-stream to {peer}: the server ignored {} stray or duplicate \
             datagrams (wrong size, cookie or sequence number)",
            r.strays
        );
    }
    let window_ns = if r.window_ns == 0 {
        // Nothing arrived inside the window (or at all): a measurement (the datapath
        // dropped it), counted over the nominal window.
        eprintln!(
            "cnbench agent: udp-stream to {peer}: no datagram arrived inside the {} ms window \
             ({} of {} sent arrived at all): counted as 0 packets/s",
            cfg.duration_ms, r.received_total, sent.sent_total
        );
        cfg.duration_ms.saturating_mul(1_000_000)
    } else {
        r.window_ns
    };
    let secs = window_ns as f64 / 1e9;
    Ok(Sample::UdpStream(UdpStreamSample {
        message_size_bytes: cfg.message_size,
        packets_sent: sent.sent_in_window,
        packets_received: r.packets_in_window,
        bytes_received: r.bytes_in_window,
        window_ns,
        packets_per_s: r.packets_in_window as f64 / secs,
        throughput_bps: r.bytes_in_window as f64 * 8.0 / secs,
        loss_percent: 100.0 * (1.0 - r.received_in_range as f64 / sent.sent_in_window as f64),
    }))
}

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

/// How one udp-rr request ended.
enum Attempt {
    /// The reply came: the round trip ran from the first instant to the second.
    Answered(Instant, Instant),
    /// No reply within [`RETRY_TIMEOUT`]; the instant it was given up.
    TimedOut(Instant),
}

impl RrClient {
    /// Sends a request with a new sequence number and waits for its reply.
    #[inline]
    fn attempt(&mut self) -> Result<Attempt, WorkloadError> {
        self.seq += 1;
        self.req[..8].copy_from_slice(&self.seq.to_be_bytes());
        let t0 = Instant::now();
        loop {
            match self.sock.send(&self.req) {
                Ok(_) => break,
                Err(e) if is_transient_send_error(&e) => {
                    if t0.elapsed() >= RETRY_TIMEOUT {
                        return Ok(Attempt::TimedOut(Instant::now()));
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
                        return Ok(Attempt::Answered(t0, t1));
                    }
                    // A stale reply or a stray: keep waiting, but not past the timeout.
                    if t1.duration_since(t0) >= RETRY_TIMEOUT {
                        return Ok(Attempt::TimedOut(t1));
                    }
                }
                Err(e) if is_timeout(&e) => return Ok(Attempt::TimedOut(Instant::now())),
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
    let mut rtts = RoundTrips::new()?;

    // Warm-up: same loop, nothing recorded (timeouts included). The window starts when the
    // last warm-up transaction ends.
    let start = Instant::now();
    let open_at = start + Duration::from_millis(cfg.warmup_ms);
    let mut window_start = start;
    while window_start < open_at {
        window_start = match c.attempt()? {
            Attempt::Answered(_, t1) => t1,
            Attempt::TimedOut(t) => t,
        };
    }

    let close_at = window_start + Duration::from_millis(cfg.duration_ms);
    let mut window_end = window_start;
    let mut timeouts: u64 = 0;
    while window_end < close_at {
        window_end = match c.attempt()? {
            Attempt::Answered(t0, t1) => {
                rtts.record(t0, t1)?;
                t1
            }
            Attempt::TimedOut(t) => {
                timeouts += 1;
                t
            }
        };
    }
    // Tell the server we are done: it closes its UDP socket on EOF.
    let _ = conn.shutdown(Shutdown::Both);

    if rtts.len() == 0 {
        return Err(WorkloadError::Measurement(format!(
            "udp-rr to {udp_peer}: no request was answered during the {} ms window ({timeouts} \
             timed out after {} ms each): does the datapath forward UDP between the pods?",
            cfg.duration_ms,
            RETRY_TIMEOUT.as_millis()
        )));
    }
    let window_ns = window_end.duration_since(window_start).as_nanos() as u64;
    Ok(Sample::UdpRr(rtts.sample(
        cfg.message_size,
        window_ns,
        timeouts,
    )))
}

// ---------------------------------------------------------------------------------------------
// Server side.

/// Opens the test's UDP socket on the IP the client reached the control connection on, an
/// ephemeral port, and acks the header with that port and `cookie`. If the socket cannot be
/// opened the client gets [`Reject::UdpSocket`]. Call it only once everything the test
/// needs is allocated: the client starts sending the moment it reads the ack.
fn open_server_socket(
    conn: &mut TcpStream,
    peer: SocketAddr,
    cookie: u64,
) -> Result<UdpSocket, WorkloadError> {
    let io = |op, e| WorkloadError::io(peer, op, e);
    let opened = conn
        .local_addr()
        .and_then(|local| UdpSocket::bind(SocketAddr::new(local.ip(), 0)))
        .and_then(|sock| sock.local_addr().map(|a| (sock, a.port())));
    let (sock, port) = match opened {
        Ok(s) => s,
        Err(e) => {
            let _ = conn.write_all(&encode_ack(Err(Reject::UdpSocket)));
            return Err(io("opening the server's UDP socket for the test", e));
        }
    };
    conn.write_all(&encode_ack(Ok(Ack {
        aux: u32::from(port),
        cookie,
    })))
    .map_err(|e| io("sending the ack", e))?;
    Ok(sock)
}

/// Reads what is there on the (non-blocking) control connection into `buf`: `Ok(Some(0))`
/// at end of file, `Ok(Some(n))` for `n` new bytes, `Ok(None)` if nothing has arrived.
fn poll_control(conn: &mut TcpStream, buf: &mut [u8]) -> io::Result<Option<usize>> {
    match conn.read(buf) {
        Ok(n) => Ok(Some(n)),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Serves one udp-stream test after the header: open the UDP socket, ack, receive until the
/// trailer and the drain, answer with the result.
pub(crate) fn serve_stream(
    conn: &mut TcpStream,
    header: &Header,
    peer: SocketAddr,
) -> Result<(), WorkloadError> {
    let io = |op, e| WorkloadError::io(peer, op, e);
    let cookie = new_cookie();
    let mut rx = StreamReceiver::new(header, cookie);
    let mut batch = Batch::new(RECV_BATCH, header.message_size as usize + 1);
    let sock = open_server_socket(conn, peer, cookie)?;
    // Best effort: the kernel caps it at net.core.rmem_max.
    let _ = socket2::SockRef::from(&sock).set_recv_buffer_size(SERVER_RCVBUF);
    sock.set_read_timeout(Some(DRAIN_SILENCE))
        .map_err(|e| io("setting the UDP receive timeout", e))?;
    conn.set_nonblocking(true)
        .map_err(|e| io("making the control connection non-blocking", e))?;
    let mut trailer_buf = [0u8; UDP_TRAILER_LEN];
    let mut trailer_got = 0;
    let mut trailer_in: Option<(UdpTrailer, Instant)> = None;
    let mut last_poll = Instant::now();
    let mut last_datagram = last_poll;
    let idle_limit = header.data_timeout();
    let trailer = loop {
        let r = recv_batch(&sock, &mut batch);
        let t = Instant::now();
        let silent = match r {
            Ok(n) => {
                last_datagram = t;
                rx.batch(&batch, n, t);
                false
            }
            Err(e) if is_timeout(&e) => true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io("receiving udp-stream datagrams", e)),
        };
        if trailer_in.is_none() && (silent || t.duration_since(last_poll) >= CONTROL_POLL) {
            last_poll = t;
            match poll_control(conn, &mut trailer_buf[trailer_got..])
                .map_err(|e| io("waiting for the udp-stream trailer", e))?
            {
                Some(0) => {
                    return Err(WorkloadError::Protocol {
                        peer,
                        detail: "the client closed the control connection before sending \
                                 its udp-stream trailer: check the client agent's stderr"
                            .into(),
                    })
                }
                Some(n) => {
                    trailer_got += n;
                    if trailer_got == UDP_TRAILER_LEN {
                        let tr = UdpTrailer::decode(&trailer_buf).ok_or_else(|| {
                            WorkloadError::Protocol {
                                peer,
                                detail: "the udp-stream trailer is malformed: run the same \
                                         cnbench build on both ends"
                                    .into(),
                            }
                        })?;
                        trailer_in = Some((tr, t));
                    }
                }
                None => {}
            }
        }
        match trailer_in {
            Some((tr, at)) if silent || t.duration_since(at) >= DRAIN_MAX => break tr,
            None if t.duration_since(last_datagram) > idle_limit => {
                return Err(io(
                    "waiting for udp-stream datagrams or the trailer",
                    io::ErrorKind::TimedOut.into(),
                ))
            }
            _ => {}
        }
    };
    drop(sock);
    let result = rx.result(&trailer);
    conn.set_nonblocking(false)
        .map_err(|e| io("making the control connection blocking", e))?;
    conn.write_all(&result.encode())
        .map_err(|e| io("sending the udp-stream result", e))?;
    conn.flush()
        .map_err(|e| io("sending the udp-stream result", e))
}

/// The udp-stream receive side: the window (as tcp-stream's, per `recvmmsg` batch) and the
/// set of sequence numbers received.
struct StreamReceiver {
    size: usize,
    cookie: [u8; 8],
    warmup: Duration,
    duration: Duration,
    /// `(open_at, close_at)`, set by the first batch with a valid datagram.
    edges: Option<(Instant, Instant)>,
    /// Completion of the last batch at or before `open_at`: where the window starts.
    start: Option<Instant>,
    /// Completion of the last batch inside the window.
    last_in_window: Option<Instant>,
    /// Whether a batch completed after `close_at`, i.e. the traffic outlasted the window.
    after_close: bool,
    packets_in_window: u64,
    bytes_in_window: u64,
    seen: SeqSet,
    strays: u64,
}

impl StreamReceiver {
    fn new(header: &Header, cookie: u64) -> StreamReceiver {
        // The client sends for warm-up + duration + a margin; one second covers the margin.
        let secs = (header.warmup_ms.saturating_add(header.duration_ms) / 1000).saturating_add(1);
        StreamReceiver {
            size: header.message_size as usize,
            cookie: cookie.to_be_bytes(),
            warmup: Duration::from_millis(header.warmup_ms),
            duration: Duration::from_millis(header.duration_ms),
            edges: None,
            start: None,
            last_in_window: None,
            after_close: false,
            packets_in_window: 0,
            bytes_in_window: 0,
            seen: SeqSet::with_capacity(secs.saturating_mul(SEQ_PREALLOC_RATE)),
            strays: 0,
        }
    }

    /// Takes the `n` datagrams of one `recvmmsg` batch that completed at `t`.
    fn batch(&mut self, batch: &Batch, n: usize, t: Instant) {
        let mut valid: u64 = 0;
        for i in 0..n {
            let d = batch.received(i);
            if d.len() == self.size
                && d[8..16] == self.cookie
                && self
                    .seen
                    .insert(u64::from_be_bytes(d[..8].try_into().expect("8 bytes")))
            {
                valid += 1;
            } else {
                self.strays += 1;
            }
        }
        if valid > 0 {
            self.window(t, valid);
        }
    }

    /// The window, fed with the completion time of a batch of `valid` datagrams.
    fn window(&mut self, t: Instant, valid: u64) {
        let Some((open_at, close_at)) = self.edges else {
            // The first datagram: the window opens warm-up later.
            let open_at = t + self.warmup;
            self.edges = Some((open_at, open_at + self.duration));
            self.start = Some(t);
            return;
        };
        if t <= open_at {
            self.start = Some(t);
        } else if t <= close_at {
            self.packets_in_window += valid;
            self.bytes_in_window += valid * self.size as u64;
            self.last_in_window = Some(t);
        } else {
            self.after_close = true;
        }
    }

    /// The window's length: from its start to `close_at` if the traffic outlasted it (so
    /// loss at its end lowers the rate), else to the last batch in it (the sender stopped
    /// early: the window shrinks rather than the rate drop). 0 if nothing arrived inside
    /// the window.
    fn window_ns(&self) -> u64 {
        let (Some(start), Some((_, close_at))) = (self.start, self.edges) else {
            return 0;
        };
        let end = if self.after_close {
            close_at
        } else {
            self.last_in_window.unwrap_or(start)
        };
        end.duration_since(start).as_nanos() as u64
    }

    fn result(&self, tr: &UdpTrailer) -> UdpStreamResult {
        UdpStreamResult {
            packets_in_window: self.packets_in_window,
            bytes_in_window: self.bytes_in_window,
            window_ns: self.window_ns(),
            received_in_range: self.seen.count_range(tr.first_seq, tr.sent_in_window),
            received_total: self.seen.len(),
            strays: self.strays,
        }
    }
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
    let sock = open_server_socket(conn, peer, cookie)?;
    let cookie = cookie.to_be_bytes();
    sock.set_read_timeout(Some(RR_IDLE_POLL))
        .map_err(|e| io("setting the UDP receive timeout", e))?;
    conn.set_nonblocking(true)
        .map_err(|e| io("making the control connection non-blocking", e))?;
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

// ---------------------------------------------------------------------------------------------
// Sequence numbers and batched syscalls.

/// The set of sequence numbers received: a bitmap indexed by sequence number.
struct SeqSet {
    words: Vec<u64>,
    len: u64,
}

impl SeqSet {
    /// A set preallocated for sequence numbers below `seqs` (fresh memory is zeroed lazily
    /// by the kernel, so untouched parts cost little); it grows past that when needed.
    fn with_capacity(seqs: u64) -> SeqSet {
        let words = seqs.min(SEQ_LIMIT).div_ceil(64).max(1) as usize;
        SeqSet {
            words: vec![0u64; words],
            len: 0,
        }
    }

    /// Adds `seq`; `false` if it was in the set already or is not tracked (≥ `SEQ_LIMIT`).
    #[inline]
    fn insert(&mut self, seq: u64) -> bool {
        if seq >= SEQ_LIMIT {
            return false;
        }
        let w = (seq / 64) as usize;
        if w >= self.words.len() {
            let grown = (w + 1).max(self.words.len().saturating_mul(2));
            self.words.resize(grown, 0);
        }
        let bit = 1u64 << (seq % 64);
        if self.words[w] & bit != 0 {
            return false;
        }
        self.words[w] |= bit;
        self.len += 1;
        true
    }

    /// How many distinct sequence numbers are in the set.
    fn len(&self) -> u64 {
        self.len
    }

    /// How many of `first .. first + count` are in the set.
    fn count_range(&self, first: u64, count: u64) -> u64 {
        let end = first
            .saturating_add(count)
            .min(self.words.len() as u64 * 64);
        if first >= end {
            return 0;
        }
        let (first_word, last_word) = (first / 64, (end - 1) / 64);
        (first_word..=last_word)
            .map(|w| {
                let mut word = self.words[w as usize];
                if w == first_word {
                    word &= u64::MAX << (first % 64);
                }
                let top = end - w * 64; // bits of this word below `end`, 1..=64 in the last
                if w == last_word && top < 64 {
                    word &= (1u64 << top) - 1;
                }
                u64::from(word.count_ones())
            })
            .sum()
    }
}

/// `count` datagram buffers of `slot` bytes each, and the `iovec`/`mmsghdr` arrays that
/// `sendmmsg`/`recvmmsg` take. The arrays' pointers are set by [`Batch::arm`] right before
/// each call, from the vectors' current addresses, so no pointer outlives a borrow.
struct Batch {
    bufs: Vec<u8>,
    slot: usize,
    iov: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
}

impl Batch {
    fn new(count: usize, slot: usize) -> Batch {
        let iov = (0..count)
            .map(|_| libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            })
            .collect();
        let hdrs = (0..count)
            .map(|_| {
                // SAFETY: mmsghdr is a C struct of integers and raw pointers only; all-zero
                // bytes are a valid value of it (null pointers, zero lengths and flags).
                unsafe { std::mem::zeroed::<libc::mmsghdr>() }
            })
            .collect();
        Batch {
            // Not zeros: writing every page now keeps page faults out of the first batches.
            bufs: vec![0xA5u8; count * slot],
            slot,
            iov,
            hdrs,
        }
    }

    fn count(&self) -> usize {
        self.hdrs.len()
    }

    fn slot_mut(&mut self, i: usize) -> &mut [u8] {
        &mut self.bufs[i * self.slot..(i + 1) * self.slot]
    }

    /// The `i`th datagram of the last `recvmmsg` (as many bytes as it returned).
    fn received(&self, i: usize) -> &[u8] {
        let len = (self.hdrs[i].msg_len as usize).min(self.slot);
        &self.bufs[i * self.slot..i * self.slot + len]
    }

    /// Points every header at its own slot, `len` bytes of it (`len <= slot`), and returns
    /// the header array for the syscall.
    fn arm(&mut self, len: usize) -> *mut libc::mmsghdr {
        debug_assert!(len <= self.slot);
        let base = self.bufs.as_mut_ptr();
        for (i, v) in self.iov.iter_mut().enumerate() {
            v.iov_base = base.wrapping_add(i * self.slot).cast();
            v.iov_len = len;
        }
        let iov = self.iov.as_mut_ptr();
        for (i, h) in self.hdrs.iter_mut().enumerate() {
            h.msg_hdr.msg_iov = iov.wrapping_add(i);
            h.msg_hdr.msg_iovlen = 1;
            h.msg_len = 0;
        }
        self.hdrs.as_mut_ptr()
    }
}

/// Sends the first `len` bytes of every slot as one datagram each, in one `sendmmsg`, on a
/// connected socket; returns how many the kernel took (the rest were not sent).
fn send_batch(sock: &UdpSocket, batch: &mut Batch, len: usize) -> io::Result<usize> {
    let count = batch.count();
    let hdrs = batch.arm(len);
    // SAFETY: `hdrs` points to `count` initialised mmsghdr, each with a null name (the socket
    // is connected) and one iovec of `len` bytes inside its own slot of `batch.bufs`. All of
    // it is owned by `batch`, which stays mutably borrowed (so unmoved and unchanged) until
    // the call returns; the fd belongs to `sock`, borrowed for the call as well.
    let n = unsafe { libc::sendmmsg(sock.as_raw_fd(), hdrs, count as libc::c_uint, 0) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Receives up to `batch.count()` datagrams in one `recvmmsg`: blocks (up to the socket's
/// receive timeout) for the first, then takes whatever else is queued. Returns how many.
fn recv_batch(sock: &UdpSocket, batch: &mut Batch) -> io::Result<usize> {
    let count = batch.count();
    let slot = batch.slot;
    let hdrs = batch.arm(slot);
    // SAFETY: `hdrs` points to `count` initialised mmsghdr, each with a null name (no source
    // address wanted), no control buffer and one iovec of `slot` bytes inside its own slot
    // of `batch.bufs`: the kernel writes at most that into it, and msg_len/msg_flags into
    // the header. All of it is owned by `batch`, mutably borrowed until the call returns;
    // the fd belongs to `sock`; a null timeout is allowed (the socket timeout applies).
    let n = unsafe {
        libc::recvmmsg(
            sock.as_raw_fd(),
            hdrs,
            count as libc::c_uint,
            libc::MSG_WAITFORONE,
            std::ptr::null_mut(),
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::Workload;

    #[test]
    fn seq_set_counts_distinct_numbers_in_a_range() {
        let mut s = SeqSet::with_capacity(10);
        for seq in [0, 1, 5, 63, 64, 65, 127, 128, 1_000, 70_000] {
            assert!(s.insert(seq));
        }
        assert!(!s.insert(5), "a duplicate is not new");
        assert!(!s.insert(SEQ_LIMIT), "beyond the limit is not tracked");
        assert_eq!(s.len(), 10);
        assert_eq!(s.count_range(0, 1), 1);
        assert_eq!(s.count_range(0, 64), 4);
        assert_eq!(s.count_range(1, 63), 3);
        assert_eq!(s.count_range(63, 2), 2);
        assert_eq!(s.count_range(64, 64), 3);
        assert_eq!(s.count_range(2, 3), 0);
        assert_eq!(s.count_range(0, 200_000), 10);
        assert_eq!(s.count_range(70_000, 1), 1);
        assert_eq!(s.count_range(70_001, u64::MAX), 0);
        assert_eq!(s.count_range(5, 0), 0);
    }

    fn receiver(warmup_ms: u64, duration_ms: u64) -> StreamReceiver {
        StreamReceiver::new(
            &Header {
                workload: Workload::UdpStream,
                warmup_ms,
                duration_ms,
                message_size: 100,
            },
            7,
        )
    }

    #[test]
    fn window_counts_batches_between_its_edges() {
        let mut rx = receiver(10, 50);
        let t0 = Instant::now();
        // A batch of 4 every ms from t=1 to t=100.
        for ms in 1..=100u64 {
            rx.window(t0 + Duration::from_millis(ms), 4);
        }
        // First at t=1; opens after the batch at t=11, closes with the one at t=61.
        assert_eq!(rx.window_ns(), 50_000_000);
        assert_eq!(rx.packets_in_window, 200);
        assert_eq!(rx.bytes_in_window, 20_000);
    }

    #[test]
    fn a_sender_stopping_early_shortens_the_window_and_loss_at_the_end_does_not() {
        let t0 = Instant::now();
        let mut rx = receiver(10, 50);
        for ms in 1..=30u64 {
            rx.window(t0 + Duration::from_millis(ms), 1);
        }
        assert_eq!(rx.window_ns(), 19_000_000);
        assert_eq!(rx.packets_in_window, 19);

        // Traffic from t=1 to 30, nothing from 31 to 70, then again: the silence is loss.
        let mut rx = receiver(10, 50);
        for ms in (1..=30u64).chain(71..=80) {
            rx.window(t0 + Duration::from_millis(ms), 1);
        }
        assert_eq!(rx.window_ns(), 50_000_000);
        assert_eq!(rx.packets_in_window, 19);
    }

    #[test]
    fn nothing_received_is_a_zero_window() {
        let rx = receiver(10, 50);
        assert_eq!(rx.window_ns(), 0);
        let r = rx.result(&UdpTrailer {
            first_seq: 0,
            sent_in_window: 10,
            sent_total: 20,
        });
        assert_eq!(r.window_ns, 0);
        assert_eq!(r.received_in_range, 0);
    }

    #[test]
    fn batches_drop_strays_and_duplicates() {
        let mut rx = receiver(0, 50);
        let mut b = Batch::new(4, 101);
        let good = |seq: u64| {
            let mut d = vec![0u8; 100];
            fill_datagram(&mut d, 7);
            d[..8].copy_from_slice(&seq.to_be_bytes());
            d
        };
        let mut wrong_cookie = good(3);
        wrong_cookie[15] = 8;
        let datagrams = [good(1), good(1), wrong_cookie, good(2)[..99].to_vec()];
        for (i, d) in datagrams.iter().enumerate() {
            b.slot_mut(i)[..d.len()].copy_from_slice(d);
            b.hdrs[i].msg_len = d.len() as u32;
        }
        rx.batch(&b, 4, Instant::now());
        assert_eq!(rx.seen.len(), 1);
        assert_eq!(rx.strays, 3);
    }
}
