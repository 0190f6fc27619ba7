//! Known bugs of released plugins that cnbench recognises by what they say, so a run of a
//! chain that contains one reports it as an expected failure naming the bug rather than as
//! the chain's failure. Each entry matches the bug's exact symptom, never a plugin name
//! alone: a plugin that fails for another reason still fails.

use crate::result::CniResult;

/// Why CHECK of `plugin` failing with `error` (its message) on an attachment whose ADD
/// result is `result` is a known bug, if it is one.
pub fn check_bug(plugin: &str, error: &str, result: &CniResult) -> Option<&'static str> {
    let has_ipv6 = result
        .ips
        .iter()
        .any(|ip| matches!(ip.address, ipnet::IpNet::V6(_)));
    // The reference portmap before v1.2.0 checks the IPv6 DNAT chain of every pod whenever
    // ip6tables works, though ADD made one only for pods with an IPv6 address
    // (containernetworking/plugins#819; Debian bookworm ships v1.1.1).
    if plugin == "portmap" && !has_ipv6 && error.contains("could not check ipv6 dnat") {
        return Some(
            "known bug of the reference portmap before v1.2.0 (containernetworking/plugins#819): its CHECK looks for IPv6 rules of a pod without an IPv6 address",
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_portmap_ipv6_check_bug_is_recognised_by_its_symptom_only() {
        let v4: CniResult = CniResult::from_json(&serde_json::json!({"cniVersion": "1.0.0",
            "ips": [{"address": "100.96.0.2/24"}]}))
        .unwrap();
        let msg = "CNI CHECK of n0p0: plugin portmap failed with code 999: could not check ipv6 dnat: chain CNI-DN-1 not found";
        assert!(check_bug("portmap", msg, &v4).is_some());
        assert!(check_bug("portmap", "could not check ipv4 dnat", &v4).is_none());
        assert!(check_bug("bridge", msg, &v4).is_none());
        let v6: CniResult = CniResult::from_json(&serde_json::json!({"cniVersion": "1.0.0",
            "ips": [{"address": "fd00::2/64"}]}))
        .unwrap();
        assert!(
            check_bug("portmap", msg, &v6).is_none(),
            "with IPv6 the chain must exist"
        );
    }
}
