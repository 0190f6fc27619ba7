//! The documents of a comparison (`cnbench compare`): Markdown for a pull-request comment
//! ([`markdown()`]) and JUnit XML for CI ([`junit()`]); its terminal table is
//! [`crate::text::compare_table`]. All three use the same words ([`wording`]).

mod junit;
mod markdown;
pub mod wording;

pub use junit::junit;
pub use markdown::markdown;

#[cfg(test)]
mod tests {
    use quick_junit::Report;
    use reports::fixtures::churn_result;
    use reports::{compare, CompareOptions};

    #[test]
    fn every_form_names_churn_metrics_in_words_with_their_units() {
        // The candidate takes twice as long and adds half as many pods a second.
        let base = churn_result("base01", "vxlan", 1.0, 100.0, false);
        let cand = churn_result("cand02", "vxlan", 2.0, 50.0, false);
        let cmp = compare(&base, &cand, &CompareOptions::default()).unwrap();

        let text = crate::text::compare_table(&cmp);
        let row = |metric: &str| {
            text.lines()
                .find(|l| l.contains(metric))
                .unwrap_or_else(|| panic!("no {metric} in\n{text}"))
                .to_owned()
        };
        let pods = row("pods added per second (pods_per_s)");
        assert!(
            pods.starts_with("churn concurrency 1  cross-node"),
            "{pods}"
        );
        assert!(
            pods.contains("110 pods/s") && pods.contains("55.0 pods/s"),
            "{pods}"
        );
        // The cycles' own p99s are 40 and 17 ms: their median is the headline metric.
        let p99 = row("time until reachable from another node p99 (reachable_p99_ns)");
        assert!(p99.contains("28.5 ms") && p99.contains("57.0 ms"), "{p99}");
        let cpu = row("CPU time per pod, daemons (cpu_daemons_ns_per_pod)");
        assert!(cpu.contains("525 µs/pod"), "{cpu}");

        let md = super::markdown(&cmp);
        assert!(
            md.contains("| pods added per second `pods_per_s` | 110 pods/s | 55.0 pods/s |"),
            "{md}"
        );
        assert!(
            md.contains("| time until removed p50 `removed_p50_ns` | 1.00 ms | 2.00 ms |"),
            "{md}"
        );

        let xml = super::junit(&cmp);
        let report = Report::deserialize_from_str(&xml).unwrap();
        let case = report
            .test_suites
            .iter()
            .flat_map(|s| &s.test_cases)
            .find(|c| c.name.as_str() == "pods_per_s")
            .unwrap();
        let out = case.system_out.as_ref().map(|o| o.as_str()).unwrap_or("");
        assert!(
            out.contains(
                "churn concurrency 1 cross-node pods added per second (pods_per_s): 110 pods/s \
                 -> 55.0 pods/s"
            ),
            "{out}"
        );
        assert!(
            out.contains("baseline repetitions: 100 pods/s, 120 pods/s"),
            "{out}"
        );
    }
}
