//! The counters of one repetition: started before the client exists, read after it printed
//! its result, turned into a [`CostSample`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use reports::{CostSample, KernelCounters, MachineCost, NodeMachineCost, RoleCost};

use super::window::{RoleReading, RoleSpec, Window, WindowReading, NOT_TRACED};
use super::{Snmp, METHOD};
use crate::host::Host;
use crate::remote::client::CALL_TIMEOUT;
use crate::remote::protocol::{Call, Reply};
use crate::remote::AgentClient;

/// Where a repetition's traffic runs: the namespaces whose counters matter.
#[derive(Debug, Clone)]
pub struct CostScope {
    /// The client pod's namespace (its `eth0` counts the workload's packets).
    pub client_netns: String,
    /// The client's node.
    pub client_node_netns: String,
    /// The server pod's namespace.
    pub server_netns: String,
    /// The server's node.
    pub server_node_netns: String,
    /// `(namespace, device)` of every device (but `lo`) in the run's namespaces: each
    /// machine's tracepoint counter of `net:net_dev_xmit` is filtered by the names of the
    /// devices on that machine. Empty for untraced runs.
    pub devices: Vec<(String, String)>,
    /// Why client and server are not traced, when they are not (an external generator's
    /// processes are children the counters would miss).
    pub untraced_endpoints: Option<String>,
    /// The client pod's `eth0` MTU, in bytes: the size of a wire segment for the
    /// per-segment figures.
    pub client_mtu: Option<u32>,
}

/// A cost window on a node agent's machine.
struct RemoteWindow<'a> {
    agent: &'a Arc<AgentClient>,
    /// The window's id there, or why it could not be opened.
    id: Result<u64, String>,
    /// Why a role's counters there could not be started or read (a failed `CostWatch`).
    lost: Vec<String>,
}

/// The cost counters of one repetition: a window on this machine for the roles here, one
/// on each node agent's machine for the roles there (through the agent, which measures
/// its own processes and kernel), and the run-wide counters the harness reads itself
/// (device counters by netlink, SNMP).
pub struct CostSession<'a> {
    hosts: &'a BTreeMap<String, Host>,
    scope: &'a CostScope,
    traced: bool,
    /// This machine's window (taken when it ends).
    here: Option<Window>,
    remote: Vec<RemoteWindow<'a>>,
    /// The roles' names in the order they were given (the client first once watched).
    order: Vec<String>,
    started: Instant,
    device_tx_start: Option<u64>,
    snmp_start: Result<Vec<(String, Snmp)>, String>,
    workload_start: Option<(u64, u64)>,
    /// `[tx packets, tx bytes, rx packets, rx bytes]` of the client pod's `eth0` at the start.
    directions_start: Option<[u64; 4]>,
}

/// Which machine a host is on: this one (`None`) or a node agent's.
fn agent_of(host: &Host) -> Option<&Arc<AgentClient>> {
    host.agent()
}

/// A call of a cost window, with the agent's failure in words.
fn cost_call(agent: &AgentClient, call: Call) -> Result<Reply, String> {
    agent.call(call, CALL_TIMEOUT).map_err(|e| e.to_string())
}

impl<'a> CostSession<'a> {
    /// Starts every counter: the machine's, the devices', the kernel's, and those of the
    /// roles already running (server, daemons), each on the machine its process runs on.
    /// The client is added with [`CostSession::watch_client`] once it exists.
    ///
    /// With `traced` false, the tracepoint counters (syscalls, device transmissions) stay
    /// off: they cost time on every syscall and every packet, which would slow the very
    /// figures being measured.
    pub fn start(
        hosts: &'a BTreeMap<String, Host>,
        scope: &'a CostScope,
        running: &[RoleSpec],
        traced: bool,
    ) -> CostSession<'a> {
        // Every distinct agent of the run's hosts: each node machine's CPU is reported.
        let mut agents: Vec<&'a Arc<AgentClient>> = Vec::new();
        for h in hosts.values() {
            if let Some(a) = agent_of(h) {
                if !agents.iter().any(|b| Arc::ptr_eq(a, b)) {
                    agents.push(a);
                }
            }
        }
        let on = |netns: &str, agent: Option<&Arc<AgentClient>>| {
            hosts
                .get(netns)
                .is_some_and(|h| match (agent_of(h), agent) {
                    (None, None) => true,
                    (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                    _ => false,
                })
        };
        let roles_on = |agent: Option<&Arc<AgentClient>>| -> Vec<RoleSpec> {
            running
                .iter()
                .filter(|r| on(&r.netns, agent))
                .cloned()
                .collect()
        };
        let devices_on = |agent: Option<&Arc<AgentClient>>| -> Vec<String> {
            let mut v: Vec<String> = scope
                .devices
                .iter()
                .filter(|(ns, _)| on(ns, agent))
                .map(|(_, d)| d.clone())
                .collect();
            v.sort();
            v.dedup();
            v
        };
        let packets = |netns: &str, dev: &str| local_packets(hosts, netns, dev);
        let here = Window::start(
            &roles_on(None),
            &devices_on(None),
            traced,
            scope.untraced_endpoints.clone(),
            &packets,
        );
        let remote = agents
            .into_iter()
            .map(|agent| {
                let call = Call::CostStart {
                    roles: roles_on(Some(agent)),
                    devices: devices_on(Some(agent)),
                    traced,
                    untraced_endpoints: scope.untraced_endpoints.clone(),
                };
                let id = match cost_call(agent, call) {
                    Ok(Reply::CostStarted { cost_id }) => Ok(cost_id),
                    Ok(other) => Err(format!("answered a cost window with {other:?}")),
                    Err(e) => Err(e),
                };
                RemoteWindow {
                    agent,
                    id,
                    lost: Vec::new(),
                }
            })
            .collect();
        let mut s = CostSession {
            hosts,
            scope,
            traced,
            here: Some(here),
            remote,
            order: running.iter().map(|r| r.role.clone()).collect(),
            started: Instant::now(),
            device_tx_start: None,
            snmp_start: Err(String::new()),
            workload_start: None,
            directions_start: None,
        };
        s.device_tx_start = s.device_tx();
        s.snmp_start = s.snmp();
        s.workload_start = s.link_counts(&scope.client_netns, "eth0");
        s.directions_start = s.directions(&scope.client_netns);
        s
    }

    /// The window of the machine `netns` is on: `None` for this machine, else the index of
    /// its agent's window; `Err` when the namespace is not one of the run's.
    fn window_of(&self, netns: &str) -> Result<Option<usize>, ()> {
        let host = self.hosts.get(netns).ok_or(())?;
        match agent_of(host) {
            None => Ok(None),
            Some(a) => self
                .remote
                .iter()
                .position(|w| Arc::ptr_eq(w.agent, a))
                .map(Some)
                .ok_or(()),
        }
    }

    /// `(packets, bytes)` sent plus received by `dev` in `netns`.
    fn link_counts(&self, netns: &str, dev: &str) -> Option<(u64, u64)> {
        let l = self.hosts.get(netns)?.nl().link(dev).ok()?;
        Some((l.rx_packets + l.tx_packets, l.rx_bytes + l.tx_bytes))
    }

    /// `[tx packets, tx bytes, rx packets, rx bytes]` of `eth0` in `netns`.
    fn directions(&self, netns: &str) -> Option<[u64; 4]> {
        let l = self.hosts.get(netns)?.nl().link("eth0").ok()?;
        Some([l.tx_packets, l.tx_bytes, l.rx_packets, l.rx_bytes])
    }

    /// Wire segments through the client pod's `eth0` during the repetition: in each
    /// direction, the larger of its packets and its bytes in frames of the MTU plus the
    /// 14-byte Ethernet header (rounded up). A GSO super-packet of 64 KB counts as the
    /// 45 segments it leaves the machine as; a small packet (an ACK) as one.
    fn wire_segments(&self) -> Option<u64> {
        let mtu = u64::from(self.scope.client_mtu?);
        let start = self.directions_start?;
        let end = self.directions(&self.scope.client_netns)?;
        let d: Vec<u64> = end
            .iter()
            .zip(start)
            .map(|(e, s)| e.saturating_sub(s))
            .collect();
        let frame = mtu + 14;
        let seg = |packets: u64, bytes: u64| packets.max(bytes.div_ceil(frame));
        let n = seg(d[0], d[1]) + seg(d[2], d[3]);
        (n > 0).then_some(n)
    }

    /// Packets sent by every device (but `lo`) of every namespace of the run.
    fn device_tx(&self) -> Option<u64> {
        let mut total = 0;
        for host in self.hosts.values() {
            for l in host.nl().links().ok()? {
                if l.name != "lo" {
                    total += l.tx_packets;
                }
            }
        }
        Some(total)
    }

    /// The namespaces whose SNMP counters are read: client, server and their nodes.
    fn snmp_namespaces(&self) -> Vec<&str> {
        let s = self.scope;
        let mut v = vec![
            s.client_netns.as_str(),
            s.server_netns.as_str(),
            s.client_node_netns.as_str(),
            s.server_node_netns.as_str(),
        ];
        v.sort();
        v.dedup();
        v
    }

    fn snmp(&self) -> Result<Vec<(String, Snmp)>, String> {
        self.snmp_namespaces()
            .into_iter()
            .map(|ns| {
                let host = self
                    .hosts
                    .get(ns)
                    .ok_or_else(|| format!("namespace {ns} is not open"))?;
                let text = host.proc_net("snmp").map_err(|e| e.to_string())?;
                let read = Snmp::parse(&text)
                    .ok_or_else(|| format!("{ns}: /proc/net/snmp: unexpected format"))?;
                Ok((ns.to_string(), read))
            })
            .collect()
    }

    /// Starts counting for the client, which has just been started (its CPU is counted from
    /// its start), on the machine it runs on.
    pub fn watch_client(&mut self, pid: u32) {
        let spec = RoleSpec {
            role: "client".into(),
            netns: self.scope.client_netns.clone(),
            dev: Some("eth0".into()),
            pid,
        };
        self.order.insert(0, "client".into());
        match self.window_of(&self.scope.client_netns) {
            Ok(None) => {
                let hosts = self.hosts;
                let packets = |netns: &str, dev: &str| local_packets(hosts, netns, dev);
                if let Some(w) = &mut self.here {
                    w.watch(spec, &packets);
                }
            }
            Ok(Some(i)) => {
                let w = &mut self.remote[i];
                let sent = match &w.id {
                    Ok(id) => cost_call(
                        w.agent,
                        Call::CostWatch {
                            cost_id: *id,
                            role: spec,
                        },
                    )
                    .map(|_| ()),
                    Err(_) => Ok(()),
                };
                if let Err(e) = sent {
                    w.lost
                        .push(format!("the client's counters on {}: {e}", w.agent.node()));
                }
            }
            Err(()) => {}
        }
    }

    /// Reads the client's counters while it still exists (right after its result line).
    pub fn stop_client(&mut self, pid: u32) {
        match self.window_of(&self.scope.client_netns) {
            Ok(None) => {
                if let Some(w) = &mut self.here {
                    w.stop_role(pid);
                }
            }
            Ok(Some(i)) => {
                let w = &mut self.remote[i];
                if let Ok(id) = &w.id {
                    let call = Call::CostStopRole { cost_id: *id, pid };
                    if let Err(e) = cost_call(w.agent, call) {
                        w.lost
                            .push(format!("the client's counters on {}: {e}", w.agent.node()));
                    }
                }
            }
            Err(()) => {}
        }
    }

    /// Reads every counter and computes the figures.
    pub fn finish(mut self) -> CostSample {
        let hosts = self.hosts;
        let packets_here = |netns: &str, dev: &str| local_packets(hosts, netns, dev);
        let here = match self.here.take() {
            Some(w) => w.end(&packets_here),
            // `finish` consumes the session: its window cannot have ended before.
            None => WindowReading {
                interval_ns: 0,
                roles: Vec::new(),
                machine: Err("the cost window had ended".into()),
                device_xmits: Err("the cost window had ended".into()),
            },
        };
        // Each agent's window: what it saw, or why there is nothing.
        let remote: Vec<(String, Result<WindowReading, String>)> = self
            .remote
            .iter()
            .map(|w| {
                let node = w.agent.node().to_string();
                let reading = w.id.clone().and_then(|id| {
                    match cost_call(w.agent, Call::CostEnd { cost_id: id })? {
                        Reply::Cost(r) => Ok(r),
                        other => Err(format!("answered a cost window's end with {other:?}")),
                    }
                });
                (node, reading)
            })
            .collect();
        let interval_ns = self.started.elapsed().as_nanos() as u64;
        let device_tx_end = self.device_tx();
        let wire_segments = self.wire_segments();
        let snmp_end = self.snmp();
        let workload = match (
            self.workload_start,
            self.link_counts(&self.scope.client_netns, "eth0"),
        ) {
            (Some(a), Some(b)) => Some((b.0.saturating_sub(a.0), b.1.saturating_sub(a.1))),
            _ => None,
        };
        let packets = workload.map(|w| w.0).filter(|p| *p > 0);
        let bytes = workload.map(|w| w.1).filter(|b| *b > 0);
        let per_gb = |ns: u64| bytes.map(|b| ns as f64 / b as f64);
        let per_mpacket = |ns: u64| packets.map(|p| ns as f64 / p as f64 / 1_000.0);

        let mut syscalls_unavailable = self.scope.untraced_endpoints.clone();
        if !self.traced {
            syscalls_unavailable = Some(NOT_TRACED.into());
        }
        // A machine whose window failed has no figures for its roles: said, never zero.
        for (node, r) in &remote {
            if let Err(e) = r {
                syscalls_unavailable
                    .get_or_insert_with(|| format!("the cost window on {node}: {e}"));
            }
        }
        for w in &self.remote {
            if let Some(e) = w.lost.first() {
                syscalls_unavailable.get_or_insert_with(|| e.clone());
            }
        }
        let mut readings: Vec<&RoleReading> = here.roles.iter().collect();
        for r in remote.iter().filter_map(|(_, r)| r.as_ref().ok()) {
            readings.extend(r.roles.iter());
        }
        let rank = |role: &str| {
            self.order
                .iter()
                .position(|o| o == role)
                .unwrap_or(usize::MAX)
        };
        readings.sort_by_key(|r| rank(&r.spec.role));

        let mut roles = Vec::new();
        // Namespaces where a role's device could not be read: their node's crossings would
        // be missing that role's share, so they are not given at all.
        let mut unreadable: Vec<String> = Vec::new();
        for p in readings {
            // A device that could not be read gives no packet count (and no per-packet
            // figures), never a made-up 0.
            let own_packets = match &p.packets {
                Ok(n) => *n,
                Err(e) => {
                    unreadable.push(p.spec.netns.clone());
                    syscalls_unavailable.get_or_insert_with(|| e.clone());
                    0
                }
            };
            let counts = match &p.syscalls {
                Ok(c) => Some(*c),
                Err(e) => {
                    syscalls_unavailable.get_or_insert_with(|| e.clone());
                    None
                }
            };
            let per = |n: u64| (own_packets > 0).then(|| n as f64 / own_packets as f64);
            roles.push(RoleCost {
                role: p.spec.role.clone(),
                netns: p.spec.netns.clone(),
                pid: p.spec.pid,
                cpu_ns: p.cpu_ns,
                syscalls: counts.map(|c| c.0),
                data_syscalls: counts.map(|c| c.1),
                packets: own_packets,
                syscalls_per_packet: counts.and_then(|c| per(c.0)),
                crossings_per_packet: counts.and_then(|c| per(c.1)),
                cpu_s_per_gb: p.cpu_ns.and_then(per_gb),
                cpu_s_per_mpacket: p.cpu_ns.and_then(per_mpacket),
            });
        }

        // A machine's CPU, less that of the roles that ran on it.
        let machine_cost = |r: &WindowReading| -> Result<MachineCost, String> {
            let used = r.machine.clone()?;
            let roles_ns: u64 = r.roles.iter().filter_map(|r| r.cpu_ns).sum();
            Ok(MachineCost {
                cpus: used.cpus,
                busy_ns: used.busy_ns,
                softirq_ns: used.softirq_ns,
                outside_roles_ns: used
                    .busy_ns
                    .saturating_sub(used.softirq_ns)
                    .saturating_sub(roles_ns),
                cpu_s_per_gb: per_gb(used.busy_ns),
                cpu_s_per_mpacket: per_mpacket(used.busy_ns),
            })
        };
        let (machine, machine_unavailable) = split(machine_cost(&here));
        let machines: Vec<NodeMachineCost> = remote
            .iter()
            .map(|(node, r)| {
                let (machine, machine_unavailable) =
                    split(r.as_ref().map_err(Clone::clone).and_then(machine_cost));
                let (device_xmits, device_xmits_unavailable) = split(
                    r.as_ref()
                        .map_err(Clone::clone)
                        .and_then(|r| r.device_xmits.clone()),
                );
                NodeMachineCost {
                    node: node.clone(),
                    machine,
                    machine_unavailable,
                    device_xmits,
                    device_xmits_unavailable,
                }
            })
            .collect();

        // Every machine's transmissions: a packet is transmitted by a device on exactly one
        // machine, so the sum is the run's; one machine's missing count makes it missing.
        let mut xmits = here.device_xmits.clone();
        for m in &machines {
            xmits = match (xmits, m.device_xmits, &m.device_xmits_unavailable) {
                (Ok(a), Some(b), _) => Ok(a + b),
                (Err(e), _, _) => Err(e),
                (Ok(_), None, why) => Err(format!(
                    "on {}: {}",
                    m.node,
                    why.clone().unwrap_or_else(|| "not counted".into())
                )),
            };
        }
        if !self.traced {
            xmits = Err(NOT_TRACED.into());
        }
        let (device_xmits, device_xmits_unavailable) = split(xmits);
        let device_tx_per_packet = match (self.device_tx_start, device_tx_end, packets) {
            (Some(a), Some(b), Some(p)) => Some(b.saturating_sub(a) as f64 / p as f64),
            _ => None,
        };

        let (kernel, kernel_unavailable) = match (&self.snmp_start, &snmp_end) {
            (Ok(before), Ok(after)) => {
                let mut k = KernelCounters::default();
                for ((ns, b), (_, a)) in before.iter().zip(after) {
                    a.add_change(b, &mut k);
                    k.namespaces.push(ns.clone());
                }
                (Some(k), None)
            }
            (Err(e), _) | (_, Err(e)) => (None, Some(e.clone())),
        };

        let node = |endpoint: &str, node_netns: &str| {
            if unreadable.iter().any(|n| n == node_netns) {
                None
            } else {
                self.node_crossings(&roles, endpoint, node_netns)
            }
        };
        let sending = node("client", &self.scope.client_node_netns);
        let receiving = node("server", &self.scope.server_node_netns);
        // The same figures per wire segment. A node's crossings are counted again from the
        // raw syscall counts: its per-packet figure adds the endpoint's per `eth0` packet to
        // the daemon's per TUN packet, two different denominators.
        let per_segment = |count: Option<u64>| match (count, wire_segments) {
            (Some(c), Some(n)) => Some(c as f64 / n as f64),
            _ => None,
        };
        let node_syscalls = |endpoint: &str, node_netns: &str| {
            if unreadable.iter().any(|n| n == node_netns) {
                return None;
            }
            let own = roles.iter().find(|r| r.role == endpoint)?.data_syscalls?;
            let daemon = roles.iter().find(|r| {
                r.role != "client" && r.role != "server" && r.netns == node_netns && r.packets > 0
            });
            match daemon {
                Some(d) => d.data_syscalls.map(|d| own + d),
                None => Some(own),
            }
        };
        let device_tx = match (self.device_tx_start, device_tx_end) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a)),
            _ => None,
        };
        CostSample {
            interval_ns,
            traced: self.traced,
            packets,
            bytes,
            machine,
            machine_unavailable,
            machines,
            device_xmits,
            device_xmits_per_packet: device_xmits.zip(packets).map(|(x, p)| x as f64 / p as f64),
            device_xmits_unavailable,
            device_tx_per_packet,
            kernel,
            kernel_unavailable,
            wire_segments,
            device_tx_per_segment: per_segment(device_tx),
            sending_node_crossings_per_segment: per_segment(
                node_syscalls("client", &self.scope.client_node_netns)
                    .filter(|_| sending.is_some()),
            ),
            receiving_node_crossings_per_segment: per_segment(
                node_syscalls("server", &self.scope.server_node_netns)
                    .filter(|_| receiving.is_some()),
            ),
            sending_node_crossings_per_packet: sending,
            receiving_node_crossings_per_packet: receiving,
            syscalls_unavailable,
            method: METHOD.to_string(),
            roles,
        }
    }

    /// Crossings per packet on one node: the endpoint's data syscalls per packet plus those
    /// of its node's daemon, when the daemon is on the path (a same-node pair never reaches
    /// it).
    fn node_crossings(&self, roles: &[RoleCost], endpoint: &str, node_netns: &str) -> Option<f64> {
        let own = roles
            .iter()
            .find(|r| r.role == endpoint)
            .and_then(|r| r.crossings_per_packet);
        let daemon = roles.iter().find(|r| {
            r.role != "client" && r.role != "server" && r.netns == node_netns && r.packets > 0
        });
        match (own, daemon) {
            (Some(c), Some(d)) => d.crossings_per_packet.map(|d| c + d),
            (c, None) => c,
            (None, Some(_)) => None,
        }
    }
}

/// A figure and why it is missing, as the result has them.
fn split<T>(r: Result<T, String>) -> (Option<T>, Option<String>) {
    match r {
        Ok(v) => (Some(v), None),
        Err(e) => (None, Some(e)),
    }
}

/// Packets sent plus received by `dev` in `netns`, a namespace of this machine.
fn local_packets(hosts: &BTreeMap<String, Host>, netns: &str, dev: &str) -> Result<u64, String> {
    let unreadable = || format!("packet counters of {dev} in {netns} unreadable");
    let l = hosts
        .get(netns)
        .ok_or_else(unreadable)?
        .nl()
        .link(dev)
        .map_err(|e| format!("{}: {e}", unreadable()))?;
    Ok(l.rx_packets + l.tx_packets)
}
