//! The run lifecycle: plan → set up → check → measure → tear down.
//!
//! [`Topology::up`] validates, records the run's state, then builds; any failure tears down
//! what was made and returns the original error. [`Topology::down`] never stops early. A
//! standing topology (`cnbench up`) is found again by run id with [`Topology::attach`].
//!
//! Files: this one (the lifecycle, checks and measurement of a topology), `baseline` (the
//! same-session host-net baseline), `pods` (pods added to and removed from a standing
//! topology).

mod baseline;
mod pods;

pub use baseline::add_baseline;
pub use pods::Added;

use std::collections::BTreeMap;
use std::time::Instant;

use reports::{
    CheckRecord, DeviceRecord, MeasurementRecord, NamespaceRecord, Outcome, Parameters, RunResult,
    Sample,
};

use std::path::PathBuf;
use std::time::Duration;

use crate::backend::{Backend, BackendOptions, Context, Expectations, PodReport, Reported};
use crate::checks;
use crate::detect;
use crate::error::{HarnessError, Result};
use crate::host::Host;
use crate::measure::{self, MeasureOptions};
use crate::netlink::{format_mac, LinkKind};
use crate::netns::Netns;
use crate::remote::client::CALL_TIMEOUT;
use crate::remote::protocol::Call;
use crate::remote::AgentClient;
use crate::signals;
use crate::state::{self, Mode, RunState};
use crate::supervisor::Supervisor;
use crate::topology::{Family, IpFamily, NodePlan, Plan, Substrate};
use crate::underlay;
use crate::vm::nodes::VmNodes;
use std::sync::Arc;

/// How long a new topology's links may take to come up operationally.
const LINKS_UP_TIMEOUT: Duration = Duration::from_secs(10);

/// Set in every namespace an IPv4 run creates: a new namespace's links would otherwise send
/// IPv6 router and neighbour solicitations, which fill bridge FDBs and TUN queues with
/// traffic the checks did not cause and the measurements do not want.
const IPV4_NAMESPACE_SYSCTLS: [(&str, &str); 2] = [
    ("net.ipv6.conf.all.disable_ipv6", "1"),
    ("net.ipv6.conf.default.disable_ipv6", "1"),
];

/// Set in every namespace an ipv6 or dual run creates, before its first link: IPv6 on, as
/// a Kubernetes node has it, and no more of it than the run needs. No router advertisement
/// is accepted and no router solicited (`accept_ra` 0, `router_solicitations` 0): every
/// address and route is the plan's, as kubelet's nodes and CNI plugins configure them, not
/// SLAAC's. Duplicate address detection stays on (`accept_dad` 1, one probe a second,
/// RFC 4862), as on the real hosts and in the reference CNI plugins, which wait for it to end
/// (`ip.SettleAddresses`): the run waits likewise ([`wait_addresses_settled`]), and
/// the `addresses` check refuses an address left tentative or dadfailed. What IPv6 still
/// sends by itself: one DAD neighbour solicitation per address and MLD reports for its
/// solicited-node groups, both when a link comes up, before any check or measurement.
const IPV6_NAMESPACE_SYSCTLS: [(&str, &str); 8] = [
    ("net.ipv6.conf.all.disable_ipv6", "0"),
    ("net.ipv6.conf.default.disable_ipv6", "0"),
    ("net.ipv6.conf.all.accept_ra", "0"),
    ("net.ipv6.conf.default.accept_ra", "0"),
    ("net.ipv6.conf.all.router_solicitations", "0"),
    ("net.ipv6.conf.default.router_solicitations", "0"),
    ("net.ipv6.conf.all.accept_dad", "1"),
    ("net.ipv6.conf.default.accept_dad", "1"),
];

/// The sysctls every namespace of a run of `family` gets when it is made.
pub(crate) fn namespace_sysctls(family: IpFamily) -> &'static [(&'static str, &'static str)] {
    if family.has_v6() {
        &IPV6_NAMESPACE_SYSCTLS
    } else {
        &IPV4_NAMESPACE_SYSCTLS
    }
}

/// What every namespace of an ipv6 or dual run must still have of the IPv6 settings it got
/// when it was made ([`namespace_sysctls`]): router advertisements still ignored, DAD still
/// on. (An ipv4 run declares nothing here: its namespaces have IPv6 off, which every
/// IPv6-free check already shows.)
pub fn namespace_expectations(plan: &Plan) -> Expectations {
    let mut e = Expectations::default();
    if plan.ip_family().has_v6() {
        for ns in plan.namespaces() {
            e.add_sysctls(
                &ns,
                namespace_sysctls(plan.ip_family())
                    .iter()
                    .map(|(k, v)| crate::backend::SysctlExpect::new(*k, *v)),
            );
        }
    }
    e
}

/// How long IPv6 duplicate address detection may take after setup: one probe of a second
/// per address (`dad_transmits` 1, `retrans_time_ms` 1000), after a random delay of up to a
/// second, with margin.
pub(crate) const DAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Sees a run as it goes, to print progress and write results as they arrive.
pub trait Observer {
    /// A phase begins (`setting up`, `checking`, `measuring tcp-rr`).
    fn phase(&mut self, _what: &str) {}
    /// The topology is up.
    fn topology(&mut self, _namespaces: &[NamespaceRecord]) {}
    /// A check finished.
    fn check(&mut self, _check: &CheckRecord) {}
    /// Measurement begins: `repetitions` client runs are planned, over every pair and case.
    fn measuring(&mut self, _repetitions: u64) {}
    /// A repetition finished (`record` holds the repetitions so far).
    fn sample(&mut self, _record: &MeasurementRecord, _sample: &Sample) {}
    /// The traced repetition of `record` finished (`record.traced` is set).
    fn traced(&mut self, _record: &MeasurementRecord) {}
    /// The result changed (write it now so a late failure loses nothing).
    fn result(&mut self, _result: &RunResult) {}
    /// A fault finished (`cnbench fault`).
    fn fault(&mut self, _record: &reports::FaultRecord) {}
}

/// How a topology is brought up.
#[derive(Debug, Clone)]
pub struct Launch {
    /// `run` (owned by this process) or `up` (left standing).
    pub mode: Mode,
    /// Backend options, recorded for `check` and `down`.
    pub backend_options: BackendOptions,
    /// The cnbench binary, to start daemons and agents inside hosts.
    pub exe: PathBuf,
}

/// A topology that is up: its plan, a host per namespace, its daemons.
pub struct Topology {
    pub(crate) plan: Plan,
    pub(crate) hosts: BTreeMap<String, Host>,
    pub(crate) state: RunState,
    pub(crate) procs: Supervisor,
    pub(crate) exe: PathBuf,
    /// The VM nodes, on the VM substrate.
    pub(crate) vms: Option<VmNodes>,
    /// The hosts and their sessions, on the SSH substrate.
    pub(crate) ssh: Option<crate::ssh::SshNodes>,
    /// What setup reported: its pods (until applied to the plan), the software it ran, the
    /// plugin calls made (shared: the teardown's are read after the topology is gone).
    pub(crate) reported: Arc<Reported>,
}

impl Topology {
    /// Validates everything, records the run, then builds the underlay and the backend.
    pub fn up(backend: &dyn Backend, plan: Plan, launch: Launch) -> Result<Topology> {
        // 1. Everything that can be checked without touching the kernel.
        backend.validate(&plan)?;
        detect::require_root()?;
        let info = backend.info();
        // On the SSH substrate the programs run on the hosts, not here.
        if plan.spec.substrate != Substrate::Ssh {
            info.require_programs(detect::find_binary)?;
        }
        if plan.spec.substrate == Substrate::Ssh && launch.mode != Mode::Run {
            return Err(HarnessError::Unsupported {
                what: "nodes on SSH hosts live only as long as the sessions of the command \
                       that made them"
                    .into(),
                fix: "use `cnbench run`, `fault` or `churn` with --substrate ssh".into(),
            });
        }
        if plan.spec.substrate == Substrate::Vm {
            if launch.mode != Mode::Run {
                return Err(HarnessError::Unsupported {
                    what: "VM nodes live only as long as the command that booted them".into(),
                    fix: "use `cnbench run` or `cnbench fault` with --substrate vm".into(),
                });
            }
            crate::vm::Assets::locate()?;
        }
        if plan.spec.substrate == Substrate::Netns {
            require_link_kinds(info)?;
        }
        let names = local_namespaces(&plan);
        if let Some(taken) = names.iter().find(|n| Netns::exists(n)) {
            return Err(HarnessError::Unsupported {
                what: format!("namespace {taken} already exists"),
                fix: "a leftover of a crashed run: `cnbench clean`".into(),
            });
        }
        // 2. Record what will exist before it does, so a crash at any point can be cleaned.
        let state = RunState {
            run_id: plan.run_id().to_string(),
            backend: info.name.to_string(),
            backend_options: launch.backend_options.to_map(),
            mode: launch.mode,
            owner_pid: std::process::id(),
            owner_start_ticks: state::start_ticks(std::process::id()).unwrap_or(0),
            spec: plan.spec.clone(),
            plan: Some(plan.clone()),
            namespaces: names.clone(),
            daemons: Vec::new(),
        };
        state.save()?;
        let mut topo = Topology {
            plan,
            hosts: BTreeMap::new(),
            state,
            procs: Supervisor::new(launch.mode == Mode::Run),
            exe: launch.exe,
            vms: None,
            ssh: None,
            reported: Arc::default(),
        };
        // 3. Build; on failure, tear down and return the original error.
        match topo.build(backend, &names) {
            Ok(()) => Ok(topo),
            Err(e) => {
                for extra in topo.down(backend) {
                    eprintln!("cnbench: while rolling back: {extra}");
                }
                Err(e)
            }
        }
    }

    fn build(&mut self, backend: &dyn Backend, names: &[String]) -> Result<()> {
        for name in names {
            if signals::interrupted() {
                return Err(HarnessError::Interrupted);
            }
            let host = Host::open(Netns::create(name)?)?;
            host.set_sysctls(namespace_sysctls(self.plan.ip_family()))?;
            self.hosts.insert(name.clone(), host);
        }
        if self.plan.spec.substrate == Substrate::Vm {
            self.boot_vms(backend, names)?;
        }
        if self.plan.spec.substrate == Substrate::Ssh {
            self.open_ssh_nodes(backend)?;
        }
        underlay::build(&self.plan, &self.hosts)?;
        if signals::interrupted() {
            return Err(HarnessError::Interrupted);
        }
        let setup = backend.setup(&self.context());
        // Record the daemons even when setup failed half-way: teardown and clean need them.
        self.save_daemons()?;
        setup?;
        // The addresses setup reported first: the control plane programs what the pods
        // really have.
        self.apply_wiring()?;
        if let Some(cp) = backend.capabilities().control_plane {
            cp.reprogram(&self.context(), &self.plan.nodes.iter().collect::<Vec<_>>())?;
        }
        self.wait_links_up(LINKS_UP_TIMEOUT)?;
        if self.plan.ip_family().has_v6() {
            let all: Vec<(&str, &Host)> = self.hosts.iter().map(|(n, h)| (n.as_str(), h)).collect();
            wait_addresses_settled(&all, DAD_TIMEOUT)?;
        }
        if signals::interrupted() {
            return Err(HarnessError::Interrupted);
        }
        Ok(())
    }

    /// Boots a VM per node inside the hub namespace (the first of `names`), then makes the
    /// nodes' and pods' hosts on their agents.
    fn boot_vms(&mut self, backend: &dyn Backend, names: &[String]) -> Result<()> {
        let hub = &self.hosts[&names[0]];
        // The programs the backend runs in its nodes go into the VMs from this machine
        // (`up` checked they are here).
        let programs = backend.programs();
        let info = backend.info();
        let optional: Vec<&str> = info.optional_kinds.iter().map(|o| o.kind).collect();
        let kinds = crate::vm::initramfs::LinkKinds {
            required: info.link_kinds,
            optional: &optional,
        };
        let booted =
            crate::vm::nodes::boot(&self.plan, hub, &self.procs, &self.exe, &programs, kinds);
        // QEMU's pids are on record before anything else can fail.
        self.save_daemons()?;
        let vms = booted?;
        let agents = vms.agents.clone();
        // Kept first, so teardown ends the sessions even if a node fails to open.
        self.vms = Some(vms);
        for (node, agent) in self.plan.nodes.clone().iter().zip(agents) {
            self.open_vm_node(node, agent)?;
        }
        Ok(())
    }

    /// Checks every host, starts an agent on each through ssh (which makes the node's
    /// namespace there), makes the pods' namespaces, joins each node to its host's network
    /// and proves the nodes reach each other over it (docs/design.md §4b).
    fn open_ssh_nodes(&mut self, backend: &dyn Backend) -> Result<()> {
        let spec = self.plan.spec.ssh.clone().unwrap_or_default();
        let info = backend.info();
        let mut kinds: Vec<&str> = info.link_kinds.to_vec();
        kinds.push(spec.node_link.as_str());
        let logs = RunState::dir(self.plan.run_id()).join("ssh");
        let nodes = crate::ssh::nodes::connect(&self.plan, &self.exe, &kinds, &logs)?;
        let agents = nodes.agents.clone();
        // Kept first, so teardown ends the sessions even if a node fails to open.
        self.ssh = Some(nodes);
        for (node, agent) in self.plan.nodes.clone().iter().zip(agents) {
            self.open_agent_node(node, agent, false)?;
        }
        let hosts: Vec<(NodePlan, crate::topology::SshHost)> = self
            .plan
            .nodes
            .iter()
            .cloned()
            .zip(self.plan.spec.hosts.iter().cloned())
            .collect();
        if self.plan.spec.underlay == crate::topology::Underlay::None {
            // One node on its own (the bridge backend): nothing to join.
            return Ok(());
        }
        for (node, host) in &hosts {
            crate::ssh::uplink::join(&self.plan, &self.hosts[&node.netns], node, host, &spec)?;
        }
        let nodes: Vec<(&str, &Host)> = self
            .plan
            .nodes
            .iter()
            .map(|n| (n.netns.as_str(), &self.hosts[&n.netns]))
            .collect();
        if self.plan.ip_family().has_v6() {
            wait_addresses_settled(&nodes, DAD_TIMEOUT)?;
        }
        crate::ssh::uplink::require_reachable(&self.plan, &self.hosts, &spec)
    }

    /// Makes the hosts of a booted VM node: the node (the VM's own namespace) and its pods'
    /// namespaces, made by its agent.
    pub(crate) fn open_vm_node(&mut self, node: &NodePlan, agent: Arc<AgentClient>) -> Result<()> {
        self.open_agent_node(node, agent, true)
    }

    /// Makes the hosts of a node served by an agent: the node's namespace (the VM's own
    /// when `own_machine`, else one the agent made) and its pods' namespaces.
    fn open_agent_node(
        &mut self,
        node: &NodePlan,
        agent: Arc<AgentClient>,
        own_machine: bool,
    ) -> Result<()> {
        let host = Host::remote(&node.netns, Arc::clone(&agent));
        host.set_sysctls(namespace_sysctls(self.plan.ip_family()))?;
        // Once the ipip module is loaded the kernel gives every new namespace its own
        // fallback `tunl0`; the node (the VM's initial namespace) keeps its own, the pods
        // get none (`fb_tunnels_only_for_init_net`). The setting is the machine's: on a
        // host that is not the node's alone it is not cnbench's to change.
        if own_machine {
            host.set_sysctl("net.core.fb_tunnels_only_for_init_net", "1")?;
        }
        self.hosts.insert(node.netns.clone(), host);
        let sysctls: Vec<(String, String)> = namespace_sysctls(self.plan.ip_family())
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        for pod in self
            .plan
            .pods
            .iter()
            .filter(|p| p.node == node.index && p.own_netns)
        {
            agent.call(
                Call::CreateNetns {
                    name: pod.netns.clone(),
                    sysctls: sysctls.clone(),
                },
                CALL_TIMEOUT,
            )?;
            self.hosts.insert(
                pod.netns.clone(),
                Host::remote(&pod.netns, Arc::clone(&agent)),
            );
        }
        Ok(())
    }

    /// The VM nodes' kernel release and the time from the first QEMU start to the last
    /// agent's welcome, on the VM substrate.
    pub fn vm_info(&self) -> Option<(String, Duration)> {
        self.vms
            .as_ref()
            .map(|v| (v.kernel_release.clone(), v.ready))
    }

    /// Waits until every veth and bridge that is administratively up also carries packets.
    /// The kernel turns carrier changes into operational state (and bridge ports into
    /// forwarding) from one global work item (linkwatch), so a topology is not ready the
    /// moment its last netlink request returns. That work item runs at once only for
    /// "urgent" events (`linkwatch_urgent_event`: a device whose `iflink` differs from its
    /// own index, or whose qdisc is changing); any other event anywhere on the machine waits
    /// until a second after the item's previous run (`linkwatch_nextevent`), which is often
    /// still ahead while runs build and delete links. A veth whose peer has the same index in
    /// its own namespace (both ends are `2` in fresh namespaces) or a bridge whose qdisc is
    /// already attached is not urgent, so its wait could reach a second.
    ///
    /// So a link still down in the dump is asked for by name: `RTM_GETLINK` for one device
    /// runs that device's pending link-watch event at once (`linkwatch_sync_dev` in
    /// `rtnl_getlink`, as ethtool's `ETHTOOL_GLINK` does), and answers with its state after
    /// it (docs/machine-notes.md "Routes and links": about 5 ms against 230–960 ms). A kernel
    /// without that sync answers with the old state and the loop keeps polling as before:
    /// the readiness guarantee is the same either way, only the wait differs.
    fn wait_links_up(&self, timeout: Duration) -> Result<()> {
        let all: Vec<String> = self.hosts.keys().cloned().collect();
        self.wait_links_up_in(&all, timeout)
    }

    /// [`Topology::wait_links_up`] for the links of the hosts called `names` only (a pod
    /// just added and its node: the other hosts' links did not change).
    fn wait_links_up_in(&self, names: &[String], timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut down = Vec::new();
            for (name, host) in names.iter().filter_map(|n| Some((n, self.hosts.get(n)?))) {
                let nl = host.nl();
                for l in nl.links()? {
                    let waits = matches!(l.kind, LinkKind::Veth | LinkKind::Bridge);
                    if waits && l.up && !l.oper_up && !nl.link(&l.name)?.oper_up {
                        down.push(format!("{name} {}", l.name));
                    }
                }
            }
            if down.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::Unsupported {
                    what: format!(
                        "links still down {} s after setup: {}",
                        timeout.as_secs(),
                        down.join(", ")
                    ),
                    fix: "the machine may be overloaded; try again".into(),
                });
            }
            if signals::interrupted() {
                return Err(HarnessError::Interrupted);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    pub(crate) fn context(&self) -> Context<'_> {
        Context {
            plan: &self.plan,
            hosts: &self.hosts,
            procs: &self.procs,
            exe: &self.exe,
            reported: &self.reported,
        }
    }

    /// Puts the pod addresses setup reported into the plan (expectations, probes and
    /// measurements then use them) and records the plan as built.
    pub(crate) fn apply_wiring(&mut self) -> Result<()> {
        let reported = self.reported.take_pods();
        self.apply_reports(reported)
    }

    /// [`Topology::apply_wiring`] with pod reports already taken.
    pub(crate) fn apply_reports(&mut self, reported: BTreeMap<String, PodReport>) -> Result<()> {
        if reported.is_empty() {
            return Ok(());
        }
        for pod in &mut self.plan.pods {
            if let Some(a) = reported.get(&pod.role) {
                pod.ip = a.ip;
                pod.gateway = a.gateway;
                if let Some(ip6) = a.ip6 {
                    pod.ip6 = Some(ip6);
                    pod.gateway6 = a.gateway6;
                }
                pod.detail = a.detail.clone();
            }
        }
        self.state.plan = Some(self.plan.clone());
        self.state.save()
    }

    pub(crate) fn save_daemons(&mut self) -> Result<()> {
        let now = self.procs.list();
        if now != self.state.daemons {
            self.state.daemons = now;
            self.state.save()?;
        }
        Ok(())
    }

    /// Re-opens a standing topology from its state (for `check`, `measure`, `down`): `plan`
    /// is the plan rebuilt from the state's spec, replaced by the plan as built where the
    /// state has it (pods added, addresses setup reported). Daemons restarted by a check of
    /// this process outlive it, like the originals.
    pub fn attach(state: RunState, plan: Plan, exe: PathBuf) -> Result<Topology> {
        let plan = state.plan.clone().unwrap_or(plan);
        let mut hosts = BTreeMap::new();
        for name in &state.namespaces {
            hosts.insert(name.clone(), Host::open(Netns::open(name)?)?);
        }
        let procs = Supervisor::new(false);
        procs.adopt(state.daemons.clone());
        Ok(Topology {
            plan,
            hosts,
            state,
            procs,
            exe,
            vms: None,
            ssh: None,
            reported: Arc::default(),
        })
    }

    /// The plan.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The run id.
    pub fn run_id(&self) -> &str {
        self.plan.run_id()
    }

    /// The hosts, by namespace name.
    pub fn hosts(&self) -> &BTreeMap<String, Host> {
        &self.hosts
    }

    /// The run's daemons now: what each is, its namespace, its pid (on its machine).
    pub fn daemons(&self) -> Vec<(String, String, u32)> {
        self.procs.list()
    }

    /// What the backend gets while it checks, as the topology stands now.
    pub fn backend_context(&self) -> Context<'_> {
        self.context()
    }

    /// Everything the underlay and the backend declare.
    pub fn expectations(&self, backend: &dyn Backend) -> Expectations {
        let mut e = underlay::expectations(&self.plan);
        e.merge(namespace_expectations(&self.plan));
        e.merge(backend.expectations(&self.plan));
        e
    }

    /// Runs the conformance checks: the declared ones, then the backend's own.
    pub fn check(
        &mut self,
        backend: &dyn Backend,
        on_check: &mut dyn FnMut(&CheckRecord),
    ) -> Vec<CheckRecord> {
        let mut out = checks::run_all(
            &self.plan,
            &self.hosts,
            &self.expectations(backend),
            on_check,
        );
        for c in backend.extra_checks(&self.context()) {
            on_check(&c);
            out.push(c);
        }
        if let Some(conformance) = backend.capabilities().conformance {
            let mut bench = pods::Bench {
                topo: self,
                backend,
            };
            for c in conformance.check(&mut bench) {
                on_check(&c);
                out.push(c);
            }
        }
        // A check may have restarted a daemon.
        if let Err(e) = self.save_daemons() {
            eprintln!("cnbench: {e}");
        }
        out
    }

    /// How many client runs [`Topology::measure`] makes: pairs × cases × repetitions.
    pub fn repetitions(&self, backend: &dyn Backend, opts: &MeasureOptions) -> u64 {
        // Each pair once per family of the run.
        let pairs =
            self.expectations(backend).measure.len() as u64 * self.plan.families().len() as u64;
        let cases: u64 = opts
            .workloads
            .iter()
            // The path MTU sets udp-stream's payload, not how many cases there are.
            .map(|w| measure::cases(*w, opts.message_size, 1500, Family::V4).len() as u64)
            .sum();
        pairs * cases * (u64::from(opts.repeat) + u64::from(opts.trace))
    }

    /// Runs the workloads between each pod pair the backend names.
    pub fn measure(
        &self,
        backend: &dyn Backend,
        opts: &MeasureOptions,
        on_update: &mut dyn FnMut(&MeasurementRecord, Option<&Sample>),
    ) -> Result<Vec<MeasurementRecord>> {
        let mut out = Vec::new();
        let daemons = self.procs.list();
        let info = backend.info();
        let ctx = measure::MeasureContext {
            datapath: info.datapath,
            daemons: &daemons,
            daemon_device: info.daemon_device,
        };
        let expect = self.expectations(backend);
        if !opts.tweaks.is_empty() {
            let mut clients: Vec<String> = expect
                .measure
                .iter()
                .map(|p| self.plan.pods[p.client].netns.clone())
                .collect();
            clients.sort();
            clients.dedup();
            crate::tweak::apply(&opts.tweaks, &self.hosts, &clients)?;
        }
        for pair in &expect.measure {
            // The path MTU the backend declares for the pair, else the client's own MTU.
            let path_mtu = expect
                .pmtu
                .iter()
                .find(|p| p.from == pair.client && p.to == pair.server)
                .map(|p| p.path_mtu)
                .or_else(|| {
                    let pod = &self.plan.pods[pair.client];
                    self.hosts[&pod.netns]
                        .nl()
                        .link("eth0")
                        .ok()
                        .map(|l| l.mtu_bytes)
                })
                .unwrap_or(1500);
            for family in self.plan.families() {
                out.extend(measure::measure_pair(
                    &self.plan,
                    &self.hosts,
                    pair,
                    measure::PairPath { path_mtu, family },
                    &ctx,
                    opts,
                    on_update,
                )?);
            }
        }
        Ok(out)
    }

    /// What was built: every namespace with its devices, addresses, MTUs and masters.
    pub fn records(&self) -> Vec<NamespaceRecord> {
        let role_of = |name: &str| -> (String, Option<String>) {
            if self.plan.switch.as_ref().is_some_and(|s| s.netns == name) {
                ("switch".into(), None)
            } else if self.plan.routers.iter().any(|r| r.netns == name) {
                ("router".into(), None)
            } else if let Some(n) = self.plan.nodes.iter().find(|n| n.netns == name) {
                ("node".into(), Some(n.role.clone()))
            } else if let Some(p) = self.plan.pods.iter().find(|p| p.netns == name) {
                ("pod".into(), Some(self.plan.node_of(p).role.clone()))
            } else {
                ("other".into(), None)
            }
        };
        self.state
            .namespaces
            .iter()
            .filter_map(|name| {
                let host = self.hosts.get(name)?;
                let links = host.nl().links().ok()?;
                // Both families; IPv6's link-local addresses (every link has one) left out.
                let mut addrs = host.nl().addresses().unwrap_or_default();
                addrs.extend(
                    host.nl()
                        .addresses6()
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|a| !matches!(a.net, ipnet::IpNet::V6(n) if n.addr().is_unicast_link_local())),
                );
                let devices = links
                    .iter()
                    .map(|l| DeviceRecord {
                        name: l.name.clone(),
                        kind: l.kind.as_str().to_string(),
                        mac: l.mac.filter(|m| m != &[0; 6]).map(|m| format_mac(&m)),
                        addresses: addrs
                            .iter()
                            .filter(|a| a.index == l.index)
                            .map(|a| a.net.to_string())
                            .collect(),
                        mtu_bytes: l.mtu_bytes,
                        master: l
                            .master
                            .and_then(|m| links.iter().find(|x| x.index == m))
                            .map(|m| m.name.clone()),
                    })
                    .collect();
                let (role, node) = role_of(name);
                Some(NamespaceRecord {
                    name: name.clone(),
                    role,
                    node,
                    devices,
                })
            })
            .collect()
    }

    /// The software under test the backend reported running (for the result).
    pub fn components(&self) -> Vec<reports::ComponentRecord> {
        self.reported.components()
    }

    /// Tears everything down: the backend's own teardown ([`crate::backend::Teardown`]),
    /// every process in the run's namespaces, the namespaces, the state directory. Never
    /// stops early; returns every error (an empty list means nothing of the run is left).
    pub fn down(mut self, backend: &dyn Backend) -> Vec<HarnessError> {
        let mut errors = Vec::new();
        if let Some(t) = backend.capabilities().teardown {
            errors.extend(t.teardown(&self.context()));
        }
        // VM nodes: each agent stops what it started; their QEMUs go with the daemons.
        if let Some(vms) = self.vms.take() {
            errors.extend(vms.shutdown());
        }
        // SSH hosts: likewise, then the ssh clients.
        if let Some(ssh) = self.ssh.take() {
            errors.extend(ssh.shutdown());
        }
        // 1. Daemons (they hold fds in the namespaces), 2. our own fds, 3. the namespaces,
        // which takes every device, address and route in them along.
        self.procs.stop_all();
        self.hosts.clear();
        errors.extend(state::destroy_namespaces(&self.state.namespaces));
        if errors.is_empty() {
            if let Err(e) = RunState::remove(&self.state.run_id) {
                errors.push(e);
            }
        }
        errors
    }
}

/// Refuses, before anything is made, a backend whose kernel link kinds this kernel lacks
/// (tried in a scratch namespace): the error names the kind and where it exists.
fn require_link_kinds(info: &crate::backend::BackendInfo) -> Result<()> {
    if info.link_kinds.is_empty() {
        return Ok(());
    }
    for k in detect::probe_link_kinds(info.link_kinds)? {
        if let Err(why) = k.result {
            return Err(HarnessError::Unsupported {
                what: format!(
                    "backend {} needs the kernel's {} devices, and {why}",
                    info.name, k.kind
                ),
                fix: "load its module, or run with --substrate vm (the VM's Debian kernel has it)"
                    .into(),
            });
        }
    }
    Ok(())
}

/// The namespaces a run makes on this machine: all of the plan's on the namespace substrate;
/// on the VM substrate the hub (switch or router) that QEMU runs in, or a namespace of its own
/// for QEMU when there is no underlay. Nodes and pods are then inside their VMs.
pub fn local_namespaces(plan: &Plan) -> Vec<String> {
    match plan.spec.substrate {
        Substrate::Netns => plan.namespaces(),
        Substrate::Vm => {
            let hub = plan
                .switch
                .as_ref()
                .map(|s| s.netns.clone())
                .or_else(|| plan.router().map(|r| r.netns.clone()))
                .unwrap_or_else(|| crate::topology::netns_name(plan.run_id(), "vms"));
            vec![hub]
        }
        // Every namespace is on the hosts, made by their agents.
        Substrate::Ssh => Vec::new(),
    }
}

/// The whole `cnbench run`: up, check, measure, down, with the result kept current in
/// `result` and shown to `obs` as it goes. Teardown happens whatever else fails; the first
/// error is returned after it.
pub fn run(
    backend: &dyn Backend,
    plan: Plan,
    opts: &MeasureOptions,
    result: &mut RunResult,
    obs: &mut dyn Observer,
) -> Result<()> {
    let launch = Launch {
        mode: Mode::Run,
        backend_options: backend.options(),
        exe: opts.agent_exe.clone(),
    };
    owned_run(
        backend,
        launch,
        plan,
        result,
        obs,
        &mut |topo, result, obs| check_and_measure(topo, backend, opts, result, obs),
    )
}

/// What every run this process owns does around its own work (`body`): set up and record
/// the topology, then tear it down whatever `body` did, and set the outcome: passed when
/// every check and every fault passed. The first error is returned after teardown.
pub(crate) fn owned_run(
    backend: &dyn Backend,
    launch: Launch,
    plan: Plan,
    result: &mut RunResult,
    obs: &mut dyn Observer,
    body: &mut dyn FnMut(&mut Topology, &mut RunResult, &mut dyn Observer) -> Result<()>,
) -> Result<()> {
    obs.phase("setting up");
    let t = Instant::now();
    let mut topo = Topology::up(backend, plan, launch)?;
    result.timings.setup_ns = Some(t.elapsed().as_nanos() as u64);
    if let Some((kernel, ready)) = topo.vm_info() {
        result.substrate = reports::Substrate::vm_tcg(kernel.clone());
        eprintln!(
            "cnbench: {} VM node(s) (QEMU TCG, kernel {kernel}) ready in {:.1} s; figures from \
             them compare behaviour, not speed",
            topo.plan.nodes.len(),
            ready.as_secs_f64()
        );
    }
    if let Some(ssh) = &topo.ssh {
        let mut kernels = ssh.kernels();
        kernels.dedup();
        result.substrate = reports::Substrate::ssh(kernels.join(", "));
    }
    result.topology = topo.records();
    result.components = topo.components();
    obs.topology(&result.topology);
    obs.result(result);

    let outcome = body(&mut topo, result, obs);

    obs.phase("tearing down");
    let t = Instant::now();
    let reported = Arc::clone(&topo.reported);
    let errors = topo.down(backend);
    result.plugin_calls = reported.plugin_calls();
    result.timings.teardown_ns = Some(t.elapsed().as_nanos() as u64);
    let passed = result.checks_passed() && result.faults.iter().all(|f| f.outcome.passed());
    result.outcome = match (&outcome, errors.first()) {
        (Err(HarnessError::Interrupted), _) => Outcome::Interrupted,
        (Err(e), _) => Outcome::Error {
            message: e.to_string(),
        },
        (Ok(()), Some(e)) => Outcome::Error {
            message: format!("teardown: {e}"),
        },
        (Ok(()), None) if passed => Outcome::Passed,
        (Ok(()), None) => Outcome::ChecksFailed,
    };
    obs.result(result);
    outcome?;
    match errors.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Every conformance check of the topology as it stands, into `result` (timed, each shown to
/// `obs` as it finishes, the result written); whether every one passed. What comes after
/// (a measurement, a fault, pod churn) is not done on a datapath that fails them.
pub(crate) fn check_first(
    topo: &mut Topology,
    backend: &dyn Backend,
    result: &mut RunResult,
    obs: &mut dyn Observer,
    phase: &str,
) -> Result<bool> {
    obs.phase(phase);
    let t = Instant::now();
    result.checks = topo.check(backend, &mut |c| obs.check(c));
    result.timings.checks_ns = Some(t.elapsed().as_nanos() as u64);
    obs.result(result);
    if signals::interrupted() {
        return Err(HarnessError::Interrupted);
    }
    Ok(result.checks_passed())
}

fn check_and_measure(
    topo: &mut Topology,
    backend: &dyn Backend,
    opts: &MeasureOptions,
    result: &mut RunResult,
    obs: &mut dyn Observer,
) -> Result<()> {
    let passed = check_first(topo, backend, result, obs, "checking")?;
    if opts.workloads.is_empty() || opts.repeat == 0 {
        return Ok(());
    }
    if !passed {
        // A datapath that fails its checks has no cost worth quoting.
        obs.phase("not measuring: a conformance check failed");
        return Ok(());
    }
    obs.phase("measuring");
    obs.measuring(topo.repetitions(backend, opts));
    let t = Instant::now();
    let base = result.measurements.len();
    let measured = topo.measure(backend, opts, &mut |record, sample| {
        match sample {
            Some(sample) => obs.sample(record, sample),
            None => obs.traced(record),
        }
        // Keep the result current: replace the in-progress record or append it.
        let slot = result.measurements[base..]
            .iter()
            .position(|m| m.same_case(record) && m.path == record.path);
        match slot {
            Some(i) => result.measurements[base + i] = record.clone(),
            None => result.measurements.push(record.clone()),
        }
        obs.result(result);
    });
    result.timings.measure_ns = Some(t.elapsed().as_nanos() as u64);
    let measured = measured?;
    result.measurements.truncate(base);
    result.measurements.extend(measured);
    Ok(())
}

/// The result's record of the run's parameters.
pub fn parameters(backend: &dyn Backend, plan: &Plan, opts: &MeasureOptions) -> Parameters {
    let mut p = Parameters {
        backend: backend.info().name.to_string(),
        nodes: plan.spec.nodes,
        pods_per_node: plan.spec.pods_per_node,
        underlay: plan.spec.underlay.as_str().to_string(),
        // Host-network pods have no pod network; the CIDR the spec carries is unused.
        pod_cidr: match plan.pod_network {
            crate::topology::PodNetwork::HostNetwork => "none".to_string(),
            _ => plan.spec.pod_cidr.to_string(),
        },
        underlay_cidrs: plan
            .spec
            .underlay_cidrs
            .iter()
            .map(|c| c.to_string())
            .collect(),
        mtu: plan.spec.mtu,
        ip_family: Some(plan.ip_family().as_str().to_string()),
        segment_mtu_bytes: plan.spec.segment_mtu,
        workloads: opts
            .workloads
            .iter()
            .map(|w| w.name().to_string())
            .collect(),
        duration_ms: opts.duration.as_millis() as u64,
        warmup_ms: opts.warmup.as_millis() as u64,
        repeat: opts.repeat,
        placement: opts.placement.as_str().to_string(),
        streams: opts.streams,
        message_size_bytes: opts.message_size,
        generator: opts.generator.name().to_string(),
        tweaks: opts.tweaks.iter().map(|t| t.to_string()).collect(),
        ..Parameters::default()
    };
    p.set_backend_options(backend.options().to_map());
    p
}

/// Waits until no IPv6 address of `hosts` is tentative: duplicate address detection has
/// ended everywhere, so every address is usable and answers neighbour solicitations
/// (RFC 4862 §5.4), as a CNI plugin waits before it returns. An address that failed DAD ends
/// the wait at once, as an error naming it.
pub(crate) fn wait_addresses_settled(hosts: &[(&str, &Host)], timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let mut tentative = Vec::new();
        for (name, host) in hosts {
            let nl = host.nl();
            let links = nl.links()?;
            for a in nl.addresses6()? {
                let dev = crate::netlink::link_name(&links, a.index);
                if a.dad_failed {
                    return Err(HarnessError::Unsupported {
                        what: format!(
                            "{name} {dev}: IPv6 address {} failed duplicate address detection",
                            a.net
                        ),
                        fix: "another host on the link has the address: give each a unique one"
                            .into(),
                    });
                }
                if a.tentative {
                    tentative.push(format!("{name} {dev} {}", a.net));
                }
            }
        }
        if tentative.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(HarnessError::Unsupported {
                what: format!(
                    "IPv6 addresses still tentative {} s after setup: {}",
                    timeout.as_secs(),
                    tentative.join(", ")
                ),
                fix: "check the namespaces' accept_dad and dad_transmits sysctls".into(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
