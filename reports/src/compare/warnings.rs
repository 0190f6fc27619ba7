//! Warnings about what makes the figures of two runs differ for reasons other than the code:
//! parameters, machines, kernels, emulation, and a session baseline that moved.

use std::fmt::Write as _;

use super::across::OptionChange;
use super::measurements::{compare_measurement, match_measurements};
use super::options::{CompareOptions, EMULATED_RUN_NOISE};
use super::rule::median;
use super::verdict::Verdict;
use crate::schema::{MeasurementRecord, RunResult, Sample};
use crate::substrate::{Substrate, SubstrateKind, EMULATED_CAVEAT};

/// The options to compare two runs on `substrate` with (both runs' substrates are alike), and
/// the warning that says what emulation changes: for emulated runs, the noise floor is at
/// least [`EMULATED_RUN_NOISE`].
pub(super) fn emulated_options(
    substrate: &Substrate,
    options: &CompareOptions,
) -> (CompareOptions, Option<String>) {
    let mut options = options.clone();
    if !substrate.emulated {
        return (options, None);
    }
    let mut warning = format!(
        "both runs are emulated ({}): {EMULATED_CAVEAT}; runs of the same code differ by \
         ±20–35 % under emulation",
        substrate.how()
    );
    if options.noise_floor < EMULATED_RUN_NOISE {
        let _ = write!(
            warning,
            ", so the noise floor is raised from {} to {} and only larger changes are decided",
            percent(options.noise_floor),
            percent(EMULATED_RUN_NOISE)
        );
        options.noise_floor = EMULATED_RUN_NOISE;
    }
    if options.calibration.take().is_some() {
        warning.push_str("; the calibration (of native runs) is not used");
    }
    (options, Some(warning))
}

/// Warnings about parameters and machines that make the figures of the two runs differ for
/// reasons other than the code. Backend options that differ (`options`) are warned about
/// unless the comparison is `across` backends, where they are the point.
pub(super) fn parameter_warnings(
    baseline: &RunResult,
    candidate: &RunResult,
    options: &[OptionChange],
    across: bool,
) -> Vec<String> {
    let (b, c) = (&baseline.parameters, &candidate.parameters);
    let mut out = Vec::new();
    let mut differ = |what: &str, bv: String, cv: String| {
        if bv != cv {
            out.push(format!(
                "{what} differs (baseline {bv}, candidate {cv}): figures may differ for that \
                 reason alone; run both with the same {what}"
            ));
        }
    };
    differ(
        "duration",
        format!("{} ms", b.duration_ms),
        format!("{} ms", c.duration_ms),
    );
    differ(
        "warm-up",
        format!("{} ms", b.warmup_ms),
        format!("{} ms", c.warmup_ms),
    );
    let tweaks = |t: &[String]| {
        if t.is_empty() {
            "none".to_owned()
        } else {
            t.join(" ")
        }
    };
    differ("tweaks", tweaks(&b.tweaks), tweaks(&c.tweaks));
    let size = |s: Option<u32>| s.map_or_else(|| "default".to_owned(), |s| format!("{s} B"));
    differ(
        "message size",
        size(b.message_size_bytes),
        size(c.message_size_bytes),
    );
    differ("placement", b.placement.clone(), c.placement.clone());
    differ("streams", b.streams.to_string(), c.streams.to_string());
    differ("underlay", b.underlay.clone(), c.underlay.clone());
    differ("nodes", b.nodes.to_string(), c.nodes.to_string());
    differ(
        "pods per node",
        b.pods_per_node.to_string(),
        c.pods_per_node.to_string(),
    );
    differ("mtu", b.mtu.to_string(), c.mtu.to_string());
    differ("generator", b.generator.clone(), c.generator.clone());
    if !across {
        let value = |v: &Option<String>| v.clone().unwrap_or_else(|| "not given".into());
        for o in options {
            out.push(format!(
                "backend option {} differs (baseline {}, candidate {}): figures and checks \
                 may differ for that reason alone; run both with the same --{}, or pass \
                 --across-backends to compare the two on purpose",
                o.option,
                value(&o.baseline),
                value(&o.candidate),
                o.option
            ));
        }
    }

    let (be, ce) = (&baseline.environment, &candidate.environment);
    let machine = |e: &crate::Environment| {
        format!(
            "{} / {} CPUs / {}",
            e.hostname.as_deref().unwrap_or("?"),
            e.cpu_count,
            e.cpu_model.as_deref().unwrap_or("?")
        )
    };
    if machine(be) != machine(ce) {
        out.push(format!(
            "the runs are from different machines (baseline {}, candidate {}): compare runs \
             from one machine",
            machine(be),
            machine(ce)
        ));
    }
    if be.kernel != ce.kernel {
        out.push(format!(
            "the runs are on different kernels (baseline {}, candidate {}): the kernel's \
             datapath may account for differences",
            be.kernel, ce.kernel
        ));
    }
    let (bs, cs) = (&baseline.substrate, &candidate.substrate);
    if bs.kind == SubstrateKind::Vm && bs.kernel_release != cs.kernel_release {
        out.push(format!(
            "the VMs ran different kernels (baseline {}, candidate {}): the kernel's datapath \
             may account for differences; boot both with the same kernel",
            bs.kernel_release, cs.kernel_release
        ));
    }
    for (side, r) in [("baseline", baseline), ("candidate", candidate)] {
        if !matches!(
            r.outcome,
            crate::Outcome::Passed | crate::Outcome::ChecksFailed
        ) {
            out.push(format!(
                "the {side} run did not complete ({}): its figures may be partial",
                r.outcome
            ));
        }
    }
    out
}

/// The message size of a measurement's first repetition (a churn cycle has none).
fn message_size(m: &MeasurementRecord) -> Option<u32> {
    m.repetitions.first().and_then(|s| match s {
        Sample::TcpStream(t) => Some(t.message_size_bytes),
        Sample::UdpStream(u) => Some(u.message_size_bytes),
        Sample::TcpRr(r) | Sample::UdpRr(r) | Sample::TcpCrr(r) => Some(r.message_size_bytes),
        Sample::Churn(_) => None,
    })
}

/// Median measurement window of a measurement's repetitions, in nanoseconds.
fn window_ns(m: &MeasurementRecord) -> f64 {
    let windows: Vec<f64> = m
        .repetitions
        .iter()
        .filter_map(|s| match s {
            Sample::TcpStream(t) => Some(t.window_ns as f64),
            Sample::UdpStream(u) => Some(u.window_ns as f64),
            Sample::TcpRr(r) | Sample::UdpRr(r) | Sample::TcpCrr(r) => Some(r.window_ns as f64),
            // A cycle lasts as long as its pods take: its length is a result, not a setting.
            Sample::Churn(_) => None,
        })
        .collect();
    median(&windows)
}

/// Warnings about one matched pair of measurements.
pub(super) fn measurement_warnings(b: &MeasurementRecord, c: &MeasurementRecord) -> Vec<String> {
    let case = format!("{} {}", b.label(), b.path);
    let mut out = Vec::new();
    if b.generator != c.generator {
        out.push(format!(
            "{case}: generator differs (baseline {}, candidate {}): another version may \
             measure differently",
            b.generator, c.generator
        ));
    }
    if b.placement.kind != c.placement.kind {
        out.push(format!(
            "{case}: placement differs (baseline {}, candidate {}): figures are not comparable; \
             run both with the same --placement",
            b.placement.kind, c.placement.kind
        ));
    }
    if b.datapath != c.datapath {
        out.push(format!(
            "{case}: datapath differs (baseline {}, candidate {})",
            b.datapath, c.datapath
        ));
    }
    if let (Some(bs), Some(cs)) = (message_size(b), message_size(c)) {
        if bs != cs {
            out.push(format!(
                "{case}: message size differs (baseline {bs} B, candidate {cs} B): figures \
                 are not comparable; run both with the same --message-size and MTU"
            ));
        }
    }
    let (bw, cw) = (window_ns(b), window_ns(c));
    if bw.is_finite() && cw.is_finite() && (bw - cw).abs() > 0.1 * bw.max(cw) {
        out.push(format!(
            "{case}: measurement window differs (baseline {}, candidate {}): run both with \
             the same --duration",
            seconds(bw),
            seconds(cw)
        ));
    }
    if let (Some(Sample::Churn(bs)), Some(Sample::Churn(cs))) =
        (b.repetitions.first(), c.repetitions.first())
    {
        if bs.pods != cs.pods {
            out.push(format!(
                "{case}: pods per cycle differ (baseline {}, candidate {}): figures are not \
                 comparable; run both with the same --pods",
                bs.pods, cs.pods
            ));
        }
    }
    if let (Some(Sample::TcpStream(bs)), Some(Sample::TcpStream(cs))) =
        (b.repetitions.first(), c.repetitions.first())
    {
        if bs.streams != cs.streams {
            out.push(format!(
                "{case}: streams differ (baseline {}, candidate {}): run both with the same \
                 --streams",
                bs.streams, cs.streams
            ));
        }
    }
    out
}

/// Compares the host-net baselines measured in each session, if both have one: when the
/// machine itself got faster or slower between the sessions, differences in the backend's
/// figures may be the machine's.
pub(super) fn session_baseline_warnings(
    baseline: &RunResult,
    candidate: &RunResult,
    options: &CompareOptions,
) -> Vec<String> {
    let (Some(bb), Some(cb)) = (&baseline.baseline, &candidate.baseline) else {
        return Vec::new();
    };
    let Ok(pairs) = match_measurements(&bb.measurements, &cb.measurements) else {
        return Vec::new();
    };
    let mut moved = Vec::new();
    for (b, c) in pairs {
        if let Ok(rows) = compare_measurement(b, c, options) {
            moved.extend(
                rows.into_iter()
                    .filter(|r| matches!(r.verdict, Verdict::Regression | Verdict::Improvement))
                    .map(|r| format!("{} {} {}", r.case(), r.metric, r.scale.format(r.change))),
            );
        }
    }
    if moved.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "the {} baseline measured in each session moved too ({}): the machine, not the \
         datapath, may account for differences; compare runs made under the same conditions",
        bb.backend,
        moved.join(", ")
    )]
}

/// A fraction as a percentage for a message, to two decimals at most: 0.07 -> `7%`.
fn percent(fraction: f64) -> String {
    format!("{}%", (fraction * 1e4).round() / 100.0)
}

/// A duration in nanoseconds as seconds for a message, to two decimals at most: `0.6 s`.
fn seconds(ns: f64) -> String {
    format!("{} s", (ns / 1e7).round() / 100.0)
}
