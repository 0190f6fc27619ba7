//! What a person sees while a run goes: the topology, each check, each repetition, on stdout
//! as they happen; and the JSON result file, rewritten after every change. On a terminal the
//! measurement also shows a progress bar (repetitions done of those planned, with an
//! estimate of the time left); piped or redirected output gets the plain lines only.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use harness::run::Observer;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use reports::{CheckRecord, MeasurementRecord, NamespaceRecord, ResultWriter, RunResult, Sample};

/// Prints progress and keeps the JSON file current.
pub struct Printer {
    /// The result file, if `--json` was given.
    pub writer: Option<ResultWriter>,
    /// The first error writing the result file (reported once at the end).
    pub write_error: Option<reports::ReportError>,
    /// Print only failing checks and no topology (for the baseline run).
    pub quiet_checks: bool,
    /// The measurement's progress bar, while one is shown.
    bar: Option<ProgressBar>,
}

impl Printer {
    /// A printer that writes to `writer` too.
    pub fn new(writer: Option<ResultWriter>) -> Printer {
        Printer {
            writer,
            write_error: None,
            quiet_checks: false,
            bar: None,
        }
    }

    /// Prints one line: above the progress bar while one is shown, else straight to stdout.
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
        let _ = std::io::stdout().flush();
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
        if !std::io::stdout().is_terminal() || repetitions == 0 {
            return;
        }
        // Drawn on stdout, like every line printed above it.
        let bar = ProgressBar::with_draw_target(Some(repetitions), ProgressDrawTarget::stdout());
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
