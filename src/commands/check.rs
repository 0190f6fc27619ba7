//! `cnbench check`: the conformance checks again, on a standing topology (after you changed
//! something by hand).

use anyhow::Result;
use harness::run::Observer;
use reports::Outcome;

use super::{attach, exit_for, no_measurement, open_json, standing_result};
use crate::output::Printer;
use crate::ExitCode;

/// `cnbench check`.
pub fn check(run_id: &str, json: &Option<std::path::PathBuf>) -> Result<ExitCode> {
    let (backend, mut topo) = attach(run_id)?;
    let writer = open_json(json)?;
    let opts = no_measurement()?;
    let mut result = standing_result(backend.as_ref(), &topo, &opts);
    let mut printer = Printer::new(writer);
    result.checks = topo.check(backend.as_ref(), &mut |c| printer.check(c));
    result.outcome = if result.checks_passed() {
        Outcome::Passed
    } else {
        Outcome::ChecksFailed
    };
    printer.result(&result);
    let counts = result.check_counts();
    say!(
        "{} passed, {} failed, {} expected failures",
        counts.passed,
        counts.failed,
        counts.expected_failures
    );
    if let Some(sink) = &mut printer.writer {
        sink.finish();
    }
    Ok(exit_for(&result))
}
