//! tcp-stream: bulk TCP throughput, measured at the receiver.
//!
//! The client opens every connection (header, ack) before any data flows, then one thread per
//! connection writes `message_size` buffers until warm-up + duration + [`SEND_MARGIN`] has
//! passed, half-closes, and reads the server's [`StreamResult`].
//!
//! The server timestamps every `recv` (into a reused 256 KiB buffer) on completion. Its window
//! opens at the completion of the last `recv` at or before `first byte + warm-up` and closes
//! at the completion of the last `recv` at or before `first byte + warm-up + duration`; the
//! bytes counted are exactly those returned by the `recv`s completing in between. So the
//! figure is "bytes delivered to the application between two instants / the time between
//! them", with no rounding at the edges, and a sender that stops early shortens the window
//! instead of inflating the rate.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use reports::{Sample, TcpStreamSample};

use crate::error::WorkloadError;
use crate::protocol::{self, Header, StreamResult};
use crate::task::ClientConfig;

/// Size of the server's receive buffer, in bytes (256 KiB, reused for the whole connection).
pub const RECV_BUF_SIZE: usize = 256 << 10;

/// How long the client keeps sending after warm-up + duration, so the server's window (which
/// starts at its first byte, a little after the client's start) is fully covered.
pub const SEND_MARGIN: Duration = Duration::from_millis(100);

/// Runs a tcp-stream test; `cfg` is already validated.
pub(crate) fn run(cfg: &ClientConfig) -> Result<Sample, WorkloadError> {
    let header = Header::of(cfg);
    // Connect everything first, so a refused connection fails the test before any traffic
    // and all streams start together.
    let conns = (0..cfg.streams)
        .map(|_| protocol::open(cfg.target, &header, false))
        .collect::<Result<Vec<_>, _>>()?;

    // One buffer shared by all sender threads; a recognisable pattern rather than zeros.
    let buf: Vec<u8> = (0..cfg.message_size).map(|i| (i % 251) as u8).collect();
    let deadline = Instant::now() + cfg.test_length() + SEND_MARGIN;
    let peer = cfg.target;

    let results = std::thread::scope(|s| {
        let handles: Vec<_> = conns
            .into_iter()
            .map(|conn| {
                let buf = &buf[..];
                std::thread::Builder::new()
                    .name("cnbench-stream".into())
                    .spawn_scoped(s, move || send(conn, buf, deadline, peer))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h {
                Ok(h) => h.join().unwrap_or_else(|_| {
                    Err(WorkloadError::Measurement(
                        "a tcp-stream sender thread panicked".into(),
                    ))
                }),
                Err(e) => Err(WorkloadError::Measurement(format!(
                    "starting a tcp-stream sender thread failed: {e}"
                ))),
            })
            .collect::<Vec<_>>()
    });

    let mut bytes: u64 = 0;
    let mut window_sum: u128 = 0;
    for (i, r) in results.into_iter().enumerate() {
        let r = r?;
        if r.window_ns == 0 {
            // No receive completed inside the window: the connection stalled for all of it.
            // That is a measurement (nothing was delivered), not a failure: count the bytes
            // as zero over the nominal window, and say so.
            eprintln!(
                "cnbench agent: tcp-stream to {peer}, stream {i}: no data arrived inside the \
                 {} ms window ({} bytes in all): counted as 0 bit/s",
                cfg.duration_ms, r.bytes_total
            );
            window_sum += u128::from(cfg.duration_ms) * 1_000_000;
            continue;
        }
        bytes += r.bytes_in_window;
        // docs/design.md §6: bytes received in the window / the window. The nominal window, not the
        // span between the first and last receive inside it: a stall at its end must lower
        // the rate, not shorten the time it is divided by.
        window_sum += u128::from(cfg.duration_ms) * 1_000_000;
    }
    // The windows of all streams cover (nearly) the same interval; their mean is the
    // interval the summed bytes were delivered in.
    let window_ns = (window_sum / u128::from(cfg.streams)) as u64;
    let throughput_bps = bytes as f64 * 8.0 / (window_ns as f64 / 1e9);
    Ok(Sample::TcpStream(TcpStreamSample {
        streams: cfg.streams,
        message_size_bytes: cfg.message_size,
        bytes_received: bytes,
        window_ns,
        throughput_bps,
    }))
}

/// One sender: write until the deadline, half-close, read the server's result and check it
/// against what was sent.
fn send(
    mut conn: TcpStream,
    buf: &[u8],
    deadline: Instant,
    peer: SocketAddr,
) -> Result<StreamResult, WorkloadError> {
    let mut sent: u64 = 0;
    loop {
        conn.write_all(buf)
            .map_err(|e| WorkloadError::io(peer, "sending tcp-stream data", e))?;
        sent += buf.len() as u64;
        if Instant::now() >= deadline {
            break;
        }
    }
    conn.shutdown(Shutdown::Write)
        .map_err(|e| WorkloadError::io(peer, "half-closing the tcp-stream connection", e))?;
    let result = StreamResult::read_from(&mut conn, peer)?;
    if result.bytes_total != sent || result.bytes_in_window > result.bytes_total {
        return Err(WorkloadError::Protocol {
            peer,
            detail: format!(
                "the server counted {} bytes ({} in the window) but this stream sent {sent}: \
                 is a second test using the same connection?",
                result.bytes_total, result.bytes_in_window
            ),
        });
    }
    Ok(result)
}

/// Serves one tcp-stream connection after the header: count, then reply after the client's
/// half-close.
pub(crate) fn serve(conn: &mut TcpStream, header: &Header) -> std::io::Result<()> {
    let result = receive(&mut *conn, header, Instant::now)?;
    conn.write_all(&result.encode())?;
    conn.flush()
}

/// Receive side state: the reused buffer and the running byte count.
struct Receiver<R> {
    conn: R,
    buf: Vec<u8>,
    total: u64,
}

impl<R: Read> Receiver<R> {
    /// One `recv` (retried on EINTR); 0 means the client half-closed.
    fn recv(&mut self) -> std::io::Result<usize> {
        loop {
            match self.conn.read(&mut self.buf) {
                Ok(n) => {
                    self.total += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads and discards until the client half-closes.
    fn drain(&mut self) -> std::io::Result<()> {
        while self.recv()? != 0 {}
        Ok(())
    }

    fn nothing_measured(&self) -> StreamResult {
        StreamResult {
            bytes_total: self.total,
            ..StreamResult::default()
        }
    }
}

/// The receive loop, with the clock injected for tests. Phases: wait for the first byte,
/// warm-up, window, drain to EOF.
fn receive(
    conn: impl Read,
    header: &Header,
    mut now: impl FnMut() -> Instant,
) -> std::io::Result<StreamResult> {
    let mut rx = Receiver {
        conn,
        buf: vec![0u8; RECV_BUF_SIZE],
        total: 0,
    };
    if rx.recv()? == 0 {
        return Ok(rx.nothing_measured());
    }
    let first = now();
    let open_at = first + Duration::from_millis(header.warmup_ms);
    let close_at = open_at + Duration::from_millis(header.duration_ms);

    // Warm-up: the window starts at the completion of the last recv at or before `open_at`.
    let mut start = first;
    let (mut bytes, mut end) = loop {
        let n = rx.recv()?;
        if n == 0 {
            return Ok(rx.nothing_measured());
        }
        let t = now();
        if t <= open_at {
            start = t;
        } else if t <= close_at {
            break (n as u64, t);
        } else {
            // The connection stalled through the whole window.
            rx.drain()?;
            return Ok(rx.nothing_measured());
        }
    };

    // Window: count every recv completing at or before `close_at`.
    loop {
        let n = rx.recv()?;
        if n == 0 {
            break;
        }
        let t = now();
        if t > close_at {
            rx.drain()?;
            break;
        }
        bytes += n as u64;
        end = t;
    }

    Ok(StreamResult {
        bytes_in_window: bytes,
        window_ns: end.duration_since(start).as_nanos() as u64,
        bytes_total: rx.total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::Workload;
    use std::cell::Cell;
    use std::rc::Rc;

    /// A reader that returns `chunk` bytes per read, `reads` times, and advances a fake
    /// clock by `step` before each read returns.
    struct FakeConn {
        chunk: usize,
        reads: usize,
        step: Duration,
        clock: Rc<Cell<Instant>>,
    }

    impl Read for FakeConn {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.reads == 0 {
                return Ok(0);
            }
            self.reads -= 1;
            self.clock.set(self.clock.get() + self.step);
            Ok(self.chunk.min(buf.len()))
        }
    }

    fn header(warmup_ms: u64, duration_ms: u64) -> Header {
        Header {
            workload: Workload::TcpStream,
            warmup_ms,
            duration_ms,
            message_size: 1000,
        }
    }

    #[test]
    fn window_counts_only_recvs_between_its_edges() {
        let clock = Rc::new(Cell::new(Instant::now()));
        // 1 ms per recv of 1000 bytes, 100 recvs; window: warm-up 10 ms, duration 50 ms.
        let conn = FakeConn {
            chunk: 1000,
            reads: 100,
            step: Duration::from_millis(1),
            clock: clock.clone(),
        };
        let c = clock.clone();
        let r = receive(conn, &header(10, 50), move || c.get()).unwrap();
        // First byte at t=1; window opens after the recv at t=11, closes with the one at t=61.
        assert_eq!(r.window_ns, 50_000_000);
        assert_eq!(r.bytes_in_window, 50_000);
        assert_eq!(r.bytes_total, 100_000);
    }

    #[test]
    fn sender_stopping_early_shortens_the_window() {
        let clock = Rc::new(Cell::new(Instant::now()));
        let conn = FakeConn {
            chunk: 1000,
            reads: 30,
            step: Duration::from_millis(1),
            clock: clock.clone(),
        };
        let c = clock.clone();
        let r = receive(conn, &header(10, 50), move || c.get()).unwrap();
        // Recvs at t=1..30; window from t=11 to t=30.
        assert_eq!(r.window_ns, 19_000_000);
        assert_eq!(r.bytes_in_window, 19_000);
        assert_eq!(r.bytes_total, 30_000);
    }

    #[test]
    fn eof_during_warmup_measures_nothing() {
        let clock = Rc::new(Cell::new(Instant::now()));
        let conn = FakeConn {
            chunk: 1000,
            reads: 5,
            step: Duration::from_millis(1),
            clock: clock.clone(),
        };
        let c = clock.clone();
        let r = receive(conn, &header(10, 50), move || c.get()).unwrap();
        assert_eq!(r.window_ns, 0);
        assert_eq!(r.bytes_in_window, 0);
        assert_eq!(r.bytes_total, 5000);
    }
}
