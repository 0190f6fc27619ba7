//! The processes a session starts: spawned from one long-lived thread, their output sent as
//! it comes, stopped by pid only while they are not yet reaped.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::lock;
use super::session::{err, Session};
use crate::error::HarnessError;
use crate::netns::Netns;
use crate::process;
use crate::remote::protocol::{write_frame, ExitRecord, FromAgent, RemoteError, Reply};

/// A process a session started.
pub(super) struct Running {
    pub(super) pid: u32,
    pub(super) stdin: Option<Arc<Mutex<ChildStdin>>>,
    /// Set by its reader thread when it has been reaped.
    pub(super) exit: Arc<(Mutex<Option<ExitRecord>>, Condvar)>,
}

impl Session {
    /// Starts a process and answers the call `id`: the reply goes out before any of the
    /// process's output, so the harness knows the process when its first line arrives.
    pub(super) fn spawn(&self, id: u64, netns: &str, argv: Vec<String>, stdin: bool, what: &str) {
        let result = self.start(netns, argv, stdin, what);
        let (result, go) = match result {
            Ok((reply, go)) => (Ok(reply), Some(go)),
            Err(e) => (Err(e), None),
        };
        self.reply(id, result);
        if let Some(go) = go {
            let _ = go.send(());
        }
    }

    fn start(
        &self,
        netns: &str,
        argv: Vec<String>,
        stdin: bool,
        what: &str,
    ) -> Result<(Reply, mpsc::Sender<()>), RemoteError> {
        let ns = self.ns(netns)?;
        let mut cmd = self.command(&argv)?;
        cmd.stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A group of its own, so a stop reaches whatever it started too.
            .process_group(0);
        let mut child = spawner(ns, cmd, what.to_string()).map_err(err)?;
        let pid = child.id();
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let exit = Arc::new((Mutex::new(None), Condvar::new()));
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        lock(&self.procs).insert(
            id,
            Running {
                pid,
                stdin: child.stdin.take().map(|s| Arc::new(Mutex::new(s))),
                exit: Arc::clone(&exit),
            },
        );
        let ending = self.closing.load(Ordering::SeqCst);
        // Its output waits for `go`, sent once the reply is written.
        let reply = Reply::Spawned { proc_id: id, pid };
        let out = Arc::clone(&self.out);
        let (go_tx, go_rx) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            let tail = Arc::new(Mutex::new(Vec::<String>::new()));
            let tail_w = Arc::clone(&tail);
            let (err_done, err_ended) = mpsc::channel::<()>();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
                    let mut t = lock(&tail_w);
                    t.push(line);
                    if t.len() > 20 {
                        t.remove(0);
                    }
                }
                let _ = err_done.send(());
            });
            let _ = go_rx.recv();
            for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
                let _ = write_frame(&mut **lock(&out), &FromAgent::Output { proc_id: id, line });
            }
            let record = child.wait().map(ExitRecord::from).unwrap_or_default();
            // Reaped: from here on its pid may belong to another process, so `stop` must
            // not signal it any more.
            let (m, cv) = &*exit;
            *lock(m) = Some(record);
            cv.notify_all();
            // A grandchild may hold stderr open: its tail is what arrived by then.
            let _ = err_ended.recv_timeout(Duration::from_secs(1));
            let stderr_tail = lock(&tail).join("\n");
            let _ = write_frame(
                &mut **lock(&out),
                &FromAgent::Exited {
                    proc_id: id,
                    status: record,
                    stderr_tail,
                },
            );
        });
        if ending {
            // Its output thread waits for `go`: let it run, so it reaps what `stop` kills.
            drop(go_tx);
            if let Some(r) = lock(&self.procs).remove(&id) {
                stop(&r, Duration::ZERO);
            }
            return Err(err("the session is ending"));
        }
        Ok((reply, go_tx))
    }
}

/// SIGTERM, then SIGKILL after `grace`; waits until its reader thread reaped it.
pub(super) fn stop(p: &Running, grace: Duration) -> ExitRecord {
    let (m, cv) = &*p.exit;
    // Its whole process group (it leads one): what it started goes with it. Signalled only
    // while it is not reaped, the lock held, so the id still names this group.
    let group = Pid::from_raw(-(p.pid as i32));
    {
        let done = lock(m);
        if done.is_none() {
            let _ = kill(group, Signal::SIGTERM);
        }
    }
    let deadline = Instant::now() + grace;
    let mut done = lock(m);
    while done.is_none() && Instant::now() < deadline {
        done = cv
            .wait_timeout(done, Duration::from_millis(10))
            .map(|(g, _)| g)
            .unwrap_or_else(|p| p.into_inner().0);
    }
    if done.is_none() {
        let _ = kill(group, Signal::SIGKILL);
        let deadline = Instant::now() + Duration::from_secs(5);
        while done.is_none() && Instant::now() < deadline {
            done = cv
                .wait_timeout(done, Duration::from_millis(10))
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }
    done.unwrap_or_default()
}

type SpawnJob = (
    Arc<Netns>,
    Command,
    String,
    mpsc::Sender<crate::error::Result<std::process::Child>>,
);

/// Starts processes from one thread that lives as long as the agent: `PR_SET_PDEATHSIG`
/// fires when the thread that forked a child exits, and call threads are short-lived.
fn spawner(
    ns: Arc<Netns>,
    cmd: Command,
    what: String,
) -> crate::error::Result<std::process::Child> {
    static JOBS: OnceLock<Mutex<mpsc::Sender<SpawnJob>>> = OnceLock::new();
    let jobs = JOBS.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnJob>();
        std::thread::spawn(move || {
            for (ns, cmd, what, reply) in rx {
                let _ = reply.send(process::spawn_in(&ns, cmd, &what));
            }
        });
        Mutex::new(tx)
    });
    let (tx, rx) = mpsc::channel();
    lock(jobs)
        .send((ns, cmd, what.clone(), tx))
        .map_err(|_| HarnessError::Process {
            what: what.clone(),
            netns: String::new(),
            message: "the agent's spawner thread is gone".into(),
        })?;
    rx.recv().map_err(|_| HarnessError::Process {
        what,
        netns: String::new(),
        message: "the agent's spawner thread is gone".into(),
    })?
}
