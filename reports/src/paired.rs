//! Interleaved A/B measurement as data: the order of the runs, the paired changes of each
//! metric, and the sequential rule that decides when to stop (the library side of
//! `cnbench ab`; the runs themselves are made by the binary).
//!
//! # Why pairs
//!
//! `compare` puts two results taken at different times side by side, so it must allow for
//! the machine drifting between them (its noise floor, 7 % by default): a 10 % change is
//! inconclusive there. Here the two configurations run alternately, A and B in a random
//! order inside each pair, with the same CPU placement, so drift of the machine (frequency,
//! other work, the page cache) hits both sides of a pair alike and cancels in the pair's
//! change. Only the scatter of the pairs' changes is left, which is what decides.
//!
//! # The rule
//!
//! For a metric with pairs `i = 1..n`, the paired change is `d_i = ln(b_i / a_i)` (for
//! `loss_percent`, `(b_i - a_i) / 100`, percentage points). At each look ([`look_index`]:
//! after pair 3, 4, 5, 6, then whenever the pairs have grown by a quarter, 8, 10, 13, 17,
//! ...), the `k`-th look takes a Student-t interval of the mean change at level
//! `1 - alpha_k`, with
//!
//! `alpha_k = ALPHA / M * 6 / (pi^2 k^2)`
//!
//! where `M` is the number of metrics that gate. The `alpha_k` of all looks and metrics sum to
//! at most [`ALPHA`] (5 %), so by the union bound the chance that any interval of an A/A
//! comparison ever excludes zero, at any look, is at most 5 %, and that it does so on the
//! worse side (a false regression) at most 2.5 %: stopping as soon as the data decide does
//! not inflate the error rate. Looking after every pair would spend the error rate on looks
//! that add little; geometric looks keep the intervals of late looks narrower (at 30 pairs
//! the 11th look, not the 28th). (The t interval takes the pairs' changes as normal; the
//! spread used is at least the floor, [`DEFAULT_SPREAD_FLOOR`] or half a calibration's paired
//! spread, so that three pairs that happen to agree closely do not decide.)
//!
//! With `[lo, hi]` that interval and `p` the mean change, turned so that positive is worse,
//! and `t` the metric's threshold:
//!
//! - **regression** iff `lo > 0` and `p > t`: worse with confidence, by more than matters;
//! - **improvement** iff `hi < 0` and `p < -t`;
//! - **pass** iff `-t <= lo` and `hi <= t`: any change is within the threshold;
//! - otherwise undecided: another pair is measured, or, when the budget is spent,
//!   **inconclusive**.
//!
//! A metric keeps the first verdict it gets (the intervals hold at every look at once).
//! Exact counts are decided by [`crate::compare::counts`] from all the runs of each side.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::compare::{ChangeScale, Verdict};

/// Pairs measured before the first look (a t interval needs two degrees of freedom).
pub const MIN_PAIRS: usize = 3;

/// The overall error rate of an A/A comparison: any interval excluding zero at any look
/// (5 %; a false regression is the half of that on the worse side).
pub const ALPHA: f64 = 0.05;

/// The smallest spread of the paired changes assumed without a calibration, on the log
/// scale (1 %).
pub const DEFAULT_SPREAD_FLOOR: f64 = 0.01;

/// The metrics `cnbench ab` gates: rates, the median and the mean round trip. Tail
/// percentiles and loss are reported; a `--metric-threshold` naming one makes it gate.
pub const AB_GATED: &[&str] = &[
    "throughput_bps",
    "packets_per_s",
    "transactions_per_s",
    "rtt_p50_ns",
    "rtt_mean_ns",
];

/// The index `k` (from 1) of the look made after `n` pairs, or `None` when no look is made
/// then: looks after pairs 3, 4, 5 and 6, then each time the pairs have grown by at least a
/// quarter since the last look (8, 10, 13, 17, 22, 28, 35, ...).
pub fn look_index(n: usize) -> Option<usize> {
    let mut look = MIN_PAIRS;
    let mut k = 1;
    while look < n {
        look = if look < 6 {
            look + 1
        } else {
            (look * 5).div_ceil(4)
        };
        k += 1;
    }
    (look == n).then_some(k)
}

/// Which side of a pair ran first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Order {
    /// A, then B.
    #[serde(rename = "AB")]
    AThenB,
    /// B, then A.
    #[serde(rename = "BA")]
    BThenA,
}

/// The orders of `pairs` pairs: each a fair coin from splitmix64 seeded with `seed`, so a
/// seed gives the same order again.
pub fn orders(seed: u64, pairs: usize) -> Vec<Order> {
    let mut rng = crate::compare::SplitMix64(seed);
    (0..pairs)
        .map(|_| {
            if rng.next() >> 63 == 0 {
                Order::AThenB
            } else {
                Order::BThenA
            }
        })
        .collect()
}

/// One metric's paired series: the `i`-th value of `a` and of `b` were measured in pair `i`.
#[derive(Debug, Clone, PartialEq)]
pub struct PairedSeries {
    /// `loss_percent` and the like take differences; everything else ratios.
    pub scale: ChangeScale,
    /// Whether a higher value is better.
    pub higher_is_better: bool,
    /// Side A's values, one per pair.
    pub a: Vec<f64>,
    /// Side B's values, one per pair.
    pub b: Vec<f64>,
}

/// What the rule says about one metric after `n` pairs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairedDecision {
    /// The mean paired change, as a fraction: `exp(mean d) - 1` (relative) or `mean d`
    /// (percentage points); positive is B higher.
    pub change: f64,
    /// The interval of `change` at this look's level.
    pub interval: [f64; 2],
    /// The spread of the paired changes used (log scale or percentage points as a fraction).
    pub spread: f64,
    /// Pairs used.
    pub pairs: usize,
    /// `Some` when decided; `None` while more pairs are needed.
    pub verdict: Option<Verdict>,
}

impl PairedSeries {
    /// The paired changes `d_i` of the pairs whose two values are usable.
    pub fn changes(&self) -> Vec<f64> {
        self.a
            .iter()
            .zip(&self.b)
            .filter_map(|(a, b)| match self.scale {
                ChangeScale::Relative if *a > 0.0 && *b > 0.0 => Some((b / a).ln()),
                ChangeScale::Relative => None,
                _ if a.is_finite() && b.is_finite() => Some((b - a) / 100.0),
                _ => None,
            })
            .filter(|d| d.is_finite())
            .collect()
    }

    /// The rule at this point, for a metric among `gated` gating ones with threshold `t`
    /// (`None`: reported only, never decided) and spread floor `floor`.
    pub fn decide(&self, t: Option<f64>, gated: usize, floor: f64) -> Option<PairedDecision> {
        let d = self.changes();
        let n = d.len();
        let k = look_index(n)? as f64;
        let nf = n as f64;
        let mean = d.iter().sum::<f64>() / nf;
        let sd = crate::calibration::sample_sd(&d);
        let spread = sd.max(floor);
        let alpha_k = ALPHA / gated.max(1) as f64 * 6.0 / (std::f64::consts::PI.powi(2) * k * k);
        let q = t_quantile(1.0 - alpha_k / 2.0, nf - 1.0);
        let half = q * spread / nf.sqrt();
        let (lo, hi) = (mean - half, mean + half);
        let as_change = |x: f64| match self.scale {
            ChangeScale::Relative => x.exp_m1(),
            _ => x,
        };
        let change = as_change(mean);
        let interval = [as_change(lo), as_change(hi)];
        let verdict = t.and_then(|t| {
            // Turned so that positive is worse.
            let (wlo, whi, p) = if self.higher_is_better {
                (-interval[1], -interval[0], -change)
            } else {
                (interval[0], interval[1], change)
            };
            if wlo > 0.0 && p > t {
                Some(Verdict::Regression)
            } else if whi < 0.0 && p < -t {
                Some(Verdict::Improvement)
            } else if wlo >= -t && whi <= t {
                Some(Verdict::Pass)
            } else {
                None
            }
        });
        Some(PairedDecision {
            change,
            interval,
            spread,
            pairs: n,
            verdict,
        })
    }
}

/// The `p`-quantile of Student's t with `df` degrees of freedom.
fn t_quantile(p: f64, df: f64) -> f64 {
    match StudentsT::new(0.0, 1.0, df) {
        Ok(t) => t.inverse_cdf(p),
        // Only for df <= 0, which MIN_PAIRS rules out.
        Err(_) => f64::INFINITY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::Noise;

    fn series(a: &[f64], b: &[f64]) -> PairedSeries {
        PairedSeries {
            scale: ChangeScale::Relative,
            higher_is_better: true,
            a: a.to_vec(),
            b: b.to_vec(),
        }
    }

    #[test]
    fn orders_are_random_but_repeatable() {
        let o = orders(7, 40);
        assert_eq!(o, orders(7, 40));
        assert_ne!(o, orders(8, 40));
        let ab = o.iter().filter(|x| **x == Order::AThenB).count();
        assert!((10..=30).contains(&ab), "{ab} of 40 A first");
    }

    #[test]
    fn looks_grow_geometrically() {
        let looks: Vec<(usize, usize)> = (1..=40)
            .filter_map(|n| look_index(n).map(|k| (n, k)))
            .collect();
        assert_eq!(
            looks,
            [
                (3, 1),
                (4, 2),
                (5, 3),
                (6, 4),
                (8, 5),
                (10, 6),
                (13, 7),
                (17, 8),
                (22, 9),
                (28, 10),
                (35, 11)
            ]
        );
    }

    #[test]
    fn too_few_pairs_say_nothing() {
        assert!(series(&[1.0, 1.0], &[0.5, 0.5])
            .decide(Some(0.05), 1, DEFAULT_SPREAD_FLOOR)
            .is_none());
    }

    #[test]
    fn a_ten_percent_drop_is_caught_and_aa_passes() {
        let mut noise = Noise::new(3);
        let mut a = Vec::new();
        let mut b = Vec::new();
        let mut decided = None;
        // Drift of the machine moves both sides of a pair alike; 2 % scatter within pairs.
        for i in 0..40 {
            let drift = 1.0 + 0.3 * ((i as f64) / 5.0).sin();
            a.push(noise.jitter(100.0 * drift, 0.02));
            b.push(noise.jitter(90.0 * drift, 0.02));
            if let Some(d) = series(&a, &b).decide(Some(0.05), 2, DEFAULT_SPREAD_FLOOR) {
                if d.verdict.is_some() {
                    decided = Some(d);
                    break;
                }
            }
        }
        let d = decided.expect("decided within 40 pairs");
        assert_eq!(d.verdict, Some(Verdict::Regression), "{d:?}");
        assert!(d.pairs <= 10, "{d:?}");
        assert!((d.change + 0.1).abs() < 0.03, "{d:?}");

        // A/A: the same drift, no change: passes, never regresses.
        let mut noise = Noise::new(4);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let mut verdict = None;
        for i in 0..60 {
            let drift = 1.0 + 0.3 * ((i as f64) / 5.0).sin();
            a.push(noise.jitter(100.0 * drift, 0.02));
            b.push(noise.jitter(100.0 * drift, 0.02));
            if let Some(v) = series(&a, &b)
                .decide(Some(0.05), 2, DEFAULT_SPREAD_FLOOR)
                .and_then(|d| d.verdict)
            {
                verdict = Some(v);
                break;
            }
        }
        assert_eq!(verdict, Some(Verdict::Pass));
    }

    #[test]
    fn the_floor_keeps_three_agreeing_pairs_from_deciding_a_small_change() {
        // Three pairs 6 % apart with no scatter at all: without a floor the interval would
        // be a point; with a 5 % floor it is not decided yet.
        let s = series(&[100.0; 3], &[94.0; 3]);
        assert_eq!(s.decide(Some(0.05), 1, 0.05).unwrap().verdict, None);
        assert_eq!(
            s.decide(Some(0.05), 1, 0.0).unwrap().verdict,
            Some(Verdict::Regression)
        );
    }

    #[test]
    fn the_false_regression_rate_is_controlled_over_looks() {
        // 400 simulated A/A comparisons with 5 % scatter, looked at after every pair up to
        // 30: the share ever called a regression stays under ALPHA / 2 (plus sampling slack).
        let mut noise = Noise::new(11);
        let mut false_regressions = 0;
        for _ in 0..400 {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            for _ in 0..30 {
                a.push(noise.jitter(100.0, 0.05));
                b.push(noise.jitter(100.0, 0.05));
                let v = series(&a, &b)
                    .decide(Some(0.0), 1, 0.0)
                    .and_then(|d| d.verdict);
                if v == Some(Verdict::Regression) {
                    false_regressions += 1;
                    break;
                }
                if v.is_some() {
                    break;
                }
            }
        }
        assert!(false_regressions <= 10, "{false_regressions} of 400");
    }
}
