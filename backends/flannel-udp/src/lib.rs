//! The flannel-udp backend: flannel's original UDP mode, the article's first overlay. Each
//! node has the `cni0` pod bridge (its pods in 100.96.N.0/24, gateway .1), IP forwarding on,
//! and a TUN device `flannel0` owned by a userspace daemon (`cnbench daemon flannel-udp`) that
//! also installs the route `100.96.0.0/16 dev flannel0`. A pod packet for another node's block
//! leaves the pod's veth, is routed by the node from `cni0` to `flannel0`, is read by the
//! daemon, sent as one UDP datagram (port 8285) to the daemon of the node owning the
//! destination /24, written by that daemon into its own `flannel0`, and routed by that node
//! to its `cni0`. Outer IP + UDP headers cost 28 bytes, so pod links are 28 bytes smaller
//! than the underlay. Only IP reachability between node IPs is needed: l2 and l3 both work.
//!
//! Three datapaths (`--datapath`): `faithful` moves packets as flannel does (one read and one
//! send per packet from a single poll loop); `batched` drains the TUN and sends with one
//! `sendmmsg`, and receives with one `recvmmsg`, to show what syscall batching buys;
//! `offload` opens the TUN with virtio-net headers and TSO/USO, so one read is a 64 KB
//! super-packet, cut in userspace into path-MTU packets sent with UDP GSO, and received
//! trains (UDP GRO) are coalesced again before one write into the TUN. All three put the same
//! datagrams on the wire, so nodes may run different ones (`--peer-datapath`).

mod backend;
mod config;
mod daemon;
mod expect;
mod mode;

use harness::backend::{BackendInfo, BackendOptions, Datapath, OptionDecl};
use harness::podnet::FLANNEL_STYLE;
use harness::topology::Plan;
use harness::Backend;

pub use backend::FlannelUdp;
pub use config::DaemonConfig;
pub use expect::expectations;
pub use mode::DatapathMode;

/// The pod bridge, as flannel's CNI configuration names it.
pub const BRIDGE: &str = "cni0";
/// The TUN device the daemon owns, as flanneld names it.
pub const TUN_DEV: &str = "flannel0";
/// flannel's UDP port.
pub const UDP_PORT: u16 = 8285;
/// Bytes the encapsulation adds: an outer IPv4 header (20) and a UDP header (8).
pub const OVERHEAD: u32 = 28;

/// `--datapath`: how the daemons move packets.
pub const DATAPATH_OPTION: OptionDecl = OptionDecl {
    flag: "datapath",
    help: "how flannel-udp's daemons move packets",
    values: &[
        (
            "faithful",
            "one read and one send per packet from one poll loop, as flanneld",
        ),
        (
            "batched",
            "drain the TUN, one sendmmsg; one recvmmsg, then a write each",
        ),
        (
            "offload",
            "TUN offloads: 64 KB super-packets cut into UDP GSO sendmmsg; UDP GRO recvmmsg, coalesced writes",
        ),
    ],
    value_name: "VALUE",
    default: Some("faithful"),
};

/// `--peer-datapath`: the datapath of every node but the first, to show that the datapaths
/// interoperate (they put the same datagrams on the wire).
pub const PEER_DATAPATH_OPTION: OptionDecl = OptionDecl {
    flag: "peer-datapath",
    help: "how the daemons of every node but n0 move packets",
    values: DATAPATH_OPTION.values,
    value_name: "VALUE",
    default: Some("as --datapath"),
};

/// `--daemon-program`: a program started in each node in place of `cnbench daemon
/// flannel-udp`, for reference measurements on the same topology (`ci/userspace-ref.sh`
/// starts `ci/userspace-ref.c` this way). Its argv is `NODE_IP PORT TUN MTU CPU|-
/// BLOCK/LEN=PEER_IP...` ([`DaemonConfig::program_args`]); it must create and bring up the
/// TUN at that MTU, bind `NODE_IP:PORT`, print `ready` and forward until killed. cnbench adds
/// the route into the TUN, checks and measures it like its own daemon and stops it by pid.
pub const DAEMON_PROGRAM_OPTION: OptionDecl = OptionDecl {
    flag: "daemon-program",
    help: "for reference measurements: run this program in each node instead of cnbench's \
           daemon (argv: NODE_IP PORT TUN MTU CPU|- BLOCK/LEN=PEER_IP...; prints `ready`)",
    values: &[],
    value_name: "FILE",
    default: None,
};

/// What `cnbench list` shows.
pub const INFO: BackendInfo = BackendInfo {
    name: "flannel-udp",
    summary: "cni0 bridge + flannel0 TUN; a userspace daemon wraps IP packets in UDP 8285",
    datapath: Datapath::Userspace,
    overhead_bytes: OVERHEAD,
    link_kinds: &["veth", "bridge", "tun"],
    daemon_device: Some(TUN_DEV),
    options: &[DATAPATH_OPTION, PEER_DATAPATH_OPTION, DAEMON_PROGRAM_OPTION],
    faults: &[userspace::DAEMON_RESTART],
    // flannel's UDP backend has no IPv6 (its IPv6 support is vxlan, host-gw and wireguard).
    ipv6: harness::backend::Ipv6Support::NotInRealSystem(
        "flannel's UDP backend carries IPv4 only (flannel runs IPv6 over vxlan or host-gw)",
    ),
    ..FLANNEL_STYLE
};

/// Makes the backend from its options (`--datapath faithful|batched|offload`, default
/// faithful; `--peer-datapath` for the nodes after n0, default the same; or `--daemon-program
/// FILE`, which must be an executable file, instead of a datapath).
pub fn make(options: &BackendOptions, plan: &Plan) -> Result<Box<dyn Backend>, String> {
    let mode = DatapathMode::from_option(options.get(DATAPATH_OPTION.flag))?;
    let Some(program) = options.get(DAEMON_PROGRAM_OPTION.flag) else {
        let peer = match options.get(PEER_DATAPATH_OPTION.flag) {
            None => None,
            Some(v) => Some(
                DatapathMode::from_option(Some(v))
                    .map_err(|e| e.replacen("--datapath", "--peer-datapath", 1))?,
            ),
        };
        return Ok(Box::new(FlannelUdp::with_peers(mode, peer)));
    };
    for flag in [DATAPATH_OPTION.flag, PEER_DATAPATH_OPTION.flag] {
        if options.get(flag).is_some() {
            return Err(format!(
                "--daemon-program {program} replaces the daemon and its datapath: leave out --{flag}"
            ));
        }
    }
    if plan.spec.substrate != harness::topology::Substrate::Netns {
        return Err(format!(
            "--daemon-program {program} runs a file of this machine: use it with --substrate netns"
        ));
    }
    Ok(Box::new(FlannelUdp::with_program(executable(program)?)))
}

/// `path` made absolute (so `cnbench down` from elsewhere means the same file), if it is an
/// executable regular file; else the one-line error naming the fix.
fn executable(path: &str) -> Result<std::path::PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let flag = DAEMON_PROGRAM_OPTION.flag;
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.into());
    match std::fs::metadata(&abs) {
        Err(e) => Err(format!(
            "--{flag} {path}: {e}: give the path of the built forwarder (e.g. cc -O2 -o \
             /tmp/userspace-ref ci/userspace-ref.c)"
        )),
        Ok(m) if !m.is_file() => Err(format!(
            "--{flag} {path}: not a file: give the program's path"
        )),
        Ok(m) if m.permissions().mode() & 0o111 == 0 => {
            Err(format!("--{flag} {path}: not executable: chmod +x it"))
        }
        Ok(_) => Ok(abs),
    }
}

/// Runs the datapath daemon (`cnbench daemon flannel-udp '<json>'`) inside a node: creates
/// `flannel0` and its route, binds UDP 8285, prints `ready`, then forwards until killed.
pub fn daemon(config: &str) -> Result<(), String> {
    daemon::run(config).map_err(|e| e.to_string())
}
