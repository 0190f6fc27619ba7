//! JUnit XML export of a comparison, for the test reports of CI systems.
//!
//! One `<testsuites>` with two `<testsuite>`s: `metrics` (one `<testcase>` per metric row,
//! class name `cnbench.<backend>.<measurement>.<path>`, name the metric) and `checks` (one per
//! compared check, class name `cnbench.<backend>.checks.<kind>`, name the subject). A
//! regression is a `<failure>` whose message gives baseline, candidate and change; an
//! inconclusive row is `<skipped>` with what to do; passes, improvements and information are
//! plain test cases whose `<system-out>` says what was seen. The warnings of the comparison
//! go to the `<system-out>` of the metrics suite, and both runs are described in its
//! `<properties>` (their substrate and whether emulated included). When the runs were
//! emulated (QEMU TCG), every suite's name ends in `(emulated)`: such figures compare
//! behaviour, not speed.
//!
//! Everything from the results is escaped for XML, and characters XML 1.0 cannot carry
//! (control characters other than tab, line feed and carriage return) are replaced by U+FFFD.

use std::fmt::Write as _;

use crate::compare::{CheckComparison, Comparison, MetricComparison, Verdict, INCONCLUSIVE_HINT};
use crate::human::format_metric;

/// The comparison as JUnit XML (see the module documentation).
pub fn to_junit(cmp: &Comparison) -> String {
    let backend = &cmp.candidate.backend;
    let title = if cmp.baseline.substrate.emulated || cmp.candidate.substrate.emulated {
        format!("cnbench compare {backend} (emulated)")
    } else {
        format!("cnbench compare {backend}")
    };
    let metric_cases: Vec<Case> = cmp
        .metrics
        .iter()
        .map(|m| metric_case(backend, m))
        .collect();
    let check_cases: Vec<Case> = cmp.checks.iter().map(|c| check_case(backend, c)).collect();

    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let all = metric_cases.iter().chain(&check_cases);
    let (tests, failures, skipped) = tally(all);
    let _ = writeln!(
        out,
        "<testsuites name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\">",
        attr(&title)
    );

    let mut properties = Vec::new();
    for (side, r) in [("baseline", &cmp.baseline), ("candidate", &cmp.candidate)] {
        properties.push((format!("{side}.run_id"), r.run_id.clone()));
        properties.push((format!("{side}.backend"), r.backend.clone()));
        if let Some(rev) = &r.git_revision {
            properties.push((format!("{side}.git_revision"), rev.clone()));
        }
        properties.push((format!("{side}.substrate"), r.substrate.to_string()));
        properties.push((format!("{side}.emulated"), r.substrate.emulated.to_string()));
        properties.push((format!("{side}.duration_ms"), r.duration_ms.to_string()));
        properties.push((format!("{side}.repeat"), r.repeat.to_string()));
    }
    properties.push(("threshold".into(), cmp.options.threshold.to_string()));
    properties.push(("verdict".into(), cmp.verdict.label().to_owned()));
    suite(
        &mut out,
        &format!("{title}: metrics"),
        &metric_cases,
        &properties,
        &cmp.warnings,
    );
    suite(
        &mut out,
        &format!("{title}: checks"),
        &check_cases,
        &[],
        &[],
    );
    out.push_str("</testsuites>\n");
    out
}

/// One `<testcase>`, ready to write.
struct Case {
    classname: String,
    name: String,
    outcome: CaseOutcome,
    output: String,
}

enum CaseOutcome {
    Passed,
    Failed { message: String, details: String },
    Skipped { message: String },
}

fn tally<'a>(cases: impl Iterator<Item = &'a Case>) -> (usize, usize, usize) {
    let (mut tests, mut failures, mut skipped) = (0, 0, 0);
    for c in cases {
        tests += 1;
        match c.outcome {
            CaseOutcome::Failed { .. } => failures += 1,
            CaseOutcome::Skipped { .. } => skipped += 1,
            CaseOutcome::Passed => {}
        }
    }
    (tests, failures, skipped)
}

/// A class name part: dots separate packages in JUnit viewers, so none inside a part.
fn part(text: &str) -> String {
    text.replace('.', "_")
}

fn metric_case(backend: &str, m: &MetricComparison) -> Case {
    let classname = format!(
        "cnbench.{}.{}.{}",
        part(backend),
        part(&m.measurement),
        part(&m.path)
    );
    let values = |v: &[f64]| {
        v.iter()
            .map(|x| format_metric(&m.metric, *x))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut output = format!(
        "{}: {}\nbaseline repetitions: {}\ncandidate repetitions: {}",
        m.verdict.label(),
        m.describe(),
        values(&m.baseline_values),
        values(&m.candidate_values)
    );
    if let Some(note) = &m.note {
        let _ = write!(output, "\nnote: {note}");
    }
    let outcome = match m.verdict {
        Verdict::Regression => CaseOutcome::Failed {
            message: format!(
                "{} regressed: baseline {}, candidate {}, change {} (95% interval {}, threshold {})",
                m.metric,
                format_metric(&m.metric, m.baseline_median),
                format_metric(&m.metric, m.candidate_median),
                m.change_text(),
                m.interval_text(),
                m.threshold_text()
            ),
            details: output.clone(),
        },
        Verdict::Inconclusive => CaseOutcome::Skipped {
            message: format!(
                "inconclusive: baseline {}, candidate {}, change {} (95% interval {}, threshold {}){}; {}",
                format_metric(&m.metric, m.baseline_median),
                format_metric(&m.metric, m.candidate_median),
                m.change_text(),
                m.interval_text(),
                m.threshold_text(),
                m.note
                    .as_ref()
                    .map(|n| format!(": {n}"))
                    .unwrap_or_default(),
                INCONCLUSIVE_HINT
            ),
        },
        _ => CaseOutcome::Passed,
    };
    Case {
        classname,
        name: m.metric.clone(),
        outcome,
        output,
    }
}

fn check_case(backend: &str, c: &CheckComparison) -> Case {
    let output = format!("{}: {}", c.verdict.label(), c.describe());
    let outcome = match c.verdict {
        Verdict::Regression => CaseOutcome::Failed {
            message: format!(
                "check {} stopped passing: baseline {} ({}), candidate {} ({}), expected {}",
                c.check,
                c.baseline.label(),
                c.baseline_actual,
                c.candidate.label(),
                c.candidate_actual,
                c.expected
            ),
            details: output.clone(),
        },
        _ => CaseOutcome::Passed,
    };
    Case {
        classname: format!("cnbench.{}.checks.{}", part(backend), part(&c.check)),
        name: c.subject.clone(),
        outcome,
        output,
    }
}

fn suite(
    out: &mut String,
    name: &str,
    cases: &[Case],
    properties: &[(String, String)],
    output: &[String],
) {
    let (tests, failures, skipped) = tally(cases.iter());
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"0\">",
        attr(name)
    );
    if !properties.is_empty() {
        out.push_str("    <properties>\n");
        for (k, v) in properties {
            let _ = writeln!(
                out,
                "      <property name=\"{}\" value=\"{}\"/>",
                attr(k),
                attr(v)
            );
        }
        out.push_str("    </properties>\n");
    }
    for c in cases {
        let _ = write!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"0\">",
            attr(&c.classname),
            attr(&c.name)
        );
        match &c.outcome {
            CaseOutcome::Passed => {}
            CaseOutcome::Failed { message, details } => {
                let _ = write!(
                    out,
                    "\n      <failure type=\"regression\" message=\"{}\">{}</failure>",
                    attr(message),
                    text(details)
                );
            }
            CaseOutcome::Skipped { message } => {
                let _ = write!(out, "\n      <skipped message=\"{}\"/>", attr(message));
            }
        }
        let _ = writeln!(
            out,
            "\n      <system-out>{}</system-out>\n    </testcase>",
            text(&c.output)
        );
    }
    if !output.is_empty() {
        let _ = writeln!(
            out,
            "    <system-out>{}</system-out>",
            text(&output.join("\n"))
        );
    }
    out.push_str("  </testsuite>\n");
}

/// Whether XML 1.0 can carry `c` at all.
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Text content: `&`, `<` and `>` escaped, characters XML cannot carry replaced.
pub(crate) fn text(s: &str) -> String {
    escape(s, false)
}

/// An attribute value in double quotes: as [`text`], plus quotes, and line breaks and tabs
/// as character references (a parser would turn them into spaces otherwise).
pub(crate) fn attr(s: &str) -> String {
    escape(s, true)
}

fn escape(s: &str, in_attribute: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let reference = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '"' if in_attribute => "&quot;",
            '\'' if in_attribute => "&apos;",
            '\n' if in_attribute => "&#10;",
            '\r' if in_attribute => "&#13;",
            '\t' if in_attribute => "&#9;",
            c if !xml_char(c) => "\u{FFFD}",
            c => {
                out.push(c);
                continue;
            }
        };
        out.push_str(reference);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::tests_support::{noisy_rr_result, rr_result};
    use crate::compare::{compare, CompareOptions};
    use crate::CheckOutcome;

    /// A small XML well-formedness checker: one root element, tags nested and closed in
    /// order, attributes quoted and unique, only the five named entities and character
    /// references, no `<` or stray `&` in text, only characters XML 1.0 allows. Returns the
    /// elements in document order as (name, attributes, text content).
    /// An element: its name, its attributes, and its text content (unescaped).
    type Element = (String, Vec<(String, String)>, String);

    fn parse(xml: &str) -> Result<Vec<Element>, String> {
        fn unescape(s: &str) -> Result<String, String> {
            let mut out = String::new();
            let mut rest = s;
            while let Some(i) = rest.find('&') {
                out.push_str(&rest[..i]);
                let end = rest[i..]
                    .find(';')
                    .ok_or(format!("unterminated entity in {s:?}"))?;
                let entity = &rest[i + 1..i + end];
                match entity {
                    "amp" => out.push('&'),
                    "lt" => out.push('<'),
                    "gt" => out.push('>'),
                    "quot" => out.push('"'),
                    "apos" => out.push('\''),
                    e if e.starts_with('#') => {
                        let code: u32 = e[1..].parse().map_err(|_| format!("bad reference {e}"))?;
                        out.push(char::from_u32(code).ok_or("bad code point")?);
                    }
                    e => return Err(format!("unknown entity &{e};")),
                }
                rest = &rest[i + end + 1..];
            }
            out.push_str(rest);
            Ok(out)
        }
        if let Some(c) = xml.chars().find(|c| !xml_char(*c)) {
            return Err(format!("character {c:?} not allowed in XML"));
        }
        let body = xml
            .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
            .ok_or("no XML declaration")?;
        let mut elements = Vec::new();
        let mut stack: Vec<(String, usize)> = Vec::new();
        let mut rest = body;
        let mut roots = 0;
        loop {
            let Some(lt) = rest.find('<') else {
                if !rest.trim().is_empty() {
                    return Err(format!("text after the root: {rest:?}"));
                }
                break;
            };
            let content = unescape(&rest[..lt])?;
            if stack.is_empty() && !content.trim().is_empty() {
                return Err(format!("text outside the root: {content:?}"));
            }
            if let Some((_, index)) = stack.last() {
                let e: &mut Element = &mut elements[*index];
                e.2.push_str(&content);
            }
            let gt = rest[lt..].find('>').ok_or("unterminated tag")? + lt;
            let tag = &rest[lt + 1..gt];
            rest = &rest[gt + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                let (open, _) = stack.pop().ok_or(format!("stray </{name}>"))?;
                if open != name {
                    return Err(format!("</{name}> closes <{open}>"));
                }
                continue;
            }
            let empty = tag.ends_with('/');
            let tag = tag.trim_end_matches('/');
            let name_end = tag.find(char::is_whitespace).unwrap_or(tag.len());
            let name = &tag[..name_end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return Err(format!("bad element name {name:?}"));
            }
            let mut attrs: Vec<(String, String)> = Vec::new();
            let mut a = tag[name_end..].trim_start();
            while !a.is_empty() {
                let eq = a
                    .find('=')
                    .ok_or(format!("attribute without value in <{name}>"))?;
                let key = a[..eq].trim();
                let after = &a[eq + 1..];
                let value_end = after
                    .strip_prefix('"')
                    .and_then(|v| v.find('"'))
                    .ok_or(format!("unquoted attribute {key} in <{name}>"))?;
                let raw = &after[1..1 + value_end];
                if raw.contains('<') {
                    return Err(format!("< in attribute {key}"));
                }
                if attrs.iter().any(|(k, _)| k == key) {
                    return Err(format!("duplicate attribute {key}"));
                }
                attrs.push((key.to_owned(), unescape(raw)?));
                a = after[value_end + 2..].trim_start();
            }
            if stack.is_empty() {
                roots += 1;
            }
            elements.push((name.to_owned(), attrs, String::new()));
            if !empty {
                stack.push((name.to_owned(), elements.len() - 1));
            }
        }
        if let Some((open, _)) = stack.pop() {
            return Err(format!("<{open}> never closed"));
        }
        if roots != 1 {
            return Err(format!("{roots} root elements"));
        }
        Ok(elements)
    }

    fn attr_of<'a>(e: &'a Element, key: &str) -> &'a str {
        e.1.iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {key} on <{}>", e.0))
    }

    #[test]
    fn the_checker_catches_broken_xml() {
        let ok =
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<a x=\"1 &amp; 2\"><b/>t &lt; u</a>\n";
        assert!(parse(ok).is_ok());
        for bad in [
            "<a><b></a></b>",
            "<a>1 < 2</a>",
            "<a>AT&T</a>",
            "<a x=1/>",
            "<a x=\"1\" x=\"2\"/>",
            "<a/><b/>",
            "<a>\u{1}</a>",
            "<a>",
        ] {
            let doc = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{bad}\n");
            assert!(parse(&doc).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn regressions_fail_and_inconclusive_rows_are_skipped() {
        let base = rr_result("base01", 1.0);
        let mut cand = rr_result("cand02", 2.0);
        cand.checks[0].outcome = CheckOutcome::Fail;
        cand.checks[0].actual = "no reply".into();
        let cmp = compare(&base, &cand, &CompareOptions::default()).unwrap();
        let xml = to_junit(&cmp);
        let elements = parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
        let root = &elements[0];
        assert_eq!(root.0, "testsuites");
        assert_eq!(attr_of(root, "tests"), "10");
        assert_eq!(attr_of(root, "failures"), "6");
        assert_eq!(attr_of(root, "skipped"), "1");
        let suites: Vec<_> = elements.iter().filter(|e| e.0 == "testsuite").collect();
        assert_eq!(suites.len(), 2);
        assert_eq!(attr_of(suites[0], "name"), "cnbench compare vxlan: metrics");
        assert_eq!(attr_of(suites[0], "tests"), "7");
        assert_eq!(attr_of(suites[1], "name"), "cnbench compare vxlan: checks");
        assert_eq!(attr_of(suites[1], "failures"), "1");

        let cases: Vec<_> = elements.iter().filter(|e| e.0 == "testcase").collect();
        assert_eq!(cases.len(), 10);
        assert_eq!(
            attr_of(cases[1], "classname"),
            "cnbench.vxlan.tcp-rr.cross-node"
        );
        assert_eq!(attr_of(cases[1], "name"), "rtt_p50_ns");
        let failures: Vec<_> = elements.iter().filter(|e| e.0 == "failure").collect();
        assert_eq!(failures.len(), 6);
        let p50 = attr_of(failures[1], "message");
        assert_eq!(
            p50,
            "rtt_p50_ns regressed: baseline 14.5 µs, candidate 29.0 µs, change +100.0% \
             (95% interval [+94.1%, +106.1%], threshold 5%)"
        );
        assert_eq!(attr_of(failures[1], "type"), "regression");
        // The check: class, subject with the run id replaced, and the message.
        let check = cases[7];
        assert_eq!(
            attr_of(check, "classname"),
            "cnbench.vxlan.checks.reachability"
        );
        assert_eq!(attr_of(check, "name"), "cnb-<run>-n0p0 -> 100.96.1.2 icmp");
        assert!(attr_of(failures[5], "message")
            .starts_with("check reachability stopped passing: baseline PASS (reply in 41 µs), candidate FAIL (no reply)"));
        // The runs are described.
        let props: Vec<_> = elements.iter().filter(|e| e.0 == "property").collect();
        assert!(props
            .iter()
            .any(|p| attr_of(p, "name") == "baseline.git_revision"
                && attr_of(p, "value") == "abc123"));
        assert!(props
            .iter()
            .any(|p| attr_of(p, "name") == "verdict" && attr_of(p, "value") == "REGRESSION"));

        let noisy = compare(
            &noisy_rr_result("base01", 1),
            &noisy_rr_result("cand02", 2),
            &CompareOptions::default(),
        )
        .unwrap();
        let xml = to_junit(&noisy);
        let elements = parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
        let skipped: Vec<_> = elements.iter().filter(|e| e.0 == "skipped").collect();
        assert_eq!(skipped.len(), 5, "{xml}");
        let message = attr_of(skipped[0], "message");
        assert!(
            message.starts_with("inconclusive: baseline 59.03 k/s"),
            "{message}"
        );
        assert!(
            message.ends_with("run more repetitions (--repeat 5) or longer (--duration)"),
            "{message}"
        );
        assert_eq!(attr_of(&elements[0], "failures"), "0");
        assert_eq!(attr_of(&elements[0], "skipped"), "5");
    }

    #[test]
    fn everything_from_the_results_is_escaped() {
        assert_eq!(text("a < b & c > d"), "a &lt; b &amp; c &gt; d");
        assert_eq!(
            attr("say \"hi\"\n'there'\t"),
            "say &quot;hi&quot;&#10;&apos;there&apos;&#9;"
        );
        assert_eq!(
            text("bell\u{7} nul\u{0} ok\ttab"),
            "bell\u{FFFD} nul\u{FFFD} ok\ttab"
        );
        assert_eq!(text("µs 日本"), "µs 日本");

        let base = rr_result("base01", 1.0);
        let mut cand = rr_result("cand02", 1.0);
        cand.checks[0].outcome = CheckOutcome::Fail;
        cand.checks[0].subject = "cnb-cand02-n0p0 -> <\"x\" & 'y'>\u{1b}[31m".into();
        cand.checks[0].actual = "]]> <!-- & \"".into();
        cand.checks[0].reason = Some("line one\nline two".into());
        let mut base2 = base.clone();
        base2.checks[0].subject = "cnb-base01-n0p0 -> <\"x\" & 'y'>\u{1b}[31m".into();
        let cmp = compare(&base2, &cand, &CompareOptions::default()).unwrap();
        let xml = to_junit(&cmp);
        let elements = parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
        let case = elements
            .iter()
            .find(|e| e.0 == "testcase" && attr_of(e, "classname").ends_with("reachability"))
            .unwrap();
        assert_eq!(
            attr_of(case, "name"),
            "cnb-<run>-n0p0 -> <\"x\" & 'y'>\u{FFFD}[31m"
        );
        let failure = elements.iter().find(|e| e.0 == "failure").unwrap();
        assert!(attr_of(failure, "message").contains("FAIL (]]> <!-- & \")"));
        assert!(
            failure.2.contains("reason: line one\nline two"),
            "{}",
            failure.2
        );
    }

    #[test]
    fn emulated_runs_are_named_so() {
        let mut base = rr_result("base01", 1.0);
        base.substrate = crate::Substrate::vm_tcg("6.1.0-56-cloud-amd64");
        let xml = to_junit(&compare(&base, &base, &CompareOptions::default()).unwrap());
        let elements = parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
        assert_eq!(
            attr_of(&elements[0], "name"),
            "cnbench compare vxlan (emulated)"
        );
        let suites: Vec<_> = elements.iter().filter(|e| e.0 == "testsuite").collect();
        assert_eq!(
            attr_of(suites[0], "name"),
            "cnbench compare vxlan (emulated): metrics"
        );
        let prop = |name: &str| {
            elements
                .iter()
                .filter(|e| e.0 == "property")
                .find(|p| attr_of(p, "name") == name)
                .map(|p| attr_of(p, "value").to_owned())
        };
        assert_eq!(
            prop("candidate.substrate").as_deref(),
            Some("vm (QEMU TCG emulation, kernel 6.1.0-56-cloud-amd64)")
        );
        assert_eq!(prop("baseline.emulated").as_deref(), Some("true"));
        assert!(
            elements
                .iter()
                .any(|e| e.0 == "system-out" && e.2.starts_with("both runs are emulated")),
            "{xml}"
        );
    }

    #[test]
    fn warnings_go_to_the_suite_output() {
        let base = rr_result("base01", 1.0);
        let mut cand = rr_result("cand02", 1.0);
        cand.parameters.duration_ms = 1000;
        let xml = to_junit(&compare(&base, &cand, &CompareOptions::default()).unwrap());
        let elements = parse(&xml).unwrap();
        let suite_out = elements
            .iter()
            .filter(|e| e.0 == "system-out")
            .find(|e| e.2.starts_with("duration differs"))
            .unwrap();
        assert!(suite_out.2.contains("run both with the same duration"));
        // Every test case passed: no failure, no skip.
        assert!(!xml.contains("<failure") && !xml.contains("<skipped"));
    }
}
