//! Both agents on 127.0.0.1, no root: short tests that the workloads run end to end and that
//! their figures are sane.

mod common;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::Duration;

use cnbench_workloads as workloads;
use reports::{RrSample, Sample};
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
    common::assert_rr_ordered(&s, 64);
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

// ---------------------------------------------------------------------------------------------
// udp-stream, udp-rr, tcp-crr.

fn short(workload: Workload, message_size: u32) -> ClientConfig {
    ClientConfig {
        duration_ms: 300,
        warmup_ms: 100,
        message_size,
        ..ClientConfig::new(workload, server())
    }
}

fn udp_stream_test(message_size: u32) {
    let cfg = short(Workload::UdpStream, message_size);
    let Sample::UdpStream(s) = run_client(&cfg).unwrap() else {
        panic!("udp-stream gave another sample kind");
    };
    eprintln!(
        "udp-stream {message_size} B: {:.0} packets/s, {:.3} Gbit/s, loss {:.2} %, {} sent and \
         {} received in {:.1} ms",
        s.packets_per_s,
        s.throughput_bps / 1e9,
        s.loss_percent,
        s.packets_sent,
        s.packets_received,
        s.window_ns as f64 / 1e6
    );
    assert_eq!(s.message_size_bytes, message_size);
    assert!(s.packets_sent > 0);
    assert!(s.packets_received > 0);
    assert_eq!(
        s.bytes_received,
        s.packets_received * u64::from(message_size)
    );
    assert!(
        (0.0..=100.0).contains(&s.loss_percent),
        "{}",
        s.loss_percent
    );
    // The window is the duration, to within a receive batch and scheduling noise.
    let window_ms = s.window_ns as f64 / 1e6;
    assert!(
        (250.0..=360.0).contains(&window_ms),
        "window {window_ms} ms"
    );
    let secs = s.window_ns as f64 / 1e9;
    let pps = s.packets_received as f64 / secs;
    assert!((s.packets_per_s - pps).abs() / pps < 1e-9);
    let bps = s.bytes_received as f64 * 8.0 / secs;
    assert!((s.throughput_bps - bps).abs() / bps < 1e-9);
}

#[test]
fn udp_stream_64_bytes() {
    udp_stream_test(64);
}

#[test]
fn udp_stream_1472_bytes() {
    udp_stream_test(1472);
}

#[test]
fn udp_stream_smallest_and_largest_datagrams() {
    for size in [16, 65_507] {
        let cfg = ClientConfig {
            duration_ms: 100,
            warmup_ms: 0,
            ..short(Workload::UdpStream, size)
        };
        let Sample::UdpStream(s) = run_client(&cfg).unwrap() else {
            panic!("udp-stream gave another sample kind");
        };
        assert!(s.packets_received > 0, "{size} B: {s:?}");
    }
}

fn assert_rr_sane(s: &RrSample, message_size: u32) {
    common::assert_rr_ordered(s, message_size);
    let window_ms = s.window_ns as f64 / 1e6;
    assert!(
        (300.0..=360.0).contains(&window_ms),
        "window {window_ms} ms"
    );
    let expected = s.transactions as f64 / (s.window_ns as f64 / 1e9);
    assert!((s.transactions_per_s - expected).abs() / expected < 1e-9);
}

fn print_rr(name: &str, s: &RrSample) {
    eprintln!(
        "{name}: {} transactions, {:.0}/s, {} timeouts, rtt min {} p50 {} p90 {} p99 {} \
         p99.9 {} max {} mean {:.0} ns",
        s.transactions,
        s.transactions_per_s,
        s.timeouts,
        s.rtt_min_ns,
        s.rtt_p50_ns,
        s.rtt_p90_ns,
        s.rtt_p99_ns,
        s.rtt_p999_ns,
        s.rtt_max_ns,
        s.rtt_mean_ns
    );
}

#[test]
fn udp_rr_percentiles_are_ordered_and_nothing_times_out() {
    let cfg = short(Workload::UdpRr, 64);
    let Sample::UdpRr(s) = run_client(&cfg).unwrap() else {
        panic!("udp-rr gave another sample kind");
    };
    print_rr("udp-rr", &s);
    assert_rr_sane(&s, 64);
    assert_eq!(s.timeouts, 0);
}

#[test]
fn udp_rr_with_large_datagrams_and_no_warmup() {
    let cfg = ClientConfig {
        warmup_ms: 0,
        duration_ms: 100,
        ..short(Workload::UdpRr, 65_507)
    };
    let Sample::UdpRr(s) = run_client(&cfg).unwrap() else {
        panic!("udp-rr gave another sample kind");
    };
    assert!(s.transactions > 0);
    assert_eq!(s.timeouts, 0);
}

#[test]
fn tcp_crr_percentiles_are_ordered() {
    let cfg = short(Workload::TcpCrr, 64);
    let Sample::TcpCrr(s) = run_client(&cfg).unwrap() else {
        panic!("tcp-crr gave another sample kind");
    };
    print_rr("tcp-crr", &s);
    assert_rr_sane(&s, 64);
    assert_eq!(s.timeouts, 0);
}

/// TCP sockets in TIME_WAIT on 127.0.0.1 whose local port (`local == true`) or remote port is
/// `port`, from /proc/net/tcp.
fn time_wait_on(port: u16, local: bool) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let port_of = |addr: &str| u16::from_str_radix(addr.rsplit(':').next().unwrap(), 16);
            let which = if local { f[1] } else { f[2] };
            f[3] == "06" && port_of(which) == Ok(port)
        })
        .count()
}

#[test]
fn tcp_crr_leaves_time_wait_on_the_server_so_ports_do_not_run_out() {
    // A server of its own, so no other test's connections are counted.
    let server = Server::bind(&ServeConfig {
        workload: Workload::TcpCrr,
        bind: "127.0.0.1:0".parse().unwrap(),
        cpu: None,
        generator: Default::default(),
    })
    .unwrap();
    let addr = server.local_addr();
    std::thread::spawn(move || server.run());
    let mut total = 0;
    for _ in 0..3 {
        let cfg = ClientConfig {
            duration_ms: 300,
            warmup_ms: 0,
            ..ClientConfig::new(Workload::TcpCrr, addr)
        };
        let Sample::TcpCrr(s) = run_client(&cfg).unwrap() else {
            panic!("tcp-crr gave another sample kind");
        };
        total += s.transactions;
    }
    let server_side = time_wait_on(addr.port(), true);
    let client_side = time_wait_on(addr.port(), false);
    eprintln!(
        "tcp-crr: {total} transactions; TIME_WAIT: {server_side} on the server side, \
         {client_side} on the client side"
    );
    assert!(total > 100, "{total}");
    // The server closes first: the TIME_WAIT state is its, never the client's.
    assert_eq!(client_side, 0);
    assert!(server_side > 0);
}

#[test]
fn udp_workloads_refuse_datagrams_too_small_for_the_sequence_number() {
    for w in [Workload::UdpStream, Workload::UdpRr] {
        // Port 9: nothing may be contacted, the check must come first.
        let cfg = ClientConfig {
            message_size: 15,
            ..ClientConfig::new(w, "127.0.0.1:9".parse().unwrap())
        };
        let err = run_client(&cfg).unwrap_err();
        assert!(
            matches!(err, WorkloadError::InvalidConfig { .. }),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("16..=65507"), "{msg}");
        assert!(msg.contains("sequence number"), "{msg}");
    }
}

#[test]
fn a_version_1_header_is_refused_with_bad_version() {
    // A version-1 tcp-rr header, byte for byte.
    let mut hdr = [0u8; 32];
    hdr[0..4].copy_from_slice(b"CNBW");
    hdr[4..6].copy_from_slice(&1u16.to_be_bytes());
    hdr[6..8].copy_from_slice(&2u16.to_be_bytes());
    hdr[16..24].copy_from_slice(&1000u64.to_be_bytes());
    hdr[24..28].copy_from_slice(&64u32.to_be_bytes());
    let mut c = TcpStream::connect(server()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(&hdr).unwrap();
    let mut ack = Vec::new();
    c.read_to_end(&mut ack).unwrap();
    assert_eq!(&ack[..4], b"CNBA");
    assert_eq!(u32::from_be_bytes(ack[4..8].try_into().unwrap()), 2);
    assert!(ack[8..].iter().all(|b| *b == 0));
}

#[test]
fn a_version_1_server_is_reported_with_the_fix() {
    // What a version-1 server does with a version-2 header: an 8-byte refusal, then close.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for _ in 0..3 {
            let (mut c, _) = listener.accept().unwrap();
            let mut hdr = [0u8; 32];
            c.read_exact(&mut hdr).unwrap();
            let mut ack = *b"CNBA\0\0\0\0";
            ack[7] = 2;
            c.write_all(&ack).unwrap();
        }
    });
    for w in [Workload::TcpRr, Workload::UdpStream, Workload::TcpCrr] {
        let err = run_client(&ClientConfig::new(w, addr))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("does not speak protocol version 2: run the same cnbench build"),
            "{w}: {err}"
        );
    }
}

#[test]
fn udp_run_agent_prints_one_sample_line() {
    let task = AgentTask::Client(ClientConfig {
        duration_ms: 50,
        warmup_ms: 0,
        ..short(Workload::UdpStream, 64)
    });
    let mut out = Vec::new();
    run_agent(&task, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.lines().count(), 1);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["workload"], "udp-stream");
    assert!(v["loss_percent"].is_number(), "{text}");
}

#[test]
fn many_parallel_streams_still_connect() {
    let cfg = ClientConfig {
        duration_ms: 100,
        warmup_ms: 0,
        streams: 32,
        ..ClientConfig::new(Workload::TcpStream, server())
    };
    let Sample::TcpStream(s) = run_client(&cfg).unwrap() else {
        panic!("tcp-stream gave another sample kind");
    };
    assert_eq!(s.streams, 32);
    assert!(s.bytes_received > 0);
}

#[test]
fn udp_rr_counts_a_lost_request_as_a_timeout_and_ignores_stale_replies() {
    // A hand-written udp-rr server: it drops request 3 and answers request 5 first with
    // a copy carrying sequence number 4 (stale), then correctly.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = udp.local_addr().unwrap().port();
    let cookie: u64 = 0x1234_5678_9abc_def0;
    std::thread::spawn(move || {
        let (mut c, _) = listener.accept().unwrap();
        let mut hdr = [0u8; 32];
        c.read_exact(&mut hdr).unwrap();
        assert_eq!(
            u16::from_be_bytes([hdr[6], hdr[7]]),
            4,
            "udp-rr workload id"
        );
        let mut ack = [0u8; 20];
        ack[0..4].copy_from_slice(b"CNBA");
        ack[8..12].copy_from_slice(&u32::from(port).to_be_bytes());
        ack[12..20].copy_from_slice(&cookie.to_be_bytes());
        c.write_all(&ack).unwrap();
        udp.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut buf = [0u8; 2048];
        while let Ok((n, src)) = udp.recv_from(&mut buf) {
            assert_eq!(&buf[8..16], &cookie.to_be_bytes());
            let seq = u64::from_be_bytes(buf[..8].try_into().unwrap());
            match seq {
                3 => continue,
                5 => {
                    let mut stale = buf;
                    stale[..8].copy_from_slice(&4u64.to_be_bytes());
                    udp.send_to(&stale[..n], src).unwrap();
                }
                _ => {}
            }
            udp.send_to(&buf[..n], src).unwrap();
        }
    });
    let cfg = ClientConfig {
        warmup_ms: 0,
        duration_ms: 400,
        ..ClientConfig::new(Workload::UdpRr, addr)
    };
    let Sample::UdpRr(s) = run_client(&cfg).unwrap() else {
        panic!("udp-rr gave another sample kind");
    };
    print_rr("udp-rr with a lost request", &s);
    assert_eq!(s.timeouts, 1);
    assert!(s.transactions > 10, "{s:?}");
    // The given-up transaction is not recorded: no round trip near the 200 ms timeout.
    assert!(s.rtt_max_ns < 100_000_000, "{s:?}");
}
