//! End-to-end runs of the bgp backend (Calico-style routing with real BIRD) through the
//! `cnbench` binary, as root: full mesh and route reflectors on an l2 and an l3 underlay pass
//! every check (sessions read with birdc, withdrawal and restore, convergence), the JSON
//! result parses, and nothing of the run is left: no namespace, no BIRD, no state directory.
//! (`cnbench scale`: `tests/scale.rs`.) A machine without BIRD gets the fix, not a crash.
//! With `--bgp-announce pod` every node announces a /32 per pod: the same runs pass every
//! check, and a pod added to a standing topology is announced (and withdrawn when removed)
//! by BIRD learning the kernel's routes. On a standing topology, proxy ARP turned off by hand
//! on a pod's host end fails `cnbench check`. With `--ip-family dual` and `ipv6` every family
//! has its /32 or /128 routes, its gateway (the host end's own link-local address for IPv6)
//! and its own BGP sessions: dual-stack and IPv6 route-reflector runs pass every check, a pod
//! added in pod mode is announced as a /128, and proxy NDP turned off by hand fails `cnbench
//! check`. BIRD runs with fast timers (hold 3 s), so each run takes a few seconds.

mod common;

use std::time::{Duration, Instant};

use harness::backend::BackendOptions;
use harness::host::Host;
use harness::netlink::{RouteProto, RouteSpec};
use harness::run::{Launch, Topology};
use harness::state::Mode;
use harness::topology::{new_run_id, TopologyRequest};
use ipnet::Ipv4Net;

use common::{code, namespaces_of, run, run_id_of, text, Cleanup};

/// Pids of the BIRD processes whose command line names run `id`'s state directory (their
/// configuration and control socket live there), whoever started them.
fn birds_of(id: &str) -> Vec<u32> {
    let needle = format!("/run/cnbench/{id}/bird/");
    std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
                .filter(|pid| {
                    std::fs::read(format!("/proc/{pid}/cmdline"))
                        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
                        .map(|c| c.starts_with("bird ") && c.contains(&needle))
                        .unwrap_or(false)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn assert_nothing_left(id: &str) {
    assert!(
        namespaces_of(id).is_empty(),
        "run {id} left {:?}",
        namespaces_of(id)
    );
    assert!(
        !std::path::Path::new(&format!("/run/cnbench/{id}")).exists(),
        "run {id} left its state directory"
    );
    assert!(
        birds_of(id).is_empty(),
        "run {id} left BIRD {:?}",
        birds_of(id)
    );
}

/// `cnbench run --backend bgp --no-baseline` with `extra`: exit 0, nothing left (no BIRD
/// either); the parsed result.
fn run_bgp(extra: &[&str]) -> reports::RunResult {
    let mut args = vec!["--no-baseline"];
    args.extend_from_slice(extra);
    let (result, _) = common::run_ok("bgp", &args);
    assert_nothing_left(&result.run_id);
    result
}

fn check<'a>(r: &'a reports::RunResult, kind: &str, subject_has: &str) -> &'a reports::CheckRecord {
    r.checks
        .iter()
        .find(|c| c.check == kind && c.subject.contains(subject_has))
        .unwrap_or_else(|| panic!("no {kind} check about {subject_has:?}: {:#?}", r.checks))
}

/// Every check passed, the backend's own among them, one session record per speaker.
fn assert_passed(r: &reports::RunResult, speakers: usize) {
    assert_eq!(r.outcome, reports::Outcome::Passed);
    let bad: Vec<_> = r
        .checks
        .iter()
        .filter(|c| c.outcome != reports::CheckOutcome::Pass)
        .collect();
    assert!(bad.is_empty(), "{bad:#?}");
    for kind in [
        "routes",
        "devices",
        "reachability",
        "neighbours",
        "ttl",
        "encap",
        "convergence",
        "bgp-withdraw",
        "bgp-restore",
    ] {
        assert!(r.checks.iter().any(|c| c.check == kind), "no {kind} check");
    }
    let sessions = r
        .checks
        .iter()
        .filter(|c| c.check == "bgp-sessions")
        .count();
    assert_eq!(sessions, speakers);
    assert!(check(r, "convergence", "bgp")
        .actual
        .starts_with("converged in"));
}

#[test]
fn full_mesh_on_l2_routes_pod_blocks_learned_from_bird() {
    let r = run_bgp(&[]);
    assert_passed(&r, 2);
    // The article's table: a /32 per local pod on its cali device, the remote block by BGP.
    let routes = check(&r, "routes", "-n0");
    assert!(
        routes
            .actual
            .contains("10.20.1.0/24 via 10.168.0.2 dev eth0 proto bird"),
        "{routes:?}"
    );
    assert!(
        routes.actual.contains("10.20.0.2/32 dev cali"),
        "{routes:?}"
    );
    // Proxy ARP: the pod's gateway resolves to the host end of its veth.
    let arp = check(&r, "neighbours", "n0p0 eth0 neighbour 169.254.1.1");
    assert!(arp.expected.starts_with("lladdr"), "{arp:?}");
    // No bridge, no tunnel anywhere on a node; pod IPs on the wire at the underlay MTU.
    for ns in r.topology.iter().filter(|n| n.role == "node") {
        assert!(
            ns.devices
                .iter()
                .all(|d| d.kind == "veth" || d.name == "lo"),
            "{ns:?}"
        );
    }
    assert!(check(&r, "encap", "-sw")
        .actual
        .contains("10.20.0.2 -> 10.20.1.2"));
    assert!(check(&r, "ttl", "n0p0").actual.contains("2 hop"));
    let workloads: Vec<(&str, &str)> = r
        .measurements
        .iter()
        .map(|m| (m.workload.as_str(), m.path.as_str()))
        .collect();
    assert!(
        workloads.contains(&("tcp-rr", "cross-node")),
        "{workloads:?}"
    );
    assert!(r.measurements.iter().all(|m| m.datapath == "kernel"));
    // BIRD is a role of every measurement: its CPU is counted, it moves no packets.
    for m in &r.measurements {
        for c in &m.costs {
            let birds: Vec<_> = c
                .roles
                .iter()
                .filter(|x| x.role.starts_with("bird on"))
                .collect();
            assert_eq!(birds.len(), 2, "{}: {:?}", m.label(), c.roles);
            for b in birds {
                assert!(b.cpu_ns.is_some(), "{}: {b:?}", m.label());
                assert_eq!((b.packets, b.syscalls_per_packet), (0, None));
            }
        }
    }
}

#[test]
fn route_reflectors_on_l2_serve_every_client() {
    let r = run_bgp(&[
        "--bgp-topology",
        "rr",
        "--nodes",
        "4",
        "--pods-per-node",
        "1",
        "--workloads",
        "none",
    ]);
    assert_passed(&r, 4);
    // n0 and n1 reflect: 3 sessions each; clients peer with both.
    let rr = check(&r, "bgp-sessions", "BIRD on n0 (route reflector)");
    assert!(rr.actual.starts_with("3 session(s)"), "{rr:?}");
    let client = check(&r, "bgp-sessions", "BIRD on n3:");
    assert!(client.actual.starts_with("2 session(s)"), "{client:?}");
    // A reflected route keeps its origin as the next hop.
    let routes = check(&r, "routes", "-n2");
    assert!(
        routes
            .actual
            .contains("10.20.3.0/24 via 10.168.0.4 dev eth0 proto bird"),
        "{routes:?}"
    );
}

#[test]
fn full_mesh_on_l3_crosses_the_border_router_without_encapsulation() {
    let r = run_bgp(&["--underlay", "l3", "--nodes", "3", "--pods-per-node", "1"]);
    // Three nodes and the router.
    assert_passed(&r, 4);
    let routes = check(&r, "routes", "-n0");
    // n1 is on the other segment: via the router; n2 shares n0's segment: direct.
    assert!(
        routes
            .actual
            .contains("10.20.1.0/24 via 10.168.1.1 dev eth0 proto bird"),
        "{routes:?}"
    );
    assert!(
        routes
            .actual
            .contains("10.20.2.0/24 via 10.168.1.3 dev eth0 proto bird"),
        "{routes:?}"
    );
    let rt = check(&r, "routes", "-rt");
    assert!(
        rt.actual
            .contains("10.20.1.0/24 via 10.168.2.2 dev br2 proto bird"),
        "{rt:?}"
    );
    assert!(check(&r, "encap", "-rt")
        .actual
        .contains("10.20.0.2 -> 10.20.1.2"));
    assert!(check(&r, "ttl", "n0p0").actual.contains("3 hop"));
    let router = check(&r, "bgp-sessions", "(border router)");
    assert!(router.actual.starts_with("3 session(s)"), "{router:?}");
}

#[test]
fn route_reflectors_on_l3() {
    let r = run_bgp(&[
        "--underlay",
        "l3",
        "--bgp-topology",
        "rr",
        "--nodes",
        "4",
        "--pods-per-node",
        "1",
        "--workloads",
        "none",
    ]);
    assert_passed(&r, 5);
}

#[test]
fn a_standing_topology_is_checked_restarted_and_taken_down() {
    let o = run(&["up", "--backend", "bgp", "--pods-per-node", "1"]);
    let id = run_id_of(&String::from_utf8_lossy(&o.stdout));
    let _guard = Cleanup(vec![id.clone()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    // BIRD outlives `up`, one per node.
    assert_eq!(birds_of(&id).len(), 2);
    // `check` (another process) stops n1's BIRD and starts a new one that outlives it.
    let o = run(&["check", &id]);
    let out = text(&o);
    assert_eq!(code(&o), 0, "{out}");
    assert!(
        out.contains("bgp-restore") && out.contains("every route back"),
        "{out}"
    );
    assert_eq!(birds_of(&id).len(), 2, "{out}");
    // The nodes' declared settings are read: forwarding, and proxy ARP without delay on
    // each pod's host end.
    let node = format!("cnb-{id}-n0");
    let cali = cali_of(&node);
    let sysctls = out
        .lines()
        .find(|l| l.starts_with("PASS  sysctls") && l.contains(&node))
        .unwrap_or_else(|| panic!("no passing sysctls check of {node}: {out}"));
    for key in [
        "net.ipv4.ip_forward=1".to_string(),
        format!("net.ipv4.conf.{cali}.proxy_arp=1"),
        format!("net.ipv4.neigh.{cali}.proxy_delay=0"),
    ] {
        assert!(sysctls.contains(&key), "{sysctls}");
    }

    // Someone turns proxy ARP off on a pod's host end by hand. Nothing else shows it until
    // the pod's neighbour entry for its gateway expires (then its ARP goes unanswered): the
    // sysctls check must catch it at once, naming the key.
    let key = format!("net.ipv4.conf.{cali}.proxy_arp");
    hand_set(&node, &key, "0");
    let o = run(&["check", &id]);
    let out = text(&o);
    assert_eq!(code(&o), 1, "{out}");
    let failed = out
        .lines()
        .find(|l| l.starts_with("FAIL  sysctls") && l.contains(&node))
        .unwrap_or_else(|| panic!("no failing sysctls check of {node}: {out}"));
    assert!(
        failed.contains(&format!("reason: {key} is 0, not 1")),
        "{failed}"
    );

    let o = run(&["down", &id]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_nothing_left(&id);
}

/// The host end of the first pod's veth in node namespace `node` (`caliXXXXXXXX`).
fn cali_of(node: &str) -> String {
    let o = std::process::Command::new("ip")
        .args(["-netns", node, "-o", "link", "show"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .find(|n| n.starts_with("cali"))
        .unwrap_or_else(|| panic!("no cali device in {node}"))
}

/// `sysctl -w key=value` in namespace `netns`, as someone would by hand.
fn hand_set(netns: &str, key: &str, value: &str) {
    let st = std::process::Command::new("ip")
        .args(["netns", "exec", netns, "sysctl", "-q", "-w"])
        .arg(format!("{key}={value}"))
        .status()
        .unwrap();
    assert!(st.success(), "sysctl -w {key}={value} in {netns}");
}

#[test]
fn without_bird_the_run_says_which_package_to_install() {
    // A PATH without BIRD: refused before anything is created, with the fix.
    let empty = std::env::temp_dir().join(format!("cnbench-test-nobird-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let o = common::cnbench()
        .args(["run", "--backend", "bgp"])
        .env("PATH", &empty)
        .output()
        .expect("cnbench runs");
    let _ = std::fs::remove_dir(&empty);
    assert_eq!(code(&o), 2, "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("apt-get install bird2"), "{}", text(&o));
    // Refused while planning: no run id was ever given out.
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("cnbench run "),
        "{}",
        text(&o)
    );
}

#[test]
fn unknown_topologies_are_refused() {
    let o = run(&["run", "--backend", "bgp", "--bgp-topology", "star"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(
            "invalid value 'star' for '--bgp-topology <VALUE>' (possible values: mesh, rr)"
        ),
        "{}",
        text(&o)
    );
}

#[test]
fn pod_routes_on_a_full_mesh_on_l2() {
    let r = run_bgp(&["--bgp-announce", "pod", "--workloads", "none"]);
    assert_passed(&r, 2);
    assert_eq!(
        r.parameters
            .backend_options
            .get("bgp-announce")
            .map(String::as_str),
        Some("pod")
    );
    // A /32 per remote pod through the node that announced it; no remote block.
    let routes = check(&r, "routes", "-n0");
    for pod in ["10.20.1.2/32", "10.20.1.3/32"] {
        assert!(
            routes
                .actual
                .contains(&format!("{pod} via 10.168.0.2 dev eth0 proto bird")),
            "{routes:?}"
        );
    }
    assert!(!routes.actual.contains("10.20.1.0/24"), "{routes:?}");
    let withdraw = check(&r, "bgp-withdraw", "n1");
    assert!(withdraw.subject.contains("10.20.1.2/32"), "{withdraw:?}");
}

#[test]
fn pod_routes_through_route_reflectors_on_l2() {
    let r = run_bgp(&[
        "--bgp-announce",
        "pod",
        "--bgp-topology",
        "rr",
        "--nodes",
        "4",
        "--pods-per-node",
        "1",
        "--workloads",
        "none",
    ]);
    assert_passed(&r, 4);
    // A client's pod, reflected to another client with its origin as the next hop.
    let routes = check(&r, "routes", "-n2");
    assert!(
        routes
            .actual
            .contains("10.20.3.2/32 via 10.168.0.4 dev eth0 proto bird"),
        "{routes:?}"
    );
    assert!(!routes.actual.contains("/24 via"), "{routes:?}");
}

#[test]
fn pod_routes_cross_the_border_router_on_l3() {
    let r = run_bgp(&[
        "--bgp-announce",
        "pod",
        "--underlay",
        "l3",
        "--nodes",
        "3",
        "--pods-per-node",
        "1",
        "--workloads",
        "none",
    ]);
    assert_passed(&r, 4);
    let routes = check(&r, "routes", "-n0");
    assert!(
        routes
            .actual
            .contains("10.20.1.2/32 via 10.168.1.1 dev eth0 proto bird"),
        "{routes:?}"
    );
    let rt = check(&r, "routes", "-rt");
    assert!(
        rt.actual
            .contains("10.20.1.2/32 via 10.168.2.2 dev br2 proto bird"),
        "{rt:?}"
    );
    assert!(!rt.actual.contains("/24 via"), "{rt:?}");
}

/// Polls `host`'s main table until `want` holds of it; the time that took, or None after
/// `limit`.
fn until(host: &Host, limit: Duration, want: impl Fn(&[RouteSpec]) -> bool) -> Option<Duration> {
    let t = Instant::now();
    loop {
        if want(&host.nl().routes().expect("routes readable")) {
            return Some(t.elapsed());
        }
        if t.elapsed() >= limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The `proto bird` route to `dst` among `routes`, if there is one.
fn learned(routes: &[RouteSpec], dst: Ipv4Net) -> Option<&RouteSpec> {
    routes.iter().find(|r| {
        // BIRD's `proto bird` or zebra's `proto bgp` (186).
        matches!(r.proto, RouteProto::Bird | RouteProto::Other(186)) && r.dst == dst.into()
    })
}

/// A pod added to a standing pod-mode topology: its node's kernel route is all it takes for
/// BIRD to announce it (the peer gets its /32 and a pod there reaches it); a kernel route
/// deleted and added again is withdrawn and announced again; once the pod is removed (its
/// device deleted, which the kernel reports for the device but not for its route) its /32
/// leaves the peer within the hold time, and nothing of the run is left.
#[test]
fn a_pod_added_is_announced_and_withdrawn_when_removed() {
    pod_churn("bird");
}

/// The same with FRR: zebra reads the pod's kernel route and bgpd redistributes it.
#[test]
fn frr_a_pod_added_is_announced_and_withdrawn_when_removed() {
    pod_churn("frr");
}

fn pod_churn(speaker: &str) {
    let request = TopologyRequest {
        pods_per_node: Some(1),
        ..TopologyRequest::default()
    };
    let plan = backend_bgp::INFO.plan(&request, new_run_id()).unwrap();
    let options = BackendOptions::new()
        .with("bgp-announce", "pod")
        .with("bgp-speaker", speaker);
    let bgp = backend_bgp::make(&options, &plan).unwrap();
    let backend = bgp.as_ref();
    backend.validate(&plan).unwrap();
    let id = plan.run_id().to_string();
    let _guard = Cleanup(vec![id.clone()]);
    let launch = Launch {
        mode: Mode::Run,
        backend_options: backend.options(),
        exe: std::path::PathBuf::from(env!("CARGO_BIN_EXE_cnbench")),
    };
    let mut topo = Topology::up(backend, plan, launch).expect("up");
    let hold = Duration::from_secs(u64::from(backend_bgp::HOLD_S));
    let (peer, last) = (topo.plan().nodes[0].clone(), topo.plan().nodes[1].clone());
    let here = topo.plan().pods[0].clone();
    assert_eq!(here.node, peer.index);

    let t = Instant::now();
    let pod = topo.add_pod(backend, last.index).expect("pod added");
    let added = t.elapsed();
    let dst = Ipv4Net::new(pod.ip.addr(), 32).unwrap();
    let seen = until(&topo.hosts()[&peer.netns], hold, |r| {
        learned(r, dst).is_some()
    })
    .unwrap_or_else(|| panic!("{dst} never reached {} as a proto bird route", peer.role));
    let routes = topo.hosts()[&peer.netns].nl().routes().unwrap();
    let via = learned(&routes, dst).unwrap().via;
    assert_eq!(via, last.underlay_ip.map(|i| i.addr().into()), "{routes:?}");
    eprintln!(
        "pod {} added in {added:?}; its /32 on {} {seen:?} after that",
        pod.role, peer.role
    );
    // A pod on the other node reaches it (the first echo may wait for ARP).
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let answer = harness::checks::icmp_echo(&topo.hosts()[&here.netns], pod.ip.addr().into());
        if answer.ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} -> {} ({}): {answer}",
            here.role,
            pod.role,
            pod.ip.addr()
        );
    }
    // Every check passes with the new pod (its /32 declared on the peer, no block there).
    let checks = topo.check(backend, &mut |_| {});
    let failed: Vec<_> = checks
        .iter()
        .filter(|c| c.outcome != reports::CheckOutcome::Pass)
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");

    // The kernel route alone, deleted and added again: withdrawn and announced again.
    let node = &topo.hosts()[&last.netns];
    let cali = backend_bgp::cali_name(&id, &pod);
    let t = Instant::now();
    let del = node
        .run(
            "ip",
            &["route", "del", &dst.to_string(), "dev", &cali].map(String::from),
            Duration::from_secs(5),
        )
        .unwrap();
    assert!(del.status.success(), "{del:?}");
    until(&topo.hosts()[&peer.netns], hold, |r| {
        learned(r, dst).is_none()
    })
    .expect("a deleted kernel route is withdrawn");
    // From the start of `ip route del` (a process spawned in the node) to the peer's kernel.
    let withdrawn = t.elapsed();
    let route = RouteSpec {
        dst: dst.into(),
        via: None,
        dev: cali.clone(),
        proto: RouteProto::Boot,
        scope: harness::netlink::RouteScope::Link,
        src: None,
        onlink: false,
    };
    let t = Instant::now();
    node.nl().add_route(&route).unwrap();
    until(&topo.hosts()[&peer.netns], hold, |r| {
        learned(r, dst).is_some()
    })
    .expect("an added kernel route is announced");
    let announced = t.elapsed();
    eprintln!(
        "kernel route of {} on {}: deleted, gone from {} in {withdrawn:?}; added, there in {announced:?}",
        pod.role, last.role, peer.role
    );

    // Removed: its device goes, and with it its route and its /32 on the peer.
    let t = Instant::now();
    let errors = topo.remove_pod(backend, &pod.role);
    assert!(errors.is_empty(), "{errors:?}");
    let gone = until(&topo.hosts()[&peer.netns], hold, |r| {
        learned(r, dst).is_none()
    });
    eprintln!(
        "pod {} removed: its /32 gone from {} {gone:?} after remove_pod returned ({:?} in all)",
        pod.role,
        peer.role,
        t.elapsed()
    );
    assert!(
        gone.is_some() && t.elapsed() <= hold,
        "{dst} still on {} {:?} after remove_pod",
        peer.role,
        t.elapsed()
    );
    assert!(topo.down(backend).is_empty());
    assert_nothing_left(&id);
}

#[test]
fn pod_announcements_need_cnbenchs_own_pod_wiring() {
    let conf = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/cni/cbr0.conflist");
    let o = run(&[
        "run",
        "--backend",
        "bgp",
        "--bgp-announce",
        "pod",
        "--pod-wiring",
        "cni",
        "--cni-conf",
        conf,
    ]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--bgp-announce pod needs cnbench's own pod wiring")
            && err.contains("use --pod-wiring builtin"),
        "{}",
        text(&o)
    );
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("cnbench run "),
        "{}",
        text(&o)
    );
}

/// The measurement of `workload` on `path` (`cross-node`, `cross-node ipv6`), if any.
fn measured<'a>(
    r: &'a reports::RunResult,
    workload: &str,
    path: &str,
) -> Option<&'a reports::MeasurementRecord> {
    r.measurements
        .iter()
        .find(|m| m.workload == workload && m.path == path)
}

#[test]
fn dual_stack_full_mesh_on_l2_routes_both_families_with_bird() {
    let r = run_bgp(&["--ip-family", "dual", "--workloads", "tcp-rr"]);
    assert_passed(&r, 2);
    assert_eq!(r.parameters.ip_family(), "dual");
    // Next to the article's IPv4 table: a /128 per local pod on its cali device, the remote
    // IPv6 block learned over the IPv6 session, via the peer's IPv6 address.
    let routes = check(&r, "routes", "-n0");
    for want in [
        "10.20.1.0/24 via 10.168.0.2 dev eth0 proto bird",
        "fd00:10:20:1::/64 via fd00:10:168::2 dev eth0 proto bird",
        "fd00:10:20::2/128 dev cali",
    ] {
        assert!(routes.actual.contains(want), "{want}: {routes:?}");
    }
    // The pod's IPv6 default goes via the host end's own link-local address, which answers
    // NDP with Calico's MAC.
    let pod = check(&r, "routes", "-n0p0");
    assert!(
        pod.actual
            .contains("default via fe80::ecee:eeff:feee:eeee dev eth0")
            && pod.actual.contains("default via 169.254.1.1 dev eth0"),
        "{pod:?}"
    );
    let ndp = check(
        &r,
        "neighbours",
        "n0p0 eth0 neighbour fe80::ecee:eeff:feee:eeee",
    );
    assert!(
        ndp.actual.starts_with("lladdr ee:ee:ee:ee:ee:ee"),
        "{ndp:?}"
    );
    // One session per family with the peer.
    let s = check(&r, "bgp-sessions", "BIRD on n0:");
    assert!(
        s.expected == "2 session(s) Established: n1 (ipv4, ipv6)"
            && s.actual.starts_with("2 session(s) Established"),
        "{s:?}"
    );
    // The kernel settings of both families, read back.
    let sysctls = check(&r, "sysctls", "-n0");
    for key in [
        "net.ipv4.ip_forward=1",
        "net.ipv6.conf.all.forwarding=1",
        ".proxy_arp=1",
        ".proxy_ndp=1",
        ".accept_dad=0",
    ] {
        assert!(sysctls.actual.contains(key), "{key}: {sysctls:?}");
    }
    // IPv6 pod addresses on the wire, two routed hops; withdrawal covers both blocks.
    assert!(r
        .checks
        .iter()
        .any(|c| c.check == "encap" && c.actual.contains("fd00:10:20::2 -> fd00:10:20:1::2")));
    assert!(check(&r, "ttl", "(fd00:10:20:1::2)")
        .actual
        .contains("2 hop"));
    assert!(check(&r, "bgp-withdraw", "n1")
        .subject
        .contains("10.20.1.0/24, fd00:10:20:1::/64"));
    // tcp-rr measured over each family.
    for path in ["cross-node", "cross-node ipv6"] {
        let m = measured(&r, "tcp-rr", path)
            .unwrap_or_else(|| panic!("no tcp-rr on {path}: {:?}", r.measurements));
        assert!(!m.repetitions.is_empty(), "{path}: {m:?}");
    }
}

#[test]
fn ipv6_route_reflectors_on_l2_serve_every_client() {
    let r = run_bgp(&[
        "--ip-family",
        "ipv6",
        "--bgp-topology",
        "rr",
        "--nodes",
        "4",
        "--pods-per-node",
        "1",
        "--workloads",
        "none",
    ]);
    assert_passed(&r, 4);
    let rr = check(&r, "bgp-sessions", "BIRD on n0 (route reflector)");
    assert!(rr.actual.starts_with("3 session(s)"), "{rr:?}");
    let client = check(&r, "bgp-sessions", "BIRD on n3:");
    assert!(
        client.expected == "2 session(s) Established: n0 (ipv6), n1 (ipv6)"
            && client.actual.starts_with("2 session(s)"),
        "{client:?}"
    );
    // A reflected route keeps its origin as the next hop, an IPv6 address.
    let routes = check(&r, "routes", "-n2");
    assert!(
        routes
            .actual
            .contains("fd00:10:20:3::/64 via fd00:10:168::4 dev eth0 proto bird"),
        "{routes:?}"
    );
    // Nothing of IPv4 anywhere.
    for c in r.checks.iter().filter(|c| c.check == "routes") {
        assert!(!c.actual.contains("10.20."), "{c:?}");
    }
}

#[test]
fn proxy_ndp_turned_off_by_hand_fails_check_naming_the_key() {
    let o = run(&["up", "--backend", "bgp", "--ip-family", "ipv6"]);
    let id = run_id_of(&String::from_utf8_lossy(&o.stdout));
    let _guard = Cleanup(vec![id.clone()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    // The host end of n0p0's veth, named as the backend names it.
    let request = TopologyRequest {
        ip_family: harness::topology::IpFamily::Ipv6,
        ..TopologyRequest::default()
    };
    let plan = backend_bgp::INFO.plan(&request, id.clone()).unwrap();
    let cali = backend_bgp::cali_name(&id, &plan.pods[0]);
    assert_eq!(plan.pods[0].role, "n0p0");
    let node = format!("cnb-{id}-n0");
    let key = format!("net.ipv6.conf.{cali}.proxy_ndp");
    let o = run(&["check", &id]);
    let out = text(&o);
    assert_eq!(code(&o), 0, "{out}");
    let passed = out
        .lines()
        .find(|l| l.starts_with("PASS  sysctls") && l.contains(&node))
        .unwrap_or_else(|| panic!("no passing sysctls check of {node}: {out}"));
    assert!(passed.contains(&format!("{key}=1")), "{passed}");

    // Someone turns proxy NDP off on the pod's host end. The gateway is the host end's own
    // address, so traffic does not show it: the sysctls check must, naming the key.
    hand_set(&node, &key, "0");
    let o = run(&["check", &id]);
    let out = text(&o);
    assert_eq!(code(&o), 1, "{out}");
    let failed = out
        .lines()
        .find(|l| l.starts_with("FAIL  sysctls") && l.contains(&node))
        .unwrap_or_else(|| panic!("no failing sysctls check of {node}: {out}"));
    assert!(
        failed.contains(&format!("reason: {key} is 0, not 1")),
        "{failed}"
    );
    // Only that: every other check still passes.
    let other: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("FAIL") && !l.starts_with("FAIL  sysctls"))
        .collect();
    assert!(other.is_empty(), "{other:?}");

    let o = run(&["down", &id]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_nothing_left(&id);
}

#[test]
fn an_ipv6_pod_added_is_announced_as_a_128_and_withdrawn_when_removed() {
    let request = TopologyRequest {
        pods_per_node: Some(1),
        ip_family: harness::topology::IpFamily::Dual,
        ..TopologyRequest::default()
    };
    let plan = backend_bgp::INFO.plan(&request, new_run_id()).unwrap();
    let options = BackendOptions::new().with("bgp-announce", "pod");
    let bgp = backend_bgp::make(&options, &plan).unwrap();
    let backend = bgp.as_ref();
    backend.validate(&plan).unwrap();
    let id = plan.run_id().to_string();
    let _guard = Cleanup(vec![id.clone()]);
    let launch = Launch {
        mode: Mode::Run,
        backend_options: backend.options(),
        exe: std::path::PathBuf::from(env!("CARGO_BIN_EXE_cnbench")),
    };
    let mut topo = Topology::up(backend, plan, launch).expect("up");
    let hold = Duration::from_secs(u64::from(backend_bgp::HOLD_S));
    let (peer, last) = (topo.plan().nodes[0].clone(), topo.plan().nodes[1].clone());
    let here = topo.plan().pods[0].clone();

    let pod = topo.add_pod(backend, last.index).expect("pod added");
    let ip6 = pod
        .ip6
        .expect("a dual-stack pod has an IPv6 address")
        .addr();
    let dst = ipnet::IpNet::new(ip6.into(), 128).unwrap();
    let bird_route = |r: &[RouteSpec]| {
        r.iter()
            .any(|r| r.proto == RouteProto::Bird && r.dst == dst)
    };
    until(&topo.hosts()[&peer.netns], hold, bird_route)
        .unwrap_or_else(|| panic!("{dst} never reached {} as a proto bird route", peer.role));
    let routes = topo.hosts()[&peer.netns].nl().routes().unwrap();
    let via = routes.iter().find(|r| r.dst == dst).and_then(|r| r.via);
    assert_eq!(
        via,
        last.underlay_ip6.map(|i| i.addr().into()),
        "{routes:?}"
    );
    // Reached over IPv6 from the other node (the first echo may wait for NDP).
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let answer = harness::checks::icmp_echo(&topo.hosts()[&here.netns], ip6.into());
        if answer.ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} -> {ip6}: {answer}",
            here.role
        );
    }
    let checks = topo.check(backend, &mut |_| {});
    let failed: Vec<_> = checks
        .iter()
        .filter(|c| c.outcome != reports::CheckOutcome::Pass)
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");

    // Removed: its device goes, its /128 with it, and BIRD withdraws it from the peer.
    let t = Instant::now();
    let errors = topo.remove_pod(backend, &pod.role);
    assert!(errors.is_empty(), "{errors:?}");
    let gone = until(&topo.hosts()[&peer.netns], hold, |r| !bird_route(r));
    assert!(
        gone.is_some() && t.elapsed() <= hold,
        "{dst} still on {} {:?} after remove_pod",
        peer.role,
        t.elapsed()
    );
    assert!(topo.down(backend).is_empty());
    assert_nothing_left(&id);
}

#[test]
fn a_cni_chain_is_refused_with_ipv6() {
    let conf = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/cni/cbr0.conflist");
    let o = run(&[
        "run",
        "--backend",
        "bgp",
        "--ip-family",
        "dual",
        "--pod-wiring",
        "cni",
        "--cni-conf",
        conf,
    ]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cnbench runs a CNI chain's pods on IPv4 only")
            && err.contains("use --pod-wiring builtin or --ip-family ipv4"),
        "{}",
        text(&o)
    );
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("cnbench run "),
        "{}",
        text(&o)
    );
}

/// Pids of the FRR and GoBGP processes (and GoBGP's route programmer) of run `id`: their
/// command lines name its state directory.
fn speakers_of(id: &str) -> Vec<u32> {
    let needles = [
        format!("/run/cnbench/{id}/frr/"),
        format!("/run/cnbench/{id}/gobgp/"),
    ];
    std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
                .filter(|pid| {
                    std::fs::read(format!("/proc/{pid}/cmdline"))
                        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
                        .map(|c| needles.iter().any(|n| c.contains(n.as_str())))
                        .unwrap_or(false)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A run with another speaker than BIRD: every check passes, its routes are `proto bgp`
/// (186) in the kernel, its choices are in the result, and none of its processes is left.
fn run_speaker(extra: &[&str], speakers: usize) -> reports::RunResult {
    let r = run_bgp(extra);
    assert_passed(&r, speakers);
    assert!(
        speakers_of(&r.run_id).is_empty(),
        "run {} left {:?}",
        r.run_id,
        speakers_of(&r.run_id)
    );
    r
}

#[test]
fn frr_full_mesh_on_l2_passes_every_check() {
    let r = run_speaker(
        &[
            "--bgp-speaker",
            "frr",
            "--pods-per-node",
            "1",
            "--workloads",
            "none",
        ],
        2,
    );
    assert_eq!(
        r.parameters
            .backend_options
            .get("bgp-speaker")
            .map(String::as_str),
        Some("frr")
    );
    let sessions = check(&r, "bgp-sessions", "FRR on n0");
    assert!(
        sessions.subject.contains("vtysh --vty_socket"),
        "{sessions:?}"
    );
    let routes = check(&r, "routes", "n0");
    assert!(routes.expected.contains("proto 186"), "{routes:?}");
}

/// FRR dual-stack: an IPv4 and an IPv6 session per peer, the /64 blocks installed by zebra
/// through the peer's global address (prefer-global), every check passing.
#[test]
fn frr_dual_stack_on_l2_passes_every_check() {
    let r = run_speaker(
        &[
            "--bgp-speaker",
            "frr",
            "--ip-family",
            "dual",
            "--pods-per-node",
            "1",
            "--workloads",
            "none",
        ],
        2,
    );
    let sessions = check(&r, "bgp-sessions", "FRR on n0");
    assert!(
        sessions
            .expected
            .starts_with("2 session(s) Established: n1 (ipv4, ipv6)"),
        "{sessions:?}"
    );
    let routes = check(&r, "routes", "n0");
    assert!(
        routes
            .expected
            .contains("fd00:10:20:1::/64 via fd00:10:168::2 dev eth0 proto 186"),
        "{routes:?}"
    );
}

#[test]
fn gobgp_route_reflectors_on_l3_pass_every_check() {
    let r = run_speaker(
        &[
            "--bgp-speaker",
            "gobgp",
            "--underlay",
            "l3",
            "--bgp-topology",
            "rr",
            "--nodes",
            "4",
            "--pods-per-node",
            "1",
            "--workloads",
            "none",
        ],
        5,
    );
    assert!(check(&r, "bgp-sessions", "GoBGP on router")
        .subject
        .contains("border router"));
}

#[test]
fn a_gobgp_reflector_serves_bird_clients() {
    let r = run_speaker(
        &[
            "--bgp-speaker",
            "bird",
            "--bgp-reflector-speaker",
            "gobgp",
            "--bgp-topology",
            "rr",
            "--nodes",
            "3",
            "--pods-per-node",
            "1",
            "--workloads",
            "none",
        ],
        3,
    );
    assert!(
        check(&r, "bgp-sessions", "GoBGP on n0 (route reflector)").outcome
            == reports::CheckOutcome::Pass
    );
    assert!(check(&r, "bgp-sessions", "BIRD on n2").outcome == reports::CheckOutcome::Pass);
    assert_eq!(
        r.parameters
            .backend_options
            .get("bgp-reflector-speaker")
            .map(String::as_str),
        Some("gobgp")
    );
}

#[test]
fn frr_speaker_restart_recovers_and_bird_restart_still_names_it() {
    let json = std::env::temp_dir().join(format!(
        "cnbench-test-frr-fault-{}.json",
        std::process::id()
    ));
    let o = run(&[
        "fault",
        "--backend",
        "bgp",
        "--bgp-speaker",
        "frr",
        "--pods-per-node",
        "1",
        "--fault",
        "bird-restart",
        "--json",
        json.to_str().unwrap(),
    ]);
    let id = run_id_of(&String::from_utf8_lossy(&o.stdout));
    let _guard = Cleanup(vec![id.clone()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let out = std::fs::read_to_string(&json).unwrap();
    let _ = std::fs::remove_file(&json);
    assert!(out.contains("\"speaker-restart\""), "{out}");
    assert_nothing_left(&id);
    assert!(speakers_of(&id).is_empty(), "{:?}", speakers_of(&id));
}

#[test]
fn a_missing_speaker_is_refused_before_anything_is_made() {
    let before = common::root_netns_snapshot();
    // A PATH with BIRD but without GoBGP.
    let dir = std::env::temp_dir().join(format!("cnbench-test-nogobgp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for p in ["bird", "birdc"] {
        let _ = std::os::unix::fs::symlink(
            harness::detect::find_binary(p).expect("bird2 is installed"),
            dir.join(p),
        );
    }
    let o = common::cnbench()
        .args([
            "run",
            "--backend",
            "bgp",
            "--bgp-reflector-speaker",
            "gobgp",
            "--bgp-topology",
            "rr",
        ])
        .env("PATH", &dir)
        .output()
        .expect("cnbench runs");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code(&o), 2, "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("gobgpd is not installed") && err.contains("apt-get install gobgpd"),
        "{}",
        text(&o)
    );
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("cnbench run "),
        "{}",
        text(&o)
    );
    assert_eq!(common::root_netns_snapshot(), before);
}
