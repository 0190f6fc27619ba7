//! Units for axes and tables: picking a prefix for a whole axis, nice tick values, and
//! numbers written with three significant digits.
//!
//! An axis shows one unit (`Gbit/s`, `µs`, ...) in its title and plain numbers at its ticks,
//! so a reader never meets `1.2e10`. The unit is chosen from the largest value on the axis.

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

/// A unit for one axis: values are divided by `divisor` and shown with `unit`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Unit {
    pub divisor: f64,
    pub name: String,
}

impl Quantity {
    /// The unit in which `max_abs` (the largest value shown) reads best.
    pub(crate) fn unit_for(self, max_abs: f64) -> Unit {
        let pick = |steps: &[(f64, &str)]| {
            let (divisor, name) = steps
                .iter()
                .rev()
                .find(|(d, _)| max_abs >= *d)
                .unwrap_or(&steps[0]);
            Unit {
                divisor: *divisor,
                name: (*name).to_owned(),
            }
        };
        match self {
            Quantity::BitsPerSecond => pick(&[
                (1.0, "bit/s"),
                (1e3, "kbit/s"),
                (1e6, "Mbit/s"),
                (1e9, "Gbit/s"),
                (1e12, "Tbit/s"),
            ]),
            Quantity::PacketsPerSecond => pick(&[
                (1.0, "pkt/s"),
                (1e3, "kpkt/s"),
                (1e6, "Mpkt/s"),
                (1e9, "Gpkt/s"),
            ]),
            Quantity::Nanoseconds => pick(&[(1.0, "ns"), (1e3, "µs"), (1e6, "ms"), (1e9, "s")]),
            Quantity::Bytes => pick(&[
                (1.0, "B"),
                (1024.0, "KiB"),
                (1024.0 * 1024.0, "MiB"),
                (1024.0 * 1024.0 * 1024.0, "GiB"),
            ]),
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

    /// `value` in the unit that suits it best, e.g. `"10.3 Gbit/s"`, `"15.0 µs"`.
    pub(crate) fn format(self, value: f64) -> String {
        if !value.is_finite() {
            return "–".to_owned();
        }
        let unit = self.unit_for(value.abs());
        let number = sig3(value / unit.divisor);
        if unit.name.is_empty() {
            number
        } else {
            format!("{number} {}", unit.name)
        }
    }
}

/// A number with about three significant digits and no exponent: `10321` → `"10321"`,
/// `10.32` → `"10.3"`, `0.8224` → `"0.822"`, `0.000123` → `"0.000123"`.
pub(crate) fn sig3(v: f64) -> String {
    if !v.is_finite() {
        return "–".to_owned();
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

/// A tick value with no more decimals than the step between ticks needs, trailing zeros
/// dropped: `2.50` → `"2.5"`, `1000` → `"1000"`.
pub(crate) fn tick_label(v: f64, step: f64) -> String {
    // As many decimals as the step needs to be written exactly (2.5 needs one, 0.02 two).
    let decimals = (0..=9usize)
        .find(|d| {
            let scaled = step * 10f64.powi(*d as i32);
            (scaled - scaled.round()).abs() < 1e-6 * scaled.abs().max(1.0)
        })
        .unwrap_or(9);
    let s = format!("{v:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    };
    if s == "-0" {
        "0".to_owned()
    } else {
        s
    }
}

/// A step of 1, 2, 2.5 or 5 × 10^k close to `raw` (and not below it); with `whole`, a whole
/// number (for counts: no "2.5 nodes").
pub(crate) fn nice_step(raw: f64, whole: bool) -> f64 {
    if raw <= 0.0 || !raw.is_finite() {
        return 1.0;
    }
    if whole && raw <= 1.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    let fraction = raw / magnitude;
    let nice = if fraction <= 1.0 {
        1.0
    } else if fraction <= 2.0 {
        2.0
    } else if fraction <= 2.5 && !(whole && magnitude < 10.0) {
        2.5
    } else if fraction <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// Ticks for a linear axis from `lo` to at least `hi` (in display units): about `target`
/// steps of a nice size. Returns the ticks and the step; the last tick is the axis end.
pub(crate) fn linear_ticks(lo: f64, hi: f64, target: usize, whole: bool) -> (Vec<f64>, f64) {
    let span = if hi > lo { hi - lo } else { hi.abs().max(1.0) };
    let step = nice_step(span / target.max(1) as f64, whole);
    let first = (lo / step).floor() * step;
    let mut ticks = Vec::new();
    let mut i = 0u32;
    loop {
        let t = first + f64::from(i) * step;
        ticks.push(t);
        // At least two ticks, so that an axis of zeros still has a length.
        if (t >= hi - step * 1e-9 && i >= 1) || i > 200 {
            break;
        }
        i += 1;
    }
    (ticks, step)
}

/// Bounds and ticks of a log axis covering `lo..=hi` (positive, display units): bounds on
/// 1-2-5 values, ticks at 1, 2 and 5 × 10^k (only at powers of ten when it spans more than
/// three decades).
pub(crate) fn log_ticks(lo: f64, hi: f64) -> (f64, f64, Vec<f64>) {
    let lo = lo.max(f64::MIN_POSITIVE);
    let hi = hi.max(lo);
    let down = |v: f64| {
        let m = 10f64.powf(v.log10().floor());
        let f = v / m;
        m * if f >= 5.0 {
            5.0
        } else if f >= 2.0 {
            2.0
        } else {
            1.0
        }
    };
    let up = |v: f64| {
        let m = 10f64.powf(v.log10().floor());
        let f = v / m;
        m * if f <= 1.0 + 1e-9 {
            1.0
        } else if f <= 2.0 + 1e-9 {
            2.0
        } else if f <= 5.0 + 1e-9 {
            5.0
        } else {
            10.0
        }
    };
    let a = down(lo);
    // One value only: still a range, up to the next 1-2-5 value.
    let b = if up(hi) > a { up(hi) } else { up(a * 1.01) };
    let decades = (b / a).log10();
    let mults: &[f64] = if decades > 3.0 {
        &[1.0]
    } else {
        &[1.0, 2.0, 5.0]
    };
    let mut ticks = Vec::new();
    let mut m = 10f64.powf(a.log10().floor());
    while m <= b * 1.000_001 {
        for k in mults {
            let t = m * k;
            if t >= a * 0.999_999 && t <= b * 1.000_001 {
                ticks.push(t);
            }
        }
        m *= 10.0;
    }
    (a, b, ticks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_follow_the_largest_value() {
        let u = Quantity::BitsPerSecond.unit_for(10.3e9);
        assert_eq!((u.divisor, u.name.as_str()), (1e9, "Gbit/s"));
        assert_eq!(Quantity::Nanoseconds.unit_for(15_000.0).name, "µs");
        assert_eq!(Quantity::Nanoseconds.unit_for(500.0).name, "ns");
        assert_eq!(Quantity::PacketsPerSecond.unit_for(310e3).name, "kpkt/s");
        assert_eq!(Quantity::Bytes.unit_for(30e6).name, "MiB");
        assert_eq!(Quantity::Count("sessions").unit_for(40.0).name, "sessions");
        assert_eq!(Quantity::BitsPerSecond.format(10.32e9), "10.3 Gbit/s");
        assert_eq!(Quantity::Nanoseconds.format(14_967.0), "15.0 µs");
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

    #[test]
    fn linear_ticks_are_round() {
        let (t, step) = linear_ticks(0.0, 10.3, 5, false);
        assert_eq!(step, 2.5);
        assert_eq!(t, vec![0.0, 2.5, 5.0, 7.5, 10.0, 12.5]);
        assert_eq!(tick_label(7.5, step), "7.5");
        assert_eq!(tick_label(10.0, step), "10");
        let (t, step) = linear_ticks(0.0, 0.82, 5, false);
        assert_eq!(step, 0.2);
        assert_eq!(t.len(), 6);
        assert_eq!(tick_label(t[3], step), "0.6");
        // Counts step by whole numbers.
        let (t, step) = linear_ticks(0.0, 6.4, 4, true);
        assert_eq!((step, t.len()), (2.0, 5));
        assert_eq!(linear_ticks(0.0, 2.0, 8, true).1, 1.0);
        assert_eq!(linear_ticks(0.0, 0.0, 5, false).0.len(), 2);
        assert_eq!(linear_ticks(0.0, 6.4, 3, true).1, 5.0);
    }

    #[test]
    fn log_ticks_on_1_2_5() {
        let (a, b, t) = log_ticks(12.8, 477.4);
        assert_eq!((a, b), (10.0, 500.0));
        assert_eq!(t, vec![10.0, 20.0, 50.0, 100.0, 200.0, 500.0]);
        assert_eq!(log_ticks(10.0, 10.0).1, 20.0);
        let (_, _, t) = log_ticks(1.0, 200_000.0);
        assert_eq!(t, vec![1.0, 10.0, 100.0, 1000.0, 10_000.0, 100_000.0]);
    }
}
