//! What the harness gives a probe agent ([`ProbeConfig`], the JSON of
//! [`crate::AgentTask::Probe`]) and its checks: the settings alone before the socket is
//! opened, the start time against the clock before the agent says it is ready, so that a
//! wrong setting is refused rather than probed with.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::WorkloadError;

use super::{DEFAULT_LINGER_MS, DEFAULT_RATE_PPS, MAX_RATE_PPS, MAX_TOTAL_RATE_PPS, PROBE_PORT};

/// How far in the future `start_unix_ns` may be: a larger value is a unit mistake.
const MAX_START_AHEAD: Duration = Duration::from_secs(3600);

/// Configuration of a probe agent.
///
/// JSON (as [`crate::AgentTask::Probe`]): `{"role":"probe","bind":"10.0.0.2:7471",
/// "peers":["10.0.1.2:7471","10.0.2.2:7471"],"rate_pps":1000,"duration_ms":10000,
/// "start_unix_ns":1700000000000000000,"linger_ms":300,"cpu":1}`. `peers`, `rate_pps`,
/// `start_unix_ns`, `linger_ms` and `cpu` may be left out.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    /// The pod's IP and the agent's port (not 0: the peers must know it in advance; usually
    /// [`PROBE_PORT`]).
    pub bind: SocketAddr,
    /// Every other pod's probe address.
    #[serde(default)]
    pub peers: Vec<SocketAddr>,
    /// Probes sent to each peer per second, 1..=[`MAX_RATE_PPS`].
    #[serde(default = "default_rate_pps")]
    pub rate_pps: u64,
    /// How long to send, in ms (more than 0).
    pub duration_ms: u64,
    /// When to begin sending, `CLOCK_REALTIME` ns since the Unix epoch, so that all agents
    /// of a run start together; at once if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_unix_ns: Option<u64>,
    /// How long to keep answering after the last send slot, in ms.
    #[serde(default = "default_linger_ms")]
    pub linger_ms: u64,
    /// CPU to pin the agent to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<u32>,
    /// End the schedule early when a line `stop` (or end of file) arrives on stdin: the
    /// agent sends nothing more, lingers as usual and reports. The harness gives a long
    /// duration and stops the stream once every pair has recovered from a fault.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stop_on_stdin: bool,
}

fn default_rate_pps() -> u64 {
    DEFAULT_RATE_PPS
}

fn default_linger_ms() -> u64 {
    DEFAULT_LINGER_MS
}

impl ProbeConfig {
    /// A probe agent on `bind` probing `peers` at the default rate for `duration_ms`,
    /// starting at once.
    pub fn new(bind: SocketAddr, peers: Vec<SocketAddr>, duration_ms: u64) -> Self {
        ProbeConfig {
            bind,
            peers,
            rate_pps: DEFAULT_RATE_PPS,
            duration_ms,
            start_unix_ns: None,
            linger_ms: DEFAULT_LINGER_MS,
            cpu: None,
            stop_on_stdin: false,
        }
    }

    /// Checks the settings before the socket is opened.
    pub fn validate(&self) -> Result<(), WorkloadError> {
        let bad = |what, reason: String| Err(WorkloadError::InvalidConfig { what, reason });
        if self.bind.port() == 0 {
            return bad(
                "bind",
                format!(
                    "{}: a probe agent needs a fixed port its peers know in advance \
                     (usually {PROBE_PORT}), not 0",
                    self.bind
                ),
            );
        }
        if self.duration_ms == 0 {
            return bad(
                "duration_ms",
                "the probe stream must last more than 0 ms".into(),
            );
        }
        if !(1..=MAX_RATE_PPS).contains(&self.rate_pps) {
            return bad(
                "rate_pps",
                format!(
                    "{} probes/s per peer is out of range: use 1..={MAX_RATE_PPS} (default: \
                     {DEFAULT_RATE_PPS})",
                    self.rate_pps
                ),
            );
        }
        let total = self.rate_pps.saturating_mul(self.peers.len() as u64);
        if total > MAX_TOTAL_RATE_PPS {
            return bad(
                "rate_pps",
                format!(
                    "{} probes/s to each of {} peers is {total}/s, more than one agent sends \
                     ({MAX_TOTAL_RATE_PPS}/s): lower the rate",
                    self.rate_pps,
                    self.peers.len()
                ),
            );
        }
        if self.peers.len() > usize::from(u16::MAX) {
            return bad(
                "peers",
                format!("{} peers; at most {}", self.peers.len(), u16::MAX),
            );
        }
        for p in &self.peers {
            if p.port() == 0 || p.is_ipv4() != self.bind.is_ipv4() || *p == self.bind {
                return bad(
                    "peers",
                    format!(
                        "{p} cannot be probed from {}: a peer needs a port, the bind \
                         address's IP family, and must not be the agent itself",
                        self.bind
                    ),
                );
            }
        }
        if self.linger_ms > 60_000 {
            return bad("linger_ms", format!("{} ms; at most 60000", self.linger_ms));
        }
        Ok(())
    }
}

/// When sending starts, in ns after `now_unix` (negative if `start_unix_ns` is past; 0 if
/// it is not set). A start more than an hour ahead, or so far back that the whole duration is
/// past, is refused: it is a unit mistake or a stale configuration.
pub(super) fn start_offset_ns(cfg: &ProbeConfig, now_unix: u64) -> Result<i128, WorkloadError> {
    let Some(start) = cfg.start_unix_ns else {
        return Ok(0);
    };
    let offset = i128::from(start) - i128::from(now_unix);
    let bad = |reason| {
        Err(WorkloadError::InvalidConfig {
            what: "start_unix_ns",
            reason,
        })
    };
    if offset > MAX_START_AHEAD.as_nanos() as i128 {
        return bad(format!(
            "{start} is {} s in the future; it must be CLOCK_REALTIME in ns since the epoch",
            offset / 1_000_000_000
        ));
    }
    if offset + i128::from(cfg.duration_ms) * 1_000_000 < 0 {
        return bad(format!(
            "{start} plus the duration ({} ms) is already past ({} s ago): nothing is left to              send; it must be CLOCK_REALTIME in ns since the epoch",
            cfg.duration_ms,
            -offset / 1_000_000_000
        ));
    }
    Ok(offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn config_json_shape_and_defaults() {
        let cfg: ProbeConfig = serde_json::from_value(json!({
            "bind": "10.0.0.2:7471", "peers": ["10.0.1.2:7471"], "duration_ms": 5000
        }))
        .unwrap();
        assert_eq!(cfg.rate_pps, DEFAULT_RATE_PPS);
        assert_eq!(cfg.linger_ms, DEFAULT_LINGER_MS);
        assert_eq!((cfg.start_unix_ns, cfg.cpu), (None, None));
        assert_eq!(
            cfg,
            ProbeConfig::new(addr("10.0.0.2:7471"), vec![addr("10.0.1.2:7471")], 5000)
        );
        let err = serde_json::from_value::<ProbeConfig>(json!({
            "bind": "10.0.0.2:7471", "duration_ms": 5000, "rate": 5
        }))
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown field `rate`"), "{err}");
    }

    #[test]
    fn validation_names_the_setting() {
        let ok = ProbeConfig::new(addr("10.0.0.2:7471"), vec![addr("10.0.1.2:7471")], 1000);
        ok.validate().unwrap();
        let cases: Vec<(ProbeConfig, &str)> = vec![
            (
                ProbeConfig {
                    bind: addr("10.0.0.2:0"),
                    ..ok.clone()
                },
                "invalid bind",
            ),
            (
                ProbeConfig {
                    duration_ms: 0,
                    ..ok.clone()
                },
                "invalid duration_ms",
            ),
            (
                ProbeConfig {
                    rate_pps: 0,
                    ..ok.clone()
                },
                "invalid rate_pps",
            ),
            (
                ProbeConfig {
                    rate_pps: MAX_RATE_PPS,
                    peers: (1..=11)
                        .map(|i| addr(&format!("10.0.{i}.2:7471")))
                        .collect(),
                    ..ok.clone()
                },
                "lower the rate",
            ),
            (
                ProbeConfig {
                    peers: vec![addr("[fd00::2]:7471")],
                    ..ok.clone()
                },
                "invalid peers",
            ),
            (
                ProbeConfig {
                    peers: vec![addr("10.0.0.2:7471")],
                    ..ok.clone()
                },
                "invalid peers",
            ),
            (
                ProbeConfig {
                    linger_ms: 60_001,
                    ..ok.clone()
                },
                "invalid linger_ms",
            ),
        ];
        for (cfg, want) in cases {
            let e = cfg.validate().unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
    }
}
