//! Results made to order for tests: a result with every field filled ([`full_result`]), and
//! results of chosen figures for the tests of the comparison and of its presentations in
//! `render` ([`rr_result`], [`noisy_rr_result`], [`stream_result`], [`BACKENDS`], ...).
//!
//! Compiled for this crate's tests and, with the `test-support` feature, for the tests of
//! crates that render results; never part of a build of cnbench itself.

use crate::compare::SplitMix64;
use crate::schema::*;
use crate::Environment;

/// A finished vxlan run: three namespaces, one check of each outcome, a tcp-stream measurement
/// with noisy repetitions and a tcp-rr measurement with steady ones.
pub fn full_result() -> RunResult {
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
        ip_family: Some("ipv4".into()),
        segment_mtu_bytes: None,
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
        tweaks: Vec::new(),
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
pub fn cost_with_outside_work(outside_ns: u64) -> crate::schema::CostSample {
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
        machines: Vec::new(),
        device_xmits: None,
        device_xmits_per_packet: None,
        device_xmits_unavailable: None,
        device_tx_per_packet: None,
        kernel: None,
        kernel_unavailable: None,
        sending_node_crossings_per_packet: None,
        receiving_node_crossings_per_packet: None,
        wire_segments: None,
        device_tx_per_segment: None,
        sending_node_crossings_per_segment: None,
        receiving_node_crossings_per_segment: None,
        syscalls_unavailable: None,
        method: String::new(),
    }
}

/// A fresh directory under the system temp dir, removed on drop.
#[cfg(test)]
pub(crate) struct TempDir(pub(crate) std::path::PathBuf);

#[cfg(test)]
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

#[cfg(test)]
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A deterministic generator for test noise: splitmix64 with normal deviates.
pub struct Noise(SplitMix64);

impl Noise {
    pub fn new(seed: u64) -> Noise {
        Noise(SplitMix64(
            seed.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ 0x1234_5678,
        ))
    }

    fn uniform(&mut self) -> f64 {
        // 53 random bits in (0, 1].
        ((self.0.next() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }

    /// A standard normal deviate (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    /// `x` times `1 + cv * N(0, 1)`.
    pub fn jitter(&mut self, x: f64, cv: f64) -> f64 {
        x * (1.0 + cv * self.normal())
    }
}

/// The finished run of `full_result` under run id `run_id` (in its namespace names and
/// check subjects too), every check passing or failing as expected, and `measurements`.
pub fn result(run_id: &str, measurements: Vec<MeasurementRecord>) -> RunResult {
    let mut r = full_result();
    let json = serde_json::to_string(&r).unwrap().replace("ab12", run_id);
    r = serde_json::from_str(&json).unwrap();
    r.checks[1].outcome = CheckOutcome::Pass;
    r.checks[1].actual = "1450".into();
    r.measurements = measurements;
    r.outcome = Outcome::Passed;
    r
}

/// `r` as a result of `backend` (for comparisons across backends).
pub fn of_backend(mut r: RunResult, backend: &str) -> RunResult {
    r.parameters.backend = backend.into();
    r
}

/// What a run of the `cni` backend records of the software it drove: the network `docker0`
/// (CNI 1.0.0, chain `bridge -> portmap`, a configuration file and a substitution) and its
/// three plugins from `/usr/lib/cni`, each supporting CNI 0.1.0 to 1.0.0.
pub fn cni_components() -> Vec<crate::ComponentRecord> {
    let supported: Vec<String> = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"]
        .map(String::from)
        .to_vec();
    let mut out = vec![crate::ComponentRecord {
        role: "cni-network".into(),
        name: "docker0".into(),
        path: None,
        version: Some("1.0.0".into()),
        supported_versions: vec!["1.0.0".into()],
        notes: vec![
            "configuration: /etc/cni/net.d/docker0.conflist".into(),
            "bridge: mtu 1400 kept as configured (the backend's pod MTU is 1450)".into(),
            "chain: bridge -> portmap".into(),
        ],
    }];
    for plugin in ["bridge", "host-local", "portmap"] {
        out.push(crate::ComponentRecord {
            role: "cni-plugin".into(),
            name: plugin.into(),
            path: Some(format!("/usr/lib/cni/{plugin}")),
            version: None,
            supported_versions: supported.clone(),
            notes: Vec::new(),
        });
    }
    out
}

/// A check of `run_id`'s run that was not made because it does not apply: the `cni-gc` of
/// node 0's network, with a chain whose plugins speak CNI 1.0.0 at most.
pub fn not_applicable_check(run_id: &str) -> CheckRecord {
    CheckRecord {
        check: "cni-gc".into(),
        subject: format!("cnb-{run_id}-n0 docker0"),
        expected: "GC succeeds".into(),
        actual: "not made".into(),
        outcome: CheckOutcome::NotApplicable,
        reason: Some(
            "not applicable: the plugin supports up to CNI 1.0.0, GC came with 1.1.0".into(),
        ),
    }
}

/// Every plugin call of a run of the `cni` backend on 2 nodes x 2 pods with the chain of
/// [`cni_components`] (`bridge` with `host-local` as its IPAM, then `portmap`), in order:
/// each plugin's VERSION, the ADD of each pod through the chain, a CHECK of each pod (two of
/// portmap's answer CNI error 7), then the DEL of each pod in reverse chain order (one of
/// bridge's times out). 27 calls; no GC or STATUS (the plugins speak CNI 1.0.0 at most).
pub fn cni_plugin_calls() -> Vec<crate::PluginCallRecord> {
    let call = |pod: &str, plugin: &str, verb: &str, wall_us: u64, outcome: &str| {
        crate::PluginCallRecord {
            pod: pod.into(),
            node: if pod.starts_with("n1") { "n1" } else { "n0" }.into(),
            plugin: plugin.into(),
            verb: verb.into(),
            wall_ns: wall_us * 1000,
            outcome: outcome.into(),
        }
    };
    let pods = ["n0p0", "n0p1", "n1p0", "n1p1"];
    let mut out = vec![
        call("-", "bridge", "VERSION", 1_520, "ok"),
        call("-", "host-local", "VERSION", 1_410, "ok"),
        call("-", "portmap", "VERSION", 1_630, "ok"),
    ];
    for (pod, (bridge, portmap)) in pods.iter().zip([
        (41_200, 12_100),
        (38_900, 11_800),
        (44_000, 13_000),
        (52_300, 12_400),
    ]) {
        out.push(call(pod, "bridge", "ADD", bridge, "ok"));
        out.push(call(pod, "portmap", "ADD", portmap, "ok"));
    }
    for (i, pod) in pods.iter().enumerate() {
        out.push(call(
            pod,
            "bridge",
            "CHECK",
            [6_100, 5_900, 6_300, 6_000][i],
            "ok",
        ));
        let outcome = if i >= 2 { "error 7" } else { "ok" };
        out.push(call(
            pod,
            "portmap",
            "CHECK",
            [3_200, 3_000, 3_100, 3_300][i],
            outcome,
        ));
    }
    for (i, pod) in pods.iter().enumerate() {
        out.push(call(
            pod,
            "portmap",
            "DEL",
            [9_800, 9_500, 9_900, 10_100][i],
            "ok",
        ));
        let (wall, outcome) = if i == 3 {
            (10_000_000, "timed out")
        } else {
            ([21_000, 20_400, 22_100][i], "ok")
        };
        out.push(call(pod, "bridge", "DEL", wall, outcome));
    }
    out
}

/// [`full_result`] as a run whose pods a CNI chain wired: its [`cni_components`], its
/// [`cni_plugin_calls`], and a fourth check, [`not_applicable_check`].
pub fn cni_result() -> RunResult {
    let mut r = full_result();
    r.components = cni_components();
    r.plugin_calls = cni_plugin_calls();
    r.checks.push(not_applicable_check(&r.run_id));
    r
}

/// A measurement of `samples` on `path`, summarized.
pub fn measurement(
    workload: &str,
    variant: Option<&str>,
    path: &str,
    samples: Vec<Sample>,
) -> MeasurementRecord {
    let endpoint = |pod: &str| Endpoint {
        pod: pod.into(),
        netns: format!("cnb-x-{pod}"),
        ip: "100.96.0.2".into(),
    };
    let mut m = MeasurementRecord {
        workload: workload.into(),
        variant: variant.map(String::from),
        generator: "cnbench".into(),
        client: endpoint("n0p0"),
        server: endpoint(if path == "same-node" { "n0p1" } else { "n1p0" }),
        path: path.into(),
        datapath: "kernel".into(),
        placement: Placement {
            kind: "same-cpu".into(),
            client_cpu: 1,
            server_cpu: 1,
            daemon_cpu: None,
        },
        repetitions: samples,
        summary: vec![],
        costs: vec![],
        traced: None,
        vs_baseline: vec![],
        warnings: vec![],
    };
    m.summarize();
    m
}

/// A tcp-stream repetition.
pub fn stream(bps: f64) -> Sample {
    Sample::TcpStream(TcpStreamSample {
        streams: 1,
        message_size_bytes: 131_072,
        bytes_received: (bps / 8.0) as u64,
        window_ns: 1_000_000_000,
        throughput_bps: bps,
    })
}

/// A udp-stream repetition of `size`-byte datagrams.
pub fn udp(size: u32, pps: f64, loss_percent: f64) -> Sample {
    Sample::UdpStream(UdpStreamSample {
        message_size_bytes: size,
        packets_sent: (pps / (1.0 - loss_percent / 100.0).max(0.01)) as u64,
        packets_received: pps as u64,
        sent_in_window_received: Some(pps as u64),
        bytes_received: (pps * f64::from(size)) as u64,
        window_ns: 1_000_000_000,
        packets_per_s: pps,
        throughput_bps: pps * f64::from(size) * 8.0,
        loss_percent,
    })
}

/// Round trips of a request/response repetition: p50, p90, p99, p99.9, max, in ns; the
/// mean is 1.17 p50 and the rate its inverse.
pub fn rr(workload: &str, rtt: [f64; 5]) -> Sample {
    let mean = rtt[0] * 1.17;
    let s = RrSample {
        message_size_bytes: 64,
        timeouts: 0,
        transactions: (1e9 / mean) as u64,
        window_ns: 1_000_000_000,
        transactions_per_s: 1e9 / mean,
        rtt_min_ns: (rtt[0] * 0.6) as u64,
        rtt_mean_ns: mean,
        rtt_p50_ns: rtt[0].round() as u64,
        rtt_p90_ns: rtt[1].round() as u64,
        rtt_p99_ns: rtt[2].round() as u64,
        rtt_p999_ns: rtt[3].round() as u64,
        rtt_max_ns: rtt[4].round() as u64,
    };
    match workload {
        "udp-rr" => Sample::UdpRr(s),
        "tcp-crr" => Sample::TcpCrr(s),
        _ => Sample::TcpRr(s),
    }
}

/// A vxlan result with one cross-node tcp-stream measurement of `bps`.
pub fn stream_result(run_id: &str, bps: &[f64]) -> RunResult {
    let samples = bps.iter().map(|b| stream(*b)).collect();
    result(
        run_id,
        vec![measurement("tcp-stream", None, "cross-node", samples)],
    )
}

/// Round trips of vxlan's cross-node tcp-rr (from a real run), in ns.
pub const VXLAN_RR: [f64; 5] = [14_479.0, 21_295.0, 25_071.0, 153_727.0, 477_439.0];

/// A vxlan result with a cross-node tcp-rr measurement: three repetitions within 1.5 % of
/// vxlan's figures times `latency`.
pub fn rr_result(run_id: &str, latency: f64) -> RunResult {
    let samples = [1.0, 1.015, 0.985]
        .iter()
        .map(|f| rr("tcp-rr", VXLAN_RR.map(|x| x * latency * f)))
        .collect();
    result(
        run_id,
        vec![measurement("tcp-rr", None, "cross-node", samples)],
    )
}

/// A vxlan result with a cross-node tcp-rr measurement whose repetitions scatter by
/// 15-35 %; `which` 1 and 2 give medians 18 % apart.
pub fn noisy_rr_result(run_id: &str, which: u32) -> RunResult {
    let factors: [f64; 3] = if which == 1 {
        [1.0, 1.3, 0.85]
    } else {
        [1.18, 0.92, 1.35]
    };
    let samples = factors
        .iter()
        .map(|f| rr("tcp-rr", VXLAN_RR.map(|x| x * f)))
        .collect();
    result(
        run_id,
        vec![measurement("tcp-rr", None, "cross-node", samples)],
    )
}

/// Medians of every workload of a backend, from real runs: tcp-stream bit/s, udp-stream
/// 64 B and max-payload packets/s (and that payload), loss %, and the round trips
/// (p50, p90, p99, p99.9, max) of tcp-rr, udp-rr and tcp-crr.
pub struct Figures {
    pub backend: &'static str,
    pub path: &'static str,
    pub stream_bps: f64,
    pub udp64_pps: f64,
    pub udpmax_pps: f64,
    pub udpmax_size: u32,
    pub loss_percent: f64,
    pub tcp_rr: [f64; 5],
    pub udp_rr: [f64; 5],
    pub tcp_crr: [f64; 5],
}

/// The figures of five backends, from the runs in /work/samples and two host-net runs.
pub const BACKENDS: [Figures; 5] = [
    Figures {
        backend: "bridge",
        path: "same-node",
        stream_bps: 11.03e9,
        udp64_pps: 261_867.0,
        udpmax_pps: 121_792.0,
        udpmax_size: 1472,
        loss_percent: 0.0,
        tcp_rr: [20_447.0, 34_783.0, 66_943.0, 265_727.0, 696_319.0],
        udp_rr: [7_643.0, 13_215.0, 15_727.0, 116_863.0, 3_354_623.0],
        tcp_crr: [39_839.0, 43_327.0, 175_231.0, 342_271.0, 2_572_287.0],
    },
    Figures {
        backend: "vxlan",
        path: "cross-node",
        stream_bps: 10.32e9,
        udp64_pps: 125_503.0,
        udpmax_pps: 110_047.0,
        udpmax_size: 1422,
        loss_percent: 0.0,
        tcp_rr: VXLAN_RR,
        udp_rr: [12_991.0, 19_615.0, 22_815.0, 154_111.0, 379_135.0],
        tcp_crr: [72_319.0, 78_975.0, 227_711.0, 725_503.0, 5_378_047.0],
    },
    Figures {
        backend: "flannel-udp",
        path: "cross-node",
        stream_bps: 452.2e6,
        udp64_pps: 53_359.0,
        udpmax_pps: 41_000.0,
        udpmax_size: 1472,
        loss_percent: 74.6,
        tcp_rr: [61_000.0, 80_000.0, 120_000.0, 400_000.0, 2_000_000.0],
        udp_rr: [58_000.0, 75_000.0, 110_000.0, 380_000.0, 1_800_000.0],
        tcp_crr: [180_000.0, 230_000.0, 600_000.0, 1_500_000.0, 6_000_000.0],
    },
    Figures {
        backend: "host-gw",
        path: "same-node",
        stream_bps: 4.38e9,
        udp64_pps: 238_213.0,
        udpmax_pps: 237_294.0,
        udpmax_size: 1472,
        loss_percent: 0.0,
        tcp_rr: [8_579.0, 14_399.0, 16_543.0, 112_991.0, 1_710_463.0],
        udp_rr: [7_903.0, 13_547.0, 16_139.0, 110_111.0, 670_466_047.0],
        tcp_crr: [43_663.0, 47_167.0, 183_935.0, 375_551.0, 1_887_231.0],
    },
    Figures {
        backend: "host-net",
        path: "cross-node",
        stream_bps: 11.5e9,
        udp64_pps: 277_046.0,
        udpmax_pps: 260_443.0,
        udpmax_size: 1472,
        loss_percent: 0.0,
        tcp_rr: [8_319.0, 14_047.0, 16_079.0, 84_863.0, 288_255.0],
        udp_rr: [7_299.0, 12_735.0, 14_903.0, 84_927.0, 283_135.0],
        tcp_crr: [43_391.0, 46_079.0, 161_151.0, 279_039.0, 488_959.0],
    },
];

/// A full result of `f` (all five workloads, six measurements) with `reps` repetitions,
/// each figure times `1 + cv * N(0, 1)` drawn from `noise`; stream rates times `rate` and
/// round trips times `latency`. The maximum round trip varies ten times as much.
pub fn realistic(
    f: &Figures,
    run_id: &str,
    reps: usize,
    cv: f64,
    noise: &mut Noise,
    rate: f64,
    latency: f64,
) -> RunResult {
    let mut measurements = Vec::new();
    let samples = |noise: &mut Noise, make: &mut dyn FnMut(&mut Noise) -> Sample| {
        (0..reps).map(|_| make(noise)).collect::<Vec<Sample>>()
    };
    let s = samples(noise, &mut |n| stream(n.jitter(f.stream_bps * rate, cv)));
    measurements.push(measurement("tcp-stream", None, f.path, s));
    for (variant, pps, size) in [
        ("64 B", f.udp64_pps, 64),
        ("max payload", f.udpmax_pps, f.udpmax_size),
    ] {
        let s = samples(noise, &mut |n| {
            let loss = (f.loss_percent + f.loss_percent * cv * n.normal()).clamp(0.0, 100.0);
            udp(size, n.jitter(pps * rate, cv), loss)
        });
        measurements.push(measurement("udp-stream", Some(variant), f.path, s));
    }
    for (workload, rtt) in [
        ("tcp-rr", f.tcp_rr),
        ("udp-rr", f.udp_rr),
        ("tcp-crr", f.tcp_crr),
    ] {
        let s = samples(noise, &mut |n| {
            let mut r = rtt.map(|x| n.jitter(x * latency, cv));
            r[4] = rtt[4] * latency * (1.0 + 10.0 * cv * n.normal()).max(0.1);
            rr(workload, r)
        });
        measurements.push(measurement(workload, None, f.path, s));
    }
    let mut r = result(run_id, measurements);
    r.parameters.backend = f.backend.into();
    r
}

/// One churn cycle of 4 pods added `concurrency` at a time (cycle `k` of its level): pod `i`
/// wired after (2 + i + k) ms, reachable from another node after (10 + 2i + k) ms (pod 3 of
/// the first cycle after 40 ms, a straggler), from its own node after (5 + i) ms, removed
/// after (1 + i / 2) ms, unreachable after (3 + i) ms and, with `withdrawn`, its host route
/// withdrawn after (20 + i) ms; every time times `latency`. `pods_per_s` added (and half as
/// many removed) per second; CPU per pod 2.0 ms (harness), 0.5 ms (daemons) and 4.0 ms
/// (machine), 10 % more in later cycles.
pub fn churn_cycle(
    concurrency: u32,
    k: u32,
    latency: f64,
    pods_per_s: f64,
    withdrawn: bool,
) -> Sample {
    let ms = |x: f64| Some((x * latency * 1e6).round() as u64);
    let times = (0..4u32)
        .map(|i| {
            let (i, kf) = (f64::from(i), f64::from(k));
            let reachable = if i == 3.0 && k == 0 {
                40.0
            } else {
                10.0 + 2.0 * i + kf
            };
            crate::PodTimes {
                node: (i as u32) % 2,
                wired_ns: ms(2.0 + i + kf),
                reachable_ns: ms(reachable),
                reachable_same_node_ns: ms(5.0 + i),
                removed_ns: ms(1.0 + (i / 2.0).floor()),
                unreachable_ns: ms(3.0 + i),
                withdrawn_ns: if withdrawn { ms(20.0 + i) } else { None },
            }
        })
        .collect();
    let more = 1.0 + 0.1 * f64::from(k);
    Sample::Churn(crate::ChurnSample {
        pods: 4,
        concurrency,
        failed_adds: 0,
        never_reachable: 0,
        add_window_ns: (4.0 / pods_per_s * 1e9) as u64,
        pods_per_s,
        remove_window_ns: (8.0 / pods_per_s * 1e9) as u64,
        removed_per_s: pods_per_s / 2.0,
        cpu_harness_ns_per_pod: Some(2.0e6 * more),
        cpu_daemons_ns_per_pod: Some(0.5e6 * more),
        cpu_machine_ns_per_pod: Some(4.0e6 * more),
        cpu_by_daemon: Vec::new(),
        times,
    })
}

/// A `cnbench churn` result of `backend`: 4 pods per cycle, 2 cycles at concurrency 1 and
/// at concurrency 4 ([`churn_cycle`]s; concurrency 4 adds 3 times as many pods per second
/// and takes 1.5 times as long per pod), `rate` pods per second at concurrency 1 in the first
/// cycle (1.2 times that in the second), and two daemons, one of which gains a file
/// descriptor and memory every cycle.
pub fn churn_result(
    run_id: &str,
    backend: &str,
    latency: f64,
    rate: f64,
    withdrawn: bool,
) -> RunResult {
    let level = |c: u32, lat: f64, pps: f64| {
        let cycles = (0..2)
            .map(|k| churn_cycle(c, k, lat, pps * (1.0 + 0.2 * f64::from(k)), withdrawn))
            .collect();
        let variant = crate::churn::variant(c);
        let mut m = measurement(
            crate::churn::CHURN_WORKLOAD,
            Some(&variant),
            "cross-node",
            cycles,
        );
        m.server.pod = "added pods".into();
        m
    };
    let mut r = result(
        run_id,
        vec![level(1, latency, rate), level(4, latency * 1.5, rate * 3.0)],
    );
    r.parameters.backend = backend.into();
    r.parameters.workloads = vec![crate::churn::CHURN_WORKLOAD.into()];
    r.churn = Some(crate::ChurnRecord {
        pods: 4,
        cycles: 2,
        concurrency: vec![1, 4],
        probe_interval_ns: 1_000_000,
        reach_limit_ns: 10_000_000_000,
        daemons: vec![
            crate::DaemonUsage {
                what: "bird n0".into(),
                pid: 412,
                fds: vec![41, 41, 41, 41, 41],
                rss_bytes: vec![12 << 20; 5],
            },
            crate::DaemonUsage {
                what: format!("{backend} daemon n1"),
                pid: 413,
                fds: vec![30, 31, 32, 33, 34],
                rss_bytes: vec![20 << 20, 21 << 20, 22 << 20, 23 << 20, 24 << 20],
            },
        ],
    });
    r
}
