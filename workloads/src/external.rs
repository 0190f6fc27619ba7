//! External generators (iperf3, sockperf) run by the agent (being built).

use std::io::Write;

use reports::Sample;

use crate::error::WorkloadError;
use crate::task::{ClientConfig, Generator, ServeConfig};

/// Runs the external server of `cfg.generator`; prints `ready <port>` once it listens.
pub(crate) fn serve(cfg: &ServeConfig, _out: &mut dyn Write) -> Result<(), WorkloadError> {
    Err(WorkloadError::Measurement(format!(
        "{} is not built yet",
        cfg.generator
    )))
}

/// Runs one client test with the external tool and converts its output to a sample.
pub(crate) fn run_client(cfg: &ClientConfig) -> Result<Sample, WorkloadError> {
    Err(WorkloadError::Measurement(format!(
        "{} is not built yet",
        cfg.generator
    )))
}

/// The generator's name and version as results record it (`"iperf3 3.12"`), or why the tool
/// cannot be used (not installed: with the package to install).
pub fn tool_version(generator: Generator) -> Result<String, String> {
    Ok(generator.name().to_string())
}
