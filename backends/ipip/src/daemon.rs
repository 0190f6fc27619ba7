//! The userspace IP-in-IP datapath, for kernels without the ipip module: a process per node
//! (`cnbench daemon ipip '<json>'`, started inside the node's namespace) that does what the
//! kernel's `tunl0` would.
//!
//! - A TUN device `tunl0` (MTU underlay − 20, up) and the route `100.96.0.0/16 dev tunl0`
//!   bring every pod packet for another node to the daemon as a bare IPv4 packet.
//! - A raw socket `socket(AF_INET, SOCK_RAW, IPPROTO_IPIP)` bound to the node's underlay IP
//!   sends it on: for a non-`IP_HDRINCL` raw socket the kernel writes the outer IPv4 header
//!   itself, protocol 4, source the bound address, destination the remote node's IP.
//! - The same socket receives every protocol-4 packet addressed to the node, outer header
//!   included (raw IPv4 sockets always get the IP header). The daemon checks it, strips it and
//!   writes the inner packet to the TUN, from where the kernel routes it to `cni0`. A raw
//!   socket for protocol 4 also stops the kernel answering such packets with ICMP "protocol
//!   unreachable" (ip_local_deliver_finish sends that only when no raw socket took the
//!   packet).
//!
//! One thread polls both descriptors. With `offload` in the configuration (`--datapath
//! offload`) the TUN has the kernel's offloads and the forwarding loop of `offload.rs` moves
//! the packets instead. It prints `ready` on stdout once the TUN, the route and the socket
//! exist, and never writes stdout again; diagnostics go to stderr. When the process ends, the
//! kernel closes the TUN, which deletes the device and the route with it: a restarted daemon
//! rebuilds both.

use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsRawFd;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tun_rs::SyncDevice;
use userspace::sys::{
    interrupted, pin_to, poll_forever, poll_pair, say_ready, transient, would_block,
};
use userspace::{ipv4_destination, BlockTable, DaemonError, Drops, TunnelConfig};

/// The daemon's name in messages and on its command line.
const DAEMON: &str = "ipip";
/// IP protocol number of IP-in-IP (RFC 2003).
pub const IPPROTO_IPIP: u8 = 4;
/// The largest IP packet one raw IPv4 datagram carries: 65535 − 20 (the outer header).
pub const MAX_TUN_MTU: u32 = 65515;
/// Socket buffer size asked for, in bytes: bursts of a TCP stream must not overflow the
/// default (about 200 KiB) while the one thread is busy with the other direction.
const SOCKET_BUFFER: usize = 4 << 20;
/// Packets moved per direction before looking at the other one again, so neither starves.
const BATCH: usize = 64;

/// Runs the daemon: parses `config_json` (a [`TunnelConfig`]), builds the datapath, prints
/// `ready`, forwards until killed. Returns only on error.
pub fn run(config_json: &str) -> Result<(), DaemonError> {
    let config: TunnelConfig =
        serde_json::from_str(config_json).map_err(|e| DaemonError::Config {
            daemon: DAEMON,
            why: format!("not an ipip daemon configuration: {e}"),
        })?;
    config.validate(DAEMON, MAX_TUN_MTU)?;
    if let Some(cpu) = config.cpu {
        pin_to(DAEMON, &config.node, cpu)?;
    }
    let forwarder = Forwarder::open(&config)?;
    say_ready(DAEMON, &config.node)?;
    if config.offload {
        return crate::offload::forward(&forwarder, config.mtu as usize);
    }
    forwarder.forward()
}

/// The running datapath: the TUN, the raw socket and the peer table.
pub(crate) struct Forwarder {
    pub(crate) node: String,
    pub(crate) tun: SyncDevice,
    pub(crate) raw: Socket,
    /// Remote blocks -> the remote node's address (the outer destination).
    pub(crate) peers: BlockTable<SockAddr>,
    /// Node IPs IP-in-IP is accepted from.
    pub(crate) nodes: Vec<Ipv4Addr>,
    pub(crate) drops: Drops,
}

impl Forwarder {
    /// Creates the TUN and its route (in this process's namespace: the harness started it
    /// in the node) and the raw socket.
    fn open(config: &TunnelConfig) -> Result<Forwarder, DaemonError> {
        let node = config.node.clone();
        let tun = userspace::tun::open(DAEMON, config)?;
        tun.set_nonblocking(true)
            .map_err(|source| DaemonError::Tun {
                daemon: DAEMON,
                node: node.clone(),
                dev: config.tun.clone(),
                op: "set non-blocking",
                source,
            })?;
        let sock_err = |op, source| DaemonError::Socket {
            daemon: DAEMON,
            node: node.clone(),
            addr: config.node_ip.to_string(),
            op,
            source,
        };
        let raw = Socket::new(
            Domain::IPV4,
            Type::RAW,
            Some(Protocol::from(i32::from(IPPROTO_IPIP))),
        )
        .map_err(|e| sock_err("socket", e))?;
        // Bound to the node IP: the outer source, and a filter so only packets addressed to
        // this node arrive (raw_v4_match compares the bound address with the destination).
        raw.bind(&SockAddr::from(SocketAddrV4::new(config.node_ip, 0)))
            .map_err(|e| sock_err("bind", e))?;
        raw.set_nonblocking(true)
            .map_err(|e| sock_err("set non-blocking", e))?;
        // Larger buffers are a wish, not a need: the kernel caps them at rmem_max/wmem_max.
        let _ = raw.set_recv_buffer_size(SOCKET_BUFFER);
        let _ = raw.set_send_buffer_size(SOCKET_BUFFER);
        if config.offload {
            // Trains of a whole super-packet arrive at once: past rmem_max too (root here).
            userspace::offload::grow_buffers(raw.as_raw_fd());
        }
        Ok(Forwarder {
            peers: BlockTable::new(config, |p| SockAddr::from(SocketAddrV4::new(p.node_ip, 0))),
            nodes: config.peers.iter().map(|p| p.node_ip).collect(),
            drops: Drops::new(DAEMON, &node),
            node,
            tun,
            raw,
        })
    }

    /// Moves packets both ways until a descriptor fails.
    fn forward(&self) -> Result<(), DaemonError> {
        let (mut out, mut inb) = (vec![0u8; 65536], vec![0u8; 65536]);
        self.poll_loop(|f| f.tun_to_wire(&mut out), |f| f.wire_to_tun(&mut inb))
    }

    /// The one loop both datapaths run: one `poll()` over the TUN and the raw socket, then
    /// `on_tun` when the TUN is readable and `on_raw` when the socket is, until either
    /// returns an error or the TUN goes away.
    pub(crate) fn poll_loop(
        &self,
        mut on_tun: impl FnMut(&Forwarder) -> Result<(), DaemonError>,
        mut on_raw: impl FnMut(&Forwarder) -> Result<(), DaemonError>,
    ) -> Result<(), DaemonError> {
        loop {
            let mut fds = poll_pair(self.tun.as_raw_fd(), self.raw.as_raw_fd());
            poll_forever(&mut fds).map_err(|e| self.io("poll the TUN and the raw socket", e))?;
            let bad = libc::POLLERR | libc::POLLHUP | libc::POLLNVAL;
            if fds[0].revents & bad != 0 {
                return Err(self.io(
                    "the TUN device went away",
                    io::Error::from_raw_os_error(libc::EBADF),
                ));
            }
            if fds[0].revents & libc::POLLIN != 0 {
                on_tun(self)?;
            }
            // A raw socket reports POLLERR for a queued ICMP error: reading clears it.
            if fds[1].revents & (libc::POLLIN | libc::POLLERR) != 0 {
                on_raw(self)?;
            }
        }
    }

    pub(crate) fn io(&self, what: &'static str, source: io::Error) -> DaemonError {
        DaemonError::Forward {
            daemon: DAEMON,
            node: self.node.clone(),
            op: what.into(),
            source,
        }
    }

    /// Pod packets from the TUN: send each to the node owning its destination's block.
    fn tun_to_wire(&self, buf: &mut [u8]) -> Result<(), DaemonError> {
        for _ in 0..BATCH {
            let n = match self.tun.recv(buf) {
                Ok(n) => n,
                Err(e) if would_block(&e) => return Ok(()),
                Err(e) if interrupted(&e) => continue,
                Err(e) => return Err(self.io("read the TUN", e)),
            };
            let pkt = &buf[..n];
            // Only IPv4 is carried; a new TUN can still see IPv6 chatter.
            let Some(dst) = ipv4_destination(pkt) else {
                continue;
            };
            let Some(to) = self.peers.lookup(dst) else {
                self.drops
                    .count("no node owns the destination's block", || {
                        format!("to {}", Ipv4Addr::from(dst))
                    });
                continue;
            };
            if let Err(e) = self.raw.send_to(pkt, self.peers.get(to)) {
                // ENOBUFS (a full queue), EHOSTUNREACH (ARP for the peer failed): the packet
                // is lost as a full NIC would lose it; the sender's transport recovers.
                self.drops
                    .count("the raw socket refused it", || e.to_string());
            }
        }
        Ok(())
    }

    /// IP-in-IP packets from other nodes: check, strip the outer header, write the inner
    /// packet to the TUN.
    fn wire_to_tun(&self, buf: &mut [u8]) -> Result<(), DaemonError> {
        for _ in 0..BATCH {
            let n = match (&self.raw).read(buf) {
                Ok(n) => n,
                Err(e) if would_block(&e) => return Ok(()),
                Err(e) if interrupted(&e) => continue,
                // An ICMP error the socket queued (a peer was unreachable): nothing to forward.
                Err(e) if transient(&e) => continue,
                Err(e) => return Err(self.io("read the raw socket", e)),
            };
            match decapsulate(&buf[..n], &self.nodes) {
                Ok(inner) => {
                    if let Err(e) = self.tun.send(inner) {
                        self.drops.count("the TUN refused it", || e.to_string());
                    }
                }
                Err(why) => {
                    self.drops.count(why, String::new);
                }
            }
        }
        Ok(())
    }
}

/// The inner packet of an IP-in-IP packet as a raw socket receives it (outer header first),
/// or why it is not one this node accepts: too short, not IPv4, not protocol 4, not from a
/// known node, or an inner packet that is not IPv4.
pub fn decapsulate<'a>(pkt: &'a [u8], from_nodes: &[Ipv4Addr]) -> Result<&'a [u8], &'static str> {
    if pkt.len() < 20 || pkt[0] >> 4 != 4 {
        return Err("outer packet is not IPv4");
    }
    let ihl = usize::from(pkt[0] & 0x0f) * 4;
    if ihl < 20 || pkt.len() < ihl {
        return Err("outer header length is invalid");
    }
    if pkt[9] != IPPROTO_IPIP {
        return Err("outer protocol is not 4 (IP-in-IP)");
    }
    let src = Ipv4Addr::new(pkt[12], pkt[13], pkt[14], pkt[15]);
    if !from_nodes.contains(&src) {
        return Err("outer source is not a node of this run");
    }
    let inner = &pkt[ihl..];
    if inner.len() < 20 || inner[0] >> 4 != 4 {
        return Err("inner packet is not IPv4");
    }
    Ok(inner)
}
