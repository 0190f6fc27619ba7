//! The daemon's TUN device and the route into it, made by the daemon in its own namespace
//! (the harness started it inside the node). A non-persistent TUN lives as long as its last
//! fd: when the daemon ends, the kernel deletes the device and every route through it, so a
//! stopped daemon takes its datapath along and a restarted one rebuilds all of it.

use harness::netlink::Netlink;
use tun_rs::{DeviceBuilder, SyncDevice};

use crate::config::TunnelConfig;
use crate::error::DaemonError;

/// Creates `cfg.tun` (IFF_TUN | IFF_NO_PI: bare IP packets), sets its MTU, brings it up and
/// routes the pod network into it ([`TunnelConfig::route`]). Without `cfg.offload`, one read
/// is one packet and nothing larger than the MTU arrives; with it, the TUN has IFF_VNET_HDR
/// and the TSO/checksum (and, where the kernel has them, USO) offloads, so reads and writes
/// carry a virtio-net header and up to 64 KB super-packets ([`crate::offload`]). A kernel
/// whose TUN refuses the offloads is an error naming what is missing, detected here, never
/// assumed.
pub fn open(daemon: &'static str, cfg: &TunnelConfig) -> Result<SyncDevice, DaemonError> {
    let err = |op, source| DaemonError::Tun {
        daemon,
        node: cfg.node.clone(),
        dev: cfg.tun.clone(),
        op,
        source,
    };
    let tun = DeviceBuilder::new()
        .name(&cfg.tun)
        .packet_information(false)
        .offload(cfg.offload)
        .enable(false)
        .build_sync()
        .map_err(|e| {
            err(
                if cfg.offload {
                    "create with offloads (IFF_VNET_HDR and TUNSETOFFLOAD TUN_F_CSUM|TSO4|TSO6, \
                     which --datapath offload needs; without them use another --datapath)"
                } else {
                    "create (TUNSETIFF)"
                },
                e,
            )
        })?;
    if cfg.offload && !tun.tcp_gso() {
        // tun-rs sets the offloads or fails above; this says so should that ever change.
        return Err(err(
            "enable TCP segmentation offload (TUNSETOFFLOAD TUN_F_TSO4): the kernel's TUN \
             refused it; use another --datapath",
            std::io::Error::from_raw_os_error(libc::EOPNOTSUPP),
        ));
    }
    // A new link with IPv6 on sends router solicitations and MLD reports as soon as it is up,
    // which would land in the daemon's read queue. The harness disables IPv6 namespace-wide
    // (`default`), so this is belt and braces; a kernel without IPv6 has no such file.
    let path = format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", cfg.tun);
    match std::fs::write(&path, "1") {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err("disable IPv6", e)),
    }
    // An IPv4 route through a device that is down is refused (ENETDOWN): up first.
    let nl_err = |source| DaemonError::Netlink {
        daemon,
        node: cfg.node.clone(),
        source: Box::new(source),
    };
    let nl = Netlink::open_current(&format!("node {}", cfg.node)).map_err(nl_err)?;
    nl.set_mtu(&cfg.tun, cfg.mtu).map_err(nl_err)?;
    nl.set_up(&cfg.tun).map_err(nl_err)?;
    // The route dies with the TUN, so none should be left; one that is, is the one we want:
    // replaced, not refused.
    nl.replace_route(&cfg.route()).map_err(nl_err)?;
    Ok(tun)
}
