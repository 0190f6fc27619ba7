//! `cnbench down`: tear down a topology left standing by `cnbench up`.

use anyhow::{bail, Context as _, Result};
use harness::detect;
use harness::state::{self, Mode, RunState};

use super::{attach, valid_run_id};
use crate::ExitCode;

/// `cnbench down`.
pub fn down(run_id: &str) -> Result<ExitCode> {
    valid_run_id(run_id)?;
    detect::require_root()?;
    harness::signals::install().context("installing signal handlers")?;
    let st = RunState::load(run_id)?;
    if st.mode == Mode::Run && st.owner_alive() {
        bail!(
            "run {run_id} is in progress (pid {}): interrupt it (Ctrl-C or `kill {}`) and it tears itself down",
            st.owner_pid,
            st.owner_pid
        );
    }
    let mut skipped = None;
    let errors = match attach(run_id) {
        Ok((backend, topo)) => topo.down(backend.as_ref()),
        Err(e) => {
            // Damaged (a namespace removed by hand, the backend no longer makeable): remove
            // what is left anyway, and say that the backend's own teardown did not run.
            eprintln!("cnbench: {e:#}; removing what is left");
            skipped = Some(e);
            let mut errors = state::destroy_namespaces(&st.namespaces);
            if errors.is_empty() {
                errors.extend(RunState::remove(run_id).err());
            }
            errors
        }
    };
    if let (Some(e), true) = (&skipped, errors.is_empty()) {
        bail!(
            "run {run_id}: its namespaces are removed, but its backend's own teardown (a CNI chain's DEL) did not run: {}",
            e.root_cause()
        );
    }
    if errors.is_empty() {
        say!("run {run_id} is down; nothing of it is left");
        Ok(ExitCode::Ok)
    } else {
        for e in &errors {
            eprintln!("cnbench: {e}");
        }
        bail!(
            "{} error(s) tearing down run {run_id}; `cnbench clean --all` retries",
            errors.len()
        )
    }
}
