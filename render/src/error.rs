//! Errors of the render crate. Every message names the file or directory involved and says
//! what to do, so the binary can print it as is (the cause is part of the message, not a
//! `source()`, so `{:#}` does not print it twice).

use std::io;
use std::path::PathBuf;

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// No result files were given.
    #[error(
        "no results to report on; pass one or more result files written by `cnbench run --json` or `cnbench scale`"
    )]
    NoInputs,

    /// A result file could not be read (not JSON, not a result, a schema version not read).
    #[error(transparent)]
    Read(#[from] reports::ReportError),

    /// A file could not be read at all.
    #[error(
        "cannot read result file {}: {error}; check the path, it should be a file written by `cnbench run --json` or `cnbench scale`",
        path.display()
    )]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        error: io::Error,
    },

    /// The output directory could not be created.
    #[error(
        "cannot create report directory {}: {error}; pass --out a directory you can write to (it is created if missing; it must not be an existing file)",
        path.display()
    )]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// What the operating system said.
        error: io::Error,
    },

    /// A report file could not be written.
    #[error(
        "cannot write report file {}: {error}; check that the --out directory is writable and its file system has free space",
        path.display()
    )]
    Write {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        error: String,
    },

    /// A plot could not be drawn (a bug: the data was accepted, the drawing failed).
    #[error("cannot draw plot {name}: {message}; this is a cnbench bug, please report it with the result files")]
    Draw {
        /// The plot's name.
        name: String,
        /// What plotters said.
        message: String,
    },
}
