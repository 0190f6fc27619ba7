//! End-to-end runs of the ipip backend through the `cnbench` binary, as root. On kernels
//! without the ipip module (these machines) the default datapath is the userspace one: a
//! daemon per node with a TUN and a raw IP-protocol-4 socket. It must pass every check on l2
//! and l3, including its own daemon-restart check, report `userspace` as its datapath, and
//! leave neither namespaces nor daemons behind; so must the same daemon with TUN offloads
//! (`--datapath offload`). Asking for the kernel datapath there is bad
//! input: exit 2, one line, nothing created.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{cnb_namespaces, code, namespaces_of, run, text, Cleanup, Running};

use common::SHORT;

/// Whether this kernel can make an ipip device (probed the way cnbench probes).
fn kernel_has_ipip() -> bool {
    harness::detect::probe_link_kinds(&["ipip"])
        .expect("probing needs root: these tests run as root")
        .iter()
        .all(|k| k.result.is_ok())
}

/// Pids of the `cnbench daemon ipip ...` processes whose parent is `parent`.
fn ipip_daemons_of(parent: u32) -> BTreeSet<u32> {
    let mut out = BTreeSet::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the command name (which may hold spaces) start at the last ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) && is_ipip_daemon(pid) {
            out.insert(pid);
        }
    }
    out
}

fn is_ipip_daemon(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| {
            let args: Vec<&[u8]> = c.split(|b| *b == 0).collect();
            args.windows(2)
                .any(|w| w[0] == b"daemon".as_slice() && w[1] == b"ipip".as_slice())
        })
        .unwrap_or(false)
}

/// Runs `cnbench run --backend ipip` with `extra`, watching its daemons; asserts it passed
/// and left nothing; returns the parsed result.
fn run_ipip(label: &str, extra: &[&str]) -> reports::RunResult {
    let json = std::env::temp_dir().join(format!(
        "cnbench-test-ipip-{label}-{}.json",
        std::process::id()
    ));
    let mut args = vec!["run", "--backend", "ipip", "--json", json.to_str().unwrap()];
    args.extend_from_slice(SHORT);
    args.extend_from_slice(extra);
    let mut child = Running::start(&args);
    let first = child.wait_for("cnbench run ", Duration::from_secs(30));
    let id = first
        .strip_prefix("cnbench run ")
        .and_then(|r| r.split(':').next())
        .expect("run id on the first line")
        .to_string();
    let _guard = Cleanup(vec![id.clone()]);
    let parent = child.child.id();
    // Setup is done (every daemon said `ready`) when checking starts; node 0's daemon is
    // replaced by the restart check before measuring starts.
    child.wait_for("== checking", Duration::from_secs(60));
    let mut daemons = ipip_daemons_of(parent);
    assert_eq!(daemons.len(), 2, "one daemon per node: {daemons:?}");
    // `== measuring`, or `== not measuring` when a check failed (the result shows which).
    let measuring = child.wait_for("measuring", Duration::from_secs(60));
    let after_restart = ipip_daemons_of(parent);
    assert_eq!(after_restart.len(), 2, "{after_restart:?}");
    assert_ne!(after_restart, daemons, "node 0's daemon was restarted");
    daemons.extend(after_restart);
    let exit = child.wait(Duration::from_secs(120));

    // Whatever the checks said, nothing of the run may be left.
    assert!(
        namespaces_of(&id).is_empty(),
        "run {id} left {:?}",
        namespaces_of(&id)
    );
    assert!(
        !std::path::Path::new(&format!("/run/cnbench/{id}")).exists(),
        "state dir left"
    );
    let alive: Vec<u32> = daemons
        .iter()
        .copied()
        .filter(|pid| is_ipip_daemon(*pid))
        .collect();
    assert!(alive.is_empty(), "daemons left running: {alive:?}");

    let r = reports::read_result(&json).expect("result file parses with this schema");
    let _ = std::fs::remove_file(&json);
    common::assert_checks_passed(&r);
    assert!(measuring.starts_with("== measuring"), "{measuring}");
    assert_eq!(exit, Some(0), "saw:\n{}", child.seen.join("\n"));
    assert_eq!(r.parameters.backend, "ipip");
    assert_eq!(r.outcome, reports::Outcome::Passed);
    let restart: Vec<_> = r
        .checks
        .iter()
        .filter(|c| c.check == "daemon-restart")
        .collect();
    assert_eq!(restart.len(), 2, "{restart:#?}");
    common::assert_userspace_datapath(&r);
    // tunl0 is a TUN 20 bytes below the underlay on every node.
    for node in r.topology.iter().filter(|n| n.role == "node") {
        let tunl0 = node.devices.iter().find(|d| d.name == "tunl0").unwrap();
        assert_eq!((tunl0.kind.as_str(), tunl0.mtu_bytes), ("tun", 1480));
    }
    r
}

#[test]
fn ipip_userspace_passes_every_check_on_l2() {
    let r = run_ipip("l2", &["--datapath", "userspace"]);
    assert_eq!(r.parameters.underlay, "l2");
    let encap = r.checks.iter().find(|c| c.check == "encap").unwrap();
    assert!(encap.actual.contains("ipip"), "{encap:?}");
}

#[test]
fn ipip_default_datapath_on_l3_crosses_the_router() {
    if kernel_has_ipip() {
        // The default would be the kernel datapath, which this test does not cover.
        eprintln!("NOTE: this kernel has ipip: running the userspace datapath explicitly instead");
        run_ipip("l3", &["--underlay", "l3", "--datapath", "userspace"]);
        return;
    }
    let r = run_ipip("l3", &["--underlay", "l3"]);
    assert_eq!(r.parameters.underlay, "l3");
    let encap = r.checks.iter().find(|c| c.check == "encap").unwrap();
    assert!(
        encap.subject.contains("-rt ") && encap.actual.contains("10.168.1.2 -> 10.168.2.2"),
        "{encap:?}"
    );
}

#[test]
fn kernel_datapath_runs_with_the_module_and_is_refused_without_it() {
    if kernel_has_ipip() {
        // A kernel with the module: the kernel datapath must run and pass.
        let (r, _) = common::run_ok("ipip", &["--datapath", "kernel", "--no-baseline"]);
        assert_eq!(r.outcome, reports::Outcome::Passed);
        assert_eq!(r.parameters.datapath.as_deref(), Some("kernel"));
        return;
    }
    for (datapath, needle) in [
        ("kernel", "lacks the ipip module"),
        // flannel-udp's value: offered by the command line, refused for ipip.
        (
            "batched",
            "--datapath batched: backend ipip takes kernel, userspace",
        ),
    ] {
        let before = cnb_namespaces();
        let o = run(&["run", "--backend", "ipip", "--datapath", datapath]);
        assert_eq!(code(&o), 2, "{}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(needle), "{}", text(&o));
        assert!(
            datapath != "kernel" || err.contains("--datapath userspace"),
            "{}",
            text(&o)
        );
        assert_eq!(err.trim().lines().count(), 1, "not one line\n{}", text(&o));
        assert!(o.stdout.is_empty(), "{}", text(&o));
        // The kernel probe uses a short-lived `cnb-<id>-probe` namespace, deleted at once.
        let new: Vec<_> = cnb_namespaces()
            .into_iter()
            .filter(|n| !before.contains(n) && !n.ends_with("-probe"))
            .collect();
        assert!(new.is_empty(), "--datapath {datapath} created {new:?}");
    }
}

#[test]
fn ipip_offload_passes_every_check_with_under_one_crossing_per_wire_segment() {
    let r = run_ipip(
        "offload",
        &[
            "--datapath",
            "offload",
            "--workloads",
            "tcp-stream,tcp-rr",
            "--no-baseline",
        ],
    );
    assert_eq!(r.parameters.datapath.as_deref(), Some("offload"));
    let encap = r.checks.iter().find(|c| c.check == "encap").unwrap();
    assert!(encap.actual.contains("ipip"), "{encap:?}");
    assert!(r.checks.iter().any(|c| c.check == "pmtu"), "no pmtu check");
    // One TUN read and one sendmmsg carry a whole super-packet: well under one crossing per
    // wire segment on the sending node (the userspace datapath makes about three).
    let m = r
        .measurements
        .iter()
        .find(|m| m.path == "cross-node" && m.workload == "tcp-stream")
        .expect("a cross-node tcp-stream");
    let c = &m.traced.as_ref().expect("a traced repetition").cost;
    let per_segment = c.sending_node_crossings_per_segment.unwrap();
    assert!(
        per_segment < 1.0,
        "{per_segment} crossings per wire segment"
    );
}

#[test]
fn ipip_offload_interoperates_with_a_userspace_peer() {
    // n0 without offloads, n1 with: every check passes across the mixed pair (ICMP and TCP
    // both ways, PMTU, encapsulation, the restart), and a stream is measured from n0 to n1.
    // Its throughput is not asserted: right after the restart check, a userspace ipip
    // sender loses packets for a while (TCP timeouts and hundreds of retransmissions, the
    // same with a userspace peer, so not the offload's doing), which can empty a 300 ms
    // window.
    let r = run_ipip(
        "mixed",
        &[
            "--datapath",
            "userspace",
            "--peer-datapath",
            "offload",
            "--workloads",
            "tcp-stream",
            "--no-baseline",
        ],
    );
    assert_eq!(
        r.parameters
            .backend_options
            .get("peer-datapath")
            .map(String::as_str),
        Some("offload")
    );
    for kind in ["reachability", "encap", "pmtu", "source", "daemon-restart"] {
        assert!(r.checks.iter().any(|c| c.check == kind), "no {kind} check");
    }
    assert!(r
        .measurements
        .iter()
        .any(|m| m.path == "cross-node" && m.workload == "tcp-stream"));
}
