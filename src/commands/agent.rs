//! `cnbench agent --listen <where>`: the node agent, serving a node to a harness (inside each
//! VM node today).

use anyhow::{Context as _, Result};

use crate::ExitCode;

/// `cnbench agent --listen <where>`: serves the node interface to a harness until killed
/// (`stdio`: one session).
pub fn agent(listen: &harness::remote::server::Listen) -> Result<ExitCode> {
    let exe = std::env::current_exe().context("cannot find this program's own path")?;
    harness::remote::server::serve(listen, &exe)
        .with_context(|| format!("agent listening on {listen:?}"))?;
    Ok(ExitCode::Ok)
}
