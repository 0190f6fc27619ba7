//! `cnbench cni-check`: the CNI plugin contract, with the reference plugins (every example of
//! `examples/cni/` passes, the dual-stack one on `--ip-family dual`; GC and STATUS, which they
//! do not speak, are not applicable with the reason) and with `cni-rulebreaker`, a plugin
//! written for these tests that speaks 1.1.0 and breaks one rule on request (each mode fails
//! exactly the checks it breaks, with evidence, and the JUnit file names them). Nothing is
//! left after any mode. Needs root.

mod common;

use std::path::{Path, PathBuf};

use common::{code, run, run_id_of, text, Cleanup};
use reports::{CheckOutcome, RunResult};

/// A scratch directory for a test's files, removed at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let d = std::env::temp_dir().join(format!("cnbench-cc-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }

    fn file(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What one `cnbench cni-check` gave: exit code, the result, the JUnit XML, the output.
struct Checked {
    code: i32,
    result: Option<RunResult>,
    junit: String,
    text: String,
}

/// Runs `cnbench cni-check --cni-conf conf` with `extra`, asserting nothing of the run is
/// left.
fn cni_check(dir: &Scratch, conf: &str, extra: &[&str]) -> Checked {
    let (json, junit) = (dir.file("result.json"), dir.file("junit.xml"));
    let mut args = vec![
        "cni-check",
        "--cni-conf",
        conf,
        "--json",
        &json,
        "--junit",
        &junit,
    ];
    args.extend_from_slice(extra);
    let o = run(&args);
    let stdout = String::from_utf8_lossy(&o.stdout).to_string();
    if stdout.contains("cnbench cni-check ") {
        let id = run_id_of(&stdout.replace("cnbench cni-check ", "cnbench run "));
        let _guard = Cleanup(vec![id.clone()]);
        common::assert_nothing_left(&id);
    }
    Checked {
        code: code(&o),
        result: reports::read_result(Path::new(&json)).ok(),
        junit: std::fs::read_to_string(&junit).unwrap_or_default(),
        text: text(&o),
    }
}

fn example(name: &str) -> String {
    let file = if name.ends_with(".conf") {
        name.to_string()
    } else {
        format!("{name}.conflist")
    };
    format!("{}/examples/cni/{file}", env!("CARGO_MANIFEST_DIR"))
}

/// The conformance records of `r` whose subject contains `what`.
fn conformance<'a>(r: &'a RunResult, what: &str) -> Vec<&'a reports::CheckRecord> {
    r.checks
        .iter()
        .filter(|c| c.check == "conformance" && c.subject.contains(what))
        .collect()
}

#[test]
fn every_example_passes_the_contract_with_the_reference_plugins() {
    for (file, extra) in [
        ("docker0", vec![]),
        ("bridge-chain", vec![]),
        ("ptp", vec![]),
        ("bridge-static", vec![]),
        ("ptp-0.3.1.conf", vec![]),
        ("macvlan", vec!["--underlay", "l2"]),
        ("bridge-dual", vec!["--ip-family", "dual"]),
    ] {
        let dir = Scratch::new(&file.replace('.', "-"));
        let c = cni_check(&dir, &example(file), &extra);
        assert_eq!(c.code, 0, "{file}: {}", c.text);
        let r = c.result.expect("the result");
        // Every check passed, or is the known portmap bug, or does not apply.
        for check in &r.checks {
            assert!(
                matches!(
                    check.outcome,
                    CheckOutcome::Pass | CheckOutcome::NotApplicable
                ) || (check.outcome == CheckOutcome::ExpectedFailure
                    && check
                        .reason
                        .as_deref()
                        .is_some_and(|x| x.contains("plugins#819"))),
                "{file}: {check:#?}"
            );
        }
        // The contract was checked: DEL removes what ADD made, twice, without the namespace;
        // each bad configuration refused; GC and STATUS not applicable, with the reason.
        for what in [
            "VERSION of",
            "removes what its ADD made",
            "a second DEL",
            "after its namespace is gone",
            "a configuration that is not JSON",
            "an unsupported cniVersion",
            "refused ADDs and their DELs",
        ] {
            let found = conformance(&r, what);
            assert!(!found.is_empty(), "{file}: no conformance check {what:?}");
            assert!(
                found.iter().all(|c| c.outcome == CheckOutcome::Pass),
                "{file}: {found:#?}"
            );
        }
        for verb in ["GC of", "STATUS of"] {
            let na = conformance(&r, verb);
            assert!(
                !na.is_empty()
                    && na.iter().all(|c| c.outcome == CheckOutcome::NotApplicable
                        && c.reason
                            .as_deref()
                            .is_some_and(|x| x.contains("supports up to"))),
                "{file}: {na:#?}"
            );
        }
        // A dual-stack pod's DEL releases its reservation in each range set.
        if file == "bridge-dual" {
            let del = conformance(&r, "removes what its ADD made");
            assert!(
                del.iter().any(|c| c.actual.contains("ipam dual/172.17.")
                    && c.actual.contains("ipam dual/fd00:172:17::")),
                "{del:#?}"
            );
        }
        // CHECK after a break fails, where the version has CHECK (0.4.0 on).
        let broken = conformance(&r, "after its address was removed");
        if file.ends_with("0.3.1.conf") {
            assert!(broken
                .iter()
                .all(|c| c.outcome == CheckOutcome::NotApplicable));
        } else {
            assert!(
                broken
                    .iter()
                    .all(|c| c.outcome == CheckOutcome::Pass && c.actual.contains("code")),
                "{file}: {broken:#?}"
            );
        }
        // Every verb's wall time, per pod and plugin.
        let verbs: std::collections::BTreeSet<&str> =
            r.plugin_calls.iter().map(|c| c.verb.as_str()).collect();
        for v in ["ADD", "DEL", "VERSION"] {
            assert!(verbs.contains(v), "{file}: no {v} call in {verbs:?}");
        }
        assert!(r
            .plugin_calls
            .iter()
            .all(|c| c.wall_ns > 0 && !c.plugin.is_empty()));
        assert!(r
            .plugin_calls
            .iter()
            .any(|c| c.verb == "ADD" && c.pod.starts_with("n0p")));
        // The JUnit file names every check; what does not apply is skipped.
        assert!(
            c.junit.contains(&format!("tests=\"{}\"", r.checks.len())),
            "{file}: {}",
            c.junit
        );
        let na = r
            .checks
            .iter()
            .filter(|c| c.outcome == CheckOutcome::NotApplicable)
            .count();
        assert!(c.junit.contains(&format!("skipped=\"{na}\"")), "{file}");
        assert!(c.junit.contains("failures=\"0\""), "{file}");
    }
}

/// The rule-breaker's directory and the reference plugins', as a CNI path.
fn rulebreaker_path() -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_cni-rulebreaker"));
    format!("{}:/usr/lib/cni", bin.parent().unwrap().display())
}

/// A network of the rule-breaker in `mode`, host-local for its addresses.
fn rulebreaker(dir: &Scratch, mode: &str) -> String {
    let path = dir.file(&format!("{mode}.conflist"));
    std::fs::write(
        &path,
        format!(
            r#"{{"cniVersion": "1.1.0", "name": "rb", "plugins": [{{"type": "cni-rulebreaker", "mode": "{mode}",
                "ipam": {{"type": "host-local", "subnet": "10.31.0.0/24", "routes": [{{"dst": "0.0.0.0/0"}}]}}}}]}}"#
        ),
    )
    .unwrap();
    path
}

/// The failed checks of a result, as `check: subject`.
fn failed(r: &RunResult) -> Vec<String> {
    r.checks
        .iter()
        .filter(|c| c.outcome == CheckOutcome::Fail)
        .map(|c| format!("{}: {}", c.check, c.subject))
        .collect()
}

#[test]
fn the_rulebreaker_passes_conformant_with_gc_and_status() {
    let dir = Scratch::new("rb-ok");
    let c = cni_check(
        &dir,
        &rulebreaker(&dir, "conformant"),
        &["--cni-path", &rulebreaker_path()],
    );
    assert_eq!(c.code, 0, "{}", c.text);
    let r = c.result.unwrap();
    assert!(failed(&r).is_empty(), "{:?}", failed(&r));
    // 1.1.0: GC and STATUS exercised, not skipped.
    for what in [
        "STATUS of cni-rulebreaker",
        "GC of cni-rulebreaker",
        "GC keeps",
        "GC collects",
    ] {
        let found = conformance(&r, what);
        assert!(
            !found.is_empty() && found.iter().all(|c| c.outcome == CheckOutcome::Pass),
            "{what}: {found:#?}"
        );
    }
    assert!(r
        .plugin_calls
        .iter()
        .any(|c| c.verb == "GC" && c.outcome == "ok"));
    assert!(r
        .plugin_calls
        .iter()
        .any(|c| c.verb == "STATUS" && c.outcome == "ok"));
    assert!(c.junit.contains("failures=\"0\"") && c.junit.contains("skipped=\"0\""));
}

#[test]
fn each_broken_rule_fails_its_own_checks_with_evidence() {
    let path = rulebreaker_path();
    // A second DEL that fails: that check, nothing else.
    let dir = Scratch::new("rb-del2");
    let c = cni_check(
        &dir,
        &rulebreaker(&dir, "second-del-fails"),
        &["--cni-path", &path],
    );
    assert_eq!(c.code, 1, "{}", c.text);
    let r = c.result.unwrap();
    assert_eq!(
        failed(&r),
        ["conformance: a second DEL of n0p2"],
        "{}",
        c.text
    );
    let f = conformance(&r, "a second DEL").pop().unwrap();
    assert!(
        f.actual.contains("code 999") && f.actual.contains("already deleted"),
        "{f:?}"
    );
    assert!(
        c.junit.contains("failures=\"1\"") && c.junit.contains("name=\"a second DEL of n0p2\"")
    );

    // A DEL that keeps the IPAM reservation: both DELs leak it (the evidence names it), and
    // GC collects what they left.
    let dir = Scratch::new("rb-leaks");
    let c = cni_check(&dir, &rulebreaker(&dir, "leaks"), &["--cni-path", &path]);
    assert_eq!(c.code, 1, "{}", c.text);
    let r = c.result.unwrap();
    assert_eq!(
        failed(&r),
        [
            "conformance: DEL of n0p2 removes what its ADD made in the node",
            "conformance: DEL of n0p2 without its namespace releases what its ADD made"
        ],
        "{}",
        c.text
    );
    for f in conformance(&r, "DEL of n0p2 ") {
        if f.outcome == CheckOutcome::Fail {
            assert!(f.actual.contains("left ipam rb/10.31.0."), "{f:?}");
        }
    }
    let gc = conformance(&r, "GC collects").pop().unwrap();
    assert_eq!(gc.outcome, CheckOutcome::Pass, "{gc:?}");
    assert!(gc.actual.contains("still there: nothing"), "{gc:?}");
    assert!(c.junit.contains("failures=\"2\""));

    // An ADD result with an address it did not assign: the interface checks fail, naming
    // the address; the contract's DEL, bad-configuration and GC checks do not.
    let dir = Scratch::new("rb-lies");
    let c = cni_check(&dir, &rulebreaker(&dir, "lies"), &["--cni-path", &path]);
    assert_eq!(c.code, 1, "{}", c.text);
    let r = c.result.unwrap();
    let lied: Vec<_> = r
        .checks
        .iter()
        .filter(|c| c.check == "interface" && c.outcome == CheckOutcome::Fail)
        .collect();
    assert_eq!(lied.len(), 2, "{:?}", failed(&r));
    assert!(lied
        .iter()
        .all(|c| c.reason.as_deref().unwrap_or("").contains("is not on it")));
    for f in failed(&r) {
        assert!(
            [
                "interface",
                "reachability",
                "pmtu",
                "neighbours",
                "cni-check",
                "conformance: CHECK"
            ]
            .iter()
            .any(|k| f.starts_with(k)),
            "lying about an address broke {f}"
        );
    }
    for what in ["removes what its ADD made", "a second DEL", "GC of"] {
        assert!(
            conformance(&r, what)
                .iter()
                .all(|c| c.outcome == CheckOutcome::Pass),
            "{what}"
        );
    }
}

#[test]
fn a_hanging_plugin_is_killed_and_nothing_is_left() {
    let dir = Scratch::new("rb-hangs");
    let c = cni_check(
        &dir,
        &rulebreaker(&dir, "hangs"),
        &["--cni-path", &rulebreaker_path(), "--cni-timeout", "2"],
    );
    assert_eq!(c.code, 2, "{}", c.text);
    assert!(
        c.text
            .contains("did not finish within 2 s and was killed by its pid"),
        "{}",
        c.text
    );
}
