//! `cnbench churn-probe` (internal, hidden): a churn observer's prober on its node's
//! machine, started by the harness through the node's agent
//! ([`harness::churn::remote`]).

use std::time::Duration;

use anyhow::Result;

use crate::ExitCode;

/// `cnbench churn-probe` (internal): serves watches from stdin until it ends.
pub fn churn_probe(pod: &str, node: &str, interval_us: u64, v6: bool) -> Result<ExitCode> {
    let interval = Duration::from_micros(interval_us.clamp(100, 1_000_000));
    let input = std::io::BufReader::new(std::io::stdin());
    let mut out = std::io::stdout().lock();
    harness::churn::remote::serve(pod, node, v6, interval, input, &mut out)?;
    Ok(ExitCode::Ok)
}
