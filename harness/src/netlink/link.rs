//! Links: veth pairs across namespaces, bridges, state, MTU, master; link dumps.

use std::os::fd::AsRawFd;

use netlink_packet_core::{NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST};
use netlink_packet_route::link::{
    InfoData, InfoIpVlan, InfoKind, InfoMacVlan, InfoVeth, IpVlanMode, LinkAttribute, LinkFlags,
    LinkInfo, LinkMessage, MacVlanMode, State,
};
use netlink_packet_route::RouteNetlinkMessage;
use serde::{Deserialize, Serialize};

use super::{Netlink, PeerNetns};
use crate::error::{HarnessError, Result};

/// The kind of a link, as the kernel names it (`IFLA_INFO_KIND`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkKind {
    /// A veth end.
    Veth,
    /// A Linux bridge.
    Bridge,
    /// A VXLAN device.
    Vxlan,
    /// A TUN/TAP device.
    Tun,
    /// Loopback and other devices without a kind.
    Other(String),
}

/// The link kinds this layer creates: veth pairs, bridges, VXLAN and IP-in-IP devices
/// (netlink) and TUN devices (an ioctl on `/dev/net/tun`, made by their owners). Each kind's
/// kernel module has the kind's name.
pub const CREATED_KINDS: [&str; 5] = ["veth", "bridge", "vxlan", "ipip", "tun"];

impl LinkKind {
    /// The kernel's name for the kind.
    pub fn as_str(&self) -> &str {
        match self {
            LinkKind::Veth => "veth",
            LinkKind::Bridge => "bridge",
            LinkKind::Vxlan => "vxlan",
            LinkKind::Tun => "tun",
            // A device with no IFLA_INFO_KIND: a real or virtual NIC's driver made it.
            LinkKind::Other(s) if s.is_empty() => "device",
            LinkKind::Other(s) => s,
        }
    }
}

/// The kind of link that joins a node namespace to a network cnbench does not own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UplinkKind {
    /// A macvlan in bridge mode: its own MAC on the wire.
    #[default]
    Macvlan,
    /// An ipvlan in L2 mode: the parent's MAC, for networks that drop unknown MACs (cloud
    /// VPCs).
    Ipvlan,
}

impl UplinkKind {
    /// The kernel's name for the kind (and the CLI's).
    pub fn as_str(self) -> &'static str {
        match self {
            UplinkKind::Macvlan => "macvlan",
            UplinkKind::Ipvlan => "ipvlan",
        }
    }
}

impl std::str::FromStr for UplinkKind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<UplinkKind, String> {
        match s {
            "macvlan" => Ok(UplinkKind::Macvlan),
            "ipvlan" => Ok(UplinkKind::Ipvlan),
            _ => Err(format!("node link {s:?}: use macvlan or ipvlan")),
        }
    }
}

/// A link as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Interface index in its namespace.
    pub index: u32,
    /// Interface name.
    pub name: String,
    /// Device kind.
    pub kind: LinkKind,
    /// Hardware address, if it has one.
    pub mac: Option<[u8; 6]>,
    /// MTU in bytes.
    pub mtu_bytes: u32,
    /// Index of the bridge it is a port of.
    pub master: Option<u32>,
    /// Administratively up.
    pub up: bool,
    /// Operationally able to carry packets (`IFLA_OPERSTATE` up, or unknown for devices
    /// that do not report it, such as tunnels).
    pub oper_up: bool,
    /// Packets received since the device was created.
    pub rx_packets: u64,
    /// Packets sent since the device was created.
    pub tx_packets: u64,
    /// Bytes received since the device was created.
    pub rx_bytes: u64,
    /// Bytes sent since the device was created.
    pub tx_bytes: u64,
}

fn named(name: &str) -> LinkMessage {
    let mut m = LinkMessage::default();
    m.attributes.push(LinkAttribute::IfName(name.to_string()));
    m
}

/// Calls `f` on every namespace attribute (`IFLA_NET_NS_FD`, `IFLA_NET_NS_PID`) of a link
/// request, its veth peer's included.
fn visit_netns_attrs(msg: &mut RouteNetlinkMessage, f: &mut dyn FnMut(&mut LinkAttribute)) {
    fn walk(attrs: &mut [LinkAttribute], f: &mut dyn FnMut(&mut LinkAttribute)) {
        for a in attrs {
            match a {
                LinkAttribute::NetNsFd(_) | LinkAttribute::NetNsPid(_) => f(a),
                LinkAttribute::LinkInfo(infos) => {
                    for i in infos {
                        if let LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(p))) = i {
                            walk(&mut p.attributes, f);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    if let RouteNetlinkMessage::NewLink(m) | RouteNetlinkMessage::SetLink(m) = msg {
        walk(&mut m.attributes, f);
    }
}

/// Puts `fd` into every `IFLA_NET_NS_FD` of a link request, its veth peer's included: the
/// fd of a namespace that was named, not opened, when the request was built.
pub(crate) fn set_peer_netns_fd(msg: &mut RouteNetlinkMessage, fd: i32) {
    visit_netns_attrs(msg, &mut |a| {
        if let LinkAttribute::NetNsFd(x) = a {
            *x = fd;
        }
    });
}

/// Whether a link request names a namespace by pid (`IFLA_NET_NS_PID`).
pub(crate) fn names_netns_by_pid(msg: &mut RouteNetlinkMessage) -> bool {
    let mut found = false;
    visit_netns_attrs(msg, &mut |a| {
        found |= matches!(a, LinkAttribute::NetNsPid(_));
    });
    found
}

/// Whether a link request names a namespace by fd or pid: numbers that mean something
/// only on the machine that built the request.
pub(crate) fn names_netns(msg: &mut RouteNetlinkMessage) -> bool {
    let mut found = false;
    visit_netns_attrs(msg, &mut |_| found = true);
    found
}

/// The attributes both ends of a veth are born with: `mtu`, and one transmit and one receive
/// queue. Without the queue counts veth allocates one queue per possible CPU and then, once
/// the device is registered, cuts the real number down to one (`veth_init_queues`); cutting
/// the queues of a registered device waits for an RCU grace period under the RTNL lock
/// (`netif_set_real_num_tx_queues` calls `synchronize_net`), once per end. The device ends up
/// the same (one real queue each way, as a runtime's veth), born so instead of cut down.
fn one_queue_each_way(mtu: u32) -> [LinkAttribute; 3] {
    [
        LinkAttribute::Mtu(mtu),
        LinkAttribute::NumTxQueues(1),
        LinkAttribute::NumRxQueues(1),
    ]
}

impl Netlink {
    /// Creates a veth pair: `name` here, `peer` born directly in `peer_netns` (or here when
    /// `None`), so no end ever exists in the root namespace. Both ends get `mtu`.
    pub fn create_veth(
        &self,
        name: &str,
        peer: &str,
        peer_netns: Option<PeerNetns<'_>>,
        mtu: u32,
    ) -> Result<()> {
        let mut peer_msg = named(peer);
        peer_msg.attributes.extend(one_queue_each_way(mtu));
        let mut peer_name = None;
        match peer_netns {
            Some(PeerNetns::Fd(fd)) => peer_msg
                .attributes
                .push(LinkAttribute::NetNsFd(fd.as_raw_fd())),
            Some(PeerNetns::Named(name)) => {
                // A placeholder, replaced by an fd where the request runs.
                peer_msg.attributes.push(LinkAttribute::NetNsFd(-1));
                peer_name = Some(name);
            }
            None => {}
        }
        let mut m = named(name);
        m.attributes.extend(one_queue_each_way(mtu));
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_msg))),
        ]));
        self.execute_with_peer(
            || format!("create veth {name} <-> {peer}"),
            RouteNetlinkMessage::NewLink(m),
            NLM_F_CREATE | NLM_F_EXCL,
            peer_name,
        )
    }

    /// Creates a bridge with a fixed MAC (a bridge without one takes the lowest MAC of its
    /// ports and changes as ports come and go) and the given MTU.
    pub fn create_bridge(&self, name: &str, mac: [u8; 6], mtu: u32) -> Result<()> {
        let mut m = named(name);
        m.attributes.push(LinkAttribute::Mtu(mtu));
        m.attributes.push(LinkAttribute::Address(mac.to_vec()));
        m.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        self.execute(
            || format!("create bridge {name}"),
            RouteNetlinkMessage::NewLink(m),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Creates `name`, a macvlan (bridge mode) or an ipvlan (L2 mode) of `parent` (a link of
    /// this namespace), born directly in the namespace `into`: the node's uplink onto a
    /// network cnbench does not own. The new link never exists here, and `parent` is not
    /// changed (a macvlan or ipvlan adds itself to its parent's receive path, nothing
    /// else), so this namespace gains nothing.
    pub fn create_uplink(
        &self,
        parent: &str,
        name: &str,
        kind: UplinkKind,
        into: std::os::fd::BorrowedFd<'_>,
    ) -> Result<()> {
        let parent_index = self.link_index(parent)?;
        let mut m = named(name);
        m.attributes.push(LinkAttribute::Link(parent_index));
        m.attributes.push(LinkAttribute::NetNsFd(into.as_raw_fd()));
        let info = match kind {
            // Bridge mode: the node reaches other macvlans of the same parent (other nodes
            // sharing a host) as well as the wire.
            UplinkKind::Macvlan => vec![
                LinkInfo::Kind(InfoKind::MacVlan),
                LinkInfo::Data(InfoData::MacVlan(vec![InfoMacVlan::Mode(
                    MacVlanMode::Bridge,
                )])),
            ],
            // L2 mode: the node shares its parent's MAC (a network that drops unknown MACs
            // lets it through) and still does its own ARP and neighbour discovery.
            UplinkKind::Ipvlan => vec![
                LinkInfo::Kind(InfoKind::IpVlan),
                LinkInfo::Data(InfoData::IpVlan(vec![InfoIpVlan::Mode(IpVlanMode::L2)])),
            ],
        };
        m.attributes.push(LinkAttribute::LinkInfo(info));
        self.execute(
            || format!("create {} {name} of {parent}", kind.as_str()),
            RouteNetlinkMessage::NewLink(m),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Creates a link of an arbitrary kind with no parameters (used to probe kernel support).
    pub fn create_plain(&self, name: &str, kind: &str) -> Result<()> {
        let mut m = named(name);
        m.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Other(kind.to_string()),
            )]));
        self.execute(
            || format!("create {kind} device {name}"),
            RouteNetlinkMessage::NewLink(m),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Deletes a link; a link that is already gone is success.
    pub fn delete_link(&self, name: &str) -> Result<()> {
        match self.execute(
            || format!("delete link {name}"),
            RouteNetlinkMessage::DelLink(named(name)),
            0,
        ) {
            Err(HarnessError::Netlink { source, .. })
                if source.raw_os_error() == Some(libc::ENODEV) =>
            {
                Ok(())
            }
            other => other,
        }
    }

    /// Sets a link administratively up.
    pub fn set_up(&self, name: &str) -> Result<()> {
        let mut m = named(name);
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        self.execute(
            || format!("set {name} up"),
            RouteNetlinkMessage::SetLink(m),
            0,
        )
    }

    /// Sets a link administratively down (`ip link set DEV down`).
    pub fn set_down(&self, name: &str) -> Result<()> {
        let mut m = named(name);
        m.header.change_mask = LinkFlags::Up;
        self.execute(
            || format!("set {name} down"),
            RouteNetlinkMessage::SetLink(m),
            0,
        )
    }

    /// Sets a link's MTU.
    pub fn set_mtu(&self, name: &str, mtu: u32) -> Result<()> {
        let mut m = named(name);
        m.attributes.push(LinkAttribute::Mtu(mtu));
        self.execute(
            || format!("set {name} mtu {mtu}"),
            RouteNetlinkMessage::SetLink(m),
            0,
        )
    }

    /// Sets a link's MAC address.
    pub fn set_mac(&self, name: &str, mac: [u8; 6]) -> Result<()> {
        let mut m = named(name);
        m.attributes.push(LinkAttribute::Address(mac.to_vec()));
        self.execute(
            || format!("set {name} address {}", format_mac(&mac)),
            RouteNetlinkMessage::SetLink(m),
            0,
        )
    }

    /// Makes `name` a port of bridge `master`.
    pub fn set_master(&self, name: &str, master: &str) -> Result<()> {
        let index = self.link_index(master)?;
        let mut m = named(name);
        m.attributes.push(LinkAttribute::Controller(index));
        self.execute(
            || format!("attach {name} to bridge {master}"),
            RouteNetlinkMessage::SetLink(m),
            0,
        )
    }

    /// The index of the link called `name`.
    pub fn link_index(&self, name: &str) -> Result<u32> {
        self.link(name).map(|l| l.index)
    }

    /// The link called `name`: one `RTM_GETLINK` by name, which the kernel answers with that
    /// link alone (a dump of every link would cost in proportion to the links there are: a
    /// node with hundreds of pods has hundreds of veths).
    pub fn link(&self, name: &str) -> Result<Link> {
        let op = || format!("find link {name}");
        let answers = self
            .exchange(
                RouteNetlinkMessage::GetLink(named(name)),
                NLM_F_REQUEST | NLM_F_ACK,
                None,
            )
            .map_err(|e| self.error(op(), e))?;
        answers
            .iter()
            .find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(parse_link(l)),
                _ => None,
            })
            .filter(|l| l.name == name)
            .ok_or_else(|| HarnessError::Netlink {
                netns: self.netns().to_string(),
                op: op(),
                source: std::io::Error::from_raw_os_error(libc::ENODEV),
                hint: "; no such device in this namespace".into(),
            })
    }

    /// Every link in the namespace.
    pub fn links(&self) -> Result<Vec<Link>> {
        let answers = self.dump(
            || "dump links".into(),
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
        )?;
        Ok(answers
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(parse_link(&l)),
                _ => None,
            })
            .collect())
    }
}

fn parse_link(m: &LinkMessage) -> Link {
    let mut link = Link {
        index: m.header.index,
        name: String::new(),
        kind: LinkKind::Other(String::new()),
        mac: None,
        mtu_bytes: 0,
        master: None,
        up: m.header.flags.contains(LinkFlags::Up),
        oper_up: false,
        rx_packets: 0,
        tx_packets: 0,
        rx_bytes: 0,
        tx_bytes: 0,
    };
    for a in &m.attributes {
        match a {
            LinkAttribute::IfName(n) => link.name = n.clone(),
            LinkAttribute::Mtu(v) => link.mtu_bytes = *v,
            LinkAttribute::Controller(i) => link.master = Some(*i),
            LinkAttribute::OperState(st) => {
                link.oper_up = matches!(st, State::Up | State::Unknown);
            }
            LinkAttribute::Stats64(st) => {
                link.rx_packets = st.rx_packets;
                link.tx_packets = st.tx_packets;
                link.rx_bytes = st.rx_bytes;
                link.tx_bytes = st.tx_bytes;
            }
            LinkAttribute::Address(b) if b.len() == 6 => {
                let mut mac = [0; 6];
                mac.copy_from_slice(b);
                link.mac = Some(mac);
            }
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    if let LinkInfo::Kind(k) = i {
                        link.kind = match k {
                            InfoKind::Veth => LinkKind::Veth,
                            InfoKind::Bridge => LinkKind::Bridge,
                            InfoKind::Vxlan => LinkKind::Vxlan,
                            InfoKind::Tun => LinkKind::Tun,
                            other => LinkKind::Other(other.to_string()),
                        };
                    }
                }
            }
            _ => {}
        }
    }
    link
}

/// The name of the link with `index` among `links`, or `if<index>` when it is not there.
pub fn link_name(links: &[Link], index: u32) -> String {
    links
        .iter()
        .find(|l| l.index == index)
        .map(|l| l.name.clone())
        .unwrap_or_else(|| format!("if{index}"))
}

/// Formats a MAC the way `ip link` does (`aa:bb:cc:dd:ee:ff`).
pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}
