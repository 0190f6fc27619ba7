//! The commands cnbench runs itself, inside nodes and pods: the node agent (`agent`), one
//! workload task (`task`, hidden) and a backend's datapath daemon (`daemon`, hidden).

use anyhow::{anyhow, Context as _, Result};

use crate::registry;
use crate::ExitCode;

/// `cnbench agent --listen <where>`: serves the node interface to a harness until killed
/// (`stdio`: one session).
pub fn agent(listen: &harness::remote::server::Listen) -> Result<ExitCode> {
    let exe = std::env::current_exe().context("cannot find this program's own path")?;
    harness::remote::server::serve(listen, &exe)
        .with_context(|| format!("agent listening on {listen:?}"))?;
    Ok(ExitCode::Ok)
}

/// `cnbench task` (internal): one workload task, result on stdout.
pub fn task(task: &str) -> Result<ExitCode> {
    let task = workloads::AgentTask::from_json(task)?;
    let mut out = std::io::stdout().lock();
    workloads::run_agent(&task, &mut out)?;
    Ok(ExitCode::Ok)
}

/// `cnbench daemon` (internal): a backend's datapath daemon, inside a node.
pub fn daemon(backend: &str, config: &str) -> Result<ExitCode> {
    let run = registry::daemon(backend).map_err(|e| anyhow!(e))?;
    run(config).map_err(|e| anyhow!(e))?;
    Ok(ExitCode::Ok)
}
