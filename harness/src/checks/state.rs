//! Checks of kernel state: routes, MTUs, neighbour entries, the bridge FDB.

use std::collections::BTreeMap;

use reports::CheckRecord;

use super::{errored, record};
use crate::backend::{DeviceMtu, DeviceSet, FdbExpect, NeighbourExpect, VtepExpect};
use crate::host::Host;
use crate::netlink::{format_mac, link_name, NeighbourState, RouteSpec};

/// The main table of each namespace must hold exactly the declared routes (at least them,
/// in a table `shared` with something else).
pub(super) fn routes(
    hosts: &BTreeMap<String, Host>,
    declared: &BTreeMap<String, Vec<RouteSpec>>,
    shared: &[String],
) -> Vec<CheckRecord> {
    declared
        .iter()
        .map(|(netns, want)| {
            let shared = shared.contains(netns);
            let mut want: Vec<String> = want.iter().map(|r| r.to_string()).collect();
            want.sort();
            want.dedup();
            let shown = |v: &[String]| {
                if v.is_empty() {
                    "(none)".to_string()
                } else {
                    v.join("; ")
                }
            };
            match hosts[netns].nl().routes() {
                Ok(got) => {
                    let got: Vec<String> = got.iter().map(|r| r.to_string()).collect();
                    let missing: Vec<&String> = want.iter().filter(|r| !got.contains(r)).collect();
                    let extra: Vec<&String> = got
                        .iter()
                        .filter(|r| !shared && !want.contains(r))
                        .collect();
                    let reason = (!missing.is_empty() || !extra.is_empty())
                        .then(|| format!("missing: {missing:?}; unexpected: {extra:?}"));
                    let expected = if shared {
                        format!("{} (among others: the table is shared)", shown(&want))
                    } else {
                        shown(&want)
                    };
                    record(
                        "routes",
                        netns.clone(),
                        expected,
                        shown(&got),
                        reason.is_none(),
                        reason,
                    )
                }
                Err(e) => record(
                    "routes",
                    netns.clone(),
                    shown(&want),
                    format!("error: {e}"),
                    false,
                    None,
                ),
            }
        })
        .collect()
}

/// Each declared device has the declared MTU.
pub(super) fn mtus(hosts: &BTreeMap<String, Host>, declared: &[DeviceMtu]) -> Vec<CheckRecord> {
    declared
        .iter()
        .map(|d| {
            let subject = format!("{} {}", d.netns, d.dev);
            let expected = format!("mtu {}", d.mtu_bytes);
            match hosts[&d.netns].nl().link(&d.dev) {
                Ok(l) => record(
                    "mtu",
                    subject,
                    expected,
                    format!("mtu {}", l.mtu_bytes),
                    l.mtu_bytes == d.mtu_bytes,
                    None,
                ),
                Err(e) => errored("mtu", subject, expected, &e),
            }
        })
        .collect()
}

/// After traffic, each declared neighbour entry is resolved and holds the owner's real MAC,
/// and no namespace with declared entries holds an INCOMPLETE or FAILED entry (a peer that
/// never answered ARP).
pub(super) fn neighbours(
    hosts: &BTreeMap<String, Host>,
    declared: &[NeighbourExpect],
) -> Vec<CheckRecord> {
    let mut out: Vec<CheckRecord> = declared.iter().map(|n| neighbour(hosts, n)).collect();
    let mut namespaces: Vec<&String> = declared.iter().map(|n| &n.netns).collect();
    namespaces.sort();
    namespaces.dedup();
    for netns in namespaces {
        let subject = format!("{netns} neighbour table");
        let expected = "no INCOMPLETE or FAILED entries".to_string();
        out.push(match hosts[netns].nl().neighbours() {
            Ok(entries) => {
                let bad: Vec<String> = entries
                    .iter()
                    .filter(|e| {
                        matches!(e.state, NeighbourState::Incomplete | NeighbourState::Failed)
                    })
                    .map(|e| format!("{} {}", e.ip, e.state.as_str()))
                    .collect();
                let ok = bad.is_empty();
                let actual = if ok {
                    format!("{} entries, none unresolved", entries.len())
                } else {
                    bad.join("; ")
                };
                let reason = (!ok).then(|| "a neighbour did not answer ARP or NDP".to_string());
                record("neighbours", subject, expected, actual, ok, reason)
            }
            Err(e) => errored("neighbours", subject, expected, &e),
        });
    }
    out
}

fn neighbour(hosts: &BTreeMap<String, Host>, n: &NeighbourExpect) -> CheckRecord {
    let subject = format!("{} {} neighbour {}", n.netns, n.dev, n.ip);
    let owner_nl = hosts[&n.owner_netns].nl();
    // No device named: the one that holds the address (a gateway a plugin put somewhere).
    let owner = if n.owner_dev.is_empty() {
        owner_nl.addresses().and_then(|mut addrs| {
            if n.ip.is_ipv6() {
                addrs = owner_nl.addresses6()?;
            }
            let held = addrs.iter().find(|a| a.net.addr() == n.ip).map(|a| a.index);
            let links = owner_nl.links()?;
            links
                .into_iter()
                .find(|l| Some(l.index) == held)
                .ok_or_else(|| crate::error::HarnessError::Unsupported {
                    what: format!("no device in {} holds {}", n.owner_netns, n.ip),
                    fix: "the gateway a result names must be an address of the node".into(),
                })
        })
    } else {
        owner_nl.link(&n.owner_dev)
    };
    let Ok(Some(owner_mac)) = owner.as_ref().map(|l| l.mac) else {
        return record(
            "neighbours",
            subject,
            format!(
                "MAC of {} in {}",
                if n.owner_dev.is_empty() {
                    format!("the device holding {}", n.ip)
                } else {
                    n.owner_dev.clone()
                },
                n.owner_netns
            ),
            format!("owner device unreadable: {owner:?}"),
            false,
            None,
        );
    };
    let expected = format!("lladdr {} (resolved)", format_mac(&owner_mac));
    let nl = hosts[&n.netns].nl();
    let found = nl.link_index(&n.dev).and_then(|idx| {
        Ok(nl
            .neighbours()?
            .into_iter()
            .find(|e| e.index == idx && e.ip == n.ip))
    });
    match found {
        Ok(Some(e)) => {
            let actual = format!(
                "lladdr {} {}",
                e.mac
                    .map(|m| format_mac(&m))
                    .unwrap_or_else(|| "none".into()),
                e.state.as_str()
            );
            let ok = e.state.is_resolved() && e.mac == Some(owner_mac);
            let reason = (!ok).then(|| {
                let owner = if n.owner_dev.is_empty() {
                    format!("the MAC of the device holding {}", n.ip)
                } else {
                    format!("{}'s MAC", n.owner_dev)
                };
                format!("the entry must hold {owner} and not be INCOMPLETE or FAILED")
            });
            record("neighbours", subject, expected, actual, ok, reason)
        }
        Ok(None) => record(
            "neighbours",
            subject,
            expected,
            "no entry".into(),
            false,
            Some("traffic to this neighbour should have resolved it".into()),
        ),
        Err(e) => errored("neighbours", subject, expected, &e),
    }
}

/// After traffic, the bridge learned each declared MAC on the declared port.
pub(super) fn fdb(hosts: &BTreeMap<String, Host>, declared: &[FdbExpect]) -> Vec<CheckRecord> {
    declared
        .iter()
        .map(|f| {
            let subject = format!("{} {}: {} on port {}", f.netns, f.bridge, f.label, f.port);
            let mac = hosts[&f.mac_netns]
                .nl()
                .link(&f.mac_dev)
                .ok()
                .and_then(|l| l.mac);
            let Some(mac) = mac else {
                return record(
                    "fdb",
                    subject,
                    format!("MAC of {} in {}", f.mac_dev, f.mac_netns),
                    "device unreadable".into(),
                    false,
                    None,
                );
            };
            let expected = format!("{} learned on {}", format_mac(&mac), f.port);
            let nl = hosts[&f.netns].nl();
            let result = (|| {
                let links = nl.links()?;
                let entries = nl.fdb()?;
                Ok::<_, crate::error::HarnessError>((links, entries))
            })();
            match result {
                Ok((links, entries)) => {
                    let name_of = |i: u32| link_name(&links, i);
                    let hits: Vec<String> = entries
                        .iter()
                        .filter(|e| e.mac == mac)
                        .map(|e| {
                            format!(
                                "{} on {}{}",
                                format_mac(&e.mac),
                                name_of(e.port),
                                if e.permanent {
                                    " permanent"
                                } else {
                                    " learned"
                                }
                            )
                        })
                        .collect();
                    let ok = entries
                        .iter()
                        .any(|e| e.mac == mac && !e.permanent && name_of(e.port) == f.port);
                    let actual = if hits.is_empty() {
                        "not in the FDB".to_string()
                    } else {
                        hits.join("; ")
                    };
                    let reason = (!ok).then(|| {
                        "the bridge must learn each endpoint's MAC on that endpoint's port"
                            .to_string()
                    });
                    record("fdb", subject, expected, actual, ok, reason)
                }
                Err(e) => errored("fdb", subject, expected, &e),
            }
        })
        .collect()
}

/// Fallback devices a tunnel module creates in a namespace when it loads (`ipip` makes
/// `tunl0`): the kernel's, not a backend's, so they count only when declared.
const KERNEL_FALLBACKS: [(&str, &str); 4] = [
    ("tunl0", "ipip"),
    ("gre0", "gre"),
    ("sit0", "sit"),
    ("ip6tnl0", "ip6tnl"),
];

/// Each namespace holds exactly the declared devices (besides `lo` and undeclared kernel
/// fallback tunnels), of the declared kinds.
pub(super) fn devices(hosts: &BTreeMap<String, Host>, declared: &[DeviceSet]) -> Vec<CheckRecord> {
    // Several declarations (underlay, pod bridge, backend) add to one namespace's set.
    let mut want: BTreeMap<&str, Vec<(String, String)>> = BTreeMap::new();
    for d in declared {
        want.entry(&d.netns)
            .or_default()
            .extend(d.devices.iter().cloned());
    }
    want.into_iter()
        .map(|(netns, declared)| {
            let links = hosts[netns].nl().links();
            // A kind of `*` is any kind (a device a plugin's result names without saying
            // what it is): it takes the kind of the device of that name.
            let mut want: Vec<String> = declared
                .iter()
                .map(|(n, k)| {
                    let kind = match (k.as_str(), &links) {
                        ("*", Ok(links)) => links
                            .iter()
                            .find(|l| l.name == *n)
                            .map(|l| l.kind.as_str().to_string())
                            .unwrap_or_else(|| "any kind".into()),
                        _ => k.clone(),
                    };
                    format!("{n} ({kind})")
                })
                .collect();
            want.sort();
            want.dedup();
            let expected = want.join(", ");
            match links {
                Ok(links) => {
                    let mut got: Vec<String> = links
                        .iter()
                        .filter(|l| l.name != "lo")
                        .map(|l| format!("{} ({})", l.name, l.kind.as_str()))
                        .filter(|d| {
                            want.contains(d)
                                || !KERNEL_FALLBACKS
                                    .iter()
                                    .any(|(n, k)| *d == format!("{n} ({k})"))
                        })
                        .collect();
                    got.sort();
                    let ok = got == want;
                    let reason = (!ok).then(|| {
                        let missing: Vec<_> = want.iter().filter(|w| !got.contains(w)).collect();
                        let extra: Vec<_> = got.iter().filter(|g| !want.contains(g)).collect();
                        format!("missing: {missing:?}; unexpected: {extra:?}")
                    });
                    record(
                        "devices",
                        netns.to_string(),
                        expected,
                        got.join(", "),
                        ok,
                        reason,
                    )
                }
                Err(e) => errored("devices", netns.to_string(), expected, &e),
            }
        })
        .collect()
}

/// VXLAN control plane: the remote VTEP's permanent neighbour entry and FDB entry hold its
/// real MAC, and the FDB entry points at the remote node's underlay IP.
pub(super) fn vteps(hosts: &BTreeMap<String, Host>, declared: &[VtepExpect]) -> Vec<CheckRecord> {
    let mut out = Vec::new();
    for v in declared {
        let mac = hosts[&v.owner_netns]
            .nl()
            .link(&v.owner_dev)
            .ok()
            .and_then(|l| l.mac);
        let Some(mac) = mac else {
            out.push(record(
                "vxlan",
                format!("{} {} remote VTEP", v.netns, v.dev),
                format!("MAC of {} in {}", v.owner_dev, v.owner_netns),
                "remote VTEP device unreadable".into(),
                false,
                None,
            ));
            continue;
        };
        let nl = hosts[&v.netns].nl();
        let index = nl.link_index(&v.dev).ok();
        let m = format_mac(&mac);
        // Neighbour: remote VTEP IP -> its MAC, permanent.
        let subject = format!("{} {} neighbour {}", v.netns, v.dev, v.remote_vtep_ip);
        let expected = format!("lladdr {m} PERMANENT");
        out.push(match nl.neighbours() {
            Ok(entries) => {
                let e = entries
                    .iter()
                    .find(|e| Some(e.index) == index && e.ip == v.remote_vtep_ip);
                let actual = e
                    .map(|e| {
                        format!(
                            "lladdr {} {}",
                            e.mac
                                .map(|x| format_mac(&x))
                                .unwrap_or_else(|| "none".into()),
                            e.state.as_str()
                        )
                    })
                    .unwrap_or_else(|| "no entry".into());
                let ok =
                    e.is_some_and(|e| e.mac == Some(mac) && e.state == NeighbourState::Permanent);
                record("vxlan", subject, expected, actual, ok, None)
            }
            Err(e) => errored("vxlan", subject, expected, &e),
        });
        // FDB: remote VTEP MAC -> remote node IP.
        let subject = format!("{} {} fdb {m}", v.netns, v.dev);
        let expected = format!("{m} dst {} permanent", v.remote_node_ip);
        out.push(match nl.fdb() {
            Ok(entries) => {
                let hits: Vec<_> = entries
                    .iter()
                    .filter(|e| Some(e.port) == index && e.mac == mac)
                    .collect();
                let actual = if hits.is_empty() {
                    "no entry".to_string()
                } else {
                    hits.iter()
                        .map(|e| {
                            format!(
                                "{m} dst {}{}",
                                e.dst
                                    .map(|d| d.to_string())
                                    .unwrap_or_else(|| "none".into()),
                                if e.permanent { " permanent" } else { "" }
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; ")
                };
                let ok = hits
                    .iter()
                    .any(|e| e.dst == Some(v.remote_node_ip) && e.permanent);
                record("vxlan", subject, expected, actual, ok, None)
            }
            Err(e) => errored("vxlan", subject, expected, &e),
        });
    }
    out
}

/// IPv6 only: no address of any namespace of the run is tentative or dadfailed. A tentative
/// address is neither used nor answered for (RFC 4862 §5.4): a pod whose address went
/// tentative again (its link flapped, its DAD restarted) is unreachable while it looks
/// configured; a dadfailed one never becomes usable.
pub(super) fn addresses_settled(hosts: &BTreeMap<String, Host>) -> Vec<CheckRecord> {
    hosts
        .iter()
        .map(|(netns, host)| {
            let subject = format!("{netns} IPv6 addresses");
            let expected = "none tentative or dadfailed".to_string();
            let nl = host.nl();
            match nl.addresses6().and_then(|a| Ok((a, nl.links()?))) {
                Ok((addrs, links)) => {
                    let bad: Vec<String> = addrs
                        .iter()
                        .filter(|a| a.tentative || a.dad_failed)
                        .map(|a| {
                            format!(
                                "{} {} {}",
                                link_name(&links, a.index),
                                a.net,
                                if a.dad_failed {
                                    "dadfailed"
                                } else {
                                    "tentative"
                                }
                            )
                        })
                        .collect();
                    let ok = bad.is_empty();
                    let actual = if ok {
                        format!("{} address(es), all usable", addrs.len())
                    } else {
                        bad.join("; ")
                    };
                    record(
                        "addresses",
                        subject,
                        expected,
                        actual,
                        ok,
                        (!ok).then(|| {
                            "an address in duplicate address detection is neither used nor \
                             answered for"
                                .to_string()
                        }),
                    )
                }
                Err(e) => errored("addresses", subject, expected, &e),
            }
        })
        .collect()
}
