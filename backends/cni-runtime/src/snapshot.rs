//! What a chain can change in a node, as comparable lines: the harness's snapshot of links,
//! addresses, routes (every kind and table but the local one), the iptables ruleset and
//! nftables tables ([`harness::snapshot`]), and the files of host-local's state. Two snapshots around an ADD
//! say what the attachment made; a third after its DEL says what DEL left (CNI specification
//! §2: DEL removes what ADD made). Neighbour entries are left out: traffic makes them, not
//! plugins.

use std::collections::BTreeSet;
use std::path::Path;

use harness::host::Host;
use harness::snapshot::{Parts, Snapshot};

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
        let Snapshot {
            mut items,
            unreadable,
            ..
        } = Snapshot::capture(
            host,
            Parts {
                neighbours: false,
                rules: true,
            },
        );
        if host.local().is_some() {
            items.extend(ipam_lines(ipam_dir));
        }
        NodeState { items, unreadable }
    }

    /// The lines of `self` that `before` does not have.
    pub fn new_since(&self, before: &NodeState) -> Vec<String> {
        self.items.difference(&before.items).cloned().collect()
    }
}

/// host-local's files under `ipam_dir` (on this machine) as lines: `ipam cbr0/100.96.0.5`.
pub fn ipam_lines(ipam_dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    list_files(ipam_dir, ipam_dir, &mut files);
    files.into_iter().map(|f| format!("ipam {f}")).collect()
}

/// Whether a line is a reservation of host-local (a file named by an address), as opposed
/// to its shared files (`lock`, `last_reserved_ip.0`).
pub fn is_reservation(line: &str) -> bool {
    line.strip_prefix("ipam ")
        .and_then(|p| p.rsplit('/').next())
        .is_some_and(|f| f.parse::<std::net::IpAddr>().is_ok())
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
    fn reservations_are_told_from_shared_files() {
        assert!(is_reservation("ipam n0/cbr0/100.96.0.5"));
        assert!(!is_reservation("ipam n0/cbr0/last_reserved_ip.0"));
        assert!(!is_reservation("link cni0 (bridge)"));
    }
}
