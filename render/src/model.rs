//! What the report is drawn from: the input results split into groups by substrate, labelled
//! series, and helpers that pull medians and ranges out of measurements.
//!
//! A *group* is every input whose nodes lived on alike substrates
//! ([`reports::Substrate::comparable_with`]): namespace results, VM results under emulation,
//! VM results without. Each group is a [`Model`] of its own, so no table, plot or ratio ever
//! sets an emulated figure beside a native one.
//!
//! A *series* is one set of measurements shown as one row or line: a run's own measurements,
//! or the host-net baseline measured in the same session as a run. Labels are the backend
//! name, plus what tells same-backend runs apart (datapath, underlay, generator, then any other
//! parameter that differs), plus the file name when nothing else does.

use reports::{
    CostSample, MeasurementRecord, Parameters, RunResult, ScaleResult, Stats, Substrate,
    SubstrateKind,
};

use crate::chart::Cell;
use crate::{Input, InputResult};

/// The two paths a measurement can take, in the order they are shown.
pub(crate) const PATHS: [&str; 2] = ["cross-node", "same-node"];

/// One row or line of the plots.
pub(crate) struct Series<'a> {
    pub label: String,
    pub measurements: &'a [MeasurementRecord],
    /// True for a host-net baseline taken in the session of `run`.
    pub is_baseline: bool,
    /// Whether the measurements' ratios to a baseline (`vs_baseline`) may be shown: false for
    /// a run whose baseline ran on a substrate not alike its own.
    pub ratios: bool,
}

/// The inputs, split by kind, with their series.
pub(crate) struct Model<'a> {
    /// Run results with their file names and labels, in input order.
    pub runs: Vec<Run<'a>>,
    pub scales: Vec<(&'a str, &'a ScaleResult)>,
    /// Baselines first (they are the reference), then the runs in input order, those of one
    /// backend together.
    pub series: Vec<Series<'a>>,
}

/// One run result.
pub(crate) struct Run<'a> {
    pub file: &'a str,
    pub result: &'a RunResult,
    pub label: String,
}

impl Run<'_> {
    /// Whether the run's baseline ran on a substrate alike its own (true without a baseline).
    pub(crate) fn baseline_alike(&self) -> bool {
        self.result
            .baseline
            .as_ref()
            .is_none_or(|b| b.substrate.comparable_with(&self.result.substrate))
    }
}

/// The inputs whose nodes lived on alike substrates, reported together and apart from the
/// others.
pub(crate) struct Group<'a> {
    /// The substrates of its inputs, each once (they differ at most in kernel or accelerator
    /// name), in input order.
    pub substrates: Vec<&'a Substrate>,
    /// What its headings, plot titles and captions are marked with (`VM results
    /// (emulated)`); `None` when the report holds nothing but namespace results, so such a
    /// report looks as it always did.
    pub mark: Option<String>,
    /// Prefix of its plot files and HTML anchors (`vm-emulated`); empty for namespace results.
    pub slug: String,
    pub model: Model<'a>,
}

impl Group<'_> {
    /// True when its nodes ran under CPU emulation: figures compare behaviour, not speed.
    pub(crate) fn emulated(&self) -> bool {
        self.substrates.iter().any(|s| s.emulated)
    }

    /// The names of its input files: runs, then scale results.
    pub(crate) fn files(&self) -> Vec<&str> {
        self.model
            .runs
            .iter()
            .map(|r| r.file)
            .chain(self.model.scales.iter().map(|(f, _)| *f))
            .collect()
    }

    /// Its heading: `Namespace results`, `VM results (emulated)`.
    pub(crate) fn title(&self) -> String {
        let t = crate::words::results_title(self.substrates[0]);
        let mut chars = t.chars();
        chars
            .next()
            .map(|c| c.to_uppercase().chain(chars).collect())
            .unwrap_or_default()
    }

    /// `text` marked as belonging to this group (`Results — VM results (emulated)`), or as is
    /// when the report has only namespace results.
    pub(crate) fn marked(&self, text: &str) -> String {
        match &self.mark {
            Some(m) => format!("{text} — {m}"),
            None => text.to_owned(),
        }
    }

    /// An HTML anchor or file name within this group: `name`, or `<slug>-<name>`.
    pub(crate) fn id(&self, name: &str) -> String {
        if self.slug.is_empty() {
            name.to_owned()
        } else {
            format!("{}-{name}", self.slug)
        }
    }
}

/// The substrate of an input.
fn substrate_of(input: &Input) -> &Substrate {
    match &input.result {
        InputResult::Run(r) => &r.substrate,
        InputResult::Scale(s) => &s.substrate,
    }
}

/// Splits the inputs into groups of alike substrates: namespace results first, then VM
/// results without emulation, then emulated ones; inputs keep their order within a group.
pub(crate) fn groups(inputs: &[Input]) -> Vec<Group<'_>> {
    let key = |s: &Substrate| (s.kind, s.emulated);
    let mut keys: Vec<(SubstrateKind, bool)> =
        inputs.iter().map(|i| key(substrate_of(i))).collect();
    keys.sort();
    keys.dedup();
    let only_namespaces = keys == [(SubstrateKind::Netns, false)];
    keys.into_iter()
        .map(|k| {
            let members: Vec<&Input> = inputs
                .iter()
                .filter(|i| key(substrate_of(i)) == k)
                .collect();
            let mut substrates: Vec<&Substrate> = Vec::new();
            for s in members.iter().map(|i| substrate_of(i)) {
                if !substrates.contains(&s) {
                    substrates.push(s);
                }
            }
            let first = substrates[0];
            let slug = match k {
                (SubstrateKind::Netns, false) => String::new(),
                (kind, true) => format!("{kind}-emulated"),
                (kind, false) => kind.to_string(),
            };
            Group {
                mark: (!only_namespaces).then(|| crate::words::results_title(first)),
                slug,
                substrates,
                model: Model::new(&members),
            }
        })
        .collect()
}

impl<'a> Model<'a> {
    pub(crate) fn new(inputs: &[&'a Input]) -> Model<'a> {
        let mut runs = Vec::new();
        let mut scales = Vec::new();
        for &input in inputs {
            match &input.result {
                InputResult::Run(r) => runs.push((input.name.as_str(), r.as_ref())),
                InputResult::Scale(s) => scales.push((input.name.as_str(), s.as_ref())),
            }
        }
        let labels = run_labels(&runs);
        let runs: Vec<Run<'a>> = runs
            .into_iter()
            .zip(labels)
            .map(|((file, result), label)| Run {
                file,
                result,
                label,
            })
            .collect();

        let mut series = Vec::new();
        // One row per distinct baseline (a baseline shared by several runs, same run id,
        // is shown once); a baseline on another substrate than its run's is left out.
        let mut seen: Vec<&str> = Vec::new();
        let baselines: Vec<&Run<'a>> = runs
            .iter()
            .filter(|r| r.baseline_alike())
            .filter(|r| {
                r.result.baseline.as_ref().is_some_and(|b| {
                    let new = !seen.contains(&b.run_id.as_str());
                    seen.push(&b.run_id);
                    new && !b.measurements.is_empty()
                })
            })
            .collect();
        for run in &baselines {
            let b = run.result.baseline.as_ref().expect("filtered on baseline");
            let label = if baselines.len() == 1 {
                format!("{} (baseline)", b.backend)
            } else {
                format!("{}, {} session", b.backend, run.label)
            };
            series.push(Series {
                label,
                measurements: &b.measurements,
                is_baseline: true,
                ratios: true,
            });
        }
        // Runs of one backend next to each other, backends in the order they first appear.
        let mut order: Vec<&Run<'a>> = runs.iter().collect();
        let first = |b: &str| {
            runs.iter()
                .position(|r| r.result.parameters.backend == b)
                .unwrap_or(usize::MAX)
        };
        order.sort_by_key(|r| first(&r.result.parameters.backend));
        for run in order {
            series.push(Series {
                label: run.label.clone(),
                measurements: &run.result.measurements,
                is_baseline: false,
                ratios: run.baseline_alike(),
            });
        }
        Model {
            runs,
            scales,
            series,
        }
    }

    /// The workload cases measured by any series, in the order workloads are run.
    /// Every measurement of every series, in table order: series, then case, then path.
    pub(crate) fn measurements(
        &self,
    ) -> impl Iterator<Item = (&Series<'a>, Case, &'static str, &'a MeasurementRecord)> + '_ {
        let cases = self.cases();
        self.series.iter().flat_map(move |s| {
            cases.clone().into_iter().flat_map(move |case| {
                PATHS.iter().filter_map(move |p| {
                    find(s.measurements, &case, p).map(|m| (s, case.clone(), *p, m))
                })
            })
        })
    }

    pub(crate) fn cases(&self) -> Vec<Case> {
        let mut cases: Vec<Case> = Vec::new();
        for s in &self.series {
            for m in s.measurements {
                let case = Case {
                    workload: m.workload.clone(),
                    variant: m.variant.clone(),
                };
                if !cases.contains(&case) {
                    cases.push(case);
                }
            }
        }
        cases.sort_by_key(|c| workload_rank(&c.workload));
        cases
    }
}

fn workload_rank(w: &str) -> usize {
    ["tcp-stream", "udp-stream", "tcp-rr", "udp-rr", "tcp-crr"]
        .iter()
        .position(|x| *x == w)
        .unwrap_or(usize::MAX)
}

/// A workload and its variant (`udp-stream`, `64 B`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Case {
    pub workload: String,
    pub variant: Option<String>,
}

impl Case {
    pub(crate) fn label(&self) -> String {
        match &self.variant {
            Some(v) => format!("{} {v}", self.workload),
            None => self.workload.clone(),
        }
    }
}

/// The external generator of a run's measurements (`iperf3 3.12`), if it used one.
pub(crate) fn external_generator(r: &RunResult) -> Option<String> {
    r.measurements
        .iter()
        .map(|m| m.generator.as_str())
        .find(|g| *g != "cnbench")
        .map(str::to_owned)
        .or_else(|| (r.parameters.generator != "cnbench").then(|| r.parameters.generator.clone()))
}

/// Labels for the runs: backend, then datapath, BGP topology, an l3 underlay and an external
/// generator when present; then parameters that differ between runs still sharing a label;
/// then the file name.
fn run_labels(runs: &[(&str, &RunResult)]) -> Vec<String> {
    let mut labels: Vec<String> = runs
        .iter()
        .map(|(_, r)| {
            let p = &r.parameters;
            let mut parts = vec![p.backend.clone()];
            parts.extend(p.datapath.clone());
            parts.extend(p.bgp_topology.clone());
            if p.underlay == "l3" {
                parts.push("l3 underlay".into());
            }
            if p.ip_family() != "ipv4" {
                parts.push(p.ip_family().to_string());
            }
            if let Some(g) = external_generator(r) {
                parts.push(format!("[{g}]"));
            }
            parts.join(" ")
        })
        .collect();
    type Describe = fn(&Parameters) -> String;
    let describe: [(&str, Describe); 10] = [
        ("underlay", |p| format!("{} underlay", p.underlay)),
        ("family", |p| p.ip_family().to_string()),
        ("placement", |p| p.placement.clone()),
        ("nodes", |p| format!("{} nodes", p.nodes)),
        ("pods", |p| format!("{} pods/node", p.pods_per_node)),
        ("mtu", |p| format!("mtu {}", p.mtu)),
        ("streams", |p| format!("{} streams", p.streams)),
        ("message", |p| match p.message_size_bytes {
            Some(b) => format!("{b} B messages"),
            None => "default messages".into(),
        }),
        ("duration", |p| format!("{} ms windows", p.duration_ms)),
        ("repeat", |p| format!("{}x", p.repeat)),
    ];
    let base = labels.clone();
    for label in dedup(&base) {
        let same: Vec<usize> = (0..runs.len()).filter(|i| base[*i] == label).collect();
        for (_, describe) in &describe {
            let values: Vec<String> = same
                .iter()
                .map(|i| describe(&runs[*i].1.parameters))
                .collect();
            if values.iter().any(|v| *v != values[0]) {
                for (i, v) in same.iter().zip(values) {
                    labels[*i].push_str(", ");
                    labels[*i].push_str(&v);
                }
            }
        }
    }
    let after = labels.clone();
    for label in dedup(&after) {
        let same: Vec<usize> = (0..runs.len()).filter(|i| after[*i] == label).collect();
        if same.len() > 1 {
            for i in same {
                labels[i] = format!("{} ({})", labels[i], runs[i].0);
            }
        }
    }
    labels
}

fn dedup(v: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in v {
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    out
}

/// The measurement of `case` over `path`, if the series has one.
pub(crate) fn find<'a>(
    ms: &'a [MeasurementRecord],
    case: &Case,
    path: &str,
) -> Option<&'a MeasurementRecord> {
    ms.iter()
        .find(|m| m.workload == case.workload && m.variant == case.variant && m.path == path)
}

/// Statistics of `metric` over the repetitions: the stored summary, or computed from the
/// repetitions when a result has none. Non-finite values are left out.
pub(crate) fn metric_stats(m: &MeasurementRecord, metric: &str) -> Option<Stats> {
    if let Some(s) = m.summary_of(metric) {
        if s.median.is_finite() {
            return Some(*s);
        }
    }
    let values: Vec<f64> = m
        .metric_values()
        .into_iter()
        .find(|(name, _)| *name == metric)
        .map(|(_, v)| v.into_iter().filter(|x| x.is_finite()).collect())
        .unwrap_or_default();
    Stats::of(&values)
}

/// Statistics of a cost figure over the repetitions that have it: the untraced repetitions
/// when they do (CPU, kernel counters: the traced repetition's CPU is inflated by the
/// tracing), else the traced repetition (syscalls, crossings, device transmissions, which
/// only it counts).
pub(crate) fn cost_stats(
    m: &MeasurementRecord,
    f: impl Fn(&CostSample) -> Option<f64>,
) -> Option<Stats> {
    let of = |costs: &mut dyn Iterator<Item = &CostSample>| -> Vec<f64> {
        costs.filter_map(&f).filter(|v| v.is_finite()).collect()
    };
    let mut values = of(&mut m.costs.iter().filter(|c| !c.traced));
    if values.is_empty() {
        values = of(&mut m.traced.iter().map(|t| &t.cost));
    }
    Stats::of(&values)
}

/// Every cost sample of a measurement: its repetitions' and its traced repetition's.
pub(crate) fn all_costs(m: &MeasurementRecord) -> impl Iterator<Item = &CostSample> {
    m.costs.iter().chain(m.traced.iter().map(|t| &t.cost))
}

/// A bar: the median, with the min–max range when there are several repetitions.
pub(crate) fn cell(s: Option<Stats>) -> Option<Cell> {
    let range = |v: f64| (s.is_some_and(|s| s.n > 1) && v.is_finite()).then_some(v);
    s.filter(|s| s.median.is_finite()).map(|s| Cell {
        value: s.median,
        min: range(s.min),
        max: range(s.max),
    })
}

/// The role names of a measurement's costs, client and server first.
pub(crate) fn roles(m: &MeasurementRecord) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for c in all_costs(m) {
        for r in &c.roles {
            if !names.contains(&r.role) {
                names.push(r.role.clone());
            }
        }
    }
    names.sort_by_key(|r| match r.as_str() {
        "client" => 0,
        "server" => 1,
        _ => 2,
    });
    names
}

/// Statistics of a per-role figure over the repetitions (per-packet figures are absent where
/// the role moved no packets: a daemon on a same-node path, BIRD).
pub(crate) fn role_stats(
    m: &MeasurementRecord,
    role: &str,
    f: impl Fn(&reports::RoleCost) -> Option<f64>,
) -> Option<Stats> {
    cost_stats(m, |c| c.roles.iter().find(|r| r.role == role).and_then(&f))
}

/// `ms` since the Unix epoch as `YYYY-MM-DD HH:MM UTC`.
pub(crate) fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (proleptic Gregorian), by 400-year eras.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00 UTC");
        assert_eq!(utc(1_764_168_000_000), "2025-11-26 14:40 UTC");
    }

    fn run(backend: &str, underlay: &str, mtu: u32) -> RunResult {
        let p = Parameters {
            backend: backend.into(),
            underlay: underlay.into(),
            mtu,
            generator: "cnbench".into(),
            ..Parameters::default()
        };
        RunResult::new("x", reports::Environment::default(), p)
    }

    #[test]
    fn inputs_are_grouped_by_substrate_namespaces_first() {
        let on = |backend: &str, substrate: Substrate| {
            let mut r = run(backend, "l2", 1500);
            r.substrate = substrate;
            r
        };
        let inputs = vec![
            Input::run("a-vm.json", on("vxlan", Substrate::vm_tcg("6.1.0"))),
            Input::run("b.json", on("vxlan", Substrate::netns("6.8.0"))),
            Input::run("c-vm.json", on("ipip", Substrate::vm_tcg("6.12.0"))),
            Input::run("d.json", on("bridge", Substrate::netns("6.8.0"))),
        ];
        let split = groups(&inputs);
        assert_eq!(split.len(), 2);
        let (ns, vm) = (&split[0], &split[1]);
        assert_eq!(ns.files(), ["b.json", "d.json"]);
        assert_eq!(vm.files(), ["a-vm.json", "c-vm.json"]);
        assert_eq!(
            (ns.title(), vm.title()),
            ("Namespace results".into(), "VM results (emulated)".into())
        );
        assert_eq!((ns.slug.as_str(), vm.slug.as_str()), ("", "vm-emulated"));
        assert_eq!(ns.marked("Results"), "Results — namespace results");
        assert_eq!(vm.marked("Results"), "Results — VM results (emulated)");
        assert_eq!(
            (ns.id("throughput"), vm.id("throughput")),
            ("throughput".into(), "vm-emulated-throughput".into())
        );
        assert!(!ns.emulated() && vm.emulated());
        // Both VM kernels are kept, each once.
        assert_eq!(vm.substrates.len(), 2);
        // Labels are made within a group: the VM vxlan is not told apart from the other one.
        assert_eq!(vm.model.runs[0].label, "vxlan");
        assert_eq!(ns.model.runs[0].label, "vxlan");

        // Namespace results alone are not marked at all.
        let only = groups(&inputs[1..2]);
        assert_eq!(only.len(), 1);
        assert_eq!(only[0].mark, None);
        assert_eq!(only[0].marked("Results"), "Results");
    }

    #[test]
    fn labels_tell_same_backend_runs_apart() {
        let a = run("vxlan", "l2", 1500);
        let b = run("vxlan", "l2", 9000);
        let c = run("bridge", "none", 1500);
        let d = run("bridge", "none", 1500);
        let e = run("host-gw", "l3", 1500);
        let runs = [
            ("a.json", &a),
            ("b.json", &b),
            ("c.json", &c),
            ("d.json", &d),
            ("e.json", &e),
        ];
        assert_eq!(
            run_labels(&runs),
            [
                "vxlan, mtu 1500",
                "vxlan, mtu 9000",
                "bridge (c.json)",
                "bridge (d.json)",
                "host-gw l3 underlay"
            ]
        );
    }
}
