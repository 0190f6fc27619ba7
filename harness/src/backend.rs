//! The [`Backend`] trait: what a datapath needs, what it promises, and the few actions that
//! are its own. Everything else (namespaces, the underlay, checks, measurement, teardown of
//! the namespaces) is the harness's job, so a backend is mostly declarations.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use std::path::Path;
use std::process::{Command, Stdio};

use crate::error::{HarnessError, PlanError, Result};
use crate::fault::FaultKind;
use crate::host::Host;
use crate::netlink::RouteSpec;
use crate::process::Supervisor;
use crate::topology::{NodePlan, Plan, PodNetwork, PodPlan, Underlay};

/// The placement whose server CPU datapath daemons are pinned to.
pub const DAEMON_CPU: crate::measure::CpuPlacement = crate::measure::CpuPlacement::SameCpu;

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

/// What a backend is and what it needs from the machine; static, so `cnbench list` can show
/// backends that are not built yet.
#[derive(Debug, Clone, Copy)]
pub struct BackendInfo {
    /// CLI name (`host-net`).
    pub name: &'static str,
    /// One line for `cnbench list`.
    pub summary: &'static str,
    /// Underlays it works on.
    pub underlays: &'static [Underlay],
    /// Kernel link kinds it creates (probed in a scratch namespace).
    pub link_kinds: &'static [&'static str],
    /// External binaries it runs.
    pub binaries: &'static [&'static str],
    /// Whether this build of cnbench implements it.
    pub built: bool,
}

/// Topology defaults a backend suggests (the article's shapes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Defaults {
    /// Nodes.
    pub nodes: u32,
    /// Pods per node.
    pub pods_per_node: u32,
    /// Underlay.
    pub underlay: Underlay,
    /// Pod CIDR.
    pub pod_cidr: Ipv4Net,
}

/// A datapath, as the harness drives it.
pub trait Backend {
    /// Static description.
    fn info(&self) -> &'static BackendInfo;
    /// Which datapath this instance runs.
    fn datapath(&self) -> Datapath;
    /// Topology defaults.
    fn defaults(&self) -> Defaults;
    /// How pods get addresses.
    fn pod_network(&self) -> PodNetwork;
    /// Rejects plans this backend cannot run. Called before anything is created.
    fn validate(&self, plan: &Plan) -> Result<(), PlanError>;
    /// Wires pods to their nodes (and nodes to each other, for overlay backends). The harness
    /// has already made every namespace and the underlay; pods' namespaces exist but are empty.
    fn setup(&self, ctx: &Context<'_>) -> Result<()>;
    /// Undoes what lives outside the run's namespaces (processes, files). The harness deletes
    /// the namespaces afterwards, which removes every device and route in them. Never stops
    /// early: collects errors.
    fn teardown(&self, _ctx: &Context<'_>) -> Vec<HarnessError> {
        Vec::new()
    }
    /// What the kernel must look like after setup, and what must (not) reach what.
    fn expectations(&self, plan: &Plan) -> Expectations;
    /// The options in effect, defaults resolved (`datapath: faithful`, `bgp_topology: mesh`),
    /// so a result says exactly what ran.
    fn effective_options(&self) -> BackendOptions {
        BackendOptions::default()
    }
    /// The device a datapath daemon moves packets through, in its node (`flannel0`), so that
    /// its syscalls can be counted per packet. None for kernel datapaths.
    fn daemon_device(&self) -> Option<&'static str> {
        None
    }
    /// Checks of this backend's own (a daemon killed and restarted, a session withdrawn),
    /// run after the declared ones.
    fn extra_checks(&self, _ctx: &Context<'_>) -> Vec<reports::CheckRecord> {
        Vec::new()
    }

    // Faults (`cnbench fault`, see [`crate::fault`]). The harness itself injects link-flap,
    // loss and node-restart; a backend adds the faults of its own parts.

    /// Faults of this backend's own parts that it can inject (`daemon-restart`,
    /// `bird-restart`, `vtep-change`).
    fn own_faults(&self) -> &'static [FaultKind] {
        &[]
    }

    /// Begins fault `kind` (one of [`Backend::own_faults`]) on `node`: stops the daemon or
    /// BIRD, removes the VTEP.
    fn inject(&self, _ctx: &Context<'_>, kind: FaultKind, _node: &NodePlan) -> Result<()> {
        Err(fault_unsupported(self.info().name, kind))
    }

    /// Ends fault `kind` on `node` the way a real host comes back by itself: the daemon or
    /// BIRD started again as setup started it, the VTEP created again at boot with a new MAC.
    /// Whatever the *other* nodes must learn about it is [`Backend::reprogram`]'s job.
    fn lift(&self, _ctx: &Context<'_>, kind: FaultKind, _node: &NodePlan) -> Result<()> {
        Err(fault_unsupported(self.info().name, kind))
    }

    /// Builds `node` again, its pods included, after node-restart recreated its namespaces
    /// empty and cabled its `eth0` again: what setup does for one node, started the same way.
    fn setup_node(&self, _ctx: &Context<'_>, _node: &NodePlan) -> Result<()> {
        Err(fault_unsupported(self.info().name, FaultKind::NodeRestart))
    }

    /// Whether cnbench plays this backend's control plane ([`Backend::reprogram`] does
    /// something). False where the control plane is a daemon of the backend's own (BIRD), or
    /// a static configuration (flannel-udp's daemons know every peer from the start).
    fn reprograms(&self) -> bool {
        false
    }

    /// The control plane's reaction to a change: programs in each of `nodes` what it must
    /// know about every other node, from the other nodes' state *now* (a VTEP's current MAC),
    /// as flanneld does when a lease changes or its route check runs. Idempotent: what is in
    /// place is replaced, what is stale removed.
    fn reprogram(&self, _ctx: &Context<'_>, _nodes: &[&NodePlan]) -> Result<()> {
        Ok(())
    }
}

fn fault_unsupported(backend: &str, kind: FaultKind) -> HarnessError {
    HarnessError::Unsupported {
        what: format!("backend {backend} cannot suffer the fault {kind}"),
        fix: "`cnbench fault --help` lists which fault applies to which backend".into(),
    }
}

/// Options that change what a backend builds, given on the command line and kept in the
/// run's state so `check` and `down` rebuild the same backend.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendOptions {
    /// `--datapath`: a backend-specific choice of datapath (`batched`, `userspace`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datapath: Option<String>,
    /// `--bgp-topology`: how BGP speakers peer (`mesh` or `rr`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bgp_topology: Option<String>,
    /// `--substrate`: where the nodes live, so a backend detects features in the kernel
    /// that will run it (a VM's, not this machine's).
    #[serde(default)]
    pub substrate: crate::topology::Substrate,
}

/// What a backend gets during setup and checks: the plan, a host per namespace, the run's
/// daemons, and the cnbench binary (to start `cnbench daemon ...` inside a node).
pub struct Context<'a> {
    /// The plan being built.
    pub plan: &'a Plan,
    /// Hosts by namespace name.
    pub hosts: &'a BTreeMap<String, Host>,
    /// The run's long-lived processes.
    pub procs: &'a Supervisor,
    /// The cnbench binary.
    pub exe: &'a Path,
}

/// How long a daemon may take to say `ready`.
const READY_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The same on a VM node, whose every instruction is emulated (a daemon's start-up takes
/// seconds there, more while other VMs boot).
const REMOTE_READY_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

impl Context<'_> {
    /// Starts `cnbench daemon <args>` inside `netns` and waits (up to 5 s) for its first
    /// stdout line, which must be `ready`; returns its pid. The daemon dies with this process
    /// in a `run`, and outlives it in an `up`.
    pub fn spawn_daemon(&self, netns: &str, args: &[String], what: &str) -> Result<u32> {
        let mut cmd = Command::new(self.exe);
        cmd.arg("daemon")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
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
            Some(line) => {
                self.procs.stop(netns, pid);
                Err(fail(format!(
                    "expected `ready`, got {:?} (see its stderr above)",
                    line.trim()
                )))
            }
            None => {
                self.procs.stop(netns, pid);
                Err(fail(format!("not ready within {} s", limit.as_secs())))
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
    /// (address, loopback up, default route via the pod's gateway), the host end
    /// (`pod.host_veth`) in the node, up. The caller attaches the host end where it belongs.
    pub fn wire_pod_veth(&self, pod: &PodPlan, mtu: u32) -> Result<()> {
        let node = self.host(&self.plan.node_of(pod).netns);
        let pod_host = self.host(&pod.netns);
        node.nl()
            .create_veth(&pod.host_veth, "eth0", Some(pod_host.as_peer()), mtu)?;
        let nl = pod_host.nl();
        nl.set_up("lo")?;
        nl.add_address("eth0", pod.ip)?;
        nl.set_up("eth0")?;
        if let Some(gw) = pod.gateway {
            nl.add_route(&RouteSpec::default_via(gw, "eth0"))?;
        }
        node.nl().set_up(&pod.host_veth)
    }
}

/// Whether a probe must succeed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "expect", rename_all = "snake_case")]
pub enum Expect {
    /// It must get through.
    Reach,
    /// It must not, and this is why (shown as an expected failure).
    Unreachable {
        /// The reason, from the backend.
        reason: String,
    },
}

/// A protocol a reachability probe uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeProto {
    /// ICMP echo.
    Icmp,
    /// A TCP connect to a listener in the target namespace.
    Tcp,
}

/// One cell of the reachability matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    /// Label of the source (`n0p0`).
    pub from: String,
    /// Namespace the probe is sent from.
    pub from_netns: String,
    /// Label of the target (`n1p0`, `node n0`).
    pub to: String,
    /// Namespace that owns the target address (a TCP listener is opened there).
    pub to_netns: String,
    /// Target address.
    pub to_ip: Ipv4Addr,
    /// Protocol.
    pub proto: ProbeProto,
    /// The path class (`same-node`, `cross-node`, `pod-node`).
    pub path: String,
    /// What must happen.
    pub expect: Expect,
}

/// A device whose MTU is declared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceMtu {
    /// Namespace.
    pub netns: String,
    /// Device.
    pub dev: String,
    /// MTU in bytes.
    pub mtu_bytes: u32,
}

/// After traffic, `netns` must have a resolved neighbour entry on `dev` for `ip`, holding
/// the MAC of `owner_dev` in `owner_netns`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighbourExpect {
    /// Namespace holding the entry.
    pub netns: String,
    /// Device of the entry.
    pub dev: String,
    /// The neighbour's IP.
    pub ip: Ipv4Addr,
    /// Namespace of the device that owns `ip`.
    pub owner_netns: String,
    /// The device that owns `ip`.
    pub owner_dev: String,
}

/// After traffic, bridge `bridge` in `netns` must have learned the MAC of `mac_dev` (in
/// `mac_netns`) on port `port`: the article's CAM table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FdbExpect {
    /// Namespace of the bridge.
    pub netns: String,
    /// The bridge.
    pub bridge: String,
    /// The port the MAC must be learned on.
    pub port: String,
    /// Namespace of the device whose MAC it is.
    pub mac_netns: String,
    /// The device whose MAC it is.
    pub mac_dev: String,
    /// Label for output (`n0p0`).
    pub label: String,
}

/// Port-space isolation between two pods.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IsolationExpect {
    /// First pod label and namespace.
    pub a: (String, String),
    /// Second pod label and namespace.
    pub b: (String, String),
    /// True when both share one port space (host network): the second bind must fail.
    pub shared_ports: bool,
}

/// A pair of pods to measure between.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeasurePair {
    /// Index into `plan.pods` of the client.
    pub client: usize,
    /// Index into `plan.pods` of the server.
    pub server: usize,
    /// `same-node` or `cross-node`.
    pub path: String,
}

/// The exact set of devices (other than `lo`) in a namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceSet {
    /// Namespace.
    pub netns: String,
    /// `(name, kind)` of every device, kind as the kernel names it (`veth`, `bridge`, `vxlan`,
    /// `tun`).
    pub devices: Vec<(String, String)>,
}

/// A VXLAN control-plane entry: on `dev` in `netns`, the remote VTEP (`remote_vtep_ip`, the
/// remote node's `flannel.1` address) has a permanent neighbour entry with the MAC of
/// `owner_dev` in `owner_netns`, and that MAC has an FDB entry whose destination is the remote
/// node's underlay IP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VtepExpect {
    /// Namespace holding the entries.
    pub netns: String,
    /// The VXLAN device.
    pub dev: String,
    /// The remote node's underlay IP (FDB `dst`).
    pub remote_node_ip: Ipv4Addr,
    /// The remote VTEP's overlay IP (neighbour entry).
    pub remote_vtep_ip: Ipv4Addr,
    /// Namespace of the remote VTEP device.
    pub owner_netns: String,
    /// The remote VTEP device.
    pub owner_dev: String,
}

/// How pod-to-pod packets look on the underlay wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "wire", rename_all = "kebab-case")]
pub enum Wire {
    /// Not encapsulated: the pod IPs are the packet's own (host-gw, bgp, and the single
    /// node's bridge).
    Plain,
    /// Inside UDP to `port` between the node IPs; with a VXLAN header carrying `vni`.
    Udp {
        /// Destination UDP port (8285 flannel UDP, 8472 flannel VXLAN).
        port: u16,
        /// VXLAN network identifier, when the payload is a VXLAN frame.
        vni: Option<u32>,
    },
    /// IP-in-IP (IP protocol 4) between the node IPs.
    IpIp,
}

/// Capture on the underlay while a pod pings a pod on another node, and check what the
/// packets look like.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncapExpect {
    /// Index into `plan.pods` of the sender.
    pub from: usize,
    /// Index into `plan.pods` of the receiver.
    pub to: usize,
    /// Namespace to capture in (the switch or the router).
    pub capture_netns: String,
    /// Device to capture on (the sender node's port there).
    pub capture_dev: String,
    /// What the packets must look like.
    pub wire: Wire,
}

/// A don't-fragment probe from one pod to another: `path_mtu` bytes must get through, one
/// more must be refused (an ICMP "fragmentation needed", or the sender's own kernel refusing
/// it), never dropped in silence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PmtuExpect {
    /// Index into `plan.pods` of the sender.
    pub from: usize,
    /// Index into `plan.pods` of the receiver.
    pub to: usize,
    /// The largest IP packet, in bytes, that crosses the path.
    pub path_mtu: u32,
}

/// Facts of one pod-to-pod path: the routed hops a packet takes (the reply's TTL is 64 minus
/// them), and that the receiver sees the sender's own pod IP as the source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathExpect {
    /// Index into `plan.pods` of the sender.
    pub from: usize,
    /// Index into `plan.pods` of the receiver.
    pub to: usize,
    /// IP hops (routers, including nodes that route) between them.
    pub hops: u8,
}

/// Everything a backend promises about the topology it built.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expectations {
    /// The exact main-table IPv4 routes of each namespace.
    pub routes: BTreeMap<String, Vec<RouteSpec>>,
    /// MTUs of the devices on the path.
    pub mtus: Vec<DeviceMtu>,
    /// The reachability matrix.
    pub reachability: Vec<Probe>,
    /// Neighbour entries that traffic must leave behind.
    pub neighbours: Vec<NeighbourExpect>,
    /// Bridge FDB entries that traffic must leave behind.
    pub fdb: Vec<FdbExpect>,
    /// Port-space isolation checks.
    pub isolation: Vec<IsolationExpect>,
    /// Pod pairs to measure.
    pub measure: Vec<MeasurePair>,
    /// Exact device sets per namespace.
    pub devices: Vec<DeviceSet>,
    /// VXLAN FDB and neighbour entries.
    pub vteps: Vec<VtepExpect>,
    /// Encapsulation seen on the wire.
    pub encap: Vec<EncapExpect>,
    /// Path MTU probes.
    pub pmtu: Vec<PmtuExpect>,
    /// TTL and source-address facts of paths.
    pub paths: Vec<PathExpect>,
}

impl Expectations {
    /// Adds routes for a namespace.
    pub fn add_routes(&mut self, netns: &str, routes: impl IntoIterator<Item = RouteSpec>) {
        self.routes
            .entry(netns.to_string())
            .or_default()
            .extend(routes);
    }

    /// Adds the full pod-to-pod matrix (ICMP and TCP for every ordered pair of pods) and, for
    /// pods with their own namespace, pod-to-own-node probes, all expected to succeed. A backend
    /// then marks the cells it expects to fail.
    pub fn add_full_matrix(&mut self, plan: &Plan) {
        for a in &plan.pods {
            for b in &plan.pods {
                if a.role == b.role {
                    continue;
                }
                let path = if a.node == b.node {
                    "same-node"
                } else {
                    "cross-node"
                };
                for proto in [ProbeProto::Icmp, ProbeProto::Tcp] {
                    self.reachability.push(Probe {
                        from: a.role.clone(),
                        from_netns: a.netns.clone(),
                        to: b.role.clone(),
                        to_netns: b.netns.clone(),
                        to_ip: b.ip.addr(),
                        proto,
                        path: path.into(),
                        expect: Expect::Reach,
                    });
                }
            }
            if a.own_netns {
                let node = plan.node_of(a);
                if let Some(gw) = node.pod_gateway {
                    self.reachability.push(Probe {
                        from: a.role.clone(),
                        from_netns: a.netns.clone(),
                        to: format!("node {}", node.role),
                        to_netns: node.netns.clone(),
                        to_ip: gw.addr(),
                        proto: ProbeProto::Icmp,
                        path: "pod-node".into(),
                        expect: Expect::Reach,
                    });
                }
            }
        }
    }

    /// The first pod pair on different nodes (`(from, to)` indices into `plan.pods`), if any;
    /// with `same_segment`, only nodes on one underlay segment.
    pub fn cross_node_pair(plan: &Plan, same_segment: bool) -> Option<(usize, usize)> {
        plan.pods.iter().enumerate().find_map(|(i, a)| {
            plan.pods.iter().enumerate().find_map(|(j, b)| {
                let (na, nb) = (plan.node_of(a), plan.node_of(b));
                (a.node != b.node && (!same_segment || na.segment == nb.segment)).then_some((i, j))
            })
        })
    }

    /// The first pod pair on one node, if any.
    pub fn same_node_pair(plan: &Plan) -> Option<(usize, usize)> {
        plan.pods.iter().enumerate().find_map(|(i, a)| {
            plan.pods
                .iter()
                .enumerate()
                .find_map(|(j, b)| (i != j && a.node == b.node && a.ip != b.ip).then_some((i, j)))
        })
    }

    /// Declares the facts of the path from pod `from` to pod `to`: its MTU (`path_mtu`
    /// bytes), its routed hops (TTL) and an unchanged source address; and, when the pods are
    /// on different nodes of an underlay, what its packets look like on the wire there
    /// (captured on the sending node's switch or router port).
    pub fn add_path_facts(
        &mut self,
        plan: &Plan,
        (from, to): (usize, usize),
        hops: u8,
        path_mtu: u32,
        wire: Wire,
    ) {
        self.pmtu.push(PmtuExpect { from, to, path_mtu });
        self.paths.push(PathExpect { from, to, hops });
        let (a, b) = (&plan.pods[from], &plan.pods[to]);
        if a.node == b.node {
            return;
        }
        let node = plan.node_of(a);
        let hub = plan
            .switch
            .as_ref()
            .map(|s| s.netns.clone())
            .or_else(|| plan.router.as_ref().map(|r| r.netns.clone()));
        if let Some(capture_netns) = hub {
            self.encap.push(EncapExpect {
                from,
                to,
                capture_netns,
                capture_dev: node.switch_port.clone(),
                wire,
            });
        }
    }

    /// Measures between the first pod pair of each path class the plan has (same-node and
    /// cross-node), cross-node first.
    pub fn add_default_measure_pairs(&mut self, plan: &Plan) {
        let find = |same: bool| {
            plan.pods.iter().enumerate().find_map(|(i, a)| {
                plan.pods
                    .iter()
                    .enumerate()
                    .find(|(j, b)| *j != i && (a.node == b.node) == same && a.ip != b.ip)
                    .map(|(j, _)| (i, j))
            })
        };
        if let Some((c, s)) = find(false) {
            self.measure.push(MeasurePair {
                client: c,
                server: s,
                path: "cross-node".into(),
            });
        }
        if let Some((c, s)) = find(true) {
            self.measure.push(MeasurePair {
                client: c,
                server: s,
                path: "same-node".into(),
            });
        }
    }
}
