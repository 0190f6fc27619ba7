//! The command line: the commands ([`Command`]) and what each takes ([`args`]), with values
//! the registry knows offered as possible values ([`flags`]).

pub mod args;
pub mod flags;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

pub use args::*;

/// `cnbench --version`: the package version and the git revision it was built from
/// (`0.1.0 (4f73614545ab)`; the version alone when built outside a git checkout).
pub const VERSION: &str = match option_env!("CNBENCH_VERSION_LINE") {
    Some(line) => line,
    None => env!("CARGO_PKG_VERSION"),
};

/// Stand up container-network datapaths in network namespaces, prove them correct, and
/// measure what they cost.
#[derive(Debug, Parser)]
#[command(name = "cnbench", version = VERSION, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every backend, what it needs, and whether this machine can run it.
    List {
        /// Print it as JSON on stdout instead.
        #[arg(long)]
        json: bool,
    },
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
        /// Also write the result as JSON to this file; `-` writes it to stdout, and the
        /// checks to stderr.
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
        /// Also write the result as JSON to this file; `-` writes it to stdout at the end,
        /// and the progress to stderr.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
    },
    /// Inject faults while a paced probe stream runs across every pod pair: measure the
    /// probes lost during and after each fault and the time until every pair answers again,
    /// then run every conformance check again (stale neighbour, FDB or route entries fail it).
    /// Exit 0 when every fault was recovered from and every check passed, 1 otherwise.
    Fault(FaultArgs),
    /// Control-plane scale: stand up N nodes for each size and each combination of the
    /// values of the options the backend's control plane sweeps, measure convergence,
    /// sessions, routes, daemon memory per node and CPU, tear down between sizes; with
    /// --until-fails, stop each curve at its first size that does not converge and say why.
    Scale(ScaleArgs),
    /// Pod churn: on a fresh topology with one standing pod per node, add P pods C at a time,
    /// watch each until it answers from another node and its own (ICMP every 1 ms), remove
    /// them, K cycles per concurrency level; then check that nothing the churn added is left
    /// (links, addresses, routes, neighbour and FDB entries, rules, the backend's own state,
    /// daemons' fds and memory). Exit 0 when every check passed, 1 otherwise.
    Churn(ChurnArgs),
    /// Hold a CNI plugin chain to the specification: stand it up on one node as `run
    /// --backend cni` does, run every check and the conformance checks (VERSION, the ADD
    /// result, CHECK after a break, DEL removing what ADD made, DEL twice and without the
    /// namespace, bad configurations, GC and STATUS where the plugins speak 1.1.0), measure
    /// nothing, tear it down. Exit 0 when every check passed, 1 otherwise, 2 bad input.
    CniCheck(CniCheckArgs),
    /// Compare a candidate result with a baseline result: a verdict per metric (pass,
    /// regression, improvement, inconclusive) from the repetitions, and every check that
    /// passed before and fails now. Exit 0 no regression, 1 a regression, 3 inconclusive,
    /// 2 bad input.
    Compare(CompareArgs),
    /// Measure two configurations interleaved (A and B in a random order in each pair, on the
    /// same CPUs) and add pairs until every gated metric is decided or the budget is spent:
    /// verdicts from the paired changes. Exit codes and output forms as compare.
    Ab(AbArgs),
    /// Measure this machine's run-to-run noise with interleaved A/A runs of one backend and
    /// keep it, per metric, for compare and ab (instead of the fixed 7 %).
    Calibrate(CalibrateArgs),
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
    Status {
        /// Print them as JSON on stdout instead.
        #[arg(long)]
        json: bool,
    },
    /// Remove whatever crashed runs left behind: namespaces, processes, state directories.
    Clean {
        /// Also remove topologies left standing on purpose by `cnbench up`.
        #[arg(long)]
        all: bool,
    },
    /// Install what a substrate needs: `cnbench setup vm` installs QEMU and busybox and
    /// unpacks a Debian cloud kernel for VM nodes (apt; as root).
    Setup {
        /// The substrate to set up.
        #[arg(value_enum)]
        substrate: SetupTarget,
    },
    /// Print a shell completion script: `source <(cnbench completions bash)`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (`cnbench man | man -l -`), or with `--out DIR` write one page for
    /// cnbench and one per command into DIR.
    Man {
        /// The directory to write `cnbench.1` and `cnbench-<command>.1` into.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Serve a node to a harness: run inside each VM node and on each host of the SSH
    /// substrate, it applies the harness's netlink requests and runs its processes and
    /// probes there.
    Agent {
        /// Where to wait for the harness: a device (`/dev/vport0p1`), `unix:<path>`,
        /// `tcp:<ip>:<port>` (loopback only: the agent does not authenticate its harness) or
        /// `stdio`.
        #[arg(long, required_unless_present = "preflight")]
        listen: Option<harness::remote::server::Listen>,
        /// Print what this machine offers a node as one JSON line and exit, changing
        /// nothing: versions, the user it runs as, the link kinds its kernel creates, and
        /// the interface IFACE (what a harness checks over SSH before it builds anything).
        #[arg(long, value_name = "IFACE", num_args = 0..=1, default_missing_value = "", conflicts_with = "listen")]
        preflight: Option<String>,
        /// Remove this binary's file once started (a copy made for one run, `--copy-exe`):
        /// the processes it starts run the same program through /proc, and nothing of the
        /// run is left on the host even if the session is cut.
        #[arg(long, hide = true)]
        remove_exe: bool,
        /// End a session whose harness sent nothing (not even its keepalive, every 10 s)
        /// for this many seconds, cleaning up as for a dropped connection: a network cut
        /// leaves a TCP stream open on this side for hours. 0: never.
        #[arg(long, value_name = "SECONDS", default_value_t = 60)]
        idle_timeout: u64,
    },
    /// Internal: run one workload task (the harness starts these inside pod namespaces).
    #[command(hide = true)]
    Task {
        /// The task as JSON.
        task: String,
    },
    /// Internal: a churn observer's prober on its node's machine (the harness starts it
    /// on a node agent, in the node's namespace): watches read as JSON lines on stdin, what
    /// happened written as JSON lines on stdout.
    #[command(hide = true, name = "churn-probe")]
    ChurnProbe {
        /// The observer pod's namespace (under /run/netns).
        #[arg(long)]
        pod: String,
        /// The node's namespace name (this process runs in it).
        #[arg(long)]
        node: String,
        /// Between two echoes to a watched pod, in microseconds.
        #[arg(long, default_value_t = 1000)]
        interval_us: u64,
        /// Probe IPv6 targets too.
        #[arg(long)]
        v6: bool,
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

/// What `cnbench setup` sets up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SetupTarget {
    /// QEMU, busybox and a Debian cloud kernel, for `--substrate vm`.
    Vm,
}
