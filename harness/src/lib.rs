//! The cnbench engine: network namespaces and a typed netlink layer, the topology planner,
//! the [`Backend`] trait, the run lifecycle, conformance checks,
//! measurement orchestration, process supervision and cleanup.
//!
//! Depends on `workloads` (traffic generators) and `reports` (the result schema); never on a
//! backend. Backends depend on this crate.

pub mod backend;
pub mod checks;
pub mod churn;
pub mod clock;
pub mod cost;
pub mod cpu;
pub mod detect;
pub mod error;
pub mod fault;
pub mod host;
pub mod local;
pub mod measure;
pub mod netlink;
pub mod netns;
pub mod podnet;
pub mod probe;
pub mod process;
pub mod remote;
pub mod run;
pub mod scale;
pub mod signals;
pub mod snapshot;
pub mod ssh;
pub mod state;
pub mod supervisor;
mod task;
pub mod topology;
pub mod tweak;
pub mod underlay;
pub mod vm;

pub use backend::{Backend, BackendInfo, BackendOptions, Context, Datapath, Expectations};
pub use error::{HarnessError, PlanError, Result};
pub use topology::{Defaults, Plan, PodNetwork, Substrate, TopologySpec, Underlay};
