//! Which faults there are: the harness's own (loss, link-flap, node-restart), which apply to
//! every backend that has what they act on, and each backend's own
//! ([`crate::backend::OwnFaults`]), found by name among the faults the backend declares.

use std::fmt;

use crate::backend::{Backend, FaultDecl};
use crate::topology::Plan;

/// A fault `cnbench fault` can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Random loss of a percentage of the underlay's packets (nftables `numgen random`; the
    /// kernels here have no netem).
    Loss,
    /// One node's underlay link down for the hold time, then up.
    LinkFlap,
    /// Every link of one of the l3 underlay's two routers down: traffic must find the
    /// other; then the router comes back.
    RouterDown,
    /// A fault of the backend's own parts, as it declares it.
    Own(&'static FaultDecl),
    /// One node's namespace and its pods' torn down, then set up again.
    NodeRestart,
}

impl FaultKind {
    /// The harness's own faults, in the order `--fault all` runs them (the backend's own come
    /// between link-flap and node-restart: the mildest first).
    pub const GENERIC: [FaultKind; 4] = [
        FaultKind::Loss,
        FaultKind::LinkFlap,
        FaultKind::RouterDown,
        FaultKind::NodeRestart,
    ];

    /// The CLI and result name.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::LinkFlap => "link-flap",
            FaultKind::RouterDown => "router-down",
            FaultKind::Loss => "loss",
            FaultKind::NodeRestart => "node-restart",
            FaultKind::Own(decl) => decl.name,
        }
    }

    /// What it does, in words.
    pub fn summary(self) -> &'static str {
        match self {
            FaultKind::LinkFlap => "the node's underlay link down, then up",
            FaultKind::RouterDown => {
                "every link of one of two l3 routers down until traffic flows through the \
                 other, then up"
            }
            FaultKind::Loss => "random loss on the underlay (nftables)",
            FaultKind::NodeRestart => "the node and its pods torn down, then set up again",
            FaultKind::Own(decl) => decl.summary,
        }
    }

    /// Whether the harness injects it for every backend (given an underlay), rather than the
    /// backend for its own parts.
    pub fn is_generic(self) -> bool {
        !matches!(self, FaultKind::Own(_))
    }

    /// Whether it hits one node (everything but loss, which hits the whole underlay, and
    /// router-down, which hits a router).
    pub fn targets_node(self) -> bool {
        !matches!(self, FaultKind::Loss | FaultKind::RouterDown)
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Every fault `backend` knows, applicable here or not, in the order `--fault all` runs them.
fn known(backend: &dyn Backend) -> Vec<FaultKind> {
    let own = backend
        .capabilities()
        .faults
        .map(|f| f.faults())
        .unwrap_or_default();
    // The harness's own in their order, the backend's own before the harshest (the last).
    let (milder, harshest) = FaultKind::GENERIC.split_at(FaultKind::GENERIC.len() - 1);
    let mut out = milder.to_vec();
    out.extend(own.iter().map(FaultKind::Own));
    out.extend_from_slice(harshest);
    out
}

/// The fault called `name`, among the harness's and `backend`'s own; an error lists them.
pub fn named(backend: &dyn Backend, name: &str) -> Result<FaultKind, String> {
    let all = known(backend);
    all.iter()
        .copied()
        .find(|k| k.name() == name || matches!(k, FaultKind::Own(d) if d.aliases.contains(&name)))
        .ok_or_else(|| {
            format!(
                "unknown fault {name:?} for backend {}; choose one of {} or all",
                backend.info().name,
                all.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")
            )
        })
}

/// The faults that apply to `backend` on `plan`, in the order `--fault all` runs them:
/// link-flap and loss need an underlay, router-down two l3 routers; the backend adds its
/// own.
///
/// On the SSH substrate the underlay is the hosts' own network: a node's `eth0` can flap,
/// but cnbench has no hub there to drop packets in (loss), and the node's namespace is its
/// agent session's, which does not outlive it (node-restart).
pub fn applicable(backend: &dyn Backend, plan: &Plan) -> Vec<FaultKind> {
    let has_hub = plan.switch.is_some() || plan.router().is_some();
    let ssh = plan.spec.substrate == crate::topology::Substrate::Ssh;
    let ssh_underlay = ssh && plan.spec.underlay != crate::topology::Underlay::None;
    known(backend)
        .into_iter()
        .filter(|k| match k {
            FaultKind::LinkFlap => has_hub || ssh_underlay,
            FaultKind::RouterDown => plan.routers.len() > 1,
            FaultKind::Loss => has_hub,
            FaultKind::NodeRestart => !ssh,
            FaultKind::Own(_) => true,
        })
        .collect()
}
