//! Pod churn in a run's terminal summary: one row per concurrency level (see
//! [`crate::churn`]), then what each daemon held before the first cycle and after the last.

use std::fmt::Write as _;

use reports::RunResult;

use super::table::columns;
use crate::churn::{cells, daemon_line, head, levels, settings_line, LEGEND};

/// The churn table of `r` after a blank line, with its settings and the daemons' file
/// descriptors and memory; nothing when it has no churn measurements.
pub(crate) fn churn_section(out: &mut String, r: &RunResult) {
    let levels = levels(&r.measurements);
    if levels.is_empty() {
        return;
    }
    let _ = write!(out, "\npod churn");
    if let Some(c) = &r.churn {
        let _ = write!(out, " ({})", settings_line(c));
    }
    let _ = writeln!(out, ":\n{LEGEND}");
    let head = head(&levels);
    let mut rows = vec![head.iter().map(|(h, _)| (*h).to_owned()).collect()];
    rows.extend(levels.iter().map(|l| cells(l, &levels, "-")));
    let right: Vec<bool> = head.iter().map(|(_, numeric)| *numeric).collect();
    out.push_str(&columns(&rows, &right, "  "));
    let daemons = r
        .churn
        .as_ref()
        .map(|c| c.daemons.as_slice())
        .unwrap_or(&[]);
    if !daemons.is_empty() {
        let _ = writeln!(
            out,
            "daemons (open fds and resident memory before the first cycle → after the last):"
        );
        for d in daemons {
            let _ = writeln!(out, "  {}", daemon_line(d));
        }
    }
}

#[cfg(test)]
mod tests {
    use reports::fixtures::churn_result;

    use crate::text::summary;

    /// The cells of a row of a terminal table: columns are at least two spaces apart, cells
    /// hold single spaces at most.
    fn cells(line: &str) -> Vec<&str> {
        line.split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect()
    }

    #[test]
    fn one_row_per_level_with_percentiles_over_every_pod() {
        let text = summary(&churn_result("ch01", "vxlan", 1.0, 100.0, false));
        let at = text
            .find(
                "\n\npod churn (4 pods per cycle, 2 cycles per level, concurrency 1, 4; probed \
                 every 1.00 ms, limit 10.0 s):\n",
            )
            .unwrap_or_else(|| panic!("{text}"));
        let lines: Vec<&str> = text[at + 2..].lines().collect();
        assert!(
            lines[1].starts_with("One row per concurrency level"),
            "{text}"
        );
        assert_eq!(
            cells(lines[2]),
            [
                "concurrency",
                "pods/cycle",
                "cycles",
                "pods/s",
                "wired p50",
                "wired p90",
                "wired p99",
                "wired max",
                "reachable p50",
                "reachable p90",
                "reachable p99",
                "reachable max",
                "same node p50",
                "removed p50",
                "unreachable p50",
                "CPU/pod harness",
                "CPU/pod daemons",
                "CPU/pod machine",
                "not ok"
            ],
            "{text}"
        );
        // Reachable p99 is the slowest of all 8 pods (the straggler of the first cycle, 40
        // ms), not the median of the cycles' own p99s (28.5 ms); pods/s and CPU are medians
        // over the two cycles.
        assert_eq!(
            cells(lines[3]),
            [
                "1",
                "4",
                "2",
                "110 pods/s",
                "4.00 ms",
                "6.00 ms",
                "6.00 ms",
                "6.00 ms",
                "13.0 ms",
                "40.0 ms",
                "40.0 ms",
                "40.0 ms",
                "6.00 ms",
                "1.00 ms",
                "4.00 ms",
                "2.10 ms",
                "525 µs",
                "4.20 ms",
                "-"
            ],
            "{text}"
        );
        assert_eq!(
            cells(lines[4])[..12],
            [
                "4",
                "4",
                "2",
                "330 pods/s",
                "6.00 ms",
                "9.00 ms",
                "9.00 ms",
                "9.00 ms",
                "19.5 ms",
                "60.0 ms",
                "60.0 ms",
                "60.0 ms"
            ],
            "{text}"
        );
        assert_eq!(
            lines[5..8],
            [
                "daemons (open fds and resident memory before the first cycle → after the last):",
                "  bird n0 (pid 412): fds 41 → 41, RSS 12.00 MiB → 12.00 MiB",
                "  vxlan daemon n1 (pid 413): fds 30 → 34, RSS 20.00 MiB → 24.00 MiB",
            ],
            "{text}"
        );
        // Before the generic table, which lists the summary metrics in their units.
        assert!(at < text.find("\nmeasurements (n:").unwrap(), "{text}");
        let generic = &text[text.find("\nmeasurements (n:").unwrap()..];
        assert!(
            generic
                .lines()
                .any(|l| l.starts_with("churn concurrency 1  cross-node")
                    && l.contains("pods_per_s")
                    && l.contains("110 pods/s")),
            "{generic}"
        );
        assert!(
            generic
                .lines()
                .any(|l| l.contains("cpu_daemons_ns_per_pod") && l.contains("525 µs/pod")),
            "{generic}"
        );
    }

    #[test]
    fn withdrawal_times_get_a_column_when_a_level_has_them() {
        let text = summary(&churn_result("ch01", "bgp", 1.0, 100.0, true));
        let mut lines = text.lines().skip_while(|l| !l.starts_with("concurrency"));
        let (head, row) = (lines.next().unwrap(), lines.next().unwrap());
        let withdrawn = cells(head).iter().position(|c| *c == "withdrawn p50");
        assert_eq!(withdrawn.map(|i| cells(row)[i]), Some("21.0 ms"), "{text}");
    }

    #[test]
    fn nothing_of_churn_without_it() {
        let text = summary(&reports::fixtures::full_result());
        assert!(!text.contains("pod churn"), "{text}");
        assert!(!text.contains("daemons ("), "{text}");
    }
}
