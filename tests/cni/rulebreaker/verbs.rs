//! ADD, CHECK, DEL, GC and STATUS (specification §2), with the misbehaviour of each mode.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::{at_least, ipam, net, valid_identifier, Conf, Failure, Mode, Outcome};

/// What this plugin writes at the front of its host ends' alias.
const ALIAS_PREFIX: &str = "cni-rulebreaker";

/// The attachment a verb is about (from the environment).
struct Attachment {
    container_id: String,
    ifname: String,
    /// `CNI_NETNS`; empty when not given.
    netns: String,
}

/// A `CNI_*` variable, if set and not empty.
fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Code 4 naming every variable of `names` that is unset or empty.
fn require(names: &[&str]) -> Outcome<()> {
    let missing: Vec<&str> = names.iter().copied().filter(|n| var(n).is_none()).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(
            4,
            format!("required environment variables missing: {}", missing.join(", ")),
            "ADD and CHECK need CNI_CONTAINERID, CNI_NETNS and CNI_IFNAME; DEL the first and last; GC CNI_PATH",
        ))
    }
}

/// The attachment of the environment, checked (`netns`: whether `CNI_NETNS` is required).
fn attachment(netns: bool) -> Outcome<Attachment> {
    let mut names = vec!["CNI_CONTAINERID", "CNI_IFNAME"];
    if netns {
        names.insert(1, "CNI_NETNS");
    }
    require(&names)?;
    let a = Attachment {
        container_id: var("CNI_CONTAINERID").unwrap_or_default(),
        ifname: var("CNI_IFNAME").unwrap_or_default(),
        netns: var("CNI_NETNS").unwrap_or_default(),
    };
    if !valid_identifier(&a.container_id) {
        return Err(Failure::new(
            4,
            "invalid CNI_CONTAINERID",
            format!(
                "{:?}: a container ID starts with a letter or digit, then letters, digits, '_', '.' or '-'",
                a.container_id
            ),
        ));
    }
    let i = &a.ifname;
    if i.len() > 15
        || i == "."
        || i == ".."
        || i.chars().any(|c| c == '/' || c == ':' || c.is_whitespace())
    {
        return Err(Failure::new(
            4,
            "invalid CNI_IFNAME",
            format!("{i:?} is not an interface name (at most 15 bytes, no '/', ':' or spaces)"),
        ));
    }
    Ok(a)
}

/// 32-bit FNV-1a.
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// The host end's name: `rb` and the hash of container ID and interface name.
fn host_name(container_id: &str, ifname: &str) -> String {
    format!(
        "rb{:08x}",
        fnv1a(format!("{container_id}{ifname}").as_bytes())
    )
}

/// The host end's alias: whose it is.
fn alias(conf: &Conf, a: &Attachment) -> String {
    format!(
        "{ALIAS_PREFIX} {} {} {}",
        conf.name, a.container_id, a.ifname
    )
}

/// The MAC every host end of a network with gateway `gw` has (locally administered).
fn gateway_mac(gw: Ipv4Addr) -> String {
    let [a, b, c, d] = gw.octets();
    format!("0a:58:{a:02x}:{b:02x}:{c:02x}:{d:02x}")
}

/// The marker of a deleted attachment (mode `second-del-fails`).
fn marker(conf: &Conf, a: &Attachment) -> Option<PathBuf> {
    conf.data_dir.as_ref().map(|d| {
        d.join(format!(
            ".rulebreaker-deleted-{}-{}",
            a.container_id, a.ifname
        ))
    })
}

fn netns_missing(netns: &str) -> bool {
    !Path::new(netns).exists()
}

/// ADD: the pair, the IPAM address on the pod's end, its routes; the result. Anything that
/// fails after the pair exists takes the pair and the IPAM reservation back first.
pub fn add(conf: &Conf) -> Outcome<Value> {
    let a = attachment(true)?;
    if conf.mode == Mode::Hangs {
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    if let Some(m) = marker(conf, &a) {
        // A new ADD of the attachment starts its life again.
        let _ = std::fs::remove_file(m);
    }
    let netns = a.netns.as_str();
    if netns_missing(netns) {
        return Err(Failure::internal(
            "network namespace missing",
            format!("CNI_NETNS {netns} does not exist"),
        ));
    }
    let lookup = Failure::of("failed to read the interfaces");
    if net::link(Some(netns), &a.ifname).map_err(lookup)?.is_some() {
        return Err(Failure::internal(
            format!("interface {} already exists", a.ifname),
            format!(
                "{} is in {netns} already: ADD for an interface that exists must fail",
                a.ifname
            ),
        ));
    }
    let host = host_name(&a.container_id, &a.ifname);
    if net::link(None, &host)
        .map_err(Failure::of("failed to read the interfaces"))?
        .is_some()
    {
        return Err(Failure::internal(
            format!("host interface {host} already exists"),
            format!(
                "the node has {host}, the host end of ({}, {}): an earlier ADD was not deleted",
                a.container_id, a.ifname
            ),
        ));
    }
    let mtu = conf.mtu.to_string();
    net::ip(
        None,
        &[
            "link", "add", &host, "mtu", &mtu, "type", "veth", "peer", "name", &a.ifname, "mtu",
            &mtu, "netns", netns,
        ],
    )
    .map_err(Failure::of("failed to create the veth pair"))?;
    wire(conf, &a, &host).inspect_err(|_| {
        // Deleting one end deletes both; the reservation goes back (specification §4: a
        // failed ADD runs the IPAM plugin's DEL).
        let _ = net::ip(None, &["link", "del", "dev", &host]);
        let _ = ipam::del(conf);
    })
}

/// The rest of ADD, once the pair exists.
fn wire(conf: &Conf, a: &Attachment, host: &str) -> Outcome<Value> {
    let netns = a.netns.as_str();
    let pod = Some(netns);
    let node =
        |args: &[&str]| net::ip(None, args).map_err(Failure::of("failed to set up the host end"));
    let in_pod = |args: &[&str]| {
        net::ip(pod, args).map_err(Failure::of("failed to set up the pod's interface"))
    };
    node(&["link", "set", "dev", host, "alias", &alias(conf, a)])?;
    let allocation = ipam::add(conf)?;
    let Some((addr, prefix, gateway)) =
        allocation
            .ips
            .iter()
            .find_map(|l| match (l.addr, l.gateway) {
                (IpAddr::V4(ip), Some(IpAddr::V4(g))) => Some((ip, l.prefix, Some(g))),
                (IpAddr::V4(ip), _) => Some((ip, l.prefix, None)),
                _ => None,
            })
    else {
        return Err(Failure::internal(
            format!("IPAM plugin {} gave no IPv4 address", conf.ipam_type),
            "this plugin puts the first IPv4 address of the IPAM result on the pod",
        ));
    };

    // The node: the gateway on the host end (the pod's neighbour), the pod routed through it,
    // the other pods answered for (proxy ARP) and forwarded to.
    if let Some(gw) = gateway {
        node(&["link", "set", "dev", host, "address", &gateway_mac(gw)])?;
        node(&["addr", "add", &format!("{gw}/32"), "dev", host])?;
    }
    node(&["link", "set", "dev", host, "up"])?;
    // Proxy ARP answers at once (not after the default random delay of up to 0.8 s).
    for (key, value) in [
        (format!("net/ipv4/conf/{host}/proxy_arp"), "1"),
        (format!("net/ipv4/neigh/{host}/proxy_delay"), "0"),
    ] {
        net::sysctl(&key, value).map_err(Failure::of("failed to set up the host end"))?;
    }
    net::sysctl("net/ipv4/ip_forward", "1").map_err(Failure::of("failed to set up the node"))?;
    node(&[
        "route",
        "add",
        &format!("{addr}/32"),
        "dev",
        host,
        "scope",
        "link",
    ])?;

    // The pod.
    in_pod(&["addr", "add", &format!("{addr}/{prefix}"), "dev", &a.ifname])?;
    in_pod(&["link", "set", "dev", "lo", "up"])?;
    in_pod(&["link", "set", "dev", &a.ifname, "up"])?;
    let mut routes = Vec::new();
    for route in &allocation.routes {
        let Some(args) = route_args(route, gateway, (addr, prefix), &a.ifname)? else {
            continue;
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        in_pod(&args)?;
        routes.push(route_for(&conf.version, route));
    }

    let macs = |ns: Option<&str>, dev: &str| {
        net::mac(ns, dev).map_err(Failure::of("failed to read a MAC"))
    };
    let host_mac = macs(None, host)?;
    let pod_mac = macs(pod, &a.ifname)?;
    let shown = if conf.mode == Mode::Lies {
        // The lie: an address next door, not the one on the interface.
        let [o1, o2, o3, o4] = addr.octets();
        Ipv4Addr::new(o1, o2, o3, o4.wrapping_add(100))
    } else {
        addr
    };

    let with_mtu = at_least(&conf.version, "1.1.0");
    let mut host_if = json!({ "name": host, "mac": host_mac });
    let mut pod_if = json!({ "name": a.ifname, "mac": pod_mac, "sandbox": netns });
    if with_mtu {
        host_if["mtu"] = json!(conf.mtu);
        pod_if["mtu"] = json!(conf.mtu);
    }
    let mut ip = json!({ "address": format!("{shown}/{prefix}"), "interface": 1 });
    if let Some(gw) = gateway {
        ip["gateway"] = json!(gw.to_string());
    }
    if !at_least(&conf.version, "1.0.0") {
        ip["version"] = json!("4");
    }
    Ok(json!({
        "cniVersion": conf.version,
        "interfaces": [host_if, pod_if],
        "ips": [ip],
        "routes": routes,
        "dns": allocation.dns.unwrap_or_else(|| json!({})),
    }))
}

/// `ip route add` arguments for an IPAM route in the pod (through the gateway where it names
/// no next hop); none for an IPv6 route (the pod has only IPv4 from this plugin).
fn route_args(
    route: &Value,
    gateway: Option<Ipv4Addr>,
    (addr, prefix): (Ipv4Addr, u8),
    ifname: &str,
) -> Outcome<Option<Vec<String>>> {
    let bad = |what: String| {
        Failure::new(
            7,
            "IPAM plugin gave an unreadable route",
            format!("{what} in {route}"),
        )
    };
    let dst = route.get("dst").and_then(Value::as_str).unwrap_or_default();
    let Some((dst_ip, dst_len)) = ipam::parse_cidr(dst) else {
        return Err(bad(format!("dst {dst:?}")));
    };
    if dst_ip.is_ipv6() {
        return Ok(None);
    }
    let via = match route.get("gw").and_then(Value::as_str) {
        None | Some("") => gateway,
        Some(g) => match g.parse::<IpAddr>() {
            Ok(IpAddr::V4(g)) => Some(g),
            _ => return Err(bad(format!("gw {g:?}"))),
        },
    };
    let mut args: Vec<String> = vec!["route".into(), "add".into(), format!("{dst_ip}/{dst_len}")];
    if let Some(via) = via {
        args.extend(["via".into(), via.to_string()]);
    }
    args.extend(["dev".into(), ifname.to_string()]);
    if let Some(via) = via {
        let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
        if u32::from(via) & mask != u32::from(addr) & mask {
            // A next hop outside the pod's subnet is reached on the link all the same.
            args.push("onlink".into());
        }
    }
    for (key, word) in [
        ("table", "table"),
        ("priority", "metric"),
        ("mtu", "mtu"),
        ("advmss", "advmss"),
        ("scope", "scope"),
    ] {
        if let Some(v) = route.get(key) {
            let n = v.as_u64().ok_or_else(|| bad(format!("{key} {v}")))?;
            args.extend([word.to_string(), n.to_string()]);
        }
    }
    Ok(Some(args))
}

/// An IPAM route as the result of version `version` writes it (the fields of 1.1.0 only
/// there).
fn route_for(version: &str, route: &Value) -> Value {
    let mut keys = vec!["dst", "gw"];
    if at_least(version, "1.1.0") {
        keys.extend(["mtu", "advmss", "priority", "table", "scope"]);
    }
    let out: Map<String, Value> = keys
        .into_iter()
        .filter_map(|k| route.get(k).map(|v| (k.to_string(), v.clone())))
        .collect();
    Value::Object(out)
}

/// The addresses a result puts on the pod's `ifname`: those whose interface index points at
/// it, and those without an index.
fn expected_addresses(prev: &Value, ifname: &str) -> Outcome<Vec<(IpAddr, u8)>> {
    let interfaces = prev
        .get("interfaces")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut out = Vec::new();
    for ip in prev
        .get("ips")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let on_it = match ip.get("interface").and_then(Value::as_u64) {
            None => true,
            Some(i) => interfaces.get(i as usize).is_some_and(|i| {
                i.get("name").and_then(Value::as_str) == Some(ifname)
                    && i.get("sandbox")
                        .and_then(Value::as_str)
                        .is_some_and(|s| !s.is_empty())
            }),
        };
        if !on_it {
            continue;
        }
        let address = ip
            .get("address")
            .and_then(Value::as_str)
            .unwrap_or_default();
        out.push(ipam::parse_cidr(address).ok_or_else(|| {
            Failure::new(
                7,
                "prevResult has an unreadable address",
                format!("{address:?}"),
            )
        })?);
    }
    Ok(out)
}

/// CHECK: the pod's interface in its namespace with every address the prevResult gives it,
/// the host end in the node; then the IPAM plugin's CHECK.
pub fn check(conf: &Conf) -> Outcome<()> {
    if !at_least(&conf.version, "0.4.0") {
        return Err(Failure::new(
            1,
            "config version does not allow CHECK",
            format!(
                "CHECK came with CNI 0.4.0; the configuration is {}",
                conf.version
            ),
        ));
    }
    let a = attachment(true)?;
    let Some(prev) = conf.raw.get("prevResult").filter(|p| p.is_object()) else {
        return Err(Failure::internal(
            "prevResult missing",
            "CHECK compares the attachment with the result of its ADD, given in prevResult",
        ));
    };
    let netns = a.netns.as_str();
    let mut missing = Vec::new();
    if netns_missing(netns) {
        missing.push(format!("network namespace {netns}"));
    } else if net::link(Some(netns), &a.ifname)
        .map_err(Failure::of("failed to read the interfaces"))?
        .is_none()
    {
        missing.push(format!("interface {} in {netns}", a.ifname));
    } else {
        let held = net::addresses(Some(netns), &a.ifname)
            .map_err(Failure::of("failed to read the addresses"))?;
        for (ip, len) in expected_addresses(prev, &a.ifname)? {
            if !held.contains(&(ip, len)) {
                missing.push(format!("address {ip}/{len} on {} in {netns}", a.ifname));
            }
        }
    }
    let host = host_name(&a.container_id, &a.ifname);
    if net::link(None, &host)
        .map_err(Failure::of("failed to read the interfaces"))?
        .is_none()
    {
        missing.push(format!("host interface {host}"));
    }
    if !missing.is_empty() {
        return Err(Failure::internal(
            format!("missing: {}", missing.join(", ")),
            format!(
                "the attachment ({}, {}) is not as its prevResult says",
                a.container_id, a.ifname
            ),
        ));
    }
    ipam::check(conf)
}

/// DEL: the host end (the pod's end goes with it), then the IPAM reservation; whatever is
/// gone already is a success, a namespace that is gone too.
pub fn del(conf: &Conf) -> Outcome<()> {
    let a = attachment(false)?;
    let marker = marker(conf, &a);
    if conf.mode == Mode::SecondDelFails {
        if let Some(m) = marker.as_ref().filter(|m| m.exists()) {
            return Err(Failure::internal(
                "already deleted",
                format!(
                    "({}, {}) was deleted before (marker {}): this plugin fails every later DEL (mode second-del-fails)",
                    a.container_id,
                    a.ifname,
                    m.display()
                ),
            ));
        }
    }
    let host = host_name(&a.container_id, &a.ifname);
    let lookup = || net::link(None, &host).map_err(Failure::of("failed to read the interfaces"));
    if lookup()?.is_some() {
        if let Err(why) = net::ip(None, &["link", "del", "dev", &host]) {
            // Gone in the meantime (its namespace went, taking the pair) is as good.
            if lookup()?.is_some() {
                return Err(Failure::internal("failed to delete the host end", why));
            }
        }
    }
    if conf.mode != Mode::Leaks {
        ipam::del(conf)?;
    }
    if let (Mode::SecondDelFails, Some(m)) = (conf.mode, marker) {
        let write = || -> std::io::Result<()> {
            if let Some(dir) = m.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&m, format!("{}\n{}\n", a.container_id, a.ifname))
        };
        write().map_err(|e| {
            Failure::internal(
                "failed to remember the DEL",
                format!("{}: {e}", m.display()),
            )
        })?;
    }
    Ok(())
}

/// The attachments a GC request says are still valid.
fn valid_attachments(conf: &Conf) -> Outcome<Vec<(String, String)>> {
    let bad = |details: String| Failure::new(7, "invalid cni.dev/valid-attachments", details);
    let Some(list) = conf.raw.get("cni.dev/valid-attachments") else {
        return Err(Failure::new(
            7,
            "cni.dev/valid-attachments missing",
            "GC removes what belongs to no attachment of that list; without it, everything would go",
        ));
    };
    let list = list
        .as_array()
        .ok_or_else(|| bad(format!("{list} is not a list")))?;
    list.iter()
        .map(|v| {
            let field = |k: &str| v.get(k).and_then(Value::as_str).map(String::from);
            match (field("containerID"), field("ifname")) {
                (Some(c), Some(i)) => Ok((c, i)),
                _ => Err(bad(format!("{v} lacks a containerID or an ifname"))),
            }
        })
        .collect()
}

/// GC: everything of this network that belongs to no valid attachment removed, going on
/// past what fails: the IPAM plugin's GC (where it speaks 1.1.0), host-local's reservations
/// in `ipam.dataDir` (read directly: host-local 1.1.1 knows no GC), the host ends this
/// plugin made for the network (its alias says whose).
pub fn gc(conf: &Conf) -> Outcome<()> {
    if !at_least(&conf.version, "1.1.0") {
        return Err(Failure::new(
            1,
            "config version does not allow GC",
            format!(
                "GC came with CNI 1.1.0; the configuration is {}",
                conf.version
            ),
        ));
    }
    require(&["CNI_PATH"])?;
    let valid = valid_attachments(conf)?;
    let mut problems = Vec::new();
    if let Err(f) = ipam::gc(conf) {
        problems.push(format!("{}: {}", f.msg, f.details));
    }
    if conf.ipam_type == "host-local" {
        // Without a dataDir host-local keeps its state in a directory of the machine's,
        // which this plugin leaves alone.
        if let Some(dir) = &conf.data_dir {
            problems.extend(ipam::sweep_host_local(&dir.join(&conf.name), &valid));
        }
    }
    match net::links(None) {
        Err(why) => problems.push(why),
        Ok(links) => {
            for l in links {
                let name = l.get("ifname").and_then(Value::as_str).unwrap_or_default();
                let owner = l.get("ifalias").and_then(Value::as_str).unwrap_or_default();
                let fields: Vec<&str> = owner.split(' ').collect();
                let [ALIAS_PREFIX, network, container, ifname] = fields.as_slice() else {
                    continue;
                };
                if !name.starts_with("rb")
                    || *network != conf.name
                    || name != host_name(container, ifname)
                    || valid.iter().any(|(c, i)| c == container && i == ifname)
                {
                    continue;
                }
                if let Err(why) = net::ip(None, &["link", "del", "dev", name]) {
                    problems.push(why);
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Failure::internal(
            "GC left stale resources",
            problems.join("; "),
        ))
    }
}

/// STATUS: ready, unless the IPAM plugin is missing or (speaking 1.1.0) says it is not.
pub fn status(conf: &Conf) -> Outcome<()> {
    if !at_least(&conf.version, "1.1.0") {
        return Err(Failure::new(
            1,
            "config version does not allow STATUS",
            format!(
                "STATUS came with CNI 1.1.0; the configuration is {}",
                conf.version
            ),
        ));
    }
    if var("CNI_PATH").is_none() {
        // Nowhere to look for the IPAM plugin: nothing known against ADD.
        return Ok(());
    }
    ipam::status(conf)
}
