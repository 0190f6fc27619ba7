//! `cnbench clean`: remove what crashed runs left (and, with `--all`, standing ones).

use anyhow::{bail, Context as _, Result};
use harness::detect;
use harness::state::{self, Mode, RunState};

use super::attach;
use crate::ExitCode;

/// `cnbench clean`.
pub fn clean(all: bool) -> Result<ExitCode> {
    detect::require_root()?;
    harness::signals::install().context("installing signal handlers")?;
    let mut removed = Vec::new();
    let mut errors = Vec::new();
    // A crashed run's backend may have teardown of its own (a CNI chain's DEL, which
    // releases IPAM reservations a configuration keeps outside the run): such runs are taken
    // down as `cnbench down` does, while their namespaces still exist. What cannot be
    // attached (a namespace already gone) is left to `state::clean`, which removes it.
    for run in RunState::list() {
        let Ok(st) = RunState::load(&run) else {
            continue;
        };
        let abandoned = match st.mode {
            Mode::Run => !st.owner_alive(),
            Mode::Up => all,
        };
        if !abandoned {
            continue;
        }
        match attach(&run) {
            Ok((backend, topo)) => {
                let failed = topo.down(backend.as_ref());
                if failed.is_empty() {
                    removed.push(run);
                } else {
                    errors.extend(failed);
                }
            }
            Err(e) => say!(
                "{run}: its backend's own teardown (a CNI chain's DEL) cannot run ({}); removing what is left",
                e.root_cause()
            ),
        }
    }
    let mut report = state::clean(all);
    removed.append(&mut report.removed);
    errors.append(&mut report.errors);
    for r in &removed {
        say!("removed {r}");
    }
    for (r, why) in &report.kept {
        say!("kept {r}: {why}");
    }
    if removed.is_empty() && report.kept.is_empty() {
        say!("nothing to clean");
    }
    for e in &errors {
        eprintln!("cnbench: {e}");
    }
    if errors.is_empty() {
        Ok(ExitCode::Ok)
    } else {
        bail!("{} error(s) while cleaning", errors.len())
    }
}
