//! The command-line contract: help, `list`, exit codes, and one-line errors for bad input
//! that create nothing.

mod common;

use common::{cnb_namespaces, code, run, text};

#[test]
fn help_names_every_command() {
    let o = run(&["--help"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    for cmd in [
        "list", "run", "up", "down", "check", "measure", "scale", "compare", "report", "status",
        "clean", "agent",
    ] {
        assert!(out.contains(cmd), "help lacks {cmd}:\n{out}");
    }
    for internal in ["task", "daemon"] {
        assert!(
            !out.lines().any(|l| l.trim_start().starts_with(internal)),
            "the internal {internal} command is hidden:\n{out}"
        );
    }
}

/// The backends DESIGN.md names.
const DESIGN_BACKENDS: [&str; 7] = [
    "host-net",
    "bridge",
    "flannel-udp",
    "vxlan",
    "ipip",
    "host-gw",
    "bgp",
];

#[test]
fn list_shows_every_backend_of_the_design() {
    let o = run(&["list"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    for b in DESIGN_BACKENDS {
        assert!(
            out.lines().any(|l| l.starts_with(b)),
            "list lacks {b}:\n{out}"
        );
    }
    let status = |name: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_default()
            .to_string()
    };
    // Root can probe the kernel; this kernel has veth, bridge, vxlan and tun, and bird is
    // installed by the test command, so every backend can run here (ipip in userspace).
    for b in DESIGN_BACKENDS {
        assert!(status(b).contains("ready"), "{b} not ready:\n{out}");
    }
    // The test command runs `cnbench setup vm`, so the VM substrate is ready too.
    assert!(out.contains("vm ready (QEMU TCG emulation"), "{out}");
}

#[test]
fn list_says_what_the_vm_substrate_lacks_and_how_to_get_it() {
    // An empty VM directory: no kernel there.
    let dir = std::env::temp_dir().join(format!("cnbench-novm-{}", std::process::id()));
    let o = common::cnbench()
        .arg("list")
        .env("CNBENCH_VM_DIR", &dir)
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("vm unavailable"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.contains("kernel") && l.contains("run `cnbench setup vm`")),
        "{out}"
    );
    assert!(!dir.exists(), "list creates nothing");
}

/// Bad input: exit code 2, one line on stderr that names the problem and the fix, and no
/// namespace created.
fn refused(args: &[&str], needle: &str) {
    let before = cnb_namespaces();
    let o = run(args);
    assert_eq!(code(&o), 2, "{args:?}\n{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(needle),
        "{args:?}: stderr lacks {needle:?}\n{}",
        text(&o)
    );
    assert_eq!(
        err.trim().lines().count(),
        1,
        "{args:?}: not one line\n{}",
        text(&o)
    );
    let after = cnb_namespaces();
    // `list` (run by a parallel test) probes the kernel in a short-lived `cnb-<id>-probe`.
    let new: Vec<_> = after
        .iter()
        .filter(|n| !before.contains(n) && !n.ends_with("-probe"))
        .collect();
    assert!(new.is_empty(), "{args:?} created {new:?}");
}

#[test]
fn bad_input_is_refused_before_anything_exists() {
    refused(
        &["run", "--backend", "nope"],
        "unknown backend \"nope\"; choose one of",
    );
    refused(
        &["run", "--backend", "bridge", "--datapath", "batched"],
        "this backend has one datapath",
    );
    refused(
        &["run", "--backend", "vxlan", "--bgp-topology", "rr"],
        "--bgp-topology applies to the bgp backend only",
    );
    refused(
        &["run", "--backend", "flannel-udp", "--datapath", "xdp"],
        "--datapath",
    );
    refused(&["scale", "--backend", "vxlan"], "only --backend bgp");
    refused(
        &["run", "--backend", "host-net", "--nodes", "0"],
        "--nodes 0: a topology needs at least 1 node",
    );
    refused(
        &[
            "run",
            "--backend",
            "host-net",
            "--pod-cidr",
            "10.168.0.0/16",
        ],
        "overlaps",
    );
    refused(
        &[
            "run",
            "--backend",
            "host-net",
            "--underlay",
            "l3",
            "--underlay-cidr",
            "10.1.0.0/24,10.1.0.0/25",
        ],
        "overlaps",
    );
    refused(
        &["run", "--backend", "bridge", "--nodes", "2"],
        "single-node",
    );
    refused(
        &["run", "--backend", "bridge", "--pods-per-node", "1"],
        "at least 2 pods",
    );
    refused(
        &["run", "--backend", "host-net", "--underlay", "none"],
        "--underlay l2 or l3",
    );
    refused(
        &["run", "--backend", "host-net", "--mtu", "100"],
        "--mtu 100",
    );
    refused(
        &["run", "--backend", "host-net", "--workloads", "udp_stream"],
        "unknown workload `udp_stream`; valid workloads: tcp-stream, udp-stream, tcp-rr",
    );
    refused(
        &[
            "run",
            "--backend",
            "host-net",
            "--generator",
            "iperf3",
            "--workloads",
            "tcp-crr",
        ],
        "--generator iperf3 cannot run it; it runs tcp-stream, udp-stream",
    );
    refused(
        &[
            "run",
            "--backend",
            "host-net",
            "--generator",
            "sockperf",
            "--workloads",
            "tcp-stream",
        ],
        "it runs tcp-rr, udp-rr",
    );
    refused(
        &[
            "run",
            "--backend",
            "host-net",
            "--workloads",
            "udp-stream",
            "--message-size",
            "70000",
        ],
        "--message-size 70000: use 16 to 65507 bytes",
    );
    refused(
        &[
            "run",
            "--backend",
            "host-net",
            "--workloads",
            "udp-rr,tcp-rr",
            "--message-size",
            "8",
        ],
        "--message-size 8: use 16 to 65507 bytes",
    );
    refused(
        &["run", "--backend", "host-net", "--streams", "0"],
        "--streams 0",
    );
    refused(
        &["run", "--backend", "host-net", "--duration", "0"],
        "--duration 0",
    );
    refused(
        &[
            "run",
            "--backend",
            "bridge",
            "--json",
            "/nonexistent-dir/out.json",
        ],
        "/nonexistent-dir/out.json",
    );
    refused(&["check", "zzzzzz"], "no run \"zzzzzz\"");
    refused(&["down", "zzzzzz"], "no run \"zzzzzz\"");
}

/// clap's own errors are one line too: the problem, the values to choose from, and the help
/// to read.
#[test]
fn clap_errors_exit_2() {
    refused(
        &["run"],
        "error: the following required arguments were not provided: --backend <BACKEND>; \
         see `cnbench run --help`",
    );
    refused(
        &["run", "--backend", "bridge", "--underlay", "l4"],
        "error: invalid value 'l4' for '--underlay <UNDERLAY>' (possible values: none, l2, \
         l3); see `cnbench run --help`",
    );
    refused(
        &["run", "--backend", "bridge", "--pod-cidr", "banana"],
        "error: invalid value 'banana' for '--pod-cidr <CIDR>': not an IPv4 network: write \
         ADDRESS/PREFIX, prefix 0 to 32 (100.96.0.0/16); see `cnbench run --help`",
    );
    refused(&["scale", "--bogus"], "see `cnbench scale --help`");
}
