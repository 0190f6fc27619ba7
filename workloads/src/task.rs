//! What an agent is asked to do: the workload names and the serve/client configurations that
//! travel to the agent process as JSON.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::WorkloadError;

/// A traffic shape this crate can generate.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// Bulk TCP: N connections write as fast as they can; the server counts bytes received
    /// inside the measurement window.
    TcpStream,
    /// Bulk UDP: datagrams of one size sent as fast as the client can; the server counts
    /// datagrams received inside its window, and loss against what the client sent.
    UdpStream,
    /// TCP request/response, one transaction at a time; every round trip goes into a histogram.
    TcpRr,
    /// UDP request/response, one datagram each way at a time; every round trip goes into a
    /// histogram, and a request unanswered within the retry timeout is sent again.
    UdpRr,
    /// TCP connect, request, response, close, one transaction at a time; every transaction's
    /// duration goes into a histogram.
    TcpCrr,
}

impl Workload {
    /// Every workload, in the order a full run measures them.
    pub const ALL: &'static [Workload] = &[
        Workload::TcpStream,
        Workload::UdpStream,
        Workload::TcpRr,
        Workload::UdpRr,
        Workload::TcpCrr,
    ];

    /// The name used on the command line, in JSON and in reports (`"tcp-stream"`).
    pub fn name(self) -> &'static str {
        match self {
            Workload::TcpStream => "tcp-stream",
            Workload::UdpStream => "udp-stream",
            Workload::TcpRr => "tcp-rr",
            Workload::UdpRr => "udp-rr",
            Workload::TcpCrr => "tcp-crr",
        }
    }

    /// The message size used when none is given, in bytes: 131072 (128 KiB, what iperf3
    /// writes) for tcp-stream, 64 for every other workload (udp-stream's small case; the
    /// harness adds the largest payload that fits the pod MTU).
    pub fn default_message_size(self) -> u32 {
        match self {
            Workload::TcpStream => 131_072,
            _ => 64,
        }
    }

    /// Whether the workload uses UDP.
    pub fn is_udp(self) -> bool {
        matches!(self, Workload::UdpStream | Workload::UdpRr)
    }

    /// Whether the workload is one transaction at a time (its figures are round trips).
    pub fn is_request_response(self) -> bool {
        matches!(self, Workload::TcpRr | Workload::UdpRr | Workload::TcpCrr)
    }

    /// The smallest message size the workload accepts, in bytes: a UDP datagram carries a
    /// 16-byte sequence number and test cookie, so 16 for udp-stream and udp-rr, else 1.
    pub fn min_message_size(self) -> u32 {
        crate::protocol::min_message_size(self)
    }

    /// The largest message size the workload accepts, in bytes: a UDP datagram's payload is
    /// at most 65507 bytes over IPv4.
    pub fn max_message_size(self) -> u32 {
        if self.is_udp() {
            MAX_UDP_PAYLOAD
        } else {
            MAX_MESSAGE_SIZE
        }
    }

    fn valid_names() -> String {
        Workload::ALL
            .iter()
            .map(|w| w.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The program that generates the traffic: cnbench's own agents, or an external tool run by
/// the agent (for cross-checking cnbench's figures in one session).
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Generator {
    /// cnbench's own client and server.
    #[default]
    Cnbench,
    /// iperf3 (`iperf3 -s` / `iperf3 -c ... --json`): tcp-stream and udp-stream.
    Iperf3,
    /// sockperf (`sockperf server` / `sockperf ping-pong`): tcp-rr and udp-rr.
    Sockperf,
}

impl Generator {
    /// Every generator.
    pub const ALL: &'static [Generator] =
        &[Generator::Cnbench, Generator::Iperf3, Generator::Sockperf];

    /// The name used on the command line and in results.
    pub fn name(self) -> &'static str {
        match self {
            Generator::Cnbench => "cnbench",
            Generator::Iperf3 => "iperf3",
            Generator::Sockperf => "sockperf",
        }
    }

    /// The workloads this generator can run.
    pub fn workloads(self) -> &'static [Workload] {
        match self {
            Generator::Cnbench => Workload::ALL,
            Generator::Iperf3 => &[Workload::TcpStream, Workload::UdpStream],
            Generator::Sockperf => &[Workload::TcpRr, Workload::UdpRr],
        }
    }

    /// Whether this generator can run `w`.
    pub fn supports(self, w: Workload) -> bool {
        self.workloads().contains(&w)
    }

    /// The external program this generator runs, if any.
    pub fn program(self) -> Option<&'static str> {
        match self {
            Generator::Cnbench => None,
            Generator::Iperf3 => Some("iperf3"),
            Generator::Sockperf => Some("sockperf"),
        }
    }
}

impl fmt::Display for Generator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Generator {
    type Err = WorkloadError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Generator::ALL
            .iter()
            .copied()
            .find(|g| g.name() == s)
            .ok_or_else(|| WorkloadError::InvalidConfig {
                what: "generator",
                reason: format!("unknown generator `{s}`; valid: cnbench, iperf3, sockperf"),
            })
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Workload {
    type Err = WorkloadError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(w) = Workload::ALL.iter().find(|w| w.name() == s) {
            return Ok(*w);
        }
        let message = format!(
            "unknown workload `{s}`; valid workloads: {}",
            Workload::valid_names()
        );
        Err(WorkloadError::UnknownWorkload {
            name: s.to_owned(),
            message,
        })
    }
}

/// Largest message size accepted, in bytes (16 MiB). The tcp-rr server allocates one buffer
/// of this size per connection, so the limit keeps a typo from exhausting a pod's memory.
pub const MAX_MESSAGE_SIZE: u32 = 16 << 20;

/// Largest UDP payload over IPv4, in bytes (65535 − 20 − 8).
pub const MAX_UDP_PAYLOAD: u32 = 65_507;

/// Measurement length used by [`ClientConfig::new`], in milliseconds.
pub const DEFAULT_DURATION_MS: u64 = 10_000;

/// Warm-up length used by [`ClientConfig::new`], in milliseconds.
pub const DEFAULT_WARMUP_MS: u64 = 2_000;

/// One agent process's job, as the harness passes it to `cnbench task '<json>'`.
///
/// JSON shape: `{"role":"serve","workload":"tcp-rr","bind":"0.0.0.0:5201"}` or
/// `{"role":"client","workload":"tcp-stream","target":"10.0.0.2:5201","duration_ms":10000,
/// "warmup_ms":2000,"streams":1,"message_size":131072,"cpu":1}`. `cpu` may be left out.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(tag = "role", rename_all = "kebab-case")]
pub enum AgentTask {
    /// Listen and serve every workload until killed.
    Serve(ServeConfig),
    /// Run one test against a server and print one sample.
    Client(ClientConfig),
    /// Probe every peer pod at a fixed rate and answer their probes; print one
    /// [`reports::ProbeReport`] (see [`crate::probe`]).
    Probe(crate::probe::ProbeConfig),
}

impl AgentTask {
    /// Parses the agent's command-line JSON, with an error that shows the expected shape.
    pub fn from_json(json: &str) -> Result<Self, WorkloadError> {
        serde_json::from_str(json).map_err(|e| WorkloadError::InvalidConfig {
            what: "agent task JSON",
            reason: format!(
                "{e}; expected {{\"role\":\"serve\",\"workload\":..,\"bind\":\"IP:PORT\"}} or \
                 {{\"role\":\"client\",\"workload\":..,\"target\":\"IP:PORT\",\"duration_ms\":..,\
                 \"warmup_ms\":..,\"streams\":..,\"message_size\":..}}"
            ),
        })
    }

    /// The JSON the agent expects on its command line.
    pub fn to_json(&self) -> String {
        // A struct of plain numbers, strings and addresses always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The CPU the agent pins itself to, if any.
    pub fn cpu(&self) -> Option<u32> {
        match self {
            AgentTask::Serve(s) => s.cpu,
            AgentTask::Client(c) => c.cpu,
            AgentTask::Probe(p) => p.cpu,
        }
    }
}

/// Configuration of a server agent. One server answers every workload and any number of
/// tests, one thread per connection; `workload` says what the harness meant it for and is
/// recorded, not enforced.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// The workload this server was started for (it serves the others too).
    pub workload: Workload,
    /// Address to listen on, inside the agent's network namespace; port 0 picks a free port,
    /// reported on the `ready <port>` line.
    pub bind: SocketAddr,
    /// CPU to pin the server and all its connection threads to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<u32>,
    /// Which program serves: cnbench itself, or an external tool the agent runs.
    #[serde(default, skip_serializing_if = "is_cnbench")]
    pub generator: Generator,
}

fn is_cnbench(g: &Generator) -> bool {
    *g == Generator::Cnbench
}

/// Configuration of one client test.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// What to run.
    pub workload: Workload,
    /// The server's address (the peer pod's IP and the port of its `ready` line).
    pub target: SocketAddr,
    /// Length of the measurement window, in milliseconds (more than 0).
    pub duration_ms: u64,
    /// Traffic sent before the window opens and not counted, in milliseconds.
    pub warmup_ms: u64,
    /// Parallel connections for tcp-stream (at least 1); tcp-rr uses exactly one.
    pub streams: u32,
    /// Bytes per write (tcp-stream) or per request and per response (tcp-rr),
    /// 1..=[`MAX_MESSAGE_SIZE`].
    pub message_size: u32,
    /// CPU to pin the client and all its threads to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<u32>,
    /// Which program generates the traffic: cnbench itself, or an external tool.
    #[serde(default, skip_serializing_if = "is_cnbench")]
    pub generator: Generator,
}

impl ClientConfig {
    /// A test of `workload` against `target` with the defaults: 10 s measured after 2 s of
    /// warm-up, one stream, the workload's default message size, not pinned.
    pub fn new(workload: Workload, target: SocketAddr) -> Self {
        ClientConfig {
            workload,
            target,
            duration_ms: DEFAULT_DURATION_MS,
            warmup_ms: DEFAULT_WARMUP_MS,
            streams: 1,
            message_size: workload.default_message_size(),
            cpu: None,
            generator: Generator::Cnbench,
        }
    }

    /// Checks the settings before any connection is made.
    pub fn validate(&self) -> Result<(), WorkloadError> {
        if self.duration_ms == 0 {
            return Err(WorkloadError::InvalidConfig {
                what: "duration_ms",
                reason: "the measurement window must be longer than 0 ms".into(),
            });
        }
        let max = self.workload.max_message_size();
        let min = self.workload.min_message_size();
        if self.message_size < min || self.message_size > max {
            return Err(WorkloadError::InvalidConfig {
                what: "message_size",
                reason: format!(
                    "{} bytes is out of range for {}: use {min}..={max} (default: {}){}",
                    self.message_size,
                    self.workload,
                    self.workload.default_message_size(),
                    if self.workload.is_udp() {
                        "; each datagram carries a 16-byte sequence number and test cookie"
                    } else {
                        ""
                    }
                ),
            });
        }
        if !self.generator.supports(self.workload) {
            return Err(WorkloadError::InvalidConfig {
                what: "generator",
                reason: format!(
                    "{} cannot run {}; it runs {}",
                    self.generator,
                    self.workload,
                    self.generator
                        .workloads()
                        .iter()
                        .map(|w| w.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
        match self.workload {
            Workload::TcpStream if self.streams == 0 => Err(WorkloadError::InvalidConfig {
                what: "streams",
                reason: "tcp-stream needs at least 1 stream".into(),
            }),
            w if w != Workload::TcpStream && self.streams != 1 => {
                Err(WorkloadError::InvalidConfig {
                    what: "streams",
                    reason: format!(
                        "{w} runs one flow, so streams must be 1 (got {}); only tcp-stream \
                         takes --streams",
                        self.streams
                    ),
                })
            }
            _ => Ok(()),
        }
    }

    /// Warm-up plus measurement window.
    pub fn test_length(&self) -> Duration {
        Duration::from_millis(self.warmup_ms.saturating_add(self.duration_ms))
    }

    /// An upper bound on how long [`crate::run_client`] takes against a healthy server:
    /// connect, warm-up, window, the stream send margin, and a few seconds to spare. A
    /// harness can use it as the agent's deadline.
    pub fn expected_runtime(&self) -> Duration {
        self.test_length() + crate::protocol::CONNECT_TIMEOUT + Duration::from_secs(5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_round_trip() {
        for w in Workload::ALL {
            assert_eq!(w.name().parse::<Workload>().unwrap(), *w);
            assert_eq!(w.to_string(), w.name());
            assert_eq!(serde_json::to_value(w).unwrap(), json!(w.name()));
        }
        assert_eq!(Workload::TcpStream.default_message_size(), 131_072);
        assert_eq!(Workload::TcpRr.default_message_size(), 64);
    }

    #[test]
    fn unknown_names_list_the_valid_ones() {
        let unknown = "tcp_stream".parse::<Workload>().unwrap_err().to_string();
        assert_eq!(
            unknown,
            "unknown workload `tcp_stream`; valid workloads: tcp-stream, udp-stream, tcp-rr, \
             udp-rr, tcp-crr"
        );
        let g = "netperf".parse::<Generator>().unwrap_err().to_string();
        assert_eq!(
            g,
            "invalid generator: unknown generator `netperf`; valid: cnbench, iperf3, sockperf"
        );
    }

    #[test]
    fn generators_refuse_what_they_cannot_run() {
        let mut c = ClientConfig::new(Workload::TcpCrr, "10.0.0.1:1".parse().unwrap());
        c.generator = Generator::Iperf3;
        let e = c.validate().unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid generator: iperf3 cannot run tcp-crr; it runs tcp-stream, udp-stream"
        );
        c.generator = Generator::Cnbench;
        c.validate().unwrap();
        c.workload = Workload::UdpStream;
        c.message_size = 65_508;
        assert!(c.validate().unwrap_err().to_string().contains("16..=65507"));
        c.message_size = 15;
        assert!(c.validate().unwrap_err().to_string().contains("16..=65507"));
    }

    #[test]
    fn agent_task_json_shape() {
        let serve = AgentTask::Serve(ServeConfig {
            workload: Workload::TcpRr,
            bind: "0.0.0.0:5201".parse().unwrap(),
            cpu: None,
            generator: Generator::Cnbench,
        });
        assert_eq!(
            serde_json::to_value(&serve).unwrap(),
            json!({"role": "serve", "workload": "tcp-rr", "bind": "0.0.0.0:5201"})
        );
        let client = AgentTask::Client(ClientConfig {
            cpu: Some(1),
            ..ClientConfig::new(Workload::TcpStream, "172.17.0.3:5201".parse().unwrap())
        });
        assert_eq!(
            serde_json::to_value(&client).unwrap(),
            json!({"role": "client", "workload": "tcp-stream", "target": "172.17.0.3:5201",
                   "duration_ms": 10000, "warmup_ms": 2000, "streams": 1,
                   "message_size": 131072, "cpu": 1})
        );
        for task in [serve, client] {
            assert_eq!(AgentTask::from_json(&task.to_json()).unwrap(), task);
        }
    }

    #[test]
    fn agent_task_json_errors_show_the_expected_shape() {
        let err = AgentTask::from_json(r#"{"role":"serve","workload":"tcp-rr"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("bind"), "{err}");
        let err = AgentTask::from_json(
            r#"{"role":"serve","workload":"tcp-rr","bind":"0.0.0.0:1","cpus":1}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown field `cpus`"), "{err}");
        let err = AgentTask::from_json(r#"{"role":"relay"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("invalid agent task JSON: "), "{err}");
    }

    #[test]
    fn ipv6_targets_serialize_as_socket_addresses() {
        let c = ClientConfig::new(Workload::TcpRr, "[fd00::2]:5201".parse().unwrap());
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["target"], "[fd00::2]:5201");
    }
}
