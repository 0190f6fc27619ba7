//! The round trips of a request/response test (tcp-rr, udp-rr, tcp-crr): the warm-up and
//! the window ([`measure`]), and one HdrHistogram in nanoseconds summarised into an
//! [`RrSample`]. The three workloads differ only in what one transaction is; the window
//! rules are written once here so that their figures compare.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use reports::RrSample;

use crate::error::WorkloadError;

/// Highest round trip the histogram is sized for without resizing, in ns (one hour). It
/// still grows past that (auto-resize), but no real round trip gets there before a timeout.
const HIST_HIGH_NS: u64 = 3_600 * 1_000_000_000;

/// The round trips of a request/response test (tcp-rr, udp-rr, tcp-crr): an HdrHistogram in
/// ns with 3 significant digits, every workload summarised alike.
pub(crate) struct RoundTrips {
    hist: Histogram<u64>,
}

impl RoundTrips {
    pub(crate) fn new() -> Result<RoundTrips, WorkloadError> {
        let mut hist = Histogram::<u64>::new_with_bounds(1, HIST_HIGH_NS, 3)
            .map_err(|e| WorkloadError::Measurement(format!("creating the histogram: {e}")))?;
        hist.auto(true);
        Ok(RoundTrips { hist })
    }

    /// Records the round trip from `t0` to `t1` (at least 1 ns).
    #[inline]
    pub(crate) fn record(&mut self, t0: Instant, t1: Instant) -> Result<(), WorkloadError> {
        let ns = t1.duration_since(t0).as_nanos() as u64;
        self.hist
            .record(ns.max(1))
            .map_err(|e| WorkloadError::Measurement(format!("recording a round trip: {e}")))
    }

    /// Round trips recorded so far.
    pub(crate) fn len(&self) -> u64 {
        self.hist.len()
    }

    /// The sample: every field of [`RrSample`] from the histogram and the window (ns).
    pub(crate) fn sample(&self, message_size: u32, window_ns: u64, timeouts: u64) -> RrSample {
        let h = &self.hist;
        let transactions = h.len();
        let transactions_per_s = if window_ns == 0 {
            0.0
        } else {
            transactions as f64 / (window_ns as f64 / 1e9)
        };
        RrSample {
            message_size_bytes: message_size,
            timeouts,
            transactions,
            window_ns,
            transactions_per_s,
            rtt_min_ns: h.min(),
            rtt_mean_ns: h.mean(),
            rtt_p50_ns: h.value_at_quantile(0.50),
            rtt_p90_ns: h.value_at_quantile(0.90),
            rtt_p99_ns: h.value_at_quantile(0.99),
            rtt_p999_ns: h.value_at_quantile(0.999),
            rtt_max_ns: h.max(),
        }
    }
}

/// How one transaction of a request/response test ended.
pub(crate) enum Transaction {
    /// Answered: the round trip ran from the first instant to the second.
    Answered(Instant, Instant),
    /// Given up at this instant (udp-rr: no reply within its retry timeout): not recorded,
    /// counted as a timeout.
    TimedOut(Instant),
}

/// The measured part of a request/response test: its round trips, its window and the
/// transactions given up in it.
pub(crate) struct Measured {
    pub(crate) trips: RoundTrips,
    pub(crate) window_ns: u64,
    pub(crate) timeouts: u64,
}

impl Measured {
    /// The sample of a test with `message_size`-byte messages.
    pub(crate) fn sample(&self, message_size: u32) -> RrSample {
        self.trips
            .sample(message_size, self.window_ns, self.timeouts)
    }
}

/// Runs `transact` back to back: first for `warmup`, nothing recorded (timeouts included);
/// the window starts when the last warm-up transaction ends. Then until `duration` has passed
/// since that start, recording every answered round trip; the window ends when the last
/// measured transaction ends, so it holds whole transactions only.
pub(crate) fn measure(
    warmup: Duration,
    duration: Duration,
    mut transact: impl FnMut() -> Result<Transaction, WorkloadError>,
) -> Result<Measured, WorkloadError> {
    let mut trips = RoundTrips::new()?;
    let start = Instant::now();
    let open_at = start + warmup;
    let mut window_start = start;
    while window_start < open_at {
        window_start = match transact()? {
            Transaction::Answered(_, t1) => t1,
            Transaction::TimedOut(t) => t,
        };
    }

    let close_at = window_start + duration;
    let mut window_end = window_start;
    let mut timeouts: u64 = 0;
    while window_end < close_at {
        window_end = match transact()? {
            Transaction::Answered(t0, t1) => {
                trips.record(t0, t1)?;
                t1
            }
            Transaction::TimedOut(t) => {
                timeouts += 1;
                t
            }
        };
    }
    Ok(Measured {
        trips,
        window_ns: window_end.duration_since(window_start).as_nanos() as u64,
        timeouts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_orders_percentiles_and_rates() {
        let mut r = RoundTrips::new().unwrap();
        let t0 = Instant::now();
        for v in 1..=10_000u64 {
            r.record(t0, t0 + Duration::from_micros(v)).unwrap();
        }
        let s = r.sample(64, 2_000_000_000, 3);
        assert_eq!(s.transactions, 10_000);
        assert_eq!(r.len(), 10_000);
        assert_eq!(s.timeouts, 3);
        assert_eq!(s.message_size_bytes, 64);
        assert!((s.transactions_per_s - 5_000.0).abs() < 1e-6);
        assert!(s.rtt_min_ns <= s.rtt_p50_ns);
        assert!(s.rtt_p50_ns <= s.rtt_p90_ns);
        assert!(s.rtt_p90_ns <= s.rtt_p99_ns);
        assert!(s.rtt_p99_ns <= s.rtt_p999_ns);
        assert!(s.rtt_p999_ns <= s.rtt_max_ns);
        assert!((s.rtt_p50_ns as f64 - 5_000_000.0).abs() / 5e6 < 0.001);
        assert!((s.rtt_mean_ns - 5_000_500.0).abs() / 5e6 < 0.001);
    }

    #[test]
    fn warm_up_is_not_recorded_and_the_window_holds_whole_transactions() {
        // A made-up clock 1 s per transaction, far ahead of the real one, so the outcome
        // does not depend on how fast this runs: transaction k ends at base + k s.
        let base = Instant::now();
        let sec = Duration::from_secs(1);
        let mut k = 0u32;
        let m = measure(sec * 5 / 2, sec * 7 / 2, || {
            k += 1;
            let (t0, t1) = (base + sec * (k - 1), base + sec * k);
            // The fifth is given up: a timeout inside the window, not a round trip.
            Ok(if k == 5 {
                Transaction::TimedOut(t1)
            } else {
                Transaction::Answered(t0, t1)
            })
        })
        .unwrap();
        // Warm-up: 1, 2, 3 (3 s is the first end past 2.5 s); the window runs from 3 s
        // until an end at or past 3 s + 3.5 s: 4, 5, 6, 7.
        assert_eq!(k, 7);
        assert_eq!(m.window_ns, 4_000_000_000);
        assert_eq!((m.trips.len(), m.timeouts), (3, 1));
        let s = m.sample(64);
        assert_eq!((s.transactions, s.timeouts), (3, 1));
        // 1 s, within the histogram's 3 significant digits.
        assert!(
            (s.rtt_min_ns as f64 - 1e9).abs() / 1e9 < 0.001,
            "{}",
            s.rtt_min_ns
        );
    }

    #[test]
    fn a_zero_round_trip_is_recorded_as_one_ns() {
        let mut r = RoundTrips::new().unwrap();
        let t = Instant::now();
        r.record(t, t).unwrap();
        assert_eq!(r.sample(1, 1, 0).rtt_min_ns, 1);
    }
}
