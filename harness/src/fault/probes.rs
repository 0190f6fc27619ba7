//! The probe stream of a fault: one probe agent ([`workloads::probe`]) per pod endpoint,
//! each probing every other endpoint it is declared to reach, paced, sequence-numbered, from
//! before the fault until every pair has answered again for a while.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use reports::{NodeClock, ProbeReport};
use workloads::probe::{ProbeConfig, PROBE_PORT};
use workloads::AgentTask;

use crate::backend::{Expect, Expectations};
use crate::checks::icmp_echo_within;
use crate::clock::ClockOffset;
use crate::error::{HarnessError, Result};
use crate::host::Host;
use crate::signals;
use crate::task::Task;
use crate::topology::Plan;

/// How long agents get to bind before the schedule starts.
const START_DELAY: Duration = Duration::from_millis(500);
/// How long an agent may take to print `ready`.
const READY_WAIT: Duration = Duration::from_secs(10);
/// How long an agent may take to report once told to stop (linger included).
const REPORT_WAIT: Duration = Duration::from_secs(10);
/// How long an agent keeps answering after it was told to stop.
const STOP_LINGER: Duration = Duration::from_millis(1000);
/// How long one recovery poll waits for an echo.
const POLL_ECHO: Duration = Duration::from_millis(300);
/// Pause between recovery polls.
const POLL_EVERY: Duration = Duration::from_millis(50);

/// The probe agent's UDP port of pod `pod_index`: one port per pod, because host-network pods
/// share their node's namespace and address.
pub fn probe_port(pod_index: u32) -> u16 {
    PROBE_PORT.saturating_add(pod_index as u16)
}

/// The harness's `CLOCK_REALTIME`, in ns since the Unix epoch: the clock fault times are
/// read on, and the one every agent's send times are put on ([`crate::clock`]).
pub(crate) use crate::clock::realtime_ns;

/// Where a probe agent runs: a pod's namespace and address (pods sharing both are one).
#[derive(Debug, Clone)]
struct Endpoint {
    /// The pod's label (`n0p0`).
    label: String,
    /// Its node's index.
    node: u32,
    /// Namespace the agent runs in.
    netns: String,
    /// The agent's address.
    addr: SocketAddr,
    /// The wall clock of the machine its agent runs on, as read when the agent started.
    clock: ClockOffset,
}

/// A running probe stream.
pub(crate) struct ProbeStream {
    endpoints: Vec<Endpoint>,
    /// `(from, to, path)` by endpoint index: every directed pair that must reach.
    pairs: Vec<(usize, usize, String)>,
    agents: BTreeMap<usize, Task>,
    rate_pps: u64,
    duration_ms: u64,
    exe: std::path::PathBuf,
}

impl ProbeStream {
    /// Starts one agent per endpoint, all sending from the same instant (shortly ahead), for
    /// at most `longest`; they are stopped earlier with [`ProbeStream::finish`].
    pub(crate) fn start(
        plan: &Plan,
        hosts: &BTreeMap<String, Host>,
        expect: &Expectations,
        rate_pps: u64,
        longest: Duration,
        exe: &std::path::Path,
    ) -> Result<ProbeStream> {
        // One endpoint per pod and family: a dual-stack run probes each family on its own
        // (an IPv6 endpoint's label says so), and pairs never mix families.
        let mut endpoints: Vec<Endpoint> = Vec::new();
        let dual = plan.families().len() > 1;
        for family in plan.families() {
            for pod in &plan.pods {
                let Some(ip) = plan.pod_net(pod, family).map(|n| n.addr()) else {
                    continue;
                };
                if endpoints
                    .iter()
                    .any(|e| e.netns == pod.netns && e.addr.ip() == ip)
                {
                    continue;
                }
                endpoints.push(Endpoint {
                    label: if dual && ip.is_ipv6() {
                        format!("{}/v6", pod.role)
                    } else {
                        pod.role.clone()
                    },
                    node: pod.node,
                    netns: pod.netns.clone(),
                    addr: SocketAddr::from((ip, probe_port(pod.index))),
                    clock: ClockOffset::NONE,
                });
            }
        }
        // Every directed pair, except those the backend declares unreachable (host-gw across
        // an l3 router): a fault cannot break what never worked.
        let unreachable = |from: &Endpoint, to: &Endpoint| {
            expect.reachability.iter().any(|p| {
                p.from_netns == from.netns
                    && p.to_ip == to.addr.ip()
                    && matches!(p.expect, Expect::Unreachable { .. })
            })
        };
        let mut pairs = Vec::new();
        for (i, a) in endpoints.iter().enumerate() {
            for (j, b) in endpoints.iter().enumerate() {
                if i != j && a.addr.is_ipv4() == b.addr.is_ipv4() && !unreachable(a, b) {
                    let path = if a.node == b.node {
                        "same-node"
                    } else {
                        "cross-node"
                    };
                    pairs.push((i, j, path.to_string()));
                }
            }
        }
        let mut stream = ProbeStream {
            endpoints,
            pairs,
            agents: BTreeMap::new(),
            rate_pps,
            duration_ms: longest.as_millis().max(1) as u64,
            exe: exe.to_path_buf(),
        };
        let start = realtime_ns() + START_DELAY.as_nanos() as u64;
        for i in 0..stream.endpoints.len() {
            stream.start_agent(hosts, i, start)?;
        }
        for (i, agent) in &mut stream.agents {
            agent
                .ready_port(READY_WAIT)
                .map_err(|e| HarnessError::Unsupported {
                    what: format!("probe agent of {}: {e}", stream.endpoints[*i].label),
                    fix: "see the agent's error above".into(),
                })?;
        }
        Ok(stream)
    }

    /// Directed pairs probed.
    pub(crate) fn pair_count(&self) -> usize {
        self.pairs.len()
    }

    /// Starts endpoint `i`'s agent, sending from `start_unix_ns` on the harness's clock.
    fn start_agent(
        &mut self,
        hosts: &BTreeMap<String, Host>,
        i: usize,
        start_unix_ns: u64,
    ) -> Result<()> {
        // The agent reads its own machine's clock: its start time is given, and its report
        // read back, on that clock. A rebooted VM has a new offset, so it is read per start.
        let host = &hosts[&self.endpoints[i].netns];
        self.endpoints[i].clock = host.clock_offset()?;
        let ep = &self.endpoints[i];
        let peers: Vec<SocketAddr> = self
            .pairs
            .iter()
            .filter(|(from, _, _)| *from == i)
            .map(|(_, to, _)| self.endpoints[*to].addr)
            .collect();
        let cfg = ProbeConfig {
            rate_pps: self.rate_pps,
            // Agents are told to stop one after the other, and a busy machine may not run
            // one for a while: each keeps answering long enough for the last to finish.
            linger_ms: STOP_LINGER.as_millis() as u64,
            start_unix_ns: Some(ep.clock.to_remote(start_unix_ns)),
            stop_on_stdin: true,
            ..ProbeConfig::new(ep.addr, peers, self.duration_ms)
        };
        let agent = Task::start(host, &self.exe, &AgentTask::Probe(cfg), &ep.label)?;
        self.agents.insert(i, agent);
        Ok(())
    }

    /// Ends the agents of `node`'s pods (a node restart takes them along; their reports are
    /// lost, as a rebooted node's would be).
    pub(crate) fn kill_node(&mut self, node: u32) {
        let on_node: Vec<usize> = self
            .agents
            .keys()
            .copied()
            .filter(|i| self.endpoints[*i].node == node)
            .collect();
        for i in on_node {
            if let Some(mut a) = self.agents.remove(&i) {
                a.stop();
            }
        }
    }

    /// Starts the agents of `node`'s pods again (after a node restart), sending at once.
    pub(crate) fn restart_node(&mut self, hosts: &BTreeMap<String, Host>, node: u32) -> Result<()> {
        let on_node: Vec<usize> = (0..self.endpoints.len())
            .filter(|i| self.endpoints[*i].node == node && !self.agents.contains_key(i))
            .collect();
        for &i in &on_node {
            self.start_agent(hosts, i, realtime_ns())?;
        }
        for i in on_node {
            if let Some(a) = self.agents.get_mut(&i) {
                a.ready_port(READY_WAIT)?;
            }
        }
        Ok(())
    }

    /// Polls every pair with ICMP echoes until each has answered once, or `limit` passes;
    /// returns whether all did. (The recovery figures come from the probes; this only decides
    /// when to stop waiting.)
    pub(crate) fn wait_answering(
        &self,
        hosts: &BTreeMap<String, Host>,
        limit: Duration,
    ) -> Result<bool> {
        let deadline = Instant::now() + limit;
        let mut pending: Vec<(usize, usize)> =
            self.pairs.iter().map(|(a, b, _)| (*a, *b)).collect();
        loop {
            pending.retain(|(a, b)| {
                let from = &self.endpoints[*a];
                let to = self.endpoints[*b].addr.ip();
                match hosts.get(&from.netns) {
                    Some(h) => !icmp_echo_within(h, to, POLL_ECHO).ok(),
                    None => true,
                }
            });
            if pending.is_empty() {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            if signals::interrupted() {
                return Err(HarnessError::Interrupted);
            }
            std::thread::sleep(POLL_EVERY);
        }
    }

    /// Tells every agent to stop and collects their reports, every time in them on the
    /// harness's clock.
    pub(crate) fn finish(&mut self) -> Result<Vec<ProbeReport>> {
        for a in self.agents.values_mut() {
            a.request_stop();
        }
        let mut reports = Vec::new();
        let mut first_error = None;
        for (i, mut a) in std::mem::take(&mut self.agents) {
            let parsed = a.next_line(REPORT_WAIT).and_then(|line| {
                serde_json::from_str::<ProbeReport>(&line)
                    .map_err(|e| a.error(format!("unreadable report {line:?}: {e}")))
            });
            let parsed = parsed.map(|mut r| {
                r.to_harness_clock(self.endpoints[i].clock.offset_ns);
                r
            });
            a.stop_and_status();
            match parsed {
                Ok(r) => reports.push(r),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(reports),
        }
    }

    /// The clocks of the nodes whose agents ran off the harness's machine, by node, as read
    /// when their agents (last) started.
    pub(crate) fn clocks(&self, plan: &Plan, hosts: &BTreeMap<String, Host>) -> Vec<NodeClock> {
        let mut out: Vec<NodeClock> = Vec::new();
        for ep in &self.endpoints {
            let remote = hosts.get(&ep.netns).is_some_and(|h| h.local().is_none());
            let node = &plan.nodes[ep.node as usize].role;
            if remote && !out.iter().any(|c| &c.node == node) {
                out.push(NodeClock {
                    node: node.clone(),
                    offset_ns: ep.clock.offset_ns,
                    uncertainty_ns: ep.clock.uncertainty_ns,
                });
            }
        }
        out
    }

    /// `(from label, to label, path)` of a pair named by the addresses in a report.
    pub(crate) fn label(&self, from: &str, to: &str) -> (String, String, String) {
        let find = |addr: &str| {
            self.endpoints
                .iter()
                .position(|e| e.addr.to_string() == addr)
        };
        match (find(from), find(to)) {
            (Some(a), Some(b)) => {
                let path = self
                    .pairs
                    .iter()
                    .find(|(x, y, _)| *x == a && *y == b)
                    .map(|p| p.2.clone())
                    .unwrap_or_default();
                (
                    self.endpoints[a].label.clone(),
                    self.endpoints[b].label.clone(),
                    path,
                )
            }
            _ => (from.to_string(), to.to_string(), String::new()),
        }
    }
}

impl Drop for ProbeStream {
    fn drop(&mut self) {
        for a in self.agents.values_mut() {
            a.stop();
        }
    }
}
