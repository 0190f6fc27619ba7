//! One fault, start to finish, on a topology that is up and passed its checks:
//!
//! 1. for `loss`, TCP throughput of one cross-node pair without loss;
//! 2. the probe stream starts, and runs alone for a while (`before`);
//! 3. the fault: injected, held, lifted (`event_start` .. `event_end`; for `loss`, TCP
//!    throughput is measured while it holds);
//! 4. the control plane reacts (cnbench's reprogramming, for backends whose control plane it
//!    plays; BIRD or a restarted daemon does its own);
//! 5. the pairs are polled (ICMP) until each answers again, probed for a while longer
//!    (`after`), and polled once more: a pair that broke again is waited for, up to the
//!    recovery limit; then the stream stops and the agents report (the figures are theirs);
//! 6. every conformance check runs again.

use std::time::{Duration, Instant};

use reports::{
    CheckRecord, FaultOutcome, FaultRecord, PairRecovery, ProbeSummary, RunResult, Sample,
    TcpUnderLoss,
};

use super::inject;
use super::probes::{realtime_ns, ProbeStream};
use super::{FaultKind, FaultOptions, FaultSpec, Recovery};
use crate::backend::{Backend, BackendInfo, MeasurePair};
use crate::error::{HarnessError, Result};
use crate::measure::{self, MeasureContext};
use crate::run::{check_first, owned_run, Launch, Observer, Topology};
use crate::signals;
use crate::topology::NodePlan;

/// The whole `cnbench fault`: up, check, each fault in turn (with its own check after it),
/// down, with the result kept current in `result` and shown to `obs`. A topology that fails
/// its checks before any fault gets no fault. Teardown happens whatever else fails; the first
/// error is returned after it.
pub fn run_faults(
    backend: &dyn Backend,
    launch: Launch,
    plan: crate::topology::Plan,
    specs: &[FaultSpec],
    opts: &FaultOptions,
    result: &mut RunResult,
    obs: &mut dyn Observer,
) -> Result<()> {
    owned_run(
        backend,
        launch,
        plan,
        result,
        obs,
        &mut |topo, result, obs| check_and_inject(topo, backend, specs, opts, result, obs),
    )
}

fn check_and_inject(
    topo: &mut Topology,
    backend: &dyn Backend,
    specs: &[FaultSpec],
    opts: &FaultOptions,
    result: &mut RunResult,
    obs: &mut dyn Observer,
) -> Result<()> {
    if !check_first(topo, backend, result, obs, "checking before any fault")? {
        obs.phase("not injecting faults: a conformance check failed before any fault");
        return Ok(());
    }
    for (i, spec) in specs.iter().enumerate() {
        obs.phase(&format!("fault {}/{}: {}", i + 1, specs.len(), spec.kind));
        let record = topo.fault(
            backend,
            spec,
            opts,
            &mut |what| obs.phase(what),
            &mut |_| {},
        )?;
        obs.fault(&record);
        result.faults.push(record);
        obs.result(result);
    }
    Ok(())
}

/// How long the loss stays beyond the time the TCP measurement took without it.
const LOSS_MARGIN: Duration = Duration::from_millis(300);
/// Extra time the probe agents are given beyond the longest the fault could take.
const STREAM_SLACK: Duration = Duration::from_secs(60);

impl Topology {
    /// Injects `spec` while probes run across every pod pair, waits for recovery, checks
    /// again; `on_check` sees each check of the after-fault check. Errors of the fault itself
    /// are recorded in the result ([`FaultOutcome::Error`]); only an interruption (or a
    /// probe stream that cannot start) is returned as an error.
    pub fn fault(
        &mut self,
        backend: &dyn Backend,
        spec: &FaultSpec,
        opts: &FaultOptions,
        on_phase: &mut dyn FnMut(&str),
        on_check: &mut dyn FnMut(&CheckRecord),
    ) -> Result<FaultRecord> {
        let node = self.plan.nodes[spec.node as usize].clone();
        let expect = self.expectations(backend);
        let tcp_pair = expect
            .measure
            .iter()
            .find(|p| p.path == "cross-node")
            .cloned();
        let mut record = FaultRecord {
            fault: spec.kind.name().to_string(),
            action: describe(spec, &node),
            target: if spec.kind.targets_node() {
                node.role.clone()
            } else if spec.kind == FaultKind::RouterDown {
                spec.router.clone()
            } else {
                "underlay".into()
            },
            hold_ms: spec.hold.as_millis() as u64,
            loss_percent: (spec.kind == FaultKind::Loss).then_some(spec.loss_percent),
            recovery: spec.recovery.name().to_string(),
            probe_rate_pps: opts.rate_pps,
            reprogram_ns: None,
            probes: ProbeSummary::default(),
            pairs: Vec::new(),
            underlay_dropped_packets: None,
            tcp_under_loss: None,
            probe_clocks: Vec::new(),
            checks_after: Vec::new(),
            outcome: FaultOutcome::Recovered,
        };

        // 1. TCP throughput without loss.
        let mut tcp_before = None;
        let mut tcp_took = Duration::ZERO;
        if let (FaultKind::Loss, Some(pair)) = (spec.kind, &tcp_pair) {
            on_phase("measuring tcp-stream before the loss");
            let t = Instant::now();
            tcp_before = Some(self.tcp_throughput(backend.info(), pair, opts)?);
            tcp_took = t.elapsed();
        }

        // 2. Probes.
        let longest = opts.before
            + spec.hold.max(opts.tcp_window * 2)
            + opts.recovery_limit
            + opts.after
            + STREAM_SLACK;
        let mut stream = ProbeStream::start(
            &self.plan,
            &self.hosts,
            &expect,
            opts.rate_pps,
            longest,
            &opts.agent_exe,
        )?;
        on_phase(&format!(
            "probing {} pairs at {} probes/s each",
            stream.pair_count(),
            opts.rate_pps
        ));
        sleep(opts.before)?;

        // 3. The fault.
        on_phase(&format!("fault: {}", record.action));
        let event_start = realtime_ns();
        let tcp = tcp_pair.as_ref().map(|p| (p, tcp_took));
        let injected = self.inject_hold_lift(backend, spec, &node, opts, tcp, &mut stream);
        // router-down's event is the router going down: recovery counts from it (the
        // traffic must find the other router while it is down).
        let event_end = match &injected {
            Ok(Held {
                event_end: Some(t), ..
            }) => *t,
            _ => realtime_ns(),
        };
        let mut error = None;
        let mut failed_over = true;
        match injected {
            Ok(held) => {
                failed_over = held.answered_while_down != Some(false);
                record.underlay_dropped_packets = held.dropped;
                if let (Some(before), Some((pair, under, retrans))) = (tcp_before, held.tcp) {
                    record.tcp_under_loss = Some(TcpUnderLoss {
                        pair,
                        window_ns: opts.tcp_window.as_nanos() as u64,
                        before_bps: before.0,
                        under_loss_bps: under,
                        retransmitted_segments: retrans,
                    });
                }
            }
            Err(HarnessError::Interrupted) => return Err(HarnessError::Interrupted),
            Err(e) => error = Some(format!("injecting the fault: {e}")),
        }
        // 4. The control plane.
        if let (None, Some(cp)) = (&error, backend.capabilities().control_plane) {
            on_phase("reprogramming (cnbench plays the control plane)");
            let t = Instant::now();
            let nodes: Vec<&NodePlan> = match spec.recovery {
                Recovery::Full => self.plan.nodes.iter().collect(),
                Recovery::FaultedNodeOnly => vec![&node],
            };
            match cp.reprogram(&self.context(), &nodes) {
                Ok(()) => record.reprogram_ns = Some(t.elapsed().as_nanos() as u64),
                Err(e) => error = Some(format!("reprogramming after the fault: {e}")),
            }
        }
        if let Err(e) = self.save_daemons() {
            error.get_or_insert(e.to_string());
        }

        // 5. Recovery.
        // Every pair must answer, and still answer after `after` more seconds of probing: a
        // control plane may break the path again once it has come back (a BGP hold timer
        // that expires after the link returned), and the stream must not end inside that.
        on_phase("waiting until every pair answers again");
        let limit = Instant::now() + opts.recovery_limit;
        let mut answering;
        loop {
            let left = limit.saturating_duration_since(Instant::now());
            answering = stream.wait_answering(&self.hosts, left)?;
            if !answering {
                break;
            }
            sleep(opts.after)?;
            if stream.wait_answering(&self.hosts, Duration::ZERO)? || Instant::now() >= limit {
                break;
            }
            on_phase("a pair stopped answering again; waiting");
        }
        let reports = stream.finish()?;
        record.probe_clocks = stream.clocks(&self.plan, &self.hosts);
        // A probe sent up to one reply timeout before the fault and lost to it belongs to it.
        let window_start =
            event_start.saturating_sub(workloads::probe::REPLY_TIMEOUT.as_nanos() as u64);
        record.probes = ProbeSummary::labelled(&reports, window_start, event_end, &|a, b| {
            let (from, to, _) = stream.label(a, b);
            format!("{from} -> {to}")
        });
        record.pairs = PairRecovery::all(&reports, window_start, event_end, &|a, b| {
            stream.label(a, b)
        });
        drop(stream);

        // 6. The check after.
        on_phase("checking after the fault");
        record.checks_after = self.check(backend, on_check);
        if signals::interrupted() {
            return Err(HarnessError::Interrupted);
        }
        record.outcome = match error {
            Some(message) => FaultOutcome::Error { message },
            // router-down: the pairs must answer through the other router while the router
            // is down, not only once it is back.
            None if !record.probes.recovered() || !answering || !failed_over => {
                FaultOutcome::NotRecovered
            }
            None if record
                .checks_after
                .iter()
                .any(|c| c.outcome == reports::CheckOutcome::Fail) =>
            {
                FaultOutcome::ChecksFailed
            }
            None => FaultOutcome::Recovered,
        };
        Ok(record)
    }

    /// Injects, holds and lifts the fault.
    fn inject_hold_lift(
        &mut self,
        backend: &dyn Backend,
        spec: &FaultSpec,
        node: &NodePlan,
        opts: &FaultOptions,
        tcp: Option<(&MeasurePair, Duration)>,
        stream: &mut ProbeStream,
    ) -> Result<Held> {
        match spec.kind {
            FaultKind::LinkFlap => {
                inject::link_down(&self.hosts, node)?;
                sleep(spec.hold)?;
                inject::link_up(&self.plan, &self.hosts, node)?;
                Ok(Held::default())
            }
            FaultKind::RouterDown => {
                let rt = self
                    .plan
                    .router_named(&spec.router)
                    .cloned()
                    .ok_or_else(|| HarnessError::Unsupported {
                        what: format!("no router {}", spec.router),
                        fix: "use --underlay l3 --routers 2".into(),
                    })?;
                let t0 = Instant::now();
                crate::underlay::router_down(&self.hosts, &rt)?;
                let down_at = realtime_ns();
                // Down until every pair answers again through the other router (or the
                // recovery limit), and at least the hold time.
                let waited = stream.wait_answering(&self.hosts, opts.recovery_limit);
                let slept = sleep(spec.hold.saturating_sub(t0.elapsed()));
                // Up again whatever happened meanwhile.
                crate::underlay::router_up(&self.plan, &self.hosts, &rt)?;
                let answered = waited?;
                slept?;
                Ok(Held {
                    event_end: Some(down_at),
                    answered_while_down: Some(answered),
                    ..Held::default()
                })
            }
            FaultKind::Loss => {
                inject::add_loss(&self.plan, &self.hosts, spec.loss_percent)?;
                // The loss holds for the hold time, and at least as long as the TCP
                // measurement took without loss (agents started, warm-up, window) plus a
                // margin, so that its window lies inside the loss. The measurement runs on a
                // thread of its own: after its window the client still waits for its last
                // bytes and the server's count, which under 10 % loss can take longer than
                // the agents' timeouts; by then the loss is lifted, as a real one would have
                // ended.
                let this = &*self;
                let info = backend.info();
                let lasts = match tcp {
                    Some((_, took)) => spec.hold.max(took + LOSS_MARGIN),
                    None => spec.hold,
                };
                let tcp_pair = tcp.map(|(p, _)| p);
                let (measured, slept, dropped, removed) = std::thread::scope(|scope| {
                    let tcp = tcp_pair
                        .map(|pair| scope.spawn(move || this.tcp_throughput(info, pair, opts)));
                    let slept = sleep(lasts);
                    let dropped = inject::loss_dropped(&this.plan, &this.hosts);
                    // Removed whatever else failed.
                    let removed = inject::remove_loss(&this.plan, &this.hosts);
                    let measured = match tcp {
                        Some(h) => h
                            .join()
                            .unwrap_or_else(|_| {
                                Err(HarnessError::Unsupported {
                                    what: "the tcp-stream measurement under loss panicked".into(),
                                    fix: "report it as a bug".into(),
                                })
                            })
                            .map(Some),
                        None => Ok(None),
                    };
                    (measured, slept, dropped, removed)
                });
                let measured = measured?;
                slept?;
                removed?;
                Ok(Held {
                    dropped,
                    tcp: measured.map(|(bps, retrans)| {
                        let pair = tcp_pair.expect("measured a pair");
                        let label = format!(
                            "{} -> {}",
                            self.plan.pods[pair.client].role, self.plan.pods[pair.server].role
                        );
                        (label, bps, retrans)
                    }),
                    event_end: None,
                    answered_while_down: None,
                })
            }
            FaultKind::NodeRestart => {
                stream.kill_node(node.index);
                self.node_down(node)?;
                sleep(spec.hold)?;
                self.node_up(node)?;
                backend.setup_node(&self.context(), node)?;
                self.apply_wiring()?;
                // The node's IPv6 addresses are new: the probe agents can bind them only once
                // DAD has ended (a tentative address is not assignable), as a restarted
                // node's pods wait for theirs.
                if self.plan.ip_family().has_v6() {
                    let names = crate::fault::inject::node_namespaces(&self.plan, node);
                    let hosts: Vec<(&str, &crate::host::Host)> = names
                        .iter()
                        .filter_map(|n| Some((n.as_str(), self.hosts.get(n)?)))
                        .collect();
                    crate::run::wait_addresses_settled(&hosts, crate::run::DAD_TIMEOUT)?;
                }
                stream.restart_node(&self.hosts, node.index)?;
                Ok(Held::default())
            }
            FaultKind::Own(decl) => {
                let faults =
                    backend
                        .capabilities()
                        .faults
                        .ok_or_else(|| HarnessError::Unsupported {
                            what: format!(
                                "backend {} has no fault {} of its own",
                                backend.info().name,
                                decl.name
                            ),
                            fix: "`cnbench fault --help` lists the faults".into(),
                        })?;
                faults.inject(&self.context(), decl, node)?;
                sleep(spec.hold)?;
                faults.lift(&self.context(), decl, node)?;
                Ok(Held::default())
            }
        }
    }

    /// One tcp-stream repetition (untraced) between `pair`: (bit/s, retransmitted segments).
    fn tcp_throughput(
        &self,
        info: &BackendInfo,
        pair: &MeasurePair,
        opts: &FaultOptions,
    ) -> Result<(f64, Option<u64>)> {
        let daemons = self.procs.list();
        let ctx = MeasureContext {
            datapath: info.datapath,
            daemons: &daemons,
            daemon_device: info.daemon_device,
        };
        let mopts = super::tcp_options(opts);
        let records = measure::measure_pair(
            &self.plan,
            &self.hosts,
            pair,
            measure::PairPath {
                path_mtu: self.plan.spec.mtu,
                // The run's first family: IPv4 where it has it (a dual-stack run's throughput
                // through a fault is its IPv4 path's; the recovery probes cover both).
                family: self.plan.families()[0],
            },
            &ctx,
            &mopts,
            &mut |_, _| {},
        )?;
        let record = records.first();
        let bps = record
            .and_then(|r| r.repetitions.first())
            .and_then(|s| match s {
                Sample::TcpStream(t) => Some(t.throughput_bps),
                _ => None,
            })
            .unwrap_or(0.0);
        let retrans = record
            .and_then(|r| r.costs.first())
            .and_then(|c| c.kernel.as_ref())
            .map(|k| k.tcp_retrans_segs);
        Ok((bps, retrans))
    }
}

/// What holding a fault yielded.
#[derive(Default)]
struct Held {
    /// Packets the loss rules dropped.
    dropped: Option<u64>,
    /// For loss: the pair, its throughput under loss (bit/s), its retransmitted segments.
    tcp: Option<(String, f64, Option<u64>)>,
    /// When the fault's event ended, if not when it was lifted (router-down: the router
    /// went down), in ns since the epoch.
    event_end: Option<u64>,
    /// router-down: whether every pair answered through the other router while the router
    /// was down (within the recovery limit).
    answered_while_down: Option<bool>,
}

/// The fault in words, for the result and the progress line.
fn describe(spec: &FaultSpec, node: &NodePlan) -> String {
    let ms = spec.hold.as_millis();
    let n = &node.role;
    let what = match spec.kind {
        FaultKind::LinkFlap => format!("{n} eth0 down for {ms} ms, then up"),
        FaultKind::RouterDown => format!(
            "every link of router {} down until every pair answers through the other (at \
             least {ms} ms), then up",
            spec.router
        ),
        FaultKind::Loss => format!(
            "{} % of the packets entering every underlay port dropped for {ms} ms",
            spec.loss_percent
        ),
        FaultKind::NodeRestart => {
            format!("{n} and its pods torn down, {ms} ms later set up again")
        }
        FaultKind::Own(decl) => format!("on {n}: {} ({ms} ms between)", decl.summary),
    };
    match spec.recovery {
        Recovery::Full => what,
        Recovery::FaultedNodeOnly => {
            format!("{what}; the peers are NOT reprogrammed (broken recovery)")
        }
    }
}

/// Sleeps, waking for SIGINT/SIGTERM.
fn sleep(d: Duration) -> Result<()> {
    let until = Instant::now() + d;
    while Instant::now() < until {
        if signals::interrupted() {
            return Err(HarnessError::Interrupted);
        }
        std::thread::sleep((until - Instant::now()).min(Duration::from_millis(20)));
    }
    Ok(())
}

impl Topology {
    /// node-restart, first half: everything of `node` goes, as in a power cut. On the VM
    /// substrate its QEMU stops (and the VM's processes and namespaces with it).
    pub(crate) fn node_down(&mut self, node: &NodePlan) -> Result<()> {
        let Some(vms) = self.vms.as_mut() else {
            return inject::node_down(&self.plan, &mut self.hosts, &self.procs, node);
        };
        let names = inject::node_namespaces(&self.plan, node);
        // The power goes first: no daemon gets to say goodbye (a BIRD stopped politely
        // would send its peers a Cease and withdraw its routes at once).
        vms.power_off(node, &self.procs);
        // Its daemons went with the VM: forgotten, not stopped.
        for (_, netns, pid) in self.procs.list() {
            if names.contains(&netns) {
                self.procs.forget(&netns, pid);
            }
        }
        for n in &names {
            self.hosts.remove(n);
        }
        self.save_daemons()
    }

    /// node-restart, second half, the harness's part: the node again, empty, cabled to the
    /// hub. On the VM substrate: a fresh boot. The backend then builds the rest.
    pub(crate) fn node_up(&mut self, node: &NodePlan) -> Result<()> {
        if self.vms.is_none() {
            return inject::node_up(&self.plan, &mut self.hosts, node);
        }
        let vms = self.vms.as_mut().expect("checked");
        let agent = vms.power_on(node, &self.hosts[&vms.hub], &self.procs, &self.exe);
        self.save_daemons()?;
        self.open_vm_node(node, agent?)?;
        crate::underlay::attach_node(&self.plan, &self.hosts, node)
    }
}
