//! What a run has made, recorded under `/run/cnbench/<run>/` before it is made, so that
//! `cnbench down`, `cnbench check` and `cnbench clean` can find it from another process, and
//! a run killed with SIGKILL can be cleaned up (docs/design.md §5 rule 5).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{HarnessError, Result};
use crate::netns::{Netns, NETNS_PREFIX};
use crate::process;
use crate::topology::TopologySpec;

/// Where run state lives.
pub const STATE_ROOT: &str = "/run/cnbench";

/// How a run was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// `cnbench run`: owned by a live process until it ends.
    Run,
    /// `cnbench up`: left standing on purpose until `cnbench down`.
    Up,
}

/// The state file of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunState {
    /// Run id.
    pub run_id: String,
    /// Backend name.
    pub backend: String,
    /// The backend's own options, by flag without dashes (`datapath`), for `check` and
    /// `down` to make the same backend again.
    #[serde(default)]
    pub backend_options: std::collections::BTreeMap<String, String>,
    /// How it was started.
    pub mode: Mode,
    /// Pid of the process that owns it.
    pub owner_pid: u32,
    /// The owner's start time (field 22 of `/proc/<pid>/stat`), so a recycled pid is not
    /// mistaken for the owner.
    pub owner_start_ticks: u64,
    /// The resolved topology request (the plan is rebuilt from it).
    pub spec: TopologySpec,
    /// The plan as built: pods added since, addresses setup reported. Absent in the state
    /// of an older cnbench: the plan is then rebuilt from `spec`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<crate::topology::Plan>,
    /// Every namespace the run will create, written before the first one is.
    pub namespaces: Vec<String>,
    /// Long-lived children (datapath daemons): `(what, netns, pid)`.
    #[serde(default)]
    pub daemons: Vec<(String, String, u32)>,
}

impl RunState {
    /// The directory of run `run_id`.
    pub fn dir(run_id: &str) -> PathBuf {
        Path::new(STATE_ROOT).join(run_id)
    }

    fn file(run_id: &str) -> PathBuf {
        Self::dir(run_id).join("state.json")
    }

    /// Writes the state (atomically: temp file, then rename).
    ///
    /// The first save of a run claims its id: the directory is created exclusively, so two
    /// runs that drew the same id at the same time (or a run and a crash's leftover of that
    /// id) cannot overwrite each other's record, nor roll back each other's namespaces.
    /// Later saves (daemons added, from this process or one that attached) go on only over a
    /// record of the same run and owner.
    pub fn save(&self) -> Result<()> {
        let dir = Self::dir(&self.run_id);
        let err = |e: io::Error| HarnessError::State {
            path: dir.clone(),
            message: format!("{e}; is /run writable (cnbench needs root)?"),
        };
        fs::create_dir_all(STATE_ROOT).map_err(err)?;
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let ours = Self::load(&self.run_id).is_ok_and(|there| there.same_run(self));
                if !ours {
                    return Err(HarnessError::State {
                        path: dir.clone(),
                        message: format!(
                            "run id {} is taken by another run (`cnbench status`); start again \
                             for a fresh id",
                            self.run_id
                        ),
                    });
                }
            }
            Err(e) => return Err(err(e)),
        }
        let tmp = dir.join("state.json.tmp");
        let json = serde_json::to_vec_pretty(self).expect("state serializes");
        fs::write(&tmp, json).map_err(err)?;
        fs::rename(&tmp, Self::file(&self.run_id)).map_err(err)
    }

    /// Whether `other` records the same run, started by the same process. (Its namespaces
    /// may differ: pods come and go on a standing topology.)
    fn same_run(&self, other: &RunState) -> bool {
        self.run_id == other.run_id
            && self.mode == other.mode
            && self.owner_pid == other.owner_pid
            && self.owner_start_ticks == other.owner_start_ticks
            && self.spec == other.spec
    }

    /// Loads the state of run `run_id`.
    pub fn load(run_id: &str) -> Result<RunState> {
        let path = Self::file(run_id);
        let text = fs::read_to_string(&path).map_err(|e| HarnessError::State {
            path: path.clone(),
            message: if e.kind() == io::ErrorKind::NotFound {
                format!("no run {run_id:?} here; `cnbench status` lists the runs that exist")
            } else {
                e.to_string()
            },
        })?;
        let mut state: RunState = serde_json::from_str(&text).map_err(|e| HarnessError::State {
            path,
            message: format!("unreadable ({e}); `cnbench clean --all` removes it"),
        })?;
        state.backend_options = upgrade_backend_options(std::mem::take(&mut state.backend_options));
        Ok(state)
    }

    /// Removes the run's state directory; already gone is success.
    pub fn remove(run_id: &str) -> Result<()> {
        match fs::remove_dir_all(Self::dir(run_id)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(HarnessError::State {
                path: Self::dir(run_id),
                message: e.to_string(),
            }),
        }
    }

    /// Ids of every run with a state directory.
    pub fn list() -> Vec<String> {
        let Ok(dir) = fs::read_dir(STATE_ROOT) else {
            return Vec::new();
        };
        let mut v: Vec<String> = dir
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        v.sort();
        v
    }

    /// Pids of the run's daemons.
    pub fn pids(&self) -> Vec<u32> {
        self.daemons.iter().map(|d| d.2).collect()
    }

    /// Whether the process that owns the run is still alive.
    pub fn owner_alive(&self) -> bool {
        start_ticks(self.owner_pid) == Some(self.owner_start_ticks)
    }
}

/// Start time of a process, in clock ticks since boot (field 22 of `/proc/<pid>/stat`).
pub fn start_ticks(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Backend options as a state written before they were the backends' own (cnbench 0.1.0 at
/// protocol 1) recorded them: the substrate among them (it is the spec's now) and bgp's
/// topology under `bgp_topology`. Kept so a topology stood up by that build can still be
/// checked and taken down.
fn upgrade_backend_options(
    mut options: std::collections::BTreeMap<String, String>,
) -> std::collections::BTreeMap<String, String> {
    options.remove("substrate");
    if let Some(t) = options.remove("bgp_topology") {
        options.insert("bgp-topology".into(), t);
    }
    options
}

/// Kills every process in the namespaces (by pid), then deletes the namespaces, in reverse
/// creation order. Never stops early; returns every error.
///
/// Only processes found inside the run's own namespaces (by namespace inode) are killed: a
/// pid written in a state file may have been reused by anyone since, and every process of a
/// run (agents, daemons, BIRD) lives inside one of its namespaces.
pub fn destroy_namespaces(names: &[String]) -> Vec<HarnessError> {
    let mut errors = Vec::new();
    let inos: Vec<u64> = names
        .iter()
        .filter_map(|name| Netns::open(name).ok()?.inode().ok())
        .collect();
    let mut pids = process::pids_in_netns(&inos);
    pids.retain(|p| *p as u32 != std::process::id());
    pids.sort();
    pids.dedup();
    // A process still in a namespace would keep it (and its devices) alive after the unmount.
    process::kill_pids(&pids, Duration::from_secs(2));
    for name in names.iter().rev() {
        if let Err(e) = Netns::delete(name) {
            errors.push(e);
        }
    }
    errors
}

/// What `clean` did.
#[derive(Debug, Default)]
pub struct CleanReport {
    /// Runs removed.
    pub removed: Vec<String>,
    /// Runs left alone, with the reason.
    pub kept: Vec<(String, String)>,
    /// Errors met (cleaning went on).
    pub errors: Vec<HarnessError>,
}

/// Removes what crashed runs left: runs whose owner is dead (and, with `all`, standing `up`
/// topologies too), and namespaces named like ours that no state file claims.
pub fn clean(all: bool) -> CleanReport {
    let mut report = CleanReport::default();
    let mut claimed = Vec::new();
    for run in RunState::list() {
        match RunState::load(&run) {
            Ok(st) => {
                if st.mode == Mode::Run && st.owner_alive() {
                    report
                        .kept
                        .push((run.clone(), format!("in progress (pid {})", st.owner_pid)));
                    claimed.push(run);
                    continue;
                }
                if st.mode == Mode::Up && !all {
                    report.kept.push((
                        run.clone(),
                        format!("standing topology: `cnbench down {run}` or `cnbench clean --all`"),
                    ));
                    claimed.push(run);
                    continue;
                }
                report.errors.extend(destroy_namespaces(&st.namespaces));
            }
            // Unreadable (being written right now, or another version's): not ours to judge.
            Err(e) => {
                report
                    .kept
                    .push((run.clone(), format!("state unreadable: {e}")));
                claimed.push(run);
                continue;
            }
        }
        // Namespaces of this run that the state file did not list (should not happen).
        let leftovers = Netns::list(&format!("{NETNS_PREFIX}{run}-"));
        report.errors.extend(destroy_namespaces(&leftovers));
        match RunState::remove(&run) {
            Ok(()) => report.removed.push(run),
            // Unreadable (being written right now, or another version's): not ours to judge.
            Err(e) => {
                report
                    .kept
                    .push((run.clone(), format!("state unreadable: {e}")));
                claimed.push(run);
                continue;
            }
        }
    }
    // Orphans: our prefix, no state directory (a crash before the state was written cannot
    // happen, since it is written first, but a removed /run/cnbench can).
    let orphans: Vec<String> = Netns::list(NETNS_PREFIX)
        .into_iter()
        .filter(|n| {
            let run = n[NETNS_PREFIX.len()..].split('-').next().unwrap_or("");
            // Re-check the state directory: a run that started after the listing above
            // writes its state before its first namespace.
            // A `-probe` namespace lives for milliseconds while another process probes the
            // kernel: only an old one is a crash's leftover.
            let young = n.ends_with("-probe")
                && std::fs::metadata(crate::netns::path_of(n))
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_none_or(|age| age < Duration::from_secs(60));
            !claimed.iter().any(|c| c == run) && !RunState::dir(run).exists() && !young
        })
        .collect();
    if !orphans.is_empty() {
        report.errors.extend(destroy_namespaces(&orphans));
        report.removed.extend(orphans);
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A state file as the build before backend-declared options wrote it: `check` and
    /// `down` must still make its backend.
    #[test]
    fn an_older_state_keeps_its_backend_options() {
        let old = r#"{
            "run_id": "ab12cd", "backend": "bgp",
            "backend_options": {"bgp_topology": "rr", "substrate": "netns"},
            "mode": "up", "owner_pid": 1, "owner_start_ticks": 0,
            "spec": {"run_id": "ab12cd", "nodes": 2, "pods_per_node": 1, "underlay": "l2",
                     "pod_cidr": "10.20.0.0/16", "underlay_cidrs": ["10.168.0.0/24"],
                     "mtu": 1500},
            "namespaces": ["cnb-ab12cd-sw"]
        }"#;
        let mut st: RunState = serde_json::from_str(old).unwrap();
        st.backend_options = upgrade_backend_options(st.backend_options);
        let want: std::collections::BTreeMap<String, String> =
            [("bgp-topology".to_string(), "rr".to_string())].into();
        assert_eq!(st.backend_options, want);
        assert!(st.plan.is_none() && st.daemons.is_empty());
    }
}
