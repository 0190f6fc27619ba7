//! Helpers shared by the end-to-end tests of the `cnbench` binary.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The binary under test.
pub fn cnbench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cnbench"))
}

/// Runs cnbench with `args` and returns its output.
pub fn run(args: &[&str]) -> Output {
    cnbench().args(args).output().expect("cnbench runs")
}

#[allow(unused_imports)] // Not every test file uses it.
pub use harness::process::alive;

/// Exit code of an output.
pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// Stdout and stderr, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Names of every `cnb-*` namespace that exists now.
pub fn cnb_namespaces() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.starts_with("cnb-"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Namespaces of run `id`.
pub fn namespaces_of(id: &str) -> Vec<String> {
    let prefix = format!("cnb-{id}-");
    cnb_namespaces()
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
        .collect()
}

/// The run id from `cnbench run`'s (or `churn`'s) first line (`cnbench run <id>: ...`).
pub fn run_id_of(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix("cnbench run ")
                .or_else(|| l.strip_prefix("cnbench churn "))
                .or_else(|| l.strip_prefix("run "))
        })
        .and_then(|rest| rest.split([':', ' ']).next())
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no run id in output:\n{stdout}"))
}

/// The root namespace's links, addresses, routes and neighbours, as `ip -j` prints them, with
/// fields that change on their own (counters, timers) removed.
pub fn root_netns_snapshot() -> String {
    let mut out = String::new();
    for args in [
        vec!["-j", "link", "show"],
        vec!["-j", "addr", "show"],
        vec!["-j", "route", "show", "table", "all"],
        vec!["-j", "neigh", "show"],
    ] {
        let o = Command::new("ip").args(&args).output().expect("ip runs");
        let mut v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
        scrub(&mut v);
        out.push_str(&v.to_string());
        out.push('\n');
    }
    out
}

fn scrub(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            for k in [
                "stats",
                "stats64",
                "valid_life_time",
                "preferred_life_time",
                "used",
                "confirmed",
                "updated",
                "probes",
                "state",
                "operstate",
            ] {
                m.remove(k);
            }
            for (_, x) in m.iter_mut() {
                scrub(x);
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(scrub),
        _ => {}
    }
}

/// A cnbench child whose stdout is read line by line in the background.
pub struct Running {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl Running {
    /// Starts cnbench with `args`.
    pub fn start(args: &[&str]) -> Running {
        Running::spawn(cnbench().args(args))
    }

    /// Starts cnbench with `args` leading a process group of its own, as a shell starts a
    /// foreground job: [`Running::signal_group`] then does what a Ctrl-C at its terminal does.
    pub fn start_as_job(args: &[&str]) -> Running {
        use std::os::unix::process::CommandExt;
        Running::spawn(cnbench().args(args).process_group(0))
    }

    fn spawn(cmd: &mut Command) -> Running {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cnbench starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// Waits until a line containing `needle` appears; panics after `limit`.
    pub fn wait_for(&mut self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(line) = self.lines.recv_timeout(Duration::from_millis(50)) {
                self.seen.push(line.clone());
                if line.contains(needle) {
                    return line;
                }
            }
        }
        let _ = self.child.kill();
        panic!(
            "no line containing {needle:?} within {limit:?}; saw:\n{}",
            self.seen.join("\n")
        );
    }

    /// Waits for the process to exit (killing it after `limit`) and returns its exit code.
    pub fn wait(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        panic!("cnbench did not exit within {limit:?}");
    }

    /// Takes every line printed so far into `seen` (after [`Running::wait`]: all of them).
    pub fn drain(&mut self) {
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
            self.seen.push(line);
        }
    }

    /// Sends a signal to the process (by pid).
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        let r = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(r, 0, "kill failed");
    }

    /// Sends a signal to the process group it leads ([`Running::start_as_job`]), as a
    /// terminal sends Ctrl-C to its foreground job: to every process still in that group.
    pub fn signal_group(&self, sig: i32) {
        // SAFETY: kill(2) of the group our own child leads (its pid); no memory is involved.
        let r = unsafe { libc::kill(-(self.child.id() as i32), sig) };
        assert_eq!(r, 0, "kill of the group failed");
    }
}

/// Removes what a test's run left, whatever happened (a guard for failing tests).
pub struct Cleanup(pub Vec<String>);
impl Drop for Cleanup {
    fn drop(&mut self) {
        for id in &self.0 {
            if !namespaces_of(id).is_empty()
                || std::path::Path::new(&format!("/run/cnbench/{id}")).exists()
            {
                let _ = run(&["down", id]);
                for ns in namespaces_of(id) {
                    let _ = Command::new("ip").args(["netns", "del", &ns]).status();
                }
                let _ = std::fs::remove_dir_all(format!("/run/cnbench/{id}"));
            }
        }
    }
}

/// Short measurements: tests prove behaviour, benchmarks measure.
pub const SHORT: &[&str] = &["--duration", "0.3", "--warmup", "0.1", "--repeat", "1"];

/// Asserts that nothing of run `id` is left: no namespace, no state directory.
pub fn assert_nothing_left(id: &str) {
    assert!(
        namespaces_of(id).is_empty(),
        "run {id} left {:?}",
        namespaces_of(id)
    );
    assert!(
        !std::path::Path::new(&format!("/run/cnbench/{id}")).exists(),
        "state dir of run {id} left"
    );
}

/// `cnbench run --backend <backend> --json F` with short durations and `extra`: asserts exit
/// 0 and that nothing of the run (nor of its host-net baseline) is left; returns the parsed
/// result and stdout.
pub fn run_ok(backend: &str, extra: &[&str]) -> (reports::RunResult, String) {
    let json = std::env::temp_dir().join(format!(
        "cnbench-test-{backend}-{}-{}.json",
        std::process::id(),
        extra.join("")
    ));
    let mut args = vec![
        "run",
        "--backend",
        backend,
        "--json",
        json.to_str().unwrap(),
    ];
    args.extend_from_slice(SHORT);
    args.extend_from_slice(extra);
    let o = run(&args);
    let stdout = String::from_utf8_lossy(&o.stdout).to_string();
    let id = run_id_of(&stdout);
    let _guard = Cleanup(vec![id.clone()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let result = reports::read_result(&json).expect("result file parses with this schema");
    let _ = std::fs::remove_file(&json);
    assert_nothing_left(&id);
    if let Some(b) = &result.baseline {
        assert_nothing_left(&b.run_id);
    }
    (result, stdout)
}

/// The default workload set, as the result lists it: workload and variant of each case.
pub const FULL_SET: &[(&str, Option<&str>)] = &[
    ("tcp-stream", None),
    ("udp-stream", Some("64 B")),
    ("udp-stream", Some("max payload")),
    ("tcp-rr", None),
    ("udp-rr", None),
    ("tcp-crr", None),
];

/// Asserts that the measurements of `path` cover the full default set with plausible figures
/// and cost attribution filled in, or marked unavailable with a reason (never a bare zero).
#[allow(dead_code)]
pub fn assert_full_measurement(r: &reports::RunResult, path: &str) {
    let cases: Vec<(&str, Option<&str>)> = r
        .measurements
        .iter()
        .filter(|m| m.path == path)
        .map(|m| (m.workload.as_str(), m.variant.as_deref()))
        .collect();
    assert_eq!(cases, FULL_SET, "{path}");
    for m in r.measurements.iter().filter(|m| m.path == path) {
        let what = format!("{} {path}", m.label());
        assert!(!m.repetitions.is_empty(), "{what}: no repetition");
        assert_eq!(m.costs.len(), m.repetitions.len(), "{what}");
        for (metric, s) in m.summary.iter().map(|s| (&s.metric, &s.stats)) {
            assert!(s.median.is_finite(), "{what}: {metric} is {}", s.median);
        }
        let headline = match m.workload.as_str() {
            "tcp-stream" => "throughput_bps",
            "udp-stream" => "packets_per_s",
            _ => "transactions_per_s",
        };
        assert!(
            m.summary_of(headline).unwrap().median > 0.0,
            "{what}: no {headline}"
        );
        if m.workload == "udp-stream" {
            let loss = m.summary_of("loss_percent").unwrap().median;
            assert!((0.0..=100.0).contains(&loss), "{what}: loss {loss}");
        }
        for c in &m.costs {
            // Every figure is there, or unavailable with a reason.
            assert!(c.packets.unwrap_or(0) > 0, "{what}: no packets counted");
            assert!(
                c.machine.is_some() != c.machine_unavailable.is_some(),
                "{what}: machine CPU neither measured nor explained"
            );
            assert!(
                c.device_xmits_per_packet.is_some() != c.device_xmits_unavailable.is_some(),
                "{what}: device transmissions neither measured nor explained"
            );
            assert!(
                c.kernel.is_some() != c.kernel_unavailable.is_some(),
                "{what}: kernel counters neither read nor explained"
            );
            for role in ["client", "server"] {
                let rc = c.roles.iter().find(|x| x.role == role);
                let rc = rc.unwrap_or_else(|| panic!("{what}: no {role} cost"));
                assert!(
                    rc.syscalls_per_packet.is_some() || c.syscalls_unavailable.is_some(),
                    "{what}: {role} syscalls neither counted nor explained"
                );
                assert!(rc.cpu_ns.is_some(), "{what}: {role} CPU missing");
            }
            assert!(
                c.sending_node_crossings_per_packet.is_some() || c.syscalls_unavailable.is_some(),
                "{what}: no sending-node crossings"
            );
        }
        // The traced repetition has the syscall and device-transmission figures.
        let t = &m
            .traced
            .as_ref()
            .unwrap_or_else(|| panic!("{what}: not traced"))
            .cost;
        assert!(t.traced, "{what}");
        assert_eq!(t.syscalls_unavailable, None, "{what}");
        for role in ["client", "server"] {
            let rc = t.roles.iter().find(|x| x.role == role).unwrap();
            assert!(
                rc.syscalls_per_packet.unwrap() > 0.0,
                "{what}: {role} made no syscalls"
            );
        }
        let x = t.device_xmits_per_packet.expect("net:net_dev_xmit counted");
        assert!(x >= 0.9, "{what}: {x} device transmissions per packet");
        let own = t.device_tx_per_packet.expect("device counters read");
        assert!(own >= 0.9, "{what}: {own} device transmissions per packet");
        assert!(t.sending_node_crossings_per_packet.is_some(), "{what}");
    }
}

/// A userspace datapath's measurements: cross-node traffic goes through the daemons
/// (`userspace`), same-node traffic stays on the pod bridge (`kernel`).
pub fn assert_userspace_datapath(r: &reports::RunResult) {
    assert!(!r.measurements.is_empty());
    for m in &r.measurements {
        let want = match m.path.as_str() {
            "cross-node" => "userspace",
            _ => "kernel",
        };
        assert_eq!(m.datapath, want, "{} {}", m.workload, m.path);
    }
}

/// Every check of `r` passed (expected failures count as failures here: the backends these
/// tests run declare none on their default topology); the failures listed otherwise.
pub fn assert_checks_passed(r: &reports::RunResult) {
    let failed: Vec<_> = r
        .checks
        .iter()
        .filter(|c| c.outcome != reports::CheckOutcome::Pass)
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
}
