//! Faults for a terminal: one line as each fault ends, and the table of a run's faults.

use reports::{FaultOutcome, FaultRecord};

use super::run::check_line;
use super::table::{columns, header};
use crate::units::{format_bps, format_ns};
use crate::words::{checks_passed, not_applicable_note};

/// One line for a fault: what happened and how it ended, e.g. `link-flap [n1]: 12 probes
/// lost during, 0 after; every pair answering again 1.20 s after the fault's end; after-check
/// 90/90 passed -> recovered` (checks that did not apply counted apart: `88/88 passed (2
/// n/a)`).
pub fn fault_line(f: &FaultRecord) -> String {
    let p = &f.probes;
    let mut s = format!(
        "{} [{}]: {} probes lost during, {} after; ",
        f.fault, f.target, p.lost_during, p.lost_after
    );
    if p.recovered() {
        // router-down counts from the router going down: the traffic must find the other
        // router while it is down.
        let from = if f.fault == "router-down" {
            "the router went down"
        } else {
            "the fault's end"
        };
        s.push_str(&format!(
            "every pair answering again {} after {from}",
            format_ns(p.recovery_ns as f64)
        ));
    } else {
        s.push_str(&format!(
            "{} pair(s) never answered again",
            p.never_recovered.len()
        ));
    }
    if let Some(t) = &f.tcp_under_loss {
        s.push_str(&format!(
            "; tcp {} -> {} ({:.2}x)",
            format_bps(t.before_bps),
            format_bps(t.under_loss_bps),
            t.ratio()
        ));
    }
    s.push_str(&format!(
        "; after-check {} passed{} -> {}",
        checks_passed(&f.checks_after),
        not_applicable_note(&f.checks_after),
        f.outcome.label()
    ));
    if let FaultOutcome::Error { message } = &f.outcome {
        s.push_str(&format!(": {message}"));
    }
    s
}

/// The faults of a run as a table, with the failed after-checks, errors and the pairs that
/// never answered again below it.
pub fn fault_table(faults: &[FaultRecord]) -> String {
    let mut rows = vec![header(&[
        "fault",
        "target",
        "hold",
        "probes/s",
        "lost during",
        "lost after",
        "recovery",
        "tcp under loss",
        "after-check",
        "outcome",
    ])];
    for f in faults {
        rows.push(vec![
            match f.loss_percent {
                Some(p) => format!("{} {p}%", f.fault),
                None => f.fault.clone(),
            },
            f.target.clone(),
            format_ns(f.hold_ms as f64 * 1e6),
            f.probe_rate_pps.to_string(),
            f.probes.lost_during.to_string(),
            f.probes.lost_after.to_string(),
            if f.probes.recovered() {
                format_ns(f.probes.recovery_ns as f64)
            } else {
                "never".into()
            },
            f.tcp_under_loss
                .as_ref()
                .map(|t| format!("{} ({:.2}x)", format_bps(t.under_loss_bps), t.ratio()))
                .unwrap_or_else(|| "-".into()),
            checks_passed(&f.checks_after) + &not_applicable_note(&f.checks_after),
            f.outcome.label().to_string(),
        ]);
    }
    let mut out = String::from(
        "\nfaults (probes over every pod pair; recovery: from the fault's end, router-down's \
         router going down, until every pair answered again for good):\n",
    );
    let right = [
        false, false, true, true, true, true, true, true, true, false,
    ];
    out.push_str(&columns(&rows, &right, "  "));
    for f in faults {
        for c in f.failed_checks() {
            out.push_str(&format!("  after {}: {}\n", f.fault, check_line(c)));
        }
        if let FaultOutcome::Error { message } = &f.outcome {
            out.push_str(&format!("  {}: {message}\n", f.fault));
        }
        for pair in &f.probes.never_recovered {
            out.push_str(&format!(
                "  after {}: never answered again: {pair}\n",
                f.fault
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The broken recovery of the committed vxlan result: a VTEP changed and only the faulted
    /// node reprogrammed.
    fn broken_vtep() -> FaultRecord {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/vxlan-broken-vtep.json"
        );
        reports::read_result(std::path::Path::new(path))
            .unwrap()
            .faults
            .remove(0)
    }

    #[test]
    fn a_fault_in_one_line() {
        let f = broken_vtep();
        let line = fault_line(&f);
        assert!(line.starts_with("vtep-change [n1]: "), "{line}");
        assert!(line.contains("8 pair(s) never answered again"), "{line}");
        assert!(
            line.ends_with("after-check 69/90 passed -> NOT RECOVERED"),
            "{line}"
        );
    }

    #[test]
    fn the_fault_table_lists_what_failed_after() {
        let f = broken_vtep();
        let text = fault_table(std::slice::from_ref(&f));
        assert!(
            text.starts_with("\nfaults (probes over every pod pair"),
            "{text}"
        );
        let row = text.lines().find(|l| l.starts_with("vtep-change")).unwrap();
        assert!(
            row.contains("never") && row.ends_with("69/90  NOT RECOVERED"),
            "{row}"
        );
        assert!(text.contains("  after vtep-change: FAIL  "), "{text}");
        assert!(
            text.contains("  after vtep-change: never answered again: "),
            "{text}"
        );
    }

    #[test]
    fn after_checks_that_did_not_apply_are_counted_apart() {
        let mut f = broken_vtep();
        f.checks_after
            .push(reports::fixtures::not_applicable_check("ab12"));
        assert!(
            fault_line(&f).ends_with("after-check 69/90 passed (1 n/a) -> NOT RECOVERED"),
            "{}",
            fault_line(&f)
        );
        let text = fault_table(std::slice::from_ref(&f));
        let row = text.lines().find(|l| l.starts_with("vtep-change")).unwrap();
        assert!(row.ends_with("69/90 (1 n/a)  NOT RECOVERED"), "{row}");
        // Only failures are listed under the table.
        assert!(!text.contains("N/A"), "{text}");
    }
}
