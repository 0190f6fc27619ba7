//! Command-line values that come from the registry rather than a fixed enum: the backends
//! (`--backend`), each backend's own options (`--datapath`, `--bgp-topology`), and the
//! faults. Each is offered with its possible values and their meanings, so `--help` lists
//! them and shell completion completes them, and clap refuses a value no backend takes.

use std::collections::BTreeMap;

use clap::builder::{PossibleValue, PossibleValuesParser};
use clap::{Arg, ArgAction, ArgMatches, Args, FromArgMatches};
use harness::backend::BackendOptions;

use crate::registry;

/// `--backend`'s values: every backend, with its summary.
pub fn backend_values() -> PossibleValuesParser {
    PossibleValuesParser::new(
        registry::all()
            .into_iter()
            .map(|e| PossibleValue::new(e.info.name).help(e.info.summary)),
    )
}

/// `--fault`'s values: every fault of the harness's and of any backend's, and `all`.
pub fn fault_values() -> PossibleValuesParser {
    let mut values: Vec<PossibleValue> = registry::faults()
        .into_iter()
        .map(|(name, summary, by)| {
            let help = match by.as_slice() {
                [] => summary.to_string(),
                by => format!("{summary} ({})", by.join(", ")),
            };
            // A renamed fault keeps its old name as a hidden alias (`bird-restart`).
            let aliases = registry::all()
                .into_iter()
                .flat_map(|e| e.info.faults.iter())
                .filter(|f| f.name == name)
                .flat_map(|f| f.aliases.iter().copied())
                .collect::<Vec<&'static str>>();
            PossibleValue::new(name).help(help).aliases(aliases)
        })
        .collect();
    values.push(PossibleValue::new("all").help("every fault that applies to the backend"));
    PossibleValuesParser::new(values)
}

/// Backend-specific options as given: each flag any backend declares (flag without dashes
/// → its values). With `LIST`, a flag takes several values, comma-separated (a sweep);
/// without, one.
#[derive(Debug, Clone, Default)]
pub struct Flags<const LIST: bool> {
    /// Flag (without dashes) → values, as given.
    pub given: BTreeMap<String, Vec<String>>,
}

/// The backend-specific options of one run (`run`, `up`, `fault`): one value each; the
/// registry routes them to the backend chosen.
pub type BackendFlags = Flags<false>;

/// The backend-specific options of a sweep (`scale`): each may take several values; every
/// combination is measured.
pub type BackendSweepFlags = Flags<true>;

impl BackendFlags {
    /// As the harness carries them.
    pub fn options(&self) -> BackendOptions {
        let mut o = BackendOptions::new();
        for (k, v) in &self.given {
            if let Some(v) = v.first() {
                o.set(k, v);
            }
        }
        o
    }
}

/// The clap argument of backend flag `f`; `list`: comma-separated values allowed.
fn flag_arg(f: &registry::OptionFlag, list: bool) -> Arg {
    let arg = Arg::new(f.flag)
        .long(f.flag)
        .value_name(f.value_name())
        .help(f.help())
        .help_heading("Backend options");
    let arg = if f.free_form() {
        // A file or a list of directories: completed as a path, parsed by the backend.
        arg.value_hint(clap::ValueHint::AnyPath)
    } else {
        let values: Vec<PossibleValue> = f
            .values()
            .into_iter()
            .map(|(v, help)| PossibleValue::new(v).help(help))
            .collect();
        arg.value_parser(PossibleValuesParser::new(values))
    };
    if list {
        arg.value_delimiter(',').action(ArgAction::Append)
    } else {
        arg.action(ArgAction::Set)
    }
}

fn augment(cmd: clap::Command, list: bool) -> clap::Command {
    registry::option_flags()
        .iter()
        .fold(cmd, |cmd, f| cmd.arg(flag_arg(f, list)))
}

impl<const LIST: bool> FromArgMatches for Flags<LIST> {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let mut given = BTreeMap::new();
        for f in registry::option_flags() {
            if let Some(v) = m.get_many::<String>(f.flag) {
                given.insert(f.flag.to_string(), v.cloned().collect());
            }
        }
        Ok(Flags { given })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl<const LIST: bool> Args for Flags<LIST> {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        augment(cmd, LIST)
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        augment(cmd, LIST)
    }
}
