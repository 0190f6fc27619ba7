//! `cnbench completions SHELL` (clap_complete): a completion script generated from the
//! command line's own definition, so it completes every command, flag and value the binary
//! takes, the backends and faults of the registry included.

use anyhow::Result;
use clap::CommandFactory;

use crate::cli::Cli;
use crate::ExitCode;

/// `cnbench completions SHELL`: the script on stdout.
pub fn completions(shell: clap_complete::Shell) -> Result<ExitCode> {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "cnbench", &mut std::io::stdout());
    Ok(ExitCode::Ok)
}
