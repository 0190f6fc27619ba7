//! Bar and dot charts: categories (backends) on the y axis, one panel per metric.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::*;

pub(super) struct BarLayout {
    pub(super) used: Vec<usize>,
    pub(super) top: i32,
    pub(super) label_w: i32,
    pub(super) cols: usize,
    pub(super) panel_w: i32,
    /// Top of each row, relative to the top of the plot box, and its height.
    pub(super) row_y: Vec<i32>,
    pub(super) row_h: Vec<i32>,
    /// The groups each row has bars for (in any panel): each gets a slot in that row, so a
    /// row with two bars is not padded with the empty slots of groups it does not have.
    pub(super) row_groups: Vec<Vec<usize>>,
    pub(super) bar_h: i32,
    pub(super) plot_h: i32,
    pub(super) panel_h: i32,
    pub(super) height: i32,
}

pub(super) const PANEL_TITLE_H: i32 = 30;
pub(super) const X_TICKS_H: i32 = 26;
pub(super) const X_TITLE_H: i32 = 26;

pub(super) fn bar_layout(chart: &Chart, b: &BarChart) -> BarLayout {
    let used: Vec<usize> = (0..b.groups.len())
        .filter(|g| {
            b.panels.iter().any(|p| {
                p.cells
                    .iter()
                    .any(|row| row.get(*g).is_some_and(Option::is_some))
            })
        })
        .collect();
    let keys: Vec<&Key> = used.iter().map(|g| &b.groups[*g]).collect();
    let top = header_height(&keys);
    let label_w = b
        .rows
        .iter()
        .map(|r| text_width(r, LABEL_SIZE))
        .max()
        .unwrap_or(0)
        .min(MAX_LABEL_WIDTH)
        + 14;
    let cols = b.columns.clamp(1, b.panels.len().max(1));
    let panel_w =
        (WIDTH as i32 - 2 * MARGIN - label_w - (cols as i32 - 1) * PANEL_GAP) / cols as i32;
    let row_groups: Vec<Vec<usize>> = (0..b.rows.len())
        .map(|r| {
            used.iter()
                .copied()
                .filter(|g| {
                    b.panels
                        .iter()
                        .any(|p| p.cells[r].get(*g).is_some_and(Option::is_some))
                })
                .collect()
        })
        .collect();
    let most = row_groups.iter().map(Vec::len).max().unwrap_or(1).max(1);
    let bar_h = match most {
        1 => 20,
        2 => 15,
        3 | 4 => 12,
        _ => 10,
    };
    let row_h: Vec<i32> = row_groups
        .iter()
        .map(|g| match b.style {
            BarStyle::Dots => 30,
            BarStyle::Bars => g.len().max(1) as i32 * bar_h + 14,
        })
        .collect();
    let row_y: Vec<i32> = row_h
        .iter()
        .scan(0, |y, h| {
            let top = *y;
            *y += h;
            Some(top)
        })
        .collect();
    let plot_h = row_h.iter().sum::<i32>().max(30);
    let panel_h = PANEL_TITLE_H + plot_h + X_TICKS_H + X_TITLE_H + 16;
    let prows = b.panels.len().div_ceil(cols).max(1) as i32;
    let mut height = top + prows * panel_h - 16 + MARGIN / 2;
    if chart.footnote.is_some() {
        height += 24;
    }
    BarLayout {
        used,
        top,
        label_w,
        cols,
        panel_w,
        row_y,
        row_h,
        row_groups,
        bar_h,
        plot_h,
        panel_h,
        height,
    }
}

/// Draws a bar or dot chart; returns the y where the panels end.
pub(super) fn draw_bars<DB: DrawingBackend>(
    chart: &Chart,
    b: &BarChart,
    cv: &Canvas<DB>,
) -> Result<i32, String> {
    let l = bar_layout(chart, b);
    let keys: Vec<&Key> = l.used.iter().map(|g| &b.groups[*g]).collect();
    draw_legend(cv, &keys, MARGIN + 38)?;
    let label_st = style(LABEL_SIZE, INK, HPos::Right, VPos::Center);
    let labels: Vec<String> = b
        .rows
        .iter()
        .map(|r| fit(r, LABEL_SIZE, MAX_LABEL_WIDTH))
        .collect();
    let mut bottom = l.top;
    for (pi, panel) in b.panels.iter().enumerate() {
        let (pr, pc) = ((pi / l.cols) as i32, (pi % l.cols) as i32);
        let px0 = MARGIN + l.label_w + pc * (l.panel_w + PANEL_GAP);
        let px1 = px0 + l.panel_w;
        let py0 = l.top + pr * l.panel_h + PANEL_TITLE_H;
        let py1 = py0 + l.plot_h;
        bottom = bottom.max(py1 + X_TICKS_H + X_TITLE_H + 8);

        let pt = style(PANEL_TITLE_SIZE, INK, HPos::Left, VPos::Bottom);
        text(
            cv,
            &fit(&panel.title, PANEL_TITLE_SIZE, l.panel_w),
            (px0, py0 - 8),
            &pt,
        )?;

        // Stripes and category labels (left of the first panel of each panel row).
        for (r, label) in labels.iter().enumerate() {
            let (ry, rh) = (py0 + l.row_y[r], l.row_h[r]);
            if r % 2 == 1 {
                rect(
                    cv,
                    (px0, ry),
                    (px1, ry + rh),
                    ShapeStyle::from(STRIPE).filled(),
                )?;
            }
            if pc == 0 {
                text(cv, label, (px0 - 10, ry + rh / 2), &label_st)?;
            }
        }

        let mut values = Vec::new();
        for row in &panel.cells {
            for c in row.iter().flatten() {
                values.push(c.value);
                values.extend(c.min);
                values.extend(c.max);
            }
        }
        // Room at the right end for the value labels of the longest bars.
        let probe = resolve(&panel.axis, &values, l.panel_w, true, 0.0);
        let value_label = |v: f64| crate::units::sig3(v / probe.unit.divisor);
        let pad = match b.style {
            BarStyle::Bars => {
                panel
                    .cells
                    .iter()
                    .flatten()
                    .flatten()
                    .map(|c| text_width(&value_label(c.value), VALUE_SIZE))
                    .max()
                    .unwrap_or(0)
                    + 12
            }
            BarStyle::Dots => 12,
        };
        let (x0, x1) = (px0, px1 - pad);
        let axis = resolve(&panel.axis, &values, x1 - x0, true, 0.0);
        x_axis(cv, &axis, (x0, x1), (py0, py1))?;
        rect(cv, (px0, py0), (px1, py1), ShapeStyle::from(FRAME))?;
        let at = |v: f64| x0 + (axis.frac(v).clamp(0.0, 1.02) * f64::from(x1 - x0)).round() as i32;
        let value_st = style(VALUE_SIZE, INK, HPos::Left, VPos::Center);
        let none_st = style(VALUE_SIZE, MUTED, HPos::Left, VPos::Center);

        for (r, row) in panel.cells.iter().enumerate() {
            let ry = py0 + l.row_y[r];
            let cy = ry + l.row_h[r] / 2;
            if row.iter().all(Option::is_none) {
                text(cv, "no data", (x0 + 8, cy), &none_st)?;
                continue;
            }
            match b.style {
                BarStyle::Bars => {
                    for (k, g) in l.row_groups[r].iter().enumerate() {
                        let Some(c) = row.get(*g).copied().flatten() else {
                            continue;
                        };
                        let y0 = ry + 7 + k as i32 * l.bar_h;
                        let y1 = y0 + l.bar_h - 2;
                        let ym = (y0 + y1) / 2;
                        let start = at(axis.lo.max(0.0));
                        let end = at(c.value).max(start + 1);
                        rect(
                            cv,
                            (start, y0),
                            (end, y1),
                            ShapeStyle::from(b.groups[*g].color).filled(),
                        )?;
                        let mut right = end;
                        if let (Some(lo), Some(hi)) = (c.min, c.max) {
                            let (a, z) = (at(lo), at(hi));
                            // A range narrower than a few pixels would only be two caps
                            // on top of each other, looking like part of the bar.
                            if z - a >= 4 {
                                let cap = (l.bar_h / 2 - 1).max(3);
                                line(cv, (a, ym), (z, ym), WHISKER, 2)?;
                                line(cv, (a, ym - cap), (a, ym + cap), WHISKER, 2)?;
                                line(cv, (z, ym - cap), (z, ym + cap), WHISKER, 2)?;
                                right = right.max(z);
                            }
                        }
                        text(cv, &value_label(c.value), (right + 5, ym), &value_st)?;
                    }
                }
                BarStyle::Dots => {
                    let xs: Vec<f64> = row.iter().flatten().map(|c| c.value).collect();
                    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
                    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    if hi > lo {
                        line(cv, (at(lo), cy), (at(hi), cy), FRAME, 2)?;
                    }
                    for g in &l.row_groups[r] {
                        if let Some(c) = row.get(*g).copied().flatten() {
                            let m = b.groups[*g].mark;
                            mark(cv, m, (at(c.value), cy), 12, b.groups[*g].color)?;
                        }
                    }
                }
            }
        }
        let at_st = style(AXIS_TITLE_SIZE, INK, HPos::Center, VPos::Top);
        let title = fit(&axis.title, AXIS_TITLE_SIZE, l.panel_w);
        text(cv, &title, ((px0 + px1) / 2, py1 + X_TICKS_H + 2), &at_st)?;
    }
    Ok(bottom)
}
