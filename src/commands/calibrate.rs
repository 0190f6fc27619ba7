//! `cnbench calibrate`: interleaved A/A runs of one configuration, and what they show of this
//! machine's noise per metric, kept for `compare` and `ab` ([`reports::calibration`]).
//!
//! The pairs run exactly as `cnbench ab --aa` runs them (no stopping rule: every pair asked
//! for is measured). For each metric of each measurement, `run_to_run` is the standard
//! deviation of the logarithms of all runs' values (what `compare`'s noise guard assumes of
//! two runs made at different times) and `pair_spread` that of the pairs' log-ratios (what
//! interleaving leaves, `ab`'s spread floor).

use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use reports::calibration::{
    default_path, sample_sd, CalibratedNoise, Calibration, MachineId, CALIBRATION_VERSION,
};
use reports::compare::CompareOptions;

use super::ab::{backend_of, clock_seed, interleave, run_args_checked, series_of, work_dir, Side};
use crate::cli::CalibrateArgs;
use crate::ExitCode;

/// `cnbench calibrate`.
pub fn calibrate(args: &CalibrateArgs) -> Result<ExitCode> {
    if args.pairs < reports::paired::MIN_PAIRS as u32 {
        bail!(
            "--pairs {}: a spread needs at least {} pairs; give --pairs 8 or more for a floor \
             worth keeping",
            args.pairs,
            reports::paired::MIN_PAIRS
        );
    }
    let exe = super::exe()?;
    let all = run_args_checked(&args.run, &[], true)?;
    let Some(backend) = backend_of(&all) else {
        bail!("calibrate needs the backend among the run arguments: -- --backend NAME ...");
    };
    let out = args.out.clone().unwrap_or_else(|| default_path(&backend));
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {} for the calibration", parent.display()))?;
    }
    super::writable_file("--out", &out)?;
    let side = |name| Side {
        name,
        exe: exe.clone(),
        args: Vec::new(),
    };
    let (a, b) = (side("A"), side("B"));
    let seed = args.seed.unwrap_or_else(clock_seed);
    let (dir, _) = work_dir(None, "calibrate")?;
    say!(
        "calibrate {backend}: {} interleaved A/A pairs (seed {seed})",
        args.pairs
    );
    let done = interleave(
        [&a, &b],
        &args.run,
        &dir,
        seed,
        Duration::MAX,
        args.pairs,
        &CompareOptions::default(),
        false,
    );
    let _ = std::fs::remove_dir_all(&dir);
    let done = done?;
    let mut noise = Vec::new();
    for ((measurement, path, metric), s) in series_of(&done.a, &done.b) {
        let logs = |v: &[f64]| -> Vec<f64> {
            v.iter()
                .filter(|x| x.is_finite())
                .map(|x| {
                    if metric == "loss_percent" {
                        x / 100.0
                    } else {
                        x.max(f64::MIN_POSITIVE).ln()
                    }
                })
                .collect()
        };
        let mut all = logs(&s.a);
        all.extend(logs(&s.b));
        noise.push(CalibratedNoise {
            measurement,
            path,
            metric,
            run_to_run: sample_sd(&all),
            pair_spread: sample_sd(&s.changes()),
            runs: all.len() as u32,
        });
    }
    let env = super::environment();
    let c = Calibration {
        calibration_version: CALIBRATION_VERSION,
        cnbench_version: env.cnbench_version.clone(),
        git_revision: env.git_revision.clone(),
        machine: MachineId::here(&env),
        created_unix_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        backend,
        run_args: args.run.clone(),
        pairs: done.pairs.len() as u32,
        noise,
    };
    std::fs::write(&out, serde_json::to_string_pretty(&c)? + "\n")
        .with_context(|| format!("writing {}", out.display()))?;
    say!("{}", render::text::calibration_table(&c));
    say!("written to {}", out.display());
    Ok(ExitCode::Ok)
}
