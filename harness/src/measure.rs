//! Measurement: workload agents run as separate processes inside the pod namespaces
//! (`cnbench agent '<json>'`), pinned to CPUs whose placement is part of the result.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reports::{CostSample, Endpoint, MeasurementRecord, Placement, RoleCost, Sample};
use workloads::{AgentTask, ClientConfig, ServeConfig, Workload};

use crate::backend::{Datapath, MeasurePair};
use crate::cost::{self, SyscallCounter};
use crate::error::{HarnessError, Result};
use crate::host::Host;
use crate::process;
use crate::signals;
use crate::topology::Plan;

/// Where the client and server agents run relative to each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuPlacement {
    /// Both on one CPU: on VMs whose idle vCPUs halt, a cross-CPU wake-up costs tens of µs
    /// and swamps datapath differences (MACHINE-NOTES), so this is the default.
    SameCpu,
    /// Client and server on different CPUs.
    CrossCpu,
}

impl CpuPlacement {
    /// The name results use.
    pub fn as_str(self) -> &'static str {
        match self {
            CpuPlacement::SameCpu => "same-cpu",
            CpuPlacement::CrossCpu => "cross-cpu",
        }
    }

    /// Picks (client, server) CPUs from those this process may use.
    pub fn cpus(self) -> (u32, u32) {
        let allowed = workloads::allowed_cpus();
        let last = allowed.last().copied().unwrap_or(0);
        match self {
            CpuPlacement::SameCpu => (last, last),
            CpuPlacement::CrossCpu if allowed.len() >= 2 => (allowed[0], allowed[1]),
            CpuPlacement::CrossCpu => (last, last),
        }
    }
}

/// How to measure.
#[derive(Debug, Clone)]
pub struct MeasureOptions {
    /// Workloads, in order.
    pub workloads: Vec<Workload>,
    /// Measurement window of each repetition.
    pub duration: Duration,
    /// Warm-up before each window.
    pub warmup: Duration,
    /// Repetitions of each workload.
    pub repeat: u32,
    /// CPU placement.
    pub placement: CpuPlacement,
    /// Parallel connections for tcp-stream.
    pub streams: u32,
    /// Message size override (bytes); the workload's default otherwise.
    pub message_size: Option<u32>,
    /// The program that runs agents: the cnbench binary (`<exe> agent '<json>'`).
    pub agent_exe: PathBuf,
}

/// How long an agent may take beyond its own duration before it is declared hung.
const AGENT_SLACK: Duration = Duration::from_secs(15);

/// Runs every workload between one pod pair, repetition by repetition. `on_sample` sees each
/// repetition as it completes (so results can be written as they arrive).
pub fn measure_pair(
    plan: &Plan,
    hosts: &std::collections::BTreeMap<String, Host>,
    pair: &MeasurePair,
    datapath: Datapath,
    ctx: &MeasureContext<'_>,
    opts: &MeasureOptions,
    on_sample: &mut dyn FnMut(&MeasurementRecord, &Sample),
) -> Result<Vec<MeasurementRecord>> {
    let client_pod = &plan.pods[pair.client];
    let server_pod = &plan.pods[pair.server];
    let (client_cpu, server_cpu) = opts.placement.cpus();
    let mut records = Vec::new();
    for &workload in &opts.workloads {
        let server_host = &hosts[&server_pod.netns];
        let serve = AgentTask::Serve(ServeConfig {
            workload,
            bind: SocketAddr::from((server_pod.ip.addr(), 0)),
            cpu: Some(server_cpu),
            generator: Default::default(),
        });
        let mut server = Agent::start(server_host, &opts.agent_exe, &serve, "server")?;
        let port = match server.ready_port(Duration::from_secs(5)) {
            Ok(p) => p,
            Err(e) => {
                server.stop();
                return Err(e);
            }
        };
        let mut record = MeasurementRecord {
            workload: workload.name().to_string(),
            variant: None,
            generator: "cnbench".into(),
            client: Endpoint {
                pod: client_pod.role.clone(),
                netns: client_pod.netns.clone(),
                ip: client_pod.ip.addr().to_string(),
            },
            server: Endpoint {
                pod: server_pod.role.clone(),
                netns: server_pod.netns.clone(),
                ip: server_pod.ip.addr().to_string(),
            },
            path: pair.path.clone(),
            // Pods on one node meet on its bridge: a userspace daemon never sees them.
            datapath: if pair.path == "same-node" {
                Datapath::Kernel.as_str().to_string()
            } else {
                datapath.as_str().to_string()
            },
            placement: Placement {
                kind: opts.placement.as_str().to_string(),
                client_cpu,
                server_cpu,
                daemon_cpu: (!ctx.daemons.is_empty()).then(|| crate::backend::DAEMON_CPU.cpus().1),
            },
            repetitions: Vec::new(),
            summary: Vec::new(),
            costs: Vec::new(),
            vs_baseline: Vec::new(),
        };
        let client_cfg = ClientConfig {
            workload,
            target: SocketAddr::from((server_pod.ip.addr(), port)),
            duration_ms: opts.duration.as_millis() as u64,
            warmup_ms: opts.warmup.as_millis() as u64,
            streams: if workload == Workload::TcpStream {
                opts.streams
            } else {
                1
            },
            message_size: opts
                .message_size
                .unwrap_or_else(|| workload.default_message_size()),
            cpu: Some(client_cpu),
            generator: Default::default(),
        };
        let result = (|| -> Result<()> {
            for _ in 0..opts.repeat {
                let mut cost = CostSession::start(
                    hosts,
                    ctx,
                    (&server_pod.netns, server.child.id()),
                    &client_pod.netns,
                    &plan.node_of(client_pod).netns,
                );
                let sample = run_client(
                    &hosts[&client_pod.netns],
                    &opts.agent_exe,
                    &client_cfg,
                    opts,
                    &mut cost,
                )?;
                record.costs.push(cost.finish());
                record.repetitions.push(sample.clone());
                record.summarize();
                on_sample(&record, &sample);
            }
            Ok(())
        })();
        server.stop();
        result?;
        records.push(record);
    }
    Ok(records)
}

fn run_client(
    host: &Host,
    exe: &PathBuf,
    cfg: &ClientConfig,
    opts: &MeasureOptions,
    cost: &mut CostSession,
) -> Result<Sample> {
    let task = AgentTask::Client(cfg.clone());
    let mut agent = Agent::start(host, exe, &task, "client")?;
    cost.watch_client(agent.child.id());
    let limit = opts.duration + opts.warmup + AGENT_SLACK;
    let line = agent.next_line(limit);
    cost.stop_client(agent.child.id());
    let status = agent.stop_and_status();
    let line = line?;
    serde_json::from_str::<Sample>(&line).map_err(|e| HarnessError::Process {
        what: format!("{} client", cfg.workload),
        netns: host.name().to_string(),
        message: format!("unreadable result {line:?} ({e}); exit status {status}"),
    })
}

/// One role's counters during a repetition.
struct RoleProbe {
    role: String,
    netns: String,
    dev: String,
    pid: u32,
    syscalls: Result<SyscallCounter, String>,
    /// Final syscall counts, read when the role's work ended.
    counts: Option<(u64, u64)>,
    cpu_start: Option<u64>,
    cpu_end: Option<u64>,
    packets_start: Option<u64>,
}

/// The cost counters of one repetition: client, server, and the datapath daemons.
struct CostSession<'a> {
    hosts: &'a std::collections::BTreeMap<String, Host>,
    roles: Vec<RoleProbe>,
    client_netns: String,
    client_node_netns: String,
}

impl<'a> CostSession<'a> {
    fn packets(&self, netns: &str, dev: &str) -> Option<u64> {
        self.hosts[netns]
            .nl()
            .link(dev)
            .ok()
            .map(|l| l.rx_packets + l.tx_packets)
    }

    fn probe(&self, role: String, netns: &str, dev: &str, pid: u32) -> RoleProbe {
        RoleProbe {
            role,
            netns: netns.to_string(),
            dev: dev.to_string(),
            pid,
            syscalls: SyscallCounter::attach(pid),
            counts: None,
            cpu_start: cost::cpu_ns(pid),
            cpu_end: None,
            packets_start: self.packets(netns, dev),
        }
    }

    /// Starts counting for the server and the daemons (before the client exists).
    fn start(
        hosts: &'a std::collections::BTreeMap<String, Host>,
        ctx: &MeasureContext<'_>,
        server: (&str, u32),
        client_netns: &str,
        client_node_netns: &str,
    ) -> CostSession<'a> {
        let mut s = CostSession {
            hosts,
            roles: Vec::new(),
            client_netns: client_netns.to_string(),
            client_node_netns: client_node_netns.to_string(),
        };
        s.roles
            .push(s.probe("server".into(), server.0, "eth0", server.1));
        if let Some(dev) = ctx.daemon_device {
            for (what, netns, pid) in ctx.daemons {
                let p = s.probe(what.clone(), netns, dev, *pid);
                s.roles.push(p);
            }
        }
        s
    }

    fn watch_client(&mut self, pid: u32) {
        let mut p = self.probe("client".into(), &self.client_netns.clone(), "eth0", pid);
        // The client's CPU is counted from its start.
        p.cpu_start = Some(0);
        self.roles.insert(0, p);
    }

    /// Reads the client's counters while it still exists (right after its result line).
    fn stop_client(&mut self, pid: u32) {
        if let Some(p) = self.roles.iter_mut().find(|r| r.pid == pid) {
            p.counts = p.syscalls.as_mut().ok().and_then(|c| c.read());
            p.cpu_end = cost::cpu_ns(pid);
        }
    }

    fn finish(mut self) -> CostSample {
        let mut unavailable = None;
        let mut roles = Vec::new();
        for p in &mut self.roles {
            if p.counts.is_none() {
                p.counts = p.syscalls.as_mut().ok().and_then(|c| c.read());
                p.cpu_end = cost::cpu_ns(p.pid);
            }
        }
        for p in &self.roles {
            // A device that could not be read gives no packet count (and no per-packet
            // figures), never a made-up 0.
            let packets = match (self.packets(&p.netns, &p.dev), p.packets_start) {
                (Some(end), Some(start)) => end.saturating_sub(start),
                _ => {
                    unavailable.get_or_insert_with(|| {
                        format!("packet counters of {} in {} unreadable", p.dev, p.netns)
                    });
                    0
                }
            };
            match (&p.syscalls, p.counts) {
                (Err(e), _) => {
                    unavailable.get_or_insert_with(|| e.clone());
                }
                (Ok(_), None) => {
                    unavailable.get_or_insert_with(|| {
                        format!("a syscall counter of {} could not be read", p.role)
                    });
                }
                _ => {}
            }
            let per = |n: u64| (packets > 0).then(|| n as f64 / packets as f64);
            roles.push(RoleCost {
                role: p.role.clone(),
                netns: p.netns.clone(),
                pid: p.pid,
                cpu_ns: match (p.cpu_start, p.cpu_end) {
                    (Some(a), Some(b)) => Some(b.saturating_sub(a)),
                    _ => None,
                },
                syscalls: p.counts.map(|c| c.0),
                data_syscalls: p.counts.map(|c| c.1),
                packets,
                syscalls_per_packet: p.counts.and_then(|c| per(c.0)),
                crossings_per_packet: p.counts.and_then(|c| per(c.1)),
            });
        }
        // The sending node: the client's crossings plus those of its node's daemon, when the
        // daemon is on the path (a same-node pair never reaches it).
        let client = roles
            .iter()
            .find(|r| r.role == "client")
            .and_then(|r| r.crossings_per_packet);
        let daemon = roles.iter().find(|r| {
            r.role != "client"
                && r.role != "server"
                && r.netns == self.client_node_netns
                && r.packets > 0
        });
        let sending = match (client, daemon) {
            (Some(c), Some(d)) => d.crossings_per_packet.map(|d| c + d),
            (c, None) => c,
            (None, Some(_)) => None,
        };
        CostSample {
            roles,
            sending_node_crossings_per_packet: sending,
            syscalls_unavailable: unavailable,
            method: cost::METHOD.to_string(),
        }
    }
}

/// What measurement needs to know beyond the plan: the run's daemons and the device their
/// packets cross.
pub struct MeasureContext<'a> {
    /// `(what, netns, pid)` of each datapath daemon.
    pub daemons: &'a [(String, String, u32)],
    /// The device a daemon moves packets through, in its node (`flannel0`), if the backend
    /// has daemons.
    pub daemon_device: Option<&'a str>,
}

/// A running agent process and a reader of its stdout lines.
struct Agent {
    child: Child,
    lines: mpsc::Receiver<std::io::Result<String>>,
    what: String,
    netns: String,
}

impl Agent {
    fn start(host: &Host, exe: &PathBuf, task: &AgentTask, role: &str) -> Result<Agent> {
        let what = match task {
            AgentTask::Serve(s) => format!("{} {role}", s.workload),
            AgentTask::Client(c) => format!("{} {role}", c.workload),
        };
        let mut cmd = Command::new(exe);
        cmd.arg("agent")
            .arg(task.to_json())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            // A client's stderr is read when it fails; a server lives long and could fill a
            // pipe nobody reads, so its diagnostics go straight to ours.
            .stderr(match task {
                AgentTask::Client(_) => Stdio::piped(),
                AgentTask::Serve(_) => Stdio::inherit(),
            });
        let mut child = host.spawn(cmd, &what)?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Agent {
            child,
            lines: rx,
            what,
            netns: host.name().to_string(),
        })
    }

    fn error(&mut self, message: String) -> HarnessError {
        let mut stderr = String::new();
        if let Ok(Some(_)) = self.child.try_wait() {
            if let Some(mut e) = self.child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut stderr);
            }
        }
        let stderr = stderr.trim();
        HarnessError::Process {
            what: self.what.clone(),
            netns: self.netns.clone(),
            message: if stderr.is_empty() {
                message
            } else {
                format!("{message}: {stderr}")
            },
        }
    }

    /// Waits for the next stdout line, polling for SIGINT/SIGTERM.
    fn next_line(&mut self, limit: Duration) -> Result<String> {
        let deadline = Instant::now() + limit;
        loop {
            if signals::interrupted() {
                return Err(HarnessError::Interrupted);
            }
            match self.lines.recv_timeout(Duration::from_millis(50)) {
                Ok(Ok(line)) => return Ok(line),
                Ok(Err(e)) => return Err(self.error(format!("reading its output: {e}"))),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let _ = self.child.wait();
                    return Err(self.error("exited without a result".into()));
                }
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() >= deadline => {
                    return Err(self.error(format!("no result within {} s", limit.as_secs())));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
        }
    }

    fn ready_port(&mut self, limit: Duration) -> Result<u16> {
        let line = self.next_line(limit)?;
        line.strip_prefix("ready ")
            .and_then(|p| p.trim().parse().ok())
            .ok_or_else(|| self.error(format!("expected `ready <port>`, got {line:?}")))
    }

    fn stop(&mut self) {
        process::stop(&mut self.child, Duration::from_millis(500));
    }

    fn stop_and_status(&mut self) -> String {
        // A client exits by itself once it printed its result.
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s.to_string();
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.stop();
        "killed".into()
    }
}
