//! The tables of a report, as plain data that the HTML and the Markdown writers both render:
//! environment, parameters, conformance counts and evidence, plugin calls, headline medians
//! with their ratio to host-net, pod churn per concurrency level, costs, warnings and scale
//! points.

mod checks;
mod churn;
mod costs;
mod faults;
mod inputs;
mod plugin_calls;
mod results;
mod scale;

pub(crate) use checks::{conformance, evidence};
pub(crate) use churn::{churn, churn_daemons};
pub(crate) use costs::{costs, roles};
pub(crate) use faults::{fault_evidence, faults};
pub(crate) use inputs::{environment, inputs, parameters};
pub(crate) use plugin_calls::plugin_calls;
pub(crate) use results::{headline, ratios, warnings};
pub(crate) use scale::scale;

/// How a cell is shown in HTML (Markdown ignores it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tone {
    Plain,
    /// Right-aligned figure.
    Num,
    Pass,
    Fail,
    XFail,
    Muted,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TCell {
    pub text: String,
    pub tone: Tone,
}

impl TCell {
    pub(crate) fn plain(s: impl Into<String>) -> TCell {
        TCell {
            text: s.into(),
            tone: Tone::Plain,
        }
    }
    pub(crate) fn num(s: impl Into<String>) -> TCell {
        TCell {
            text: s.into(),
            tone: Tone::Num,
        }
    }
}

/// A table: header and rows of cells.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Table {
    pub head: Vec<String>,
    pub rows: Vec<Vec<TCell>>,
}

/// An outcome in a few words; an error's message is given in full under the inputs table.
pub(super) fn short_outcome(o: &reports::Outcome) -> String {
    match o {
        reports::Outcome::Error { .. } => "error (message under Inputs)".to_owned(),
        other => other.to_string(),
    }
}
