//! Device transmissions, counted with the `net:net_dev_xmit` tracepoint on every CPU.
//!
//! The tracepoint fires once per packet (skb) a device transmits, in whatever context does the
//! transmission (the sending process, softirq, a kernel thread), so it cannot be scoped by
//! pid. It carries the device name but not its namespace: the counters are filtered by the
//! names of the run's devices. A device of the same name elsewhere (the host's `eth0`) is
//! counted too, which is why the result also gives the run's own device counters as a
//! cross-check.

use perf_event::events::Tracepoint;
use perf_event::{Builder, Counter};

use super::{set_filter, tracepoint_id};

/// One `net:net_dev_xmit` counter per CPU, filtered by device name.
pub struct XmitCounter {
    per_cpu: Vec<Counter>,
}

/// The ftrace filter matching any of `names`.
fn filter(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("name == \"{n}\""))
        .collect::<Vec<_>>()
        .join(" || ")
}

impl XmitCounter {
    /// Starts counting transmissions by devices named any of `names`, on every online CPU.
    pub fn start(names: &[String]) -> Result<XmitCounter, String> {
        if names.is_empty() {
            return Err("no device names to count".into());
        }
        if names
            .iter()
            .any(|n| !n.chars().all(|c| c.is_ascii_graphic() && c != '"'))
        {
            return Err("a device name cannot be put in a tracepoint filter".into());
        }
        let id = tracepoint_id("net", "net_dev_xmit")?;
        let filter = filter(names);
        let cpus = online_cpus();
        let mut per_cpu = Vec::with_capacity(cpus.len());
        for cpu in cpus {
            let mut c = Builder::new(Tracepoint::with_id(id))
                .one_cpu(cpu)
                .any_pid()
                .include_kernel()
                .enabled(false)
                .build()
                .map_err(|e| format!("perf_event_open net:net_dev_xmit on CPU {cpu}: {e}"))?;
            set_filter(&c, &filter)?;
            c.enable()
                .map_err(|e| format!("enable net:net_dev_xmit on CPU {cpu}: {e}"))?;
            per_cpu.push(c);
        }
        Ok(XmitCounter { per_cpu })
    }

    /// Transmissions so far over all CPUs; None if a counter cannot be read.
    pub fn read(&mut self) -> Option<u64> {
        self.per_cpu.iter_mut().map(|c| c.read().ok()).sum()
    }
}

/// The online CPUs, from `/sys/devices/system/cpu/online` (`0-3,5`).
fn online_cpus() -> Vec<usize> {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap_or_default();
    let mut cpus = parse_cpu_list(text.trim());
    if cpus.is_empty() {
        let n = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        cpus = (0..n).collect();
    }
    cpus
}

fn parse_cpu_list(s: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
                    out.extend(a..=b);
                }
            }
            None => out.extend(part.parse::<usize>().ok()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_and_filters() {
        assert_eq!(parse_cpu_list("0-3,5"), vec![0, 1, 2, 3, 5]);
        assert_eq!(parse_cpu_list("0"), vec![0]);
        assert!(parse_cpu_list("").is_empty());
        assert_eq!(
            filter(&["eth0".into(), "cni0".into()]),
            "name == \"eth0\" || name == \"cni0\""
        );
        assert!(XmitCounter::start(&["bad\"name".into()]).is_err());
    }
}
