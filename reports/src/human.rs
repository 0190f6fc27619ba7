//! Plain-text output for people: figures with units, check lines, the summary table and the
//! topology tree. Pure functions from results to strings; printing is the caller's business.

use std::fmt::Write as _;

use crate::schema::{
    CheckOutcome, CheckRecord, CostSample, KernelCounters, MachineCost, MeasurementRecord,
    NamespaceRecord, RoleCost, RunResult, Sample,
};
use crate::stats::{self, Stats};
use crate::substrate::SubstrateKind;

/// A bit rate with a decimal (SI) unit: `"18.42 Gbit/s"`, `"512.0 Mbit/s"`, `"950.0 bit/s"`.
/// Two decimals below 100, one from 100.
pub fn format_bps(bps: f64) -> String {
    scaled(
        bps,
        &["bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"],
        |_, v| {
            if v.abs() < 100.0 {
                2
            } else {
                1
            }
        },
    )
}

/// A duration given in nanoseconds: `"950 ns"`, `"8.5 µs"`, `"1.20 ms"`, `"350 ms"`,
/// `"36.0 s"`. Whole nanoseconds; tenths of microseconds below 100 µs; three significant
/// digits for milliseconds and seconds.
pub fn format_ns(ns: f64) -> String {
    scaled(ns, &["ns", "µs", "ms", "s"], |unit, v| match unit {
        0 => 0,
        1 if v.abs() < 100.0 => 1,
        1 => 0,
        _ if v.abs() < 10.0 => 2,
        _ if v.abs() < 100.0 => 1,
        _ => 0,
    })
}

/// A rate per second with a decimal (SI) prefix: `"41.23 k/s"`, `"950.0 /s"`.
pub fn format_rate(per_s: f64) -> String {
    scaled(per_s, &["/s", "k/s", "M/s", "G/s"], |_, v| {
        if v.abs() < 100.0 {
            2
        } else {
            1
        }
    })
}

/// A packet rate: `"1.23 Mpkt/s"`.
fn format_pps(per_s: f64) -> String {
    scaled(per_s, &["pkt/s", "kpkt/s", "Mpkt/s", "Gpkt/s"], |_, v| {
        if v.abs() < 100.0 {
            2
        } else {
            1
        }
    })
}

/// A value of the metric named `metric`, in the unit its name ends with: `_bps` as
/// [`format_bps`], `_ns` as [`format_ns`], `_per_s` as [`format_rate`]; anything else as a
/// plain number.
pub fn format_metric(metric: &str, value: f64) -> String {
    if metric.ends_with("_bps") {
        format_bps(value)
    } else if metric.ends_with("_ns") {
        format_ns(value)
    } else if metric.ends_with("_per_s") {
        format_rate(value)
    } else if metric.ends_with("_percent") {
        format!("{value:.2}%")
    } else {
        format!("{value:.2}")
    }
}

/// Median of the finite values of `v`.
fn median(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    stats::median(&v)
}

/// One line of a measurement's cost: from the traced repetition, the sending and receiving
/// nodes' crossings per packet, device transmissions per packet and each role's syscalls and
/// crossings per packet; from the other repetitions (medians), CPU per GB and per million
/// packets for the machine and each role, and TCP retransmissions and UDP receive errors.
pub fn cost_summary(m: &MeasurementRecord) -> String {
    let mut parts = Vec::new();
    match &m.traced {
        Some(t) => parts.extend(traced_parts(&t.cost)),
        None => {
            if let Some(why) = m
                .costs
                .iter()
                .find_map(|c| c.traced.then(|| c.syscalls_unavailable.clone()).flatten())
            {
                parts.push(format!("syscalls unavailable: {why}"));
            }
        }
    }
    let costs: Vec<&CostSample> = m.costs.iter().filter(|c| !c.traced).collect();
    let machine = |f: &dyn Fn(&MachineCost) -> Option<f64>| {
        median(
            costs
                .iter()
                .filter_map(|c| c.machine.as_ref().and_then(f))
                .collect(),
        )
    };
    if let Some(x) = machine(&|mc| mc.cpu_s_per_gb) {
        let mut s = format!("machine {x:.2} CPU s/GB");
        if let Some(y) = machine(&|mc| mc.cpu_s_per_mpacket) {
            let _ = write!(s, ", {y:.2} CPU s/Mpkt");
        }
        parts.push(s);
    } else if let Some(why) = costs.iter().find_map(|c| c.machine_unavailable.clone()) {
        parts.push(format!("machine CPU unavailable: {why}"));
    }
    let roles: Vec<String> = costs
        .first()
        .map(|c| c.roles.iter().map(|r| r.role.clone()).collect())
        .unwrap_or_default();
    for role in roles {
        let of = |f: &dyn Fn(&RoleCost) -> Option<f64>| {
            median(
                costs
                    .iter()
                    .filter_map(|c| c.roles.iter().find(|r| r.role == role).and_then(f))
                    .collect(),
            )
        };
        if let Some(x) = of(&|r| r.cpu_s_per_mpacket) {
            parts.push(format!("{role} {x:.2} CPU s/Mpkt"));
        }
    }
    let kernel: Vec<&KernelCounters> = costs.iter().filter_map(|c| c.kernel.as_ref()).collect();
    if !kernel.is_empty() {
        let sum = |f: &dyn Fn(&KernelCounters) -> u64| -> u64 { kernel.iter().map(|k| f(k)).sum() };
        let retrans = sum(&|k| k.tcp_retrans_segs);
        let udp_err = sum(&|k| k.udp_in_errors);
        let rcvbuf = sum(&|k| k.udp_rcvbuf_errors);
        if retrans + udp_err > 0 {
            parts.push(format!(
                "over the repetitions: {retrans} TCP retransmits, {udp_err} UDP receive errors \
                 ({rcvbuf} receive buffer full)"
            ));
        }
    } else if let Some(why) = costs.iter().find_map(|c| c.kernel_unavailable.clone()) {
        parts.push(format!("kernel counters unavailable: {why}"));
    }
    parts.join("; ")
}

/// The figures only a traced repetition has: crossings per node, device transmissions, and
/// each role's syscalls and crossings per packet.
fn traced_parts(c: &CostSample) -> Vec<String> {
    let mut parts = Vec::new();
    if let Some(x) = c.sending_node_crossings_per_packet {
        parts.push(format!("sending node {x:.2} crossings/packet"));
    }
    if let Some(x) = c.receiving_node_crossings_per_packet {
        parts.push(format!("receiving node {x:.2}"));
    }
    match (c.device_xmits_per_packet, c.device_tx_per_packet) {
        // The tracepoint sees devices by name only; when it counted more than the run's own
        // devices sent, something else with the same names was busy.
        (Some(x), Some(own)) if (x - own).abs() > 0.05 * own.max(1.0) => parts.push(format!(
            "{x:.2} device xmits/packet by tracepoint, {own:.2} by the run's own device \
             counters (same-named devices outside the run were busy)"
        )),
        (Some(x), _) => parts.push(format!("{x:.2} device xmits/packet")),
        (None, _) => {
            if let Some(why) = &c.device_xmits_unavailable {
                parts.push(format!("device xmits unavailable: {why}"));
            }
        }
    }
    for r in &c.roles {
        // A daemon that moved nothing (a same-node pair) has nothing to say.
        if r.packets == 0 && r.role != "client" && r.role != "server" {
            continue;
        }
        if let (Some(s), Some(x)) = (r.syscalls_per_packet, r.crossings_per_packet) {
            parts.push(format!("{}: {s:.2} syscalls, {x:.2} crossings", r.role));
        }
    }
    if let Some(why) = &c.syscalls_unavailable {
        parts.push(format!("syscalls unavailable: {why}"));
    }
    parts
}

/// One line for a check: `"PASS  reachability  n0p0 -> 172.17.0.3 icmp   expected: reply
/// actual: reply in 41 µs"`. The label is `PASS`, `FAIL` or `XFAIL` (expected failure); a
/// reason, when given, follows the actual value.
pub fn format_check(c: &CheckRecord) -> String {
    let mut line = format!(
        "{:<5} {}  {}   expected: {}  actual: {}",
        c.outcome.label(),
        c.check,
        c.subject,
        c.expected,
        c.actual
    );
    if let Some(reason) = &c.reason {
        let _ = write!(line, "  reason: {reason}");
    }
    line
}

/// One line for one repetition, e.g.
/// `"tcp-stream  rep 1  18.42 Gbit/s  (4 streams, 131072 B messages, 10.00 s window)"`.
/// `which` names the repetition and is printed as given (`"rep 1"`, `"traced"`).
pub fn format_sample(workload: &str, which: &str, s: &Sample) -> String {
    match s {
        Sample::TcpStream(t) => format!(
            "{workload}  {which}  {}  ({} stream{}, {} B messages, {} received in {} window)",
            format_bps(t.throughput_bps),
            t.streams,
            if t.streams == 1 { "" } else { "s" },
            t.message_size_bytes,
            format_bytes(t.bytes_received),
            format_ns(t.window_ns as f64),
        ),
        Sample::UdpStream(u) => format!(
            "{workload}  {which}  {}  {}  loss {:.2}%  ({} B datagrams, {} received of {} \
             sent in {} window)",
            format_pps(u.packets_per_s),
            format_bps(u.throughput_bps),
            u.loss_percent,
            u.message_size_bytes,
            u.packets_received,
            u.packets_sent,
            format_ns(u.window_ns as f64),
        ),
        Sample::TcpRr(r) | Sample::UdpRr(r) | Sample::TcpCrr(r) => format!(
            "{workload}  {which}  {}  rtt p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  \
             mean {}  ({} transactions of {} B in {} window{})",
            format_rate(r.transactions_per_s),
            format_ns(r.rtt_p50_ns as f64),
            format_ns(r.rtt_p90_ns as f64),
            format_ns(r.rtt_p99_ns as f64),
            format_ns(r.rtt_p999_ns as f64),
            format_ns(r.rtt_max_ns as f64),
            format_ns(r.rtt_mean_ns),
            r.transactions,
            r.message_size_bytes,
            format_ns(r.window_ns as f64),
            if r.timeouts > 0 {
                format!(", {} requests timed out and were resent", r.timeouts)
            } else {
                String::new()
            },
        ),
    }
}

/// The summary of a run: a header (run, backend, machine, outcome, phase times; for nodes not
/// in namespaces, the substrate line, which says that emulated figures compare behaviour, not
/// speed), the check counts with every failed check, then a table with one row per
/// measurement and headline metric (workload, path, datapath, placement, metric, n, median,
/// min, max, CV), and the warnings about noisy measurements.
///
/// Uses each measurement's `summary` when filled, its repetitions otherwise.
pub fn render_summary(r: &RunResult) -> String {
    let mut out = String::new();
    let p = &r.parameters;
    let env = &r.environment;

    let _ = writeln!(
        out,
        "run {}: backend {}, {} node{} x {} pod{}, {} underlay, {}",
        r.run_id,
        p.backend,
        p.nodes,
        plural(p.nodes as usize),
        p.pods_per_node,
        plural(p.pods_per_node as usize),
        p.underlay,
        r.outcome
    );
    if r.substrate.kind != SubstrateKind::Netns || r.substrate.emulated {
        let _ = writeln!(out, "{}", r.substrate.summary_line());
    }
    let mut host = format!(
        "host: kernel {}, {} CPU{}",
        env.kernel,
        env.cpu_count,
        plural(env.cpu_count as usize)
    );
    if let Some(cpu) = &env.cpu_model {
        let _ = write!(host, " ({cpu})");
    }
    let _ = write!(host, ", cnbench {}", env.cnbench_version);
    if let Some(rev) = &env.git_revision {
        let _ = write!(host, " ({rev})");
    }
    let _ = writeln!(out, "{host}");

    let t = &r.timings;
    let phases: Vec<String> = [
        ("setup", t.setup_ns),
        ("checks", t.checks_ns),
        ("measure", t.measure_ns),
        ("teardown", t.teardown_ns),
    ]
    .iter()
    .filter_map(|(phase, ns)| ns.map(|ns| format!("{phase} {}", format_ns(ns as f64))))
    .collect();
    if !phases.is_empty() {
        let _ = writeln!(out, "time: {}", phases.join(", "));
    }

    let counts = r.check_counts();
    if r.checks.is_empty() {
        let _ = writeln!(out, "\nchecks: none run");
    } else {
        let _ = writeln!(
            out,
            "\nchecks: {} passed, {} failed, {} expected failure{}",
            counts.passed,
            counts.failed,
            counts.expected_failures,
            plural(counts.expected_failures)
        );
    }
    for check in r.checks.iter().filter(|c| c.outcome == CheckOutcome::Fail) {
        let _ = writeln!(out, "  {}", format_check(check));
    }

    if !r.faults.is_empty() {
        out.push_str(&crate::fault::render_faults(&r.faults));
        if r.measurements.is_empty() {
            return out;
        }
    }
    if r.measurements.is_empty() {
        let _ = writeln!(out, "\nmeasurements: none");
        return out;
    }
    let _ = writeln!(out, "\nmeasurements (n: repetitions, cv: stddev / mean):");
    let mut rows = vec![[
        "workload",
        "path",
        "datapath",
        "placement",
        "metric",
        "n",
        "median",
        "min",
        "max",
        "cv",
    ]
    .map(String::from)
    .to_vec()];
    let baseline = r.baseline.as_ref().map(|b| b.backend.clone());
    if let Some(b) = &baseline {
        rows[0].push(format!("x {b}"));
    }
    for m in &r.measurements {
        for (metric, s) in summaries(m) {
            let mut row = vec![
                m.label(),
                m.path.clone(),
                m.datapath.clone(),
                m.placement.kind.clone(),
                metric.clone(),
                s.n.to_string(),
                format_metric(&metric, s.median),
                format_metric(&metric, s.min),
                format_metric(&metric, s.max),
                format!("{:.1}%", s.cv * 100.0),
            ];
            if baseline.is_some() {
                row.push(
                    m.vs_baseline
                        .iter()
                        .find(|x| x.metric == metric)
                        .map(|x| format!("{:.2}", x.ratio))
                        .unwrap_or_else(|| "-".into()),
                );
            }
            rows.push(row);
        }
    }
    // Text columns left-aligned, figures right-aligned so their units line up.
    let mut right = vec![
        false, false, false, false, false, true, true, true, true, true,
    ];
    if baseline.is_some() {
        right.push(true);
    }
    out.push_str(&table(&rows, &right, "  "));
    if let Some(b) = &r.baseline {
        let _ = writeln!(
            out,
            "(x {}: this run's median / the median of {} on {}, measured in the same session, run {})",
            b.backend, b.backend, b.topology, b.run_id
        );
    }

    let costs: Vec<&MeasurementRecord> = r
        .measurements
        .iter()
        .filter(|m| !m.costs.is_empty())
        .collect();
    if !costs.is_empty() {
        let _ = writeln!(
            out,
            "\ncost per packet (median over repetitions; crossings = data-moving syscalls):"
        );
        for m in costs {
            let _ = writeln!(
                out,
                "  {} {} [{}]: {}",
                m.label(),
                m.path,
                m.datapath,
                cost_summary(m)
            );
        }
    }

    let warnings: Vec<String> = r
        .measurements
        .iter()
        .flat_map(|m| {
            stats::warnings(m)
                .into_iter()
                .map(move |w| format!("  {} {}: {w}", m.label(), m.path))
        })
        .collect();
    if !warnings.is_empty() {
        let _ = writeln!(out, "\nwarnings:");
        for w in warnings {
            let _ = writeln!(out, "{w}");
        }
    }
    out
}

/// The namespaces of a run as a tree: one line per namespace (name, role, node of a pod), then
/// one line per device with its kind, MTU, addresses, MAC and master.
///
/// ```text
/// cnb-ab12-n0  node
/// ├─ eth0      veth    mtu 1500  10.168.0.1/24  mac 02:42:0a:a8:00:01
/// ├─ cni0      bridge  mtu 1450  100.96.0.1/24
/// └─ veth0a1b  veth    mtu 1450  -              mac 02:42:64:60:00:10  master cni0
/// ```
pub fn render_topology(records: &[NamespaceRecord]) -> String {
    let mut out = String::new();
    for ns in records {
        let _ = write!(out, "{}  {}", ns.name, ns.role);
        if let Some(node) = &ns.node {
            let _ = write!(out, " on {node}");
        }
        out.push('\n');
        if ns.devices.is_empty() {
            out.push_str("└─ (no devices)\n");
            continue;
        }
        let rows: Vec<Vec<String>> = ns
            .devices
            .iter()
            .map(|d| {
                let addresses = if d.addresses.is_empty() {
                    "-".to_owned()
                } else {
                    d.addresses.join(", ")
                };
                let mut extra = Vec::new();
                if let Some(mac) = &d.mac {
                    extra.push(format!("mac {mac}"));
                }
                if let Some(master) = &d.master {
                    extra.push(format!("master {master}"));
                }
                vec![
                    d.name.clone(),
                    d.kind.clone(),
                    format!("mtu {}", d.mtu_bytes),
                    addresses,
                    extra.join("  "),
                ]
            })
            .collect();
        let lines = table(&rows, &[false; 5], "  ");
        let last = rows.len() - 1;
        for (i, line) in lines.lines().enumerate() {
            let branch = if i == last { "└─" } else { "├─" };
            let _ = writeln!(out, "{branch} {line}");
        }
    }
    out
}

/// A byte count with a binary unit: `"1.50 GiB"`, `"512 B"`.
fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2} {}", UNITS[unit])
}

/// Formats `value` in the largest of `units` (each 1000 times the previous) that keeps it
/// from reaching 1000 once rounded; `decimals(unit index, scaled value)` picks the precision.
fn scaled(value: f64, units: &[&str], decimals: impl Fn(usize, f64) -> usize) -> String {
    if !value.is_finite() {
        return format!("{value} {}", units[0]);
    }
    let mut v = value;
    let mut unit = 0;
    loop {
        let digits = decimals(unit, v);
        let text = format!("{v:.digits$}");
        // Decide on the rounded text, so 999.96 Mbit/s becomes "1.00 Gbit/s", not "1000.0 Mbit/s".
        let rounded: f64 = text.parse().unwrap_or(v);
        if rounded.abs() >= 1000.0 && unit + 1 < units.len() {
            v /= 1000.0;
            unit += 1;
            continue;
        }
        return format!("{text} {}", units[unit]);
    }
}

/// The statistics of each headline metric of a measurement: its `summary` if filled, or
/// computed from its repetitions.
fn summaries(m: &MeasurementRecord) -> Vec<(String, Stats)> {
    if !m.summary.is_empty() {
        return m
            .summary
            .iter()
            .map(|s| (s.metric.clone(), s.stats))
            .collect();
    }
    m.metric_values()
        .into_iter()
        .filter_map(|(metric, values)| Stats::of(&values).map(|s| (metric.to_owned(), s)))
        .collect()
}

/// Lays `rows` out in columns separated by `gap`; `right[i]` right-aligns column `i`.
/// Widths count characters, so `µ` takes one column like any other letter.
pub(crate) fn table(rows: &[Vec<String>], right: &[bool], gap: &str) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|row| row.get(i))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                line.push_str(gap);
            }
            let width = widths[i];
            if right.get(i).copied().unwrap_or(false) {
                let _ = write!(line, "{cell:>width$}");
            } else {
                let _ = write!(line, "{cell:<width$}");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::full_result;

    #[test]
    fn bit_rates() {
        assert_eq!(format_bps(18.42e9), "18.42 Gbit/s");
        assert_eq!(format_bps(512.0e6), "512.0 Mbit/s");
        assert_eq!(format_bps(950.0), "950.0 bit/s");
        assert_eq!(format_bps(1.5e3), "1.50 kbit/s");
        assert_eq!(format_bps(999.96e6), "1.00 Gbit/s");
        assert_eq!(format_bps(0.0), "0.00 bit/s");
        assert_eq!(format_bps(2.5e15), "2500.0 Tbit/s");
    }

    #[test]
    fn durations() {
        assert_eq!(format_ns(950.0), "950 ns");
        assert_eq!(format_ns(8_500.0), "8.5 µs");
        assert_eq!(format_ns(1_200_000.0), "1.20 ms");
        assert_eq!(format_ns(3.25e9), "3.25 s");
        assert_eq!(format_ns(85_340.0), "85.3 µs");
        assert_eq!(format_ns(853_400.0), "853 µs");
        assert_eq!(format_ns(35_000_000.0), "35.0 ms");
        assert_eq!(format_ns(350_000_000.0), "350 ms");
        assert_eq!(format_ns(999.7), "1.0 µs");
        assert_eq!(format_ns(999_960.0), "1.00 ms");
        assert_eq!(format_ns(0.0), "0 ns");
        assert_eq!(format_ns(f64::NAN), "NaN ns");
    }

    #[test]
    fn rates_and_metrics() {
        assert_eq!(format_rate(41_234.0), "41.23 k/s");
        assert_eq!(format_metric("transactions_per_s", 950.0), "950.0 /s");
        assert_eq!(format_metric("rtt_p99_ns", 41_000.0), "41.0 µs");
        assert_eq!(format_metric("throughput_bps", 1e9), "1.00 Gbit/s");
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(3 * 1024 * 1024 * 1024 / 2), "1.50 GiB");
    }

    #[test]
    fn check_lines() {
        let mut c = CheckRecord {
            check: "reachability".into(),
            subject: "n0p0 -> 172.17.0.3 icmp".into(),
            expected: "reply".into(),
            actual: "reply in 41 µs".into(),
            outcome: CheckOutcome::Pass,
            reason: None,
        };
        assert_eq!(
            format_check(&c),
            "PASS  reachability  n0p0 -> 172.17.0.3 icmp   expected: reply  actual: reply in 41 µs"
        );
        c.outcome = CheckOutcome::ExpectedFailure;
        c.actual = "no reply".into();
        c.reason = Some("host-gw needs one L2 domain".into());
        let line = format_check(&c);
        assert!(line.starts_with("XFAIL reachability  "), "{line}");
        assert!(
            line.ends_with("actual: no reply  reason: host-gw needs one L2 domain"),
            "{line}"
        );
        c.outcome = CheckOutcome::Fail;
        assert!(format_check(&c).starts_with("FAIL  reachability"));
    }

    #[test]
    fn sample_lines() {
        let r = full_result();
        let stream = format_sample("tcp-stream", "rep 1", &r.measurements[0].repetitions[0]);
        assert!(
            stream.starts_with("tcp-stream  rep 1  18.42 Gbit/s  (4 streams"),
            "{stream}"
        );
        let rr = format_sample("tcp-rr", "rep 2", &r.measurements[1].repetitions[0]);
        assert!(
            rr.starts_with("tcp-rr  rep 2  41.23 k/s  rtt p50 21.3 µs"),
            "{rr}"
        );
        assert!(rr.contains("max 1.20 ms"), "{rr}");
    }

    #[test]
    fn summary_table() {
        let text = render_summary(&full_result());
        for expected in [
            "run ab12: backend vxlan, 2 nodes x 2 pods, l2 underlay, checks failed",
            "host: kernel 6.8.0-45-generic, 2 CPUs (AMD EPYC 7B13), cnbench 0.1.0 (abc123)",
            "time: setup 1.20 s, checks 350 ms, measure 36.0 s, teardown 800 ms",
            "checks: 1 passed, 1 failed, 1 expected failure\n",
            "  FAIL  mtu  cnb-ab12-n1:flannel.1",
            "workload    path        datapath  placement  metric",
            "tcp-stream  cross-node  kernel    cross-cpu  throughput_bps",
            "18.42 Gbit/s",
            "tcp-rr      cross-node  kernel    cross-cpu  rtt_p99_ns",
            "warnings:\n  tcp-stream cross-node: throughput_bps varies by",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
        // Passing checks are counted, not listed.
        assert!(!text.contains("PASS  "), "{text}");
        // Columns line up: every row of the table has the median column ending at one place.
        let table: Vec<&str> = text
            .lines()
            .skip_while(|l| !l.starts_with("workload"))
            .take_while(|l| !l.is_empty())
            .collect();
        assert_eq!(table.len(), 1 + 1 + 7);
        let header_end = table[0].find("median").unwrap() + "median".len();
        for row in &table[1..] {
            let cell_end = row.chars().take(header_end).last();
            assert_ne!(cell_end, Some(' '), "median not right-aligned in {row:?}");
        }
    }

    #[test]
    fn an_emulated_run_says_so_under_its_first_line() {
        let mut r = full_result();
        assert!(!render_summary(&r).contains("substrate"));
        r.substrate = crate::Substrate::vm_tcg("6.1.0-56-cloud-amd64");
        let text = render_summary(&r);
        let lines: Vec<&str> = text.lines().take(3).collect();
        assert_eq!(
            lines,
            [
                "run ab12: backend vxlan, 2 nodes x 2 pods, l2 underlay, checks failed",
                "substrate: vm (QEMU TCG emulation, kernel 6.1.0-56-cloud-amd64): figures \
                 compare behaviour, not speed",
                "host: kernel 6.8.0-45-generic, 2 CPUs (AMD EPYC 7B13), cnbench 0.1.0 (abc123)",
            ],
            "{text}"
        );
    }

    #[test]
    fn summary_without_measurements() {
        let mut r = full_result();
        r.measurements.clear();
        assert!(render_summary(&r).ends_with("measurements: none\n"));
    }

    #[test]
    fn topology_tree() {
        let text = render_topology(&full_result().topology);
        let expected = "\
cnb-ab12-n0  node
├─ eth0      veth    mtu 1500  10.168.0.1/24              mac 02:42:0a:a8:00:01
├─ cni0      bridge  mtu 1450  100.96.0.1/24, fd00::1/64
└─ veth0a1b  veth    mtu 1450  -                          mac 02:42:64:60:00:10  master cni0
cnb-ab12-n0p0  pod on cnb-ab12-n0
└─ eth0  veth  mtu 1450  100.96.0.2/24  mac 02:42:64:60:00:02
cnb-ab12-sw  switch
└─ (no devices)
";
        assert_eq!(text, expected);
    }
}
