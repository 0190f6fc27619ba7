//! `cnbench up`: stand up a backend and leave it standing, to explore with `ip netns exec`,
//! check again, measure, and take down.

use std::time::Instant;

use anyhow::{Context as _, Result};
use harness::detect;
use harness::run::{Launch, Topology};
use harness::state::Mode;

use super::{exe, plan_for};
use crate::cli::UpArgs;
use crate::ExitCode;

/// `cnbench up`.
pub fn up(args: &UpArgs) -> Result<ExitCode> {
    let options = args.backend.options.options();
    let (backend, plan) = plan_for(&args.backend.backend, &options, &args.topology)?;
    detect::require_root()?;
    harness::signals::install().context("installing signal handlers")?;
    let run_id = plan.run_id().to_string();
    let t = Instant::now();
    let launch = Launch {
        mode: Mode::Up,
        backend_options: backend.options(),
        exe: exe()?,
    };
    let topo = Topology::up(backend.as_ref(), plan, launch)?;
    let took = t.elapsed();
    say_raw!("{}", render::text::topology(&topo.records()));
    let first_pod = topo
        .plan()
        .pods
        .first()
        .map(|p| p.netns.clone())
        .unwrap_or_default();
    say!(
        "run {run_id} is up ({} ms). Explore it:\n  ip netns list | grep {run_id}\n  ip netns exec {first_pod} ip route\n  cnbench check {run_id}\n  cnbench down {run_id}",
        took.as_millis()
    );
    Ok(ExitCode::Ok)
}
