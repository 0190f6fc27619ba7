//! What this machine can do, found by trying (docs/design.md §5 rule 8: detect, do not
//! assume): root, programs on `PATH`, and each kernel link kind, created in a scratch
//! namespace that is deleted right after.

use std::path::Path;

use crate::error::{HarnessError, Result};
use crate::netlink::Netlink;
use crate::netns::Netns;

/// Whether one kernel link kind works here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindSupport {
    /// The kind (`vxlan`).
    pub kind: String,
    /// `Ok` when it can be created; otherwise why not.
    pub result: Result<(), String>,
}

/// Whether the process has root's powers (creating namespaces needs CAP_SYS_ADMIN and
/// CAP_NET_ADMIN).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Fails with a one-line error when not root.
pub fn require_root() -> Result<()> {
    if is_root() {
        Ok(())
    } else {
        Err(HarnessError::Unsupported {
            what: "cnbench needs root to create network namespaces".into(),
            fix: "run it as root (sudo cnbench ...)".into(),
        })
    }
}

/// Tries each kind in a scratch namespace. `tun` is checked through `/dev/net/tun`, since TUN
/// devices are made with an ioctl, not netlink.
pub fn probe_link_kinds(kinds: &[&str]) -> Result<Vec<KindSupport>> {
    require_root()?;
    let name = crate::topology::netns_name(&crate::topology::new_run_id(), "probe");
    let ns = Netns::create(&name)?;
    let result = (|| {
        let nl = Netlink::open(&ns)?;
        Ok(kinds
            .iter()
            .enumerate()
            .map(|(i, kind)| {
                let result = if *kind == "tun" {
                    if Path::new("/dev/net/tun").exists() {
                        Ok(())
                    } else {
                        Err("/dev/net/tun is missing: load the tun module".to_string())
                    }
                } else {
                    match nl.create_plain(&format!("probe{i}"), kind) {
                        Ok(()) => Ok(()),
                        // A kind the kernel knows but that needs parameters (vxlan needs a VNI)
                        // is refused with EINVAL: it exists. No module at all is EOPNOTSUPP.
                        Err(HarnessError::Netlink { source, .. })
                            if source.raw_os_error() == Some(libc::EOPNOTSUPP) =>
                        {
                            Err(format!(
                                "this kernel has no {kind} device type (module not built)"
                            ))
                        }
                        Err(HarnessError::Netlink { .. }) => Ok(()),
                        Err(e) => Err(e.to_string()),
                    }
                };
                KindSupport {
                    kind: kind.to_string(),
                    result,
                }
            })
            .collect())
    })();
    drop(ns);
    let _ = Netns::delete(&name);
    result
}

/// Whether `binary` is on `PATH` (or is an existing path).
pub fn find_binary(binary: &str) -> Option<std::path::PathBuf> {
    if binary.contains('/') {
        return Path::new(binary).exists().then(|| binary.into());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(binary))
            .find(|p| p.is_file())
    })
}
