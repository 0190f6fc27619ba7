//! `cnbench compare`: a verdict per metric of a candidate result against a baseline, as a
//! table, and as Markdown, JUnit or JSON files (or JSON on stdout).

use std::path::Path;

use anyhow::{anyhow, bail, Context as _, Result};
use reports::calibration::{self, Calibration, MachineId};
use reports::compare::{self, CalibrationInUse, CompareOptions, Comparison};

use super::writable_file;
use crate::cli::{CompareArgs, DecisionArgs, VerdictOutputArgs};
use crate::ExitCode;

/// `cnbench compare`: everything is read and checked before anything is written.
pub fn compare(args: &CompareArgs) -> Result<ExitCode> {
    let backend = reports::read_result(&args.baseline)?.parameters.backend;
    // A noise floor given by hand replaces any calibration, which is then not even read.
    let mut options = decision_options(&args.decision, &backend, args.noise_floor.is_none())?;
    if let Some(floor) = &args.noise_floor {
        options.noise_floor =
            compare::parse_threshold(floor).map_err(|e| anyhow!("--noise-floor {floor}: {e}"))?;
    }
    options.across_backends = args.across_backends;
    check_outputs(&args.output)?;
    // Reads both and refuses, naming both files, an emulated (VM) result against a native one.
    let cmp = compare::compare_files(&args.baseline, &args.candidate, &options)?;
    say_raw!("{}", render::text::compare_table(&cmp));
    let json = serde_json::to_string_pretty(&cmp).context("serializing the comparison")? + "\n";
    write_outputs(&args.output, &cmp, json)?;
    Ok(exit_code(&cmp))
}

/// The options of `--threshold`, `--metric-threshold`, `--count-tolerance` and the
/// calibration of `backend` (the one given, else the default file when it exists), unless
/// `calibrated` is false.
pub fn decision_options(
    args: &DecisionArgs,
    backend: &str,
    calibrated: bool,
) -> Result<CompareOptions> {
    let mut options = CompareOptions::from_args(args.threshold.as_deref(), &args.metric_threshold)?;
    if !(args.count_tolerance.is_finite() && args.count_tolerance >= 0.0) {
        bail!(
            "--count-tolerance {}: give a count per packet of 0 or more, e.g. 0.05",
            args.count_tolerance
        );
    }
    options.count_tolerance = args.count_tolerance;
    if calibrated && !args.no_calibration {
        options.calibration = calibration_for(args.calibration.as_deref(), backend)?;
    }
    Ok(options)
}

/// The calibration at `path`, or at the default place of `backend` when it exists, checked
/// to describe this machine, this cnbench and this backend.
pub fn calibration_for(path: Option<&Path>, backend: &str) -> Result<Option<CalibrationInUse>> {
    let default = calibration::default_path(backend);
    let path = match path {
        Some(p) => p,
        None if default.exists() => default.as_path(),
        None => return Ok(None),
    };
    let c = Calibration::read(path)?;
    c.usable_here(
        path,
        &MachineId::here(&super::environment()),
        env!("CARGO_PKG_VERSION"),
        backend,
    )?;
    Ok(Some(CalibrationInUse {
        source: c.describe(path),
        noise: c.noise,
    }))
}

/// Refuses output paths that cannot be written, before anything is measured or read.
pub fn check_outputs(output: &VerdictOutputArgs) -> Result<()> {
    for (option, path) in [
        ("--markdown", &output.markdown),
        ("--junit", &output.junit),
        ("--json", &output.json),
    ] {
        if let Some(path) = path {
            if option != "--json" && path == Path::new("-") {
                bail!("{option} -: only --json writes to stdout; give {option} a file name");
            }
            writable_file(option, path)?;
        }
    }
    // The table goes where human text goes: stderr when the JSON has stdout.
    if output.json.as_deref() == Some(Path::new("-")) {
        crate::output::human_to_stderr();
    }
    Ok(())
}

/// Writes the comparison's Markdown and JUnit forms, and `json`, where asked.
pub fn write_outputs(output: &VerdictOutputArgs, cmp: &Comparison, json: String) -> Result<()> {
    let write = |path: &Option<std::path::PathBuf>, what: &str, text: String| -> Result<()> {
        match path {
            // Only --json takes `-` (checked above).
            Some(p) if p == Path::new("-") => {
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
    write(&output.markdown, "Markdown", render::compare::markdown(cmp))?;
    write(&output.junit, "JUnit XML", render::compare::junit(cmp))?;
    write(&output.json, "JSON", json)
}

/// 0 nothing regressed or undecided, 1 a regression, 3 inconclusive.
pub fn exit_code(cmp: &Comparison) -> ExitCode {
    match cmp.exit_code() {
        0 => ExitCode::Ok,
        1 => ExitCode::ChecksFailed,
        _ => ExitCode::Inconclusive,
    }
}
