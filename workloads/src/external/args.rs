//! The external tools' command lines: how a [`ServeConfig`] or a [`ClientConfig`] maps onto
//! iperf3's and sockperf's arguments (whole seconds rounded up, sockperf's fixed warm-up, the
//! tools' conventional ports), and what those tools cannot take (sockperf: IPv6, messages
//! shorter than its header), refused before anything is started. Kept apart from running
//! the tools so that every mapping can be checked without them.

use std::net::IpAddr;
use std::time::Duration;

use crate::error::WorkloadError;
use crate::task::{ClientConfig, Generator, ServeConfig, Workload};

use super::not_external;

/// iperf3's conventional port, used when the bind port is 0.
const IPERF3_DEFAULT_PORT: u16 = 5201;

/// sockperf's conventional port, used when the bind port is 0.
const SOCKPERF_DEFAULT_PORT: u16 = 11111;

/// sockperf 3.7 drops this much of the start of every run from its statistics.
const SOCKPERF_SKIPPED_START: Duration = Duration::from_millis(400);

/// sockperf 3.7 drops this much of the end of every run from its statistics.
const SOCKPERF_SKIPPED_END: Duration = Duration::from_millis(50);

/// sockperf's smallest message: its own header.
const SOCKPERF_MIN_MESSAGE: u32 = 14;

/// How the server is started: its arguments, the port it will listen on, and whether that
/// socket is TCP (iperf3 always listens on TCP; data sockets come per test).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct ServerPlan {
    pub(super) args: Vec<String>,
    pub(super) port: u16,
    pub(super) tcp: bool,
}

impl ServerPlan {
    /// The plan for `cfg.generator`; refuses what the tool cannot serve.
    pub(super) fn new(cfg: &ServeConfig) -> Result<Self, WorkloadError> {
        let ip = cfg.bind.ip().to_string();
        match cfg.generator {
            Generator::Iperf3 => {
                let port = nonzero_or(cfg.bind.port(), IPERF3_DEFAULT_PORT);
                Ok(ServerPlan {
                    args: strings(&["-s", "-B", &ip, "-p", &port.to_string(), "--forceflush"]),
                    port,
                    tcp: true,
                })
            }
            Generator::Sockperf => {
                sockperf_ipv4(cfg.bind.ip())?;
                let port = nonzero_or(cfg.bind.port(), SOCKPERF_DEFAULT_PORT);
                let tcp = cfg.workload == Workload::TcpRr;
                let mut args = strings(&["server", "-i", &ip, "-p", &port.to_string()]);
                if tcp {
                    args.push("--tcp".into());
                }
                Ok(ServerPlan { args, port, tcp })
            }
            Generator::Cnbench => Err(not_external()),
        }
    }
}

fn nonzero_or(port: u16, default: u16) -> u16 {
    if port == 0 {
        default
    } else {
        port
    }
}

/// sockperf 3.7 rejects IPv6 addresses (`'-i' Invalid address: ::1`): say so up front.
fn sockperf_ipv4(ip: IpAddr) -> Result<(), WorkloadError> {
    if ip.is_ipv6() {
        return Err(WorkloadError::InvalidConfig {
            what: "generator",
            reason: format!(
                "sockperf 3.7 takes IPv4 addresses only, not {ip}: use an IPv4 pod network \
                 or the cnbench generator"
            ),
        });
    }
    Ok(())
}

/// The client's arguments (see the module docs of [`super`], "Client").
pub(super) fn client_args(cfg: &ClientConfig) -> Result<Vec<String>, WorkloadError> {
    let ip = cfg.target.ip().to_string();
    let port = cfg.target.port().to_string();
    let size = cfg.message_size.to_string();
    match cfg.generator {
        Generator::Iperf3 => {
            let mut args = strings(&[
                "-c",
                &ip,
                "-p",
                &port,
                "-t",
                &whole_seconds_up(cfg.duration_ms).to_string(),
                "-O",
                &whole_seconds_up(cfg.warmup_ms).to_string(),
                "-l",
                &size,
                "-P",
                &cfg.streams.to_string(),
            ]);
            if cfg.workload == Workload::UdpStream {
                args.extend(strings(&["-u", "-b", "0"]));
            }
            let connect_ms = crate::protocol::CONNECT_TIMEOUT.as_millis().to_string();
            args.extend(strings(&["--connect-timeout", &connect_ms, "--json"]));
            Ok(args)
        }
        Generator::Sockperf => {
            sockperf_ipv4(cfg.target.ip())?;
            if cfg.message_size < SOCKPERF_MIN_MESSAGE {
                return Err(WorkloadError::InvalidConfig {
                    what: "message_size",
                    reason: format!(
                        "sockperf sends at least {SOCKPERF_MIN_MESSAGE} bytes (its header), \
                         not {}: use a message size of {SOCKPERF_MIN_MESSAGE} or more, or the \
                         cnbench generator",
                        cfg.message_size
                    ),
                });
            }
            let skipped = (SOCKPERF_SKIPPED_START + SOCKPERF_SKIPPED_END).as_millis() as u64;
            // At least 2 s: with `-t 1` sockperf 3.7 sometimes keeps no observation at all
            // ("No valid observations found"), seen on a loaded machine.
            let seconds = whole_seconds_up(cfg.duration_ms.saturating_add(skipped)).max(2);
            let mut args = strings(&["ping-pong", "-i", &ip, "-p", &port]);
            if cfg.workload == Workload::TcpRr {
                args.push("--tcp".into());
            }
            args.extend(strings(&[
                "-t",
                &seconds.to_string(),
                "-m",
                &size,
                "--full-rtt",
            ]));
            Ok(args)
        }
        Generator::Cnbench => Err(not_external()),
    }
}

/// Milliseconds rounded up to whole seconds (0 stays 0).
fn whole_seconds_up(ms: u64) -> u64 {
    ms.div_ceil(1000)
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The command as a shell-like line, for messages.
pub(super) fn command_line(program: &str, args: &[String]) -> String {
    std::iter::once(program)
        .chain(args.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(generator: Generator, workload: Workload) -> ClientConfig {
        ClientConfig {
            generator,
            duration_ms: 1500,
            warmup_ms: 200,
            ..ClientConfig::new(workload, "10.0.0.2:5201".parse().unwrap())
        }
    }

    #[test]
    fn iperf3_command_lines() {
        let c = client(Generator::Iperf3, Workload::TcpStream);
        assert_eq!(
            command_line("iperf3", &client_args(&c).unwrap()),
            "iperf3 -c 10.0.0.2 -p 5201 -t 2 -O 1 -l 131072 -P 1 --connect-timeout 5000 --json"
        );
        let c = ClientConfig {
            warmup_ms: 0,
            duration_ms: 1000,
            message_size: 1472,
            ..client(Generator::Iperf3, Workload::UdpStream)
        };
        assert_eq!(
            command_line("iperf3", &client_args(&c).unwrap()),
            "iperf3 -c 10.0.0.2 -p 5201 -t 1 -O 0 -l 1472 -P 1 -u -b 0 --connect-timeout 5000 \
             --json"
        );
        let s = ServeConfig {
            workload: Workload::UdpStream,
            bind: "10.0.0.2:0".parse().unwrap(),
            cpu: None,
            generator: Generator::Iperf3,
        };
        let plan = ServerPlan::new(&s).unwrap();
        assert_eq!(
            command_line("iperf3", &plan.args),
            "iperf3 -s -B 10.0.0.2 -p 5201 --forceflush"
        );
        assert_eq!((plan.port, plan.tcp), (5201, true));
    }

    #[test]
    fn sockperf_command_lines() {
        let c = client(Generator::Sockperf, Workload::TcpRr);
        // 1500 ms + 450 ms sockperf drops → 2 s.
        assert_eq!(
            command_line("sockperf", &client_args(&c).unwrap()),
            "sockperf ping-pong -i 10.0.0.2 -p 5201 --tcp -t 2 -m 64 --full-rtt"
        );
        let c = ClientConfig {
            duration_ms: 600,
            ..client(Generator::Sockperf, Workload::UdpRr)
        };
        assert_eq!(
            command_line("sockperf", &client_args(&c).unwrap()),
            "sockperf ping-pong -i 10.0.0.2 -p 5201 -t 2 -m 64 --full-rtt"
        );
        let small = ClientConfig {
            message_size: 8,
            ..c.clone()
        };
        let e = client_args(&small).unwrap_err().to_string();
        assert!(e.contains("at least 14 bytes"), "{e}");
        let v6 = ClientConfig {
            target: "[fd00::2]:11111".parse().unwrap(),
            ..c
        };
        assert!(client_args(&v6).unwrap_err().to_string().contains("IPv4"));

        for (workload, tcp, flag) in [
            (Workload::TcpRr, true, " --tcp"),
            (Workload::UdpRr, false, ""),
        ] {
            let plan = ServerPlan::new(&ServeConfig {
                workload,
                bind: "10.0.0.2:0".parse().unwrap(),
                cpu: None,
                generator: Generator::Sockperf,
            })
            .unwrap();
            assert_eq!(
                command_line("sockperf", &plan.args),
                format!("sockperf server -i 10.0.0.2 -p 11111{flag}")
            );
            assert_eq!((plan.port, plan.tcp), (11111, tcp));
        }
    }
}
