//! The VM substrate end to end: a QEMU VM per node (TCG emulation), the backend, its checks
//! and a workload across them (and pod churn), then nothing left: no namespace, no state, no
//! QEMU.
//! Needs what `cnbench setup vm` installs (ci/test.sh runs it).

mod common;

use std::time::Duration;

use common::{assert_nothing_left, code, run, run_id_of, text, Cleanup, Running, SHORT};

/// Pids of QEMU processes whose command line names run `id`'s directory.
fn qemus_of(id: &str) -> Vec<u32> {
    let needle = format!("/run/cnbench/{id}/");
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(&needle))
                .unwrap_or(false)
        })
        .collect()
}

fn vm_run(backend: &str) -> (reports::RunResult, String) {
    vm_run_with(backend, &[])
}

fn vm_run_with(backend: &str, extra: &[&str]) -> (reports::RunResult, String) {
    let mut args = vec!["run", "--backend", backend, "--substrate", "vm"];
    args.extend_from_slice(&["--workloads", "tcp-rr"]);
    args.extend_from_slice(SHORT);
    args.extend_from_slice(extra);
    succeeds(&args)
}

/// Runs cnbench with `args` and a result file; asserts exit 0 and that nothing of the run is
/// left (namespaces, state, QEMU); returns the result and stderr.
fn succeeds(args: &[&str]) -> (reports::RunResult, String) {
    let json = std::env::temp_dir().join(format!(
        "cnbench-vm-{}-{}.json",
        args.join("").replace('/', ""),
        std::process::id()
    ));
    let mut args = args.to_vec();
    args.extend_from_slice(&["--json", json.to_str().unwrap()]);
    let o = run(&args);
    let stdout = String::from_utf8_lossy(&o.stdout).to_string();
    let id = run_id_of(&stdout);
    let _guard = Cleanup(vec![id.clone()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_nothing_left(&id);
    assert!(qemus_of(&id).is_empty(), "QEMU of run {id} still runs");
    // Read as every reader does: schema version checked first.
    let r = reports::read_result(&json).expect("result parses");
    let _ = std::fs::remove_file(&json);
    (r, String::from_utf8_lossy(&o.stderr).to_string())
}

fn assert_emulated(r: &reports::RunResult) {
    assert_eq!(r.substrate.kind, reports::SubstrateKind::Vm);
    assert!(r.substrate.emulated);
    assert_eq!(r.substrate.accel, "tcg");
    assert!(
        r.substrate.kernel_release.contains("cloud-amd64"),
        "{:?}",
        r.substrate
    );
    assert!(r.checks_passed());
    assert!(
        !r.measurements.is_empty(),
        "the workload ran across the VMs"
    );
}

#[test]
fn ipip_runs_across_vms_with_the_kernels_ipip_device() {
    let (r, stderr) = vm_run("ipip");
    assert_emulated(&r);
    // This machine has no ipip module; the VMs' kernel does, and the result says which ran.
    assert_eq!(r.parameters.datapath.as_deref(), Some("kernel"), "{stderr}");
    assert!(
        r.checks
            .iter()
            .any(|c| c.check == "encap" && c.actual.contains("ipip")),
        "IPIP on the wire between the VMs"
    );
    assert!(stderr.contains("ready in"), "{stderr}");
}

#[test]
fn vxlan_runs_across_vms() {
    let (r, _) = vm_run("vxlan");
    assert_emulated(&r);
    assert!(r
        .checks
        .iter()
        .any(|c| c.check == "encap" && c.actual.contains("udp dport 8472")));
}

#[test]
fn dual_stack_vxlan_runs_across_vms_with_ipv6_probes_through_the_agents() {
    // The VMs' own kernel does the IPv6 (DAD, NDP, the IPv6 VTEP); the harness probes and
    // reads it through each node's agent.
    let (r, _) = vm_run_with("vxlan", &["--ip-family", "dual"]);
    assert_emulated(&r);
    assert_eq!(r.parameters.ip_family(), "dual");
    assert!(r.checks.iter().any(|c| c.check == "encap"
        && c.actual
            .contains("fd00:10:168::1 -> fd00:10:168::2 udp dport 8472")));
    assert!(r.measurements.iter().any(|m| m.path == "cross-node ipv6"));
}

#[test]
fn bgp_runs_across_vms_with_bird_in_every_node_and_the_border_router_here() {
    // l3: the router's BIRD runs in the hub namespace on this machine, the nodes' in their VMs.
    let (r, stderr) = vm_run_with("bgp", &["--underlay", "l3"]);
    assert_emulated(&r);
    let of = |check: &str| {
        r.checks
            .iter()
            .filter(|c| c.check == check)
            .collect::<Vec<_>>()
    };
    let sessions = of("bgp-sessions");
    assert_eq!(sessions.len(), 3, "n0, n1 and the router: {stderr}");
    for check in ["convergence", "bgp-withdraw", "bgp-restore"] {
        assert!(!of(check).is_empty(), "{check} ran: {stderr}");
    }
    // A route BIRD put into a VM node's kernel, read back over the agent.
    assert!(
        of("routes").iter().any(|c| c.actual.contains("proto bird")),
        "{:?}",
        of("routes")
    );
}

#[test]
fn sigint_while_vms_boot_ends_every_qemu() {
    let mut r = Running::start(&[
        "run",
        "--backend",
        "vxlan",
        "--substrate",
        "vm",
        "--workloads",
        "none",
    ]);
    let line = r.wait_for("cnbench run", Duration::from_secs(60));
    let id = run_id_of(&line);
    let _guard = Cleanup(vec![id.clone()]);
    // Wait until QEMU runs, then interrupt.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while qemus_of(&id).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!qemus_of(&id).is_empty(), "QEMU started");
    r.signal(libc::SIGINT);
    assert_eq!(r.wait(Duration::from_secs(60)), Some(130));
    assert!(qemus_of(&id).is_empty(), "every QEMU ended");
    assert_nothing_left(&id);
}

#[test]
fn a_vm_node_restart_is_a_reboot_and_the_datapath_recovers() {
    let (r, _) = succeeds(&[
        "fault",
        "--backend",
        "vxlan",
        "--substrate",
        "vm",
        "--fault",
        "node-restart",
    ]);
    assert!(r.substrate.emulated);
    let f = &r.faults[0];
    assert!(f.outcome.passed(), "{f:?}");
    // Every VM's clock is set from its RTC, whole seconds only: each node's offset was read
    // (the rebooted one after its reboot) and the probe times were put on this clock.
    let nodes: Vec<&str> = f.probe_clocks.iter().map(|c| c.node.as_str()).collect();
    assert_eq!(nodes, ["n0", "n1"], "{:?}", f.probe_clocks);
    for c in &f.probe_clocks {
        assert!(c.uncertainty_ns < 200_000_000, "{c:?}");
    }
}

#[test]
fn every_other_backend_passes_its_checks_across_vms() {
    for backend in ["bridge", "host-net", "flannel-udp", "host-gw"] {
        let (r, stderr) = succeeds(&[
            "run",
            "--backend",
            backend,
            "--substrate",
            "vm",
            "--workloads",
            "none",
        ]);
        assert!(r.substrate.emulated, "{backend}");
        assert!(r.checks_passed(), "{backend}: {stderr}");
        assert!(!r.checks.is_empty(), "{backend}");
    }
}

#[test]
fn sigint_while_measuring_across_vms_tears_everything_down() {
    let mut r = Running::start(&[
        "run",
        "--backend",
        "ipip",
        "--substrate",
        "vm",
        "--workloads",
        "tcp-stream",
        "--duration",
        "30",
        "--no-baseline",
    ]);
    let line = r.wait_for("cnbench run", Duration::from_secs(60));
    let id = run_id_of(&line);
    let _guard = Cleanup(vec![id.clone()]);
    r.wait_for("== measuring", Duration::from_secs(120));
    std::thread::sleep(Duration::from_secs(2));
    r.signal(libc::SIGINT);
    assert_eq!(r.wait(Duration::from_secs(60)), Some(130));
    assert!(qemus_of(&id).is_empty(), "every QEMU ended");
    assert_nothing_left(&id);
}

/// A CNI chain whose kernel feature the machine's own kernel may lack (ipvlan) runs on the
/// VM's Debian kernel, the plugin binaries carried into the VM image; so does macvlan, and a
/// chain wiring vxlan's pods on every node.
#[test]
fn cni_chains_run_across_vms_with_the_plugins_in_the_image() {
    let conf = |name: &str| {
        format!(
            "{}/examples/cni/{name}.conflist",
            env!("CARGO_MANIFEST_DIR")
        )
    };
    for (backend, file, extra) in [
        ("cni", "ipvlan", vec!["--underlay", "l2"]),
        ("cni", "macvlan", vec!["--underlay", "l2"]),
        ("vxlan", "cbr0", vec!["--pod-wiring", "cni"]),
    ] {
        let c = conf(file);
        let mut args = extra.clone();
        args.extend_from_slice(&["--cni-conf", &c]);
        let (r, _) = vm_run_with(backend, &args);
        assert_emulated(&r);
        common::assert_checks_passed(&r);
        // The plugins ran from the VM image, and said which versions they speak.
        let plugins: Vec<_> = r
            .components
            .iter()
            .filter(|c| c.role == "cni-plugin")
            .collect();
        assert!(!plugins.is_empty(), "{file}: {:?}", r.components);
        for p in plugins {
            assert!(
                p.path.as_deref().is_some_and(|x| x.starts_with("/bin/")),
                "{file}: {p:?}"
            );
            assert!(!p.supported_versions.is_empty(), "{file}: {p:?}");
        }
        assert!(
            r.checks.iter().any(|c| c.check == "interface"),
            "{file}: the results' interfaces were checked"
        );
    }
}

/// Pods churn across VMs with each observer's prober inside its VM (started through the
/// node's agent): every pod wired, reached from both observers, removed and silent, every
/// leak check passed (the run's namespaces listed inside the VMs), nothing left.
#[test]
fn pods_churn_across_vms_with_the_prober_in_each_observers_vm() {
    let (r, _) = succeeds(&[
        "churn",
        "--backend",
        "vxlan",
        "--substrate",
        "vm",
        "--pods",
        "4",
        "--concurrency",
        "2",
        "--cycles",
        "2",
    ]);
    assert_eq!(r.substrate.kind, reports::SubstrateKind::Vm);
    assert!(r.checks_passed(), "{:#?}", r.checks);
    assert!(r.checks.iter().any(|c| c.check == "leak"));
    let samples: Vec<&reports::ChurnSample> = r
        .measurements
        .iter()
        .flat_map(|m| &m.repetitions)
        .map(|s| match s {
            reports::Sample::Churn(c) => c,
            other => panic!("a churn measurement holds {other:?}"),
        })
        .collect();
    assert_eq!(samples.len(), 2);
    for s in samples {
        assert_eq!((s.failed_adds, s.never_reachable), (0, 0), "{s:?}");
        assert_eq!(s.times.len(), 4);
        for t in &s.times {
            assert!(t.wired_ns.is_some() && t.removed_ns.is_some(), "{t:?}");
            assert!(t.reachable_ns.is_some() && t.reachable_same_node_ns.is_some());
            assert!(t.unreachable_ns.is_some(), "{t:?}");
        }
        // The daemons' and the machine's CPU are other machines': left out.
        assert!(s.cpu_machine_ns_per_pod.is_none(), "{s:?}");
    }
}
