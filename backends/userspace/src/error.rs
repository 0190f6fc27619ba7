//! Why a userspace daemon could not start or stopped forwarding. Each message names the
//! daemon, its node and the object, and where there is one the fix; the daemon prints it on
//! stderr and exits non-zero, and the harness reports that it never said `ready`.

use std::io;

/// A userspace daemon's error; `daemon` is the backend's name (`flannel-udp`, `ipip`).
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The JSON configuration is malformed or inconsistent.
    #[error("{daemon} daemon: bad configuration: {why} (the harness builds it; run through `cnbench run` or `cnbench up`)")]
    Config {
        /// The daemon.
        daemon: &'static str,
        /// What is wrong and what to use instead.
        why: String,
    },
    /// It could not be pinned to its CPU.
    #[error("{daemon} daemon on {node}: cannot pin to CPU {cpu}: {source}; pick one of the CPUs this process may use")]
    Pin {
        /// The daemon.
        daemon: &'static str,
        /// Node role.
        node: String,
        /// The CPU asked for.
        cpu: usize,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The TUN device could not be created or configured.
    #[error("{daemon} daemon on {node}: TUN {dev}: {op}: {source}; is /dev/net/tun present, {dev} free in this namespace, and are we root (CAP_NET_ADMIN)?")]
    Tun {
        /// The daemon.
        daemon: &'static str,
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
    #[error("{daemon} daemon on {node}: {source}")]
    Netlink {
        /// The daemon.
        daemon: &'static str,
        /// Node role.
        node: String,
        /// The harness's netlink error (names the request and the namespace); boxed, as it
        /// is large and rare.
        #[source]
        source: Box<harness::HarnessError>,
    },
    /// The daemon's socket could not be opened or bound.
    #[error("{daemon} daemon on {node}: socket on {addr}: {op}: {source}; is the node's underlay address configured, the port free, and are we root (CAP_NET_RAW for raw sockets)?")]
    Socket {
        /// The daemon.
        daemon: &'static str,
        /// Node role.
        node: String,
        /// The address it binds.
        addr: String,
        /// What was being done.
        op: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A syscall of the forwarding loop failed in a way that cannot be retried.
    #[error("{daemon} daemon on {node}: {op}: {source}")]
    Forward {
        /// The daemon.
        daemon: &'static str,
        /// Node role.
        node: String,
        /// The syscall and its object (`read flannel0`).
        op: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}
