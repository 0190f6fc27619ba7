//! Checks shared by the workload tests.

use reports::RrSample;

/// A round-trip sample whose figures hang together: the message size asked for, some
/// transactions, and min ≤ p50 ≤ p90 ≤ p99 ≤ p99.9 ≤ max with the mean between min and max.
pub fn assert_rr_ordered(s: &RrSample, message_size: u32) {
    assert_eq!(s.message_size_bytes, message_size, "{s:?}");
    assert!(s.transactions > 0, "{s:?}");
    assert!(s.rtt_min_ns > 0, "{s:?}");
    assert!(s.rtt_min_ns <= s.rtt_p50_ns, "{s:?}");
    assert!(s.rtt_p50_ns <= s.rtt_p90_ns, "{s:?}");
    assert!(s.rtt_p90_ns <= s.rtt_p99_ns, "{s:?}");
    assert!(s.rtt_p99_ns <= s.rtt_p999_ns, "{s:?}");
    assert!(s.rtt_p999_ns <= s.rtt_max_ns, "{s:?}");
    assert!(
        (s.rtt_min_ns as f64..=s.rtt_max_ns as f64).contains(&s.rtt_mean_ns),
        "{s:?}"
    );
}
