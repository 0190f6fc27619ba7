//! The absolute send schedule of a probe agent ([`super`], "Pacing"): when each send slot
//! is due and which late slots are skipped, as integer arithmetic on ns so that it neither
//! drifts nor bursts. No I/O, so it is tested on made-up clocks.

/// Send rounds per peer: those whose time `k / rate` lies before the end of the duration.
fn rounds(rate_pps: u64, duration_ms: u64) -> u64 {
    let r = (u128::from(rate_pps) * u128::from(duration_ms)).div_ceil(1000);
    r.min(u128::from(u64::MAX)) as u64
}

/// The send schedule, in ns relative to the agent's monotonic epoch.
pub(super) struct Schedule {
    start_rel_ns: i128,
    /// Slots per second over all peers.
    total_rate: u128,
    peers: u64,
    /// Send slots over all peers; the agent lowers it to stop early.
    pub(super) slots: u64,
}

impl Schedule {
    /// The schedule of `peers` peers probed at `rate_pps` each for `duration_ms`, starting
    /// `start_rel_ns` after the agent's epoch.
    pub(super) fn new(start_rel_ns: i128, rate_pps: u64, peers: u64, duration_ms: u64) -> Self {
        Schedule {
            start_rel_ns,
            total_rate: u128::from(rate_pps) * u128::from(peers),
            peers,
            slots: rounds(rate_pps, duration_ms) * peers,
        }
    }

    /// When slot `g` is due: `start + floor(g * 1e9 / total_rate)`, exact at any `g`.
    pub(super) fn deadline(&self, g: u64) -> i128 {
        debug_assert!(self.peers > 0);
        self.start_rel_ns + (u128::from(g) * 1_000_000_000 / self.total_rate) as i128
    }

    /// Goes through the slots from `*g` that are due at `now_rel`, calling `f(peer, true)`
    /// for each to send and `f(peer, false)` for each to skip (a newer slot of the same peer
    /// is due too), and advances `*g` past them.
    pub(super) fn due(&self, g: &mut u64, now_rel: i128, mut f: impl FnMut(usize, bool)) {
        while *g < self.slots && self.deadline(*g) <= now_rel {
            let newer = *g + self.peers;
            let skip = newer < self.slots && self.deadline(newer) <= now_rel;
            f((*g % self.peers) as usize, !skip);
            *g += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_cover_the_duration() {
        assert_eq!(rounds(1000, 1000), 1000);
        assert_eq!(rounds(1, 500), 1);
        assert_eq!(rounds(3, 1000), 3);
        assert_eq!(rounds(3, 1001), 4);
        let s = Schedule {
            start_rel_ns: -5,
            total_rate: 3000,
            peers: 3,
            slots: 3000,
        };
        assert_eq!(s.deadline(0), -5);
        assert_eq!(s.deadline(1), 333_333 - 5);
        assert_eq!(s.deadline(3), 1_000_000 - 5);
        assert_eq!(s.deadline(2999), 999_666_666 - 5);
    }

    #[test]
    fn a_late_wake_up_sends_one_probe_per_peer_and_skips_the_rest() {
        // 3 peers at 1000/s: a slot every 333 µs, each peer's every 1 ms.
        let s = Schedule {
            start_rel_ns: 0,
            total_rate: 3000,
            peers: 3,
            slots: 3000,
        };
        let mut g = 0;
        let mut calls = Vec::new();
        // On time: slot 0 only.
        s.due(&mut g, 0, |j, send| calls.push((j, send)));
        assert_eq!((g, &calls[..]), (1, &[(0, true)][..]));
        // 200 µs late for slot 1: slots 1 and 2 late but still the newest of their peers.
        calls.clear();
        s.due(&mut g, 866_666, |j, send| calls.push((j, send)));
        assert_eq!(calls, [(1, true), (2, true)]);
        // 10.5 ms behind: slots 3..=33 due; each peer sends only its newest.
        calls.clear();
        s.due(&mut g, 11_166_666, |j, send| calls.push((j, send)));
        assert_eq!(g, 34);
        let sent: Vec<usize> = calls.iter().filter(|c| c.1).map(|c| c.0).collect();
        assert_eq!(sent, [1, 2, 0]);
        assert_eq!(calls.iter().filter(|c| !c.1).count(), 31 - 3);
        // A start 0.5 s in the past: the first wake-up skips what is past.
        let past = Schedule {
            start_rel_ns: -500_000_000,
            ..s
        };
        let (mut g, mut sent, mut skipped) = (0, 0, 0);
        past.due(
            &mut g,
            0,
            |_, send| if send { sent += 1 } else { skipped += 1 },
        );
        assert_eq!((sent, skipped), (3, 1500 - 3 + 1));
        // The end of the schedule: nothing past the last slot.
        let mut g = 0;
        let mut n = 0;
        s.due(&mut g, i128::MAX / 2, |_, send| n += usize::from(send));
        assert_eq!((g, n), (3000, 3));
    }
}
