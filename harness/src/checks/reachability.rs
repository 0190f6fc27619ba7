//! The reachability matrix: ICMP echo from a raw socket and a TCP connect to a listener,
//! both created inside the namespaces concerned.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use reports::{CheckOutcome, CheckRecord};

use crate::backend::{Expect, Probe, ProbeProto};
use crate::host::Host;
use crate::probe::{Echo, ProbeResult, PROBE_TIMEOUT};

/// Sends ICMP echo requests from `from` to `to` (up to 3, the first may wait for ARP) and
/// waits for the reply.
pub fn icmp_echo(from: &Host, to: IpAddr) -> ProbeResult {
    icmp_probe(from, to, None).result
}

/// Sends ICMP echo requests from `from` to `to`. With `df_size`, each request is an IP
/// packet of exactly that many bytes with the don't-fragment bit set, sent regardless of
/// any cached path MTU (`IP_PMTUDISC_PROBE`): the way to test what a path carries.
pub fn icmp_probe(from: &Host, to: IpAddr, df_size: Option<usize>) -> Echo {
    from.icmp_probe(to, df_size, PROBE_TIMEOUT)
}

/// Sends ICMP echo requests from `from` to `to` within `timeout` (six attempts spread over
/// it): a quick look, for polling a path that is expected to come back.
pub fn icmp_echo_within(from: &Host, to: IpAddr, timeout: Duration) -> ProbeResult {
    from.icmp_probe(to, None, timeout).result
}

/// Connects from `from` to a listener opened in `to` on `ip`, and returns the source address
/// the listener saw (to prove no NAT rewrote it).
pub fn tcp_peer(from: &Host, to: &Host, ip: IpAddr) -> Result<IpAddr, ProbeResult> {
    let listener = to.tcp_listen(ip).map_err(ProbeResult::SendError)?;
    match from.tcp_connect(ip, listener.port, PROBE_TIMEOUT) {
        // connect() returns when the SYN-ACK arrived; the listener sees the connection only
        // once the final ACK crossed the path, which through a userspace datapath takes a
        // while.
        ProbeResult::Answered(_) => listener
            .accept_peer(PROBE_TIMEOUT)
            .map_err(ProbeResult::SendError),
        other => Err(match other {
            ProbeResult::SendError(e) => ProbeResult::SendError(e),
            o => ProbeResult::SendError(o.to_string()),
        }),
    }
}

/// Opens a listener in `to` on `ip` (any free port) and connects to it from `from`.
pub fn tcp_connect(from: &Host, to: &Host, ip: IpAddr) -> ProbeResult {
    match to.tcp_listen(ip) {
        Ok(listener) => from.tcp_connect(ip, listener.port, PROBE_TIMEOUT),
        Err(e) => ProbeResult::SendError(e),
    }
}

/// How many probes run at once: a probe that must fail waits out its whole timeout, so a
/// serial matrix of N pods would take O(N²) seconds when a backend expects failures.
const PARALLEL_PROBES: usize = 16;

/// Runs every probe of the matrix, several at a time, and returns results in probe order.
pub(super) fn matrix(hosts: &BTreeMap<String, Host>, probes: &[Probe]) -> Vec<CheckRecord> {
    let mut out = Vec::with_capacity(probes.len());
    for chunk in probes.chunks(PARALLEL_PROBES) {
        std::thread::scope(|s| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|p| s.spawn(move || one(hosts, p)))
                .collect();
            out.extend(
                handles
                    .into_iter()
                    .map(|h| h.join().expect("probe thread panicked")),
            );
        });
    }
    out
}

fn one(hosts: &BTreeMap<String, Host>, p: &Probe) -> CheckRecord {
    let from = &hosts[&p.from_netns];
    let (proto, result) = match p.proto {
        ProbeProto::Icmp => ("icmp", icmp_echo(from, p.to_ip)),
        ProbeProto::Tcp => ("tcp", tcp_connect(from, &hosts[&p.to_netns], p.to_ip)),
    };
    let subject = format!("{} -> {} ({}) {proto} [{}]", p.from, p.to, p.to_ip, p.path);
    let (expected, outcome, reason) = match (&p.expect, result.ok()) {
        (Expect::Reach, true) => ("answer".to_string(), CheckOutcome::Pass, None),
        (Expect::Reach, false) => (
            "answer".to_string(),
            CheckOutcome::Fail,
            Some("a pod pair the backend must connect did not answer".to_string()),
        ),
        // Only a probe that went out and got nothing (or an error from the network) shows
        // the path is missing; one that could not even be sent proves nothing.
        (Expect::Unreachable { reason }, false)
            if !matches!(result, ProbeResult::SendError(_) | ProbeResult::TooBig) =>
        {
            (
                "no answer".to_string(),
                CheckOutcome::ExpectedFailure,
                Some(reason.clone()),
            )
        }
        (Expect::Unreachable { .. }, false) => (
            "no answer".to_string(),
            CheckOutcome::Fail,
            Some("the probe could not be sent, so it proves nothing".to_string()),
        ),
        (Expect::Unreachable { reason }, true) => (
            "no answer".to_string(),
            CheckOutcome::Fail,
            Some(format!("expected to fail ({reason}) but it answered")),
        ),
    };
    CheckRecord {
        check: "reachability".into(),
        subject,
        expected,
        actual: result.to_string(),
        outcome,
        reason,
    }
}
