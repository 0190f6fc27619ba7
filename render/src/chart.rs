//! A small chart layer on plotters' drawing primitives: horizontal bar and dot charts with
//! categories on the y axis, and line charts, each as a grid of panels under one title and
//! one legend.
//!
//! plotters' own chart builder places every tick label it picks and rotates long category
//! labels only by right angles; here every label is measured with the embedded font before
//! anything is drawn, so the figure is sized to fit its labels: categories (backend names) sit
//! horizontally on the left, tick labels that would touch are thinned, value labels get room
//! at the end of the bars, and the legend wraps above the panels instead of covering data.
//! The same code draws the SVG and the PNG.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontDesc, FontFamily, FontStyle, FontTransform};

use crate::text::Placement;

use crate::font::FAMILY;
use crate::units::{linear_ticks, log_ticks, tick_label, Quantity, Unit};

/// Width of every figure, in pixels.
pub(crate) const WIDTH: u32 = 1200;
const MARGIN: i32 = 20;
const TITLE_SIZE: f64 = 24.0;
const LEGEND_SIZE: f64 = 15.0;
const LABEL_SIZE: f64 = 15.0;
const PANEL_TITLE_SIZE: f64 = 17.0;
const TICK_SIZE: f64 = 14.0;
const AXIS_TITLE_SIZE: f64 = 15.0;
const VALUE_SIZE: f64 = 13.0;
const NOTE_SIZE: f64 = 14.0;
const PANEL_GAP: i32 = 30;
/// Longest category label, in pixels, before it is shortened with an ellipsis.
const MAX_LABEL_WIDTH: i32 = 300;

const INK: RGBColor = RGBColor(33, 37, 41);
const MUTED: RGBColor = RGBColor(108, 117, 125);
const GRID: RGBColor = RGBColor(222, 226, 230);
const FRAME: RGBColor = RGBColor(160, 167, 174);
const STRIPE: RGBColor = RGBColor(246, 247, 249);
const WHISKER: RGBColor = RGBColor(52, 58, 64);

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

/// How a series is marked, in the plot and in the legend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mark {
    /// A filled box (bars).
    Box,
    Circle,
    Square,
    Triangle,
    Diamond,
    /// A line with a circle on it (line charts).
    Line,
    /// A thin, pale line (single repetitions behind a median line).
    FaintLine,
    /// An × (points that failed).
    Cross,
}

/// The marks for the groups of a dot chart, in order.
pub(crate) const DOT_MARKS: [Mark; 4] = [Mark::Circle, Mark::Square, Mark::Triangle, Mark::Diamond];

/// One entry of a legend.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Key {
    pub label: String,
    pub color: RGBColor,
    pub mark: Mark,
}

/// How values map onto an axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scale {
    Linear,
    /// Logarithmic.
    Log,
    /// Logarithmic when the values span more than a factor of 30, linear otherwise.
    Auto,
    /// Cumulative share on a "nines" scale: position `-log10(1 - p)`, so 50 %, 90 %, 99 %,
    /// 99.9 % are evenly apart; values given are positions.
    Nines,
}

/// One value axis: its title (the unit is appended), what it measures, and its scale.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Axis {
    pub title: String,
    pub quantity: Quantity,
    pub scale: Scale,
    /// Ticks at the values themselves (and 0) rather than at round numbers: for a few
    /// measured sizes such as node counts.
    pub data_ticks: bool,
}

impl Axis {
    pub(crate) fn new(title: &str, quantity: Quantity, scale: Scale) -> Axis {
        Axis {
            title: title.to_owned(),
            quantity,
            scale,
            data_ticks: false,
        }
    }

    /// The same axis with ticks at the values themselves.
    pub(crate) fn with_data_ticks(mut self) -> Axis {
        self.data_ticks = true;
        self
    }
}

/// One bar (or dot): the median, with the range over repetitions when known.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Cell {
    pub value: f64,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// One panel of a bar or dot chart: `cells[row][group]`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BarPanel {
    pub title: String,
    pub axis: Axis,
    pub cells: Vec<Vec<Option<Cell>>>,
}

impl BarPanel {
    pub(crate) fn has_data(&self) -> bool {
        self.cells.iter().flatten().any(Option::is_some)
    }
}

/// Bars with min–max whiskers, or dots (one per group) on a line from the lowest to the
/// highest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BarStyle {
    Bars,
    Dots,
}

/// Categories (rows) against values, in panels that share the rows and the legend.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BarChart {
    pub rows: Vec<String>,
    pub groups: Vec<Key>,
    pub panels: Vec<BarPanel>,
    pub columns: usize,
    pub style: BarStyle,
}

/// One line of a line chart; `series` indexes the chart's legend.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Line {
    pub series: usize,
    pub points: Vec<(f64, f64)>,
    pub faint: bool,
}

/// A point marked on its own (a scale point that did not converge): at `y`, or on the top
/// edge when it has none.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Marker {
    pub x: f64,
    pub y: Option<f64>,
    pub key: usize,
}

/// One panel of a line chart.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LinePanel {
    pub title: String,
    pub x: Axis,
    pub y: Axis,
    pub lines: Vec<Line>,
    pub markers: Vec<Marker>,
}

/// Lines in panels that share a legend (`keys`: series first, then marker keys).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LineChart {
    pub keys: Vec<Key>,
    pub panels: Vec<LinePanel>,
    pub columns: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Body {
    Bars(BarChart),
    Lines(LineChart),
}

/// A figure: what is drawn into `<name>.svg` and `<name>.png`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Chart {
    pub title: String,
    pub body: Body,
    /// One line under the panels (e.g. which panels had no data).
    pub footnote: Option<String>,
}

type Area<DB> = DrawingArea<DB, Shift>;

fn font(size: f64) -> FontDesc<'static> {
    FontDesc::new(FontFamily::Name(FAMILY), size, FontStyle::Normal)
}

/// How a piece of text looks and where it is anchored.
#[derive(Clone, Copy)]
struct Txt {
    size: f64,
    color: RGBColor,
    place: Placement,
}

impl Txt {
    /// The same, rotated to read upwards (y-axis titles).
    fn upwards(mut self) -> Txt {
        self.place.upwards = true;
        self
    }
}

fn style(size: f64, color: RGBColor, h: HPos, v: VPos) -> Txt {
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
    crate::text::width(text, size)
}

/// A drawing area and how text is drawn on it.
pub(crate) struct Canvas<'a, DB: DrawingBackend> {
    pub area: &'a Area<DB>,
    /// Rasterize text from the embedded font (PNG) instead of writing SVG `<text>`.
    pub raster_text: bool,
}

/// `text` shortened with an ellipsis in the middle until it fits `max` pixels.
fn fit(text: &str, size: f64, max: i32) -> String {
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
fn d<E: std::fmt::Display>(r: Result<(), E>) -> Result<(), String> {
    r.map_err(|e| e.to_string())
}

fn text<DB: DrawingBackend>(
    cv: &Canvas<DB>,
    s: &str,
    at: (i32, i32),
    st: &Txt,
) -> Result<(), String> {
    if cv.raster_text {
        return crate::text::draw(cv.area, s, at, st.size, st.color, st.place);
    }
    let mut style = font(st.size)
        .color(&st.color)
        .pos(Pos::new(st.place.h, st.place.v));
    if st.place.upwards {
        style = style.transform(FontTransform::Rotate270);
    }
    d(cv.area.draw(&Text::new(s.to_owned(), at, style)))
}

fn line<DB: DrawingBackend>(
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

fn rect<DB: DrawingBackend>(
    cv: &Canvas<DB>,
    a: (i32, i32),
    b: (i32, i32),
    style: ShapeStyle,
) -> Result<(), String> {
    d(cv.area.draw(&Rectangle::new([a, b], style)))
}

/// Draws `mark` centred on `at`, `size` pixels across.
fn mark<DB: DrawingBackend>(
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

/// Positions of legend entries wrapped into lines of at most `width` pixels:
/// `(key index, x offset, line number)`, and the number of lines.
fn legend_layout(keys: &[&Key], width: i32) -> (Vec<(usize, i32, i32)>, i32) {
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

const LEGEND_LINE: i32 = 26;

fn draw_legend<DB: DrawingBackend>(cv: &Canvas<DB>, keys: &[&Key], top: i32) -> Result<(), String> {
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
fn header_height(keys: &[&Key]) -> i32 {
    let (_, lines) = legend_layout(keys, WIDTH as i32 - 2 * MARGIN);
    MARGIN + 38 + lines * LEGEND_LINE + 10
}

/// A value axis fitted to some values and a length in pixels.
#[derive(Debug, Clone)]
struct Resolved {
    lo: f64,
    hi: f64,
    log: bool,
    unit: Unit,
    /// Tick positions (in the values' own unit) and their labels (in the display unit).
    ticks: Vec<(f64, String)>,
    title: String,
}

impl Resolved {
    /// Where `v` falls on the axis, 0 at `lo` and 1 at `hi` (not clamped).
    fn frac(&self, v: f64) -> f64 {
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
fn resolve(axis: &Axis, values: &[f64], px: i32, from_zero: bool, headroom: f64) -> Resolved {
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
fn thin(positions: &[(i32, i32)], gap: i32) -> Vec<bool> {
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
fn x_axis<DB: DrawingBackend>(
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
fn y_axis<DB: DrawingBackend>(
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

/// The size a chart will be drawn at.
pub(crate) fn size(chart: &Chart) -> (u32, u32) {
    let h = match &chart.body {
        Body::Bars(b) => bar_layout(chart, b).height,
        Body::Lines(l) => line_layout(chart, l).height,
    };
    (WIDTH, h.max(120) as u32)
}

/// Draws `chart` onto `cv` (which must be [`size`] big).
pub(crate) fn draw<DB: DrawingBackend>(chart: &Chart, cv: &Canvas<DB>) -> Result<(), String> {
    crate::font::ensure_registered();
    d(cv.area.fill(&WHITE))?;
    let title = style(TITLE_SIZE, INK, HPos::Left, VPos::Top);
    text(cv, &chart.title, (MARGIN, MARGIN), &title)?;
    let bottom = match &chart.body {
        Body::Bars(b) => draw_bars(chart, b, cv)?,
        Body::Lines(l) => draw_lines(chart, l, cv)?,
    };
    if let Some(note) = &chart.footnote {
        let st = style(NOTE_SIZE, MUTED, HPos::Left, VPos::Top);
        let note = fit(note, NOTE_SIZE, WIDTH as i32 - 2 * MARGIN);
        text(cv, &note, (MARGIN, bottom + 4), &st)?;
    }
    d(cv.area.present())
}

struct BarLayout {
    used: Vec<usize>,
    top: i32,
    label_w: i32,
    cols: usize,
    panel_w: i32,
    /// Top of each row, relative to the top of the plot box, and its height.
    row_y: Vec<i32>,
    row_h: Vec<i32>,
    /// The groups each row has bars for (in any panel): each gets a slot in that row, so a
    /// row with two bars is not padded with the empty slots of groups it does not have.
    row_groups: Vec<Vec<usize>>,
    bar_h: i32,
    plot_h: i32,
    panel_h: i32,
    height: i32,
}

const PANEL_TITLE_H: i32 = 30;
const X_TICKS_H: i32 = 26;
const X_TITLE_H: i32 = 26;

fn bar_layout(chart: &Chart, b: &BarChart) -> BarLayout {
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
fn draw_bars<DB: DrawingBackend>(
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

struct LineLayout {
    top: i32,
    cols: usize,
    panel_w: i32,
    plot_h: i32,
    panel_h: i32,
    height: i32,
}

fn line_layout(chart: &Chart, l: &LineChart) -> LineLayout {
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

fn draw_lines<DB: DrawingBackend>(
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
                for p in pts {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_labels_are_shortened_in_the_middle() {
        let long = "host-net (session of flannel-udp faithful, l3 underlay, cross-cpu)";
        let s = fit(long, LABEL_SIZE, 200);
        assert!(text_width(&s, LABEL_SIZE) <= 200, "{s}");
        assert!(s.starts_with("host-net") && s.contains('…'), "{s}");
        assert_eq!(fit("vxlan", LABEL_SIZE, 200), "vxlan");
    }

    #[test]
    fn crowded_tick_labels_are_thinned() {
        let keep = thin(&[(0, 40), (30, 40), (60, 40), (90, 40)], 10);
        assert_eq!(keep, vec![true, false, true, false]);
    }

    #[test]
    fn nines_axis_labels() {
        let a = Axis::new("share", Quantity::Fixed(""), Scale::Nines);
        let r = resolve(&a, &[0.0, 0.3, 4.7], 400, true, 0.0);
        let labels: Vec<&str> = r.ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(
            labels,
            ["0%", "50%", "90%", "99%", "99.9%", "99.99%", "99.999%"]
        );
        assert_eq!(r.hi, 5.0);
    }

    #[test]
    fn auto_scale_goes_log_for_wide_ranges() {
        let a = Axis::new("Round-trip time", Quantity::Nanoseconds, Scale::Auto);
        let r = resolve(&a, &[12_800.0, 477_000.0], 400, true, 0.0);
        assert!(r.log);
        assert_eq!(r.title, "Round-trip time (µs, log scale)");
        let r = resolve(&a, &[12_800.0, 25_000.0], 400, true, 0.0);
        assert!(!r.log);
        assert_eq!(r.title, "Round-trip time (µs)");
    }
}
