//! A cost window on one machine: the counters of the roles whose processes run on it, the
//! machine's CPU (`/proc/stat`) and the device transmissions its kernel sees
//! (`net:net_dev_xmit`). The harness opens one on its own machine; a node agent opens one on
//! its machine when the harness asks ([`crate::remote::protocol::Call::CostStart`]), since
//! pids, `/proc` and tracepoints mean something only on the machine they belong to.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::process::TaskClock;
use super::{cpu_ns, CpuTimes, SyscallCounter, XmitCounter};

/// Why an untraced repetition has no syscall or device-transmission figures.
pub(crate) const NOT_TRACED: &str = "not traced in this repetition";

/// A process whose cost is attributed to a role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleSpec {
    /// `client`, `server`, `daemon n0`, `bird n1`.
    pub role: String,
    /// Its namespace.
    pub netns: String,
    /// The device whose packets its syscalls are divided by (`eth0`, `flannel0`); none for
    /// a process that moves no packets (BIRD), which then has no per-packet syscall figures.
    pub dev: Option<String>,
    /// Its pid on the machine it runs on (for a process a node agent started, the pid the
    /// agent gave in `Reply::Spawned`).
    pub pid: u32,
}

/// How a window reads the packets (sent plus received) of device `dev` in namespace `netns`
/// on its machine.
pub type PacketCounter<'a> = &'a dyn Fn(&str, &str) -> Result<u64, String>;

/// What a window saw of one role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleReading {
    /// The role.
    pub spec: RoleSpec,
    /// CPU time it used during the window, in nanoseconds; none when its `/proc` entries
    /// could not be read (it was gone).
    pub cpu_ns: Option<u64>,
    /// `(all syscalls, data-moving syscalls)` it entered during the window, or why they
    /// were not counted.
    pub syscalls: Result<(u64, u64), String>,
    /// Packets sent plus received by its device during the window (0 for a role without a
    /// device), or why its device could not be read.
    pub packets: Result<u64, String>,
}

/// What a window saw on its machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowReading {
    /// How long the window was open, in nanoseconds.
    pub interval_ns: u64,
    /// The roles, in the order they were added.
    pub roles: Vec<RoleReading>,
    /// The machine's CPU use during the window (all CPUs), or why it could not be read.
    pub machine: Result<CpuTimes, String>,
    /// Transmissions by devices with the window's device names (`net:net_dev_xmit` on every
    /// CPU), or why they were not counted.
    pub device_xmits: Result<u64, String>,
}

/// One role's counters.
struct Probe {
    spec: RoleSpec,
    syscalls: Result<SyscallCounter, String>,
    /// Final syscall counts, once read.
    counts: Option<Option<(u64, u64)>>,
    cpu_start: Option<u64>,
    cpu_end: Option<u64>,
    /// For a role watched from its start (the client): its CPU time when watching began
    /// and the kernel's count from then on, for when it is gone before its end is read.
    clock: Option<(u64, TaskClock)>,
    packets_start: Result<u64, String>,
    /// Why nothing of this role is read (a node agent refuses a pid outside its session).
    refused: Option<String>,
}

impl Probe {
    /// The role's CPU time so far, from `/proc/<pid>` while it exists, else from its
    /// task clock (a watched role that has exited already).
    fn cpu_now(&mut self) -> Option<u64> {
        if self.refused.is_some() {
            return None;
        }
        cpu_ns(self.spec.pid).or_else(|| {
            let (base, clock) = self.clock.as_mut()?;
            Some(*base + clock.read()?)
        })
    }
}

/// The counters of one repetition on one machine.
pub struct Window {
    traced: bool,
    untraced_endpoints: Option<String>,
    roles: Vec<Probe>,
    started: Instant,
    machine_start: Result<CpuTimes, String>,
    /// The tracepoint counter and its value at the start; `None` when the run has no device
    /// on this machine (nothing of the run can be transmitted here: a true 0).
    xmit: Result<Option<(XmitCounter, u64)>, String>,
}

impl Window {
    /// Starts the machine's counters and those of `roles` (already running). With `traced`
    /// false the tracepoint counters stay off (they slow every syscall and packet). When
    /// `untraced_endpoints` says why, client and server get no syscall counters (an external
    /// generator's processes are children the counters would miss).
    pub fn start(
        roles: &[RoleSpec],
        devices: &[String],
        traced: bool,
        untraced_endpoints: Option<String>,
        packets: PacketCounter,
    ) -> Window {
        let xmit = match (traced, devices.is_empty()) {
            (false, _) => Err(NOT_TRACED.to_string()),
            (true, true) => Ok(None),
            (true, false) => XmitCounter::start(devices).and_then(|mut c| {
                let start = c.read().ok_or("net:net_dev_xmit counters unreadable")?;
                Ok(Some((c, start)))
            }),
        };
        let mut w = Window {
            traced,
            untraced_endpoints,
            roles: Vec::new(),
            started: Instant::now(),
            machine_start: CpuTimes::now(),
            xmit,
        };
        for spec in roles {
            let p = w.probe(spec.clone(), packets);
            w.roles.push(p);
        }
        w
    }

    fn probe(&self, spec: RoleSpec, packets: PacketCounter) -> Probe {
        let endpoint = spec.role == "client" || spec.role == "server";
        Probe {
            syscalls: match (self.traced, &self.untraced_endpoints) {
                (false, _) => Err(NOT_TRACED.into()),
                (true, Some(why)) if endpoint => Err(why.clone()),
                (true, _) => SyscallCounter::attach(spec.pid),
            },
            counts: None,
            cpu_start: cpu_ns(spec.pid),
            cpu_end: None,
            clock: None,
            refused: None,
            packets_start: match &spec.dev {
                Some(dev) => packets(&spec.netns, dev),
                None => Ok(0),
            },
            spec,
        }
    }

    /// Adds a role that has just been started (the client): its CPU is counted from its
    /// start.
    pub fn watch(&mut self, spec: RoleSpec, packets: PacketCounter) {
        let mut p = self.probe(spec, packets);
        // The clock first, then its base: CPU used in between counts twice (microseconds)
        // rather than never.
        let clock = TaskClock::attach(p.spec.pid).ok();
        p.clock = clock.and_then(|c| Some((cpu_ns(p.spec.pid)?, c)));
        p.cpu_start = Some(0);
        self.roles.push(p);
    }

    /// Adds a role whose process is not read at all, and why: its figures are unavailable
    /// with that reason.
    pub fn refuse(&mut self, spec: RoleSpec, why: String) {
        self.roles.push(Probe {
            spec,
            syscalls: Err(why.clone()),
            counts: None,
            cpu_start: None,
            cpu_end: None,
            clock: None,
            packets_start: Err(why.clone()),
            refused: Some(why),
        });
    }

    /// Reads a role's counters now, while its process still exists (the client, right after
    /// its result line); later reads keep these.
    pub fn stop_role(&mut self, pid: u32) {
        if let Some(p) = self.roles.iter_mut().find(|r| r.spec.pid == pid) {
            p.counts = Some(p.syscalls.as_mut().ok().and_then(|c| c.read()));
            p.cpu_end = p.cpu_now();
        }
    }

    /// Whether a role of this pid is in the window.
    pub fn has_role(&self, pid: u32) -> bool {
        self.roles.iter().any(|r| r.spec.pid == pid)
    }

    /// Reads every counter and ends the window.
    pub fn end(mut self, packets: PacketCounter) -> WindowReading {
        for p in &mut self.roles {
            if p.counts.is_none() {
                p.counts = Some(p.syscalls.as_mut().ok().and_then(|c| c.read()));
                p.cpu_end = p.cpu_now();
            }
        }
        let interval_ns = self.started.elapsed().as_nanos() as u64;
        let machine_end = CpuTimes::now();
        let device_xmits = match &mut self.xmit {
            Ok(Some((c, start))) => c
                .read()
                .map(|end| end.saturating_sub(*start))
                .ok_or_else(|| "net:net_dev_xmit counters unreadable".to_string()),
            Ok(None) => Ok(0),
            Err(e) => Err(e.clone()),
        };
        let machine = match (&self.machine_start, &machine_end) {
            (Ok(a), Ok(b)) => Ok(a.until(b)),
            (Err(e), _) | (_, Err(e)) => Err(e.clone()),
        };
        let roles = self
            .roles
            .into_iter()
            .map(|p| {
                let syscalls = match (&p.syscalls, p.counts.flatten()) {
                    (Err(e), _) => Err(e.clone()),
                    (Ok(_), Some(c)) => Ok(c),
                    (Ok(_), None) => Err(format!(
                        "a syscall counter of {} could not be read",
                        p.spec.role
                    )),
                };
                let packets = match (&p.spec.dev, &p.packets_start) {
                    (None, _) => Ok(0),
                    (Some(_), Err(e)) => Err(e.clone()),
                    (Some(dev), Ok(start)) => {
                        packets(&p.spec.netns, dev).map(|end| end.saturating_sub(*start))
                    }
                };
                let cpu_ns = match (p.cpu_start, p.cpu_end) {
                    (Some(a), Some(b)) => Some(b.saturating_sub(a)),
                    _ => None,
                };
                RoleReading {
                    spec: p.spec,
                    cpu_ns,
                    syscalls,
                    packets,
                }
            })
            .collect();
        WindowReading {
            interval_ns,
            roles,
            machine,
            device_xmits,
        }
    }
}
