//! CPU pinning. On the reference VMs a round trip that wakes the other (halted) vCPU costs
//! about 60 µs, which swamps datapath differences, so every agent pins itself and the harness
//! records the placement.

use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
use nix::unistd::Pid;

use crate::error::WorkloadError;

/// Pins the calling thread to `cpu` with `sched_setaffinity`. Threads it starts afterwards
/// inherit the affinity, so pin before spawning (the agent pins its main thread first).
pub fn pin_to_cpu(cpu: u32) -> Result<(), WorkloadError> {
    let fail = |source: nix::errno::Errno| WorkloadError::Pin {
        cpu,
        source: source.into(),
        allowed: describe(&allowed_cpus()),
    };
    let mut set = CpuSet::new();
    set.set(cpu as usize).map_err(fail)?;
    // Pid 0: the calling thread (Linux affinity is per thread).
    sched_setaffinity(Pid::from_raw(0), &set).map_err(fail)
}

/// The CPUs the calling thread may currently run on, ascending. Empty if the kernel would not
/// say.
pub fn allowed_cpus() -> Vec<u32> {
    let Ok(set) = sched_getaffinity(Pid::from_raw(0)) else {
        return Vec::new();
    };
    (0..CpuSet::count())
        .filter(|&i| set.is_set(i).unwrap_or(false))
        .map(|i| i as u32)
        .collect()
}

fn describe(cpus: &[u32]) -> String {
    if cpus.is_empty() {
        return "(unknown)".into();
    }
    cpus.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinning_to_an_impossible_cpu_names_the_allowed_ones() {
        let err = pin_to_cpu(100_000).unwrap_err().to_string();
        assert!(err.contains("CPU 100000"), "{err}");
        assert!(err.contains("choose one of those"), "{err}");
    }

    #[test]
    fn pinning_to_an_allowed_cpu_works() {
        // On a dedicated thread, so the test runner's threads keep their affinity.
        std::thread::spawn(|| {
            let cpus = allowed_cpus();
            assert!(!cpus.is_empty());
            let last = *cpus.last().unwrap();
            pin_to_cpu(last).unwrap();
            assert_eq!(allowed_cpus(), vec![last]);
        })
        .join()
        .unwrap();
    }
}
