//! `cnbench report`: a self-contained HTML report, its plots as SVG and PNG, and a Markdown
//! summary, from result files.

use anyhow::Result;

use crate::ExitCode;

/// `cnbench report`: reads every result file first (a bad one is refused before anything is
/// written), then writes the report.
pub fn report(results: &[std::path::PathBuf], out: &std::path::Path) -> Result<ExitCode> {
    let inputs = results
        .iter()
        .map(|p| render::Input::read(p))
        .collect::<Result<Vec<_>, _>>()?;
    let files = render::write_report(&inputs, out)?;
    say!("report written to {}", files.index_html.display());
    say!("  {}", files.summary_md.display());
    for p in &files.plots {
        say!("  {} (.svg, .png): {}", p.name, p.title);
    }
    for why in &files.omitted {
        say!("  left out: {why}");
    }
    Ok(ExitCode::Ok)
}
