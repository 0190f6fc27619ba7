//! Throughput per backend: tcp-stream and udp-stream, per path.

use super::*;
use crate::chart::{Axis, BarChart, BarStyle, Scale};
use crate::model::Model;
use crate::units::Quantity;

/// Plot 1: Throughput: tcp-stream goodput, udp-stream packet rate per variant, by path.
pub(super) fn throughput(model: &Model) -> Result<Figure, Omitted> {
    let rows: Vec<String> = model.series.iter().map(|s| s.label.clone()).collect();
    let cases = model.cases();
    let mut panels = Vec::new();
    for case in cases.iter().filter(|c| c.workload == "tcp-stream") {
        panels.push(metric_panel(
            model,
            case,
            "throughput_bps",
            format!("{} goodput", case.label()),
            Axis::new("Throughput", Quantity::BitsPerSecond, Scale::Linear),
        ));
    }
    for case in cases.iter().filter(|c| c.workload == "udp-stream") {
        panels.push(metric_panel(
            model,
            case,
            "packets_per_s",
            format!("{} packet rate", case.label()),
            Axis::new(
                "Datagrams received",
                Quantity::PacketsPerSecond,
                Scale::Linear,
            ),
        ));
    }
    let caption = format!(
        "{RANGE_NOTE} tcp-stream: payload bytes received by the server during the measurement \
         window (warm-up excluded), as bits per second. udp-stream: datagrams received per \
         second by the server; \"64 B\" is the small-packet case, \"max payload\" the largest \
         datagram that fits the pod MTU unfragmented. Same-node: both pods on one node; \
         cross-node: pods on two nodes. {BASELINE_NOTE}{}",
        generator_note(model)
    );
    bar_figure(
        "throughput",
        "Throughput per backend",
        BarChart {
            rows,
            groups: path_keys(),
            panels,
            columns: 3,
            style: BarStyle::Bars,
        },
        caption,
        "no tcp-stream or udp-stream measurements",
    )
}
