//! `cnbench ab`: two configurations measured interleaved, pair after pair, until the paired
//! changes decide every gated metric or the budget is spent (the rule is
//! [`reports::paired`]'s).
//!
//! Each side of a pair is one whole `cnbench run --repeat 1 --no-baseline` of the shared run
//! arguments plus the side's own, by the side's executable, as a child process: a fresh
//! topology each time, so the two sides can differ in anything a run takes (backend options,
//! a CNI configuration, another cnbench build) and a run's state never leaks into the next.
//! Both sides get the same `--placement`, so each pair's runs are pinned to the same CPUs.
//! The pairs' orders come from a seed that is printed and kept in the JSON.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use clap::Parser as _;
use reports::compare::counts::{compare_count, counts_of};
use reports::compare::{CompareOptions, Comparison, MetricComparison, Verdict};
use reports::paired::{self, Order, PairedDecision, PairedSeries, AB_GATED, MIN_PAIRS};
use reports::{RunResult, Sample};
use serde::Serialize;

use super::compare::{check_outputs, decision_options, exit_code, write_outputs};
use crate::cli::{AbArgs, Cli, Command as CliCommand};
use crate::ExitCode;

/// Version of the JSON `cnbench ab --json` writes.
pub const AB_VERSION: u32 = 1;

/// One side of the comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Side {
    /// `A` or `B`.
    pub name: &'static str,
    /// The executable.
    pub exe: PathBuf,
    /// The side's own `cnbench run` arguments.
    pub args: Vec<String>,
}

/// One pair as run.
#[derive(Debug, Clone, Serialize)]
pub struct PairRecord {
    /// Which ran first.
    pub order: Order,
    /// Run id of side A's run.
    pub a_run: String,
    /// Run id of side B's run.
    pub b_run: String,
    /// Wall time of the pair, in milliseconds.
    pub wall_ms: u64,
}

/// What `cnbench ab --json` writes.
#[derive(Debug, Serialize)]
pub struct AbResult {
    /// [`AB_VERSION`].
    pub ab_version: u32,
    /// Whether both sides were the same configuration on purpose.
    pub aa: bool,
    /// Side A.
    pub a: Side,
    /// Side B.
    pub b: Side,
    /// The shared `cnbench run` arguments.
    pub run_args: Vec<String>,
    /// Seed of the pairs' orders.
    pub seed: u64,
    /// The budget, in seconds.
    pub budget_s: f64,
    /// Time spent, in seconds.
    pub elapsed_s: f64,
    /// Every pair, in order.
    pub pairs: Vec<PairRecord>,
    /// Why it stopped.
    pub stopped: String,
    /// The rule, in words.
    pub rule: String,
    /// Where the spread floor came from.
    pub spread_floor: String,
    /// The verdicts, in the form `compare` gives them (side A as the baseline): each
    /// metric's values are its runs in pair order, `change` the mean paired change and
    /// `interval` the sequential rule's at the look that decided it (or the last).
    pub comparison: Comparison,
}

/// Reads `120s`, `3m`, `90` (seconds).
pub fn parse_budget(text: &str) -> Result<Duration> {
    let t = text.trim();
    let (number, unit) = match t.strip_suffix("ms") {
        Some(n) => (n, 0.001),
        None => match t.strip_suffix('s') {
            Some(n) => (n, 1.0),
            None => match t.strip_suffix('m') {
                Some(n) => (n, 60.0),
                None => match t.strip_suffix('h') {
                    Some(n) => (n, 3600.0),
                    None => (t, 1.0),
                },
            },
        },
    };
    match number.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(Duration::from_secs_f64(v * unit)),
        _ => bail!("--budget {text}: give a duration such as 120s or 3m"),
    }
}

/// Arguments `ab` and `calibrate` set themselves, refused in the run arguments.
const OWN_ARGS: &[&str] = &["--json", "--repeat", "--no-baseline"];

/// The sides' argument lists, checked: parsed as `cnbench run` arguments by this build
/// (when the side runs this build), without the arguments ab sets itself.
pub fn run_args_checked(run: &[String], side: &[String], exe_is_ours: bool) -> Result<Vec<String>> {
    let mut all: Vec<String> = run.to_vec();
    all.extend(side.iter().cloned());
    for a in &all {
        let flag = a.split('=').next().unwrap_or("");
        if OWN_ARGS.contains(&flag) {
            bail!(
                "{flag}: ab and calibrate set {} themselves; drop it",
                OWN_ARGS.join(", ")
            );
        }
    }
    if exe_is_ours {
        let mut argv = vec!["cnbench".to_string(), "run".to_string()];
        argv.extend(all.iter().cloned());
        let cli = Cli::try_parse_from(&argv)
            .map_err(|e| anyhow::anyhow!("{}", crate::usage::error_line(&e)))?;
        if !matches!(cli.command, CliCommand::Run(_)) {
            bail!("the run arguments did not parse as `cnbench run` arguments");
        }
    }
    Ok(all)
}

/// The least time one pair can take with these run arguments, from their durations:
/// two runs, each at least warm-up plus window per workload, once untraced and once traced.
pub fn least_pair_time(all_args: &[String]) -> Duration {
    let mut argv = vec!["cnbench".to_string(), "run".to_string()];
    argv.extend(all_args.iter().cloned());
    let Ok(Cli {
        command: CliCommand::Run(run),
        ..
    }) = Cli::try_parse_from(&argv)
    else {
        return Duration::from_secs(2);
    };
    let m = &run.measure;
    let workloads = m.workloads.as_ref().map_or(5, Vec::len) as f64;
    let reps = if m.no_trace { 1.0 } else { 2.0 };
    Duration::from_secs_f64(2.0 * workloads * reps * (m.warmup + m.duration))
}

/// Runs one side once, and reads its result.
pub fn run_side(side: &Side, all_args: &[String], dir: &Path, tag: &str) -> Result<RunResult> {
    let json = dir.join(format!("{tag}.json"));
    let log = dir.join(format!("{tag}.log"));
    let log_file =
        std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let status = Command::new(&side.exe)
        .arg("run")
        .args(all_args)
        .args(["--repeat", "1", "--no-baseline", "--json"])
        .arg(&json)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .status()
        .with_context(|| format!("starting {}", side.exe.display()))?;
    // 0: every check passed; 1: a check failed, the figures still stand (and the checks are
    // compared too). Anything else ended the run.
    if !matches!(status.code(), Some(0 | 1)) {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let last = text
            .lines()
            .rev()
            .find(|l| l.starts_with("Error") || l.contains("error"))
            .or_else(|| text.lines().last())
            .unwrap_or("")
            .to_owned();
        bail!(
            "side {}'s run {tag} ended with {status}: {last} (log {})",
            side.name,
            log.display()
        );
    }
    reports::read_result(&json).with_context(|| format!("reading side {}'s result", side.name))
}

/// Each metric's value in a one-repetition run, by (measurement label, path, metric).
fn values_of(r: &RunResult) -> Vec<((String, String, String), f64, bool)> {
    let mut out = Vec::new();
    for m in &r.measurements {
        for (metric, values) in m.metric_values() {
            if let Some(v) = reports::stats::median(&values) {
                let hib = Sample::higher_is_better(metric).unwrap_or(true);
                out.push(((m.label(), m.path.clone(), metric.to_owned()), v, hib));
            }
        }
    }
    out
}

/// The paired series of every metric side A's first run has.
pub fn series_of(
    a: &[RunResult],
    b: &[RunResult],
) -> Vec<((String, String, String), PairedSeries)> {
    let Some(first) = a.first() else {
        return Vec::new();
    };
    // Each run's values read once, not once per metric.
    let (va, vb): (Vec<_>, Vec<_>) = (
        a.iter().map(values_of).collect(),
        b.iter().map(values_of).collect(),
    );
    values_of(first)
        .into_iter()
        .map(|(key, _, hib)| {
            let pick = |runs: &[Vec<(Key, f64, bool)>]| -> Vec<f64> {
                runs.iter()
                    .map(|r| {
                        r.iter()
                            .find(|(k, _, _)| *k == key)
                            .map_or(f64::NAN, |(_, v, _)| *v)
                    })
                    .collect()
            };
            let scale = if key.2 == "loss_percent" {
                reports::ChangeScale::PercentagePoints
            } else {
                reports::ChangeScale::Relative
            };
            let s = PairedSeries {
                scale,
                higher_is_better: hib,
                a: pick(&va),
                b: pick(&vb),
            };
            (key, s)
        })
        .collect()
}

/// The threshold a metric gates with in ab, or `None` when it is only reported.
pub fn ab_threshold(options: &CompareOptions, metric: &str) -> Option<f64> {
    if options.per_metric.contains_key(metric) || AB_GATED.contains(&metric) {
        options.threshold_for(metric)
    } else {
        None
    }
}

/// The spread floor of a metric: half the calibration's paired spread, else the default.
pub fn spread_floor(options: &CompareOptions, key: &(String, String, String)) -> f64 {
    options
        .calibration
        .as_ref()
        .and_then(|c| {
            c.noise
                .iter()
                .find(|n| n.measurement == key.0 && n.path == key.1 && n.metric == key.2)
        })
        .map_or(paired::DEFAULT_SPREAD_FLOOR, |n| n.pair_spread / 2.0)
}

/// A metric's key: measurement label, path, metric.
type Key = (String, String, String);

/// What the looks so far said of each metric.
#[derive(Default)]
struct Looks {
    /// The first verdict of each decided metric (kept: the intervals hold at every look).
    decided: Vec<(Key, PairedDecision)>,
    /// The last look at each metric.
    latest: Vec<(Key, PairedDecision)>,
}

/// The metric rows after the pairs so far, keeping verdicts already given.
fn rows(
    a: &[RunResult],
    b: &[RunResult],
    options: &CompareOptions,
    looks: &mut Looks,
) -> Vec<MetricComparison> {
    let series = series_of(a, b);
    let gated = series
        .iter()
        .filter(|(k, _)| ab_threshold(options, &k.2).is_some())
        .count();
    let mut out = Vec::new();
    for (key, s) in &series {
        let t = ab_threshold(options, &key.2);
        let now = s.decide(t, gated, spread_floor(options, key));
        if let Some(d) = &now {
            looks.latest.retain(|(k, _)| k != key);
            looks.latest.push((key.clone(), d.clone()));
            if d.verdict.is_some() && !looks.decided.iter().any(|(k, _)| k == key) {
                looks.decided.push((key.clone(), d.clone()));
            }
        }
        let decision = looks
            .decided
            .iter()
            .chain(&looks.latest)
            .find(|(k, _)| k == key)
            .map(|(_, d)| d.clone());
        let median = |v: &[f64]| reports::stats::median(v).unwrap_or(f64::NAN);
        let (verdict, note) = match (&decision, t) {
            (_, None) => (
                Verdict::Info,
                Some("reported; ab gates rates, p50 and mean".into()),
            ),
            (Some(d), Some(_)) => match d.verdict {
                Some(v) => (v, Some(format!("decided after {} pairs", d.pairs))),
                None => (
                    Verdict::Inconclusive,
                    Some(format!(
                        "undecided at the look after {} pairs ({} pairs in all)",
                        d.pairs,
                        a.len()
                    )),
                ),
            },
            (None, Some(_)) => (
                Verdict::Inconclusive,
                Some(format!("fewer than {MIN_PAIRS} usable pairs")),
            ),
        };
        out.push(MetricComparison {
            measurement: key.0.clone(),
            path: key.1.clone(),
            metric: key.2.clone(),
            higher_is_better: s.higher_is_better,
            baseline_median: median(&s.a),
            candidate_median: median(&s.b),
            baseline_values: s.a.clone(),
            candidate_values: s.b.clone(),
            scale: s.scale,
            change: decision.as_ref().map_or(f64::NAN, |d| d.change),
            interval: decision.as_ref().map(|d| d.interval),
            threshold: t,
            noise_guard: None,
            verdict,
            note,
        });
    }
    // Exact counts: structural, decided from every run of each side.
    if let Some(first) = a.first() {
        for m in &first.measurements {
            let gather = |runs: &[RunResult]| -> Vec<(String, Vec<f64>)> {
                let mut all: Vec<(String, Vec<f64>)> = Vec::new();
                for r in runs {
                    let Some(rm) = r
                        .measurements
                        .iter()
                        .find(|x| x.same_case(m) && x.path == m.path)
                    else {
                        continue;
                    };
                    for (name, values) in counts_of(rm) {
                        match all.iter_mut().find(|(n, _)| *n == name) {
                            Some((_, v)) => v.extend(values),
                            None => all.push((name, values)),
                        }
                    }
                }
                all
            };
            let theirs = gather(b);
            for (name, av) in gather(a) {
                if let Some((_, bv)) = theirs.iter().find(|(n, _)| *n == name) {
                    out.push(compare_count(
                        &m.label(),
                        &m.path,
                        &name,
                        av,
                        bv.clone(),
                        options.count_tolerance,
                    ));
                }
            }
        }
    }
    out
}

/// Whether every gated row is decided.
/// Exact counts are settled after the first pair, whatever their verdict: more pairs only
/// widen the spread an inconclusive count is judged by, so waiting on one would spend the
/// budget for nothing.
fn all_decided(rows: &[MetricComparison]) -> bool {
    rows.iter().all(|r| {
        r.threshold.is_none()
            || r.scale == reports::ChangeScale::PerPacket
            || r.verdict != Verdict::Inconclusive
    })
}

/// The pairs of an interleaved comparison, as run by [`interleave`].
pub struct Interleaved {
    /// Side A's results, in pair order.
    pub a: Vec<RunResult>,
    /// Side B's results.
    pub b: Vec<RunResult>,
    /// Each pair.
    pub pairs: Vec<PairRecord>,
    /// Why it stopped.
    pub stopped: String,
    /// The rows at the end.
    pub rows: Vec<MetricComparison>,
}

/// Runs pairs in the orders of `seed` until `stop` says so (given the rows after each pair),
/// `max_pairs` are done, or the next pair would not fit in `budget`.
#[allow(clippy::too_many_arguments)]
pub fn interleave(
    sides: [&Side; 2],
    run: &[String],
    dir: &Path,
    seed: u64,
    budget: Duration,
    max_pairs: u32,
    options: &CompareOptions,
    stop_when_decided: bool,
) -> Result<Interleaved> {
    let [sa, sb] = sides;
    let args_a = run_args_checked(run, &sa.args, sa.exe == super::exe()?)?;
    let args_b = run_args_checked(run, &sb.args, sb.exe == super::exe()?)?;
    let started = Instant::now();
    let orders = paired::orders(seed, max_pairs as usize);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let mut pairs = Vec::new();
    let mut looks = Looks::default();
    let mut current = Vec::new();
    let mut stopped = format!("{max_pairs} pairs measured");
    for (i, order) in orders.iter().enumerate() {
        let pair_started = Instant::now();
        let first_is_a = *order == Order::AThenB;
        let one = |side: &Side, args: &[String]| {
            run_side(side, args, dir, &format!("pair{:02}-{}", i + 1, side.name))
        };
        let (ra, rb) = if first_is_a {
            let ra = one(sa, &args_a)?;
            (ra, one(sb, &args_b)?)
        } else {
            let rb = one(sb, &args_b)?;
            (one(sa, &args_a)?, rb)
        };
        pairs.push(PairRecord {
            order: *order,
            a_run: ra.run_id.clone(),
            b_run: rb.run_id.clone(),
            wall_ms: pair_started.elapsed().as_millis() as u64,
        });
        a.push(ra);
        b.push(rb);
        current = rows(&a, &b, options, &mut looks);
        let elapsed = started.elapsed();
        say!(
            "pair {:>2} ({})  {:.0} s  {}",
            i + 1,
            if first_is_a { "AB" } else { "BA" },
            elapsed.as_secs_f64(),
            progress(&current)
        );
        if stop_when_decided && a.len() >= MIN_PAIRS && all_decided(&current) {
            stopped = format!("every gated metric decided after {} pairs", a.len());
            break;
        }
        let per_pair = elapsed / a.len() as u32;
        if elapsed + per_pair > budget {
            let open: Vec<String> = current
                .iter()
                .filter(|r| r.threshold.is_some() && r.verdict == Verdict::Inconclusive)
                .map(|r| format!("{} {}", r.case(), r.metric))
                .collect();
            stopped = if open.is_empty() || !stop_when_decided {
                format!(
                    "the budget of {:.0} s allows no further pair ({} pairs)",
                    budget.as_secs_f64(),
                    a.len()
                )
            } else {
                format!(
                    "the budget of {:.0} s is spent after {} pairs; inconclusive: {}",
                    budget.as_secs_f64(),
                    a.len(),
                    open.join(", ")
                )
            };
            break;
        }
    }
    Ok(Interleaved {
        a,
        b,
        pairs,
        stopped,
        rows: current,
    })
}

/// `decided 3/5` for the progress line.
fn progress(rows: &[MetricComparison]) -> String {
    let gated: Vec<&MetricComparison> = rows.iter().filter(|r| r.threshold.is_some()).collect();
    let decided = gated
        .iter()
        .filter(|r| r.verdict != Verdict::Inconclusive)
        .count();
    let regressions = gated
        .iter()
        .filter(|r| r.verdict == Verdict::Regression)
        .count();
    format!(
        "decided {decided}/{} ({regressions} regression{})",
        gated.len(),
        if regressions == 1 { "" } else { "s" }
    )
}

/// A seed from the clock.
pub fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
}

/// A work directory for the runs' files: `keep`, or a fresh one under the temp dir.
pub fn work_dir(keep: Option<&Path>, what: &str) -> Result<(PathBuf, bool)> {
    match keep {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            Ok((dir.to_owned(), true))
        }
        None => {
            let dir = std::env::temp_dir().join(format!("cnbench-{what}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            Ok((dir, false))
        }
    }
}

/// `cnbench ab`.
pub fn ab(args: &AbArgs) -> Result<ExitCode> {
    let ours = super::exe()?;
    let split = |flag: &str, text: &str| -> Result<Vec<String>> {
        shlex::split(text).ok_or_else(|| {
            anyhow::anyhow!("--{flag} {text:?}: unbalanced quotes; quote the side's arguments as one shell word")
        })
    };
    let side = |name: &'static str, exe: &Option<PathBuf>, args: Vec<String>| Side {
        name,
        exe: exe.clone().unwrap_or_else(|| ours.clone()),
        args,
    };
    let a = side("A", &args.a_exe, split("a", &args.a)?);
    let b = side("B", &args.b_exe, split("b", &args.b)?);
    for s in [&a, &b] {
        if !s.exe.is_file() {
            bail!(
                "--{}-exe {}: no such executable; give the path of a cnbench binary",
                s.name.to_lowercase(),
                s.exe.display()
            );
        }
    }
    let same = a.exe == b.exe && a.args == b.args;
    if same && !args.aa {
        bail!(
            "sides A and B are the same configuration: give --a/--b (or --a-exe/--b-exe) that \
             differ, or --aa for an A/A trial on purpose"
        );
    }
    if args.aa && !same {
        bail!("--aa runs one configuration on both sides: drop --a, --b, --a-exe and --b-exe");
    }
    let all_a = run_args_checked(&args.run, &a.args, a.exe == ours)?;
    run_args_checked(&args.run, &b.args, b.exe == ours)?;
    let budget = parse_budget(&args.budget)?;
    let least = least_pair_time(&all_a);
    if budget < least {
        bail!(
            "--budget {}: one pair takes at least {:.1} s with these workloads and windows; \
             give a budget of at least {:.0}s (a few pairs' worth to decide anything)",
            args.budget,
            least.as_secs_f64(),
            least.as_secs_f64().ceil() * MIN_PAIRS as f64
        );
    }
    let backend = backend_of(&all_a).unwrap_or_default();
    let options = decision_options(&args.decision, &backend, true)?;
    check_outputs(&args.output)?;
    let seed = args.seed.unwrap_or_else(clock_seed);
    let max_pairs = args.max_pairs.unwrap_or(1000);
    if max_pairs < MIN_PAIRS as u32 {
        bail!("--max-pairs {max_pairs}: the rule looks first after {MIN_PAIRS} pairs; give at least {MIN_PAIRS}");
    }
    let (dir, keep) = work_dir(args.keep.as_deref(), "ab")?;
    say!(
        "ab: {} against {}, pairs in a random order (seed {seed}), budget {:.0} s",
        describe(&a),
        describe(&b),
        budget.as_secs_f64()
    );
    let started = Instant::now();
    let done = interleave(
        [&a, &b],
        &args.run,
        &dir,
        seed,
        budget,
        max_pairs,
        &options,
        true,
    );
    if !keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let done = done?;
    let comparison = comparison_of(&done, &options)?;
    let result = AbResult {
        ab_version: AB_VERSION,
        aa: args.aa,
        a,
        b,
        run_args: args.run.clone(),
        seed,
        budget_s: budget.as_secs_f64(),
        elapsed_s: started.elapsed().as_secs_f64(),
        pairs: done.pairs,
        stopped: done.stopped.clone(),
        rule: rule(),
        spread_floor: match &options.calibration {
            Some(c) => format!("half the paired spread {}", c.source),
            None => format!("{}% (no calibration)", paired::DEFAULT_SPREAD_FLOOR * 100.0),
        },
        comparison,
    };
    say!("stopped: {}", result.stopped);
    say!("spread floor: {}", result.spread_floor);
    say_raw!("{}", render::text::compare_table(&result.comparison));
    let json = serde_json::to_string_pretty(&result).context("serializing the result")? + "\n";
    write_outputs(&args.output, &result.comparison, json)?;
    Ok(exit_code(&result.comparison))
}

/// The rule, in words, for the JSON (from the constants of [`reports::paired`]).
pub fn rule() -> String {
    format!(
        "paired log-ratios of interleaved runs; at looks after pair {MIN_PAIRS}, then as the \
         pairs grow by a quarter, a Student-t interval of their mean at level 1 - {alpha}/M * \
         6/(pi^2 k^2) (M gated metrics, k-th look): regression when it lies above 0 and the \
         mean change is worse than the threshold, pass when it lies within the threshold; \
         union bound: at most {half}% false regressions in A/A over all looks",
        alpha = paired::ALPHA,
        half = paired::ALPHA * 50.0
    )
}

fn describe(s: &Side) -> String {
    let mut text = format!("{} ({}", s.name, s.exe.display());
    if !s.args.is_empty() {
        text.push(' ');
        text.push_str(&s.args.join(" "));
    }
    text.push(')');
    text
}

/// The backend named in run arguments.
pub fn backend_of(all: &[String]) -> Option<String> {
    let mut it = all.iter();
    while let Some(a) = it.next() {
        if a == "--backend" || a == "-b" {
            return it.next().cloned();
        }
        if let Some(v) = a.strip_prefix("--backend=") {
            return Some(v.to_owned());
        }
    }
    None
}

/// The verdicts in `compare`'s form: side A's last run as the baseline's header, checks of
/// the last pair compared as `compare` does, the rows of the pairs.
fn comparison_of(done: &Interleaved, options: &CompareOptions) -> Result<Comparison> {
    let (Some(a), Some(b)) = (done.a.last(), done.b.last()) else {
        bail!("no pair was measured");
    };
    let mut options = options.clone();
    // Sides may differ in backend options (that is what they compare).
    options.across_backends = a.parameters.backend != b.parameters.backend;
    let mut cmp = reports::compare(a, b, &options)?;
    cmp.metrics = done.rows.clone();
    cmp.verdict = cmp.overall();
    Ok(cmp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_read_as_durations() {
        assert_eq!(parse_budget("120s").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_budget("3m").unwrap(), Duration::from_secs(180));
        assert_eq!(parse_budget("90").unwrap(), Duration::from_secs(90));
        assert!(parse_budget("soon").is_err());
        assert!(parse_budget("0s").is_err());
    }

    #[test]
    fn run_arguments_ab_sets_itself_are_refused() {
        let run = vec![
            "--backend".to_string(),
            "bridge".into(),
            "--repeat".into(),
            "3".into(),
        ];
        let e = run_args_checked(&run, &[], true).unwrap_err().to_string();
        assert!(e.contains("--repeat: ab and calibrate set"), "{e}");
        let bad = vec!["--backend".to_string(), "bridge".into(), "--bogus".into()];
        assert!(run_args_checked(&bad, &[], true).is_err());
        let good = vec!["--backend".to_string(), "bridge".into()];
        assert!(run_args_checked(&good, &["--workloads".into(), "tcp-rr".into()], true).is_ok());
    }

    #[test]
    fn one_pair_takes_at_least_its_windows() {
        let args: Vec<String> = [
            "--backend",
            "bridge",
            "--workloads",
            "tcp-rr,tcp-stream",
            "--duration",
            "1",
            "--warmup",
            "0.5",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // 2 runs x 2 workloads x (untraced + traced) x 1.5 s.
        assert_eq!(least_pair_time(&args), Duration::from_secs(12));
        assert_eq!(backend_of(&args).as_deref(), Some("bridge"));
    }
}
