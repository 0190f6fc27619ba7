//! The kernel modules a VM node loads, and the order to load them in.
//!
//! The VM has no `modprobe` and no `modules.dep`: `/init` loads each module with busybox's
//! `insmod`, so the host must know which files to put in the initramfs and in which order. That
//! comes from the module tree of the VM's kernel (under [`Assets::modules_dir`]): each `.ko`
//! file's `.modinfo` ELF section says what it `depends=` on, and `modules.builtin` names those
//! the kernel has built in (which need no loading).

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use object::{Object, ObjectSection};

use super::assets::Assets;
use crate::error::{HarnessError, Result};

/// Modules every VM node loads: the control channel and NIC (virtio). The modules of the
/// link kinds the backend creates come on top ([`LinkKinds`]). Dependencies are added and
/// ordered by [`modules`]. A module the kernel has built in is skipped.
pub const REQUIRED_MODULES: &[&str] = &["virtio_pci", "virtio_net", "virtio_console"];

/// The kernel link kinds a VM node's kernel must create (`veth`, `vxlan`) and may create
/// (a kind the backend uses where present, `ipip`): each kind's module is named after it.
#[derive(Debug, Clone, Copy, Default)]
pub struct LinkKinds<'a> {
    /// Kinds whose module must be there (or built in).
    pub required: &'a [&'a str],
    /// Kinds whose module is loaded when the kernel has it.
    pub optional: &'a [&'a str],
}

/// Modules loaded when the kernel has them, not needed to boot: nftables, for the
/// `numgen`-based loss injection that faults use on the namespace substrate.
pub const OPTIONAL_MODULES: &[&str] = &["nf_tables", "nft_numgen"];

/// A kernel module to put in the initramfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// Module name, with `_` (`virtio_net`).
    pub name: String,
    /// Its file in the module tree (`.ko`, or `.ko.xz`/`.ko.zst`/`.ko.gz`).
    pub path: PathBuf,
}

/// The modules to load, dependencies first: [`REQUIRED_MODULES`] and those of `kinds.required`
/// (an error if one is neither a file nor built in), and those of [`OPTIONAL_MODULES`] and
/// `kinds.optional` the kernel has, each preceded by what its `.modinfo` says it `depends=`
/// on, transitively.
///
/// Soft dependencies (`softdep=pre: crc32c`) name aliases, which need `modules.alias` to
/// resolve; they are not followed (those of the modules above are built into Debian's kernels).
pub fn modules(assets: &Assets, kinds: LinkKinds<'_>) -> Result<Vec<Module>> {
    let dir = &assets.modules_dir;
    let files = index_module_files(dir)
        .map_err(|e| HarnessError::io(format!("list kernel modules in {}", dir.display()), e))?;
    let builtin = read_builtin(dir);
    let unknown = |name: &str| HarnessError::Unsupported {
        what: format!(
            "VM kernel {}: module {name} is neither in {} nor built in",
            assets.kernel_release,
            dir.display()
        ),
        fix: format!(
            "use a kernel that has it (delete {} and run `{}`)",
            assets.kernel_dir().display(),
            super::assets::SETUP_COMMAND
        ),
    };
    let mut roots: Vec<String> = Vec::new();
    for name in REQUIRED_MODULES.iter().chain(kinds.required) {
        if files.contains_key(*name) {
            if !roots.iter().any(|r| r == name) {
                roots.push(name.to_string());
            }
        } else if !builtin.contains(*name) {
            return Err(unknown(name));
        }
    }
    for name in OPTIONAL_MODULES.iter().chain(kinds.optional) {
        if files.contains_key(*name) && !roots.iter().any(|r| r == name) {
            roots.push(name.to_string());
        }
    }
    let order = load_order(&roots, |name| {
        let Some(path) = files.get(name) else {
            // A dependency that is built in needs no loading; one that is nowhere cannot load.
            return if builtin.contains(name) {
                Ok(None)
            } else {
                Err(unknown(name))
            };
        };
        let bytes = read_module(path)?;
        let section = modinfo_section(&bytes).ok_or_else(|| HarnessError::Unsupported {
            what: format!(
                "kernel module {} is no ELF file with a .modinfo section",
                path.display()
            ),
            fix: format!(
                "the module tree is damaged: delete {} and run `{}`",
                assets.kernel_dir().display(),
                super::assets::SETUP_COMMAND
            ),
        })?;
        Ok(Some(parse_modinfo(section).depends))
    })?;
    Ok(order
        .into_iter()
        .map(|name| Module {
            path: files[&name].clone(),
            name,
        })
        .collect())
}

/// Whether the kernel of `assets` has module `name`, as a file or built in (no module is
/// read or decompressed).
pub fn has_module(assets: &Assets, name: &str) -> bool {
    read_builtin(&assets.modules_dir).contains(name)
        || index_module_files(&assets.modules_dir).is_ok_and(|files| files.contains_key(name))
}

/// Every module file under `dir`, by module name (`-` in file names read as `_`, as kmod
/// does).
fn index_module_files(dir: &Path) -> io::Result<HashMap<String, PathBuf>> {
    let mut found = HashMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d)? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                stack.push(path);
            } else if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
                if let Some(module) = module_name_of_file(name) {
                    found.insert(module, path);
                }
            }
        }
    }
    Ok(found)
}

/// `virtio-pci.ko.xz` -> `virtio_pci`; None for a file that is not a module.
pub(crate) fn module_name_of_file(file: &str) -> Option<String> {
    [".ko", ".ko.xz", ".ko.zst", ".ko.gz"]
        .iter()
        .find_map(|ext| file.strip_suffix(ext))
        .map(|stem| stem.replace('-', "_"))
}

/// Names of the modules built into the kernel (`modules.builtin`, paths like
/// `kernel/crypto/crc32c_generic.ko`); empty when the file is absent.
fn read_builtin(dir: &Path) -> BTreeSet<String> {
    fs::read_to_string(dir.join("modules.builtin"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| module_name_of_file(l.rsplit('/').next()?))
        .collect()
}

/// A module's bytes, decompressed (newer Debian kernels ship `.ko.xz`; busybox's `insmod`
/// may not read compressed modules, and `.modinfo` must be read from the ELF file).
pub(crate) fn read_module(path: &Path) -> Result<Vec<u8>> {
    let name = path.to_string_lossy();
    let tool = if name.ends_with(".xz") {
        Some(("xz", "xz-utils"))
    } else if name.ends_with(".zst") {
        Some(("zstd", "zstd"))
    } else if name.ends_with(".gz") {
        Some(("gzip", "gzip"))
    } else {
        None
    };
    let Some((tool, package)) = tool else {
        return fs::read(path)
            .map_err(|e| HarnessError::io(format!("read kernel module {name}"), e));
    };
    let output = Command::new(tool)
        .arg("-dc")
        .arg(path)
        .output()
        .map_err(|e| {
            HarnessError::io(
                format!("decompress kernel module {name} with {tool} (Debian package {package})"),
                e,
            )
        })?;
    if !output.status.success() {
        return Err(HarnessError::io(
            format!("decompress kernel module {name} with {tool}"),
            io::Error::other(String::from_utf8_lossy(&output.stderr).trim().to_string()),
        ));
    }
    Ok(output.stdout)
}

/// The contents of the `.modinfo` section of a module's (decompressed) ELF file; None when
/// `bytes` is not an ELF file or has no such section.
pub(crate) fn modinfo_section(bytes: &[u8]) -> Option<&[u8]> {
    let file = object::File::parse(bytes).ok()?;
    file.section_by_name(".modinfo")?.data().ok()
}

/// What cnbench reads of a module's `.modinfo`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ModInfo {
    /// `name=` (absent in old kernels).
    pub name: Option<String>,
    /// `depends=`, comma-separated module names; empty when it depends on nothing.
    pub depends: Vec<String>,
}

/// Parses a `.modinfo` section: NUL-separated `key=value` strings (with NUL padding between
/// them, as the linker aligns some).
pub(crate) fn parse_modinfo(section: &[u8]) -> ModInfo {
    let mut info = ModInfo::default();
    for entry in section.split(|b| *b == 0).filter(|e| !e.is_empty()) {
        let Ok(entry) = std::str::from_utf8(entry) else {
            continue;
        };
        if let Some(value) = entry.strip_prefix("depends=") {
            info.depends = value
                .split(',')
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(|d| d.replace('-', "_"))
                .collect();
        } else if let Some(value) = entry.strip_prefix("name=") {
            info.name = Some(value.to_string());
        }
    }
    info
}

/// Orders `roots` and their dependencies so that each module comes after everything it
/// depends on (a depth-first post-order: roots keep their given order where the dependencies
/// allow). `deps(name)` returns the module's direct dependencies, or None when it needs no
/// loading (built in); it is called once per module. A cycle is an error.
pub(crate) fn load_order(
    roots: &[String],
    mut deps: impl FnMut(&str) -> Result<Option<Vec<String>>>,
) -> Result<Vec<String>> {
    #[derive(PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    fn visit(
        name: &str,
        deps: &mut dyn FnMut(&str) -> Result<Option<Vec<String>>>,
        marks: &mut HashMap<String, Mark>,
        order: &mut Vec<String>,
        path: &mut Vec<String>,
    ) -> Result<()> {
        match marks.get(name) {
            Some(Mark::Done) => return Ok(()),
            Some(Mark::Visiting) => {
                path.push(name.to_string());
                return Err(HarnessError::Unsupported {
                    what: format!(
                        "kernel modules depend on each other in a cycle: {}",
                        path.join(" -> ")
                    ),
                    fix: "the module tree is damaged: unpack the kernel package again".into(),
                });
            }
            None => {}
        }
        marks.insert(name.to_string(), Mark::Visiting);
        path.push(name.to_string());
        let needed = deps(name)?;
        if let Some(list) = &needed {
            for dep in list {
                visit(dep, deps, marks, order, path)?;
            }
        }
        path.pop();
        marks.insert(name.to_string(), Mark::Done);
        if needed.is_some() {
            order.push(name.to_string());
        }
        Ok(())
    }
    let mut marks = HashMap::new();
    let mut order = Vec::new();
    for root in roots {
        visit(root, &mut deps, &mut marks, &mut order, &mut Vec::new())?;
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modinfo_depends_are_parsed() {
        let section = b"license=GPL\0\0\0depends=tunnel4,ip_tunnel\0retpoline=Y\0intree=Y\0name=ipip\0vermagic=6.1.0 SMP\0";
        let info = parse_modinfo(section);
        assert_eq!(info.name.as_deref(), Some("ipip"));
        assert_eq!(info.depends, vec!["tunnel4", "ip_tunnel"]);

        let none = parse_modinfo(b"depends=\0name=veth\0");
        assert!(none.depends.is_empty());
        assert_eq!(parse_modinfo(b"").depends, Vec::<String>::new());
        // File-style names are normalised to module names.
        assert_eq!(
            parse_modinfo(b"depends=virtio-ring\0").depends,
            vec!["virtio_ring"]
        );
    }

    #[test]
    fn module_file_names() {
        assert_eq!(module_name_of_file("ipip.ko").as_deref(), Some("ipip"));
        assert_eq!(
            module_name_of_file("intel-uncore.ko.xz").as_deref(),
            Some("intel_uncore")
        );
        assert_eq!(module_name_of_file("modules.order"), None);
    }

    fn graph(edges: &[(&str, &[&str])]) -> HashMap<String, Vec<String>> {
        edges
            .iter()
            .map(|(n, d)| (n.to_string(), d.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    fn order(
        g: &HashMap<String, Vec<String>>,
        roots: &[&str],
        builtin: &[&str],
    ) -> Result<Vec<String>> {
        let roots: Vec<String> = roots.iter().map(|s| s.to_string()).collect();
        let mut calls = Vec::new();
        let out = load_order(&roots, |n| {
            calls.push(n.to_string());
            if builtin.contains(&n) {
                return Ok(None);
            }
            Ok(Some(g.get(n).cloned().unwrap_or_default()))
        });
        let mut unique = calls.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(
            unique.len(),
            calls.len(),
            "each module is looked up once: {calls:?}"
        );
        out
    }

    #[test]
    fn dependencies_come_first_and_once() {
        let g = graph(&[
            (
                "virtio_pci",
                &[
                    "virtio_ring",
                    "virtio_pci_modern_dev",
                    "virtio_pci_legacy_dev",
                    "virtio",
                ],
            ),
            ("virtio_net", &["virtio_ring", "virtio", "net_failover"]),
            ("net_failover", &["failover"]),
            ("virtio_ring", &["virtio"]),
            ("ipip", &["tunnel4", "ip_tunnel"]),
        ]);
        let got = order(&g, &["virtio_pci", "virtio_net", "ipip"], &[]).unwrap();
        let pos = |n: &str| {
            got.iter()
                .position(|x| x == n)
                .unwrap_or_else(|| panic!("{n} missing"))
        };
        for (module, deps) in &g {
            for d in deps {
                assert!(
                    pos(d) < pos(module),
                    "{d} must load before {module}: {got:?}"
                );
            }
        }
        assert_eq!(got.len(), 11, "{got:?}");
        assert_eq!(
            got,
            [
                "virtio",
                "virtio_ring",
                "virtio_pci_modern_dev",
                "virtio_pci_legacy_dev",
                "virtio_pci",
                "failover",
                "net_failover",
                "virtio_net",
                "tunnel4",
                "ip_tunnel",
                "ipip"
            ]
        );
    }

    #[test]
    fn builtin_modules_are_left_out_and_cycles_refused() {
        let g = graph(&[("nf_tables", &["nfnetlink", "libcrc32c"])]);
        assert_eq!(
            order(&g, &["nf_tables"], &["libcrc32c"]).unwrap(),
            ["nfnetlink", "nf_tables"]
        );

        let cyclic = graph(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"])]);
        let err = order(&cyclic, &["a"], &[]).unwrap_err().to_string();
        assert!(err.contains("a -> b -> c -> a"), "{err}");
    }

    #[test]
    fn modinfo_section_needs_an_elf_file_with_one() {
        assert_eq!(modinfo_section(b"depends=tunnel4\0"), None);
        // This test binary is ELF, but no kernel module.
        let me = fs::read(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(modinfo_section(&me), None);
    }
}
