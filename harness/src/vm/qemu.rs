//! The QEMU command line of one VM node, and the connection to its control channel.

use std::io;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::assets::Assets;
use super::initramfs::CONTROL_PORT_NAME;
use crate::error::{HarnessError, Result};

/// Size of QEMU's TCG translation cache, in MiB. The default (1 GiB on 64-bit hosts) fills
/// with translated code as the guest runs and is never given back (docs/machine-notes.md "VMs (qemu) as nodes": a smaller
/// cache, a lower RSS). Measured here to the ready line: 64 MiB -> 223 MiB RSS, 32 -> 208,
/// 16 -> 191. When the cache is full QEMU flushes it and translates again, which costs time
/// in a long run, so not smaller than 32.
pub const TB_SIZE_MIB: u32 = 32;

/// Kernel command line. `console=ttyS0`: the console is the serial port QEMU writes to the
/// console log. `panic=-1`: reboot at once on a panic (init exiting is one), which `-no-reboot`
/// turns into QEMU exiting. `quiet`: only warnings and errors reach the console, which keeps
/// the slow emulated UART out of the boot time. `nokaslr`: the kernel runs where it was
/// decompressed instead of copying itself to a random address, which left about 21 MiB more
/// guest memory touched (and so host RSS) on every VM; address randomisation protects nothing
/// in a throwaway test VM.
pub const KERNEL_CMDLINE: &str = "console=ttyS0 panic=-1 quiet nokaslr";

/// One VM node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmSpec {
    /// Node name (`n0`): QEMU's `-name`, shown in `ps` and in error messages.
    pub name: String,
    /// Kernel image to boot (usually [`Assets::kernel`]).
    pub kernel: PathBuf,
    /// Initramfs built by [`initramfs::build`](super::initramfs::build).
    pub initramfs: PathBuf,
    /// Guest memory in MiB (the initramfs is unpacked into it: leave room).
    pub memory_mib: u32,
    /// Name of the tap device QEMU creates for the VM's NIC, in the namespace QEMU runs in.
    pub tap: String,
    /// The NIC's MAC address.
    pub mac: [u8; 6],
    /// Unix socket QEMU listens on for the control channel (the guest's `cnbench` port).
    pub control: PathBuf,
    /// File the VM's serial console is written to.
    pub console_log: PathBuf,
}

impl VmSpec {
    /// The QEMU command line for this node.
    ///
    /// The caller spawns it inside the run's hub namespace (`process::spawn_in`), so the tap is
    /// created there and never in the root namespace. The tap is left down and unattached:
    /// the caller puts it on a bridge and sets it up. QEMU's own errors (a bad option, a tap it
    /// cannot create) go to its stderr, which the caller should capture; the guest's console
    /// goes to [`VmSpec::console_log`]. Standard input is closed.
    ///
    /// The child is also spawned with transparent huge pages disabled for it
    /// (`PR_SET_THP_DISABLE`, inherited across exec): QEMU asks for huge pages on guest RAM,
    /// and a huge page is backed in full however little of it the guest touches
    /// (docs/machine-notes.md "VMs (qemu) as nodes": 240 MB with THP, 185 without; here 7–10 MiB per VM at boot).
    pub fn command(&self, assets: &Assets) -> Command {
        let mut cmd = Command::new(&assets.qemu);
        cmd.arg("-name").arg(qemu_value(&self.name));
        // TCG (software emulation), never KVM: this host's /dev/kvm is a paravirtual variant
        // on which a stock Debian kernel dies with emulation failures
        // (docs/machine-notes.md "VMs (qemu) as nodes"). `-cpu max` gives the guest every CPU
        // feature TCG can emulate.
        cmd.arg("-machine").arg("pc");
        cmd.arg("-accel").arg(format!("tcg,tb-size={TB_SIZE_MIB}"));
        cmd.args(["-cpu", "max", "-smp", "1"]);
        cmd.arg("-m").arg(self.memory_mib.to_string());
        // No default devices (VGA, floppy, CD-ROM, default NIC, monitor, serial): only what is
        // listed below exists. No window and no stdio console (-nographic already implies
        // -display none; said twice so no QEMU default can bring a display back); exit
        // instead of rebooting.
        cmd.args([
            "-nodefaults",
            "-nographic",
            "-display",
            "none",
            "-no-reboot",
        ]);
        // qboot, when present, is a minimal firmware that jumps straight to the kernel: under
        // emulation it saves the time SeaBIOS spends initialising hardware nobody uses.
        if let Some(qboot) = qboot(&assets.qemu) {
            cmd.arg("-bios").arg(qboot);
        }
        cmd.arg("-kernel").arg(&self.kernel);
        cmd.arg("-initrd").arg(&self.initramfs);
        cmd.arg("-append").arg(KERNEL_CMDLINE);
        cmd.arg("-serial").arg(format!(
            "file:{}",
            qemu_value(&self.console_log.to_string_lossy())
        ));
        cmd.arg("-netdev").arg(format!(
            "tap,id=net0,ifname={},script=no,downscript=no",
            qemu_value(&self.tap)
        ));
        // romfile= (empty): no iPXE boot ROM; nothing boots from the network, and without it
        // QEMU needs no ipxe-qemu package either.
        cmd.arg("-device").arg(format!(
            "virtio-net-pci,netdev=net0,mac={},romfile=",
            mac_string(&self.mac)
        ));
        // The control channel: a virtio-serial port the guest finds by name; QEMU listens on
        // the unix socket (wait=off: it boots without waiting for the host to connect).
        cmd.arg("-chardev").arg(format!(
            "socket,id=ctl,path={},server=on,wait=off",
            qemu_value(&self.control.to_string_lossy())
        ));
        cmd.args(["-device", "virtio-serial-pci"]);
        cmd.arg("-device").arg(format!(
            "virtserialport,chardev=ctl,name={CONTROL_PORT_NAME}"
        ));
        cmd.stdin(Stdio::null());
        // SAFETY: runs in the forked child before exec; prctl is async-signal-safe and the
        // closure allocates nothing. Other pre_exec hooks (process::spawn_in's setns) still run.
        unsafe {
            cmd.pre_exec(|| {
                // Best effort: an old kernel without PR_SET_THP_DISABLE only costs memory.
                libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
                Ok(())
            });
        }
        cmd
    }
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn mac_string(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A value inside a QEMU `key=value,...` option: commas are doubled, QEMU's escape.
fn qemu_value(s: &str) -> String {
    s.replace(',', ",,")
}

/// QEMU's qboot firmware image, shipped beside its other firmware (`/usr/share/qemu`).
fn qboot(qemu: &Path) -> Option<PathBuf> {
    let prefix = qemu.parent()?.parent()?;
    [
        prefix.join("share/qemu/qboot.rom"),
        PathBuf::from("/usr/share/qemu/qboot.rom"),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

/// Connects to the VM's control socket, retrying until `timeout` has passed (QEMU creates the
/// socket when it starts, a moment after the spawn); returns the stream.
///
/// Fails early, naming the VM's socket and pointing at its console log, when QEMU (`qemu_pid`,
/// the caller's child) has exited; and when the socket never appears.
pub fn connect_control(
    path: &Path,
    qemu_pid: u32,
    console_log: &Path,
    timeout: Duration,
) -> Result<UnixStream> {
    let deadline = Instant::now() + timeout;
    let what = || format!("VM control socket {} (qemu pid {qemu_pid})", path.display());
    loop {
        let err = match UnixStream::connect(path) {
            Ok(stream) => return Ok(stream),
            Err(e) => e,
        };
        // Not there yet (NotFound) or not listening yet (ConnectionRefused) is expected while
        // QEMU starts; anything else (a permission problem) will not go away by waiting.
        let transient = matches!(
            err.kind(),
            io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
        );
        if !transient {
            return Err(HarnessError::io(format!("connect to {}", what()), err));
        }
        if !crate::process::alive(qemu_pid) {
            return Err(HarnessError::io(
                what(),
                io::Error::other(format!(
                    "qemu exited before the socket could be connected; see its stderr and the \
                     console log {}{}",
                    console_log.display(),
                    console_tail(console_log)
                )),
            ));
        }
        if Instant::now() >= deadline {
            return Err(HarnessError::io(
                what(),
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "no socket after {:.1} s though qemu still runs; see the console log {}{}",
                        timeout.as_secs_f64(),
                        console_log.display(),
                        console_tail(console_log)
                    ),
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The last lines of a console log, formatted to end an error message ("" if none).
fn console_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return String::new();
    }
    let tail = &lines[lines.len().saturating_sub(5)..];
    format!("; it ends with:\n  {}", tail.join("\n  "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assets() -> Assets {
        Assets {
            qemu: "/usr/bin/qemu-system-x86_64".into(),
            kernel: "/k/vmlinuz".into(),
            modules_dir: "/k/modules".into(),
            kernel_release: "6.1.0-1-cloud-amd64".into(),
            busybox: "/bin/busybox".into(),
        }
    }

    #[test]
    fn command_line_has_the_devices_and_escapes_commas() {
        let spec = VmSpec {
            name: "n0".into(),
            kernel: "/k/vmlinuz".into(),
            initramfs: "/run/x/n0.cpio".into(),
            memory_mib: 256,
            tap: "tap-n0".into(),
            mac: [0x52, 0x54, 0, 0x12, 0x34, 0xab],
            control: "/run/x/a,b.sock".into(),
            console_log: "/run/x/n0.console".into(),
        };
        let cmd = spec.command(&assets());
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let line = args.join(" ");
        assert!(line.contains("-accel tcg,tb-size="), "{line}");
        assert!(!line.contains("kvm"), "{line}");
        assert!(line.contains("-netdev tap,id=net0,ifname=tap-n0,script=no,downscript=no"));
        assert!(line.contains("virtio-net-pci,netdev=net0,mac=52:54:00:12:34:ab"));
        assert!(line.contains("socket,id=ctl,path=/run/x/a,,b.sock,server=on,wait=off"));
        assert!(line.contains("virtserialport,chardev=ctl,name=cnbench"));
        assert!(line.contains("-serial file:/run/x/n0.console"));
        assert!(line.contains("-m 256"));
        assert!(line.contains("panic=-1"));
    }

    #[test]
    fn connect_fails_fast_when_qemu_is_gone() {
        // A pid that cannot exist (above pid_max's maximum).
        let err = connect_control(
            Path::new("/nonexistent/ctl.sock"),
            u32::MAX - 1,
            Path::new("/nonexistent/console.log"),
            Duration::from_secs(5),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("qemu exited"), "{err}");
        assert!(err.contains("/nonexistent/console.log"), "{err}");
    }
}
