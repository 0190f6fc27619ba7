//! The round trips of a request/response test (tcp-rr, udp-rr, tcp-crr): one HdrHistogram in
//! nanoseconds, summarised into an [`RrSample`].

use std::time::Instant;

use hdrhistogram::Histogram;
use reports::RrSample;

use crate::error::WorkloadError;

/// Highest round trip the histogram is sized for without resizing, in ns (one hour). It
/// still grows past that (auto-resize), but no real round trip gets there before a timeout.
const HIST_HIGH_NS: u64 = 3_600 * 1_000_000_000;

/// The round trips of a request/response test (udp-rr, tcp-crr): an HdrHistogram in ns with
/// 3 significant digits, every workload summarised alike.
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
    fn a_zero_round_trip_is_recorded_as_one_ns() {
        let mut r = RoundTrips::new().unwrap();
        let t = Instant::now();
        r.record(t, t).unwrap();
        assert_eq!(r.sample(1, 1, 0).rtt_min_ns, 1);
    }
}
