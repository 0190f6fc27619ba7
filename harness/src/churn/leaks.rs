//! What churn must leave as it found it: every namespace's links, addresses, routes,
//! programmed neighbour and FDB entries (and a node's iptables rules and nftables tables:
//! a rule left inside an nftables table that stays is not seen), what the backend's own
//! parts hold (BIRD's routes, an IPAM's reservations:
//! [`crate::backend::PodLifecycle::held`]), the run's namespaces, and the file descriptors
//! and memory of every daemon and of cnbench itself, flat across cycles.
//!
//! Neighbour and FDB entries the kernel learned from traffic are caches that expire by
//! themselves ([`crate::snapshot`]); they are named in the check's text, never counted.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use reports::{CheckOutcome, CheckRecord, DaemonUsage};

use crate::backend::Backend;
use crate::checks::record;
use crate::cost::process::{open_fds, rss_bytes};
use crate::run::Topology;
use crate::snapshot::{Parts, Snapshot};

/// How long what the churn removed gets to leave every table before a leftover counts: a
/// BGP withdrawal crosses the speakers within milliseconds, but a session that dropped
/// takes its hold time (3 s) to be noticed.
pub const SETTLE: Duration = Duration::from_secs(5);

/// How much a daemon's resident memory may grow from the end of the first cycle to the end
/// of the last before it counts as a leak. Allocators keep what they once used, so the first
/// cycle (which reaches the peak number of pods) sets the level; after it, a leak of even
/// 100 bytes per pod over 100 pods and 20 cycles (about 190 KiB) stays within reach of
/// this bound, while an allocator's page-sized noise does not cross it.
pub const RSS_SLACK_BYTES: u64 = 256 * 1024;

/// What every namespace of the run and the backend's parts hold at one moment.
#[derive(Debug, Clone, Default)]
pub struct State {
    /// Each namespace's snapshot, by name.
    pub namespaces: BTreeMap<String, Snapshot>,
    /// What the backend's parts hold, by node namespace.
    pub held: BTreeMap<String, BTreeSet<String>>,
    /// The run's namespaces that exist (`/run/netns/cnb-<run>-*`, on this machine or on
    /// the nodes' machines).
    pub netns: BTreeSet<String>,
}

impl State {
    /// Reads everything now.
    pub fn capture(topo: &Topology, backend: &dyn Backend) -> State {
        let plan = topo.plan();
        let pod_netns: BTreeSet<&str> = plan
            .pods
            .iter()
            .filter(|p| p.own_netns)
            .map(|p| p.netns.as_str())
            .collect();
        let mut s = State::default();
        for (name, host) in topo.hosts() {
            let parts = Parts {
                neighbours: true,
                // Plugins and daemons put rules in nodes (and the router), not in pods.
                rules: !pod_netns.contains(name.as_str()),
            };
            s.namespaces
                .insert(name.clone(), Snapshot::capture(host, parts));
        }
        if let Some(pods) = backend.capabilities().pods {
            let ctx = topo.backend_context();
            for node in &plan.nodes {
                let lines = match pods.held(&ctx, node) {
                    Ok(l) => l,
                    Err(e) => vec![format!("unreadable: {e}")],
                };
                s.held
                    .insert(node.netns.clone(), lines.into_iter().collect());
            }
        }
        let prefix = format!("cnb-{}-", plan.run_id());
        if plan.spec.substrate == crate::topology::Substrate::Netns {
            if let Ok(entries) = std::fs::read_dir("/run/netns") {
                s.netns = entries
                    .filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .filter(|n| n.starts_with(&prefix))
                    .collect();
            }
        } else {
            // The pods' namespaces are on the nodes' machines: each node lists its own.
            for node in &plan.nodes {
                s.netns
                    .extend(remote_netns(&topo.hosts()[&node.netns], &prefix));
            }
        }
        s
    }

    /// What differs from `before`, as (subject, left, missing) per namespace or part.
    fn differences(&self, before: &State) -> Vec<(String, Vec<String>, Vec<String>)> {
        let mut out = Vec::new();
        for (name, b) in &before.namespaces {
            let (left, missing) = match self.namespaces.get(name) {
                Some(a) => (a.new_since(b), a.gone_since(b)),
                None => (Vec::new(), vec!["the namespace itself".to_string()]),
            };
            out.push((name.clone(), left, missing));
        }
        for (node, b) in &before.held {
            let a = self.held.get(node).cloned().unwrap_or_default();
            out.push((
                format!("{node} (the backend's own parts)"),
                a.difference(b).cloned().collect(),
                b.difference(&a).cloned().collect(),
            ));
        }
        out.push((
            "the run's namespaces".into(),
            self.netns.difference(&before.netns).cloned().collect(),
            before.netns.difference(&self.netns).cloned().collect(),
        ));
        out
    }
}

/// The run's namespaces (named with `prefix`) in `/run/netns` of `node`'s machine, listed
/// there by `ls`; what could not be listed is one entry saying so, the same before and after.
fn remote_netns(node: &crate::host::Host, prefix: &str) -> Vec<String> {
    let listed = node.run(
        "ls",
        &["-1".to_string(), crate::netns::NETNS_RUN_DIR.to_string()],
        Duration::from_secs(5),
    );
    match listed {
        Ok(out) if out.status.code == Some(0) => out
            .stdout
            .lines()
            .map(str::trim)
            .filter(|n| n.starts_with(prefix))
            .map(str::to_string)
            .collect(),
        Ok(out) => vec![format!(
            "(/run/netns on {} not listed: {})",
            node.name(),
            out.stderr.trim()
        )],
        Err(e) => vec![format!("(/run/netns on {} not listed: {e})", node.name())],
    }
}

/// One `leak` check per namespace (and per node's backend parts, and for the run's
/// namespaces): what the churn left, against `before`. What is left is read again until
/// nothing is or [`SETTLE`] passed, so a withdrawal still under way is not a leak. Then
/// `daemon-fds` and `daemon-rss` per daemon from `usage`.
pub fn checks(
    topo: &Topology,
    backend: &dyn Backend,
    before: &State,
    usage: &[DaemonUsage],
) -> Vec<CheckRecord> {
    let deadline = Instant::now() + SETTLE;
    let (after, diffs) = loop {
        let after = State::capture(topo, backend);
        let diffs = after.differences(before);
        let clean = diffs.iter().all(|(_, l, m)| l.is_empty() && m.is_empty());
        if clean || Instant::now() >= deadline || crate::signals::interrupted() {
            break (after, diffs);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut out = Vec::new();
    for (subject, left, missing) in diffs {
        let caches = after
            .namespaces
            .get(&subject)
            .zip(before.namespaces.get(&subject))
            .map(|(a, b)| a.caches.difference(&b.caches).count())
            .unwrap_or(0);
        let unreadable = after
            .namespaces
            .get(&subject)
            .map(|a| a.unreadable.clone())
            .unwrap_or_default();
        let ok = left.is_empty() && missing.is_empty();
        let mut actual = if ok {
            "as before".to_string()
        } else {
            let mut parts = Vec::new();
            if !left.is_empty() {
                parts.push(format!("left: {}", left.join("; ")));
            }
            if !missing.is_empty() {
                parts.push(format!("missing: {}", missing.join("; ")));
            }
            parts.join("; ")
        };
        if caches > 0 {
            actual.push_str(&format!(
                " ({caches} new neighbour/FDB cache entr{}, which the kernel expires itself)",
                if caches == 1 { "y" } else { "ies" }
            ));
        }
        if !unreadable.is_empty() {
            actual.push_str(&format!(" (not read: {})", unreadable.join("; ")));
        }
        out.push(record(
            "leak",
            subject,
            "what it held before the churn".into(),
            actual,
            ok,
            (!ok).then(|| "the churn's pods are gone, but this is not as it was".into()),
        ));
    }
    out.extend(usage_checks(usage));
    out
}

/// Adds a sample of every daemon's (and cnbench's own) fds and RSS to `usage`.
pub fn sample_usage(topo: &Topology, usage: &mut Vec<DaemonUsage>) {
    let mut now: Vec<(String, u32)> = vec![("cnbench (this process)".into(), std::process::id())];
    for (what, _netns, pid) in topo.daemons() {
        // Only daemons on this machine can be read here.
        if topo.plan().spec.substrate == crate::topology::Substrate::Netns {
            now.push((what, pid));
        }
    }
    for (what, pid) in now {
        let (Some(fds), Some(rss)) = (open_fds(pid), rss_bytes(pid)) else {
            continue;
        };
        match usage.iter_mut().find(|u| u.pid == pid && u.what == what) {
            Some(u) => {
                u.fds.push(fds);
                u.rss_bytes.push(rss);
            }
            None => usage.push(DaemonUsage {
                what,
                pid,
                fds: vec![fds],
                rss_bytes: vec![rss],
            }),
        }
    }
}

/// `daemon-fds` and `daemon-rss` of each daemon with samples before the first cycle and
/// after each: file descriptors after the last cycle no more than after the first, memory
/// grown by no more than [`RSS_SLACK_BYTES`] from the first cycle's end to the last's. With
/// a single cycle there is no "after the first" to hold the last against, so memory is not
/// judged (file descriptors are held against the start).
pub fn usage_checks(usage: &[DaemonUsage]) -> Vec<CheckRecord> {
    let mut out = Vec::new();
    for u in usage {
        if u.fds.len() < 2 {
            continue;
        }
        let reference = if u.fds.len() >= 3 { 1 } else { 0 };
        let when = if reference == 1 {
            "after the first cycle"
        } else {
            "before the churn"
        };
        let (f0, f1) = (u.fds[reference], *u.fds.last().expect("2+"));
        out.push(record(
            "daemon-fds",
            format!("{} (pid {})", u.what, u.pid),
            format!("no more open files than {when} ({f0})"),
            format!("{f1} after the last cycle (per cycle: {:?})", u.fds),
            f1 <= f0,
            (f1 > f0).then(|| "file descriptors grow from cycle to cycle: a leak".into()),
        ));
        if u.pid == std::process::id() {
            // cnbench's own memory grows by design: the result keeps every pod's times.
            let mut r = record(
                "daemon-rss",
                format!("{} (pid {})", u.what, u.pid),
                "flat after the first cycle".into(),
                format!(
                    "{} KiB before the first cycle, {} KiB after the last",
                    u.rss_bytes[0] / 1024,
                    u.rss_bytes.last().expect("2+") / 1024
                ),
                true,
                Some(
                    "cnbench's result keeps every pod's times in memory, so its memory grows \
                     with the cycles; ci/soak.sh judges its memory"
                        .into(),
                ),
            );
            r.outcome = CheckOutcome::NotApplicable;
            out.push(r);
            continue;
        }
        if u.rss_bytes.len() < 3 {
            let mut r = record(
                "daemon-rss",
                format!("{} (pid {})", u.what, u.pid),
                "flat after the first cycle".into(),
                "one cycle only".into(),
                true,
                Some("needs --cycles 2 or more: the first cycle sets the level".into()),
            );
            r.outcome = CheckOutcome::NotApplicable;
            out.push(r);
            continue;
        }
        let (r0, r1) = (u.rss_bytes[1], *u.rss_bytes.last().expect("3+"));
        let grown = r1.saturating_sub(r0);
        out.push(record(
            "daemon-rss",
            format!("{} (pid {})", u.what, u.pid),
            format!(
                "grows by at most {} KiB after the first cycle ({} KiB)",
                RSS_SLACK_BYTES / 1024,
                r0 / 1024
            ),
            format!(
                "{} KiB after the last cycle (+{} KiB)",
                r1 / 1024,
                grown / 1024
            ),
            grown <= RSS_SLACK_BYTES,
            (grown > RSS_SLACK_BYTES).then(|| "memory grows from cycle to cycle: a leak".into()),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(fds: &[u64], rss_kib: &[u64]) -> DaemonUsage {
        DaemonUsage {
            what: "bird on n0".into(),
            pid: 7,
            fds: fds.to_vec(),
            rss_bytes: rss_kib.iter().map(|k| k * 1024).collect(),
        }
    }

    #[test]
    fn flat_daemons_pass_and_growing_ones_fail() {
        let flat = usage_checks(&[usage(&[10, 12, 12, 12], &[900, 1000, 1010, 1000])]);
        assert!(
            flat.iter().all(|c| c.outcome == CheckOutcome::Pass),
            "{flat:?}"
        );
        let leaking = usage_checks(&[usage(&[10, 12, 13, 14], &[900, 1000, 1200, 1400])]);
        let failed: Vec<&str> = leaking
            .iter()
            .filter(|c| c.outcome == CheckOutcome::Fail)
            .map(|c| c.check.as_str())
            .collect();
        assert_eq!(failed, ["daemon-fds", "daemon-rss"]);
        // One cycle: fds against the start, memory not judged.
        let one = usage_checks(&[usage(&[10, 10], &[900, 5000])]);
        assert_eq!(one[0].outcome, CheckOutcome::Pass);
        assert_eq!(one[1].outcome, CheckOutcome::NotApplicable);
    }

    #[test]
    fn differences_name_what_is_left_and_missing() {
        let mut before = State::default();
        let mut snap = Snapshot::default();
        snap.items.insert("route 10.20.1.0/24".into());
        before.namespaces.insert("cnb-x-n0".into(), snap.clone());
        before.netns.insert("cnb-x-n0".into());
        let mut after = before.clone();
        let a = after.namespaces.get_mut("cnb-x-n0").unwrap();
        a.items.insert("route 10.20.1.7/32".into());
        after.netns.insert("cnb-x-n0p9".into());
        let d = after.differences(&before);
        assert_eq!(d[0].1, ["route 10.20.1.7/32"]);
        assert_eq!(d.last().unwrap().1, ["cnb-x-n0p9"]);
    }
}
