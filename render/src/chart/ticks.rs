//! Tick values: nice steps for linear axes, 1-2-5 ticks for log axes, and their labels.

/// A tick value with no more decimals than the step between ticks needs, trailing zeros
/// dropped: `2.50` → `"2.5"`, `1000` → `"1000"`.
pub(super) fn tick_label(v: f64, step: f64) -> String {
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
pub(super) fn nice_step(raw: f64, whole: bool) -> f64 {
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
pub(super) fn linear_ticks(lo: f64, hi: f64, target: usize, whole: bool) -> (Vec<f64>, f64) {
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
pub(super) fn log_ticks(lo: f64, hi: f64) -> (f64, f64, Vec<f64>) {
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
