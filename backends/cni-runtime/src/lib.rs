//! cnbench's CNI runtime: it runs a network configuration's plugin chain exactly as a
//! container runtime does (CNI specification 1.1.0, 1.0.0, 0.4.0, 0.3.x), inside a node's
//! namespace, for each pod; keeps every attachment's result as libcni keeps its cache; and
//! turns the results into expectations and into checks of each plugin's effect. The `cni`
//! backend runs a whole network with it; vxlan, host-gw and bgp hand it their pods with
//! `--pod-wiring cni`, as flannel's CNI plugin delegates pod wiring to `bridge`.
//!
//! Files: `options` (the command-line options and the settings they give), `conf` (the
//! network configuration and each plugin's request), `capability` (the capability arguments
//! cnbench gives), `result` (what plugins print), `exec` (one invocation), `runtime`
//! (attachments: ADD, CHECK, DEL, the cache), `chain` (a chain prepared on the nodes and
//! wiring their pods; its teardown), `wiring` (who wires a backend's pods: `PodWiring`,
//! `Wired`), `expect` (expectations from results), `checks` (the chain's own checks),
//! `conformance` (the plugin contract, with pods of its own), `snapshot` (a node's state, to
//! diff), `effects` (what portmap, bandwidth, firewall and tuning must have done), `known`
//! (released plugins' bugs, recognised by their symptom), `error`.

pub mod capability;
pub mod chain;
pub mod checks;
pub mod conf;
pub mod conformance;
pub mod effects;
pub mod error;
pub mod exec;
pub mod expect;
pub mod known;
pub mod options;
pub mod result;
pub mod runtime;
pub mod snapshot;
pub mod wiring;

#[cfg(test)]
mod tests;

pub use chain::{Chain, Scope};
pub use conf::NetworkList;
pub use error::CniError;
pub use options::Settings;
pub use result::CniResult;
pub use wiring::{PodWiring, Wired};
