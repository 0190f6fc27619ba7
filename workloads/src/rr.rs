//! tcp-rr: one transaction at a time over one connection with `TCP_NODELAY` on both ends.
//!
//! A transaction is: the client writes `message_size` bytes, the server reads exactly that
//! many and writes them back, the client reads them. The client takes a timestamp before its
//! write and after its read; every round trip after warm-up goes into an HdrHistogram (ns,
//! 3 significant digits). The hot loop is two blocking syscalls per side per transaction
//! (`write`, `read`) and no allocation, so what it measures is the datapath and the
//! scheduler, not the generator.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use reports::{RrSample, Sample};

use crate::error::WorkloadError;
use crate::protocol::{self, Header};
use crate::task::ClientConfig;

/// Highest round trip the histogram is sized for without resizing, in ns (one hour). It
/// still grows past that (auto-resize), but no real round trip gets there before a timeout.
const HIST_HIGH_NS: u64 = 3_600 * 1_000_000_000;

/// Runs a tcp-rr test; `cfg` is already validated.
pub(crate) fn run(cfg: &ClientConfig) -> Result<Sample, WorkloadError> {
    let peer = cfg.target;
    let header = Header {
        workload: cfg.workload,
        warmup_ms: cfg.warmup_ms,
        duration_ms: cfg.duration_ms,
        message_size: cfg.message_size,
    };
    let mut conn = protocol::open(peer, &header, true)?;

    let mut hist = Histogram::<u64>::new_with_bounds(1, HIST_HIGH_NS, 3)
        .map_err(|e| WorkloadError::Measurement(format!("creating the histogram: {e}")))?;
    hist.auto(true);
    let mut buf = vec![0xA5u8; cfg.message_size as usize];
    let io_err = |e| WorkloadError::io(peer, "a tcp-rr transaction", e);

    // Warm-up: same loop, nothing recorded. The window starts when the last warm-up
    // transaction completes.
    let start = Instant::now();
    let open_at = start + Duration::from_millis(cfg.warmup_ms);
    let mut window_start = start;
    while window_start < open_at {
        transact(&mut conn, &mut buf).map_err(io_err)?;
        window_start = Instant::now();
    }

    let close_at = window_start + Duration::from_millis(cfg.duration_ms);
    let mut window_end = window_start;
    while window_end < close_at {
        let t0 = Instant::now();
        transact(&mut conn, &mut buf).map_err(io_err)?;
        window_end = Instant::now();
        let rtt_ns = window_end.duration_since(t0).as_nanos() as u64;
        hist.record(rtt_ns.max(1))
            .map_err(|e| WorkloadError::Measurement(format!("recording a round trip: {e}")))?;
    }
    // Tell the server we are done; it ends the connection's thread on EOF. Failure here
    // does not affect the measurement.
    let _ = conn.shutdown(Shutdown::Both);

    let window_ns = window_end.duration_since(window_start).as_nanos() as u64;
    Ok(Sample::TcpRr(summarise(&hist, cfg.message_size, window_ns)))
}

/// One transaction: write the request, read the response of the same size.
#[inline]
fn transact(conn: &mut TcpStream, buf: &mut [u8]) -> std::io::Result<()> {
    conn.write_all(buf)?;
    conn.read_exact(buf)
}

/// The sample from the histogram of round trips (ns) and the measured window (ns).
fn summarise(hist: &Histogram<u64>, message_size: u32, window_ns: u64) -> RrSample {
    let transactions = hist.len();
    let transactions_per_s = if window_ns == 0 {
        0.0
    } else {
        transactions as f64 / (window_ns as f64 / 1e9)
    };
    RrSample {
        message_size_bytes: message_size,
        timeouts: 0,
        transactions,
        window_ns,
        transactions_per_s,
        rtt_min_ns: hist.min(),
        rtt_mean_ns: hist.mean(),
        rtt_p50_ns: hist.value_at_quantile(0.50),
        rtt_p90_ns: hist.value_at_quantile(0.90),
        rtt_p99_ns: hist.value_at_quantile(0.99),
        rtt_p999_ns: hist.value_at_quantile(0.999),
        rtt_max_ns: hist.max(),
    }
}

/// Serves one tcp-rr connection after the header: echo `message_size`-byte messages until
/// the client closes. The caller has set `TCP_NODELAY` already.
pub(crate) fn serve(conn: &mut TcpStream, header: &Header) -> std::io::Result<()> {
    let mut buf = vec![0u8; header.message_size as usize];
    while protocol::read_exact_or_eof(conn, &mut buf)? {
        conn.write_all(&buf)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_orders_percentiles_and_rates() {
        let mut h = Histogram::<u64>::new_with_bounds(1, HIST_HIGH_NS, 3).unwrap();
        for v in 1..=10_000u64 {
            h.record(v * 1000).unwrap();
        }
        let s = summarise(&h, 64, 2_000_000_000);
        assert_eq!(s.transactions, 10_000);
        assert!((s.transactions_per_s - 5_000.0).abs() < 1e-6);
        assert!(s.rtt_min_ns <= s.rtt_p50_ns);
        assert!(s.rtt_p50_ns <= s.rtt_p90_ns);
        assert!(s.rtt_p90_ns <= s.rtt_p99_ns);
        assert!(s.rtt_p99_ns <= s.rtt_p999_ns);
        assert!(s.rtt_p999_ns <= s.rtt_max_ns);
        // 3 significant digits: within 0.1 %.
        assert!((s.rtt_p50_ns as f64 - 5_000_000.0).abs() / 5e6 < 0.001);
        assert!((s.rtt_mean_ns - 5_000_500.0).abs() / 5e6 < 0.001);
    }
}
