//! The software under test of two runs ([`crate::RunResult::components`]): when both runs
//! recorded what they drove and it differs (a plugin run from another path or supporting
//! other versions, a network of another CNI version or chain, a component only one run had),
//! the comparison compares that software as much as the datapath, and says so in one warning.
//! Results without components (schema version 5, backends that run nothing they did not
//! write) are not warned about.

use crate::component::ComponentRecord;
use crate::schema::RunResult;

/// The note of a CNI network that names its chain of plugins: `chain: bridge -> portmap`.
const CHAIN_NOTE: &str = "chain: ";

/// The role of a CNI network configuration.
const NETWORK: &str = "cni-network";

/// The warning about software under test that differs between the runs, if both recorded
/// theirs and anything differs.
pub(super) fn component_warning(baseline: &RunResult, candidate: &RunResult) -> Option<String> {
    let (b, c) = (&baseline.components, &candidate.components);
    if b.is_empty() || c.is_empty() {
        return None;
    }
    let found = differences(b, c);
    (!found.is_empty()).then(|| {
        format!(
            "the runs drove different software under test ({}): figures and checks may differ \
             for that reason alone; run both with the same network configuration and plugin \
             binaries to compare the datapath",
            found.join("; ")
        )
    })
}

/// What a component is, for a message: `CNI network docker0`, `CNI plugin bridge`, or its
/// role and name for other kinds.
fn what(c: &ComponentRecord) -> String {
    match c.role.as_str() {
        NETWORK => format!("CNI network {}", c.name),
        "cni-plugin" => format!("CNI plugin {}", c.name),
        role => format!("{role} {}", c.name),
    }
}

/// The chain a component's notes name, if any.
fn chain(c: &ComponentRecord) -> Option<&str> {
    c.notes.iter().find_map(|n| n.strip_prefix(CHAIN_NOTE))
}

/// Every difference between the components of the baseline (`b`) and the candidate (`c`), in
/// the baseline's order, then what only the candidate had. Components are matched by role
/// and name; a network that is the only unmatched one on each side is the same network under
/// another name (plugins of other names are other plugins).
fn differences(b: &[ComponentRecord], c: &[ComponentRecord]) -> Vec<String> {
    let mut pairs: Vec<(&ComponentRecord, &ComponentRecord)> = Vec::new();
    let mut only_b: Vec<&ComponentRecord> = Vec::new();
    for x in b {
        match c.iter().find(|y| y.role == x.role && y.name == x.name) {
            Some(y) => pairs.push((x, y)),
            None => only_b.push(x),
        }
    }
    let mut only_c: Vec<&ComponentRecord> = c
        .iter()
        .filter(|y| !b.iter().any(|x| x.role == y.role && x.name == y.name))
        .collect();
    let alone =
        |side: &[&ComponentRecord], role: &str| side.iter().filter(|x| x.role == role).count() == 1;
    let renamed: Vec<(&ComponentRecord, &ComponentRecord)> = only_b
        .iter()
        .filter(|x| x.role == NETWORK && alone(&only_b, &x.role) && alone(&only_c, &x.role))
        .filter_map(|x| only_c.iter().find(|y| y.role == x.role).map(|y| (*x, *y)))
        .collect();
    only_b.retain(|x| !renamed.iter().any(|(r, _)| std::ptr::eq(*r, *x)));
    only_c.retain(|y| !renamed.iter().any(|(_, r)| std::ptr::eq(*r, *y)));
    pairs.extend(renamed);
    // The baseline's order, whichever way a pair was matched.
    pairs.sort_by_key(|(x, _)| b.iter().position(|e| std::ptr::eq(e, *x)));

    let mut out = Vec::new();
    for (x, y) in pairs {
        out.extend(pair_differences(x, y));
    }
    for (side, only) in [("baseline", &only_b), ("candidate", &only_c)] {
        for x in only.iter() {
            let at = x
                .path
                .as_ref()
                .map(|p| format!(" ({p})"))
                .unwrap_or_default();
            out.push(format!("{}{at} only in the {side}", what(x)));
        }
    }
    out
}

/// How one component differs between the runs: name, path, version, supported versions
/// (as sets), chain.
fn pair_differences(b: &ComponentRecord, c: &ComponentRecord) -> Vec<String> {
    let mut out = Vec::new();
    let mut differ = |what: &str, bv: Option<&str>, cv: Option<&str>| {
        if bv != cv {
            out.push(format!(
                "{what} differs (baseline {}, candidate {})",
                bv.unwrap_or("none"),
                cv.unwrap_or("none")
            ));
        }
    };
    let name = what(b);
    if b.name != c.name {
        differ(
            &format!("{name}: name"),
            Some(b.name.as_str()),
            Some(c.name.as_str()),
        );
    }
    differ(
        &format!("{name}: path"),
        b.path.as_deref(),
        c.path.as_deref(),
    );
    let version = if b.role == NETWORK {
        "CNI version"
    } else {
        "version"
    };
    differ(
        &format!("{name}: {version}"),
        b.version.as_deref(),
        c.version.as_deref(),
    );
    differ(&format!("{name}: chain"), chain(b), chain(c));
    let missing = |from: &[String], of: &[String]| -> Vec<String> {
        let mut m: Vec<String> = of.iter().filter(|v| !from.contains(v)).cloned().collect();
        m.dedup();
        m
    };
    let only_b = missing(&c.supported_versions, &b.supported_versions);
    let only_c = missing(&b.supported_versions, &c.supported_versions);
    if !only_b.is_empty() || !only_c.is_empty() {
        // Versions apart by spaces: commas part the sides, semicolons the differences.
        let mut parts = Vec::new();
        if !only_b.is_empty() {
            parts.push(format!("only the baseline's: {}", only_b.join(" ")));
        }
        if !only_c.is_empty() {
            parts.push(format!("only the candidate's: {}", only_c.join(" ")));
        }
        out.push(format!(
            "{name}: supported versions differ ({})",
            parts.join(", ")
        ));
    }
    out
}
