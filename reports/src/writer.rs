//! Writing and reading result files.
//!
//! A run's result is written again after every step (setup, checks, each measurement), so a
//! failure or a Ctrl-C late in a long run loses nothing already measured. Each write goes to
//! `PATH.tmp` and is then renamed over `PATH`; rename is atomic within a file system, so a
//! reader (or a crash) sees either the previous complete result or the new one, never half.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::ReportError;
use crate::schema::{RunResult, SCHEMA_VERSION};

/// Writes one run's result to a JSON file, replacing it atomically on every write.
#[derive(Debug)]
pub struct ResultWriter {
    path: PathBuf,
    tmp_path: PathBuf,
}

impl ResultWriter {
    /// Creates (or truncates) the result file now, so that a bad path fails before any work
    /// is done. Also checks that `PATH.tmp` can be created beside it, as every write needs it.
    pub fn create(path: &Path) -> Result<ResultWriter, ReportError> {
        let tmp_path = tmp_path_for(path);
        File::create(path).map_err(|error| ReportError::Create {
            path: path.to_owned(),
            error,
        })?;
        File::create(&tmp_path).map_err(|error| ReportError::Create {
            path: tmp_path.clone(),
            error,
        })?;
        // Only a probe; a leftover would be overwritten by the next write anyway.
        let _ = fs::remove_file(&tmp_path);
        Ok(ResultWriter {
            path: path.to_owned(),
            tmp_path,
        })
    }

    /// The file results are written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Replaces the file's content with `result` as pretty-printed JSON: written and synced
    /// to `PATH.tmp`, then renamed over `PATH`.
    pub fn write(&mut self, result: &RunResult) -> Result<(), ReportError> {
        self.write_value(result)
    }

    /// Writes any serializable result (a scale result, say) the same way.
    pub fn write_value<T: serde::Serialize>(&mut self, result: &T) -> Result<(), ReportError> {
        let mut json = serde_json::to_string_pretty(result)
            .map_err(|error| ReportError::Serialize { error })?;
        json.push('\n');
        if let Err(error) = write_synced(&self.tmp_path, json.as_bytes()) {
            let _ = fs::remove_file(&self.tmp_path);
            return Err(ReportError::Write {
                path: self.tmp_path.clone(),
                error,
            });
        }
        fs::rename(&self.tmp_path, &self.path).map_err(|error| {
            let _ = fs::remove_file(&self.tmp_path);
            ReportError::Write {
                path: self.path.clone(),
                error,
            }
        })
    }
}

/// `result` as pretty-printed JSON with a final newline, exactly as [`ResultWriter`] writes it.
pub fn to_json(result: &RunResult) -> Result<String, ReportError> {
    let mut json =
        serde_json::to_string_pretty(result).map_err(|error| ReportError::Serialize { error })?;
    json.push('\n');
    Ok(json)
}

/// Reads a result file written by [`ResultWriter`].
///
/// The `schema_version` is checked before anything else, so a file from another version gives
/// [`ReportError::SchemaVersion`] rather than a confusing parse error.
pub fn read_result(path: &Path) -> Result<RunResult, ReportError> {
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
    if found != SCHEMA_VERSION {
        return Err(ReportError::SchemaVersion {
            path: path.to_owned(),
            found,
            expected: SCHEMA_VERSION,
        });
    }
    if value.get("kind").and_then(|k| k.as_str()) == Some("scale") {
        return Err(ReportError::ScaleResult {
            path: path.to_owned(),
        });
    }
    RunResult::deserialize(value).map_err(parse_error)
}

/// `PATH.tmp`: the same name with `.tmp` appended, in the same directory (rename needs that).
fn tmp_path_for(path: &Path) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(".tmp");
    PathBuf::from(name)
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = File::create(path)?;
    file.write_all(bytes)?;
    // Without the sync, a crash soon after the rename can leave an empty file behind.
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::full_result;
    use crate::Outcome;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> TempDir {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "cnbench-reports-test-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn create_makes_the_file_up_front() {
        let dir = TempDir::new();
        let path = dir.0.join("run.json");
        let writer = ResultWriter::create(&path).unwrap();
        assert_eq!(writer.path(), path);
        assert!(path.exists());
        assert!(!dir.0.join("run.json.tmp").exists());
    }

    #[test]
    fn each_write_replaces_the_whole_file() {
        let dir = TempDir::new();
        let path = dir.0.join("run.json");
        let mut writer = ResultWriter::create(&path).unwrap();
        let mut r = full_result();
        r.outcome = Outcome::Incomplete;
        writer.write(&r).unwrap();
        assert_eq!(read_result(&path).unwrap(), r);

        r.measurements.truncate(1);
        r.outcome = Outcome::Passed;
        writer.write(&r).unwrap();
        assert_eq!(read_result(&path).unwrap(), r);
        assert!(!dir.0.join("run.json.tmp").exists());
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("{\n  \"schema_version\": 5,"), "{text}");
        assert!(text.ends_with("}\n"));
        assert_eq!(text, to_json(&r).unwrap());
    }

    #[test]
    fn bad_path_fails_at_create_naming_path_and_fix() {
        let dir = TempDir::new();
        let path = dir.0.join("missing").join("run.json");
        let err = ResultWriter::create(&path).unwrap_err();
        assert!(matches!(err, ReportError::Create { .. }));
        let message = err.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("No such file or directory"), "{message}");
        assert!(
            message.ends_with("pick a --json path in an existing, writable directory"),
            "{message}"
        );
    }

    #[test]
    fn other_schema_version_is_refused() {
        let dir = TempDir::new();
        let path = dir.0.join("old.json");
        let mut value = serde_json::to_value(full_result()).unwrap();
        value["schema_version"] = 6.into();
        // A future version may change the shape too; the version must still be what is reported.
        value["measurements"] = "changed".into();
        fs::write(&path, value.to_string()).unwrap();
        let err = read_result(&path).unwrap_err();
        assert!(
            matches!(&err, ReportError::SchemaVersion { found: 6, expected: 5, path: p } if *p == path),
            "{err:?}"
        );
        assert!(err.to_string().contains("has schema_version 6"), "{err}");

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
                    expected: 5,
                    ..
                }
            ),
            "{err:?}"
        );
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
        let scale = crate::ScaleResult::new(full_result().environment, "bgp", "l2");
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
    }
}
