//! What a role process costs: CPU time, syscalls, and the syscalls that move
//! packet data across the user/kernel boundary ("crossings"), each divided by the packets
//! that role moved. Syscalls are counted with the `raw_syscalls:sys_enter` tracepoint through
//! `perf_event_open`, one counter per thread of the process (no external perf binary).
//! Tracepoints fire in kernel mode, so the counters include kernel events; they are global
//! across namespaces, so they are attached by thread id.

use std::fs;

use perf_event::events::{Software, Tracepoint};
use perf_event::{Builder, Counter};

use super::{set_filter, tracepoint_id};

/// Syscalls that move packet data between a process and the kernel.
const DATA_SYSCALLS: &[libc::c_long] = &[
    libc::SYS_read,
    libc::SYS_write,
    libc::SYS_readv,
    libc::SYS_writev,
    libc::SYS_sendto,
    libc::SYS_recvfrom,
    libc::SYS_sendmsg,
    libc::SYS_recvmsg,
    libc::SYS_sendmmsg,
    libc::SYS_recvmmsg,
];

/// Syscall counters on every thread of one process.
pub struct SyscallCounter {
    all: Vec<Counter>,
    data: Vec<Counter>,
}

fn counter(id: u64, tid: i32, filter: Option<&str>) -> Result<Counter, String> {
    let mut c = Builder::new(Tracepoint::with_id(id))
        .observe_pid(tid)
        .any_cpu()
        .inherit(true)
        .include_kernel()
        .enabled(false)
        .build()
        .map_err(|e| format!("perf_event_open on thread {tid}: {e}"))?;
    if let Some(f) = filter {
        set_filter(&c, f)?;
    }
    c.enable().map_err(|e| format!("enable counter: {e}"))?;
    Ok(c)
}

impl SyscallCounter {
    /// Starts counting the syscalls of every current thread of `pid` (and of threads it
    /// starts from now on).
    pub fn attach(pid: u32) -> Result<SyscallCounter, String> {
        let id = tracepoint_id("raw_syscalls", "sys_enter")?;
        let filter = DATA_SYSCALLS
            .iter()
            .map(|n| format!("id == {n}"))
            .collect::<Vec<_>>()
            .join(" || ");
        let mut all = Vec::new();
        let mut data = Vec::new();
        let mut first_error = None;
        for tid in threads(pid) {
            match (counter(id, tid, None), counter(id, tid, Some(&filter))) {
                (Ok(a), Ok(d)) => {
                    all.push(a);
                    data.push(d);
                }
                // A thread that exited between listing and attaching made no more syscalls.
                (Err(e), _) | (_, Err(e)) => {
                    if std::path::Path::new(&format!("/proc/{pid}/task/{tid}")).exists() {
                        first_error.get_or_insert(e);
                    }
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        if all.is_empty() {
            return Err(format!("process {pid} has no threads (gone?)"));
        }
        Ok(SyscallCounter { all, data })
    }

    /// `(all syscalls, data syscalls)` so far; None when a counter cannot be read (a count
    /// missing one thread would be silently low).
    pub fn read(&mut self) -> Option<(u64, u64)> {
        let sum =
            |v: &mut Vec<Counter>| -> Option<u64> { v.iter_mut().map(|c| c.read().ok()).sum() };
        Some((sum(&mut self.all)?, sum(&mut self.data)?))
    }
}

/// CPU time of a process from the moment it is attached, counted by the kernel: a
/// `task-clock` software counter on each of its threads, inherited by the threads and
/// processes it starts. Unlike `/proc/<pid>`, the counters stay readable after the process
/// has exited and been reaped: a client that exits right after its result line is still
/// measured when the harness's request reaches a node agent over a slow link.
pub struct TaskClock {
    per_thread: Vec<Counter>,
}

impl TaskClock {
    /// Starts counting the CPU time of every current thread of `pid` (and of the threads
    /// and processes it starts from now on).
    pub fn attach(pid: u32) -> Result<TaskClock, String> {
        let mut per_thread = Vec::new();
        for tid in threads(pid) {
            let built = Builder::new(Software::TASK_CLOCK)
                .observe_pid(tid)
                .any_cpu()
                .inherit(true)
                .include_kernel()
                .build()
                .and_then(|mut c| c.enable().map(|_| c));
            match built {
                Ok(c) => per_thread.push(c),
                // A thread that exited between listing and attaching uses no more CPU.
                Err(e) => {
                    if std::path::Path::new(&format!("/proc/{pid}/task/{tid}")).exists() {
                        return Err(format!("perf_event_open task-clock on thread {tid}: {e}"));
                    }
                }
            }
        }
        if per_thread.is_empty() {
            return Err(format!("process {pid} has no threads (gone?)"));
        }
        Ok(TaskClock { per_thread })
    }

    /// CPU time since attaching, in nanoseconds; None when a counter cannot be read.
    pub fn read(&mut self) -> Option<u64> {
        self.per_thread.iter_mut().map(|c| c.read().ok()).sum()
    }
}

/// Thread ids of a process.
fn threads(pid: u32) -> Vec<i32> {
    fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// CPU time used so far by a process and every process it started, in nanoseconds. For one
/// process: the larger of the sum over its live threads' `schedstat` (nanosecond precision,
/// but a thread that already exited is gone) and its `stat` utime+stime (includes exited
/// threads, but in clock ticks of 10 ms); a server's per-connection thread may exit before
/// the repetition's counters are read. Children that exited and were waited for are in its
/// `stat` cutime+cstime; live children (an external generator's iperf3) are added from their
/// own counters, so a role's CPU is that of everything it runs.
pub fn cpu_ns(pid: u32) -> Option<u64> {
    let tids = threads(pid);
    if tids.is_empty() {
        return None;
    }
    let live: u64 = tids
        .iter()
        .filter_map(|t| {
            fs::read_to_string(format!("/proc/{pid}/task/{t}/schedstat"))
                .ok()?
                .split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    // A process gone between listing its threads and reading its stat has no figure.
    let (own, reaped_children) = stat_cpu_ns(pid)?;
    let children: u64 = tids
        .iter()
        .filter_map(|t| fs::read_to_string(format!("/proc/{pid}/task/{t}/children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|c| c.parse::<u32>().ok())
                .collect::<Vec<_>>()
        })
        .filter_map(cpu_ns)
        .sum();
    Some(live.max(own) + reaped_children + children)
}

/// CPU time of `pid` from `/proc/<pid>/stat`, in nanoseconds (clock-tick precision): its
/// own (utime + stime, exited threads included) and that of its children it reaped
/// (cutime + cstime: the programs it ran and waited for); fields 14 to 17 of the file.
pub fn stat_cpu_ns(pid: u32) -> Option<(u64, u64)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the command name, field 3 is index 0: utime is field 14 (index 11).
    let field = |i: usize| fields.get(i)?.parse::<u64>().ok();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as u64 } else { 100 };
    let ns = |ticks: u64| (u128::from(ticks) * 1_000_000_000 / u128::from(hz)) as u64;
    Some((ns(field(11)? + field(12)?), ns(field(13)? + field(14)?)))
}

/// Resident memory of `pid` (`VmRSS` of `/proc/<pid>/status`), in bytes.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Open file descriptors of `pid` (entries of `/proc/<pid>/fd`).
pub fn open_fds(pid: u32) -> Option<u64> {
    Some(fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64)
}
