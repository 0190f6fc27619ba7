//! Unit tests of the pure parts: peering, configuration, declarations, parsers, errors.

use super::*;
use harness::topology::TopologyRequest;

fn plan(nodes: u32, pods: u32, underlay: Underlay) -> Plan {
    let request = TopologyRequest {
        nodes: Some(nodes),
        pods_per_node: Some(pods),
        underlay: Some(underlay),
        ..Default::default()
    };
    let plan = INFO.plan(&request, "t1".into()).unwrap();
    validate_plan(&plan).unwrap();
    plan
}

fn shown(e: &Expectations, netns: &str) -> Vec<String> {
    let mut v: Vec<String> = e.routes[netns].iter().map(|r| r.to_string()).collect();
    v.sort();
    v
}

#[test]
fn declares_the_articles_calico_tables_on_l2() {
    let p = plan(2, 2, Underlay::L2);
    let e = expect::expectations(&p, &cni_runtime::wiring::PodWiring::Builtin);
    let c0 = cali_name("t1", &p.pods[0]);
    let c1 = cali_name("t1", &p.pods[1]);
    let mut want = vec![
        format!("10.20.0.2/32 dev {c0} scope link"),
        format!("10.20.0.3/32 dev {c1} scope link"),
        "10.20.1.0/24 via 10.168.0.2 dev eth0 proto bird".to_string(),
        "169.254.1.1/32 dev eth0 scope link".to_string(),
    ];
    want.sort();
    assert_eq!(shown(&e, "cnb-t1-n0"), want);
    assert_eq!(
        shown(&e, "cnb-t1-n0p0"),
        [
            "169.254.1.1/32 dev eth0 scope link",
            "default via 169.254.1.1 dev eth0"
        ]
    );
    // No bridge, no tunnel: one cali veth per pod.
    let n0: Vec<&(String, String)> = e
        .devices
        .iter()
        .filter(|d| d.netns == "cnb-t1-n0")
        .flat_map(|d| &d.devices)
        .collect();
    assert_eq!(n0.len(), 2);
    assert!(n0.iter().all(|(n, k)| n.starts_with("cali") && k == "veth"));
    // Proxy ARP: the gateway's MAC is the host end's.
    assert!(e.neighbours.iter().any(|n| n.netns == "cnb-t1-n0p0"
        && n.ip == GATEWAY
        && n.owner_netns == "cnb-t1-n0"
        && n.owner_dev == c0));
    // 4 pods: ICMP + TCP to 3 others each, plus one pod -> node probe each, to the node IP.
    assert_eq!(e.reachability.len(), 4 * 3 * 2 + 4);
    let to_node: Vec<String> = e
        .reachability
        .iter()
        .filter(|r| r.path == "pod-node")
        .map(|r| r.to_ip.to_string())
        .collect();
    assert_eq!(
        to_node,
        ["10.168.0.1", "10.168.0.1", "10.168.0.2", "10.168.0.2"]
    );
    // Two routers on the way (the nodes), the underlay MTU, pod IPs on the wire.
    assert_eq!(e.paths[0].hops, 2);
    assert_eq!(e.pmtu[0].path_mtu, 1500);
    assert_eq!(e.encap[0].wire, harness::backend::Wire::Plain);
    assert_eq!(e.measure.len(), 2);
    assert!(!e.isolation[0].shared_ports);
}

#[test]
fn on_l3_remote_segments_go_through_the_border_router() {
    let p = plan(3, 1, Underlay::L3);
    let e = expect::expectations(&p, &cni_runtime::wiring::PodWiring::Builtin);
    let n0 = shown(&e, "cnb-t1-n0");
    // n1 is behind the router, n2 shares n0's segment.
    assert!(n0.contains(&"10.20.1.0/24 via 10.168.1.1 dev eth0 proto bird".to_string()));
    assert!(n0.contains(&"10.20.2.0/24 via 10.168.1.3 dev eth0 proto bird".to_string()));
    // The node's default route (underlay) covers the gateway: no stand-in route.
    assert!(!n0.iter().any(|r| r.starts_with("169.254.1.1")));
    let rt = shown(&e, "cnb-t1-rt");
    assert_eq!(
        rt,
        [
            "10.20.0.0/24 via 10.168.1.2 dev br1 proto bird",
            "10.20.1.0/24 via 10.168.2.2 dev br2 proto bird",
            "10.20.2.0/24 via 10.168.1.3 dev br1 proto bird",
        ]
    );
    assert_eq!(e.paths[0].hops, 3);
}

#[test]
fn mesh_grows_quadratically_and_reflectors_linearly() {
    for n in [2u32, 3, 5, 10] {
        let p = plan(n, 1, Underlay::L2);
        assert_eq!(
            sessions(&p, BgpTopology::Mesh).len() as u32,
            n * (n - 1) / 2
        );
        let rr = sessions(&p, BgpTopology::Rr).len() as u32;
        let want = if n >= 4 { 2 * n - 3 } else { n - 1 };
        assert_eq!(rr, want, "rr with {n} nodes");
    }
    let p = plan(5, 1, Underlay::L2);
    assert_eq!(reflectors(&p, BgpTopology::Rr, 0), [0, 1]);
    assert!(reflectors(&p, BgpTopology::Mesh, 0).is_empty());
    // l3: a mesh per segment plus every node with the router.
    let p = plan(4, 1, Underlay::L3);
    assert_eq!(sessions(&p, BgpTopology::Mesh).len(), 1 + 1 + 4);
    assert!(sessions(&p, BgpTopology::Mesh)
        .iter()
        .all(|(a, b)| *b == Speaker::Router
            || p.nodes[match a {
                Speaker::Node(x) => *x as usize,
                _ => unreachable!(),
            }]
            .segment
                == p.nodes[match b {
                    Speaker::Node(x) => *x as usize,
                    _ => unreachable!(),
                }]
                .segment));
}

#[test]
fn configurations_say_what_the_peering_model_says() {
    let p = plan(4, 1, Underlay::L2);
    let log = std::path::Path::new("/tmp/x.log");
    let n0 = render_config(&p, BgpTopology::Rr, Speaker::Node(0), log);
    assert!(n0.contains("router id 10.168.0.1;"), "{n0}");
    assert!(n0.contains("route 10.20.0.0/24 blackhole;"), "{n0}");
    // n0 and n1 reflect: clients are n2 and n3; n0-n1 is a plain iBGP session.
    assert_eq!(n0.matches("rr client;").count(), 2, "{n0}");
    assert_eq!(n0.matches("protocol bgp").count(), 3, "{n0}");
    assert!(n0.contains("bgp_path.len = 0"), "{n0}");
    let n3 = render_config(&p, BgpTopology::Rr, Speaker::Node(3), log);
    assert_eq!(n3.matches("protocol bgp").count(), 2, "{n3}");
    assert!(!n3.contains("rr client"), "{n3}");
    assert!(n3.contains("neighbor 10.168.0.1 as 64512;"), "{n3}");
    assert!(
        n3.contains("hold time 3;") && n3.contains("direct;"),
        "{n3}"
    );
    let l3 = plan(3, 1, Underlay::L3);
    let rt = render_config(&l3, BgpTopology::Mesh, Speaker::Router, log);
    assert!(rt.contains("local 10.168.2.1 as 65000;"), "{rt}");
    assert!(rt.contains("neighbor 10.168.2.2 as 64513;"), "{rt}");
    assert!(rt.contains("bgp_path.last != 64512"), "{rt}");
    assert!(!rt.contains("direct;"), "eBGP is direct by itself: {rt}");
    // Where BIRD is installed, it accepts every configuration (`bird -p` starts nothing).
    if harness::detect::find_binary("bird").is_none() {
        eprintln!("bird not installed: configurations not parsed by BIRD");
        return;
    }
    let dir = std::env::temp_dir().join(format!("cnbench-bgp-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (plan, topo) in [
        (&p, BgpTopology::Rr),
        (&p, BgpTopology::Mesh),
        (&l3, BgpTopology::Rr),
    ] {
        for s in Speaker::all(plan) {
            let path = dir.join("bird.conf");
            std::fs::write(&path, render_config(plan, topo, s, &dir.join("log"))).unwrap();
            let out = std::process::Command::new("bird")
                .arg("-p")
                .arg("-c")
                .arg(&path)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{s:?} {topo}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn birdc_output_is_read() {
    let text = "BIRD 2.0.12 ready.\n\
        Name       Proto      Table      State  Since         Info\n\
        device1    Device     ---        up     10:39:11.402  \n\
        kernel1    Kernel     master4    up     10:39:11.402  \n\
        pod_block  Static     master4    up     10:39:11.402  \n\
        peer_n1    BGP        ---        up     10:39:12.400  Established   \n\
        peer_n2    BGP        ---        start  10:39:11.402  Active        Socket: Connection refused\n";
    let p = parse_protocols(text);
    assert_eq!(p.len(), 2);
    assert!(p[0].established());
    assert_eq!(p[1].name, "peer_n2");
    assert!(!p[1].established());
    assert!(p[1].info.contains("Connection refused"));
}

#[test]
fn options_and_missing_bird_are_refused_with_the_fix() {
    let p = plan(2, 1, Underlay::L2);
    let bad = make(&BackendOptions::new().with("bgp-topology", "star"), &p)
        .err()
        .unwrap();
    assert!(bad.contains("use mesh") && bad.contains("rr"), "{bad}");
    let e = INFO
        .require_programs(|b| (b == "birdc").then(|| "/usr/sbin/birdc".into()))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "backend bgp: it runs bird, which is not on PATH: install Debian's bird2 package (`apt-get install bird2`)"
    );
    assert!(INFO.require_programs(|b| Some(b.into())).is_ok());
    // One node has nobody to peer with; no underlay, nothing to peer over.
    let one = INFO
        .plan(
            &TopologyRequest {
                nodes: Some(1),
                underlay: Some(Underlay::L2),
                ..Default::default()
            },
            "t1".into(),
        )
        .unwrap();
    assert!(validate_plan(&one)
        .unwrap_err()
        .to_string()
        .contains("--nodes 2"));
}

#[test]
fn cali_names_are_short_stable_and_per_run() {
    let p = plan(2, 2, Underlay::L2);
    let a = cali_name("t1", &p.pods[0]);
    assert_eq!(a.len(), 12);
    assert!(a.starts_with("cali"));
    assert_eq!(a, cali_name("t1", &p.pods[0]));
    assert_ne!(a, cali_name("t2", &p.pods[0]));
    assert_ne!(a, cali_name("t1", &p.pods[1]));
}
