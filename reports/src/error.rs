//! Errors of the reports crate.
//!
//! Every message names the file involved and says what to do about it, so the binary can print
//! it as is. The underlying I/O or JSON error is part of the message rather than a
//! `source()`: printed through `anyhow` as `{:#}` it would otherwise appear twice.

use std::io;
use std::path::PathBuf;

/// Why a result file could not be created, written or read.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The result file (or its temporary sibling `PATH.tmp`) could not be created.
    #[error(
        "cannot create result file {}: {error}; pick a --json path in an existing, writable directory",
        path.display()
    )]
    Create {
        /// The file that could not be created.
        path: PathBuf,
        /// What the operating system said.
        error: io::Error,
    },

    /// Writing or renaming the result file failed after it was created.
    #[error(
        "cannot write result file {}: {error}; check free space on its file system and that its directory is still writable",
        path.display()
    )]
    Write {
        /// The file that could not be written or renamed into place.
        path: PathBuf,
        /// What the operating system said.
        error: io::Error,
    },

    /// The result file could not be read.
    #[error(
        "cannot read result file {}: {error}; check the path, it should be the --json file of an earlier run",
        path.display()
    )]
    Read {
        /// The file that could not be read.
        path: PathBuf,
        /// What the operating system said.
        error: io::Error,
    },

    /// The file is not JSON, or not a cnbench result.
    #[error(
        "result file {} is not a cnbench result: {error}; pass a file written by `cnbench run --json` (an empty file means that run stopped before its first result)",
        path.display()
    )]
    Parse {
        /// The file that could not be parsed.
        path: PathBuf,
        /// What the JSON parser said.
        error: serde_json::Error,
    },

    /// The file was written with a result schema version this build does not read (older
    /// than [`crate::OLDEST_SCHEMA_VERSION`] or newer than [`crate::SCHEMA_VERSION`]).
    #[error(
        "result file {} has schema_version {found}, but this cnbench reads schema_version {oldest} to {newest}; read it with the cnbench release that wrote it, or run the benchmark again with this one",
        path.display()
    )]
    SchemaVersion {
        /// The file with the unexpected version.
        path: PathBuf,
        /// The `schema_version` found in the file.
        found: u32,
        /// The oldest version this build reads ([`crate::OLDEST_SCHEMA_VERSION`]).
        oldest: u32,
        /// The version this build writes, the newest it reads ([`crate::SCHEMA_VERSION`]).
        newest: u32,
    },

    /// The file says it is a `cnbench scale` result but is not a readable one.
    #[error(
        "result file {} is not a readable cnbench scale result: {error}; pass a file written by `cnbench scale`",
        path.display()
    )]
    ParseScale {
        /// The file that could not be parsed.
        path: PathBuf,
        /// What the JSON parser said.
        error: serde_json::Error,
    },

    /// A run result where a `cnbench scale` result is needed.
    #[error(
        "result file {} is not a `cnbench scale` result (it has no \"kind\": \"scale\"); pass a file written by `cnbench scale`",
        path.display()
    )]
    NotScale {
        /// The file.
        path: PathBuf,
    },

    /// The file is a `cnbench scale` result where a run result is needed (`compare`).
    #[error(
        "result file {} is a `cnbench scale` result; pass results of `cnbench run --json` (`cnbench report` shows scale results)",
        path.display()
    )]
    ScaleResult {
        /// The scale result file.
        path: PathBuf,
    },

    /// A result could not be turned into JSON.
    #[error(
        "cannot serialize the run result to JSON: {error}; this is a cnbench bug, please report it"
    )]
    Serialize {
        /// What the JSON serializer said.
        error: serde_json::Error,
    },
}
