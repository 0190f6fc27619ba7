//! Tunnel devices: kernel VXLAN and IP-in-IP.

use std::net::{IpAddr, Ipv4Addr};

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::link::{
    InfoData, InfoIpTunnel, InfoKind, InfoVxlan, LinkAttribute, LinkInfo, LinkMessage,
};
use netlink_packet_route::RouteNetlinkMessage;

use super::Netlink;
use crate::error::Result;

/// A kernel VXLAN device, as flannel's `flannel.1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VxlanSpec {
    /// Device name.
    pub name: String,
    /// VXLAN network identifier.
    pub vni: u32,
    /// Local VTEP address (the node's underlay IP).
    pub local: Ipv4Addr,
    /// Underlay device the encapsulated packets leave by.
    pub underlay_dev: String,
    /// UDP destination port (8472 for flannel, 4789 for IANA).
    pub port: u16,
    /// MTU in bytes (underlay − 50).
    pub mtu: u32,
    /// MAC of the VTEP (fixed, so the control plane can program it on the other nodes).
    pub mac: [u8; 6],
}

impl Netlink {
    /// Creates a VXLAN device without learning: its FDB and neighbour entries are programmed
    /// by the control plane, as flannel does.
    pub fn create_vxlan(&self, v: &VxlanSpec) -> Result<()> {
        let link = self.link_index(&v.underlay_dev)?;
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(v.name.clone()));
        m.attributes.push(LinkAttribute::Mtu(v.mtu));
        m.attributes.push(LinkAttribute::Address(v.mac.to_vec()));
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Vxlan),
            LinkInfo::Data(InfoData::Vxlan(vec![
                InfoVxlan::Id(v.vni),
                InfoVxlan::Local(v.local),
                InfoVxlan::Link(link),
                InfoVxlan::Port(v.port),
                InfoVxlan::Learning(false),
            ])),
        ]));
        self.execute(
            || format!("create vxlan {} (vni {}, port {})", v.name, v.vni, v.port),
            RouteNetlinkMessage::NewLink(m),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Creates an IP-in-IP device (`ipip`, IP protocol 4) bound to `underlay_dev`, with no
    /// fixed remote: routes name the remote through their gateway, as Calico's `tunl0`.
    /// Fails with EOPNOTSUPP on kernels without the ipip module.
    pub fn create_ipip(
        &self,
        name: &str,
        local: Ipv4Addr,
        underlay_dev: &str,
        mtu: u32,
    ) -> Result<()> {
        let link = self.link_index(underlay_dev)?;
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        m.attributes.push(LinkAttribute::Mtu(mtu));
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::IpIp),
            LinkInfo::Data(InfoData::IpTunnel(vec![
                InfoIpTunnel::Link(link),
                InfoIpTunnel::Local(IpAddr::V4(local)),
                InfoIpTunnel::PMtuDisc(true),
            ])),
        ]));
        self.execute(
            || format!("create ipip {name}"),
            RouteNetlinkMessage::NewLink(m),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }
}
