//! What each well-known chained plugin must have *done*, beyond the wiring its result
//! describes: portmap (a host port of the node reaches the pod), bandwidth (a TCP stream is
//! held to the configured rate), firewall (its rules for the pod are in the node's ruleset,
//! and across nodes the pod's forwarded traffic passed them), tuning (the sysctls, MTU and
//! MAC it sets are in place). One check record per pod and effect, and for portmap and
//! firewall per IP family of the run (each family's rules are its own: iptables, ip6tables).

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use harness::backend::Context;
use harness::checks::record;
use harness::host::Host;
use harness::netlink::format_mac;
use harness::topology::{Family, PodPlan};
use reports::CheckRecord;
use serde_json::Value;

use crate::capability::{HOST_PORT_BASE, POD_PORT};
use crate::conf::{NetworkList, PluginConf};
use crate::runtime::attachment_of;

/// How long a connection of the portmap check may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// How long the bandwidth check streams in each direction.
const STREAM_TIME: Duration = Duration::from_secs(2);

/// Every effect check the plugins of `network` call for, pod by pod.
pub fn checks(ctx: &Context<'_>, network: &NetworkList) -> Vec<CheckRecord> {
    let mut out = Vec::new();
    let pods: Vec<&PodPlan> = ctx
        .plan
        .pods
        .iter()
        .filter(|p| attachment_of(p).is_some())
        .collect();
    for plugin in &network.plugins {
        match plugin.plugin_type.as_str() {
            "portmap" if plugin.capabilities().iter().any(|c| c == "portMappings") => {
                // Each family of the run: portmap writes its DNAT rules with iptables for
                // IPv4 addresses and ip6tables for IPv6 ones.
                for p in &pods {
                    for family in ctx.plan.families() {
                        out.push(portmap(ctx, p, family));
                    }
                }
            }
            "bandwidth" => {
                // One pod is enough: every pod gets the same shaping.
                if let Some(p) = pods.first() {
                    out.extend(bandwidth(ctx, plugin, p));
                }
            }
            "firewall" => out.extend(firewall(ctx, &pods)),
            "tuning" => {
                for p in &pods {
                    out.extend(tuning(ctx, plugin, p));
                }
            }
            _ => {}
        }
    }
    out
}

/// The node address of `family` a pod's traffic to the node goes to: its gateway where it
/// has one on the node, else the node's underlay address.
fn node_address(ctx: &Context<'_>, pod: &PodPlan, family: Family) -> Option<IpAddr> {
    let gateway = match family {
        Family::V4 => pod.gateway.map(IpAddr::from),
        Family::V6 => pod.gateway6.map(IpAddr::from),
    };
    gateway.or_else(|| ctx.plan.node_ip(ctx.plan.node_of(pod), family))
}

/// The pod's address of `family` (the plan holds what the chain's result gave it).
fn pod_address(ctx: &Context<'_>, pod: &PodPlan, family: Family) -> Option<IpAddr> {
    ctx.plan.pod_net(pod, family).map(|n| n.addr())
}

/// A connection from the node to its own address at the pod's host port reaches a listener
/// on the pod's port (portmap's DNAT, hooked for locally originated traffic too).
fn portmap(ctx: &Context<'_>, pod: &PodPlan, family: Family) -> CheckRecord {
    let node = ctx.plan.node_of(pod);
    let host_port = HOST_PORT_BASE + pod.index as u16;
    let (Some(node_ip), Some(pod_ip)) = (
        node_address(ctx, pod, family),
        pod_address(ctx, pod, family),
    ) else {
        return record(
            "portmap",
            format!("{} host port {host_port} ({family})", node.role),
            format!("reaches {} port {POD_PORT}", pod.role),
            format!("the node or the pod has no {family} address to connect to"),
            false,
            None,
        );
    };
    // `[ip]:port` for IPv6 (RFC 3986 §3.2.2), as SocketAddr shows it.
    let subject = format!(
        "{} {} -> {} {}",
        node.role,
        SocketAddr::new(node_ip, host_port),
        pod.role,
        SocketAddr::new(pod_ip, POD_PORT)
    );
    let expected = format!(
        "accepted by a listener on {}",
        SocketAddr::new(pod_ip, POD_PORT)
    );
    let listener = match ctx.host(&pod.netns).tcp_listen_on(pod_ip, POD_PORT) {
        Ok(l) => l,
        Err(e) => {
            return record(
                "portmap",
                subject,
                expected,
                format!("listen: {}", e.message),
                false,
                None,
            )
        }
    };
    let connect = ctx
        .host(&node.netns)
        .tcp_connect(node_ip, host_port, CONNECT_TIMEOUT);
    if !connect.ok() {
        return record(
            "portmap",
            subject,
            expected,
            format!("connect: {connect:?}"),
            false,
            Some("portmap's DNAT of the host port did not reach the pod".into()),
        );
    }
    match listener.accept_peer(CONNECT_TIMEOUT) {
        Ok(peer) => record(
            "portmap",
            subject,
            expected,
            format!("accepted from {peer}"),
            true,
            None,
        ),
        Err(e) => record(
            "portmap",
            subject,
            expected,
            format!("the connection was not accepted in the pod: {e}"),
            false,
            Some("the host port answered, but not from the pod".into()),
        ),
    }
}

/// A TCP stream each way between the pod and its node is held to the configured rate (and
/// is not starved below half of it).
fn bandwidth(ctx: &Context<'_>, plugin: &PluginConf, pod: &PodPlan) -> Vec<CheckRecord> {
    let rate = |k: &str| plugin.raw.get(k).and_then(Value::as_u64).filter(|r| *r > 0);
    let mut out = Vec::new();
    let node = ctx.plan.node_of(pod);
    for (dir, rate_key, burst_key, pod_sends) in [
        ("egress", "egressRate", "egressBurst", true),
        ("ingress", "ingressRate", "ingressBurst", false),
    ] {
        let (Some(rate_bps), Some(burst_bits)) = (rate(rate_key), rate(burst_key)) else {
            continue;
        };
        let subject = format!(
            "{} {dir} ({} -> {})",
            pod.role,
            if pod_sends { &pod.role } else { &node.role },
            if pod_sends { &node.role } else { &pod.role }
        );
        // The token bucket lets one burst through at once: over the stream that is
        // burst/time on top of the rate; 15 % more for TCP's own timing.
        let secs = STREAM_TIME.as_secs_f64();
        let ceiling = rate_bps as f64 * 1.15 + burst_bits as f64 / secs;
        let floor = rate_bps as f64 * 0.5;
        let expected = format!(
            "{:.2} Mbit/s to {:.2} Mbit/s (configured {rate_key} {:.2} Mbit/s)",
            floor / 1e6,
            ceiling / 1e6,
            rate_bps as f64 / 1e6
        );
        // The shaping is of the interface, whatever the family: the run's first is streamed.
        let family = ctx.plan.families()[0];
        let (Some(node_ip), Some(pod_ip), Some(pod_ns), Some(node_ns)) = (
            node_address(ctx, pod, family),
            pod_address(ctx, pod, family),
            ctx.host(&pod.netns).local(),
            ctx.host(&node.netns).local(),
        ) else {
            out.push(record(
                "bandwidth",
                subject,
                expected,
                "needs a pod and node on this machine".into(),
                false,
                None,
            ));
            continue;
        };
        let measured = if pod_sends {
            stream(pod_ns, node_ns, node_ip)
        } else {
            stream(node_ns, pod_ns, pod_ip)
        };
        out.push(match measured {
            Ok(bps) => {
                let ok = bps <= ceiling && bps >= floor;
                let reason = (!ok).then(|| {
                    if bps > ceiling {
                        format!("the stream was not held to the configured {rate_key}")
                    } else {
                        "the stream was held far below the configured rate".to_string()
                    }
                });
                record(
                    "bandwidth",
                    subject,
                    expected,
                    format!("{:.2} Mbit/s over {secs:.0} s", bps / 1e6),
                    ok,
                    reason,
                )
            }
            Err(e) => record(
                "bandwidth",
                subject,
                expected,
                format!("stream failed: {e}"),
                false,
                None,
            ),
        });
    }
    out
}

/// Streams from a socket made in `from` to a listener made in `to` on `to_ip` for
/// [`STREAM_TIME`]; returns what the receiver got, in bits per second. (Sockets keep the
/// namespace they were made in, so only their creation enters the namespaces.)
fn stream(
    from: &harness::netns::Netns,
    to: &harness::netns::Netns,
    to_ip: IpAddr,
) -> Result<f64, String> {
    let listener = to
        .run_in(|| TcpListener::bind((to_ip, 0)))
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("listen on {to_ip}: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let addr = SocketAddr::from((to_ip, port));
    // Accepted within a deadline: a connect that fails must not leave this thread (and the
    // listener's namespace) waiting for ever.
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let receiver = std::thread::spawn(move || -> Result<f64, String> {
        let until = Instant::now() + CONNECT_TIMEOUT;
        let mut s = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < until => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(e) => return Err(format!("accept: {e}")),
            }
        };
        s.set_nonblocking(false).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0u64;
        let mut first = None;
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    first.get_or_insert_with(Instant::now);
                    total += n as u64;
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        let secs = first.map(|t| t.elapsed().as_secs_f64()).unwrap_or(0.0);
        Ok(if secs > 0.0 {
            total as f64 * 8.0 / secs
        } else {
            0.0
        })
    });
    let mut sender = from
        .run_in(|| TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT))
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    let chunk = vec![0x5au8; 1 << 14];
    let deadline = Instant::now() + STREAM_TIME;
    while Instant::now() < deadline {
        if let Err(e) = sender.write_all(&chunk) {
            return Err(format!("send: {e}"));
        }
    }
    drop(sender);
    receiver
        .join()
        .map_err(|_| "receiver panicked".to_string())?
}

/// The firewall plugin's rules for each pod are in its node's ruleset: the pod's address
/// accepted from and (established) to, in the chain the plugin hooks into FORWARD. Across
/// nodes the matrix (run before these checks) has sent the pod's traffic through its node's
/// FORWARD chain, so the rule accepting it must have counted packets; on one node nothing
/// crosses FORWARD (pods are bridged to each other, and the node is their destination, not
/// their router), so there the rules' presence is what is checked.
fn firewall(ctx: &Context<'_>, pods: &[&PodPlan]) -> Vec<CheckRecord> {
    let forwarded = ctx.plan.nodes.len() > 1;
    let mut out = Vec::new();
    let mut saves: std::collections::BTreeMap<(String, Family), Result<String, String>> =
        Default::default();
    // Each family's rules are in its own ruleset: iptables for IPv4 addresses, ip6tables for
    // IPv6 ones (the plugin writes each address's rules with the tool of its family).
    for (pod, family) in pods
        .iter()
        .flat_map(|p| ctx.plan.families().into_iter().map(move |f| (*p, f)))
    {
        let node = ctx.plan.node_of(pod);
        let Some(addr) = pod_address(ctx, pod, family) else {
            continue;
        };
        let save = saves
            .entry((node.netns.clone(), family))
            .or_insert_with(|| iptables_save(ctx.host(&node.netns), family));
        let ip = match addr {
            IpAddr::V4(a) => format!("{a}/32"),
            IpAddr::V6(a) => format!("{a}/128"),
        };
        let subject = if ctx.plan.families().len() > 1 {
            format!("{} ruleset ({family}): {}", node.role, pod.role)
        } else {
            format!("{} ruleset: {}", node.role, pod.role)
        };
        let expected = format!(
            "-A CNI-FORWARD -s {ip} ... -j ACCEPT{}; -A CNI-FORWARD -d {ip} ... -j ACCEPT; FORWARD -j CNI-FORWARD",
            if forwarded { " (having accepted the pod's forwarded packets)" } else { "" }
        );
        out.push(match save {
            Ok(text) => {
                // `iptables-save -c` lines: `[packets:bytes] -A CHAIN ...`.
                let rules: Vec<(u64, &str)> = text
                    .lines()
                    .filter_map(|l| {
                        let (counters, rule) = l.strip_prefix('[')?.split_once("] ")?;
                        Some((counters.split(':').next()?.parse().ok()?, rule))
                    })
                    .collect();
                let rule = |dir: &str| {
                    rules.iter().find(|(_, l)| {
                        l.starts_with("-A CNI-FORWARD")
                            && l.contains(&format!("{dir} {ip}"))
                            && l.ends_with("-j ACCEPT")
                    })
                };
                let hooked = rules
                    .iter()
                    .any(|(_, l)| l.starts_with("-A FORWARD") && l.contains("-j CNI-FORWARD"));
                let (from, to) = (rule("-s"), rule("-d"));
                let passed = from.map(|(packets, _)| *packets).unwrap_or(0);
                let mut wrong = Vec::new();
                if from.is_none() || to.is_none() {
                    wrong.push(
                        "the firewall plugin's rules for the pod are not in the node's ruleset",
                    );
                }
                if !hooked {
                    wrong.push("FORWARD does not jump to CNI-FORWARD");
                }
                if forwarded && from.is_some() && passed == 0 {
                    wrong.push("the pod's forwarded traffic did not pass the rule that allows it");
                }
                let shown = |r: Option<&(u64, &str)>| {
                    r.map(|(p, l)| format!("{l} [{p} packets]"))
                        .unwrap_or_else(|| "(missing)".into())
                };
                let actual = format!(
                    "{}; {}; {}",
                    shown(from),
                    shown(to),
                    if hooked {
                        "FORWARD jumps to CNI-FORWARD"
                    } else {
                        "no jump from FORWARD"
                    }
                );
                let ok = wrong.is_empty();
                record(
                    "firewall",
                    subject,
                    expected,
                    actual,
                    ok,
                    (!ok).then(|| wrong.join("; ")),
                )
            }
            Err(e) => record("firewall", subject, expected, e.clone(), false, None),
        });
    }
    out
}

fn iptables_save(host: &Host, family: Family) -> Result<String, String> {
    let tool = match family {
        Family::V4 => "iptables-save",
        Family::V6 => "ip6tables-save",
    };
    match host.run(tool, &["-c".to_string()], Duration::from_secs(10)) {
        Ok(o) if o.status.success() => Ok(o.stdout),
        Ok(o) => Err(format!("{tool}: {}: {}", o.status, o.stderr.trim())),
        Err(e) => Err(format!("{tool}: {e} (Debian package iptables)")),
    }
}

/// The tuning plugin's settings are in place in the pod: each sysctl, the MTU and MAC of the
/// interface.
fn tuning(ctx: &Context<'_>, plugin: &PluginConf, pod: &PodPlan) -> Vec<CheckRecord> {
    let host = ctx.host(&pod.netns);
    let Some((a, _)) = attachment_of(pod) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(sysctls) = plugin.raw.get("sysctl").and_then(Value::as_object) {
        for (key, want) in sysctls {
            let want = want
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| want.to_string());
            let subject = format!("{} sysctl {key}", pod.role);
            out.push(match host.sysctl(key) {
                Ok(got) => {
                    let ok = got.trim() == want.trim();
                    record(
                        "tuning",
                        subject,
                        want,
                        got,
                        ok,
                        Some("the tuning plugin's sysctl is not in place".into()),
                    )
                }
                Err(e) => record("tuning", subject, want, format!("error: {e}"), false, None),
            });
        }
    }
    let link = host.nl().link(&a.ifname);
    if let Some(mtu) = plugin.raw.get("mtu").and_then(Value::as_u64) {
        let subject = format!("{} {} mtu", pod.role, a.ifname);
        out.push(match &link {
            Ok(l) => record(
                "tuning",
                subject,
                mtu.to_string(),
                l.mtu_bytes.to_string(),
                u64::from(l.mtu_bytes) == mtu,
                None,
            ),
            Err(e) => record(
                "tuning",
                subject,
                mtu.to_string(),
                format!("error: {e}"),
                false,
                None,
            ),
        });
    }
    if let Some(mac) = plugin.raw.get("mac").and_then(Value::as_str) {
        let subject = format!("{} {} mac", pod.role, a.ifname);
        out.push(match &link {
            Ok(l) => {
                let got = l.mac.map(|m| format_mac(&m)).unwrap_or_default();
                let ok = got.eq_ignore_ascii_case(mac);
                record("tuning", subject, mac.to_string(), got, ok, None)
            }
            Err(e) => record(
                "tuning",
                subject,
                mac.to_string(),
                format!("error: {e}"),
                false,
                None,
            ),
        });
    }
    out
}
