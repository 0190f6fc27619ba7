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
    // The same bug on a dual-stack pod: CHECK of the IPv4 address's rules looks for them in
    // ip6tables too (they are only in iptables), so it fails naming a DNAT to an IPv4
    // address of the pod; its IPv6 rules are never reached.
    let dnat_to_ipv4 = result.ips.iter().any(|ip| match ip.address {
        ipnet::IpNet::V4(a) => error.contains(&format!("--to-destination {}:", a.addr())),
        ipnet::IpNet::V6(_) => false,
    });
    if plugin == "portmap"
        && has_ipv6
        && dnat_to_ipv4
        && error.contains("could not check ipv6 dnat")
    {
        return Some(
            "known bug of the reference portmap before v1.2.0 (containernetworking/plugins#819): its CHECK of a dual-stack pod looks for the IPv4 address's DNAT rules in ip6tables",
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

    #[test]
    fn the_portmap_bug_on_a_dual_stack_pod_is_recognised_by_its_ipv4_rules_in_ip6tables() {
        let dual: CniResult = CniResult::from_json(&serde_json::json!({"cniVersion": "1.0.0",
            "ips": [{"address": "10.22.0.2/24"}, {"address": "fd00:10:22::2/64"}]}))
        .unwrap();
        // What Debian's portmap 1.1.1 said here for a pod of a dual-stack bridge chain.
        let msg = "CNI CHECK of n0p0: plugin portmap failed with code 999: could not check ipv6 dnat: rule [[-p tcp --dport 30000 -s 10.22.0.2/24 -j CNI-HOSTPORT-SETMARK] [-p tcp --dport 30000 -s 127.0.0.1 -j CNI-HOSTPORT-SETMARK] [-p tcp --dport 30000 -j DNAT --to-destination 10.22.0.2:8080]] in chain CNI-DN-69d61d6fdf9c40e1f2f8c not found in table nat";
        assert!(check_bug("portmap", msg, &dual)
            .unwrap()
            .contains("dual-stack"));
        // Its IPv6 rules missing from ip6tables is a real failure.
        let v6_missing = "could not check ipv6 dnat: rule [[-p tcp --dport 30000 -j DNAT --to-destination [fd00:10:22::2]:8080]] in chain CNI-DN-1 not found in table nat";
        assert!(check_bug("portmap", v6_missing, &dual).is_none());
        // Another pod's IPv4 address is no symptom of this pod's bug.
        let other = msg.replace("10.22.0.2:8080", "10.22.0.3:8080");
        assert!(check_bug("portmap", &other, &dual).is_none());
        assert!(check_bug("bridge", msg, &dual).is_none());
    }
}
