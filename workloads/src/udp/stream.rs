//! udp-stream, both ends: the client's sender and the server's receive loop.
//!
//! The client sends `message_size`-byte datagrams with `sendmmsg`
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
//! range it received, and answers with a [`UdpStreamResult`]. What the server counts, and
//! how its window is kept, is in [`super::receiver`]; the batched syscalls in
//! [`super::mmsg`].

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use reports::{Sample, UdpStreamSample};

use crate::error::WorkloadError;
use crate::protocol::{
    self, new_cookie, Header, UdpStreamResult, UdpTrailer, UDP_RESULT_LEN, UDP_TRAILER_LEN,
};
use crate::stream::SEND_MARGIN;
use crate::task::ClientConfig;

use super::mmsg::{recv_batch, send_batch, Batch};
use super::receiver::StreamReceiver;
use super::{
    check_size, connect_udp, fill_datagram, is_timeout, is_transient_send_error,
    open_server_socket, poll_control, udp_error, ENOBUFS_BACKOFF,
};

/// Datagrams per `sendmmsg` call of the udp-stream sender.
pub(crate) const SEND_BATCH: usize = 64;
/// Datagrams per `recvmmsg` call of the udp-stream receiver (it returns as soon as at least
/// one is there).
pub(crate) const RECV_BATCH: usize = 64;
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
/// udp-stream: the client's send timeout, so a send blocked on a full socket buffer still
/// sees the end of the test in time.
const SEND_BLOCK_LIMIT: Duration = Duration::from_millis(100);
/// Receive buffer the udp-stream server asks for, in bytes (the kernel caps it at
/// `net.core.rmem_max`).
const SERVER_RCVBUF: usize = 4 << 20;

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
        sent_in_window_received: Some(r.received_in_range),
        bytes_received: r.bytes_in_window,
        window_ns,
        packets_per_s: r.packets_in_window as f64 / secs,
        throughput_bps: r.bytes_in_window as f64 * 8.0 / secs,
        loss_percent: 100.0 * (1.0 - r.received_in_range as f64 / sent.sent_in_window as f64),
    }))
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
    let sock = open_server_socket(conn, peer, cookie, DRAIN_SILENCE)?;
    // Best effort: the kernel caps it at net.core.rmem_max.
    let _ = socket2::SockRef::from(&sock).set_recv_buffer_size(SERVER_RCVBUF);
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
