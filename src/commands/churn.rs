//! `cnbench churn`: stand a backend up with one standing pod per node, check it, add and
//! remove pods cycle after cycle at each concurrency level while they are probed, check what
//! the churn left behind, tear down.

use anyhow::{Context as _, Result};
use harness::churn::{self, ChurnSpec};
use harness::detect;
use harness::run::Launch;
use harness::state::Mode;
use harness::HarnessError;

use super::{exe, finish, new_result, open_json, plan_for_request, seconds};

use crate::cli::ChurnArgs;
use crate::output::Printer;
use crate::ExitCode;

/// `cnbench churn`.
pub fn churn(args: &ChurnArgs) -> Result<ExitCode> {
    // Everything the user typed is checked before anything is created.
    let options = args.backend.options.options();
    let mut request = args.topology.request();
    let (mut backend, mut plan) = plan_for_request(&args.backend.backend, &options, &request)?;
    // The standing pods are the observers: with other nodes to observe from, one per node
    // is all the churn needs (a single node keeps the backend's own number, which may need
    // two pods to connect).
    if request.pods_per_node.is_none() && plan.spec.nodes > 1 {
        request.pods_per_node = Some(1);
        (backend, plan) = plan_for_request(&args.backend.backend, &options, &request)?;
    }
    let spec = ChurnSpec {
        pods: args.pods,
        concurrency: args.concurrency.clone(),
        cycles: args.cycles,
        probe_interval: milliseconds("probe-interval", args.probe_interval, 0.1, 1000.0)?,
        reach_limit: seconds("reach-limit", args.reach_limit, 0.001, 600.0)?,
    };
    churn::validate(backend.as_ref(), &plan, &spec).map_err(HarnessError::from)?;
    detect::require_root()?;
    let writer = open_json(&args.json)?;
    harness::signals::install().context("installing signal handlers")?;

    let exe = exe()?;
    let measure = churn::measure_options(&spec, exe.clone());
    let mut result = new_result(backend.as_ref(), &plan, &measure);
    say!(
        "cnbench churn {}: backend {}, {} node(s), {} pods per cycle at concurrency {}, {} \
         cycle(s) each, probed every {} ms",
        plan.run_id(),
        backend.info().name,
        plan.spec.nodes,
        spec.pods,
        spec.concurrency
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        spec.cycles,
        args.probe_interval
    );
    let mut printer = Printer::new(writer);
    let outcome = churn::run_churn(
        backend.as_ref(),
        Launch {
            mode: Mode::Run,
            backend_options: backend.options(),
            exe,
        },
        plan,
        &spec,
        &mut result,
        &mut printer,
    );
    finish(outcome, &mut result, &mut printer)
}

/// A duration given in milliseconds, within `min..=max`.
fn milliseconds(option: &str, v: f64, min: f64, max: f64) -> Result<std::time::Duration> {
    if !(v.is_finite() && v >= min && v <= max) {
        anyhow::bail!("--{option} {v}: use {min} to {max} milliseconds");
    }
    Ok(std::time::Duration::from_secs_f64(v / 1000.0))
}
