//! The counters of one repetition: started before the client exists, read after it printed
//! its result, turned into a [`CostSample`].

use std::collections::BTreeMap;
use std::time::Instant;

use reports::{CostSample, KernelCounters, MachineCost, RoleCost};

use super::{cpu_ns, CpuTimes, Snmp, SyscallCounter, XmitCounter, METHOD};
use crate::host::Host;

/// Why an untraced repetition has no syscall or device-transmission figures.
const NOT_TRACED: &str = "not traced in this repetition";

/// A process whose cost is attributed to a role.
#[derive(Debug, Clone)]
pub struct RoleSpec {
    /// `client`, `server`, `daemon n0`, `bird n1`.
    pub role: String,
    /// Its namespace.
    pub netns: String,
    /// The device whose packets its syscalls are divided by (`eth0`, `flannel0`); none for
    /// a process that moves no packets (BIRD), which then has no per-packet syscall figures.
    pub dev: Option<String>,
    /// Its pid.
    pub pid: u32,
}

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
    /// Names of every device in the run's namespaces (for `net:net_dev_xmit`).
    pub device_names: Vec<String>,
    /// Why client and server are not traced, when they are not (an external generator's
    /// processes are children the counters would miss).
    pub untraced_endpoints: Option<String>,
    /// The client pod's `eth0` MTU, in bytes: the size of a wire segment for the
    /// per-segment figures.
    pub client_mtu: Option<u32>,
}

/// One role's counters during a repetition.
struct RoleProbe {
    spec: RoleSpec,
    syscalls: Result<SyscallCounter, String>,
    /// Final syscall counts, read when the role's work ended.
    counts: Option<(u64, u64)>,
    /// Whether the final counts were read already (the client's, before it exits).
    stopped: bool,
    cpu_start: Option<u64>,
    cpu_end: Option<u64>,
    packets_start: Option<u64>,
}

/// The cost counters of one repetition.
pub struct CostSession<'a> {
    hosts: &'a BTreeMap<String, Host>,
    scope: &'a CostScope,
    traced: bool,
    roles: Vec<RoleProbe>,
    started: Instant,
    machine_start: Result<CpuTimes, String>,
    xmit: Result<(XmitCounter, u64), String>,
    device_tx_start: Option<u64>,
    snmp_start: Result<Vec<(String, Snmp)>, String>,
    workload_start: Option<(u64, u64)>,
    /// `[tx packets, tx bytes, rx packets, rx bytes]` of the client pod's `eth0` at the start.
    directions_start: Option<[u64; 4]>,
}

impl<'a> CostSession<'a> {
    /// Starts every counter: the machine's, the devices', the kernel's, and those of the
    /// roles already running (server, daemons). The client is added with
    /// [`CostSession::watch_client`] once it exists.
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
        let xmit = if traced {
            XmitCounter::start(&scope.device_names).and_then(|mut c| {
                let start = c.read().ok_or("net:net_dev_xmit counters unreadable")?;
                Ok((c, start))
            })
        } else {
            Err(NOT_TRACED.into())
        };
        let mut s = CostSession {
            hosts,
            scope,
            traced,
            roles: Vec::new(),
            started: Instant::now(),
            machine_start: CpuTimes::now(),
            xmit,
            device_tx_start: None,
            snmp_start: Err(String::new()),
            workload_start: None,
            directions_start: None,
        };
        s.device_tx_start = s.device_tx();
        s.snmp_start = s.snmp();
        s.workload_start = s.link_counts(&scope.client_netns, "eth0");
        s.directions_start = s.directions(&scope.client_netns);
        for spec in running {
            if s.is_here(&spec.netns) {
                let p = s.probe(spec.clone());
                s.roles.push(p);
            }
        }
        s
    }

    /// Whether a namespace is on this machine: per-process counters read `/proc/<pid>` and
    /// trace pids here, and a process on a node agent's machine (a VM) has a pid that means
    /// something else here.
    fn is_here(&self, netns: &str) -> bool {
        self.hosts.get(netns).is_some_and(|h| h.local().is_some())
    }

    fn untraced(&self, spec: &RoleSpec) -> bool {
        self.scope.untraced_endpoints.is_some() && (spec.role == "client" || spec.role == "server")
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

    fn probe(&self, spec: RoleSpec) -> RoleProbe {
        RoleProbe {
            syscalls: match (self.traced, &self.scope.untraced_endpoints) {
                (false, _) => Err(NOT_TRACED.into()),
                (true, Some(why)) if self.untraced(&spec) => Err(why.clone()),
                (true, _) => SyscallCounter::attach(spec.pid),
            },
            counts: None,
            stopped: false,
            cpu_start: cpu_ns(spec.pid),
            cpu_end: None,
            packets_start: match &spec.dev {
                Some(dev) => self.link_counts(&spec.netns, dev).map(|c| c.0),
                None => Some(0),
            },
            spec,
        }
    }

    /// Starts counting for the client, which has just been started (its CPU is counted from
    /// its start).
    pub fn watch_client(&mut self, pid: u32) {
        if !self.is_here(&self.scope.client_netns) {
            return;
        }
        let spec = RoleSpec {
            role: "client".into(),
            netns: self.scope.client_netns.clone(),
            dev: Some("eth0".into()),
            pid,
        };
        let mut p = self.probe(spec);
        p.cpu_start = Some(0);
        self.roles.insert(0, p);
    }

    /// Reads the client's counters while it still exists (right after its result line).
    pub fn stop_client(&mut self, pid: u32) {
        if !self.is_here(&self.scope.client_netns) {
            return;
        }
        if let Some(p) = self.roles.iter_mut().find(|r| r.spec.pid == pid) {
            p.counts = p.syscalls.as_mut().ok().and_then(|c| c.read());
            p.cpu_end = cpu_ns(pid);
            p.stopped = true;
        }
    }

    /// Reads every counter and computes the figures.
    pub fn finish(mut self) -> CostSample {
        for p in &mut self.roles {
            if !p.stopped {
                p.counts = p.syscalls.as_mut().ok().and_then(|c| c.read());
                p.cpu_end = cpu_ns(p.spec.pid);
            }
        }
        let interval_ns = self.started.elapsed().as_nanos() as u64;
        let machine_end = CpuTimes::now();
        let xmit_end = match &mut self.xmit {
            Ok((c, start)) => c
                .read()
                .map(|end| end.saturating_sub(*start))
                .ok_or_else(|| "net:net_dev_xmit counters unreadable".to_string()),
            Err(e) => Err(e.clone()),
        };
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
        let mut roles = Vec::new();
        // Namespaces where a role's device could not be read: their node's crossings would
        // be missing that role's share, so they are not given at all.
        let mut unreadable: Vec<String> = Vec::new();
        for p in &self.roles {
            // A device that could not be read gives no packet count (and no per-packet
            // figures), never a made-up 0.
            let own_packets = match (&p.spec.dev, p.packets_start) {
                (None, _) => 0,
                (Some(dev), Some(start)) => match self.link_counts(&p.spec.netns, dev) {
                    Some(end) => end.0.saturating_sub(start),
                    None => {
                        unreadable.push(p.spec.netns.clone());
                        syscalls_unavailable.get_or_insert_with(|| {
                            format!("packet counters of {dev} in {} unreadable", p.spec.netns)
                        });
                        0
                    }
                },
                (Some(dev), None) => {
                    unreadable.push(p.spec.netns.clone());
                    syscalls_unavailable.get_or_insert_with(|| {
                        format!("packet counters of {dev} in {} unreadable", p.spec.netns)
                    });
                    0
                }
            };
            match (&p.syscalls, p.counts) {
                (Err(e), _) => {
                    syscalls_unavailable.get_or_insert_with(|| e.clone());
                }
                (Ok(_), None) => {
                    syscalls_unavailable.get_or_insert_with(|| {
                        format!("a syscall counter of {} could not be read", p.spec.role)
                    });
                }
                _ => {}
            }
            let per = |n: u64| (own_packets > 0).then(|| n as f64 / own_packets as f64);
            let cpu = match (p.cpu_start, p.cpu_end) {
                (Some(a), Some(b)) => Some(b.saturating_sub(a)),
                _ => None,
            };
            roles.push(RoleCost {
                role: p.spec.role.clone(),
                netns: p.spec.netns.clone(),
                pid: p.spec.pid,
                cpu_ns: cpu,
                syscalls: p.counts.map(|c| c.0),
                data_syscalls: p.counts.map(|c| c.1),
                packets: own_packets,
                syscalls_per_packet: p.counts.and_then(|c| per(c.0)),
                crossings_per_packet: p.counts.and_then(|c| per(c.1)),
                cpu_s_per_gb: cpu.and_then(per_gb),
                cpu_s_per_mpacket: cpu.and_then(per_mpacket),
            });
        }

        let (machine, machine_unavailable) = match (&self.machine_start, &machine_end) {
            (Ok(a), Ok(b)) => {
                let used = a.until(b);
                let roles_ns: u64 = roles.iter().filter_map(|r| r.cpu_ns).sum();
                (
                    Some(MachineCost {
                        cpus: used.cpus,
                        busy_ns: used.busy_ns,
                        softirq_ns: used.softirq_ns,
                        outside_roles_ns: used
                            .busy_ns
                            .saturating_sub(used.softirq_ns)
                            .saturating_sub(roles_ns),
                        cpu_s_per_gb: per_gb(used.busy_ns),
                        cpu_s_per_mpacket: per_mpacket(used.busy_ns),
                    }),
                    None,
                )
            }
            (Err(e), _) | (_, Err(e)) => (None, Some(e.clone())),
        };

        let (device_xmits, device_xmits_unavailable) = match xmit_end {
            Ok(n) => (Some(n), None),
            Err(e) => (None, Some(e)),
        };
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
