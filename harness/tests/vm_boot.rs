//! A VM node boots for real: QEMU (TCG) inside a fresh network namespace, with an initramfs
//! built by the harness. Needs root and the assets of `cnbench setup vm`; a machine without
//! them fails here with the setup command in the message (no silent skip).

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cnbench_harness::netns::Netns;
use cnbench_harness::process::spawn_in;
use cnbench_harness::vm::initramfs::{self, console};
use cnbench_harness::vm::qemu::connect_control;
use cnbench_harness::vm::{Assets, VmSpec};

/// One VM at a time: two emulated VMs on two cores would slow each other's boot.
static ONE_VM: Mutex<()> = Mutex::new(());

/// Every kind the harness's netlink layer creates (ipip where this VM kernel has it): their
/// modules go into the test VMs.
const ALL_KINDS: initramfs::LinkKinds<'static> = initramfs::LinkKinds {
    required: &["veth", "bridge", "vxlan", "tun"],
    optional: &["ipip"],
};

/// How long a VM may live before the test kills it.
const DEADLINE: Duration = Duration::from_secs(60);

fn assets() -> Assets {
    Assets::locate().unwrap_or_else(|e| panic!("VM assets missing, this test needs them: {e}"))
}

/// The VM's namespace, files and QEMU process; dropping it kills QEMU by its pid, deletes the
/// namespace and the files, whether the test passed or not.
struct Vm {
    netns: String,
    dir: PathBuf,
    child: Option<Child>,
}

impl Vm {
    fn new(tag: &str) -> Vm {
        let id = format!("{}{tag}", std::process::id());
        let dir = std::env::temp_dir().join(format!("cnbench-test-{id}"));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Vm {
            netns: format!("cnb-{id}-vmtest"),
            dir,
            child: None,
        }
    }

    fn spec(&self, assets: &Assets, initramfs: PathBuf) -> VmSpec {
        VmSpec {
            name: "vmtest".into(),
            kernel: assets.kernel.clone(),
            initramfs,
            memory_mib: 256,
            tap: "cnbtap0".into(),
            mac: [0x52, 0x54, 0x00, 0xcb, 0x00, 0x01],
            control: self.dir.join("ctl.sock"),
            console_log: self.dir.join("console.log"),
        }
    }

    /// Starts QEMU in a new namespace; returns the namespace.
    fn start(&mut self, assets: &Assets, spec: &VmSpec) -> Netns {
        let ns = Netns::create(&self.netns).expect("create the test namespace");
        let mut cmd = spec.command(assets);
        cmd.stdout(Stdio::null())
            .stderr(fs::File::create(self.dir.join("qemu.stderr")).unwrap());
        self.child = Some(spawn_in(&ns, cmd, "qemu").expect("spawn qemu"));
        ns
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    fn console(&self) -> String {
        fs::read_to_string(self.dir.join("console.log")).unwrap_or_default()
    }

    fn diagnostics(&self) -> String {
        format!(
            "--- console ---\n{}\n--- qemu stderr ---\n{}",
            self.console(),
            fs::read_to_string(self.dir.join("qemu.stderr")).unwrap_or_default()
        )
    }

    /// Polls until QEMU exits or `DEADLINE` from `t0` passes (then kills it); calls `each`
    /// every 10 ms meanwhile. None if it had to be killed.
    fn wait(&mut self, t0: Instant, mut each: impl FnMut(&Vm)) -> Option<ExitStatus> {
        loop {
            each(self);
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                return Some(status);
            }
            if t0.elapsed() > DEADLINE {
                let child = self.child.as_mut().unwrap();
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            // By pid (Child::kill), never by name.
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Err(e) = Netns::delete(&self.netns) {
            eprintln!("cleanup: {e}");
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Resident set size of `pid` in KiB (VmRSS), 0 when gone.
fn rss_kib(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn boots_loads_every_module_and_powers_off_without_an_agent() {
    let _one = ONE_VM.lock().unwrap_or_else(|e| e.into_inner());
    let assets = assets();
    let kinds = ALL_KINDS;
    let modules = initramfs::modules(&assets, kinds).expect("resolve the modules");
    let names: Vec<&str> = modules.iter().map(|m| m.name.as_str()).collect();
    println!(
        "modules in load order ({}): {}",
        names.len(),
        names.join(" ")
    );
    for required in initramfs::REQUIRED_MODULES.iter().chain(kinds.required) {
        assert!(names.contains(required), "{required} not among {names:?}");
    }

    let mut vm = Vm::new("a");
    let image = vm.dir.join("initramfs.cpio");
    let t = Instant::now();
    initramfs::build(&assets, &image, &[], kinds).expect("build the initramfs");
    println!(
        "initramfs: {} KiB, built in {} ms",
        fs::metadata(&image).unwrap().len() / 1024,
        t.elapsed().as_millis()
    );
    let spec = vm.spec(&assets, image);
    let ns = vm.start(&assets, &spec);
    let t0 = Instant::now();
    let pid = vm.pid();

    let mut tap_seen = false;
    let mut ready_after = None;
    let mut max_rss = 0;
    let status = vm.wait(t0, |vm| {
        if !tap_seen {
            // if_nametoindex asks the calling thread's namespace: the namespace's own thread.
            let name = std::ffi::CString::new(spec.tap.as_str()).unwrap();
            tap_seen = ns
                // SAFETY: `name` is a NUL-terminated string that outlives the call, which
                // only reads it.
                .run_in(|| unsafe { libc::if_nametoindex(name.as_ptr()) } != 0)
                .unwrap();
        }
        if ready_after.is_none() && vm.console().contains(console::READY) {
            ready_after = Some(t0.elapsed());
        }
        max_rss = max_rss.max(rss_kib(pid));
    });
    let ran = t0.elapsed();
    drop(ns);
    let log = vm.console();
    println!("{}", vm.diagnostics());
    let status = status.unwrap_or_else(|| panic!("qemu still ran after {DEADLINE:?}; killed"));
    println!(
        "spawn -> ready line: {:?}; qemu exited after {ran:?} ({status}); peak RSS seen {} MiB",
        ready_after,
        max_rss / 1024
    );

    assert!(tap_seen, "tap {} never appeared in {}", spec.tap, vm.netns);
    for name in &names {
        assert!(
            log.lines()
                .any(|l| l.trim_end() == format!("{}{name}", console::LOADED)),
            "module {name} not loaded"
        );
    }
    assert!(!log.contains(console::FAILED), "a module failed to load");
    let ready = log
        .lines()
        .find_map(|l| l.trim_end().strip_prefix(console::READY))
        .expect("no ready line");
    assert!(ready.starts_with("/dev/vport"), "control port {ready}");
    assert!(log.contains(console::NO_AGENT), "no `no agent` line");
    assert!(!log.contains(console::FATAL));
    assert!(status.success(), "qemu exited with {status}");
    assert!(ran < DEADLINE);
}

/// A stand-in for the agent, named `cnbench`: proves that /init execs
/// `/bin/cnbench agent --listen <port>`, that the port reaches the host's socket both ways, and
/// that iproute2's `ip` (a dynamic program with its libraries) makes every link kind the
/// modules provide. `/bin/ip` by full path: Debian's static busybox `sh` runs its own applets
/// before anything on `PATH`, and busybox's `ip` cannot make every kind. Addresses are from the benchmarking range and the links stay down: no
/// packet leaves the VM.
const AGENT_STANDIN: &str = r#"#!/bin/sh
dev="$3"
read -r hello < "$dev"
{
    echo "argv: $*"
    echo "host said: $hello"
    /bin/ip link add v0 type veth peer name v1 && echo "made veth"
    /bin/ip link add br0 type bridge && echo "made bridge"
    /bin/ip link add x0 type vxlan id 42 dstport 4789 && echo "made vxlan"
    /bin/ip link add t0 type ipip local 198.18.0.1 remote 198.18.0.2 && echo "made ipip"
    /bin/ip tuntap add tp0 mode tun && echo "made tun"
    /bin/ip link show eth0 > /dev/null && echo "has eth0"
    /bin/ip -V
    echo "done"
} > "$dev" 2>&1
poweroff -f
"#;

#[test]
fn init_execs_the_agent_on_the_control_port() {
    let _one = ONE_VM.lock().unwrap_or_else(|e| e.into_inner());
    let assets = assets();
    let mut vm = Vm::new("b");
    let agent = vm.dir.join("cnbench");
    fs::write(&agent, AGENT_STANDIN).unwrap();
    fs::set_permissions(&agent, PermissionsExt::from_mode(0o755)).unwrap();
    let ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.is_file())
        .expect("iproute2's ip (Debian package iproute2)")
        .to_path_buf();
    let image = vm.dir.join("initramfs.cpio");
    initramfs::build(
        &assets,
        &image,
        &[agent, ip],
        // The stand-in makes one link of every kind.
        ALL_KINDS,
    )
    .expect("build the initramfs");

    let spec = vm.spec(&assets, image);
    let _ns = vm.start(&assets, &spec);
    let t0 = Instant::now();
    let mut stream = connect_control(
        &spec.control,
        vm.pid(),
        &spec.console_log,
        Duration::from_secs(10),
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", vm.diagnostics()));
    println!("control socket connected after {:?}", t0.elapsed());
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    std::io::Write::write_all(&mut stream, b"hello from the host\n").unwrap();
    let mut lines = Vec::new();
    for line in BufReader::new(&stream).lines() {
        let line =
            line.unwrap_or_else(|e| panic!("read the control port: {e}\n{}", vm.diagnostics()));
        let done = line == "done";
        lines.push(line);
        if done {
            break;
        }
    }
    println!(
        "agent stand-in said after {:?}:\n  {}",
        t0.elapsed(),
        lines.join("\n  ")
    );
    let status = vm.wait(t0, |_| {});
    println!("{}", vm.diagnostics());
    assert!(
        status.is_some(),
        "qemu did not exit after the stand-in powered off"
    );

    let argv = lines
        .iter()
        .find_map(|l| l.strip_prefix("argv: "))
        .expect("no argv line");
    let port = argv
        .strip_prefix("agent --listen ")
        .unwrap_or_else(|| panic!("argv {argv}"));
    assert!(port.starts_with("/dev/vport"), "argv {argv}");
    assert!(vm.console().contains(&format!("{}{port}", console::READY)));
    for expected in [
        "host said: hello from the host",
        "made veth",
        "made bridge",
        "made vxlan",
        "made ipip",
        "made tun",
        "has eth0",
    ] {
        assert!(
            lines.iter().any(|l| l == expected),
            "no {expected:?} in {lines:?}"
        );
    }
}
