//! `cnbench task '<json>'` (internal, hidden): one workload task, started by the harness
//! inside a pod namespace; its result on stdout.

use anyhow::Result;

use crate::ExitCode;

/// `cnbench task` (internal): one workload task, result on stdout.
pub fn task(task: &str) -> Result<ExitCode> {
    let task = workloads::AgentTask::from_json(task)?;
    let mut out = std::io::stdout().lock();
    workloads::run_agent(&task, &mut out)?;
    Ok(ExitCode::Ok)
}
