//! The VM nodes of one run: booted in parallel inside the run's hub namespace, each reached
//! through its agent, every one ended by pid at teardown.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{initramfs, qemu, Assets, VmSpec};
use crate::error::{HarnessError, Result};
use crate::host::Host;
use crate::process::Supervisor;
use crate::remote::AgentClient;
use crate::signals;
use crate::topology::{NodePlan, Plan};

/// Guest memory of a node, MiB: the kernel, the unpacked initramfs (the cnbench binary is
/// most of it) and the pods' processes.
pub const NODE_MEMORY_MIB: u32 = 384;

/// How long a node may take from QEMU's start to its agent's welcome. A TCG boot takes
/// seconds; two at once on a busy two-core machine, tens.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// The booted nodes of a run.
#[derive(Debug)]
pub struct VmNodes {
    /// One session per node, in plan order.
    pub agents: Vec<Arc<AgentClient>>,
    /// The nodes' kernel release.
    pub kernel_release: String,
    /// From the first QEMU start to the last agent's welcome.
    pub ready: Duration,
    /// Where the run's VM files are (initramfs, control sockets, console logs).
    pub dir: PathBuf,
}

/// What a run records for its VMs: the daemons' `what` of a node's QEMU.
pub fn qemu_what(node: &NodePlan) -> String {
    format!("qemu of {}", node.role)
}

/// Whether the VM nodes' kernel has a module (`ipip`): detection for the kernel that will
/// run a backend on the VM substrate, from its module tree. False when no VM kernel is set up.
pub fn kernel_has_module(name: &str) -> bool {
    Assets::locate()
        .and_then(|a| initramfs::modules(&a))
        .map(|m| m.iter().any(|m| m.name == name))
        .unwrap_or(false)
}

/// The MAC of a node's NIC: QEMU's locally administered prefix, the node's ordinal after it.
pub fn node_mac(index: usize) -> [u8; 6] {
    [0x52, 0x54, 0x00, 0xcb, (index >> 8) as u8, index as u8]
}

/// Boots every node of `plan` as a VM whose NIC is the tap `node.switch_port` in `hub` (the
/// switch or router namespace), each QEMU a daemon of `procs`, and opens a session with each
/// agent. `exe` is the cnbench binary that goes into the VMs, `programs` the others the
/// backend runs inside its nodes (BIRD), taken from this machine with their libraries.
pub fn boot(
    plan: &Plan,
    hub: &Host,
    procs: &Supervisor,
    exe: &Path,
    programs: &[PathBuf],
) -> Result<VmNodes> {
    let assets = Assets::locate()?;
    let dir = crate::state::RunState::dir(plan.run_id()).join("vm");
    std::fs::create_dir_all(&dir)
        .map_err(|e| HarnessError::io(format!("create {}", dir.display()), e))?;
    let image = dir.join("initramfs.cpio");
    let mut all = vec![exe.to_path_buf()];
    all.extend(programs.iter().cloned());
    initramfs::build(&assets, &image, &all)?;
    let start = Instant::now();
    let mut started = Vec::new();
    for (i, node) in plan.nodes.iter().enumerate() {
        let spec = VmSpec {
            name: node.role.clone(),
            kernel: assets.kernel.clone(),
            initramfs: image.clone(),
            memory_mib: NODE_MEMORY_MIB,
            tap: node.switch_port.clone(),
            mac: node_mac(i),
            control: dir.join(format!("{}.sock", node.role)),
            console_log: dir.join(format!("{}.console", node.role)),
        };
        let mut cmd: Command = spec.command(&assets);
        // QEMU's own complaints (a tap it cannot make) are short and belong with ours.
        cmd.stdout(Stdio::null()).stderr(Stdio::inherit());
        let pid = procs.spawn(hub, exe, cmd, &qemu_what(node))?;
        started.push((node, spec, pid));
    }
    let mut agents = Vec::new();
    for (node, spec, pid) in &started {
        if signals::interrupted() {
            return Err(HarnessError::Interrupted);
        }
        let left = BOOT_TIMEOUT.saturating_sub(start.elapsed());
        let stream = qemu::connect_control(&spec.control, *pid, &spec.console_log, left)?;
        let reader = stream
            .try_clone()
            .map_err(|e| HarnessError::io(format!("{}", spec.control.display()), e))?;
        let left = BOOT_TIMEOUT.saturating_sub(start.elapsed());
        let agent = AgentClient::connect(
            &node.netns,
            &spec.console_log.display().to_string(),
            Box::new(reader),
            Box::new(stream),
            left,
        )?;
        agents.push(Arc::new(agent));
    }
    let kernel_release = agents
        .first()
        .map(|a| a.welcome().kernel_release.clone())
        .unwrap_or_else(|| assets.kernel_release.clone());
    Ok(VmNodes {
        agents,
        kernel_release,
        ready: start.elapsed(),
        dir,
    })
}

impl VmNodes {
    /// Ends every session politely (each agent stops its processes and deletes its
    /// namespaces); QEMU itself is stopped by pid with the run's other daemons.
    pub fn shutdown(&self) -> Vec<HarnessError> {
        let mut errors = Vec::new();
        for a in &self.agents {
            if a.dead().is_none() {
                if let Err(e) = a.shutdown(Duration::from_secs(10)) {
                    errors.push(e);
                }
            }
        }
        errors
    }
}
