//! Where a run's processes run: workload agents are pinned by placement, and datapath daemons
//! to the CPU the default placement uses, so every figure says where it was measured.

/// Where the client and server agents run relative to each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuPlacement {
    /// Both on one CPU: on VMs whose idle vCPUs halt, a cross-CPU wake-up costs tens of µs
    /// and swamps datapath differences (docs/machine-notes.md "Measuring on these machines"), so this is the default.
    SameCpu,
    /// Client and server on different CPUs.
    CrossCpu,
}

impl CpuPlacement {
    /// The name results use.
    pub fn as_str(self) -> &'static str {
        match self {
            CpuPlacement::SameCpu => "same-cpu",
            CpuPlacement::CrossCpu => "cross-cpu",
        }
    }

    /// Picks (client, server) CPUs from those this process may use.
    pub fn cpus(self) -> (u32, u32) {
        let allowed = workloads::allowed_cpus();
        let last = allowed.last().copied().unwrap_or(0);
        match self {
            CpuPlacement::SameCpu => (last, last),
            CpuPlacement::CrossCpu if allowed.len() >= 2 => (allowed[0], allowed[1]),
            CpuPlacement::CrossCpu => (last, last),
        }
    }
}
