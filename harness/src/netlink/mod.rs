//! A thin, synchronous, typed layer over rtnetlink messages (`netlink-packet-route`).
//!
//! Why not the async `rtnetlink` crate: every request the harness makes is a short
//! request/acknowledge exchange done in order, and the netlink socket has to be created inside
//! a namespace on a thread of its own anyway (see [`crate::netns`]). A blocking socket used
//! from the caller's thread needs no runtime, keeps namespace entry off shared worker threads
//! by construction, and lets us build the few requests `rtnetlink`'s builders cannot express
//! (a veth whose peer is born in another namespace, an appended VXLAN flood entry) with the
//! same code as the rest.

mod addr;
mod link;
mod neigh;
mod route;
mod tunnel;

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::{Arc, Mutex};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use crate::error::{errno_hint, HarnessError, Result};
use crate::netns::Netns;

pub use addr::Address;
pub use link::{format_mac, link_name, Link, LinkKind, UplinkKind, CREATED_KINDS};
pub(crate) use link::{names_netns, names_netns_by_pid, set_peer_netns_fd};
pub use neigh::{FdbEntry, Neighbour, NeighbourState};
pub use route::{KernelRoute, RouteProto, RouteScope, RouteSpec};
pub use tunnel::VxlanSpec;

/// A netlink socket bound to one namespace, with typed verbs for the objects cnbench needs.
///
/// The socket is either here (a namespace of this machine) or on a node agent's machine
/// ([`Netlink::remote`]): the verbs build the same messages either way, and a remote request
/// travels as the kernel's own wire format, so every verb works on every substrate.
pub struct Netlink {
    netns: String,
    transport: Transport,
}

enum Transport {
    Local(Mutex<Inner>),
    Remote(Arc<dyn Relay>),
}

/// Something that runs rtnetlink requests in a namespace of another machine: a node agent's
/// session ([`crate::remote::AgentClient`]). Answers and refusals come back as a local socket
/// would give them (the kernel's errno as the OS error), so every verb behaves the same on
/// every substrate.
pub trait Relay: Send + Sync {
    /// Runs `msg` (with `flags`) in `netns`; `peer` names the namespace a link request's
    /// `IFLA_NET_NS_FD` stands for, resolved where the request runs.
    fn netlink(
        &self,
        netns: &str,
        msg: RouteNetlinkMessage,
        flags: u16,
        peer: Option<&str>,
    ) -> io::Result<Vec<RouteNetlinkMessage>>;
}

/// Where the far end of a new veth pair is born.
#[derive(Debug, Clone, Copy)]
pub enum PeerNetns<'a> {
    /// A namespace of this machine, by an open fd.
    Fd(BorrowedFd<'a>),
    /// A namespace by name, resolved where the request runs (on a node agent's machine,
    /// where an fd number of the harness would mean nothing).
    Named(&'a str),
}

struct Inner {
    socket: Socket,
    seq: u32,
    buf: Vec<u8>,
}

/// A whole netlink message (header with `flags`, then `msg`), as it goes on the wire.
pub(crate) fn encode_message(msg: RouteNetlinkMessage, flags: u16) -> Vec<u8> {
    let mut header = NetlinkHeader::default();
    header.flags = flags;
    let mut m = NetlinkMessage::new(header, NetlinkPayload::from(msg));
    m.finalize();
    let mut out = vec![0; m.buffer_len()];
    m.serialize(&mut out);
    out
}

/// The inverse of [`encode_message`]: the payload and the header's flags.
pub(crate) fn decode_message(bytes: &[u8]) -> io::Result<(RouteNetlinkMessage, u16)> {
    let m = NetlinkMessage::<RouteNetlinkMessage>::deserialize(bytes)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    match m.payload {
        NetlinkPayload::InnerMessage(inner) => Ok((inner, m.header.flags)),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not an rtnetlink request",
        )),
    }
}

impl Transport {
    fn local(socket: Socket) -> Transport {
        Transport::Local(Mutex::new(Inner {
            socket,
            seq: 0,
            buf: vec![0; 64 * 1024],
        }))
    }
}

impl std::fmt::Debug for Netlink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Netlink")
            .field("netns", &self.netns)
            .finish()
    }
}

impl Netlink {
    /// Opens a netlink socket inside `netns` (on a thread that entered it).
    pub fn open(netns: &Netns) -> Result<Netlink> {
        let socket = netns
            .run_in(|| -> io::Result<Socket> {
                let mut s = Socket::new(NETLINK_ROUTE)?;
                s.bind_auto()?;
                s.connect(&SocketAddr::new(0, 0))?;
                Ok(s)
            })?
            .map_err(|source| HarnessError::Netns {
                name: netns.name().to_string(),
                op: "open netlink socket",
                source,
            })?;
        Ok(Netlink {
            netns: netns.name().to_string(),
            transport: Transport::local(socket),
        })
    }

    /// A netlink handle for namespace `netns` on another machine: every request is relayed
    /// (by a node agent's session).
    pub fn remote(netns: &str, relay: Arc<dyn Relay>) -> Netlink {
        Netlink {
            netns: netns.to_string(),
            transport: Transport::Remote(relay),
        }
    }

    /// Opens a netlink socket in the calling process's own namespace (for a daemon that
    /// was started inside its node).
    pub fn open_current(label: &str) -> Result<Netlink> {
        let open = || -> io::Result<Socket> {
            let mut s = Socket::new(NETLINK_ROUTE)?;
            s.bind_auto()?;
            s.connect(&SocketAddr::new(0, 0))?;
            Ok(s)
        };
        let socket = open().map_err(|source| HarnessError::Netns {
            name: label.to_string(),
            op: "open netlink socket",
            source,
        })?;
        Ok(Netlink {
            netns: label.to_string(),
            transport: Transport::local(socket),
        })
    }

    /// The namespace this socket acts in.
    pub fn netns(&self) -> &str {
        &self.netns
    }

    /// Sends a request that changes state and waits for the kernel's acknowledgement.
    pub(crate) fn execute(
        &self,
        op: impl FnOnce() -> String,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<()> {
        self.exchange(msg, NLM_F_REQUEST | NLM_F_ACK | flags, None)
            .map(|_| ())
            .map_err(|e| self.error(op(), e))
    }

    /// [`Netlink::execute`] for a link request whose `IFLA_NET_NS_FD` stands for the
    /// namespace `peer` (resolved where the request runs).
    pub(crate) fn execute_with_peer(
        &self,
        op: impl FnOnce() -> String,
        msg: RouteNetlinkMessage,
        flags: u16,
        peer: Option<&str>,
    ) -> Result<()> {
        self.exchange(msg, NLM_F_REQUEST | NLM_F_ACK | flags, peer)
            .map(|_| ())
            .map_err(|e| self.error(op(), e))
    }

    /// Runs a request received from a harness as it is (the node agent's side of a relayed
    /// request; the agent has put its own fd into any namespace attribute).
    pub fn relay(
        &self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        self.exchange(msg, flags, None)
    }

    /// Sends a dump request and returns every message of the answer.
    pub(crate) fn dump(
        &self,
        op: impl FnOnce() -> String,
        msg: RouteNetlinkMessage,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        self.exchange(msg, NLM_F_REQUEST | NLM_F_DUMP, None)
            .map_err(|e| self.error(op(), e))
    }

    fn error(&self, op: String, source: io::Error) -> HarnessError {
        let hint = source
            .raw_os_error()
            .map(|errno| errno_hint(errno, &op))
            .unwrap_or_default();
        HarnessError::Netlink {
            netns: self.netns.clone(),
            op,
            source,
            hint,
        }
    }

    fn exchange(
        &self,
        mut msg: RouteNetlinkMessage,
        flags: u16,
        peer: Option<&str>,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        let inner = match &self.transport {
            Transport::Remote(relay) => return relay.netlink(&self.netns, msg, flags, peer),
            Transport::Local(inner) => inner,
        };
        // The named peer namespace is opened for as long as the request takes.
        let _peer = match peer {
            Some(name) => {
                let ns = Netns::open(name).map_err(io::Error::other)?;
                link::set_peer_netns_fd(&mut msg, ns.fd().as_raw_fd());
                Some(ns)
            }
            None => None,
        };
        let mut inner = inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.seq = inner.seq.wrapping_add(1);
        let seq = inner.seq;
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        header.sequence_number = seq;
        let mut request = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        request.finalize();
        let mut out = vec![0; request.buffer_len()];
        request.serialize(&mut out);
        inner.socket.send(&out, 0)?;

        let is_dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let mut answers = Vec::new();
        loop {
            let Inner { socket, buf, .. } = &mut *inner;
            let n = socket.recv(&mut &mut buf[..], 0)?;
            let mut offset = 0;
            while offset < n {
                let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&buf[offset..n])
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                let len = reply.header.length as usize;
                if len == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "zero-length netlink message",
                    ));
                }
                offset += (len + 3) & !3;
                if reply.header.sequence_number != seq {
                    continue; // a stale answer to an earlier, abandoned request
                }
                match reply.payload {
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(answers),
                            Some(code) => Err(io::Error::from_raw_os_error(-code.get())),
                        }
                    }
                    NetlinkPayload::Done(_) => return Ok(answers),
                    NetlinkPayload::InnerMessage(m) => {
                        answers.push(m);
                        if !is_dump {
                            // An answer with no ACK requested; keep reading until the ACK.
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

/// The rtnetlink address family of an address.
fn family_of(ip: std::net::IpAddr) -> netlink_packet_route::AddressFamily {
    match ip {
        std::net::IpAddr::V4(_) => netlink_packet_route::AddressFamily::Inet,
        std::net::IpAddr::V6(_) => netlink_packet_route::AddressFamily::Inet6,
    }
}
