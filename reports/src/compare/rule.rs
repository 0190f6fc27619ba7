//! The decision rule for one metric: the change of medians, its bootstrap interval, the
//! threshold and the noise guard, and the verdict they give (see the module documentation of
//! [`crate::compare`]).

use serde::{Deserialize, Serialize};

use super::bootstrap::bootstrap_interval;
use super::options::{ABSOLUTE_METRICS, NOISE_Z, RUN_TO_RUN};
use super::verdict::{MetricComparison, Verdict};
use crate::schema::Sample;

/// How a metric's change is expressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeScale {
    /// `candidate / baseline - 1`, a fraction.
    Relative,
    /// `(candidate - baseline) / 100` of a metric in percent: percentage points, as a
    /// fraction (0.02 = 2 percentage points).
    PercentagePoints,
    /// `candidate - baseline` of an exact count per packet ([`super::counts`]): `+1.00`
    /// is one more device transmission or crossing per packet.
    PerPacket,
}

impl ChangeScale {
    /// A change as text: `+12.3%` (relative) or `+2.0 pp` (percentage points).
    pub fn format(self, change: f64) -> String {
        if change.is_nan() {
            return "-".into();
        }
        if change.is_infinite() {
            return if change > 0.0 { "+inf" } else { "-inf" }.into();
        }
        match self {
            ChangeScale::Relative => format!("{:+.1}%", change * 100.0),
            ChangeScale::PercentagePoints => format!("{:+.1} pp", change * 100.0),
            ChangeScale::PerPacket => format!("{change:+.2} /pkt"),
        }
    }
}

/// Compares one metric's repetitions; `threshold` `None` means the metric does not gate.
pub(super) fn compare_metric(
    measurement: &str,
    path: &str,
    metric: &str,
    baseline_values: Vec<f64>,
    candidate_values: Vec<f64>,
    threshold: Option<f64>,
    run_noise: f64,
) -> MetricComparison {
    let higher_is_better = Sample::higher_is_better(metric).unwrap_or(true);
    let scale = if ABSOLUTE_METRICS.contains(&metric) {
        ChangeScale::PercentagePoints
    } else {
        ChangeScale::Relative
    };
    let b: Vec<f64> = finite(&baseline_values);
    let c: Vec<f64> = finite(&candidate_values);
    let mut row = MetricComparison {
        measurement: measurement.to_owned(),
        path: path.to_owned(),
        metric: metric.to_owned(),
        higher_is_better,
        baseline_median: median(&b),
        candidate_median: median(&c),
        baseline_values,
        candidate_values,
        scale,
        change: f64::NAN,
        interval: None,
        threshold,
        noise_guard: None,
        verdict: Verdict::Inconclusive,
        note: None,
    };
    if b.is_empty() || c.is_empty() {
        let side = if b.is_empty() {
            "baseline"
        } else {
            "candidate"
        };
        row.note = Some(format!(
            "the {side} has no finite value: nothing to compare"
        ));
        if threshold.is_none() {
            row.verdict = Verdict::Info;
        }
        return row;
    }
    row.change = change(scale, row.baseline_median, row.candidate_median);
    let enough = b.len() >= 2 && c.len() >= 2;
    if enough {
        row.interval = Some(bootstrap_interval(&b, &c, scale));
    }
    let Some(t) = threshold else {
        row.verdict = Verdict::Info;
        row.note = Some("noisy by nature: reported, never gates".into());
        return row;
    };
    // Turned so that positive is worse.
    let worse = |x: f64| if higher_is_better { -x } else { x };
    let point = worse(row.change);
    let Some([lo, hi]) = row.interval else {
        if point.abs() <= t {
            row.verdict = Verdict::Pass;
        } else {
            row.verdict = Verdict::Inconclusive;
            row.note = Some(format!(
                "{} repetition(s) against {}: a change cannot be told from noise",
                b.len(),
                c.len()
            ));
        }
        return row;
    };
    let (wlo, whi) = if higher_is_better {
        (-hi, -lo)
    } else {
        (lo, hi)
    };
    // The noise guard, on the log scale for relative changes: a rise must exceed e^g - 1
    // and a fall 1 - e^-g.
    let spread = pooled_spread(&b, &c, scale);
    let run = (RUN_TO_RUN * spread).max(run_noise);
    let (nb, nc) = (b.len() as f64, c.len() as f64);
    let g = NOISE_Z * (spread * spread * (1.0 / nb + 1.0 / nc) + 2.0 * run * run).sqrt();
    let (up, down) = match scale {
        ChangeScale::PercentagePoints | ChangeScale::PerPacket => (g, g),
        ChangeScale::Relative => (g.exp_m1(), -(-g).exp_m1()),
    };
    let (guard_worse, guard_better) = if higher_is_better {
        (down, up)
    } else {
        (up, down)
    };
    let guard = if point > 0.0 {
        guard_worse
    } else {
        guard_better
    };
    row.noise_guard = Some(guard);
    row.verdict = if wlo > t && point > guard_worse {
        Verdict::Regression
    } else if whi < -t && -point > guard_better {
        Verdict::Improvement
    } else if point.abs() <= t || (wlo >= -t && whi <= t) {
        Verdict::Pass
    } else {
        Verdict::Inconclusive
    };
    if row.verdict == Verdict::Inconclusive {
        row.note = Some(if wlo > t || whi < -t {
            format!(
                "beyond the threshold, but not beyond what runs of the same build differ by \
                 (noise guard {}); more repetitions do not lower that much, a lower noise \
                 floor on a machine whose runs repeat closely does",
                scale.format(guard).trim_start_matches('+')
            )
        } else {
            "the interval crosses the threshold".into()
        });
    }
    row
}

fn finite(values: &[f64]) -> Vec<f64> {
    values.iter().copied().filter(|v| v.is_finite()).collect()
}

/// Median of `values` (NaN when empty).
pub(super) fn median(values: &[f64]) -> f64 {
    crate::stats::median(values).unwrap_or(f64::NAN)
}

/// The change from baseline median `b` to candidate median `c`.
pub(super) fn change(scale: ChangeScale, b: f64, c: f64) -> f64 {
    match scale {
        ChangeScale::PercentagePoints => (c - b) / 100.0,
        ChangeScale::PerPacket => c - b,
        ChangeScale::Relative if b == 0.0 => {
            if c == 0.0 {
                0.0
            } else {
                f64::INFINITY.copysign(c)
            }
        }
        ChangeScale::Relative => c / b - 1.0,
    }
}

/// The spread of the repetitions of both sides, pooled (root mean square of the two sample
/// standard deviations): of the natural logarithms of the values for relative changes (about
/// the coefficient of variation, but symmetric for rises and falls), of the values divided by
/// 100 for percentage points. With a value of 0 or below, the coefficient of variation.
fn pooled_spread(b: &[f64], c: &[f64], scale: ChangeScale) -> f64 {
    let sd = |v: &[f64]| -> f64 {
        if v.len() < 2 {
            return 0.0;
        }
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    };
    let spread = |v: &[f64]| -> f64 {
        match scale {
            ChangeScale::PercentagePoints => sd(v) / 100.0,
            ChangeScale::PerPacket => sd(v),
            ChangeScale::Relative if v.iter().all(|x| *x > 0.0) => {
                sd(&v.iter().map(|x| x.ln()).collect::<Vec<f64>>())
            }
            ChangeScale::Relative => {
                let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
                if mean == 0.0 {
                    0.0
                } else {
                    sd(v) / mean.abs()
                }
            }
        }
    };
    let (sb, sc) = (spread(b), spread(c));
    ((sb * sb + sc * sc) / 2.0).sqrt()
}
