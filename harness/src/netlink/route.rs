//! IPv4 and IPv6 routes in the main table: declared ([`RouteSpec`]) and as the kernel has them
//! ([`KernelRoute`]), both printed the way `ip route` prints them so a check's expected and
//! actual columns read like the article's tables.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use netlink_packet_core::{NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteNextHop,
    RouteProtocol, RouteScope as NlScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use serde::{Deserialize, Serialize};

use super::{family_of, Netlink};
use crate::error::Result;

/// Who installed a route (`proto` in `ip route`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteProto {
    /// The kernel, for a connected subnet.
    Kernel,
    /// `ip route add` (RTPROT_BOOT).
    Boot,
    /// Programmed by cnbench's control plane (RTPROT_STATIC).
    Static,
    /// BIRD.
    Bird,
    /// Anything else, by number.
    Other(u8),
}

/// Route scope (`scope` in `ip route`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteScope {
    /// Reached through a gateway (the default scope, not printed).
    Universe,
    /// Directly on the link.
    Link,
    /// This host.
    Host,
}

/// A route a backend declares or a check finds, in the main table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RouteSpec {
    /// Destination (`0.0.0.0/0` and `::/0` are `default`).
    pub dst: IpNet,
    /// Next hop, if any (an IPv6 route's may be a link-local address).
    pub via: Option<IpAddr>,
    /// Output device.
    pub dev: String,
    /// Installed by.
    pub proto: RouteProto,
    /// Scope.
    pub scope: RouteScope,
    /// Preferred source address.
    pub src: Option<IpAddr>,
    /// Next hop assumed on-link even if no subnet says so.
    pub onlink: bool,
}

/// A route read from the kernel (same shape as a declaration).
pub type KernelRoute = RouteSpec;

impl RouteSpec {
    /// The connected route the kernel adds for an address on `dev`: IPv4's has link scope
    /// and the address as preferred source; IPv6's prefix route has neither (the kernel picks
    /// the source by RFC 6724 and gives every IPv6 route universe scope).
    pub fn connected(net: impl Into<IpNet>, dev: &str) -> RouteSpec {
        let net: IpNet = net.into();
        let v4 = matches!(net, IpNet::V4(_));
        RouteSpec {
            dst: net.trunc(),
            via: None,
            dev: dev.into(),
            proto: RouteProto::Kernel,
            scope: if v4 {
                RouteScope::Link
            } else {
                RouteScope::Universe
            },
            src: v4.then(|| net.addr()),
            onlink: false,
        }
    }

    /// A route through a gateway, as cnbench programs it.
    pub fn via(dst: impl Into<IpNet>, via: impl Into<IpAddr>, dev: &str) -> RouteSpec {
        RouteSpec {
            dst: dst.into(),
            via: Some(via.into()),
            dev: dev.into(),
            proto: RouteProto::Static,
            scope: RouteScope::Universe,
            src: None,
            onlink: false,
        }
    }

    /// The default route through `gw`, of `gw`'s family.
    pub fn default_via(gw: impl Into<IpAddr>, dev: &str) -> RouteSpec {
        let gw: IpAddr = gw.into();
        let default = match gw {
            IpAddr::V4(_) => IpNet::V4(Ipv4Net::default()),
            IpAddr::V6(_) => IpNet::V6(Ipv6Net::default()),
        };
        RouteSpec::via(default, gw, dev)
    }

    /// Whether this is an IPv6 route.
    pub fn is_v6(&self) -> bool {
        matches!(self.dst, IpNet::V6(_))
    }
}

impl fmt::Display for RouteSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.dst.prefix_len() == 0 {
            write!(f, "default")?;
        } else {
            write!(f, "{}", self.dst)?;
        }
        if let Some(v) = self.via {
            write!(f, " via {v}")?;
        }
        write!(f, " dev {}", self.dev)?;
        match self.proto {
            RouteProto::Boot => {}
            RouteProto::Kernel => write!(f, " proto kernel")?,
            RouteProto::Static => write!(f, " proto static")?,
            RouteProto::Bird => write!(f, " proto bird")?,
            RouteProto::Other(n) => write!(f, " proto {n}")?,
        }
        match self.scope {
            RouteScope::Universe => {}
            RouteScope::Link => write!(f, " scope link")?,
            RouteScope::Host => write!(f, " scope host")?,
        }
        if let Some(s) = self.src {
            write!(f, " src {s}")?;
        }
        if self.onlink {
            write!(f, " onlink")?;
        }
        Ok(())
    }
}

impl Netlink {
    /// Adds a route to the main table.
    pub fn add_route(&self, r: &RouteSpec) -> Result<()> {
        self.write_route(r, NLM_F_CREATE | NLM_F_EXCL, "add")
    }

    /// Adds a route to the main table, or replaces the one to the same destination
    /// (`ip route replace`): what a control plane does when it reprograms a route that may or
    /// may not still be there (the kernel deletes routes through a device that goes down).
    pub fn replace_route(&self, r: &RouteSpec) -> Result<()> {
        self.write_route(r, NLM_F_CREATE | NLM_F_REPLACE, "replace")
    }

    /// Deletes a route of the main table (`ip route del`), matched by destination, next hop,
    /// device and protocol: what a control plane does with a route its peers withdrew.
    pub fn delete_route(&self, r: &RouteSpec) -> Result<()> {
        self.write_route(r, 0, "delete")
    }

    fn write_route(&self, r: &RouteSpec, flags: u16, verb: &str) -> Result<()> {
        let index = self.link_index(&r.dev)?;
        let mut m = RouteMessage::default();
        m.header.address_family = family_of(r.dst.addr());
        m.header.destination_prefix_length = r.dst.prefix_len();
        m.header.table = RouteHeader::RT_TABLE_MAIN;
        m.header.kind = RouteType::Unicast;
        m.header.protocol = proto_of(r.proto);
        m.header.scope = match r.scope {
            RouteScope::Universe => NlScope::Universe,
            RouteScope::Link => NlScope::Link,
            RouteScope::Host => NlScope::Host,
        };
        if r.onlink {
            m.header.flags = RouteFlags::Onlink;
        }
        if r.dst.prefix_len() > 0 {
            m.attributes
                .push(RouteAttribute::Destination(r.dst.network().into()));
        }
        if let Some(gw) = r.via {
            // An IPv4 route through an IPv6 next hop (RFC 5549, as BGP unnumbered uses) would
            // need RTA_VIA; cnbench declares none.
            m.attributes.push(RouteAttribute::Gateway(gw.into()));
        }
        if let Some(src) = r.src {
            m.attributes.push(RouteAttribute::PrefSource(src.into()));
        }
        m.attributes.push(RouteAttribute::Oif(index));
        let msg = if verb == "delete" {
            RouteNetlinkMessage::DelRoute(m)
        } else {
            RouteNetlinkMessage::NewRoute(m)
        };
        self.execute(|| format!("{verb} route {r}"), msg, flags)
    }

    /// Adds or replaces the route to `dst` through every one of `hops` on `dev` at once, of
    /// equal weight (ECMP: `ip route replace DST nexthop via A dev D nexthop via B dev D`);
    /// one hop is an ordinary route. The kernel picks a hop per flow by hash, and with
    /// `fib_multipath_use_neigh` skips one whose neighbour entry failed. A dump shows the
    /// route as one route per hop ([`Netlink::routes`]).
    pub fn replace_multipath_route(
        &self,
        dst: IpNet,
        hops: &[IpAddr],
        dev: &str,
        proto: RouteProto,
    ) -> Result<()> {
        if let [one] = hops {
            return self.replace_route(&RouteSpec {
                proto,
                ..RouteSpec::via(dst, *one, dev)
            });
        }
        let index = self.link_index(dev)?;
        let mut m = RouteMessage::default();
        m.header.address_family = family_of(dst.addr());
        m.header.destination_prefix_length = dst.prefix_len();
        m.header.table = RouteHeader::RT_TABLE_MAIN;
        m.header.kind = RouteType::Unicast;
        m.header.protocol = proto_of(proto);
        m.header.scope = NlScope::Universe;
        if dst.prefix_len() > 0 {
            m.attributes
                .push(RouteAttribute::Destination(dst.network().into()));
        }
        let next_hops = hops
            .iter()
            .map(|gw| {
                let mut nh = RouteNextHop::default();
                nh.interface_index = index;
                nh.attributes.push(RouteAttribute::Gateway((*gw).into()));
                nh
            })
            .collect();
        m.attributes.push(RouteAttribute::MultiPath(next_hops));
        let shown: Vec<String> = hops.iter().map(|h| format!("nexthop via {h}")).collect();
        self.execute(
            || format!("replace route {dst} {} dev {dev}", shown.join(" ")),
            RouteNetlinkMessage::NewRoute(m),
            NLM_F_CREATE | NLM_F_REPLACE,
        )
    }

    /// Whether the route the kernel would use for `ip` is a host route (/32, /128) to it: one
    /// `RTM_GETROUTE` with `RTM_F_FIB_MATCH` (the FIB entry that matched, as `ip route get
    /// fibmatch` shows it), so asking costs the same whatever the table holds. No route at
    /// all is `false`.
    pub fn has_host_route(&self, ip: impl Into<IpAddr>) -> Result<bool> {
        let ip: IpAddr = ip.into();
        let host = if ip.is_ipv4() { 32 } else { 128 };
        let mut req = RouteMessage::default();
        req.header.address_family = family_of(ip);
        req.header.destination_prefix_length = host;
        req.header.flags = RouteFlags::FibMatch;
        req.attributes.push(RouteAttribute::Destination(ip.into()));
        let answers = match self.exchange(
            RouteNetlinkMessage::GetRoute(req),
            NLM_F_REQUEST | NLM_F_ACK,
            None,
        ) {
            Ok(a) => a,
            // Nothing matches: no route to it at all.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENETUNREACH | libc::EHOSTUNREACH)
                ) =>
            {
                return Ok(false)
            }
            Err(e) => return Err(self.error(format!("look up the route to {ip}"), e)),
        };
        Ok(answers.iter().any(|m| {
            matches!(m, RouteNetlinkMessage::NewRoute(r) if r.header.destination_prefix_length == host)
        }))
    }

    /// Every unicast route of the main table, IPv4 then IPv6, with device names resolved;
    /// but the IPv6 link-local prefix route (`fe80::/64 proto kernel`), which the kernel adds
    /// to every link that has IPv6 and no backend declares.
    pub fn routes(&self) -> Result<Vec<KernelRoute>> {
        let mut out: Vec<KernelRoute> = self
            .dump_routes()?
            .into_iter()
            .filter(|(kind, table, r)| {
                *kind == RouteType::Unicast
                    && *table == u32::from(RouteHeader::RT_TABLE_MAIN)
                    && !is_link_local_prefix(r)
            })
            .map(|(_, _, r)| r)
            .collect();
        out.sort();
        Ok(out)
    }

    /// Every IPv4 and IPv6 route but the kernel's own local table, as lines: unicast routes of the
    /// main table as [`Netlink::routes`] shows them (`10.20.1.0/24 via ...`), any other kind
    /// or table named (`blackhole 10.20.0.0/24 proto bird`, `... table 100`). What a
    /// snapshot compares: a blackhole or another table's route is state too.
    pub fn route_lines(&self) -> Result<Vec<String>> {
        // RT_TABLE_LOCAL (linux/rtnetlink.h): the kernel's routes for local and broadcast
        // addresses, which follow the addresses.
        const LOCAL: u32 = 255;
        let main = u32::from(RouteHeader::RT_TABLE_MAIN);
        let mut out: Vec<String> = self
            .dump_routes()?
            .into_iter()
            .filter(|(_, table, _)| *table != LOCAL)
            .map(|(kind, table, r)| {
                let mut line = match kind {
                    RouteType::Unicast => r.to_string(),
                    other => format!(
                        "{} {} proto {}",
                        format!("{other:?}").to_lowercase(),
                        r.dst,
                        match r.proto {
                            RouteProto::Kernel => "kernel".to_string(),
                            RouteProto::Boot => "boot".to_string(),
                            RouteProto::Static => "static".to_string(),
                            RouteProto::Bird => "bird".to_string(),
                            RouteProto::Other(n) => n.to_string(),
                        }
                    ),
                };
                if table != main {
                    line.push_str(&format!(" table {table}"));
                }
                line
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// Every IPv4 and IPv6 route of every table: its kind, its table, and the route.
    fn dump_routes(&self) -> Result<Vec<(RouteType, u32, KernelRoute)>> {
        let links = self.links()?;
        let name_of = |i: u32| super::link_name(&links, i);
        let mut answers = Vec::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut req = RouteMessage::default();
            req.header.address_family = family;
            answers.extend(self.dump(|| "dump routes".into(), RouteNetlinkMessage::GetRoute(req))?);
        }
        let mut out = Vec::new();
        for m in answers {
            let RouteNetlinkMessage::NewRoute(r) = m else {
                continue;
            };
            let mut table = u32::from(r.header.table);
            let mut dst: IpAddr = if r.header.address_family == AddressFamily::Inet6 {
                Ipv6Addr::UNSPECIFIED.into()
            } else {
                Ipv4Addr::UNSPECIFIED.into()
            };
            let mut via = None;
            let mut src = None;
            let mut oif = None;
            // An ECMP route (RTA_MULTIPATH): one (gateway, device) per next hop.
            let mut hops: Vec<(Option<IpAddr>, u32)> = Vec::new();
            for a in &r.attributes {
                match a {
                    RouteAttribute::Table(t) => table = *t,
                    RouteAttribute::Destination(d) => dst = ip_of(d).unwrap_or(dst),
                    RouteAttribute::Gateway(g) => via = ip_of(g),
                    RouteAttribute::PrefSource(s) => src = ip_of(s),
                    RouteAttribute::Oif(i) => oif = Some(*i),
                    RouteAttribute::MultiPath(nhs) => hops.extend(nhs.iter().map(|nh| {
                        let gw = nh.attributes.iter().find_map(|a| match a {
                            RouteAttribute::Gateway(g) => ip_of(g),
                            _ => None,
                        });
                        (gw, nh.interface_index)
                    })),
                    _ => {}
                }
            }
            let Ok(dst) = IpNet::new(dst, r.header.destination_prefix_length) else {
                continue;
            };
            if hops.is_empty() {
                hops.push((via, oif.unwrap_or(0)));
            }
            for (via, oif) in hops {
                out.push((
                    r.header.kind,
                    table,
                    RouteSpec {
                        dst,
                        via,
                        dev: if oif != 0 {
                            name_of(oif)
                        } else {
                            String::new()
                        },
                        proto: match r.header.protocol {
                            RouteProtocol::Kernel => RouteProto::Kernel,
                            RouteProtocol::Boot => RouteProto::Boot,
                            RouteProtocol::Static => RouteProto::Static,
                            RouteProtocol::Bird => RouteProto::Bird,
                            other => RouteProto::Other(u8::from(other)),
                        },
                        scope: match r.header.scope {
                            NlScope::Link => RouteScope::Link,
                            NlScope::Host => RouteScope::Host,
                            _ => RouteScope::Universe,
                        },
                        src,
                        onlink: r.header.flags.contains(RouteFlags::Onlink),
                    },
                ));
            }
        }
        Ok(out)
    }
}

fn proto_of(p: RouteProto) -> RouteProtocol {
    match p {
        RouteProto::Kernel => RouteProtocol::Kernel,
        RouteProto::Boot => RouteProtocol::Boot,
        RouteProto::Static => RouteProtocol::Static,
        RouteProto::Bird => RouteProtocol::Bird,
        RouteProto::Other(n) => RouteProtocol::Other(n),
    }
}

fn ip_of(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(ip) => Some((*ip).into()),
        RouteAddress::Inet6(ip) => Some((*ip).into()),
        _ => None,
    }
}

/// `fe80::/64 dev X proto kernel`: the route the kernel gives each IPv6 link for its
/// link-local addresses (RFC 4291 §2.5.6).
fn is_link_local_prefix(r: &RouteSpec) -> bool {
    r.proto == RouteProto::Kernel && r.dst == IpNet::V6("fe80::/64".parse().expect("valid"))
}
