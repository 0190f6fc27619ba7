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

use crate::error::ReportError;
use crate::schema::RunResult;

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
    use crate::fixtures::full_result;
    use crate::fixtures::TempDir;
    use crate::read::read_result;
    use crate::Outcome;

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
        assert!(text.starts_with("{\n  \"schema_version\": 11,"), "{text}");
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
}
