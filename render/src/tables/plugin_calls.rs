//! The plugin calls of one run: a row per plugin and verb (see [`crate::plugin_calls`]).

use reports::PluginCallRecord;

use super::*;
use crate::plugin_calls::{rows, HEAD, NUMERIC};

/// The plugin calls of a run, one row per plugin and verb; no rows without calls. A row with
/// calls that did not end `ok` shows them as a failure.
pub(crate) fn plugin_calls(calls: &[PluginCallRecord]) -> Table {
    Table {
        head: HEAD.map(String::from).to_vec(),
        rows: rows(calls)
            .iter()
            .map(|row| {
                let failed = !row.not_ok.is_empty();
                row.cells("none")
                    .into_iter()
                    .zip(NUMERIC)
                    .enumerate()
                    .map(|(i, (text, numeric))| {
                        let tone = if numeric {
                            Tone::Num
                        } else if i == HEAD.len() - 1 {
                            if failed {
                                Tone::Fail
                            } else {
                                Tone::Muted
                            }
                        } else {
                            Tone::Plain
                        };
                        TCell { text, tone }
                    })
                    .collect()
            })
            .collect(),
    }
}
