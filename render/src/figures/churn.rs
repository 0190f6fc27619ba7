//! Pod churn (`cnbench churn`), from every churn result of the report together: how soon a
//! new pod answers from another node (its distribution over the pods), and how many pods a
//! second the datapath takes on as more are added at once.

use reports::MeasurementRecord;

use super::*;
use crate::chart::{
    color, lighter, Axis, Body, Chart, Key, Line, LineChart, LinePanel, Mark, Scale,
};
use crate::churn::{concurrency, is_churn, pods_added, sorted_times, Level, REACHABLE};
use crate::model::{Model, Run};
use crate::units::Quantity;

/// Why the churn plots are left out of a report without churn.
const NO_CHURN: &str = "no churn measurements among the inputs (written by `cnbench churn`)";

/// A curve of a distribution is drawn through at most about this many steps: beyond it the
/// steps are finer than a pixel and only make the files larger.
const MAX_STEPS: usize = 400;

/// The runs with churn measurements, each with its levels in order of concurrency.
fn churn_runs<'m, 'a>(model: &'m Model<'a>) -> Vec<(&'m Run<'a>, Vec<&'a MeasurementRecord>)> {
    model
        .runs
        .iter()
        .filter_map(|run| {
            let mut levels: Vec<&MeasurementRecord> = run
                .result
                .measurements
                .iter()
                .filter(|m| is_churn(m) && concurrency(m).is_some())
                .collect();
            levels.sort_by_key(|m| concurrency(m));
            (!levels.is_empty()).then_some((run, levels))
        })
        .collect()
}

/// What the captions say of how the runs probed.
fn how(model: &Model) -> String {
    crate::churn::how(model.runs.iter().filter_map(|r| r.result.churn.as_ref()))
}

/// The share of `total` pods with a time at or below each time of `sorted`, as a staircase
/// (each pod raises the curve by 1 / `total` at its time); at most about [`MAX_STEPS`] steps,
/// a step then standing for several pods.
pub(super) fn cdf_steps(sorted: &[f64], total: usize) -> Vec<(f64, f64)> {
    let total = total.max(sorted.len()).max(1) as f64;
    let stride = sorted.len().div_ceil(MAX_STEPS).max(1);
    let mut points = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        // The last pod of a stride: the curve reaches its share at its time.
        let last = (i + stride).min(sorted.len()) - 1;
        points.push((sorted[i], i as f64 / total));
        points.push((sorted[last], (last + 1) as f64 / total));
        i = last + 1;
    }
    points
}

/// The time until each pod added answered from another node, cumulative: one curve per run
/// (colour) and concurrency level (shade, darker for more at a time).
pub(super) fn reachable_cdf(model: &Model) -> Result<Figure, Omitted> {
    let title = "Time until a new pod is reachable from another node, cumulative";
    let runs = churn_runs(model);
    let mut keys = Vec::new();
    let mut lines = Vec::new();
    for (i, (run, levels)) in runs.iter().enumerate() {
        for (j, m) in levels.iter().enumerate() {
            let sorted = sorted_times(m, REACHABLE);
            if sorted.is_empty() {
                continue;
            }
            // The highest concurrency in the run's colour, lower ones paler.
            let paler = 0.55 * (levels.len() - 1 - j) as f64 / (levels.len() - 1).max(1) as f64;
            lines.push(Line {
                series: keys.len(),
                points: cdf_steps(&sorted, pods_added(m)),
                faint: false,
                dots: false,
            });
            keys.push(Key {
                label: format!(
                    "{} · {} at a time",
                    run.label,
                    concurrency(m).unwrap_or_default()
                ),
                color: lighter(color(i), paler),
                mark: Mark::Line,
            });
        }
    }
    if lines.is_empty() {
        return Err(Omitted {
            title,
            why: NO_CHURN.into(),
        });
    }
    let caption = format!(
        "The share of the pods added (every cycle of a concurrency level together) that \
         answered an ICMP echo from a pod on another node within the time on the horizontal \
         axis, counted from the moment the pod's add was issued, so it includes the backend \
         wiring it. One curve per backend and concurrency level (pods added that many at a \
         time), darker for more at a time. A curve that ends below 1 had pods that never \
         answered or whose add failed. Logarithmic time axis. {}",
        how(model)
    );
    Ok(Figure {
        name: "churn-reachable-cdf",
        chart: Chart {
            title: title.into(),
            body: Body::Lines(LineChart {
                keys,
                panels: vec![LinePanel {
                    title: "All pods of all cycles".into(),
                    x: Axis::new(
                        "Time from add until reachable from another node",
                        Quantity::Nanoseconds,
                        Scale::Log,
                    ),
                    y: Axis::new(
                        "Share of pods reachable",
                        Quantity::Fixed(""),
                        Scale::Linear,
                    ),
                    lines,
                    markers: Vec::new(),
                }],
                columns: 1,
            }),
            footnote: None,
        },
        caption,
    })
}

/// Pods added and removed per second against the concurrency: one line per run.
pub(super) fn churn_rate(model: &Model) -> Result<Figure, Omitted> {
    let title = "Pods per second against concurrency";
    let runs = churn_runs(model);
    if runs.is_empty() {
        return Err(Omitted {
            title,
            why: NO_CHURN.into(),
        });
    }
    let keys: Vec<Key> = runs
        .iter()
        .enumerate()
        .map(|(i, (run, _))| Key {
            label: run.label.clone(),
            color: color(i),
            mark: Mark::Line,
        })
        .collect();
    type Get = fn(&Level) -> Option<f64>;
    let specs: [(&str, Get); 2] = [
        ("Pods added per second", |l| l.pods_per_s),
        ("Pods removed per second", |l| l.removed_per_s),
    ];
    let panels = specs
        .into_iter()
        .map(|(panel, get)| LinePanel {
            title: panel.into(),
            x: Axis::new(
                "Pods added (removed) at a time",
                Quantity::Count(""),
                Scale::Linear,
            )
            .with_data_ticks(),
            y: Axis::new(panel, Quantity::Fixed("pods/s"), Scale::Linear),
            lines: runs
                .iter()
                .enumerate()
                .filter_map(|(i, (_, levels))| {
                    let points: Vec<(f64, f64)> = levels
                        .iter()
                        .filter_map(|m| Level::of(m))
                        .filter_map(|l| get(&l).map(|v| (f64::from(l.concurrency), v)))
                        .filter(|(_, v)| v.is_finite())
                        .collect();
                    (!points.is_empty()).then_some(Line {
                        series: i,
                        points,
                        faint: false,
                        dots: true,
                    })
                })
                .collect(),
            markers: Vec::new(),
        })
        .collect();
    let caption = "Pods wired per second: the pods of a cycle over the time from its first add \
         issued until its last pod was wired, the median over the cycles of each concurrency \
         level (pods added that many at a time); removed likewise, from the first removal \
         issued until the last returned. One line per backend."
        .to_owned();
    Ok(Figure {
        name: "churn-rate",
        chart: Chart {
            title: title.into(),
            body: Body::Lines(LineChart {
                keys,
                panels,
                columns: 2,
            }),
            footnote: None,
        },
        caption,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Input;
    use reports::fixtures::churn_result;

    /// Two churn results, vxlan and bgp (this one with withdrawal times).
    fn inputs() -> Vec<Input> {
        vec![
            Input::run(
                "vxlan.json",
                churn_result("ch01", "vxlan", 1.0, 100.0, false),
            ),
            Input::run("bgp.json", churn_result("ch02", "bgp", 0.5, 150.0, true)),
        ]
    }

    fn svg(f: &Figure) -> String {
        crate::draw_svg(f, f.name, crate::chart::size(&f.chart)).unwrap()
    }

    #[test]
    fn the_cdf_has_a_curve_per_backend_and_level() {
        let inputs = inputs();
        let groups = crate::model::groups(&inputs);
        let (figures, omitted) = build(&groups[0].model);
        assert!(
            omitted.iter().all(|o| !o.title.contains("reachable")),
            "{:?}",
            omitted.iter().map(|o| o.title).collect::<Vec<_>>()
        );
        let cdf = figures
            .iter()
            .find(|f| f.name == "churn-reachable-cdf")
            .unwrap();
        let Body::Lines(l) = &cdf.chart.body else {
            panic!("a line chart")
        };
        let labels: Vec<&str> = l.keys.iter().map(|k| k.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "vxlan · 1 at a time",
                "vxlan · 4 at a time",
                "bgp · 1 at a time",
                "bgp · 4 at a time"
            ]
        );
        // vxlan at concurrency 1: 8 pods, each a step; the straggler at 40 ms ends it at 1.
        let first = &l.panels[0].lines[0].points;
        assert_eq!(first.len(), 16);
        assert_eq!(first[0], (10e6, 0.0));
        assert_eq!(first[15], (40e6, 1.0));
        assert!(!l.panels[0].lines[0].dots);
        let drawn = svg(cdf);
        for label in labels {
            assert!(drawn.contains(label), "{label} missing");
        }
        assert!(drawn.contains("log scale"), "{drawn}");
        assert!(cdf.caption.contains("ICMP echo"), "{}", cdf.caption);
        assert!(
            cdf.caption.contains("sent every 1.00 ms"),
            "{}",
            cdf.caption
        );
        assert!(
            cdf.caption
                .contains("from the moment the pod's add was issued"),
            "{}",
            cdf.caption
        );
    }

    #[test]
    fn pods_per_second_against_concurrency_has_a_line_per_backend() {
        let inputs = inputs();
        let groups = crate::model::groups(&inputs);
        let (figures, _) = build(&groups[0].model);
        let rate = figures.iter().find(|f| f.name == "churn-rate").unwrap();
        let Body::Lines(l) = &rate.chart.body else {
            panic!("a line chart")
        };
        assert_eq!(l.panels.len(), 2);
        // Medians over the cycles at concurrency 1 and 4.
        assert_eq!(l.panels[0].lines[0].points, [(1.0, 110.0), (4.0, 330.0)]);
        assert_eq!(l.panels[0].lines[1].points, [(1.0, 165.0), (4.0, 495.0)]);
        assert_eq!(l.panels[1].lines[0].points, [(1.0, 55.0), (4.0, 165.0)]);
        let drawn = svg(rate);
        for text in [
            "vxlan",
            "bgp",
            "Pods added per second",
            "Pods removed per second",
        ] {
            assert!(drawn.contains(text), "{text} missing");
        }
    }

    #[test]
    fn results_without_churn_have_no_churn_figures() {
        let inputs = vec![Input::run("vxlan.json", reports::fixtures::full_result())];
        let groups = crate::model::groups(&inputs);
        let (figures, omitted) = build(&groups[0].model);
        assert!(figures.iter().all(|f| !f.name.starts_with("churn")));
        let left_out: Vec<(&str, &str)> = omitted
            .iter()
            .map(|o| (o.title, o.why.as_str()))
            .filter(|(_, why)| why.contains("churn"))
            .collect();
        assert_eq!(
            left_out,
            [
                (
                    "Time until a new pod is reachable from another node, cumulative",
                    NO_CHURN
                ),
                ("Pods per second against concurrency", NO_CHURN)
            ]
        );
    }

    #[test]
    fn long_distributions_are_drawn_in_few_steps() {
        let sorted: Vec<f64> = (1..=1000).map(f64::from).collect();
        let steps = cdf_steps(&sorted, 1000);
        assert!(steps.len() <= 2 * MAX_STEPS, "{}", steps.len());
        assert_eq!(steps[0], (1.0, 0.0));
        assert_eq!(*steps.last().unwrap(), (1000.0, 1.0));
        // Pods that never answered keep the curve below 1.
        assert_eq!(cdf_steps(&[5.0], 4), [(5.0, 0.0), (5.0, 0.25)]);
    }
}
