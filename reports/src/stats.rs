//! Statistics over the repetitions of a measurement, and the warnings they give rise to.
//!
//! Every workload is repeated (three times by default). The figures kept for each headline
//! metric are the median (robust to one bad repetition), the range, and the coefficient of
//! variation, which says how far the repetitions can be trusted. Outliers are found with the
//! median absolute deviation, which, unlike the standard deviation, is not inflated by the
//! very outliers it is looking for.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::schema::{f64_or_nan, MeasurementRecord};

/// Coefficient of variation above which repetitions are reported as too noisy (10 %).
pub const HIGH_VARIATION_CV: f64 = 0.10;

/// How many scaled MADs from the median a value must be to count as an outlier.
pub const OUTLIER_MADS: f64 = 3.0;

/// How far from the median, as a fraction of it, a value must be to count as an outlier
/// however small the MAD (5 %).
pub const OUTLIER_MIN_RELATIVE: f64 = 0.05;

/// Scales the MAD to estimate the standard deviation of normally distributed data
/// (1 / Φ⁻¹(3/4)).
const MAD_TO_STDDEV: f64 = 1.4826;

/// Metrics exempt from [`warnings`]: the maximum round trip of a repetition is a single
/// extreme event, so it varies between repetitions by nature and a warning would only be noise.
const NOISY_BY_NATURE: &[&str] = &["rtt_max_ns"];

/// Summary statistics of one metric over the repetitions of a measurement.
///
/// All figures except `n` and `cv` are in the unit of the metric they summarise (the unit is
/// in the metric's name, e.g. `throughput_bps`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Number of values (repetitions).
    pub n: u32,
    /// Median; the mean of the two middle values when `n` is even. Unit of the metric.
    #[serde(deserialize_with = "f64_or_nan")]
    pub median: f64,
    /// Smallest value. Unit of the metric.
    #[serde(deserialize_with = "f64_or_nan")]
    pub min: f64,
    /// Largest value. Unit of the metric.
    #[serde(deserialize_with = "f64_or_nan")]
    pub max: f64,
    /// Arithmetic mean. Unit of the metric.
    #[serde(deserialize_with = "f64_or_nan")]
    pub mean: f64,
    /// Sample standard deviation (divides by `n - 1`); 0 when `n < 2`. Unit of the metric.
    #[serde(deserialize_with = "f64_or_nan")]
    pub stddev: f64,
    /// Coefficient of variation, `stddev / |mean|`, as a fraction (0.05 = 5 %); 0 when the
    /// mean is 0 or `n < 2`. Unitless.
    #[serde(deserialize_with = "f64_or_nan")]
    pub cv: f64,
}

impl Stats {
    /// Statistics of `values`; `None` when there are none.
    ///
    /// Values should be finite: a NaN propagates into the mean and standard deviation.
    pub fn of(values: &[f64]) -> Option<Stats> {
        if values.is_empty() {
            return None;
        }
        let sorted = sorted(values);
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n as f64;
        let stddev = if n < 2 {
            0.0
        } else {
            let squares: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
            (squares / (n - 1) as f64).sqrt()
        };
        let cv = if n < 2 || mean == 0.0 {
            0.0
        } else {
            stddev / mean.abs()
        };
        Some(Stats {
            n: u32::try_from(n).unwrap_or(u32::MAX),
            median: median_of_sorted(&sorted),
            min: sorted[0],
            max: sorted[n - 1],
            mean,
            stddev,
            cv,
        })
    }
}

/// Indices of the values more than 3 scaled MADs from the median, and at least
/// [`OUTLIER_MIN_RELATIVE`] of the median away from it:
/// `|x - median| > max(3 × 1.4826 × MAD, 0.05 × |median|)`, where MAD is the median of
/// `|x - median|`. The relative floor matters with few repetitions: two nearly equal values
/// make the MAD tiny, and a third value 0.5 % away is no reason to doubt a measurement.
///
/// When half or more of the values are equal the MAD is 0: too few distinct values to call
/// anything an outlier. Empty input has no outliers.
pub fn mad_outliers(values: &[f64]) -> Vec<usize> {
    if values.is_empty() {
        return Vec::new();
    }
    let median = median_of_sorted(&sorted(values));
    let deviations: Vec<f64> = values.iter().map(|v| (v - median).abs()).collect();
    let mad = median_of_sorted(&sorted(&deviations));
    // With half or more of the values equal the MAD is 0 and every other value would be an
    // "outlier" by any distance: too few distinct values to tell.
    if mad == 0.0 {
        return Vec::new();
    }
    let limit = (OUTLIER_MADS * MAD_TO_STDDEV * mad).max(OUTLIER_MIN_RELATIVE * median.abs());
    deviations
        .iter()
        .enumerate()
        .filter(|(_, d)| **d > limit)
        .map(|(i, _)| i)
        .collect()
}

/// Something about a measurement that makes its figures less trustworthy, with what to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "warning", rename_all = "snake_case")]
pub enum Warning {
    /// The repetitions of a metric differ by more than [`HIGH_VARIATION_CV`].
    HighVariation {
        /// The metric, e.g. `throughput_bps`.
        metric: String,
        /// Its coefficient of variation, as a fraction (0.23 = 23 %).
        cv: f64,
    },
    /// Some repetitions of a metric are far from the others (see [`mad_outliers`]).
    Outliers {
        /// The metric, e.g. `rtt_p99_ns`.
        metric: String,
        /// How many repetitions are outliers.
        count: usize,
    },
    /// Other work used the machine's CPUs during some repetitions (busy time outside the
    /// run's processes and softirq above [`DISTURBED_CPU_SHARE`] of one CPU).
    Disturbed {
        /// How many repetitions were disturbed.
        count: usize,
        /// The largest share of one CPU used outside the run, as a fraction (0.4 = 40 %).
        cpu_share: f64,
    },
    /// The repetitions of a rate fall into two groups at least [`BIMODAL_RATIO`] apart:
    /// the machine was in two states, not noisy around one.
    Bimodal {
        /// The metric, e.g. `throughput_bps`.
        metric: String,
        /// The median of the lower group, in the metric's unit.
        low: f64,
        /// Repetitions in the lower group.
        low_count: usize,
        /// The median of the upper group, in the metric's unit.
        high: f64,
        /// Repetitions in the upper group.
        high_count: usize,
    },
}

/// The smallest ratio between two adjacent repetitions (sorted) that splits them into two
/// modes (1.8: a group at well under two thirds of the other). Repetitions of a rate within
/// one state of the machine were at most 1.51x apart between neighbours within a run here
/// (bridge and vxlan tcp-stream, 12 runs of 3 repetitions each per backend).
pub const BIMODAL_RATIO: f64 = 1.8;

/// The rates checked for two modes.
const BIMODAL_METRICS: &[&str] = &["throughput_bps", "packets_per_s", "transactions_per_s"];

/// The two groups of `values` when two adjacent sorted values are [`BIMODAL_RATIO`] apart:
/// `(low median, low count, high median, high count)` at the largest such gap.
pub fn two_modes(values: &[f64]) -> Option<(f64, usize, f64, usize)> {
    let v = sorted(
        &values
            .iter()
            .copied()
            .filter(|x| *x > 0.0)
            .collect::<Vec<f64>>(),
    );
    if v.len() < 3 {
        return None;
    }
    let (i, ratio) = v
        .windows(2)
        .enumerate()
        .map(|(i, w)| (i, w[1] / w[0]))
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    (ratio >= BIMODAL_RATIO).then(|| {
        let (low, high) = v.split_at(i + 1);
        (
            median_of_sorted(low),
            low.len(),
            median_of_sorted(high),
            high.len(),
        )
    })
}

/// Whether `metric` is one of pod churn's (`cnbench churn`), whose repetitions are cycles.
fn is_churn(metric: &str) -> bool {
    crate::churn::ChurnSample::higher_is_better(metric).is_some()
}

/// Share of one CPU that work outside the run may use during a repetition before the
/// repetition is flagged as disturbed (25 %).
pub const DISTURBED_CPU_SHARE: f64 = 0.25;

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // A churn cycle's length is its pods', and its repetitions are cycles.
            Warning::HighVariation { metric, cv } if is_churn(metric) => write!(
                f,
                "{metric} varies by {:.0}% between cycles: use more --pods, more --cycles, \
                 or a quieter machine",
                cv * 100.0
            ),
            Warning::HighVariation { metric, cv } => write!(
                f,
                "{metric} varies by {:.0}% between repetitions: use a longer --duration, \
                 more --repeat, or a quieter machine",
                cv * 100.0
            ),
            Warning::Outliers { metric, count } => {
                let what = if *count == 1 {
                    "1 repetition is an outlier"
                } else {
                    "repetitions are outliers"
                };
                let count = if *count == 1 {
                    String::new()
                } else {
                    format!("{count} ")
                };
                write!(
                    f,
                    "{metric}: {count}{what} (far from the median of the others), probably \
                     disturbed by other work on the machine: stop other programs, use more \
                     {}, or run on idle CPUs",
                    if is_churn(metric) {
                        "--cycles"
                    } else {
                        "--repeat"
                    }
                )
            }
            Warning::Disturbed { count, cpu_share } => write!(
                f,
                "{count} repetition{} ran while other work used up to {:.0}% of a CPU: \
                 stop other programs or run on a quieter machine, then repeat",
                if *count == 1 { "" } else { "s" },
                cpu_share * 100.0
            ),
            Warning::Bimodal {
                metric,
                low,
                low_count,
                high,
                high_count,
            } => write!(
                f,
                "{metric}: the repetitions fall into two groups ({low_count} around {}, \
                 {high_count} around {}, {:.1}x apart): the machine was in two states, not \
                 noisy around one; the median mixes them. Compare only runs whose repetitions \
                 agree, run more --repeat to see how often each state comes, and for \
                 tcp-stream try --placement cross-cpu (client and server then do not share \
                 one CPU's time)",
                sig(*low),
                sig(*high),
                high / low
            ),
        }
    }
}

/// The warnings for one measurement, computed from its repetitions: [`Warning::HighVariation`]
/// when a metric's CV exceeds [`HIGH_VARIATION_CV`], [`Warning::Outliers`] when
/// [`mad_outliers`] finds any. `rtt_max_ns` is exempt: a single extreme round trip is noisy
/// by nature.
pub fn warnings(record: &MeasurementRecord) -> Vec<Warning> {
    let mut found = Vec::new();
    for (metric, values) in record.metric_values() {
        if NOISY_BY_NATURE.contains(&metric) {
            continue;
        }
        if let Some(stats) = Stats::of(&values) {
            if stats.cv > HIGH_VARIATION_CV {
                found.push(Warning::HighVariation {
                    metric: metric.to_owned(),
                    cv: stats.cv,
                });
            }
        }
        if BIMODAL_METRICS.contains(&metric) {
            if let Some((low, low_count, high, high_count)) = two_modes(&values) {
                found.push(Warning::Bimodal {
                    metric: metric.to_owned(),
                    low,
                    low_count,
                    high,
                    high_count,
                });
            }
        }
        let count = mad_outliers(&values).len();
        if count > 0 {
            found.push(Warning::Outliers {
                metric: metric.to_owned(),
                count,
            });
        }
    }
    let shares: Vec<f64> = record
        .costs
        .iter()
        .filter_map(|c| {
            let m = c.machine.as_ref()?;
            (c.interval_ns > 0).then(|| m.outside_roles_ns as f64 / c.interval_ns as f64)
        })
        .filter(|share| *share > DISTURBED_CPU_SHARE)
        .collect();
    if !shares.is_empty() {
        found.push(Warning::Disturbed {
            count: shares.len(),
            cpu_share: shares.iter().copied().fold(0.0, f64::max),
        });
    }
    found
}

/// A figure to three significant digits with an SI prefix (`2.40G`), unit-less: the
/// warnings are words, the renderers give units.
fn sig(x: f64) -> String {
    let (v, p) = if x >= 1e9 {
        (x / 1e9, "G")
    } else if x >= 1e6 {
        (x / 1e6, "M")
    } else if x >= 1e3 {
        (x / 1e3, "k")
    } else {
        (x, "")
    };
    let decimals = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    format!("{v:.decimals$}{p}")
}

fn sorted(values: &[f64]) -> Vec<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted
}

/// Median of `values`, the mean of the middle two for an even count; `None` when empty.
/// Non-finite values take part as they are: filter them first where they should not.
pub fn median(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| median_of_sorted(&sorted(values)))
}

/// The `p`-th percentile (0–100) of a sorted slice by the nearest-rank rule: the smallest
/// value with at least `p` % of the values at or below it, so it is always a value that
/// occurred (a p99 of 500 pod times is the 495th). `None` when empty.
pub fn percentile_sorted(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Median of a non-empty, sorted slice.
fn median_of_sorted(sorted: &[f64]) -> f64 {
    let mid = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn two_states_of_the_machine_are_told_from_noise() {
        // The case: one repetition at a fifth of the others.
        let (low, nl, high, nh) = two_modes(&[11.5e9, 2.4e9, 11.6e9]).unwrap();
        assert_eq!((low, nl, high, nh), (2.4e9, 1, 11.55e9, 2));
        // Noise around one state, as measured here: 9.07 to 16.64 Gbit/s, neighbours close.
        assert!(two_modes(&[9.07e9, 10.11e9, 12.73e9, 16.64e9, 15.7e9]).is_none());
        assert!(
            two_modes(&[1.0, 3.0]).is_none(),
            "two values are not two groups"
        );
        let w = Warning::Bimodal {
            metric: "throughput_bps".into(),
            low: 2.4e9,
            low_count: 1,
            high: 11.55e9,
            high_count: 2,
        };
        assert!(w.to_string().starts_with(
            "throughput_bps: the repetitions fall into two groups (1 around 2.40G, 2 around \
             11.6G, 4.8x apart)"
        ));
    }

    use super::*;
    use crate::schema::{Endpoint, Placement, RrSample, Sample, TcpStreamSample};

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn empty_has_no_stats() {
        assert_eq!(Stats::of(&[]), None);
    }

    #[test]
    fn odd_count() {
        let s = Stats::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!(s.n, 3);
        assert_eq!(s.median, 2.0);
        assert_eq!(s.min, 1.0);
        assert_eq!(s.max, 3.0);
        assert_eq!(s.mean, 2.0);
        assert!(close(s.stddev, 1.0));
        assert!(close(s.cv, 0.5));
    }

    #[test]
    fn even_count_median_is_mean_of_middle_two() {
        let s = Stats::of(&[4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!(s.median, 2.5);
        assert_eq!(s.mean, 2.5);
        // Sample variance of 1..=4 is 5/3.
        assert!(close(s.stddev, (5.0f64 / 3.0).sqrt()));
        assert!(close(s.cv, (5.0f64 / 3.0).sqrt() / 2.5));
    }

    #[test]
    fn cv_is_zero_for_one_value_or_zero_mean() {
        let one = Stats::of(&[7.0]).unwrap();
        assert_eq!((one.n, one.median, one.stddev, one.cv), (1, 7.0, 0.0, 0.0));
        let zero_mean = Stats::of(&[-1.0, 1.0]).unwrap();
        assert_eq!(zero_mean.cv, 0.0);
        assert!(zero_mean.stddev > 0.0);
    }

    #[test]
    fn mad_finds_the_far_value() {
        assert_eq!(mad_outliers(&[10.0, 10.5, 9.5, 10.2, 30.0]), vec![4]);
        assert_eq!(
            mad_outliers(&[1.0, 30.0, 1.1, 0.9, 1.05, -20.0]),
            vec![1, 5]
        );
        assert!(mad_outliers(&[10.0, 11.0, 12.0, 13.0]).is_empty());
        assert!(mad_outliers(&[]).is_empty());
        assert!(mad_outliers(&[5.0]).is_empty());
        // MAD 0 (most values equal): too few distinct values to call anything an outlier;
        // three repetitions of 6.8, 6.8 and 6.9 µs are not noisy.
        assert!(mad_outliers(&[2.0, 2.0, 2.0, 2.5]).is_empty());
        assert!(mad_outliers(&[6.8, 6.8, 6.9]).is_empty());
        // Within 5 % of the median: never an outlier, however tight the others are.
        assert!(mad_outliers(&[84.12, 84.39, 84.40, 84.73]).is_empty());
        assert_eq!(mad_outliers(&[84.12, 84.39, 84.40, 94.0]), vec![3]);
    }

    fn record(samples: Vec<Sample>) -> MeasurementRecord {
        let endpoint = |pod: &str| Endpoint {
            pod: pod.into(),
            netns: format!("cnb-t-{pod}"),
            ip: "10.0.0.1".into(),
        };
        MeasurementRecord {
            workload: "tcp-stream".into(),
            variant: None,
            generator: "cnbench".into(),
            client: endpoint("n0p0"),
            server: endpoint("n1p0"),
            path: "cross-node".into(),
            datapath: "kernel".into(),
            placement: Placement {
                kind: "cross-cpu".into(),
                client_cpu: 0,
                server_cpu: 1,
                daemon_cpu: None,
            },
            repetitions: samples,
            summary: Vec::new(),
            costs: Vec::new(),
            traced: None,
            vs_baseline: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn stream(bps: f64) -> Sample {
        Sample::TcpStream(TcpStreamSample {
            streams: 1,
            message_size_bytes: 131_072,
            bytes_received: 0,
            window_ns: 1_000_000_000,
            throughput_bps: bps,
        })
    }

    #[test]
    fn steady_repetitions_give_no_warning() {
        let r = record(vec![stream(10.0e9), stream(10.2e9), stream(9.9e9)]);
        assert!(warnings(&r).is_empty());
    }

    #[test]
    fn noisy_repetitions_warn_with_advice() {
        let r = record(vec![stream(10.0e9), stream(14.0e9), stream(8.0e9)]);
        let w = warnings(&r);
        assert!(matches!(
            &w[0],
            Warning::HighVariation { metric, cv } if metric == "throughput_bps" && *cv > 0.10
        ));
        let text = w[0].to_string();
        assert!(
            text.starts_with("throughput_bps varies by 29% between repetitions"),
            "{text}"
        );
        assert!(
            text.contains("--duration") && text.contains("--repeat"),
            "{text}"
        );
    }

    #[test]
    fn outlier_repetition_is_reported() {
        let samples = [10.0e9, 10.1e9, 9.9e9, 10.05e9, 3.0e9].map(stream).to_vec();
        let w = warnings(&record(samples));
        assert!(w.contains(&Warning::Outliers {
            metric: "throughput_bps".into(),
            count: 1
        }));
        let text = w.last().unwrap().to_string();
        assert!(
            text.starts_with("throughput_bps: 1 repetition is an outlier"),
            "{text}"
        );
    }

    #[test]
    fn max_rtt_is_exempt() {
        let rr = |max: u64| {
            Sample::TcpRr(RrSample {
                message_size_bytes: 1,
                timeouts: 0,
                transactions: 1000,
                window_ns: 1_000_000_000,
                transactions_per_s: 1000.0,
                rtt_min_ns: 10_000,
                rtt_mean_ns: 20_000.0,
                rtt_p50_ns: 20_000,
                rtt_p90_ns: 25_000,
                rtt_p99_ns: 30_000,
                rtt_p999_ns: 40_000,
                rtt_max_ns: max,
            })
        };
        let r = record(vec![rr(50_000), rr(900_000), rr(60_000)]);
        assert!(warnings(&r).is_empty());
    }

    #[test]
    fn work_outside_the_run_flags_a_disturbed_repetition() {
        use crate::fixtures::cost_with_outside_work;
        let cost = |outside_ms: u64| cost_with_outside_work(outside_ms * 1_000_000);
        let mut r = record(vec![stream(10e9), stream(10e9), stream(10e9)]);
        r.costs = vec![cost(10), cost(20), cost(30)];
        assert!(warnings(&r).is_empty());
        r.costs = vec![cost(10), cost(400), cost(600)];
        let w = warnings(&r);
        assert_eq!(
            w,
            vec![Warning::Disturbed {
                count: 2,
                cpu_share: 0.6
            }]
        );
        assert!(w[0]
            .to_string()
            .starts_with("2 repetitions ran while other work used up to 60% of a CPU"));
    }
}
