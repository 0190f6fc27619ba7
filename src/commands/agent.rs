//! `cnbench agent --listen <where>`: the node agent, serving a node to a harness (inside each
//! VM node today).

use anyhow::{Context as _, Result};

use crate::ExitCode;

/// `cnbench agent --listen <where>`: serves the node interface to a harness until killed
/// (`stdio`: one session).
/// With `remove_exe`, removes this binary's file first (a per-run copy). With `preflight`,
/// prints [`harness::remote::protocol::HostFacts`] (of the interface named, if not empty) and
/// exits instead.
pub fn agent(
    listen: Option<&harness::remote::server::Listen>,
    preflight: Option<&str>,
    remove_exe: bool,
    idle_timeout_s: u64,
) -> Result<ExitCode> {
    use harness::remote::server::{reap_orphans_if_pid1, AfterAgent, Listen};
    if let Some(iface) = preflight {
        let facts = harness::remote::server::preflight(Some(iface).filter(|i| !i.is_empty()));
        println!("{}", serde_json::to_string(&facts)?);
        return Ok(ExitCode::Ok);
    }
    let listen = listen.context("--listen is required")?;
    // First, while this process has no other thread: as PID 1 (a VM's init) it forks, and
    // PID 1 reaps the orphans the kernel hands it while the child goes on as the agent.
    let after = match listen {
        Listen::Device(_) => AfterAgent::Respawn,
        _ => AfterAgent::Exit,
    };
    reap_orphans_if_pid1(after).context("cnbench agent as PID 1")?;
    let mut exe = std::env::current_exe().context("cannot find this program's own path")?;
    if remove_exe {
        std::fs::remove_file(&exe).with_context(|| format!("remove {}", exe.display()))?;
        // The running program stays reachable through /proc after its file is gone.
        exe = std::path::PathBuf::from(format!("/proc/{}/exe", std::process::id()));
    }
    let options = harness::remote::server::SessionOptions {
        idle_timeout: (idle_timeout_s > 0).then(|| std::time::Duration::from_secs(idle_timeout_s)),
        ..Default::default()
    };
    harness::remote::server::serve(listen, &exe, &options)
        .with_context(|| format!("agent listening on {listen:?}"))?;
    Ok(ExitCode::Ok)
}
