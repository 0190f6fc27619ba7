//! Text for the PNGs, laid out and rasterized from the embedded font, and text measurement
//! for both outputs.
//!
//! plotters 0.3.7's `ab_glyph` text drawing places each glyph at its advance position but
//! drops the glyph's left side bearing, so narrow glyphs drift ("0 .314", "m ax" in the first
//! PNGs drawn here). Glyphs are therefore placed here with their bearings and kerning and
//! drawn pixel by pixel with their coverage as alpha. Sizes follow the SVG that plotters
//! writes for the same text (`font-size` = size / 1.24 px, baseline `dy` of 0.76 em at the
//! top, ±0.5 ex at the centre and bottom), so a browser with DejaVu Sans shows the SVG with
//! the same metrics as the PNG.

use std::sync::OnceLock;

use ab_glyph::{point, Font, FontRef, PxScale, ScaleFont};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

/// DejaVu Sans's x-height, in em (1118 / 2048 font units).
const X_HEIGHT_EM: f32 = 0.546;

fn font() -> &'static FontRef<'static> {
    static FONT: OnceLock<FontRef<'static>> = OnceLock::new();
    FONT.get_or_init(|| {
        FontRef::try_from_slice(super::font::DEJAVU_SANS)
            .expect("the embedded DejaVu Sans is a valid TrueType font")
    })
}

/// Pixels per em for a plotters text size (plotters writes `font-size` as size / 1.24).
fn em_px(size: f64) -> f32 {
    (size / 1.24) as f32
}

fn px_scale(size: f64) -> PxScale {
    let f = font();
    let units = f.units_per_em().unwrap_or(2048.0);
    PxScale::from(em_px(size) * f.height_unscaled() / units)
}

/// Glyphs of `text` at `size`: (glyph id, pen x) and the advance width.
fn layout(text: &str, size: f64) -> (Vec<(ab_glyph::GlyphId, f32)>, f32) {
    let sf = font().as_scaled(px_scale(size));
    let mut x = 0.0;
    let mut prev = None;
    let mut glyphs = Vec::with_capacity(text.len());
    for c in text.chars() {
        let id = sf.glyph_id(c);
        if let Some(p) = prev {
            x += sf.kern(p, id);
        }
        glyphs.push((id, x));
        x += sf.h_advance(id);
        prev = Some(id);
    }
    (glyphs, x)
}

/// Width of `text` in pixels at plotters text size `size`.
pub(crate) fn width(text: &str, size: f64) -> i32 {
    layout(text, size).1.ceil() as i32
}

/// Where text goes: anchored at a point like plotters' `Pos`, optionally rotated to read
/// upwards (270°, for y-axis titles).
#[derive(Clone, Copy)]
pub(crate) struct Placement {
    pub h: HPos,
    pub v: VPos,
    pub upwards: bool,
}

/// Draws `text` into a bitmap drawing area, anchored at `at`.
pub(crate) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    at: (i32, i32),
    size: f64,
    color: RGBColor,
    place: Placement,
) -> Result<(), String> {
    let f = font();
    let scale = px_scale(size);
    let (glyphs, w) = layout(text, size);
    let em = em_px(size);
    let dx = match place.h {
        HPos::Left => 0.0,
        HPos::Center => -w / 2.0,
        HPos::Right => -w,
    };
    // Baseline offsets as an SVG renderer applies plotters' `dy`.
    let baseline = match place.v {
        VPos::Top => 0.76 * em,
        VPos::Center => 0.5 * X_HEIGHT_EM * em,
        VPos::Bottom => -0.5 * X_HEIGHT_EM * em,
    };
    let mut err = None;
    for (id, pen) in glyphs {
        let glyph = id.with_scale_and_position(scale, point(dx + pen, baseline));
        let Some(outline) = f.outline_glyph(glyph) else {
            continue;
        };
        let b = outline.px_bounds();
        outline.draw(|gx, gy, coverage| {
            if coverage <= 0.0 || err.is_some() {
                return;
            }
            // Offsets from the anchor in the text's own frame.
            let (ox, oy) = (b.min.x as i32 + gx as i32, b.min.y as i32 + gy as i32);
            let (x, y) = if place.upwards {
                (at.0 + oy, at.1 - ox)
            } else {
                (at.0 + ox, at.1 + oy)
            };
            if let Err(e) = area.draw_pixel((x, y), &color.mix(f64::from(coverage.min(1.0)))) {
                err = Some(e.to_string());
            }
        });
    }
    match err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_grow_with_text_and_size() {
        let a = width("Throughput (Gbit/s)", 15.0);
        assert!((100..250).contains(&a), "{a}");
        assert!(width("Throughput (Gbit/s)", 30.0) > a * 3 / 2);
        assert_eq!(width("", 15.0), 0);
    }
}
