//! udp-stream and udp-rr (being built).

use reports::Sample;

use crate::error::WorkloadError;
use crate::task::ClientConfig;

/// Runs a udp-stream test; `cfg` is already validated.
pub(crate) fn run_stream(cfg: &ClientConfig) -> Result<Sample, WorkloadError> {
    Err(WorkloadError::Measurement(format!(
        "{} is not built yet",
        cfg.workload
    )))
}

/// Runs a udp-rr test; `cfg` is already validated.
pub(crate) fn run_rr(cfg: &ClientConfig) -> Result<Sample, WorkloadError> {
    Err(WorkloadError::Measurement(format!(
        "{} is not built yet",
        cfg.workload
    )))
}
