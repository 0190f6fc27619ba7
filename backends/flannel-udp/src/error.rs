//! Errors of the daemon. Each names the object and, where there is one, the fix; the daemon
//! prints it on stderr and exits non-zero, and `spawn_daemon` reports that it never said
//! `ready`.

use std::io;
use std::net::SocketAddrV4;

/// Why the flannel-udp daemon could not start or stopped forwarding.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The JSON configuration is malformed or inconsistent.
    #[error("flannel-udp daemon: {why}")]
    Config {
        /// What is wrong and what to use instead.
        why: String,
    },
    /// The TUN device could not be created or configured.
    #[error("flannel-udp daemon on {node}: TUN {dev}: {op}: {source}; is /dev/net/tun present and are we root (CAP_NET_ADMIN)?")]
    Tun {
        /// Node role.
        node: String,
        /// Device name.
        dev: String,
        /// What was being done.
        op: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Configuring the device or its route over netlink failed.
    #[error("flannel-udp daemon on {node}: {source}")]
    Netlink {
        /// Node role.
        node: String,
        /// The harness's netlink error (names the request and the namespace).
        #[source]
        source: harness::HarnessError,
    },
    /// The UDP socket could not be opened or bound.
    #[error("flannel-udp daemon on {node}: UDP socket on {addr}: {op}: {source}; is the node's underlay address configured and the port free?")]
    Socket {
        /// Node role.
        node: String,
        /// The address it binds.
        addr: SocketAddrV4,
        /// What was being done.
        op: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A syscall of the forwarding loop failed in a way that cannot be retried.
    #[error("flannel-udp daemon on {node}: {op}: {source}")]
    Forward {
        /// Node role.
        node: String,
        /// The syscall and its object (`read flannel0`).
        op: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}
