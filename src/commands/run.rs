//! `cnbench run`: stand up a backend, check it, measure it, tear it down; then the same
//! session's host-net baseline; then the summary.

use anyhow::{Context as _, Result};
use harness::detect;
use harness::run::{self, Observer};
use harness::HarnessError;

use super::{environment, finish, measure_options, new_result, open_json, plan_for};
use crate::cli::RunArgs;
use crate::output::Printer;
use crate::registry;
use crate::ExitCode;

/// `cnbench run`.
pub fn run(args: &RunArgs) -> Result<ExitCode> {
    // Everything the user typed is checked before anything is created.
    let options = args.backend.options.options();
    let (backend, plan) = plan_for(&args.backend.backend, &options, &args.topology)?;
    let opts = measure_options(&args.measure)?;
    detect::require_root()?;
    let writer = open_json(&args.json)?;
    harness::signals::install().context("installing signal handlers")?;

    let mut result = new_result(backend.as_ref(), &plan, &opts);
    say!(
        "cnbench run {}: backend {}, {} node(s) x {} pod(s), underlay {}",
        plan.run_id(),
        backend.info().name,
        plan.spec.nodes,
        plan.spec.pods_per_node,
        plan.spec.underlay
    );
    let mut printer = Printer::new(writer);
    let outcome = run::run(backend.as_ref(), plan, &opts, &mut result, &mut printer);
    if outcome.is_ok() && !args.no_baseline {
        // The baseline's samples are printed; its result is kept inside this run's.
        let mut quiet = Printer::new(None);
        quiet.quiet_checks = true;
        let host_net = registry::host_net();
        let baseline = run::add_baseline(
            &mut result,
            backend.as_ref(),
            host_net.as_ref(),
            &args.topology.request(),
            &opts,
            environment(),
            &mut quiet,
        );
        match baseline {
            // The run itself is complete and stands; only its ratios are missing.
            Ok(()) | Err(HarnessError::Interrupted) => {}
            Err(e) => eprintln!(
                "cnbench: warning: the host-net baseline failed, so no ratios: {e}; try a \
                 longer --duration, a quieter machine, or --no-baseline"
            ),
        }
        printer.result(&result);
    }
    finish(outcome, &mut result, &mut printer)
}
