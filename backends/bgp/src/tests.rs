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
    let e = expect::expectations(
        &p,
        Announce::Block,
        &Default::default(),
        &cni_runtime::wiring::PodWiring::Builtin,
    );
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
    let e = expect::expectations(
        &p,
        Announce::Block,
        &Default::default(),
        &cni_runtime::wiring::PodWiring::Builtin,
    );
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
        .all(|(a, b)| *b == Speaker::Router(0)
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
    let n0 = render_config(&p, BgpTopology::Rr, Announce::Block, Speaker::Node(0), log);
    assert!(n0.contains("router id 10.168.0.1;"), "{n0}");
    assert!(n0.contains("route 10.20.0.0/24 blackhole;"), "{n0}");
    // n0 and n1 reflect: clients are n2 and n3; n0-n1 is a plain iBGP session.
    assert_eq!(n0.matches("rr client;").count(), 2, "{n0}");
    assert_eq!(n0.matches("protocol bgp").count(), 3, "{n0}");
    assert!(n0.contains("bgp_path.len = 0"), "{n0}");
    let n3 = render_config(&p, BgpTopology::Rr, Announce::Block, Speaker::Node(3), log);
    assert_eq!(n3.matches("protocol bgp").count(), 2, "{n3}");
    assert!(!n3.contains("rr client"), "{n3}");
    assert!(n3.contains("neighbor 10.168.0.1 as 64512;"), "{n3}");
    assert!(
        n3.contains("hold time 3;") && n3.contains("direct;"),
        "{n3}"
    );
    let l3 = plan(3, 1, Underlay::L3);
    let rt = render_config(
        &l3,
        BgpTopology::Mesh,
        Announce::Block,
        Speaker::Router(0),
        log,
    );
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
            std::fs::write(
                &path,
                render_config(plan, topo, Announce::Block, s, &dir.join("log")),
            )
            .unwrap();
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

#[test]
fn block_mode_configuration_is_unchanged() {
    // The whole configuration of a node of a 2-node mesh, as this backend generated it
    // before `--bgp-announce` existed: block mode must not change a byte.
    let p = plan(2, 2, Underlay::L2);
    let log = std::path::Path::new("/run/cnbench/t1/bird/n0/bird.log");
    let n0 = render_config(
        &p,
        BgpTopology::Mesh,
        Announce::Block,
        Speaker::Node(0),
        log,
    );
    assert_eq!(
        n0,
        "# BIRD configuration of n0, bgp backend (mesh), run t1. Generated by cnbench.\n\
         log \"/run/cnbench/t1/bird/n0/bird.log\" { info, remote, warning, error, auth, fatal, bug };\n\
         router id 10.168.0.1;\n\
         \n\
         # Interfaces: `direct` sessions and `gateway direct` next hops are resolved on them.\n\
         protocol device { scan time 10; }\n\
         \n\
         protocol kernel {\n  ipv4 { import none; export where source ~ [RTS_BGP, RTS_STATIC]; };\n}\n\
         \n\
         # This node's pod block, announced to its peers.\n\
         protocol static pod_block {\n  ipv4;\n  route 10.20.0.0/24 blackhole;\n}\n\
         \n\
         filter to_ibgp {\n  if source = RTS_STATIC then accept;\n  reject;\n}\n\
         \n\
         protocol bgp peer_n1 {\n  local 10.168.0.1 as 64512;\n  neighbor 10.168.0.2 as 64512;\n  direct;\n  \
         graceful restart off;\n  connect delay time 1;\n  connect retry time 1;\n  error wait time 1, 5;\n  \
         keepalive time 1;\n  hold time 3;\n  ipv4 { import all; export filter to_ibgp; };\n}\n"
    );
}

#[test]
fn pod_mode_learns_pod_routes_and_keeps_the_block_to_itself() {
    let p = plan(4, 1, Underlay::L2);
    let log = std::path::Path::new("/tmp/x.log");
    let n0 = render_config(&p, BgpTopology::Rr, Announce::Pod, Speaker::Node(0), log);
    // The kernel protocol learns only the pods' /32s on cali devices, rescanning every
    // POD_SCAN_S, and still installs BGP routes and the block's blackhole.
    assert!(n0.contains("learn;"), "{n0}");
    assert!(n0.contains(&format!("scan time {POD_SCAN_S};")), "{n0}");
    assert!(
        n0.contains("import where net ~ [10.20.0.0/16{32,32}] && ifname ~ \"cali*\";"),
        "{n0}"
    );
    assert!(
        n0.contains("export where source ~ [RTS_BGP, RTS_STATIC];"),
        "{n0}"
    );
    assert!(n0.contains("route 10.20.0.0/24 blackhole;"), "{n0}");
    // Peers get the learned routes, not the static block; a reflector still reflects.
    assert!(n0.contains("if source = RTS_INHERIT then accept;"), "{n0}");
    assert!(!n0.contains("if source = RTS_STATIC then accept;"), "{n0}");
    assert!(n0.contains("bgp_path.len = 0"), "{n0}");
    let n3 = render_config(&p, BgpTopology::Rr, Announce::Pod, Speaker::Node(3), log);
    assert!(
        n3.contains("filter to_ibgp {\n  if source = RTS_INHERIT then accept;\n  reject;\n}"),
        "{n3}"
    );
    // On l3 a node tells the border router its pods' /32s; the router passes on what it
    // learned as in block mode (only its header says the mode).
    let l3 = plan(3, 1, Underlay::L3);
    let n1 = render_config(&l3, BgpTopology::Mesh, Announce::Pod, Speaker::Node(1), log);
    assert!(
        n1.contains("ipv4 { import all; export where source = RTS_INHERIT; };"),
        "{n1}"
    );
    let rt_pod = render_config(
        &l3,
        BgpTopology::Mesh,
        Announce::Pod,
        Speaker::Router(0),
        log,
    );
    let rt_block = render_config(
        &l3,
        BgpTopology::Mesh,
        Announce::Block,
        Speaker::Router(0),
        log,
    );
    let body = |c: &str| c.split_once('\n').unwrap().1.to_string();
    assert_eq!(body(&rt_pod), body(&rt_block));
    assert!(rt_pod.starts_with("# BIRD configuration of router, bgp backend (mesh, a /32 per pod)"));
    // A pod CIDR given on the command line is the one learned from.
    let other = INFO
        .plan(
            &TopologyRequest {
                nodes: Some(2),
                pods_per_node: Some(1),
                underlay: Some(Underlay::L2),
                pod_cidr: Some("100.96.0.0/16".parse().unwrap()),
                ..Default::default()
            },
            "t1".into(),
        )
        .unwrap();
    let c = render_config(
        &other,
        BgpTopology::Mesh,
        Announce::Pod,
        Speaker::Node(0),
        log,
    );
    assert!(c.contains("net ~ [100.96.0.0/16{32,32}]"), "{c}");
    // BIRD accepts every pod-mode configuration.
    if harness::detect::find_binary("bird").is_none() {
        eprintln!("bird not installed: configurations not parsed by BIRD");
        return;
    }
    let dir = std::env::temp_dir().join(format!("cnbench-bgp-unit-pod-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (plan, topo) in [
        (&p, BgpTopology::Rr),
        (&p, BgpTopology::Mesh),
        (&l3, BgpTopology::Rr),
    ] {
        for s in Speaker::all(plan) {
            let path = dir.join("bird.conf");
            let text = render_config(plan, topo, Announce::Pod, s, &dir.join("log"));
            std::fs::write(&path, text).unwrap();
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
fn pod_mode_expects_a_route_per_remote_pod_and_no_remote_block() {
    let p = plan(2, 2, Underlay::L2);
    let e = expect::expectations(
        &p,
        Announce::Pod,
        &Default::default(),
        &cni_runtime::wiring::PodWiring::Builtin,
    );
    let c0 = cali_name("t1", &p.pods[0]);
    let c1 = cali_name("t1", &p.pods[1]);
    let mut want = vec![
        format!("10.20.0.2/32 dev {c0} scope link"),
        format!("10.20.0.3/32 dev {c1} scope link"),
        "10.20.1.2/32 via 10.168.0.2 dev eth0 proto bird".to_string(),
        "10.20.1.3/32 via 10.168.0.2 dev eth0 proto bird".to_string(),
        "169.254.1.1/32 dev eth0 scope link".to_string(),
    ];
    want.sort();
    assert_eq!(shown(&e, "cnb-t1-n0"), want);
    // Everything else is declared as in block mode.
    let b = expect::expectations(
        &p,
        Announce::Block,
        &Default::default(),
        &cni_runtime::wiring::PodWiring::Builtin,
    );
    assert_eq!(e.reachability, b.reachability);
    assert_eq!(e.devices, b.devices);
    assert_eq!(e.paths, b.paths);

    // l3: same next hops as blocks (the peer on the segment, else the router); the router
    // has every pod's /32 via its node.
    let p = plan(3, 1, Underlay::L3);
    let e = expect::expectations(
        &p,
        Announce::Pod,
        &Default::default(),
        &cni_runtime::wiring::PodWiring::Builtin,
    );
    let n0 = shown(&e, "cnb-t1-n0");
    assert!(
        n0.contains(&"10.20.1.2/32 via 10.168.1.1 dev eth0 proto bird".to_string()),
        "{n0:?}"
    );
    assert!(
        n0.contains(&"10.20.2.2/32 via 10.168.1.3 dev eth0 proto bird".to_string()),
        "{n0:?}"
    );
    assert!(!n0.iter().any(|r| r.contains("/24")), "{n0:?}");
    assert_eq!(
        shown(&e, "cnb-t1-rt"),
        [
            "10.20.0.2/32 via 10.168.1.2 dev br1 proto bird",
            "10.20.1.2/32 via 10.168.2.2 dev br2 proto bird",
            "10.20.2.2/32 via 10.168.1.3 dev br1 proto bird",
        ]
    );
    // Convergence waits for the same prefixes.
    let targets = converge::targets(&p, Announce::Pod);
    assert_eq!(targets[0].0, "cnb-t1-n0");
    assert_eq!(
        targets[0].1,
        [
            "10.20.1.2/32".parse::<ipnet::IpNet>().unwrap(),
            "10.20.2.2/32".parse().unwrap()
        ]
    );
    assert_eq!(targets.last().unwrap().1.len(), 3);
    assert_eq!(
        converge::targets(&p, Announce::Block)[0].1,
        [
            "10.20.1.0/24".parse::<ipnet::IpNet>().unwrap(),
            "10.20.2.0/24".parse().unwrap()
        ]
    );
}

#[test]
fn announce_option_is_parsed_recorded_and_refused_with_the_fix() {
    let p = plan(2, 1, Underlay::L2);
    let made = make(&BackendOptions::new().with("bgp-announce", "pod"), &p).unwrap();
    assert_eq!(made.options().get("bgp-announce"), Some("pod"));
    let made = make(&BackendOptions::new(), &p).unwrap();
    assert_eq!(made.options().get("bgp-announce"), Some("block"));
    assert_eq!(Bgp::new(BgpTopology::Mesh).announce(), Announce::Block);
    assert_eq!("pod".parse::<Announce>().unwrap(), Announce::Pod);
    assert_eq!(Announce::Pod.to_string(), "pod");
    let bad = make(&BackendOptions::new().with("bgp-announce", "prefix"), &p)
        .err()
        .unwrap();
    assert!(bad.contains("use block") && bad.contains("pod"), "{bad}");
    // A CNI chain's pods are not `/32 dev cali*` routes: nothing would be announced.
    let conf = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/cni/cbr0.conflist"
    );
    let cni = BackendOptions::new()
        .with("bgp-announce", "pod")
        .with("pod-wiring", "cni")
        .with("cni-conf", conf);
    match make(&cni, &p) {
        Err(e) => assert_eq!(
            e,
            "--bgp-announce pod needs cnbench's own pod wiring (BIRD learns the pods' /32 dev cali* routes): use --pod-wiring builtin"
        ),
        Ok(_) => panic!("pod mode under a CNI chain was accepted"),
    }
}

#[test]
fn bird_routes_are_read_without_their_times() {
    let text = "BIRD 2.0.12 ready.\nTable master4:\n10.20.1.0/24         unicast [peer_n1 10:39:12.400] * (100) [i]\n\tvia 10.0.0.2 on eth0\n10.20.0.0/24         blackhole [pod_block 10:39:12.001] * (200)\n";
    assert_eq!(
        crate::bird::parse_routes(text),
        ["10.20.1.0/24 from peer_n1", "10.20.0.0/24 from pod_block"]
    );
}

#[test]
fn declares_forwarding_and_each_pods_proxy_arp_as_wire_pod_sets_them() {
    let mut p = plan(2, 1, Underlay::L3);
    // A pod added to the standing topology (churn, `PodLifecycle`) is in the plan the
    // expectations are made from again.
    let added = p.add_pod(0).unwrap();
    let e = expect::expectations(
        &p,
        Announce::Block,
        &Default::default(),
        &cni_runtime::wiring::PodWiring::Builtin,
    );
    let shown =
        |netns: &str| -> Vec<String> { e.sysctls[netns].iter().map(|s| s.to_string()).collect() };
    let mut want = vec!["net.ipv4.ip_forward=1".to_string()];
    for pod in [&p.pods[0], &p.pods[added]] {
        let cali = cali_name("t1", pod);
        want.push(format!("net.ipv4.conf.{cali}.proxy_arp=1"));
        want.push(format!("net.ipv4.neigh.{cali}.proxy_delay=0"));
    }
    let mut n0 = shown("cnb-t1-n0");
    n0.sort();
    want.sort();
    assert_eq!(n0, want);
    // Exactly what `wire_pod` writes, from the same function.
    for pod in [&p.pods[0], &p.pods[added]] {
        for s in pods::pod_sysctls(&p, pod) {
            assert!(e.sysctls["cnb-t1-n0"].contains(&s), "{s}");
        }
    }
    let n1_pod = cali_name("t1", p.pods.iter().find(|p| p.node == 1).unwrap());
    let mut n1 = shown("cnb-t1-n1");
    n1.sort();
    assert_eq!(
        n1,
        [
            format!("net.ipv4.conf.{n1_pod}.proxy_arp=1"),
            "net.ipv4.ip_forward=1".to_string(),
            format!("net.ipv4.neigh.{n1_pod}.proxy_delay=0"),
        ]
    );
    // Pods rely on nothing of their own kernel's settings.
    assert!(!e.sysctls.contains_key("cnb-t1-n0p0"));
    // Merged with the underlay's, as a run does: the router's forwarding (the underlay
    // declares it) and every node's settings are kept.
    let mut all = harness::underlay::expectations(&p);
    all.merge(e.clone());
    assert_eq!(all.sysctls["cnb-t1-n0"], e.sysctls["cnb-t1-n0"]);
    assert_eq!(all.sysctls["cnb-t1-n1"], e.sysctls["cnb-t1-n1"]);
    assert_eq!(
        all.sysctls["cnb-t1-rt"],
        [harness::backend::SysctlExpect::ip_forward()]
    );
}

#[test]
fn a_cni_chains_pods_declare_only_the_nodes_forwarding() {
    let p = plan(2, 1, Underlay::L2);
    let conf = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/cni/cbr0.conflist"
    );
    let cni = BackendOptions::new()
        .with("pod-wiring", "cni")
        .with("cni-conf", conf);
    let e = make(&cni, &p).unwrap().expectations(&p);
    // The chain's plugins set what their pods need; cnbench still routes in every node.
    for node in ["cnb-t1-n0", "cnb-t1-n1"] {
        assert_eq!(
            e.sysctls[node],
            [harness::backend::SysctlExpect::ip_forward()]
        );
    }
    assert_eq!(e.sysctls.len(), 2);
}

fn plan_of(nodes: u32, pods: u32, underlay: Underlay, family: harness::topology::IpFamily) -> Plan {
    let request = TopologyRequest {
        nodes: Some(nodes),
        pods_per_node: Some(pods),
        underlay: Some(underlay),
        ip_family: family,
        ..Default::default()
    };
    let plan = INFO.plan(&request, "t1".into()).unwrap();
    validate_plan(&plan).unwrap();
    plan
}

fn sysctls_of(e: &Expectations, netns: &str) -> Vec<String> {
    let mut v: Vec<String> = e.sysctls[netns].iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

#[test]
fn the_ipv6_gateway_is_the_host_ends_own_link_local_address() {
    // Modified EUI-64 (RFC 4291 appendix A): the MAC split by ff:fe, the universal/local bit
    // (0x02 of the first octet) flipped, under fe80::/64. The kernel makes exactly this
    // address on a link with that MAC (addr_gen_mode eui64, a new namespace's default).
    let m = pods::HOST_MAC;
    let iid = [m[0] ^ 0x02, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]];
    let mut octets = [0u8; 16];
    octets[..2].copy_from_slice(&[0xfe, 0x80]);
    octets[8..].copy_from_slice(&iid);
    assert_eq!(std::net::Ipv6Addr::from(octets), pods::GATEWAY6);
    assert_eq!(pods::GATEWAY6.to_string(), "fe80::ecee:eeff:feee:eeee");
}

#[test]
fn dual_stack_declares_each_familys_calico_tables() {
    use harness::topology::IpFamily;
    let p = plan_of(2, 2, Underlay::L2, IpFamily::Dual);
    let e = expect::expectations(
        &p,
        Announce::Block,
        &Default::default(),
        &cni_runtime::wiring::PodWiring::Builtin,
    );
    let c0 = cali_name("t1", &p.pods[0]);
    let c1 = cali_name("t1", &p.pods[1]);
    // The IPv4 table as before, and per pod a /128 on its cali device (no scope: the kernel
    // keeps none for IPv6), the remote IPv6 block via the peer's IPv6 address.
    let mut want = vec![
        format!("10.20.0.2/32 dev {c0} scope link"),
        format!("10.20.0.3/32 dev {c1} scope link"),
        "10.20.1.0/24 via 10.168.0.2 dev eth0 proto bird".to_string(),
        "169.254.1.1/32 dev eth0 scope link".to_string(),
        format!("fd00:10:20::2/128 dev {c0}"),
        format!("fd00:10:20::3/128 dev {c1}"),
        "fd00:10:20:1::/64 via fd00:10:168::2 dev eth0 proto bird".to_string(),
    ];
    want.sort();
    assert_eq!(shown(&e, "cnb-t1-n0"), want);
    // The pod: its /128's own kernel route, the default via the host end's link-local.
    assert_eq!(
        shown(&e, "cnb-t1-n0p0"),
        [
            "169.254.1.1/32 dev eth0 scope link",
            "default via 169.254.1.1 dev eth0",
            "default via fe80::ecee:eeff:feee:eeee dev eth0",
            "fd00:10:20::2/128 dev eth0 proto kernel",
        ]
    );
    // Each gateway's entry holds the host end's MAC; the node resolved both pod addresses.
    for ip in [std::net::IpAddr::from(GATEWAY), pods::GATEWAY6.into()] {
        assert!(
            e.neighbours.iter().any(|n| n.netns == "cnb-t1-n0p0"
                && n.ip == ip
                && n.owner_netns == "cnb-t1-n0"
                && n.owner_dev == c0),
            "{ip}"
        );
    }
    for ip in ["10.20.0.2", "fd00:10:20::2"] {
        let ip: std::net::IpAddr = ip.parse().unwrap();
        assert!(e
            .neighbours
            .iter()
            .any(|n| n.netns == "cnb-t1-n0" && n.dev == c0 && n.ip == ip));
    }
    // Forwarding per family; proxy ARP without delay, and no DAD with proxy NDP, per pod.
    assert_eq!(
        sysctls_of(&e, "cnb-t1-n0"),
        [
            format!("net.ipv4.conf.{c0}.proxy_arp=1"),
            format!("net.ipv4.conf.{c1}.proxy_arp=1"),
            "net.ipv4.ip_forward=1".to_string(),
            format!("net.ipv4.neigh.{c0}.proxy_delay=0"),
            format!("net.ipv4.neigh.{c1}.proxy_delay=0"),
            "net.ipv6.conf.all.forwarding=1".to_string(),
            format!("net.ipv6.conf.{c0}.accept_dad=0"),
            format!("net.ipv6.conf.{c0}.proxy_ndp=1"),
            format!("net.ipv6.conf.{c1}.accept_dad=0"),
            format!("net.ipv6.conf.{c1}.proxy_ndp=1"),
        ]
    );
    assert_eq!(
        sysctls_of(&e, "cnb-t1-n0p0"),
        ["net.ipv6.conf.eth0.accept_dad=0"]
    );
    // What `wire_pod` writes is what is declared: the same functions.
    for pod in &p.pods {
        let node = &p.nodes[pod.node as usize];
        for s in pods::pod_sysctls(&p, pod) {
            assert!(e.sysctls[&node.netns].contains(&s), "{s}");
        }
        for s in pods::pod_own_sysctls(&p) {
            assert!(e.sysctls[&pod.netns].contains(&s), "{s}");
        }
    }
    // Each pod reaches its node at the node's address of each family.
    let to_node: Vec<String> = e
        .reachability
        .iter()
        .filter(|r| r.path == "pod-node" && r.from == "n0p0")
        .map(|r| r.to_ip.to_string())
        .collect();
    assert_eq!(to_node, ["10.168.0.1", "fd00:10:168::1"]);
    // 4 pods: ICMP + TCP to 3 others at 2 addresses each, and a pod -> node probe per family.
    assert_eq!(e.reachability.len(), 4 * 3 * 2 * 2 + 4 * 2);
}

#[test]
fn ipv6_only_declares_no_ipv4_at_all() {
    use harness::topology::IpFamily;
    let p = plan_of(2, 1, Underlay::L2, IpFamily::Ipv6);
    let e = expect::expectations(
        &p,
        Announce::Block,
        &Default::default(),
        &cni_runtime::wiring::PodWiring::Builtin,
    );
    let c0 = cali_name("t1", &p.pods[0]);
    // No proxy-ARP stand-in route, no IPv4 route, setting or neighbour anywhere.
    assert_eq!(
        shown(&e, "cnb-t1-n0"),
        [
            "fd00:10:20:1::/64 via fd00:10:168::2 dev eth0 proto bird".to_string(),
            format!("fd00:10:20::2/128 dev {c0}"),
        ]
    );
    assert_eq!(
        sysctls_of(&e, "cnb-t1-n0"),
        [
            "net.ipv6.conf.all.forwarding=1".to_string(),
            format!("net.ipv6.conf.{c0}.accept_dad=0"),
            format!("net.ipv6.conf.{c0}.proxy_ndp=1"),
        ]
    );
    assert!(
        e.neighbours.iter().all(|n| n.ip.is_ipv6()),
        "{:?}",
        e.neighbours
    );
    assert!(e.reachability.iter().all(|r| r.to_ip.is_ipv6()));
    assert!(pods::node_gateway_route(&p).is_none());
    // Convergence waits for the IPv6 blocks.
    assert_eq!(
        converge::targets(&p, Announce::Block)[0].1,
        ["fd00:10:20:1::/64".parse::<ipnet::IpNet>().unwrap()]
    );
}

#[test]
fn on_l3_ipv6_crosses_the_border_router_at_its_ipv6_address() {
    use harness::topology::IpFamily;
    let p = plan_of(3, 1, Underlay::L3, IpFamily::Dual);
    let e = expect::expectations(
        &p,
        Announce::Block,
        &Default::default(),
        &cni_runtime::wiring::PodWiring::Builtin,
    );
    let n0 = shown(&e, "cnb-t1-n0");
    // n1 is behind the router (::1 of n0's segment), n2 shares n0's segment.
    for r in [
        "fd00:10:20:1::/64 via fd00:10:168:1::1 dev eth0 proto bird",
        "fd00:10:20:2::/64 via fd00:10:168:1::3 dev eth0 proto bird",
        "10.20.1.0/24 via 10.168.1.1 dev eth0 proto bird",
    ] {
        assert!(n0.contains(&r.to_string()), "{r}: {n0:?}");
    }
    let rt = shown(&e, "cnb-t1-rt");
    assert_eq!(
        rt,
        [
            "10.20.0.0/24 via 10.168.1.2 dev br1 proto bird",
            "10.20.1.0/24 via 10.168.2.2 dev br2 proto bird",
            "10.20.2.0/24 via 10.168.1.3 dev br1 proto bird",
            "fd00:10:20:1::/64 via fd00:10:168:2::2 dev br2 proto bird",
            "fd00:10:20:2::/64 via fd00:10:168:1::3 dev br1 proto bird",
            "fd00:10:20::/64 via fd00:10:168:1::2 dev br1 proto bird",
        ]
    );
    // Pod mode: a /128 per remote pod, through the same next hops; the router has each.
    let e = expect::expectations(
        &p,
        Announce::Pod,
        &Default::default(),
        &cni_runtime::wiring::PodWiring::Builtin,
    );
    let n0 = shown(&e, "cnb-t1-n0");
    assert!(
        n0.contains(&"fd00:10:20:1::2/128 via fd00:10:168:1::1 dev eth0 proto bird".to_string()),
        "{n0:?}"
    );
    assert!(!n0.iter().any(|r| r.contains("::/64 via")), "{n0:?}");
    assert!(shown(&e, "cnb-t1-rt")
        .contains(&"fd00:10:20::2/128 via fd00:10:168:1::2 dev br1 proto bird".to_string()));
}

#[test]
fn each_family_has_its_own_session_between_addresses_of_the_family() {
    use harness::topology::IpFamily;
    let log = std::path::Path::new("/tmp/x.log");
    let dual = plan_of(4, 1, Underlay::L2, IpFamily::Dual);
    let n0 = render_config(
        &dual,
        BgpTopology::Rr,
        Announce::Block,
        Speaker::Node(0),
        log,
    );
    // The IPv4 part as before, and next to it the IPv6 kernel protocol, block and sessions.
    assert!(n0.contains("router id 10.168.0.1;"), "{n0}");
    assert!(n0.contains("route 10.20.0.0/24 blackhole;"), "{n0}");
    assert!(
        n0.contains("protocol static pod_block6 {\n  ipv6;\n  route fd00:10:20::/64 blackhole;\n}"),
        "{n0}"
    );
    assert!(n0.contains("protocol kernel kernel6 {\n  ipv6 {"), "{n0}");
    assert_eq!(n0.matches("protocol bgp peer_").count(), 3, "{n0}");
    assert_eq!(n0.matches("protocol bgp peer6_").count(), 3, "{n0}");
    assert!(
        n0.contains(
            "protocol bgp peer6_n3 {\n  local fd00:10:168::1 as 64512;\n  neighbor fd00:10:168::4 as 64512;\n  direct;\n  rr client;\n"
        ),
        "{n0}"
    );
    assert!(
        n0.contains("  ipv6 { import all; export filter to_ibgp; };\n}"),
        "{n0}"
    );
    // Two sessions per peer: the checks and the sweep count them so.
    assert_eq!(
        crate::peering::protocols_of(&dual, BgpTopology::Rr, Speaker::Node(0)).len(),
        6
    );
    assert_eq!(crate::peering::session_count(&dual, BgpTopology::Rr), 10);
    // ipv6 only: nothing of IPv4 but the router id (a 32-bit id, RFC 6286, not an address).
    let v6 = plan_of(3, 1, Underlay::L3, IpFamily::Ipv6);
    let n1 = render_config(&v6, BgpTopology::Mesh, Announce::Pod, Speaker::Node(1), log);
    assert!(n1.contains("router id 10.168.2.2;"), "{n1}");
    assert!(!n1.contains("ipv4"), "{n1}");
    assert!(!n1.contains("protocol bgp peer_"), "{n1}");
    assert!(
        n1.contains("import where net ~ [fd00:10:20::/48{128,128}] && ifname ~ \"cali*\";"),
        "{n1}"
    );
    assert!(
        n1.contains("protocol bgp peer6_router {\n  local fd00:10:168:2::2 as 64513;\n  neighbor fd00:10:168:2::1 as 65000;\n"),
        "{n1}"
    );
    assert!(n1.starts_with("# BIRD configuration of n1, bgp backend (mesh, a /128 per pod)"));
    let rt = render_config(
        &v6,
        BgpTopology::Mesh,
        Announce::Block,
        Speaker::Router(0),
        log,
    );
    assert!(
        rt.contains(
            "protocol kernel kernel6 {\n  ipv6 { import none; export where source = RTS_BGP; };\n}"
        ),
        "{rt}"
    );
    assert!(
        rt.contains("protocol bgp peer6_n0 {\n  local fd00:10:168:1::1 as 65000;\n  neighbor fd00:10:168:1::2 as 64512;\n"),
        "{rt}"
    );
    assert!(!rt.contains("ipv4"), "{rt}");
    // BIRD accepts every one of them.
    if harness::detect::find_binary("bird").is_none() {
        eprintln!("bird not installed: configurations not parsed by BIRD");
        return;
    }
    let dir = std::env::temp_dir().join(format!("cnbench-bgp-unit-v6-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let l3dual = plan_of(3, 1, Underlay::L3, IpFamily::Dual);
    for plan in [&dual, &v6, &l3dual] {
        for topo in [BgpTopology::Mesh, BgpTopology::Rr] {
            for announce in [Announce::Block, Announce::Pod] {
                for s in Speaker::all(plan) {
                    let path = dir.join("bird.conf");
                    let text = render_config(plan, topo, announce, s, &dir.join("log"));
                    std::fs::write(&path, &text).unwrap();
                    let out = std::process::Command::new("bird")
                        .arg("-p")
                        .arg("-c")
                        .arg(&path)
                        .output()
                        .unwrap();
                    assert!(
                        out.status.success(),
                        "{s:?} {topo} {announce}: {}\n{text}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn announced_prefixes_are_per_family() {
    use harness::topology::IpFamily;
    let p = plan_of(2, 2, Underlay::L2, IpFamily::Dual);
    let shown = |a: Announce| -> Vec<String> {
        announced(&p, a, &p.nodes[1])
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    assert_eq!(
        shown(Announce::Block),
        ["10.20.1.0/24", "fd00:10:20:1::/64"]
    );
    assert_eq!(
        shown(Announce::Pod),
        [
            "10.20.1.2/32",
            "10.20.1.3/32",
            "fd00:10:20:1::2/128",
            "fd00:10:20:1::3/128"
        ]
    );
}

#[test]
fn a_cni_chain_is_refused_with_ipv6_before_anything_is_made() {
    use harness::topology::IpFamily;
    let conf = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/cni/cbr0.conflist"
    );
    let cni = BackendOptions::new()
        .with("pod-wiring", "cni")
        .with("cni-conf", conf);
    for family in [IpFamily::Ipv6, IpFamily::Dual] {
        let p = plan_of(2, 1, Underlay::L2, family);
        match make(&cni, &p) {
            Err(e) => assert_eq!(
                e,
                format!("--ip-family {family}: cnbench runs a CNI chain's pods on IPv4 only (its cni backend does not run IPv6 yet): use --pod-wiring builtin or --ip-family ipv4")
            ),
            Ok(_) => panic!("a CNI chain on {family} was accepted"),
        }
        // cnbench's own wiring runs it.
        assert!(make(&BackendOptions::new(), &p).is_ok());
    }
}

fn setup(topology: BgpTopology) -> speaker::Setup {
    speaker::Setup {
        topology,
        announce: Announce::Block,
        timers: Timers::default(),
    }
}

#[test]
fn frr_configurations_say_what_the_peering_model_says_and_frr_accepts_them() {
    let p = plan(4, 1, Underlay::L2);
    let n0 = frr::render(&p, setup(BgpTopology::Rr), Speaker::Node(0), "bgpd");
    assert!(
        n0.contains("router bgp 64512\n bgp router-id 10.168.0.1\n"),
        "{n0}"
    );
    assert!(n0.contains(" timers bgp 1 3\n"), "{n0}");
    assert!(n0.contains(" bgp graceful-restart-disable\n"), "{n0}");
    assert!(n0.contains("  network 10.20.0.0/24\n"), "{n0}");
    // n0 and n1 reflect: n2 and n3 are clients; n0-n1 is plain iBGP.
    assert_eq!(n0.matches("route-reflector-client").count(), 2, "{n0}");
    assert_eq!(n0.matches(" remote-as 64512").count(), 3, "{n0}");
    assert_eq!(n0.matches("route-map TO_IBGP out").count(), 3, "{n0}");
    let st = frr::render(&p, setup(BgpTopology::Rr), Speaker::Node(0), "staticd");
    assert!(st.contains("ip route 10.20.0.0/24 blackhole"), "{st}");
    let l3 = plan(3, 1, Underlay::L3);
    let rt = frr::render(&l3, setup(BgpTopology::Mesh), Speaker::Router(0), "bgpd");
    assert!(rt.contains("router bgp 65000"), "{rt}");
    assert!(rt.contains(" neighbor 10.168.2.2 remote-as 64513"), "{rt}");
    assert!(!rt.contains("  network "), "{rt}");
    let n1 = frr::render(&l3, setup(BgpTopology::Mesh), Speaker::Node(1), "bgpd");
    assert!(
        n1.contains("  neighbor 10.168.2.1 route-map TO_ROUTER out"),
        "{n1}"
    );
    // FRR's own dry run accepts every configuration (and refuses a broken one).
    let dir = std::env::temp_dir().join(format!("cnbench-bgp-unit-frr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dry = |text: &str| -> String {
        let path = dir.join("bgpd.conf");
        std::fs::write(&path, text).unwrap();
        let out = std::process::Command::new("/usr/lib/frr/bgpd")
            .args(["-S", "-C", "-f"])
            .arg(&path)
            .output()
            .expect("FRR is installed (Debian's frr)");
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    for (plan, topo) in [
        (&p, BgpTopology::Rr),
        (&p, BgpTopology::Mesh),
        (&l3, BgpTopology::Rr),
    ] {
        for s in Speaker::all(plan) {
            let text = frr::render(plan, setup(topo), s, "bgpd");
            let err = dry(&text);
            assert!(
                !err.contains("on config line"),
                "{s:?} {topo}: {err}\n{text}"
            );
        }
    }
    assert!(dry("router bgp 1\n frobnicate\n").contains("on config line"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// FRR's own dry run (`-C`) of `daemon` on `text`: its refusals, none when accepted.
fn frr_dry_run(daemon: &str, text: &str) -> Vec<String> {
    let dir = std::env::temp_dir().join(format!(
        "cnbench-bgp-unit-frr-{daemon}-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{daemon}.conf"));
    std::fs::write(&path, text).unwrap();
    let mut cmd = std::process::Command::new(format!("/usr/lib/frr/{daemon}"));
    cmd.arg("-C").arg("-f").arg(&path);
    if daemon == "bgpd" {
        cmd.arg("-S");
    } else {
        cmd.args(["-u", "frr", "-g", "frr"]);
    }
    let out = cmd.output().expect("FRR is installed (Debian's frr)");
    let _ = std::fs::remove_dir_all(&dir);
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains("on config line") || l.contains("% "))
        .map(String::from)
        .collect()
}

#[test]
fn frr_configurations_per_family_and_in_pod_mode_are_accepted_by_frr() {
    use harness::topology::{Family, IpFamily};
    let dual = plan_of(3, 1, Underlay::L3, IpFamily::Dual);
    let v6 = plan_of(4, 1, Underlay::L2, IpFamily::Ipv6);
    let n1 = frr::render(&dual, setup(BgpTopology::Mesh), Speaker::Node(1), "bgpd");
    // One session per peer and family, each activated in its own family only.
    let v6_peer =
        peering::session_addresses(&dual, Speaker::Node(1), Speaker::Router(0), Family::V6).1;
    let v4_peer =
        peering::session_addresses(&dual, Speaker::Node(1), Speaker::Router(0), Family::V4).1;
    let (af4, af6) = n1
        .split_once(" address-family ipv6 unicast\n")
        .expect("an ipv6 address family");
    assert!(
        af4.contains(&format!("  neighbor {v4_peer} activate\n")),
        "{n1}"
    );
    assert!(
        !af4.contains(&format!("  neighbor {v6_peer} activate")),
        "{n1}"
    );
    assert!(
        af6.contains(&format!("  neighbor {v6_peer} activate\n")),
        "{n1}"
    );
    assert!(
        af6.contains(&format!("  neighbor {v6_peer} route-map FROM_PEER6 in\n")),
        "{n1}"
    );
    assert!(!af6.contains(&format!("  neighbor {v4_peer} ")), "{n1}");
    let block6 = dual.nodes[1].pod_block6.unwrap();
    assert!(af6.contains(&format!("  network {block6}\n")), "{n1}");
    assert!(af6.contains("  maximum-paths 8\n"), "{n1}");
    assert!(af6.contains("route-map TO_ROUTER6 out"), "{n1}");
    assert!(
        n1.contains(&format!("ipv6 prefix-list OWN6 seq 5 permit {block6}\n")),
        "{n1}"
    );
    // IPv6 routes are installed through the peer's global address, not its link-local one.
    assert!(n1.contains(" set ipv6 next-hop prefer-global\n"), "{n1}");
    let st = frr::render(&dual, setup(BgpTopology::Mesh), Speaker::Node(1), "staticd");
    assert!(
        st.contains(&format!("ipv6 route {block6} blackhole\n")),
        "{st}"
    );
    assert!(st.contains("ip route 10.20.1.0/24 blackhole\n"), "{st}");
    // IPv6 only: no IPv4 family, prefix-list or session.
    let only6 = frr::render(&v6, setup(BgpTopology::Rr), Speaker::Node(0), "bgpd");
    assert!(
        !only6.contains("ipv4 unicast") && !only6.contains("ip prefix-list"),
        "{only6}"
    );
    assert_eq!(only6.matches(" remote-as 64512").count(), 3, "{only6}");
    assert_eq!(
        only6.matches("route-reflector-client").count(),
        2,
        "{only6}"
    );
    // Pod mode: the pods' host routes from the kernel, no block announced (it stays a
    // blackhole), and only what the node originated to the router.
    let pod = speaker::Setup {
        announce: Announce::Pod,
        ..setup(BgpTopology::Rr)
    };
    let pn = frr::render(&dual, pod, Speaker::Node(0), "bgpd");
    assert!(!pn.contains("  network "), "{pn}");
    assert!(
        pn.contains("  redistribute kernel route-map PODS\n"),
        "{pn}"
    );
    assert!(
        pn.contains("  redistribute kernel route-map PODS6\n"),
        "{pn}"
    );
    assert!(
        pn.contains(&format!(
            "ip prefix-list OWN seq 5 permit {} ge 32\n",
            dual.spec.pod_cidr
        )),
        "{pn}"
    );
    assert!(
        pn.contains(&format!(
            "ipv6 prefix-list OWN6 seq 5 permit {} ge 128\n",
            dual.spec.pod_cidr6.unwrap()
        )),
        "{pn}"
    );
    assert_eq!(pn.matches(" match tag 64512\n").count(), 2, "{pn}");
    assert_eq!(pn.matches(" set tag 64512\n").count(), 2, "{pn}");
    let pst = frr::render(&dual, pod, Speaker::Node(0), "staticd");
    assert!(pst.contains("blackhole"), "{pst}");
    // Every configuration passes FRR's own dry run.
    for (plan, s) in [
        (&dual, setup(BgpTopology::Mesh)),
        (&dual, pod),
        (&v6, setup(BgpTopology::Rr)),
        (
            &v6,
            speaker::Setup {
                announce: Announce::Pod,
                ..setup(BgpTopology::Rr)
            },
        ),
    ] {
        for sp in Speaker::all(plan) {
            for daemon in ["bgpd", "staticd"] {
                let text = frr::render(plan, s, sp, daemon);
                let bad = frr_dry_run(daemon, &text);
                assert!(bad.is_empty(), "{sp:?} {daemon}: {bad:?}\n{text}");
            }
        }
    }
    assert!(!frr_dry_run(
        "bgpd",
        "route-map X permit 10\n set ipv6 next-hop frobnicate\n"
    )
    .is_empty());
}

#[test]
fn gobgp_configurations_say_what_the_peering_model_says_and_gobgpd_accepts_them() {
    let p = plan(4, 1, Underlay::L2);
    let n0 = gobgp::render(&p, BgpTopology::Rr, Speaker::Node(0));
    assert!(
        n0.contains("as = 64512\n  router-id = \"10.168.0.1\""),
        "{n0}"
    );
    assert_eq!(
        n0.matches("route-reflector-client = true").count(),
        2,
        "{n0}"
    );
    assert_eq!(n0.matches("hold-time = 3").count(), 3, "{n0}");
    // On l2 there is no border router: no export policy.
    assert!(!n0.contains("cnbench-export"), "{n0}");
    let l3 = plan(3, 1, Underlay::L3);
    let n1 = gobgp::render(&l3, BgpTopology::Mesh, Speaker::Node(1));
    assert!(n1.contains("neighbor-info-list = [\"10.168.2.1\"]"), "{n1}");
    assert!(n1.contains("ip-prefix = \"10.20.1.0/24\""), "{n1}");
    assert!(n1.contains("route-type = \"external\""), "{n1}");
    let rt = gobgp::render(&l3, BgpTopology::Mesh, Speaker::Router(0));
    assert!(rt.contains("as = 65000"), "{rt}");
    assert_eq!(rt.matches("[[neighbors]]").count(), 3, "{rt}");
    let dir = std::env::temp_dir().join(format!("cnbench-bgp-unit-gobgp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (plan, topo) in [
        (&p, BgpTopology::Rr),
        (&l3, BgpTopology::Rr),
        (&l3, BgpTopology::Mesh),
    ] {
        for s in Speaker::all(plan) {
            let path = dir.join("gobgpd.toml");
            let text = gobgp::render(plan, topo, s);
            std::fs::write(&path, &text).unwrap();
            if let Err(e) = gobgp::check(&path) {
                panic!("{s:?} {topo}: {e}\n{text}");
            }
        }
    }
    std::fs::write(dir.join("bad.toml"), "[global.config]\n  as = \"x\"\n").unwrap();
    assert!(gobgp::check(&dir.join("bad.toml")).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn speakers_own_cli_output_is_read() {
    let summary = r#"{"routerId":"10.168.0.1","as":64512,"peers":{"10.168.0.2":{"remoteAs":64512,"state":"Established"},"10.168.0.3":{"state":"Active"}}}"#;
    let s = frr::parse_summary(summary).unwrap();
    assert_eq!(s.len(), 2);
    assert!(s[0].established() && !s[1].established());
    assert!(frr::parse_summary("{}").unwrap().is_empty());
    let routes = r#"{"routes":{"10.20.1.0/24":[{"nexthops":[{"ip":"10.168.0.2"}]}],"10.20.0.0/24":[{"nexthops":[{"ip":"0.0.0.0"}]}]}}"#;
    assert_eq!(
        frr::parse_routes(routes).unwrap(),
        ["10.20.0.0/24 from local", "10.20.1.0/24 from 10.168.0.2"]
    );
    let neighbors = r#"[{"conf":{"neighbor_address":"10.168.0.1"},"state":{"session_state":6}},{"conf":{"neighbor_address":"10.168.0.3"},"state":{"session_state":3}}]"#;
    let n = gobgp::parse_neighbors(neighbors).unwrap();
    assert!(n[0].established() && !n[1].established());
    // The monitor's lines as GoBGP 3.10 prints them: a learned path, its own, a withdrawal.
    let line = r#"[{"nlri":{"prefix":"10.20.0.0/24"},"attrs":[{"type":1,"value":0},{"type":3,"nexthop":"10.99.0.1"}],"neighbor-ip":"10.99.0.1"},{"nlri":{"prefix":"10.20.1.0/24"},"attrs":[{"type":3,"nexthop":"0.0.0.0"}]},{"nlri":{"prefix":"10.20.2.0/24"},"withdrawal":true,"neighbor-ip":"10.99.0.3"}]"#;
    assert_eq!(
        gobgp::parse_monitor(line).unwrap(),
        [
            (
                "10.20.0.0/24".parse().unwrap(),
                vec!["10.99.0.1".parse().unwrap()]
            ),
            ("10.20.2.0/24".parse().unwrap(), vec![])
        ]
    );
    // With multipath on and two border routers: both paths of a prefix in one update (as
    // GoBGP 3.10 printed them here), each next hop once.
    let line = r#"[{"nlri":{"prefix":"10.20.1.0/24"},"best":false,"attrs":[{"type":1,"value":2},{"type":2,"as_paths":[{"segment_type":2,"num":2,"asns":[65000,64513]}]},{"type":3,"nexthop":"10.168.1.1"}],"neighbor-ip":"10.168.1.1"},{"nlri":{"prefix":"10.20.1.0/24"},"best":false,"attrs":[{"type":3,"nexthop":"10.168.1.254"}],"neighbor-ip":"10.168.1.254"},{"nlri":{"prefix":"10.20.1.0/24"},"attrs":[{"type":3,"nexthop":"10.168.1.254"}],"neighbor-ip":"10.168.1.254"}]"#;
    assert_eq!(
        gobgp::parse_monitor(line).unwrap(),
        [(
            "10.20.1.0/24".parse().unwrap(),
            vec![
                "10.168.1.1".parse().unwrap(),
                "10.168.1.254".parse().unwrap()
            ]
        )]
    );
    let rib = r#"{"10.20.0.0/24":[{"neighbor-ip":"10.99.0.1"}],"10.20.1.0/24":[{}]}"#;
    assert_eq!(
        gobgp::parse_rib(rib).unwrap(),
        ["10.20.0.0/24 from 10.99.0.1", "10.20.1.0/24 from local"]
    );
}

#[test]
fn speakers_are_chosen_per_role_recorded_and_refused_with_the_fix() {
    let p = plan(4, 1, Underlay::L3);
    let o = BackendOptions::new()
        .with("bgp-topology", "rr")
        .with("bgp-reflector-speaker", "gobgp");
    let made = make(&o, &p).unwrap();
    let opts = made.options();
    assert_eq!(opts.get("bgp-speaker"), Some("bird"));
    assert_eq!(opts.get("bgp-reflector-speaker"), Some("gobgp"));
    assert_eq!(opts.get("bgp-router-speaker"), Some("bird"));
    let chosen = Speakers {
        node: SpeakerKind::Bird,
        reflector: SpeakerKind::Gobgp,
        router: SpeakerKind::Frr,
    };
    // n0 and n1 are the first nodes of their segments: the reflectors.
    assert_eq!(
        chosen.of(&p, BgpTopology::Rr, Speaker::Node(0)),
        SpeakerKind::Gobgp
    );
    assert_eq!(
        chosen.of(&p, BgpTopology::Rr, Speaker::Node(2)),
        SpeakerKind::Bird
    );
    assert_eq!(
        chosen.of(&p, BgpTopology::Rr, Speaker::Router(0)),
        SpeakerKind::Frr
    );
    assert_eq!(
        chosen.of(&p, BgpTopology::Mesh, Speaker::Node(0)),
        SpeakerKind::Bird
    );
    let protos = chosen.protos(&p, BgpTopology::Rr);
    assert_eq!(
        protos.of("cnb-t1-n0"),
        harness::netlink::RouteProto::Other(186)
    );
    assert_eq!(protos.of("cnb-t1-n2"), harness::netlink::RouteProto::Bird);
    // Each node's expected routes carry its own speaker's protocol.
    let e = expect::expectations(
        &p,
        Announce::Block,
        &protos,
        &cni_runtime::wiring::PodWiring::Builtin,
    );
    assert!(shown(&e, "cnb-t1-n0")
        .iter()
        .any(|r| r.ends_with("proto 186")));
    assert!(shown(&e, "cnb-t1-n2")
        .iter()
        .any(|r| r.ends_with("proto bird")));
    assert!(shown(&e, "cnb-t1-rt")
        .iter()
        .all(|r| !r.contains("proto bird")));
    let bad = make(&BackendOptions::new().with("bgp-speaker", "quagga"), &p)
        .err()
        .unwrap();
    assert_eq!(bad, "--bgp-speaker quagga: use bird, frr or gobgp");
    let bad = make(&BackendOptions::new().with("bgp-router-speaker", "x"), &p)
        .err()
        .unwrap();
    assert!(bad.starts_with("--bgp-router-speaker x:"), "{bad}");
    // What GoBGP is not configured for here is refused with the fix; FRR does it.
    let dual = plan_of(2, 1, Underlay::L2, harness::topology::IpFamily::Dual);
    let bad = make(&BackendOptions::new().with("bgp-speaker", "gobgp"), &dual)
        .err()
        .unwrap();
    assert!(
        bad.contains("use --ip-family ipv4 or --bgp-speaker bird or frr"),
        "{bad}"
    );
    assert!(make(&BackendOptions::new().with("bgp-speaker", "frr"), &dual).is_ok());
    let pods = BackendOptions::new()
        .with("bgp-speaker", "frr")
        .with("bgp-announce", "pod");
    assert!(make(&pods, &dual).is_ok());
    let v4 = plan(2, 1, Underlay::L2);
    let bad = make(
        &BackendOptions::new()
            .with("bgp-speaker", "gobgp")
            .with("bgp-announce", "pod"),
        &v4,
    )
    .err()
    .unwrap();
    assert!(
        bad.contains("use --bgp-announce block or --bgp-speaker bird or frr"),
        "{bad}"
    );
    // Only BIRD's programs are BIRD's: a run without BIRD does not need bird2.
    let frr = make(&BackendOptions::new().with("bgp-speaker", "frr"), &v4).unwrap();
    assert!(frr.info().programs.is_empty());
    assert_eq!(
        SPEAKER_RESTART.aliases,
        ["bird-restart"],
        "the old name of the fault still selects it"
    );
}

/// An l3 plan with a second border router added by hand, as `--routers 2` will plan it: its
/// own namespace and an address (.254, ::fe) on every segment.
fn two_routers(nodes: u32) -> Plan {
    let mut p = plan(nodes, 1, Underlay::L3);
    let mut rt2 = p.routers[0].clone();
    rt2.role = "rt2".into();
    rt2.netns = "cnb-t1-rt2".into();
    for (bridge, net) in &mut rt2.segments {
        *bridge = format!("{bridge}b");
        let o = net.network().octets();
        *net = Ipv4Net::new(
            std::net::Ipv4Addr::new(o[0], o[1], o[2], 254),
            net.prefix_len(),
        )
        .unwrap();
    }
    p.routers.push(rt2);
    p
}

#[test]
fn two_border_routers_peer_with_every_node_and_nodes_install_both_paths() {
    let p = two_routers(4);
    assert_eq!(
        Speaker::all(&p)[4..],
        [Speaker::Router(0), Speaker::Router(1)]
    );
    assert_eq!(Speaker::Router(1).role(&p), "router2");
    assert_eq!(Speaker::Router(1).netns(&p), "cnb-t1-rt2");
    assert_eq!(Speaker::Router(1).asn(&p), ROUTER_AS);
    // A mesh per segment (2 + 2 nodes) and every node with each router; none between routers.
    let all = sessions(&p, BgpTopology::Mesh);
    assert_eq!(all.len(), 1 + 1 + 4 + 4);
    assert!(!all.iter().any(|(a, b)| a.is_router() && b.is_router()));
    let peers = crate::peering::peers_of(&p, BgpTopology::Mesh, Speaker::Router(1));
    assert_eq!(peers.len(), 4);
    let log = std::path::Path::new("/tmp/x.log");
    // The second router speaks from its own address on each segment.
    let rt2 = render_config(
        &p,
        BgpTopology::Mesh,
        Announce::Block,
        Speaker::Router(1),
        log,
    );
    assert!(rt2.contains("router id 10.168.1.254;"), "{rt2}");
    assert!(
        rt2.contains("local 10.168.2.254 as 65000;\n  neighbor 10.168.2.2 as 64513;"),
        "{rt2}"
    );
    // A node peers with both, and its kernel protocol merges their paths (ECMP).
    let n0 = render_config(
        &p,
        BgpTopology::Mesh,
        Announce::Block,
        Speaker::Node(0),
        log,
    );
    assert!(n0.contains("protocol bgp peer_router {"), "{n0}");
    assert!(n0.contains("protocol bgp peer_router2 {\n  local 10.168.1.2 as 64512;\n  neighbor 10.168.1.254 as 65000;"), "{n0}");
    assert!(
        n0.contains("protocol kernel {\n  merge paths yes;\n"),
        "{n0}"
    );
    // One router: no merge, the configuration unchanged.
    let one = plan(4, 1, Underlay::L3);
    assert!(!render_config(
        &one,
        BgpTopology::Mesh,
        Announce::Block,
        Speaker::Node(0),
        log
    )
    .contains("merge paths"));
    let frr_n0 = frr::render(&p, setup(BgpTopology::Mesh), Speaker::Node(0), "bgpd");
    assert_eq!(
        frr_n0.matches("route-map TO_ROUTER out").count(),
        2,
        "{frr_n0}"
    );
    assert!(frr_n0.contains("maximum-paths 8"), "{frr_n0}");
    let gobgp_n0 = gobgp::render(&p, BgpTopology::Mesh, Speaker::Node(0));
    assert!(
        gobgp_n0.contains("neighbor-info-list = [\"10.168.1.1\", \"10.168.1.254\"]"),
        "{gobgp_n0}"
    );
    // Convergence waits on both routers; each router must hold every block via its node.
    let t = converge::targets(&p, Announce::Block);
    assert_eq!(t.len(), 6);
    assert_eq!(t[5].0, "cnb-t1-rt2");
    assert_eq!(t[5].1.len(), 4);
    let e = expect::expectations(
        &p,
        Announce::Block,
        &Default::default(),
        &cni_runtime::wiring::PodWiring::Builtin,
    );
    assert_eq!(shown(&e, "cnb-t1-rt2").len(), 4);
    // A node declares the other segment's blocks through both routers (ECMP: the kernel's
    // dump lists one route per next hop), its own segment's through their node.
    let n0 = shown(&e, "cnb-t1-n0");
    for block in ["10.20.1.0/24", "10.20.3.0/24"] {
        for via in ["10.168.1.1", "10.168.1.254"] {
            let want = format!("{block} via {via} dev eth0 proto bird");
            assert!(n0.contains(&want), "{want} not in {n0:?}");
        }
    }
    assert!(
        n0.contains(&"10.20.2.0/24 via 10.168.1.3 dev eth0 proto bird".to_string()),
        "{n0:?}"
    );
    // Convergence is the same paths.
    let paths = converge::paths(&p, Announce::Block, &Default::default());
    assert_eq!(paths[0].1.len(), 5, "{:?}", paths[0]);
    // BIRD accepts every configuration of the two-router plan.
    let dir = std::env::temp_dir().join(format!("cnbench-bgp-unit-2rt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for s in Speaker::all(&p) {
        let path = dir.join("bird.conf");
        let text = render_config(&p, BgpTopology::Rr, Announce::Block, s, &dir.join("log"));
        std::fs::write(&path, &text).unwrap();
        let out = std::process::Command::new("bird")
            .arg("-p")
            .arg("-c")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{s:?}: {}\n{text}",
            String::from_utf8_lossy(&out.stderr)
        );
        let path = dir.join("gobgpd.toml");
        std::fs::write(&path, gobgp::render(&p, BgpTopology::Rr, s)).unwrap();
        gobgp::check(&path).unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn hold_timer_expiries_count_only_where_the_timer_ran_out() {
    use crate::speaker::SpeakerDaemon;
    let bird = "2026-12-07 02:31:00.101 <RMT> peer_n1: Error: Hold timer expired\n\
                2026-12-07 02:31:00.102 <RMT> peer_n7: Received: Hold timer expired\n\
                2026-12-07 02:31:04.000 <RMT> peer6_n1: Error: Hold timer expired\n";
    assert_eq!(crate::bird::Bird.hold_timer_expiries(bird), 2);
    let frr = "2026/12/07 03:01:02 BGP: [HKWM3-ZC5QP] %NOTIFICATION: sent to neighbor 10.168.0.3 4/0 (Hold Timer Expired) 0 bytes\n\
               2026/12/07 03:01:02 BGP: [HKWM3-ZC5QP] %NOTIFICATION: received from neighbor 10.168.0.4 4/0 (Hold Timer Expired) 0 bytes\n";
    assert_eq!(crate::frr::Frr.hold_timer_expiries(frr), 1);
    let gobgp = "time=\"2026-12-07T03:01:02Z\" level=warning msg=\"hold timer expired\" Key=10.168.0.3 State=BGP_FSM_ESTABLISHED Topic=Peer\n\
                 time=\"2026-12-07T03:01:02Z\" level=warning msg=\"received notification\" Code=4 Key=10.168.0.4 Subcode=0 Topic=Peer\n";
    assert_eq!(crate::gobgp::Gobgp.hold_timer_expiries(gobgp), 1);
    for daemon in [
        &crate::bird::Bird as &dyn SpeakerDaemon,
        &crate::frr::Frr,
        &crate::gobgp::Gobgp,
    ] {
        assert_eq!(daemon.hold_timer_expiries(""), 0);
    }
}

#[test]
fn the_hold_time_reaches_every_daemon_and_bad_values_are_refused() {
    let p = plan(4, 1, Underlay::L2);
    let make_with = |h: &str| make(&BackendOptions::new().with(HOLD_TIME_OPTION.flag, h), &p);
    for bad in ["2", "0", "x", "70000"] {
        let e = make_with(bad).err().expect("refused");
        assert!(e.contains("use 3 to 65535 seconds"), "{bad}: {e}");
    }
    assert!(make_with("30").is_ok());
    let t = Timers::with_hold(30);
    assert_eq!((t.hold_s, t.keepalive_s), (30, 10));
    assert_eq!(Timers::with_hold(4).keepalive_s, 1);
    assert_eq!(Timers::default(), Timers::with_hold(3));
    let dir = std::path::Path::new("/tmp");
    let bird = config::render_timed(
        &p,
        BgpTopology::Rr,
        Announce::Block,
        Speaker::Node(0),
        dir,
        t,
    );
    assert!(
        bird.contains("keepalive time 10;\n  hold time 30;"),
        "{bird}"
    );
    let setup = speaker::Setup {
        timers: t,
        ..setup(BgpTopology::Rr)
    };
    let frr = frr::render(&p, setup, Speaker::Node(0), "bgpd");
    assert!(frr.contains(" timers bgp 10 30\n"), "{frr}");
    let gobgp = gobgp::render_timed(&p, BgpTopology::Rr, Speaker::Node(0), t);
    assert!(
        gobgp.contains("hold-time = 30\n    keepalive-interval = 10\n"),
        "{gobgp}"
    );
}
