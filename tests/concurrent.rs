//! Runs at the same time on one machine do not collide (docs/design.md §5 rule 6): `cnbench run`s
//! started at the same moment, with the same backend (so device names like `eth0`, `cni0` and
//! `flannel.1`, addresses and default ports all coincide), each pass every check, measure,
//! and leave nothing of themselves behind.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::{assert_nothing_left, code, run_id_of, text, Cleanup};

/// Short measurements of two workloads; no baseline (each run is measured against itself).
const OPTIONS: &[&str] = &[
    "--workloads",
    "tcp-rr,udp-stream",
    "--repeat",
    "1",
    "--duration",
    "0.2",
    "--warmup",
    "0.1",
    "--no-baseline",
];

/// The cases those workloads measure on every path: (workload, variant, headline metric).
const CASES: &[(&str, Option<&str>, &str)] = &[
    ("tcp-rr", None, "transactions_per_s"),
    ("udp-stream", Some("64 B"), "packets_per_s"),
    ("udp-stream", Some("max payload"), "packets_per_s"),
];

/// A scratch directory for the result files, removed when dropped.
struct TempDir(PathBuf);
impl TempDir {
    fn new(what: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("cnbench-concurrent-{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One finished run: its backend, output and result file.
struct Finished {
    backend: &'static str,
    output: Output,
    json: PathBuf,
}

/// Starts `cnbench run --backend B` for every backend at the same moment (all processes wait
/// on one barrier, then spawn) and waits for all of them.
fn run_together(backends: &[&'static str], dir: &Path) -> Vec<Finished> {
    let barrier = Arc::new(Barrier::new(backends.len()));
    let threads: Vec<_> = backends
        .iter()
        .enumerate()
        .map(|(i, &backend)| {
            let barrier = Arc::clone(&barrier);
            let json = dir.join(format!("{i}-{backend}.json"));
            std::thread::spawn(move || {
                let mut args = vec![
                    "run",
                    "--backend",
                    backend,
                    "--json",
                    json.to_str().unwrap(),
                ];
                args.extend_from_slice(OPTIONS);
                barrier.wait();
                let output = common::run(&args);
                Finished {
                    backend,
                    output,
                    json,
                }
            })
        })
        .collect();
    threads
        .into_iter()
        .map(|t| t.join().expect("runner thread"))
        .collect()
}

/// Asserts what every run of `backends`, started together, must show; returns the results.
fn assert_no_collision(backends: &[&'static str], what: &str) -> Vec<reports::RunResult> {
    let dir = TempDir::new(what);
    let t = Instant::now();
    let finished = run_together(backends, &dir.0);
    let took = t.elapsed();
    // Whatever happens below, nothing of these runs may stay.
    let ids: Vec<String> = finished
        .iter()
        .map(|f| run_id_of(&String::from_utf8_lossy(&f.output.stdout)))
        .collect();
    let _guard = Cleanup(ids.clone());

    for f in &finished {
        assert_eq!(code(&f.output), 0, "{}: {}", f.backend, text(&f.output));
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "run ids collide: {ids:?}");

    let mut results = Vec::new();
    for (f, id) in finished.iter().zip(&ids) {
        let who = format!("{} run {id}", f.backend);
        let r = reports::read_result(&f.json).unwrap_or_else(|e| panic!("{who}: {e}"));
        assert_eq!(&r.run_id, id, "{who}");
        assert_eq!(r.parameters.backend, f.backend, "{who}");
        assert_eq!(r.outcome, reports::Outcome::Passed, "{who}");
        let failed: Vec<_> = r
            .checks
            .iter()
            .filter(|c| c.outcome != reports::CheckOutcome::Pass)
            .collect();
        assert!(failed.is_empty(), "{who}: {failed:#?}");
        assert!(r.checks.len() > 20, "{who}: only {} checks", r.checks.len());
        // Every namespace it built carries its own run id.
        for ns in &r.topology {
            assert!(
                ns.name.starts_with(&format!("cnb-{id}-")),
                "{who}: {}",
                ns.name
            );
        }
        assert_measured(&r, &who);
        assert_nothing_left(id);
        results.push(r);
    }
    // They really worked at the same time: one after the other would have taken at least
    // as long as their set-up, checks, measurements and teardowns together.
    let busy: Duration = results
        .iter()
        .map(|r| {
            let t = &r.timings;
            Duration::from_nanos(
                [t.setup_ns, t.checks_ns, t.measure_ns, t.teardown_ns]
                    .iter()
                    .map(|p| p.expect("every phase timed"))
                    .sum(),
            )
        })
        .sum();
    assert!(
        took < busy,
        "{what}: {took:?} wall clock, {busy:?} of work: the runs did not overlap"
    );
    eprintln!(
        "{what}: {} runs at once took {took:.1?} ({busy:.1?} of work)",
        backends.len()
    );
    assert!(
        took < Duration::from_secs(60),
        "{what}: {took:?} for short runs"
    );
    results
}

/// Every case on every path the run measured, one repetition with a plausible headline
/// figure, and a traced repetition.
fn assert_measured(r: &reports::RunResult, who: &str) {
    let mut paths: Vec<&str> = r.measurements.iter().map(|m| m.path.as_str()).collect();
    paths.sort();
    paths.dedup();
    assert!(paths.contains(&"cross-node"), "{who}: paths {paths:?}");
    for path in paths {
        for (workload, variant, headline) in CASES {
            let m = r
                .measurements
                .iter()
                .find(|m| {
                    m.path == path && m.workload == *workload && m.variant.as_deref() == *variant
                })
                .unwrap_or_else(|| panic!("{who}: no {workload} {variant:?} on {path}"));
            let what = format!("{who}: {} {path}", m.label());
            assert_eq!(m.repetitions.len(), 1, "{what}");
            assert_eq!(m.costs.len(), 1, "{what}");
            let median = m.summary_of(headline).map_or(0.0, |s| s.median);
            assert!(median > 0.0, "{what}: {headline} {median}");
            assert!(m.traced.is_some(), "{what}: not traced");
        }
    }
}

/// The transmissions per packet counted on the run's own devices (not the name-filtered
/// tracepoint, which also counts a same-named device of another run) on `path`.
fn own_tx_per_packet(r: &reports::RunResult, path: &str) -> f64 {
    r.measurements
        .iter()
        .find(|m| m.path == path && m.workload == "tcp-rr")
        .and_then(|m| m.costs[0].device_tx_per_packet)
        .unwrap_or_else(|| panic!("run {}: no device counters on {path}", r.run_id))
}

#[test]
fn two_vxlan_runs_at_once_do_not_collide() {
    let results = assert_no_collision(&["vxlan", "vxlan"], "vxlan-vxlan");
    for r in &results {
        // The hardest case: both have the same device names and addresses.
        let n0 = r
            .topology
            .iter()
            .find(|n| n.role == "node" && n.node.as_deref() == Some("n0"))
            .unwrap();
        for dev in ["eth0", "cni0", "flannel.1"] {
            assert!(
                n0.devices.iter().any(|d| d.name == dev),
                "run {}: no {dev} on n0",
                r.run_id
            );
        }
        // Each run's own device counters see only its packets: 6 transmissions per packet
        // across the tunnel, 2 through the node's bridge (README).
        let cross = own_tx_per_packet(r, "cross-node");
        assert!((5.5..6.5).contains(&cross), "run {}: {cross}", r.run_id);
        let same = own_tx_per_packet(r, "same-node");
        assert!((1.5..2.5).contains(&same), "run {}: {same}", r.run_id);
    }
}

#[test]
fn vxlan_and_bgp_runs_at_once_do_not_collide() {
    // Two of the same and one with BIRD daemons (port 179 in every node, control sockets).
    let results = assert_no_collision(&["vxlan", "bgp", "vxlan"], "vxlan-bgp");
    assert_eq!(results[1].parameters.backend, "bgp");
}

/// Two runs that drew the same id at the same moment: the one that comes second is refused
/// before it creates anything, and the first one's record stays as it was written. (Without
/// the claim, the second overwrote the first's record and, once it met the first's
/// namespaces, rolled back: it removed them and the first's state with its own.)
#[test]
fn a_run_id_claimed_by_another_run_is_refused_and_left_alone() {
    use harness::run::{Launch, Topology};
    use harness::state::{Mode, RunState};
    use harness::topology::{new_run_id, TopologyRequest};

    let backend = backend_bridge::Bridge;
    let id = new_run_id();
    let plan = || {
        backend_bridge::INFO
            .plan(&TopologyRequest::default(), id.clone())
            .expect("plan")
    };
    // The other run, in another live process (our parent): its state is written first, its
    // namespaces are about to be made.
    let first = plan();
    let owner = std::os::unix::process::parent_id();
    let other = RunState {
        run_id: id.clone(),
        backend: "bridge".into(),
        backend_options: Default::default(),
        mode: Mode::Run,
        owner_pid: owner,
        owner_start_ticks: harness::state::start_ticks(owner).expect("parent is alive"),
        spec: first.spec.clone(),
        plan: None,
        namespaces: first.namespaces(),
        daemons: Vec::new(),
    };
    other.save().expect("the first run claims its id");
    let _guard = Cleanup(vec![id.clone()]);
    let record = RunState::dir(&id).join("state.json");
    let before = std::fs::read(&record).unwrap();

    let launch = Launch {
        mode: Mode::Run,
        backend_options: Default::default(),
        exe: PathBuf::from(env!("CARGO_BIN_EXE_cnbench")),
    };
    let err = match Topology::up(&backend, plan(), launch) {
        Ok(topology) => {
            let _ = topology.down(&backend);
            panic!("a second run took id {id}");
        }
        Err(e) => e.to_string(),
    };
    assert!(err.contains("taken by another run"), "{err}");
    assert!(
        common::namespaces_of(&id).is_empty(),
        "the second run made namespaces"
    );
    assert_eq!(
        std::fs::read(&record).unwrap(),
        before,
        "the first run's record changed"
    );
    RunState::remove(&id).unwrap();
}
