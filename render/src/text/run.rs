//! A run for a terminal: one line per check and per repetition while it goes, and the
//! summary at the end.

use std::fmt::Write as _;

use reports::{CheckOutcome, CheckRecord, MeasurementRecord, RunResult, Sample};

use super::churn::churn_section;
use super::cost::cost_line;
use super::fault::fault_table;
use super::table::{columns, header};
use crate::model::metric_stats;
use crate::units::{
    format_bps, format_bytes, format_metric, format_ns, format_percent, format_pods_per_s,
    format_pps, format_rate, format_share, sig3,
};
use crate::words::{notable, plural, substrate_line};
use crate::{components, plugin_calls};

/// One line for a check: `"PASS  reachability  n0p0 -> 172.17.0.3 icmp   expected: reply
/// actual: reply in 41 µs"`. The label is `PASS`, `FAIL`, `XFAIL` (expected failure) or
/// `N/A` (not made: it does not apply); a reason, when given (why a check failed as
/// expected, why it did not apply), follows the actual value.
pub fn check_line(c: &CheckRecord) -> String {
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
/// `"tcp-stream  rep 1  18.42 Gbit/s  (4 streams, 131072 B messages, 2.14 GiB received in
/// 1.00 s window)"`. `which` names the repetition and is printed as given (`"rep 1"`,
/// `"traced"`).
pub fn sample_line(workload: &str, which: &str, s: &Sample) -> String {
    match s {
        Sample::TcpStream(t) => format!(
            "{workload}  {which}  {}  ({} stream{}, {} B messages, {} received in {} window)",
            format_bps(t.throughput_bps),
            t.streams,
            plural(t.streams as usize),
            t.message_size_bytes,
            format_bytes(t.bytes_received as f64),
            format_ns(t.window_ns as f64),
        ),
        Sample::UdpStream(u) => {
            // The loss and the rate count different windows: the loss is by sequence number
            // over the datagrams of the client's window, the rate is the server's own window.
            let loss_counts = match u.sent_in_window_received {
                Some(arrived) => format!(
                    "{arrived} of the {} sent in the client's window arrived",
                    u.packets_sent
                ),
                None => format!("{} sent in the client's window", u.packets_sent),
            };
            format!(
                "{workload}  {which}  {}  {}  loss {}  ({} B datagrams; loss: {loss_counts}; \
                 rate: {} received in the server's {} window)",
                format_pps(u.packets_per_s),
                format_bps(u.throughput_bps),
                format_percent(u.loss_percent),
                u.message_size_bytes,
                u.packets_received,
                format_ns(u.window_ns as f64),
            )
        }
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
        Sample::Churn(c) => churn_cycle_line(workload, which, c),
    }
}

/// One churn cycle: `"churn  rep 1  412 pods/s  wired p50 2.1 ms p99 5.3 ms  reachable
/// p50 3.0 ms p99 9.1 ms (same node p50 2.4 ms)  removed p50 1.2 ms  unreachable p50 1.5 ms
/// (100 pods, 8 at a time)"`; percentiles no pod has are left out.
fn churn_cycle_line(workload: &str, which: &str, c: &reports::ChurnSample) -> String {
    let pct = |field: fn(&reports::PodTimes) -> Option<u64>, label: &str| {
        let sorted = c.sorted(field);
        match (
            reports::percentile_sorted(&sorted, 50.0),
            reports::percentile_sorted(&sorted, 99.0),
        ) {
            (Some(p50), Some(p99)) => {
                format!("  {label} p50 {} p99 {}", format_ns(p50), format_ns(p99))
            }
            _ => String::new(),
        }
    };
    let mut line = format!("{workload}  {which}  {}", format_pods_per_s(c.pods_per_s));
    line.push_str(&pct(|t| t.wired_ns, "wired"));
    line.push_str(&pct(|t| t.reachable_ns, "reachable"));
    line.push_str(&pct(|t| t.reachable_same_node_ns, "reachable same node"));
    line.push_str(&pct(|t| t.removed_ns, "removed"));
    line.push_str(&pct(|t| t.unreachable_ns, "unreachable"));
    line.push_str(&pct(|t| t.withdrawn_ns, "withdrawn"));
    let _ = write!(line, "  ({} pods, {} at a time", c.pods, c.concurrency);
    if c.failed_adds > 0 {
        let _ = write!(line, "; {} adds failed", c.failed_adds);
    }
    if c.never_reachable > 0 {
        let _ = write!(line, "; {} never reachable", c.never_reachable);
    }
    line.push(')');
    line
}

/// The summary of a run: a header (run, backend, machine, outcome, phase times; for nodes not
/// in namespaces, the substrate line, which says that emulated figures compare behaviour, not
/// speed; when the backend ran software cnbench did not write, such as a CNI network and its
/// plugins, a `software under test:` line with its notes); when the run called plugins, a
/// table of those calls per plugin and verb (calls, median, p90 and max wall time, the calls
/// that did not end ok); the check counts (`checks: 88 passed, 0 failed, 0 expected failures,
/// 2 not applicable`, the last only when some did not apply) with every failed check and every
/// check that did not apply (with why); the faults; for pod churn, a table with one row per
/// concurrency level and the daemons' file descriptors and memory (see [`crate::churn`]);
/// then a table with one row per measurement and headline metric (workload, path, datapath, placement, metric, n, median, min, max, CV,
/// and the ratio to the host-net baseline), the costs, and the warnings about noisy
/// measurements.
///
/// Uses each measurement's `summary` when filled, its repetitions otherwise.
pub fn summary(r: &RunResult) -> String {
    let mut out = String::new();
    header_lines(&mut out, r);
    plugin_call_table(&mut out, r);

    let counts = r.check_counts();
    if r.checks.is_empty() {
        let _ = writeln!(out, "\nchecks: none run");
    } else {
        let _ = write!(
            out,
            "\nchecks: {} passed, {} failed, {} expected failure{}",
            counts.passed,
            counts.failed,
            counts.expected_failures,
            plural(counts.expected_failures)
        );
        if counts.not_applicable > 0 {
            let _ = write!(out, ", {} not applicable", counts.not_applicable);
        }
        out.push('\n');
    }
    for outcome in [CheckOutcome::Fail, CheckOutcome::NotApplicable] {
        for check in r.checks.iter().filter(|c| c.outcome == outcome) {
            let _ = writeln!(out, "  {}", check_line(check));
        }
    }

    if !r.faults.is_empty() {
        out.push_str(&fault_table(&r.faults));
        if r.measurements.is_empty() {
            return out;
        }
    }
    if r.measurements.is_empty() {
        let _ = writeln!(out, "\nmeasurements: none");
        return out;
    }
    churn_section(&mut out, r);
    let _ = writeln!(out, "\nmeasurements (n: repetitions, cv: stddev / mean):");
    measurement_table(&mut out, r);

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
                cost_line(m)
            );
        }
    }

    let warnings: Vec<String> = r
        .measurements
        .iter()
        .flat_map(|m| {
            reports::warnings(m)
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

/// The run, where it ran, the machine, the phase times and the software under test.
fn header_lines(out: &mut String, r: &RunResult) {
    let p = &r.parameters;
    let env = &r.environment;
    let _ = writeln!(
        out,
        "run {}: backend {}, {} node{} x {} pod{}, {} underlay, {}, {}",
        r.run_id,
        p.backend,
        p.nodes,
        plural(p.nodes as usize),
        p.pods_per_node,
        plural(p.pods_per_node as usize),
        p.underlay,
        p.ip_family(),
        r.outcome
    );
    if notable(&r.substrate) {
        let _ = writeln!(out, "{}", substrate_line(&r.substrate));
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
    let phases = phases(r);
    if !phases.is_empty() {
        let _ = writeln!(out, "time: {phases}");
    }
    if let Some(line) = components::line(&r.components) {
        let _ = writeln!(out, "{}: {line}", components::LEAD);
        for note in components::notes(&r.components) {
            let _ = writeln!(out, "  {note}");
        }
    }
}

/// The plugin calls of the run, one row per plugin and verb, after a blank line; nothing
/// when it called none.
fn plugin_call_table(out: &mut String, r: &RunResult) {
    let Some(total) = plugin_calls::total(&r.plugin_calls) else {
        return;
    };
    let _ = writeln!(
        out,
        "\n{total} (wall time in ms; p90: nearest rank, the slowest call when fewer than 10):"
    );
    let mut rows = vec![header(&plugin_calls::HEAD)];
    rows.extend(
        plugin_calls::rows(&r.plugin_calls)
            .iter()
            .map(|row| row.cells("-").to_vec()),
    );
    out.push_str(&columns(&rows, &plugin_calls::NUMERIC, "  "));
}

/// The phases that ran with their durations: `setup 1.20 s, checks 350 ms`.
pub(crate) fn phases(r: &RunResult) -> String {
    let t = &r.timings;
    [
        ("setup", t.setup_ns),
        ("checks", t.checks_ns),
        ("measure", t.measure_ns),
        ("teardown", t.teardown_ns),
    ]
    .iter()
    .filter_map(|(phase, ns)| ns.map(|ns| format!("{phase} {}", format_ns(ns as f64))))
    .collect::<Vec<_>>()
    .join(", ")
}

/// One row per measurement and metric, with the baseline's ratio when there is one.
fn measurement_table(out: &mut String, r: &RunResult) {
    let mut rows = vec![header(&[
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
    ])];
    let baseline = r.baseline.as_ref().map(|b| b.backend.clone());
    if let Some(b) = &baseline {
        rows[0].push(format!("x {b}"));
    }
    for m in &r.measurements {
        for metric in m.metric_names() {
            let Some(s) = metric_stats(m, &metric) else {
                continue;
            };
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
                format_share(s.cv),
            ];
            if baseline.is_some() {
                row.push(
                    m.ratio_to_baseline(&metric)
                        .map(sig3)
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
    out.push_str(&columns(&rows, &right, "  "));
    if let Some(b) = &r.baseline {
        let _ = writeln!(
            out,
            "(x {}: this run's median / the median of {} on {}, measured in the same session, run {})",
            b.backend, b.backend, b.topology, b.run_id
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reports::fixtures::full_result;

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
            check_line(&c),
            "PASS  reachability  n0p0 -> 172.17.0.3 icmp   expected: reply  actual: reply in 41 µs"
        );
        c.outcome = CheckOutcome::ExpectedFailure;
        c.actual = "no reply".into();
        c.reason = Some("host-gw needs one L2 domain".into());
        let line = check_line(&c);
        assert!(line.starts_with("XFAIL reachability  "), "{line}");
        assert!(
            line.ends_with("actual: no reply  reason: host-gw needs one L2 domain"),
            "{line}"
        );
        c.outcome = CheckOutcome::Fail;
        assert!(check_line(&c).starts_with("FAIL  reachability"));
        assert_eq!(
            check_line(&reports::fixtures::not_applicable_check("ab12")),
            "N/A   cni-gc  cnb-ab12-n0 docker0   expected: GC succeeds  actual: not made  \
             reason: not applicable: the plugin supports up to CNI 1.0.0, GC came with 1.1.0"
        );
    }

    #[test]
    fn plugin_calls_and_checks_that_did_not_apply() {
        let text = summary(&reports::fixtures::cni_result());
        let software = text.find("software under test: ").unwrap();
        let calls = text.find("\n\n27 plugin calls").unwrap();
        let checks = text.find("\n\nchecks: ").unwrap();
        assert!(software < calls && calls < checks, "{text}");
        let table: Vec<&str> = text[calls + 2..checks].lines().collect();
        assert_eq!(
            table,
            [
                "27 plugin calls, 10.4 s of wall time, 3 not ok (wall time in ms; p90: nearest \
                 rank, the slowest call when fewer than 10):",
                "plugin      verb     calls  median (ms)  p90 (ms)  max (ms)  not ok",
                "bridge      ADD          4         42.6      52.3      52.3  -",
                "bridge      CHECK        4         6.05      6.30      6.30  -",
                "bridge      DEL          4         21.6     10000     10000  1 timed out",
                "bridge      VERSION      1         1.52      1.52      1.52  -",
                "host-local  VERSION      1         1.41      1.41      1.41  -",
                "portmap     ADD          4         12.2      13.0      13.0  -",
                "portmap     CHECK        4         3.15      3.30      3.30  2 errors (code 7)",
                "portmap     DEL          4         9.85      10.1      10.1  -",
                "portmap     VERSION      1         1.63      1.63      1.63  -",
            ],
            "{text}"
        );
        assert!(
            text.contains(
                "\n\nchecks: 1 passed, 1 failed, 1 expected failure, 1 not applicable\n  \
                 FAIL  mtu  cnb-ab12-n1:flannel.1   expected: 1450  actual: 1500  reason: VXLAN \
                 adds 50 B, so flannel.1 must be 50 B below eth0\n  \
                 N/A   cni-gc  cnb-ab12-n0 docker0   expected: GC succeeds  actual: not made  \
                 reason: not applicable: the plugin supports up to CNI 1.0.0, GC came with \
                 1.1.0\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn nothing_of_plugin_calls_or_checks_that_did_not_apply_without_them() {
        let text = summary(&full_result());
        assert!(!text.contains("plugin call"), "{text}");
        assert!(!text.contains("not applicable"), "{text}");
        assert!(!text.contains("N/A"), "{text}");
    }

    #[test]
    fn sample_lines() {
        let r = full_result();
        let stream = sample_line("tcp-stream", "rep 1", &r.measurements[0].repetitions[0]);
        assert!(
            stream.starts_with("tcp-stream  rep 1  18.42 Gbit/s  (4 streams"),
            "{stream}"
        );
        let rr = sample_line("tcp-rr", "rep 2", &r.measurements[1].repetitions[0]);
        assert!(
            rr.starts_with("tcp-rr  rep 2  41.23 k/s  rtt p50 21.3 µs"),
            "{rr}"
        );
        assert!(rr.contains("max 1.20 ms"), "{rr}");
    }

    #[test]
    fn summary_table() {
        let text = summary(&full_result());
        for expected in [
            "run ab12: backend vxlan, 2 nodes x 2 pods, l2 underlay, ipv4, checks failed",
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
        assert!(!summary(&r).contains("substrate"));
        r.substrate = reports::Substrate::vm_tcg("6.1.0-56-cloud-amd64");
        let text = summary(&r);
        let lines: Vec<&str> = text.lines().take(3).collect();
        assert_eq!(
            lines,
            [
                "run ab12: backend vxlan, 2 nodes x 2 pods, l2 underlay, ipv4, checks failed",
                "substrate: vm (QEMU TCG emulation, kernel 6.1.0-56-cloud-amd64): figures \
                 compare behaviour, not speed",
                "host: kernel 6.8.0-45-generic, 2 CPUs (AMD EPYC 7B13), cnbench 0.1.0 (abc123)",
            ],
            "{text}"
        );
    }

    #[test]
    fn the_software_under_test_follows_the_header() {
        let mut r = full_result();
        r.components = reports::fixtures::cni_components();
        let text = summary(&r);
        let lines: Vec<&str> = text.lines().take(5).collect();
        assert_eq!(
            lines,
            [
                "run ab12: backend vxlan, 2 nodes x 2 pods, l2 underlay, ipv4, checks failed",
                "host: kernel 6.8.0-45-generic, 2 CPUs (AMD EPYC 7B13), cnbench 0.1.0 (abc123)",
                "time: setup 1.20 s, checks 350 ms, measure 36.0 s, teardown 800 ms",
                "software under test: CNI network docker0 (CNI 1.0.0; chain bridge -> portmap; \
                 /etc/cni/net.d/docker0.conflist) · bridge /usr/lib/cni/bridge (CNI \
                 0.1.0–1.0.0) · host-local /usr/lib/cni/host-local (CNI 0.1.0–1.0.0) · portmap \
                 /usr/lib/cni/portmap (CNI 0.1.0–1.0.0)",
                "  docker0: bridge: mtu 1400 kept as configured (the backend's pod MTU is 1450)",
            ],
            "{text}"
        );
        // The rest as without components.
        let plain = summary(&full_result());
        assert!(text.ends_with(plain.split_once("\n\nchecks:").unwrap().1));
    }

    #[test]
    fn no_software_under_test_is_shown_when_none_was_recorded() {
        let text = summary(&full_result());
        assert!(!text.contains("software under test"), "{text}");
        let header: Vec<&str> = text.lines().take_while(|l| !l.is_empty()).collect();
        assert_eq!(header.len(), 3, "{text}");
    }

    #[test]
    fn summary_without_measurements() {
        let mut r = full_result();
        r.measurements.clear();
        assert!(summary(&r).ends_with("measurements: none\n"));
    }
}
