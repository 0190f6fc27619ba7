//! `cnbench agent --listen <where>`: the node agent, serving a node to a harness (inside each
//! VM node today).

use anyhow::{Context as _, Result};

use crate::ExitCode;

/// `cnbench agent --listen <where>`: serves the node interface to a harness until killed
/// (`stdio`: one session).
pub fn agent(listen: &harness::remote::server::Listen) -> Result<ExitCode> {
    use harness::remote::server::{reap_orphans_if_pid1, AfterAgent, Listen};
    // First, while this process has no other thread: as PID 1 (a VM's init) it forks, and
    // PID 1 reaps the orphans the kernel hands it while the child goes on as the agent.
    let after = match listen {
        Listen::Device(_) => AfterAgent::Respawn,
        _ => AfterAgent::Exit,
    };
    reap_orphans_if_pid1(after).context("cnbench agent as PID 1")?;
    let exe = std::env::current_exe().context("cannot find this program's own path")?;
    harness::remote::server::serve(listen, &exe)
        .with_context(|| format!("agent listening on {listen:?}"))?;
    Ok(ExitCode::Ok)
}
