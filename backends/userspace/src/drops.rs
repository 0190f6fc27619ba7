//! What a daemon dropped, and why. Forwarded packets are not counted here: the kernel already
//! counts them on the TUN (`ip -s link`) and on the socket. Drops are rare events on a
//! working datapath, so one lock for the counters costs nothing where it matters; each
//! reason is logged at its 1st, 2nd, 4th, 8th, ... drop, so a flood does not flood the log.

use std::io::Write;
use std::sync::Mutex;

/// Drop counters by reason, shared by every thread of a daemon.
#[derive(Debug)]
pub struct Drops {
    /// `flannel-udp daemon on n0`, for the log.
    who: String,
    counts: Mutex<Vec<(&'static str, u64)>>,
}

impl Drops {
    /// Counters of `daemon` on `node`.
    pub fn new(daemon: &str, node: &str) -> Drops {
        Drops {
            who: format!("{daemon} daemon on {node}"),
            counts: Mutex::new(Vec::new()),
        }
    }

    /// Counts one more packet dropped for `why`; `detail` (the latest one's) is logged on
    /// stderr at powers of two. Returns the count for `why`.
    pub fn count(&self, why: &'static str, detail: impl FnOnce() -> String) -> u64 {
        let n = {
            let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
            match counts.iter_mut().find(|(w, _)| *w == why) {
                Some((_, n)) => {
                    *n += 1;
                    *n
                }
                None => {
                    counts.push((why, 1));
                    1
                }
            }
        };
        if n.is_power_of_two() {
            // Not eprintln!: it panics when stderr is gone (a daemon restarted by `cnbench
            // check` outlives that command's terminal), and a lost log line must not stop the
            // datapath.
            let _ = writeln!(
                std::io::stderr(),
                "{}: dropped {n} packet(s): {why} (latest: {})",
                self.who,
                detail()
            );
        }
        n
    }

    /// How many were dropped for `why`.
    pub fn get(&self, why: &str) -> u64 {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts
            .iter()
            .find(|(w, _)| *w == why)
            .map_or(0, |(_, n)| *n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_reason() {
        let d = Drops::new("test", "n0");
        assert_eq!(d.count("no route", || "to 1.2.3.4".into()), 1);
        assert_eq!(d.count("no route", || "to 1.2.3.5".into()), 2);
        assert_eq!(d.count("invalid", String::new), 1);
        assert_eq!(
            (d.get("no route"), d.get("invalid"), d.get("other")),
            (2, 1, 0)
        );
    }
}
