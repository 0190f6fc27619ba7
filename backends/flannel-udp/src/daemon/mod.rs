//! The flanneld stand-in: `cnbench daemon flannel-udp '<json>'`, started by the harness
//! already inside its node's namespace. It owns `flannel0` (a TUN: bare IP packets, no
//! packet-information header), installs the route that sends the pod network into it, binds
//! UDP 8285 on the node's underlay IP, says `ready`, and forwards until killed. SIGTERM's
//! default action ends it; closing the last fd of a non-persistent TUN makes the kernel
//! delete the device and every route through it, so a stopped daemon takes its datapath
//! along and a restarted one rebuilds all of it.

mod batched;
mod counters;
mod faithful;
mod table;

use std::io::Write;
use std::net::SocketAddrV4;
use std::os::fd::AsRawFd;

use harness::netlink::Netlink;
use socket2::{Domain, Protocol, Socket, Type};
use tun_rs::{DeviceBuilder, SyncDevice};

use crate::config::DaemonConfig;
use crate::error::DaemonError;
use crate::expect::tun_route;
use crate::mode::DatapathMode;

pub use counters::Drops;
pub use table::Table;

/// Largest batch of the batched datapath (packets per `sendmmsg` / `recvmmsg`).
pub const BATCH: usize = 32;

/// What both datapaths get: the two fds, the table, the counters, the sizes.
pub struct Datapath {
    /// The TUN (kept open for the life of the process: closing it deletes flannel0).
    pub tun: SyncDevice,
    /// The UDP socket bound on `<node IP>:port`.
    pub sock: Socket,
    /// Remote blocks -> remote daemons.
    pub table: Table,
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
    if let Some(cpu) = cfg.cpu {
        pin_to(&cfg, cpu)?;
    }
    let tun = open_tun(&cfg)?;
    configure(&cfg)?;
    let sock = bind(&cfg)?;
    let dp = Datapath {
        tun,
        sock,
        table: Table::new(&cfg),
        drops: Drops::new(&cfg.node),
        mtu: cfg.mtu as usize,
        node: cfg.node.clone(),
        tun_name: cfg.tun.clone(),
    };
    // The harness waits for exactly this line; nothing else ever goes to stdout.
    let mut out = std::io::stdout().lock();
    let said = out.write_all(b"ready\n").and_then(|_| out.flush());
    drop(out);
    if let Err(source) = said {
        return Err(dp.fatal("write `ready` on stdout", source));
    }
    match cfg.datapath {
        DatapathMode::Faithful => faithful::run(&dp),
        DatapathMode::Batched => batched::run(dp),
    }
}

/// Pins the process to `cpu` before any thread exists, so both directions' threads inherit
/// it (sched_setaffinity(0, ...) applies to the calling thread only).
fn pin_to(cfg: &DaemonConfig, cpu: usize) -> Result<(), DaemonError> {
    // SAFETY: cpu_set_t is plain data; CPU_SET writes inside it; sched_setaffinity reads it.
    let r = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if cpu >= libc::CPU_SETSIZE as usize {
            -1
        } else {
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
        }
    };
    if r != 0 {
        return Err(DaemonError::Config {
            why: format!(
                "on {}: cannot pin to CPU {cpu}: {}; pick one of the CPUs this process may use",
                cfg.node,
                std::io::Error::last_os_error()
            ),
        });
    }
    Ok(())
}

/// Creates the TUN, down: IFF_TUN | IFF_NO_PI, no offload (so one read is one packet and
/// nothing bigger than the MTU arrives).
fn open_tun(cfg: &DaemonConfig) -> Result<SyncDevice, DaemonError> {
    let err = |op, source| DaemonError::Tun {
        node: cfg.node.clone(),
        dev: cfg.tun.clone(),
        op,
        source,
    };
    let tun = DeviceBuilder::new()
        .name(&cfg.tun)
        .packet_information(false)
        .enable(false)
        .build_sync()
        .map_err(|e| err("create (TUNSETIFF)", e))?;
    // A new link with IPv6 on sends router solicitations and MLD reports as soon as it is up,
    // which would land in the daemon's read queue. The harness disables IPv6 namespace-wide
    // (`default`), so this is belt and braces; a kernel without IPv6 has no such file.
    let path = format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", cfg.tun);
    match std::fs::write(&path, "1") {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err("disable IPv6", e)),
    }
    Ok(tun)
}

/// Sets the TUN's MTU, brings it up and routes the pod network into it, over netlink in the
/// daemon's own namespace. An IPv4 route through a device that is down is refused
/// (ENETDOWN), so the device goes up first.
fn configure(cfg: &DaemonConfig) -> Result<(), DaemonError> {
    let nl_err = |source| DaemonError::Netlink {
        node: cfg.node.clone(),
        source,
    };
    let nl = Netlink::open_current(&format!("node {}", cfg.node)).map_err(nl_err)?;
    nl.set_mtu(&cfg.tun, cfg.mtu).map_err(nl_err)?;
    nl.set_up(&cfg.tun).map_err(nl_err)?;
    nl.add_route(&tun_route(cfg.pod_network)).map_err(nl_err)
}

/// The UDP socket every peer sends to. Non-blocking in the faithful datapath (flanneld's
/// poll loop must never block on one fd while the other has work); blocking in the batched
/// one, where each direction has its own thread.
fn bind(cfg: &DaemonConfig) -> Result<Socket, DaemonError> {
    let addr = SocketAddrV4::new(cfg.node_ip, cfg.port);
    let err = |op, source| DaemonError::Socket {
        node: cfg.node.clone(),
        addr,
        op,
        source,
    };
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))
        .map_err(|e| err("socket", e))?;
    s.bind(&addr.into()).map_err(|e| err("bind", e))?;
    if cfg.datapath == DatapathMode::Faithful {
        s.set_nonblocking(true)
            .map_err(|e| err("set non-blocking", e))?;
    }
    Ok(s)
}

/// The errno of the last failed libc call.
#[inline]
pub(crate) fn last_error() -> std::io::Error {
    std::io::Error::last_os_error()
}

/// Whether `e` means "nothing to do now" (EAGAIN/EWOULDBLOCK).
#[inline]
pub(crate) fn would_block(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::WouldBlock
}

/// Whether `e` is a signal interrupting a syscall (EINTR): retry.
#[inline]
pub(crate) fn interrupted(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::Interrupted
}

/// Whether `e` is an error reported for one datagram (an ICMP error queued on the socket,
/// a transient shortage) rather than a broken fd: count it and carry on.
#[inline]
pub(crate) fn transient(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::ECONNREFUSED
                | libc::EHOSTUNREACH
                | libc::ENETUNREACH
                | libc::EHOSTDOWN
                | libc::ENETDOWN
                | libc::EMSGSIZE
                | libc::ENOBUFS
                | libc::ENOMEM
        )
    )
}

/// Waits until `fds` have events (no timeout), retrying on EINTR.
pub(crate) fn poll_forever(dp: &Datapath, fds: &mut [libc::pollfd]) -> Result<(), DaemonError> {
    loop {
        // SAFETY: fds is a valid slice of pollfd for its whole length.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if r >= 0 {
            return Ok(());
        }
        let e = last_error();
        if !interrupted(&e) {
            return Err(dp.fatal("poll", e));
        }
    }
}
