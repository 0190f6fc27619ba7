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
    /// Local VTEP address (the node's underlay IP), of either family: an IPv6 one makes the
    /// kernel send from an IPv6 socket (`IFLA_VXLAN_LOCAL6`, RFC 7348 §5 allows either outer
    /// IP version), 70 bytes of wrapping instead of 50.
    pub local: IpAddr,
    /// Underlay device the encapsulated packets leave by.
    pub underlay_dev: String,
    /// UDP destination port (8472 for flannel, 4789 for IANA).
    pub port: u16,
    /// MTU in bytes (underlay − 50 over IPv4, − 70 over IPv6).
    pub mtu: u32,
    /// MAC of the VTEP (fixed, so the control plane can program it on the other nodes).
    pub mac: [u8; 6],
}

impl Netlink {
    /// Creates a VXLAN device without learning: its FDB and neighbour entries are programmed
    /// by the control plane, as flannel does. The local address's family is the device's:
    /// its FDB destinations must be of that family, and the kernel lets an IPv4 and an IPv6
    /// device share a VNI and port (`vxlan_config_validate` compares the IPv6 flag).
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
                match v.local {
                    IpAddr::V4(a) => InfoVxlan::Local(a),
                    IpAddr::V6(a) => InfoVxlan::Local6(a),
                },
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
