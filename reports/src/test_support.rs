//! A result with every field filled, shared by the unit tests.

use crate::schema::*;
use crate::Environment;

/// A finished vxlan run: three namespaces, one check of each outcome, a tcp-stream measurement
/// with noisy repetitions and a tcp-rr measurement with steady ones.
pub(crate) fn full_result() -> RunResult {
    let environment = Environment {
        kernel: "6.8.0-45-generic".into(),
        os: Some("Ubuntu 24.04.1 LTS".into()),
        cpu_model: Some("AMD EPYC 7B13".into()),
        cpu_count: 2,
        memory_bytes: Some(8 * 1024 * 1024 * 1024),
        cnbench_version: "0.1.0".into(),
        git_revision: Some("abc123".into()),
        hostname: Some("bench-1".into()),
    };
    let parameters = Parameters {
        backend: "vxlan".into(),
        nodes: 2,
        pods_per_node: 2,
        underlay: "l2".into(),
        pod_cidr: "100.96.0.0/16".into(),
        underlay_cidrs: vec!["10.168.0.0/24".into()],
        mtu: 1500,
        workloads: vec!["tcp-stream".into(), "tcp-rr".into()],
        duration_ms: 10_000,
        warmup_ms: 2_000,
        repeat: 3,
        placement: "cross-cpu".into(),
        generator: "cnbench".into(),
        streams: 1,
        message_size_bytes: None,
        datapath: None,
        bgp_topology: None,
        backend_options: Default::default(),
    };
    let mut r = RunResult::new("ab12", environment, parameters);
    r.started_unix_ms = 1_760_000_000_000;
    r.topology = vec![
        NamespaceRecord {
            name: "cnb-ab12-n0".into(),
            role: "node".into(),
            node: None,
            devices: vec![
                DeviceRecord {
                    name: "eth0".into(),
                    kind: "veth".into(),
                    mac: Some("02:42:0a:a8:00:01".into()),
                    addresses: vec!["10.168.0.1/24".into()],
                    mtu_bytes: 1500,
                    master: None,
                },
                DeviceRecord {
                    name: "cni0".into(),
                    kind: "bridge".into(),
                    mac: None,
                    addresses: vec!["100.96.0.1/24".into(), "fd00::1/64".into()],
                    mtu_bytes: 1450,
                    master: None,
                },
                DeviceRecord {
                    name: "veth0a1b".into(),
                    kind: "veth".into(),
                    mac: Some("02:42:64:60:00:10".into()),
                    addresses: vec![],
                    mtu_bytes: 1450,
                    master: Some("cni0".into()),
                },
            ],
        },
        NamespaceRecord {
            name: "cnb-ab12-n0p0".into(),
            role: "pod".into(),
            node: Some("cnb-ab12-n0".into()),
            devices: vec![DeviceRecord {
                name: "eth0".into(),
                kind: "veth".into(),
                mac: Some("02:42:64:60:00:02".into()),
                addresses: vec!["100.96.0.2/24".into()],
                mtu_bytes: 1450,
                master: None,
            }],
        },
        NamespaceRecord {
            name: "cnb-ab12-sw".into(),
            role: "switch".into(),
            node: None,
            devices: vec![],
        },
    ];
    r.timings = Timings {
        setup_ns: Some(1_200_000_000),
        checks_ns: Some(350_000_000),
        measure_ns: Some(36_000_000_000),
        teardown_ns: Some(800_000_000),
    };
    r.checks = vec![
        CheckRecord {
            check: "reachability".into(),
            subject: "cnb-ab12-n0p0 -> 100.96.1.2 icmp".into(),
            expected: "reply".into(),
            actual: "reply in 41 µs".into(),
            outcome: CheckOutcome::Pass,
            reason: None,
        },
        CheckRecord {
            check: "mtu".into(),
            subject: "cnb-ab12-n1:flannel.1".into(),
            expected: "1450".into(),
            actual: "1500".into(),
            outcome: CheckOutcome::Fail,
            reason: Some("VXLAN adds 50 B, so flannel.1 must be 50 B below eth0".into()),
        },
        CheckRecord {
            check: "isolation".into(),
            subject: "cnb-ab12-n0p0 :5201 vs cnb-ab12-n0p1 :5201".into(),
            expected: "both bind".into(),
            actual: "both bind".into(),
            outcome: CheckOutcome::ExpectedFailure,
            reason: Some("demonstration".into()),
        },
    ];
    let endpoint = |pod: &str, ip: &str| Endpoint {
        pod: pod.into(),
        netns: format!("cnb-ab12-{pod}"),
        ip: ip.into(),
    };
    let placement = Placement {
        kind: "cross-cpu".into(),
        client_cpu: 0,
        server_cpu: 1,
        daemon_cpu: None,
    };
    let stream = |bps: f64| {
        Sample::TcpStream(TcpStreamSample {
            streams: 4,
            message_size_bytes: 131_072,
            bytes_received: (bps / 8.0 * 10.0) as u64,
            window_ns: 10_000_000_000,
            throughput_bps: bps,
        })
    };
    let rr = |tps: f64, p50: u64| {
        Sample::TcpRr(RrSample {
            message_size_bytes: 1,
            timeouts: 0,
            transactions: (tps * 10.0) as u64,
            window_ns: 10_000_000_000,
            transactions_per_s: tps,
            rtt_min_ns: 15_000,
            rtt_mean_ns: 24_250.5,
            rtt_p50_ns: p50,
            rtt_p90_ns: 30_000,
            rtt_p99_ns: 45_000,
            rtt_p999_ns: 90_000,
            rtt_max_ns: 1_200_000,
        })
    };
    let mut stream_record = MeasurementRecord {
        workload: "tcp-stream".into(),
        variant: None,
        generator: "cnbench".into(),
        client: endpoint("n0p0", "100.96.0.2"),
        server: endpoint("n1p0", "100.96.1.2"),
        path: "cross-node".into(),
        datapath: "kernel".into(),
        placement: placement.clone(),
        repetitions: vec![stream(18.42e9), stream(12.5e9), stream(19.0e9)],
        summary: vec![],
        costs: vec![],
        traced: None,
        vs_baseline: vec![],
        warnings: vec![],
    };
    stream_record.summarize();
    let mut rr_record = MeasurementRecord {
        workload: "tcp-rr".into(),
        variant: None,
        generator: "cnbench".into(),
        client: endpoint("n0p0", "100.96.0.2"),
        server: endpoint("n1p0", "100.96.1.2"),
        path: "cross-node".into(),
        datapath: "kernel".into(),
        placement,
        repetitions: vec![
            rr(41_234.0, 21_300),
            rr(41_000.0, 21_500),
            rr(40_800.0, 21_400),
        ],
        summary: vec![],
        costs: vec![],
        traced: None,
        vs_baseline: vec![],
        warnings: vec![],
    };
    rr_record.summarize();
    r.measurements = vec![stream_record, rr_record];
    r.outcome = Outcome::ChecksFailed;
    r
}

/// An untraced repetition's cost over 1 s in which work outside the run's roles used
/// `outside_ns` of CPU: what the disturbance checks read.
pub(crate) fn cost_with_outside_work(outside_ns: u64) -> crate::schema::CostSample {
    crate::schema::CostSample {
        roles: vec![],
        interval_ns: 1_000_000_000,
        traced: false,
        packets: Some(1000),
        bytes: Some(1_000_000),
        machine: Some(crate::schema::MachineCost {
            cpus: 2,
            busy_ns: 2_000_000_000,
            softirq_ns: 0,
            outside_roles_ns: outside_ns,
            cpu_s_per_gb: None,
            cpu_s_per_mpacket: None,
        }),
        machine_unavailable: None,
        device_xmits: None,
        device_xmits_per_packet: None,
        device_xmits_unavailable: None,
        device_tx_per_packet: None,
        kernel: None,
        kernel_unavailable: None,
        sending_node_crossings_per_packet: None,
        receiving_node_crossings_per_packet: None,
        syscalls_unavailable: None,
        method: String::new(),
    }
}

/// A fresh directory under the system temp dir, removed on drop.
pub(crate) struct TempDir(pub(crate) std::path::PathBuf);

impl TempDir {
    pub(crate) fn new() -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "cnbench-reports-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
