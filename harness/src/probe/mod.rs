//! Probe primitives: what one ICMP echo, TCP connect or capture does from a namespace of this
//! machine, and what it saw. Everything that probes — the conformance checks, the fault
//! probes' recovery polls, the node agent answering a harness — goes through these, so a
//! probe behaves the same on every substrate.
//!
//! Files: `icmp` (echo requests from a raw socket, with don't-fragment sizes), `tcp`
//! (connects and listeners), `capture` (a packet socket on a device while a probe runs).

pub mod arp;
mod capture;
mod icmp;
mod tcp;

use std::net::IpAddr;
use std::time::Duration;

pub use capture::{capture_while, MAX_CAPTURED_FRAMES};
pub use icmp::icmp_probe_within;
pub use tcp::{accept_within, listen_in, tcp_connect_to};

/// How long a probe waits for an answer. Generous on purpose: a probe shares the per-CPU
/// receive backlog with whatever else the machine forwards, and a busy moment must not read as
/// a broken datapath; a probe that must fail costs this much, in parallel with the others.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// What a probe saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeResult {
    /// An answer came back after this long.
    Answered(Duration),
    /// An ICMP error came back instead (type, code, from: ICMPv6's types when `from` is an
    /// IPv6 address).
    IcmpError(u8, u8, IpAddr),
    /// The connection was refused or reset.
    Refused,
    /// Nothing came back in time.
    Silence,
    /// The sender's own kernel refused it: larger than the link MTU with DF set (EMSGSIZE).
    TooBig,
    /// The probe could not be sent (the kernel said why).
    SendError(String),
}

impl ProbeResult {
    /// Whether it got through.
    pub fn ok(&self) -> bool {
        matches!(self, ProbeResult::Answered(_))
    }

    /// Whether the path refused it as too large: the sender's own kernel, an ICMP
    /// "fragmentation needed" (type 3 code 4, RFC 792) or an ICMPv6 "packet too big" (type
    /// 2, RFC 4443 §3.2).
    pub fn too_big(&self) -> bool {
        matches!(
            self,
            ProbeResult::TooBig
                | ProbeResult::IcmpError(3, 4, IpAddr::V4(_))
                | ProbeResult::IcmpError(2, _, IpAddr::V6(_))
        )
    }
}

impl std::fmt::Display for ProbeResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProbeResult::Answered(d) => write!(f, "answered in {} µs", d.as_micros()),
            ProbeResult::IcmpError(3, c, from @ IpAddr::V4(_))
            | ProbeResult::IcmpError(1, c, from @ IpAddr::V6(_)) => {
                write!(f, "ICMP destination unreachable (code {c}) from {from}")
            }
            ProbeResult::IcmpError(11, _, from @ IpAddr::V4(_))
            | ProbeResult::IcmpError(3, _, from @ IpAddr::V6(_)) => {
                write!(f, "ICMP time exceeded from {from}")
            }
            ProbeResult::IcmpError(2, _, from @ IpAddr::V6(_)) => {
                write!(f, "ICMPv6 packet too big from {from}")
            }
            ProbeResult::IcmpError(t, c, from) => write!(f, "ICMP type {t} code {c} from {from}"),
            ProbeResult::Refused => write!(f, "connection refused"),
            ProbeResult::Silence => {
                write!(f, "no answer within {} ms", PROBE_TIMEOUT.as_millis())
            }
            ProbeResult::TooBig => write!(f, "refused by the sender's kernel: message too long"),
            ProbeResult::SendError(e) => write!(f, "not sent: {e}"),
        }
    }
}

/// What an echo probe saw, with the reply's IP TTL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Echo {
    /// The outcome.
    pub result: ProbeResult,
    /// TTL (IPv4) or hop limit (IPv6) of the reply (64 minus the routed hops back, for a
    /// Linux replier).
    pub ttl: Option<u8>,
}
