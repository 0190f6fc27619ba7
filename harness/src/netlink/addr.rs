//! IPv4 and IPv6 addresses on links.

use ipnet::IpNet;
use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::{family_of, Netlink};
use crate::error::Result;

/// An address on a link, as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// Interface index.
    pub index: u32,
    /// Address with its prefix length.
    pub net: IpNet,
    /// IPv6 duplicate address detection has not finished (`tentative` in `ip addr`): the
    /// kernel neither uses nor answers for the address yet (RFC 4862 §5.4).
    pub tentative: bool,
    /// IPv6 duplicate address detection found another node with the address (`dadfailed`):
    /// it stays unusable until removed.
    pub dad_failed: bool,
}

impl Netlink {
    /// Adds `net` (address/prefix) to link `dev`. The kernel adds the connected route. An
    /// IPv6 address goes through duplicate address detection where the namespace has it on
    /// (`accept_dad`), as a node's or a CNI plugin's address does: it is tentative for about a
    /// second ([`Netlink::addresses`] says so).
    pub fn add_address(&self, dev: &str, net: impl Into<IpNet>) -> Result<()> {
        let net: IpNet = net.into();
        let index = self.link_index(dev)?;
        let mut m = AddressMessage::default();
        m.header.family = family_of(net.addr());
        m.header.prefix_len = net.prefix_len();
        m.header.index = index;
        let ip = net.addr();
        m.attributes.push(AddressAttribute::Local(ip));
        m.attributes.push(AddressAttribute::Address(ip));
        if let IpNet::V4(v4) = net {
            if v4.prefix_len() < 31 {
                m.attributes
                    .push(AddressAttribute::Broadcast(v4.broadcast()));
            }
        }
        self.execute(
            || format!("add address {net} to {dev}"),
            RouteNetlinkMessage::NewAddress(m),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Removes `net` (address/prefix) from link `dev`; the kernel removes the routes that
    /// needed it.
    pub fn delete_address(&self, dev: &str, net: impl Into<IpNet>) -> Result<()> {
        let net: IpNet = net.into();
        let index = self.link_index(dev)?;
        let mut m = AddressMessage::default();
        m.header.family = family_of(net.addr());
        m.header.prefix_len = net.prefix_len();
        m.header.index = index;
        // IPv6 has no IFA_LOCAL: the kernel matches on IFA_ADDRESS.
        m.attributes.push(match net {
            IpNet::V4(_) => AddressAttribute::Local(net.addr()),
            IpNet::V6(_) => AddressAttribute::Address(net.addr()),
        });
        self.execute(
            || format!("delete address {net} from {dev}"),
            RouteNetlinkMessage::DelAddress(m),
            0,
        )
    }

    /// Every IPv4 address in the namespace.
    pub fn addresses(&self) -> Result<Vec<Address>> {
        self.address_dump(AddressFamily::Inet)
    }

    /// Every IPv6 address in the namespace (link-local ones included).
    pub fn addresses6(&self) -> Result<Vec<Address>> {
        self.address_dump(AddressFamily::Inet6)
    }

    fn address_dump(&self, family: AddressFamily) -> Result<Vec<Address>> {
        let mut req = AddressMessage::default();
        req.header.family = family;
        let answers = self.dump(
            || "dump addresses".into(),
            RouteNetlinkMessage::GetAddress(req),
        )?;
        let mut out = Vec::new();
        for m in answers {
            let RouteNetlinkMessage::NewAddress(a) = m else {
                continue;
            };
            // IPv4 reports the address as IFA_LOCAL (IFA_ADDRESS is the peer's on
            // point-to-point links); IPv6 only as IFA_ADDRESS.
            let local = a.attributes.iter().find_map(|at| match at {
                AddressAttribute::Local(ip) => Some(*ip),
                _ => None,
            });
            let addr = local.or_else(|| {
                a.attributes.iter().find_map(|at| match at {
                    AddressAttribute::Address(ip) => Some(*ip),
                    _ => None,
                })
            });
            // IFA_FLAGS (32 bits) supersedes the header's 8-bit flags where present.
            let flags = a
                .attributes
                .iter()
                .find_map(|at| match at {
                    AddressAttribute::Flags(f) => Some(*f),
                    _ => None,
                })
                .unwrap_or_else(|| {
                    AddressFlags::from_bits_retain(u32::from(a.header.flags.bits()))
                });
            if let Some(ip) = addr {
                let Ok(net) = IpNet::new(ip, a.header.prefix_len) else {
                    continue;
                };
                out.push(Address {
                    index: a.header.index,
                    net,
                    tentative: flags.contains(AddressFlags::Tentative),
                    dad_failed: flags.contains(AddressFlags::Dadfailed),
                });
            }
        }
        Ok(out)
    }
}
