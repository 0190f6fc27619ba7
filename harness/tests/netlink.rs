//! Root-only tests of the namespace and netlink layer against the real kernel. Each test makes
//! its own namespaces (`cnb-t<random>-…`) and removes them, also when it fails.

use std::net::Ipv4Addr;

use cnbench_harness::netlink::{Netlink, RouteSpec};
use cnbench_harness::netns::Netns;

/// Deletes the namespaces when dropped, so a failing assertion leaves nothing behind.
struct Scratch(Vec<String>);
impl Drop for Scratch {
    fn drop(&mut self) {
        for n in &self.0 {
            let _ = Netns::delete(n);
        }
    }
}

fn scratch(roles: &[&str]) -> (Scratch, Vec<Netns>) {
    let id = format!("t{:06x}", std::process::id() ^ rand_u32());
    let names: Vec<String> = roles.iter().map(|r| format!("cnb-{id}-{r}")).collect();
    let guard = Scratch(names.clone());
    let made = names.iter().map(|n| Netns::create(n).unwrap()).collect();
    (guard, made)
}

fn rand_u32() -> u32 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    t.subsec_nanos() & 0xffffff
}

#[test]
fn veth_between_namespaces_with_addresses_routes_and_neighbours() {
    let (_guard, ns) = scratch(&["a", "b"]);
    let a = Netlink::open(&ns[0]).unwrap();
    let b = Netlink::open(&ns[1]).unwrap();
    a.create_veth(
        "va",
        "vb",
        Some(cnbench_harness::netlink::PeerNetns::Fd(ns[1].fd())),
        1400,
    )
    .unwrap();
    // The peer was born in b: a sees only va, b sees vb.
    assert!(a.links().unwrap().iter().any(|l| l.name == "va"));
    assert!(!a.links().unwrap().iter().any(|l| l.name == "vb"));
    let vb = b.link("vb").unwrap();
    assert_eq!(vb.mtu_bytes, 1400);
    for (nl, dev, ip) in [(&a, "va", "10.9.0.1/24"), (&b, "vb", "10.9.0.2/24")] {
        nl.set_up("lo").unwrap();
        nl.set_up(dev).unwrap();
        nl.add_address(dev, ip.parse::<ipnet::IpNet>().unwrap())
            .unwrap();
    }
    let routes = a.routes().unwrap();
    assert_eq!(
        routes,
        vec![RouteSpec::connected(
            "10.9.0.1/24".parse::<ipnet::IpNet>().unwrap(),
            "va"
        )]
    );
    a.add_route(&RouteSpec::via(
        "10.50.0.0/16".parse::<ipnet::IpNet>().unwrap(),
        Ipv4Addr::new(10, 9, 0, 2),
        "va",
    ))
    .unwrap();
    let shown: Vec<String> = a.routes().unwrap().iter().map(|r| r.to_string()).collect();
    assert_eq!(
        shown,
        vec![
            "10.9.0.0/24 dev va proto kernel scope link src 10.9.0.1",
            "10.50.0.0/16 via 10.9.0.2 dev va proto static",
        ]
    );
    // A duplicate is refused with a hint, not silently accepted.
    let err = a
        .add_address("va", "10.9.0.1/24".parse::<ipnet::IpNet>().unwrap())
        .unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    // The namespace's sysctl is its own.
    let fwd = ns[0]
        .run_in(|| std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap())
        .unwrap();
    assert_eq!(fwd.trim(), "0");
}

#[test]
fn bridge_ports_and_delete_is_idempotent() {
    let (_guard, ns) = scratch(&["n"]);
    let nl = Netlink::open(&ns[0]).unwrap();
    nl.create_bridge("br0", [0x02, 0, 0, 0, 0, 1], 1500)
        .unwrap();
    nl.create_veth("p0", "p0x", None, 1500).unwrap();
    nl.set_master("p0", "br0").unwrap();
    let br = nl.link("br0").unwrap();
    assert_eq!(nl.link("p0").unwrap().master, Some(br.index));
    assert_eq!(br.mac, Some([0x02, 0, 0, 0, 0, 1]));
    nl.set_up("br0").unwrap();
    nl.set_up("p0").unwrap();
    // The port's own MAC is a permanent FDB entry on the bridge.
    let p0 = nl.link("p0").unwrap();
    assert!(nl
        .fdb()
        .unwrap()
        .iter()
        .any(|e| e.port == p0.index && Some(e.mac) == p0.mac && e.permanent));
    nl.delete_link("p0").unwrap();
    nl.delete_link("p0").unwrap();
    let name = ns[0].name().to_string();
    drop(nl);
    drop(ns);
    Netns::delete(&name).unwrap();
    Netns::delete(&name).unwrap();
    assert!(!Netns::exists(&name));
}

#[test]
fn ipv6_addresses_go_through_dad_and_routes_and_neighbours_take_either_family() {
    let (_guard, ns) = scratch(&["a", "b"]);
    let a = Netlink::open(&ns[0]).unwrap();
    let b = Netlink::open(&ns[1]).unwrap();
    a.create_veth(
        "va",
        "vb",
        Some(cnbench_harness::netlink::PeerNetns::Fd(ns[1].fd())),
        1500,
    )
    .unwrap();
    for (nl, dev, ip) in [(&a, "va", "fd00:9::1/64"), (&b, "vb", "fd00:9::2/64")] {
        nl.add_address(dev, ip.parse::<ipnet::IpNet>().unwrap())
            .unwrap();
        nl.set_up(dev).unwrap();
    }
    // Fresh, the address is in duplicate address detection (RFC 4862 §5.4): tentative.
    let ours = |nl: &Netlink| {
        nl.addresses6()
            .unwrap()
            .into_iter()
            .find(|x| x.net.to_string() == "fd00:9::1/64")
            .expect("the address is listed")
    };
    assert!(ours(&a).tentative, "{:?}", ours(&a));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while ours(&a).tentative && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!ours(&a).tentative && !ours(&a).dad_failed);
    // IPv4 addresses are not in the IPv6 list, nor the other way round.
    assert!(a.addresses().unwrap().is_empty());
    // Routes of both families in one table, as `ip -6 route` prints them; the kernel's own
    // fe80::/64 left out.
    a.add_route(&RouteSpec::via(
        "fd00:50::/48".parse::<ipnet::IpNet>().unwrap(),
        "fd00:9::2".parse::<std::net::IpAddr>().unwrap(),
        "va",
    ))
    .unwrap();
    let shown: Vec<String> = a.routes().unwrap().iter().map(|r| r.to_string()).collect();
    assert_eq!(
        shown,
        [
            "fd00:9::/64 dev va proto kernel",
            "fd00:50::/48 via fd00:9::2 dev va proto static"
        ]
    );
    // fd00:9::2 is reached by the /64 only; a /128 to it is a host route.
    let peer: std::net::IpAddr = "fd00:9::2".parse().unwrap();
    assert!(!a.has_host_route(peer).unwrap());
    a.add_route(&RouteSpec::via(
        "fd00:9::2/128".parse::<ipnet::IpNet>().unwrap(),
        peer,
        "va",
    ))
    .unwrap();
    assert!(a.has_host_route(peer).unwrap());
    // A permanent NDP entry, listed with its MAC, and deleted again.
    let mac = [0x02, 0, 0, 0, 0, 9];
    a.add_neighbour("va", "fd00:9::2".parse::<std::net::IpAddr>().unwrap(), mac)
        .unwrap();
    let entry = a
        .neighbours()
        .unwrap()
        .into_iter()
        .find(|n| n.ip.to_string() == "fd00:9::2")
        .expect("the entry is listed");
    assert_eq!(entry.mac, Some(mac));
    a.delete_neighbour("va", "fd00:9::2".parse::<std::net::IpAddr>().unwrap())
        .unwrap();
    assert!(!a
        .neighbours()
        .unwrap()
        .iter()
        .any(|n| n.ip.to_string() == "fd00:9::2" && n.mac == Some(mac)));
}
