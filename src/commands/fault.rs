//! `cnbench fault`: stand a backend up, check it, inject each fault under a paced probe
//! stream with the check after it, tear down.

use anyhow::{anyhow, Context as _, Result};
use harness::detect;
use harness::fault::{self, FaultKind, FaultOptions, FaultSpec, Recovery};
use harness::run::Launch;
use harness::state::Mode;
use harness::topology::Plan;
use harness::{Backend, HarnessError, Substrate};

use super::{exe, finish, new_result, open_json, plan_for, seconds};
use crate::cli::FaultArgs;
use crate::output::Printer;
use crate::registry;
use crate::ExitCode;

/// Probes per second to each peer: 1000 here; 100 on VM nodes, whose emulated CPUs would
/// drop probes at 1000 per pair for lack of CPU, not because of the fault. Real hosts
/// (SSH) keep up as this machine does.
fn default_rate(substrate: Substrate) -> u64 {
    match substrate {
        Substrate::Netns | Substrate::Ssh => 1000,
        Substrate::Vm => 100,
    }
}

/// `cnbench fault`.
pub fn fault(args: &FaultArgs) -> Result<ExitCode> {
    // Everything the user typed is checked before anything is created.
    let options = args.backend.options.options();
    let (backend, plan) = plan_for(&args.backend.backend, &options, &args.topology)?;
    let kinds = faults(backend.as_ref(), &plan, &args.fault)?;
    // The harness's validation gives the ranges; here only what no Duration can hold.
    let secs = |name: &str, v: f64| seconds(name, v, 0.0, 1e6);
    let hold = secs("hold", args.hold)?;
    let loss_percent = parse_percent(&args.loss)?;
    let node = args.node.unwrap_or(plan.spec.nodes.saturating_sub(1));
    let recovery = if args.broken_recovery {
        Recovery::FaultedNodeOnly
    } else {
        Recovery::Full
    };
    let specs: Vec<FaultSpec> = kinds
        .iter()
        .map(|&kind| FaultSpec {
            kind,
            node,
            router: args.router.clone(),
            hold,
            loss_percent,
            recovery,
        })
        .collect();
    for spec in &specs {
        fault::validate(backend.as_ref(), &plan, spec).map_err(HarnessError::from)?;
    }
    let fopts = FaultOptions {
        rate_pps: args
            .rate
            .unwrap_or(default_rate(args.topology.substrate.into())),
        before: secs("before", args.before)?,
        after: secs("after", args.after)?,
        recovery_limit: secs("recovery-limit", args.recovery_limit)?,
        tcp_window: secs("tcp-window", args.tcp_window)?,
        agent_exe: exe()?,
    };
    fault::validate_options(&fopts).map_err(HarnessError::from)?;
    detect::require_root()?;
    let writer = open_json(&args.json)?;
    harness::signals::install().context("installing signal handlers")?;

    // The parameters of the loss fault's TCP measurement, the only workload a fault runs.
    let mut measure = fault::tcp_options(&fopts);
    if !kinds.contains(&FaultKind::Loss) {
        measure.workloads.clear();
    }
    let mut result = new_result(backend.as_ref(), &plan, &measure);
    say!(
        "cnbench fault {}: backend {}, {} node(s) x {} pod(s), underlay {}; faults: {}",
        plan.run_id(),
        backend.info().name,
        plan.spec.nodes,
        plan.spec.pods_per_node,
        plan.spec.underlay,
        kinds
            .iter()
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut printer = Printer::new(writer);
    let outcome = fault::run_faults(
        backend.as_ref(),
        Launch {
            mode: Mode::Run,
            backend_options: backend.options(),
            exe: fopts.agent_exe.clone(),
        },
        plan,
        &specs,
        &fopts,
        &mut result,
        &mut printer,
    );
    finish(outcome, &mut result, &mut printer)
}

/// The faults `--fault` names (`all`: every one that applies), each once, in order. A fault
/// of another backend's parts is refused naming the backends that have it.
fn faults(backend: &dyn Backend, plan: &Plan, names: &[String]) -> Result<Vec<FaultKind>> {
    let mut kinds: Vec<FaultKind> = Vec::new();
    for name in names {
        let more =
            match name.as_str() {
                "all" => fault::applicable(backend, plan),
                one => vec![fault::named(backend, one)
                    .map_err(|e| not_applicable(backend, plan, one, e))?],
            };
        for k in more {
            if !kinds.contains(&k) {
                kinds.push(k);
            }
        }
    }
    Ok(kinds)
}

/// Why fault `name` does not apply to `backend`: what it needs, and who has that.
fn not_applicable(
    backend: &dyn Backend,
    plan: &Plan,
    name: &str,
    unknown: String,
) -> anyhow::Error {
    let Some((_, _, by)) = registry::faults().into_iter().find(|(n, _, _)| *n == name) else {
        return anyhow!("--fault {name}: {unknown}");
    };
    let needs = registry::all()
        .into_iter()
        .flat_map(|e| e.info.faults.iter())
        .find(|f| f.name == name)
        .map_or("the part it acts on", |f| f.needs);
    let applies: Vec<&str> = fault::applicable(backend, plan)
        .iter()
        .map(|k| k.name())
        .collect();
    let b = backend.info().name;
    // Who has it: other backends, or this one with other options (ipip's userspace datapath).
    let others: Vec<&str> = by.iter().copied().filter(|x| *x != b).collect();
    let who = match (others.as_slice(), by.contains(&b)) {
        ([], _) => format!("{b} has one with other options (`cnbench list` shows them)"),
        (o, true) => format!(
            "{} {}, and {b} with other options",
            o.join(" and "),
            if o.len() == 1 { "has one" } else { "have one" }
        ),
        (o, false) => format!(
            "{} {}",
            o.join(" and "),
            if o.len() == 1 { "has one" } else { "have one" }
        ),
    };
    anyhow!(
        "--fault {name} does not apply to backend {b}: {b} has no {needs} as it runs ({who}); \
         faults that apply: {}",
        applies.join(", "),
    )
}

/// `10%` or `10`: a whole percentage (the harness checks its range).
fn parse_percent(s: &str) -> Result<u32> {
    s.trim()
        .trim_end_matches('%')
        .parse::<u32>()
        .map_err(|_| anyhow!("--loss {s}: use a whole percentage from 1 to 100 (`10%`)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages() {
        assert_eq!(parse_percent("10%").unwrap(), 10);
        assert_eq!(parse_percent(" 7 ").unwrap(), 7);
        assert!(parse_percent("ten").is_err());
    }
}
