//! BIRD processes: one per speaker, in the speaker's namespace, in the foreground as a child
//! of the run's supervisor (killed by pid at teardown, never by name), with its
//! configuration, control socket, pid file and logs under the run's state directory
//! (`/run/cnbench/<run>/bird/<speaker>/`), so teardown and `cnbench clean` remove them with the
//! run. `birdc` reads the sessions back through the control socket.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::backend::Context;
use harness::state::RunState;
use harness::topology::Plan;

use crate::config;
use crate::error::BgpError;
use crate::peering::{BgpTopology, Speaker};

/// The files of one speaker's BIRD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BirdFiles {
    /// The directory holding them.
    pub dir: PathBuf,
}

impl BirdFiles {
    /// The files of `speaker` in run `run_id`.
    pub fn of(run_id: &str, plan: &Plan, speaker: Speaker) -> BirdFiles {
        BirdFiles {
            dir: RunState::dir(run_id).join("bird").join(speaker.role(plan)),
        }
    }
    /// `bird.conf`.
    pub fn config(&self) -> PathBuf {
        self.dir.join("bird.conf")
    }
    /// The control socket `birdc -s` talks to.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("bird.ctl")
    }
    /// The pid file.
    pub fn pid(&self) -> PathBuf {
        self.dir.join("bird.pid")
    }
    /// BIRD's log.
    pub fn log(&self) -> PathBuf {
        self.dir.join("bird.log")
    }
    /// BIRD's stderr (startup errors come here, before the log is open).
    pub fn stderr(&self) -> PathBuf {
        self.dir.join("bird.stderr")
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BgpError + '_ {
    move |source| BgpError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `speaker`'s configuration and has BIRD parse it (`bird -p`, which starts nothing),
/// so a generator bug is reported with BIRD's own words before any daemon runs.
pub fn write_config(
    plan: &Plan,
    topology: BgpTopology,
    speaker: Speaker,
) -> Result<BirdFiles, BgpError> {
    let files = BirdFiles::of(plan.run_id(), plan, speaker);
    fs::create_dir_all(&files.dir).map_err(io(&files.dir))?;
    let path = files.config();
    fs::write(&path, config::render(plan, topology, speaker, &files.log())).map_err(io(&path))?;
    let out = Command::new("bird")
        .arg("-p")
        .arg("-c")
        .arg(&path)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| BgpError::Config {
            speaker: speaker.role(plan),
            path: path.clone(),
            message: format!("cannot run bird -p: {e}"),
        })?;
    if !out.status.success() {
        return Err(BgpError::Config {
            speaker: speaker.role(plan),
            path,
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(files)
}

/// Starts `speaker`'s BIRD (configuration already written) inside its namespace, as a child
/// of the run's supervisor; returns its pid. Does not wait for it.
pub fn spawn(ctx: &Context<'_>, speaker: Speaker) -> harness::Result<u32> {
    let plan = ctx.plan;
    let files = BirdFiles::of(plan.run_id(), plan, speaker);
    // A control socket left by an earlier instance (a restart) would look like readiness.
    let _ = fs::remove_file(files.socket());
    let stderr = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(files.stderr())
        .map_err(io(&files.stderr()))?;
    let mut cmd = Command::new("bird");
    cmd.arg("-f")
        .arg("-c")
        .arg(files.config())
        .arg("-s")
        .arg(files.socket())
        .arg("-P")
        .arg(files.pid())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    let netns = speaker.netns(plan);
    ctx.procs
        .spawn(ctx.host(&netns), ctx.exe, cmd, &speaker.what(plan))
}

/// Waits until every started BIRD has opened its control socket (it does so once its
/// configuration is loaded); a BIRD that exits instead is reported with its log.
pub fn wait_ready(
    plan: &Plan,
    started: &[(Speaker, u32)],
    limit: Duration,
) -> Result<(), BgpError> {
    let deadline = Instant::now() + limit;
    let mut waiting: Vec<(Speaker, u32)> = started.to_vec();
    loop {
        let mut still = Vec::new();
        for (speaker, pid) in waiting {
            let files = BirdFiles::of(plan.run_id(), plan, speaker);
            if !alive(pid) {
                return Err(not_running(plan, speaker, "exited at startup"));
            }
            if !files.socket().exists() {
                still.push((speaker, pid));
            }
        }
        if still.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let (speaker, _) = still[0];
            return Err(not_running(
                plan,
                speaker,
                &format!(
                    "did not open its control socket within {} s",
                    limit.as_secs()
                ),
            ));
        }
        waiting = still;
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn not_running(plan: &Plan, speaker: Speaker, what: &str) -> BgpError {
    let files = BirdFiles::of(plan.run_id(), plan, speaker);
    let tail = |p: PathBuf| {
        fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join(" | ")
    };
    let mut log = tail(files.stderr());
    let more = tail(files.log());
    if !more.is_empty() {
        log = format!("{log} | {more}");
    }
    BgpError::NotRunning {
        speaker: speaker.role(plan),
        netns: speaker.netns(plan),
        what: what.to_string(),
        log: if log.trim_matches([' ', '|']).is_empty() {
            format!("(empty; see {})", files.dir.display())
        } else {
            log
        },
    }
}

/// Whether process `pid` exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.trim_start().starts_with('Z'))
            .unwrap_or(true),
        Err(_) => false,
    }
}

/// One BGP protocol as `birdc show protocols` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpProtocol {
    /// Protocol name (`peer_n1`).
    pub name: String,
    /// BIRD's state column (`up`, `start`).
    pub state: String,
    /// The info column (`Established`, `Connect`, `Active  Socket: ...`).
    pub info: String,
}

impl BgpProtocol {
    /// Whether the session is up.
    pub fn established(&self) -> bool {
        self.info.starts_with("Established")
    }
}

/// Parses `birdc show protocols`: keeps the BGP rows.
///
/// ```text
/// Name       Proto      Table      State  Since         Info
/// peer_n1    BGP        ---        up     10:39:12.400  Established
/// ```
pub fn parse_protocols(text: &str) -> Vec<BgpProtocol> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next()?;
            if words.next()? != "BGP" {
                return None;
            }
            let _table = words.next()?;
            let state = words.next()?.to_string();
            let _since = words.next();
            let info = words.collect::<Vec<_>>().join(" ");
            Some(BgpProtocol {
                name: name.to_string(),
                state,
                info,
            })
        })
        .collect()
}

/// Asks a BIRD for its BGP sessions through its control socket (`birdc -s SOCK show
/// protocols`). `birdc` only talks to a unix socket: it needs no namespace.
pub fn show_protocols(socket: &Path) -> Result<Vec<BgpProtocol>, BgpError> {
    let fail = |message: String| BgpError::Birdc {
        socket: socket.to_path_buf(),
        message,
    };
    let out = Command::new("birdc")
        .arg("-s")
        .arg(socket)
        .args(["show", "protocols"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| fail(format!("cannot run birdc: {e}")))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || !text.contains("BIRD") {
        return Err(fail(format!(
            "{}{}",
            text.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(parse_protocols(&text))
}
