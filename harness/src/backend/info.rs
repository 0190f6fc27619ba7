//! The static facts of a backend, in one value: what `cnbench list` shows, what the planner
//! needs before the backend exists (defaults, pod network), what the harness checks on the
//! machine (programs, kernel link kinds) and what a result records (datapath).

use serde::{Deserialize, Serialize};

use super::capability::FaultDecl;
use super::options::OptionDecl;
use crate::error::PlanError;
use crate::topology::{Defaults, Plan, PodNetwork, TopologyRequest, Underlay};

/// Where packets are moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Datapath {
    /// Kernel devices and routes only.
    Kernel,
    /// A userspace daemon reading a TUN device.
    Userspace,
}

impl Datapath {
    /// The name results use.
    pub fn as_str(self) -> &'static str {
        match self {
            Datapath::Kernel => "kernel",
            Datapath::Userspace => "userspace",
        }
    }
}

/// Whether a backend runs IPv6 (`--ip-family ipv6` and `dual`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv6Support {
    /// It does, on both.
    Yes,
    /// Its real counterpart carries IPv4 only, so cnbench refuses IPv6 for it: why, and what
    /// to use instead.
    NotInRealSystem(&'static str),
    /// The real system runs IPv6, cnbench's build of it does not yet.
    NotYet,
}

/// An external program a backend runs inside its nodes, and the Debian package that has it
/// (named in the error when it is missing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Program {
    /// Its name on `PATH` (`bird`).
    pub name: &'static str,
    /// The Debian package that installs it (`bird2`).
    pub package: &'static str,
}

/// A kernel link kind a backend uses where the kernel has it and does without elsewhere
/// (ipip's kernel module): `cnbench list` says which of the two this machine gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionalKind {
    /// The link kind (`ipip`).
    pub kind: &'static str,
    /// What runs where the kernel has it.
    pub with: &'static str,
    /// What runs where it does not.
    pub without: &'static str,
}

/// What a backend is and needs. A backend crate declares it as a constant (so `cnbench list`
/// shows it without making the backend); an instance returns it with what its options
/// resolved (a datapath chosen by detection).
#[derive(Debug, Clone, Copy)]
pub struct BackendInfo {
    /// CLI name (`host-net`).
    pub name: &'static str,
    /// One line for `cnbench list`.
    pub summary: &'static str,
    /// Where it moves cross-node packets.
    pub datapath: Datapath,
    /// The topology it gets when the command line says nothing (the article's shapes).
    pub defaults: Defaults,
    /// How its pods are addressed.
    pub pod_network: PodNetwork,
    /// Bytes its encapsulation adds to every cross-node packet (0 without one).
    pub overhead_bytes: u32,
    /// Underlays it works on.
    pub underlays: &'static [Underlay],
    /// External programs it runs.
    pub programs: &'static [Program],
    /// Kernel link kinds it creates (probed in a scratch namespace).
    pub link_kinds: &'static [&'static str],
    /// Kernel link kinds it uses where present.
    pub optional_kinds: &'static [OptionalKind],
    /// The device a userspace datapath daemon moves packets through, in its node
    /// (`flannel0`), so its syscalls are counted per packet; none for kernel datapaths.
    pub daemon_device: Option<&'static str>,
    /// Its own command-line options (`--datapath`, `--bgp-topology`).
    pub options: &'static [OptionDecl],
    /// Faults of its own parts it has (with the options resolved; the faults capability
    /// injects them).
    pub faults: &'static [FaultDecl],
    /// Whether it runs IPv6.
    pub ipv6: Ipv6Support,
}

impl BackendInfo {
    /// The plan of `request` for this backend (every unset option from [`Self::defaults`]),
    /// validated on its own; the backend's own validation comes when it is made.
    pub fn plan(&self, request: &TopologyRequest, run_id: String) -> Result<Plan, PlanError> {
        let plan = Plan::new(
            request.resolve(&self.defaults, self.pod_network, run_id),
            self.pod_network,
        )?;
        self.require_family(&plan)?;
        // Pods of their own on a narrower segment would need their MTU from the narrowest
        // link, which no overlay here computes yet: the narrow segment is host-net's.
        if let Some(m) = plan.spec.segment_mtu {
            if self.pod_network != PodNetwork::HostNetwork {
                return Err(self.refuse(format!(
                    "--segment-mtu {m}: a narrower segment is built for host-net only (its \
                     pods are the nodes, so the path MTU is the links'); leave it out"
                )));
            }
        }
        Ok(plan)
    }

    /// Refuses a plan with IPv6 (`ipv6` or `dual`) for a backend that does not run it, before
    /// anything is made.
    pub fn require_family(&self, plan: &Plan) -> Result<(), PlanError> {
        let family = plan.ip_family();
        if !family.has_v6() {
            return Ok(());
        }
        match self.ipv6 {
            Ipv6Support::Yes => Ok(()),
            Ipv6Support::NotInRealSystem(why) => Err(self.refuse(format!(
                "--ip-family {family}: {why}; use --ip-family ipv4"
            ))),
            Ipv6Support::NotYet => Err(self.refuse(format!(
                "--ip-family {family}: the real system runs IPv6, cnbench's {} does not yet                  (host-net and bridge do); use --ip-family ipv4",
                self.name
            ))),
        }
    }

    /// The refusal of a plan by this backend: `why`, with the option to change.
    pub fn refuse(&self, why: impl Into<String>) -> PlanError {
        PlanError::Backend {
            backend: self.name.into(),
            why: why.into(),
        }
    }

    /// Refuses, with the Debian package to install, a backend whose programs are not on
    /// `PATH` (`find` looks one up).
    pub fn require_programs(
        &self,
        find: impl Fn(&str) -> Option<std::path::PathBuf>,
    ) -> Result<(), PlanError> {
        match self.programs.iter().find(|p| find(p.name).is_none()) {
            None => Ok(()),
            Some(p) => Err(self.refuse(format!(
                "it runs {}, which is not on PATH: install Debian's {} package (`apt-get install {}`)",
                p.name, p.package, p.package
            ))),
        }
    }

    /// Refuses a plan whose underlay is not one of [`Self::underlays`], with `why` (which
    /// says what to use instead).
    pub fn require_underlay(&self, plan: &Plan, why: &str) -> Result<(), PlanError> {
        if self.underlays.contains(&plan.spec.underlay) {
            Ok(())
        } else {
            Err(self.refuse(why))
        }
    }
}
