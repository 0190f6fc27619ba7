//! What a person sees while a run goes: the topology, each check, each repetition, on stdout
//! as they happen; and the JSON result file, rewritten after every change.

use std::io::Write;

use harness::run::Observer;
use reports::{CheckRecord, MeasurementRecord, NamespaceRecord, ResultWriter, RunResult, Sample};

/// Prints progress and keeps the JSON file current.
pub struct Printer {
    /// The result file, if `--json` was given.
    pub writer: Option<ResultWriter>,
    /// The first error writing the result file (reported once at the end).
    pub write_error: Option<reports::ReportError>,
    /// Print only failing checks and no topology (for the baseline run).
    pub quiet_checks: bool,
}

impl Printer {
    /// A printer that writes to `writer` too.
    pub fn new(writer: Option<ResultWriter>) -> Printer {
        Printer {
            writer,
            write_error: None,
            quiet_checks: false,
        }
    }
}

impl Observer for Printer {
    fn phase(&mut self, what: &str) {
        say!("== {what}");
        let _ = std::io::stdout().flush();
    }

    fn topology(&mut self, namespaces: &[NamespaceRecord]) {
        if !self.quiet_checks {
            say_raw!("{}", reports::render_topology(namespaces));
        }
    }

    fn check(&mut self, check: &CheckRecord) {
        if !self.quiet_checks || check.outcome == reports::CheckOutcome::Fail {
            say!("{}", reports::format_check(check));
        }
    }

    fn sample(&mut self, record: &MeasurementRecord, sample: &Sample) {
        let label = format!(
            "{} {} -> {} [{}]",
            record.label(),
            record.client.pod,
            record.server.pod,
            record.path
        );
        say!(
            "{}",
            reports::format_sample(&label, record.repetitions.len(), sample)
        );
        if let Some(cost) = record.costs.last() {
            let this_rep = MeasurementRecord {
                costs: vec![cost.clone()],
                ..record.clone()
            };
            say!("    cost: {}", reports::cost_summary(&this_rep));
        }
    }

    fn result(&mut self, result: &RunResult) {
        if let Some(w) = &mut self.writer {
            if let Err(e) = w.write(result) {
                self.write_error.get_or_insert(e);
            }
        }
    }
}
