//! The VM's root file system: one uncompressed `newc` cpio that the kernel unpacks into its
//! rootfs and runs `/init` from.
//!
//! Nothing else is mounted in the VM, so everything a node needs is in here: a static busybox
//! (the shell and the few tools `/init` uses), the kernel modules cnbench needs (there is no
//! `modprobe` and no `modules.dep` in the VM, so `/init` loads each one with `insmod`, in an
//! order computed here from each module's `.modinfo`), and the programs of the node (the cnbench
//! binary, iproute2's `ip`, ...) with every shared library they load, at the paths the dynamic
//! loader looks for them.
//!
//! Uncompressed because the kernel unpacks it under emulation: decompressing costs boot time,
//! and the archive only lives in the run's directory on the host.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::assets::{find_in_path, Assets};
use crate::error::{HarnessError, Result};

/// Modules every VM node loads: the control channel and NIC (virtio), and the datapaths
/// cnbench builds (tun, veth, bridge, vxlan, ipip). Their dependencies are added and ordered
/// by [`modules`]. A module the kernel has built in is skipped.
pub const REQUIRED_MODULES: &[&str] = &[
    "virtio_pci",
    "virtio_net",
    "virtio_console",
    "tun",
    "veth",
    "bridge",
    "vxlan",
    "ipip",
];

/// Modules loaded when the kernel has them, not needed to boot: nftables, for the
/// `numgen`-based loss injection that faults use on the namespace substrate.
pub const OPTIONAL_MODULES: &[&str] = &["nf_tables", "nft_numgen"];

/// The busybox applets `/init` runs; each gets a `/bin/<applet>` symlink to busybox (unless a
/// program of the same name is put there). Only these: a program such as iproute2's `ip` must
/// not be shadowed by a busybox applet of the same name (busybox's `ip` cannot make VXLAN).
///
/// Mind that Debian's static busybox is built as a "standalone shell": its `sh` runs its own
/// applet for a bare command name *before* looking at `PATH`, so a script in the VM that says
/// `ip` gets busybox's `ip`, not iproute2's `/bin/ip`. Scripts name programs by full path; a
/// program exec'ing another (`execvp`) is not affected.
pub const INIT_APPLETS: &[&str] = &["sh", "mount", "mkdir", "insmod", "cat", "sleep", "poweroff"];

/// The program `/init` hands over to: `/bin/cnbench agent --listen <port>`.
pub const AGENT_PROGRAM: &str = "cnbench";

/// The name of the virtio-serial port that carries the control channel (QEMU's
/// `virtserialport,name=`; the guest sees it in `/sys/class/virtio-ports/*/name`).
pub const CONTROL_PORT_NAME: &str = "cnbench";

/// Lines `/init` prints to the console, for the host to wait on and tests to check.
pub mod console {
    /// `cnbench-init: loaded <module>`.
    pub const LOADED: &str = "cnbench-init: loaded ";
    /// `cnbench-init: failed <module>` (insmod failed; init goes on).
    pub const FAILED: &str = "cnbench-init: failed ";
    /// `cnbench-init: ready <device>`: modules loaded, control port found.
    pub const READY: &str = "cnbench-init: ready ";
    /// No `/bin/cnbench` in the initramfs: the VM powers off.
    pub const NO_AGENT: &str = "cnbench-init: no agent";
    /// Something fatal happened (the rest of the line says what); the VM powers off.
    pub const FATAL: &str = "cnbench-init: fatal: ";
}

/// A kernel module to put in the initramfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// Module name, with `_` (`virtio_net`).
    pub name: String,
    /// Its file in the module tree (`.ko`, or `.ko.xz`/`.ko.zst`/`.ko.gz`).
    pub path: PathBuf,
}

/// The modules to load, dependencies first: [`REQUIRED_MODULES`] (an error if one is neither
/// a file nor built in) and those of [`OPTIONAL_MODULES`] the kernel has, each preceded by what
/// its `.modinfo` says it `depends=` on, transitively.
///
/// Soft dependencies (`softdep=pre: crc32c`) name aliases, which need `modules.alias` to
/// resolve; they are not followed (those of the modules above are built into Debian's kernels).
pub fn modules(assets: &Assets) -> Result<Vec<Module>> {
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
    let mut roots = Vec::new();
    for name in REQUIRED_MODULES {
        if files.contains_key(*name) {
            roots.push(name.to_string());
        } else if !builtin.contains(*name) {
            return Err(unknown(name));
        }
    }
    roots.extend(
        OPTIONAL_MODULES
            .iter()
            .filter(|n| files.contains_key(**n))
            .map(|n| n.to_string()),
    );
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
        let section = elf_section(&bytes, ".modinfo").ok_or_else(|| HarnessError::Unsupported {
            what: format!("kernel module {} has no .modinfo section", path.display()),
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

/// Writes an uncompressed newc cpio to `out`: busybox (+ symlinks for the applets the init
/// uses), the modules (dependency order), each program in `programs` at /bin/<file name>
/// (stripped copy via `strip -o` if `strip` exists, else plain copy) with every shared library
/// `ldd` names (and the dynamic loader) at the same paths, and an /init script.
///
/// The /init execs `/bin/cnbench agent --listen <control port>` when a program is called
/// `cnbench`, and otherwise prints `cnbench-init: no agent` and powers off.
pub fn build(assets: &Assets, out: &Path, programs: &[PathBuf]) -> Result<()> {
    // Check the programs before writing anything: a bad path is the caller's input.
    let mut names: BTreeMap<String, &Path> = BTreeMap::new();
    for program in programs {
        let name = program
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|_| program.is_file())
            .ok_or_else(|| HarnessError::Unsupported {
                what: format!(
                    "program {} for the VM initramfs is not a file",
                    program.display()
                ),
                fix: "build it first, or pass the path of an existing program".into(),
            })?;
        if name == "busybox" || name == "init" {
            return Err(HarnessError::Unsupported {
                what: format!(
                    "program {} would replace the VM's own /bin/{name}",
                    program.display()
                ),
                fix: "rename it".into(),
            });
        }
        if let Some(other) = names.insert(name.to_string(), program) {
            return Err(HarnessError::Unsupported {
                what: format!(
                    "programs {} and {} would both be /bin/{name} in the VM",
                    other.display(),
                    program.display()
                ),
                fix: "pass only one program of each file name".into(),
            });
        }
    }
    let modules = modules(assets)?;

    let file = File::create(out)
        .map_err(|e| HarnessError::io(format!("create VM initramfs {}", out.display()), e))?;
    let mut cpio = Cpio::new(BufWriter::with_capacity(1 << 20, file));
    let ctx = |what: &str| format!("write VM initramfs {}: {what}", out.display());
    let werr = |what: &str| {
        let c = ctx(what);
        move |e| HarnessError::io(c, e)
    };

    for dir in ["bin", "dev", "proc", "sys", "run", "tmp", "etc"] {
        cpio.dir(dir).map_err(werr(dir))?;
    }
    // The kernel opens /dev/console for init's stdin, stdout and stderr before init runs, in
    // the initramfs as unpacked (devtmpfs is mounted by init only later): without this node
    // init's output goes nowhere.
    cpio.char_device("dev/console", 0o600, 5, 1)
        .map_err(werr("dev/console"))?;

    cpio.file_from("bin/busybox", 0o755, &assets.busybox)
        .map_err(werr("busybox"))?;
    for applet in INIT_APPLETS {
        if !names.contains_key(*applet) {
            cpio.symlink(&format!("bin/{applet}"), "busybox")
                .map_err(werr("busybox applet links"))?;
        }
    }

    let module_dir = format!("lib/modules/{}", assets.kernel_release);
    for m in &modules {
        let bytes = read_module(&m.path)?;
        cpio.file(&format!("{module_dir}/{}.ko", m.name), 0o644, &bytes)
            .map_err(werr(&m.name))?;
    }

    let strip = find_in_path("strip");
    let mut libraries = BTreeSet::new();
    for (name, program) in &names {
        libraries.extend(shared_libraries(program)?);
        let staged = strip
            .as_deref()
            .and_then(|strip| stripped_copy(strip, program, out, name));
        let source = staged.as_ref().map_or(*program, |s| s.0.as_path());
        cpio.file_from(&format!("bin/{name}"), 0o755, source)
            .map_err(werr(&program.display().to_string()))?;
    }
    for lib in &libraries {
        let inside = lib.to_string_lossy();
        // The same path in the VM, where the program's loader and DT_NEEDED look for it.
        // Contents are read through symlinks (libfoo.so.1 -> libfoo.so.1.2.3).
        cpio.file_from(inside.trim_start_matches('/'), 0o755, lib)
            .map_err(werr(&inside))?;
    }

    let names_in_order: Vec<&str> = modules.iter().map(|m| m.name.as_str()).collect();
    let script = init_script(&names_in_order, &format!("/{module_dir}"));
    cpio.file("init", 0o755, script.as_bytes())
        .map_err(werr("init"))?;
    cpio.finish()
        .and_then(|mut w| w.flush())
        .map_err(werr("trailer"))?;
    Ok(())
}

/// The `/init` script (busybox sh), loading `modules` from `module_dir` in this order.
pub fn init_script(modules: &[&str], module_dir: &str) -> String {
    use console::*;
    let list = modules.join(" ");
    format!(
        r#"#!/bin/sh
# /init of a cnbench VM node, written by cnbench (harness/src/vm/initramfs.rs).
# Console lines starting with "cnbench-init:" are read by the host.
export PATH=/bin
fatal() {{
    echo "{FATAL}$*"
    # qemu runs with -no-reboot: powering off (or init exiting, a panic with panic=-1) ends it.
    poweroff -f
    exit 1
}}
mount -t proc proc /proc || fatal "mount /proc"
mount -t sysfs sysfs /sys || fatal "mount /sys"
mount -t devtmpfs devtmpfs /dev || fatal "mount /dev"
mount -t tmpfs tmpfs /run || fatal "mount /run"
mount -t tmpfs tmpfs /tmp || fatal "mount /tmp"
mkdir -p /run/netns || fatal "mkdir /run/netns"

# No modprobe and no modules.dep here: the host put the modules in dependency order.
# A module that fails is reported and the rest still load (the host decides what is fatal).
for m in {list}; do
    if insmod "{module_dir}/$m.ko"; then
        echo "{LOADED}$m"
    else
        echo "{FAILED}$m"
    fi
done

# The control channel: the virtio-serial port QEMU named "{CONTROL_PORT_NAME}". Its name comes
# from the host a moment after the driver binds, and devtmpfs makes its node: wait for both.
dev=
tries=0
while [ -z "$dev" ]; do
    for port in /sys/class/virtio-ports/*; do
        if [ -r "$port/name" ] && [ "$(cat "$port/name")" = "{CONTROL_PORT_NAME}" ] && [ -c "/dev/${{port##*/}}" ]; then
            dev="/dev/${{port##*/}}"
        fi
    done
    if [ -z "$dev" ]; then
        tries=$((tries + 1))
        [ "$tries" -le 200 ] || fatal "no virtio-serial port named {CONTROL_PORT_NAME} after 10 s"
        sleep 0.05
    fi
done
echo "{READY}$dev"

if [ ! -x /bin/{AGENT_PROGRAM} ]; then
    echo "{NO_AGENT}"
    poweroff -f
    exit 1
fi
exec /bin/{AGENT_PROGRAM} agent --listen "$dev"
"#
    )
}

/// Copies `program` stripped of symbols next to `out` (`strip -o`), for a smaller archive; the
/// copy is removed when the returned guard drops. None when it cannot be stripped (not an ELF
/// file, such as a script, or `strip` failed): the program is then copied as it is.
fn stripped_copy(strip: &Path, program: &Path, out: &Path, name: &str) -> Option<TempFile> {
    let mut magic = [0u8; 4];
    File::open(program).ok()?.read_exact(&mut magic).ok()?;
    if &magic != b"\x7fELF" {
        return None;
    }
    let out_name = out.file_name()?.to_string_lossy();
    let tmp = TempFile(out.with_file_name(format!(".{out_name}.{name}.stripped")));
    let ok = Command::new(strip)
        .arg("-o")
        .arg(&tmp.0)
        .arg(program)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    ok.then_some(tmp)
}

/// A file removed when dropped.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// The shared libraries `program` loads, as `ldd` names them, plus its ELF interpreter (the
/// dynamic loader). Empty for a static program or a script.
fn shared_libraries(program: &Path) -> Result<Vec<PathBuf>> {
    let bytes = fs::read(program)
        .map_err(|e| HarnessError::io(format!("read program {}", program.display()), e))?;
    let mut libs = Vec::new();
    match elf_interp(&bytes) {
        // Not an ELF file (a script): its interpreter must be in the initramfs on its own.
        None => return Ok(libs),
        Some(None) => return Ok(libs),
        Some(Some(interp)) => libs.push(PathBuf::from(interp)),
    }
    // By its full path where `PATH` lacks it (sudo, cron).
    let ldd = find_in_path("ldd").unwrap_or_else(|| PathBuf::from("ldd"));
    let output = Command::new(ldd).arg(program).output().map_err(|e| {
        HarnessError::io(
            format!("run `ldd {}` (Debian package libc-bin)", program.display()),
            e,
        )
    })?;
    let text = String::from_utf8_lossy(&output.stdout);
    let found = parse_ldd(&text).map_err(|lib| HarnessError::Unsupported {
        what: format!(
            "program {} needs {lib}, which ldd cannot find",
            program.display()
        ),
        fix: format!(
            "install the library, or use a static build of {}",
            program.display()
        ),
    })?;
    for lib in found {
        if !libs.contains(&lib) {
            libs.push(lib);
        }
    }
    Ok(libs)
}

/// The absolute paths in `ldd` output: `libc.so.6 => /lib/.../libc.so.6 (0x...)` and the
/// loader's `/lib64/ld-linux-x86-64.so.2 (0x...)`; the vDSO has no file. Err names the first
/// library that is `not found`.
pub(crate) fn parse_ldd(text: &str) -> std::result::Result<Vec<PathBuf>, String> {
    let mut libs = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let target = match line.split_once("=>") {
            Some((name, rest)) => {
                let rest = rest.trim();
                if rest.starts_with("not found") {
                    return Err(name.trim().to_string());
                }
                rest
            }
            None => line,
        };
        if let Some(path) = target
            .split_whitespace()
            .next()
            .filter(|p| p.starts_with('/'))
        {
            let path = PathBuf::from(path);
            if !libs.contains(&path) {
                libs.push(path);
            }
        }
    }
    Ok(libs)
}

// ---------------------------------------------------------------------------------------------
// Kernel modules

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
fn read_module(path: &Path) -> Result<Vec<u8>> {
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

// ---------------------------------------------------------------------------------------------
// ELF: just enough to read a module's .modinfo and a program's interpreter.

fn elf_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn elf_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn elf_u64(b: &[u8], at: usize) -> Option<usize> {
    usize::try_from(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?)).ok()
}

/// Whether `b` is a 64-bit little-endian ELF file (what x86-64 modules and programs are).
fn is_elf64le(b: &[u8]) -> bool {
    b.len() >= 64 && b[..4] == *b"\x7fELF" && b[4] == 2 && b[5] == 1
}

/// The contents of the section called `name`.
pub(crate) fn elf_section<'a>(b: &'a [u8], name: &str) -> Option<&'a [u8]> {
    if !is_elf64le(b) {
        return None;
    }
    let shoff = elf_u64(b, 0x28)?;
    let shentsize = usize::from(elf_u16(b, 0x3a)?);
    let shnum = usize::from(elf_u16(b, 0x3c)?);
    let shstrndx = usize::from(elf_u16(b, 0x3e)?);
    let header = |i: usize| -> Option<(usize, usize, usize)> {
        let at = shoff.checked_add(i.checked_mul(shentsize)?)?;
        let name = elf_u32(b, at)? as usize;
        let offset = elf_u64(b, at + 0x18)?;
        let size = elf_u64(b, at + 0x20)?;
        Some((name, offset, size))
    };
    let (_, strtab, strsize) = header(shstrndx)?;
    let strings = b.get(strtab..strtab.checked_add(strsize)?)?;
    (0..shnum).find_map(|i| {
        let (n, offset, size) = header(i)?;
        let rest = strings.get(n..)?;
        let end = rest.iter().position(|c| *c == 0)?;
        (&rest[..end] == name.as_bytes())
            .then(|| b.get(offset..offset.checked_add(size)?))
            .flatten()
    })
}

/// A program's ELF interpreter (`PT_INTERP`): None if `b` is not ELF64, Some(None) if static.
pub(crate) fn elf_interp(b: &[u8]) -> Option<Option<String>> {
    if !is_elf64le(b) {
        return None;
    }
    const PT_INTERP: u32 = 3;
    let phoff = elf_u64(b, 0x20)?;
    let phentsize = usize::from(elf_u16(b, 0x36)?);
    let phnum = usize::from(elf_u16(b, 0x38)?);
    for i in 0..phnum {
        let at = phoff.checked_add(i.checked_mul(phentsize)?)?;
        if elf_u32(b, at)? == PT_INTERP {
            let offset = elf_u64(b, at + 0x08)?;
            let size = elf_u64(b, at + 0x20)?;
            let raw = b.get(offset..offset.checked_add(size)?)?;
            let end = raw.iter().position(|c| *c == 0).unwrap_or(raw.len());
            return Some(Some(String::from_utf8_lossy(&raw[..end]).into_owned()));
        }
    }
    Some(None)
}

/// Whether `b` is an ELF64 program that loads no shared library; None if not ELF64.
pub(crate) fn elf_is_static(b: &[u8]) -> Option<bool> {
    elf_interp(b).map(|interp| interp.is_none())
}

// ---------------------------------------------------------------------------------------------
// cpio, "newc" format (what the kernel's initramfs unpacker reads): a 110-byte ASCII header,
// the NUL-terminated name, padding to 4 bytes, the data, padding to 4 bytes; a TRAILER!!!
// entry ends the archive.

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;

/// A newc cpio writer that adds each entry's parent directories before it, once. All entries
/// belong to root and have mtime 0, so the same inputs give the same bytes.
pub(crate) struct Cpio<W: Write> {
    w: W,
    written: u64,
    next_ino: u32,
    dirs: BTreeSet<String>,
}

impl<W: Write> Cpio<W> {
    pub(crate) fn new(w: W) -> Self {
        Cpio {
            w,
            written: 0,
            next_ino: 1,
            dirs: BTreeSet::new(),
        }
    }

    fn header(
        &mut self,
        name: &str,
        mode: u32,
        nlink: u32,
        size: u32,
        rdev: (u32, u32),
    ) -> io::Result<()> {
        let ino = self.next_ino;
        self.next_ino += 1;
        let header = format!(
            "070701{ino:08x}{mode:08x}{:08x}{:08x}{nlink:08x}{:08x}{size:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            0, 0, 0, 0, 0, rdev.0, rdev.1, name.len() + 1, 0
        );
        self.put(header.as_bytes())?;
        self.put(name.as_bytes())?;
        self.put(&[0])?;
        self.pad()
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.w.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn pad(&mut self) -> io::Result<()> {
        let n = (4 - (self.written % 4) as usize) % 4;
        self.put(&[0u8; 3][..n])
    }

    fn parents(&mut self, name: &str) -> io::Result<()> {
        let mut prefix = String::new();
        let parts: Vec<&str> = name.split('/').collect();
        for part in &parts[..parts.len() - 1] {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            if !self.dirs.contains(&prefix) {
                let dir = prefix.clone();
                self.header(&dir, S_IFDIR | 0o755, 2, 0, (0, 0))?;
                self.dirs.insert(dir);
            }
        }
        Ok(())
    }

    /// A directory (and its parents).
    pub(crate) fn dir(&mut self, name: &str) -> io::Result<()> {
        check_name(name)?;
        self.parents(name)?;
        if self.dirs.insert(name.to_string()) {
            self.header(name, S_IFDIR | 0o755, 2, 0, (0, 0))?;
        }
        Ok(())
    }

    /// A regular file with `data`.
    pub(crate) fn file(&mut self, name: &str, mode: u32, data: &[u8]) -> io::Result<()> {
        check_name(name)?;
        let size = u32::try_from(data.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file over 4 GiB"))?;
        self.parents(name)?;
        self.header(name, S_IFREG | (mode & 0o7777), 1, size, (0, 0))?;
        self.put(data)?;
        self.pad()
    }

    /// A regular file with the contents of `source` (read through symlinks), streamed.
    pub(crate) fn file_from(&mut self, name: &str, mode: u32, source: &Path) -> io::Result<()> {
        check_name(name)?;
        let mut f = File::open(source)?;
        let len = f.metadata()?.len();
        let size = u32::try_from(len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file over 4 GiB"))?;
        self.parents(name)?;
        self.header(name, S_IFREG | (mode & 0o7777), 1, size, (0, 0))?;
        let copied = io::copy(&mut (&mut f).take(len), &mut self.w)?;
        if copied != len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{} shrank while being copied", source.display()),
            ));
        }
        self.written += copied;
        self.pad()
    }

    /// A symbolic link to `target`.
    pub(crate) fn symlink(&mut self, name: &str, target: &str) -> io::Result<()> {
        check_name(name)?;
        self.parents(name)?;
        self.header(name, S_IFLNK | 0o777, 1, target.len() as u32, (0, 0))?;
        self.put(target.as_bytes())?;
        self.pad()
    }

    /// A character device node.
    pub(crate) fn char_device(
        &mut self,
        name: &str,
        mode: u32,
        major: u32,
        minor: u32,
    ) -> io::Result<()> {
        check_name(name)?;
        self.parents(name)?;
        self.header(name, S_IFCHR | (mode & 0o7777), 1, 0, (major, minor))
    }

    /// Writes the trailer and returns the writer.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.header("TRAILER!!!", 0, 1, 0, (0, 0))?;
        Ok(self.w)
    }
}

/// An archive path: relative, no empty or `..` component.
fn check_name(name: &str) -> io::Result<()> {
    if name.is_empty()
        || name.starts_with('/')
        || name.split('/').any(|p| p.is_empty() || p == "..")
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad path {name:?} for the cpio archive"),
        ));
    }
    Ok(())
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
    fn ldd_output_is_parsed() {
        let text = "\tlinux-vdso.so.1 (0x00007ffc)\n\
                    \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\
                    \t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n";
        assert_eq!(
            parse_ldd(text).unwrap(),
            [
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2")
            ]
        );
        assert_eq!(
            parse_ldd("\tnot a dynamic executable\n").unwrap(),
            Vec::<PathBuf>::new()
        );
        assert_eq!(
            parse_ldd("\tlibfoo.so.1 => not found\n").unwrap_err(),
            "libfoo.so.1"
        );
    }

    #[test]
    fn cpio_entries_are_aligned_and_parents_come_first() {
        let mut c = Cpio::new(Vec::new());
        c.file("a/b/c", 0o644, b"hello").unwrap();
        c.symlink("a/l", "b/c").unwrap();
        c.char_device("dev/console", 0o600, 5, 1).unwrap();
        let bytes = c.finish().unwrap();
        assert_eq!(bytes.len() % 4, 0);
        // Walk the archive back.
        let mut at = 0;
        let mut names = Vec::new();
        loop {
            let h = std::str::from_utf8(&bytes[at..at + 110]).unwrap();
            assert_eq!(&h[..6], "070701");
            let field =
                |i: usize| u32::from_str_radix(&h[6 + 8 * i..14 + 8 * i], 16).unwrap() as usize;
            let (mode, size, rmaj, namesize) = (field(1), field(6), field(9), field(11));
            let name = std::str::from_utf8(&bytes[at + 110..at + 110 + namesize - 1])
                .unwrap()
                .to_string();
            at = (at + 110 + namesize).next_multiple_of(4);
            let data = &bytes[at..at + size];
            at = (at + size).next_multiple_of(4);
            if name == "a/b/c" {
                assert_eq!(data, b"hello");
                assert_eq!(mode, (S_IFREG | 0o644) as usize);
            }
            if name == "dev/console" {
                assert_eq!(rmaj, 5);
            }
            names.push(name);
            if names.last().unwrap() == "TRAILER!!!" {
                break;
            }
        }
        assert_eq!(at, bytes.len());
        assert_eq!(
            names,
            [
                "a",
                "a/b",
                "a/b/c",
                "a/l",
                "dev",
                "dev/console",
                "TRAILER!!!"
            ]
        );
        assert!(check_name("/abs").is_err());
        assert!(check_name("a/../b").is_err());
    }

    #[test]
    fn elf_interp_of_this_test_binary() {
        let me = fs::read(std::env::current_exe().unwrap()).unwrap();
        // Rust test binaries on Debian are dynamically linked against glibc.
        let interp = elf_interp(&me)
            .expect("an ELF64 file")
            .expect("dynamically linked");
        assert!(interp.contains("ld-linux"), "{interp}");
        assert_eq!(elf_interp(b"#!/bin/sh\n"), None);
    }
}
