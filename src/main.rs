//! `cnbench`: the command line. Parse, call the harness, print, exit with a code that says
//! what happened: 0 every check passed, 1 a check failed, 2 bad input or an unusable machine
//! (or an error while working), 130 interrupted (everything torn down).

/// `println!` that never panics: a reader that went away (`cnbench run | head`) must not
/// abort a run before it tears its topology down.
macro_rules! say {
    () => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout());
    }};
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `print!` that never panics (see `say!`).
macro_rules! say_raw {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

mod cli;
mod commands;
mod output;
mod registry;

use clap::Parser;

use cli::{Cli, Command};

/// Exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Every check passed.
    Ok = 0,
    /// At least one conformance check failed (`compare`: a regression).
    ChecksFailed = 1,
    /// Bad input, an unusable machine, or an error while working.
    Error = 2,
    /// `compare`: no regression, but some change could not be decided.
    Inconclusive = 3,
    /// SIGINT or SIGTERM; the run was torn down.
    Interrupted = 130,
}

fn main() {
    let cli = Cli::parse();
    let code = match dispatch(&cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::Error
        }
    };
    std::process::exit(code as i32);
}

fn dispatch(command: &Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::List => commands::list(),
        Command::Run(args) => commands::run(args),
        Command::Up(args) => commands::up(args),
        Command::Down { run_id } => commands::down(run_id),
        Command::Check { run_id, json } => commands::check(run_id, json),
        Command::Measure {
            run_id,
            measure,
            json,
        } => commands::measure(run_id, measure, json),
        Command::Scale(args) => commands::scale(args),
        Command::Compare(args) => commands::compare(args),
        Command::Report { results, out } => commands::report(results, out),
        Command::Status => commands::status(),
        Command::Clean { all } => commands::clean(*all),
        Command::Agent { task } => commands::agent(task),
        Command::Daemon { backend, config } => commands::daemon(backend, config),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
