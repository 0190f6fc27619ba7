//! `cnbench clean`: remove what crashed runs left (and, with `--all`, standing ones).

use anyhow::{bail, Context as _, Result};
use harness::detect;
use harness::state;

use crate::ExitCode;

/// `cnbench clean`.
pub fn clean(all: bool) -> Result<ExitCode> {
    detect::require_root()?;
    harness::signals::install().context("installing signal handlers")?;
    let report = state::clean(all);
    for r in &report.removed {
        say!("removed {r}");
    }
    for (r, why) in &report.kept {
        say!("kept {r}: {why}");
    }
    if report.removed.is_empty() && report.kept.is_empty() {
        say!("nothing to clean");
    }
    for e in &report.errors {
        eprintln!("cnbench: {e}");
    }
    if report.errors.is_empty() {
        Ok(ExitCode::Ok)
    } else {
        bail!("{} error(s) while cleaning", report.errors.len())
    }
}
