//! Command-line errors as one line that says what to change: `error: invalid value 'l4' for
//! '--underlay <UNDERLAY>' (possible values: none, l2, l3); see `cnbench run --help``. Built
//! from what clap knows of the error (its kind and context), never from its printed text,
//! which changes between clap releases.

use clap::error::{ContextKind, ContextValue, ErrorKind};

use crate::cli::Cli;

/// `text` on one line: its non-empty lines joined with "; ".
pub fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The command whose help to point at: the subcommand typed, if it is one.
fn command_typed() -> String {
    let cli = <Cli as clap::CommandFactory>::command();
    // Lossy: an argument that is not UTF-8 is itself an error to report, not a panic.
    std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .find(|a| !a.starts_with('-'))
        .filter(|a| cli.find_subcommand(a).is_some())
        .map_or("cnbench".to_string(), |sub| format!("cnbench {sub}"))
}

/// A context value as text: a list joined with ", ".
fn text(v: &ContextValue) -> String {
    match v {
        ContextValue::Strings(list) => list.join(", "),
        other => other.to_string(),
    }
}

/// A command-line error of clap's as one line.
pub fn error_line(e: &clap::Error) -> String {
    let command = command_typed();
    format!("error: {}; see `{command} --help`", what(e))
}

/// What went wrong, from the error's kind and context.
fn what(e: &clap::Error) -> String {
    let get = |k: ContextKind| e.get(k).map(text);
    let arg = get(ContextKind::InvalidArg).unwrap_or_default();
    let value = get(ContextKind::InvalidValue).unwrap_or_default();
    let also = |k: ContextKind, label: &str| {
        get(k)
            .filter(|s| !s.is_empty())
            .map(|s| format!(" ({label}{s})"))
            .unwrap_or_default()
    };
    match e.kind() {
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand | ErrorKind::MissingSubcommand => {
            let cli = <Cli as clap::CommandFactory>::command();
            let names: Vec<&str> = cli
                .get_subcommands()
                .filter(|c| !c.is_hide_set())
                .map(|c| c.get_name())
                .collect();
            format!("no command given: use one of {}", names.join(", "))
        }
        ErrorKind::InvalidValue if value.is_empty() => {
            format!("a value is required for '{arg}' but none was supplied")
                + &also(ContextKind::ValidValue, "possible values: ")
        }
        ErrorKind::InvalidValue => {
            format!("invalid value '{value}' for '{arg}'")
                + &also(ContextKind::ValidValue, "possible values: ")
                + &also(ContextKind::SuggestedValue, "did you mean: ")
        }
        ErrorKind::ValueValidation => {
            let why = std::error::Error::source(e)
                .map(|s| format!(": {s}"))
                .unwrap_or_default();
            format!("invalid value '{value}' for '{arg}'{why}")
        }
        ErrorKind::UnknownArgument => {
            format!("unexpected argument '{arg}'")
                + &also(ContextKind::SuggestedArg, "did you mean ")
        }
        ErrorKind::InvalidSubcommand => {
            let sub = get(ContextKind::InvalidSubcommand).unwrap_or_default();
            format!("unrecognized command '{sub}'")
                + &also(ContextKind::SuggestedSubcommand, "did you mean ")
        }
        ErrorKind::MissingRequiredArgument => {
            format!("the following required arguments were not provided: {arg}")
        }
        ErrorKind::ArgumentConflict => {
            let prior = get(ContextKind::PriorArg).unwrap_or_default();
            format!("'{arg}' cannot be used with '{prior}'")
        }
        ErrorKind::NoEquals => format!("'{arg}' needs its value after '='"),
        ErrorKind::TooManyValues => format!("unexpected value '{value}' for '{arg}'"),
        ErrorKind::TooFewValues | ErrorKind::WrongNumberOfValues => {
            let want = get(ContextKind::ExpectedNumValues).unwrap_or_default();
            let got = get(ContextKind::ActualNumValues).unwrap_or_default();
            format!("'{arg}' takes {want} value(s), {got} were given")
        }
        ErrorKind::InvalidUtf8 => "an argument is not valid UTF-8".into(),
        // A kind this clap has and this function does not know: its name, and the argument.
        other if arg.is_empty() => other.to_string(),
        other => format!("{other}: '{arg}'"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn line(args: &[&str]) -> String {
        let mut argv = vec!["cnbench"];
        argv.extend_from_slice(args);
        what(&Cli::try_parse_from(argv).unwrap_err())
    }

    #[test]
    fn each_kind_reads_as_one_line_that_names_the_fix() {
        assert_eq!(
            line(&["run", "--backend", "bridge", "--underlay", "l4"]),
            "invalid value 'l4' for '--underlay <UNDERLAY>' (possible values: none, l2, l3)"
        );
        let b = line(&["run", "--backend", "vxlann"]);
        assert!(
            b.starts_with("invalid value 'vxlann' for '--backend <BACKEND>' (possible values: host-net, bridge"),
            "{b}"
        );
        assert!(b.contains("did you mean: vxlan"), "{b}");
        assert_eq!(
            line(&["run", "--backend", "bridge", "--nodez", "2"]),
            "unexpected argument '--nodez' (did you mean --nodes)"
        );
        assert_eq!(
            line(&["run"]),
            "the following required arguments were not provided: --backend <BACKEND>"
        );
        let cidr = line(&["run", "-b", "vxlan", "--pod-cidr", "x"]);
        assert!(
            cidr.starts_with("invalid value 'x' for '--pod-cidr <CIDR>': not an IPv4 network"),
            "{cidr}"
        );
        assert_eq!(
            line(&["chek"]),
            "unrecognized command 'chek' (did you mean check)"
        );
        assert!(line(&[]).starts_with("no command given: use one of list, run, up"));
        for l in [line(&["run", "--backend"]), line(&["fault", "-b", "vxlan"])] {
            assert!(!l.contains('\n') && !l.is_empty(), "{l}");
        }
    }
}
