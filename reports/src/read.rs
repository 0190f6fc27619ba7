//! Reading result files: run results ([`read_result`]) and scale results ([`read_scale`]).
//!
//! Both check the `schema_version` before anything else, so a file of a version this build
//! does not read gives [`ReportError::SchemaVersion`] (naming the versions it does read)
//! rather than a confusing parse error. Every version from [`OLDEST_SCHEMA_VERSION`] to
//! [`SCHEMA_VERSION`] is read: the versions since then only added fields with defaults.

use std::fs;
use std::path::Path;

use serde::Deserialize;

use crate::error::ReportError;
use crate::scale::ScaleResult;
use crate::schema::{reads_schema_version, RunResult, OLDEST_SCHEMA_VERSION, SCHEMA_VERSION};

/// Reads a run result file written by [`crate::ResultWriter`] (`cnbench run --json`).
///
/// Refuses a file of a schema version this build does not read
/// ([`ReportError::SchemaVersion`]) and a `cnbench scale` result ([`ReportError::ScaleResult`]).
pub fn read_result(path: &Path) -> Result<RunResult, ReportError> {
    let value = read_versioned(path)?;
    if is_scale(&value) {
        return Err(ReportError::ScaleResult {
            path: path.to_owned(),
        });
    }
    RunResult::deserialize(value).map_err(|error| ReportError::Parse {
        path: path.to_owned(),
        error,
    })
}

/// Reads a `cnbench scale` result file.
///
/// Refuses a file of a schema version this build does not read
/// ([`ReportError::SchemaVersion`]) and a run result ([`ReportError::NotScale`]).
pub fn read_scale(path: &Path) -> Result<ScaleResult, ReportError> {
    let value = read_versioned(path)?;
    if !is_scale(&value) {
        return Err(ReportError::NotScale {
            path: path.to_owned(),
        });
    }
    ScaleResult::deserialize(value).map_err(|error| ReportError::ParseScale {
        path: path.to_owned(),
        error,
    })
}

/// Whether a parsed result file is a scale result (`"kind": "scale"`).
pub fn is_scale(value: &serde_json::Value) -> bool {
    value.get("kind").and_then(|k| k.as_str()) == Some("scale")
}

/// The file as JSON, once its `schema_version` is one this build reads.
fn read_versioned(path: &Path) -> Result<serde_json::Value, ReportError> {
    /// Just enough of a result to learn its version.
    #[derive(Deserialize)]
    struct Versioned {
        schema_version: u32,
    }

    let parse_error = |error| ReportError::Parse {
        path: path.to_owned(),
        error,
    };
    let bytes = fs::read(path).map_err(|error| ReportError::Read {
        path: path.to_owned(),
        error,
    })?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(parse_error)?;
    let found = Versioned::deserialize(&value)
        .map_err(parse_error)?
        .schema_version;
    if !reads_schema_version(found) {
        return Err(ReportError::SchemaVersion {
            path: path.to_owned(),
            found,
            oldest: OLDEST_SCHEMA_VERSION,
            newest: SCHEMA_VERSION,
        });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{full_result, TempDir};

    #[test]
    fn every_version_from_the_oldest_is_read() {
        let dir = TempDir::new();
        let path = dir.0.join("run.json");
        for version in OLDEST_SCHEMA_VERSION..=SCHEMA_VERSION {
            let mut r = full_result();
            r.schema_version = version;
            fs::write(&path, serde_json::to_string(&r).unwrap()).unwrap();
            let back = read_result(&path).unwrap_or_else(|e| panic!("version {version}: {e}"));
            assert_eq!(back, r, "version {version}");
        }
        // A version 5 file has no backend options: they read back empty.
        let mut v5 = serde_json::to_value(full_result()).unwrap();
        v5["schema_version"] = 5.into();
        assert!(v5["parameters"].get("backend_options").is_none());
        fs::write(&path, v5.to_string()).unwrap();
        let r = read_result(&path).unwrap();
        assert_eq!(r.schema_version, 5);
        assert!(r.parameters.backend_options.is_empty());
    }

    #[test]
    fn other_schema_versions_are_refused_naming_what_is_read() {
        let dir = TempDir::new();
        let path = dir.0.join("new.json");
        let mut value = serde_json::to_value(full_result()).unwrap();
        value["schema_version"] = (SCHEMA_VERSION + 1).into();
        // A future version may change the shape too; the version must still be what is reported.
        value["measurements"] = "changed".into();
        fs::write(&path, value.to_string()).unwrap();
        let err = read_result(&path).unwrap_err();
        assert!(
            matches!(
                &err,
                ReportError::SchemaVersion { found, oldest: 5, newest, path: p }
                    if *found == SCHEMA_VERSION + 1 && *newest == SCHEMA_VERSION && *p == path
            ),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(
            message.contains(&format!("has schema_version {}", SCHEMA_VERSION + 1)),
            "{message}"
        );
        assert!(
            message.contains(&format!("reads schema_version 5 to {SCHEMA_VERSION}")),
            "{message}"
        );

        // A version 4 file (before the substrate) is refused by its version, not for lack of
        // the field.
        let mut v4 = serde_json::to_value(full_result()).unwrap();
        v4["schema_version"] = 4.into();
        v4.as_object_mut().unwrap().remove("substrate");
        fs::write(&path, v4.to_string()).unwrap();
        let err = read_result(&path).unwrap_err();
        assert!(
            matches!(
                &err,
                ReportError::SchemaVersion {
                    found: 4,
                    oldest: 5,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("has schema_version 4"), "{err}");
    }

    #[test]
    fn unreadable_or_invalid_files() {
        let dir = TempDir::new();
        let missing = dir.0.join("missing.json");
        assert!(matches!(
            read_result(&missing),
            Err(ReportError::Read { .. })
        ));

        let empty = dir.0.join("empty.json");
        fs::write(&empty, "").unwrap();
        let err = read_result(&empty).unwrap_err();
        assert!(matches!(err, ReportError::Parse { .. }));
        assert!(
            err.to_string().contains("stopped before its first result"),
            "{err}"
        );

        let unversioned = dir.0.join("unversioned.json");
        fs::write(&unversioned, "{\"run_id\": \"x\"}").unwrap();
        let err = read_result(&unversioned).unwrap_err();
        assert!(
            err.to_string().contains("missing field `schema_version`"),
            "{err}"
        );
    }

    #[test]
    fn a_scale_result_is_named_as_one() {
        let dir = TempDir::new();
        let path = dir.0.join("scale.json");
        let scale = ScaleResult::new(full_result().environment, "bgp", "l2");
        fs::write(&path, serde_json::to_string(&scale).unwrap()).unwrap();
        let err = read_result(&path).unwrap_err();
        assert!(
            matches!(&err, ReportError::ScaleResult { path: p } if *p == path),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("is a `cnbench scale` result"),
            "{err}"
        );
        // ... and read as what it is.
        assert_eq!(read_scale(&path).unwrap(), scale);
    }

    #[test]
    fn scale_results_are_read_across_versions_and_checked() {
        let dir = TempDir::new();
        let path = dir.0.join("scale.json");
        let mut scale =
            serde_json::to_value(ScaleResult::new(full_result().environment, "bgp", "l2")).unwrap();
        scale["schema_version"] = 5.into();
        fs::write(&path, scale.to_string()).unwrap();
        assert_eq!(read_scale(&path).unwrap().schema_version, 5);

        scale["schema_version"] = 1.into();
        fs::write(&path, scale.to_string()).unwrap();
        let err = read_scale(&path).unwrap_err();
        assert!(
            matches!(err, ReportError::SchemaVersion { found: 1, .. }),
            "{err:?}"
        );

        scale["schema_version"] = SCHEMA_VERSION.into();
        scale["points"] = "changed".into();
        fs::write(&path, scale.to_string()).unwrap();
        let err = read_scale(&path).unwrap_err();
        assert!(matches!(err, ReportError::ParseScale { .. }), "{err:?}");
        assert!(err.to_string().contains("scale.json"), "{err}");

        let run = dir.0.join("run.json");
        fs::write(&run, serde_json::to_string(&full_result()).unwrap()).unwrap();
        let err = read_scale(&run).unwrap_err();
        assert!(matches!(err, ReportError::NotScale { .. }), "{err:?}");
    }
}
