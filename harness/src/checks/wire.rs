//! Encapsulation on the wire: capture on the underlay (a packet socket in the switch or router
//! namespace, on the sending node's port) while a pod pings a pod on another node, and check
//! what the frames carry: the node IPs outside and the pod IPs only inside, with the right
//! protocol and port; or, unencapsulated, the pod IPs themselves. A dual-stack run is checked
//! once per family: each family's pods cross the underlay of the same family.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use reports::CheckRecord;

use super::reachability::icmp_echo;
use super::record;
use crate::backend::{EncapExpect, Wire};
use crate::host::Host;
use crate::probe::{capture_while, ProbeResult, PROBE_TIMEOUT};
use crate::remote::client::CALL_TIMEOUT;
use crate::remote::protocol::{Call, Reply};
use crate::topology::{Family, Plan};

/// VXLAN's header: flags (I bit set), reserved, VNI (24 bits), reserved.
const VXLAN_HEADER: usize = 8;
const ETH_HEADER: usize = 14;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
/// IP protocol numbers (IANA): ICMP, IPv4-in-IP, UDP, IPv6-in-IP, ICMPv6.
const PROTO_ICMP: u8 = 1;
const PROTO_IPIP: u8 = 4;
const PROTO_UDP: u8 = 17;
const PROTO_IPV6: u8 = 41;
const PROTO_ICMPV6: u8 = 58;

/// One IP packet as seen on the wire, outer and (if encapsulated) inner addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    outer: Addrs,
    udp_dport: Option<u16>,
    vni: Option<u32>,
    inner: Option<Addrs>,
}

impl std::fmt::Display for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let proto = |p: u8| match p {
            PROTO_ICMP => "icmp".to_string(),
            PROTO_IPIP => "ipip".to_string(),
            6 => "tcp".to_string(),
            PROTO_UDP => "udp".to_string(),
            PROTO_IPV6 => "ipv6".to_string(),
            PROTO_ICMPV6 => "icmpv6".to_string(),
            n => format!("proto {n}"),
        };
        write!(
            f,
            "{} -> {} {}",
            self.outer.0,
            self.outer.1,
            proto(self.outer.2)
        )?;
        if let Some(p) = self.udp_dport {
            write!(f, " dport {p}")?;
        }
        if let Some(v) = self.vni {
            write!(f, " vni {v}")?;
        }
        if let Some((s, d, p)) = self.inner {
            write!(f, ", inner {s} -> {d} {}", proto(p))?;
        }
        Ok(())
    }
}

/// Source, destination and protocol (IPv6: next header) of an IP header.
type Addrs = (IpAddr, IpAddr, u8);

/// An IPv4 or IPv6 header, by its version nibble, and what follows it. IPv6 extension
/// headers are not followed: nothing cnbench builds sends any.
fn ip(b: &[u8]) -> Option<(Addrs, &[u8])> {
    match b.first()? >> 4 {
        4 if b.len() >= 20 => {
            let ihl = usize::from(b[0] & 0x0f) * 4;
            let src = Ipv4Addr::new(b[12], b[13], b[14], b[15]);
            let dst = Ipv4Addr::new(b[16], b[17], b[18], b[19]);
            Some(((src.into(), dst.into(), b[9]), b.get(ihl..)?))
        }
        6 if b.len() >= 40 => {
            let src = Ipv6Addr::from(<[u8; 16]>::try_from(&b[8..24]).ok()?);
            let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&b[24..40]).ok()?);
            Some(((src.into(), dst.into(), b[6]), &b[40..]))
        }
        _ => None,
    }
}

/// Decodes an Ethernet frame as `wire` says it should be built.
fn decode(frame: &[u8], wire: Wire) -> Option<Seen> {
    if frame.len() < ETH_HEADER
        || !matches!(
            u16::from_be_bytes([frame[12], frame[13]]),
            ETH_P_IP | ETH_P_IPV6
        )
    {
        return None;
    }
    let (outer, rest) = ip(&frame[ETH_HEADER..])?;
    let mut seen = Seen {
        outer,
        udp_dport: None,
        vni: None,
        inner: None,
    };
    match (wire, outer.2) {
        (Wire::Udp { vni, .. }, PROTO_UDP) if rest.len() >= 8 => {
            seen.udp_dport = Some(u16::from_be_bytes([rest[2], rest[3]]));
            let payload = &rest[8..];
            if vni.is_some() {
                let v = payload.get(..VXLAN_HEADER)?;
                seen.vni = Some(u32::from_be_bytes([0, v[4], v[5], v[6]]));
                let inner_frame = &payload[VXLAN_HEADER..];
                seen.inner = ip(inner_frame.get(ETH_HEADER..)?).map(|x| x.0);
            } else {
                seen.inner = ip(payload).map(|x| x.0);
            }
        }
        (Wire::IpIp, PROTO_IPIP | PROTO_IPV6) => seen.inner = ip(rest).map(|x| x.0),
        _ => {}
    }
    Some(seen)
}

/// Captures on `dev` of `capture` while `from` pings `to`: here when the capture host is on
/// this machine, else by the capture host's agent (the probe must then start on its machine).
fn capture_echo(
    capture: &Host,
    dev: &str,
    from: &Host,
    to: IpAddr,
) -> std::io::Result<(Vec<Vec<u8>>, ProbeResult)> {
    if let Some(ns) = capture.local() {
        return capture_while(ns, capture.nl(), dev, || icmp_echo(from, to));
    }
    let agent = capture.agent().expect("a host is local or remote");
    if !capture.same_machine(from) {
        return Err(std::io::Error::other(format!(
            "capture in {} while {} probes: a remote capture needs the probe on its machine",
            capture.name(),
            from.name()
        )));
    }
    let call = Call::CaptureEcho {
        capture_netns: capture.name().to_string(),
        dev: dev.to_string(),
        from_netns: from.name().to_string(),
        to,
    };
    match agent.call(call, CALL_TIMEOUT + PROBE_TIMEOUT) {
        Ok(Reply::Frames { frames, echo }) => Ok((frames, echo.into())),
        Ok(other) => Err(std::io::Error::other(format!("agent answered {other:?}"))),
        Err(e) => Err(std::io::Error::other(e.to_string())),
    }
}

pub(super) fn encap(
    plan: &Plan,
    hosts: &BTreeMap<String, Host>,
    declared: &[EncapExpect],
) -> Vec<CheckRecord> {
    declared
        .iter()
        .flat_map(|e| plan.families().into_iter().map(move |f| (e, f)))
        .filter_map(|(e, f)| one(plan, hosts, e, f))
        .collect()
}

fn one(
    plan: &Plan,
    hosts: &BTreeMap<String, Host>,
    e: &EncapExpect,
    family: Family,
) -> Option<CheckRecord> {
    let (a, b) = (&plan.pods[e.from], &plan.pods[e.to]);
    let (na, nb) = (plan.node_of(a), plan.node_of(b));
    let (pa, pb) = (
        plan.pod_net(a, family)?.addr(),
        plan.pod_net(b, family)?.addr(),
    );
    let node_ip = |n: &crate::topology::NodePlan| plan.node_ip(n, family);
    let (icmp, tunnel) = match family {
        Family::V4 => (PROTO_ICMP, PROTO_IPIP),
        Family::V6 => (PROTO_ICMPV6, PROTO_IPV6),
    };
    let subject = format!(
        "{} -> {} {}, captured on {} {}",
        a.role,
        b.role,
        if family == Family::V4 {
            "icmp"
        } else {
            "icmpv6"
        },
        e.capture_netns,
        e.capture_dev
    );
    let expected = match e.wire {
        Wire::Plain => format!("{pa} -> {pb} (pod IPs on the wire, no encapsulation)"),
        Wire::Udp { port, vni } => format!(
            "{} -> {} udp dport {port}{}, inner {pa} -> {pb}",
            node_ip(na).map(|i| i.to_string()).unwrap_or_default(),
            node_ip(nb).map(|i| i.to_string()).unwrap_or_default(),
            vni.map(|v| format!(" vni {v}")).unwrap_or_default()
        ),
        Wire::IpIp => format!(
            "{} -> {} {}, inner {pa} -> {pb}",
            node_ip(na).map(|i| i.to_string()).unwrap_or_default(),
            node_ip(nb).map(|i| i.to_string()).unwrap_or_default(),
            if family == Family::V4 {
                "ipip"
            } else {
                "ipv6 (next header 41)"
            },
        ),
    };
    let captured = capture_echo(
        &hosts[&e.capture_netns],
        &e.capture_dev,
        &hosts[&a.netns],
        pb,
    );
    let (frames, probe) = match captured {
        Ok((raw, probe)) => (
            raw.iter()
                .filter_map(|f| decode(f, e.wire))
                .collect::<Vec<_>>(),
            probe,
        ),
        Err(err) => {
            return Some(record(
                "encap",
                subject,
                expected,
                format!("capture failed: {err}"),
                false,
                None,
            ))
        }
    };
    // The frames of this probe: the request from a to b, in whatever wrapping.
    let ours: Vec<&Seen> = frames
        .iter()
        .filter(|f| {
            f.inner.map(|i| (i.0, i.1)) == Some((pa, pb)) || (f.outer.0, f.outer.1) == (pa, pb)
        })
        .collect();
    let ok = !ours.is_empty()
        && ours.iter().all(|f| match e.wire {
            Wire::Plain => f.outer == (pa, pb, icmp) && f.inner.is_none(),
            Wire::Udp { port, vni } => {
                Some(f.outer.0) == node_ip(na)
                    && Some(f.outer.1) == node_ip(nb)
                    && f.outer.2 == PROTO_UDP
                    && f.udp_dport == Some(port)
                    && f.vni == vni
                    && f.inner == Some((pa, pb, icmp))
            }
            Wire::IpIp => {
                Some(f.outer.0) == node_ip(na)
                    && Some(f.outer.1) == node_ip(nb)
                    && f.outer.2 == tunnel
                    && f.inner == Some((pa, pb, icmp))
            }
        });
    let actual = match ours.first() {
        Some(f) => format!("{f} ({} frame(s) of this probe)", ours.len()),
        None => format!(
            "no frame of this probe among {} captured (probe: {probe})",
            frames.len()
        ),
    };
    let reason = (!ok).then(|| match e.wire {
        Wire::Plain => "pod packets must cross the underlay as they are".to_string(),
        _ => "overlay traffic must carry node IPs outside and pod IPs only inside".to_string(),
    });
    Some(record("encap", subject, expected, actual, ok, reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eth(payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&ETH_P_IP.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn ip(src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8]) -> Vec<u8> {
        let mut h = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0];
        h.extend_from_slice(&src);
        h.extend_from_slice(&dst);
        h.extend_from_slice(payload);
        h
    }

    #[test]
    fn decodes_vxlan_udp_and_ipip() {
        let inner = ip([100, 96, 0, 2], [100, 96, 1, 2], 1, &[8, 0, 0, 0]);
        let mut vx = vec![0, 0, 0x21, 0x18, 0, 0, 0, 0]; // UDP to 8472
        vx.extend_from_slice(&[0x08, 0, 0, 0, 0, 0, 1, 0]); // VNI 1
        vx.extend_from_slice(&eth(&inner));
        let frame = eth(&ip([10, 168, 0, 1], [10, 168, 0, 2], 17, &vx));
        let s = decode(
            &frame,
            Wire::Udp {
                port: 8472,
                vni: Some(1),
            },
        )
        .unwrap();
        assert_eq!(s.udp_dport, Some(8472));
        assert_eq!(s.vni, Some(1));
        assert_eq!(
            s.inner,
            Some((
                "100.96.0.2".parse().unwrap(),
                "100.96.1.2".parse().unwrap(),
                1
            ))
        );
        assert_eq!(
            s.to_string(),
            "10.168.0.1 -> 10.168.0.2 udp dport 8472 vni 1, inner 100.96.0.2 -> 100.96.1.2 icmp"
        );

        let mut udp = vec![0, 0, 0x20, 0x5d, 0, 0, 0, 0]; // UDP to 8285
        udp.extend_from_slice(&inner);
        let frame = eth(&ip([10, 168, 0, 1], [10, 168, 0, 2], 17, &udp));
        let s = decode(
            &frame,
            Wire::Udp {
                port: 8285,
                vni: None,
            },
        )
        .unwrap();
        assert_eq!((s.udp_dport, s.vni), (Some(8285), None));
        assert!(s.inner.is_some());

        let frame = eth(&ip([10, 168, 0, 1], [10, 168, 0, 2], 4, &inner));
        let s = decode(&frame, Wire::IpIp).unwrap();
        assert_eq!(s.inner.unwrap().1, "100.96.1.2".parse::<IpAddr>().unwrap());
    }
}
