//! Faults injected during a run and the checks that failed after them.

use super::*;
use crate::model::Model;
use crate::units::{format_bps, format_ns};

/// Every fault injected (`cnbench fault`), one row each: what, loss and recovery from the
/// probes, TCP under loss, the check after it and the outcome.
pub(crate) fn faults(model: &Model) -> Table {
    let mut t = Table {
        head: [
            "run",
            "fault",
            "target",
            "hold",
            "probe pairs",
            "lost during",
            "lost after",
            "recovery",
            "tcp before → under loss",
            "checks after",
            "outcome",
        ]
        .map(String::from)
        .to_vec(),
        rows: Vec::new(),
    };
    for run in &model.runs {
        for f in &run.result.faults {
            let failed = f.failed_checks().count();
            let passed = f.outcome.passed();
            t.rows.push(vec![
                TCell::plain(&run.label),
                TCell::plain(match f.loss_percent {
                    Some(p) => format!("{} {p} %", f.fault),
                    None => f.fault.clone(),
                }),
                TCell::plain(&f.target),
                TCell::num(format_ns(f.hold_ms as f64 * 1e6)),
                TCell::num(f.probes.pairs.to_string()),
                TCell::num(f.probes.lost_during.to_string()),
                TCell::num(f.probes.lost_after.to_string()),
                TCell::num(if f.probes.recovered() {
                    format_ns(f.probes.recovery_ns as f64)
                } else {
                    format!("never ({} pairs)", f.probes.never_recovered.len())
                }),
                TCell::num(
                    f.tcp_under_loss
                        .as_ref()
                        .map(|t| {
                            format!(
                                "{} → {} ({:.2}×)",
                                format_bps(t.before_bps),
                                format_bps(t.under_loss_bps),
                                t.ratio()
                            )
                        })
                        .unwrap_or_else(|| "–".into()),
                ),
                TCell {
                    text: crate::words::checks_passed(&f.checks_after)
                        + &crate::words::not_applicable_note(&f.checks_after),
                    tone: if failed == 0 { Tone::Pass } else { Tone::Fail },
                },
                TCell {
                    text: f.outcome.label().to_string(),
                    tone: if passed { Tone::Pass } else { Tone::Fail },
                },
            ]);
        }
    }
    t
}

/// The checks that failed after faults, as evidence.
pub(crate) fn fault_evidence(model: &Model) -> Table {
    let mut t = Table {
        head: ["run", "after", "check", "subject", "expected", "actual"]
            .map(String::from)
            .to_vec(),
        rows: Vec::new(),
    };
    for run in &model.runs {
        for f in &run.result.faults {
            for c in f.failed_checks() {
                t.rows.push(vec![
                    TCell::plain(&run.label),
                    TCell::plain(&f.fault),
                    TCell::plain(&c.check),
                    TCell::plain(&c.subject),
                    TCell::plain(&c.expected),
                    TCell {
                        text: c.actual.clone(),
                        tone: Tone::Fail,
                    },
                ]);
            }
        }
    }
    t
}
