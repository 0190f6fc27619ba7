//! The ipip backend: IP-in-IP (IP protocol 4, 20 bytes of overhead) as Calico's `tunl0` or
//! flannel's ipip mode, with flannel-style addressing so it compares with vxlan. Each node has
//! the `cni0` pod bridge (its pods in 100.96.N.0/24, gateway .1) and a `tunl0` device; a pod
//! packet for another node's block is routed into `tunl0`, wrapped in an outer IPv4 header
//! between the two node IPs, and unwrapped on the far node into its `cni0`.
//!
//! Two datapaths, chosen with `--datapath` (default: kernel where the kernel has the ipip
//! device type, otherwise userspace; detected, never assumed):
//! - **kernel** ([`kernel`]): a kernel `ipip` device `tunl0` and one route per remote node,
//!   `100.96.M.0/24 via <node M IP> dev tunl0 onlink`. UNTESTED on the machines cnbench is
//!   developed on, which have no ipip module: only its declarations are unit-tested.
//! - **userspace** ([`daemon`]): a daemon per node with a TUN `tunl0`, the route
//!   `100.96.0.0/16 dev tunl0`, and a raw IP-protocol-4 socket; it moves packets between the
//!   two with one read and one write each, as the kernel module would, but in a process.

mod config;
pub mod daemon;
mod datapath;
mod expect;
pub mod kernel;
mod userspace;

use harness::backend::{BackendInfo, BackendOptions, Context, Datapath, Defaults, Expectations};
use harness::fault::FaultKind;
use harness::topology::{NodePlan, Plan, PodNetwork, Underlay};
use harness::{podnet, Backend, PlanError, Result};

pub use config::{tunnel_route, DaemonConfig, Peer};
pub use datapath::choose_datapath;

/// The pod bridge, as flannel's CNI configuration names it.
pub const BRIDGE: &str = "cni0";
/// The tunnel device, as Calico and the kernel's fallback ipip device name it.
pub const TUNNEL_DEV: &str = "tunl0";
/// Bytes IP-in-IP adds to every packet: one outer IPv4 header without options.
pub const OVERHEAD: u32 = 20;
/// The smallest pod MTU accepted: IPv4's minimum reassembly size (RFC 791).
const MIN_POD_MTU: u32 = 576;

/// What `cnbench list` shows. The link kinds are what every machine needs (the userspace
/// datapath's TUN); the kernel `ipip` type is used when present and is not required, which
/// this static list cannot express.
pub static INFO: BackendInfo = BackendInfo {
    name: "ipip",
    summary:
        "cni0 bridge + tunl0 IP-in-IP (kernel ipip where present, else TUN + raw socket daemon)",
    underlays: &[Underlay::L2, Underlay::L3],
    link_kinds: &["veth", "bridge", "tun"],
    binaries: &[],
    built: true,
};

/// The ipip backend, with the datapath it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipip {
    datapath: Datapath,
}

impl Ipip {
    /// The backend running `datapath` (no detection: [`make`] detects).
    pub fn new(datapath: Datapath) -> Ipip {
        Ipip { datapath }
    }
}

/// Makes the backend from its options: `--datapath kernel|userspace`, or the kernel datapath
/// when this kernel has the ipip device type and userspace otherwise. Probing creates and
/// deletes a scratch namespace (root only).
pub fn make(options: &BackendOptions) -> Result<Box<dyn Backend>, String> {
    let probe = || -> Result<bool, String> {
        if options.substrate == harness::Substrate::Vm {
            // The nodes run the VM's kernel, not this one.
            return Ok(harness::vm::nodes::kernel_has_module("ipip"));
        }
        let found = harness::capability::probe_link_kinds(&["ipip"])
            .map_err(|e| format!("cannot detect the ipip device type: {e}"))?;
        Ok(found.iter().all(|k| k.result.is_ok()))
    };
    let datapath = choose_datapath(options.datapath.as_deref(), probe)?;
    if datapath == Datapath::Userspace && options.substrate == harness::Substrate::Vm {
        // The VM loads the ipip module at boot, and the kernel then keeps a fallback `tunl0`
        // in the node's namespace that cannot be deleted: the daemon's TUN cannot take its
        // name.
        return Err(
            "--datapath userspace on --substrate vm: the VMs' kernel has ipip, whose own \
             tunl0 takes the daemon's device name; leave --datapath out (kernel) on VMs"
                .into(),
        );
    }
    Ok(Box::new(Ipip::new(datapath)))
}

/// Runs the userspace datapath daemon (`cnbench daemon ipip '<json>'`) inside a node: see
/// [`daemon::run`].
pub fn daemon(config: &str) -> Result<(), String> {
    daemon::run(config).map_err(|e| e.to_string())
}

impl Backend for Ipip {
    fn info(&self) -> &'static BackendInfo {
        &INFO
    }

    fn datapath(&self) -> Datapath {
        self.datapath
    }

    fn defaults(&self) -> Defaults {
        harness::podnet::flannel_defaults()
    }

    fn pod_network(&self) -> PodNetwork {
        harness::podnet::FLANNEL_POD_NETWORK
    }

    fn validate(&self, plan: &Plan) -> Result<(), PlanError> {
        if !INFO.underlays.contains(&plan.spec.underlay) {
            return Err(PlanError::Backend {
                backend: INFO.name.into(),
                why: "tunl0 sends to the other nodes' underlay IPs: use --underlay l2 or l3".into(),
            });
        }
        if plan.spec.mtu < MIN_POD_MTU + OVERHEAD {
            return Err(PlanError::Invalid {
                option: "mtu",
                value: plan.spec.mtu.to_string(),
                why: format!(
                    "the pods' MTU would be {} (underlay − {OVERHEAD}), below IPv4's {MIN_POD_MTU}: use --mtu {} or more",
                    plan.spec.mtu - OVERHEAD.min(plan.spec.mtu),
                    MIN_POD_MTU + OVERHEAD
                ),
            });
        }
        Ok(())
    }

    fn setup(&self, ctx: &Context<'_>) -> Result<()> {
        for node in &ctx.plan.nodes {
            self.setup_node(ctx, node)?;
        }
        Ok(())
    }

    fn setup_node(&self, ctx: &Context<'_>, node: &NodePlan) -> Result<()> {
        let pod_mtu = ctx.plan.spec.mtu - OVERHEAD;
        // The node routes between cni0 and tunl0; a new namespace starts with forwarding off.
        ctx.host(&node.netns)
            .set_sysctl("net.ipv4.ip_forward", "1")?;
        podnet::build_pod_bridge(ctx, node, BRIDGE, pod_mtu)?;
        match self.datapath {
            Datapath::Kernel => kernel::setup_node(ctx, node, pod_mtu),
            Datapath::Userspace => userspace::spawn_daemon(ctx, node).map(|_| ()),
        }
    }

    fn own_faults(&self) -> &'static [FaultKind] {
        match self.datapath {
            Datapath::Userspace => &[FaultKind::DaemonRestart],
            // The kernel datapath has no process of its own to lose.
            Datapath::Kernel => &[],
        }
    }

    fn inject(&self, ctx: &Context<'_>, kind: FaultKind, node: &NodePlan) -> Result<()> {
        match (kind, self.datapath) {
            (FaultKind::DaemonRestart, Datapath::Userspace) => ctx
                .stop_process(&userspace::what(node), &node.netns)
                .map(|_| ()),
            _ => Err(unsupported(kind)),
        }
    }

    fn lift(&self, ctx: &Context<'_>, kind: FaultKind, node: &NodePlan) -> Result<()> {
        match (kind, self.datapath) {
            (FaultKind::DaemonRestart, Datapath::Userspace) => {
                userspace::spawn_daemon(ctx, node).map(|_| ())
            }
            _ => Err(unsupported(kind)),
        }
    }

    fn expectations(&self, plan: &Plan) -> Expectations {
        expect::expectations(plan, self.datapath)
    }

    fn effective_options(&self) -> BackendOptions {
        BackendOptions {
            datapath: Some(self.datapath.as_str().into()),
            ..Default::default()
        }
    }

    fn daemon_device(&self) -> Option<&'static str> {
        // The userspace datapath's daemon moves every tunnelled packet through its TUN.
        (self.datapath == Datapath::Userspace).then_some(TUNNEL_DEV)
    }

    fn extra_checks(&self, ctx: &Context<'_>) -> Vec<reports::CheckRecord> {
        match self.datapath {
            Datapath::Userspace => userspace::daemon_restart(ctx),
            // The kernel datapath has no process of its own to lose.
            Datapath::Kernel => Vec::new(),
        }
    }
}

fn unsupported(kind: FaultKind) -> harness::HarnessError {
    harness::HarnessError::Unsupported {
        what: format!("ipip cannot suffer the fault {kind}"),
        fix: "ipip's own fault, with the userspace datapath, is daemon-restart".into(),
    }
}

#[cfg(test)]
mod tests;
