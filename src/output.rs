//! What a person sees while a run goes: the topology, each check, each repetition, as they
//! happen; and the JSON result, rewritten after every change. Human text goes to stdout,
//! or to stderr when the JSON result itself goes to stdout (`--json -`). On a terminal the
//! measurement also shows a progress bar (repetitions done of those planned, with an
//! estimate of the time left); piped or redirected output gets the plain lines only.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use harness::run::Observer;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use reports::{
    CheckRecord, MeasurementRecord, NamespaceRecord, ReportError, ResultWriter, RunResult, Sample,
};

/// Whether human text goes to stderr (the JSON result has stdout).
static HUMAN_TO_STDERR: AtomicBool = AtomicBool::new(false);

/// Sends human text to stderr from now on: the command's JSON result has stdout.
pub fn human_to_stderr() {
    HUMAN_TO_STDERR.store(true, Ordering::Relaxed);
}

/// Where `say!` writes: stdout, or stderr once [`JsonSink::open`] gave stdout to the JSON.
pub fn human() -> Box<dyn Write> {
    if HUMAN_TO_STDERR.load(Ordering::Relaxed) {
        Box::new(std::io::stderr())
    } else {
        Box::new(std::io::stdout().lock())
    }
}

/// Whether human text goes to a terminal.
fn human_is_terminal() -> bool {
    if HUMAN_TO_STDERR.load(Ordering::Relaxed) {
        std::io::stderr().is_terminal()
    } else {
        std::io::stdout().is_terminal()
    }
}

/// Where a command's JSON result goes (`--json FILE` or `--json -`).
#[derive(Debug)]
pub enum JsonSink {
    /// A file, rewritten atomically after every change, so a late failure loses nothing.
    File(ResultWriter),
    /// Stdout, once, when the command ends (the latest value is kept until then).
    Stdout(Option<String>),
}

impl JsonSink {
    /// Opens what `--json` names before any work is done, so a bad path fails at once; `-`
    /// is stdout, and human text then goes to stderr.
    pub fn open(path: &Option<PathBuf>) -> Result<Option<JsonSink>, ReportError> {
        match path.as_deref() {
            None => Ok(None),
            Some(p) if p == Path::new("-") => {
                human_to_stderr();
                Ok(Some(JsonSink::Stdout(None)))
            }
            Some(p) => ResultWriter::create(p).map(|w| Some(JsonSink::File(w))),
        }
    }

    /// Writes `value` (to the file now, or keeps it for stdout).
    pub fn write<T: serde::Serialize>(&mut self, value: &T) -> Result<(), ReportError> {
        match self {
            JsonSink::File(w) => w.write_value(value),
            JsonSink::Stdout(last) => {
                let mut json = serde_json::to_string_pretty(value)
                    .map_err(|error| ReportError::Serialize { error })?;
                json.push('\n');
                *last = Some(json);
                Ok(())
            }
        }
    }

    /// Prints the kept value on stdout (a file is complete already); says where it went.
    pub fn finish(&mut self) {
        match self {
            JsonSink::File(w) => say!("result written to {}", w.path().display()),
            JsonSink::Stdout(last) => {
                if let Some(json) = last.take() {
                    let mut out = std::io::stdout().lock();
                    let _ = out.write_all(json.as_bytes()).and_then(|()| out.flush());
                }
            }
        }
    }
}

/// Prints progress and keeps the JSON result current.
pub struct Printer {
    /// Where the result goes, if `--json` was given.
    pub writer: Option<JsonSink>,
    /// The first error writing the result file (reported once at the end).
    pub write_error: Option<reports::ReportError>,
    /// Print only failing checks and no topology (for the baseline run).
    pub quiet_checks: bool,
    /// The measurement's progress bar, while one is shown.
    bar: Option<ProgressBar>,
}

impl Printer {
    /// A printer that writes to `writer` too.
    pub fn new(writer: Option<JsonSink>) -> Printer {
        Printer {
            writer,
            write_error: None,
            quiet_checks: false,
            bar: None,
        }
    }

    /// Prints one line: above the progress bar while one is shown, else as `say!` does.
    fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => say!("{text}"),
        }
    }

    fn end_bar(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Printer {
    fn drop(&mut self) {
        self.end_bar();
    }
}

impl Observer for Printer {
    fn phase(&mut self, what: &str) {
        self.end_bar();
        say!("== {what}");
        let _ = human().flush();
    }

    fn topology(&mut self, namespaces: &[NamespaceRecord]) {
        if !self.quiet_checks {
            say_raw!("{}", render::text::topology(namespaces));
        }
    }

    fn check(&mut self, check: &CheckRecord) {
        if !self.quiet_checks || check.outcome == reports::CheckOutcome::Fail {
            self.line(&render::text::check_line(check));
        }
    }

    fn measuring(&mut self, repetitions: u64) {
        self.end_bar();
        if !human_is_terminal() || repetitions == 0 {
            return;
        }
        // Drawn where every line printed above it goes.
        let target = if HUMAN_TO_STDERR.load(Ordering::Relaxed) {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::stdout()
        };
        let bar = ProgressBar::with_draw_target(Some(repetitions), target);
        if let Ok(style) = ProgressStyle::with_template(
            "{bar:30} {pos}/{len} repetitions  {elapsed} elapsed, about {eta} left  {msg}",
        ) {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        self.bar = Some(bar);
    }

    fn sample(&mut self, record: &MeasurementRecord, sample: &Sample) {
        let rep = format!("rep {}", record.repetitions.len());
        self.line(&render::text::sample_line(
            &pair_label(record),
            &rep,
            sample,
        ));
        if let Some(cost) = record.costs.last() {
            let this_rep = MeasurementRecord {
                costs: vec![cost.clone()],
                ..record.clone()
            };
            self.line(&format!("    cost: {}", render::text::cost_line(&this_rep)));
        }
        if let Some(bar) = &self.bar {
            bar.inc(1);
            bar.set_message(format!("{} [{}]", record.label(), record.path));
        }
    }

    fn traced(&mut self, record: &MeasurementRecord) {
        if let Some(t) = &record.traced {
            self.line(&render::text::sample_line(
                &pair_label(record),
                "traced (not in the figures)",
                &t.sample,
            ));
            self.line(&format!("    cost: {}", render::text::cost_line(record)));
        }
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    fn fault(&mut self, record: &reports::FaultRecord) {
        self.line(&format!("fault {}", render::text::fault_line(record)));
    }

    fn result(&mut self, result: &RunResult) {
        if let Some(w) = &mut self.writer {
            if let Err(e) = w.write(result) {
                self.write_error.get_or_insert(e);
            }
        }
    }
}

/// `"udp-stream 64 B n0p0 -> n1p0 [cross-node]"`.
fn pair_label(record: &MeasurementRecord) -> String {
    format!(
        "{} {} -> {} [{}]",
        record.label(),
        record.client.pod,
        record.server.pod,
        record.path
    )
}
