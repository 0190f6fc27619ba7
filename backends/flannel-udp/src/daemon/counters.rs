//! What the daemon dropped, and why. Forwarded packets are not counted here: the kernel
//! already counts them on `flannel0` (`ip -s link`) and on the socket, and a counter per
//! packet would be one more cache line shared between the two directions' threads.

use std::sync::atomic::{AtomicU64, Ordering};

use super::table::addr;

/// Drop counters, shared by both directions.
#[derive(Debug, Default)]
pub struct Drops {
    /// Node role, for messages.
    node: String,
    /// Packets from the TUN whose destination is in no remote block.
    pub no_route: AtomicU64,
    /// Packets (either side) that are not IPv4, or larger than the TUN MTU.
    pub invalid: AtomicU64,
    /// Datagrams the kernel refused to send (buffer full, no route to the peer).
    pub send_failed: AtomicU64,
    /// Packets the TUN refused to take.
    pub write_failed: AtomicU64,
}

impl Drops {
    /// Counters of the daemon on `node`.
    pub fn new(node: &str) -> Drops {
        Drops {
            node: node.into(),
            ..Default::default()
        }
    }

    /// Counts a packet to `dst` that no remote node owns; says so on stderr at the 1st,
    /// 2nd, 4th, 8th, ... so a flood does not flood the log.
    pub fn no_route(&self, dst: u32) {
        let n = self.no_route.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_power_of_two() {
            eprintln!(
                "flannel-udp daemon on {}: dropped {n} packet(s) with no route (latest to {})",
                self.node,
                addr(dst)
            );
        }
    }

    /// Counts one more drop in `c`, saying why on stderr at powers of two.
    pub fn count(&self, c: &AtomicU64, why: impl FnOnce() -> String) {
        let n = c.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_power_of_two() {
            eprintln!(
                "flannel-udp daemon on {}: {n} packet(s) dropped: {}",
                self.node,
                why()
            );
        }
    }
}
