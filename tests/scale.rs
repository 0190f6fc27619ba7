//! `cnbench scale` end to end, as root, with real BIRD: a sweep of two bgp options
//! (`--bgp-topology mesh,rr` × `--bgp-announce block,pod`) at 2 and 3 nodes measures every
//! combination at every size, records each swept option's value as its own field, the
//! sessions the topology has and those Established, memory per node, the machine's available
//! memory, and leaves nothing of any point: no namespace, no state directory, no daemon.
//! (Bad input, `--until-fails` with sizes that do not go up among it, is in
//! `tests/bad_input.rs`.) BIRD's fast timers keep each point to about two seconds.

mod common;

use std::collections::BTreeMap;

use common::{code, run, text, Cleanup};

/// Pids of processes whose command line names run `id`'s state directory (a BIRD's
/// configuration and socket live there).
fn daemons_of(id: &str) -> Vec<u32> {
    let needle = format!("/run/cnbench/{id}/");
    std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
                .filter(|pid| {
                    std::fs::read(format!("/proc/{pid}/cmdline"))
                        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
                        .is_ok_and(|c| c.contains(&needle))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_sweep_of_two_options_measures_every_combination_and_leaves_nothing() {
    let json = std::env::temp_dir().join(format!("cnbench-test-scale-{}.json", std::process::id()));
    let o = run(&[
        "scale",
        "-b",
        "bgp",
        "--nodes",
        "2,3",
        "--bgp-topology",
        "mesh,rr",
        "--bgp-announce",
        "block,pod",
        "--timeout",
        "30",
        "--json",
        json.to_str().unwrap(),
    ]);
    // Each point names its run on stderr; whatever happens below, none is left standing.
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    let ids: Vec<String> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("cnbench scale: run "))
        .filter_map(|rest| rest.split(':').next())
        .map(String::from)
        .collect();
    let _cleanup = Cleanup(ids.clone());
    assert_eq!(code(&o), 0, "{}", text(&o));
    let result: reports::ScaleResult =
        serde_json::from_slice(&std::fs::read(&json).expect("scale wrote its result"))
            .expect("scale result parses");
    let _ = std::fs::remove_file(&json);
    assert_eq!(result.schema_version, reports::SCHEMA_VERSION);
    assert_eq!(
        (result.kind.as_str(), result.backend.as_str()),
        ("scale", "bgp")
    );
    // The speaker is swept first, BIRD only unless the command line names more.
    assert_eq!(
        result.swept,
        ["bgp-speaker", "bgp-topology", "bgp-announce"]
    );
    // The swept options are the points', not the result's.
    assert!(!result.backend_options.contains_key("bgp-topology"));
    assert!(!result.backend_options.contains_key("bgp-announce"));
    assert!(result.mem_available_before_bytes.unwrap() > 1 << 28);
    assert!(!result.until_fails);
    // The first option varies slowest, sizes fastest.
    let shape: Vec<(&str, &str, u32, bool)> = result
        .points
        .iter()
        .map(|p| {
            (
                p.variant["bgp-topology"].as_str(),
                p.variant["bgp-announce"].as_str(),
                p.nodes,
                p.converged,
            )
        })
        .collect();
    let mut want = Vec::new();
    for t in ["mesh", "rr"] {
        for a in ["block", "pod"] {
            for n in [2, 3] {
                want.push((t, a, n, true));
            }
        }
    }
    assert_eq!(shape, want, "{result:#?}");
    for p in &result.points {
        assert_eq!(p.variant["bgp-speaker"], "bird", "{p:?}");
        assert!(p.error.is_none() && p.limit.is_none(), "{p:?}");
        assert!(p.topology.is_empty(), "the old field is not written: {p:?}");
        // 3 nodes: a mesh has 3 sessions; with two reflectors, 2. Every node learns the
        // other nodes' blocks (or their one pod's /32 each).
        let sessions = match (p.variant["bgp-topology"].as_str(), p.nodes) {
            (_, 2) => 1,
            ("mesh", _) => 3,
            _ => 2,
        };
        assert_eq!(p.sessions_expected, Some(sessions), "{p:?}");
        assert_eq!(p.sessions_total, Some(sessions), "{p:?}");
        assert_eq!(p.sessions_dropped, Some(0), "{p:?}");
        let learned = u64::from(p.nodes) - 1;
        assert_eq!(
            (p.routes_per_node_min, p.routes_per_node_max),
            (Some(learned), Some(learned))
        );
        // One BIRD per node, a few MiB each: the mean of the nodes, the largest node, all.
        let mean = p.daemon_rss_bytes_per_node_mean.unwrap();
        let max = p.daemon_rss_bytes_per_node_max.unwrap();
        assert!(mean > 1e6 && mean <= max as f64, "{p:?}");
        assert_eq!(
            p.daemon_rss_bytes_total,
            Some((mean * f64::from(p.nodes)).round() as u64),
            "{p:?}"
        );
        assert!(p.daemon_cpu_ms_total.unwrap() > 0.0, "{p:?}");
        assert!(
            p.daemon_wall_ms.unwrap() >= p.convergence_ms.unwrap() - 1.0,
            "{p:?}"
        );
        assert!(p.mem_available_bytes.unwrap() > 1 << 28);
        assert!(result.nodes_memory_allows(p).unwrap() > 100);
    }
    let variants: Vec<BTreeMap<String, String>> =
        result.points.iter().map(|p| p.variant.clone()).collect();
    assert_eq!(variants.len(), 8);
    // The table names each variant in sweep order, and the summary each variant's bound.
    let stdout = String::from_utf8_lossy(&o.stdout);
    for v in ["mesh/block", "mesh/pod", "rr/block", "rr/pod"] {
        assert!(
            stdout.contains(&format!(
                "{v}: converged up to 3 nodes; memory allows about"
            )),
            "{v}: {stdout}"
        );
    }
    assert_eq!(ids.len(), 8, "{}", text(&o));
    for id in &ids {
        common::assert_nothing_left(id);
        assert!(
            daemons_of(id).is_empty(),
            "run {id} left {:?}",
            daemons_of(id)
        );
    }
}
