//! The underlay's larger shapes end to end: the l3 underlay with two routers (both segments
//! reach both, nodes route through both) and an l2 switch split over two bridges joined by a
//! trunk (`--bridge-ports`, the test override of a bridge's 1,023 ports). Every check must
//! pass and nothing of the runs may be left (`run_ok`).

mod common;

use common::run_ok;

#[test]
fn vxlan_passes_every_check_through_two_routers() {
    let (r, out) = run_ok(
        "vxlan",
        &[
            "--underlay",
            "l3",
            "--routers",
            "2",
            "--nodes",
            "3",
            "--ip-family",
            "dual",
            "--workloads",
            "none",
            "--no-baseline",
        ],
    );
    common::assert_checks_passed(&r);
    // Both routers and the switch that holds the segments were built.
    for ns in ["rt  router", "rt2  router", "sw  switch"] {
        assert!(out.contains(&format!("-{ns}")), "no {ns} in:\n{out}");
    }
    // A node's default route has both routers as next hops, per family.
    let routes = r
        .checks
        .iter()
        .find(|c| c.check == "routes" && c.subject.ends_with("-n0"))
        .expect("n0's routes are checked");
    for hop in [
        "default via 10.168.1.1 dev eth0",
        "default via 10.168.1.254 dev eth0",
        "default via fd00:10:168:1::1 dev eth0",
        "default via fd00:10:168:1::fe dev eth0",
    ] {
        assert!(
            routes.actual.contains(hop),
            "{hop} not in {}",
            routes.actual
        );
    }
    assert!(
        r.checks
            .iter()
            .any(|c| c.check == "sysctls" && c.expected.contains("fib_multipath_use_neigh=1")),
        "the nodes' multipath sysctl is declared"
    );
}

#[test]
fn a_switch_of_two_bridges_is_one_l2_domain() {
    let (r, _) = run_ok(
        "host-net",
        &[
            "--nodes",
            "4",
            "--bridge-ports",
            "3",
            "--workloads",
            "none",
            "--no-baseline",
        ],
    );
    common::assert_checks_passed(&r);
    // A node on the second bridge was learned on the trunk by the first, and the other
    // way round.
    let fdb: Vec<&str> = r
        .checks
        .iter()
        .filter(|c| c.check == "fdb")
        .map(|c| c.subject.as_str())
        .collect();
    assert!(
        fdb.iter()
            .any(|s| s.contains("br0: n2 via trunk on port t1a")),
        "{fdb:#?}"
    );
    assert!(
        fdb.iter()
            .any(|s| s.contains("br1: n0 via trunk on port t1b")),
        "{fdb:#?}"
    );
}
