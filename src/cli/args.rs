//! What the commands take, with full-sentence help. Flags that take one of a known set are
//! value enums (or, for what the registry knows, possible values: [`super::flags`]), so
//! `--help` lists the choices and shells complete them.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use harness::netlink::UplinkKind;
use harness::topology::{IpFamily, SshHost, SshSpec, Substrate, TopologyRequest, Underlay};
use ipnet::{Ipv4Net, Ipv6Net};

use super::flags::{backend_values, fault_values, BackendFlags, BackendSweepFlags};

/// Which backend, with its own options.
#[derive(Debug, Args)]
pub struct BackendArg {
    /// The backend to stand up (`cnbench list` shows what each needs and whether this machine
    /// has it).
    #[arg(long, short = 'b', value_parser = backend_values())]
    pub backend: String,
    /// The backend's own options.
    #[command(flatten)]
    pub options: BackendFlags,
}

/// Options that shape the topology; unset ones take the backend's defaults.
#[derive(Debug, Args)]
pub struct TopologyArgs {
    /// Number of nodes (network namespaces playing hosts).
    #[arg(long)]
    pub nodes: Option<u32>,
    /// Pods on each node.
    #[arg(long)]
    pub pods_per_node: Option<u32>,
    /// How nodes reach each other: one switch (l2), two subnets and a router (l3), or none
    /// (a single node).
    #[arg(long, value_enum)]
    pub underlay: Option<UnderlayArg>,
    /// The pod network (default: the backend's, as in the article).
    #[arg(long, value_name = "CIDR", value_parser = cidr)]
    pub pod_cidr: Option<Ipv4Net>,
    /// Underlay subnet(s), comma-separated: one for l2, two for l3.
    #[arg(long, value_name = "CIDR[,CIDR]", value_delimiter = ',', value_parser = cidr)]
    pub underlay_cidr: Option<Vec<Ipv4Net>>,
    /// MTU of the underlay and pod links, in bytes.
    #[arg(long)]
    pub mtu: Option<u32>,
    /// Where nodes live.
    #[arg(long, value_enum, default_value_t = SubstrateArg::Netns)]
    pub substrate: SubstrateArg,
    /// MTU of the l3 underlay's second segment, below --mtu: a narrower link on the path,
    /// where the router refuses what does not fit (ICMP fragmentation needed, ICMPv6 packet
    /// too big) and the path-MTU check proves it (host-net).
    #[arg(long, value_name = "BYTES")]
    pub segment_mtu: Option<u32>,
    /// Which IP families nodes and pods get: IPv4 only, IPv6 only, or both (dual-stack).
    #[arg(long, value_enum, default_value_t = IpFamilyArg::Ipv4)]
    pub ip_family: IpFamilyArg,
    /// The IPv6 pod network, with --ip-family ipv6 or dual (default: a unique local range
    /// that spells the IPv4 one, fd00:100:96::/48 for 100.96.0.0/16; a /64 per node).
    #[arg(long, value_name = "CIDR", value_parser = cidr6)]
    pub pod_cidr6: Option<Ipv6Net>,
    /// IPv6 underlay subnet(s), comma-separated, as many as --underlay-cidr (default:
    /// fd00:10:168::/64 on l2; fd00:10:168:1::/64,fd00:10:168:2::/64 on l3).
    #[arg(long, value_name = "CIDR[,CIDR]", value_delimiter = ',', value_parser = cidr6)]
    pub underlay_cidr6: Option<Vec<Ipv6Net>>,
    /// Routers joining the l3 underlay's two segments: 1, or 2 (both segments reach both;
    /// nodes route through both, ECMP, and the router-down fault takes one away).
    #[arg(long, value_name = "1|2")]
    pub routers: Option<u32>,
    /// Ports one l2 switch bridge takes before the switch adds another, joined to the first
    /// by a trunk (default 1023, a Linux bridge's limit): lower it to test a switch of
    /// several bridges with a few nodes.
    #[arg(long, value_name = "PORTS", hide = true)]
    pub bridge_ports: Option<u32>,
    /// Real hosts as nodes (--substrate ssh).
    #[command(flatten)]
    pub ssh: SshArgs,
}

/// The SSH substrate: real hosts reached through the system's ssh client, so the user's keys,
/// agent, `~/.ssh/config`, jump hosts and known_hosts apply unchanged.
#[derive(Debug, Args)]
#[command(next_help_heading = "SSH substrate (--substrate ssh)")]
pub struct SshArgs {
    /// The hosts, one per node, comma-separated: each `[user@]host[:port][%iface][=addr/len]`,
    /// `iface` the host's interface that carries the underlay and `addr/len` the node's
    /// address on that network (default: its position in --underlay-cidr). A user other
    /// than root works through `sudo -n`.
    #[arg(long, value_name = "HOST,HOST", value_delimiter = ',')]
    pub hosts: Vec<SshHost>,
    /// The hosts' underlay interface, for those that name none.
    #[arg(long, value_name = "IFACE")]
    pub underlay_iface: Option<String>,
    /// How a node joins that interface's network: macvlan (its own MAC) or ipvlan (the
    /// host's MAC, where the network drops unknown MACs, as cloud networks do).
    #[arg(long, value_enum, default_value_t = NodeLinkArg::Macvlan)]
    pub node_link: NodeLinkArg,
    /// An ssh option as in ssh_config(5), KEY=VALUE, passed to ssh and scp as `-o`
    /// (repeatable): IdentityFile=~/.ssh/lab, ProxyJump=bastion, UserKnownHostsFile=....
    #[arg(long, value_name = "KEY=VALUE")]
    pub ssh_option: Vec<String>,
    /// The cnbench binary on the hosts (default: `cnbench` on their PATH); it must be this
    /// version.
    #[arg(long, value_name = "PATH")]
    pub remote_exe: Option<String>,
    /// Copy this binary to each host for the run (scp), and remove it after.
    #[arg(long)]
    pub copy_exe: bool,
}

/// How a node joins its host's network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NodeLinkArg {
    /// A macvlan in bridge mode: the node's own MAC on the wire.
    Macvlan,
    /// An ipvlan in L2 mode: the host's MAC.
    Ipvlan,
}

impl SshArgs {
    /// As the harness takes them; none unless the SSH substrate was asked for.
    fn spec(&self, substrate: SubstrateArg) -> Option<SshSpec> {
        (substrate == SubstrateArg::Ssh
            || !self.ssh_option.is_empty()
            || self.remote_exe.is_some()
            || self.copy_exe
            || self.underlay_iface.is_some())
        .then(|| SshSpec {
            options: self.ssh_option.clone(),
            remote_exe: self.remote_exe.clone(),
            copy_exe: self.copy_exe,
            underlay_iface: self.underlay_iface.clone(),
            node_link: match self.node_link {
                NodeLinkArg::Macvlan => UplinkKind::Macvlan,
                NodeLinkArg::Ipvlan => UplinkKind::Ipvlan,
            },
        })
    }
}

/// Which IP families a run has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IpFamilyArg {
    /// IPv4 only; IPv6 stays disabled in every namespace.
    Ipv4,
    /// IPv6 only.
    Ipv6,
    /// Both, every node and pod with an address of each (Kubernetes dual-stack).
    Dual,
}

impl From<IpFamilyArg> for IpFamily {
    fn from(f: IpFamilyArg) -> IpFamily {
        match f {
            IpFamilyArg::Ipv4 => IpFamily::Ipv4,
            IpFamilyArg::Ipv6 => IpFamily::Ipv6,
            IpFamilyArg::Dual => IpFamily::Dual,
        }
    }
}

/// An IPv6 network `ADDRESS/PREFIX`, or what to write instead.
fn cidr6(s: &str) -> Result<Ipv6Net, String> {
    s.parse().map_err(|_| {
        "not an IPv6 network: write ADDRESS/PREFIX, prefix 0 to 128 (fd00:100:96::/48)".into()
    })
}

/// Where nodes live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SubstrateArg {
    /// Network namespaces on this machine.
    Netns,
    /// One QEMU VM per node with its own kernel (emulated: figures compare behaviour, not
    /// speed; needs `cnbench setup vm`).
    Vm,
    /// One real host per node, reached over SSH (--hosts); its own network is the underlay.
    Ssh,
}

impl From<SubstrateArg> for Substrate {
    fn from(s: SubstrateArg) -> Substrate {
        match s {
            SubstrateArg::Netns => Substrate::Netns,
            SubstrateArg::Vm => Substrate::Vm,
            SubstrateArg::Ssh => Substrate::Ssh,
        }
    }
}

/// An IPv4 network `ADDRESS/PREFIX`, or what to write instead.
fn cidr(s: &str) -> Result<Ipv4Net, String> {
    s.parse().map_err(|_| {
        "not an IPv4 network: write ADDRESS/PREFIX, prefix 0 to 32 (100.96.0.0/16)".into()
    })
}

impl TopologyArgs {
    /// As the harness takes them.
    pub fn request(&self) -> TopologyRequest {
        TopologyRequest {
            nodes: self.nodes,
            pods_per_node: self.pods_per_node,
            underlay: self.underlay.map(Underlay::from),
            pod_cidr: self.pod_cidr,
            underlay_cidrs: self.underlay_cidr.clone(),
            mtu: self.mtu,
            substrate: self.substrate.into(),
            ip_family: self.ip_family.into(),
            pod_cidr6: self.pod_cidr6,
            underlay_cidrs6: self.underlay_cidr6.clone(),
            segment_mtu: self.segment_mtu,
            routers: self.routers,
            bridge_ports: self.bridge_ports,
            hosts: self.ssh.hosts.clone(),
            ssh: self.ssh.spec(self.substrate),
        }
    }
}

/// The underlay kinds.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum UnderlayArg {
    /// A single node, no underlay.
    None,
    /// All nodes on one switch.
    L2,
    /// Two subnets joined by a router.
    L3,
}

impl From<UnderlayArg> for Underlay {
    fn from(u: UnderlayArg) -> Underlay {
        match u {
            UnderlayArg::None => Underlay::None,
            UnderlayArg::L2 => Underlay::L2,
            UnderlayArg::L3 => Underlay::L3,
        }
    }
}

/// Options of the measurement.
#[derive(Debug, Args)]
pub struct MeasureArgs {
    /// Workloads to run, comma-separated [default: every one the generator runs].
    #[arg(long, value_enum, value_delimiter = ',')]
    pub workloads: Option<Vec<WorkloadArg>>,
    /// Measured window of each repetition, in seconds. The default keeps a run of all five
    /// workloads on both pod pairs, with its host-net baseline, under a minute; use longer
    /// windows when the summary warns of variation.
    #[arg(long, default_value_t = 0.6, value_name = "SECONDS")]
    pub duration: f64,
    /// Traffic before each window that is not counted, in seconds.
    #[arg(long, default_value_t = 0.2, value_name = "SECONDS")]
    pub warmup: f64,
    /// Repetitions of each workload (median, min, max and CV are over these).
    #[arg(long, default_value_t = 3)]
    pub repeat: u32,
    /// Pin client and server to one CPU (same-cpu) or to two (cross-cpu).
    #[arg(long, value_enum, default_value_t = PlacementArg::SameCpu)]
    pub placement: PlacementArg,
    /// Parallel connections of tcp-stream.
    #[arg(long, default_value_t = 1)]
    pub streams: u32,
    /// Bytes per write (tcp-stream), per datagram (udp-stream), or per request and response
    /// (the rr workloads). Default: 128 KiB for tcp-stream, 64 B for the rr workloads, and
    /// both 64 B and the largest unfragmented payload for udp-stream.
    #[arg(long, value_name = "BYTES")]
    pub message_size: Option<u32>,
    /// The traffic generator: cnbench's own, or iperf3 (tcp-stream, udp-stream) or sockperf
    /// (tcp-rr, udp-rr) run by the agents, to cross-check cnbench's figures.
    #[arg(long, value_enum, default_value_t = GeneratorArg::Cnbench)]
    pub generator: GeneratorArg,
    /// Skip the traced repetition of each case (syscalls, crossings and device
    /// transmissions per packet); the untraced repetitions still give CPU and kernel counters.
    #[arg(long)]
    pub no_trace: bool,
    /// A change inside the run's own namespaces before the measurement, repeatable:
    /// `sysctl:KEY=VALUE` (every namespace of the run), or on the measured client pods
    /// `nft-rules:N` (N never-matching rules each way), `rate:BITS` (a token bucket, e.g.
    /// `rate:900M`), `extra-hop` (traffic through an ifb each way). For `cnbench ab` sides
    /// and power studies.
    #[arg(long, value_name = "TWEAK")]
    pub tweak: Vec<harness::tweak::Tweak>,
}

/// A workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WorkloadArg {
    /// N connections writing 128 KiB buffers: throughput at the receiver.
    TcpStream,
    /// 64-byte and path-MTU-sized datagrams as fast as the client can: packets/s and loss.
    UdpStream,
    /// One 64-byte request and response at a time over TCP: round-trip percentiles.
    TcpRr,
    /// The same over UDP.
    UdpRr,
    /// Connect, request, response, close, one at a time.
    TcpCrr,
    /// Measure nothing (checks only).
    None,
}

impl WorkloadArg {
    /// The workload, or none for `none`.
    pub fn workload(self) -> Option<workloads::Workload> {
        use workloads::Workload;
        match self {
            WorkloadArg::TcpStream => Some(Workload::TcpStream),
            WorkloadArg::UdpStream => Some(Workload::UdpStream),
            WorkloadArg::TcpRr => Some(Workload::TcpRr),
            WorkloadArg::UdpRr => Some(Workload::UdpRr),
            WorkloadArg::TcpCrr => Some(Workload::TcpCrr),
            WorkloadArg::None => None,
        }
    }
}

/// The traffic generator.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GeneratorArg {
    /// cnbench's own agents.
    Cnbench,
    /// iperf3: tcp-stream and udp-stream.
    Iperf3,
    /// sockperf: tcp-rr and udp-rr.
    Sockperf,
}

impl From<GeneratorArg> for workloads::Generator {
    fn from(g: GeneratorArg) -> workloads::Generator {
        match g {
            GeneratorArg::Cnbench => workloads::Generator::Cnbench,
            GeneratorArg::Iperf3 => workloads::Generator::Iperf3,
            GeneratorArg::Sockperf => workloads::Generator::Sockperf,
        }
    }
}

/// CPU placement of the agents.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PlacementArg {
    /// Client and server on the same CPU.
    SameCpu,
    /// Client and server on different CPUs.
    CrossCpu,
}

/// `cnbench run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Backend.
    #[command(flatten)]
    pub backend: BackendArg,
    /// Topology.
    #[command(flatten)]
    pub topology: TopologyArgs,
    /// Measurement.
    #[command(flatten)]
    pub measure: MeasureArgs,
    /// Also write the result as JSON to this file (kept current as the run goes); `-`
    /// writes it to stdout at the end, and the progress to stderr.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Do not measure the host-net baseline (by default every backend but host-net is also
    /// given as a ratio to host-net, measured in the same session on the same underlay).
    #[arg(long)]
    pub no_baseline: bool,
}

/// `cnbench cni-check`.
#[derive(Debug, Args)]
pub struct CniCheckArgs {
    /// The CNI network configuration to check (a .conflist, or a single .conf).
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub cni_conf: PathBuf,
    /// Directories (colon-separated) the chain's plugin binaries are looked up in, in order
    /// [default: /opt/cni/bin:/usr/lib/cni].
    #[arg(long, value_name = "DIRS", value_hint = clap::ValueHint::AnyPath)]
    pub cni_path: Option<String>,
    /// Seconds one plugin invocation may take before it is killed by its pid [default: 30].
    #[arg(long, value_name = "SECONDS")]
    pub cni_timeout: Option<String>,
    /// Topology (one node; `--underlay l2` gives it the eth0 macvlan or ipvlan need).
    #[command(flatten)]
    pub topology: TopologyArgs,
    /// Also write the result as JSON to this file; `-` writes it to stdout at the end.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Also write the checks as JUnit XML to this file (one test case per check; checks that
    /// do not apply are skipped).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

/// `cnbench fault`.
#[derive(Debug, Args)]
pub struct FaultArgs {
    /// Backend.
    #[command(flatten)]
    pub backend: BackendArg,
    /// Topology.
    #[command(flatten)]
    pub topology: TopologyArgs,
    /// The faults, comma-separated, run one after the other on one topology.
    #[arg(
        long,
        short = 'f',
        value_delimiter = ',',
        required = true,
        value_name = "FAULT",
        value_parser = fault_values()
    )]
    pub fault: Vec<String>,
    /// The router router-down takes down: rt (the first) or rt2 (with --routers 2).
    #[arg(long, default_value = "rt", value_name = "ROLE")]
    pub router: String,
    /// The node the fault hits [default: the last node].
    #[arg(long, value_name = "INDEX")]
    pub node: Option<u32>,
    /// How long each fault lasts, in seconds.
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
    pub hold: f64,
    /// Share of the underlay's packets the loss fault drops (`10%` or `10`).
    #[arg(long, default_value = "10%", value_name = "PERCENT")]
    pub loss: String,
    /// Deliberately broken recovery: after a vtep-change or node-restart only the faulted
    /// node is reprogrammed, the peers keep what they knew (its old VTEP MAC). The check
    /// after the fault must catch it (vxlan).
    #[arg(long)]
    pub broken_recovery: bool,
    /// Probes sent per second to each peer, by every pod [default: 1000; 100 on
    /// --substrate vm, whose emulated nodes would drop probes at 1000 per pair for lack of
    /// CPU, not because of the fault].
    #[arg(long, value_name = "PPS")]
    pub rate: Option<u64>,
    /// Probing before each fault, in seconds.
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
    pub before: f64,
    /// Probing after every pair answered again, in seconds.
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
    pub after: f64,
    /// How long the pairs get to answer again after a fault's end, in seconds.
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
    pub recovery_limit: f64,
    /// Window of each TCP throughput measurement of the loss fault, in seconds.
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
    pub tcp_window: f64,
    /// Also write the result as JSON to this file (kept current as faults finish); `-`
    /// writes it to stdout at the end, and the progress to stderr.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// `cnbench churn`.
#[derive(Debug, Args)]
pub struct ChurnArgs {
    /// Backend.
    #[command(flatten)]
    pub backend: BackendArg,
    /// Topology (--pods-per-node is the standing pods per node, the observers: 1 unless
    /// given).
    #[command(flatten)]
    pub topology: TopologyArgs,
    /// Pods added and removed in each cycle, spread over the nodes.
    #[arg(long, default_value_t = 100, value_name = "P")]
    pub pods: u32,
    /// Adds (and removals) issued at once, comma-separated: each level runs its own cycles.
    #[arg(
        long,
        value_delimiter = ',',
        default_values_t = [1u32, 8],
        value_name = "C[,C...]"
    )]
    pub concurrency: Vec<u32>,
    /// Cycles of adding and removing the pods, per concurrency level.
    #[arg(long, default_value_t = 5, value_name = "K")]
    pub cycles: u32,
    /// Between two echoes to a pod being watched, in milliseconds.
    #[arg(long, default_value_t = 1.0, value_name = "MS")]
    pub probe_interval: f64,
    /// How long a pod gets to answer after its add was issued (and to go silent after its
    /// removal), in seconds.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    pub reach_limit: f64,
    /// Also write the result as JSON to this file (kept current as cycles finish); `-`
    /// writes it to stdout at the end, and the progress to stderr.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// `cnbench up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Backend.
    #[command(flatten)]
    pub backend: BackendArg,
    /// Topology.
    #[command(flatten)]
    pub topology: TopologyArgs,
}

/// `cnbench scale`.
#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// The backend (one with a control plane to scale: `cnbench list` says which).
    #[arg(long, short = 'b', value_parser = backend_values())]
    pub backend: String,
    /// Node counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "10,25,50")]
    pub nodes: Vec<u32>,
    /// The backend's own options; those its control plane sweeps (bgp: `--bgp-topology`,
    /// `--bgp-announce`) may take several values, comma-separated, and every combination is
    /// measured at every size [default: bgp's topologies mesh and rr, announcing blocks].
    #[command(flatten)]
    pub options: BackendSweepFlags,
    /// Underlay of the nodes.
    #[arg(long, value_enum, default_value_t = UnderlayArg::L2)]
    pub underlay: UnderlayArg,
    /// Which IP families the nodes' control plane carries (bgp: a session per family).
    #[arg(long, value_enum, default_value_t = IpFamilyArg::Ipv4)]
    pub ip_family: IpFamilyArg,
    /// Routers joining the l3 underlay's two segments: 1, or 2 (bgp: every node peers with
    /// both).
    #[arg(long, value_name = "1|2")]
    pub routers: Option<u32>,
    /// Give up on convergence after this many seconds.
    #[arg(long, default_value_t = 120.0, value_name = "SECONDS")]
    pub timeout: f64,
    /// Go up the sizes (given in ascending order) and stop each variant's curve at its first
    /// size that does not converge within --timeout, naming why (memory, keepalives, CPU,
    /// sessions); such a stop is the answer sought and does not fail the exit status.
    #[arg(long, alias = "stop-at-first-failure")]
    pub until_fails: bool,
    /// Also write the result as JSON to this file (kept current as sizes finish); `-`
    /// writes it to stdout at the end, and the table to stderr.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// `cnbench compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The reference result (`cnbench run --json`).
    #[arg(value_name = "BASELINE.json")]
    pub baseline: PathBuf,
    /// The result to judge against it.
    #[arg(value_name = "CANDIDATE.json")]
    pub candidate: PathBuf,
    /// How a change is decided.
    #[command(flatten)]
    pub decision: DecisionArgs,
    /// Run-to-run noise assumed on this machine (`7%` by default, or what a calibration
    /// measured): changes within a few times it are not decided. Lower it on a machine
    /// whose runs repeat closely.
    #[arg(long, value_name = "PERCENT", conflicts_with = "calibration")]
    pub noise_floor: Option<String>,
    /// Compare results of different backends (or of one backend with different backend
    /// options, e.g. another --datapath): measurements are matched by workload, variant and
    /// path, and conformance by whether each run passed all its checks, not check by check.
    #[arg(long)]
    pub across_backends: bool,
    /// Where the verdicts go besides the table.
    #[command(flatten)]
    pub output: VerdictOutputArgs,
}

/// How `compare` and `ab` decide a change.
#[derive(Debug, Args)]
pub struct DecisionArgs {
    /// Smallest change that counts, for the headline metrics (`5%` or `0.05`); tail
    /// latencies take a multiple of it.
    #[arg(long, value_name = "PERCENT")]
    pub threshold: Option<String>,
    /// A metric's own threshold, `METRIC=PERCENT` (`rtt_p99_ns=10%`); repeatable or
    /// comma-separated.
    #[arg(long = "metric-threshold", value_name = "METRIC=PERCENT")]
    pub metric_threshold: Vec<String>,
    /// How far an exact per-packet count (device transmissions, crossings on a
    /// request/response workload) may move before it decides, in counts per packet.
    #[arg(long, value_name = "PER_PACKET", default_value_t = reports::compare::DEFAULT_COUNT_TOLERANCE)]
    pub count_tolerance: f64,
    /// The measured noise floor to use (`cnbench calibrate` writes it) [default:
    /// /var/lib/cnbench/calibration/BACKEND.json when it exists].
    #[arg(long, value_name = "FILE")]
    pub calibration: Option<PathBuf>,
    /// Use the fixed noise floor even when a calibration exists.
    #[arg(long, conflicts_with = "calibration")]
    pub no_calibration: bool,
}

/// The files a verdict is also written to.
#[derive(Debug, Args)]
pub struct VerdictOutputArgs {
    /// Also write the verdicts as Markdown (a pull-request comment) to this file.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Also write the verdicts as JUnit XML to this file.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Also write the verdicts as JSON to this file; `-` writes it to stdout, and the
    /// table to stderr.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// `cnbench ab`.
#[derive(Debug, Args)]
pub struct AbArgs {
    /// `cnbench run` arguments of side A only, as one shell-quoted string
    /// (`--a '--datapath faithful'`).
    #[arg(
        long = "a",
        value_name = "ARGS",
        allow_hyphen_values = true,
        default_value = ""
    )]
    pub a: String,
    /// `cnbench run` arguments of side B only (`--b '--datapath batched'`).
    #[arg(
        long = "b",
        value_name = "ARGS",
        allow_hyphen_values = true,
        default_value = ""
    )]
    pub b: String,
    /// The cnbench executable of side A [default: this one].
    #[arg(long, value_name = "PATH")]
    pub a_exe: Option<PathBuf>,
    /// The cnbench executable of side B [default: this one].
    #[arg(long, value_name = "PATH")]
    pub b_exe: Option<PathBuf>,
    /// Run the same configuration on both sides on purpose (an A/A trial).
    #[arg(long)]
    pub aa: bool,
    /// Stop adding pairs after this long (`120s`, `3m`), and call what is undecided
    /// inconclusive.
    #[arg(long, default_value = "180s", value_name = "DURATION")]
    pub budget: String,
    /// Stop after this many pairs at most.
    #[arg(long, value_name = "N")]
    pub max_pairs: Option<u32>,
    /// Seed of the A/B order of the pairs [default: from the clock; printed, and in the JSON].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Keep every run's result file in this directory.
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
    /// How a change is decided.
    #[command(flatten)]
    pub decision: DecisionArgs,
    /// Where the verdicts go besides the table.
    #[command(flatten)]
    pub output: VerdictOutputArgs,
    /// The `cnbench run` arguments both sides share, after `--`
    /// (`-- --backend vxlan --workloads tcp-rr`).
    #[arg(last = true, required = true, value_name = "RUN_ARGS")]
    pub run: Vec<String>,
}

/// `cnbench calibrate`.
#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// Interleaved A/A pairs to measure (two runs each).
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub pairs: u32,
    /// Where to write the calibration [default: /var/lib/cnbench/calibration/BACKEND.json].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Seed of the order of the pairs.
    #[arg(long)]
    pub seed: Option<u64>,
    /// The `cnbench run` arguments of every run, after `--` (`-- --backend vxlan`).
    #[arg(last = true, required = true, value_name = "RUN_ARGS")]
    pub run: Vec<String>,
}
