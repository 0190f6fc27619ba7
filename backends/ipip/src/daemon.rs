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
//! One thread polls both descriptors. It prints `ready` on stdout once the TUN, the route and
//! the socket exist, and never writes stdout again; diagnostics go to stderr. When the process
//! ends, the kernel closes the TUN, which deletes the device and the route with it: a
//! restarted daemon rebuilds both.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsRawFd;

use harness::netlink::Netlink;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tun_rs::{DeviceBuilder, SyncDevice};

use crate::config::{tunnel_route, DaemonConfig};

/// IP protocol number of IP-in-IP (RFC 2003).
pub const IPPROTO_IPIP: u8 = 4;
/// Socket buffer size asked for, in bytes: bursts of a TCP stream must not overflow the
/// default (about 200 KiB) while the one thread is busy with the other direction.
const SOCKET_BUFFER: usize = 4 << 20;
/// Packets moved per direction before looking at the other one again, so neither starves.
const BATCH: usize = 64;

/// Why the daemon could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The JSON on the command line is not a configuration.
    #[error("ipip daemon: bad configuration {json:?}: {source} (the harness builds it; run through `cnbench run`/`up`)")]
    Config {
        /// What was given.
        json: String,
        /// Why it did not parse.
        source: serde_json::Error,
    },
    /// Pod blocks of different sizes: the lookup needs one prefix length.
    #[error("ipip daemon on {node}: pod blocks of different sizes ({a} and {b}): every node needs a block of one size")]
    MixedBlocks {
        /// Node role.
        node: String,
        /// One block.
        a: String,
        /// Another block.
        b: String,
    },
    /// The TUN device could not be made.
    #[error("ipip daemon on {node}: cannot create TUN {dev} (mtu {mtu}): {source}; is /dev/net/tun there and is {dev} free in this namespace?")]
    Tun {
        /// Node role.
        node: String,
        /// Device name.
        dev: String,
        /// Its MTU.
        mtu: u32,
        /// The kernel's answer.
        source: io::Error,
    },
    /// The raw socket could not be made or bound.
    #[error("ipip daemon on {node}: raw IP protocol 4 socket on {local}: {op}: {source}; the node needs its underlay address and CAP_NET_RAW")]
    Socket {
        /// Node role.
        node: String,
        /// The address it binds to.
        local: Ipv4Addr,
        /// What failed.
        op: &'static str,
        /// The kernel's answer.
        source: io::Error,
    },
    /// The route into the TUN could not be added.
    #[error("ipip daemon on {node}: {source}")]
    Route {
        /// Node role.
        node: String,
        /// The netlink error (names the route).
        source: harness::HarnessError,
    },
    /// Forwarding failed in a way that cannot be skipped (a descriptor went bad).
    #[error("ipip daemon on {node}: {what}: {source}")]
    Io {
        /// Node role.
        node: String,
        /// What it was doing.
        what: &'static str,
        /// The error.
        source: io::Error,
    },
}

/// Runs the daemon: parses `config_json`, builds the datapath, prints `ready`, forwards until
/// killed. Returns only on error.
pub fn run(config_json: &str) -> Result<(), DaemonError> {
    let config: DaemonConfig =
        serde_json::from_str(config_json).map_err(|source| DaemonError::Config {
            json: config_json.to_string(),
            source,
        })?;
    let mut forwarder = Forwarder::open(&config)?;
    let mut out = io::stdout().lock();
    // The harness waits for exactly this line; a failed write means it is gone, so stop.
    writeln!(out, "ready")
        .and_then(|()| out.flush())
        .map_err(|source| DaemonError::Io {
            node: config.node.clone(),
            what: "tell the harness it is ready",
            source,
        })?;
    drop(out);
    forwarder.forward()
}

/// Where each remote pod block goes.
#[derive(Debug)]
struct Peers {
    /// Prefix length of every block.
    prefix: u8,
    /// Block network address -> the remote node's socket address.
    by_block: HashMap<u32, SockAddr>,
    /// Node IPs IP-in-IP is accepted from.
    nodes: Vec<Ipv4Addr>,
}

impl Peers {
    fn new(config: &DaemonConfig) -> Result<Peers, DaemonError> {
        let prefix = config.peers.first().map_or(32, |p| p.block.prefix_len());
        let mut by_block = HashMap::new();
        for p in &config.peers {
            if p.block.prefix_len() != prefix {
                return Err(DaemonError::MixedBlocks {
                    node: config.node.clone(),
                    a: config.peers[0].block.to_string(),
                    b: p.block.to_string(),
                });
            }
            by_block.insert(
                u32::from(p.block.network()),
                SockAddr::from(SocketAddrV4::new(p.node_ip, 0)),
            );
        }
        Ok(Peers {
            prefix,
            by_block,
            nodes: config.peers.iter().map(|p| p.node_ip).collect(),
        })
    }

    /// The remote node owning `dst`'s block.
    fn lookup(&self, dst: Ipv4Addr) -> Option<&SockAddr> {
        let mask = u32::MAX
            .checked_shl(32 - u32::from(self.prefix))
            .unwrap_or(0);
        self.by_block.get(&(u32::from(dst) & mask))
    }
}

/// Packets dropped, by reason; the first of each kind (and every 10 000th) is logged.
#[derive(Debug, Default)]
struct Drops(HashMap<&'static str, u64>);

impl Drops {
    fn note(&mut self, node: &str, why: &'static str, detail: impl FnOnce() -> String) {
        let n = self.0.entry(why).or_default();
        *n += 1;
        if *n == 1 || n.is_multiple_of(10_000) {
            // Not eprintln!: it panics when stderr is gone (a daemon restarted by
            // `cnbench check` outlives that command's terminal or pipe), and a lost log line
            // must not stop the datapath.
            let _ = writeln!(
                io::stderr(),
                "ipip daemon on {node}: dropped {n} packet(s): {why} ({})",
                detail()
            );
        }
    }
}

/// The running datapath: the TUN, the raw socket and the peer table.
struct Forwarder {
    node: String,
    tun: SyncDevice,
    raw: Socket,
    peers: Peers,
    drops: Drops,
}

impl Forwarder {
    /// Creates the TUN (in this process's namespace: the harness started it in the node),
    /// the raw socket and the route.
    fn open(config: &DaemonConfig) -> Result<Forwarder, DaemonError> {
        let node = config.node.clone();
        let peers = Peers::new(config)?;
        let tun_err = |source| DaemonError::Tun {
            node: node.clone(),
            dev: config.dev.clone(),
            mtu: config.mtu,
            source,
        };
        let mtu = u16::try_from(config.mtu)
            .map_err(|_| tun_err(io::Error::from(io::ErrorKind::InvalidInput)))?;
        // Plain IPv4 packets (no packet-information prefix, no offload header): one read is
        // one packet, exactly what goes inside the outer header.
        let tun = DeviceBuilder::new()
            .name(&config.dev)
            .mtu(mtu)
            .build_sync()
            .map_err(tun_err)?;
        tun.set_nonblocking(true).map_err(tun_err)?;

        let sock_err = |op, source| DaemonError::Socket {
            node: node.clone(),
            local: config.local,
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
        raw.bind(&SockAddr::from(SocketAddrV4::new(config.local, 0)))
            .map_err(|e| sock_err("bind", e))?;
        raw.set_nonblocking(true)
            .map_err(|e| sock_err("set non-blocking", e))?;
        // Larger buffers are a wish, not a need: the kernel caps them at rmem_max/wmem_max.
        let _ = raw.set_recv_buffer_size(SOCKET_BUFFER);
        let _ = raw.set_send_buffer_size(SOCKET_BUFFER);

        let nl = Netlink::open_current(&node).map_err(|source| DaemonError::Route {
            node: node.clone(),
            source,
        })?;
        let route = tunnel_route(config.pod_cidr, &config.dev);
        match nl.add_route(&route) {
            Ok(()) => {}
            // Left by nobody we know of (the route dies with the TUN), but it is the one we
            // want: keep it.
            Err(harness::HarnessError::Netlink { source, .. })
                if source.raw_os_error() == Some(libc::EEXIST) => {}
            Err(source) => {
                return Err(DaemonError::Route {
                    node: node.clone(),
                    source,
                })
            }
        }
        Ok(Forwarder {
            node,
            tun,
            raw,
            peers,
            drops: Drops::default(),
        })
    }

    /// Moves packets both ways until a descriptor fails.
    fn forward(&mut self) -> Result<(), DaemonError> {
        let mut buf = vec![0u8; 65536];
        loop {
            let mut fds = [
                libc::pollfd {
                    fd: self.tun.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: self.raw.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            // SAFETY: `fds` is a valid array of two pollfd for the length given; both
            // descriptors are owned by `self` and open for the whole call.
            let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(self.io("poll the TUN and the raw socket", e));
            }
            let bad = libc::POLLERR | libc::POLLHUP | libc::POLLNVAL;
            if fds[0].revents & bad != 0 {
                return Err(self.io(
                    "the TUN device went away",
                    io::Error::from_raw_os_error(libc::EBADF),
                ));
            }
            if fds[0].revents & libc::POLLIN != 0 {
                self.tun_to_wire(&mut buf)?;
            }
            // A raw socket reports POLLERR for a queued ICMP error: reading clears it.
            if fds[1].revents & (libc::POLLIN | libc::POLLERR) != 0 {
                self.wire_to_tun(&mut buf)?;
            }
        }
    }

    fn io(&self, what: &'static str, source: io::Error) -> DaemonError {
        DaemonError::Io {
            node: self.node.clone(),
            what,
            source,
        }
    }

    /// Pod packets from the TUN: send each to the node owning its destination's block.
    fn tun_to_wire(&mut self, buf: &mut [u8]) -> Result<(), DaemonError> {
        for _ in 0..BATCH {
            let n = match self.tun.recv(buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io("read the TUN", e)),
            };
            let pkt = &buf[..n];
            // Only IPv4 is carried; a new TUN can still see IPv6 chatter.
            if n < 20 || pkt[0] >> 4 != 4 {
                continue;
            }
            let dst = Ipv4Addr::new(pkt[16], pkt[17], pkt[18], pkt[19]);
            let Some(to) = self.peers.lookup(dst) else {
                self.drops
                    .note(&self.node, "no node owns the destination's block", || {
                        format!("to {dst}")
                    });
                continue;
            };
            if let Err(e) = self.raw.send_to(pkt, to) {
                // ENOBUFS (a full queue), EHOSTUNREACH (ARP for the peer failed): the packet
                // is lost as a full NIC would lose it; the sender's transport recovers.
                self.drops
                    .note(&self.node, "the raw socket refused it", || e.to_string());
            }
        }
        Ok(())
    }

    /// IP-in-IP packets from other nodes: check, strip the outer header, write the inner
    /// packet to the TUN.
    fn wire_to_tun(&mut self, buf: &mut [u8]) -> Result<(), DaemonError> {
        for _ in 0..BATCH {
            let n = match (&self.raw).read(buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // An ICMP error the socket queued (a peer was unreachable): nothing to forward.
                Err(e) if e.raw_os_error().is_some_and(is_icmp_error) => continue,
                Err(e) => return Err(self.io("read the raw socket", e)),
            };
            match decapsulate(&buf[..n], &self.peers.nodes) {
                Ok(inner) => {
                    if let Err(e) = self.tun.send(inner) {
                        self.drops
                            .note(&self.node, "the TUN refused it", || e.to_string());
                    }
                }
                Err(why) => self.drops.note(&self.node, why, String::new),
            }
        }
        Ok(())
    }
}

/// Errors a raw socket returns for queued ICMP errors.
fn is_icmp_error(errno: i32) -> bool {
    matches!(
        errno,
        libc::EHOSTUNREACH
            | libc::ENETUNREACH
            | libc::ECONNREFUSED
            | libc::EPROTO
            | libc::EMSGSIZE
            | libc::EOPNOTSUPP
    )
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
