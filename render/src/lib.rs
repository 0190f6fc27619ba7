//! cnbench results for people: every human form of the `reports` data.
//!
//! - [`text`]: what `cnbench` prints on a terminal: the topology, a line per check, per
//!   repetition and per fault, a run's summary, and the table of a comparison.
//! - [`compare`]: the documents of `cnbench compare`: Markdown for a pull request, JUnit XML
//!   (written by `quick-junit`) for CI.
//! - [`write_report`]: `cnbench report RESULT.json... --out DIR`, which writes into `DIR`:
//!   - `index.html`: one self-contained page (inline CSS, plots as inline SVG, nothing
//!     fetched) that opens with what a design review asks first ("At a glance": per backend
//!     and path, TCP throughput, round trip p50 and CPU time per GB as ratios to the
//!     same-session host-net baseline, crossings and device transmissions per packet, the
//!     conformance verdict and every warning), then the inputs, the environment, the
//!     parameters of each run, the conformance matrix with the evidence of every failure and
//!     expected failure, the headline medians, the plots with captions, costs, warnings,
//!     faults and scale points;
//!   - `<plot>.svg` and `<plot>.png` for every plot (see [`ReportFiles::plots`]); text in the
//!     PNGs is drawn from an embedded DejaVu Sans, so no system font is needed;
//!   - `summary.md`: the same in Markdown, opening the same way, with the plots as links to
//!     the PNGs.
//!
//! Every figure is written by [`units`] and every piece of text from a result escaped by
//! [`escape`]; metrics are named in words ([`words::metric_label`]).
//!
//! The software under test a run drove but cnbench did not write (its `components`: a CNI
//! network and its plugins) is named compactly wherever the run is shown: under the header of
//! the terminal summary, in "At a glance" of both documents, beside each side of a comparison
//! and as JUnit properties. A run without components shows nothing of them.
//!
//! A check that did not apply (outcome `not_applicable`, label `N/A`) is counted apart
//! wherever checks are counted, listed with its reason wherever failures are, and skipped with
//! its reason in JUnit; a comparison never calls it a regression or an improvement. The
//! plugin calls of a run ([`reports::RunResult::plugin_calls`]: a CNI chain's verbs with their
//! wall times) are one table per plugin and verb in the terminal summary (after the software
//! under test) and in a "Plugin calls" section of both documents. A run without either shows
//! nothing of them.
//!
//! Pod churn (`cnbench churn`: `churn` measurements, one per concurrency level) is a table
//! per level in the terminal summary and a "Pod churn" section of both documents (pods per
//! second, time-until percentiles over every pod, CPU per pod, the daemons' file descriptors
//! and memory), and two plots built from every churn result of the report together: the
//! distribution of the time until a new pod answers from another node, and pods per second
//! against concurrency. A report without churn leaves both plots out, saying why.
//!
//! Results are kept apart by where their nodes lived ([`reports::Substrate`]): namespace
//! results, and VM results under QEMU TCG emulation, get sections of their own ("Namespace
//! results", "VM results (emulated)"), with their own tables and plots (files of emulated VM
//! results are prefixed `vm-emulated-`), so no emulated figure is ever set beside a native
//! one. Every heading, plot title and caption of emulated results says so: their figures
//! compare behaviour, not speed.
//!
//! ```no_run
//! # extern crate cnbench_render as render;
//! use std::path::Path;
//!
//! let inputs = vec![
//!     render::Input::read(Path::new("vxlan.json"))?,
//!     render::Input::read(Path::new("bgp-scale.json"))?,
//! ];
//! let files = render::write_report(&inputs, Path::new("report"))?;
//! println!("wrote {}", files.index_html.display());
//! # Ok::<(), render::RenderError>(())
//! ```
//!
//! It depends only on `reports` (the data), plotters, ab_glyph, png and quick-junit; it reads
//! nothing but the files it is given and writes nothing outside `DIR`. Nothing below it (the
//! harness, the backends, the workloads) depends on it.

#![warn(missing_docs)]

mod chart;
mod churn;
pub mod compare;
mod components;
mod error;
pub mod escape;
mod figures;
mod html;
pub mod junit;
mod model;
mod overview;
mod plugin_calls;
mod summary;
mod tables;
pub mod text;
pub mod units;
pub mod words;

#[cfg(test)]
mod test_support;

use std::fs;
use std::path::{Path, PathBuf};

use plotters::prelude::{BitMapBackend, IntoDrawingArea, SVGBackend};
use reports::{RunResult, ScaleResult};

pub use error::RenderError;

/// One result to report on, with the name of the file it came from (used as a label when
/// two results cannot be told apart otherwise, and listed in the report).
#[derive(Debug, Clone)]
pub struct Input {
    /// File name, e.g. `vxlan.json`.
    pub name: String,
    /// The result.
    pub result: InputResult,
}

/// The two kinds of result files cnbench writes.
#[derive(Debug, Clone)]
pub enum InputResult {
    /// A `cnbench run` result: checks and measurements of one backend (with its host-net
    /// baseline when one was measured).
    Run(Box<RunResult>),
    /// A `cnbench scale` result: control-plane points against node count.
    Scale(Box<ScaleResult>),
}

impl Input {
    /// A run result named `name`.
    pub fn run(name: impl Into<String>, result: RunResult) -> Input {
        Input {
            name: name.into(),
            result: InputResult::Run(Box::new(result)),
        }
    }

    /// A scale result named `name`.
    pub fn scale(name: impl Into<String>, result: ScaleResult) -> Input {
        Input {
            name: name.into(),
            result: InputResult::Scale(Box::new(result)),
        }
    }

    /// Reads a result file of either kind: a scale result when its `kind` is `"scale"`
    /// ([`reports::read_scale`]), a run result otherwise ([`reports::read_result`]); both
    /// accept every schema version from [`reports::OLDEST_SCHEMA_VERSION`] on and refuse
    /// others naming the versions read. The input is named after the file name.
    pub fn read(path: &Path) -> Result<Input, RenderError> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        let bytes = fs::read(path).map_err(|error| RenderError::ReadFile {
            path: path.to_owned(),
            error,
        })?;
        let is_scale = serde_json::from_slice::<serde_json::Value>(&bytes)
            .is_ok_and(|value| reports::read::is_scale(&value));
        if is_scale {
            Ok(Input::scale(name, reports::read_scale(path)?))
        } else {
            // Not JSON, or a run result: reports gives the precise error either way.
            Ok(Input::run(name, reports::read_result(path)?))
        }
    }
}

/// What [`write_report`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFiles {
    /// The output directory.
    pub dir: PathBuf,
    /// `DIR/index.html`.
    pub index_html: PathBuf,
    /// `DIR/summary.md`.
    pub summary_md: PathBuf,
    /// Every plot drawn, in report order.
    pub plots: Vec<PlotFiles>,
    /// Plots left out for lack of data, each with why (`"BGP control-plane scale: no scale
    /// result among the inputs ..."`); the report says the same.
    pub omitted: Vec<String>,
}

/// One plot's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlotFiles {
    /// Its name: `throughput`, `latency`, `latency-cdf`, `cpu-per-gb`, `syscalls-per-packet`,
    /// `crossings-per-packet`, `device-xmits`, `bgp-scale`, `churn-reachable-cdf` or
    /// `churn-rate`; for results not of namespaces,
    /// prefixed by their group (`vm-emulated-throughput` for VMs under emulation).
    pub name: String,
    /// Its title; for results not of namespaces it names their group (`Throughput per backend
    /// — VM results (emulated)`).
    pub title: String,
    /// `DIR/<name>.svg`.
    pub svg: PathBuf,
    /// `DIR/<name>.png`.
    pub png: PathBuf,
    /// Size of both, in pixels (width, height).
    pub size: (u32, u32),
}

/// The drawn plots of one group, as the page writers need them.
pub(crate) struct Rendered {
    pub plots: Vec<RenderedPlot>,
    pub omitted: Vec<(String, String)>,
}

pub(crate) struct RenderedPlot {
    pub name: String,
    pub title: String,
    pub caption: String,
    pub svg: String,
}

/// The title of the report, naming the backends.
pub(crate) fn report_title(groups: &[model::Group]) -> String {
    let mut backends: Vec<&str> = Vec::new();
    for model in groups.iter().map(|g| &g.model) {
        for r in &model.runs {
            if !backends.contains(&r.result.parameters.backend.as_str()) {
                backends.push(&r.result.parameters.backend);
            }
        }
        for (_, s) in &model.scales {
            if !backends.contains(&s.backend.as_str()) {
                backends.push(&s.backend);
            }
        }
    }
    format!("cnbench report: {}", backends.join(", "))
}

/// Writes the report on `inputs` into `out` (created if missing; files of an earlier report
/// there are replaced): `index.html`, `summary.md`, and an SVG and a PNG per plot.
///
/// Fails with [`RenderError::NoInputs`] when `inputs` is empty, and with an error naming the
/// path when `out` cannot be created or written.
pub fn write_report(inputs: &[Input], out: &Path) -> Result<ReportFiles, RenderError> {
    if inputs.is_empty() {
        return Err(RenderError::NoInputs);
    }
    fs::create_dir_all(out).map_err(|error| RenderError::CreateDir {
        path: out.to_owned(),
        error,
    })?;
    let groups = model::groups(inputs);

    let mut files = Vec::new();
    let mut rendered = Vec::new();
    for group in &groups {
        let (figures, omitted) = figures::build(&group.model);
        let mut plots = Vec::new();
        for mut f in figures {
            figures::mark(&mut f, group);
            let name = group.id(f.name);
            let size = chart::size(&f.chart);
            let svg = draw_svg(&f, &name, size)?;
            let svg_path = out.join(format!("{name}.svg"));
            write(&svg_path, svg.as_bytes())?;
            let png_path = out.join(format!("{name}.png"));
            draw_png(&f, &name, size, &png_path)?;
            files.push(PlotFiles {
                name: name.clone(),
                title: f.chart.title.clone(),
                svg: svg_path,
                png: png_path,
                size,
            });
            plots.push(RenderedPlot {
                name,
                title: f.chart.title,
                caption: f.caption,
                svg,
            });
        }
        rendered.push(Rendered {
            plots,
            omitted: omitted
                .into_iter()
                .map(|o| (group.marked(o.title), o.why))
                .collect(),
        });
    }

    let index_html = out.join("index.html");
    write(&index_html, html::render(&groups, &rendered).as_bytes())?;
    let summary_md = out.join("summary.md");
    write(&summary_md, summary::render(&groups, &rendered).as_bytes())?;
    Ok(ReportFiles {
        dir: out.to_owned(),
        index_html,
        summary_md,
        plots: files,
        omitted: rendered
            .iter()
            .flat_map(|r| &r.omitted)
            .map(|(title, why)| format!("{title}: {why}"))
            .collect(),
    })
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), RenderError> {
    fs::write(path, bytes).map_err(|error| RenderError::Write {
        path: path.to_owned(),
        error: error.to_string(),
    })
}

fn draw_svg(f: &figures::Figure, name: &str, size: (u32, u32)) -> Result<String, RenderError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        let canvas = chart::Canvas {
            area: &root,
            raster_text: false,
        };
        chart::draw(&f.chart, &canvas).map_err(|message| RenderError::Draw {
            name: name.to_owned(),
            message,
        })?;
    }
    Ok(svg)
}

fn draw_png(
    f: &figures::Figure,
    name: &str,
    size: (u32, u32),
    path: &Path,
) -> Result<(), RenderError> {
    // Drawn into memory, then encoded here, so that a failure to write the file is told
    // apart from a drawing bug.
    let mut rgb = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        let canvas = chart::Canvas {
            area: &root,
            raster_text: true,
        };
        chart::draw(&f.chart, &canvas).map_err(|message| RenderError::Draw {
            name: name.to_owned(),
            message,
        })?;
    }
    let write_error = |error: String| RenderError::Write {
        path: path.to_owned(),
        error,
    };
    let file = fs::File::create(path).map_err(|e| write_error(e.to_string()))?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), size.0, size.1);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder
        .write_header()
        .map_err(|e| write_error(e.to_string()))?;
    writer
        .write_image_data(&rgb)
        .map_err(|e| write_error(e.to_string()))?;
    writer.finish().map_err(|e| write_error(e.to_string()))
}
