//! `cnbench status`: the runs on this machine — standing, in progress, or crashed — as lines
//! or as JSON (`--json`).

use anyhow::Result;
use harness::state::{Mode, RunState};
use serde::Serialize;

use crate::ExitCode;

/// One run, as `status --json` shows it.
#[derive(Debug, Serialize)]
struct RunStatus {
    /// Its id.
    run_id: String,
    /// `standing` (cnbench up), `in-progress`, `crashed`, or `unreadable`.
    state: &'static str,
    /// Its backend (absent when the state is unreadable).
    #[serde(skip_serializing_if = "Option::is_none")]
    backend: Option<String>,
    /// Its nodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    nodes: Option<u32>,
    /// The process that owns it, for a run in progress.
    #[serde(skip_serializing_if = "Option::is_none")]
    owner_pid: Option<u32>,
    /// What to do about it, or why it cannot be read.
    note: String,
}

/// `cnbench status`.
pub fn status(json: bool) -> Result<ExitCode> {
    let runs: Vec<RunStatus> = RunState::list()
        .into_iter()
        .map(|run| survey(&run))
        .collect();
    if json {
        let mut text = serde_json::to_string_pretty(&runs)?;
        text.push('\n');
        say_raw!("{text}");
        return Ok(ExitCode::Ok);
    }
    if runs.is_empty() {
        say!("no runs");
    }
    for r in &runs {
        match (&r.backend, r.nodes) {
            (Some(backend), Some(nodes)) => {
                say!("{}  {backend:<10} {nodes} node(s)  {}", r.run_id, r.note)
            }
            _ => say!("{}  unreadable: {}", r.run_id, r.note),
        }
    }
    Ok(ExitCode::Ok)
}

fn survey(run: &str) -> RunStatus {
    match RunState::load(run) {
        Ok(st) => {
            let alive = st.owner_alive();
            let (state, note) = match (st.mode, alive) {
                (Mode::Up, _) => ("standing", "standing (cnbench up)".to_string()),
                (Mode::Run, true) => ("in-progress", format!("in progress (pid {})", st.owner_pid)),
                (Mode::Run, false) => {
                    ("crashed", "crashed: `cnbench clean` removes it".to_string())
                }
            };
            RunStatus {
                run_id: run.to_string(),
                state,
                backend: Some(st.backend.clone()),
                nodes: Some(st.spec.nodes),
                owner_pid: (st.mode == Mode::Run && alive).then_some(st.owner_pid),
                note,
            }
        }
        Err(e) => RunStatus {
            run_id: run.to_string(),
            state: "unreadable",
            backend: None,
            nodes: None,
            owner_pid: None,
            note: e.to_string(),
        },
    }
}
