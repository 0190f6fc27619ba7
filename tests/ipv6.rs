//! IPv6 and dual-stack end to end (`--ip-family`): runs that pass every check per family and
//! measure per family, the root namespace untouched, and the oracle catching IPv6 state
//! broken by hand on a standing topology (`cnbench up`, a change with `ip`/`sysctl` inside a
//! run's namespace, `cnbench check` exiting 1 naming it, `cnbench down`).

mod common;

use std::process::Command;

use common::{
    assert_checks_passed, assert_nothing_left, code, root_netns_snapshot, run, run_id_of, run_ok,
    text, Cleanup,
};

/// Runs `args` inside namespace `netns` of this machine (`ip netns exec`), asserting success.
fn inside(netns: &str, args: &[&str]) {
    let st = Command::new("ip")
        .args(["netns", "exec", netns])
        .args(args)
        .status()
        .expect("ip runs");
    assert!(st.success(), "ip netns exec {netns} {args:?}");
}

/// `cnbench <args> --json F` (a fault or churn run): asserts exit 0 and that nothing of the
/// run is left; returns the result.
fn run_json(tag: &str, args: &[&str]) -> reports::RunResult {
    let json = std::env::temp_dir().join(format!(
        "cnbench-test-ipv6-{tag}-{}.json",
        std::process::id()
    ));
    let mut all = args.to_vec();
    all.extend(["--json", json.to_str().unwrap()]);
    let o = run(&all);
    let id = run_id_of(&String::from_utf8_lossy(&o.stdout));
    let _guard = Cleanup(vec![id.clone()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let r = reports::read_result(&json).expect("the result parses");
    let _ = std::fs::remove_file(&json);
    assert_nothing_left(&id);
    r
}

#[test]
fn a_dual_stack_bridge_passes_every_check_and_measures_each_family() {
    let before = root_netns_snapshot();
    let (r, out) = run_ok(
        "bridge",
        &[
            "--ip-family",
            "dual",
            "--workloads",
            "tcp-rr",
            "--no-baseline",
        ],
    );
    assert_checks_passed(&r);
    assert_eq!(r.parameters.ip_family(), "dual");
    assert!(out.contains(", dual, passed"), "{out}");
    // Each family on its own: IPv4 and IPv6 probes, NDP entries with the peer's real MAC,
    // IPv6 addresses out of DAD.
    let has = |check: &str, needle: &str| {
        r.checks
            .iter()
            .any(|c| c.check == check && c.subject.contains(needle))
    };
    assert!(has("reachability", "(172.17.0.3)"), "{:#?}", r.checks);
    assert!(has("reachability", "(fd00:172:17::3)"), "{:#?}", r.checks);
    assert!(
        has("neighbours", "neighbour fd00:172:17::1"),
        "{:#?}",
        r.checks
    );
    assert!(
        has("pmtu", "(fd00:172:17::3) DF packet of 1501"),
        "{:#?}",
        r.checks
    );
    assert!(has("addresses", "n0p1 IPv6 addresses"), "{:#?}", r.checks);
    // One measurement per family, the IPv6 one named so and between the pods' IPv6 addresses.
    let paths: Vec<(&str, &str)> = r
        .measurements
        .iter()
        .map(|m| (m.path.as_str(), m.server.ip.as_str()))
        .collect();
    assert_eq!(
        paths,
        [
            ("same-node", "172.17.0.3"),
            ("same-node ipv6", "fd00:172:17::3")
        ]
    );
    assert!(r
        .measurements
        .iter()
        .all(|m| !m.repetitions.is_empty() && m.summary.iter().any(|s| s.stats.median > 0.0)));
    assert_eq!(root_netns_snapshot(), before, "the root namespace changed");
}

#[test]
fn ipv6_host_network_pods_cross_an_l3_router() {
    let before = root_netns_snapshot();
    let (r, _) = run_ok(
        "host-net",
        &[
            "--ip-family",
            "ipv6",
            "--underlay",
            "l3",
            "--nodes",
            "3",
            "--workloads",
            "none",
            "--no-baseline",
        ],
    );
    assert_checks_passed(&r);
    // IPv6 only: no IPv4 address is probed; the router is one hop (hop limit 63); the plain
    // wire carries the nodes' own IPv6 addresses; the router forwards IPv6 and says so.
    assert!(r.checks.iter().all(|c| !c.subject.contains("(10.168.")));
    let ttl = r
        .checks
        .iter()
        .find(|c| c.check == "ttl")
        .expect("a ttl check");
    assert!(
        ttl.expected.contains("reply ttl 63 (1 routed hop(s))"),
        "{ttl:?}"
    );
    assert!(ttl.subject.contains("(fd00:10:168:"), "{ttl:?}");
    let encap = r
        .checks
        .iter()
        .find(|c| c.check == "encap")
        .expect("a wire check");
    assert!(encap.subject.contains("icmpv6"), "{encap:?}");
    assert!(
        r.checks.iter().any(|c| c.check == "sysctls"
            && c.subject.ends_with("-rt")
            && c.expected.contains("net.ipv6.conf.all.forwarding=1")),
        "{:#?}",
        r.checks
    );
    assert_eq!(root_netns_snapshot(), before, "the root namespace changed");
}

/// `cnbench up` with `args`; the run id. The caller takes it down.
fn up(args: &[&str]) -> String {
    let mut all = vec!["up"];
    all.extend_from_slice(args);
    let o = run(&all);
    let id = run_id_of(&String::from_utf8_lossy(&o.stdout));
    assert_eq!(code(&o), 0, "{}", text(&o));
    id
}

/// `cnbench check <id>` after a breakage: exit 1, and the first failing line of `check` whose
/// subject contains `subject` is returned.
fn check_fails(id: &str, check: &str, subject: &str) -> String {
    let o = run(&["check", id]);
    let out = text(&o);
    assert_eq!(code(&o), 1, "{out}");
    out.lines()
        .find(|l| l.starts_with(&format!("FAIL  {check}")) && l.contains(subject))
        .unwrap_or_else(|| panic!("no failing {check} check of {subject}: {out}"))
        .to_string()
}

fn down(id: &str) {
    let o = run(&["down", id]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_nothing_left(id);
}

#[test]
fn the_oracle_catches_ipv6_state_broken_by_hand() {
    let args = ["--backend", "bridge", "--ip-family", "ipv6"];
    // Untouched, everything passes.
    let id = up(&args);
    let _guard = Cleanup(vec![id.clone()]);
    let o = run(&["check", &id]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let (p0, p1) = (format!("cnb-{id}-n0p0"), format!("cnb-{id}-n0p1"));

    // A wrong NDP entry: n0p0 holds a permanent entry for n0p1 with a MAC nobody has.
    inside(
        &p0,
        &[
            "ip",
            "-6",
            "neigh",
            "replace",
            "fd00:172:17::3",
            "lladdr",
            "02:00:00:00:00:01",
            "dev",
            "eth0",
            "nud",
            "permanent",
        ],
    );
    let failed = check_fails(&id, "neighbours", "neighbour fd00:172:17::3");
    assert!(failed.contains("02:00:00:00:00:01"), "{failed}");
    inside(
        &p0,
        &["ip", "-6", "neigh", "del", "fd00:172:17::3", "dev", "eth0"],
    );

    // A removed IPv6 route: n0p0's default route.
    inside(&p0, &["ip", "-6", "route", "del", "default"]);
    let failed = check_fails(&id, "routes", &p0);
    assert!(failed.contains("default via fd00:172:17::1"), "{failed}");
    inside(
        &p0,
        &[
            "ip",
            "-6",
            "route",
            "add",
            "default",
            "via",
            "fd00:172:17::1",
            "dev",
            "eth0",
        ],
    );

    // An MTU below the path's: n0p0's eth0 at IPv6's minimum.
    inside(&p0, &["ip", "link", "set", "eth0", "mtu", "1280"]);
    check_fails(&id, "mtu", &p0);
    inside(&p0, &["ip", "link", "set", "eth0", "mtu", "1500"]);

    // An address made tentative again: n0p1's address re-added with a DAD of 100 probes, so
    // it stays tentative (neither used nor answered for) well past the check.
    inside(
        &p1,
        &["sysctl", "-q", "-w", "net.ipv6.conf.eth0.dad_transmits=100"],
    );
    inside(
        &p1,
        &[
            "ip",
            "-6",
            "addr",
            "del",
            "fd00:172:17::3/64",
            "dev",
            "eth0",
        ],
    );
    inside(
        &p1,
        &[
            "ip",
            "-6",
            "addr",
            "add",
            "fd00:172:17::3/64",
            "dev",
            "eth0",
        ],
    );
    let failed = check_fails(&id, "addresses", &p1);
    assert!(failed.contains("fd00:172:17::3/64 tentative"), "{failed}");

    // DAD turned off by hand in n0p0: the namespace no longer has what every namespace of an
    // IPv6 run was given.
    inside(
        &p0,
        &["sysctl", "-q", "-w", "net.ipv6.conf.all.accept_dad=0"],
    );
    let failed = check_fails(&id, "sysctls", &p0);
    assert!(
        failed.contains("net.ipv6.conf.all.accept_dad is 0, not 1"),
        "{failed}"
    );
    down(&id);
}

#[test]
fn ipv6_forwarding_turned_off_in_the_router_fails_the_check() {
    let id = up(&[
        "--backend",
        "host-net",
        "--ip-family",
        "dual",
        "--underlay",
        "l3",
    ]);
    let _guard = Cleanup(vec![id.clone()]);
    let rt = format!("cnb-{id}-rt");
    inside(
        &rt,
        &["sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=0"],
    );
    let failed = check_fails(&id, "sysctls", &rt);
    assert!(
        failed.contains("net.ipv6.conf.all.forwarding is 0, not 1"),
        "{failed}"
    );
    // IPv4 still crosses the router; IPv6 no longer does.
    let o = run(&["check", &id]);
    let out = text(&o);
    assert!(
        out.lines()
            .any(|l| l.starts_with("FAIL  reachability") && l.contains("(fd00:10:168:")),
        "{out}"
    );
    assert!(
        !out.lines()
            .any(|l| l.starts_with("FAIL  reachability") && l.contains("(10.168.")),
        "{out}"
    );
    down(&id);
}

#[test]
fn a_link_flap_and_a_node_restart_on_a_dual_stack_run_recover_in_both_families() {
    let r = run_json(
        "fault",
        &[
            "fault",
            "--backend",
            "host-net",
            "--ip-family",
            "dual",
            "--fault",
            "link-flap,node-restart",
        ],
    );
    assert_eq!(r.faults.len(), 2);
    for f in &r.faults {
        // A restarted node's new IPv6 addresses go through DAD before its probes restart.
        assert_eq!(f.outcome, reports::FaultOutcome::Recovered, "{f:#?}");
        // Each family probed on its own: IPv6 endpoints are named so, and pairs never mix.
        let v6: Vec<&reports::PairRecovery> =
            f.pairs.iter().filter(|p| p.from.ends_with("/v6")).collect();
        assert_eq!(v6.len(), 2, "{:#?}", f.pairs);
        assert!(v6
            .iter()
            .all(|p| p.to.ends_with("/v6") && p.recovery_ns.is_some()));
        assert_eq!(f.pairs.len(), 4, "{:#?}", f.pairs);
    }
}

#[test]
fn a_narrower_segment_is_refused_out_loud_in_both_families() {
    // The router between a 1500-byte and a 1400-byte segment must answer what does not fit:
    // ICMP "fragmentation needed" for IPv4 with DF, ICMPv6 "packet too big" (IPv6 routers
    // never fragment, RFC 8200 §5).
    let (r, _) = run_ok(
        "host-net",
        &[
            "--ip-family",
            "dual",
            "--underlay",
            "l3",
            "--segment-mtu",
            "1400",
            "--workloads",
            "none",
            "--no-baseline",
        ],
    );
    assert_checks_passed(&r);
    assert_eq!(r.parameters.segment_mtu_bytes, Some(1400));
    let over: Vec<&str> = r
        .checks
        .iter()
        .filter(|c| c.check == "pmtu" && c.subject.ends_with("DF packet of 1401 bytes"))
        .map(|c| c.actual.as_str())
        .collect();
    assert_eq!(
        over,
        [
            "ICMP destination unreachable (code 4) from 10.168.1.1",
            "ICMPv6 packet too big from fd00:10:168:1::1"
        ]
    );
}

#[test]
fn churn_times_dual_stack_pods_by_their_ipv6_address() {
    let r = run_json(
        "churn",
        &[
            "churn",
            "--backend",
            "vxlan",
            "--ip-family",
            "dual",
            "--pods",
            "4",
            "--concurrency",
            "2",
            "--cycles",
            "1",
        ],
    );
    // Every check passed; one cycle cannot tell whether a daemon's memory is flat.
    assert!(
        r.checks
            .iter()
            .all(|c| c.outcome != reports::CheckOutcome::Fail),
        "{:#?}",
        r.checks
    );
    let median = |metric: &str| {
        r.measurements[0]
            .summary
            .iter()
            .find(|s| s.metric == metric)
            .unwrap_or_else(|| panic!("no {metric}: {:#?}", r.measurements[0].summary))
            .stats
            .median
    };
    // An add returns once the pod's IPv6 address is out of duplicate address detection
    // (about a second: one probe a second), and the pod answers on it from the other node.
    assert!(median("wired_p50_ns") > 5e8, "{}", median("wired_p50_ns"));
    assert!(median("reachable_p50_ns") >= median("wired_p50_ns"));
}

#[test]
fn a_restarted_bgp_node_is_reached_again_over_an_ipv6_l3_underlay() {
    // The restarted node keeps its eth0 MAC, as a rebooted machine keeps its NIC's: the
    // router's NDP entry for its global address stays right (a router does not relearn it
    // from a solicitation the node sends from its link-local address).
    let r = run_json(
        "bgp-restart",
        &[
            "fault",
            "--backend",
            "bgp",
            "--ip-family",
            "ipv6",
            "--underlay",
            "l3",
            "--nodes",
            "3",
            "--fault",
            "node-restart",
        ],
    );
    assert_eq!(
        r.faults[0].outcome,
        reports::FaultOutcome::Recovered,
        "{:#?}",
        r.faults[0]
    );
}

#[test]
fn scale_carries_each_family_over_its_own_sessions() {
    let point = |family: &str| {
        let json = std::env::temp_dir().join(format!(
            "cnbench-test-ipv6-scale-{family}-{}.json",
            std::process::id()
        ));
        let o = run(&[
            "scale",
            "--backend",
            "bgp",
            "--bgp-topology",
            "rr",
            "--nodes",
            "4",
            "--ip-family",
            family,
            "--json",
            json.to_str().unwrap(),
        ]);
        assert_eq!(code(&o), 0, "{}", text(&o));
        let r = reports::read_scale(&json).expect("the scale result parses");
        let _ = std::fs::remove_file(&json);
        assert_eq!(r.ip_family.as_deref(), Some(family));
        let p = r.points[0].clone();
        assert!(p.converged, "{p:#?}");
        p
    };
    let (v4, dual) = (point("ipv4"), point("dual"));
    // Dual-stack: one session per peer and family, and each family's routes.
    assert_eq!(dual.sessions_total, v4.sessions_total.map(|s| 2 * s));
    assert_eq!(
        dual.routes_per_node_min,
        v4.routes_per_node_min.map(|r| 2 * r)
    );
}
