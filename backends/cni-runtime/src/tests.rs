//! The kit's handling of IP families without root: what a node's chain gets in its IPAM,
//! what a pod's report takes from a result, and what a dual-stack result promises.

use std::path::Path;

use harness::backend::Expectations;
use harness::topology::{Defaults, IpFamily, Plan, PodNetwork, TopologyRequest, Underlay};
use serde_json::Value;

use crate::chain::{node_blocks, pod_report};
use crate::conf::NetworkList;
use crate::result::CniResult;
use crate::runtime::{Attachment, Binaries, CACHE_KIND};

/// A plan of `nodes` nodes with two pods each, of `family`: one subnet (the cni backend's)
/// or a block per node (vxlan's, host-gw's).
fn plan(family: IpFamily, pod_network: PodNetwork, nodes: u32) -> Plan {
    let spec = TopologyRequest {
        nodes: Some(nodes),
        pods_per_node: Some(2),
        underlay: Some(if nodes > 1 {
            Underlay::L2
        } else {
            Underlay::None
        }),
        ip_family: family,
        ..Default::default()
    }
    .resolve(
        &Defaults {
            nodes,
            pods_per_node: 2,
            underlay: Underlay::None,
            pod_cidr: match pod_network {
                PodNetwork::SingleSubnet => "172.17.0.0/16".parse().unwrap(),
                _ => "100.96.0.0/16".parse().unwrap(),
            },
        },
        pod_network,
        "t1".into(),
    );
    Plan::new(spec, pod_network).unwrap()
}

/// What the bridge plugin printed here for pod `k` (0, 1) of `examples/cni/bridge-dual.conflist`,
/// with the pod's namespace `netns`: an address of each family on `eth0`, both default routes.
fn dual_result(k: u8, netns: &str) -> Value {
    serde_json::json!({
        "cniVersion": "1.0.0",
        "interfaces": [
            {"name": "cni0", "mac": "e2:76:98:7e:19:78"},
            {"name": format!("veth{k}"), "mac": "2a:e9:77:8c:5c:8c"},
            {"name": "eth0", "mac": format!("6e:09:1a:2a:ce:6{k}"), "sandbox": format!("/run/netns/{netns}")}
        ],
        "ips": [
            {"interface": 2, "address": format!("172.17.0.{}/16", k + 2), "gateway": "172.17.0.1"},
            {"interface": 2, "address": format!("fd00:172:17::{}/64", k + 2), "gateway": "fd00:172:17::1"}
        ],
        "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}]
    })
}

fn bridge_dual() -> NetworkList {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/cni/bridge-dual.conflist");
    NetworkList::load(&path).unwrap()
}

/// `plan` with each pod wired by `list` as its result `result(k, netns)` says, as the harness
/// applies the chain's reports.
fn wired(mut plan: Plan, list: &NetworkList, result: impl Fn(u8, &str) -> Value) -> Plan {
    let reports: Vec<_> = plan
        .pods
        .iter()
        .map(|pod| {
            let r = result(pod.index as u8, &pod.netns);
            let a = Attachment {
                kind: CACHE_KIND.into(),
                pod: pod.role.clone(),
                node_netns: plan.node_of(pod).netns.clone(),
                container_id: format!("cnb-t1-{}-000000", pod.role),
                netns: format!("/run/netns/{}", pod.netns),
                ifname: "eth0".into(),
                args: String::new(),
                cni_version: "1.0.0".into(),
                network: list.to_json(),
                capability_args: Default::default(),
                binaries: Binaries {
                    cni_path: "/usr/lib/cni".into(),
                    paths: Vec::new(),
                },
                added: 1,
                result: Some(r.clone()),
            };
            let parsed = CniResult::from_json(&r).unwrap();
            let report = pod_report(&plan, pod, &parsed, "eth0").unwrap();
            (report, serde_json::to_value(&a).unwrap())
        })
        .collect();
    for (pod, (report, detail)) in plan.pods.iter_mut().zip(reports) {
        pod.ip = report.ip;
        pod.gateway = report.gateway;
        if report.ip6.is_some() {
            pod.ip6 = report.ip6;
            pod.gateway6 = report.gateway6;
        }
        pod.detail = Some(detail);
    }
    plan
}

#[test]
fn a_node_chain_gets_its_block_of_each_family_of_the_run() {
    let blocks = PodNetwork::PerNodeBlocks { block_prefix: 24 };
    let dual = plan(IpFamily::Dual, blocks, 2);
    let got: Vec<String> = node_blocks(&dual, &dual.nodes[1])
        .iter()
        .map(|(b, g)| format!("{b} {g}"))
        .collect();
    assert_eq!(
        got,
        [
            "100.96.1.0/24 100.96.1.1",
            "fd00:100:96:1::/64 fd00:100:96:1::1"
        ]
    );
    // An ipv6 run plans IPv4 blocks but configures none: the chain gets the IPv6 one alone.
    let v6 = plan(IpFamily::Ipv6, blocks, 2);
    let got: Vec<String> = node_blocks(&v6, &v6.nodes[0])
        .iter()
        .map(|(b, _)| b.to_string())
        .collect();
    assert_eq!(got, ["fd00:100:96::/64"]);
    let v4 = plan(IpFamily::Ipv4, blocks, 2);
    assert_eq!(node_blocks(&v4, &v4.nodes[0]).len(), 1);
}

#[test]
fn a_pod_report_takes_each_family_of_the_result() {
    let p = plan(IpFamily::Dual, PodNetwork::SingleSubnet, 1);
    let pod = &p.pods[1];
    let r = CniResult::from_json(&dual_result(7, &pod.netns)).unwrap();
    let report = pod_report(&p, pod, &r, "eth0").unwrap();
    assert_eq!(report.ip.to_string(), "172.17.0.9/16");
    assert_eq!(report.gateway.unwrap().to_string(), "172.17.0.1");
    assert_eq!(report.ip6.unwrap().to_string(), "fd00:172:17::9/64");
    assert_eq!(report.gateway6.unwrap().to_string(), "fd00:172:17::1");

    // A result without IPv6 on a dual-stack run says what to change.
    let v4_only = CniResult::from_json(&serde_json::json!({"cniVersion": "1.0.0",
        "interfaces": [{"name": "eth0", "sandbox": "/run/netns/x"}],
        "ips": [{"interface": 0, "address": "172.17.0.9/16", "gateway": "172.17.0.1"}]}))
    .unwrap();
    let e = pod_report(&p, pod, &v4_only, "eth0").unwrap_err();
    assert!(
        e.contains("the chain's result gives the pod IPv4 addresses only (172.17.0.9/16)")
            && e.contains("add an IPv6 range")
            && e.contains("--ip-family ipv4"),
        "{e}"
    );
    // ... and one with IPv6 on an IPv4 run too.
    let p4 = plan(IpFamily::Ipv4, PodNetwork::SingleSubnet, 1);
    let e = pod_report(&p4, &p4.pods[0], &r, "eth0").unwrap_err();
    assert!(
        e.contains("disables IPv6") && e.contains("--ip-family dual"),
        "{e}"
    );
    let nothing = CniResult::from_json(&serde_json::json!({"cniVersion": "1.0.0"})).unwrap();
    let e = pod_report(&p, pod, &nothing, "eth0").unwrap_err();
    assert!(e.contains("no address on eth0"), "{e}");

    // An ipv6 run keeps the plan's IPv4 fields (planned, configured nowhere).
    let p6 = plan(IpFamily::Ipv6, PodNetwork::SingleSubnet, 1);
    let pod6 = &p6.pods[0];
    let v6_only = CniResult::from_json(&serde_json::json!({"cniVersion": "1.0.0",
        "interfaces": [{"name": "eth0", "sandbox": "/run/netns/x"}],
        "ips": [{"interface": 0, "address": "fd00:172:17::9/64", "gateway": "fd00:172:17::1"}]}))
    .unwrap();
    let report = pod_report(&p6, pod6, &v6_only, "eth0").unwrap();
    assert_eq!((report.ip, report.gateway), (pod6.ip, pod6.gateway));
    assert_eq!(report.ip6.unwrap().to_string(), "fd00:172:17::9/64");
}

#[test]
fn a_dual_stack_result_promises_both_families() {
    let list = bridge_dual();
    let p = wired(
        plan(IpFamily::Dual, PodNetwork::SingleSubnet, 1),
        &list,
        dual_result,
    );
    let e: Expectations = crate::expect::pod_expectations(&p, &list, 1500, true);
    let pod0 = &p.pods[0];
    // The pod's interface holds both addresses of its result.
    let eth0 = e
        .interfaces
        .iter()
        .find(|i| i.netns == pod0.netns && i.dev == "eth0")
        .unwrap();
    let addrs: Vec<String> = eth0.addresses.iter().map(ToString::to_string).collect();
    assert_eq!(addrs, ["172.17.0.2/16", "fd00:172:17::2/64"]);
    // Each default route goes through its own family's gateway.
    let routes: Vec<String> = e
        .present_routes
        .iter()
        .filter(|r| r.netns == pod0.netns)
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        routes,
        [
            "default via 172.17.0.1 dev eth0",
            "default via fd00:172:17::1 dev eth0"
        ]
    );
    // Both gateways answer and are resolved on the bridge (ARP, NDP); the peer is resolved
    // directly in both families.
    let probed: Vec<String> = e
        .reachability
        .iter()
        .filter(|p| p.from == pod0.role)
        .map(|p| p.to_ip.to_string())
        .collect();
    assert_eq!(probed, ["172.17.0.1", "fd00:172:17::1"]);
    let neighbours: Vec<(String, String)> = e
        .neighbours
        .iter()
        .filter(|n| n.netns == pod0.netns)
        .map(|n| (n.ip.to_string(), n.owner_dev.clone()))
        .collect();
    assert_eq!(
        neighbours,
        [
            ("172.17.0.1".to_string(), "cni0".to_string()),
            ("fd00:172:17::1".to_string(), "cni0".to_string()),
            ("172.17.0.3".to_string(), "eth0".to_string()),
            ("fd00:172:17::3".to_string(), "eth0".to_string()),
        ]
    );

    // The same results on an IPv4 plan would promise IPv4's gateway only (the report refuses
    // them before; this is what the family loop gives).
    let p4 = plan(IpFamily::Ipv4, PodNetwork::SingleSubnet, 1);
    let e4 = {
        let mut p4 = p4;
        for (pod, src) in p4.pods.iter_mut().zip(&p.pods) {
            pod.detail = src.detail.clone();
        }
        crate::expect::pod_expectations(&p4, &list, 1500, true)
    };
    assert!(e4.reachability.iter().all(|p| p.to_ip.is_ipv4()));
    assert!(e4.neighbours.iter().all(|n| n.ip.is_ipv4()));
}
