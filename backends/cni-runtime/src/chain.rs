//! A chain that wires a backend's pods: the network loaded and its binaries found before
//! anything exists, prepared on each node (the binaries as the node sees them, their
//! versions asked, the network as the node runs it), each pod added as a runtime adds a
//! container and deleted again, and the chain's own teardown.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use harness::backend::{Context, PodLifecycle, PodReport, Teardown};
use harness::topology::{NodePlan, Plan, PodPlan, Substrate};
use harness::{HarnessError, Result};
use reports::ComponentRecord;
use serde_json::Value;

use crate::conf::NetworkList;
use crate::error::CniError;
use crate::exec::{find_plugin, ToRun};
use crate::options::Settings;
use crate::runtime::{self, Attachment, Binaries, Cache};

/// How a chain's network is run on the nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// As configured, on the one node (`--backend cni`).
    Whole,
    /// On every node with the node's pod block of each family of the run in its IPAM and
    /// the backend's pod MTU (`--pod-wiring cni`).
    PerNode {
        /// The pod MTU the backend's encapsulation leaves, in bytes.
        pod_mtu: u32,
    },
}

/// The chain as one node runs it.
#[derive(Debug, Clone)]
pub(crate) struct NodeChain {
    /// The network as the node runs it.
    pub(crate) list: NetworkList,
    /// The binaries as the node sees them.
    pub(crate) binaries: Binaries,
    /// The version the network runs at there.
    pub(crate) version: String,
    /// What each binary said to VERSION: `(type, path, versions)`.
    pub(crate) supported: Vec<(String, String, Vec<String>)>,
    /// The node as it was before the chain's first ADD there (for the conformance checks:
    /// what the chain leaves after every DEL), on one node only.
    pub(crate) before: Option<crate::snapshot::NodeState>,
}

/// The MTU the kernel gives a new veth pair when nobody says one (`veth_setup`: Ethernet's).
const VETH_DEFAULT_MTU: u32 = 1500;

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
    ) -> std::result::Result<Chain, CniError> {
        let dir = run_dir(plan.run_id());
        let saved = dir.join("network.json");
        let network = match std::fs::read_to_string(&saved) {
            Ok(text) => {
                let v: Value = serde_json::from_str(&text).map_err(|e| CniError::Cache {
                    path: saved.clone(),
                    message: e.to_string(),
                })?;
                NetworkList::from_json(&settings.conf, &v)?
            }
            Err(_) => NetworkList::load(&settings.conf)?,
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
                    })
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

    /// How the network runs on the nodes.
    pub fn scope(&self) -> Scope {
        self.scope
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
    /// modules); and a network whose IPAM ranges give pods other IP families than the run's.
    pub fn validate(&self, plan: &Plan) -> std::result::Result<(), CniError> {
        // Where the IPAM's ranges can be read, a network whose pods would get other families
        // than the run's is refused now; otherwise the first ADD's result is (`add`).
        self.network.check_families(plan.ip_family())?;
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
                    return Err(CniError::NotOnVm {
                        plugin: plugin.into(),
                        needs: needs.into(),
                    });
                }
            }
        }
        Ok(())
    }

    /// The MTU of a pod's interface: what a tuning plugin sets, else what the first plugin
    /// is configured with, else what the backend's encapsulation leaves (per node); on one
    /// node, the kernel's default for a new veth pair (1500 bytes) where the main plugin makes
    /// one (bridge, ptp), or the parent's (the node's `eth0`, at `--mtu`) for interfaces made
    /// from a device of the node (macvlan, ipvlan, vlan).
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
            Scope::Whole if matches!(self.main_plugin(), "bridge" | "ptp") => VETH_DEFAULT_MTU,
            Scope::Whole => plan.spec.mtu,
        };
        tuned
            .or_else(|| configured(&self.network.plugins[0]))
            .unwrap_or(fallback)
    }

    /// The network as `node` runs it: host-local's state in the node's own directory of the
    /// run (`cni/ipam/<node>`) unless the configuration says where; per node, the node's
    /// block of each family of the run and the pod MTU.
    fn node_list(&self, plan: &Plan, node: &NodePlan) -> (NetworkList, Vec<String>) {
        let (mut list, notes) = match self.scope {
            Scope::Whole => (self.network.clone(), Vec::new()),
            Scope::PerNode { pod_mtu } => self.network.for_node(&node_blocks(plan, node), pod_mtu),
        };
        list.keep_ipam_state_in(&self.ipam_dir(node));
        (list, notes)
    }

    /// Prepares the chain on `node` (once): the binaries as the node sees them, their
    /// versions, the version the network runs at; the network and its plugins are reported
    /// as components of the run.
    pub(crate) fn prepare(&self, ctx: &Context<'_>, node: &NodePlan) -> Result<NodeChain> {
        if let Some(c) = lock(&self.nodes).get(&node.netns) {
            return Ok(c.clone());
        }
        let host = ctx.host(&node.netns);
        let before = (self.scope == Scope::Whole)
            .then(|| crate::snapshot::NodeState::capture(host, &self.ipam_dir(node)));
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
        let (list, node_notes) = self.node_list(ctx.plan, node);
        let log = ToRun::in_node(ctx, &node.netns);
        let versions = runtime::versions(host, &list, &binaries, self.settings.timeout, &log)?;
        self.save_network()?;
        let mut notes = self.notes.clone();
        if let Scope::PerNode { .. } = self.scope {
            notes.push(
                format!(
                    "run per node: host-local ranges set to each node's pod block{} (gateway .1{}), mtu to the backend's pod MTU unless configured",
                    if ctx.plan.ip_family().has_v6() { "s, one range set per family" } else { "" },
                    if ctx.plan.ip_family().has_v6() { ", ::1" } else { "" },
                ),
            );
        }
        notes.extend(node_notes);
        let chain: Vec<&str> = list
            .plugins
            .iter()
            .map(|p| p.plugin_type.as_str())
            .collect();
        notes.push(format!("chain: {}", chain.join(" -> ")));
        if list.disable_check {
            notes.push("CHECK is not called: the network sets disableCheck".into());
        } else if !crate::conf::has_check(&versions.selected) {
            notes.push(format!(
                "CHECK is not called: CNI {} has none (it came with 0.4.0)",
                versions.selected
            ));
        }
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
            supported: versions.supported,
            before,
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

    pub(crate) fn cache(&self) -> Cache {
        Cache::new(self.dir.join("results"))
    }

    /// Where host-local keeps `node`'s state, unless the configuration says.
    pub(crate) fn ipam_dir(&self, node: &NodePlan) -> PathBuf {
        self.dir.join("ipam").join(&node.role)
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
        let capability_args = crate::capability::args(ctx.plan, pod);
        // Unique per attachment, as a runtime's sandbox ids are: a pod added at a position an
        // earlier pod had is another container.
        let container_id = format!(
            "cnb-{}-{}-{}",
            ctx.plan.run_id(),
            pod.role,
            harness::topology::new_run_id()
        );
        let mut a = Attachment {
            kind: runtime::CACHE_KIND.into(),
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
        };
        // A runtime hands the plugins a namespace whose loopback is up (containerd attaches
        // its loopback network first); the chain wires only the pod's own interface.
        ctx.host(&pod.netns).nl().set_up("lo")?;
        let host = ctx.host(&node.netns);
        let log = ToRun::in_node(ctx, &node.netns);
        // An attachment of this pod from before (its node restarted: the namespaces are new,
        // the IPAM reservation is not) is deleted first, as a runtime deletes a sandbox it
        // finds stale after a reboot: host-local refuses to hand the same container its
        // address twice.
        // It asks for its address again (`IP=` in CNI_ARGS, which host-local and static
        // honour, as a runtime restoring a container with its address passes it), so what
        // talked to the pod before the restart finds it after.
        if let Some(stale) = self.cache().of_pod(&pod.role) {
            runtime::del(host, &self.cache(), &stale, self.settings.timeout, &log)?;
            let before: Vec<ipnet::IpNet> = stale
                .parsed_result()
                .map(|r| {
                    r.pod_addresses(&stale.ifname)
                        .iter()
                        .map(|(ip, _)| *ip)
                        .collect()
                })
                .unwrap_or_default();
            match before.as_slice() {
                [] => {}
                [ip] => a.args.push_str(&format!(";IP={}", ip.addr())),
                // One of each family: the reference plugins before v1.2.0 parse `IP=` as one
                // address (and refuse a list), so they are asked in the configuration
                // (`args.cni.ips`), where host-local gives each range set the one it holds.
                several => {
                    let ips: Vec<String> = several.iter().map(ToString::to_string).collect();
                    a.network = chain.list.with_requested_ips(&ips).to_json();
                }
            }
        }
        let result = runtime::add(host, &self.cache(), &mut a, self.settings.timeout, &log)?;
        let report = pod_report(ctx.plan, pod, &result, &a.ifname).map_err(|why| {
            HarnessError::Component {
                message: format!(
                    "CNI ADD of {}: --cni-conf {}: {why}",
                    pod.role,
                    self.settings.conf.display()
                ),
            }
        })?;
        ctx.report_pod(
            pod,
            PodReport {
                detail: Some(serde_json::to_value(&a).expect("an attachment serializes")),
                ..report
            },
        );
        Ok(())
    }
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
        let log = ToRun::in_node(ctx, &a.node_netns);
        runtime::del(
            ctx.host(&a.node_netns),
            &cache,
            &a,
            self.settings.timeout,
            &log,
        )
        .map_err(HarnessError::from)
    }

    /// host-local's files for `node` (a reservation per attached pod) and the runtime's
    /// cached results: what a DEL must not leave behind.
    fn held(&self, _ctx: &Context<'_>, node: &NodePlan) -> Result<Vec<String>> {
        let mut lines = crate::snapshot::ipam_lines(&self.ipam_dir(node));
        if let Ok(entries) = std::fs::read_dir(self.dir.join("results")) {
            lines.extend(
                entries
                    .filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .map(|f| format!("cached result {f}")),
            );
        }
        Ok(lines)
    }
}

impl Teardown for Chain {
    /// DEL for every attachment whose ADD was started, in the reverse of pod order: each
    /// plugin runs in its node, which still exists. An attachment whose node is gone cannot
    /// be deleted; that is reported only where the configuration keeps state outside the run.
    fn teardown(&self, ctx: &Context<'_>) -> Vec<HarnessError> {
        let cache = self.cache();
        let mut errors = Vec::new();
        for a in cache.all().iter().rev() {
            match ctx.hosts.get(&a.node_netns) {
                Some(host) => {
                    let log = ToRun::in_node(ctx, &a.node_netns);
                    if let Err(e) = runtime::del(host, &cache, a, self.settings.timeout, &log) {
                        errors.push(HarnessError::from(e));
                    }
                }
                // Its node is gone (a VM that went with its QEMU, a namespace removed by
                // hand): so is everything the chain made there, and its state in the run's
                // directory goes with the run. Only state the configuration keeps outside
                // the run is left, and that is worth saying.
                None if keeps_state_outside(a, &self.dir) => errors.push(HarnessError::Component {
                    message: format!(
                        "CNI DEL of {}: its node {} is gone, so its plugins cannot run; what the configuration keeps outside the run (host-local's dataDir) still holds its reservation",
                        a.pod, a.node_netns
                    ),
                }),
                None => cache.remove(a),
            }
        }
        errors
    }
}

/// Whether `a`'s network keeps host-local state outside `run_dir` (a `dataDir` of its own).
fn keeps_state_outside(a: &Attachment, run_dir: &Path) -> bool {
    a.network()
        .map(|n| {
            n.plugins.iter().any(|p| {
                p.raw
                    .get("ipam")
                    .and_then(|i| i.get("dataDir"))
                    .and_then(Value::as_str)
                    .is_some_and(|d| !Path::new(d).starts_with(run_dir))
            })
        })
        .unwrap_or(false)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// `node`'s pod block of each family of the run, with its gateway, IPv4 first: what a chain
/// run per node gets in its IPAM ([`NetworkList::for_node`]).
pub fn node_blocks(plan: &Plan, node: &NodePlan) -> Vec<(ipnet::IpNet, std::net::IpAddr)> {
    let mut out = Vec::new();
    if plan.ip_family().has_v4() {
        if let (Some(b), Some(g)) = (node.pod_block, node.pod_gateway) {
            out.push((b.into(), g.addr().into()));
        }
    }
    if plan.ip_family().has_v6() {
        if let (Some(b), Some(g)) = (node.pod_block6, node.pod_gateway6) {
            out.push((b.into(), g.addr().into()));
        }
    }
    out
}

/// What `pod` got from the chain (`result`, its interface `ifname`) for the plan: its address
/// and gateway of each family of the run. A family of the run the result lacks, or one the
/// run does not have, is an error saying what to change. On an IPv6-only run the pod's IPv4
/// fields keep the plan's (planned, configured nowhere).
pub fn pod_report(
    plan: &Plan,
    pod: &PodPlan,
    result: &crate::CniResult,
    ifname: &str,
) -> std::result::Result<PodReport, String> {
    let v4 = result.pod_ipv4(ifname);
    let v6 = result.pod_ipv6(ifname);
    let shown = |v: Option<String>| v.into_iter().collect::<Vec<_>>();
    if let Some(why) = crate::conf::family_mismatch(
        plan.ip_family(),
        &shown(v4.map(|(a, _)| a.to_string())),
        &shown(v6.map(|(a, _)| a.to_string())),
    ) {
        let why = if v4.is_none() && v6.is_none() {
            format!("the chain's result has no address on {ifname}: give its IPAM a range")
        } else {
            why.replacen("its pods get", "the chain's result gives the pod", 1)
        };
        return Err(why);
    }
    let (ip, gateway) = match v4 {
        Some((ip, gw)) => (ip, gw),
        None => (pod.ip, pod.gateway),
    };
    Ok(PodReport {
        ip,
        gateway,
        ip6: v6.map(|(a, _)| a),
        gateway6: v6.and_then(|(_, g)| g),
        detail: None,
    })
}
