//! Wall clocks of the places a run's processes live, and how far each is from the harness's.
//!
//! Probe agents stamp their send times with `CLOCK_REALTIME` of the machine they run on, and a
//! fault's window is stamped with the harness's. On this machine the two are one clock. A VM
//! node's is not: its kernel sets the clock at boot from the emulated RTC, which has whole
//! seconds only (`rtc_cmos: setting system clock to ...`) and ticks them from QEMU's start, so
//! a freshly booted VM runs up to a second behind or ahead of the harness, and every boot
//! draws a new offset (measured on the VM substrate: −0.79 to +0.26 s, each steady within
//! ±5 ms over 40 s). A remote host's clock is whatever its NTP made it. Times reported from
//! there are therefore put on the harness's clock with an offset measured over the control
//! channel, never compared raw.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The current `CLOCK_REALTIME`, in ns since the Unix epoch (0 before 1970).
pub fn realtime_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// How far another machine's clock is from the harness's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClockOffset {
    /// Its clock minus the harness's, in ns: add it to a harness time to get the same instant
    /// on the other clock, subtract it from a time read there to get the harness's.
    pub offset_ns: i64,
    /// Half the round trip of the reading it comes from, in ns: the true offset lies within
    /// `offset_ns ± uncertainty_ns`.
    pub uncertainty_ns: u64,
}

impl ClockOffset {
    /// The same clock (this machine's).
    pub const NONE: ClockOffset = ClockOffset {
        offset_ns: 0,
        uncertainty_ns: 0,
    };

    /// A harness time as the other clock reads the same instant.
    pub fn to_remote(self, harness_ns: u64) -> u64 {
        harness_ns.saturating_add_signed(self.offset_ns)
    }

    /// A time read on the other clock as the harness's clock reads the same instant.
    pub fn to_harness(self, remote_ns: u64) -> u64 {
        remote_ns.saturating_add_signed(self.offset_ns.saturating_neg())
    }
}

/// One reading of another clock: the harness's time when it asked and when the answer came,
/// and the time the other side read in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockSample {
    /// Harness `CLOCK_REALTIME` when the request left, ns.
    pub sent_ns: u64,
    /// The other side's `CLOCK_REALTIME` when it handled the request, ns.
    pub remote_ns: u64,
    /// Harness `CLOCK_REALTIME` when the answer arrived, ns.
    pub received_ns: u64,
}

/// The offset from the sample with the shortest round trip (the one least delayed in either
/// direction), taking the other side's reading as made halfway through it, as NTP's
/// client does (RFC 5905 §8). None without samples.
pub fn offset_from(samples: &[ClockSample]) -> Option<ClockOffset> {
    let best = samples
        .iter()
        .filter(|s| s.received_ns >= s.sent_ns)
        .min_by_key(|s| s.received_ns - s.sent_ns)?;
    let rtt = best.received_ns - best.sent_ns;
    let midpoint = best.sent_ns + rtt / 2;
    Some(ClockOffset {
        offset_ns: (i128::from(best.remote_ns) - i128::from(midpoint))
            .clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64,
        uncertainty_ns: rtt / 2,
    })
}

/// Readings taken to measure an offset: the shortest round trip of a few is close to the
/// channel's true delay even on an emulated VM.
pub const CLOCK_SAMPLES: usize = 5;

/// Measures the offset of the clock `read` reads (one reading per call), from
/// [`CLOCK_SAMPLES`] readings, giving up on the rest after `limit`.
pub fn measure<E>(
    limit: Duration,
    mut read: impl FnMut() -> Result<u64, E>,
) -> Result<ClockOffset, E> {
    let deadline = Instant::now() + limit;
    let mut samples = Vec::with_capacity(CLOCK_SAMPLES);
    for _ in 0..CLOCK_SAMPLES {
        let sent_ns = realtime_ns();
        let remote_ns = read()?;
        let received_ns = realtime_ns();
        samples.push(ClockSample {
            sent_ns,
            remote_ns,
            received_ns,
        });
        if Instant::now() >= deadline {
            break;
        }
    }
    Ok(offset_from(&samples).unwrap_or(ClockOffset::NONE))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;
    const T0: u64 = 1_796_542_700 * S;

    #[test]
    fn the_shortest_round_trip_decides_and_the_reading_is_taken_at_its_middle() {
        // The other clock is 0.667 s behind. A slow reading (20 ms out, 1 ms back) would put
        // it 9.5 ms further off; the 2 ms round trip decides.
        let behind = 667_000_000u64;
        let samples = [
            ClockSample {
                sent_ns: T0,
                remote_ns: T0 + 20_000_000 - behind,
                received_ns: T0 + 21_000_000,
            },
            ClockSample {
                sent_ns: T0 + S,
                remote_ns: T0 + S + 1_000_000 - behind,
                received_ns: T0 + S + 2_000_000,
            },
        ];
        let o = offset_from(&samples).unwrap();
        assert_eq!(o.offset_ns, -(behind as i64));
        assert_eq!(o.uncertainty_ns, 1_000_000);
        // Harness time -> the other clock and back.
        assert_eq!(o.to_remote(T0), T0 - behind);
        assert_eq!(o.to_harness(T0 - behind), T0);
        assert_eq!(offset_from(&[]), None);
    }

    #[test]
    fn a_clock_ahead_and_the_same_clock() {
        let o = offset_from(&[ClockSample {
            sent_ns: T0,
            remote_ns: T0 + 3 * S + 500,
            received_ns: T0 + 1000,
        }])
        .unwrap();
        assert_eq!((o.offset_ns, o.uncertainty_ns), (3 * S as i64, 500));
        assert_eq!(o.to_harness(T0 + 3 * S + 500), T0 + 500);
        let same = measure::<()>(Duration::from_secs(1), || Ok(realtime_ns())).unwrap();
        assert!(same.offset_ns.abs() < 10_000_000, "{same:?}");
        assert_eq!(ClockOffset::NONE.to_harness(T0), T0);
    }
}
