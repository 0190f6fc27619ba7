//! The probe stream to one peer ([`super`], "Loss accounting"): the probes sent and not yet
//! decided, their replies, and the decisions in sequence order that turn them into answered
//! probes, a round-trip histogram and loss runs. No I/O: the agent feeds it send and reply
//! times, so the accounting is tested on made-up ones.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use hdrhistogram::Histogram;
use reports::{LossRun, PeerProbe};

use crate::error::WorkloadError;

use super::REPLY_TIMEOUT;

/// Highest round trip the histogram holds without resizing, in ns (the reply timeout bounds
/// every recorded one).
const HIST_HIGH_NS: u64 = 10_000_000_000;

/// What is known of one sent probe that is not decided yet.
struct Pending {
    seq: u64,
    sent_unix_ns: u64,
    sent: Instant,
    state: State,
}

/// Where a sent probe stands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Sent, no reply yet.
    Waiting,
    /// The kernel refused to send it: lost.
    Failed,
    /// Answered in time, with this round trip in ns.
    Answered(u64),
}

/// The stream to one peer.
pub(super) struct PeerState {
    next_seq: u64,
    sent: u64,
    answered: u64,
    skipped: u64,
    send_errors: u64,
    late_replies: u64,
    first_sent_unix_ns: u64,
    last_sent_unix_ns: u64,
    rtt: Histogram<u64>,
    rtt_max_ns: u64,
    /// Sent probes not decided yet, in sequence order (at most a reply timeout's worth).
    pending: VecDeque<Pending>,
    /// The loss run still growing, if the last decided probe was lost.
    open_run: Option<LossRun>,
    losses: Vec<LossRun>,
}

impl PeerState {
    pub(super) fn new() -> Result<PeerState, WorkloadError> {
        let mut rtt = Histogram::<u64>::new_with_bounds(1, HIST_HIGH_NS, 3)
            .map_err(|e| WorkloadError::Measurement(format!("creating the histogram: {e}")))?;
        rtt.auto(true);
        Ok(PeerState {
            next_seq: 0,
            sent: 0,
            answered: 0,
            skipped: 0,
            send_errors: 0,
            late_replies: 0,
            first_sent_unix_ns: 0,
            last_sent_unix_ns: 0,
            rtt,
            rtt_max_ns: 0,
            pending: VecDeque::new(),
            open_run: None,
            losses: Vec::new(),
        })
    }

    /// Takes the sequence number of the next probe to send.
    pub(super) fn next_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// Probe `seq` went out at `sent_unix_ns` (`CLOCK_REALTIME`) / `sent`, or the kernel
    /// refused it (`failed`: it is lost).
    pub(super) fn sent(&mut self, seq: u64, sent_unix_ns: u64, sent: Instant, failed: bool) {
        if self.sent == 0 {
            self.first_sent_unix_ns = sent_unix_ns;
        }
        self.sent += 1;
        self.last_sent_unix_ns = sent_unix_ns;
        if failed {
            self.send_errors += 1;
        }
        self.pending.push_back(Pending {
            seq,
            sent_unix_ns,
            sent,
            state: if failed {
                State::Failed
            } else {
                State::Waiting
            },
        });
    }

    /// A send slot was skipped: a newer one of this peer was due too.
    pub(super) fn skip(&mut self) {
        self.skipped += 1;
    }

    /// A reply to probe `seq` arrived at `now`.
    pub(super) fn reply(&mut self, seq: u64, now: Instant) {
        let Some(front) = self.pending.front().map(|f| f.seq) else {
            // Every probe is decided already: a late or duplicate reply (or a forged seq).
            if seq < self.next_seq {
                self.late_replies += 1;
            }
            return;
        };
        if seq < front {
            self.late_replies += 1;
            return;
        }
        let Some(p) = self.pending.get_mut((seq - front) as usize) else {
            return; // never sent
        };
        match p.state {
            State::Waiting => {
                let rtt = now.saturating_duration_since(p.sent);
                if rtt <= REPLY_TIMEOUT {
                    p.state = State::Answered(rtt.as_nanos() as u64);
                } else {
                    self.late_replies += 1;
                }
            }
            State::Answered(_) => self.late_replies += 1,
            State::Failed => {}
        }
    }

    /// Decides, in order, every probe that is answered, refused, or past its reply timeout
    /// at `now` (with `all`, every pending probe: the unanswered ones are lost).
    pub(super) fn decide(&mut self, now: Instant, all: bool) {
        while let Some(p) = self.pending.front() {
            let lost = match p.state {
                State::Answered(_) => false,
                State::Failed => true,
                State::Waiting if all || now.saturating_duration_since(p.sent) > REPLY_TIMEOUT => {
                    true
                }
                State::Waiting => break,
            };
            let Some(p) = self.pending.pop_front() else {
                break;
            };
            if lost {
                match &mut self.open_run {
                    Some(run) => {
                        run.count += 1;
                        run.last_sent_unix_ns = p.sent_unix_ns;
                    }
                    None => {
                        self.open_run = Some(LossRun {
                            first_seq: p.seq,
                            count: 1,
                            first_sent_unix_ns: p.sent_unix_ns,
                            last_sent_unix_ns: p.sent_unix_ns,
                            answered_again_unix_ns: None,
                        })
                    }
                }
            } else {
                if let State::Answered(ns) = p.state {
                    // Within bounds by construction (auto-resizing besides).
                    let _ = self.rtt.record(ns.max(1));
                    self.rtt_max_ns = self.rtt_max_ns.max(ns);
                }
                self.answered += 1;
                if let Some(mut run) = self.open_run.take() {
                    run.answered_again_unix_ns = Some(p.sent_unix_ns);
                    self.losses.push(run);
                }
            }
        }
    }

    /// When the oldest undecided probe's reply timeout ends.
    pub(super) fn next_decision(&self) -> Option<Instant> {
        self.pending.front().map(|p| p.sent + REPLY_TIMEOUT)
    }

    /// Whether a probe sent is not decided yet.
    pub(super) fn undecided(&self) -> bool {
        !self.pending.is_empty()
    }

    /// What was seen of this peer; a loss run still open at the end stays open (never
    /// answered again).
    pub(super) fn into_report(mut self, peer: SocketAddr) -> PeerProbe {
        if let Some(run) = self.open_run.take() {
            self.losses.push(run);
        }
        let answered_any = !self.rtt.is_empty();
        PeerProbe {
            peer: peer.to_string(),
            sent: self.sent,
            answered: self.answered,
            skipped: self.skipped,
            send_errors: self.send_errors,
            late_replies: self.late_replies,
            first_sent_unix_ns: self.first_sent_unix_ns,
            last_sent_unix_ns: self.last_sent_unix_ns,
            rtt_p50_ns: if answered_any {
                self.rtt.value_at_quantile(0.5)
            } else {
                0
            },
            rtt_max_ns: self.rtt_max_ns,
            losses: self.losses,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn state_at(t0: Instant) -> (PeerState, Vec<Instant>) {
        let mut p = PeerState::new().unwrap();
        let times: Vec<Instant> = (0..10).map(|i| t0 + Duration::from_millis(i)).collect();
        for (i, &t) in times.iter().enumerate() {
            p.pending.push_back(Pending {
                seq: i as u64,
                sent_unix_ns: 1_000 + i as u64,
                sent: t,
                state: State::Waiting,
            });
        }
        p.next_seq = 10;
        p.sent = 10;
        (p, times)
    }

    #[test]
    fn decisions_build_loss_runs_in_order() {
        let t0 = Instant::now();
        let (mut p, times) = state_at(t0);
        let ms = Duration::from_millis;
        // 0, 1 answered; 2, 3, 4 not; 5 answered; 6 refused; 7 answered late; 8, 9 answered.
        p.reply(0, times[0] + ms(1));
        p.reply(1, times[1] + ms(1));
        p.reply(1, times[1] + ms(2)); // a duplicate
        p.pending[6].state = State::Failed;
        p.reply(5, times[5] + ms(3));
        p.reply(8, times[8] + ms(1));
        p.reply(9, times[9] + ms(1));
        p.reply(10, times[9] + ms(1)); // never sent: ignored
                                       // Before any timeout: only 0 and 1 are decided (2 is still waiting).
        p.decide(t0 + ms(20), false);
        assert_eq!((p.answered, p.pending.len()), (2, 8));
        p.reply(7, times[7] + ms(101)); // late
        p.decide(t0 + ms(200), false);
        assert!(p.pending.is_empty());
        assert_eq!(p.answered, 5);
        assert_eq!(p.late_replies, 2);
        assert_eq!(p.rtt_max_ns, 3_000_000);
        p.reply(2, t0 + ms(300)); // after its decision
        assert_eq!(p.late_replies, 3);
        let r = p.into_report(addr("10.0.1.2:7471"));
        assert_eq!(r.losses.len(), 2);
        assert_eq!(
            (r.losses[0].first_seq, r.losses[0].count),
            (2, 3),
            "{:?}",
            r.losses
        );
        assert_eq!(r.losses[0].first_sent_unix_ns, 1_002);
        assert_eq!(r.losses[0].last_sent_unix_ns, 1_004);
        assert_eq!(r.losses[0].answered_again_unix_ns, Some(1_005));
        assert_eq!((r.losses[1].first_seq, r.losses[1].count), (6, 2));
        assert_eq!(r.losses[1].answered_again_unix_ns, Some(1_008));
        assert_eq!(
            r.answered + r.losses.iter().map(|l| l.count).sum::<u64>(),
            10
        );
    }

    #[test]
    fn a_loss_at_the_end_stays_open() {
        let t0 = Instant::now();
        let (mut p, times) = state_at(t0);
        for (i, &t) in times.iter().enumerate().take(7) {
            p.reply(i as u64, t + Duration::from_micros(50));
        }
        p.decide(t0 + Duration::from_millis(5), true);
        let r = p.into_report(addr("10.0.1.2:7471"));
        assert_eq!(r.answered, 7);
        assert_eq!(r.rtt_p50_ns / 1000, 50);
        assert_eq!(r.losses.len(), 1);
        assert_eq!((r.losses[0].first_seq, r.losses[0].count), (7, 3));
        assert_eq!(r.losses[0].answered_again_unix_ns, None);
    }
}
