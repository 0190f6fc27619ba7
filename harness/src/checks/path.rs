//! Facts of a pod-to-pod path: its MTU (a don't-fragment probe of exactly the path MTU gets
//! through, one byte more is refused out loud, never black-holed), the routed hops it takes
//! (seen in the reply's TTL) and that the source address arrives unchanged.

use std::collections::BTreeMap;

use reports::CheckRecord;

use super::reachability::{icmp_probe, tcp_peer};
use super::record;
use crate::backend::{PathExpect, PmtuExpect};
use crate::host::Host;
use crate::topology::Plan;

/// Linux's default TTL (`net.ipv4.ip_default_ttl`) and hop limit
/// (`net.ipv6.conf.*.hop_limit`) for packets a namespace originates.
const DEFAULT_TTL: u8 = 64;

pub(super) fn pmtu(
    plan: &Plan,
    hosts: &BTreeMap<String, Host>,
    declared: &[PmtuExpect],
) -> Vec<CheckRecord> {
    let mut out = Vec::new();
    // Each family of the run separately: IPv6 has no fragmenting routers, so its refusal is
    // always the sender's kernel or a Packet Too Big.
    for (p, family) in declared
        .iter()
        .flat_map(|p| plan.families().into_iter().map(move |f| (p, f)))
    {
        let (a, b) = (&plan.pods[p.from], &plan.pods[p.to]);
        let from = &hosts[&a.netns];
        let Some(to_ip) = plan.pod_net(b, family).map(|n| n.addr()) else {
            continue;
        };
        let fits = icmp_probe(from, to_ip, Some(p.path_mtu as usize));
        out.push(record(
            "pmtu",
            format!(
                "{} -> {} ({to_ip}) DF packet of {} bytes",
                a.role, b.role, p.path_mtu
            ),
            "answer (exactly the path MTU fits)".into(),
            fits.result.to_string(),
            fits.result.ok(),
            (!fits.result.ok()).then(|| "the declared path MTU does not cross the path".into()),
        ));
        let over = icmp_probe(from, to_ip, Some(p.path_mtu as usize + 1));
        // Either the sender's kernel refuses it (its link MTU is the path MTU), or a hop on
        // the way answers "fragmentation needed" (ICMP type 3 code 4) or "packet too big"
        // (ICMPv6 type 2). Silence is a black hole: a TCP connection would stall on it.
        let ok = over.result.too_big();
        out.push(record(
            "pmtu",
            format!(
                "{} -> {} ({to_ip}) DF packet of {} bytes",
                a.role,
                b.role,
                p.path_mtu + 1
            ),
            "refused: message too long, ICMP fragmentation needed or ICMPv6 packet too big".into(),
            over.result.to_string(),
            ok,
            (!ok).then(|| {
                "one byte over the path MTU must be refused out loud, not dropped in silence".into()
            }),
        ));
    }
    out
}

pub(super) fn paths(
    plan: &Plan,
    hosts: &BTreeMap<String, Host>,
    declared: &[PathExpect],
) -> Vec<CheckRecord> {
    let mut out = Vec::new();
    for (p, family) in declared
        .iter()
        .flat_map(|p| plan.families().into_iter().map(move |f| (p, f)))
    {
        let (a, b) = (&plan.pods[p.from], &plan.pods[p.to]);
        let (Some(to_ip), Some(from_ip)) = (
            plan.pod_net(b, family).map(|n| n.addr()),
            plan.pod_net(a, family).map(|n| n.addr()),
        ) else {
            continue;
        };
        let echo = icmp_probe(&hosts[&a.netns], to_ip, None);
        let want = DEFAULT_TTL - p.hops;
        let actual = match echo.ttl {
            Some(ttl) => format!(
                "reply ttl {ttl} ({} hop(s))",
                DEFAULT_TTL.saturating_sub(ttl)
            ),
            None => echo.result.to_string(),
        };
        out.push(record(
            "ttl",
            format!("{} -> {} ({to_ip})", a.role, b.role),
            format!("reply ttl {want} ({} routed hop(s))", p.hops),
            actual,
            echo.ttl == Some(want),
            None,
        ));
        let seen = tcp_peer(&hosts[&a.netns], &hosts[&b.netns], to_ip);
        let (actual, ok) = match seen {
            Ok(ip) => (format!("{} sees source {ip}", b.role), ip == from_ip),
            Err(e) => (e.to_string(), false),
        };
        out.push(record(
            "source",
            format!("{} -> {} ({to_ip}) tcp", a.role, b.role),
            format!("{} sees source {from_ip}", b.role),
            actual,
            ok,
            (!ok).then(|| "pod-to-pod traffic must keep the sender's pod IP (no NAT)".into()),
        ));
    }
    out
}
