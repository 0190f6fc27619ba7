//! tcp-crr (being built).

use reports::Sample;

use crate::error::WorkloadError;
use crate::task::ClientConfig;

/// Runs a tcp-crr test; `cfg` is already validated.
pub(crate) fn run(cfg: &ClientConfig) -> Result<Sample, WorkloadError> {
    Err(WorkloadError::Measurement(format!(
        "{} is not built yet",
        cfg.workload
    )))
}
