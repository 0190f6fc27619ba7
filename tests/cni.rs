//! The cni backend against CNI plugins written to misbehave (`tests/cni/plugins/`, POSIX sh):
//! the runtime's protocol as a recording plugin sees it (environment, chaining, capabilities,
//! CHECK, DEL in reverse with the final result), plugins that hang, print garbage, print
//! nothing or lie about the address they assigned, bad configurations, SIGINT in the middle
//! of an ADD and SIGKILL followed by `cnbench clean`. After every run nothing of it is left
//! (namespaces, state directory, processes) and the machine's own network namespace is as it
//! was. As root; every run measures nothing (`--workloads none`), so the file takes seconds.
//!
//! The conflists under `tests/cni/` run as they are by hand; a test copies one into its own
//! temporary directory with host-local's `dataDir` and the recorder's `log` pointed there, so
//! concurrent tests never share state and a test can read what the plugins left.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::{code, namespaces_of, run_id_of, text, Cleanup, Running};

/// The CNI path of every test: the test plugins, then Debian's reference plugins (relative
/// to the package root, where cargo runs the tests).
const CNI_PATH: &str = "tests/cni/plugins:/usr/lib/cni";

/// The address the liar plugin claims it gave each pod.
const LIED_ADDRESS: &str = "172.17.9.99/16";

/// A test's own directory under /tmp, removed when the test ends.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("cnbench-cni-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("make the test's directory");
        Scratch(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn str(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    /// `tests/cni/<name>.conflist` copied here, with every host-local IPAM keeping its state
    /// in `ipam/` and every recorder logging to `recorder.log` of this directory.
    fn conflist(&self, name: &str) -> String {
        let text = std::fs::read_to_string(format!("tests/cni/{name}.conflist"))
            .expect("the conflist is there");
        let mut v: Value = serde_json::from_str(&text).expect("the conflist is JSON");
        for p in v["plugins"].as_array_mut().expect("a conflist has plugins") {
            if p["ipam"]["type"] == "host-local" {
                p["ipam"]["dataDir"] = json!(self.str("ipam"));
            }
            if p["type"] == "recorder" {
                p["log"] = json!(self.str("recorder.log"));
            }
        }
        let path = self.path(&format!("{name}.conflist"));
        std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
        path.display().to_string()
    }

    /// The recorder's log, one entry per invocation.
    fn calls(&self) -> Vec<Call> {
        std::fs::read_to_string(self.path("recorder.log"))
            .unwrap_or_default()
            .lines()
            .map(Call::parse)
            .collect()
    }

    /// Addresses host-local still holds for network `network` (a file per address; its
    /// `last_reserved_ip.*` and `lock` are bookkeeping, not reservations).
    fn reservations(&self, network: &str) -> Vec<String> {
        let Ok(dir) = std::fs::read_dir(self.path("ipam").join(network)) else {
            return Vec::new();
        };
        let mut v: Vec<String> = dir
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.parse::<std::net::IpAddr>().is_ok())
            .collect();
        v.sort();
        v
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One invocation as the recorder logged it.
#[derive(Debug, Clone)]
struct Call {
    /// The CNI_* variables, by name without the prefix (`command`, `netns`, ...).
    env: BTreeMap<String, String>,
    /// The request configuration on stdin.
    stdin: Value,
}

impl Call {
    fn parse(line: &str) -> Call {
        let mut env = BTreeMap::new();
        let mut stdin = None;
        for field in line.split('\t') {
            let (k, v) = field
                .split_once('=')
                .unwrap_or_else(|| panic!("recorder log field {field:?}"));
            if k == "stdin" {
                stdin = Some(
                    serde_json::from_str(v)
                        .unwrap_or_else(|e| panic!("recorder got no JSON ({e}): {v}")),
                );
            } else {
                env.insert(k.to_string(), v.to_string());
            }
        }
        Call {
            env,
            stdin: stdin.unwrap_or_else(|| panic!("no stdin in {line:?}")),
        }
    }

    fn get(&self, var: &str) -> &str {
        self.env.get(var).map(String::as_str).unwrap_or("-")
    }

    fn command(&self) -> &str {
        self.get("command")
    }

    fn tag(&self) -> &str {
        self.stdin["tag"].as_str().unwrap_or("?")
    }

    fn label(&self) -> String {
        format!("{} {}", self.command(), self.tag())
    }
}

/// The machine's own network namespace, as far as a cnbench run could change it: links,
/// addresses, routes of every table, IPv4 neighbours, iptables and nftables rules. cnbench
/// configures nothing there, so any difference is a bug; and concurrent runs (other tests)
/// touch nothing there either, so a difference is this run's. Left out: what changes on its
/// own (address lifetimes, route expiry, neighbour states, packet counters, the comment
/// lines of iptables-save), neighbours that have no address yet (incomplete or failed
/// resolutions come and go with the machine's own traffic), and the fallback devices a
/// kernel module creates in every namespace when something loads it (`tunl0` with ipip,
/// `ifb0` with ifb, ...): a concurrent test may load one, and that is the kernel's doing,
/// not a configuration.
fn root_snapshot() -> BTreeMap<&'static str, String> {
    let run = |argv: &[&str]| {
        // A tool that is not installed reads the same before and after.
        match Command::new(argv[0]).args(&argv[1..]).output() {
            Ok(o) => String::from_utf8_lossy(&o.stdout).into_owned(),
            Err(e) => format!("({} did not run: {e})\n", argv[0]),
        }
    };
    let fallback = |line: &str| {
        let name = line
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .trim_end_matches(':')
            .split('@')
            .next()
            .unwrap_or("");
        [
            "tunl0", "gre0", "gretap0", "erspan0", "ip_vti0", "ip6_vti0", "sit0", "ip6tnl0",
            "ip6gre0", "dummy0", "bond0",
        ]
        .contains(&name)
            || name
                .strip_prefix("ifb")
                .is_some_and(|n| n.parse::<u32>().is_ok())
    };
    let lifetimes = |line: &str| {
        let mut out = Vec::new();
        let mut words = line.split_whitespace();
        while let Some(w) = words.next() {
            match w {
                "valid_lft" | "preferred_lft" | "expires" => {
                    words.next();
                }
                w if w.ends_with("sec") && w[..w.len() - 3].parse::<u64>().is_ok() => {}
                w => out.push(w),
            }
        }
        out.join(" ")
    };
    let mut s = BTreeMap::new();
    s.insert(
        "ip -o link",
        run(&["ip", "-o", "link"])
            .lines()
            .filter(|l| !fallback(l))
            .map(|l| format!("{l}\n"))
            .collect(),
    );
    s.insert(
        "ip -o addr",
        run(&["ip", "-o", "addr"])
            .lines()
            .filter(|l| !fallback(l))
            .map(|l| lifetimes(l) + "\n")
            .collect(),
    );
    s.insert(
        "ip route show table all",
        run(&["ip", "route", "show", "table", "all"])
            .lines()
            .map(|l| lifetimes(l) + "\n")
            .collect(),
    );
    s.insert(
        "ip -4 neigh",
        run(&["ip", "-4", "neigh"])
            .lines()
            .filter(|l| l.contains(" lladdr "))
            .map(|l| l.split_whitespace().take(5).collect::<Vec<_>>().join(" ") + "\n")
            .collect(),
    );
    s.insert(
        "iptables-save",
        run(&["iptables-save"])
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| match l.strip_prefix(':') {
                // `:CHAIN POLICY [packets:bytes]`: the counters change on their own.
                Some(chain) => format!(":{}\n", chain.split(" [").next().unwrap_or(chain)),
                None => format!("{l}\n"),
            })
            .collect(),
    );
    s.insert("nft list ruleset", run(&["nft", "list", "ruleset"]));
    s
}

/// Asserts that the root namespace is as `before` says, naming each part that changed.
fn assert_root_unchanged(before: &BTreeMap<&'static str, String>, what: &str) {
    let after = root_snapshot();
    let changed: Vec<String> = before
        .iter()
        .filter(|(k, v)| after.get(*k) != Some(v))
        .map(|(k, v)| format!("--- {k} before\n{v}--- after\n{}", after[k]))
        .collect();
    assert!(
        changed.is_empty(),
        "{what} changed the machine's own namespace:\n{}",
        changed.join("\n")
    );
}

/// Processes of run `id` (pid and command line): a plugin or anything it started (they
/// inherit `CNI_CONTAINERID=cnb-<id>-...`), and any process whose command line names one
/// of the run's namespaces. Zombies do not count: they are gone, only not reaped yet.
fn processes_of(id: &str) -> Vec<(u32, String)> {
    let marker = format!("cnb-{id}-");
    let env_marker = format!("CNI_CONTAINERID={marker}");
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out: Vec<(u32, String)> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me && common::alive(*pid))
        .filter_map(|pid| {
            let read = |f: &str| {
                std::fs::read(format!("/proc/{pid}/{f}"))
                    .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
                    .unwrap_or_default()
            };
            let cmdline = read("cmdline");
            let environ = read("environ");
            (cmdline.contains(&marker) || environ.contains(&env_marker))
                .then(|| (pid, cmdline.trim().to_string()))
        })
        .collect();
    out.sort();
    out
}

/// Asserts that nothing of run `id` is left: no namespace, no state directory, no process.
/// A container id without the suffix that makes it unique to its attachment: `cnb-<run>-<pod>`.
fn pod_of(container_id: &str) -> &str {
    container_id
        .rsplit_once('-')
        .map_or(container_id, |(pod, _)| pod)
}

fn assert_nothing_left(id: &str) {
    common::assert_nothing_left(id);
    let procs = processes_of(id);
    assert!(procs.is_empty(), "run {id} left processes {procs:?}");
}

/// Whatever a failing test left of run `id`: its processes killed by pid, its namespaces and
/// state removed (common's [`Cleanup`]).
struct Leftovers(Cleanup);

impl Leftovers {
    fn of(id: &str) -> Leftovers {
        Leftovers(Cleanup(vec![id.to_string()]))
    }
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        for id in &self.0 .0 {
            for (pid, _) in processes_of(id) {
                // SAFETY: kill(2) of a pid found just now; no memory is involved.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            }
        }
    }
}

/// A cnbench child that is killed (by its pid) if the test ends before it does.
struct Child(Running);

impl Drop for Child {
    fn drop(&mut self) {
        if let Ok(None) = self.0.child.try_wait() {
            let _ = self.0.child.kill();
            let _ = self.0.child.wait();
        }
    }
}

/// `cnbench run --backend cni --cni-conf <conf> --cni-path <CNI_PATH> --workloads none
/// --no-baseline` and `extra`: the output, its run id (when a run started) and how long it
/// took.
fn run_cni(conf: &str, extra: &[&str]) -> (std::process::Output, Option<String>, Duration) {
    let mut args = vec![
        "run",
        "--backend",
        "cni",
        "--cni-conf",
        conf,
        "--cni-path",
        CNI_PATH,
        "--workloads",
        "none",
        "--no-baseline",
    ];
    args.extend_from_slice(extra);
    let t = Instant::now();
    let o = common::run(&args);
    let took = t.elapsed();
    let stdout = String::from_utf8_lossy(&o.stdout).to_string();
    let id = stdout
        .lines()
        .any(|l| l.starts_with("cnbench run "))
        .then(|| run_id_of(&stdout));
    (o, id, took)
}

/// The one line cnbench wrote on stderr (asserting there is exactly one).
fn one_line_of_stderr(o: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&o.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "not one line on stderr: {}", text(o));
    lines[0].to_string()
}

/// Asserts `line` contains every one of `phrases`.
fn assert_says(line: &str, phrases: &[&str]) {
    for p in phrases {
        assert!(line.contains(p), "{p:?} not in {line:?}");
    }
}

#[test]
fn the_runtime_calls_each_plugin_as_the_spec_says() {
    let dir = Scratch::new("recorder");
    let conf = dir.conflist("recorder");
    let json = dir.str("result.json");
    let before = root_snapshot();
    let (o, id, _) = run_cni(&conf, &["--json", &json]);
    let id = id.unwrap_or_else(|| panic!("no run started: {}", text(&o)));
    let _leftovers = Leftovers::of(&id);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let result = reports::read_result(Path::new(&json)).expect("the result parses");
    common::assert_checks_passed(&result);

    let calls = dir.calls();
    let pods = ["n0p0", "n0p1"];
    for pod in pods {
        let container = format!("cnb-{id}-{pod}");
        let netns = format!("/run/netns/{container}");
        // The container id is the pod's, with a suffix unique to the attachment.
        let mine: Vec<&Call> = calls
            .iter()
            .filter(|c| pod_of(c.get("containerid")) == container)
            .collect();
        // ADD in chain order; CHECK in chain order, after the ADD; DEL in reverse, last.
        let order: Vec<String> = mine.iter().map(|c| c.label()).collect();
        assert_eq!(
            order,
            [
                "ADD main",
                "ADD first",
                "ADD second",
                "CHECK main",
                "CHECK first",
                "CHECK second",
                "DEL second",
                "DEL first",
                "DEL main",
            ],
            "{pod}"
        );

        // The environment of each verb: the attachment's parameters, the same every time.
        let args = mine[0].get("args").to_string();
        for c in &mine {
            let what = format!("{pod} {}", c.label());
            assert_eq!(c.get("containerid"), mine[0].get("containerid"), "{what}");
            assert_eq!(c.get("netns"), netns, "{what}");
            assert_eq!(c.get("ifname"), "eth0", "{what}");
            assert_eq!(c.get("args"), args, "{what}: CNI_ARGS differ between verbs");
            let path: Vec<&str> = c.get("path").split(':').collect();
            assert!(
                path.len() == 2
                    && path[0].trim_end_matches('/').ends_with("tests/cni/plugins")
                    && path[1] == "/usr/lib/cni",
                "{what}: CNI_PATH {:?}",
                c.get("path")
            );
        }
        assert!(
            args.split(';')
                .all(|kv| kv.split_once('=').is_some_and(|(k, _)| !k.is_empty())),
            "{pod}: CNI_ARGS {args:?} is not K=V;K=V"
        );
        assert!(
            args.split(';').any(|kv| kv == "IgnoreUnknown=1"),
            "{pod}: CNI_ARGS {args:?}"
        );

        // Each request: the plugin's own configuration, unknown keys passed through, the
        // network's name and version, and never `capabilities`.
        for c in &mine {
            let what = format!("{pod} {}", c.label());
            let s = &c.stdin;
            assert_eq!(s["cniVersion"], "1.0.0", "{what}");
            assert_eq!(s["name"], "recorder", "{what}");
            assert_eq!(s["type"], "recorder", "{what}");
            assert_eq!(s["log"], json!(dir.str("recorder.log")), "{what}");
            assert!(s.get("capabilities").is_none(), "{what}: {s}");
        }

        // runtimeConfig: only the capability a plugin declares true (portMappings), for
        // every verb; nothing for a `false` one (ips) nor for a plugin that declares none.
        for c in &mine {
            let what = format!("{pod} {}", c.label());
            let rc = c.stdin.get("runtimeConfig");
            if c.tag() == "first" {
                let rc = rc.unwrap_or_else(|| panic!("{what}: no runtimeConfig"));
                let keys: Vec<&String> = rc.as_object().unwrap().keys().collect();
                assert_eq!(keys, ["portMappings"], "{what}: {rc}");
                let pm = rc["portMappings"].as_array().expect("a list");
                assert!(
                    !pm.is_empty()
                        && pm.iter().all(|m| m["hostPort"].is_u64()
                            && m["containerPort"].is_u64()
                            && m["protocol"].is_string()),
                    "{what}: {rc}"
                );
            } else {
                assert!(rc.is_none(), "{what}: runtimeConfig {}", rc.unwrap());
            }
        }
        let mappings: Vec<&Value> = mine
            .iter()
            .filter(|c| c.tag() == "first")
            .map(|c| &c.stdin["runtimeConfig"])
            .collect();
        assert!(
            mappings.iter().all(|m| *m == mappings[0]),
            "{pod}: ADD, CHECK and DEL were given different capability arguments"
        );

        // prevResult: none for the first plugin's ADD; the previous plugin's result for each
        // next one; the ADD's final result for every CHECK and DEL.
        let by = |label: &str| *mine.iter().find(|c| c.label() == label).unwrap();
        assert!(
            by("ADD main").stdin.get("prevResult").is_none(),
            "{pod}: the first plugin was given a prevResult"
        );
        let bridge_result = by("ADD first").stdin["prevResult"].clone();
        assert!(
            bridge_result.get("recordedBy").is_none(),
            "{pod}: {bridge_result}"
        );
        let mut first_result = bridge_result.clone();
        first_result["recordedBy"] = json!(["first"]);
        assert_eq!(
            by("ADD second").stdin["prevResult"],
            first_result,
            "{pod}: the second recorder was not given the first one's result"
        );
        let mut final_result = bridge_result.clone();
        final_result["recordedBy"] = json!(["first", "second"]);
        for c in mine.iter().filter(|c| c.command() != "ADD") {
            assert_eq!(
                c.stdin["prevResult"],
                final_result,
                "{pod} {}: not the ADD's final result",
                c.label()
            );
        }

        // What the bridge printed is what the pod got: its eth0 (MAC, address) in the
        // pod's namespace, as cnbench's topology read it from the kernel.
        let topo = result
            .topology
            .iter()
            .find(|n| n.name == container)
            .unwrap_or_else(|| panic!("{container} not in the topology"));
        let eth0 = topo.devices.iter().find(|d| d.name == "eth0").unwrap();
        let ifs = bridge_result["interfaces"].as_array().unwrap();
        let pod_if = ifs
            .iter()
            .position(|i| i["sandbox"] == json!(netns))
            .unwrap_or_else(|| panic!("{pod}: no interface in {netns}: {bridge_result}"));
        assert_eq!(ifs[pod_if]["name"], "eth0");
        assert_eq!(ifs[pod_if]["mac"], json!(eth0.mac.clone().unwrap()));
        let ip = &bridge_result["ips"][0];
        assert_eq!(ip["interface"], json!(pod_if), "{pod}: {bridge_result}");
        assert_eq!(
            vec![ip["address"].as_str().unwrap().to_string()],
            eth0.addresses,
            "{pod}"
        );
        assert_eq!(ip["gateway"], "172.17.0.1");
    }
    // Nothing else was called (no pod but the plan's, no verb twice).
    assert_eq!(calls.len(), 18, "{calls:#?}");

    // DEL released the addresses (host-local keeps them in the test's dataDir).
    assert_eq!(dir.reservations("recorder"), Vec::<String>::new());
    assert_nothing_left(&id);
    assert_root_unchanged(&before, "a recorded run");
}

/// A run whose setup fails because plugin `bad` of `tests/cni/<bad>.conflist` (bridge,
/// recorder, `bad`) misbehaves on the first pod's ADD: exit 2, one line on stderr with the
/// words in `phrases`; DEL ran for every plugin whose ADD had started (the recorder's DEL
/// is logged, the bridge's released its address) and for nothing else; nothing is left.
fn setup_fails(bad: &str, extra: &[&str], phrases: &[&str]) -> Duration {
    let dir = Scratch::new(bad);
    let conf = dir.conflist(bad);
    let before = root_snapshot();
    let (o, id, took) = run_cni(&conf, extra);
    let id = id.unwrap_or_else(|| panic!("no run started: {}", text(&o)));
    let _leftovers = Leftovers::of(&id);
    assert_eq!(code(&o), 2, "{}", text(&o));
    let line = one_line_of_stderr(&o);
    assert_says(&line, phrases);
    assert_says(&line, &["n0p0", &format!("plugin {bad}")]);

    let container = format!("cnb-{id}-n0p0");
    let calls: Vec<String> = dir
        .calls()
        .iter()
        .map(|c| format!("{} {}", c.label(), pod_of(c.get("containerid"))))
        .collect();
    assert_eq!(
        calls,
        [
            format!("ADD before-{bad} {container}"),
            format!("DEL before-{bad} {container}"),
        ],
        "the teardown must DEL what was added, and only that"
    );
    let del = &dir.calls()[1];
    assert!(
        del.stdin.get("prevResult").is_none(),
        "a DEL after an ADD that never completed has no result to give: {}",
        del.stdin
    );
    assert_eq!(
        dir.reservations(bad),
        Vec::<String>::new(),
        "the bridge's DEL did not release n0p0's address"
    );
    assert_nothing_left(&id);
    assert_root_unchanged(&before, &format!("a run with the {bad} plugin"));
    took
}

#[test]
fn a_plugin_that_hangs_is_killed_and_the_run_torn_down() {
    let took = setup_fails(
        "hang",
        &["--cni-timeout", "2"],
        &[
            "CNI ADD",
            "did not finish within 2 s",
            "killed",
            "--cni-timeout",
        ],
    );
    // Killed at the limit, not waited for.
    assert!(took < Duration::from_secs(15), "took {took:?}");
}

#[test]
fn a_plugin_that_prints_garbage_fails_the_setup() {
    setup_fails(
        "garbage",
        &[],
        &[
            "CNI ADD",
            "printed \"garbage plugin: all went well",
            "not a CNI result",
            "JSON on stdout",
        ],
    );
}

#[test]
fn a_plugin_that_prints_nothing_fails_the_setup() {
    setup_fails(
        "silent",
        &[],
        &[
            "CNI ADD",
            "printed nothing",
            "not a CNI result",
            "JSON on stdout",
        ],
    );
}

/// A configuration refused before anything is made: exit 2, one line on stderr with
/// `phrases`, no run started (its first line would name it), the root namespace as it was.
fn refused(args: &[&str], phrases: &[&str]) {
    let before = root_snapshot();
    let o = common::run(args);
    assert_eq!(code(&o), 2, "{}", text(&o));
    let line = one_line_of_stderr(&o);
    assert_says(&line, phrases);
    assert!(
        o.stdout.is_empty(),
        "a refused run printed (so started?): {}",
        text(&o)
    );
    assert_root_unchanged(&before, "a refused run");
}

#[test]
fn a_conflist_that_is_not_json_is_refused() {
    refused(
        &[
            "run",
            "--backend",
            "cni",
            "--cni-conf",
            "tests/cni/not-json.conflist",
            "--cni-path",
            CNI_PATH,
            "--workloads",
            "none",
            "--no-baseline",
        ],
        &[
            "--cni-conf",
            "tests/cni/not-json.conflist",
            "not JSON",
            "line 5",
            "give a .conflist or .conf file",
        ],
    );
}

#[test]
fn a_plugin_not_on_the_cni_path_is_refused() {
    refused(
        &[
            "run",
            "--backend",
            "cni",
            "--cni-conf",
            "tests/cni/missing-plugin.conflist",
            "--cni-path",
            CNI_PATH,
            "--workloads",
            "none",
            "--no-baseline",
        ],
        &["\"no-such-plugin\" is not in", CNI_PATH, "--cni-path"],
    );
}

#[test]
fn a_missing_cni_conf_is_refused() {
    // Not given at all.
    refused(
        &[
            "run",
            "--backend",
            "cni",
            "--cni-path",
            CNI_PATH,
            "--workloads",
            "none",
            "--no-baseline",
        ],
        &["give --cni-conf FILE"],
    );
    // Given, but not there.
    refused(
        &[
            "run",
            "--backend",
            "cni",
            "--cni-conf",
            "tests/cni/no-such.conflist",
            "--cni-path",
            CNI_PATH,
            "--workloads",
            "none",
            "--no-baseline",
        ],
        &[
            "--cni-conf",
            "tests/cni/no-such.conflist",
            "No such file",
            "give the path of a .conflist or .conf file",
        ],
    );
}

#[test]
fn a_plugin_that_lies_about_the_address_fails_the_interface_check() {
    let dir = Scratch::new("liar");
    let conf = dir.conflist("liar");
    let json = dir.str("result.json");
    let before = root_snapshot();
    let (o, id, _) = run_cni(&conf, &["--json", &json]);
    let id = id.unwrap_or_else(|| panic!("no run started: {}", text(&o)));
    let _leftovers = Leftovers::of(&id);
    assert_eq!(code(&o), 1, "{}", text(&o));
    let result = reports::read_result(Path::new(&json)).expect("the result parses");
    // Each pod's eth0 fails its interface check, which names the address the result
    // promised and the one the pod has.
    for pod in ["n0p0", "n0p1"] {
        let ns = format!("cnb-{id}-{pod}");
        let failed: Vec<_> = result
            .checks
            .iter()
            .filter(|c| c.check == "interface" && c.subject.contains(&format!("{ns} eth0")))
            .filter(|c| c.outcome == reports::CheckOutcome::Fail)
            .collect();
        assert_eq!(failed.len(), 1, "{pod}: {:#?}", result.checks);
        let c = failed[0];
        let said = format!(
            "{} {} {}",
            c.expected,
            c.actual,
            c.reason.clone().unwrap_or_default()
        );
        assert!(c.expected.contains(LIED_ADDRESS), "{pod}: {c:#?}");
        assert!(!c.actual.contains(LIED_ADDRESS), "{pod}: {c:#?}");
        assert!(
            said.contains("172.17.0."),
            "{pod}: the real address not named: {c:#?}"
        );
    }
    // The failure is the lie: no other interface check fails (the bridge and host ends are
    // as the result says).
    let other: Vec<_> = result
        .checks
        .iter()
        .filter(|c| c.check == "interface" && c.outcome == reports::CheckOutcome::Fail)
        .filter(|c| !c.expected.contains(LIED_ADDRESS))
        .collect();
    assert!(other.is_empty(), "{other:#?}");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("FAIL  interface") && l.contains(LIED_ADDRESS)),
        "{stdout}"
    );
    assert_eq!(dir.reservations("liar"), Vec::<String>::new());
    assert_nothing_left(&id);
    assert_root_unchanged(&before, "a run with the liar plugin");
}

/// Starts a run of `tests/cni/hang.conflist` (copied into `dir`) that hangs in the first
/// pod's ADD for up to 10 minutes; returns once the hang plugin and its child (`sleep`) run,
/// with the run's id.
fn start_hanging(dir: &Scratch) -> (Child, String) {
    start_hanging_as(dir, Running::start)
}

/// [`start_hanging`], cnbench started by `start` (as a plain child, or as a terminal's job).
fn start_hanging_as(dir: &Scratch, start: fn(&[&str]) -> Running) -> (Child, String) {
    let conf = dir.conflist("hang");
    let mut r = Child(start(&[
        "run",
        "--backend",
        "cni",
        "--cni-conf",
        &conf,
        "--cni-path",
        CNI_PATH,
        "--cni-timeout",
        "600",
        "--workloads",
        "none",
        "--no-baseline",
    ]));
    let first = r.0.wait_for("cnbench run", Duration::from_secs(20));
    let id = run_id_of(&first);
    let deadline = Instant::now() + Duration::from_secs(20);
    let hanging = |procs: &[(u32, String)]| {
        procs.iter().any(|(_, cmd)| cmd.contains("plugins/hang"))
            && procs.iter().any(|(_, cmd)| cmd.starts_with("sleep"))
    };
    while !hanging(&processes_of(&id)) {
        assert!(
            Instant::now() < deadline,
            "the hang plugin never ran; run {id}: {:?}",
            r.0.seen
        );
        assert!(
            matches!(r.0.child.try_wait(), Ok(None)),
            "cnbench ended before the hang plugin ran: {:?}",
            r.0.seen
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (r, id)
}

/// The pid of the hang plugin's child of run `id`.
fn sleeper_of(id: &str) -> u32 {
    processes_of(id)
        .into_iter()
        .find(|(_, cmd)| cmd.starts_with("sleep"))
        .map(|(pid, _)| pid)
        .unwrap_or_else(|| panic!("run {id}: the hang plugin has no child"))
}

#[test]
fn sigint_during_an_add_tears_everything_down() {
    let dir = Scratch::new("sigint");
    let before = root_snapshot();
    let (mut r, id) = start_hanging(&dir);
    let _leftovers = Leftovers::of(&id);
    assert!(!namespaces_of(&id).is_empty());
    let sleeper = sleeper_of(&id);
    let t = Instant::now();
    r.0.signal(libc::SIGINT);
    assert_eq!(
        r.0.wait(Duration::from_secs(30)),
        Some(130),
        "{:?}",
        r.0.seen
    );
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "took {:?}",
        t.elapsed()
    );
    assert_interrupted_add_undone(&dir, &id, sleeper, &before, "an interrupted run");
}

/// What an ADD given up on an interrupt leaves: its DEL ran, as did the recorder's before
/// it; no reservation; the plugin's own child (its sleep), which killing the plugin does not
/// end, was in the node's namespace and went with it; nothing of the run, and the machine's
/// own namespace as it was.
fn assert_interrupted_add_undone(
    dir: &Scratch,
    id: &str,
    sleeper: u32,
    before: &BTreeMap<&'static str, String>,
    what: &str,
) {
    let calls: Vec<String> = dir.calls().iter().map(|c| c.label()).collect();
    assert_eq!(calls, ["ADD before-hang", "DEL before-hang"]);
    assert_eq!(dir.reservations("hang"), Vec::<String>::new());
    assert!(
        !common::alive(sleeper),
        "the hang plugin's child {sleeper} lives on"
    );
    assert_nothing_left(id);
    assert_root_unchanged(before, what);
}

/// A Ctrl-C at the terminal reaches every process of the foreground job: cnbench, and a
/// plugin it runs only if it shares cnbench's process group. Each plugin has a group of its
/// own, so the hung ADD is given up by cnbench (exit 130, not a plugin's failure) and the
/// teardown's DELs run undisturbed.
#[test]
fn ctrl_c_at_the_terminal_during_an_add_is_an_interrupt() {
    let dir = Scratch::new("ctrlc");
    let before = root_snapshot();
    let (mut r, id) = start_hanging_as(&dir, Running::start_as_job);
    let _leftovers = Leftovers::of(&id);
    let sleeper = sleeper_of(&id);
    r.0.signal_group(libc::SIGINT);
    assert_eq!(
        r.0.wait(Duration::from_secs(30)),
        Some(130),
        "{:?}",
        r.0.seen
    );
    assert_interrupted_add_undone(
        &dir,
        &id,
        sleeper,
        &before,
        "a run interrupted at its terminal",
    );
}

#[test]
fn sigkill_during_an_add_leaves_what_clean_removes() {
    let dir = Scratch::new("sigkill");
    let before = root_snapshot();
    let (mut r, id) = start_hanging(&dir);
    let _leftovers = Leftovers::of(&id);
    let sleeper = sleeper_of(&id);
    r.0.signal(libc::SIGKILL);
    r.0.wait(Duration::from_secs(10));
    // The crash left the namespaces, the run's state (with the attachment's cache), and the
    // hung plugin's child: the plugin died with cnbench, its child did not.
    assert!(
        !namespaces_of(&id).is_empty(),
        "a crash removed the namespaces?"
    );
    assert!(Path::new(&format!("/run/cnbench/{id}/cni/results")).exists());
    assert!(
        common::alive(sleeper),
        "the hang plugin's child did not outlive cnbench"
    );

    let o = common::run(&["clean"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    // (A concurrent test's `clean` may have removed this run first, so the output is not
    // required to name it; what matters is that the chain's DEL ran and nothing is left.)
    assert!(
        !common::alive(sleeper),
        "clean left the hang plugin's child {sleeper}"
    );
    let container = format!("cnb-{id}-n0p0");
    let calls: Vec<String> = dir
        .calls()
        .iter()
        .map(|c| format!("{} {}", c.label(), pod_of(c.get("containerid"))))
        .collect();
    assert!(
        calls.contains(&format!("DEL before-hang {container}")),
        "clean took the crashed run down without the chain's DEL: {calls:?}"
    );
    assert_eq!(
        dir.reservations("hang"),
        Vec::<String>::new(),
        "clean left n0p0's address reserved in the configuration's dataDir"
    );
    assert_nothing_left(&id);
    assert_root_unchanged(&before, "a killed run and `cnbench clean`");
}
