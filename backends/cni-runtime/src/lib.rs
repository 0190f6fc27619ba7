//! cnbench's CNI runtime: it runs a network configuration's plugin chain exactly as a
//! container runtime does (CNI specification 1.1.0, 1.0.0, 0.4.0, 0.3.x), inside a node's
//! namespace, for each pod; keeps every attachment's result as libcni keeps its cache; and
//! turns the results into expectations and into checks of each plugin's effect. The `cni`
//! backend runs a whole network with it; vxlan, host-gw and bgp hand it their pods with
//! `--pod-wiring cni`, as flannel's CNI plugin delegates pod wiring to `bridge`.
//!
//! Files: `conf` (the network configuration and each plugin's request), `capability` (the
//! capability arguments cnbench gives), `result` (what
//! plugins print), `exec` (one invocation), `runtime` (attachments, the cache), `wiring`
//! (pods of a backend wired by a chain: options, setup, teardown), `expect` (expectations
//! from results), `effects` (what portmap, bandwidth, firewall and tuning must have done),
//! `known` (released plugins' bugs, recognised by their symptom), `error`.

pub mod capability;
pub mod conf;
pub mod effects;
pub mod error;
pub mod exec;
pub mod expect;
pub mod known;
pub mod result;
pub mod runtime;
pub mod wiring;

pub use conf::NetworkList;
pub use error::CniError;
pub use result::CniResult;
pub use wiring::{Chain, Scope, Settings};
