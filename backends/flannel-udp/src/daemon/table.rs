//! The forwarding table: destination pod IP -> the owning node's daemon. flanneld keeps the
//! same map (subnet lease -> public IP); here it is fixed for the life of the daemon.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};

use crate::config::DaemonConfig;

/// Remote pod blocks, all of one size, to the socket address of their node's daemon.
#[derive(Debug)]
pub struct Table {
    /// Netmask of a block, as a host-order integer.
    mask: u32,
    /// Block network (host order) -> index into `addrs`.
    blocks: HashMap<u32, usize>,
    /// The peers' daemons, ready for `sendto`/`sendmmsg` without conversion per packet.
    addrs: Vec<libc::sockaddr_in>,
    /// The same, for messages.
    peers: Vec<SocketAddrV4>,
}

impl Table {
    /// The table of a (validated) configuration.
    pub fn new(cfg: &DaemonConfig) -> Table {
        let prefix = cfg.peers.first().map_or(32, |p| p.block.prefix_len());
        let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
        let mut t = Table {
            mask,
            blocks: HashMap::new(),
            addrs: Vec::new(),
            peers: Vec::new(),
        };
        for p in &cfg.peers {
            let to = SocketAddrV4::new(p.node_ip, cfg.port);
            t.blocks
                .insert(u32::from(p.block.network()) & mask, t.addrs.len());
            t.addrs.push(sockaddr(to));
            t.peers.push(to);
        }
        t
    }

    /// The daemon owning `dst`'s block, as an index for [`Table::sockaddr`].
    #[inline]
    pub fn lookup(&self, dst: u32) -> Option<usize> {
        self.blocks.get(&(dst & self.mask)).copied()
    }

    /// The socket address of peer `i`.
    #[inline]
    pub fn sockaddr(&self, i: usize) -> &libc::sockaddr_in {
        &self.addrs[i]
    }

    /// Peer `i`, for messages.
    pub fn peer(&self, i: usize) -> SocketAddrV4 {
        self.peers[i]
    }
}

/// `to` as the kernel's `struct sockaddr_in`.
pub fn sockaddr(to: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: to.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*to.ip()).to_be(),
        },
        sin_zero: [0; 8],
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

/// `dst` as an address, for messages.
pub fn addr(dst: u32) -> Ipv4Addr {
    Ipv4Addr::from(dst)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Peer;
    use crate::DatapathMode;

    #[test]
    fn finds_the_node_owning_a_block() {
        let cfg = DaemonConfig {
            node: "n0".into(),
            node_ip: "10.168.0.1".parse().unwrap(),
            port: 8285,
            pod_network: "100.96.0.0/16".parse().unwrap(),
            peers: vec![
                Peer {
                    block: "100.96.1.0/24".parse().unwrap(),
                    node_ip: "10.168.0.2".parse().unwrap(),
                },
                Peer {
                    block: "100.96.2.0/24".parse().unwrap(),
                    node_ip: "10.168.0.3".parse().unwrap(),
                },
            ],
            tun: "flannel0".into(),
            mtu: 1472,
            datapath: DatapathMode::Faithful,
            cpu: None,
        };
        let t = Table::new(&cfg);
        let ip = |s: &str| u32::from(s.parse::<Ipv4Addr>().unwrap());
        assert_eq!(
            t.lookup(ip("100.96.2.7")).map(|i| t.peer(i).to_string()),
            Some("10.168.0.3:8285".into())
        );
        assert_eq!(t.sockaddr(0).sin_port, 8285u16.to_be());
        assert_eq!(
            t.lookup(ip("100.96.0.2")),
            None,
            "the node's own block is cni0's"
        );
        assert_eq!(t.lookup(ip("10.1.1.1")), None);
        let mut pkt = [0u8; 20];
        pkt[0] = 0x45;
        pkt[16..20].copy_from_slice(&[100, 96, 1, 2]);
        assert_eq!(ipv4_destination(&pkt), Some(ip("100.96.1.2")));
        pkt[0] = 0x60;
        assert_eq!(ipv4_destination(&pkt), None);
        assert_eq!(ipv4_destination(&pkt[..10]), None);
    }
}
