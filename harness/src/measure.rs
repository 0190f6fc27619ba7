//! Measurement: workload agents run as separate processes inside the pod namespaces
//! (`cnbench task '<json>'`), pinned to CPUs whose placement is part of the result.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use reports::{Endpoint, MeasurementRecord, Placement, Sample, TracedRepetition};
use workloads::{AgentTask, ClientConfig, Generator, ServeConfig, Workload};

use crate::backend::{Datapath, MeasurePair};
use crate::cost::{CostScope, CostSession, RoleSpec};
pub use crate::cpu::CpuPlacement;
use crate::error::{HarnessError, Result};
use crate::host::Host;
use crate::task::Task;
use crate::topology::{Family, Plan, PodPlan};

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
    /// Which program generates the traffic.
    pub generator: Generator,
    /// Whether each case gets one more repetition with the tracepoint counters on
    /// (syscalls, crossings, device transmissions).
    pub trace: bool,
    /// The program that runs agents: the cnbench binary (`<exe> task '<json>'`).
    pub agent_exe: PathBuf,
    /// Changes made inside the run's namespaces before the first workload
    /// ([`crate::tweak`]).
    pub tweaks: Vec<crate::tweak::Tweak>,
}

/// Longest measurement window of the traced repetition.
pub const TRACED_WINDOW: Duration = Duration::from_millis(300);
/// Longest warm-up of the traced repetition.
pub const TRACED_WARMUP: Duration = Duration::from_millis(100);

/// How long an agent may take beyond its own duration before it is declared hung.
const AGENT_SLACK: Duration = Duration::from_secs(15);

/// One thing measured between a pod pair: a workload at one message size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// The workload.
    pub workload: Workload,
    /// The case's name when the workload has several (`"64 B"`, `"max payload"`).
    pub variant: Option<String>,
    /// Message size, in bytes.
    pub message_size: u32,
}

/// UDP payload of udp-stream's small case, in bytes.
pub const SMALL_UDP_PAYLOAD: u32 = 64;

/// IPv4 + UDP headers, in bytes: the largest unfragmented payload is the path MTU minus this.
const IPV4_UDP_HEADERS: u32 = 28;
/// IPv6 + UDP headers, in bytes (RFC 8200's fixed 40-byte header).
const IPV6_UDP_HEADERS: u32 = 48;

/// The cases of `workload` for a path of `path_mtu` bytes of `family`: udp-stream without a
/// `--message-size` runs two, 64-byte payloads and the largest payload that crosses the path
/// unfragmented; everything else runs one, at the given or the default size.
pub fn cases(
    workload: Workload,
    message_size: Option<u32>,
    path_mtu: u32,
    family: Family,
) -> Vec<Case> {
    let headers = match family {
        Family::V4 => IPV4_UDP_HEADERS,
        Family::V6 => IPV6_UDP_HEADERS,
    };
    match (workload, message_size) {
        (Workload::UdpStream, None) => vec![
            Case {
                workload,
                variant: Some(format!("{SMALL_UDP_PAYLOAD} B")),
                message_size: SMALL_UDP_PAYLOAD,
            },
            Case {
                workload,
                variant: Some("max payload".into()),
                message_size: path_mtu.saturating_sub(headers).max(1),
            },
        ],
        (w, size) => vec![Case {
            workload: w,
            variant: None,
            message_size: size.unwrap_or_else(|| w.default_message_size()),
        }],
    }
}

/// What a pair is measured over: the largest IP packet its path carries, and the family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PairPath {
    /// The path MTU, in bytes.
    pub path_mtu: u32,
    /// The address family.
    pub family: Family,
}

/// Runs every workload between one pod pair over `family` (whose path carries IP packets of
/// up to `path_mtu` bytes), repetition by repetition. A dual-stack run measures each pair
/// once per family; its IPv6 measurements' path is named so (`cross-node ipv6`). `on_update` sees the record after each
/// repetition (with its sample) and after the traced repetition (with `None`), so results can
/// be written as they arrive.
pub fn measure_pair(
    plan: &Plan,
    hosts: &std::collections::BTreeMap<String, Host>,
    pair: &MeasurePair,
    PairPath { path_mtu, family }: PairPath,
    ctx: &MeasureContext<'_>,
    opts: &MeasureOptions,
    on_update: &mut dyn FnMut(&MeasurementRecord, Option<&Sample>),
) -> Result<Vec<MeasurementRecord>> {
    let client_pod = &plan.pods[pair.client];
    let server_pod = &plan.pods[pair.server];
    let addr = |pod: &PodPlan| {
        plan.pod_net(pod, family)
            .map(|n| n.addr())
            .ok_or_else(|| HarnessError::Unsupported {
                what: format!("pod {} has no {family} address", pod.role),
                fix: format!("measure {family} only in a run with --ip-family {family} or dual"),
            })
    };
    let (client_ip, server_ip) = (addr(client_pod)?, addr(server_pod)?);
    let path = if family == Family::V6 && plan.families().len() > 1 {
        format!("{} ipv6", pair.path)
    } else {
        pair.path.clone()
    };
    let (client_cpu, server_cpu) = opts.placement.cpus();
    let generator_name =
        workloads::tool_version(opts.generator).map_err(|e| HarnessError::Unsupported {
            what: format!("generator {}", opts.generator),
            fix: e,
        })?;
    let scope = CostScope {
        client_netns: client_pod.netns.clone(),
        client_node_netns: plan.node_of(client_pod).netns.clone(),
        server_netns: server_pod.netns.clone(),
        server_node_netns: plan.node_of(server_pod).netns.clone(),
        // Only the traced repetition counts transmissions by device name.
        devices: if opts.trace {
            devices(hosts)
        } else {
            Vec::new()
        },
        untraced_endpoints: (opts.generator != Generator::Cnbench).then(|| {
            format!(
                "client and server are {} processes, which are not traced; daemons are",
                opts.generator
            )
        }),
        client_mtu: hosts[&client_pod.netns]
            .nl()
            .link("eth0")
            .ok()
            .map(|l| l.mtu_bytes),
    };
    let mut records = Vec::new();
    for &workload in &opts.workloads {
        let server_host = &hosts[&server_pod.netns];
        let serve = AgentTask::Serve(ServeConfig {
            workload,
            bind: SocketAddr::from((server_ip, 0)),
            cpu: server_host.local_cpu(server_cpu),
            generator: opts.generator,
        });
        let mut server = Task::start(server_host, &opts.agent_exe, &serve, "server")?;
        let port = match server.ready_port(Duration::from_secs(10)) {
            Ok(p) => p,
            Err(e) => {
                server.stop();
                return Err(e);
            }
        };
        let server_spec = RoleSpec {
            role: "server".into(),
            netns: server_pod.netns.clone(),
            dev: Some("eth0".into()),
            pid: server.pid(),
        };
        let mut running = vec![server_spec];
        // Every daemon of the run is a role: a datapath daemon moves packets through its
        // device; a control-plane daemon (BIRD) moves none, but its CPU counts.
        running.extend(ctx.daemons.iter().map(|(what, netns, pid)| RoleSpec {
            role: what.clone(),
            netns: netns.clone(),
            dev: ctx.daemon_device.map(str::to_string),
            pid: *pid,
        }));
        let result = (|| -> Result<()> {
            for case in cases(workload, opts.message_size, path_mtu, family) {
                let mut record = MeasurementRecord {
                    workload: workload.name().to_string(),
                    variant: case.variant.clone(),
                    generator: generator_name.clone(),
                    client: Endpoint {
                        pod: client_pod.role.clone(),
                        netns: client_pod.netns.clone(),
                        ip: client_ip.to_string(),
                    },
                    server: Endpoint {
                        pod: server_pod.role.clone(),
                        netns: server_pod.netns.clone(),
                        ip: server_ip.to_string(),
                    },
                    path: path.clone(),
                    // Pods on one node meet on its bridge: a userspace daemon never sees them.
                    datapath: if pair.path == "same-node" {
                        Datapath::Kernel.as_str().to_string()
                    } else {
                        ctx.datapath.as_str().to_string()
                    },
                    placement: Placement {
                        kind: opts.placement.as_str().to_string(),
                        client_cpu,
                        server_cpu,
                        daemon_cpu: (!ctx.daemons.is_empty())
                            .then(|| crate::backend::DAEMON_CPU.cpus().1),
                    },
                    repetitions: Vec::new(),
                    summary: Vec::new(),
                    costs: Vec::new(),
                    traced: None,
                    vs_baseline: Vec::new(),
                    warnings: Vec::new(),
                };
                let client_cfg = ClientConfig {
                    workload,
                    target: SocketAddr::from((server_ip, port)),
                    duration_ms: opts.duration.as_millis() as u64,
                    warmup_ms: opts.warmup.as_millis() as u64,
                    streams: if workload == Workload::TcpStream {
                        opts.streams
                    } else {
                        1
                    },
                    message_size: case.message_size,
                    cpu: hosts[&client_pod.netns].local_cpu(client_cpu),
                    generator: opts.generator,
                };
                let client_host = &hosts[&client_pod.netns];
                for _ in 0..opts.repeat {
                    let mut cost = CostSession::start(hosts, &scope, &running, false);
                    let sample =
                        run_client(client_host, &opts.agent_exe, &client_cfg, opts, &mut cost)?;
                    record.costs.push(cost.finish());
                    record.repetitions.push(sample.clone());
                    record.summarize();
                    on_update(&record, Some(&sample));
                }
                if opts.trace {
                    // A shorter repetition is enough for per-packet counts, which settle
                    // within thousands of packets.
                    let traced_cfg = ClientConfig {
                        duration_ms: client_cfg.duration_ms.min(TRACED_WINDOW.as_millis() as u64),
                        warmup_ms: client_cfg.warmup_ms.min(TRACED_WARMUP.as_millis() as u64),
                        ..client_cfg.clone()
                    };
                    let mut cost = CostSession::start(hosts, &scope, &running, true);
                    let sample =
                        run_client(client_host, &opts.agent_exe, &traced_cfg, opts, &mut cost)?;
                    record.traced = Some(TracedRepetition {
                        sample,
                        cost: cost.finish(),
                    });
                    on_update(&record, None);
                }
                records.push(record);
            }
            Ok(())
        })();
        server.stop();
        result?;
    }
    Ok(records)
}

/// `(namespace, device)` of every device (but `lo`) in the run's namespaces.
fn devices(hosts: &std::collections::BTreeMap<String, Host>) -> Vec<(String, String)> {
    hosts
        .iter()
        .filter_map(|(ns, h)| Some((ns, h.nl().links().ok()?)))
        .flat_map(|(ns, links)| links.into_iter().map(move |l| (ns.clone(), l.name)))
        .filter(|(_, n)| n != "lo")
        .collect()
}

fn run_client(
    host: &Host,
    exe: &std::path::Path,
    cfg: &ClientConfig,
    opts: &MeasureOptions,
    cost: &mut CostSession,
) -> Result<Sample> {
    let task = AgentTask::Client(cfg.clone());
    let mut agent = Task::start(host, exe, &task, "client")?;
    cost.watch_client(agent.pid());
    let limit = opts.duration + opts.warmup + AGENT_SLACK;
    let line = agent.next_line(limit);
    cost.stop_client(agent.pid());
    let status = agent.stop_and_status();
    let line = line?;
    serde_json::from_str::<Sample>(&line).map_err(|e| HarnessError::Process {
        what: format!("{} client", cfg.workload),
        netns: host.name().to_string(),
        message: format!("unreadable result {line:?} ({e}); exit status {status}"),
    })
}

/// What measurement needs to know beyond the plan: the run's daemons and the device their
/// packets cross.
pub struct MeasureContext<'a> {
    /// Where the backend moves cross-node packets.
    pub datapath: Datapath,
    /// `(what, netns, pid)` of each datapath daemon.
    pub daemons: &'a [(String, String, u32)],
    /// The device a daemon moves packets through, in its node (`flannel0`), if the backend
    /// has daemons.
    pub daemon_device: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_stream_runs_small_and_largest_unfragmented_payloads() {
        let c = cases(Workload::UdpStream, None, 1450, Family::V4);
        assert_eq!(c.len(), 2);
        assert_eq!(
            (c[0].message_size, c[0].variant.as_deref()),
            (64, Some("64 B"))
        );
        // 1450 − 20 (IPv4) − 8 (UDP).
        assert_eq!(
            (c[1].message_size, c[1].variant.as_deref()),
            (1422, Some("max payload"))
        );
        // An explicit size is one case, for every workload.
        let c = cases(Workload::UdpStream, Some(512), 1450, Family::V4);
        assert_eq!(
            (c.len(), c[0].message_size, c[0].variant.clone()),
            (1, 512, None)
        );
        let c = cases(Workload::TcpStream, None, 1450, Family::V4);
        assert_eq!((c.len(), c[0].message_size), (1, 131_072));
        let c = cases(Workload::TcpCrr, Some(100), 1450, Family::V4);
        assert_eq!((c.len(), c[0].message_size), (1, 100));
        // IPv6's header is 40 bytes: 1450 − 40 − 8.
        let c = cases(Workload::UdpStream, None, 1450, Family::V6);
        assert_eq!(c[1].message_size, 1402);
    }
}
