//! The flanneld stand-in: `cnbench daemon flannel-udp '<json>'`, started by the harness
//! already inside its node's namespace. It owns `flannel0` (a TUN: bare IP packets, no
//! packet-information header), installs the route that sends the pod network into it, binds
//! UDP 8285 on the node's underlay IP, says `ready`, and forwards until killed. SIGTERM's
//! default action ends it; closing the last fd of a non-persistent TUN makes the kernel
//! delete the device and every route through it, so a stopped daemon takes its datapath
//! along and a restarted one rebuilds all of it.

mod batched;
mod faithful;
mod offload;

use std::net::SocketAddrV4;
use std::os::fd::AsRawFd;

use socket2::{Domain, Protocol, Socket, Type};
use tun_rs::SyncDevice;
use userspace::sys::{pin_to, say_ready};
use userspace::{BlockTable, DaemonError, Drops};

use crate::config::DaemonConfig;
use crate::mode::DatapathMode;

/// The daemon's name in messages and on its command line.
const DAEMON: &str = "flannel-udp";

/// Why packets are dropped (the drop counters' reasons).
pub(crate) const INVALID: &str = "not an IPv4 packet within the MTU";
/// The destination is in no remote node's block.
pub(crate) const NO_ROUTE: &str = "no node owns the destination's block";
/// The kernel refused to send the datagram (buffer full, no route to the peer).
pub(crate) const SEND_FAILED: &str = "the kernel refused to send it";
/// The TUN refused the packet.
pub(crate) const WRITE_FAILED: &str = "the TUN refused it";

/// Largest batch of the batched datapath (packets per `sendmmsg` / `recvmmsg`).
pub const BATCH: usize = 32;

/// What both datapaths get: the two fds, the table, the counters, the sizes.
pub struct Datapath {
    /// The TUN (kept open for the life of the process: closing it deletes flannel0).
    pub tun: SyncDevice,
    /// The UDP socket bound on `<node IP>:port`.
    pub sock: Socket,
    /// Remote blocks -> remote daemons, as the kernel's `sockaddr_in` (no conversion per
    /// packet).
    pub table: BlockTable<libc::sockaddr_in>,
    /// Drops, by reason.
    pub drops: Drops,
    /// The TUN's MTU: no packet on either side is larger.
    pub mtu: usize,
    /// Node role, for messages.
    pub node: String,
    /// TUN name, for messages.
    pub tun_name: String,
}

impl Datapath {
    /// An unrecoverable error of `op` on the last OS error.
    pub fn fatal(&self, op: impl Into<String>, source: std::io::Error) -> DaemonError {
        DaemonError::Forward {
            daemon: DAEMON,
            node: self.node.clone(),
            op: op.into(),
            source,
        }
    }

    /// Raw fd of the TUN.
    pub fn tun_fd(&self) -> i32 {
        self.tun.as_raw_fd()
    }

    /// Raw fd of the socket.
    pub fn sock_fd(&self) -> i32 {
        self.sock.as_raw_fd()
    }
}

/// Runs the daemon of `json` (a [`DaemonConfig`]); returns only on error.
pub fn run(json: &str) -> Result<(), DaemonError> {
    let cfg = DaemonConfig::parse(json)?;
    let t = &cfg.tunnel;
    if let Some(cpu) = t.cpu {
        pin_to(DAEMON, &t.node, cpu)?;
    }
    let tun = userspace::tun::open(DAEMON, t)?;
    let sock = bind(&cfg)?;
    let dp = Datapath {
        tun,
        sock,
        table: BlockTable::new(t, |p| sockaddr(SocketAddrV4::new(p.node_ip, cfg.port))),
        drops: Drops::new(DAEMON, &t.node),
        mtu: t.mtu as usize,
        node: t.node.clone(),
        tun_name: t.tun.clone(),
    };
    say_ready(DAEMON, &t.node)?;
    match cfg.datapath {
        DatapathMode::Faithful => faithful::run(&dp),
        DatapathMode::Batched => batched::run(&dp),
        DatapathMode::Offload => offload::run(dp),
    }
}

/// The UDP socket every peer sends to: non-blocking for the datapaths that poll (a poll loop
/// must never block on one fd while the other has work), blocking for offload's thread per
/// direction. The faithful datapath keeps the kernel's default buffer sizes, as flanneld
/// does; batched and offload ask for 4 MiB ([`userspace::offload::SOCKET_BUFFER`]: room for
/// about 1800 full-size datagrams of 2.3 KiB truesize, more than a TCP window queued while
/// the daemon waits for the one CPU everything shares), and offload turns UDP GRO on.
fn bind(cfg: &DaemonConfig) -> Result<Socket, DaemonError> {
    let addr = SocketAddrV4::new(cfg.tunnel.node_ip, cfg.port);
    let err = |op, source| DaemonError::Socket {
        daemon: DAEMON,
        node: cfg.tunnel.node.clone(),
        addr: addr.to_string(),
        op,
        source,
    };
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))
        .map_err(|e| err("socket", e))?;
    s.bind(&addr.into()).map_err(|e| err("bind", e))?;
    // Faithful and batched poll; offload has a thread per direction, which blocks.
    if matches!(cfg.datapath, DatapathMode::Faithful | DatapathMode::Batched) {
        s.set_nonblocking(true)
            .map_err(|e| err("set non-blocking", e))?;
    }
    if cfg.datapath != DatapathMode::Faithful {
        userspace::offload::grow_buffers(s.as_raw_fd());
    }
    if cfg.datapath == DatapathMode::Offload {
        userspace::offload::enable_udp_gro(s.as_raw_fd())
            .map_err(|e| err("enable UDP GRO (setsockopt UDP_GRO, Linux 5.0+)", e))?;
    }
    Ok(s)
}

/// The errno of the last failed libc call.
#[inline]
pub(crate) fn last_error() -> std::io::Error {
    std::io::Error::last_os_error()
}

/// `to` as the kernel's `struct sockaddr_in`.
pub fn sockaddr(to: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: to.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*to.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// A `sockaddr_in` as an address, for messages.
pub fn peer_addr(a: &libc::sockaddr_in) -> SocketAddrV4 {
    SocketAddrV4::new(
        u32::from_be(a.sin_addr.s_addr).into(),
        u16::from_be(a.sin_port),
    )
}

/// Waits until `fds` have events (no timeout), retrying on EINTR.
pub(crate) fn poll_forever(dp: &Datapath, fds: &mut [libc::pollfd]) -> Result<(), DaemonError> {
    userspace::sys::poll_forever(fds).map_err(|e| dp.fatal("poll", e))
}

/// The TUN and the socket, each polled for input (the faithful and batched loops).
pub(crate) fn poll_fds(dp: &Datapath) -> [libc::pollfd; 2] {
    userspace::sys::poll_pair(dp.tun_fd(), dp.sock_fd())
}

/// Whether poll reported `p` readable, or in error or hung up (the read then says which).
pub(crate) fn ready(p: &libc::pollfd) -> bool {
    p.revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP) != 0
}

/// Sends every message ([`userspace::sys::send_messages`]); one the kernel refuses is
/// counted as a send failure, with its peer.
pub(crate) fn send_all(dp: &Datapath, msgs: &mut [libc::mmsghdr]) -> Result<(), DaemonError> {
    userspace::sys::send_messages(dp.sock_fd(), msgs, |m, e| {
        // SAFETY: every message's msg_name points at a sockaddr_in of the table.
        let to = peer_addr(unsafe { &*(m.msg_hdr.msg_name as *const libc::sockaddr_in) });
        dp.drops
            .count(SEND_FAILED, || format!("sendmmsg to {}: {e}", to.ip()));
    })
    .map_err(|e| dp.fatal("sendmmsg on the UDP socket", e))
}
