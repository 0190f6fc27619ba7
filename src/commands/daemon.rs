//! `cnbench daemon <backend> '<json>'` (internal, hidden): a backend's datapath daemon,
//! started by the harness inside a node.

use anyhow::{anyhow, Result};

use crate::registry;
use crate::ExitCode;

/// `cnbench daemon` (internal): a backend's datapath daemon, inside a node.
pub fn daemon(backend: &str, config: &str) -> Result<ExitCode> {
    let run = registry::daemon(backend).map_err(|e| anyhow!(e))?;
    run(config).map_err(|e| anyhow!(e))?;
    Ok(ExitCode::Ok)
}
