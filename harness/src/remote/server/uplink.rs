//! What a node on a machine that is not the node's alone needs of that machine's network
//! (the SSH substrate): an uplink of the machine's interface into the node's namespace, an
//! ARP probe before the node takes an address there, and the preflight facts a harness
//! checks before it builds anything.

use std::time::Duration;

use super::session::{err, CallResult, Session};
use crate::netlink::{format_mac, Netlink, UplinkKind};
use crate::netns::Netns;
use crate::remote::protocol::{HostFacts, IfaceFacts, Reply, PROTOCOL_VERSION};

/// Longest ARP probe the agent runs, ms: a probe holds a call thread.
const MAX_ARP_WAIT_MS: u64 = 10_000;

impl Session {
    /// [`crate::remote::protocol::Call::Uplink`].
    pub(super) fn uplink(
        &self,
        netns: &str,
        parent: &str,
        kind: UplinkKind,
        name: &str,
    ) -> CallResult {
        // The node's own namespace or a pod's: never the machine's (it is not one of the
        // session's).
        let ns = self.ns(netns)?;
        if name.is_empty() || name.len() > 15 || name.contains('/') {
            return Err(err(format!("{name:?}: not an interface name")));
        }
        let here = Netns::current("the machine's own namespace").map_err(err)?;
        let nl = Netlink::open(&here).map_err(err)?;
        if nl.link(parent).is_err() {
            return Err(err(format!(
                "this machine has no interface {parent}: name the one that carries the \
                 underlay (`ip -br link` on it)"
            )));
        }
        nl.create_uplink(parent, name, kind, ns.fd()).map_err(err)?;
        Ok(Reply::Done)
    }

    /// [`crate::remote::protocol::Call::ArpProbe`].
    pub(super) fn arp_probe(
        &self,
        netns: &str,
        dev: &str,
        addr: std::net::Ipv4Addr,
        wait_ms: u64,
    ) -> CallResult {
        let ns = self.ns(netns)?;
        let link = self.netlink(netns)?.link(dev).map_err(err)?;
        let mac = link
            .mac
            .ok_or_else(|| err(format!("{dev} has no MAC to probe from")))?;
        let wait = Duration::from_millis(wait_ms.min(MAX_ARP_WAIT_MS));
        let by = crate::probe::arp::arp_probe(&ns, link.index, mac, addr, wait).map_err(err)?;
        Ok(Reply::Claimed(by.map(|m| format_mac(&m))))
    }
}

/// The facts `cnbench agent --preflight [IFACE]` prints: who it runs as, its versions, what
/// its kernel can create, and the interface `iface` of this machine's own namespace.
pub fn preflight(iface: Option<&str>) -> HostFacts {
    let euid = nix::unistd::geteuid().as_raw();
    let kinds: Vec<&str> = crate::netlink::CREATED_KINDS
        .iter()
        .copied()
        .chain(["macvlan", "ipvlan"])
        .collect();
    let link_kinds = if euid == 0 {
        super::kinds_here(&kinds)
    } else {
        Vec::new()
    };
    HostFacts {
        protocol: PROTOCOL_VERSION,
        cnbench: env!("CARGO_PKG_VERSION").to_string(),
        euid,
        kernel_release: nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default(),
        link_kinds,
        iface: iface.map(iface_facts),
    }
}

/// An interface of this machine's own namespace, read without changing anything.
fn iface_facts(name: &str) -> IfaceFacts {
    let missing = IfaceFacts {
        name: name.to_string(),
        exists: false,
        up: false,
        mtu_bytes: 0,
        kind: String::new(),
        ipv4: Vec::new(),
    };
    let Ok(nl) = Netns::current("here").and_then(|ns| Netlink::open(&ns)) else {
        return missing;
    };
    let Ok(link) = nl.link(name) else {
        return missing;
    };
    let ipv4 = nl
        .addresses()
        .map(|all| {
            all.into_iter()
                .filter(|a| a.index == link.index)
                .map(|a| a.net.to_string())
                .collect()
        })
        .unwrap_or_default();
    IfaceFacts {
        name: name.to_string(),
        exists: true,
        up: link.up && link.oper_up,
        mtu_bytes: link.mtu_bytes,
        kind: link.kind.as_str().to_string(),
        ipv4,
    }
}
