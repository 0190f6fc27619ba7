//! Both agents on 127.0.0.1, no root: short tests that the workloads run end to end and that
//! their figures are sane.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::Duration;

use cnbench_workloads as workloads;
use reports::Sample;
use workloads::{
    run_agent, run_client, AgentTask, ClientConfig, ServeConfig, Server, Workload, WorkloadError,
};

/// One server for every test in this file, on an ephemeral port, in a background thread.
fn server() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        let server = Server::bind(&ServeConfig {
            workload: Workload::TcpStream,
            bind: "127.0.0.1:0".parse().unwrap(),
            cpu: None,
            generator: Default::default(),
        })
        .unwrap();
        let addr = server.local_addr();
        assert_ne!(addr.port(), 0);
        std::thread::spawn(move || server.run());
        addr
    })
}

fn client(workload: Workload, streams: u32) -> ClientConfig {
    ClientConfig {
        duration_ms: 250,
        warmup_ms: 50,
        streams,
        ..ClientConfig::new(workload, server())
    }
}

fn stream_test(streams: u32) {
    let cfg = client(Workload::TcpStream, streams);
    let Sample::TcpStream(s) = run_client(&cfg).unwrap() else {
        panic!("tcp-stream gave another sample kind");
    };
    eprintln!(
        "tcp-stream x{streams}: {:.2} Gbit/s, {} bytes in {:.1} ms",
        s.throughput_bps / 1e9,
        s.bytes_received,
        s.window_ns as f64 / 1e6
    );
    assert_eq!(s.streams, streams);
    assert_eq!(s.message_size_bytes, 131_072);
    assert!(s.bytes_received > 0);
    assert!(s.throughput_bps > 0.0);
    // The window is the duration, to within the recv granularity and scheduling noise.
    let window_ms = s.window_ns as f64 / 1e6;
    assert!(
        (200.0..=260.0).contains(&window_ms),
        "window {window_ms} ms"
    );
    let expected = s.bytes_received as f64 * 8.0 / (s.window_ns as f64 / 1e9);
    assert!((s.throughput_bps - expected).abs() / expected < 1e-9);
}

#[test]
fn tcp_stream_one_stream() {
    stream_test(1);
}

#[test]
fn tcp_stream_two_streams() {
    stream_test(2);
}

#[test]
fn tcp_rr_percentiles_are_ordered() {
    let cfg = client(Workload::TcpRr, 1);
    let Sample::TcpRr(s) = run_client(&cfg).unwrap() else {
        panic!("tcp-rr gave another sample kind");
    };
    eprintln!(
        "tcp-rr: {} transactions, {:.0}/s, rtt min {} p50 {} p99 {} max {} ns",
        s.transactions,
        s.transactions_per_s,
        s.rtt_min_ns,
        s.rtt_p50_ns,
        s.rtt_p99_ns,
        s.rtt_max_ns
    );
    assert_eq!(s.message_size_bytes, 64);
    assert!(s.transactions > 0);
    assert!(s.rtt_min_ns > 0);
    assert!(s.rtt_min_ns <= s.rtt_p50_ns);
    assert!(s.rtt_p50_ns <= s.rtt_p90_ns);
    assert!(s.rtt_p90_ns <= s.rtt_p99_ns);
    assert!(s.rtt_p99_ns <= s.rtt_p999_ns);
    assert!(s.rtt_p999_ns <= s.rtt_max_ns);
    assert!(s.rtt_mean_ns >= s.rtt_min_ns as f64 && s.rtt_mean_ns <= s.rtt_max_ns as f64);
    let window_ms = s.window_ns as f64 / 1e6;
    assert!(
        (250.0..=300.0).contains(&window_ms),
        "window {window_ms} ms"
    );
    let expected = s.transactions as f64 / (s.window_ns as f64 / 1e9);
    assert!((s.transactions_per_s - expected).abs() / expected < 1e-9);
}

#[test]
fn tcp_rr_with_large_messages_and_no_warmup() {
    let cfg = ClientConfig {
        warmup_ms: 0,
        duration_ms: 100,
        message_size: 100_000,
        ..client(Workload::TcpRr, 1)
    };
    let Sample::TcpRr(s) = run_client(&cfg).unwrap() else {
        panic!("tcp-rr gave another sample kind");
    };
    assert!(s.transactions > 0);
    assert_eq!(s.message_size_bytes, 100_000);
}

#[test]
fn client_run_agent_prints_one_sample_line() {
    let task = AgentTask::Client(client(Workload::TcpRr, 1));
    let mut out = Vec::new();
    run_agent(&task, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.ends_with('\n'));
    assert_eq!(text.lines().count(), 1);
    let sample: Sample = serde_json::from_str(text.trim_end()).unwrap();
    assert_eq!(sample.workload(), "tcp-rr");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["workload"], "tcp-rr");
}

/// Sends every write to a channel, so a test can read the first line of an agent that never
/// returns.
struct ChannelWriter(mpsc::Sender<Vec<u8>>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .send(buf.to_vec())
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn serve_run_agent_writes_ready_first_and_then_serves() {
    let (tx, rx) = mpsc::channel();
    let task = AgentTask::Serve(ServeConfig {
        workload: Workload::TcpRr,
        bind: "127.0.0.1:0".parse().unwrap(),
        cpu: None,
        generator: Default::default(),
    });
    std::thread::spawn(move || {
        let mut out = ChannelWriter(tx);
        run_agent(&task, &mut out)
    });
    let mut line = Vec::new();
    while !line.ends_with(b"\n") {
        line.extend(rx.recv_timeout(Duration::from_secs(5)).unwrap());
    }
    let line = String::from_utf8(line).unwrap();
    let port: u16 = line
        .strip_prefix("ready ")
        .and_then(|p| p.trim_end_matches('\n').parse().ok())
        .unwrap_or_else(|| panic!("first line was {line:?}"));
    assert_ne!(port, 0);

    // The announced port answers a real test.
    let cfg = ClientConfig {
        duration_ms: 50,
        warmup_ms: 0,
        ..ClientConfig::new(Workload::TcpRr, SocketAddr::from(([127, 0, 0, 1], port)))
    };
    assert!(run_client(&cfg).is_ok());
    // And nothing else was written.
    assert!(rx.try_recv().is_err());
}

#[test]
fn serve_reports_the_port_through_the_callback() {
    let (tx, rx) = mpsc::channel();
    let cfg = ServeConfig {
        workload: Workload::TcpStream,
        bind: "127.0.0.1:0".parse().unwrap(),
        cpu: None,
        generator: Default::default(),
    };
    std::thread::spawn(move || workloads::serve(&cfg, move |port| tx.send(port).unwrap()));
    let port = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());
}

#[test]
fn bind_conflict_names_the_address_and_the_fix() {
    let taken = server();
    let err = Server::bind(&ServeConfig {
        workload: Workload::TcpStream,
        bind: taken,
        cpu: None,
        generator: Default::default(),
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains(&taken.to_string()), "{err}");
    assert!(err.contains("choose another port"), "{err}");
}

#[test]
fn connect_refused_names_the_target_and_the_fix() {
    // Bind and drop a listener to find a port that is (almost certainly) closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let target = SocketAddr::from(([127, 0, 0, 1], port));
    let err = run_client(&ClientConfig::new(Workload::TcpRr, target)).unwrap_err();
    assert!(matches!(err, WorkloadError::Connect { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("connect to {target} failed: ")),
        "{msg}"
    );
    assert!(
        msg.ends_with("is the server running in the peer pod?"),
        "{msg}"
    );
}

#[test]
fn a_foreign_server_is_reported_as_such() {
    // A "server" that answers anything with garbage.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut c, _) = listener.accept().unwrap();
        let mut hdr = [0u8; 32];
        c.read_exact(&mut hdr).unwrap();
        c.write_all(b"HTTP/1.1 400 Bad\r\n").unwrap();
    });
    let err = run_client(&ClientConfig::new(Workload::TcpStream, addr))
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a cnbench ack"), "{err}");
}

#[test]
fn a_bad_header_is_refused_with_a_status() {
    let mut c = TcpStream::connect(server()).unwrap();
    c.write_all(&[0u8; 32]).unwrap();
    let mut ack = Vec::new();
    BufReader::new(&mut c).read_until(0xff, &mut ack).unwrap();
    assert_eq!(&ack[..4], b"CNBA");
    assert_eq!(u32::from_be_bytes(ack[4..8].try_into().unwrap()), 1);
}

#[test]
fn invalid_client_configs_fail_before_connecting() {
    // Port 9 on loopback: nothing may be contacted, validation must fail first.
    let target: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let cases = [
        (
            ClientConfig {
                streams: 0,
                ..ClientConfig::new(Workload::TcpStream, target)
            },
            "streams",
        ),
        (
            ClientConfig {
                streams: 2,
                ..ClientConfig::new(Workload::TcpRr, target)
            },
            "streams must be 1",
        ),
        (
            ClientConfig {
                message_size: 0,
                ..ClientConfig::new(Workload::TcpRr, target)
            },
            "message_size",
        ),
        (
            ClientConfig {
                duration_ms: 0,
                ..ClientConfig::new(Workload::TcpRr, target)
            },
            "duration_ms",
        ),
    ];
    for (cfg, needle) in cases {
        let err = run_client(&cfg).unwrap_err();
        assert!(
            matches!(err, WorkloadError::InvalidConfig { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains(needle), "{err}");
    }
}
