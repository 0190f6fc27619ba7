//! `cnbench measure`: the workloads again, on a standing topology.

use std::time::Instant;

use anyhow::{Context as _, Result};
use harness::run::Observer;
use harness::HarnessError;
use reports::Outcome;

use super::{attach, measure_options, open_json, standing_result};
use crate::cli::MeasureArgs;
use crate::output::Printer;
use crate::ExitCode;

/// `cnbench measure`.
pub fn measure(
    run_id: &str,
    args: &MeasureArgs,
    json: &Option<std::path::PathBuf>,
) -> Result<ExitCode> {
    let opts = measure_options(args)?;
    let (backend, topo) = attach(run_id)?;
    let writer = open_json(json)?;
    harness::signals::install().context("installing signal handlers")?;
    let mut result = standing_result(backend.as_ref(), &topo, &opts);
    let mut printer = Printer::new(writer);
    let t = Instant::now();
    let measured = topo.measure(backend.as_ref(), &opts, &mut |r, s| match s {
        Some(s) => printer.sample(r, s),
        None => printer.traced(r),
    });
    result.timings.measure_ns = Some(t.elapsed().as_nanos() as u64);
    match measured {
        Ok(m) => {
            result.measurements = m;
            result.outcome = Outcome::Passed;
            printer.result(&result);
            say_raw!("{}", render::text::summary(&result));
            if let Some(sink) = &mut printer.writer {
                sink.finish();
            }
            Ok(ExitCode::Ok)
        }
        Err(HarnessError::Interrupted) => Ok(ExitCode::Interrupted),
        Err(e) => Err(e.into()),
    }
}
