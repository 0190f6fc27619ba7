//! The check of kernel settings: each namespace's declared sysctls read what the backend set.
//! A setting changed later (by hand, by another tool) may break nothing visible until a
//! cache expires, so it is read, not inferred from traffic.

use std::collections::BTreeMap;

use reports::CheckRecord;

use super::record;
use crate::backend::SysctlExpect;
use crate::host::Host;

/// One `sysctls` record per namespace: every declared key reads its declared value. A key the
/// namespace lacks (its device is gone) counts as differing, with the kernel's error as
/// what it shows.
pub(super) fn sysctls(
    hosts: &BTreeMap<String, Host>,
    declared: &BTreeMap<String, Vec<SysctlExpect>>,
) -> Vec<CheckRecord> {
    declared
        .iter()
        .filter(|(_, want)| !want.is_empty())
        .map(|(netns, want)| {
            // Several declarations (the underlay's, the backend's) may name one key.
            let mut want: Vec<&SysctlExpect> = want.iter().collect();
            want.sort_by(|a, b| a.key.cmp(&b.key).then(a.value.cmp(&b.value)));
            want.dedup();
            let expected = want
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join("; ");
            let Some(host) = hosts.get(netns) else {
                return record(
                    "sysctls",
                    netns.clone(),
                    expected,
                    "no such namespace in this run".into(),
                    false,
                    Some("the declarations name a namespace the run did not make".into()),
                );
            };
            let mut shown = Vec::new();
            let mut differ = Vec::new();
            for s in want {
                match host.sysctl(&s.key) {
                    Ok(got) => {
                        if got != s.value {
                            differ.push(format!("{} is {got}, not {}", s.key, s.value));
                        }
                        shown.push(format!("{}={got}", s.key));
                    }
                    Err(e) => {
                        differ.push(format!("{} unreadable", s.key));
                        shown.push(format!("{}: error: {e}", s.key));
                    }
                }
            }
            let ok = differ.is_empty();
            let reason = (!ok).then(|| differ.join("; "));
            record(
                "sysctls",
                netns.clone(),
                expected,
                shown.join("; "),
                ok,
                reason,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespace_the_run_lacks_fails_with_the_reason() {
        let mut declared = BTreeMap::new();
        declared.insert(
            "cnb-t1-n0".to_string(),
            vec![SysctlExpect::ip_forward(), SysctlExpect::ip_forward()],
        );
        declared.insert("cnb-t1-n1".to_string(), Vec::new());
        let out = sysctls(&BTreeMap::new(), &declared);
        // One record per namespace with declarations; a key declared twice is shown once.
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].check, "sysctls");
        assert_eq!(out[0].subject, "cnb-t1-n0");
        assert_eq!(out[0].expected, "net.ipv4.ip_forward=1");
        assert_eq!(out[0].outcome, reports::CheckOutcome::Fail);
        assert!(out[0].reason.is_some());
    }
}
