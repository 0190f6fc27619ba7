//! Where the pieces a VM node boots from live, and finding them.
//!
//! Layout made by [`setup`](super::setup) (one directory per kernel release, so a newer kernel
//! can be unpacked beside the one a running topology uses):
//! ```text
//! /var/lib/cnbench/vm/
//!   current -> 6.1.0-56-cloud-amd64      the release VMs boot (a relative symlink)
//!   6.1.0-56-cloud-amd64/
//!     vmlinuz                            the kernel image
//!     config                             its build configuration (which features are =y/=m)
//!     modules/                           its lib/modules/<release> tree (kernel/..., modules.order)
//! ```
//! QEMU and busybox are the distribution's, found on `PATH` and in `/bin`.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{HarnessError, Result};

/// Root of the VM assets.
pub const VM_DIR: &str = "/var/lib/cnbench/vm";

/// The environment variable that moves [`VM_DIR`] (for a machine whose `/var` is small, and
/// for tests that need a machine without VM assets).
pub const VM_DIR_ENV: &str = "CNBENCH_VM_DIR";

/// Where the VM assets are: `$CNBENCH_VM_DIR`, else [`VM_DIR`].
pub fn vm_dir() -> PathBuf {
    std::env::var_os(VM_DIR_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(VM_DIR))
}

/// Name of the symlink in [`VM_DIR`] that names the kernel release VMs boot.
pub const CURRENT_LINK: &str = "current";

/// The command that installs whatever is missing.
pub const SETUP_COMMAND: &str = "cnbench setup vm";

/// The QEMU binary's name (x86-64 guests on any host: TCG emulates the CPU anyway).
pub const QEMU_BINARY: &str = "qemu-system-x86_64";

/// Everything a VM node boots from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assets {
    /// `qemu-system-x86_64`.
    pub qemu: PathBuf,
    /// The kernel image (`vmlinuz`).
    pub kernel: PathBuf,
    /// The kernel's module tree (what a system has as `/lib/modules/<release>`).
    pub modules_dir: PathBuf,
    /// The kernel release (`6.1.0-56-cloud-amd64`); modules must match it.
    pub kernel_release: String,
    /// A statically linked busybox: the VM's shell and tools, needing no libraries.
    pub busybox: PathBuf,
}

impl Assets {
    /// Finds them; a missing piece is [`HarnessError::Unsupported`] whose `what` lists every
    /// missing piece and whose `fix` names the setup command `cnbench setup vm`.
    pub fn locate() -> Result<Assets> {
        Assets::locate_in(&vm_dir())
    }

    /// [`Assets::locate`] with the kernels under `vm_dir`.
    pub(crate) fn locate_in(vm_dir: &Path) -> Result<Assets> {
        let probe = Probe::run(vm_dir);
        match (probe.qemu, probe.busybox, probe.kernel) {
            (Ok(qemu), Ok(busybox), Ok(k)) => Ok(Assets {
                qemu,
                kernel: k.image,
                modules_dir: k.modules_dir,
                kernel_release: k.release,
                busybox,
            }),
            (qemu, busybox, kernel) => {
                let missing: Vec<String> = [qemu.err(), busybox.err(), kernel.err()]
                    .into_iter()
                    .flatten()
                    .collect();
                Err(HarnessError::Unsupported {
                    what: format!("VM nodes cannot boot: {}", missing.join("; ")),
                    fix: format!("run `{SETUP_COMMAND}` (as root; it uses apt)"),
                })
            }
        }
    }

    /// The directory of this kernel release under [`VM_DIR`].
    pub fn kernel_dir(&self) -> PathBuf {
        kernel_dir(&vm_dir(), &self.kernel_release)
    }
}

/// One line per missing piece with how to get it (for `cnbench list`); empty when ready.
pub fn missing() -> Vec<String> {
    let probe = Probe::run(&vm_dir());
    [probe.qemu.err(), probe.busybox.err(), probe.kernel.err()]
        .into_iter()
        .flatten()
        .map(|what| format!("{what}: run `{SETUP_COMMAND}`"))
        .collect()
}

/// `<vm_dir>/<release>`.
pub(crate) fn kernel_dir(vm_dir: &Path, release: &str) -> PathBuf {
    vm_dir.join(release)
}

/// A kernel found under the VM directory.
#[derive(Debug)]
pub(crate) struct Kernel {
    pub image: PathBuf,
    pub modules_dir: PathBuf,
    pub release: String,
}

/// Each piece found, or a sentence saying what is missing (without the fix).
pub(crate) struct Probe {
    pub qemu: std::result::Result<PathBuf, String>,
    pub busybox: std::result::Result<PathBuf, String>,
    pub kernel: std::result::Result<Kernel, String>,
}

impl Probe {
    pub(crate) fn run(vm_dir: &Path) -> Probe {
        Probe {
            qemu: find_in_path(QEMU_BINARY).ok_or_else(|| {
                format!("QEMU ({QEMU_BINARY}) is not installed (Debian package qemu-system-x86)")
            }),
            busybox: find_static_busybox(),
            kernel: find_kernel(vm_dir),
        }
    }
}

/// The first executable file called `name` in the directories of `PATH` (then `/usr/sbin`
/// and `/sbin`, which a root shell has but `sudo`'s or cron's `PATH` may lack).
pub(crate) fn find_in_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin", "/bin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| {
            fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// A busybox that needs no shared library: the initramfs carries no libc for it. Debian's
/// `busybox` package is dynamically linked; `busybox-static` (which replaces it) is not.
fn find_static_busybox() -> std::result::Result<PathBuf, String> {
    let mut dynamic = None;
    for candidate in ["/bin/busybox", "/usr/bin/busybox"] {
        let Ok(bytes) = fs::read(candidate) else {
            continue;
        };
        match super::initramfs::elf_is_static(&bytes) {
            Some(true) => return Ok(PathBuf::from(candidate)),
            Some(false) => dynamic = Some(candidate),
            None => {}
        }
    }
    Err(match dynamic {
        Some(path) => format!(
            "{path} is dynamically linked (Debian package busybox); VMs need busybox-static"
        ),
        None => "busybox is not installed (Debian package busybox-static)".to_string(),
    })
}

/// The kernel that [`CURRENT_LINK`] names, with its image and module tree.
pub(crate) fn find_kernel(vm_dir: &Path) -> std::result::Result<Kernel, String> {
    let link = vm_dir.join(CURRENT_LINK);
    let no_kernel = || format!("no VM kernel unpacked under {}", vm_dir.display());
    let target = fs::read_link(&link).map_err(|_| no_kernel())?;
    let release = target
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(no_kernel)?
        .to_string();
    let dir = kernel_dir(vm_dir, &release);
    let image = dir.join("vmlinuz");
    let modules_dir = dir.join("modules");
    if !image.is_file() || !modules_dir.join("kernel").is_dir() {
        return Err(format!(
            "VM kernel {release} under {} is incomplete (no vmlinuz or modules/kernel)",
            dir.display()
        ));
    }
    Ok(Kernel {
        image,
        modules_dir,
        release,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_is_found_through_the_current_link() {
        let dir = std::env::temp_dir().join(format!("cnbench-assets-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        assert!(find_kernel(&dir).unwrap_err().contains("no VM kernel"));

        let rel = "6.1.0-99-cloud-amd64";
        fs::create_dir_all(dir.join(rel).join("modules/kernel")).unwrap();
        std::os::unix::fs::symlink(rel, dir.join(CURRENT_LINK)).unwrap();
        assert!(find_kernel(&dir).unwrap_err().contains("incomplete"));

        let err = Assets::locate_in(&dir).unwrap_err();
        assert!(err.is_bad_input());
        let text = err.to_string();
        assert!(
            text.contains("VM nodes cannot boot") && text.contains("incomplete"),
            "{text}"
        );
        assert!(text.contains("run `cnbench setup vm`"), "{text}");

        fs::write(dir.join(rel).join("vmlinuz"), b"x").unwrap();
        let k = find_kernel(&dir).unwrap();
        assert_eq!(k.release, rel);
        assert_eq!(k.image, dir.join(rel).join("vmlinuz"));
        assert_eq!(k.modules_dir, dir.join(rel).join("modules"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
