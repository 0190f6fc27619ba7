//! What `cnbench fault` records: one [`FaultRecord`] per fault injected while a paced probe
//! stream ran across every pod pair, with the probes lost during and after the fault, the time
//! until every pair answered again, TCP throughput under loss, and the conformance checks run
//! again after recovery.

use serde::{Deserialize, Serialize};

use crate::probe::{lost_between, recovered_at, NodeClock, ProbeReport, ProbeSummary};
use crate::schema::CheckRecord;

/// One fault, from injection to the check after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRecord {
    /// The fault's name (`link-flap`, `router-down`, `daemon-restart`, `speaker-restart`
    /// (once `bird-restart`), `vtep-change`, `loss`, `node-restart`).
    pub fault: String,
    /// What was done, in words (`n1 eth0 down for 1000 ms, then up`).
    pub action: String,
    /// The node it hit (`n1`), the router for router-down (`rt`), or `underlay` for loss on
    /// every underlay port.
    pub target: String,
    /// How long the fault lasted (link down, daemon stopped, loss applied), in ms.
    pub hold_ms: u64,
    /// Percentage of underlay packets dropped, for `loss`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_percent: Option<u32>,
    /// How the control plane reacted: `full` (every node reprogrammed from the state after the
    /// fault) or `faulted-node-only` (a deliberately broken recovery: the peers keep what they
    /// knew before, e.g. a VTEP's old MAC).
    pub recovery: String,
    /// Probes sent per second to each peer.
    pub probe_rate_pps: u64,
    /// How long the control plane's reprogramming took after the fault ended, in ns (none
    /// for backends whose control plane is a daemon of their own, e.g. BIRD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reprogram_ns: Option<u64>,
    /// Loss and recovery over every pair.
    pub probes: ProbeSummary,
    /// The same per directed pod pair.
    pub pairs: Vec<PairRecovery>,
    /// Packets the loss rule dropped on the underlay (nftables counter), for `loss`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub underlay_dropped_packets: Option<u64>,
    /// TCP throughput of one cross-node pair without and with the loss, for `loss`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_under_loss: Option<TcpUnderLoss>,
    /// The clocks of the nodes whose probe agents ran on another machine (VM nodes), and how
    /// far each was from the harness's; empty when every agent ran on the harness's machine.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probe_clocks: Vec<NodeClock>,
    /// Every conformance check, run again once the probes had recovered (or given up).
    pub checks_after: Vec<CheckRecord>,
    /// How it ended.
    pub outcome: FaultOutcome,
}

/// How a fault ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum FaultOutcome {
    /// Every pair answered again and every check passed afterwards.
    Recovered,
    /// Some pair never answered again within the recovery limit.
    NotRecovered,
    /// Every pair answered again, but a check failed afterwards (stale state).
    ChecksFailed,
    /// The fault could not be injected or undone.
    Error {
        /// What went wrong.
        message: String,
    },
}

impl FaultOutcome {
    /// Whether the datapath came back whole.
    pub fn passed(&self) -> bool {
        matches!(self, FaultOutcome::Recovered)
    }

    /// One word for tables.
    pub fn label(&self) -> &'static str {
        match self {
            FaultOutcome::Recovered => "recovered",
            FaultOutcome::NotRecovered => "NOT RECOVERED",
            FaultOutcome::ChecksFailed => "CHECKS FAILED",
            FaultOutcome::Error { .. } => "ERROR",
        }
    }
}

/// Loss and recovery of one directed pod pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairRecovery {
    /// The sending pod's label (`n0p0`).
    pub from: String,
    /// The probed pod's label.
    pub to: String,
    /// `same-node` or `cross-node`.
    pub path: String,
    /// Probes sent.
    pub sent: u64,
    /// Probes sent during the fault and lost.
    pub lost_during: u64,
    /// Probes sent after the fault's end and lost.
    pub lost_after: u64,
    /// From the fault's end (router-down: the router going down) until the pair answered
    /// again for good, in ns; none if it never did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_ns: Option<u64>,
}

impl PairRecovery {
    /// The figures of every directed pair of `reports`, labelled by `label` (an agent's or a
    /// peer's address to its pod label and the pair's path), over the fault window.
    pub fn all(
        reports: &[ProbeReport],
        event_start_ns: u64,
        event_end_ns: u64,
        label: &dyn Fn(&str, &str) -> (String, String, String),
    ) -> Vec<PairRecovery> {
        let mut out = Vec::new();
        for r in reports {
            for p in &r.peers {
                let (from, to, path) = label(&r.from, &p.peer);
                out.push(PairRecovery {
                    from,
                    to,
                    path,
                    sent: p.sent,
                    lost_during: lost_between(p, event_start_ns, event_end_ns),
                    lost_after: lost_between(p, event_end_ns, u64::MAX),
                    recovery_ns: recovered_at(p, event_end_ns)
                        .map(|t| t.saturating_sub(event_end_ns)),
                });
            }
        }
        out
    }
}

/// TCP throughput of one pair before and under underlay loss.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TcpUnderLoss {
    /// The pair (`n0p0 -> n1p0`).
    pub pair: String,
    /// Measurement window of each, in ns.
    pub window_ns: u64,
    /// Throughput without loss, in bit/s.
    pub before_bps: f64,
    /// Throughput with the loss rule in place, in bit/s.
    pub under_loss_bps: f64,
    /// Segments the client's TCP retransmitted under loss (`RetransSegs`), if readable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retransmitted_segments: Option<u64>,
}

impl TcpUnderLoss {
    /// Throughput under loss as a fraction of throughput before.
    pub fn ratio(&self) -> f64 {
        if self.before_bps > 0.0 {
            self.under_loss_bps / self.before_bps
        } else {
            0.0
        }
    }
}

impl FaultRecord {
    /// The after-fault checks that failed.
    pub fn failed_checks(&self) -> impl Iterator<Item = &CheckRecord> {
        self.checks_after
            .iter()
            .filter(|c| c.outcome == crate::schema::CheckOutcome::Fail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::{LossRun, PeerProbe};

    const MS: u64 = 1_000_000;
    const T0: u64 = 1_700_000_000_000_000_000;

    #[test]
    fn pairs_split_loss_at_the_fault_window_and_time_recovery() {
        // One probe per ms from T0; the fault is [T0+10ms, T0+20ms); probes 12..25 lost.
        let lost = LossRun {
            first_seq: 12,
            count: 13,
            first_sent_unix_ns: T0 + 12 * MS,
            last_sent_unix_ns: T0 + 24 * MS,
            answered_again_unix_ns: Some(T0 + 25 * MS),
        };
        let report = ProbeReport {
            from: "10.0.0.2:7471".into(),
            rate_pps: 1000,
            reply_timeout_ns: 100 * MS,
            peers: vec![
                PeerProbe {
                    peer: "10.0.1.2:7471".into(),
                    sent: 40,
                    answered: 27,
                    first_sent_unix_ns: T0,
                    last_sent_unix_ns: T0 + 39 * MS,
                    losses: vec![lost],
                    ..PeerProbe::default()
                },
                PeerProbe {
                    peer: "10.0.0.3:7471".into(),
                    sent: 40,
                    answered: 40,
                    first_sent_unix_ns: T0,
                    last_sent_unix_ns: T0 + 39 * MS,
                    ..PeerProbe::default()
                },
            ],
        };
        let label = |a: &str, b: &str| (a.to_string(), b.to_string(), "x".to_string());
        let pairs = PairRecovery::all(&[report], T0 + 10 * MS, T0 + 20 * MS, &label);
        assert_eq!(pairs.len(), 2);
        assert_eq!((pairs[0].lost_during, pairs[0].lost_after), (8, 5));
        assert_eq!(pairs[0].recovery_ns, Some(5 * MS));
        assert_eq!((pairs[1].lost_during, pairs[1].lost_after), (0, 0));
        assert_eq!(pairs[1].recovery_ns, Some(0));
    }

    #[test]
    fn outcome_json_and_ratio() {
        let o = serde_json::to_string(&FaultOutcome::Error {
            message: "x".into(),
        })
        .unwrap();
        assert_eq!(o, r#"{"status":"error","message":"x"}"#);
        assert!(FaultOutcome::Recovered.passed());
        assert!(!FaultOutcome::ChecksFailed.passed());
        let t = TcpUnderLoss {
            pair: "a -> b".into(),
            window_ns: 1,
            before_bps: 10e9,
            under_loss_bps: 1e9,
            retransmitted_segments: None,
        };
        assert!((t.ratio() - 0.1).abs() < 1e-12);
    }
}
