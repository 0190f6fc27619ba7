//! Pod churn (`cnbench churn`) summed up per concurrency level, for every form that shows it:
//! the terminal summary, the table of `index.html` and `summary.md`, and the figures.
//!
//! A level is one `churn` measurement (variant `concurrency C`), its repetitions one cycle
//! each. Rates and CPU per pod are the median over the cycles, as a cycle has one of each.
//! The time percentiles are over every pod of every cycle of the level (nearest rank,
//! [`reports::percentile_sorted`]), not medians of the cycles' own percentiles: a p99 of
//! five cycles of 20 pods is the 99th of those 100 pods, so one slow cycle shows.

use reports::churn::CHURN_WORKLOAD;
use reports::{ChurnRecord, ChurnSample, DaemonUsage, MeasurementRecord, PodTimes, Sample};

use crate::units::{format_bytes, format_ns, format_pods_per_s, MISSING};

/// One pod time of [`PodTimes`].
pub(crate) type Field = fn(&PodTimes) -> Option<u64>;

/// Time until reachable from a pod on another node: what the CDF shows.
pub(crate) const REACHABLE: Field = |t| t.reachable_ns;

/// How the times were measured, for captions and table notes, with the probe interval and
/// the limit of the runs `records` (each once).
pub(crate) fn how<'a>(records: impl Iterator<Item = &'a ChurnRecord>) -> String {
    let (mut every, mut limit) = (Vec::new(), Vec::new());
    for c in records {
        for (list, ns) in [
            (&mut every, c.probe_interval_ns),
            (&mut limit, c.reach_limit_ns),
        ] {
            let text = format_ns(ns as f64);
            if !list.contains(&text) {
                list.push(text);
            }
        }
    }
    let or = |v: Vec<String>, lead: &str, unknown: &str| {
        if v.is_empty() {
            unknown.to_owned()
        } else {
            format!("{lead} {}", v.join(" or "))
        }
    };
    format!(
        "Each time runs from the moment the pod's add (or removal) was issued: wired when the \
         add returned (namespace made, wired by the backend); reachable at the first answered \
         ICMP echo from an observer pod on another node (and one on the pod's own node), sent \
         {} while the pod had not answered; removed when the removal returned; \
         unreachable at the first of the echoes that stayed unanswered; withdrawn when the \
         observer's node no longer had a host route to the pod. A pod that did not answer (or \
         stop answering) {} has no time.",
        or(every, "every", "at a fixed interval"),
        or(limit, "within", "within the run's limit")
    )
}

/// What the columns of the table mean.
pub(crate) const LEGEND: &str = "One row per concurrency level (pods added that many at a \
    time). Pods/s and CPU per pod: median over the cycles; times: percentiles (nearest rank) \
    over every pod of every cycle of the level. CPU per pod: this process (harness), the \
    run's daemons, and the whole machine over the cycle, divided by its pods.";

/// The figures of one concurrency level.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Level {
    pub concurrency: u32,
    /// Pods added per cycle, each cycle's.
    pub pods: Vec<u32>,
    pub cycles: usize,
    pub pods_per_s: Option<f64>,
    pub removed_per_s: Option<f64>,
    pub wired: Option<Percentiles>,
    pub reachable: Option<Percentiles>,
    pub reachable_same_node: Option<Percentiles>,
    pub removed: Option<Percentiles>,
    pub unreachable: Option<Percentiles>,
    pub withdrawn: Option<Percentiles>,
    pub cpu_harness: Option<f64>,
    pub cpu_daemons: Option<f64>,
    pub cpu_machine: Option<f64>,
    pub failed_adds: u32,
    pub never_reachable: u32,
}

/// The p50, p90, p99 and largest of one time over every pod of a level, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

/// Whether `m` is a churn measurement.
pub(crate) fn is_churn(m: &MeasurementRecord) -> bool {
    m.workload == CHURN_WORKLOAD
}

/// The cycles of a churn measurement.
pub(crate) fn cycles(m: &MeasurementRecord) -> impl Iterator<Item = &ChurnSample> {
    m.repetitions.iter().filter_map(|s| match s {
        Sample::Churn(c) => Some(c),
        _ => None,
    })
}

/// The concurrency of a level: its cycles', else the number in its variant
/// (`concurrency 8`).
pub(crate) fn concurrency(m: &MeasurementRecord) -> Option<u32> {
    cycles(m).map(|c| c.concurrency).next().or_else(|| {
        m.variant
            .as_deref()
            .and_then(|v| v.strip_prefix("concurrency "))
            .and_then(|n| n.trim().parse().ok())
    })
}

/// One time of every pod of every cycle of `m` that has it, in nanoseconds, sorted.
pub(crate) fn sorted_times(m: &MeasurementRecord, field: Field) -> Vec<f64> {
    let mut v: Vec<f64> = cycles(m)
        .flat_map(|c| c.times.iter().filter_map(field))
        .map(|t| t as f64)
        .collect();
    v.sort_by(f64::total_cmp);
    v
}

/// The pods a level set out to add over all its cycles: what a share of pods is of.
pub(crate) fn pods_added(m: &MeasurementRecord) -> usize {
    cycles(m)
        .map(|c| (c.pods as usize).max(c.times.len()))
        .sum()
}

fn percentiles(m: &MeasurementRecord, field: Field) -> Option<Percentiles> {
    let sorted = sorted_times(m, field);
    Some(Percentiles {
        p50: reports::percentile_sorted(&sorted, 50.0)?,
        p90: reports::percentile_sorted(&sorted, 90.0)?,
        p99: reports::percentile_sorted(&sorted, 99.0)?,
        max: reports::percentile_sorted(&sorted, 100.0)?,
    })
}

/// The median over the cycles of a figure each has (or may lack).
fn median(m: &MeasurementRecord, f: impl Fn(&ChurnSample) -> Option<f64>) -> Option<f64> {
    let values: Vec<f64> = cycles(m).filter_map(f).filter(|v| v.is_finite()).collect();
    reports::stats::median(&values)
}

impl Level {
    /// The figures of churn measurement `m`; `None` for another measurement, or one whose
    /// concurrency is not known.
    pub(crate) fn of(m: &MeasurementRecord) -> Option<Level> {
        if !is_churn(m) {
            return None;
        }
        Some(Level {
            concurrency: concurrency(m)?,
            pods: cycles(m).map(|c| c.pods).collect(),
            cycles: cycles(m).count(),
            pods_per_s: median(m, |c| Some(c.pods_per_s)),
            removed_per_s: median(m, |c| Some(c.removed_per_s)),
            wired: percentiles(m, |t| t.wired_ns),
            reachable: percentiles(m, REACHABLE),
            reachable_same_node: percentiles(m, |t| t.reachable_same_node_ns),
            removed: percentiles(m, |t| t.removed_ns),
            unreachable: percentiles(m, |t| t.unreachable_ns),
            withdrawn: percentiles(m, |t| t.withdrawn_ns),
            cpu_harness: median(m, |c| c.cpu_harness_ns_per_pod),
            cpu_daemons: median(m, |c| c.cpu_daemons_ns_per_pod),
            cpu_machine: median(m, |c| c.cpu_machine_ns_per_pod),
            failed_adds: cycles(m).map(|c| c.failed_adds).sum(),
            never_reachable: cycles(m).map(|c| c.never_reachable).sum(),
        })
    }

    /// The pods per cycle: `20`, or `18–20` when the cycles differ.
    fn pods_text(&self) -> String {
        let lo = self.pods.iter().min();
        let hi = self.pods.iter().max();
        match (lo, hi) {
            (Some(lo), Some(hi)) if lo == hi => lo.to_string(),
            (Some(lo), Some(hi)) => format!("{lo}–{hi}"),
            _ => MISSING.to_owned(),
        }
    }

    /// The pods that did not make it, in words (`2 adds failed, 1 never reachable`); empty
    /// when every pod did.
    pub(crate) fn not_ok(&self) -> String {
        let mut parts = Vec::new();
        if self.failed_adds > 0 {
            parts.push(format!(
                "{} add{} failed",
                self.failed_adds,
                crate::words::plural(self.failed_adds as usize)
            ));
        }
        if self.never_reachable > 0 {
            parts.push(format!("{} never reachable", self.never_reachable));
        }
        parts.join(", ")
    }
}

/// The churn levels of a run's measurements, in the order they ran.
pub(crate) fn levels(ms: &[MeasurementRecord]) -> Vec<Level> {
    ms.iter().filter_map(Level::of).collect()
}

/// The columns of the churn table, each with whether it holds a figure (right-aligned), for
/// `levels`: the withdrawal column only when some level has withdrawal times (a backend that
/// routes a block per node installs no host route to withdraw).
pub(crate) fn head(levels: &[Level]) -> Vec<(&'static str, bool)> {
    let mut head = vec![
        ("concurrency", true),
        ("pods/cycle", true),
        ("cycles", true),
        ("pods/s", true),
        ("wired p50", true),
        ("wired p90", true),
        ("wired p99", true),
        ("wired max", true),
        ("reachable p50", true),
        ("reachable p90", true),
        ("reachable p99", true),
        ("reachable max", true),
        ("same node p50", true),
        ("removed p50", true),
        ("unreachable p50", true),
    ];
    if with_withdrawn(levels) {
        head.push(("withdrawn p50", true));
    }
    head.extend([
        ("CPU/pod harness", true),
        ("CPU/pod daemons", true),
        ("CPU/pod machine", true),
        ("not ok", false),
    ]);
    head
}

fn with_withdrawn(levels: &[Level]) -> bool {
    levels.iter().any(|l| l.withdrawn.is_some())
}

/// The cells of `level` in the order of [`head`] for `levels`; `none` (given) when every
/// pod made it.
pub(crate) fn cells(level: &Level, levels: &[Level], none: &str) -> Vec<String> {
    let ns = |v: Option<f64>| v.map(format_ns).unwrap_or_else(|| MISSING.to_owned());
    let p50 = |p: Option<Percentiles>| ns(p.map(|p| p.p50));
    let p90 = |p: Option<Percentiles>| ns(p.map(|p| p.p90));
    let p99 = |p: Option<Percentiles>| ns(p.map(|p| p.p99));
    let max = |p: Option<Percentiles>| ns(p.map(|p| p.max));
    let mut cells = vec![
        level.concurrency.to_string(),
        level.pods_text(),
        level.cycles.to_string(),
        level
            .pods_per_s
            .map(format_pods_per_s)
            .unwrap_or_else(|| MISSING.to_owned()),
        p50(level.wired),
        p90(level.wired),
        p99(level.wired),
        max(level.wired),
        p50(level.reachable),
        p90(level.reachable),
        p99(level.reachable),
        max(level.reachable),
        p50(level.reachable_same_node),
        p50(level.removed),
        p50(level.unreachable),
    ];
    if with_withdrawn(levels) {
        cells.push(p50(level.withdrawn));
    }
    cells.extend([
        ns(level.cpu_harness),
        ns(level.cpu_daemons),
        ns(level.cpu_machine),
    ]);
    let not_ok = level.not_ok();
    cells.push(if not_ok.is_empty() {
        none.to_owned()
    } else {
        not_ok
    });
    cells
}

/// What one daemon held before the first cycle and after the last: `bird n1 (pid 412): fds
/// 41 → 41, RSS 12.0 MiB → 12.3 MiB`.
pub(crate) fn daemon_line(d: &DaemonUsage) -> String {
    let span = |v: &[u64], f: &dyn Fn(u64) -> String| match (v.first(), v.last()) {
        (Some(a), Some(b)) => format!("{} → {}", f(*a), f(*b)),
        _ => MISSING.to_owned(),
    };
    format!(
        "{} (pid {}): fds {}, RSS {}",
        d.what,
        d.pid,
        span(&d.fds, &|n| n.to_string()),
        span(&d.rss_bytes, &|b| format_bytes(b as f64)),
    )
}

/// The settings of a churn run in one line: `20 pods per cycle, 5 cycles per level,
/// concurrency 1, 8; probed every 1.00 ms, limit 10.0 s`.
pub(crate) fn settings_line(c: &ChurnRecord) -> String {
    format!(
        "{} pods per cycle, {} cycle{} per level, concurrency {}; probed every {}, limit {}",
        c.pods,
        c.cycles,
        crate::words::plural(c.cycles as usize),
        c.concurrency
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        format_ns(c.probe_interval_ns as f64),
        format_ns(c.reach_limit_ns as f64),
    )
}
