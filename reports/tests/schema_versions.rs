//! Every reader accepts every result schema version from 5 on: a real version 5 result (a
//! vxlan run with its host-net baseline, committed as `cnbench run --json` wrote it) is read,
//! compared with itself, and compared as a baseline against a candidate of the current version.

use std::path::{Path, PathBuf};

use cnbench_reports as reports;
use reports::{compare, compare_files, CompareOptions, ResultWriter, Verdict, SCHEMA_VERSION};

fn v5_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/vxlan-schema-v5.json")
}

#[test]
fn a_version_5_result_is_read_as_written() {
    let r = reports::read_result(&v5_file()).unwrap();
    assert_eq!(r.schema_version, 5);
    assert_eq!(r.parameters.backend, "vxlan");
    assert!(r.parameters.backend_options.is_empty());
    assert_eq!(r.measurements.len(), 12);
    assert!(r.baseline.is_some());
    // Read back into the same JSON: nothing lost, nothing added.
    let original: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(v5_file()).unwrap()).unwrap();
    assert_eq!(serde_json::to_value(&r).unwrap(), original);
}

#[test]
fn a_version_5_baseline_compares_with_a_current_candidate() {
    let dir = std::env::temp_dir().join(format!("cnbench-schema-v5-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let candidate_path = dir.join("candidate.json");

    // The candidate as this build writes it: the current schema, with its backend options.
    // Another run of the same build: its own run id, in its namespace names too.
    let json = std::fs::read_to_string(v5_file())
        .unwrap()
        .replace("e5e9fa", "c0ffee");
    let mut candidate: reports::RunResult = serde_json::from_str(&json).unwrap();
    candidate.schema_version = SCHEMA_VERSION;
    candidate
        .parameters
        .backend_options
        .insert("datapath".into(), "kernel".into());
    ResultWriter::create(&candidate_path)
        .unwrap()
        .write(&candidate)
        .unwrap();
    let written = std::fs::read_to_string(&candidate_path).unwrap();
    assert!(
        written.contains(&format!("\"schema_version\": {SCHEMA_VERSION}")),
        "{written}"
    );
    assert!(written.contains("\"backend_options\""), "{written}");

    let options = CompareOptions::default();
    let cmp = compare_files(&v5_file(), &candidate_path, &options).unwrap();
    assert_eq!(cmp.baseline.run_id, "e5e9fa");
    assert_eq!(cmp.candidate.run_id, "c0ffee");
    // The same figures: every metric passes or is information, every check is compared.
    assert_eq!(cmp.verdict, Verdict::Pass, "{cmp:#?}");
    assert!(cmp.metrics.len() > 40, "{}", cmp.metrics.len());
    assert_eq!(cmp.checks.len(), 90);
    // And the other way round, from the results in memory.
    let baseline = reports::read_result(&v5_file()).unwrap();
    assert_eq!(
        compare(&candidate, &baseline, &options).unwrap().verdict,
        Verdict::Pass
    );
    // A version 5 result records no software under test: against a candidate that does,
    // nothing is said of it and nothing else changes.
    let warnings = cmp.warnings.clone();
    candidate.components = vec![reports::ComponentRecord {
        role: "cni-plugin".into(),
        name: "bridge".into(),
        path: Some("/usr/lib/cni/bridge".into()),
        supported_versions: vec!["1.0.0".into()],
        ..Default::default()
    }];
    let with_components = compare(&baseline, &candidate, &options).unwrap();
    assert_eq!(with_components.warnings, warnings);
    assert_eq!(with_components.verdict, Verdict::Pass);
    assert!(with_components.baseline.components.is_empty());
    assert_eq!(with_components.candidate.components.len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A `cnbench scale` result of schema version 10, committed as that version wrote it: one
/// swept option, `bgp-topology`, as each point's `topology`.
fn scale_v10_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/bgp-scale-schema-v10.json")
}

#[test]
fn a_version_10_scale_result_is_read_as_written_with_its_topologies_as_variants() {
    let r = reports::read_scale(&scale_v10_file()).unwrap();
    assert_eq!(r.schema_version, 10);
    assert!(r.swept.is_empty() && r.mem_available_before_bytes.is_none());
    let shape: Vec<(String, u32, bool)> = r
        .points
        .iter()
        .map(|p| (p.options()["bgp-topology"].clone(), p.nodes, p.converged))
        .collect();
    assert_eq!(
        shape,
        [
            ("mesh".into(), 2, true),
            ("mesh".into(), 3, true),
            ("rr".into(), 2, true),
            ("rr".into(), 3, true)
        ]
    );
    assert!(r.points.iter().all(|p| p.variant.is_empty()));
    // The curves are told apart by the topology; no memory per node, so no bound from it.
    assert_eq!(r.varied(), ["bgp-topology"]);
    assert_eq!(r.nodes_memory_allows(&r.points[0]), None);
    // Read back into the same JSON: nothing lost, nothing added.
    let original: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(scale_v10_file()).unwrap()).unwrap();
    assert_eq!(serde_json::to_value(&r).unwrap(), original);
}
