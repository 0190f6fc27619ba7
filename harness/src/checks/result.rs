//! Checks of what a component said it made (a CNI plugin's result): each interface exists in
//! the namespace it names with the MAC and MTU given and holds every address given, and each
//! route it returned is in the namespace's main table (among others: a plugin owes no
//! account of the connected routes the kernel adds).

use std::collections::BTreeMap;

use reports::CheckRecord;

use super::{errored, record};
use crate::backend::{InterfaceExpect, RouteExpect};
use crate::host::Host;
use crate::netlink::format_mac;

/// Each declared interface is as declared.
pub(super) fn interfaces(
    hosts: &BTreeMap<String, Host>,
    declared: &[InterfaceExpect],
) -> Vec<CheckRecord> {
    declared
        .iter()
        .map(|i| {
            let subject = format!("{} {} ({})", i.netns, i.dev, i.source);
            let mut want = Vec::new();
            if let Some(mac) = &i.mac {
                want.push(format!("mac {mac}"));
            }
            if let Some(mtu) = i.mtu_bytes {
                want.push(format!("mtu {mtu}"));
            }
            want.extend(i.addresses.iter().map(|a| a.to_string()));
            let expected = if want.is_empty() {
                "exists".to_string()
            } else {
                want.join(", ")
            };
            let Some(host) = hosts.get(&i.netns) else {
                return record(
                    "interface",
                    subject,
                    expected,
                    "no such namespace in this run".into(),
                    false,
                    Some("the result names a namespace the run did not make".into()),
                );
            };
            let nl = host.nl();
            // IPv6 addresses are read only where one is promised: a namespace of an IPv4
            // run has IPv6 off, and the kernel's own link-local addresses are no plugin's.
            let wants_v6 = i.addresses.iter().any(|a| matches!(a, ipnet::IpNet::V6(_)));
            let found = nl.link(&i.dev).and_then(|l| {
                let mut addrs = nl.addresses()?;
                if wants_v6 {
                    addrs.extend(
                        nl.addresses6()?
                            .into_iter()
                            .filter(|a| !is_link_local(a.net.addr())),
                    );
                }
                Ok((l, addrs))
            });
            match found {
                Ok((link, addrs)) => {
                    let mac = link.mac.map(|m| format_mac(&m)).unwrap_or_default();
                    let held: Vec<_> = addrs
                        .iter()
                        .filter(|a| a.index == link.index)
                        .map(|a| a.net)
                        .collect();
                    let mut wrong = Vec::new();
                    if let Some(want) = &i.mac {
                        if !want.eq_ignore_ascii_case(&mac) {
                            wrong.push(format!("MAC is {mac}, not {want}"));
                        }
                    }
                    if let Some(want) = i.mtu_bytes.filter(|m| *m != link.mtu_bytes) {
                        wrong.push(format!("MTU is {}, not {want}", link.mtu_bytes));
                    }
                    for a in i.addresses.iter().filter(|a| !held.contains(a)) {
                        wrong.push(format!("{a} is not on it"));
                    }
                    let shown: Vec<String> = held.iter().map(|a| a.to_string()).collect();
                    let actual = format!(
                        "mac {mac}, mtu {}, addresses {}",
                        link.mtu_bytes,
                        if shown.is_empty() {
                            "none".to_string()
                        } else {
                            shown.join(" ")
                        }
                    );
                    let ok = wrong.is_empty();
                    let reason = (!ok).then(|| wrong.join("; "));
                    record("interface", subject, expected, actual, ok, reason)
                }
                Err(e) => errored("interface", subject, expected, &e),
            }
        })
        .collect()
}

/// Each declared route is in its namespace's main table.
pub(super) fn routes_present(
    hosts: &BTreeMap<String, Host>,
    declared: &[RouteExpect],
) -> Vec<CheckRecord> {
    declared
        .iter()
        .map(|r| {
            let subject = format!("{} ({})", r.netns, r.source);
            let expected = r.to_string();
            let Some(host) = hosts.get(&r.netns) else {
                return record(
                    "route",
                    subject,
                    expected,
                    "no such namespace in this run".into(),
                    false,
                    None,
                );
            };
            match host.nl().routes() {
                Ok(routes) => {
                    let hit = routes.iter().find(|k| {
                        k.dst == r.dst
                            && k.via == r.via
                            && r.dev.as_ref().is_none_or(|d| *d == k.dev)
                    });
                    let actual = match hit {
                        Some(k) => k.to_string(),
                        None => {
                            let same_dst: Vec<String> = routes
                                .iter()
                                .filter(|k| k.dst == r.dst)
                                .map(|k| k.to_string())
                                .collect();
                            if same_dst.is_empty() {
                                format!("no route to {}", r.dst)
                            } else {
                                same_dst.join("; ")
                            }
                        }
                    };
                    let ok = hit.is_some();
                    let reason =
                        (!ok).then(|| "the result returned a route the kernel lacks".into());
                    record("route", subject, expected, actual, ok, reason)
                }
                Err(e) => errored("route", subject, expected, &e),
            }
        })
        .collect()
}

/// Whether `ip` is an IPv6 link-local address (fe80::/10, RFC 4291 §2.5.6), which the
/// kernel gives every interface with IPv6 on.
fn is_link_local(ip: std::net::IpAddr) -> bool {
    matches!(ip, std::net::IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80)
}
