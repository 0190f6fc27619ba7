//! When an external tool server listens: its own line saying so, then its socket in this
//! network namespace's `/proc/thread-self/net` tables (see the module docs of
//! [`super`], "Server"). The agent prints `ready <port>` only after both, and makes no probe
//! connection, since iperf3 would count one as a failed test.

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::task::Generator;

use super::process::Event;

/// How the wait for a server's listening line ended.
pub(super) enum ReadyWait {
    Ready,
    Exited,
    TimedOut,
}

/// Reads the server's lines until its listening line, the end of both pipes (it exited), or
/// the deadline.
pub(super) fn wait_for_ready_line(
    generator: Generator,
    rx: &Receiver<Event>,
    deadline: Instant,
) -> ReadyWait {
    let mut open = 2;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Event::Line(line)) if is_ready_line(generator, &line) => return ReadyWait::Ready,
            Ok(Event::Line(_)) => {}
            Ok(Event::Closed(..)) => {
                open -= 1;
                if open == 0 {
                    return ReadyWait::Exited;
                }
            }
            Err(RecvTimeoutError::Timeout) => return ReadyWait::TimedOut,
            Err(RecvTimeoutError::Disconnected) => return ReadyWait::Exited,
        }
    }
}

/// Whether `line` is the server's sign that it listens: iperf3's `Server listening on PORT`,
/// sockperf's `using recvfrom() to block on socket(s)` (printed after bind and listen; its
/// earlier `listen on:` line comes before the bind).
fn is_ready_line(generator: Generator, line: &str) -> bool {
    match generator {
        Generator::Iperf3 => line.contains("Server listening on"),
        Generator::Sockperf => line.contains("to block on socket"),
        Generator::Cnbench => false,
    }
}

/// Waits until a socket on `port` shows in this namespace's `/proc/thread-self/net` tables:
/// LISTEN for TCP, bound (state 07) for UDP. True at once if those tables cannot be read
/// (the tool's line is then the only sign).
pub(super) fn wait_bound(port: u16, tcp: bool, deadline: Instant) -> bool {
    let (files, state) = if tcp {
        (["tcp", "tcp6"], "0A")
    } else {
        (["udp", "udp6"], "07")
    };
    loop {
        let mut readable = false;
        for f in files {
            if let Ok(table) = std::fs::read_to_string(format!("/proc/thread-self/net/{f}")) {
                readable = true;
                if proc_net_has(&table, port, state) {
                    return true;
                }
            }
        }
        if !readable {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether a `/proc/net/{tcp,udp}[6]` table has a socket with local port `port` in `state`
/// (two hex digits: `0A` LISTEN, `07` for an unconnected UDP socket).
fn proc_net_has(table: &str, port: u16, state: &str) -> bool {
    table.lines().skip(1).any(|line| {
        let mut fields = line.split_whitespace();
        let local = fields.nth(1);
        let st = fields.nth(1);
        let local_port = local
            .and_then(|l| l.rsplit_once(':'))
            .and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
        local_port == Some(port) && st == Some(state)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::external::parse::strip_ansi;

    #[test]
    fn ready_lines() {
        assert!(is_ready_line(
            Generator::Iperf3,
            "Server listening on 5201 (test #1)"
        ));
        assert!(!is_ready_line(Generator::Iperf3, "-----------"));
        let before_bind = "sockperf: [SERVER] listen on:";
        assert!(!is_ready_line(Generator::Sockperf, before_bind));
        let after_bind = strip_ansi("sockperf: [tid 9088] using recvfrom() to block on socket(s)");
        assert!(is_ready_line(Generator::Sockperf, &after_bind));
    }

    #[test]
    fn proc_net_tables() {
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:14B5 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0\n   1: 0100007F:C350 0100007F:14B5 01 00000000:00000000 00:00000000 00000000     0        0 12346 1\n";
        assert!(proc_net_has(tcp, 5301, "0A"));
        assert!(!proc_net_has(tcp, 5301, "07"));
        assert!(!proc_net_has(tcp, 50000, "0A"));
        let udp6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n  100: 00000000000000000000000001000000:2B67 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 5555 2 0000000000000000 0\n";
        assert!(proc_net_has(udp6, 11111, "07"));
    }
}
