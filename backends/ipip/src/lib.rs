//! The ipip backend: IP-in-IP (IP protocol 4, 20 bytes of overhead) as Calico's `tunl0` or
//! flannel's ipip mode, with flannel-style addressing so it compares with vxlan. Each node has
//! the `cni0` pod bridge (its pods in 100.96.N.0/24, gateway .1) and a `tunl0` device; a pod
//! packet for another node's block is routed into `tunl0`, wrapped in an outer IPv4 header
//! between the two node IPs, and unwrapped on the far node into its `cni0`.
//!
//! Two datapaths, chosen with `--datapath` (default: kernel where the kernel has the ipip
//! device type, otherwise userspace; detected, never assumed):
//! - **kernel** ([`kernel`]): a kernel `ipip` device `tunl0` and one route per remote node,
//!   `100.96.M.0/24 via <node M IP> dev tunl0 onlink`. The machines cnbench is developed on
//!   have no ipip module; it runs end to end on the VM substrate, whose kernel has one
//!   (tests/vm.rs).
//! - **userspace** ([`daemon`]): a daemon per node with a TUN `tunl0`, the route
//!   `100.96.0.0/16 dev tunl0`, and a raw IP-protocol-4 socket; it moves packets between the
//!   two with one read and one write each, as the kernel module would, but in a process. It
//!   is built from the userspace datapath kit (`userspace`) that flannel-udp's daemon shares.
//! - **offload** (`offload.rs`): the same daemon with the TUN opened with virtio-net headers
//!   and TSO/USO offloads: one read brings a 64 KB super-packet, cut into path-MTU packets
//!   that leave in one `sendmmsg` (a raw socket has no UDP-style GSO); received packets come
//!   in by `recvmmsg` and are coalesced (GRO) before each write into the TUN. Same packets on
//!   the wire as `userspace`.

pub mod daemon;
mod datapath;
mod expect;
pub mod kernel;
mod offload;

use harness::backend::{
    BackendInfo, BackendOptions, Capabilities, Context, Datapath, Expectations, OptionDecl,
    OptionalKind, SysctlExpect,
};
use harness::podnet::{self, BridgePods, FLANNEL_STYLE};
use harness::topology::{NodePlan, Plan};
use harness::{Backend, PlanError, Result, Substrate};
use userspace::{Daemons, TunnelConfig};

pub use datapath::choose_datapath;

/// The pod bridge, as flannel's CNI configuration names it.
pub const BRIDGE: &str = "cni0";
/// The tunnel device, as Calico and the kernel's fallback ipip device name it.
pub const TUNNEL_DEV: &str = "tunl0";
/// Bytes IP-in-IP adds to every packet: one outer IPv4 header without options.
pub const OVERHEAD: u32 = 20;
/// The smallest pod MTU accepted: IPv4's minimum reassembly size (RFC 791).
const MIN_POD_MTU: u32 = 576;

/// `--datapath`: the kernel's ipip device, or a userspace daemon.
pub const DATAPATH_OPTION: OptionDecl = OptionDecl {
    flag: "datapath",
    help: "where ipip moves packets [default: kernel where the nodes' kernel has ipip, else userspace]",
    values: &[
        ("kernel", "the kernel's ipip device tunl0"),
        ("userspace", "a daemon per node: a TUN tunl0 and a raw IP-protocol-4 socket"),
        (
            "offload",
            "that daemon with TUN offloads: super-packets cut into one sendmmsg; recvmmsg, GRO-coalesced writes",
        ),
    ],
    value_name: "VALUE",
    default: None,
};

/// `--peer-datapath`: the userspace datapath of every node but n0, to show that `userspace`
/// and `offload` interoperate (they put the same packets on the wire).
pub const PEER_DATAPATH_OPTION: OptionDecl = OptionDecl {
    flag: "peer-datapath",
    help: "the userspace datapath of every node but n0, with a userspace --datapath",
    values: &[
        ("userspace", "a daemon per node: a TUN tunl0 and a raw IP-protocol-4 socket"),
        (
            "offload",
            "that daemon with TUN offloads: super-packets cut into one sendmmsg; recvmmsg, GRO-coalesced writes",
        ),
    ],
    value_name: "VALUE",
    default: Some("as --datapath"),
};

/// What `cnbench list` shows. The link kinds are what every machine needs (the userspace
/// datapath's TUN); the kernel `ipip` type is used where present.
pub const INFO: BackendInfo = BackendInfo {
    name: "ipip",
    summary:
        "cni0 bridge + tunl0 IP-in-IP (kernel ipip where present, else TUN + raw socket daemon)",
    overhead_bytes: OVERHEAD,
    link_kinds: &["veth", "bridge", "tun"],
    optional_kinds: &[OptionalKind {
        kind: "ipip",
        with: "kernel datapath (ipip module)",
        without: "userspace datapath (TUN + raw socket): this kernel has no ipip module",
    }],
    options: &[DATAPATH_OPTION, PEER_DATAPATH_OPTION],
    faults: &[userspace::DAEMON_RESTART],
    // Both flannel's ipip backend and Calico's IP-in-IP encapsulate IPv4 in IPv4 only.
    ipv6: harness::backend::Ipv6Support::NotInRealSystem(
        "flannel's and Calico's IP-in-IP carry IPv4 only (flannel runs IPv6 over vxlan or host-gw)",
    ),
    ..FLANNEL_STYLE
};

/// Pods on a node's cni0; the tunnel already routes the node's whole block.
static PODS: BridgePods = BridgePods {
    bridge: BRIDGE,
    overhead_bytes: OVERHEAD,
};

/// The ipip backend, with the datapath it runs.
#[derive(Debug)]
pub struct Ipip {
    info: BackendInfo,
    /// Whether the userspace daemons run with the TUN's offloads (`--datapath offload`).
    offload: bool,
    /// Whether the daemons of the nodes after n0 do (`--peer-datapath`); none: as n0's.
    peer_offload: Option<bool>,
    /// The userspace datapath's daemons.
    daemons: Daemons,
}

impl Ipip {
    /// The backend running `datapath` (no detection: [`make`] detects).
    pub fn new(datapath: Datapath) -> Ipip {
        Ipip::with_offload(datapath, false)
    }

    /// The backend running `datapath`, whose userspace daemons open their TUN with offloads
    /// when `offload` (the `offload` datapath; ignored by the kernel datapath).
    pub fn with_offload(datapath: Datapath, offload: bool) -> Ipip {
        Ipip::with_peers(datapath, offload, None)
    }

    /// The backend running `datapath`, whose node 0 daemon has the TUN's offloads when
    /// `offload` and every other node's when `peer_offload` (none: as node 0's). Userspace
    /// only: the kernel datapath has no daemons.
    pub fn with_peers(datapath: Datapath, offload: bool, peer_offload: Option<bool>) -> Ipip {
        let userspace = datapath == Datapath::Userspace;
        let offload = offload && userspace;
        let peer_offload = peer_offload.filter(|_| userspace);
        Ipip {
            offload,
            peer_offload,
            info: BackendInfo {
                datapath,
                // The userspace datapath's daemon moves every tunnelled packet through its
                // TUN.
                daemon_device: (datapath == Datapath::Userspace).then_some(TUNNEL_DEV),
                // The kernel datapath has no process of its own to lose.
                faults: match datapath {
                    Datapath::Userspace => INFO.faults,
                    Datapath::Kernel => &[],
                },
                ..INFO
            },
            daemons: Daemons::new("ipip", TUNNEL_DEV, move |plan, node, cpu| {
                let mut config = TunnelConfig::for_node(plan, node, TUNNEL_DEV, OVERHEAD);
                config.cpu = cpu;
                config.offload = if node.index == 0 {
                    offload
                } else {
                    peer_offload.unwrap_or(offload)
                };
                serde_json::to_string(&config).expect("a config of plain values serializes")
            }),
        }
    }

    fn datapath(&self) -> Datapath {
        self.info.datapath
    }
}

/// Makes the backend from its options: `--datapath kernel|userspace|offload`, or the kernel datapath
/// where the nodes' kernel has the ipip device type and userspace otherwise. The nodes'
/// kernel is this machine's on the netns substrate (probed in a scratch namespace: root
/// only), the VM kernel's on the vm substrate (its modules are looked up).
pub fn make(options: &BackendOptions, plan: &Plan) -> Result<Box<dyn Backend>, String> {
    let on_vms = plan.spec.substrate == Substrate::Vm;
    let probe = || -> Result<bool, String> {
        if on_vms {
            return Ok(harness::vm::nodes::kernel_has_module("ipip"));
        }
        let found = harness::detect::probe_link_kinds(&["ipip"])
            .map_err(|e| format!("cannot detect the ipip device type: {e}"))?;
        Ok(found.iter().all(|k| k.result.is_ok()))
    };
    let datapath = choose_datapath(options.get("datapath"), probe)?;
    if datapath == Datapath::Userspace && on_vms {
        // The VM loads the ipip module at boot, and the kernel then keeps a fallback `tunl0`
        // in the node's namespace that cannot be deleted: the daemon's TUN cannot take its
        // name.
        return Err(format!(
            "--datapath {} on --substrate vm: the VMs' kernel has ipip, whose own \
             tunl0 takes the daemon's device name; leave --datapath out (kernel) on VMs",
            options.get("datapath").unwrap_or("userspace")
        ));
    }
    let offload = options.get("datapath") == Some("offload");
    let peer_offload = match options.get("peer-datapath") {
        None => None,
        Some(_) if datapath == Datapath::Kernel => {
            return Err(
                "--peer-datapath: the kernel datapath has no daemons to mix; use --datapath \
                 userspace or offload with it"
                    .into(),
            )
        }
        Some("userspace") => Some(false),
        Some("offload") => Some(true),
        Some(other) => {
            return Err(format!(
                "--peer-datapath {other}: ipip's nodes after n0 run `userspace` or `offload`"
            ))
        }
    };
    Ok(Box::new(Ipip::with_peers(datapath, offload, peer_offload)))
}

/// Runs the userspace datapath daemon (`cnbench daemon ipip '<json>'`) inside a node: see
/// [`daemon::run`].
pub fn daemon(config: &str) -> Result<(), String> {
    daemon::run(config).map_err(|e| e.to_string())
}

impl Backend for Ipip {
    fn info(&self) -> &BackendInfo {
        &self.info
    }

    fn options(&self) -> BackendOptions {
        let value = if self.offload {
            "offload"
        } else {
            self.datapath().as_str()
        };
        let o = BackendOptions::new().with("datapath", value);
        match self.peer_offload {
            Some(true) => o.with("peer-datapath", "offload"),
            Some(false) => o.with("peer-datapath", "userspace"),
            None => o,
        }
    }

    fn validate(&self, plan: &Plan) -> Result<(), PlanError> {
        INFO.require_underlay(
            plan,
            "tunl0 sends to the other nodes' underlay IPs: use --underlay l2 or l3",
        )?;
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

    fn setup_node(&self, ctx: &Context<'_>, node: &NodePlan) -> Result<()> {
        let pod_mtu = ctx.plan.spec.mtu - OVERHEAD;
        // The node routes between cni0 and tunl0; a new namespace starts with forwarding off.
        SysctlExpect::write(ctx.host(&node.netns), &[SysctlExpect::ip_forward()])?;
        podnet::build_pod_bridge(ctx, node, BRIDGE, pod_mtu)?;
        match self.datapath() {
            Datapath::Kernel => kernel::setup_node(ctx, node, pod_mtu),
            Datapath::Userspace => self.daemons.start(ctx, node).map(|_| ()),
        }
    }

    fn expectations(&self, plan: &Plan) -> Expectations {
        expect::expectations(plan, self.datapath())
    }

    fn extra_checks(&self, ctx: &Context<'_>) -> Vec<reports::CheckRecord> {
        match self.datapath() {
            Datapath::Userspace => self.daemons.restart_check(ctx),
            // The kernel datapath has no process of its own to lose.
            Datapath::Kernel => Vec::new(),
        }
    }

    fn capabilities(&self) -> Capabilities<'_> {
        Capabilities {
            // The kernel datapath has no process of its own to lose.
            faults: (self.datapath() == Datapath::Userspace)
                .then_some(&self.daemons as &dyn harness::backend::OwnFaults),
            pods: Some(&PODS),
            ..Capabilities::default()
        }
    }
}

#[cfg(test)]
mod tests;
