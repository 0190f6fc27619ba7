//! What a chain can change in a node, as comparable lines: links, addresses, main-table
//! routes, the iptables ruleset (chains and rules, without counters), nftables tables, and
//! the files of host-local's state. Two snapshots around an ADD say what the attachment
//! made; a third after its DEL says what DEL left (CNI specification §2: DEL removes what ADD
//! made). Neighbour entries are left out: traffic makes them, not plugins.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use harness::host::Host;

/// Tables iptables-nft makes for the iptables ruleset (read through `iptables-save`).
const IPTABLES_NFT_TABLES: [&str; 5] = ["filter", "nat", "mangle", "raw", "security"];

/// One node's state, as lines (`link cni0 (bridge)`, `rule nat -A CNI-HOSTPORT-DNAT ...`,
/// `ipam cbr0/100.96.0.5`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeState {
    /// Every line.
    pub items: BTreeSet<String>,
    /// What could not be read, and why (a missing `iptables-save`).
    pub unreadable: Vec<String>,
}

impl NodeState {
    /// Reads the state of `host` (a node), with host-local's files under `ipam_dir` (read
    /// where the node is on this machine).
    pub fn capture(host: &Host, ipam_dir: &Path) -> NodeState {
        let mut s = NodeState::default();
        let nl = host.nl();
        match nl.links() {
            Ok(links) => {
                let name_of = |i: u32| {
                    links
                        .iter()
                        .find(|l| l.index == i)
                        .map(|l| l.name.clone())
                        .unwrap_or_default()
                };
                s.items.extend(
                    links
                        .iter()
                        .map(|l| format!("link {} ({})", l.name, l.kind.as_str())),
                );
                match nl.addresses() {
                    Ok(addrs) => s.items.extend(
                        addrs
                            .iter()
                            .map(|a| format!("address {} on {}", a.net, name_of(a.index))),
                    ),
                    Err(e) => s.unreadable.push(format!("addresses: {e}")),
                }
            }
            Err(e) => s.unreadable.push(format!("links: {e}")),
        }
        match nl.routes() {
            Ok(routes) => s.items.extend(routes.iter().map(|r| format!("route {r}"))),
            Err(e) => s.unreadable.push(format!("routes: {e}")),
        }
        match host.run("iptables-save", &[], Duration::from_secs(10)) {
            Ok(o) if o.status.success() => s.items.extend(iptables_lines(&o.stdout)),
            Ok(o) => s.unreadable.push(format!("iptables-save: {}", o.status)),
            Err(e) => s.unreadable.push(format!("iptables-save: {e}")),
        }
        match host.run(
            "nft",
            &["list".into(), "tables".into()],
            Duration::from_secs(10),
        ) {
            Ok(o) if o.status.success() => s.items.extend(nft_tables(&o.stdout)),
            Ok(o) => s.unreadable.push(format!("nft list tables: {}", o.status)),
            Err(e) => s.unreadable.push(format!("nft list tables: {e}")),
        }
        if host.local().is_some() {
            let mut files = Vec::new();
            list_files(ipam_dir, ipam_dir, &mut files);
            s.items
                .extend(files.into_iter().map(|f| format!("ipam {f}")));
        }
        s
    }

    /// The lines of `self` that `before` does not have.
    pub fn new_since(&self, before: &NodeState) -> Vec<String> {
        self.items.difference(&before.items).cloned().collect()
    }
}

/// Whether a line is a reservation of host-local (a file named by an address), as opposed
/// to its shared files (`lock`, `last_reserved_ip.0`).
pub fn is_reservation(line: &str) -> bool {
    line.strip_prefix("ipam ")
        .and_then(|p| p.rsplit('/').next())
        .is_some_and(|f| f.parse::<std::net::IpAddr>().is_ok())
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

fn list_files(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.filter_map(|e| e.ok()) {
        let p = e.path();
        if p.is_dir() {
            list_files(root, &p, out);
        } else if let Ok(rel) = p.strip_prefix(root) {
            out.push(rel.display().to_string());
        }
    }
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
        assert!(is_reservation("ipam n0/cbr0/100.96.0.5"));
        assert!(!is_reservation("ipam n0/cbr0/last_reserved_ip.0"));
        assert!(!is_reservation("link cni0 (bridge)"));
    }
}
