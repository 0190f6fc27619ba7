//! The command line: what each command takes, with full-sentence help.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use harness::topology::{TopologyRequest, Underlay};
use ipnet::Ipv4Net;

/// Stand up container-network datapaths in network namespaces, prove them correct, and
/// measure what they cost.
#[derive(Debug, Parser)]
#[command(name = "cnbench", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every backend, what it needs, and whether this machine can run it.
    List,
    /// Stand up a backend, check it, measure it, tear it down, print a summary.
    Run(RunArgs),
    /// Stand up a backend and leave it standing (explore it with `ip netns exec`).
    Up(UpArgs),
    /// Tear down a topology left standing by `cnbench up`.
    Down {
        /// The run id `cnbench up` printed.
        run_id: String,
    },
    /// Run the conformance checks again on a standing topology.
    Check {
        /// The run id `cnbench up` printed.
        run_id: String,
        /// Also write the result as JSON to this file.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
    },
    /// Run the workloads on a standing topology.
    Measure {
        /// The run id `cnbench up` printed.
        run_id: String,
        /// Measurement options.
        #[command(flatten)]
        measure: MeasureArgs,
        /// Also write the result as JSON to this file.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
    },
    /// Inject faults while a paced probe stream runs across every pod pair: measure the
    /// probes lost during and after each fault and the time until every pair answers again,
    /// then run every conformance check again (stale neighbour, FDB or route entries fail it).
    /// Exit 0 when every fault was recovered from and every check passed, 1 otherwise.
    Fault(FaultArgs),
    /// Control-plane scale: stand up N nodes for each size and topology, measure convergence,
    /// sessions, routes and daemon memory and CPU, tear down between sizes.
    Scale(ScaleArgs),
    /// Compare a candidate result with a baseline result: a verdict per metric (pass,
    /// regression, improvement, inconclusive) from the repetitions, and every check that
    /// passed before and fails now. Exit 0 no regression, 1 a regression, 3 inconclusive,
    /// 2 bad input.
    Compare(CompareArgs),
    /// Write a report of result files: a self-contained DIR/index.html with plots, each plot
    /// as SVG and PNG, and DIR/summary.md.
    Report {
        /// Result files of `cnbench run --json` or `cnbench scale --json`.
        #[arg(required = true, value_name = "RESULT.json")]
        results: Vec<PathBuf>,
        /// The directory to write into (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// List the runs that exist on this machine (standing, in progress, or crashed).
    Status,
    /// Remove whatever crashed runs left behind: namespaces, processes, state directories.
    Clean {
        /// Also remove topologies left standing on purpose by `cnbench up`.
        #[arg(long)]
        all: bool,
    },
    /// Serve a node to a harness: run inside each VM node (or, one day, a remote host), it
    /// applies the harness's netlink requests and runs its processes and probes there.
    Agent {
        /// Where to wait for the harness: a device (`/dev/vport0p1`), `unix:<path>`,
        /// `tcp:<ip>:<port>` (loopback only: the agent does not authenticate its harness) or
        /// `stdio`.
        #[arg(long)]
        listen: harness::remote::server::Listen,
    },
    /// Install what a substrate needs: `cnbench setup vm` installs QEMU and busybox and
    /// unpacks a Debian cloud kernel for VM nodes (apt; as root).
    Setup {
        /// The substrate to set up.
        #[arg(value_parser = ["vm"])]
        substrate: String,
    },
    /// Internal: run one workload task (the harness starts these inside pod namespaces).
    #[command(hide = true)]
    Task {
        /// The task as JSON.
        task: String,
    },
    /// Internal: run a backend's datapath daemon (the harness starts it inside a node).
    #[command(hide = true)]
    Daemon {
        /// The backend whose daemon this is.
        backend: String,
        /// The daemon's configuration as JSON.
        config: String,
    },
}

/// Which backend.
#[derive(Debug, Args)]
pub struct BackendArg {
    /// The backend to stand up (`cnbench list` shows them all).
    #[arg(long, short = 'b')]
    pub backend: String,
    /// A backend's choice of datapath: flannel-udp `faithful` (one read and one send per
    /// packet, as flannel) or `batched`; ipip `kernel` or `userspace`.
    #[arg(long)]
    pub datapath: Option<String>,
    /// bgp: every node peers with every other (`mesh`, N(N-1)/2 sessions) or with route
    /// reflectors (`rr`, about N sessions).
    #[arg(long, value_name = "mesh|rr")]
    pub bgp_topology: Option<String>,
}

impl BackendArg {
    /// As the harness takes them.
    pub fn options(&self, topology: &TopologyArgs) -> harness::backend::BackendOptions {
        harness::backend::BackendOptions {
            datapath: self.datapath.clone(),
            bgp_topology: self.bgp_topology.clone(),
            substrate: topology.substrate,
        }
    }
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
    /// Where nodes live: network namespaces here (netns), or one QEMU VM per node with its
    /// own kernel (vm; emulated, so figures compare behaviour, not speed; needs
    /// `cnbench setup vm`).
    #[arg(long, default_value = "netns")]
    pub substrate: harness::Substrate,
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
            substrate: self.substrate,
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
    /// Workloads to run, comma-separated: tcp-stream, udp-stream, tcp-rr, udp-rr, tcp-crr
    /// [default: all the generator runs]; `none` measures nothing.
    #[arg(long, value_delimiter = ',')]
    pub workloads: Option<Vec<String>>,
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
    /// Also write the result as JSON to this file (kept current as the run goes).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Do not measure the host-net baseline (by default every backend but host-net is also
    /// given as a ratio to host-net, measured in the same session on the same underlay).
    #[arg(long)]
    pub no_baseline: bool,
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
    /// The faults, comma-separated, run one after the other on one topology: link-flap (the
    /// node's underlay link down, then up), loss (random loss on the underlay, nftables),
    /// node-restart (the node and its pods torn down, then set up again), daemon-restart
    /// (flannel-udp, userspace ipip), bird-restart (bgp), vtep-change (vxlan: flannel.1
    /// recreated with a new MAC); `all`: every fault that applies to the backend.
    #[arg(
        long,
        short = 'f',
        value_delimiter = ',',
        required = true,
        value_name = "FAULT"
    )]
    pub fault: Vec<String>,
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
    /// Also write the result as JSON to this file (kept current as faults finish).
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
    /// The backend (only bgp has a control plane to scale).
    #[arg(long, short = 'b')]
    pub backend: String,
    /// Node counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "10,25,50")]
    pub nodes: Vec<u32>,
    /// BGP topologies to try at each size, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "mesh,rr")]
    pub bgp_topology: Vec<String>,
    /// Underlay of the nodes.
    #[arg(long, value_enum, default_value_t = UnderlayArg::L2)]
    pub underlay: UnderlayArg,
    /// Give up on convergence after this many seconds.
    #[arg(long, default_value_t = 120.0, value_name = "SECONDS")]
    pub timeout: f64,
    /// Also write the result as JSON to this file (kept current as sizes finish).
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
    /// Smallest change that counts, for the headline metrics (`5%` or `0.05`); tail
    /// latencies take a multiple of it.
    #[arg(long, value_name = "PERCENT")]
    pub threshold: Option<String>,
    /// A metric's own threshold, `METRIC=PERCENT` (`rtt_p99_ns=10%`); repeatable or
    /// comma-separated.
    #[arg(long = "metric-threshold", value_name = "METRIC=PERCENT")]
    pub metric_threshold: Vec<String>,
    /// Run-to-run noise assumed on this machine (`7%` by default): changes within a few
    /// times it are not decided. Lower it on a machine whose runs repeat closely.
    #[arg(long, value_name = "PERCENT")]
    pub noise_floor: Option<String>,
    /// Also write the comparison as Markdown (a pull-request comment) to this file.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Also write the comparison as JUnit XML to this file.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Also write the comparison as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}
