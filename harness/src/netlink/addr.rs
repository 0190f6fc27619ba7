//! IPv4 addresses on links.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::Ipv4Net;
use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::Netlink;
use crate::error::Result;

/// An IPv4 address on a link, as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// Interface index.
    pub index: u32,
    /// Address with its prefix length.
    pub net: Ipv4Net,
}

impl Netlink {
    /// Adds `net` (address/prefix) to link `dev`. The kernel adds the connected route.
    pub fn add_address(&self, dev: &str, net: Ipv4Net) -> Result<()> {
        let index = self.link_index(dev)?;
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.prefix_len = net.prefix_len();
        m.header.index = index;
        let ip = IpAddr::V4(net.addr());
        m.attributes.push(AddressAttribute::Local(ip));
        m.attributes.push(AddressAttribute::Address(ip));
        if net.prefix_len() < 31 {
            m.attributes
                .push(AddressAttribute::Broadcast(net.broadcast()));
        }
        self.execute(
            || format!("add address {net} to {dev}"),
            RouteNetlinkMessage::NewAddress(m),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Removes `net` (address/prefix) from link `dev`; the kernel removes the routes that
    /// needed it.
    pub fn delete_address(&self, dev: &str, net: Ipv4Net) -> Result<()> {
        let index = self.link_index(dev)?;
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.prefix_len = net.prefix_len();
        m.header.index = index;
        m.attributes
            .push(AddressAttribute::Local(IpAddr::V4(net.addr())));
        self.execute(
            || format!("delete address {net} from {dev}"),
            RouteNetlinkMessage::DelAddress(m),
            0,
        )
    }

    /// Every IPv4 address in the namespace.
    pub fn addresses(&self) -> Result<Vec<Address>> {
        let mut req = AddressMessage::default();
        req.header.family = AddressFamily::Inet;
        let answers = self.dump(
            || "dump addresses".into(),
            RouteNetlinkMessage::GetAddress(req),
        )?;
        let mut out = Vec::new();
        for m in answers {
            let RouteNetlinkMessage::NewAddress(a) = m else {
                continue;
            };
            let local = a.attributes.iter().find_map(|at| match at {
                AddressAttribute::Local(IpAddr::V4(ip)) => Some(*ip),
                _ => None,
            });
            let addr = local.or_else(|| {
                a.attributes.iter().find_map(|at| match at {
                    AddressAttribute::Address(IpAddr::V4(ip)) => Some(*ip),
                    _ => None,
                })
            });
            if let Some(ip) = addr {
                out.push(Address {
                    index: a.header.index,
                    net: Ipv4Net::new(ip, a.header.prefix_len).unwrap_or_else(|_| {
                        Ipv4Net::new(Ipv4Addr::UNSPECIFIED, 0).expect("0 is a valid prefix")
                    }),
                });
            }
        }
        Ok(out)
    }
}
