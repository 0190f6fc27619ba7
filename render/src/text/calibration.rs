//! A calibration for a terminal: the noise `cnbench calibrate` measured, per metric.

use reports::calibration::Calibration;

use super::table::{columns, header};

/// One row per metric of each measurement: run-to-run noise and paired spread, in percent
/// (percentage points for loss).
pub fn calibration_table(c: &Calibration) -> String {
    let mut rows = vec![header(&[
        "measurement",
        "path",
        "metric",
        "run to run",
        "pair spread",
        "runs",
    ])];
    for n in &c.noise {
        let unit = if n.metric == "loss_percent" {
            " pp"
        } else {
            "%"
        };
        rows.push(vec![
            n.measurement.clone(),
            n.path.clone(),
            n.metric.clone(),
            format!("{:.2}{unit}", n.run_to_run * 100.0),
            format!("{:.2}{unit}", n.pair_spread * 100.0),
            n.runs.to_string(),
        ]);
    }
    columns(&rows, &[false, false, false, true, true, true], "  ")
}
