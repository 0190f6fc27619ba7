//! One function per command. Each returns the process exit code.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use harness::backend::BackendOptions;
use harness::capability;
use harness::measure::{CpuPlacement, MeasureOptions};
use harness::run::{self, Launch, Observer, Topology};
use harness::state::{self, Mode, RunState};
use harness::topology::{new_run_id, Plan};
use harness::{Backend, HarnessError};
use reports::{Environment, Outcome, ResultWriter, RunResult};
use workloads::{Generator, Workload};

use crate::cli::{FaultArgs, MeasureArgs, PlacementArg, RunArgs, ScaleArgs, TopologyArgs, UpArgs};
use crate::output::Printer;
use crate::registry;
use crate::ExitCode;

/// `cnbench list`.
pub fn list() -> Result<ExitCode> {
    let entries = registry::all();
    // Kernel features a backend uses when present and replaces when not: (backend, kind,
    // what runs with it, what runs without it).
    const OPTIONAL: &[(&str, &str, &str, &str)] = &[(
        "ipip",
        "ipip",
        "kernel datapath (ipip module)",
        "userspace datapath (TUN + raw socket): this kernel has no ipip module",
    )];
    let kinds: Vec<&str> = {
        let mut k: Vec<&str> = entries
            .iter()
            .flat_map(|e| e.info.link_kinds.iter().copied())
            .chain(OPTIONAL.iter().map(|o| o.1))
            .collect();
        k.sort();
        k.dedup();
        k
    };
    let probed = capability::probe_link_kinds(&kinds);
    if let Err(e) = &probed {
        eprintln!("cnbench: cannot probe kernel features ({e}); support shown as unknown");
    }
    say!(
        "{:<12} {:<14} {:<9} {:<22} summary",
        "backend",
        "status",
        "underlay",
        "needs"
    );
    for e in &entries {
        let info = e.info;
        let mut missing = Vec::new();
        match &probed {
            Ok(p) => {
                for k in info.link_kinds {
                    if let Some(Err(why)) = p.iter().find(|s| s.kind == *k).map(|s| &s.result) {
                        missing.push(why.clone());
                    }
                }
            }
            Err(_) => missing.push("unknown: run as root to probe".into()),
        }
        for b in info.binaries {
            if capability::find_binary(b).is_none() {
                missing.push(format!("{b} not found (apt-get install bird2)"));
            }
        }
        let status = match (info.built, missing.is_empty()) {
            (false, _) => "not built yet",
            (true, true) => "ready",
            (true, false) => "unavailable",
        };
        let underlays: Vec<&str> = info.underlays.iter().map(|u| u.as_str()).collect();
        let mut needs: Vec<String> = info.link_kinds.iter().map(|s| s.to_string()).collect();
        needs.extend(info.binaries.iter().map(|s| s.to_string()));
        say!(
            "{:<12} {:<14} {:<9} {:<22} {}",
            info.name,
            status,
            underlays.join(","),
            needs.join(","),
            info.summary
        );
        if let Ok(p) = &probed {
            for (_, kind, with, without) in OPTIONAL.iter().filter(|o| o.0 == info.name) {
                let here = p.iter().find(|s| s.kind == *kind).map(|s| s.result.is_ok());
                let text = if here == Some(true) { with } else { without };
                say!("{:<12} {:<14} {text}", "", "  ↳ this machine:");
            }
        }
        for m in missing {
            say!("{:<12} {:<14} {m}", "", "  ↳ this machine:");
        }
    }
    say!("");
    let vm_missing = harness::vm::assets::missing();
    match harness::vm::Assets::locate() {
        Ok(a) => say!(
            "substrates: netns ready; vm ready (QEMU TCG emulation, kernel {}; --substrate vm)",
            a.kernel_release
        ),
        Err(_) => {
            say!(
                "substrates: netns ready; vm unavailable (--substrate vm needs `cnbench setup vm`)"
            );
            for m in vm_missing {
                say!("{:<12} {:<14} {m}", "", "  ↳ vm:");
            }
        }
    }
    Ok(ExitCode::Ok)
}

fn backend(name: &str, options: &BackendOptions) -> Result<Box<dyn Backend>> {
    registry::make(name, options).map_err(|e| anyhow!(e))
}

fn exe() -> Result<std::path::PathBuf> {
    std::env::current_exe().context("cannot find the cnbench binary to run agents and daemons")
}

fn plan_for(backend: &dyn Backend, topo: &TopologyArgs) -> Result<Plan> {
    let spec = topo.request().resolve(&backend.defaults(), new_run_id());
    let plan = Plan::new(spec, backend.pod_network()).map_err(HarnessError::from)?;
    backend.validate(&plan).map_err(HarnessError::from)?;
    Ok(plan)
}

fn measure_options(m: &MeasureArgs) -> Result<MeasureOptions> {
    let generator = Generator::from(m.generator);
    let mut workloads = Vec::new();
    match &m.workloads {
        // The default: every workload the generator runs.
        None => workloads.extend_from_slice(generator.workloads()),
        Some(list) if list.iter().any(|w| w == "none") && list.len() > 1 => bail!(
            "--workloads {}: `none` means no workload; leave it out or use it alone",
            list.join(",")
        ),
        Some(list) => {
            for w in list.iter().filter(|w| *w != "none") {
                let parsed: Workload = w.parse().map_err(|e| anyhow!("--workloads {w}: {e}"))?;
                if !generator.supports(parsed) {
                    bail!(
                        "--workloads {w}: --generator {generator} cannot run it; it runs {} \
                         (or use --generator cnbench)",
                        generator
                            .workloads()
                            .iter()
                            .map(|w| w.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
                if !workloads.contains(&parsed) {
                    workloads.push(parsed);
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
        agent_exe: std::env::current_exe()
            .context("cannot find the cnbench binary to run agents")?,
    })
}

fn environment() -> Environment {
    Environment::capture(env!("CARGO_PKG_VERSION"), option_env!("CNBENCH_GIT_REV"))
}

fn open_json(path: &Option<std::path::PathBuf>) -> Result<Option<ResultWriter>> {
    path.as_deref()
        .map(ResultWriter::create)
        .transpose()
        .map_err(Into::into)
}

/// The result of a run about to start (`run`, `fault`), its start time now.
fn new_result(backend: &dyn Backend, plan: &Plan, opts: &MeasureOptions) -> RunResult {
    let params = run::parameters(backend, plan, opts);
    let mut result = RunResult::new(plan.run_id(), environment(), params);
    result.started_unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    result
}

fn exit_for(result: &RunResult) -> ExitCode {
    match result.outcome {
        Outcome::Passed => ExitCode::Ok,
        Outcome::ChecksFailed => ExitCode::ChecksFailed,
        Outcome::Interrupted => ExitCode::Interrupted,
        _ if !result.checks_passed() => ExitCode::ChecksFailed,
        _ => ExitCode::Error,
    }
}

/// `cnbench run`.
pub fn run(args: &RunArgs) -> Result<ExitCode> {
    // Everything the user typed is checked before anything is created.
    let options = args.backend.options(&args.topology);
    let backend = backend(&args.backend.backend, &options)?;
    let plan = plan_for(backend.as_ref(), &args.topology)?;
    let opts = measure_options(&args.measure)?;
    capability::require_root()?;
    let writer = open_json(&args.json)?;
    harness::signals::install().context("installing signal handlers")?;

    let mut result = new_result(backend.as_ref(), &plan, &opts);
    say!(
        "cnbench run {}: backend {}, {} node(s) x {} pod(s), underlay {}",
        plan.run_id(),
        backend.info().name,
        plan.spec.nodes,
        plan.spec.pods_per_node,
        plan.spec.underlay
    );
    let mut printer = Printer::new(writer);
    let outcome = run::run(
        backend.as_ref(),
        &options,
        plan,
        &opts,
        &mut result,
        &mut printer,
    );
    // Ratios to host-net compare like with like: a namespace baseline means nothing to an
    // emulated run, and a second pair of VMs would cost more than the figures are worth.
    let on_vms = args.topology.substrate == harness::Substrate::Vm;
    if on_vms && !args.no_baseline && !result.measurements.is_empty() {
        result.baseline_error = Some(
            "no host-net baseline on the VM substrate: emulated figures have no ratios".into(),
        );
        printer.result(&result);
    }
    let wants_baseline = !args.no_baseline
        && !on_vms
        && backend.info().name != backend_host_net::INFO.name
        && outcome.is_ok()
        && !result.measurements.is_empty();
    let outcome = match outcome {
        Ok(()) if wants_baseline => {
            match baseline(&args.topology, &opts, &mut printer) {
                Ok(b) => {
                    if let Err(e) = result.apply_baseline(b) {
                        result.baseline_error = Some(e.to_string());
                    }
                }
                // The run itself is complete and stands; only its ratios are missing.
                Err(HarnessError::Interrupted) => {
                    result.baseline_error = Some("interrupted".into());
                }
                Err(e) => {
                    eprintln!(
                        "cnbench: warning: the host-net baseline failed, so no ratios: {e}; \
                         try a longer --duration, a quieter machine, or --no-baseline"
                    );
                    result.baseline_error = Some(e.to_string());
                }
            }
            printer.result(&result);
            Ok(())
        }
        other => other,
    };
    finish(outcome, &mut result, &mut printer, &args.json)
}

/// The end of a run this process owned (`run`, `fault`): the summary, where the result was
/// written, and the exit code; an error is kept in the result file too.
fn finish(
    outcome: Result<(), HarnessError>,
    result: &mut RunResult,
    printer: &mut Printer,
    json: &Option<std::path::PathBuf>,
) -> Result<ExitCode> {
    if !result.topology.is_empty() {
        say!();
        say_raw!("{}", render::text::summary(result));
    }
    if let Some(e) = printer.write_error.take() {
        eprintln!("cnbench: {e}");
    }
    if let Some(p) = json {
        if printer.writer.is_some() {
            say!("result written to {}", p.display());
        }
    }
    match outcome {
        Ok(()) => Ok(exit_for(result)),
        Err(HarnessError::Interrupted) => {
            eprintln!("cnbench: interrupted; everything the run made was torn down");
            Ok(ExitCode::Interrupted)
        }
        Err(e) => {
            // Keep the result file honest about how the run ended.
            if matches!(result.outcome, Outcome::Incomplete) {
                result.outcome = Outcome::Error {
                    message: e.to_string(),
                };
            }
            printer.result(result);
            Err(e.into())
        }
    }
}

/// Measures host-net with the same workloads, on the run's underlay (or l2 for a single
/// node), 2 nodes: the same-session baseline every figure is also given against.
fn baseline(
    topology: &TopologyArgs,
    opts: &MeasureOptions,
    printer: &mut Printer,
) -> Result<reports::Baseline, HarnessError> {
    let host_net = backend_host_net::HostNet;
    let underlay = match topology.request().underlay {
        Some(u) if u != harness::topology::Underlay::None => u,
        _ => harness::topology::Underlay::L2,
    };
    let request = harness::topology::TopologyRequest {
        nodes: Some(2),
        pods_per_node: Some(1),
        underlay: Some(underlay),
        mtu: topology.mtu,
        ..Default::default()
    };
    let spec = request.resolve(&host_net.defaults(), new_run_id());
    let plan = Plan::new(spec, host_net.pod_network())?;
    let described = format!("2 nodes on an {underlay} underlay");
    printer.phase(&format!(
        "baseline: host-net, {described} (run {})",
        plan.run_id()
    ));
    // The baseline gives ratios of the headline figures; its syscall counts are not needed.
    let opts = &MeasureOptions {
        trace: false,
        ..opts.clone()
    };
    let params = run::parameters(&host_net, &plan, opts);
    let mut base = RunResult::new(plan.run_id(), environment(), params);
    // The baseline's samples are printed; its result is kept inside this run's.
    let mut quiet = Printer::new(None);
    quiet.quiet_checks = true;
    run::run(
        &host_net,
        &BackendOptions::default(),
        plan,
        opts,
        &mut base,
        &mut quiet,
    )?;
    if !base.checks_passed() {
        let failed: Vec<String> = base
            .checks
            .iter()
            .filter(|c| c.outcome == reports::CheckOutcome::Fail)
            .map(|c| format!("{} {} (got {})", c.check, c.subject, c.actual))
            .collect();
        return Err(HarnessError::Unsupported {
            what: format!(
                "the host-net baseline failed its own checks: {}",
                failed.join("; ")
            ),
            fix: "run `cnbench run --backend host-net` to see why, or pass --no-baseline".into(),
        });
    }
    Ok(reports::Baseline {
        run_id: base.run_id,
        backend: host_net.info().name.to_string(),
        topology: described,
        substrate: base.substrate,
        measurements: base.measurements,
    })
}

/// `cnbench up`.
pub fn up(args: &UpArgs) -> Result<ExitCode> {
    let options = args.backend.options(&args.topology);
    let backend = backend(&args.backend.backend, &options)?;
    let plan = plan_for(backend.as_ref(), &args.topology)?;
    capability::require_root()?;
    harness::signals::install().context("installing signal handlers")?;
    let run_id = plan.run_id().to_string();
    let t = Instant::now();
    let launch = Launch {
        mode: Mode::Up,
        backend_options: options,
        exe: exe()?,
    };
    let topo = Topology::up(backend.as_ref(), plan, launch)?;
    let took = t.elapsed();
    say_raw!("{}", render::text::topology(&topo.records()));
    let first_pod = topo
        .plan()
        .pods
        .first()
        .map(|p| p.netns.clone())
        .unwrap_or_default();
    say!(
        "run {run_id} is up ({} ms). Explore it:\n  ip netns list | grep {run_id}\n  ip netns exec {first_pod} ip route\n  cnbench check {run_id}\n  cnbench down {run_id}",
        took.as_millis()
    );
    Ok(ExitCode::Ok)
}

/// Refuses anything that is not a run id (it names a directory under /run/cnbench).
fn valid_run_id(run_id: &str) -> Result<()> {
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

fn attach(run_id: &str) -> Result<(Box<dyn Backend>, Topology)> {
    valid_run_id(run_id)?;
    capability::require_root()?;
    // A signal must not cut a check short between stopping a daemon and recording its
    // replacement, nor a teardown half-way: hold SIGINT/SIGTERM as a flag.
    harness::signals::install().context("installing signal handlers")?;
    let st = RunState::load(run_id)?;
    let backend = backend(&st.backend, &st.backend_options)?;
    let plan = Plan::new(st.spec.clone(), backend.pod_network()).map_err(HarnessError::from)?;
    let topo = Topology::attach(st, plan, exe()?).with_context(|| {
        format!("run {run_id} is damaged; `cnbench down {run_id}` removes what is left")
    })?;
    Ok((backend, topo))
}

/// `cnbench check`.
pub fn check(run_id: &str, json: &Option<std::path::PathBuf>) -> Result<ExitCode> {
    let (backend, mut topo) = attach(run_id)?;
    let writer = open_json(json)?;
    let opts = MeasureOptions {
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
    };
    let mut result = RunResult::new(
        run_id,
        environment(),
        run::parameters(backend.as_ref(), topo.plan(), &opts),
    );
    result.topology = topo.records();
    let mut printer = Printer::new(writer);
    result.checks = topo.check(backend.as_ref(), &mut |c| printer.check(c));
    result.outcome = if result.checks_passed() {
        Outcome::Passed
    } else {
        Outcome::ChecksFailed
    };
    printer.result(&result);
    let counts = result.check_counts();
    say!(
        "{} passed, {} failed, {} expected failures",
        counts.passed,
        counts.failed,
        counts.expected_failures
    );
    Ok(exit_for(&result))
}

/// `cnbench measure`.
pub fn measure(
    run_id: &str,
    args: &MeasureArgs,
    json: &Option<std::path::PathBuf>,
) -> Result<ExitCode> {
    let opts = measure_options(args)?;
    let (backend, topo) = attach(run_id)?;
    let writer = open_json(json)?;
    harness::signals::install().context("installing signal handlers")?;
    let mut result = RunResult::new(
        run_id,
        environment(),
        run::parameters(backend.as_ref(), topo.plan(), &opts),
    );
    result.topology = topo.records();
    let mut printer = Printer::new(writer);
    let t = Instant::now();
    let measured = topo.measure(backend.as_ref(), &opts, &mut |r, s| match s {
        Some(s) => printer.sample(r, s),
        None => printer.traced(r),
    });
    result.timings.measure_ns = Some(t.elapsed().as_nanos() as u64);
    match measured {
        Ok(m) => {
            result.measurements = m;
            result.outcome = Outcome::Passed;
            printer.result(&result);
            say_raw!("{}", render::text::summary(&result));
            Ok(ExitCode::Ok)
        }
        Err(HarnessError::Interrupted) => Ok(ExitCode::Interrupted),
        Err(e) => Err(e.into()),
    }
}

/// `cnbench down`.
pub fn down(run_id: &str) -> Result<ExitCode> {
    valid_run_id(run_id)?;
    capability::require_root()?;
    harness::signals::install().context("installing signal handlers")?;
    let st = RunState::load(run_id)?;
    if st.mode == Mode::Run && st.owner_alive() {
        bail!(
            "run {run_id} is in progress (pid {}): interrupt it (Ctrl-C or `kill {}`) and it tears itself down",
            st.owner_pid,
            st.owner_pid
        );
    }
    let errors = match attach(run_id) {
        Ok((backend, topo)) => topo.down(backend.as_ref()),
        Err(e) => {
            // Damaged (a namespace removed by hand): remove what is left anyway.
            eprintln!("cnbench: {e:#}; removing what is left");
            let mut errors = state::destroy_namespaces(&st.namespaces);
            if errors.is_empty() {
                errors.extend(RunState::remove(run_id).err());
            }
            errors
        }
    };
    if errors.is_empty() {
        say!("run {run_id} is down; nothing of it is left");
        Ok(ExitCode::Ok)
    } else {
        for e in &errors {
            eprintln!("cnbench: {e}");
        }
        bail!(
            "{} error(s) tearing down run {run_id}; `cnbench clean --all` retries",
            errors.len()
        )
    }
}

/// `cnbench status`.
pub fn status() -> Result<ExitCode> {
    let runs = RunState::list();
    if runs.is_empty() {
        say!("no runs");
    }
    for run in runs {
        match RunState::load(&run) {
            Ok(st) => {
                let what = match (st.mode, st.owner_alive()) {
                    (Mode::Up, _) => "standing (cnbench up)".to_string(),
                    (Mode::Run, true) => format!("in progress (pid {})", st.owner_pid),
                    (Mode::Run, false) => "crashed: `cnbench clean` removes it".to_string(),
                };
                say!(
                    "{run}  {:<10} {} node(s)  {what}",
                    st.backend,
                    st.spec.nodes
                );
            }
            Err(e) => say!("{run}  unreadable: {e}"),
        }
    }
    Ok(ExitCode::Ok)
}

/// `cnbench clean`.
pub fn clean(all: bool) -> Result<ExitCode> {
    capability::require_root()?;
    harness::signals::install().context("installing signal handlers")?;
    let report = state::clean(all);
    for r in &report.removed {
        say!("removed {r}");
    }
    for (r, why) in &report.kept {
        say!("kept {r}: {why}");
    }
    if report.removed.is_empty() && report.kept.is_empty() {
        say!("nothing to clean");
    }
    for e in &report.errors {
        eprintln!("cnbench: {e}");
    }
    if report.errors.is_empty() {
        Ok(ExitCode::Ok)
    } else {
        bail!("{} error(s) while cleaning", report.errors.len())
    }
}

/// `cnbench agent --listen <where>`: serves the node interface to a harness until killed
/// (`stdio`: one session).
pub fn agent(listen: &harness::remote::server::Listen) -> Result<ExitCode> {
    let exe = std::env::current_exe().context("cannot find this program's own path")?;
    harness::remote::server::serve(listen, &exe)
        .with_context(|| format!("agent listening on {listen:?}"))?;
    Ok(ExitCode::Ok)
}

/// `cnbench setup vm`: installs QEMU, busybox and a VM kernel.
pub fn setup(substrate: &str) -> Result<ExitCode> {
    debug_assert_eq!(substrate, "vm");
    capability::require_root()?;
    let mut out = std::io::stdout().lock();
    harness::vm::setup::run(&mut out)?;
    Ok(ExitCode::Ok)
}

/// `cnbench task` (internal): one workload task, result on stdout.
pub fn task(task: &str) -> Result<ExitCode> {
    let task = workloads::AgentTask::from_json(task)?;
    let mut out = std::io::stdout().lock();
    workloads::run_agent(&task, &mut out)?;
    Ok(ExitCode::Ok)
}

/// `cnbench daemon` (internal): a backend's datapath daemon, inside a node.
pub fn daemon(backend: &str, config: &str) -> Result<ExitCode> {
    let run = registry::daemon(backend).map_err(|e| anyhow!(e))?;
    run(config).map_err(|e| anyhow!(e))?;
    Ok(ExitCode::Ok)
}

/// `cnbench scale`.
pub fn scale(args: &ScaleArgs) -> Result<ExitCode> {
    if args.backend != backend_bgp::INFO.name {
        bail!(
            "scale measures a control plane: only --backend bgp has one (got {})",
            args.backend
        );
    }
    if !backend_bgp::INFO.built {
        bail!("backend bgp is planned but not built yet");
    }
    if args.nodes.is_empty()
        || args
            .nodes
            .iter()
            .any(|n| *n < 2 || *n > harness::topology::MAX_NODES)
    {
        bail!(
            "--nodes {:?}: use sizes from 2 to {}",
            args.nodes,
            harness::topology::MAX_NODES
        );
    }
    for t in &args.bgp_topology {
        if t != "mesh" && t != "rr" {
            bail!("--bgp-topology {t}: use mesh, rr or both (mesh,rr)");
        }
    }
    if !(args.timeout.is_finite() && args.timeout > 0.0 && args.timeout <= 3600.0) {
        bail!(
            "--timeout {}: use a positive number of seconds, at most 3600",
            args.timeout
        );
    }
    // Every point is planned and validated (underlay size, bird on PATH) before the first is
    // stood up.
    for topology in &args.bgp_topology {
        for &n in &args.nodes {
            let options = BackendOptions {
                datapath: None,
                bgp_topology: Some(topology.clone()),
                ..Default::default()
            };
            let topo = TopologyArgs {
                nodes: Some(n),
                pods_per_node: Some(1),
                underlay: Some(args.underlay),
                pod_cidr: None,
                underlay_cidr: None,
                mtu: None,
                substrate: harness::Substrate::Netns,
            };
            plan_for(backend(&args.backend, &options)?.as_ref(), &topo)?;
        }
    }
    capability::require_root()?;
    let mut writer = open_json(&args.json)?;
    harness::signals::install().context("installing signal handlers")?;
    let underlay = harness::topology::Underlay::from(args.underlay);
    let mut result = reports::ScaleResult::new(environment(), &args.backend, underlay.as_str());
    say!(
        "{:<6} {:>5}  {:>10}  {:>8}  {:>10}  {:>12}  {:>9}  {:>7}  status",
        "bgp",
        "nodes",
        "converge",
        "sessions",
        "routes/node",
        "bird RSS",
        "bird CPU",
        "drops"
    );
    for topology in &args.bgp_topology {
        for &n in &args.nodes {
            if harness::signals::interrupted() {
                eprintln!("cnbench: interrupted; every finished size is in the result");
                return Ok(ExitCode::Interrupted);
            }
            let p = backend_bgp::scale_point(
                n,
                topology,
                underlay,
                Duration::from_secs_f64(args.timeout),
                &exe()?,
            );
            say!("{}", scale_line(&p));
            result.points.push(p);
            if let Some(w) = &mut writer {
                w.write_value(&result)?;
            }
        }
    }
    if harness::signals::interrupted() {
        eprintln!("cnbench: interrupted; every finished size is in the result");
        return Ok(ExitCode::Interrupted);
    }
    Ok(if result.points.iter().all(|p| p.converged) {
        ExitCode::Ok
    } else {
        ExitCode::ChecksFailed
    })
}

fn scale_line(p: &reports::ScalePoint) -> String {
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    format!(
        "{:<6} {:>5}  {:>10}  {:>8}  {:>10}  {:>12}  {:>9}  {:>7}  {}",
        p.topology,
        p.nodes,
        opt(p
            .convergence_ms
            .map(|ms| render::units::format_ns(ms * 1e6))),
        opt(p.sessions_total.map(|s| s.to_string())),
        opt(p.routes_per_node_max.map(|r| r.to_string())),
        opt(p
            .daemon_rss_bytes_total
            .map(|b| format!("{:.1} MiB", b as f64 / 1048576.0))),
        opt(p
            .daemon_cpu_ms_total
            .map(|ms| render::units::format_ns(ms * 1e6))),
        opt(p.softnet_drops.map(|d| d.to_string())),
        match (&p.error, p.converged) {
            (Some(e), _) => e.clone(),
            (None, true) => "converged".into(),
            (None, false) => "did not converge".into(),
        }
    )
}

/// `cnbench report`: reads every result file first (a bad one is refused before anything is
/// written), then writes the report.
pub fn report(results: &[std::path::PathBuf], out: &std::path::Path) -> Result<ExitCode> {
    let inputs = results
        .iter()
        .map(|p| render::Input::read(p))
        .collect::<Result<Vec<_>, _>>()?;
    let files = render::write_report(&inputs, out)?;
    say!("report written to {}", files.index_html.display());
    say!("  {}", files.summary_md.display());
    for p in &files.plots {
        say!("  {} (.svg, .png): {}", p.name, p.title);
    }
    for why in &files.omitted {
        say!("  left out: {why}");
    }
    Ok(ExitCode::Ok)
}

/// Refuses an output file that cannot be written: a directory, or in a directory that does
/// not exist.
fn writable_file(option: &str, path: &std::path::Path) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
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

/// `cnbench compare`: everything is read and checked before anything is written.
pub fn compare(args: &crate::cli::CompareArgs) -> Result<ExitCode> {
    use reports::compare::{self, CompareOptions};
    let mut options = CompareOptions::from_args(args.threshold.as_deref(), &args.metric_threshold)?;
    if let Some(floor) = &args.noise_floor {
        options.noise_floor =
            compare::parse_threshold(floor).map_err(|e| anyhow!("--noise-floor {floor}: {e}"))?;
    }
    for (option, path) in [
        ("--markdown", &args.markdown),
        ("--junit", &args.junit),
        ("--json", &args.json),
    ] {
        if let Some(path) = path {
            writable_file(option, path)?;
        }
    }
    // Reads both and refuses, naming both files, an emulated (VM) result against a native one.
    let cmp = compare::compare_files(&args.baseline, &args.candidate, &options)?;
    say_raw!("{}", render::text::compare_table(&cmp));
    let write = |path: &Option<std::path::PathBuf>, what: &str, text: String| -> Result<()> {
        if let Some(p) = path {
            std::fs::write(p, text)
                .with_context(|| format!("writing the {what} to {}", p.display()))?;
        }
        Ok(())
    };
    write(&args.markdown, "Markdown", render::compare::markdown(&cmp))?;
    write(&args.junit, "JUnit XML", render::compare::junit(&cmp))?;
    write(
        &args.json,
        "JSON",
        serde_json::to_string_pretty(&cmp).context("serializing the comparison")? + "\n",
    )?;
    Ok(match cmp.exit_code() {
        0 => ExitCode::Ok,
        1 => ExitCode::ChecksFailed,
        _ => ExitCode::Inconclusive,
    })
}

/// `cnbench fault`.
pub fn fault(args: &FaultArgs) -> Result<ExitCode> {
    use harness::fault::{self, FaultKind, FaultOptions, FaultSpec, Recovery};
    // Everything the user typed is checked before anything is created.
    let options = args.backend.options(&args.topology);
    let backend = backend(&args.backend.backend, &options)?;
    let plan = plan_for(backend.as_ref(), &args.topology)?;
    let mut kinds: Vec<FaultKind> = Vec::new();
    for name in &args.fault {
        let more = match name.as_str() {
            "all" => fault::applicable(backend.as_ref(), &plan),
            one => vec![one.parse().map_err(|e| anyhow!("--fault {one}: {e}"))?],
        };
        for k in more {
            if !kinds.contains(&k) {
                kinds.push(k);
            }
        }
    }
    // The harness's validation gives the ranges; here only what no Duration can hold.
    let secs = |name: &str, v: f64| seconds(name, v, 0.0, 1e6);
    let hold = secs("hold", args.hold)?;
    let loss_percent = parse_percent(&args.loss)?;
    let node = args.node.unwrap_or(plan.spec.nodes.saturating_sub(1));
    let recovery = if args.broken_recovery {
        Recovery::FaultedNodeOnly
    } else {
        Recovery::Full
    };
    let specs: Vec<FaultSpec> = kinds
        .iter()
        .map(|&kind| FaultSpec {
            kind,
            node,
            hold,
            loss_percent,
            recovery,
        })
        .collect();
    for spec in &specs {
        fault::validate(backend.as_ref(), &plan, spec).map_err(HarnessError::from)?;
    }
    let fopts = FaultOptions {
        rate_pps: args.rate.unwrap_or(match args.topology.substrate {
            harness::Substrate::Netns => 1000,
            harness::Substrate::Vm => 100,
        }),
        before: secs("before", args.before)?,
        after: secs("after", args.after)?,
        recovery_limit: secs("recovery-limit", args.recovery_limit)?,
        tcp_window: secs("tcp-window", args.tcp_window)?,
        agent_exe: exe()?,
    };
    fault::validate_options(&fopts).map_err(HarnessError::from)?;
    capability::require_root()?;
    let writer = open_json(&args.json)?;
    harness::signals::install().context("installing signal handlers")?;

    // The parameters of the loss fault's TCP measurement, the only workload a fault runs.
    let mut measure = fault::tcp_options(&fopts);
    if !kinds.contains(&FaultKind::Loss) {
        measure.workloads.clear();
    }
    let mut result = new_result(backend.as_ref(), &plan, &measure);
    say!(
        "cnbench fault {}: backend {}, {} node(s) x {} pod(s), underlay {}; faults: {}",
        plan.run_id(),
        backend.info().name,
        plan.spec.nodes,
        plan.spec.pods_per_node,
        plan.spec.underlay,
        kinds
            .iter()
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut printer = Printer::new(writer);
    let outcome = fault::run_faults(
        backend.as_ref(),
        Launch {
            mode: Mode::Run,
            backend_options: options,
            exe: fopts.agent_exe.clone(),
        },
        plan,
        &specs,
        &fopts,
        &mut result,
        &mut printer,
    );
    finish(outcome, &mut result, &mut printer, &args.json)
}

/// `10%` or `10`: a whole percentage (the harness checks its range).
fn parse_percent(s: &str) -> Result<u32> {
    s.trim()
        .trim_end_matches('%')
        .parse::<u32>()
        .map_err(|_| anyhow!("--loss {s}: use a whole percentage from 1 to 100 (`10%`)"))
}

/// `--OPTION SECONDS` as a duration, refused outside `min..=max` (and when not a number).
fn seconds(option: &str, v: f64, min: f64, max: f64) -> Result<Duration> {
    if !(v.is_finite() && v >= min && v <= max) {
        bail!("--{option} {v}: use {min} to {max} seconds");
    }
    Ok(Duration::from_secs_f64(v))
}
