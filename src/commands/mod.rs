//! One file per command; each returns the process exit code. What several commands share —
//! turning the command line into a backend and a plan, measurement options, the result and
//! its ending — is here.

pub mod ab;
pub mod agent;
pub mod calibrate;
pub mod check;
pub mod churn;
pub mod churn_probe;
pub mod clean;
pub mod cni_check;
pub mod compare;
pub mod completions;
pub mod daemon;
pub mod down;
pub mod fault;
pub mod list;
pub mod man;
pub mod measure;
pub mod report;
pub mod run;
pub mod scale;
pub mod setup;
pub mod status;
pub mod task;
pub mod up;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};
use harness::backend::BackendOptions;
use harness::measure::{CpuPlacement, MeasureOptions};
use harness::run::Topology;
use harness::state::RunState;
use harness::topology::{new_run_id, Plan, Substrate};
use harness::{detect, Backend, HarnessError};
use reports::{Environment, Outcome, RunResult};
use workloads::{Generator, Workload};

use crate::cli::{MeasureArgs, PlacementArg, TopologyArgs};
use crate::output::{JsonSink, Printer};
use crate::registry;
use crate::ExitCode;

/// The cnbench binary, to run agents and daemons inside hosts.
pub fn exe() -> Result<PathBuf> {
    std::env::current_exe().context("cannot find the cnbench binary to run agents and daemons")
}

/// The machine and build a result was measured with.
pub fn environment() -> Environment {
    Environment::capture(env!("CARGO_PKG_VERSION"), option_env!("CNBENCH_GIT_REV"))
}

/// The plan of the topology the command line asks for, and the backend `name` made with
/// `options` and validated for it. Everything is checked here, before anything exists: the
/// topology, the substrate (VM assets), the backend's options, its programs.
pub fn plan_for(
    name: &str,
    options: &BackendOptions,
    topology: &TopologyArgs,
) -> Result<(Box<dyn Backend>, Plan)> {
    plan_for_request(name, options, &topology.request())
}

/// [`plan_for`] from a topology request a command adjusted (`churn`'s one standing pod per
/// node).
pub fn plan_for_request(
    name: &str,
    options: &BackendOptions,
    request: &harness::topology::TopologyRequest,
) -> Result<(Box<dyn Backend>, Plan)> {
    let info = registry::info(name).map_err(|e| anyhow!(e))?;
    let plan = info
        .plan(request, new_run_id())
        .map_err(HarnessError::from)?;
    // These commands probe every pod pair; `scale` plans without this and probes none.
    harness::topology::limits::check_probed_pods(&plan).map_err(HarnessError::from)?;
    if plan.spec.substrate == Substrate::Vm {
        // A backend that detects features of the nodes' kernel (ipip) must see the VM kernel:
        // without the VM assets, the fix is `cnbench setup vm`, whatever the backend.
        harness::vm::Assets::locate()?;
    }
    let backend = registry::make(name, options, &plan).map_err(|e| anyhow!(e))?;
    backend
        .info()
        .require_programs(detect::find_binary)
        .map_err(HarnessError::from)?;
    Ok((backend, plan))
}

/// The measurement the command line asks for, every value checked.
pub fn measure_options(m: &MeasureArgs) -> Result<MeasureOptions> {
    let generator = Generator::from(m.generator);
    let mut workloads: Vec<Workload> = Vec::new();
    match &m.workloads {
        // The default: every workload the generator runs.
        None => workloads.extend_from_slice(generator.workloads()),
        Some(list) if list.iter().any(|w| w.workload().is_none()) && list.len() > 1 => {
            bail!("--workloads: `none` means no workload; leave it out or use it alone")
        }
        Some(list) => {
            for w in list.iter().filter_map(|w| w.workload()) {
                if !generator.supports(w) {
                    bail!(
                        "--workloads {}: --generator {generator} cannot run it; it runs {} \
                         (or use --generator cnbench)",
                        w.name(),
                        generator
                            .workloads()
                            .iter()
                            .map(|w| w.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
                if !workloads.contains(&w) {
                    workloads.push(w);
                }
            }
        }
    }
    if !workloads.is_empty() {
        workloads::tool_version(generator).map_err(|e| anyhow!("--generator {generator}: {e}"))?;
    }
    let secs = |name: &str, v: f64, min: f64| seconds(name, v, min, 3600.0);
    if m.streams == 0 || m.streams > 128 {
        bail!("--streams {}: use 1 to 128 connections", m.streams);
    }
    if let Some(size) = m.message_size {
        let max = workloads
            .iter()
            .map(|w| w.max_message_size())
            .min()
            .unwrap_or(workloads::MAX_MESSAGE_SIZE);
        let min = workloads
            .iter()
            .map(|w| w.min_message_size())
            .max()
            .unwrap_or(1);
        if size < min || size > max {
            let why = if min > 1 || max < workloads::MAX_MESSAGE_SIZE {
                " (a UDP datagram carries a 16-byte sequence number and cookie, and at most \
                 65507 bytes)"
            } else {
                ""
            };
            bail!("--message-size {size}: use {min} to {max} bytes{why}");
        }
    }
    if m.repeat == 0 || m.repeat > 1000 {
        bail!(
            "--repeat {}: use 1 to 1000 repetitions (--workloads none measures nothing)",
            m.repeat
        );
    }
    for tweak in &m.tweak {
        for program in tweak.programs() {
            if harness::detect::find_binary(program).is_none() {
                bail!(
                    "--tweak {tweak}: needs `{program}`, which is not on PATH; install it \
                     (Debian: {}) or drop the tweak",
                    if *program == "nft" {
                        "nftables"
                    } else {
                        "iproute2"
                    }
                );
            }
        }
    }
    Ok(MeasureOptions {
        workloads,
        duration: secs("duration", m.duration, 0.05)?,
        warmup: secs("warmup", m.warmup, 0.0)?,
        repeat: m.repeat,
        placement: match m.placement {
            PlacementArg::SameCpu => CpuPlacement::SameCpu,
            PlacementArg::CrossCpu => CpuPlacement::CrossCpu,
        },
        streams: m.streams,
        message_size: m.message_size,
        generator,
        trace: !m.no_trace,
        agent_exe: exe()?,
        tweaks: m.tweak.clone(),
    })
}

/// Measurement options that measure nothing (`check`, and `fault` without loss).
pub fn no_measurement() -> Result<MeasureOptions> {
    Ok(MeasureOptions {
        workloads: vec![],
        duration: Duration::ZERO,
        warmup: Duration::ZERO,
        repeat: 0,
        placement: CpuPlacement::SameCpu,
        streams: 1,
        message_size: None,
        generator: Generator::Cnbench,
        trace: false,
        agent_exe: exe()?,
        tweaks: Vec::new(),
    })
}

/// Opens `--json` before any work is done.
pub fn open_json(path: &Option<PathBuf>) -> Result<Option<JsonSink>> {
    JsonSink::open(path).map_err(Into::into)
}

/// The result of a run about to start (`run`, `fault`), its start time now.
pub fn new_result(backend: &dyn Backend, plan: &Plan, opts: &MeasureOptions) -> RunResult {
    let params = harness::run::parameters(backend, plan, opts);
    let mut result = RunResult::new(plan.run_id(), environment(), params);
    result.started_unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    result
}

/// The result of work on a standing topology (`check`, `measure`): its parameters and what
/// stands.
pub fn standing_result(backend: &dyn Backend, topo: &Topology, opts: &MeasureOptions) -> RunResult {
    let mut result = RunResult::new(
        topo.run_id(),
        environment(),
        harness::run::parameters(backend, topo.plan(), opts),
    );
    result.topology = topo.records();
    result
}

/// The exit code a result ends with.
pub fn exit_for(result: &RunResult) -> ExitCode {
    match result.outcome {
        Outcome::Passed => ExitCode::Ok,
        Outcome::ChecksFailed => ExitCode::ChecksFailed,
        Outcome::Interrupted => ExitCode::Interrupted,
        _ if !result.checks_passed() => ExitCode::ChecksFailed,
        _ => ExitCode::Error,
    }
}

/// The end of a run this process owned (`run`, `fault`): the summary, the result (its file
/// named, or printed on stdout), and the exit code; an error is kept in the result too.
pub fn finish(
    outcome: Result<(), HarnessError>,
    result: &mut RunResult,
    printer: &mut Printer,
) -> Result<ExitCode> {
    if !result.topology.is_empty() {
        say!();
        say_raw!("{}", render::text::summary(result));
    }
    let code = match outcome {
        Ok(()) => Ok(exit_for(result)),
        Err(HarnessError::Interrupted) => {
            eprintln!("cnbench: interrupted; everything the run made was torn down");
            Ok(ExitCode::Interrupted)
        }
        Err(e) => {
            // Keep the result honest about how the run ended.
            if matches!(result.outcome, Outcome::Incomplete) {
                result.outcome = Outcome::Error {
                    message: e.to_string(),
                };
            }
            harness::run::Observer::result(printer, result);
            Err(e.into())
        }
    };
    if let Some(e) = printer.write_error.take() {
        eprintln!("cnbench: {e}");
    }
    if let Some(sink) = &mut printer.writer {
        sink.finish();
    }
    code
}

/// Refuses anything that is not a run id (it names a directory under /run/cnbench).
pub fn valid_run_id(run_id: &str) -> Result<()> {
    let ok = !run_id.is_empty()
        && run_id.len() <= 6
        && run_id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !ok {
        bail!("{run_id:?} is not a run id (1 to 6 lowercase letters or digits): `cnbench status` lists them");
    }
    Ok(())
}

/// A standing topology and its backend, made again from the run's state.
pub fn attach(run_id: &str) -> Result<(Box<dyn Backend>, Topology)> {
    valid_run_id(run_id)?;
    detect::require_root()?;
    // A signal must not cut a check short between stopping a daemon and recording its
    // replacement, nor a teardown half-way: hold SIGINT/SIGTERM as a flag.
    harness::signals::install().context("installing signal handlers")?;
    let st = RunState::load(run_id)?;
    let info = registry::info(&st.backend).map_err(|e| anyhow!(e))?;
    let plan = Plan::new(st.spec.clone(), info.pod_network).map_err(HarnessError::from)?;
    let options = BackendOptions::from_map(st.backend_options.clone());
    let backend = registry::make(&st.backend, &options, &plan).map_err(|e| anyhow!(e))?;
    let topo = Topology::attach(st, plan, exe()?).with_context(|| {
        format!("run {run_id} is damaged; `cnbench down {run_id}` removes what is left")
    })?;
    Ok((backend, topo))
}

/// Refuses an output file that cannot be written: a directory, or in a directory that does
/// not exist. (`-`, stdout, is always fine.)
pub fn writable_file(option: &str, path: &Path) -> Result<()> {
    if path == Path::new("-") {
        return Ok(());
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if path.is_dir() {
        bail!(
            "{option} {}: is a directory; give a file name",
            path.display()
        );
    }
    if !dir.is_dir() {
        bail!(
            "{option} {}: {} is not a directory; create it or pick a file in an existing one",
            path.display(),
            dir.display()
        );
    }
    Ok(())
}

/// `--OPTION SECONDS` as a duration, refused outside `min..=max` (and when not a number).
pub fn seconds(option: &str, v: f64, min: f64, max: f64) -> Result<Duration> {
    if !(v.is_finite() && v >= min && v <= max) {
        bail!("--{option} {v}: use {min} to {max} seconds");
    }
    Ok(Duration::from_secs_f64(v))
}
