//! The SSH substrate: real hosts as nodes (docs/design.md §4b).
//!
//! Each host of `--hosts` runs `cnbench agent --listen stdio` started through the system's
//! `ssh` client ([`client`]), so the user's own keys, agent, `~/.ssh/config`, jump hosts and
//! known_hosts decide who may log in; cnbench adds no authentication of its own. Before
//! anything is built, every host is checked ([`client::Ssh::preflight`]): reachable, this
//! cnbench version, root (directly or through `sudo -n`), the underlay interface up, the
//! kernel's link kinds. Then ([`nodes`]) each agent makes the node's namespace on its host
//! and the harness drives it as it drives a VM's: a [`crate::host::Host`] over the agent.
//!
//! # The underlay is the user's network
//! cnbench cables nothing here. A node's `eth0` is a macvlan (bridge mode) or ipvlan (L2)
//! of the host's interface, created directly inside the node's namespace
//! ([`crate::remote::protocol::Call::Uplink`]), with an address that an ARP probe found
//! unused first; the host's own namespace gains no device, address, route or rule. Packets
//! cross the user's network between the user's hosts, and nothing else.
//!
//! # Safety
//! Every ssh client is a child of this process, in a process group of its own, killed by
//! pid at teardown and sent SIGTERM by the kernel if this process dies; an agent whose ssh
//! session ends (however) stops everything it started and deletes its namespaces.

pub mod client;
pub mod nodes;
pub mod uplink;

pub use client::{shell_quote, Ssh};
pub use nodes::SshNodes;
