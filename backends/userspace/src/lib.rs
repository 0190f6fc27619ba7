//! The userspace datapath kit: what every cnbench userspace datapath — flannel-udp's UDP
//! daemon, ipip's raw IP-in-IP daemon — and its backend share, so that only what moves the
//! packets differs between them.
//!
//! On the harness side:
//! - [`config`]: the daemon's configuration, built from the plan (its node, the pod network,
//!   which node owns each remote block, the TUN, its MTU and CPU), and the one route into the
//!   TUN, declared and added by the same function;
//! - [`daemons`]: a backend's daemons — started inside their nodes, pinned, awaited; the
//!   `daemon-restart` fault ([`daemons::DAEMON_RESTART`]) and the check that the datapath
//!   lives and dies with its daemon.
//!
//! Inside the node (`cnbench daemon <backend> '<json>'`):
//! - [`tun`]: the TUN device, its MTU and the route into it;
//! - [`sys`]: pinning to the configured CPU, the `ready` line, errno classes;
//! - [`table`]: the node owning a destination's block;
//! - [`offload`]: the `offload` datapath's TUN super-packets, UDP GSO/GRO control messages
//!   and coalescing back into the TUN;
//! - [`drops`]: what was dropped and why, logged sparingly;
//! - [`error`]: the daemon's errors, each naming its object and the fix.

pub mod config;
pub mod daemons;
pub mod drops;
pub mod error;
pub mod offload;
pub mod sys;
pub mod table;
pub mod tun;

pub use config::{declare_tunnels, tunnel_route, Peer, TunnelConfig};
pub use daemons::{Daemons, DAEMON_RESTART};
pub use drops::Drops;
pub use error::DaemonError;
pub use table::{ipv4_destination, BlockTable};
