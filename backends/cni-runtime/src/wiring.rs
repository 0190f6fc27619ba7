//! A backend's pods wired by a CNI chain: the options that ask for it, the chain prepared on
//! each node (its binaries found, their versions asked, the network as the node runs it),
//! each pod added as a runtime adds a container and deleted again, and the chain's own
//! teardown. The `cni` backend is this and nothing else; vxlan, host-gw and bgp use it under
//! `--pod-wiring cni` while they keep their control plane between nodes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use harness::backend::{
    BackendInfo, BackendOptions, Context, Expectations, OptionDecl, PodLifecycle, PodReport,
    Teardown,
};
use harness::topology::{NodePlan, Plan, PodPlan, Substrate};
use harness::{HarnessError, Result};
use reports::{CheckRecord, ComponentRecord};
use serde_json::Value;

use crate::conf::NetworkList;
use crate::error::CniError;
use crate::exec::find_plugin;
use crate::runtime::{self, attachment_of, Attachment, Binaries, Cache, Checked};

/// `--cni-conf`: the network configuration.
pub const CONF_OPTION: OptionDecl = OptionDecl {
    flag: "cni-conf",
    help: "the CNI network configuration whose plugin chain wires the pods (a .conflist, or a single .conf)",
    values: &[],
    value_name: "FILE",
    default: None,
};

/// The CNI path when `--cni-path` is not given: where the plugins' upstream installs them,
/// then where Debian's containernetworking-plugins does.
pub const DEFAULT_CNI_PATH: &str = "/opt/cni/bin:/usr/lib/cni";

/// `--cni-path`: where the chain's binaries are looked up.
pub const PATH_OPTION: OptionDecl = OptionDecl {
    flag: "cni-path",
    help: "directories (colon-separated) the chain's plugin binaries are looked up in, in order",
    values: &[],
    value_name: "DIRS",
    default: Some(DEFAULT_CNI_PATH),
};

/// The per-verb limit when `--cni-timeout` is not given, in seconds.
pub const DEFAULT_TIMEOUT_S: u64 = 30;

/// `--cni-timeout`: how long one plugin invocation may take.
pub const TIMEOUT_OPTION: OptionDecl = OptionDecl {
    flag: "cni-timeout",
    help: "seconds one plugin invocation (ADD, CHECK, DEL, VERSION) may take before it is killed by its pid",
    values: &[],
    value_name: "SECONDS",
    default: Some("30"),
};

/// `--pod-wiring`: who wires the pods of a backend with a control plane of its own.
pub const POD_WIRING_OPTION: OptionDecl = OptionDecl {
    flag: "pod-wiring",
    help: "who wires the pods to their node",
    values: &[
        ("builtin", "cnbench's own veth pairs on the node's cni0"),
        (
            "cni",
            "the CNI chain of --cni-conf, run for each pod as a container runtime runs it",
        ),
    ],
    value_name: "VALUE",
    default: Some("builtin"),
};

/// The options of the `cni` backend.
pub const CHAIN_OPTIONS: [OptionDecl; 3] = [CONF_OPTION, PATH_OPTION, TIMEOUT_OPTION];

/// The options of a backend whose pods a chain may wire.
pub const POD_WIRING_OPTIONS: [OptionDecl; 4] =
    [POD_WIRING_OPTION, CONF_OPTION, PATH_OPTION, TIMEOUT_OPTION];

/// The CNI settings of a run, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The configuration file (absolute).
    pub conf: PathBuf,
    /// The CNI path, in order.
    pub dirs: Vec<PathBuf>,
    /// The per-verb limit.
    pub timeout: Duration,
}

impl Settings {
    /// From the backend's options; `--cni-conf` is required.
    pub fn from_options(o: &BackendOptions) -> std::result::Result<Settings, String> {
        let conf = o.get(CONF_OPTION.flag).ok_or_else(|| {
            "pods wired by CNI need a network configuration: give --cni-conf FILE (examples/cni/ has some)"
                .to_string()
        })?;
        let conf = std::path::absolute(conf).unwrap_or_else(|_| PathBuf::from(conf));
        let dirs: Vec<PathBuf> = o
            .get(PATH_OPTION.flag)
            .unwrap_or(DEFAULT_CNI_PATH)
            .split(':')
            .filter(|d| !d.is_empty())
            // Absolute, so `down` or `clean` from another directory finds the same binaries.
            .map(|d| std::path::absolute(d).unwrap_or_else(|_| PathBuf::from(d)))
            .collect();
        if dirs.is_empty() {
            return Err("--cni-path is empty: give directories, colon-separated".into());
        }
        let timeout = match o.get(TIMEOUT_OPTION.flag) {
            None => Duration::from_secs(DEFAULT_TIMEOUT_S),
            Some(t) => match t.parse::<u64>() {
                Ok(s) if (1..=3600).contains(&s) => Duration::from_secs(s),
                _ => {
                    return Err(format!(
                        "--cni-timeout {t}: give whole seconds from 1 to 3600"
                    ))
                }
            },
        };
        Ok(Settings {
            conf,
            dirs,
            timeout,
        })
    }

    /// Writes the settings into `o`, every default resolved, so a result and the run's state
    /// say exactly what ran.
    pub fn resolve_into(&self, o: &mut BackendOptions) {
        o.set(CONF_OPTION.flag, &self.conf.display().to_string());
        let dirs: Vec<String> = self.dirs.iter().map(|d| d.display().to_string()).collect();
        o.set(PATH_OPTION.flag, &dirs.join(":"));
        o.set(TIMEOUT_OPTION.flag, &self.timeout.as_secs().to_string());
    }
}

/// Whether the pods are wired by a chain (`--pod-wiring cni`): the settings if so; an error
/// when CNI flags are given without it.
pub fn pod_wiring(o: &BackendOptions) -> std::result::Result<Option<Settings>, String> {
    match o.get(POD_WIRING_OPTION.flag).unwrap_or("builtin") {
        "cni" => Settings::from_options(o).map(Some),
        _ => {
            let stray: Vec<String> = [CONF_OPTION, PATH_OPTION, TIMEOUT_OPTION]
                .iter()
                .filter(|d| o.get(d.flag).is_some())
                .map(|d| format!("--{}", d.flag))
                .collect();
            if stray.is_empty() {
                Ok(None)
            } else {
                Err(format!(
                    "{} apply only with --pod-wiring cni: add it, or leave them out",
                    stray.join(", ")
                ))
            }
        }
    }
}

/// How a chain's network is run on the nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// As configured, on the one node (`--backend cni`).
    Whole,
    /// On every node with the node's pod block in its IPAM and the backend's pod MTU
    /// (`--pod-wiring cni`).
    PerNode {
        /// The pod MTU the backend's encapsulation leaves, in bytes.
        pod_mtu: u32,
    },
}

/// The chain as one node runs it.
#[derive(Debug, Clone)]
struct NodeChain {
    list: NetworkList,
    binaries: Binaries,
    version: String,
}

/// A chain that wires a backend's pods.
#[derive(Debug)]
pub struct Chain {
    settings: Settings,
    network: NetworkList,
    local: Binaries,
    notes: Vec<String>,
    dir: PathBuf,
    scope: Scope,
    nodes: Mutex<BTreeMap<String, NodeChain>>,
}

/// The run's CNI directory: the saved network, host-local's state, the result cache.
pub fn run_dir(run_id: &str) -> PathBuf {
    harness::state::RunState::dir(run_id).join("cni")
}

impl Chain {
    /// Loads the network and finds every binary on this machine; refuses (before anything
    /// is made) a file that is not a usable network and a plugin that is not on the CNI
    /// path. A run that already saved its network (a standing topology's `down`) uses the
    /// saved one.
    pub fn new(
        settings: Settings,
        plan: &Plan,
        scope: Scope,
    ) -> std::result::Result<Chain, String> {
        let dir = run_dir(plan.run_id());
        let saved = dir.join("network.json");
        let network = match std::fs::read_to_string(&saved) {
            Ok(text) => serde_json::from_str::<Value>(&text)
                .map_err(|e| e.to_string())
                .and_then(|v| {
                    NetworkList::from_json(&settings.conf, &v).map_err(|e| e.to_string())
                })?,
            Err(_) => NetworkList::load(&settings.conf).map_err(|e| e.to_string())?,
        };
        let mut notes = vec![format!("configuration: {}", settings.conf.display())];
        // Where host-local's state goes is decided per node (each node keeps its own, as each
        // host has its own disk); the notes say where the configuration keeps it instead.
        notes.extend(network.clone().keep_ipam_state_in(&dir.join("ipam")));
        let mut paths = Vec::new();
        for b in network.binaries() {
            match find_plugin(&b, &settings.dirs) {
                Some(p) => paths.push((b, p.display().to_string())),
                None => {
                    return Err(CniError::NotFound {
                        plugin: b,
                        dirs: settings
                            .dirs
                            .iter()
                            .map(|d| d.display().to_string())
                            .collect(),
                    }
                    .to_string())
                }
            }
        }
        let dirs: Vec<String> = settings
            .dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        Ok(Chain {
            local: Binaries {
                cni_path: dirs.join(":"),
                paths,
            },
            settings,
            network,
            notes,
            dir,
            scope,
            nodes: Mutex::new(BTreeMap::new()),
        })
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The network as configured.
    pub fn network(&self) -> &NetworkList {
        &self.network
    }

    /// The type of the plugin that makes the pod's interface (the chain's first).
    pub fn main_plugin(&self) -> &str {
        &self.network.plugins[0].plugin_type
    }

    /// Whether the chain has a plugin of `plugin_type`.
    pub fn has(&self, plugin_type: &str) -> bool {
        self.network
            .plugins
            .iter()
            .any(|p| p.plugin_type == plugin_type)
    }

    /// The binaries on this machine (a VM image carries them, at `/bin/<type>`).
    pub fn programs(&self) -> Vec<PathBuf> {
        self.local
            .paths
            .iter()
            .map(|(_, p)| PathBuf::from(p))
            .collect()
    }

    /// Kernel link kinds the chain's plugins create, as far as cnbench knows them (the
    /// reference plugins'); probed before anything is made.
    pub fn link_kinds(&self) -> Vec<&'static str> {
        let mut kinds = Vec::new();
        for p in &self.network.plugins {
            let k: &[&'static str] = match p.plugin_type.as_str() {
                "bridge" => &["bridge", "veth"],
                "ptp" => &["veth"],
                "macvlan" => &["macvlan"],
                "ipvlan" => &["ipvlan"],
                "vlan" => &["vlan"],
                "vrf" => &["vrf"],
                "bandwidth" => &["ifb"],
                _ => &[],
            };
            for kind in k {
                if !kinds.contains(kind) {
                    kinds.push(*kind);
                }
            }
        }
        kinds
    }

    /// Refuses what the substrate cannot run: on VM nodes, plugins that need more than the
    /// VM image carries (portmap and firewall run iptables; bandwidth needs traffic-control
    /// modules).
    pub fn validate(&self, plan: &Plan) -> std::result::Result<(), String> {
        if plan.spec.substrate == Substrate::Vm {
            for (plugin, needs) in [
                ("portmap", "iptables"),
                ("firewall", "iptables"),
                (
                    "bandwidth",
                    "the kernel's traffic-control modules (tbf, ingress, mirred)",
                ),
            ] {
                if self.has(plugin) {
                    return Err(format!(
                        "the chain's {plugin} plugin needs {needs}, which the VM image does not carry: run this chain with --substrate netns, or leave {plugin} out"
                    ));
                }
            }
        }
        Ok(())
    }

    /// The MTU of a pod's interface: what a tuning plugin sets, else what the first plugin
    /// is configured with, else what the backend's encapsulation leaves (per node) or the
    /// node's (a new link's default).
    pub fn pod_mtu(&self, plan: &Plan) -> u32 {
        let configured = |p: &crate::conf::PluginConf| {
            p.raw.get("mtu").and_then(Value::as_u64).map(|m| m as u32)
        };
        let tuned = self
            .network
            .plugins
            .iter()
            .filter(|p| p.plugin_type == "tuning")
            .find_map(configured);
        let fallback = match self.scope {
            Scope::PerNode { pod_mtu } => pod_mtu,
            Scope::Whole => plan.spec.mtu,
        };
        tuned
            .or_else(|| configured(&self.network.plugins[0]))
            .unwrap_or(fallback)
    }

    /// The network as `node` runs it: host-local's state in the node's own directory of the
    /// run (`cni/ipam/<node>`) unless the configuration says where; per node, the node's
    /// block and pod MTU.
    fn node_list(&self, node: &NodePlan) -> (NetworkList, Vec<String>) {
        let (mut list, notes) = match self.scope {
            Scope::Whole => (self.network.clone(), Vec::new()),
            Scope::PerNode { pod_mtu } => {
                let block = node.pod_block.expect("per-node pod blocks");
                let gw = node.pod_gateway.expect("per-node gateway").addr();
                self.network.for_node(block, gw, pod_mtu)
            }
        };
        list.keep_ipam_state_in(&self.dir.join("ipam").join(&node.role));
        (list, notes)
    }

    /// Prepares the chain on `node` (once): the binaries as the node sees them, their
    /// versions, the version the network runs at; the network and its plugins are reported
    /// as components of the run.
    fn prepare(&self, ctx: &Context<'_>, node: &NodePlan) -> Result<NodeChain> {
        if let Some(c) = lock(&self.nodes).get(&node.netns) {
            return Ok(c.clone());
        }
        let host = ctx.host(&node.netns);
        let binaries = if host.local().is_some() {
            self.local.clone()
        } else {
            // A VM image carries each program at /bin/<file name> (harness::vm).
            Binaries {
                cni_path: "/bin".into(),
                paths: self
                    .local
                    .paths
                    .iter()
                    .map(|(t, p)| {
                        let file = Path::new(p)
                            .file_name()
                            .map(|f| f.to_string_lossy().into_owned());
                        (
                            t.clone(),
                            format!("/bin/{}", file.unwrap_or_else(|| t.clone())),
                        )
                    })
                    .collect(),
            }
        };
        let (list, node_notes) = self.node_list(node);
        let versions = runtime::versions(host, &list, &binaries, self.settings.timeout)?;
        self.save_network()?;
        let mut notes = self.notes.clone();
        if let Scope::PerNode { .. } = self.scope {
            notes.push(format!(
                "run per node: host-local ranges set to the node's pod block ({} on {}), mtu to the backend's pod MTU unless configured",
                node.pod_block.map(|b| b.to_string()).unwrap_or_default(),
                node.role
            ));
        }
        notes.extend(node_notes);
        let chain: Vec<&str> = list
            .plugins
            .iter()
            .map(|p| p.plugin_type.as_str())
            .collect();
        notes.push(format!("chain: {}", chain.join(" -> ")));
        ctx.report_component(ComponentRecord {
            role: "cni-network".into(),
            name: list.name.clone(),
            path: None,
            version: Some(versions.selected.clone()),
            supported_versions: list.versions.clone(),
            notes,
        });
        for (plugin, path, supported) in &versions.supported {
            ctx.report_component(ComponentRecord {
                role: "cni-plugin".into(),
                name: plugin.clone(),
                path: Some(path.clone()),
                version: None,
                supported_versions: supported.clone(),
                notes: Vec::new(),
            });
        }
        let c = NodeChain {
            list,
            binaries,
            version: versions.selected,
        };
        lock(&self.nodes).insert(node.netns.clone(), c.clone());
        Ok(c)
    }

    fn save_network(&self) -> Result<()> {
        let path = self.dir.join("network.json");
        std::fs::create_dir_all(&self.dir)
            .and_then(|_| std::fs::write(&path, self.network.to_json().to_string()))
            .map_err(|e| HarnessError::io(format!("write {}", path.display()), e))
    }

    fn cache(&self) -> Cache {
        Cache::new(self.dir.join("results"))
    }

    /// Wires every pod of `node` with the chain, in plan order.
    pub fn setup_node(&self, ctx: &Context<'_>, node: &NodePlan) -> Result<()> {
        for pod in ctx.plan.pods.iter().filter(|p| p.node == node.index) {
            if harness::signals::interrupted() {
                return Err(HarnessError::Interrupted);
            }
            self.add(ctx, pod)?;
        }
        Ok(())
    }

    /// Adds `pod` to the network (its namespace exists and is empty) and reports its
    /// address and the attachment.
    fn add(&self, ctx: &Context<'_>, pod: &PodPlan) -> Result<()> {
        let node = ctx.plan.node_of(pod);
        let chain = self.prepare(ctx, node)?;
        let capability_args = crate::capability::args(pod);
        let container_id = format!("cnb-{}-{}", ctx.plan.run_id(), pod.role);
        let mut a = Attachment {
            kind: "cnbench-cni-cache-v1".into(),
            pod: pod.role.clone(),
            node_netns: node.netns.clone(),
            args: format!(
                "IgnoreUnknown=1;K8S_POD_NAMESPACE=cnbench;K8S_POD_NAME={};K8S_POD_INFRA_CONTAINER_ID={container_id}",
                pod.role
            ),
            container_id,
            netns: format!("{}/{}", harness::netns::NETNS_RUN_DIR, pod.netns),
            ifname: "eth0".into(),
            cni_version: chain.version.clone(),
            network: chain.list.to_json(),
            capability_args,
            binaries: chain.binaries.clone(),
            added: 0,
            result: None,
            add_ns: Vec::new(),
        };
        // A runtime hands the plugins a namespace whose loopback is up (containerd attaches
        // its loopback network first); the chain wires only the pod's own interface.
        ctx.host(&pod.netns).nl().set_up("lo")?;
        let host = ctx.host(&node.netns);
        // An attachment of this pod from before (its node restarted: the namespaces are new,
        // the IPAM reservation is not) is deleted first, as a runtime deletes a sandbox it
        // finds stale after a reboot: host-local refuses to hand the same container its
        // address twice.
        // It asks for its address again (`IP=` in CNI_ARGS, which host-local and static
        // honour, as a runtime restoring a container with its address passes it), so what
        // talked to the pod before the restart finds it after.
        if let Some(stale) = self.cache().of_pod(&pod.role) {
            runtime::del(host, &self.cache(), &stale, self.settings.timeout)?;
            if let Some((ip, _)) = stale
                .parsed_result()
                .and_then(|r| r.pod_ipv4(&stale.ifname))
            {
                a.args.push_str(&format!(";IP={}", ip.addr()));
            }
        }
        let result = runtime::add(host, &self.cache(), &mut a, self.settings.timeout)?;
        let (ip, gateway) = result.pod_ipv4(&a.ifname).ok_or_else(|| HarnessError::Component {
            message: format!(
                "CNI ADD of {}: the chain's result has no IPv4 address on {}: cnbench's checks are IPv4, give the network an IPv4 range",
                pod.role, a.ifname
            ),
        })?;
        ctx.report_pod(
            pod,
            PodReport {
                ip,
                gateway,
                detail: Some(serde_json::to_value(&a).expect("an attachment serializes")),
            },
        );
        Ok(())
    }

    /// Runs every plugin's CHECK for every pod (where the network's version has CHECK and
    /// its configuration allows it): one record per pod and plugin. A failure that is a
    /// known bug of a plugin is an expected failure naming the bug ([`crate::known`]).
    pub fn check_records(&self, ctx: &Context<'_>) -> Vec<CheckRecord> {
        let mut out = vec![distinct_addresses(ctx.plan)];
        for pod in &ctx.plan.pods {
            let Some((a, result)) = attachment_of(pod) else {
                continue;
            };
            let host = ctx.host(&a.node_netns);
            let expected = "CHECK succeeds".to_string();
            match runtime::check(host, &a, self.settings.timeout) {
                Ok(Checked::NotCalled(why)) => out.push(harness::checks::record(
                    "cni-check",
                    format!("{} ({})", pod.role, a.container_id),
                    expected,
                    format!("not called: {why}"),
                    true,
                    None,
                )),
                Ok(Checked::Plugins(answers)) => {
                    for (plugin, answer) in answers {
                        let subject = format!("{} {plugin}", pod.role);
                        let rec = match answer {
                            Ok(()) => harness::checks::record(
                                "cni-check",
                                subject,
                                expected.clone(),
                                "passed".into(),
                                true,
                                None,
                            ),
                            Err(e) => {
                                let text = e.to_string();
                                let mut rec = harness::checks::record(
                                    "cni-check",
                                    subject,
                                    expected.clone(),
                                    text.clone(),
                                    false,
                                    Some("the plugin's CHECK says the attachment is not as its ADD left it".into()),
                                );
                                if let Some(bug) = crate::known::check_bug(&plugin, &text, &result)
                                {
                                    rec.outcome = reports::CheckOutcome::ExpectedFailure;
                                    rec.reason = Some(bug.to_string());
                                }
                                rec
                            }
                        };
                        out.push(rec);
                    }
                }
                Err(e) => out.push(harness::checks::record(
                    "cni-check",
                    format!("{} ({})", pod.role, a.container_id),
                    expected,
                    e.to_string(),
                    false,
                    None,
                )),
            }
        }
        out
    }
}

/// Every pod the chain wired got an address of its own: an IPAM that hands one address to
/// two pods is caught here, not only by the odd reachability that follows.
fn distinct_addresses(plan: &Plan) -> CheckRecord {
    let mut by_ip: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for pod in plan.pods.iter().filter(|p| p.detail.is_some()) {
        by_ip
            .entry(pod.ip.addr().to_string())
            .or_default()
            .push(&pod.role);
    }
    let shared: Vec<String> = by_ip
        .iter()
        .filter(|(_, pods)| pods.len() > 1)
        .map(|(ip, pods)| format!("{ip} on {}", pods.join(", ")))
        .collect();
    let ok = shared.is_empty();
    harness::checks::record(
        "ipam",
        "the chain's pod addresses".into(),
        "one address per pod".into(),
        if ok {
            format!(
                "{} pods, {} addresses",
                by_ip.values().map(Vec::len).sum::<usize>(),
                by_ip.len()
            )
        } else {
            shared.join("; ")
        },
        ok,
        (!ok).then(|| "the chain gave two pods one address".into()),
    )
}

impl PodLifecycle for Chain {
    fn add_pod(&self, ctx: &Context<'_>, pod: &PodPlan) -> Result<()> {
        self.add(ctx, pod)
    }

    fn remove_pod(&self, ctx: &Context<'_>, pod: &PodPlan) -> Result<()> {
        let cache = self.cache();
        let Some(a) = cache.of_pod(&pod.role) else {
            return Ok(());
        };
        runtime::del(ctx.host(&a.node_netns), &cache, &a, self.settings.timeout)
            .map_err(HarnessError::from)
    }
}

impl Teardown for Chain {
    /// DEL for every attachment whose ADD was started, newest pod last: each plugin runs in
    /// its node, which still exists. An attachment whose node is gone cannot be deleted (its
    /// state went with the node's namespace and the run's directory) and is reported.
    fn teardown(&self, ctx: &Context<'_>) -> Vec<HarnessError> {
        let cache = self.cache();
        let mut errors = Vec::new();
        for a in cache.all().iter().rev() {
            match ctx.hosts.get(&a.node_netns) {
                Some(host) => {
                    if let Err(e) = runtime::del(host, &cache, a, self.settings.timeout) {
                        errors.push(HarnessError::from(e));
                    }
                }
                None => errors.push(HarnessError::Component {
                    message: format!(
                        "CNI DEL of {}: its node {} is gone; nothing of it is left but the cache entry",
                        a.pod, a.node_netns
                    ),
                }),
            }
        }
        errors
    }
}

/// Expectations of the pods a chain wired on its own node (`--backend cni`): see
/// [`crate::expect::pod_expectations`].
pub fn expectations(chain: &Chain, plan: &Plan) -> Expectations {
    crate::expect::pod_expectations(plan, chain.network(), chain.pod_mtu(plan), true)
}

/// A backend's facts with who wires its pods: its `BackendInfo` with the kinds the chain's
/// plugins make added, and the options in effect.
#[derive(Debug)]
pub struct Wired {
    /// Who wires the pods.
    pub pods: PodWiring,
    /// The backend's info, with the chain's link kinds.
    pub info: BackendInfo,
}

impl Wired {
    /// `base`, its pods wired by `pods`.
    pub fn new(pods: PodWiring, base: &BackendInfo) -> Wired {
        Wired {
            info: BackendInfo {
                link_kinds: pods.link_kinds(base.link_kinds),
                ..*base
            },
            pods,
        }
    }

    /// `base` with cnbench's own pods.
    pub fn builtin(base: &BackendInfo) -> Wired {
        Wired::new(PodWiring::Builtin, base)
    }

    /// `base` with the pods the options ask for ([`PodWiring::from_options`]).
    pub fn from_options(
        o: &BackendOptions,
        plan: &Plan,
        pod_mtu: u32,
        base: &BackendInfo,
    ) -> std::result::Result<Wired, String> {
        Ok(Wired::new(PodWiring::from_options(o, plan, pod_mtu)?, base))
    }

    /// The pod-wiring options in effect.
    pub fn options(&self) -> BackendOptions {
        let mut o = BackendOptions::new();
        self.pods.resolve_into(&mut o);
        o
    }
}

/// Who wires the pods of a backend that keeps its own control plane between nodes.
#[derive(Debug)]
pub enum PodWiring {
    /// cnbench's own wiring.
    Builtin,
    /// A CNI chain, run per node with the node's block (`--pod-wiring cni`).
    Cni(Box<Chain>),
}

impl PodWiring {
    /// From the backend's options (`--pod-wiring`, and the CNI settings with `cni`): the
    /// chain loaded and its binaries found, with `pod_mtu` the MTU the backend's
    /// encapsulation leaves.
    pub fn from_options(
        o: &BackendOptions,
        plan: &Plan,
        pod_mtu: u32,
    ) -> std::result::Result<PodWiring, String> {
        Ok(match pod_wiring(o)? {
            None => PodWiring::Builtin,
            Some(settings) => PodWiring::Cni(Box::new(Chain::new(
                settings,
                plan,
                Scope::PerNode { pod_mtu },
            )?)),
        })
    }

    /// The chain, if a chain wires the pods.
    pub fn chain(&self) -> Option<&Chain> {
        match self {
            PodWiring::Builtin => None,
            PodWiring::Cni(c) => Some(c),
        }
    }

    /// The options in effect, every default resolved.
    pub fn resolve_into(&self, o: &mut BackendOptions) {
        match self {
            PodWiring::Builtin => o.set(POD_WIRING_OPTION.flag, "builtin"),
            PodWiring::Cni(c) => {
                o.set(POD_WIRING_OPTION.flag, "cni");
                c.settings().resolve_into(o);
            }
        }
    }

    /// `base` and the kinds the chain's plugins create. BackendInfo holds static slices; a
    /// backend is made a few times per process at most, so the union is leaked rather than
    /// the info's shape changed for the backends a chain may wire.
    pub fn link_kinds(&self, base: &'static [&'static str]) -> &'static [&'static str] {
        match self {
            PodWiring::Builtin => base,
            PodWiring::Cni(c) => {
                let mut kinds = base.to_vec();
                for k in c.link_kinds() {
                    if !kinds.contains(&k) {
                        kinds.push(k);
                    }
                }
                Box::leak(kinds.into_boxed_slice())
            }
        }
    }

    /// Refuses what the chain cannot run on the plan's substrate.
    pub fn validate(&self, plan: &Plan) -> std::result::Result<(), String> {
        self.chain().map_or(Ok(()), |c| c.validate(plan))
    }

    /// Wires the pods of `node`: cnbench's way (`builtin`), or by the chain.
    pub fn wire_node(
        &self,
        ctx: &Context<'_>,
        node: &NodePlan,
        builtin: impl FnOnce() -> Result<()>,
    ) -> Result<()> {
        match self {
            PodWiring::Builtin => builtin(),
            PodWiring::Cni(c) => {
                ctx.host(&node.netns).nl().set_up("lo")?;
                c.setup_node(ctx, node)
            }
        }
    }

    /// What the pods promise: the backend's own declarations (`builtin`), or the chain's
    /// results. Under a chain the nodes' tables are shared with it, so the backend's routes
    /// there must be present among the chain's; the pods' gateways are probed by the
    /// backend's matrix.
    pub fn pod_expectations(
        &self,
        plan: &Plan,
        builtin: impl FnOnce() -> Expectations,
    ) -> Expectations {
        match self {
            PodWiring::Builtin => builtin(),
            PodWiring::Cni(c) => {
                let mut e =
                    crate::expect::pod_expectations(plan, c.network(), c.pod_mtu(plan), false);
                for node in &plan.nodes {
                    e.devices.push(harness::backend::DeviceSet {
                        netns: node.netns.clone(),
                        devices: crate::expect::node_devices(plan, c.network(), node),
                    });
                    e.shared_route_tables.push(node.netns.clone());
                }
                e
            }
        }
    }

    /// The chain's own checks (each plugin's CHECK, each plugin's effect); none for the
    /// built-in wiring.
    pub fn extra_checks(&self, ctx: &Context<'_>) -> Vec<CheckRecord> {
        match self {
            PodWiring::Builtin => Vec::new(),
            PodWiring::Cni(c) => {
                let mut out = c.check_records(ctx);
                out.extend(crate::effects::checks(ctx, c.network()));
                out
            }
        }
    }

    /// The pod lifecycle: the backend's own, or the chain's.
    pub fn pods<'a>(&'a self, builtin: &'a dyn PodLifecycle) -> &'a dyn PodLifecycle {
        match self {
            PodWiring::Builtin => builtin,
            PodWiring::Cni(c) => c.as_ref(),
        }
    }

    /// The chain's teardown (its DELs), if a chain wires the pods.
    pub fn teardown(&self) -> Option<&dyn Teardown> {
        self.chain().map(|c| c as &dyn Teardown)
    }

    /// The chain's binaries, for a VM image to carry.
    pub fn programs(&self) -> Vec<PathBuf> {
        self.chain().map(Chain::programs).unwrap_or_default()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_come_from_the_options_with_the_fix_when_wrong() {
        let o = BackendOptions::new().with("cni-conf", "/etc/cni/net.d/10-docker0.conflist");
        let s = Settings::from_options(&o).unwrap();
        assert_eq!(
            s.dirs,
            [PathBuf::from("/opt/cni/bin"), PathBuf::from("/usr/lib/cni")]
        );
        assert_eq!(s.timeout, Duration::from_secs(30));
        let mut resolved = BackendOptions::new();
        s.resolve_into(&mut resolved);
        assert_eq!(resolved.get("cni-timeout"), Some("30"));
        let e = Settings::from_options(&BackendOptions::new()).unwrap_err();
        assert!(e.contains("give --cni-conf FILE"), "{e}");
        let e = Settings::from_options(&o.clone().with("cni-timeout", "0")).unwrap_err();
        assert!(e.contains("from 1 to 3600"), "{e}");
        assert_eq!(pod_wiring(&BackendOptions::new()).unwrap(), None);
        let e = pod_wiring(&o).unwrap_err();
        assert!(
            e.contains("--cni-conf apply only with --pod-wiring cni"),
            "{e}"
        );
        assert!(pod_wiring(&o.with("pod-wiring", "cni")).unwrap().is_some());
    }
}
