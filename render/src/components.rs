//! The software under test a run drove but cnbench did not write
//! ([`reports::RunResult::components`]: a CNI network and its plugins) in words, compactly:
//! `CNI network docker0 (CNI 1.0.0; chain bridge -> portmap; /etc/cni/net.d/docker0.conflist)
//! · bridge /usr/lib/cni/bridge (CNI 0.1.0–1.0.0) · host-local ...`. Every form of a run
//! (terminal summary, report, comparison documents) says it with these functions; a run
//! without components (every backend but those wiring pods with CNI) shows nothing.

use std::cmp::Ordering;

use reports::ComponentRecord;

/// The note of a CNI network that names its chain: `chain: bridge -> portmap`.
const CHAIN_NOTE: &str = "chain: ";
/// The note that names where a configuration came from.
const CONFIGURATION_NOTE: &str = "configuration: ";

/// What leads the line of a run's components.
pub(crate) const LEAD: &str = "software under test";

/// The components of a run in one line without its lead, each part apart by ` · `; `None`
/// when there are none.
pub(crate) fn line(components: &[ComponentRecord]) -> Option<String> {
    (!components.is_empty()).then(|| {
        components
            .iter()
            .map(compact)
            .collect::<Vec<_>>()
            .join(" · ")
    })
}

/// One component compactly: a network with its CNI version, chain and configuration file; a
/// plugin with its path and the range of CNI versions it supports; another kind with its
/// role, name, path and versions.
pub(crate) fn compact(c: &ComponentRecord) -> String {
    let cni = c.role.starts_with("cni-");
    let mut text = match c.role.as_str() {
        "cni-network" => format!("CNI network {}", c.name),
        "cni-plugin" => c.name.clone(),
        role => format!("{role} {}", c.name),
    };
    if let Some(path) = &c.path {
        text.push(' ');
        text.push_str(path);
    }
    let mut facts = Vec::new();
    match (&c.version, c.role.as_str()) {
        // A network's version is the one selected; what its configuration names besides is
        // in the full form.
        (Some(v), "cni-network") => facts.push(format!("CNI {v}")),
        (Some(v), _) => facts.push(format!("version {v}")),
        (None, _) => {}
    }
    if !c.supported_versions.is_empty() && (c.version.is_none() || c.role != "cni-network") {
        let lead = if cni { "CNI" } else { "supports" };
        facts.push(format!("{lead} {}", range(&c.supported_versions)));
    }
    if let Some(chain) = note(c, CHAIN_NOTE) {
        facts.push(format!("chain {chain}"));
    }
    if let Some(file) = note(c, CONFIGURATION_NOTE) {
        facts.push(file.to_owned());
    }
    if !facts.is_empty() {
        text.push_str(&format!(" ({})", facts.join("; ")));
    }
    text
}

/// The notes of the components beyond their chain and configuration file (settings cnbench
/// substituted or left alone, and why), each after the name of its component:
/// `docker0: bridge: mtu 1400 kept as configured (...)`.
pub(crate) fn notes(components: &[ComponentRecord]) -> Vec<String> {
    components
        .iter()
        .flat_map(|c| {
            c.notes
                .iter()
                .filter(|n| !n.starts_with(CHAIN_NOTE) && !n.starts_with(CONFIGURATION_NOTE))
                .map(move |n| format!("{}: {n}", c.name))
        })
        .collect()
}

/// One component in full, for a JUnit property's value: path, version, every supported
/// version, every note, apart by `; `.
pub(crate) fn full(c: &ComponentRecord) -> String {
    let mut parts = Vec::new();
    if let Some(path) = &c.path {
        parts.push(format!("path {path}"));
    }
    if let Some(v) = &c.version {
        parts.push(format!("version {v}"));
    }
    if !c.supported_versions.is_empty() {
        parts.push(format!(
            "supported versions {}",
            c.supported_versions.join(", ")
        ));
    }
    parts.extend(c.notes.iter().cloned());
    parts.join("; ")
}

/// The note of `c` that starts with `prefix`, without it.
fn note<'a>(c: &'a ComponentRecord, prefix: &str) -> Option<&'a str> {
    c.notes.iter().find_map(|n| n.strip_prefix(prefix))
}

/// Versions compactly: one as it is, two as `0.4.0, 1.0.0`, more as the lowest and the
/// highest, `0.1.0–1.0.0`.
fn range(versions: &[String]) -> String {
    let mut sorted: Vec<&str> = versions.iter().map(String::as_str).collect();
    sorted.sort_by(|a, b| version_order(a, b));
    sorted.dedup();
    match sorted.as_slice() {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [a, b] => format!("{a}, {b}"),
        [first, .., last] => format!("{first}–{last}"),
    }
}

/// Dotted versions by their numbers (`0.10.0` after `0.4.0`); parts that are not numbers as
/// text.
fn version_order(a: &str, b: &str) -> Ordering {
    let mut left = a.split('.');
    let mut right = b.split('.');
    loop {
        match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let order = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(x), Ok(y)) => x.cmp(&y),
                    _ => x.cmp(y),
                };
                if order != Ordering::Equal {
                    return order;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reports::fixtures::cni_components;

    #[test]
    fn a_cni_network_and_its_plugins_in_one_line() {
        let cs = cni_components();
        assert_eq!(
            line(&cs).unwrap(),
            "CNI network docker0 (CNI 1.0.0; chain bridge -> portmap; \
             /etc/cni/net.d/docker0.conflist) · bridge /usr/lib/cni/bridge (CNI 0.1.0–1.0.0) · \
             host-local /usr/lib/cni/host-local (CNI 0.1.0–1.0.0) · portmap \
             /usr/lib/cni/portmap (CNI 0.1.0–1.0.0)"
        );
        assert_eq!(
            notes(&cs),
            ["docker0: bridge: mtu 1400 kept as configured (the backend's pod MTU is 1450)"]
        );
        assert_eq!(
            full(&cs[1]),
            "path /usr/lib/cni/bridge; supported versions 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, \
             1.0.0"
        );
        assert!(full(&cs[0]).starts_with(
            "version 1.0.0; supported versions 1.0.0; \
                                          configuration: /etc/cni/net.d/docker0.conflist; "
        ));
        assert_eq!(line(&[]), None);
        assert!(notes(&[]).is_empty());
    }

    #[test]
    fn versions_and_other_kinds() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(range(&v(&["1.0.0", "0.10.0", "0.4.0"])), "0.4.0–1.0.0");
        assert_eq!(range(&v(&["1.0.0", "0.4.0"])), "0.4.0, 1.0.0");
        assert_eq!(range(&v(&["1.0.0"])), "1.0.0");
        let daemon = ComponentRecord {
            role: "routing-daemon".into(),
            name: "bird".into(),
            path: Some("/usr/sbin/bird".into()),
            version: Some("2.0.12".into()),
            supported_versions: Vec::new(),
            notes: Vec::new(),
        };
        assert_eq!(
            compact(&daemon),
            "routing-daemon bird /usr/sbin/bird (version 2.0.12)"
        );
        // A network that records no selected version shows what its configuration names.
        let mut network = cni_components().remove(0);
        network.version = None;
        network.supported_versions = v(&["0.4.0", "1.0.0"]);
        network.notes.clear();
        assert_eq!(compact(&network), "CNI network docker0 (CNI 0.4.0, 1.0.0)");
    }
}
