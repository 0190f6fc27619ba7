//! Matching the measurements of two results, and comparing every metric of a matched pair.

use super::disturbance::Disturbance;
use super::error::CompareError;
use super::options::CompareOptions;
use super::rule::compare_metric;
use super::verdict::MetricComparison;
use crate::schema::MeasurementRecord;

/// The generator's name without its version: `iperf3 3.16` -> `iperf3`.
fn generator_name(generator: &str) -> &str {
    generator.split_whitespace().next().unwrap_or("")
}

fn same_key(a: &MeasurementRecord, b: &MeasurementRecord) -> bool {
    a.workload == b.workload
        && a.variant == b.variant
        && a.path == b.path
        && generator_name(&a.generator) == generator_name(&b.generator)
}

/// Pairs each baseline measurement with the candidate's measurement of the same case; the
/// k-th of a case in one with the k-th of that case in the other.
pub(super) fn match_measurements<'a>(
    baseline: &'a [MeasurementRecord],
    candidate: &'a [MeasurementRecord],
) -> Result<Vec<(&'a MeasurementRecord, &'a MeasurementRecord)>, CompareError> {
    let mut used = vec![false; candidate.len()];
    let mut pairs = Vec::new();
    for b in baseline {
        let found = candidate
            .iter()
            .enumerate()
            .find(|(i, c)| !used[*i] && same_key(b, c));
        match found {
            Some((i, c)) => {
                used[i] = true;
                pairs.push((b, c));
            }
            None => {
                return Err(CompareError::MissingMeasurement {
                    measurement: format!("{} {}", b.label(), b.path),
                })
            }
        }
    }
    Ok(pairs)
}

fn values_of(m: &MeasurementRecord, metric: &str) -> Option<Vec<f64>> {
    m.metric_values()
        .into_iter()
        .find(|(name, _)| *name == metric)
        .map(|(_, values)| values)
}

pub(super) fn compare_measurement(
    b: &MeasurementRecord,
    c: &MeasurementRecord,
    options: &CompareOptions,
) -> Result<Vec<MetricComparison>, CompareError> {
    let case = format!("{} {}", b.label(), b.path);
    let disturbed = Disturbance::of(b, c);
    let mut rows = Vec::new();
    for metric in b.metric_names() {
        let b_values = values_of(b, &metric).unwrap_or_default();
        let Some(c_values) = values_of(c, &metric) else {
            return Err(CompareError::MissingMetric {
                measurement: case,
                metric,
            });
        };
        rows.push(compare_metric(
            &b.label(),
            &b.path,
            &metric,
            b_values,
            c_values,
            options.threshold_for(&metric),
            options.run_noise_for_case(&b.label(), &b.path, &metric),
        ));
    }
    if let Some(d) = &disturbed {
        for row in &mut rows {
            d.apply(row);
        }
    }
    Ok(rows)
}
