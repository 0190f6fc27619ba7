//! The neighbour table (ARP for IPv4, NDP for IPv6) and the bridge forwarding database (the article's CAM table).

use std::net::IpAddr;

use netlink_packet_core::{NLM_F_APPEND, NLM_F_CREATE, NLM_F_REPLACE};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage,
    NeighbourState as NlState,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::{family_of, Netlink};
use crate::error::Result;

/// State of a neighbour entry (`ip neigh`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeighbourState {
    /// Resolution in progress, no answer yet.
    Incomplete,
    /// Confirmed recently.
    Reachable,
    /// Known but not confirmed recently.
    Stale,
    /// Waiting before probing.
    Delay,
    /// Being probed.
    Probe,
    /// Resolution failed.
    Failed,
    /// No ARP needed on this device.
    Noarp,
    /// Set by hand, never expires.
    Permanent,
    /// Anything else.
    Other,
}

impl NeighbourState {
    /// The name `ip neigh` prints.
    pub fn as_str(self) -> &'static str {
        match self {
            NeighbourState::Incomplete => "INCOMPLETE",
            NeighbourState::Reachable => "REACHABLE",
            NeighbourState::Stale => "STALE",
            NeighbourState::Delay => "DELAY",
            NeighbourState::Probe => "PROBE",
            NeighbourState::Failed => "FAILED",
            NeighbourState::Noarp => "NOARP",
            NeighbourState::Permanent => "PERMANENT",
            NeighbourState::Other => "OTHER",
        }
    }

    /// An entry that holds a usable MAC.
    pub fn is_resolved(self) -> bool {
        !matches!(
            self,
            NeighbourState::Incomplete | NeighbourState::Failed | NeighbourState::Other
        )
    }
}

/// A neighbour entry (ARP or NDP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbour {
    /// Interface index.
    pub index: u32,
    /// The neighbour's IP.
    pub ip: IpAddr,
    /// Its MAC, when resolved.
    pub mac: Option<[u8; 6]>,
    /// Entry state.
    pub state: NeighbourState,
}

/// A bridge forwarding database entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdbEntry {
    /// Port (interface index) the MAC was seen on.
    pub port: u32,
    /// Bridge the port belongs to, when the kernel says.
    pub master: Option<u32>,
    /// The MAC address.
    pub mac: [u8; 6],
    /// Permanent (the port's own address, or set by hand) rather than learned.
    pub permanent: bool,
    /// Remote tunnel endpoint, for VXLAN FDB entries (`dst` in `bridge fdb`).
    pub dst: Option<IpAddr>,
}

fn mac_of(attrs: &[NeighbourAttribute]) -> Option<[u8; 6]> {
    attrs.iter().find_map(|a| match a {
        NeighbourAttribute::LinkLayerAddress(b) if b.len() == 6 => {
            let mut m = [0; 6];
            m.copy_from_slice(b);
            Some(m)
        }
        _ => None,
    })
}

impl Netlink {
    /// The neighbour table of the namespace: ARP entries, then NDP entries.
    pub fn neighbours(&self) -> Result<Vec<Neighbour>> {
        let mut out = Vec::new();
        let mut answers = self.neighbour_dump(AddressFamily::Inet, "dump neighbours")?;
        answers.extend(self.neighbour_dump(AddressFamily::Inet6, "dump IPv6 neighbours")?);
        for n in answers {
            let ip = n.attributes.iter().find_map(|a| match a {
                NeighbourAttribute::Destination(d) => ip_of(d),
                _ => None,
            });
            let Some(ip) = ip else { continue };
            out.push(Neighbour {
                index: n.header.ifindex,
                ip,
                mac: mac_of(&n.attributes),
                state: match n.header.state {
                    NlState::Incomplete => NeighbourState::Incomplete,
                    NlState::Reachable => NeighbourState::Reachable,
                    NlState::Stale => NeighbourState::Stale,
                    NlState::Delay => NeighbourState::Delay,
                    NlState::Probe => NeighbourState::Probe,
                    NlState::Failed => NeighbourState::Failed,
                    NlState::Noarp => NeighbourState::Noarp,
                    NlState::Permanent => NeighbourState::Permanent,
                    _ => NeighbourState::Other,
                },
            });
        }
        Ok(out)
    }

    /// The bridge forwarding database (`bridge fdb show`), learned and permanent entries.
    pub fn fdb(&self) -> Result<Vec<FdbEntry>> {
        let mut out = Vec::new();
        for n in self.neighbour_dump(AddressFamily::Bridge, "dump bridge fdb")? {
            let Some(mac) = mac_of(&n.attributes) else {
                continue;
            };
            let master = n.attributes.iter().find_map(|a| match a {
                NeighbourAttribute::Controller(i) => Some(*i),
                _ => None,
            });
            // AF_BRIDGE dumps carry NDA_DST as raw bytes, not as an address of a family.
            let dst = n.attributes.iter().find_map(|a| match a {
                NeighbourAttribute::Destination(NeighbourAddress::Other(b)) => match b.len() {
                    4 => Some(IpAddr::from(<[u8; 4]>::try_from(&b[..]).ok()?)),
                    16 => Some(IpAddr::from(<[u8; 16]>::try_from(&b[..]).ok()?)),
                    _ => None,
                },
                NeighbourAttribute::Destination(d) => ip_of(d),
                _ => None,
            });
            out.push(FdbEntry {
                dst,
                port: n.header.ifindex,
                master,
                mac,
                permanent: n.header.state == NlState::Permanent
                    || n.header.flags.contains(NeighbourFlags::Own) && master.is_none(),
            });
        }
        Ok(out)
    }

    /// Adds a permanent neighbour entry (`ip neigh add IP lladdr MAC dev DEV nud
    /// permanent`), as an overlay's control plane does for remote VTEPs.
    pub fn add_neighbour(&self, dev: &str, ip: impl Into<IpAddr>, mac: [u8; 6]) -> Result<()> {
        let ip: IpAddr = ip.into();
        let mut m = NeighbourMessage::default();
        m.header.family = family_of(ip);
        m.header.ifindex = self.link_index(dev)?;
        m.header.state = NlState::Permanent;
        m.attributes
            .push(NeighbourAttribute::Destination(address(ip)));
        m.attributes
            .push(NeighbourAttribute::LinkLayerAddress(mac.to_vec()));
        self.execute(
            || {
                format!(
                    "add neighbour {ip} lladdr {} dev {dev}",
                    super::format_mac(&mac)
                )
            },
            RouteNetlinkMessage::NewNeighbour(m),
            NLM_F_CREATE | NLM_F_REPLACE,
        )
    }

    /// Appends a forwarding entry to a VXLAN device's FDB: frames for `mac` go to remote VTEP
    /// `dst` (`bridge fdb append MAC dev DEV dst IP self permanent`). NLM_F_APPEND, not EXCL,
    /// so several entries for one MAC (the all-zero flood entry) can coexist.
    pub fn append_fdb(&self, dev: &str, mac: [u8; 6], dst: impl Into<IpAddr>) -> Result<()> {
        let dst: IpAddr = dst.into();
        let mut m = NeighbourMessage::default();
        m.header.family = AddressFamily::Bridge;
        m.header.ifindex = self.link_index(dev)?;
        m.header.state = NlState::Permanent;
        m.header.flags = NeighbourFlags::Own;
        m.attributes
            .push(NeighbourAttribute::LinkLayerAddress(mac.to_vec()));
        m.attributes
            .push(NeighbourAttribute::Destination(address(dst)));
        self.execute(
            || format!("append fdb {} dst {dst} dev {dev}", super::format_mac(&mac)),
            RouteNetlinkMessage::NewNeighbour(m),
            NLM_F_CREATE | NLM_F_APPEND,
        )
    }

    /// Deletes a VXLAN FDB entry (`bridge fdb del MAC dev DEV dst IP self`); already gone is
    /// success.
    pub fn delete_fdb(&self, dev: &str, mac: [u8; 6], dst: impl Into<IpAddr>) -> Result<()> {
        let dst: IpAddr = dst.into();
        let mut m = NeighbourMessage::default();
        m.header.family = AddressFamily::Bridge;
        m.header.ifindex = self.link_index(dev)?;
        m.header.flags = NeighbourFlags::Own;
        m.attributes
            .push(NeighbourAttribute::LinkLayerAddress(mac.to_vec()));
        m.attributes
            .push(NeighbourAttribute::Destination(address(dst)));
        match self.execute(
            || format!("delete fdb {} dst {dst} dev {dev}", super::format_mac(&mac)),
            RouteNetlinkMessage::DelNeighbour(m),
            0,
        ) {
            Err(crate::HarnessError::Netlink { source, .. })
                if source.raw_os_error() == Some(libc::ENOENT) =>
            {
                Ok(())
            }
            other => other,
        }
    }

    /// Deletes the neighbour entry for `ip` on `dev` (`ip neigh del IP dev DEV`);
    /// already gone is success.
    pub fn delete_neighbour(&self, dev: &str, ip: impl Into<IpAddr>) -> Result<()> {
        let ip: IpAddr = ip.into();
        let mut m = NeighbourMessage::default();
        m.header.family = family_of(ip);
        m.header.ifindex = self.link_index(dev)?;
        m.attributes
            .push(NeighbourAttribute::Destination(address(ip)));
        match self.execute(
            || format!("delete neighbour {ip} dev {dev}"),
            RouteNetlinkMessage::DelNeighbour(m),
            0,
        ) {
            Err(crate::HarnessError::Netlink { source, .. })
                if source.raw_os_error() == Some(libc::ENOENT) =>
            {
                Ok(())
            }
            other => other,
        }
    }

    /// Dumps the neighbour messages of one family (`Inet`: ARP; `Bridge`: the FDB).
    fn neighbour_dump(
        &self,
        family: AddressFamily,
        op: &'static str,
    ) -> Result<Vec<NeighbourMessage>> {
        let mut req = NeighbourMessage::default();
        req.header.family = family;
        let answers = self.dump(|| op.into(), RouteNetlinkMessage::GetNeighbour(req))?;
        Ok(answers
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewNeighbour(n) => Some(n),
                _ => None,
            })
            .collect())
    }
}

fn address(ip: IpAddr) -> NeighbourAddress {
    match ip {
        IpAddr::V4(v4) => NeighbourAddress::Inet(v4),
        IpAddr::V6(v6) => NeighbourAddress::Inet6(v6),
    }
}

fn ip_of(a: &NeighbourAddress) -> Option<IpAddr> {
    match a {
        NeighbourAddress::Inet(ip) => Some(IpAddr::V4(*ip)),
        NeighbourAddress::Inet6(ip) => Some(IpAddr::V6(*ip)),
        _ => None,
    }
}
