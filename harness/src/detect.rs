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

/// Kinds whose module, when the kernel loads it on first use, makes default devices in the
/// machine's own namespace (`ifb0`, `ifb1`; `dummy0`), and the module parameter that makes
/// none.
const MODULES_WITH_DEFAULT_DEVICES: [(&str, &str); 2] =
    [("ifb", "numifbs=0"), ("dummy", "numdummies=0")];

/// Loads, where it is a module not loaded yet, each kind of `kinds` whose module would make
/// default devices in the machine's own namespace, with the parameter that makes none: the
/// kernel would otherwise load it on the first `ip link add` of that kind (a probe's, a CNI
/// bandwidth plugin's) with its defaults. Built in, loaded already, or no `modprobe`: nothing
/// to do (a failure here only means the kernel loads it its own way).
fn load_quietly(kinds: &[&str]) {
    for (kind, param) in MODULES_WITH_DEFAULT_DEVICES {
        if kinds.contains(&kind) && !Path::new(&format!("/sys/module/{kind}")).exists() {
            let _ = std::process::Command::new("modprobe")
                .args([kind, param])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

/// Tries each kind in a scratch namespace. `tun` is checked through `/dev/net/tun`, since TUN
/// devices are made with an ioctl, not netlink.
pub fn probe_link_kinds(kinds: &[&str]) -> Result<Vec<KindSupport>> {
    require_root()?;
    load_quietly(kinds);
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
