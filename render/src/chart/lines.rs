//! Line charts: series against a shared x axis, one panel per metric.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::*;

pub(super) struct LineLayout {
    pub(super) top: i32,
    pub(super) cols: usize,
    pub(super) panel_w: i32,
    pub(super) plot_h: i32,
    pub(super) panel_h: i32,
    pub(super) height: i32,
}

pub(super) fn line_layout(chart: &Chart, l: &LineChart) -> LineLayout {
    let keys: Vec<&Key> = l.keys.iter().collect();
    let top = header_height(&keys);
    let cols = l.columns.clamp(1, l.panels.len().max(1));
    let panel_w = (WIDTH as i32 - 2 * MARGIN - (cols as i32 - 1) * PANEL_GAP) / cols as i32;
    let plot_h = 380;
    let panel_h = PANEL_TITLE_H + plot_h + X_TICKS_H + X_TITLE_H + 16;
    let prows = l.panels.len().div_ceil(cols).max(1) as i32;
    let mut height = top + prows * panel_h - 16 + MARGIN / 2;
    if chart.footnote.is_some() {
        height += 24;
    }
    LineLayout {
        top,
        cols,
        panel_w,
        plot_h,
        panel_h,
        height,
    }
}

pub(super) fn draw_lines<DB: DrawingBackend>(
    chart: &Chart,
    lc: &LineChart,
    cv: &Canvas<DB>,
) -> Result<i32, String> {
    let l = line_layout(chart, lc);
    let keys: Vec<&Key> = lc.keys.iter().collect();
    draw_legend(cv, &keys, MARGIN + 38)?;
    let mut bottom = l.top;
    for (pi, panel) in lc.panels.iter().enumerate() {
        let (pr, pc) = ((pi / l.cols) as i32, (pi % l.cols) as i32);
        let px0 = MARGIN + pc * (l.panel_w + PANEL_GAP);
        let px1 = px0 + l.panel_w;
        let py0 = l.top + pr * l.panel_h + PANEL_TITLE_H;
        let py1 = py0 + l.plot_h;
        bottom = bottom.max(py1 + X_TICKS_H + X_TITLE_H + 8);

        let xs: Vec<f64> = panel
            .lines
            .iter()
            .flat_map(|ln| ln.points.iter().map(|p| p.0))
            .chain(panel.markers.iter().map(|m| m.x))
            .collect();
        let ys: Vec<f64> = panel
            .lines
            .iter()
            .flat_map(|ln| ln.points.iter().map(|p| p.1))
            .chain(panel.markers.iter().filter_map(|m| m.y))
            .collect();
        let yaxis = resolve(&panel.y, &ys, l.plot_h, true, 0.025);
        let ylabel_w = yaxis
            .ticks
            .iter()
            .map(|(_, s)| text_width(s, TICK_SIZE))
            .max()
            .unwrap_or(0);
        // Rotated y-axis title, then tick labels, then the box.
        let x0 = px0 + 26 + ylabel_w + 12;
        let x1 = px1 - 16;
        let xaxis = resolve(&panel.x, &xs, x1 - x0, true, 0.025);

        let pt = style(PANEL_TITLE_SIZE, INK, HPos::Left, VPos::Bottom);
        text(
            cv,
            &fit(&panel.title, PANEL_TITLE_SIZE, l.panel_w),
            (x0, py0 - 8),
            &pt,
        )?;
        x_axis(cv, &xaxis, (x0, x1), (py0, py1))?;
        y_axis(cv, &yaxis, (x0, x1), (py0, py1))?;
        rect(cv, (x0, py0), (x1, py1), ShapeStyle::from(FRAME))?;

        let at = |(x, y): (f64, f64)| {
            (
                x0 + (xaxis.frac(x) * f64::from(x1 - x0)).round() as i32,
                py1 - (yaxis.frac(y) * f64::from(py1 - py0)).round() as i32,
            )
        };
        // Faint lines first, so the medians are drawn over them.
        let mut order: Vec<&Line> = panel.lines.iter().collect();
        order.sort_by_key(|ln| !ln.faint);
        for ln in order {
            let c = lc.keys[ln.series].color;
            let pts: Vec<(i32, i32)> = ln.points.iter().map(|p| at(*p)).collect();
            if ln.faint {
                d(cv.area.draw(&PathElement::new(
                    pts,
                    ShapeStyle::from(lighter(c, 0.55)).stroke_width(1),
                )))?;
            } else {
                d(cv.area.draw(&PathElement::new(
                    pts.clone(),
                    ShapeStyle::from(c).stroke_width(3),
                )))?;
                for p in pts.into_iter().filter(|_| ln.dots) {
                    d(cv.area
                        .draw(&Circle::new(p, 4, ShapeStyle::from(c).filled())))?;
                }
            }
        }
        for m in &panel.markers {
            let k = &lc.keys[m.key];
            let (x, y) = match m.y {
                Some(y) => at((m.x, y)),
                None => (at((m.x, yaxis.lo)).0, py0 + 8),
            };
            mark(cv, k.mark, (x, y), 12, k.color)?;
        }
        if panel.lines.is_empty() && panel.markers.is_empty() {
            let st = style(LABEL_SIZE, MUTED, HPos::Center, VPos::Center);
            text(cv, "no data", ((x0 + x1) / 2, (py0 + py1) / 2), &st)?;
        }

        let at_st = style(AXIS_TITLE_SIZE, INK, HPos::Center, VPos::Top);
        text(
            cv,
            &fit(&xaxis.title, AXIS_TITLE_SIZE, x1 - x0),
            ((x0 + x1) / 2, py1 + X_TICKS_H + 2),
            &at_st,
        )?;
        let yt = style(AXIS_TITLE_SIZE, INK, HPos::Center, VPos::Top).upwards();
        text(
            cv,
            &fit(&yaxis.title, AXIS_TITLE_SIZE, py1 - py0),
            (px0, (py0 + py1) / 2),
            &yt,
        )?;
    }
    Ok(bottom)
}
