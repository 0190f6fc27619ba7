//! `cnbench setup vm`: install what the VM substrate needs (QEMU, busybox, a Debian cloud
//! kernel unpacked under /var/lib/cnbench/vm); idempotent.

use anyhow::Result;
use harness::detect;

use crate::cli::SetupTarget;
use crate::ExitCode;

/// `cnbench setup`.
pub fn setup(target: SetupTarget) -> Result<ExitCode> {
    match target {
        SetupTarget::Vm => {
            detect::require_root()?;
            let mut out = crate::output::human();
            harness::vm::setup::run(&mut out)?;
        }
    }
    Ok(ExitCode::Ok)
}
