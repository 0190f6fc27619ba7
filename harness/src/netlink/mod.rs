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
use std::sync::Mutex;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use crate::error::{errno_hint, HarnessError, Result};
use crate::netns::Netns;

pub use addr::Address;
pub use link::{format_mac, link_name, Link, LinkKind};
pub use neigh::{FdbEntry, Neighbour, NeighbourState};
pub use route::{KernelRoute, RouteProto, RouteScope, RouteSpec};
pub use tunnel::VxlanSpec;

/// A netlink socket bound to one namespace, with typed verbs for the objects cnbench needs.
pub struct Netlink {
    netns: String,
    inner: Mutex<Inner>,
}

struct Inner {
    socket: Socket,
    seq: u32,
    buf: Vec<u8>,
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
            inner: Mutex::new(Inner {
                socket,
                seq: 0,
                buf: vec![0; 64 * 1024],
            }),
        })
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
            inner: Mutex::new(Inner {
                socket,
                seq: 0,
                buf: vec![0; 64 * 1024],
            }),
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
        self.exchange(msg, NLM_F_REQUEST | NLM_F_ACK | flags)
            .map(|_| ())
            .map_err(|e| self.error(op(), e))
    }

    /// Sends a dump request and returns every message of the answer.
    pub(crate) fn dump(
        &self,
        op: impl FnOnce() -> String,
        msg: RouteNetlinkMessage,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        self.exchange(msg, NLM_F_REQUEST | NLM_F_DUMP)
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
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
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
