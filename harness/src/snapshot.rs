//! What a namespace holds, as comparable lines: links, addresses, routes (every kind and
//! table but the kernel's own local one), neighbour and bridge FDB entries, and (in a node)
//! the iptables ruleset (chains and rules, without counters) and nftables tables. Two snapshots around something say what it
//! made or left: a CNI ADD and DEL (`cni-check`), a whole `cnbench churn`.
//!
//! Neighbour and FDB entries come in two kinds, kept apart. Entries someone programmed
//! (`PERMANENT` neighbours, static FDB entries: a VXLAN VTEP's, a control plane's)
//! are state, and one left behind is a leak. Entries the kernel learned from traffic
//! (`REACHABLE`, `STALE`, `FAILED` neighbours, dynamic FDB entries) and the `NOARP`
//! entries it makes itself (multicast and broadcast addresses) are caches: the kernel
//! expires them itself (`gc_stale_time`, the bridge's `ageing_time`), and a neighbour entry
//! for a removed pod's address stays in its peers' caches whatever the datapath did right,
//! so they are reported, never counted as leaks.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::host::Host;
use crate::netlink::{format_mac, link_name};

/// Tables iptables-nft makes for the iptables ruleset (read through `iptables-save`).
const IPTABLES_NFT_TABLES: [&str; 5] = ["filter", "nat", "mangle", "raw", "security"];

/// How long `iptables-save` or `nft` may take.
const RULES_LIMIT: Duration = Duration::from_secs(10);

/// What to read besides links, addresses and routes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Parts {
    /// Neighbour and bridge FDB entries.
    pub neighbours: bool,
    /// The iptables ruleset and nftables tables (a node's: where plugins put rules).
    pub rules: bool,
}

/// One namespace's state, as lines (`link cni0 (bridge)`, `route 10.20.1.0/24 via ...`,
/// `neighbour 10.10.0.5 dev vxlan0 PERMANENT ...`, `rule nat -A CNI-HOSTPORT-DNAT ...`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Every line of state.
    pub items: BTreeSet<String>,
    /// Entries the kernel learned from traffic and expires itself (see the module doc).
    pub caches: BTreeSet<String>,
    /// What could not be read, and why (a missing `iptables-save`).
    pub unreadable: Vec<String>,
}

impl Snapshot {
    /// Reads the state of `host`: links, addresses, routes, and what `parts` asks for.
    pub fn capture(host: &Host, parts: Parts) -> Snapshot {
        let mut s = Snapshot::default();
        let nl = host.nl();
        let links = match nl.links() {
            Ok(links) => links,
            Err(e) => {
                s.unreadable.push(format!("links: {e}"));
                Vec::new()
            }
        };
        let name_of = |i: u32| link_name(&links, i);
        s.items.extend(
            links
                .iter()
                .map(|l| format!("link {} ({})", l.name, l.kind.as_str())),
        );
        // Both families: a namespace with IPv6 off has no IPv6 address at all.
        let addrs = nl.addresses().and_then(|mut a| {
            a.extend(nl.addresses6()?);
            Ok(a)
        });
        match addrs {
            Ok(addrs) => s.items.extend(
                addrs
                    .iter()
                    .map(|a| format!("address {} on {}", a.net, name_of(a.index))),
            ),
            Err(e) => s.unreadable.push(format!("addresses: {e}")),
        }
        match nl.route_lines() {
            Ok(routes) => s.items.extend(routes.iter().map(|r| format!("route {r}"))),
            Err(e) => s.unreadable.push(format!("routes: {e}")),
        }
        if parts.neighbours {
            s.read_neighbours(host, &name_of);
        }
        if parts.rules {
            s.read_rules(host);
        }
        s
    }

    /// The lines of `self` that `before` does not have.
    pub fn new_since(&self, before: &Snapshot) -> Vec<String> {
        self.items.difference(&before.items).cloned().collect()
    }

    /// The lines of `before` that `self` no longer has.
    pub fn gone_since(&self, before: &Snapshot) -> Vec<String> {
        before.items.difference(&self.items).cloned().collect()
    }

    fn read_neighbours(&mut self, host: &Host, name_of: &dyn Fn(u32) -> String) {
        use crate::netlink::NeighbourState as S;
        match host.nl().neighbours() {
            Ok(ns) => {
                for n in ns {
                    let mac = n.mac.map(|m| format_mac(&m)).unwrap_or_default();
                    let line = format!(
                        "neighbour {} dev {} lladdr {mac} {}",
                        n.ip,
                        name_of(n.index),
                        n.state.as_str()
                    );
                    // NOARP entries are the kernel's own (multicast and broadcast addresses,
                    // devices without ARP): only PERMANENT ones are programmed.
                    if n.state == S::Permanent {
                        self.items.insert(line);
                    } else {
                        // The state of a cache entry changes by itself; its address is what
                        // says whom it is about.
                        self.caches
                            .insert(format!("neighbour {} dev {}", n.ip, name_of(n.index)));
                    }
                }
            }
            Err(e) => self.unreadable.push(format!("neighbours: {e}")),
        }
        match host.nl().fdb() {
            Ok(entries) => {
                for f in entries {
                    let mut line = format!("fdb {} dev {}", format_mac(&f.mac), name_of(f.port));
                    if let Some(m) = f.master {
                        line.push_str(&format!(" master {}", name_of(m)));
                    }
                    if let Some(d) = f.dst {
                        line.push_str(&format!(" dst {d}"));
                    }
                    if f.permanent {
                        self.items.insert(line);
                    } else {
                        self.caches.insert(line);
                    }
                }
            }
            Err(e) => self.unreadable.push(format!("fdb: {e}")),
        }
    }

    fn read_rules(&mut self, host: &Host) {
        match host.run("iptables-save", &[], RULES_LIMIT) {
            Ok(o) if o.status.success() => self.items.extend(iptables_lines(&o.stdout)),
            Ok(o) => self.unreadable.push(format!("iptables-save: {}", o.status)),
            Err(e) => self.unreadable.push(format!("iptables-save: {e}")),
        }
        match host.run("nft", &["list".into(), "tables".into()], RULES_LIMIT) {
            Ok(o) if o.status.success() => self.items.extend(nft_tables(&o.stdout)),
            Ok(o) => self
                .unreadable
                .push(format!("nft list tables: {}", o.status)),
            Err(e) => self.unreadable.push(format!("nft list tables: {e}")),
        }
    }
}

/// `iptables-save` as lines: each chain (`chain nat CNI-DN-1a2b`) and each rule (`rule nat
/// -A CNI-DN-1a2b ...`), without counters or comments about the save itself.
fn iptables_lines(text: &str) -> Vec<String> {
    let mut table = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(t) = line.strip_prefix('*') {
            table = t.to_string();
        } else if let Some(chain) = line.strip_prefix(':') {
            let name = chain.split_whitespace().next().unwrap_or("");
            out.push(format!("chain {table} {name}"));
        } else if line.starts_with("-A ") {
            out.push(format!("rule {table} {line}"));
        }
    }
    out
}

/// `nft list tables` as lines, without the tables iptables-nft keeps (read as iptables
/// rules instead).
fn nft_tables(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next()? == "table").then_some(())?;
            let (family, name) = (w.next()?, w.next()?);
            let iptables = matches!(family, "ip" | "ip6") && IPTABLES_NFT_TABLES.contains(&name);
            (!iptables).then(|| format!("nft table {family} {name}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iptables_and_nft_are_read_as_lines() {
        let save = "# Generated by iptables-save\n*nat\n:PREROUTING ACCEPT [0:0]\n:CNI-DN-1 - [0:0]\n-A CNI-DN-1 -p tcp -j DNAT --to-destination 10.0.0.2:80\nCOMMIT\n";
        assert_eq!(
            iptables_lines(save),
            [
                "chain nat PREROUTING",
                "chain nat CNI-DN-1",
                "rule nat -A CNI-DN-1 -p tcp -j DNAT --to-destination 10.0.0.2:80"
            ]
        );
        let tables = "table ip nat\ntable ip cni_hostport\ntable inet filter\n";
        assert_eq!(
            nft_tables(tables),
            ["nft table ip cni_hostport", "nft table inet filter"]
        );
    }

    #[test]
    fn new_and_gone_lines() {
        let mut before = Snapshot::default();
        before.items.insert("link a (veth)".into());
        before.items.insert("route x".into());
        let mut after = before.clone();
        after.items.remove("route x");
        after.items.insert("route y".into());
        assert_eq!(after.new_since(&before), ["route y"]);
        assert_eq!(after.gone_since(&before), ["route x"]);
    }
}
