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
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // `--help` and `--version`: printed as clap prints them, exit 0.
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            eprintln!("{}", usage_error_line(&e));
            std::process::exit(ExitCode::Error as i32);
        }
    };
    let code = match dispatch(&cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {}", one_line(&format!("{e:#}")));
            ExitCode::Error
        }
    };
    std::process::exit(code as i32);
}

/// `text` on one line: its non-empty lines joined with "; ".
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// A command-line error of clap's as one line: the problem, the values or tip clap offers,
/// and the `--help` that explains it, e.g. `error: invalid value 'l4' for '--underlay
/// <UNDERLAY>' (possible values: none, l2, l3); see `cnbench run --help``.
fn usage_error_line(e: &clap::Error) -> String {
    let cli = <Cli as clap::CommandFactory>::command();
    // The command whose help to point at: the subcommand typed, if it is one.
    let command = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .filter(|a| cli.find_subcommand(a).is_some())
        .map_or("cnbench".to_string(), |sub| format!("cnbench {sub}"));
    if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        let names: Vec<&str> = cli
            .get_subcommands()
            .filter(|c| !c.is_hide_set())
            .map(|c| c.get_name())
            .collect();
        return format!(
            "error: no command given: use one of {}; see `{command} --help`",
            names.join(", ")
        );
    }
    let mut line = String::new();
    for raw in e.render().to_string().lines() {
        let l = raw.trim();
        // The usage and the pointer to `--help` end clap's message.
        if l.starts_with("Usage:") || l.starts_with("For more information") {
            break;
        }
        let part = match l.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
            _ if l.is_empty() => continue,
            Some(values) => format!(" ({values})"),
            None if line.is_empty() => l.to_string(),
            None if line.ends_with(':') => format!(" {l}"),
            // An item of a list under a heading (`the following required arguments ...:`).
            None if raw.starts_with(' ') && !l.starts_with("tip:") => format!(", {l}"),
            None => format!("; {l}"),
        };
        line.push_str(&part);
    }
    format!("{line}; see `{command} --help`")
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
        Command::Fault(args) => commands::fault(args),
        Command::Scale(args) => commands::scale(args),
        Command::Compare(args) => commands::compare(args),
        Command::Report { results, out } => commands::report(results, out),
        Command::Status => commands::status(),
        Command::Clean { all } => commands::clean(*all),
        Command::Agent { listen } => commands::agent(listen),
        Command::Task { task } => commands::task(task),
        Command::Setup { substrate } => commands::setup(substrate),
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
