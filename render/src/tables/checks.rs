//! Conformance: counts per kind of check and run, and the evidence of every failure, expected
//! failure and check that did not apply.

use std::collections::BTreeMap;

use reports::{CheckOutcome, CheckRecord};

use super::*;
use crate::model::Model;

/// Counts of one kind of check in one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub pass: usize,
    pub fail: usize,
    pub xfail: usize,
    pub na: usize,
}

impl Counts {
    fn add(&mut self, o: CheckOutcome) {
        match o {
            CheckOutcome::Pass => self.pass += 1,
            CheckOutcome::Fail => self.fail += 1,
            CheckOutcome::ExpectedFailure => self.xfail += 1,
            CheckOutcome::NotApplicable => self.na += 1,
        }
    }

    /// Whether every check did not apply (none was made).
    fn only_not_applicable(self) -> bool {
        self.na > 0 && self.pass + self.fail + self.xfail == 0
    }

    /// `"12 pass · 1 FAIL · 2 xfail · 1 n/a"`, leaving out zero counts except pass (and
    /// pass too when no check was made, every one not applicable: `"2 n/a"`).
    pub(crate) fn text(self) -> String {
        if self.only_not_applicable() {
            return format!("{} n/a", self.na);
        }
        let mut parts = vec![format!("{} pass", self.pass)];
        if self.fail > 0 {
            parts.push(format!("{} FAIL", self.fail));
        }
        if self.xfail > 0 {
            parts.push(format!("{} xfail", self.xfail));
        }
        if self.na > 0 {
            parts.push(format!("{} n/a", self.na));
        }
        parts.join(" · ")
    }

    fn tone(self) -> Tone {
        if self.only_not_applicable() {
            Tone::Muted
        } else if self.fail > 0 {
            Tone::Fail
        } else if self.xfail > 0 {
            Tone::XFail
        } else {
            Tone::Pass
        }
    }
}

/// The conformance matrix: one row per kind of check, one column per run, and a total row.
pub(crate) fn conformance(model: &Model) -> Table {
    let mut kinds: Vec<&str> = Vec::new();
    for r in &model.runs {
        for c in &r.result.checks {
            if !kinds.contains(&c.check.as_str()) {
                kinds.push(&c.check);
            }
        }
    }
    let mut head = vec!["check kind".to_owned()];
    head.extend(model.runs.iter().map(|r| r.label.clone()));
    let counts: Vec<BTreeMap<&str, Counts>> = model
        .runs
        .iter()
        .map(|r| {
            let mut m: BTreeMap<&str, Counts> = BTreeMap::new();
            for c in &r.result.checks {
                m.entry(c.check.as_str()).or_default().add(c.outcome);
            }
            m
        })
        .collect();
    let mut rows = Vec::new();
    for kind in &kinds {
        let mut row = vec![TCell::plain(*kind)];
        for m in &counts {
            row.push(match m.get(kind) {
                Some(c) => TCell {
                    text: c.text(),
                    tone: c.tone(),
                },
                None => TCell {
                    text: "not checked".into(),
                    tone: Tone::Muted,
                },
            });
        }
        rows.push(row);
    }
    let mut total = vec![TCell::plain("all checks")];
    for m in &counts {
        let c = m.values().fold(Counts::default(), |a, b| Counts {
            pass: a.pass + b.pass,
            fail: a.fail + b.fail,
            xfail: a.xfail + b.xfail,
            na: a.na + b.na,
        });
        total.push(if m.is_empty() {
            TCell {
                text: "no checks".into(),
                tone: Tone::Muted,
            }
        } else {
            TCell {
                text: c.text(),
                tone: c.tone(),
            }
        });
    }
    rows.push(total);
    Table { head, rows }
}

/// The checks of one run with `outcome` (failed, failed as expected, not applicable), with
/// their evidence and reasons.
pub(crate) fn evidence(checks: &[CheckRecord], outcome: CheckOutcome) -> Table {
    Table {
        head: vec![
            "kind".into(),
            "subject".into(),
            "expected".into(),
            "actual".into(),
            "reason".into(),
        ],
        rows: checks
            .iter()
            .filter(|c| c.outcome == outcome)
            .map(|c| {
                vec![
                    TCell::plain(&c.check),
                    TCell::plain(&c.subject),
                    TCell::plain(&c.expected),
                    TCell::plain(&c.actual),
                    TCell::plain(c.reason.clone().unwrap_or_else(|| "–".into())),
                ]
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Model;
    use crate::Input;

    #[test]
    fn checks_that_do_not_apply_are_counted_apart() {
        let inputs = [Input::run("cni.json", reports::fixtures::cni_result())];
        let model = Model::new(&inputs.iter().collect::<Vec<_>>());
        let t = conformance(&model);
        let cell = |kind: &str| {
            t.rows
                .iter()
                .find(|r| r[0].text == kind)
                .map(|r| r[1].clone())
                .unwrap()
        };
        assert_eq!(
            cell("cni-gc"),
            TCell {
                text: "1 n/a".into(),
                tone: Tone::Muted
            }
        );
        assert_eq!(cell("reachability").text, "1 pass");
        assert_eq!(cell("all checks").text, "1 pass · 1 FAIL · 1 xfail · 1 n/a");
        assert_eq!(cell("all checks").tone, Tone::Fail);
        let mut passing = Counts {
            pass: 3,
            na: 2,
            ..Counts::default()
        };
        assert_eq!(
            (passing.text().as_str(), passing.tone()),
            ("3 pass · 2 n/a", Tone::Pass)
        );
        passing.pass = 0;
        assert_eq!(
            (passing.text().as_str(), passing.tone()),
            ("2 n/a", Tone::Muted)
        );

        let na = evidence(
            &reports::fixtures::cni_result().checks,
            CheckOutcome::NotApplicable,
        );
        assert_eq!(na.rows.len(), 1);
        assert_eq!(
            na.rows[0][4].text,
            "not applicable: the plugin supports up to CNI 1.0.0, GC came with 1.1.0"
        );
        // Without such checks, nothing about them.
        let plain = [Input::run("vxlan.json", reports::fixtures::full_result())];
        let model = Model::new(&plain.iter().collect::<Vec<_>>());
        assert!(!conformance(&model)
            .rows
            .iter()
            .flatten()
            .any(|c| c.text.contains("n/a")));
    }
}
