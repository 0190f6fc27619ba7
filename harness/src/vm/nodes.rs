//! The VM nodes of one run: booted in parallel inside the run's hub namespace, each reached
//! through its agent, every one ended by pid at teardown.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{initramfs, qemu, Assets, VmSpec};
use crate::error::{HarnessError, Result};
use crate::host::Host;
use crate::remote::client::Connection;
use crate::remote::AgentClient;
use crate::signals;
use crate::supervisor::Supervisor;
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
    /// The namespace (of this machine) the QEMUs run in and their taps are in.
    pub hub: String,
    assets: Assets,
    image: PathBuf,
}

/// What a run records for its VMs: the daemons' `what` of a node's QEMU.
pub fn qemu_what(node: &NodePlan) -> String {
    format!("qemu of {}", node.role)
}

/// Whether the VM nodes' kernel has a module (`ipip`), as a file or built in: detection for
/// the kernel that will run a backend on the VM substrate. False when no VM kernel is set up.
pub fn kernel_has_module(name: &str) -> bool {
    Assets::locate().is_ok_and(|a| super::modules::has_module(&a, name))
}

/// The MAC of a node's NIC: QEMU's locally administered prefix, the node's ordinal after it.
pub fn node_mac(index: usize) -> [u8; 6] {
    [0x52, 0x54, 0x00, 0xcb, (index >> 8) as u8, index as u8]
}

/// Boots every node of `plan` as a VM whose NIC is the tap `node.switch_port` in `hub` (the
/// switch or router namespace), each QEMU a daemon of `procs`, and opens a session with each
/// agent. `exe` is the cnbench binary that goes into the VMs, `programs` the others the
/// backend runs inside its nodes (BIRD), taken from this machine with their libraries;
/// `kinds` the link kinds the backend creates (their modules are loaded at boot).
pub fn boot(
    plan: &Plan,
    hub: &Host,
    procs: &Supervisor,
    exe: &Path,
    programs: &[PathBuf],
    kinds: initramfs::LinkKinds<'_>,
) -> Result<VmNodes> {
    let assets = Assets::locate()?;
    let dir = crate::state::RunState::dir(plan.run_id()).join("vm");
    std::fs::create_dir_all(&dir)
        .map_err(|e| HarnessError::io(format!("create {}", dir.display()), e))?;
    let image = dir.join("initramfs.cpio");
    let mut all = vec![exe.to_path_buf()];
    all.extend(programs.iter().cloned());
    initramfs::build(&assets, &image, &all, kinds)?;
    let mut vms = VmNodes {
        agents: Vec::new(),
        kernel_release: assets.kernel_release.clone(),
        ready: Duration::ZERO,
        dir,
        hub: hub.name().to_string(),
        assets,
        image,
    };
    // Every QEMU starts before the first connection: the nodes boot side by side.
    let start = Instant::now();
    let mut started = Vec::new();
    for node in &plan.nodes {
        started.push(vms.start(node, hub, procs, exe)?);
    }
    for (node, pid) in plan.nodes.iter().zip(started) {
        let left = BOOT_TIMEOUT.saturating_sub(start.elapsed());
        let agent = vms.connect(node, pid, left)?;
        vms.agents.push(agent);
    }
    vms.ready = start.elapsed();
    if let Some(a) = vms.agents.first() {
        vms.kernel_release = a.welcome().kernel_release.clone();
    }
    Ok(vms)
}

impl VmNodes {
    fn spec(&self, node: &NodePlan) -> VmSpec {
        VmSpec {
            name: node.role.clone(),
            kernel: self.assets.kernel.clone(),
            initramfs: self.image.clone(),
            memory_mib: NODE_MEMORY_MIB,
            tap: node.switch_port.clone(),
            mac: node_mac(node.index as usize),
            control: self.dir.join(format!("{}.sock", node.role)),
            console_log: self.dir.join(format!("{}.console", node.role)),
        }
    }

    /// Starts `node`'s QEMU inside `hub`, as a daemon of `procs`; returns its pid.
    fn start(&self, node: &NodePlan, hub: &Host, procs: &Supervisor, exe: &Path) -> Result<u32> {
        let spec = self.spec(node);
        // A control socket of an earlier boot of this node would look like this one's.
        let _ = std::fs::remove_file(&spec.control);
        let mut cmd: Command = spec.command(&self.assets);
        // QEMU's own complaints (a tap it cannot make) are short and belong with ours.
        cmd.stdout(Stdio::null()).stderr(Stdio::inherit());
        procs.spawn(hub, exe, cmd, &qemu_what(node))
    }

    /// Waits for `node`'s agent (QEMU pid `pid`) and opens a session with it.
    fn connect(&self, node: &NodePlan, pid: u32, limit: Duration) -> Result<Arc<AgentClient>> {
        if signals::interrupted() {
            return Err(HarnessError::Interrupted);
        }
        let start = Instant::now();
        let spec = self.spec(node);
        let stream = qemu::connect_control(&spec.control, pid, &spec.console_log, limit)?;
        let conn = Connection::unix(stream)
            .map_err(|e| HarnessError::io(format!("{}", spec.control.display()), e))?;
        let agent = AgentClient::connect(
            &node.netns,
            &spec.console_log.display().to_string(),
            conn,
            limit.saturating_sub(start.elapsed()),
        )?;
        Ok(Arc::new(agent))
    }

    /// node-restart's power cut: `node`'s QEMU is stopped (by pid; with the VM go every
    /// process and namespace in it, and its agent's session ends).
    pub fn power_off(&self, node: &NodePlan, procs: &Supervisor) {
        let what = qemu_what(node);
        for (w, netns, pid) in procs.list() {
            if w == what && netns == self.hub {
                procs.stop(&netns, pid);
            }
        }
        // The session died with the VM; closing it now spares its users the wait.
        if let Some(agent) = self.agents.get(node.index as usize) {
            agent.end();
        }
    }

    /// node-restart's second half: `node` boots again from the same image, with a fresh
    /// session (its agent knows nothing of the old one).
    pub fn power_on(
        &mut self,
        node: &NodePlan,
        hub: &Host,
        procs: &Supervisor,
        exe: &Path,
    ) -> Result<Arc<AgentClient>> {
        let pid = self.start(node, hub, procs, exe)?;
        let agent = self.connect(node, pid, BOOT_TIMEOUT)?;
        self.agents[node.index as usize] = Arc::clone(&agent);
        Ok(agent)
    }

    /// Ends every session politely (each agent stops its processes and deletes its
    /// namespaces); QEMU itself is stopped by pid with the run's other daemons.
    pub fn shutdown(&self) -> Vec<HarnessError> {
        crate::remote::client::shutdown_all(&self.agents)
    }
}
