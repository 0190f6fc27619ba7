//! `--generator iperf3|sockperf`: the same workloads through those tools, inside the same pods
//! and on the same CPUs, so cnbench's own generator can be checked against them. The test
//! command installs both tools; a missing one fails here rather than being skipped.

mod common;

fn assert_generated_by(r: &reports::RunResult, tool: &str, workloads: &[&str]) {
    assert_eq!(r.parameters.generator, tool);
    let seen: Vec<&str> = r.measurements.iter().map(|m| m.workload.as_str()).collect();
    for w in workloads {
        assert!(seen.contains(w), "no {w} in {seen:?}");
    }
    for m in &r.measurements {
        let what = m.label();
        assert!(
            m.generator.starts_with(&format!("{tool} ")),
            "{what}: generator {}",
            m.generator
        );
        let headline = match m.workload.as_str() {
            "tcp-stream" => "throughput_bps",
            "udp-stream" => "packets_per_s",
            _ => "rtt_p50_ns",
        };
        let v = m.summary_of(headline).unwrap().median;
        assert!(v.is_finite() && v > 0.0, "{what}: {headline} {v}");
        // The tool's processes are children of the agents: their CPU is the role's.
        for c in &m.costs {
            for role in ["client", "server"] {
                let rc = c.roles.iter().find(|r| r.role == role).unwrap();
                assert!(rc.cpu_ns.unwrap_or(0) > 0, "{what}: {role} CPU");
            }
        }
        // Their syscalls cannot be attributed, and the result says why.
        let traced = &m.traced.as_ref().unwrap().cost;
        let why = traced.syscalls_unavailable.as_deref().unwrap_or_default();
        assert!(why.contains(tool), "{what}: {why:?}");
    }
}

#[test]
fn iperf3_runs_the_stream_workloads() {
    let (r, stdout) = common::run_ok("bridge", &["--generator", "iperf3", "--no-baseline"]);
    assert_generated_by(&r, "iperf3", &["tcp-stream", "udp-stream"]);
    assert!(stdout.contains("[iperf3 "), "{stdout}");
}

#[test]
fn sockperf_runs_the_request_response_workloads() {
    let (r, _) = common::run_ok(
        "bridge",
        &[
            "--generator",
            "sockperf",
            "--no-baseline",
            "--workloads",
            "tcp-rr,udp-rr",
        ],
    );
    assert_generated_by(&r, "sockperf", &["tcp-rr", "udp-rr"]);
}
