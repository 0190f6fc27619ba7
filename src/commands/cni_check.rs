//! `cnbench cni-check`: a CNI plugin chain held to the specification, for a plugin author's
//! CI: the `cni` backend's run with every check and the conformance checks, no measurement,
//! and the checks as JUnit.

use anyhow::{Context as _, Result};
use harness::backend::BackendOptions;
use harness::detect;
use harness::run::{self, Observer};

use super::{finish, new_result, open_json, plan_for, writable_file};
use crate::cli::CniCheckArgs;
use crate::output::Printer;
use crate::ExitCode;

/// `cnbench cni-check`.
pub fn cni_check(args: &CniCheckArgs) -> Result<ExitCode> {
    let mut options = BackendOptions::new().with("cni-conf", &args.cni_conf.display().to_string());
    if let Some(p) = &args.cni_path {
        options.set("cni-path", p);
    }
    if let Some(t) = &args.cni_timeout {
        options.set("cni-timeout", t);
    }
    // The plan as every command makes it; the backend with the conformance checks.
    let (_, plan) = plan_for("cni", &options, &args.topology)?;
    options
        .check("cni", backend_cni::INFO.options)
        .map_err(|e| anyhow::anyhow!(e))?;
    let backend = backend_cni::make_conformance(&options, &plan)
        .and_then(|b| b.validate(&plan).map(|()| b).map_err(|e| e.to_string()))
        .map_err(|e| anyhow::anyhow!("backend cni: {e}"))?;
    if let Some(j) = &args.junit {
        writable_file("--junit", j)?;
    }
    // Nothing is measured: the options only say so (and where the agents' binary is).
    let opts = super::no_measurement()?;
    detect::require_root()?;
    let writer = open_json(&args.json)?;
    harness::signals::install().context("installing signal handlers")?;

    let mut result = new_result(backend.as_ref(), &plan, &opts);
    say!(
        "cnbench cni-check {}: {} on 1 node, {} pod(s), underlay {}",
        plan.run_id(),
        args.cni_conf.display(),
        plan.spec.pods_per_node,
        plan.spec.underlay
    );
    let mut printer = Printer::new(writer);
    let outcome = run::run(backend.as_ref(), plan, &opts, &mut result, &mut printer);
    if let Some(path) = &args.junit {
        let xml = render::junit::checks(&result, "cni-check")
            .with_context(|| format!("rendering {}", path.display()))?;
        std::fs::write(path, xml).with_context(|| format!("writing {}", path.display()))?;
        printer.phase(&format!("JUnit written to {}", path.display()));
    }
    finish(outcome, &mut result, &mut printer)
}
