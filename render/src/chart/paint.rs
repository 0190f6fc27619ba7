//! Style and drawing primitives: colours, text sizes, fonts, and text, lines, rectangles
//! and marks drawn on a canvas (SVG or PNG).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontDesc, FontFamily, FontStyle, FontTransform};

use super::font::FAMILY;
use super::glyphs::Placement;
use super::*;

/// Width of every figure, in pixels.
pub(crate) const WIDTH: u32 = 1200;
pub(super) const MARGIN: i32 = 20;
pub(super) const TITLE_SIZE: f64 = 24.0;
pub(super) const LEGEND_SIZE: f64 = 15.0;
pub(super) const LABEL_SIZE: f64 = 15.0;
pub(super) const PANEL_TITLE_SIZE: f64 = 17.0;
pub(super) const TICK_SIZE: f64 = 14.0;
pub(super) const AXIS_TITLE_SIZE: f64 = 15.0;
pub(super) const VALUE_SIZE: f64 = 13.0;
pub(super) const NOTE_SIZE: f64 = 14.0;
pub(super) const PANEL_GAP: i32 = 30;
/// Longest category label, in pixels, before it is shortened with an ellipsis.
pub(super) const MAX_LABEL_WIDTH: i32 = 300;

pub(super) const INK: RGBColor = RGBColor(33, 37, 41);
pub(super) const MUTED: RGBColor = RGBColor(108, 117, 125);
pub(super) const GRID: RGBColor = RGBColor(222, 226, 230);
pub(super) const FRAME: RGBColor = RGBColor(160, 167, 174);
pub(super) const STRIPE: RGBColor = RGBColor(246, 247, 249);
pub(super) const WHISKER: RGBColor = RGBColor(52, 58, 64);

/// Colours that stay apart for colour-blind readers (Okabe and Ito), yellow left out as it
/// vanishes on white.
pub(crate) const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(0, 0, 0),
];

/// The colour of series `i`.
pub(crate) fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// A lighter shade of `c` (mixed with white by `amount`, 0..1).
pub(crate) fn lighter(c: RGBColor, amount: f64) -> RGBColor {
    let mix = |v: u8| (f64::from(v) + (255.0 - f64::from(v)) * amount).round() as u8;
    RGBColor(mix(c.0), mix(c.1), mix(c.2))
}

pub(super) type Area<DB> = DrawingArea<DB, Shift>;

pub(super) fn font(size: f64) -> FontDesc<'static> {
    FontDesc::new(FontFamily::Name(FAMILY), size, FontStyle::Normal)
}

/// How a piece of text looks and where it is anchored.
#[derive(Clone, Copy)]
pub(super) struct Txt {
    pub(super) size: f64,
    pub(super) color: RGBColor,
    pub(super) place: Placement,
}

impl Txt {
    /// The same, rotated to read upwards (y-axis titles).
    pub(super) fn upwards(mut self) -> Txt {
        self.place.upwards = true;
        self
    }
}

pub(super) fn style(size: f64, color: RGBColor, h: HPos, v: VPos) -> Txt {
    Txt {
        size,
        color,
        place: Placement {
            h,
            v,
            upwards: false,
        },
    }
}

/// Width of `text` in pixels at `size`, with the embedded font.
pub(crate) fn text_width(text: &str, size: f64) -> i32 {
    super::glyphs::width(text, size)
}

/// A drawing area and how text is drawn on it.
pub(crate) struct Canvas<'a, DB: DrawingBackend> {
    pub area: &'a Area<DB>,
    /// Rasterize text from the embedded font (PNG) instead of writing SVG `<text>`.
    pub raster_text: bool,
}

/// `text` shortened with an ellipsis in the middle until it fits `max` pixels.
pub(super) fn fit(text: &str, size: f64, max: i32) -> String {
    if text_width(text, size) <= max {
        return text.to_owned();
    }
    let chars: Vec<char> = text.chars().collect();
    let mut keep = chars.len();
    while keep > 4 {
        keep -= 1;
        let head = keep / 2 + keep % 2;
        let tail = keep / 2;
        let s: String = chars[..head]
            .iter()
            .chain(std::iter::once(&'…'))
            .chain(chars[chars.len() - tail..].iter())
            .collect();
        if text_width(&s, size) <= max {
            return s;
        }
    }
    chars.iter().take(4).collect::<String>() + "…"
}

/// Error of a drawing step, as text (backends have different error types).
pub(super) fn d<E: std::fmt::Display>(r: Result<(), E>) -> Result<(), String> {
    r.map_err(|e| e.to_string())
}

pub(super) fn text<DB: DrawingBackend>(
    cv: &Canvas<DB>,
    s: &str,
    at: (i32, i32),
    st: &Txt,
) -> Result<(), String> {
    if cv.raster_text {
        return super::glyphs::draw(cv.area, s, at, st.size, st.color, st.place);
    }
    let mut style = font(st.size)
        .color(&st.color)
        .pos(Pos::new(st.place.h, st.place.v));
    if st.place.upwards {
        style = style.transform(FontTransform::Rotate270);
    }
    d(cv.area.draw(&Text::new(s.to_owned(), at, style)))
}

pub(super) fn line<DB: DrawingBackend>(
    cv: &Canvas<DB>,
    a: (i32, i32),
    b: (i32, i32),
    color: RGBColor,
    width: u32,
) -> Result<(), String> {
    d(cv.area.draw(&PathElement::new(
        vec![a, b],
        ShapeStyle::from(color).stroke_width(width),
    )))
}

pub(super) fn rect<DB: DrawingBackend>(
    cv: &Canvas<DB>,
    a: (i32, i32),
    b: (i32, i32),
    style: ShapeStyle,
) -> Result<(), String> {
    d(cv.area.draw(&Rectangle::new([a, b], style)))
}

/// Draws `mark` centred on `at`, `size` pixels across.
pub(super) fn mark<DB: DrawingBackend>(
    cv: &Canvas<DB>,
    m: Mark,
    at: (i32, i32),
    size: i32,
    c: RGBColor,
) -> Result<(), String> {
    let (x, y) = at;
    let r = size / 2;
    let fill = ShapeStyle::from(c).filled();
    let edge = ShapeStyle::from(RGBColor(255, 255, 255)).stroke_width(1);
    match m {
        Mark::Box | Mark::Square => {
            rect(cv, (x - r, y - r), (x + r, y + r), fill)?;
            if m == Mark::Square {
                rect(cv, (x - r, y - r), (x + r, y + r), edge)?;
            }
        }
        Mark::Circle => {
            d(cv.area.draw(&Circle::new(at, r, fill)))?;
            d(cv.area.draw(&Circle::new(at, r, edge)))?;
        }
        Mark::Triangle => {
            let r = r + 1;
            d(cv.area.draw(&Polygon::new(
                vec![(x, y - r), (x + r, y + r - 1), (x - r, y + r - 1)],
                fill,
            )))?;
        }
        Mark::Diamond => {
            let r = r + 1;
            d(cv.area.draw(&Polygon::new(
                vec![(x, y - r), (x + r, y), (x, y + r), (x - r, y)],
                fill,
            )))?;
        }
        Mark::Line => {
            line(cv, (x - 2 * r, y), (x + 2 * r, y), c, 3)?;
            d(cv.area.draw(&Circle::new(at, 4, fill)))?;
        }
        Mark::FaintLine => line(cv, (x - 2 * r, y), (x + 2 * r, y), lighter(c, 0.55), 1)?,
        Mark::Cross => {
            let r = r.max(4);
            line(cv, (x - r, y - r), (x + r, y + r), c, 3)?;
            line(cv, (x - r, y + r), (x + r, y - r), c, 3)?;
        }
    }
    Ok(())
}
