//! The one unit formatter of cnbench: every figure a person reads (terminal, Markdown, JUnit,
//! HTML, plot labels) is written by these functions, so a throughput or a round trip looks
//! the same wherever it appears.
//!
//! - Values with a decimal (SI) prefix ([`format_bps`], [`format_pps`], [`format_rate`]) take
//!   the largest prefix that keeps them below 1000 once rounded, with two decimals below 100
//!   and one from 100: `18.42 Gbit/s`, `512.0 Mbit/s`.
//! - Durations ([`format_ns`]) take ns, µs, ms or s: whole nanoseconds, tenths of
//!   microseconds below 100 µs, three significant digits for milliseconds and seconds.
//! - Byte counts ([`format_bytes`]) take binary prefixes: `512 B`, `1.50 GiB`.
//! - Percentages ([`format_percent`], [`format_share`]) and ratios ([`format_ratio`], with
//!   three significant digits: `0.870×`).
//! - A figure that is not finite is written `–`.
//!
//! An axis of a plot shows one unit in its title and plain numbers at its ticks
//! (`Quantity::unit_for`), so a reader never meets `1.2e10`; its units are the same lists.

/// Decimal prefixes of bit rates.
const BITS_PER_SECOND: [&str; 5] = ["bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"];
/// Decimal prefixes of packet rates.
const PACKETS_PER_SECOND: [&str; 4] = ["pkt/s", "kpkt/s", "Mpkt/s", "Gpkt/s"];
/// Decimal prefixes of other rates (transactions).
const PER_SECOND: [&str; 4] = ["/s", "k/s", "M/s", "G/s"];
/// Durations, each 1000 times the previous.
const DURATIONS: [&str; 4] = ["ns", "µs", "ms", "s"];
/// Binary prefixes of byte counts, each 1024 times the previous.
const BYTES: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/// What is written for a figure that is not finite (NaN, infinite).
pub const MISSING: &str = "–";

/// A bit rate: `"18.42 Gbit/s"`, `"512.0 Mbit/s"`, `"950.0 bit/s"`.
pub fn format_bps(bps: f64) -> String {
    scaled(bps, &BITS_PER_SECOND, two_then_one)
}

/// A packet rate: `"1.23 Mpkt/s"`, `"198.3 kpkt/s"`.
pub fn format_pps(per_s: f64) -> String {
    scaled(per_s, &PACKETS_PER_SECOND, two_then_one)
}

/// Any other rate per second: `"41.23 k/s"`, `"950.0 /s"`.
pub fn format_rate(per_s: f64) -> String {
    scaled(per_s, &PER_SECOND, two_then_one)
}

/// A duration given in nanoseconds: `"950 ns"`, `"8.5 µs"`, `"1.20 ms"`, `"350 ms"`,
/// `"36.0 s"`.
pub fn format_ns(ns: f64) -> String {
    scaled(ns, &DURATIONS, |unit, v| match unit {
        0 => 0,
        1 if v.abs() < 100.0 => 1,
        1 => 0,
        _ if v.abs() < 10.0 => 2,
        _ if v.abs() < 100.0 => 1,
        _ => 0,
    })
}

/// A byte count with a binary prefix: `"512 B"`, `"1.50 GiB"`.
pub fn format_bytes(bytes: f64) -> String {
    if !bytes.is_finite() {
        return MISSING.to_owned();
    }
    if bytes.abs() < 1024.0 {
        return format!("{bytes:.0} B");
    }
    let mut value = bytes / 1024.0;
    let mut unit = 1;
    while value.abs() >= 1024.0 && unit + 1 < BYTES.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2} {}", BYTES[unit])
}

/// A value given in percent, to two decimals: `"0.23%"`, `"84.00%"`.
pub fn format_percent(percent: f64) -> String {
    if !percent.is_finite() {
        return MISSING.to_owned();
    }
    format!("{percent:.2}%")
}

/// A fraction as a percentage to one decimal: `0.052` → `"5.2%"` (a coefficient of
/// variation, a share of a CPU).
pub fn format_share(fraction: f64) -> String {
    if !fraction.is_finite() {
        return MISSING.to_owned();
    }
    format!("{:.1}%", fraction * 100.0)
}

/// A ratio with three significant digits: `"0.870×"`, `"4.62×"`.
pub fn format_ratio(ratio: f64) -> String {
    if !ratio.is_finite() {
        return MISSING.to_owned();
    }
    format!("{}×", sig3(ratio))
}

/// A rate of pods (added or removed) per second, to three significant digits: `"412 pods/s"`,
/// `"41.2 pods/s"`. No prefix: a datapath wires tens to thousands of pods a second, and
/// `kpods/s` would read as a typo.
pub fn format_pods_per_s(per_s: f64) -> String {
    if !per_s.is_finite() {
        return MISSING.to_owned();
    }
    format!("{} pods/s", sig3(per_s))
}

/// A duration per pod given in nanoseconds (CPU time spent on each pod added and removed):
/// `"1.20 ms/pod"`.
pub fn format_ns_per_pod(ns: f64) -> String {
    if !ns.is_finite() {
        return MISSING.to_owned();
    }
    format!("{}/pod", format_ns(ns))
}

/// A value of the metric named `metric`, in the unit its name ends with: `_bps` as
/// [`format_bps`], `packets_per_s` as [`format_pps`], churn's `pods_per_s` and
/// `removed_per_s` as [`format_pods_per_s`], other `_per_s` as [`format_rate`], `_ns` as
/// [`format_ns`], `_ns_per_pod` as [`format_ns_per_pod`], `_percent` as [`format_percent`];
/// anything else as a plain number with two decimals.
pub fn format_metric(metric: &str, value: f64) -> String {
    if metric.ends_with("_bps") {
        format_bps(value)
    } else if metric == "packets_per_s" {
        format_pps(value)
    } else if metric == "pods_per_s" || metric == "removed_per_s" {
        format_pods_per_s(value)
    } else if metric.ends_with("_ns_per_pod") {
        format_ns_per_pod(value)
    } else if metric.ends_with("_per_s") {
        format_rate(value)
    } else if metric.ends_with("_ns") {
        format_ns(value)
    } else if metric.ends_with("_percent") {
        format_percent(value)
    } else if value.is_finite() {
        format!("{value:.2}")
    } else {
        MISSING.to_owned()
    }
}

/// A number without trailing zeros, to two decimals at most: 5 → `5`, 2.5 → `2.5`,
/// 12.345 → `12.35`.
pub fn trim_number(x: f64) -> String {
    let text = format!("{x:.2}");
    if !text.contains('.') {
        return text;
    }
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// A number with about three significant digits and no exponent: `10321` → `"10321"`,
/// `10.32` → `"10.3"`, `0.8224` → `"0.822"`, `0.000123` → `"0.000123"`.
pub fn sig3(v: f64) -> String {
    if !v.is_finite() {
        return MISSING.to_owned();
    }
    let s = format!("{v:.*}", sig3_decimals(v.abs()));
    // 0.99996 rounds to "1.000": write it as the number it rounded to would be written.
    let rounded: f64 = s.parse().unwrap_or(v);
    let again = sig3_decimals(rounded.abs());
    if again < sig3_decimals(v.abs()) {
        format!("{rounded:.again$}")
    } else {
        s
    }
}

fn sig3_decimals(a: f64) -> usize {
    if a == 0.0 || a >= 100.0 {
        0
    } else if a >= 10.0 {
        1
    } else if a >= 1.0 {
        2
    } else {
        // 0.0123 → 4 decimals: two significant digits after the leading zeros, plus one.
        (2.0 - a.log10().floor()).min(9.0) as usize
    }
}

/// Two decimals below 100, one from 100.
fn two_then_one(_unit: usize, v: f64) -> usize {
    if v.abs() < 100.0 {
        2
    } else {
        1
    }
}

/// Formats `value` in the largest of `units` (each 1000 times the previous) that keeps it
/// from reaching 1000 once rounded; `decimals(unit index, scaled value)` picks the precision.
fn scaled(value: f64, units: &[&str], decimals: impl Fn(usize, f64) -> usize) -> String {
    if !value.is_finite() {
        return MISSING.to_owned();
    }
    let mut v = value;
    let mut unit = 0;
    loop {
        let digits = decimals(unit, v);
        let text = format!("{v:.digits$}");
        // Decide on the rounded text, so 999.96 Mbit/s becomes "1.00 Gbit/s", not "1000.0 Mbit/s".
        let rounded: f64 = text.parse().unwrap_or(v);
        if rounded.abs() >= 1000.0 && unit + 1 < units.len() {
            v /= 1000.0;
            unit += 1;
            continue;
        }
        return format!("{text} {}", units[unit]);
    }
}

/// What a figure measures, which decides the units it can be shown in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Quantity {
    /// Bits per second (`throughput_bps`): bit/s, kbit/s, Mbit/s, Gbit/s.
    BitsPerSecond,
    /// Packets per second (`packets_per_s`): pkt/s, kpkt/s, Mpkt/s.
    PacketsPerSecond,
    /// A duration given in nanoseconds: ns, µs, ms, s.
    Nanoseconds,
    /// Bytes: B, KiB, MiB, GiB.
    Bytes,
    /// A number with a fixed unit that takes no prefix (`CPU s/GB`, `per packet`).
    Fixed(&'static str),
    /// A count with an optional noun (`sessions`): thousands become `k`.
    Count(&'static str),
}

/// A unit for one axis or column: values are divided by `divisor` and shown with `unit`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Unit {
    pub divisor: f64,
    pub name: String,
}

impl Quantity {
    /// The unit in which `max_abs` (the largest value shown) reads best.
    pub(crate) fn unit_for(self, max_abs: f64) -> Unit {
        let decimal = |names: &[&str]| {
            let steps: Vec<(f64, &str)> = names
                .iter()
                .enumerate()
                .map(|(i, n)| (1000f64.powi(i as i32), *n))
                .collect();
            pick(&steps, max_abs)
        };
        match self {
            Quantity::BitsPerSecond => decimal(&BITS_PER_SECOND),
            Quantity::PacketsPerSecond => decimal(&PACKETS_PER_SECOND),
            Quantity::Nanoseconds => decimal(&DURATIONS),
            Quantity::Bytes => {
                let steps: Vec<(f64, &str)> = BYTES[..4]
                    .iter()
                    .enumerate()
                    .map(|(i, n)| (1024f64.powi(i as i32), *n))
                    .collect();
                pick(&steps, max_abs)
            }
            Quantity::Fixed(name) => Unit {
                divisor: 1.0,
                name: name.to_owned(),
            },
            Quantity::Count(noun) => {
                if max_abs >= 1e4 {
                    Unit {
                        divisor: 1e3,
                        name: format!("thousand {noun}").trim().to_owned(),
                    }
                } else {
                    Unit {
                        divisor: 1.0,
                        name: noun.to_owned(),
                    }
                }
            }
        }
    }

    /// `value` written as the rest of the report writes it: [`format_bps`], [`format_pps`],
    /// [`format_ns`], [`format_bytes`]; fixed units and counts with three significant digits.
    pub(crate) fn format(self, value: f64) -> String {
        match self {
            Quantity::BitsPerSecond => format_bps(value),
            Quantity::PacketsPerSecond => format_pps(value),
            Quantity::Nanoseconds => format_ns(value),
            Quantity::Bytes => format_bytes(value),
            Quantity::Fixed(_) | Quantity::Count(_) => {
                let unit = self.unit_for(value.abs());
                let number = sig3(value / unit.divisor);
                if unit.name.is_empty() || !value.is_finite() {
                    number
                } else {
                    format!("{number} {}", unit.name)
                }
            }
        }
    }
}

/// The largest of `steps` (divisor, name) that `max_abs` reaches, or the first.
fn pick(steps: &[(f64, &str)], max_abs: f64) -> Unit {
    let (divisor, name) = steps
        .iter()
        .rev()
        .find(|(d, _)| max_abs >= *d)
        .unwrap_or(&steps[0]);
    Unit {
        divisor: *divisor,
        name: (*name).to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_rates() {
        assert_eq!(format_bps(18.42e9), "18.42 Gbit/s");
        assert_eq!(format_bps(512.0e6), "512.0 Mbit/s");
        assert_eq!(format_bps(950.0), "950.0 bit/s");
        assert_eq!(format_bps(1.5e3), "1.50 kbit/s");
        assert_eq!(format_bps(999.96e6), "1.00 Gbit/s");
        assert_eq!(format_bps(0.0), "0.00 bit/s");
        assert_eq!(format_bps(2.5e15), "2500.0 Tbit/s");
        assert_eq!(format_bps(f64::NAN), "–");
    }

    #[test]
    fn durations() {
        assert_eq!(format_ns(950.0), "950 ns");
        assert_eq!(format_ns(8_500.0), "8.5 µs");
        assert_eq!(format_ns(1_200_000.0), "1.20 ms");
        assert_eq!(format_ns(3.25e9), "3.25 s");
        assert_eq!(format_ns(85_340.0), "85.3 µs");
        assert_eq!(format_ns(853_400.0), "853 µs");
        assert_eq!(format_ns(35_000_000.0), "35.0 ms");
        assert_eq!(format_ns(350_000_000.0), "350 ms");
        assert_eq!(format_ns(999.7), "1.0 µs");
        assert_eq!(format_ns(999_960.0), "1.00 ms");
        assert_eq!(format_ns(0.0), "0 ns");
        assert_eq!(format_ns(f64::NAN), "–");
    }

    #[test]
    fn rates_bytes_percentages_and_metrics() {
        assert_eq!(format_rate(41_234.0), "41.23 k/s");
        assert_eq!(format_pps(198_270.2), "198.3 kpkt/s");
        assert_eq!(format_metric("transactions_per_s", 950.0), "950.0 /s");
        assert_eq!(format_metric("packets_per_s", 1.5e6), "1.50 Mpkt/s");
        assert_eq!(format_metric("rtt_p99_ns", 41_000.0), "41.0 µs");
        assert_eq!(format_metric("throughput_bps", 1e9), "1.00 Gbit/s");
        assert_eq!(format_metric("loss_percent", 0.234), "0.23%");
        assert_eq!(format_metric("other", 1.5), "1.50");
        assert_eq!(format_metric("pods_per_s", 412.4), "412 pods/s");
        assert_eq!(format_metric("removed_per_s", 41.24), "41.2 pods/s");
        assert_eq!(format_metric("reachable_p99_ns", 9_100_000.0), "9.10 ms");
        assert_eq!(
            format_metric("cpu_daemons_ns_per_pod", 1_200_000.0),
            "1.20 ms/pod"
        );
        assert_eq!(format_metric("cpu_machine_ns_per_pod", f64::NAN), "–");
        assert_eq!(format_bytes(512.0), "512 B");
        assert_eq!(format_bytes(1.5 * 1024.0 * 1024.0 * 1024.0), "1.50 GiB");
        assert_eq!(format_share(0.052), "5.2%");
        assert_eq!(format_ratio(0.87), "0.870×");
        assert_eq!(format_ratio(f64::INFINITY), "–");
        assert_eq!(trim_number(5.0), "5");
        assert_eq!(trim_number(2.5), "2.5");
        assert_eq!(trim_number(12.345), "12.35");
        assert_eq!(trim_number(100.0), "100");
    }

    #[test]
    fn units_follow_the_largest_value() {
        let u = Quantity::BitsPerSecond.unit_for(10.3e9);
        assert_eq!((u.divisor, u.name.as_str()), (1e9, "Gbit/s"));
        assert_eq!(Quantity::Nanoseconds.unit_for(15_000.0).name, "µs");
        assert_eq!(Quantity::Nanoseconds.unit_for(500.0).name, "ns");
        assert_eq!(Quantity::PacketsPerSecond.unit_for(310e3).name, "kpkt/s");
        assert_eq!(Quantity::Bytes.unit_for(30e6).name, "MiB");
        assert_eq!(Quantity::Count("sessions").unit_for(40.0).name, "sessions");
        // Values are written as everywhere else.
        assert_eq!(Quantity::BitsPerSecond.format(10.32e9), "10.32 Gbit/s");
        assert_eq!(Quantity::Nanoseconds.format(14_967.0), "15.0 µs");
        assert_eq!(Quantity::Bytes.format(30e6), "28.61 MiB");
        assert_eq!(Quantity::Fixed("CPU s/GB").format(0.8224), "0.822 CPU s/GB");
    }

    #[test]
    fn three_significant_digits() {
        assert_eq!(sig3(10321.4), "10321");
        assert_eq!(sig3(10.32), "10.3");
        assert_eq!(sig3(1.234), "1.23");
        assert_eq!(sig3(0.8224), "0.822");
        assert_eq!(sig3(0.0123), "0.0123");
        assert_eq!(sig3(0.99996), "1.00");
        assert_eq!(sig3(99.97), "100");
        assert_eq!(sig3(0.0), "0");
        assert_eq!(sig3(f64::NAN), "–");
    }
}
