//! The neighbour (ARP) table and the bridge forwarding database (the article's CAM table).

use std::net::Ipv4Addr;

use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage,
    NeighbourState as NlState,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::Netlink;
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

/// An IPv4 neighbour entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbour {
    /// Interface index.
    pub index: u32,
    /// The neighbour's IP.
    pub ip: Ipv4Addr,
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
    /// The IPv4 neighbour table of the namespace.
    pub fn neighbours(&self) -> Result<Vec<Neighbour>> {
        let mut req = NeighbourMessage::default();
        req.header.family = AddressFamily::Inet;
        let answers = self.dump(
            || "dump neighbours".into(),
            RouteNetlinkMessage::GetNeighbour(req),
        )?;
        let mut out = Vec::new();
        for m in answers {
            let RouteNetlinkMessage::NewNeighbour(n) = m else {
                continue;
            };
            let ip = n.attributes.iter().find_map(|a| match a {
                NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) => Some(*ip),
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
        let mut req = NeighbourMessage::default();
        req.header.family = AddressFamily::Bridge;
        let answers = self.dump(
            || "dump bridge fdb".into(),
            RouteNetlinkMessage::GetNeighbour(req),
        )?;
        let mut out = Vec::new();
        for m in answers {
            let RouteNetlinkMessage::NewNeighbour(n) = m else {
                continue;
            };
            let Some(mac) = mac_of(&n.attributes) else {
                continue;
            };
            let master = n.attributes.iter().find_map(|a| match a {
                NeighbourAttribute::Controller(i) => Some(*i),
                _ => None,
            });
            out.push(FdbEntry {
                port: n.header.ifindex,
                master,
                mac,
                permanent: n.header.state == NlState::Permanent
                    || n.header.flags.contains(NeighbourFlags::Own) && master.is_none(),
            });
        }
        Ok(out)
    }
}
