//! The one error type of this crate. Every message names the object that failed and, where
//! one is known, the fix.

use std::io;
use std::net::SocketAddr;

/// Everything that can go wrong while serving or running a workload.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// A workload name that is not built (or does not exist). The message lists the valid names.
    #[error("{message}")]
    UnknownWorkload {
        /// The name that was given.
        name: String,
        /// The full message, listing the valid names.
        message: String,
    },

    /// A [`crate::ClientConfig`] or [`crate::AgentTask`] that cannot be run as given.
    #[error("invalid {what}: {reason}")]
    InvalidConfig {
        /// Which setting is wrong (`"message_size"`, `"agent task JSON"`, ...).
        what: &'static str,
        /// Why, and what to use instead.
        reason: String,
    },

    /// The server could not open its listening socket.
    #[error("listen on {addr} failed: {source}; {hint}")]
    Listen {
        /// The address that was to be bound.
        addr: SocketAddr,
        /// The kernel's error.
        source: io::Error,
        /// What to do about it.
        hint: &'static str,
    },

    /// The client could not connect to the server.
    #[error("connect to {addr} failed: {source}; {hint}")]
    Connect {
        /// The server address.
        addr: SocketAddr,
        /// The kernel's error.
        source: io::Error,
        /// What to do about it.
        hint: &'static str,
    },

    /// A socket operation on an established connection failed (including timeouts).
    #[error("{op} on the connection to {peer} failed: {source}{hint}")]
    Io {
        /// The other end of the connection.
        peer: SocketAddr,
        /// What was being done (`"sending the test header"`, ...).
        op: &'static str,
        /// The kernel's error.
        source: io::Error,
        /// Extra advice, empty or starting with `"; "`.
        hint: &'static str,
    },

    /// The peer spoke, but not the cnbench workload protocol (or rejected our request).
    #[error("protocol error with {peer}: {detail}")]
    Protocol {
        /// The other end of the connection.
        peer: SocketAddr,
        /// What was wrong and what to check.
        detail: String,
    },

    /// `sched_setaffinity` refused the CPU.
    #[error("pinning to CPU {cpu} failed: {source}; this process may run on CPUs {allowed}, choose one of those")]
    Pin {
        /// The CPU asked for.
        cpu: u32,
        /// The kernel's error.
        source: io::Error,
        /// The CPUs this process may run on, as a list (`"0,1"`).
        allowed: String,
    },

    /// The measurement itself could not be recorded (histogram failure).
    #[error("recording the measurement failed: {0}")]
    Measurement(String),

    /// Writing the agent's result line (or the `ready` line) failed: the harness went away.
    #[error("writing the agent output failed: {0}; did the harness that started this agent exit?")]
    Output(#[source] io::Error),
}

impl WorkloadError {
    /// Wraps an I/O error on an established connection, adding a hint for the common cases.
    pub(crate) fn io(peer: SocketAddr, op: &'static str, source: io::Error) -> Self {
        let hint = match source.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                "; the peer stopped answering before the timeout: was it killed, or did the \
                 datapath between the pods stop forwarding?"
            }
            io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted => {
                "; the peer closed the connection: check the server agent's stderr"
            }
            _ => "",
        };
        WorkloadError::Io {
            peer,
            op,
            source,
            hint,
        }
    }

    /// Wraps a failed connect, with a hint chosen by the error kind.
    pub(crate) fn connect(addr: SocketAddr, source: io::Error) -> Self {
        let hint = match source.kind() {
            io::ErrorKind::ConnectionRefused => "is the server running in the peer pod?",
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                "no answer within the connect timeout: is there a route from this pod to the \
                 peer, and does the datapath forward the SYN?"
            }
            io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
                "this pod has no route to that address: check its routes and the backend"
            }
            io::ErrorKind::AddrNotAvailable => {
                "the address cannot be used from this pod: is it the right pod IP?"
            }
            _ => "is the server running in the peer pod, and is the datapath up?",
        };
        WorkloadError::Connect { addr, source, hint }
    }

    /// Wraps a failed bind/listen, with a hint chosen by the error kind.
    pub(crate) fn listen(addr: SocketAddr, source: io::Error) -> Self {
        let hint = match source.kind() {
            io::ErrorKind::AddrInUse => {
                "another process already listens on that port in this network namespace \
                 (host-net pods share the node's ports): choose another port, or port 0"
            }
            io::ErrorKind::AddrNotAvailable => {
                "that IP is not an address of this network namespace: bind the pod's own IP \
                 or 0.0.0.0"
            }
            io::ErrorKind::PermissionDenied => {
                "ports below 1024 need CAP_NET_BIND_SERVICE: use a higher port"
            }
            _ => "check the bind address and the network namespace the agent runs in",
        };
        WorkloadError::Listen { addr, source, hint }
    }
}
