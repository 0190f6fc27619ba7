//! What a backend gets while it builds and checks: [`Context`], with the helpers every
//! backend uses (a daemon started and awaited, a pod's veth pair).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;

use ipnet::{Ipv4Net, Ipv6Net};
use reports::{ComponentRecord, PluginCallRecord};
use serde::{Deserialize, Serialize};

use crate::cpu::CpuPlacement;
use crate::error::{HarnessError, Result};
use crate::host::Host;
use crate::netlink::RouteSpec;
use crate::supervisor::Supervisor;
use crate::topology::{Plan, PodPlan};

/// What a backend gets during setup and checks: the plan, a host per namespace, the run's
/// daemons, the cnbench binary (to start `cnbench daemon ...` inside a node), and where to
/// report what setup decided that the plan could not (a pod's address from a CNI plugin's
/// IPAM).
pub struct Context<'a> {
    /// The plan being built.
    pub plan: &'a Plan,
    /// Hosts by namespace name.
    pub hosts: &'a BTreeMap<String, Host>,
    /// The run's long-lived processes.
    pub procs: &'a Supervisor,
    /// The cnbench binary.
    pub exe: &'a Path,
    /// What setup reported: its pods, the software it ran.
    pub reported: &'a Reported,
}

/// The MAC of a pod's `eth0` wired by cnbench: `02:42` and its IPv4 address, as Docker's
/// bridge gives containers. An address used again by a later pod (pod churn) then comes
/// with the same MAC, so the neighbour entries its peers and its node still hold for the
/// address stay right. With a random MAC a peer's entry (REACHABLE or STALE) keeps sending
/// to the departed pod's MAC, which the bridge floods and nobody takes, until the entry's
/// `delay_first_probe_time` (5 s) and its unicast probes have run out and it fails: with
/// random MACs, no reused address of a second `cnbench churn` cycle answered within 10 s. A CNI
/// plugin that keeps random MACs announces them instead (the reference bridge plugin sends
/// a gratuitous ARP on ADD).
pub fn pod_mac(ip: Ipv4Addr) -> [u8; 6] {
    let [a, b, c, d] = ip.octets();
    [0x02, 0x42, a, b, c, d]
}

/// The placement whose server CPU datapath daemons are pinned to.
pub const DAEMON_CPU: CpuPlacement = CpuPlacement::SameCpu;

/// What setup made of a pod where the plan could not say: its address (chosen by a CNI
/// plugin's IPAM, say) and whatever else the backend needs later (the plugin's ADD result,
/// for CHECK and DEL).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodReport {
    /// The IPv4 address on the pod's `eth0`, with its prefix. On an ipv6 run, which
    /// configures no IPv4, the plan's own ([`PodPlan::ip`], planned only).
    pub ip: Ipv4Net,
    /// The pod's default gateway, if it has one.
    pub gateway: Option<Ipv4Addr>,
    /// The IPv6 address on the pod's `eth0`, with its prefix, on a run with IPv6; none keeps
    /// the plan's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip6: Option<Ipv6Net>,
    /// The pod's IPv6 default gateway, if it has one (taken with `ip6`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway6: Option<Ipv6Addr>,
    /// The backend's own record of the pod, kept with the plan (and in the run's state) for
    /// its expectations, its checks and the pod's removal.
    pub detail: Option<serde_json::Value>,
}

/// What setup reported that the plan could not say: pod reports by pod role (`n0p1`), the
/// software under test it ran, and every plugin call it (and the checks and teardown) made. The harness applies the pod reports to the plan once setup
/// returns, so expectations, probes and measurements use what the pods really have, and keeps
/// them in the run's state; the components go into the result.
#[derive(Debug, Default)]
pub struct Reported {
    pods: Mutex<BTreeMap<String, PodReport>>,
    components: Mutex<Vec<ComponentRecord>>,
    calls: Mutex<Vec<PluginCallRecord>>,
}

impl Reported {
    /// Takes every pod report made so far.
    pub fn take_pods(&self) -> BTreeMap<String, PodReport> {
        std::mem::take(&mut *self.pods.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The report made of pod `role`, if one was (and not yet taken).
    pub fn pod(&self, role: &str) -> Option<PodReport> {
        self.pods
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(role)
            .cloned()
    }

    /// Every plugin call reported so far, in the order made.
    pub fn plugin_calls(&self) -> Vec<PluginCallRecord> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Every component reported so far, in the order reported.
    pub fn components(&self) -> Vec<ComponentRecord> {
        self.components
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// How long a daemon may take to say `ready`.
const READY_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The same on a VM node, whose every instruction is emulated (a daemon's start-up takes
/// seconds there, more while other VMs boot).
const REMOTE_READY_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

impl Context<'_> {
    /// Reports what setup made of `pod` (the address it chose, a plugin's result) rather
    /// than took from the plan. Reports are applied to the plan after setup (and after a pod
    /// is added).
    pub fn report_pod(&self, pod: &PodPlan, address: PodReport) {
        self.reported
            .pods
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(pod.role.clone(), address);
    }

    /// Reports a piece of software under test that setup ran (a CNI network, a plugin), for
    /// the result. A component reported again (same role and name) replaces the earlier one.
    pub fn report_component(&self, c: ComponentRecord) {
        let mut all = self
            .reported
            .components
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match all
            .iter_mut()
            .find(|x| x.role == c.role && x.name == c.name)
        {
            Some(x) => *x = c,
            None => all.push(c),
        }
    }

    /// Reports one invocation of a plugin (a CNI verb) with its wall time, for the result.
    pub fn report_plugin_call(&self, call: PluginCallRecord) {
        self.reported
            .calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(call);
    }

    /// Starts `cnbench daemon <args>` inside `netns` and waits (up to 5 s) for its first
    /// stdout line, which must be `ready`; returns its pid. The daemon dies with this process
    /// in a `run`, and outlives it in an `up`.
    pub fn spawn_daemon(&self, netns: &str, args: &[String], what: &str) -> Result<u32> {
        let mut cmd = Command::new(self.exe);
        cmd.arg("daemon").args(args);
        self.spawn_awaited(netns, cmd, what)
    }

    /// Starts `program <args>` inside `netns` as [`Context::spawn_daemon`] starts `cnbench
    /// daemon`: recorded by pid, pinned, awaited until its first stdout line is `ready`
    /// (stopped by its pid otherwise). For a program other than cnbench standing in for a
    /// daemon (a reference forwarder measured on the same topology).
    pub fn spawn_program(
        &self,
        netns: &str,
        program: &Path,
        args: &[String],
        what: &str,
    ) -> Result<u32> {
        let mut cmd = Command::new(program);
        cmd.args(args);
        self.spawn_awaited(netns, cmd, what)
    }

    /// Starts `cmd` in `netns` and waits for its `ready` line.
    fn spawn_awaited(&self, netns: &str, mut cmd: Command, what: &str) -> Result<u32> {
        cmd.stdin(Stdio::null()).stdout(Stdio::piped());
        if self.procs.die_with_parent {
            cmd.stderr(Stdio::inherit());
        } else {
            // A daemon of a standing topology outlives the terminal that started it: its
            // diagnostics go to a log in the run's state directory instead.
            let log = crate::state::RunState::dir(self.plan.run_id())
                .join(format!("{}.log", what.replace(' ', "-")));
            let file = std::fs::File::create(&log)
                .map_err(|e| HarnessError::io(format!("create {}", log.display()), e))?;
            cmd.stderr(file);
        }
        let host = self.host(netns);
        let pid = self.procs.spawn(host, self.exe, cmd, what)?;
        // A datapath daemon forwards every packet of a measurement: pin it where the default
        // (same-cpu) placement pins the workload agents, so an idle CPU never has to wake up
        // for it (tens of µs a round trip on these VMs) and runs are comparable.
        if let Some(cpu) = host.local_cpu(DAEMON_CPU.cpus().1) {
            let mut set = nix::sched::CpuSet::new();
            if set.set(cpu as usize).is_ok() {
                let _ = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(pid as i32), &set);
            }
        }
        let limit = if host.local().is_some() {
            READY_LIMIT
        } else {
            REMOTE_READY_LIMIT
        };
        let fail = |message: String| HarnessError::Process {
            what: what.to_string(),
            netns: netns.to_string(),
            message,
        };
        match self.procs.first_line(netns, pid, limit) {
            Some(line) if line.trim() == "ready" => Ok(pid),
            Some(line) if line.is_empty() => {
                self.procs.stop(netns, pid);
                Err(fail(
                    "exited (or closed its stdout) without printing `ready`: it must print \
                     `ready` once its device and socket exist (see its stderr above)"
                        .into(),
                ))
            }
            Some(line) => {
                self.procs.stop(netns, pid);
                Err(fail(format!(
                    "expected `ready`, got {:?} (see its stderr above)",
                    line.trim()
                )))
            }
            None => {
                self.procs.stop(netns, pid);
                Err(fail(format!(
                    "not ready within {} s: no `ready` line on its stdout (see its stderr)",
                    limit.as_secs()
                )))
            }
        }
    }

    /// Stops the run's process `what` (as started: `flannel-udp daemon on n0`, `bird on
    /// n1`) in `netns`, by its recorded pid; returns the pid. An error if there is none.
    pub fn stop_process(&self, what: &str, netns: &str) -> Result<u32> {
        let found = self
            .procs
            .list()
            .into_iter()
            .find(|(w, n, _)| w == what && n == netns);
        match found {
            Some((_, _, pid)) => {
                self.procs.stop(netns, pid);
                Ok(pid)
            }
            None => Err(HarnessError::Process {
                what: what.to_string(),
                netns: netns.to_string(),
                message: "not among the run's processes (did it exit? see its stderr)".into(),
            }),
        }
    }

    /// The host of a namespace of this run.
    pub fn host(&self, netns: &str) -> &Host {
        self.hosts
            .get(netns)
            .unwrap_or_else(|| panic!("namespace {netns} is not part of this run's plan"))
    }

    /// Wires a pod in its own namespace to its node with a veth pair: `eth0` in the pod
    /// (its MAC from its address, [`pod_mac`]; its address of each family of the run,
    /// loopback up, default routes via the pod's gateways), the host end (`pod.host_veth`) in the node, up. The caller attaches
    /// the host end where it belongs.
    pub fn wire_pod_veth(&self, pod: &PodPlan, mtu: u32) -> Result<()> {
        let node = self.host(&self.plan.node_of(pod).netns);
        let pod_host = self.host(&pod.netns);
        node.nl()
            .create_veth(&pod.host_veth, "eth0", Some(pod_host.as_peer()), mtu)?;
        let nl = pod_host.nl();
        nl.set_mac("eth0", pod_mac(pod.ip.addr()))?;
        nl.set_up("lo")?;
        let v4 = self.plan.ip_family().has_v4();
        if v4 {
            nl.add_address("eth0", pod.ip)?;
        }
        if let Some(ip6) = pod.ip6 {
            nl.add_address("eth0", ip6)?;
        }
        nl.set_up("eth0")?;
        if let Some(gw) = pod.gateway.filter(|_| v4) {
            nl.add_route(&RouteSpec::default_via(gw, "eth0"))?;
        }
        if let Some(gw6) = pod.gateway6 {
            nl.add_route(&RouteSpec::default_via(gw6, "eth0"))?;
        }
        node.nl().set_up(&pod.host_veth)
    }
}
