//! Choosing the datapath: what `--datapath` asked for, checked against what this kernel has
//! (docs/design.md §5 rule 8: detect, do not assume). Many kernels are built without the ipip module (the
//! machines cnbench is developed on among them); creating such a link then fails with
//! EOPNOTSUPP, so the kernel datapath is only offered where a probe link could be made.

use harness::Datapath;

/// The datapath to run. `requested` is `--datapath` (`kernel`, `userspace`, `offload`, or
/// none); `offload` is the userspace datapath with the TUN's offloads, so it is
/// [`Datapath::Userspace`] here (the backend keeps the offload apart). `kernel_has_ipip` probes
/// the kernel and is called only when the answer matters (the userspace datapaths need no
/// probe).
pub fn choose_datapath(
    requested: Option<&str>,
    kernel_has_ipip: impl FnOnce() -> Result<bool, String>,
) -> Result<Datapath, String> {
    match requested {
        Some("userspace" | "offload") => Ok(Datapath::Userspace),
        Some("kernel") => {
            if kernel_has_ipip()? {
                Ok(Datapath::Kernel)
            } else {
                Err(
                    "--datapath kernel: this kernel lacks the ipip module (no ipip device type); \
                     use --datapath userspace, or leave --datapath out to fall back to it"
                        .into(),
                )
            }
        }
        None => Ok(if kernel_has_ipip()? {
            Datapath::Kernel
        } else {
            Datapath::Userspace
        }),
        Some(other) => Err(format!(
            "--datapath {other}: ipip has `kernel` (the kernel's ipip device), `userspace` \
             (a TUN + raw socket daemon) or `offload` (that daemon with TUN offloads)"
        )),
    }
}
