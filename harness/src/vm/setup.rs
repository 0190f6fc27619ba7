//! `cnbench setup vm`: installs what VM nodes boot from, on Debian.
//!
//! - QEMU. On bookworm from bookworm-backports: bookworm's own `qemu-system-x86` (7.2) would
//!   downgrade and so remove the `qemu-utils` 10 that these machines come with, and the matching
//!   QEMU 10 is in backports (docs/machine-notes.md "VMs (qemu) as nodes"). On newer Debian, the release's own.
//! - A static busybox (`busybox-static`), the VM's shell: it needs no libraries in the VM.
//! - A kernel: the current `linux-image-<version>-cloud-amd64` (the cloud flavour boots fast
//!   and has the virtio drivers and the network modules as modules), downloaded with
//!   `apt-get download` and unpacked with `dpkg -x` under [`VM_DIR`](super::assets::VM_DIR): never installed, so this
//!   machine's own boot is untouched.
//!
//! Every step first looks whether its result is already there, so running it again does
//! nothing.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::assets::{self, find_in_path, vm_dir, Probe, CURRENT_LINK};
use crate::error::{HarnessError, Result};

/// The kernel metapackage whose `Depends` names the current versioned kernel package.
pub const KERNEL_METAPACKAGE: &str = "linux-image-cloud-amd64";

/// Where the backports suite is added on bookworm when no source has it yet.
pub const BACKPORTS_SOURCE: &str = "/etc/apt/sources.list.d/cnbench-backports.sources";

/// The deb822 source for bookworm-backports that [`run`] writes.
const BACKPORTS_DEB822: &str = "\
# Added by `cnbench setup vm`: QEMU 10 for VM nodes (bookworm's own 7.2 would remove qemu-utils 10).
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
";

/// `cnbench setup vm`: installs QEMU (on bookworm: adds bookworm-backports if missing, then
/// `apt-get install -y --no-install-recommends -t bookworm-backports qemu-system-x86`; on
/// newer Debian the main suite), busybox-static, and downloads the current
/// `linux-image-*-cloud-amd64` kernel package (the versioned name resolved from the
/// metapackage's Depends) and unpacks it with `dpkg -x` under `/var/lib/cnbench/vm`.
/// Idempotent: does nothing for what is present. Progress lines go to `out`.
pub fn run(out: &mut dyn Write) -> Result<()> {
    let vm_dir = vm_dir();
    let vm_dir = vm_dir.as_path();
    let probe = Probe::run(vm_dir);
    if probe.qemu.is_ok() && probe.busybox.is_ok() && probe.kernel.is_ok() {
        say(out, "VM assets are all present; nothing to do")?;
        return Ok(());
    }
    let system = System::detect()?;
    let mut apt = Apt::default();

    match &probe.qemu {
        Ok(path) => say(out, &format!("QEMU: {} is present", path.display()))?,
        Err(_) => {
            let mut target = None;
            if system.codename == "bookworm" {
                if has_backports_source("bookworm-backports") {
                    say(out, "APT: bookworm-backports is already a source")?;
                } else {
                    say(
                        out,
                        &format!("APT: adding bookworm-backports as {BACKPORTS_SOURCE}"),
                    )?;
                    fs::write(BACKPORTS_SOURCE, BACKPORTS_DEB822)
                        .map_err(|e| HarnessError::io(format!("write {BACKPORTS_SOURCE}"), e))?;
                    // The lists must be read again to know the new suite.
                    apt.updated = false;
                }
                target = Some("bookworm-backports");
            }
            say(
                out,
                &format!(
                    "QEMU: installing qemu-system-x86{} (a minute or two)",
                    target.map(|t| format!(" from {t}")).unwrap_or_default()
                ),
            )?;
            apt.install(out, &["qemu-system-x86"], target)?;
            if find_in_path(assets::QEMU_BINARY).is_none() {
                return Err(HarnessError::Unsupported {
                    what: format!(
                        "qemu-system-x86 installed but {} not found",
                        assets::QEMU_BINARY
                    ),
                    fix: "check `dpkg -L qemu-system-x86`".into(),
                });
            }
        }
    }

    match &probe.busybox {
        Ok(path) => say(
            out,
            &format!("busybox: {} (static) is present", path.display()),
        )?,
        Err(why) => {
            say(out, &format!("busybox: {why}; installing busybox-static"))?;
            apt.install(out, &["busybox-static"], None)?;
        }
    }

    match &probe.kernel {
        Ok(k) => say(
            out,
            &format!(
                "kernel: {} is present under {}",
                k.release,
                vm_dir.display()
            ),
        )?,
        Err(_) => install_kernel(out, &mut apt, vm_dir)?,
    }

    let left = assets::missing();
    if !left.is_empty() {
        return Err(HarnessError::Unsupported {
            what: format!("after setup, still missing: {}", left.join("; ")),
            fix: "see the messages above".into(),
        });
    }
    say(out, "VM assets ready")?;
    Ok(())
}

fn say(out: &mut dyn Write, line: &str) -> Result<()> {
    writeln!(out, "setup vm: {line}").map_err(|e| HarnessError::io("write progress", e))
}

/// What the machine runs.
struct System {
    codename: String,
}

impl System {
    /// Debian on amd64 only: the kernel package and the apt steps are Debian's.
    fn detect() -> Result<System> {
        let release = fs::read_to_string("/etc/os-release").unwrap_or_default();
        let field = |key: &str| {
            release.lines().find_map(|l| {
                l.strip_prefix(key)
                    .and_then(|v| v.strip_prefix('='))
                    .map(|v| v.trim().trim_matches('"').to_string())
            })
        };
        let dir = vm_dir();
        let dir = dir.display();
        let manual = format!(
            "install {} and a static busybox, unpack a kernel with virtio, veth, bridge, vxlan \
             and ipip (as modules or built in) as {dir}/<release>/{{vmlinuz,modules/}} and \
             point {dir}/{CURRENT_LINK} at <release>",
            assets::QEMU_BINARY
        );
        if field("ID").as_deref() != Some("debian") {
            return Err(HarnessError::Unsupported {
                what: format!(
                    "`cnbench setup vm` knows only Debian, this is {}",
                    field("PRETTY_NAME").unwrap_or_else(|| "an unknown system".into())
                ),
                fix: manual,
            });
        }
        let arch = output("dpkg", &["--print-architecture"]).unwrap_or_default();
        if arch.trim() != "amd64" {
            return Err(HarnessError::Unsupported {
                what: format!(
                    "`cnbench setup vm` downloads amd64 kernels; this is {}",
                    arch.trim()
                ),
                fix: manual,
            });
        }
        Ok(System {
            codename: field("VERSION_CODENAME").unwrap_or_default(),
        })
    }
}

/// Whether an enabled APT source line (one-line or deb822 format) names `suite`.
fn has_backports_source(suite: &str) -> bool {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(dir) = fs::read_dir("/etc/apt/sources.list.d") {
        files.extend(dir.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("list") | Some("sources")
            )
        }));
    }
    files
        .iter()
        .filter_map(|f| fs::read_to_string(f).ok())
        .any(|text| source_text_names_suite(&text, suite))
}

/// Whether sources text (one-line `deb URI SUITE ...` or deb822 `Suites:`) names `suite`
/// outside comments. A deb822 stanza with `Enabled: no` does not count.
fn source_text_names_suite(text: &str, suite: &str) -> bool {
    text.split("\n\n").any(|stanza| {
        let lines: Vec<&str> = stanza
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .collect();
        let disabled = lines
            .iter()
            .any(|l| l.to_ascii_lowercase().replace(' ', "") == "enabled:no");
        !disabled
            && lines.iter().any(|l| {
                let words = l
                    .strip_prefix("Suites:")
                    .or_else(|| l.strip_prefix("deb "))
                    .unwrap_or("");
                words.split_whitespace().any(|w| w == suite)
            })
    })
}

/// apt-get, with `apt-get update` run once before the first thing it fetches.
#[derive(Default)]
struct Apt {
    updated: bool,
}

impl Apt {
    fn update(&mut self, out: &mut dyn Write) -> Result<()> {
        if !self.updated {
            say(out, "APT: apt-get update")?;
            run_apt(&["update"], None)?;
            self.updated = true;
        }
        Ok(())
    }

    fn install(
        &mut self,
        out: &mut dyn Write,
        packages: &[&str],
        target: Option<&str>,
    ) -> Result<()> {
        self.update(out)?;
        let mut args = vec!["install", "-y", "--no-install-recommends"];
        if let Some(t) = target {
            args.extend(["-t", t]);
        }
        args.extend(packages);
        run_apt(&args, None)
    }
}

/// Runs `apt-get args` non-interactively (in `cwd`); on failure the error carries the end of
/// its output.
fn run_apt(args: &[&str], cwd: Option<&Path>) -> Result<()> {
    let mut cmd = Command::new("apt-get");
    cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    let line = format!("apt-get {}", args.join(" "));
    let o = cmd
        .output()
        .map_err(|e| HarnessError::io(format!("run `{line}`"), e))?;
    if o.status.success() {
        return Ok(());
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let tail: Vec<&str> = text
        .lines()
        .rev()
        .take(8)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    Err(HarnessError::Unsupported {
        what: format!("`{line}` failed ({}):\n  {}", o.status, tail.join("\n  ")),
        fix: "fix the APT problem above (network, sources, a held package), then run `cnbench setup vm` again".into(),
    })
}

/// Standard output of a command that succeeded.
fn output(program: &str, args: &[&str]) -> Option<String> {
    let o = Command::new(program).args(args).output().ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
}

/// The versioned package the kernel metapackage depends on (`linux-image-6.1.0-56-cloud-amd64`),
/// from `apt-cache show` of the candidate version.
fn resolve_kernel_package() -> Result<String> {
    let text = output(
        "apt-cache",
        &["show", "--no-all-versions", KERNEL_METAPACKAGE],
    )
    .ok_or_else(|| HarnessError::Unsupported {
        what: format!("APT does not know {KERNEL_METAPACKAGE}"),
        fix: "check that a Debian main source is configured (`apt-cache policy`)".into(),
    })?;
    parse_kernel_depends(&text).ok_or_else(|| HarnessError::Unsupported {
        what: format!("{KERNEL_METAPACKAGE}'s Depends names no linux-image-*-cloud-amd64 package"),
        fix: format!("look at `apt-cache show {KERNEL_METAPACKAGE}`"),
    })
}

/// From `apt-cache show` text, the first `linux-image-…` package in `Depends:`.
fn parse_kernel_depends(show: &str) -> Option<String> {
    let depends = show.lines().find_map(|l| l.strip_prefix("Depends:"))?;
    depends
        .split([',', '|'])
        .map(|d| d.split_whitespace().next().unwrap_or(""))
        .find(|name| name.starts_with("linux-image-") && *name != KERNEL_METAPACKAGE)
        .map(str::to_string)
}

/// Downloads the kernel package, unpacks it, and lays out `<vm_dir>/<release>` and the
/// `current` link. Works in a scratch directory renamed into place at the end, so an
/// interrupted setup leaves no half kernel that [`Assets::locate`](super::Assets::locate)
/// would take.
fn install_kernel(out: &mut dyn Write, apt: &mut Apt, vm_dir: &Path) -> Result<()> {
    apt.update(out)?;
    let package = resolve_kernel_package()?;
    say(out, &format!("kernel: downloading {package} (about 25 MB)"))?;
    let io = |what: String| move |e| HarnessError::io(what, e);
    fs::create_dir_all(vm_dir).map_err(io(format!("create {}", vm_dir.display())))?;
    let scratch = vm_dir.join(format!(".setup-{}", std::process::id()));
    let _cleanup = RemoveDir(scratch.clone());
    let _ = fs::remove_dir_all(&scratch);
    fs::create_dir_all(&scratch).map_err(io(format!("create {}", scratch.display())))?;
    run_apt(&["download", &package], Some(&scratch))?;
    let deb = fs::read_dir(&scratch)
        .map_err(io(format!("list {}", scratch.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or_else(|| HarnessError::Unsupported {
            what: format!(
                "`apt-get download {package}` left no .deb in {}",
                scratch.display()
            ),
            fix: "run it by hand to see why".into(),
        })?;
    say(
        out,
        &format!(
            "kernel: unpacking {}",
            deb.file_name().unwrap_or_default().to_string_lossy()
        ),
    )?;
    let root = scratch.join("root");
    let o = Command::new("dpkg")
        .arg("-x")
        .arg(&deb)
        .arg(&root)
        .output()
        .map_err(io("run `dpkg -x`".into()))?;
    if !o.status.success() {
        return Err(HarnessError::io(
            format!("dpkg -x {}", deb.display()),
            std::io::Error::other(String::from_utf8_lossy(&o.stderr).trim().to_string()),
        ));
    }

    // The release is what the package holds: boot/vmlinuz-<release>.
    let release = fs::read_dir(root.join("boot"))
        .map_err(io(format!("list {}/boot", root.display())))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .find_map(|n| n.strip_prefix("vmlinuz-").map(str::to_string))
        .ok_or_else(|| HarnessError::Unsupported {
            what: format!("{package} holds no boot/vmlinuz-*"),
            fix: format!("{KERNEL_METAPACKAGE} is not the package expected"),
        })?;
    // Merged-/usr packages (trixie on) put modules under usr/lib/modules.
    let modules = [
        root.join("lib/modules").join(&release),
        root.join("usr/lib/modules").join(&release),
    ]
    .into_iter()
    .find(|p| p.is_dir())
    .ok_or_else(|| HarnessError::Unsupported {
        what: format!("{package} holds no lib/modules/{release}"),
        fix: format!("{KERNEL_METAPACKAGE} is not the package expected"),
    })?;

    let staged = scratch.join("staged");
    fs::create_dir_all(&staged).map_err(io(format!("create {}", staged.display())))?;
    let rename = |from: &Path, to: &Path| {
        fs::rename(from, to).map_err(io(format!("move {} to {}", from.display(), to.display())))
    };
    rename(
        &root.join("boot").join(format!("vmlinuz-{release}")),
        &staged.join("vmlinuz"),
    )?;
    let config = root.join("boot").join(format!("config-{release}"));
    if config.is_file() {
        rename(&config, &staged.join("config"))?;
    }
    rename(&modules, &staged.join("modules"))?;

    let dest = assets::kernel_dir(vm_dir, &release);
    if dest.exists() {
        // A half-finished earlier layout (no current link): replace it.
        fs::remove_dir_all(&dest).map_err(io(format!("remove {}", dest.display())))?;
    }
    rename(&staged, &dest)?;
    // Point `current` at it atomically: a new symlink renamed over the old one.
    let tmp_link = vm_dir.join(format!(".{CURRENT_LINK}.{}", std::process::id()));
    let _ = fs::remove_file(&tmp_link);
    std::os::unix::fs::symlink(&release, &tmp_link)
        .map_err(io(format!("create {}", tmp_link.display())))?;
    rename(&tmp_link, &vm_dir.join(CURRENT_LINK))?;
    say(
        out,
        &format!("kernel: {release} ready in {}", dest.display()),
    )?;
    Ok(())
}

/// Removes a directory tree when dropped.
struct RemoveDir(PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backports_sources_are_recognised() {
        let deb822 = "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\n";
        assert!(source_text_names_suite(deb822, "bookworm-backports"));
        assert!(source_text_names_suite(
            BACKPORTS_DEB822,
            "bookworm-backports"
        ));
        let both = "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\n\nTypes: deb\nSuites: bookworm-backports\nEnabled: no\n";
        assert!(!source_text_names_suite(both, "bookworm-backports"));
        assert!(source_text_names_suite(
            "deb http://deb.debian.org/debian bookworm-backports main\n",
            "bookworm-backports"
        ));
        assert!(!source_text_names_suite(
            "# deb http://deb.debian.org/debian bookworm-backports main\n",
            "bookworm-backports"
        ));
    }

    #[test]
    fn kernel_package_is_read_from_the_metapackage() {
        let show = "Package: linux-image-cloud-amd64\nSource: linux-signed-amd64 (6.1.192+2)\nVersion: 6.1.192-2\n\
                    Depends: linux-image-6.1.0-56-cloud-amd64 (= 6.1.192-2)\nDescription: x\n";
        assert_eq!(
            parse_kernel_depends(show).as_deref(),
            Some("linux-image-6.1.0-56-cloud-amd64")
        );
        assert_eq!(parse_kernel_depends("Package: x\n"), None);
    }
}
