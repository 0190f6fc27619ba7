//! The VM's root file system: one uncompressed `newc` cpio that the kernel unpacks into its
//! rootfs and runs `/init` from.
//!
//! Nothing else is mounted in the VM, so everything a node needs is in here: a static busybox
//! (the shell and the few tools `/init` uses), the kernel modules cnbench needs (there is no
//! `modprobe` and no `modules.dep` in the VM, so `/init` loads each one with `insmod`, in the
//! order that [`modules`](super::modules) computes from each module's `.modinfo`), and the
//! programs of the node (the cnbench binary, iproute2's `ip`, ...) with every shared library
//! they load, at the paths the dynamic loader looks for them.
//!
//! Uncompressed because the kernel unpacks it under emulation: decompressing costs boot time,
//! and the archive only lives in the run's directory on the host. The archive is written with
//! the `cpio` crate; ELF files (a program's interpreter) are read with the `object` crate.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use cpio::newc::{self, ModeFileType};
use object::elf::FileHeader64;
use object::read::elf::{FileHeader, ProgramHeader};
use object::LittleEndian;

use super::assets::{find_in_path, Assets};
use super::modules::read_module;
use crate::error::{HarnessError, Result};

// Kept here so that callers keep saying `initramfs::modules` and `initramfs::REQUIRED_MODULES`.
pub use super::modules::{modules, LinkKinds, Module, OPTIONAL_MODULES, REQUIRED_MODULES};

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

/// Writes an uncompressed newc cpio to `out`: busybox (+ symlinks for the applets the init
/// uses), the modules (dependency order), each program in `programs` at `/bin/<file name>`
/// (stripped copy via `strip -o` if `strip` exists, else plain copy) with every shared library
/// `ldd` names (and the dynamic loader) at the same paths, and an /init script.
///
/// The /init execs `/bin/cnbench agent --listen <control port>` when a program is called
/// `cnbench`, and otherwise prints `cnbench-init: no agent` and powers off.
pub fn build(
    assets: &Assets,
    out: &Path,
    programs: &[PathBuf],
    kinds: LinkKinds<'_>,
) -> Result<()> {
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
    let modules = modules(assets, kinds)?;

    let file = File::create(out)
        .map_err(|e| HarnessError::io(format!("create VM initramfs {}", out.display()), e))?;
    let mut archive = Archive::new(BufWriter::with_capacity(1 << 20, file));
    let ctx = |what: &str| format!("write VM initramfs {}: {what}", out.display());
    let werr = |what: &str| {
        let c = ctx(what);
        move |e| HarnessError::io(c, e)
    };

    for dir in ["bin", "dev", "proc", "sys", "run", "tmp", "etc"] {
        archive.dir(dir).map_err(werr(dir))?;
    }
    // The kernel opens /dev/console for init's stdin, stdout and stderr before init runs, in
    // the initramfs as unpacked (devtmpfs is mounted by init only later): without this node
    // init's output goes nowhere.
    archive
        .char_device("dev/console", 0o600, 5, 1)
        .map_err(werr("dev/console"))?;

    archive
        .file_from("bin/busybox", 0o755, &assets.busybox)
        .map_err(werr("busybox"))?;
    for applet in INIT_APPLETS {
        if !names.contains_key(*applet) {
            archive
                .symlink(&format!("bin/{applet}"), "busybox")
                .map_err(werr("busybox applet links"))?;
        }
    }

    let module_dir = format!("lib/modules/{}", assets.kernel_release);
    for m in &modules {
        let bytes = read_module(&m.path)?;
        archive
            .file(&format!("{module_dir}/{}.ko", m.name), 0o644, &bytes)
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
        archive
            .file_from(&format!("bin/{name}"), 0o755, source)
            .map_err(werr(&program.display().to_string()))?;
    }
    for lib in &libraries {
        let inside = lib.to_string_lossy();
        // The same path in the VM, where the program's loader and DT_NEEDED look for it.
        // Contents are read through symlinks (libfoo.so.1 -> libfoo.so.1.2.3).
        archive
            .file_from(inside.trim_start_matches('/'), 0o755, lib)
            .map_err(werr(&inside))?;
    }

    let names_in_order: Vec<&str> = modules.iter().map(|m| m.name.as_str()).collect();
    let script = init_script(&names_in_order, &format!("/{module_dir}"));
    archive
        .file("init", 0o755, script.as_bytes())
        .map_err(werr("init"))?;
    archive
        .finish()
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
// ELF, read with the `object` crate: a program's interpreter, and whether it has one.

/// A program's ELF interpreter (`PT_INTERP`): None if `b` is not a 64-bit little-endian ELF
/// file (what x86-64 programs are) or cannot be read as one, Some(None) if it has no
/// interpreter (static).
pub(crate) fn elf_interp(b: &[u8]) -> Option<Option<String>> {
    let header = FileHeader64::<LittleEndian>::parse(b).ok()?;
    let endian = header.endian().ok()?;
    for segment in header.program_headers(endian, b).ok()? {
        if let Some(interp) = segment.interpreter(endian, b).ok()? {
            return Some(Some(String::from_utf8_lossy(interp).into_owned()));
        }
    }
    Some(None)
}

/// Whether `b` is an ELF64 program that loads no shared library; None if not ELF64.
pub(crate) fn elf_is_static(b: &[u8]) -> Option<bool> {
    elf_interp(b).map(|interp| interp.is_none())
}

// ---------------------------------------------------------------------------------------------
// The archive: "newc" cpio, what the kernel's initramfs unpacker reads. The `cpio` crate
// writes each entry (header, name, data, padding) and the trailer; this adds what an
// initramfs needs around it.

/// A newc cpio writer that adds each entry's parent directories before it, once, and gives
/// every entry an inode number of its own. All entries belong to root and have mtime 0, so the
/// same inputs give the same bytes.
pub(crate) struct Archive<W: Write> {
    w: W,
    next_ino: u32,
    dirs: BTreeSet<String>,
}

impl<W: Write> Archive<W> {
    pub(crate) fn new(w: W) -> Self {
        Archive {
            w,
            next_ino: 1,
            dirs: BTreeSet::new(),
        }
    }

    /// Writes one entry of type `kind` with permission bits `mode`, then `size` bytes of
    /// `data` (an error if it has fewer). `rdev` is the device number of a device node.
    fn entry(
        &mut self,
        name: &str,
        kind: ModeFileType,
        mode: u32,
        rdev: (u32, u32),
        size: u64,
        data: impl Read,
    ) -> io::Result<()> {
        let size = u32::try_from(size).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{name}: over 4 GiB, more than a newc cpio entry holds"),
            )
        })?;
        let ino = self.next_ino;
        self.next_ino += 1;
        let nlink = if matches!(kind, ModeFileType::Directory) {
            2
        } else {
            1
        };
        let mut w = newc::Builder::new(name)
            .ino(ino)
            .mode(mode & 0o7777)
            .set_mode_file_type(kind)
            .nlink(nlink)
            .rdev_major(rdev.0)
            .rdev_minor(rdev.1)
            .write(&mut self.w, size);
        let copied = io::copy(&mut data.take(u64::from(size)), &mut w)?;
        if copied != u64::from(size) {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{name}: got {copied} of its {size} bytes"),
            ));
        }
        w.finish()?;
        Ok(())
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
                self.entry(
                    &prefix,
                    ModeFileType::Directory,
                    0o755,
                    (0, 0),
                    0,
                    io::empty(),
                )?;
                self.dirs.insert(prefix.clone());
            }
        }
        Ok(())
    }

    /// A directory (and its parents).
    pub(crate) fn dir(&mut self, name: &str) -> io::Result<()> {
        check_name(name)?;
        self.parents(name)?;
        if !self.dirs.contains(name) {
            self.entry(name, ModeFileType::Directory, 0o755, (0, 0), 0, io::empty())?;
            self.dirs.insert(name.to_string());
        }
        Ok(())
    }

    /// A regular file with `data`.
    pub(crate) fn file(&mut self, name: &str, mode: u32, data: &[u8]) -> io::Result<()> {
        check_name(name)?;
        self.parents(name)?;
        self.entry(
            name,
            ModeFileType::Regular,
            mode,
            (0, 0),
            data.len() as u64,
            data,
        )
    }

    /// A regular file with the contents of `source` (read through symlinks), streamed.
    pub(crate) fn file_from(&mut self, name: &str, mode: u32, source: &Path) -> io::Result<()> {
        check_name(name)?;
        let f = File::open(source)?;
        let len = f.metadata()?.len();
        self.parents(name)?;
        self.entry(name, ModeFileType::Regular, mode, (0, 0), len, f)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", source.display())))
    }

    /// A symbolic link to `target`.
    pub(crate) fn symlink(&mut self, name: &str, target: &str) -> io::Result<()> {
        check_name(name)?;
        self.parents(name)?;
        self.entry(
            name,
            ModeFileType::Symlink,
            0o777,
            (0, 0),
            target.len() as u64,
            target.as_bytes(),
        )
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
        self.entry(
            name,
            ModeFileType::Char,
            mode,
            (major, minor),
            0,
            io::empty(),
        )
    }

    /// Writes the trailer and returns the writer.
    pub(crate) fn finish(self) -> io::Result<W> {
        newc::trailer(self.w)
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
        let mut c = Archive::new(Vec::new());
        c.file("a/b/c", 0o644, b"hello").unwrap();
        c.symlink("a/l", "b/c").unwrap();
        c.char_device("dev/console", 0o600, 5, 1).unwrap();
        // Already written as a parent: not written again.
        c.dir("a/b").unwrap();
        let bytes = c.finish().unwrap();
        assert!(bytes.starts_with(b"070701"), "newc, without checksums");
        assert_eq!(bytes.len() % 4, 0);
        // Read the archive back.
        let mut rest: &[u8] = &bytes;
        let mut names = Vec::new();
        let mut inodes = BTreeSet::new();
        loop {
            let mut r = newc::Reader::new(rest).unwrap();
            let e = r.entry().clone();
            let mut data = Vec::new();
            r.read_to_end(&mut data).unwrap();
            rest = r.finish().unwrap();
            if e.is_trailer() {
                break;
            }
            assert!(inodes.insert(e.ino()), "inode {} twice", e.ino());
            assert_eq!((e.uid(), e.gid(), e.mtime()), (0, 0, 0));
            match e.name() {
                "a" | "a/b" | "dev" => assert_eq!(e.mode(), 0o040755),
                "a/b/c" => {
                    assert_eq!(e.mode(), 0o100644);
                    assert_eq!(data, b"hello");
                }
                "a/l" => {
                    assert_eq!(e.mode(), 0o120777);
                    assert_eq!(data, b"b/c");
                }
                "dev/console" => {
                    assert_eq!(e.mode(), 0o020600);
                    assert_eq!((e.rdev_major(), e.rdev_minor()), (5, 1));
                    assert!(data.is_empty());
                }
                other => panic!("unexpected entry {other}"),
            }
            names.push(e.name().to_string());
        }
        assert!(rest.is_empty(), "{} bytes after the trailer", rest.len());
        assert_eq!(names, ["a", "a/b", "a/b/c", "a/l", "dev", "dev/console"]);
        assert!(check_name("/abs").is_err());
        assert!(check_name("a/../b").is_err());
    }

    #[test]
    fn cpio_entry_short_of_its_size_is_an_error() {
        let mut c = Archive::new(Vec::new());
        let err = c
            .entry("f", ModeFileType::Regular, 0o644, (0, 0), 10, &b"abc"[..])
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
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

    #[test]
    fn elf_is_static_of_this_test_binary() {
        let me = fs::read(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(elf_is_static(&me), Some(false));
        assert_eq!(elf_is_static(b"\x7fELF but cut short"), None);
    }
}
