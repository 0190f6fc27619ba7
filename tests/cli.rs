//! The command-line contract: help, `list`, exit codes, and one-line errors for bad input
//! that create nothing; completions, the man page, JSON forms and the version.

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

/// The backends docs/design.md §3 names.
const DESIGN_BACKENDS: [&str; 8] = [
    "host-net",
    "bridge",
    "flannel-udp",
    "vxlan",
    "ipip",
    "host-gw",
    "bgp",
    "cni",
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
    // `list` (run by a parallel test) probes the kernel in a short-lived `cnb-<id>-probe`,
    // and a parallel test's run has its state, owned by a live process, before its first
    // namespace: neither is this command's.
    let new: Vec<_> = after
        .iter()
        .filter(|n| !before.contains(n) && !n.ends_with("-probe") && !owned_by_a_live_run(n))
        .collect();
    assert!(new.is_empty(), "{args:?} created {new:?}");
}

/// Whether namespace `n` (`cnb-<run>-<role>`) belongs to a run whose owner is alive (another
/// test's, in progress).
fn owned_by_a_live_run(n: &str) -> bool {
    let run = n.trim_start_matches("cnb-").split('-').next().unwrap_or("");
    harness::state::RunState::load(run).is_ok_and(|st| st.owner_alive())
}

#[test]
fn bad_input_is_refused_before_anything_exists() {
    refused(
        &["run", "--backend", "nope"],
        "invalid value 'nope' for '--backend <BACKEND>' (possible values: host-net, bridge",
    );
    refused(
        &["run", "--backend", "bridge", "--datapath", "batched"],
        "--datapath is not an option of backend bridge; leave it out",
    );
    refused(
        &["run", "--backend", "vxlan", "--bgp-topology", "rr"],
        "--bgp-topology is not an option of backend vxlan; leave it out",
    );
    refused(
        &["run", "--backend", "flannel-udp", "--datapath", "xdp"],
        "--datapath",
    );
    refused(
        &["scale", "--backend", "vxlan"],
        "--backend vxlan has none to scale; bgp has one",
    );
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
        "invalid value 'udp_stream' for '--workloads <WORKLOADS>' (possible values: tcp-stream, udp-stream, tcp-rr",
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

/// `--help` lists what a flag may be: every backend and workload, and each backend's own
/// options and the faults.
#[test]
fn help_lists_the_values_flags_take() {
    let o = run(&["run", "--help"]);
    let out = String::from_utf8_lossy(&o.stdout);
    for v in DESIGN_BACKENDS
        .iter()
        .chain(&["tcp-stream", "udp-stream", "tcp-rr", "udp-rr", "tcp-crr"])
        .chain(&[
            "faithful",
            "batched",
            "offload",
            "kernel",
            "userspace",
            "mesh",
            "rr",
            "builtin",
            "cni",
        ])
    {
        assert!(
            out.contains(&format!("- {v}:")),
            "run --help lacks {v}:\n{out}"
        );
    }
    let o = run(&["fault", "--help"]);
    let out = String::from_utf8_lossy(&o.stdout);
    for f in [
        "loss",
        "link-flap",
        "node-restart",
        "daemon-restart",
        "vtep-change",
        "speaker-restart",
        "all",
    ] {
        assert!(
            out.contains(&format!("- {f}:")),
            "fault --help lacks {f}:\n{out}"
        );
    }
}

/// `source <(cnbench completions bash)` completes `cnbench run --backend v` to `vxlan`.
#[test]
fn bash_completes_backends() {
    let exe = env!("CARGO_BIN_EXE_cnbench");
    let script = format!(
        r#"source <("{exe}" completions bash)
COMP_WORDS=(cnbench run --backend v); COMP_CWORD=3; COMP_LINE="cnbench run --backend v"
COMP_POINT=${{#COMP_LINE}}
_cnbench cnbench v --backend
printf '%s\n' "${{COMPREPLY[@]}}""#
    );
    let o = std::process::Command::new("bash")
        .args(["-c", &script])
        .output()
        .expect("bash runs");
    let out = String::from_utf8_lossy(&o.stdout);
    let words: Vec<&str> = out.lines().collect();
    assert_eq!(words, ["vxlan"], "{}", text(&o));
    for shell in ["zsh", "fish"] {
        let o = run(&["completions", shell]);
        assert_eq!(code(&o), 0, "{}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("vxlan"),
            "{shell}"
        );
    }
}

/// `cnbench man` is a page `man` renders, naming every command; `--out` writes one per command.
#[test]
fn the_man_page_renders() {
    let dir = std::env::temp_dir().join(format!("cnbench-man-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let o = run(&["man", "--out", dir.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let page = dir.join("cnbench.1");
    let rendered = std::process::Command::new("man")
        .args(["-l", "-P", "cat"])
        .arg(&page)
        .env("MANWIDTH", "100")
        .output()
        .expect("man runs");
    assert!(rendered.status.success(), "{}", text(&rendered));
    let shown = String::from_utf8_lossy(&rendered.stdout);
    assert!(
        shown.contains("NAME") && shown.contains("cnbench"),
        "{shown}"
    );
    for cmd in ["run", "fault", "compare", "completions"] {
        assert!(shown.contains(cmd), "the page lacks {cmd}:\n{shown}");
        assert!(
            dir.join(format!("cnbench-{cmd}.1")).is_file(),
            "no page for {cmd}"
        );
    }
    let o = run(&["man"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with(".ie"),
        "{}",
        text(&o)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `list --json` and `status --json` are JSON on stdout, with what the tables show.
#[test]
fn list_and_status_speak_json() {
    let o = run(&["list", "--json"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("list --json is JSON");
    let names: Vec<&str> = v["backends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, DESIGN_BACKENDS);
    let bgp = &v["backends"][6];
    assert_eq!(bgp["options"][0]["flag"], "bgp-topology");
    assert_eq!(bgp["faults"][0], "speaker-restart");
    assert_eq!(bgp["scales"], true);
    assert_eq!(v["backends"][3]["scales"], false);
    assert_eq!(v["substrates"][0]["name"], "netns");
    let o = run(&["status", "--json"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("status --json is JSON");
    assert!(v.is_array(), "{v}");
}

/// `--version` names the git revision the binary was built from.
#[test]
fn the_version_names_the_revision() {
    let o = run(&["--version"]);
    let out = String::from_utf8_lossy(&o.stdout);
    let rev = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    match rev {
        // Built from this checkout: its revision (possibly an older build's, so only its
        // shape is asserted: 12 hex digits in parentheses).
        Some(_) => {
            let inside = out.split('(').nth(1).and_then(|s| s.split(')').next());
            assert!(
                inside.is_some_and(|r| r.len() == 12 && r.chars().all(|c| c.is_ascii_hexdigit())),
                "{out}"
            );
        }
        None => assert!(out.starts_with("cnbench "), "{out}"),
    }
}

/// `--json -`: the result is the only thing on stdout; the progress goes to stderr.
#[test]
fn json_to_stdout_leaves_stdout_to_the_result() {
    let o = run(&[
        "run",
        "--backend",
        "bridge",
        "--workloads",
        "none",
        "--json",
        "-",
    ]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let r: reports::RunResult = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not a result ({e}): {}", text(&o)));
    assert!(r.checks_passed() && !r.checks.is_empty());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("== checking") && err.contains("checks:"),
        "{err}"
    );
    common::assert_nothing_left(&r.run_id);
}
