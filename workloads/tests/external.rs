//! The external generators end to end on 127.0.0.1 (no root needed): the agent's `serve`
//! starts the real iperf3 / sockperf server, the client runs the real tool, and the figures
//! must be sane. Each server's tool process is killed by its pid at the end.
//!
//! The test command (`ci/test.sh`) installs both tools; a missing one fails these tests with
//! the package to install, it is never skipped.

mod common;

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cnbench_workloads as workloads;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use reports::{RrSample, Sample};
use workloads::{
    run_agent, run_client, tool_version, AgentTask, ClientConfig, Generator, ServeConfig, Workload,
    WorkloadError,
};

/// A `Write` that sends each complete line to a channel: the agent's stdout.
struct Lines {
    buf: Vec<u8>,
    tx: mpsc::Sender<String>,
}

impl Write for Lines {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        while let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=i).collect();
            let _ = self
                .tx
                .send(String::from_utf8_lossy(&line).trim_end().to_string());
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A tool server started through the agent's `serve` in a thread of this test.
struct ToolServer {
    addr: SocketAddr,
    /// The tool's pid: the only child of the thread that ran `serve`.
    pid: i32,
    agent: Option<JoinHandle<Result<(), WorkloadError>>>,
}

impl ToolServer {
    fn start(generator: Generator, workload: Workload) -> ToolServer {
        let port = free_port(workload == Workload::UdpRr);
        let cfg = ServeConfig {
            workload,
            bind: SocketAddr::from(([127, 0, 0, 1], port)),
            cpu: None,
            generator,
        };
        let (line_tx, line_rx) = mpsc::channel();
        let (tid_tx, tid_rx) = mpsc::channel();
        let agent = std::thread::spawn(move || {
            let _ = tid_tx.send(nix::unistd::gettid().as_raw());
            let mut out = Lines {
                buf: Vec::new(),
                tx: line_tx,
            };
            run_agent(&AgentTask::Serve(cfg), &mut out)
        });
        let tid = tid_rx.recv().unwrap();
        let line = match line_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(line) => line,
            Err(_) => panic!("no ready line: {:?}", agent.join().unwrap()),
        };
        assert_eq!(line, format!("ready {port}"));
        let children = std::fs::read_to_string(format!("/proc/self/task/{tid}/children")).unwrap();
        let pids: Vec<i32> = children
            .split_whitespace()
            .map(|p| p.parse().unwrap())
            .collect();
        assert_eq!(pids.len(), 1, "the serve thread has children {pids:?}");
        ToolServer {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            pid: pids[0],
            agent: Some(agent),
        }
    }

    /// Kills the tool by its pid and returns what `serve` then returned.
    fn stop(mut self) -> Result<(), WorkloadError> {
        self.kill_and_join().unwrap()
    }

    fn kill_and_join(&mut self) -> Option<Result<(), WorkloadError>> {
        let agent = self.agent.take()?;
        kill(Pid::from_raw(self.pid), Signal::SIGKILL).unwrap();
        Some(agent.join().unwrap())
    }
}

impl Drop for ToolServer {
    fn drop(&mut self) {
        // A failed assertion must not leave the tool running.
        let _ = self.kill_and_join();
    }
}

/// A port nobody uses right now (bound, then released).
fn free_port(udp: bool) -> u16 {
    if udp {
        UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    } else {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }
}

/// Fails the test, with the package to install, when the tool is missing.
fn require(generator: Generator) {
    match tool_version(generator) {
        Ok(v) => eprintln!("using {v}"),
        Err(e) => panic!("{e} (ci/test.sh installs it)"),
    }
}

fn client(generator: Generator, workload: Workload, target: SocketAddr) -> ClientConfig {
    ClientConfig {
        generator,
        duration_ms: 1000,
        warmup_ms: 0,
        ..ClientConfig::new(workload, target)
    }
}

/// Runs a client and checks it finished within its own deadline.
fn timed(cfg: &ClientConfig) -> Sample {
    let started = Instant::now();
    let sample = run_client(cfg).unwrap_or_else(|e| panic!("{e}"));
    assert!(started.elapsed() < cfg.expected_runtime());
    sample
}

#[test]
fn versions_name_the_tools() {
    require(Generator::Iperf3);
    assert!(tool_version(Generator::Iperf3)
        .unwrap()
        .starts_with("iperf3 3."));
    require(Generator::Sockperf);
    assert!(tool_version(Generator::Sockperf)
        .unwrap()
        .starts_with("sockperf 3."));
}

#[test]
fn iperf3_streams() {
    require(Generator::Iperf3);
    let server = ToolServer::start(Generator::Iperf3, Workload::TcpStream);

    // Two streams with a warm-up (-O 1), then straight away another test on the same server.
    let cfg = ClientConfig {
        streams: 2,
        warmup_ms: 1000,
        ..client(Generator::Iperf3, Workload::TcpStream, server.addr)
    };
    for _ in 0..2 {
        let Sample::TcpStream(s) = timed(&cfg) else {
            panic!("not a tcp-stream sample")
        };
        eprintln!(
            "iperf3 tcp-stream x2: {:.2} Gbit/s in {} ns",
            s.throughput_bps / 1e9,
            s.window_ns
        );
        assert_eq!((s.streams, s.message_size_bytes), (2, 131_072));
        assert!(s.throughput_bps > 1e8, "{s:?}");
        assert!((900_000_000..1_200_000_000).contains(&s.window_ns), "{s:?}");
        let derived = s.bytes_received as f64 * 8.0 / (s.window_ns as f64 / 1e9);
        assert!((derived - s.throughput_bps).abs() / derived < 1e-3, "{s:?}");
    }

    let cfg = ClientConfig {
        warmup_ms: 500,
        ..client(Generator::Iperf3, Workload::UdpStream, server.addr)
    };
    let Sample::UdpStream(u) = timed(&cfg) else {
        panic!("not a udp-stream sample")
    };
    eprintln!(
        "iperf3 udp-stream 64 B: {:.0} packets/s, {:.2} % loss",
        u.packets_per_s, u.loss_percent
    );
    assert_eq!(u.message_size_bytes, 64);
    assert!(u.packets_per_s > 1000.0, "{u:?}");
    assert!(u.packets_received > 0 && u.packets_sent > 0, "{u:?}");
    assert_eq!(u.bytes_received, u.packets_received * 64);
    assert!((0.0..100.0).contains(&u.loss_percent), "{u:?}");
    assert!((900_000_000..1_200_000_000).contains(&u.window_ns), "{u:?}");

    let served = server.stop().unwrap_err().to_string();
    assert!(served.contains("the iperf3 server"), "{served}");
    assert!(served.contains("SIGKILL"), "{served}");
}

fn check_rr(name: &str, s: &RrSample) {
    eprintln!(
        "sockperf {name}: p50 {} ns, p99 {} ns, {:.0} transactions/s in {} ns",
        s.rtt_p50_ns, s.rtt_p99_ns, s.transactions_per_s, s.window_ns
    );
    common::assert_rr_ordered(s, 64);
    assert!(s.transactions > 100, "{s:?}");
    // -t 2 minus the 450 ms sockperf drops.
    assert!(
        (1_400_000_000..1_700_000_000).contains(&s.window_ns),
        "{s:?}"
    );
    let tps = s.transactions as f64 / (s.window_ns as f64 / 1e9);
    assert!((tps - s.transactions_per_s).abs() / tps < 1e-6);
}

#[test]
fn sockperf_round_trips() {
    require(Generator::Sockperf);
    for workload in [Workload::TcpRr, Workload::UdpRr] {
        let server = ToolServer::start(Generator::Sockperf, workload);
        let sample = timed(&client(Generator::Sockperf, workload, server.addr));
        match (workload, &sample) {
            (Workload::TcpRr, Sample::TcpRr(s)) => check_rr("tcp-rr", s),
            (Workload::UdpRr, Sample::UdpRr(s)) => check_rr("udp-rr", s),
            _ => panic!("{workload} gave {sample:?}"),
        }
        let served = server.stop().unwrap_err().to_string();
        assert!(served.contains("the sockperf server"), "{served}");
    }
}

#[test]
fn a_taken_port_fails_the_server_with_the_tools_message() {
    for (generator, workload) in [
        (Generator::Iperf3, Workload::TcpStream),
        (Generator::Sockperf, Workload::UdpRr),
    ] {
        require(generator);
        let (_tcp, _udp, port);
        if workload == Workload::UdpRr {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            port = s.local_addr().unwrap().port();
            (_tcp, _udp) = (None, Some(s));
        } else {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            port = l.local_addr().unwrap().port();
            (_tcp, _udp) = (Some(l), None);
        }
        let cfg = ServeConfig {
            workload,
            bind: SocketAddr::from(([127, 0, 0, 1], port)),
            cpu: None,
            generator,
        };
        let mut out = Vec::new();
        let e = run_agent(&AgentTask::Serve(cfg), &mut out)
            .unwrap_err()
            .to_string();
        eprintln!("{e}");
        assert!(out.is_empty(), "wrote {:?}", String::from_utf8_lossy(&out));
        assert!(
            e.starts_with(&format!("listen on 127.0.0.1:{port} failed")),
            "{e}"
        );
        assert!(e.contains("exited before it listened"), "{e}");
        assert!(e.contains("Address already in use"), "{e}");
    }
}

#[test]
fn a_client_without_a_server_reports_the_command_and_the_tools_message() {
    for (generator, workload) in [
        (Generator::Iperf3, Workload::TcpStream),
        (Generator::Sockperf, Workload::TcpRr),
    ] {
        require(generator);
        let port = free_port(false);
        let cfg = client(
            generator,
            workload,
            SocketAddr::from(([127, 0, 0, 1], port)),
        );
        let e = run_client(&cfg).unwrap_err().to_string();
        eprintln!("{e}");
        assert!(e.contains(&format!("`{generator} ")), "{e}");
        assert!(e.contains("Connection refused"), "{e}");
    }
}
