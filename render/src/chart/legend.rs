//! The legend above the panels, wrapped to the figure's width.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::*;

/// Positions of legend entries wrapped into lines of at most `width` pixels:
/// `(key index, x offset, line number)`, and the number of lines.
pub(super) fn legend_layout(keys: &[&Key], width: i32) -> (Vec<(usize, i32, i32)>, i32) {
    let mut out = Vec::new();
    let (mut x, mut line_no) = (0, 0);
    for (i, k) in keys.iter().enumerate() {
        let w = 28 + text_width(&k.label, LEGEND_SIZE);
        if x > 0 && x + w > width {
            x = 0;
            line_no += 1;
        }
        out.push((i, x, line_no));
        x += w + 24;
    }
    let lines = if keys.is_empty() { 0 } else { line_no + 1 };
    (out, lines)
}

pub(super) const LEGEND_LINE: i32 = 26;

pub(super) fn draw_legend<DB: DrawingBackend>(
    cv: &Canvas<DB>,
    keys: &[&Key],
    top: i32,
) -> Result<(), String> {
    let (layout, _) = legend_layout(keys, WIDTH as i32 - 2 * MARGIN);
    let st = style(LEGEND_SIZE, INK, HPos::Left, VPos::Center);
    for (i, x, l) in layout {
        let k = keys[i];
        let cx = MARGIN + x + 10;
        let cy = top + l * LEGEND_LINE + LEGEND_LINE / 2;
        let size = if k.mark == Mark::Box { 14 } else { 11 };
        mark(cv, k.mark, (cx, cy), size, k.color)?;
        text(cv, &k.label, (MARGIN + x + 28, cy), &st)?;
    }
    Ok(())
}

/// Height of the title and legend block.
pub(super) fn header_height(keys: &[&Key]) -> i32 {
    let (_, lines) = legend_layout(keys, WIDTH as i32 - 2 * MARGIN);
    MARGIN + 38 + lines * LEGEND_LINE + 10
}
