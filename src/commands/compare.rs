//! `cnbench compare`: a verdict per metric of a candidate result against a baseline, as a
//! table, and as Markdown, JUnit or JSON files (or JSON on stdout).

use anyhow::{anyhow, bail, Context as _, Result};
use reports::compare::{self, CompareOptions};

use super::writable_file;
use crate::cli::CompareArgs;
use crate::ExitCode;

/// `cnbench compare`: everything is read and checked before anything is written.
pub fn compare(args: &CompareArgs) -> Result<ExitCode> {
    let mut options = CompareOptions::from_args(args.threshold.as_deref(), &args.metric_threshold)?;
    if let Some(floor) = &args.noise_floor {
        options.noise_floor =
            compare::parse_threshold(floor).map_err(|e| anyhow!("--noise-floor {floor}: {e}"))?;
    }
    options.across_backends = args.across_backends;
    for (option, path) in [
        ("--markdown", &args.markdown),
        ("--junit", &args.junit),
        ("--json", &args.json),
    ] {
        if let Some(path) = path {
            if option != "--json" && path == std::path::Path::new("-") {
                bail!("{option} -: only --json writes to stdout; give {option} a file name");
            }
            writable_file(option, path)?;
        }
    }
    // The table goes where human text goes: stderr when the JSON has stdout.
    let json_to_stdout = args.json.as_deref() == Some(std::path::Path::new("-"));
    if json_to_stdout {
        crate::output::human_to_stderr();
    }
    // Reads both and refuses, naming both files, an emulated (VM) result against a native one.
    let cmp = compare::compare_files(&args.baseline, &args.candidate, &options)?;
    say_raw!("{}", render::text::compare_table(&cmp));
    let write = |path: &Option<std::path::PathBuf>, what: &str, text: String| -> Result<()> {
        match path {
            // Only --json takes `-` (checked above).
            Some(p) if p == std::path::Path::new("-") => {
                use std::io::Write as _;
                std::io::stdout()
                    .lock()
                    .write_all(text.as_bytes())
                    .with_context(|| format!("writing the {what} to stdout"))
            }
            Some(p) => std::fs::write(p, text)
                .with_context(|| format!("writing the {what} to {}", p.display())),
            None => Ok(()),
        }
    };
    write(&args.markdown, "Markdown", render::compare::markdown(&cmp))?;
    write(&args.junit, "JUnit XML", render::compare::junit(&cmp))?;
    write(
        &args.json,
        "JSON",
        serde_json::to_string_pretty(&cmp).context("serializing the comparison")? + "\n",
    )?;
    Ok(match cmp.exit_code() {
        0 => ExitCode::Ok,
        1 => ExitCode::ChecksFailed,
        _ => ExitCode::Inconclusive,
    })
}
