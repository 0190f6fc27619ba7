//! The same-session baseline: host-net measured with the run's workloads right after the
//! run, on the run's underlay, so every figure of the run is also a ratio to the cost-free
//! path on the same machine at the same time (docs/design.md §6). The binary's registry
//! gives the host-net backend; the harness knows no backend by name.

use reports::{Baseline, CheckOutcome, Environment, RunResult};

use crate::backend::Backend;
use crate::error::{HarnessError, Result};
use crate::measure::MeasureOptions;
use crate::topology::{new_run_id, Substrate, TopologyRequest, Underlay};

use super::{parameters, Observer};

/// Gives `result` (a run that finished, of `backend`) its baseline measured with `host_net`,
/// or says in `result.baseline_error` why it has none. `request` is the run's topology
/// request; `obs` sees the baseline's own run (quietly, as the caller likes).
///
/// No baseline is measured for host-net itself, for a run that measured nothing, or on the
/// VM substrate (emulated figures have no meaningful ratios, and a second pair of VMs would
/// cost more than the ratios are worth). An `Err` is a baseline that failed (and is recorded
/// as such): the run itself stands, only its ratios are missing.
pub fn add_baseline(
    result: &mut RunResult,
    backend: &dyn Backend,
    host_net: &dyn Backend,
    request: &TopologyRequest,
    opts: &MeasureOptions,
    environment: Environment,
    obs: &mut dyn Observer,
) -> Result<()> {
    if result.measurements.is_empty() || backend.info().name == host_net.info().name {
        return Ok(());
    }
    if request.substrate == Substrate::Vm {
        result.baseline_error = Some(format!(
            "no {} baseline on the VM substrate: emulated figures have no ratios",
            host_net.info().name
        ));
        return Ok(());
    }
    if request.substrate == Substrate::Ssh && request.hosts.len() < 2 {
        result.baseline_error = Some(format!(
            "no {} baseline on one SSH host: it needs two nodes, so two hosts",
            host_net.info().name
        ));
        return Ok(());
    }
    let measured = measure(host_net, request, opts, environment, obs);
    match measured {
        Ok(b) => {
            if let Err(e) = result.apply_baseline(b) {
                result.baseline_error = Some(e.to_string());
            }
            Ok(())
        }
        Err(e) => {
            result.baseline_error = Some(match &e {
                HarnessError::Interrupted => "interrupted".into(),
                other => other.to_string(),
            });
            Err(e)
        }
    }
}

/// Measures host-net with the same workloads, 2 nodes with one pod each on the run's
/// underlay (l2 for a single-node run), untraced: the baseline gives ratios of the headline
/// figures, not syscall counts.
fn measure(
    host_net: &dyn Backend,
    request: &TopologyRequest,
    opts: &MeasureOptions,
    environment: Environment,
    obs: &mut dyn Observer,
) -> Result<Baseline> {
    let underlay = match request.underlay {
        Some(u) if u != Underlay::None => u,
        _ => Underlay::L2,
    };
    let request = TopologyRequest {
        nodes: Some(2),
        pods_per_node: Some(1),
        underlay: Some(underlay),
        mtu: request.mtu,
        // The same families as the run: an IPv6 path is compared with an IPv6 baseline.
        ip_family: request.ip_family,
        // On the SSH substrate, the same hosts (the first two) and network: the baseline
        // is what those hosts' own network gives.
        substrate: request.substrate,
        hosts: request.hosts.iter().take(2).cloned().collect(),
        ssh: request.ssh.clone(),
        underlay_cidrs: (request.substrate == Substrate::Ssh)
            .then(|| request.underlay_cidrs.clone())
            .flatten(),
        ..Default::default()
    };
    let plan = host_net.info().plan(&request, new_run_id())?;
    host_net.validate(&plan)?;
    let described = match request.substrate {
        Substrate::Ssh => format!(
            "2 nodes on the hosts {} and {}",
            request.hosts[0], request.hosts[1]
        ),
        _ => format!("2 nodes on an {underlay} underlay"),
    };
    obs.phase(&format!(
        "baseline: {}, {described} (run {})",
        host_net.info().name,
        plan.run_id()
    ));
    // The baseline is plain host-net: no tweak of the run under test reaches it.
    let opts = &MeasureOptions {
        trace: false,
        tweaks: Vec::new(),
        ..opts.clone()
    };
    let params = parameters(host_net, &plan, opts);
    let mut base = RunResult::new(plan.run_id(), environment, params);
    super::run(host_net, plan, opts, &mut base, obs)?;
    if !base.checks_passed() {
        let failed: Vec<String> = base
            .checks
            .iter()
            .filter(|c| c.outcome == CheckOutcome::Fail)
            .map(|c| format!("{} {} (got {})", c.check, c.subject, c.actual))
            .collect();
        return Err(HarnessError::Unsupported {
            what: format!(
                "the {} baseline failed its own checks: {}",
                host_net.info().name,
                failed.join("; ")
            ),
            fix: format!(
                "run `cnbench run --backend {}` to see why, or pass --no-baseline",
                host_net.info().name
            ),
        });
    }
    Ok(Baseline {
        run_id: base.run_id,
        backend: host_net.info().name.to_string(),
        topology: described,
        substrate: base.substrate,
        measurements: base.measurements,
    })
}
