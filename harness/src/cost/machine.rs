//! CPU time of the whole machine, from `/proc/stat`.

use std::fs;

use serde::{Deserialize, Serialize};

/// Cumulative CPU time over all CPUs, in nanoseconds (from clock ticks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuTimes {
    /// Number of CPUs (`cpuN` lines).
    pub cpus: u32,
    /// user + nice + system + irq + softirq. Steal is left out: it is time the hypervisor
    /// gave to someone else, not work done here.
    pub busy_ns: u64,
    /// softirq alone: where most of the kernel's packet processing runs.
    pub softirq_ns: u64,
}

impl CpuTimes {
    /// Reads `/proc/stat` now.
    pub fn now() -> Result<CpuTimes, String> {
        let text = fs::read_to_string("/proc/stat").map_err(|e| format!("/proc/stat: {e}"))?;
        parse(&text, clock_ticks_per_s()).ok_or_else(|| "/proc/stat: unexpected format".into())
    }

    /// What was used between `self` (earlier) and `later`.
    pub fn until(&self, later: &CpuTimes) -> CpuTimes {
        CpuTimes {
            cpus: later.cpus,
            busy_ns: later.busy_ns.saturating_sub(self.busy_ns),
            softirq_ns: later.softirq_ns.saturating_sub(self.softirq_ns),
        }
    }
}

fn clock_ticks_per_s() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 {
        hz as u64
    } else {
        100
    }
}

/// Parses the aggregate `cpu` line: `cpu user nice system idle iowait irq softirq steal ...`.
fn parse(text: &str, hz: u64) -> Option<CpuTimes> {
    let mut cpus = 0;
    let mut total = None;
    for line in text.lines() {
        let mut f = line.split_whitespace();
        match f.next() {
            Some("cpu") => {
                let v: Vec<u64> = f.take(7).filter_map(|x| x.parse().ok()).collect();
                if v.len() < 7 {
                    return None;
                }
                // In u128: a many-CPU host's busy ticks times 10^9 overflow u64 within months.
                let ns = |ticks: u64| (u128::from(ticks) * 1_000_000_000 / u128::from(hz)) as u64;
                total = Some((ns(v[0] + v[1] + v[2] + v[5] + v[6]), ns(v[6])));
            }
            Some(name) if name.starts_with("cpu") => cpus += 1,
            _ => {}
        }
    }
    let (busy_ns, softirq_ns) = total?;
    Some(CpuTimes {
        cpus,
        busy_ns,
        softirq_ns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_aggregate_line() {
        let text = "cpu  100 5 50 1000 7 3 20 9 0 0\ncpu0 50 2 25 500 3 1 10 4 0 0\n\
                    cpu1 50 3 25 500 4 2 10 5 0 0\nintr 1 2 3\n";
        let t = parse(text, 100).unwrap();
        assert_eq!(t.cpus, 2);
        // user 100 + nice 5 + system 50 + irq 3 + softirq 20 = 178 ticks of 10 ms.
        assert_eq!(t.busy_ns, 1_780_000_000);
        assert_eq!(t.softirq_ns, 200_000_000);
        let later = CpuTimes {
            busy_ns: 2_000_000_000,
            ..t
        };
        assert_eq!(t.until(&later).busy_ns, 220_000_000);
        assert!(parse("cpu 1 2\n", 100).is_none());
        assert!(CpuTimes::now().unwrap().cpus >= 1);
    }
}
