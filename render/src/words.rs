//! What things are called for people: metrics in words instead of field names, where a
//! result's nodes lived, and plurals.

use reports::{Substrate, EMULATED_CAVEAT};

/// A metric in words, without its unit (the figure beside it carries that): `throughput_bps`
/// → `throughput`, `rtt_p50_ns` → `round trip p50`. A metric this build does not know keeps
/// its field name.
pub fn metric_label(metric: &str) -> &str {
    match metric {
        "throughput_bps" => "throughput",
        "packets_per_s" => "packets per second",
        "loss_percent" => "loss",
        "transactions_per_s" => "transactions per second",
        "rtt_p50_ns" => "round trip p50",
        "rtt_p90_ns" => "round trip p90",
        "rtt_p99_ns" => "round trip p99",
        "rtt_p999_ns" => "round trip p99.9",
        "rtt_max_ns" => "round trip max",
        "rtt_mean_ns" => "round trip mean",
        // Pod churn (`cnbench churn`): each time runs from the moment the pod's add (or
        // removal) was issued.
        "pods_per_s" => "pods added per second",
        "removed_per_s" => "pods removed per second",
        "wired_p50_ns" => "time until wired p50",
        "wired_p99_ns" => "time until wired p99",
        "reachable_p50_ns" => "time until reachable from another node p50",
        "reachable_p99_ns" => "time until reachable from another node p99",
        "reachable_same_node_p50_ns" => "time until reachable from the same node p50",
        "reachable_same_node_p99_ns" => "time until reachable from the same node p99",
        "removed_p50_ns" => "time until removed p50",
        "removed_p99_ns" => "time until removed p99",
        "unreachable_p50_ns" => "time until unreachable p50",
        "unreachable_p99_ns" => "time until unreachable p99",
        "withdrawn_p50_ns" => "time until the route was withdrawn p50",
        "withdrawn_p99_ns" => "time until the route was withdrawn p99",
        "cpu_harness_ns_per_pod" => "CPU time per pod, harness",
        "cpu_daemons_ns_per_pod" => "CPU time per pod, daemons",
        "cpu_machine_ns_per_pod" => "CPU time per pod, whole machine",
        other => other,
    }
}

/// A metric as a comparison names it: in words with its field name after them
/// (`round trip p50 (rtt_p50_ns)`), since the field name is what `--metric-threshold` takes;
/// a metric this build does not know by its field name alone.
pub fn metric_named(metric: &str) -> String {
    match metric_label(metric) {
        label if label == metric => metric.to_owned(),
        label => format!("{label} ({metric})"),
    }
}

/// The one line that tells a reader where a result comes from, e.g.
/// `substrate: vm (QEMU TCG emulation, kernel 6.1.0-56-cloud-amd64): figures compare
/// behaviour, not speed` (the caveat only when emulated).
pub fn substrate_line(s: &Substrate) -> String {
    let mut line = format!("substrate: {s}");
    if s.emulated {
        line.push_str(": ");
        line.push_str(EMULATED_CAVEAT);
    }
    line
}

/// Whether a substrate is worth a line of its own: anything but native namespaces.
pub(crate) fn notable(s: &Substrate) -> bool {
    s.kind != reports::SubstrateKind::Netns || s.emulated
}

/// The heading under which results of a substrate are reported apart from others:
/// `namespace results`, `VM results (emulated)`, `VM results`.
pub(crate) fn results_title(s: &Substrate) -> String {
    let kind = match s.kind {
        reports::SubstrateKind::Netns => "namespace results",
        reports::SubstrateKind::Vm => "VM results",
        reports::SubstrateKind::Ssh => "SSH host results",
    };
    if s.emulated {
        format!("{kind} (emulated)")
    } else {
        kind.to_owned()
    }
}

/// How checks run again (after a fault) fared: those made that did not fail, of those made:
/// `88/90`.
pub(crate) fn checks_passed(checks: &[reports::CheckRecord]) -> String {
    let na = not_applicable(checks);
    let failed = checks
        .iter()
        .filter(|c| c.outcome == reports::CheckOutcome::Fail)
        .count();
    let made = checks.len() - na;
    format!("{}/{made}", made - failed)
}

/// ` (2 n/a)` when some of `checks` did not apply, nothing otherwise.
pub(crate) fn not_applicable_note(checks: &[reports::CheckRecord]) -> String {
    match not_applicable(checks) {
        0 => String::new(),
        na => format!(" ({na} n/a)"),
    }
}

fn not_applicable(checks: &[reports::CheckRecord]) -> usize {
    checks
        .iter()
        .filter(|c| c.outcome == reports::CheckOutcome::NotApplicable)
        .count()
}

/// `"s"` unless `n` is 1.
pub(crate) fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substrates_in_words() {
        let vm = Substrate::vm_tcg("6.1.0-56-cloud-amd64");
        assert_eq!(
            substrate_line(&vm),
            "substrate: vm (QEMU TCG emulation, kernel 6.1.0-56-cloud-amd64): figures compare \
             behaviour, not speed"
        );
        assert_eq!(results_title(&vm), "VM results (emulated)");
        assert!(notable(&vm));
        let ns = Substrate::netns("6.8.0-45-generic");
        assert_eq!(
            substrate_line(&ns),
            "substrate: netns (network namespaces, kernel 6.8.0-45-generic)"
        );
        assert_eq!(results_title(&ns), "namespace results");
        assert!(!notable(&ns));
        let kvm = Substrate {
            emulated: false,
            accel: "kvm".into(),
            ..vm
        };
        assert_eq!(results_title(&kvm), "VM results");
    }

    #[test]
    fn metrics_in_words() {
        assert_eq!(metric_label("throughput_bps"), "throughput");
        assert_eq!(metric_label("rtt_p999_ns"), "round trip p99.9");
        assert_eq!(metric_label("new_metric"), "new_metric");
        assert_eq!(metric_label("pods_per_s"), "pods added per second");
        assert_eq!(
            metric_named("reachable_p99_ns"),
            "time until reachable from another node p99 (reachable_p99_ns)"
        );
        assert_eq!(metric_named("new_metric"), "new_metric");
        // Every churn metric is known.
        let sample = reports::ChurnSample {
            pods: 1,
            concurrency: 1,
            failed_adds: 0,
            never_reachable: 0,
            add_window_ns: 1,
            pods_per_s: 1.0,
            remove_window_ns: 1,
            removed_per_s: 1.0,
            cpu_harness_ns_per_pod: Some(1.0),
            cpu_daemons_ns_per_pod: Some(1.0),
            cpu_machine_ns_per_pod: Some(1.0),
            cpu_by_daemon: Vec::new(),
            times: vec![reports::PodTimes {
                node: 0,
                wired_ns: Some(1),
                reachable_ns: Some(1),
                reachable_same_node_ns: Some(1),
                removed_ns: Some(1),
                unreachable_ns: Some(1),
                withdrawn_ns: Some(1),
            }],
        };
        assert_eq!(sample.metrics().len(), 17);
        for (metric, _) in sample.metrics() {
            assert_ne!(metric_label(metric), metric);
        }
        assert_eq!(plural(1), "");
        assert_eq!(plural(2), "s");
    }
}
