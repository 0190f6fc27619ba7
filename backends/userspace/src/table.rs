//! The forwarding table: destination pod IP → the node owning its block. flanneld keeps the
//! same map (subnet lease → public IP); here it is fixed for the life of the daemon, and every
//! block has one size, so a lookup is one mask and one hash probe.

use std::collections::HashMap;

use crate::config::TunnelConfig;

/// Remote pod blocks, all of one size, each to what the daemon sends to (a socket address,
/// ready for `sendto` without conversion per packet).
#[derive(Debug)]
pub struct BlockTable<T> {
    /// Netmask of a block, as a host-order integer.
    mask: u32,
    /// Block network (host order) → index into `to`.
    blocks: HashMap<u32, usize>,
    /// Where each block's packets go.
    to: Vec<T>,
}

impl<T> BlockTable<T> {
    /// The table of a (validated) configuration; `to` makes each peer's destination.
    pub fn new(cfg: &TunnelConfig, to: impl Fn(&crate::Peer) -> T) -> BlockTable<T> {
        let prefix = cfg.peers.first().map_or(32, |p| p.block.prefix_len());
        let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
        let mut t = BlockTable {
            mask,
            blocks: HashMap::new(),
            to: Vec::new(),
        };
        for p in &cfg.peers {
            t.blocks
                .insert(u32::from(p.block.network()) & mask, t.to.len());
            t.to.push(to(p));
        }
        t
    }

    /// The peer owning `dst`'s block (host order), as an index for [`BlockTable::get`].
    #[inline]
    pub fn lookup(&self, dst: u32) -> Option<usize> {
        self.blocks.get(&(dst & self.mask)).copied()
    }

    /// Peer `i`'s destination.
    #[inline]
    pub fn get(&self, i: usize) -> &T {
        &self.to[i]
    }

    /// Every destination, in the configuration's order.
    pub fn all(&self) -> &[T] {
        &self.to
    }
}

/// The destination of an IPv4 packet (host order), or None if `pkt` is not one: a TUN
/// without packet information hands over bare IP packets, IPv6 ones included.
#[inline]
pub fn ipv4_destination(pkt: &[u8]) -> Option<u32> {
    if pkt.len() < 20 || pkt[0] >> 4 != 4 {
        return None;
    }
    Some(u32::from_be_bytes([pkt[16], pkt[17], pkt[18], pkt[19]]))
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    #[test]
    fn finds_the_node_owning_a_block() {
        let cfg = crate::config::tests::config();
        let t = BlockTable::new(&cfg, |p| p.node_ip);
        let ip = |s: &str| u32::from(s.parse::<Ipv4Addr>().unwrap());
        assert_eq!(
            t.lookup(ip("100.96.2.7")).map(|i| t.get(i).to_string()),
            Some("10.168.0.3".into())
        );
        assert_eq!(
            t.lookup(ip("100.96.0.2")),
            None,
            "the node's own block is cni0's"
        );
        assert_eq!(t.lookup(ip("10.1.1.1")), None);
        assert_eq!(t.all().len(), 2);
        let mut pkt = [0u8; 20];
        pkt[0] = 0x45;
        pkt[16..20].copy_from_slice(&[100, 96, 1, 2]);
        assert_eq!(ipv4_destination(&pkt), Some(ip("100.96.1.2")));
        pkt[0] = 0x60;
        assert_eq!(ipv4_destination(&pkt), None);
        assert_eq!(ipv4_destination(&pkt[..10]), None);
    }
}
