//! The churn prober on another machine: for nodes served by an agent (the VM and SSH
//! substrates), each observer's probing runs on its node's machine, in a
//! `cnbench churn-probe` process the agent starts ([`serve`]), and the harness drives it
//! over the process's stdin and stdout ([`RemoteProber`]).
//!
//! Why there: the prober echoes every millisecond and times the answers to the
//! microsecond; across the agent's channel (an SSH session, a VM's serial port) each echo
//! would take a round trip of its own and the times would be the channel's. So the same
//! [`Prober`] as on this machine runs next to the observer, and only what to watch and when
//! it happened cross the channel, one JSON line each:
//!
//! - to the prober: `{"watch":{"id":7,"ip":"10.20.1.9","kind":"reach","since_realtime_ns":…}}`
//!   and `{"forget":{"id":7}}`;
//! - from it: `"ready"` once its sockets are open, then `{"done":{"id":7,"at_realtime_ns":…}}`.
//!
//! Times cross machines as `CLOCK_REALTIME` instants: the harness gives a watch's start on
//! the prober's clock (its own instant moved by the agent's measured clock offset,
//! [`crate::clock`]), and moves the answer back the same way, so each duration is the
//! difference of two readings of one clock, the prober's, and the offset cancels out (only
//! a start the offset's error puts in the prober's future is taken as "now" there).
//!
//! A watch reaches the prober a one-way trip of the channel after the harness issued it,
//! and only then is the target probed: a pod that answers (or falls silent) before that is
//! timed at the watch's arrival. Over a LAN that is well under a millisecond.
//!
//! The process runs in the observer's *node* namespace (which the agent can name on every
//! substrate: on a VM it is the agent's own) and opens the observer pod's sockets by the
//! pod's name (`/run/netns/<pod>`, where the agent made it), as [`Observer::open`] does here.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::probe::{Observer, Prober, TargetId, Watch};
use crate::clock::{realtime_ns, ClockOffset};
use crate::error::{HarnessError, Result};
use crate::host::Host;
use crate::netns::Netns;
use crate::remote::client::Next;
use crate::remote::RemoteProc;
use crate::signals;

/// The hidden subcommand that runs [`serve`].
pub const SUBCOMMAND: &str = "churn-probe";

/// How long a remote prober gets to open its sockets and say so.
const READY_WAIT: Duration = Duration::from_secs(15);

/// What the harness tells a remote prober, one JSON line each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeCommand {
    /// Watch `ip` for `kind`, timed from `since_realtime_ns` on the prober's clock.
    Watch {
        /// The harness's serial for the target.
        id: TargetId,
        /// The pod's address.
        ip: IpAddr,
        /// What it is watched for.
        kind: Watch,
        /// When its clock starts, `CLOCK_REALTIME` of the prober's machine, ns.
        since_realtime_ns: u64,
    },
    /// Stop watching target `id` (its time is no longer wanted).
    Forget {
        /// The harness's serial for the target.
        id: TargetId,
    },
}

/// What a remote prober tells the harness, one JSON line each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeEvent {
    /// Its sockets are open: it takes watches.
    Ready,
    /// Target `id` did what it was watched for at `at_realtime_ns` (the prober's clock).
    Done {
        /// The harness's serial for the target.
        id: TargetId,
        /// When, `CLOCK_REALTIME` of the prober's machine, ns.
        at_realtime_ns: u64,
    },
}

/// `cnbench churn-probe`: runs a [`Prober`] for the observer pod `pod` (a namespace under
/// `/run/netns`), in the node namespace this process was started in (named `node` in
/// messages), probing every `interval`; reads [`ProbeCommand`]s from `input` and writes
/// [`ProbeEvent`]s to `out` until `input` ends.
pub fn serve(
    pod: &str,
    node: &str,
    v6: bool,
    interval: Duration,
    input: impl BufRead + Send + 'static,
    out: &mut dyn Write,
) -> Result<()> {
    let pod_ns = Netns::open(pod)?;
    let node_ns = Netns::current(node)?;
    let prober = Prober::start(vec![Observer::open(&pod_ns, &node_ns, v6)?], interval)?;
    let write = |out: &mut dyn Write, e: &ProbeEvent| -> Result<()> {
        let line = serde_json::to_string(e).expect("an event serializes");
        writeln!(out, "{line}")
            .and_then(|_| out.flush())
            .map_err(|e| HarnessError::io("writing a churn probe event", e))
    };
    write(out, &ProbeEvent::Ready)?;
    // Commands are read on a thread of their own, so the loop below reports what is done
    // every interval whether or not a command comes.
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::Builder::new()
        .name("churn-probe-input".into())
        .spawn(move || {
            for line in input.lines().map_while(|l| l.ok()) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        })
        .map_err(|e| HarnessError::io("starting the churn probe's reader", e))?;
    // The harness's serial of each local target, and the prober's clock reading its start
    // was taken at.
    let mut by_local: HashMap<TargetId, (TargetId, u64)> = HashMap::new();
    let mut local_of: HashMap<TargetId, TargetId> = HashMap::new();
    let mut open = true;
    while open {
        let mut lines = Vec::new();
        match rx.recv_timeout(interval) {
            Ok(l) => lines.push(l),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => open = false,
        }
        lines.extend(rx.try_iter());
        for line in lines {
            let command: ProbeCommand =
                serde_json::from_str(&line).map_err(|e| HarnessError::Process {
                    what: "churn prober".into(),
                    netns: pod.into(),
                    message: format!("unreadable command {line:?}: {e}"),
                })?;
            match command {
                ProbeCommand::Watch {
                    id,
                    ip,
                    kind,
                    since_realtime_ns,
                } => {
                    let (now, now_rt) = (Instant::now(), realtime_ns());
                    let start_rt = start_here(since_realtime_ns, now_rt);
                    let since = now
                        .checked_sub(Duration::from_nanos(now_rt - start_rt))
                        .unwrap_or(now);
                    let local = prober.watch(ip, 0, kind, since);
                    by_local.insert(local, (id, start_rt));
                    local_of.insert(id, local);
                }
                ProbeCommand::Forget { id } => {
                    if let Some(local) = local_of.remove(&id) {
                        by_local.remove(&local);
                        prober.take(&[local]);
                    }
                }
            }
        }
        for (local, after) in prober.take_done() {
            let Some((id, start_rt)) = by_local.remove(&local) else {
                continue;
            };
            local_of.remove(&id);
            let at_realtime_ns = start_rt.saturating_add(after.as_nanos() as u64);
            write(out, &ProbeEvent::Done { id, at_realtime_ns })?;
        }
    }
    Ok(())
}

/// One observer's prober on its node's machine.
struct Remote {
    /// The node it runs on (for messages).
    node: String,
    /// The node machine's clock minus the harness's.
    clock: ClockOffset,
    proc: Arc<Mutex<RemoteProc>>,
    /// Command lines to its writer thread; none once stopping.
    commands: Mutex<Option<mpsc::Sender<String>>>,
    writer: Option<JoinHandle<()>>,
    /// Why it stopped serving, once it did.
    failed: Arc<Mutex<Option<String>>>,
}

/// A target as the harness keeps it.
struct RemoteTarget {
    observer: usize,
    /// Its start on the harness's clock (`CLOCK_REALTIME`, ns).
    since_rt: u64,
    /// How long after its start it did what it was watched for.
    done: Option<Duration>,
}

/// The harness's side of the remote probers: the same calls as [`Prober`], each target
/// watched by the prober on its observer's machine.
pub struct RemoteProber {
    observers: Vec<Remote>,
    targets: Mutex<HashMap<TargetId, RemoteTarget>>,
    serial: AtomicU32,
    interval: Duration,
}

/// Where one remote observer is: its pod's namespace name, and its node's host (the agent
/// that starts the prober in it).
pub struct RemoteObserver<'a> {
    /// The observer pod's namespace.
    pub pod: &'a str,
    /// The node the pod is on.
    pub node: &'a Host,
}

impl RemoteProber {
    /// Starts `cnbench churn-probe` for each of `observers` on its node's agent, probing
    /// every `interval` (ICMPv6 too with `v6`), and waits until each has its sockets open.
    pub fn start(
        observers: &[RemoteObserver<'_>],
        v6: bool,
        interval: Duration,
    ) -> Result<RemoteProber> {
        let mut started = Vec::new();
        for o in observers {
            let node = o.node.name().to_string();
            let agent = o.node.agent().ok_or_else(|| HarnessError::Unsupported {
                what: format!("a remote churn prober on {node}, which is on this machine"),
                fix: "report this: the probers are chosen by where the nodes are".into(),
            })?;
            let clock = o.node.clock_offset()?;
            let mut argv = vec![
                "cnbench".to_string(),
                SUBCOMMAND.into(),
                "--pod".into(),
                o.pod.into(),
                "--node".into(),
                node.clone(),
                "--interval-us".into(),
                interval.as_micros().to_string(),
            ];
            if v6 {
                argv.push("--v6".into());
            }
            let mut proc = agent.spawn(&node, argv, true, "churn prober")?;
            let failed = |message: String| HarnessError::Process {
                what: "churn prober".into(),
                netns: node.clone(),
                message,
            };
            let deadline = Instant::now() + READY_WAIT;
            loop {
                if signals::interrupted() {
                    return Err(HarnessError::Interrupted);
                }
                match proc.next_line(Duration::from_millis(50))? {
                    Next::Line(l) if parse(&l) == Some(ProbeEvent::Ready) => break,
                    Next::Line(l) => return Err(failed(format!("expected ready, got {l:?}"))),
                    Next::Ended => {
                        let (status, tail) = proc.exit().cloned().unwrap_or_default();
                        return Err(failed(format!(
                            "exited before it was ready ({status}): {tail}"
                        )));
                    }
                    Next::Nothing if Instant::now() >= deadline => {
                        return Err(failed(format!(
                            "not ready within {} s",
                            READY_WAIT.as_secs()
                        )))
                    }
                    Next::Nothing => {}
                }
            }
            let proc = Arc::new(Mutex::new(proc));
            let failed = Arc::new(Mutex::new(None));
            let (tx, rx) = mpsc::channel::<String>();
            let (p, f) = (Arc::clone(&proc), Arc::clone(&failed));
            // Writes go through a thread of their own: each is a call to the agent, a round
            // trip of its channel, which the pod adds (and removals) must not wait for.
            let writer = std::thread::Builder::new()
                .name("churn-probe-writer".into())
                .spawn(move || {
                    while let Ok(first) = rx.recv() {
                        // What queued meanwhile goes in the same write.
                        let mut data = first;
                        for more in rx.try_iter() {
                            data.push_str(&more);
                        }
                        let sent = lock(&p).write_stdin(&data);
                        if let Err(e) = sent {
                            lock(&f).get_or_insert(format!("its commands: {e}"));
                        }
                    }
                })
                .map_err(|e| HarnessError::io("starting a churn prober's writer", e))?;
            started.push(Remote {
                node,
                clock,
                proc,
                commands: Mutex::new(Some(tx)),
                writer: Some(writer),
                failed,
            });
        }
        Ok(RemoteProber {
            observers: started,
            targets: Mutex::new(HashMap::new()),
            serial: AtomicU32::new(0),
            interval,
        })
    }

    /// Watches `ip` from observer `observer` (its index in the list given to
    /// [`RemoteProber::start`]) for `watch`, timed from `since`. Returns at once: the
    /// command goes to the observer's machine in the background.
    pub fn watch(&self, ip: IpAddr, observer: usize, watch: Watch, since: Instant) -> TargetId {
        let id = self.serial.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        let since_rt = realtime_ns().saturating_sub(since.elapsed().as_nanos() as u64);
        lock(&self.targets).insert(
            id,
            RemoteTarget {
                observer,
                since_rt,
                done: None,
            },
        );
        let o = &self.observers[observer];
        self.send(
            o,
            &ProbeCommand::Watch {
                id,
                ip,
                kind: watch,
                since_realtime_ns: o.clock.to_remote(since_rt),
            },
        );
        id
    }

    fn send(&self, o: &Remote, command: &ProbeCommand) {
        let mut line = serde_json::to_string(command).expect("a command serializes");
        line.push('\n');
        if let Some(tx) = lock(&o.commands).as_ref() {
            let _ = tx.send(line);
        }
    }

    /// Reads what every prober reported so far; an error once one stopped serving.
    fn drain(&self) -> Result<()> {
        for o in &self.observers {
            let mut events = Vec::new();
            {
                let mut p = lock(&o.proc);
                loop {
                    match p.next_line(Duration::ZERO) {
                        Ok(Next::Line(l)) => events.push(l),
                        Ok(Next::Nothing) => break,
                        Ok(Next::Ended) => {
                            let (status, tail) = p.exit().cloned().unwrap_or_default();
                            lock(&o.failed).get_or_insert(format!("exited ({status}): {tail}"));
                            break;
                        }
                        Err(e) => {
                            lock(&o.failed).get_or_insert(e.to_string());
                            break;
                        }
                    }
                }
            }
            let mut t = lock(&self.targets);
            for l in events {
                let Some(ProbeEvent::Done { id, at_realtime_ns }) = parse(&l) else {
                    lock(&o.failed).get_or_insert(format!("unreadable event {l:?}"));
                    continue;
                };
                if let Some(x) = t.get_mut(&id) {
                    x.done
                        .get_or_insert(elapsed(o.clock, x.since_rt, at_realtime_ns));
                }
            }
            if let Some(why) = lock(&o.failed).clone() {
                return Err(HarnessError::Process {
                    what: "churn prober".into(),
                    netns: o.node.clone(),
                    message: why,
                });
            }
        }
        Ok(())
    }

    /// Waits until every target of `ids` is done, or `limit` passed, or an interruption; an
    /// error when a prober stopped serving (its targets would never be done).
    pub fn wait(&self, ids: &[TargetId], limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            self.drain()?;
            let pending = {
                let t = lock(&self.targets);
                ids.iter()
                    .any(|id| t.get(id).is_some_and(|x| x.done.is_none()))
            };
            if !pending || Instant::now() >= deadline || signals::interrupted() {
                return Ok(());
            }
            std::thread::sleep(self.interval.max(Duration::from_millis(1)));
        }
    }

    /// How long after its start each target of `ids` did what it was watched for (none:
    /// not within the wait), and forgets them, here and on their probers.
    pub fn take(&self, ids: &[TargetId]) -> Vec<Option<Duration>> {
        // Whatever arrived meanwhile counts; a prober that stopped shows at the next wait.
        let _ = self.drain();
        let taken: Vec<(TargetId, Option<RemoteTarget>)> = {
            let mut t = lock(&self.targets);
            ids.iter().map(|id| (*id, t.remove(id))).collect()
        };
        taken
            .into_iter()
            .map(|(id, x)| {
                let x = x?;
                if x.done.is_none() {
                    self.send(&self.observers[x.observer], &ProbeCommand::Forget { id });
                }
                x.done
            })
            .collect()
    }
}

impl Drop for RemoteProber {
    fn drop(&mut self) {
        for o in &mut self.observers {
            // Its writer ends with its channel; then the prober is stopped (its stdin
            // would end it too, but the agent is told directly).
            lock(&o.commands).take();
            if let Some(w) = o.writer.take() {
                let _ = w.join();
            }
            let _ = lock(&o.proc).stop(Duration::from_millis(500));
        }
    }
}

/// A watch's start on the prober's clock, given as `since_realtime_ns` and read there at
/// `now_rt`: a start in this clock's future (within the offset's error) is now.
fn start_here(since_realtime_ns: u64, now_rt: u64) -> u64 {
    since_realtime_ns.min(now_rt)
}

/// How long after `since_rt` (the harness's clock) a target was done, reported at
/// `at_realtime_ns` on a prober's clock that is `clock` from the harness's.
fn elapsed(clock: ClockOffset, since_rt: u64, at_realtime_ns: u64) -> Duration {
    Duration::from_nanos(clock.to_harness(at_realtime_ns).saturating_sub(since_rt))
}

fn parse(line: &str) -> Option<ProbeEvent> {
    serde_json::from_str(line).ok()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_events_are_one_json_line_each() {
        let w = ProbeCommand::Watch {
            id: 7,
            ip: "10.20.1.9".parse().unwrap(),
            kind: Watch::Withdrawal,
            since_realtime_ns: 42,
        };
        let line = serde_json::to_string(&w).unwrap();
        assert_eq!(
            line,
            r#"{"watch":{"id":7,"ip":"10.20.1.9","kind":"withdrawal","since_realtime_ns":42}}"#
        );
        assert_eq!(serde_json::from_str::<ProbeCommand>(&line).unwrap(), w);
        assert_eq!(
            serde_json::to_string(&ProbeCommand::Forget { id: 3 }).unwrap(),
            r#"{"forget":{"id":3}}"#
        );
        assert_eq!(parse(r#""ready""#), Some(ProbeEvent::Ready));
        assert_eq!(
            parse(r#"{"done":{"id":7,"at_realtime_ns":50}}"#),
            Some(ProbeEvent::Done {
                id: 7,
                at_realtime_ns: 50
            })
        );
        assert_eq!(parse("ready 7"), None);
    }

    #[test]
    fn a_duration_is_read_on_the_probers_clock_and_the_offset_cancels() {
        const MS: u64 = 1_000_000;
        let t0 = 1_796_542_700_000 * MS;
        // The prober's machine is 667 ms behind, measured to within 1 ms.
        let clock = ClockOffset {
            offset_ns: -667 * MS as i64,
            uncertainty_ns: MS,
        };
        // The watch leaves at t0 (the pod's add issued 3 ms before), arrives 5 ms later.
        let since_rt = t0 - 3 * MS;
        let since_there = clock.to_remote(since_rt);
        let start = start_here(since_there, clock.to_remote(t0 + 5 * MS));
        assert_eq!(start, since_there);
        // Reached 12 ms after the add was issued, on the prober's clock.
        assert_eq!(
            elapsed(clock, since_rt, start + 12 * MS),
            Duration::from_millis(12)
        );
        // The offset's error puts the start 1 ms in the prober's future: it starts now.
        assert_eq!(start_here(t0 + MS, t0), t0);
    }
}
