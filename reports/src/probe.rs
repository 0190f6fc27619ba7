//! What a paced probe stream saw, per peer, and the figures of a fault drawn from it.
//!
//! During a fault every pod runs a probe agent (`workloads::probe`): it sends
//! sequence-numbered UDP probes to every other pod at a fixed rate and answers theirs. Each
//! agent reports a [`ProbeReport`]: per peer, how many probes it sent and how many were
//! answered within the reply timeout, the round trips, and every [`LossRun`] (a maximal run of
//! consecutive unanswered probes) with the send times of its first and last probe.
//!
//! # Clocks
//!
//! Every `*_unix_ns` figure is `CLOCK_REALTIME` in ns since the Unix epoch, read by the agent
//! that *sent* the probe: a loss run and a recovery time are in the sender's clock, so they
//! need nothing from the peer's clock. They are compared with the harness's fault times (also
//! `CLOCK_REALTIME`), which is exact for agents on the harness's machine; the report of an
//! agent on another machine (a VM node, whose clock is up to a second off) is first put on
//! the harness's clock with [`ProbeReport::to_harness_clock`], and the offset used is kept in
//! the result ([`NodeClock`]). Round trips are measured with `CLOCK_MONOTONIC` and do not
//! depend on clock steps.
//!
//! # From reports to a fault's figures
//!
//! - [`lost_between`]: the probes of one pair sent inside a time window that were lost.
//! - [`recovered_at`]: when one pair answers again for good after a time.
//! - [`ProbeSummary::new`]: both over every pair of every report, for one fault window.

use serde::{Deserialize, Serialize};

/// One probe agent's result: what it saw towards every peer.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct ProbeReport {
    /// The agent's own probe address (its bind address, `IP:PORT`).
    pub from: String,
    /// Probes sent to each peer per second.
    #[serde(default)]
    pub rate_pps: u64,
    /// How long a probe may wait for its reply before it counts as lost, in ns.
    #[serde(default)]
    pub reply_timeout_ns: u64,
    /// One entry per peer, in the order of the agent's peer list.
    pub peers: Vec<PeerProbe>,
}

impl ProbeReport {
    /// Puts every send time of the report on the harness's clock: `offset_ns` is the agent
    /// machine's clock minus the harness's (subtracted from each time).
    pub fn to_harness_clock(&mut self, offset_ns: i64) {
        let shift = |t: &mut u64| {
            if *t != 0 {
                *t = t.saturating_add_signed(offset_ns.saturating_neg());
            }
        };
        for p in &mut self.peers {
            shift(&mut p.first_sent_unix_ns);
            shift(&mut p.last_sent_unix_ns);
            for run in &mut p.losses {
                shift(&mut run.first_sent_unix_ns);
                shift(&mut run.last_sent_unix_ns);
                if let Some(t) = &mut run.answered_again_unix_ns {
                    shift(t);
                }
            }
        }
    }
}

/// How far the wall clock of a node whose probe agents ran on another machine (a VM) was from
/// the harness's when its agents started: their send times were moved by it before any figure
/// was drawn from them.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct NodeClock {
    /// The node (`n1`).
    pub node: String,
    /// Its clock minus the harness's, in ns.
    pub offset_ns: i64,
    /// Half the round trip of the reading the offset comes from, in ns: the offset is exact
    /// within this.
    pub uncertainty_ns: u64,
}

/// The probe stream from one agent to one peer (one directed pod pair).
///
/// Every probe the agent sent is either answered or lost:
/// `sent == answered + sum(losses[].count)`. Sequence numbers count sent probes only
/// (0, 1, 2, ...); a skipped slot takes none.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct PeerProbe {
    /// The peer's probe address (`IP:PORT`).
    pub peer: String,
    /// Probes sent (including those the kernel refused to send, which count as lost).
    pub sent: u64,
    /// Probes whose reply arrived within the reply timeout.
    pub answered: u64,
    /// Send slots left out because the agent fell more than one interval behind its
    /// schedule (it never bursts to catch up). Not probes: neither sent nor lost.
    pub skipped: u64,
    /// Probes the kernel refused to send (`ENETUNREACH`, `EHOSTUNREACH`, `ENOBUFS`, ...);
    /// counted in `sent` and lost.
    #[serde(default)]
    pub send_errors: u64,
    /// Replies that arrived after the reply timeout (their probes count as lost) or twice.
    #[serde(default)]
    pub late_replies: u64,
    /// Send time of the first probe, `CLOCK_REALTIME` ns since the Unix epoch (0 if none).
    pub first_sent_unix_ns: u64,
    /// Send time of the last probe, `CLOCK_REALTIME` ns since the Unix epoch (0 if none).
    pub last_sent_unix_ns: u64,
    /// Median round trip of the answered probes, in ns (0 if none was answered).
    pub rtt_p50_ns: u64,
    /// Longest round trip of the answered probes, in ns (0 if none was answered).
    pub rtt_max_ns: u64,
    /// Every maximal run of consecutive unanswered probes, in sequence order.
    pub losses: Vec<LossRun>,
}

/// A maximal run of consecutive lost probes: the probe before it (if any) and the probe
/// after it (if any) were answered.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct LossRun {
    /// Sequence number of the first lost probe.
    pub first_seq: u64,
    /// How many consecutive probes were lost (at least 1).
    pub count: u64,
    /// Send time of the first lost probe, `CLOCK_REALTIME` ns since the Unix epoch.
    pub first_sent_unix_ns: u64,
    /// Send time of the last lost probe, `CLOCK_REALTIME` ns since the Unix epoch.
    pub last_sent_unix_ns: u64,
    /// Send time of the answered probe that ended the run, `CLOCK_REALTIME` ns since the Unix
    /// epoch; `None` if the run lasted to the end of the stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_again_unix_ns: Option<u64>,
}

impl LossRun {
    /// How many probes of this run were sent in `[from_ns, to_ns)`. The run's probes were sent
    /// at paced intervals, so they are taken as evenly spread between its first and last send
    /// time: exact when the window holds the whole run or none of it, and off by at most one
    /// probe at each window edge otherwise (more only if the agent skipped slots inside the
    /// run).
    pub fn lost_between(&self, from_ns: u64, to_ns: u64) -> u64 {
        if from_ns >= to_ns || self.count == 0 {
            return 0;
        }
        self.index_at_or_after(to_ns) - self.index_at_or_after(from_ns)
    }

    /// The number of this run's probes sent before `t_ns`, i.e. the index of the first one
    /// sent at or after it. Probe `i` of `n + 1` is taken as sent at
    /// `first + floor(span * i / n)`.
    fn index_at_or_after(&self, t_ns: u64) -> u64 {
        let first = self.first_sent_unix_ns;
        let last = self.last_sent_unix_ns.max(first);
        if t_ns <= first {
            return 0;
        }
        if t_ns > last {
            return self.count;
        }
        // Here first < t <= last, so the span is > 0 and count >= 2 if the run is consistent.
        let n = u128::from(self.count.saturating_sub(1));
        let span = u128::from(last - first);
        let need = u128::from(t_ns - first) * n;
        // The smallest i with floor(span * i / n) >= t - first, i.e. span * i >= need.
        let i = need.div_ceil(span);
        (i as u64).min(self.count)
    }
}

/// How many probes of the pair were sent in `[from_ns, to_ns)` (`CLOCK_REALTIME` ns, the
/// sender's clock) and lost. See [`LossRun::lost_between`] for the precision at the edges.
pub fn lost_between(p: &PeerProbe, from_ns: u64, to_ns: u64) -> u64 {
    p.losses
        .iter()
        .map(|run| run.lost_between(from_ns, to_ns))
        .sum()
}

/// When the pair answers again for good after `after_ns` (`CLOCK_REALTIME` ns): the send
/// time of the first answered probe after which no probe was lost.
///
/// - If no probe sent at or after `after_ns` was lost, `after_ns` itself: the pair was
///   answering already (a recovery time of 0).
/// - If some were, the send time of the probe that ended the last loss run.
/// - `None` if the pair never answered again: the last loss run lasted to the end of the
///   stream, or the stream ended before `after_ns` (nothing shows that it recovered).
pub fn recovered_at(p: &PeerProbe, after_ns: u64) -> Option<u64> {
    if p.sent == 0 || p.last_sent_unix_ns < after_ns {
        return None;
    }
    match p.losses.last() {
        Some(run) if run.last_sent_unix_ns >= after_ns => run.answered_again_unix_ns,
        _ => Some(after_ns),
    }
}

/// The figures of one fault over every directed pair of every agent's report.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct ProbeSummary {
    /// Start of the fault window, `CLOCK_REALTIME` ns since the Unix epoch.
    pub event_start_unix_ns: u64,
    /// End of the fault window (the fault was undone), `CLOCK_REALTIME` ns since the epoch.
    pub event_end_unix_ns: u64,
    /// Directed pairs (agent → peer) probed.
    pub pairs: u64,
    /// Probes sent over all pairs.
    pub sent: u64,
    /// Probes lost over all pairs, at any time of the run.
    pub lost_total: u64,
    /// Probes lost over all pairs that were sent inside the fault window.
    pub lost_during: u64,
    /// Probes lost over all pairs that were sent after the fault window (until the pairs
    /// answered again).
    pub lost_after: u64,
    /// The longest time over all pairs that recovered from the fault's end until the pair
    /// answered again for good, in ns: `max(recovered_at - event_end)`; 0 if no pair was
    /// interrupted after the fault's end.
    pub recovery_ns: u64,
    /// The pairs that never answered again after the fault's end, as `"FROM -> PEER"`.
    pub never_recovered: Vec<String>,
}

impl ProbeSummary {
    /// Sums `reports` over the fault window `[event_start_ns, event_end_ns)` (`CLOCK_REALTIME`
    /// ns). A probe sent just before the window and lost to the fault is counted in
    /// `lost_total` only; a caller that wants it in `lost_during` starts the window one reply
    /// timeout early.
    pub fn new(reports: &[ProbeReport], event_start_ns: u64, event_end_ns: u64) -> Self {
        Self::labelled(reports, event_start_ns, event_end_ns, &|from, peer| {
            format!("{from} -> {peer}")
        })
    }

    /// As [`ProbeSummary::new`], with the pairs that never recovered named by `name(agent
    /// address, peer address)` (pod labels rather than addresses).
    pub fn labelled(
        reports: &[ProbeReport],
        event_start_ns: u64,
        event_end_ns: u64,
        name: &dyn Fn(&str, &str) -> String,
    ) -> Self {
        let mut s = ProbeSummary {
            event_start_unix_ns: event_start_ns,
            event_end_unix_ns: event_end_ns,
            ..ProbeSummary::default()
        };
        for report in reports {
            for p in &report.peers {
                s.pairs += 1;
                s.sent += p.sent;
                s.lost_total += p.sent.saturating_sub(p.answered);
                s.lost_during += lost_between(p, event_start_ns, event_end_ns);
                s.lost_after += lost_between(p, event_end_ns, u64::MAX);
                match recovered_at(p, event_end_ns) {
                    Some(t) => s.recovery_ns = s.recovery_ns.max(t.saturating_sub(event_end_ns)),
                    None => s.never_recovered.push(name(&report.from, &p.peer)),
                }
            }
        }
        s
    }

    /// Whether every pair answered again after the fault.
    pub fn recovered(&self) -> bool {
        self.never_recovered.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    /// An arbitrary start time, so the figures are not near 0.
    const T0: u64 = 1_700_000_000_000_000_000;

    /// A pair probed once per ms from `T0` for `n` probes (seq i sent at T0 + i ms), with the
    /// probes in `lost` (half-open seq ranges) unanswered.
    fn pair(peer: &str, n: u64, lost: &[(u64, u64)]) -> PeerProbe {
        let at = |seq: u64| T0 + seq * MS;
        let losses: Vec<LossRun> = lost
            .iter()
            .map(|&(a, b)| LossRun {
                first_seq: a,
                count: b - a,
                first_sent_unix_ns: at(a),
                last_sent_unix_ns: at(b - 1),
                answered_again_unix_ns: (b < n).then(|| at(b)),
            })
            .collect();
        let lost_n: u64 = losses.iter().map(|r| r.count).sum();
        PeerProbe {
            peer: peer.into(),
            sent: n,
            answered: n - lost_n,
            first_sent_unix_ns: at(0),
            last_sent_unix_ns: at(n - 1),
            rtt_p50_ns: 50_000,
            rtt_max_ns: 90_000,
            losses,
            ..PeerProbe::default()
        }
    }

    /// The lost probes of `p` sent in the window, counted one by one.
    fn brute_force(lost: &[(u64, u64)], from: u64, to: u64) -> u64 {
        lost.iter()
            .flat_map(|&(a, b)| a..b)
            .filter(|&s| (from..to).contains(&(T0 + s * MS)))
            .count() as u64
    }

    #[test]
    fn lost_between_counts_the_lost_probes_sent_in_the_window() {
        let lost = [(100, 300), (500, 501), (900, 1000)];
        let p = pair("b", 1000, &lost);
        assert_eq!(lost_between(&p, 0, u64::MAX), 301);
        assert_eq!(lost_between(&p, T0 + 100 * MS, T0 + 300 * MS), 200);
        assert_eq!(lost_between(&p, T0 + 100 * MS, T0 + 299 * MS), 199);
        assert_eq!(lost_between(&p, T0 + 150 * MS, T0 + 150 * MS + 1), 1);
        assert_eq!(lost_between(&p, T0 + 150 * MS + 1, T0 + 151 * MS), 0);
        assert_eq!(lost_between(&p, T0 + 300 * MS, T0 + 500 * MS), 0);
        assert_eq!(lost_between(&p, T0 + 300 * MS, T0 + 500 * MS + 1), 1);
        assert_eq!(lost_between(&p, T0 + 5 * MS, T0), 0, "empty window");
        // Every window, against counting probe by probe (the spacing is exact here).
        for from in (0..1100).step_by(7) {
            for to in (from..1100).step_by(13) {
                let (f, t) = (T0 + from * MS - 3, T0 + to * MS + 5);
                assert_eq!(
                    lost_between(&p, f, t),
                    brute_force(&lost, f, t),
                    "{from}..{to}"
                );
            }
        }
    }

    #[test]
    fn a_single_probe_run_and_a_degenerate_span() {
        let run = LossRun {
            first_seq: 4,
            count: 1,
            first_sent_unix_ns: 10,
            last_sent_unix_ns: 10,
            answered_again_unix_ns: Some(11),
        };
        assert_eq!(run.lost_between(0, 10), 0);
        assert_eq!(run.lost_between(10, 11), 1);
        assert_eq!(run.lost_between(11, 20), 0);
        // Inconsistent input (several probes in one ns) does not panic or overcount.
        let run = LossRun { count: 3, ..run };
        assert_eq!(run.lost_between(0, u64::MAX), 3);
        assert_eq!(run.lost_between(10, 11), 3);
    }

    #[test]
    fn recovered_at_is_the_probe_that_ended_the_last_loss_run() {
        let p = pair("b", 1000, &[(100, 300), (400, 450)]);
        // A fault ending inside the second run: answered again at seq 450.
        assert_eq!(recovered_at(&p, T0 + 420 * MS), Some(T0 + 450 * MS));
        // Ending before both runs: the last one decides.
        assert_eq!(recovered_at(&p, T0 + 50 * MS), Some(T0 + 450 * MS));
        // Ending after every loss: answering already.
        assert_eq!(recovered_at(&p, T0 + 450 * MS), Some(T0 + 450 * MS));
        assert_eq!(recovered_at(&p, T0 + 700 * MS), Some(T0 + 700 * MS));
        // After the stream ended: nothing shows a recovery.
        assert_eq!(recovered_at(&p, T0 + 1000 * MS), None);
        // A clean pair.
        let clean = pair("c", 1000, &[]);
        assert_eq!(recovered_at(&clean, T0 + 10 * MS), Some(T0 + 10 * MS));
        // A loss that lasts to the end never recovers.
        let dead = pair("d", 1000, &[(600, 1000)]);
        assert_eq!(recovered_at(&dead, T0 + 700 * MS), None);
        assert_eq!(recovered_at(&dead, T0 + 100 * MS), None);
        assert_eq!(recovered_at(&PeerProbe::default(), 0), None);
    }

    #[test]
    fn summary_over_reports() {
        let reports = vec![
            ProbeReport {
                from: "10.0.0.2:7471".into(),
                rate_pps: 1000,
                reply_timeout_ns: 100 * MS,
                peers: vec![
                    pair("10.0.1.2:7471", 1000, &[(200, 350)]),
                    pair("10.0.2.2:7471", 1000, &[(210, 300), (320, 330)]),
                ],
            },
            ProbeReport {
                from: "10.0.1.2:7471".into(),
                rate_pps: 1000,
                reply_timeout_ns: 100 * MS,
                peers: vec![
                    pair("10.0.0.2:7471", 1000, &[(205, 310)]),
                    pair("10.0.2.2:7471", 1000, &[(990, 1000)]),
                ],
            },
            ProbeReport {
                from: "10.0.2.2:7471".into(),
                rate_pps: 1000,
                reply_timeout_ns: 100 * MS,
                peers: vec![
                    pair("10.0.0.2:7471", 1000, &[]),
                    pair("10.0.1.2:7471", 1000, &[(250, 251)]),
                ],
            },
        ];
        // The fault from 200 ms to 300 ms.
        let s = ProbeSummary::new(&reports, T0 + 200 * MS, T0 + 300 * MS);
        assert_eq!(s.pairs, 6);
        assert_eq!(s.sent, 6000);
        assert_eq!(s.lost_total, 150 + 90 + 10 + 105 + 10 + 1);
        assert_eq!(s.lost_during, 100 + 90 + 95 + 1);
        assert_eq!(s.lost_after, 50 + 10 + 10 + 10);
        // Slowest recovered pair: 10.0.0.2 -> 10.0.1.2, answering again at 350 ms.
        assert_eq!(s.recovery_ns, 50 * MS);
        assert_eq!(s.never_recovered, vec!["10.0.1.2:7471 -> 10.0.2.2:7471"]);
        assert!(!s.recovered());
        // Nothing interrupted after the fault: recovery 0.
        let s = ProbeSummary::new(&reports[2..], T0 + 200 * MS, T0 + 300 * MS);
        assert_eq!((s.recovery_ns, s.recovered()), (0, true));
        assert_eq!(s.lost_during, 1);
    }

    #[test]
    fn a_report_moves_to_the_harness_clock() {
        // An agent whose clock ran 0.667 s behind: its loss run ended, in the harness's
        // clock, 150 ms after the fault's end at T0 + 300 ms, not before it.
        let behind = 667 * MS;
        let mut report = ProbeReport {
            from: "10.0.0.2:7471".into(),
            rate_pps: 1000,
            reply_timeout_ns: 100 * MS,
            peers: vec![pair("10.0.1.2:7471", 1000, &[(200, 450)])],
        };
        for p in &mut report.peers {
            p.first_sent_unix_ns -= behind;
            p.last_sent_unix_ns -= behind;
            for r in &mut p.losses {
                r.first_sent_unix_ns -= behind;
                r.last_sent_unix_ns -= behind;
                r.answered_again_unix_ns = r.answered_again_unix_ns.map(|t| t - behind);
            }
        }
        let raw = ProbeSummary::new(std::slice::from_ref(&report), T0 + 200 * MS, T0 + 300 * MS);
        assert_eq!(
            raw.recovery_ns, 0,
            "read raw, the loss seems over before the fault ended"
        );
        report.to_harness_clock(-(behind as i64));
        assert_eq!(report.peers[0], pair("10.0.1.2:7471", 1000, &[(200, 450)]));
        let s = ProbeSummary::new(&[report], T0 + 200 * MS, T0 + 300 * MS);
        assert_eq!(s.recovery_ns, 150 * MS);
        assert_eq!((s.lost_during, s.lost_after), (100, 150));
    }

    #[test]
    fn json_shape() {
        let report = ProbeReport {
            from: "10.0.0.2:7471".into(),
            rate_pps: 1000,
            reply_timeout_ns: 100 * MS,
            peers: vec![pair("10.0.1.2:7471", 3, &[(1, 2)])],
        };
        let v = serde_json::to_value(&report).unwrap();
        assert_eq!(v["peers"][0]["losses"][0]["count"], 1);
        assert_eq!(
            v["peers"][0]["losses"][0]["answered_again_unix_ns"],
            T0 + 2 * MS
        );
        let back: ProbeReport = serde_json::from_value(v).unwrap();
        assert_eq!(back, report);
        // A run to the end of the stream leaves the field out.
        let end = pair("x", 3, &[(1, 3)]);
        let v = serde_json::to_value(&end).unwrap();
        assert!(v["losses"][0].get("answered_again_unix_ns").is_none());
    }
}
