//! An ARP probe (RFC 5227 §2.1.1): whether an IPv4 address is already in use on a link,
//! asked before a node takes it on a network that cnbench does not own (the SSH substrate's
//! underlay is the user's own network).
//!
//! The probe is an ARP request with sender address 0.0.0.0, so it cannot poison any
//! neighbour's cache; any ARP packet whose sender address is the probed one (a reply, a
//! gratuitous announcement) means the address is taken, and so does another host's probe for
//! the same address (§2.1.1: both back off). IPv6 addresses need no such probe: duplicate
//! address detection (RFC 4862 §5.4) stays on in every namespace of an IPv6 run and an
//! address that fails it is an error (`wait_addresses_settled`).

use std::mem::MaybeUninit;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use etherparse::{ArpEthIpv4Packet, ArpOperation, ArpPacket};
use socket2::{Domain, Protocol, Socket, Type};

use crate::netns::Netns;

const ETH_P_ARP: u16 = 0x0806;

/// Probes sent, and the gap between them: RFC 5227's PROBE_NUM is 3; its one-to-two-second
/// gaps are for links where hosts come and go, while here the node is not yet using the
/// address, so a shorter gap only makes the answer come sooner.
const PROBES: u32 = 3;
const PROBE_GAP: Duration = Duration::from_millis(200);

/// Who answered for an address: the MAC of the host that has it.
pub type InUseBy = [u8; 6];

/// Sends ARP probes for `addr` out of the link `index` (MAC `mac`) of a namespace of this
/// machine, and listens until `wait` has passed. Returns the MAC of a host that has the
/// address, or `None` when nobody claimed it.
pub fn arp_probe(
    ns: &Netns,
    index: u32,
    mac: [u8; 6],
    addr: Ipv4Addr,
    wait: Duration,
) -> std::io::Result<Option<InUseBy>> {
    let sock = ns
        .run_in(|| {
            Socket::new(
                Domain::PACKET,
                Type::DGRAM,
                Some(Protocol::from(i32::from(ETH_P_ARP.to_be()))),
            )
        })
        .map_err(|e| std::io::Error::other(e.to_string()))??;
    let to = link_addr(index, [0xff; 6]);
    // SAFETY: `to` is a valid sockaddr_ll that lives across the call; bind reads exactly its
    // size.
    let rc = unsafe {
        libc::bind(
            sock.as_raw_fd(),
            (&to as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    sock.set_read_timeout(Some(Duration::from_millis(20)))?;
    let probe: ArpPacket = ArpEthIpv4Packet {
        operation: ArpOperation::REQUEST,
        sender_mac: mac,
        sender_ipv4: [0; 4],
        target_mac: [0; 6],
        target_ipv4: addr.octets(),
    }
    .into();
    let bytes = probe.to_bytes();
    let start = Instant::now();
    let mut sent = 0;
    let mut buf = [MaybeUninit::<u8>::uninit(); 256];
    while start.elapsed() < wait {
        if sent < PROBES && start.elapsed() >= PROBE_GAP * sent {
            // SAFETY: `bytes` and `to` outlive the call, which reads `bytes.len()` bytes and
            // exactly one sockaddr_ll.
            let rc = unsafe {
                libc::sendto(
                    sock.as_raw_fd(),
                    bytes.as_ptr().cast(),
                    bytes.len(),
                    0,
                    (&to as *const libc::sockaddr_ll).cast(),
                    std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
                )
            };
            if rc < 0 {
                return Err(std::io::Error::last_os_error());
            }
            sent += 1;
        }
        let Ok(n) = sock.recv(&mut buf) else {
            continue;
        };
        // SAFETY: recv initialised the first n bytes.
        let got: &[u8] = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast(), n) };
        if let Some(by) = claims(got, addr, mac) {
            return Ok(Some(by));
        }
    }
    Ok(None)
}

/// Whether a received ARP packet says another host has (or is probing for) `addr`: its
/// sender address is `addr`, or it is a probe for `addr` from another MAC than `ours`.
pub fn claims(packet: &[u8], addr: Ipv4Addr, ours: [u8; 6]) -> Option<InUseBy> {
    let arp = ArpPacket::from_slice(packet).ok()?.try_eth_ipv4().ok()?;
    if arp.sender_mac == ours {
        return None;
    }
    let sender = Ipv4Addr::from(arp.sender_ipv4);
    let probing_too = sender.is_unspecified()
        && arp.operation == ArpOperation::REQUEST
        && Ipv4Addr::from(arp.target_ipv4) == addr;
    (sender == addr || probing_too).then_some(arp.sender_mac)
}

fn link_addr(index: u32, mac: [u8; 6]) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain old data; all zeroes is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = ETH_P_ARP.to_be();
    sll.sll_ifindex = index as i32;
    sll.sll_halen = 6;
    sll.sll_addr[..6].copy_from_slice(&mac);
    sll
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(op: ArpOperation, mac: [u8; 6], sender: [u8; 4], target: [u8; 4]) -> Vec<u8> {
        let p: ArpPacket = ArpEthIpv4Packet {
            operation: op,
            sender_mac: mac,
            sender_ipv4: sender,
            target_mac: [0; 6],
            target_ipv4: target,
        }
        .into();
        p.to_bytes().to_vec()
    }

    #[test]
    fn a_reply_or_a_probe_for_the_address_claims_it_and_our_own_echo_does_not() {
        let addr = Ipv4Addr::new(10, 168, 0, 2);
        let ours = [2, 0, 0, 0, 0, 1];
        let theirs = [2, 0, 0, 0, 0, 2];
        let reply = packet(ArpOperation::REPLY, theirs, addr.octets(), [0; 4]);
        assert_eq!(claims(&reply, addr, ours), Some(theirs));
        let probe = packet(ArpOperation::REQUEST, theirs, [0; 4], addr.octets());
        assert_eq!(claims(&probe, addr, ours), Some(theirs));
        let own = packet(ArpOperation::REQUEST, ours, [0; 4], addr.octets());
        assert_eq!(claims(&own, addr, ours), None);
        let other = packet(ArpOperation::REPLY, theirs, [10, 168, 0, 9], [0; 4]);
        assert_eq!(claims(&other, addr, ours), None);
        assert_eq!(claims(&[1, 2, 3], addr, ours), None);
    }
}
