//! Measurements that other work on the machine disturbed, in either run: what is not decided
//! on them, and the warning that says so.

use super::options::{DISTURBED_RATIO, DISTURBED_UNDECIDABLE};
use super::rule::ChangeScale;
use super::verdict::{MetricComparison, Verdict};
use crate::schema::MeasurementRecord;

/// Repetitions of `m` that other work disturbed ([`crate::stats::Warning::Disturbed`]): how
/// many, and the most CPUs other work used.
fn disturbance(m: &MeasurementRecord) -> Option<(usize, f64)> {
    crate::stats::warnings(m).into_iter().find_map(|w| match w {
        crate::stats::Warning::Disturbed { count, cpu_share } => Some((count, cpu_share)),
        _ => None,
    })
}

/// How much other work disturbed a matched pair of measurements, in either run.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Disturbance {
    /// `other work used up to 0.8 CPUs during 3 of the baseline's repetitions`.
    note: String,
}

impl Disturbance {
    pub(super) fn of(b: &MeasurementRecord, c: &MeasurementRecord) -> Option<Disturbance> {
        let mut parts = Vec::new();
        for (side, m) in [("baseline", b), ("candidate", c)] {
            if let Some((count, cpus)) = disturbance(m) {
                parts.push(format!(
                    "up to {cpus:.1} CPUs during {count} of the {side}'s repetitions"
                ));
            }
        }
        (!parts.is_empty()).then(|| Disturbance {
            note: format!("other work used {}", parts.join(" and ")),
        })
    }

    /// What is not decided on such measurements.
    fn consequence() -> String {
        format!(
            "tail latencies and loss are not decided, nor other changes within {DISTURBED_RATIO}x"
        )
    }

    /// Turns a regression or improvement into inconclusive when the disturbance could
    /// account for it: always for [`DISTURBED_UNDECIDABLE`] metrics, otherwise within
    /// [`DISTURBED_RATIO`].
    pub(super) fn apply(&self, row: &mut MetricComparison) {
        // Exact counts are structural: other work on the machine does not change them.
        if !matches!(row.verdict, Verdict::Regression | Verdict::Improvement)
            || row.scale == ChangeScale::PerPacket
        {
            return;
        }
        let ratio = 1.0 + row.change;
        let undecidable = DISTURBED_UNDECIDABLE.contains(&row.metric.as_str())
            || row.scale != ChangeScale::Relative;
        let within = ratio < DISTURBED_RATIO && ratio > 1.0 / DISTURBED_RATIO;
        if undecidable || within {
            row.verdict = Verdict::Inconclusive;
            row.note = Some(format!(
                "{}: {}; rerun both on a quiet machine",
                self.note,
                Disturbance::consequence()
            ));
        }
    }
}

/// One warning for every measurement that other work disturbed, in either run.
pub(super) fn disturbance_warning(
    pairs: &[(&MeasurementRecord, &MeasurementRecord)],
) -> Option<String> {
    let mut count = 0;
    let (mut most_b, mut most_c) = (0.0f64, 0.0f64);
    for (b, c) in pairs {
        if Disturbance::of(b, c).is_none() {
            continue;
        }
        count += 1;
        most_b = most_b.max(disturbance(b).map_or(0.0, |d| d.1));
        most_c = most_c.max(disturbance(c).map_or(0.0, |d| d.1));
    }
    if count == 0 {
        return None;
    }
    let sides: Vec<String> = [("baseline", most_b), ("candidate", most_c)]
        .iter()
        .filter(|(_, cpus)| *cpus > 0.0)
        .map(|(side, cpus)| format!("up to {cpus:.1} CPUs in the {side}"))
        .collect();
    Some(format!(
        "other work used the machine during {count} of {} measurements ({}): there, {}; stop \
         other work and rerun both",
        pairs.len(),
        sides.join(", "),
        Disturbance::consequence()
    ))
}
