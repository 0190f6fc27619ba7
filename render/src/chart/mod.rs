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

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use crate::units::Quantity;

mod axis;
mod bars;
pub(crate) mod font;
pub(crate) mod glyphs;
mod legend;
mod lines;
mod paint;
mod ticks;

#[cfg(test)]
mod tests;

use axis::*;
use bars::*;
use legend::*;
use lines::*;
use paint::*;
pub(crate) use paint::{color, lighter, text_width, Canvas, PALETTE, WIDTH};

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
    /// Whether each point gets a dot: true for a few measured points, false for a curve of
    /// many (a distribution), where dots would hide its shape.
    pub dots: bool,
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
    font::ensure_registered();
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
