//! Axes: the range and ticks of a value axis for the data it shows, and drawing both axes
//! with their tick labels thinned so that none touch.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::*;

use super::ticks::{linear_ticks, log_ticks, tick_label};
use crate::units::Unit;

/// A value axis fitted to some values and a length in pixels.
#[derive(Debug, Clone)]
pub(super) struct Resolved {
    pub(super) lo: f64,
    pub(super) hi: f64,
    pub(super) log: bool,
    pub(super) unit: Unit,
    /// Tick positions (in the values' own unit) and their labels (in the display unit).
    pub(super) ticks: Vec<(f64, String)>,
    pub(super) title: String,
}

impl Resolved {
    /// Where `v` falls on the axis, 0 at `lo` and 1 at `hi` (not clamped).
    pub(super) fn frac(&self, v: f64) -> f64 {
        if self.log {
            let v = v.max(self.lo * 1e-3);
            (v.ln() - self.lo.ln()) / (self.hi.ln() - self.lo.ln())
        } else if self.hi > self.lo {
            (v - self.lo) / (self.hi - self.lo)
        } else {
            0.0
        }
    }
}

/// Fits `axis` to `values` over `px` pixels; a linear axis starts at 0 when `from_zero`,
/// and leaves `headroom` (a fraction of the largest value) above the data, so that points
/// on the largest value are not drawn on the frame.
pub(super) fn resolve(
    axis: &Axis,
    values: &[f64],
    px: i32,
    from_zero: bool,
    headroom: f64,
) -> Resolved {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let max = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let max = if max.is_finite() { max } else { 1.0 };
    if axis.scale == Scale::Nines {
        let top = max.ceil().max(3.0);
        let mut ticks = vec![(0.0, "0%".to_owned()), (2f64.log10(), "50%".to_owned())];
        let mut k = 1.0;
        while k <= top {
            let share = 100.0 * (1.0 - 10f64.powf(-k));
            let decimals = (k as usize).saturating_sub(2);
            ticks.push((k, format!("{share:.decimals$}%")));
            k += 1.0;
        }
        return Resolved {
            lo: 0.0,
            hi: top,
            log: false,
            unit: Unit {
                divisor: 1.0,
                name: String::new(),
            },
            ticks,
            title: axis.title.clone(),
        };
    }
    let positive: Vec<f64> = finite.iter().copied().filter(|v| *v > 0.0).collect();
    let min_pos = positive.iter().copied().fold(f64::INFINITY, f64::min);
    let log = min_pos.is_finite()
        && (axis.scale == Scale::Log || (axis.scale == Scale::Auto && max / min_pos > 30.0));
    // On a log axis most of the length is at small values: pick the unit for the middle
    // (10 µs to 2 ms reads as 10 to 2000 µs, not 0.01 to 2 ms).
    let unit = if log {
        axis.quantity.unit_for((min_pos * max).sqrt())
    } else {
        axis.quantity.unit_for(max.abs())
    };
    let title = if unit.name.is_empty() {
        axis.title.clone()
    } else if log {
        format!("{} ({}, log scale)", axis.title, unit.name)
    } else {
        format!("{} ({})", axis.title, unit.name)
    };
    if log {
        let (lo, hi, ticks) = log_ticks(min_pos / unit.divisor, max / unit.divisor);
        let ticks = ticks
            .into_iter()
            .map(|t| (t * unit.divisor, tick_label(t, t.min(1.0))))
            .collect();
        return Resolved {
            lo: lo * unit.divisor,
            hi: hi * unit.divisor,
            log,
            unit,
            ticks,
            title,
        };
    }
    let min = finite.iter().copied().fold(f64::INFINITY, f64::min);
    let lo = if from_zero || !min.is_finite() {
        0.0f64.min(if min.is_finite() { min } else { 0.0 })
    } else {
        min
    };
    if axis.data_ticks {
        let mut at: Vec<f64> = finite.clone();
        at.push(lo);
        at.sort_by(f64::total_cmp);
        at.dedup();
        if at.len() <= 16 {
            let step = if unit.divisor == 1.0 { 1.0 } else { 0.01 };
            return Resolved {
                lo,
                hi: max + (max - lo).abs() * headroom.max(0.06),
                log,
                ticks: at
                    .into_iter()
                    .map(|t| (t, tick_label(t / unit.divisor, step)))
                    .collect(),
                unit,
                title,
            };
        }
    }
    let target = (px / 70).clamp(3, 8) as usize;
    let whole = matches!(axis.quantity, Quantity::Count(_)) && unit.divisor == 1.0;
    let (mut ticks, step) = linear_ticks(lo / unit.divisor, max / unit.divisor, target, whole);
    // A point on the last tick would sit on the frame: one more step when it is that close.
    let last = ticks[ticks.len() - 1];
    if last - max / unit.divisor < (max - lo).abs() / unit.divisor * headroom {
        ticks.push(last + step);
    }
    let (first, last) = (ticks[0], ticks[ticks.len() - 1]);
    Resolved {
        lo: first * unit.divisor,
        hi: last * unit.divisor,
        log,
        ticks: ticks
            .into_iter()
            .map(|t| (t * unit.divisor, tick_label(t, step)))
            .collect(),
        unit,
        title,
    }
}

/// Keeps the tick labels (x positions, widths) that do not come within `gap` pixels of the
/// previous one kept.
pub(super) fn thin(positions: &[(i32, i32)], gap: i32) -> Vec<bool> {
    let mut keep = vec![false; positions.len()];
    let mut last_right = i32::MIN;
    for (i, (x, w)) in positions.iter().enumerate() {
        let left = x - w / 2;
        if left >= last_right.saturating_add(gap) {
            keep[i] = true;
            last_right = x + w - w / 2;
        }
    }
    keep
}

/// Draws vertical grid lines and the x tick labels of `axis` across `x0..x1` (the part of the
/// box the values map onto), labels under `y1`.
pub(super) fn x_axis<DB: DrawingBackend>(
    cv: &Canvas<DB>,
    axis: &Resolved,
    (x0, x1): (i32, i32),
    (y0, y1): (i32, i32),
) -> Result<(), String> {
    let px: Vec<(i32, i32)> = axis
        .ticks
        .iter()
        .map(|(v, l)| {
            let x = x0 + (axis.frac(*v) * f64::from(x1 - x0)).round() as i32;
            (x, text_width(l, TICK_SIZE))
        })
        .collect();
    let keep = thin(&px, 10);
    let st = style(TICK_SIZE, INK, HPos::Center, VPos::Top);
    for (i, ((_, label), (x, _))) in axis.ticks.iter().zip(&px).enumerate() {
        if *x < x0 - 1 || *x > x1 + 1 {
            continue;
        }
        line(cv, (*x, y0), (*x, y1), GRID, 1)?;
        line(cv, (*x, y1), (*x, y1 + 5), FRAME, 1)?;
        if keep[i] {
            text(cv, label, (*x, y1 + 7), &st)?;
        }
    }
    Ok(())
}

/// Draws horizontal grid lines and y tick labels (right-aligned left of `x0`).
pub(super) fn y_axis<DB: DrawingBackend>(
    cv: &Canvas<DB>,
    axis: &Resolved,
    (x0, x1): (i32, i32),
    (y0, y1): (i32, i32),
) -> Result<(), String> {
    let st = style(TICK_SIZE, INK, HPos::Right, VPos::Center);
    let mut last_y = i32::MAX;
    for (v, label) in &axis.ticks {
        let y = y1 - (axis.frac(*v) * f64::from(y1 - y0)).round() as i32;
        if y < y0 - 1 || y > y1 + 1 {
            continue;
        }
        line(cv, (x0, y), (x1, y), GRID, 1)?;
        line(cv, (x0 - 5, y), (x0, y), FRAME, 1)?;
        if last_y - y >= TICK_SIZE as i32 + 2 {
            text(cv, label, (x0 - 8, y), &st)?;
            last_y = y;
        }
    }
    Ok(())
}
