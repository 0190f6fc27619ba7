//! Exact-count gating: the per-packet counts that do not jitter, decided on an absolute
//! tolerance instead of the statistics of timing.
//!
//! # Which counts gate, and why only those
//!
//! A count gates when the path's structure alone fixes it, so that any change is a change of
//! the path (an extra device, an extra copy through userspace) and never luck:
//!
//! - **`device_tx_per_packet`**: packets sent by every device of the run (its own device
//!   counters, read in every repetition, traced or not) per packet through the client pod's
//!   `eth0`. Every packet of a request/response workload is one wire-sized packet and is
//!   transmitted once by each device on its way (kernel vxlan 6.00 across nodes, 2.00 on one
//!   node), so one more hop is +1.00.
//! - **`sending_node_crossings_per_packet`**, **`receiving_node_crossings_per_packet`**: the
//!   data-moving syscalls of the endpoint and of its node's datapath daemon per packet (the
//!   article's 3 for flannel's UDP mode), from the traced repetition.
//! - **`crossings_per_packet:<role>`**: each role's data-moving syscalls per packet on its
//!   own device (the client's and server's `eth0`, a daemon's TUN), from the traced
//!   repetition: an extra copy in one daemon shows there even when the node sum hides whose.
//!
//! Only on the request/response workloads ([`GATED_COUNT_WORKLOADS`]): one transaction is in
//! flight at a time, so every read and every write moves exactly one packet whatever the
//! datapath batches. Not gated, and why:
//!
//! - **Streams** (tcp-stream, udp-stream). Their packets on the pod's `eth0` are GSO
//!   super-packets of varying size (tcp-stream), a TUN datapath carries them as wire-sized
//!   packets (17.3 device transmissions "per packet" on faithful flannel-udp), `sendmmsg` and
//!   `recvmmsg` move as many datagrams per call as happen to be queued, and a flood's losses
//!   before the last device lower every later device's count.
//! - **All syscalls per packet** (`syscalls_per_packet`): they include `poll`/`epoll_wait`
//!   wake-ups and retries after `EAGAIN`, whose number depends on timing.
//!
//! # The rule
//!
//! With `b` and `c` the two sides' values (one per repetition for device transmissions, the
//! traced repetition's for crossings) and `tol` the tolerance (`--count-tolerance`, default
//! [`DEFAULT_COUNT_TOLERANCE`] per packet):
//!
//! - when either side's values differ among themselves by more than `tol`, the count did not
//!   behave as a structural one in that run: **inconclusive**, with the spread in the note;
//! - else with `d = median(c) - median(b)`: **regression** iff `d > tol` (more work per
//!   packet is worse), **improvement** iff `d < -tol`, **pass** otherwise.
//!
//! No timing noise, disturbance or noise floor enters: these rows are decided the same on a
//! quiet machine and a busy one.

use super::options::CompareOptions;
use super::rule::{median, ChangeScale};
use super::verdict::{MetricComparison, Verdict};
use crate::cost::CostSample;
use crate::schema::MeasurementRecord;

/// The default `--count-tolerance`: a change of more than 0.05 per packet decides.
pub const DEFAULT_COUNT_TOLERANCE: f64 = 0.05;

/// The workloads whose per-packet counts gate: one packet per read and per write.
pub const GATED_COUNT_WORKLOADS: &[&str] = &["tcp-rr", "udp-rr", "tcp-crr"];

/// Device transmissions per packet, from the run's own device counters.
pub const DEVICE_TX: &str = "device_tx_per_packet";
/// Crossings per packet on the sending (client's) node.
pub const SENDING_CROSSINGS: &str = "sending_node_crossings_per_packet";
/// Crossings per packet on the receiving (server's) node.
pub const RECEIVING_CROSSINGS: &str = "receiving_node_crossings_per_packet";
/// Prefix of a role's crossings per packet: `crossings_per_packet:daemon n0`.
pub const ROLE_CROSSINGS: &str = "crossings_per_packet:";

/// Every gated count of a measurement, by name, with its values (in the order found).
pub fn counts_of(m: &MeasurementRecord) -> Vec<(String, Vec<f64>)> {
    if !GATED_COUNT_WORKLOADS.contains(&m.workload.as_str()) {
        return Vec::new();
    }
    let mut out: Vec<(String, Vec<f64>)> = Vec::new();
    // Tracing slows the packets but does not change the devices they pass, so the traced
    // repetition's device count is one more value.
    let tx: Vec<f64> = m
        .costs
        .iter()
        .chain(m.traced.as_ref().map(|t| &t.cost))
        .filter_map(|c| c.device_tx_per_packet)
        .filter(|v| v.is_finite())
        .collect();
    if !tx.is_empty() {
        out.push((DEVICE_TX.to_owned(), tx));
    }
    let Some(traced) = m.traced.as_ref().map(|t| &t.cost) else {
        return out;
    };
    let mut one = |name: String, value: Option<f64>| {
        if let Some(v) = value.filter(|v| v.is_finite()) {
            out.push((name, vec![v]));
        }
    };
    one(
        SENDING_CROSSINGS.to_owned(),
        traced.sending_node_crossings_per_packet,
    );
    one(
        RECEIVING_CROSSINGS.to_owned(),
        traced.receiving_node_crossings_per_packet,
    );
    for role in roles_with_crossings(traced) {
        one(format!("{ROLE_CROSSINGS}{}", role.0), role.1);
    }
    out
}

fn roles_with_crossings(c: &CostSample) -> Vec<(String, Option<f64>)> {
    c.roles
        .iter()
        .filter(|r| r.packets > 0 && r.crossings_per_packet.is_some())
        .map(|r| (r.role.clone(), r.crossings_per_packet))
        .collect()
}

/// The count rows of a matched pair, and a warning for each count only the baseline has.
pub(super) fn compare_counts(
    b: &MeasurementRecord,
    c: &MeasurementRecord,
    options: &CompareOptions,
) -> (Vec<MetricComparison>, Vec<String>) {
    let theirs = counts_of(c);
    let mut rows = Vec::new();
    let mut warnings = Vec::new();
    for (name, b_values) in counts_of(b) {
        match theirs.iter().find(|(n, _)| *n == name) {
            Some((_, c_values)) => rows.push(compare_count(
                &b.label(),
                &b.path,
                &name,
                b_values,
                c_values.clone(),
                options.count_tolerance,
            )),
            None => warnings.push(format!(
                "{} {}: {name} is only in the baseline (the candidate was not traced or lost \
                 that role): not gated; run the candidate with its costs traced",
                b.label(),
                b.path
            )),
        }
    }
    (rows, warnings)
}

/// Decides one exact count (see the module documentation).
pub fn compare_count(
    measurement: &str,
    path: &str,
    metric: &str,
    baseline_values: Vec<f64>,
    candidate_values: Vec<f64>,
    tolerance: f64,
) -> MetricComparison {
    let (bm, cm) = (median(&baseline_values), median(&candidate_values));
    let spread = |v: &[f64]| {
        v.iter().copied().fold(f64::NEG_INFINITY, f64::max)
            - v.iter().copied().fold(f64::INFINITY, f64::min)
    };
    let (sb, sc) = (spread(&baseline_values), spread(&candidate_values));
    let change = cm - bm;
    // Per-packet ratios of integer counters carry rounding of a few parts in 10^15; a change
    // of exactly the tolerance passes.
    let tolerance_edge = tolerance + 1e-9;
    let (verdict, note) = if sb > tolerance_edge || sc > tolerance_edge {
        let (side, s) = if sb >= sc {
            ("baseline", sb)
        } else {
            ("candidate", sc)
        };
        (
            Verdict::Inconclusive,
            Some(format!(
                "the {side}'s repetitions differ by {s:.2} per packet, more than the tolerance: \
                 this count did not behave as a structural one there"
            )),
        )
    } else if change > tolerance_edge {
        (
            Verdict::Regression,
            Some(format!(
                "{change:+.2} per packet: the path does more per packet"
            )),
        )
    } else if change < -tolerance_edge {
        (
            Verdict::Improvement,
            Some(format!(
                "{change:+.2} per packet: the path does less per packet"
            )),
        )
    } else {
        (Verdict::Pass, None)
    };
    MetricComparison {
        measurement: measurement.to_owned(),
        path: path.to_owned(),
        metric: metric.to_owned(),
        higher_is_better: false,
        baseline_median: bm,
        candidate_median: cm,
        baseline_values,
        candidate_values,
        scale: ChangeScale::PerPacket,
        change,
        interval: None,
        threshold: Some(tolerance),
        noise_guard: None,
        verdict,
        note,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(b: &[f64], c: &[f64]) -> MetricComparison {
        compare_count(
            "tcp-rr",
            "cross-node",
            DEVICE_TX,
            b.to_vec(),
            c.to_vec(),
            DEFAULT_COUNT_TOLERANCE,
        )
    }

    #[test]
    fn equal_counts_pass_and_one_more_hop_regresses() {
        assert_eq!(
            row(&[6.0, 6.0, 6.0], &[6.0, 6.0, 6.0]).verdict,
            Verdict::Pass
        );
        let hop = row(&[6.0, 6.0, 6.0], &[7.0, 7.0, 7.0]);
        assert_eq!(hop.verdict, Verdict::Regression);
        assert_eq!(hop.change, 1.0);
        assert_eq!(hop.scale.format(hop.change), "+1.00 /pkt");
        assert_eq!(row(&[3.0, 3.0], &[2.0, 2.0]).verdict, Verdict::Improvement);
    }

    #[test]
    fn the_tolerance_is_the_edge() {
        // 0.05 exactly passes, anything beyond decides, either way.
        assert_eq!(row(&[1.0], &[1.05]).verdict, Verdict::Pass);
        assert_eq!(row(&[1.0], &[0.95]).verdict, Verdict::Pass);
        assert_eq!(row(&[1.0], &[1.0501]).verdict, Verdict::Regression);
        assert_eq!(row(&[1.0], &[0.9499]).verdict, Verdict::Improvement);
    }

    #[test]
    fn a_count_that_jitters_is_not_decided() {
        let r = row(&[6.0, 6.0, 6.0], &[6.0, 6.9, 7.0]);
        assert_eq!(r.verdict, Verdict::Inconclusive);
        assert!(r
            .note
            .unwrap()
            .contains("candidate's repetitions differ by 1.00"));
    }
}
