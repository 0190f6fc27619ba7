//! `cnbench man` (clap_mangen): the manual, generated from the command line's own
//! definition: one page for cnbench, or one per command.

use std::path::Path;

use anyhow::{Context as _, Result};
use clap::CommandFactory;

use crate::cli::Cli;
use crate::ExitCode;

/// `cnbench man`: `cnbench.1` on stdout; with `--out DIR`, `cnbench.1` and one
/// `cnbench-<command>.1` per command written into DIR.
pub fn man(out: Option<&Path>) -> Result<ExitCode> {
    let cmd = Cli::command();
    let Some(dir) = out else {
        clap_mangen::Man::new(cmd)
            .render(&mut std::io::stdout())
            .context("writing the man page")?;
        return Ok(ExitCode::Ok);
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let write = |name: &str, page: clap::Command| -> Result<()> {
        let path = dir.join(format!("{name}.1"));
        let mut file =
            std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        clap_mangen::Man::new(page)
            .render(&mut file)
            .with_context(|| format!("writing {}", path.display()))?;
        say!("{}", path.display());
        Ok(())
    };
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("cnbench-{}", sub.get_name());
        // The page's title is its file's name (`cnbench-run`).
        write(&name, sub.clone().name(name.clone()))?;
    }
    write("cnbench", cmd)?;
    Ok(ExitCode::Ok)
}
