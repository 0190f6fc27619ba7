//! The processes a session starts: spawned from one long-lived thread, their output sent as
//! it comes, stopped by pid only while they are not yet reaped.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitid, Id, WaitPidFlag};
use nix::unistd::Pid;

use super::lock;
use super::session::{err, Session};
use crate::error::HarnessError;
use crate::netns::Netns;
use crate::process;
use crate::remote::protocol::{ExitRecord, FromAgent, RemoteError, Reply};

/// A process a session started.
pub(super) struct Running {
    pub(super) pid: u32,
    pub(super) stdin: Option<Arc<Mutex<ChildStdin>>>,
    /// Set by its reader thread when it has been reaped.
    pub(super) exit: Arc<ExitSlot>,
}

/// How a process ended, once it has been reaped, and the condvar its stoppers wait on. Its
/// lock is held by whoever signals the process and by whoever reaps it, never both at once.
pub(super) type ExitSlot = (Mutex<Option<ExitRecord>>, Condvar);

/// Waits for `child` to end and reaps it with `slot`'s lock held, then records how it ended.
///
/// It waits first without reaping (`WNOWAIT`): the child stays a zombie, so its pid and its
/// process group id cannot be given to another process while a [`stop`] holding the lock may
/// still signal them. Only then is the lock taken and the child reaped, so a stop sees either
/// an unreaped child or its record, never a pid that may already be a stranger's.
pub(super) fn reap(child: &mut Child, slot: &ExitSlot) -> ExitRecord {
    let pid = Pid::from_raw(child.id() as i32);
    while let Err(Errno::EINTR) = waitid(Id::Pid(pid), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT)
    {
    }
    let (m, cv) = slot;
    let mut done = lock(m);
    let record = child.wait().map(ExitRecord::from).unwrap_or_default();
    *done = Some(record);
    cv.notify_all();
    record
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
        let table = Arc::clone(&self.procs);
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
                let sent = out.send(&FromAgent::Output { proc_id: id, line });
                if sent.is_err() && out.dead().is_some() {
                    // Nobody hears it any more: the session is ending, and what stops the
                    // process needs no more of its output read.
                    break;
                }
            }
            // Reaped under the record's lock: from then on its pid may belong to another
            // process, and `stop` sees the record instead.
            let record = reap(&mut child, &exit);
            // A grandchild may hold stderr open: its tail is what arrived by then.
            let _ = err_ended.recv_timeout(Duration::from_secs(1));
            let stderr_tail = lock(&tail).join("\n");
            let _ = out.send(&FromAgent::Exited {
                proc_id: id,
                status: record,
                stderr_tail,
            });
            // It has ended and the harness has been told: it leaves the session's table, and
            // its stdin closes with it. Removed only after its `Exited` frame, so a stop or
            // write that finds it gone is answered after the harness already knows how it
            // ended.
            lock(&table).remove(&id);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The state letter of `/proc/<pid>/stat`, if the process is still there.
    fn state(pid: u32) -> Option<char> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // After the command name's closing parenthesis (a name may hold spaces).
        stat.rsplit_once(')')?.1.trim_start().chars().next()
    }

    #[test]
    fn an_exited_child_is_reaped_only_once_its_exit_record_lock_is_free() {
        let mut child = Command::new("sh").args(["-c", "exit 3"]).spawn().unwrap();
        let pid = child.id();
        let slot = Arc::new((Mutex::new(None), Condvar::new()));
        // Held as a stop holds it while it signals the process.
        let held = lock(&slot.0);
        let reaper = {
            let slot = Arc::clone(&slot);
            std::thread::spawn(move || reap(&mut child, &slot))
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while state(pid) != Some('Z') && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        // Give a reaper that does not wait for the lock time to reap it anyway.
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            state(pid),
            Some('Z'),
            "the exited child stays an unreaped zombie (its pid not reusable) while a stop \
             may still signal it"
        );
        drop(held);
        let record = reaper.join().unwrap();
        assert_eq!(record.code, Some(3));
        assert_eq!(*lock(&slot.0), Some(record));
        assert_eq!(state(pid), None, "reaped once the lock was free");
    }
}
