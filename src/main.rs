//! `cnbench`: the command line. Parse, call the harness, print, exit with a code that says
//! what happened: 0 every check passed, 1 a check failed, 2 bad input or an unusable machine
//! (or an error while working), 130 interrupted (everything torn down).

/// `println!` that never panics, to where human text goes (stdout, or stderr when the JSON
/// result has stdout): a reader that went away (`cnbench run | head`) must not abort a run
/// before it tears its topology down.
macro_rules! say {
    () => {{
        use std::io::Write as _;
        let _ = writeln!($crate::output::human());
    }};
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!($crate::output::human(), $($arg)*);
    }};
}

/// `print!` that never panics (see `say!`).
macro_rules! say_raw {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!($crate::output::human(), $($arg)*);
    }};
}

mod cli;
mod commands;
mod output;
mod registry;
mod usage;

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
            eprintln!("{}", usage::error_line(&e));
            std::process::exit(ExitCode::Error as i32);
        }
    };
    let code = match dispatch(&cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {}", usage::one_line(&format!("{e:#}")));
            ExitCode::Error
        }
    };
    std::process::exit(code as i32);
}

fn dispatch(command: &Command) -> anyhow::Result<ExitCode> {
    use commands::*;
    match command {
        Command::List { json } => list::list(*json),
        Command::Run(args) => run::run(args),
        Command::Up(args) => up::up(args),
        Command::Down { run_id } => down::down(run_id),
        Command::Check { run_id, json } => check::check(run_id, json),
        Command::Measure {
            run_id,
            measure,
            json,
        } => measure::measure(run_id, measure, json),
        Command::Fault(args) => fault::fault(args),
        Command::Scale(args) => scale::scale(args),
        Command::Churn(args) => churn::churn(args),
        Command::CniCheck(args) => cni_check::cni_check(args),
        Command::Compare(args) => compare::compare(args),
        Command::Ab(args) => ab::ab(args),
        Command::Calibrate(args) => calibrate::calibrate(args),
        Command::Report { results, out } => report::report(results, out),
        Command::Status { json } => status::status(*json),
        Command::Clean { all } => clean::clean(*all),
        Command::Setup { substrate } => setup::setup(*substrate),
        Command::Completions { shell } => completions::completions(*shell),
        Command::Man { out } => man::man(out.as_deref()),
        Command::Agent {
            listen,
            preflight,
            remove_exe,
            idle_timeout,
        } => agent::agent(
            listen.as_ref(),
            preflight.as_deref(),
            *remove_exe,
            *idle_timeout,
        ),
        Command::Task { task } => task::task(task),
        Command::ChurnProbe {
            pod,
            node,
            interval_us,
            v6,
        } => churn_probe::churn_probe(pod, node, *interval_us, *v6),
        Command::Daemon { backend, config } => daemon::daemon(backend, config),
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
