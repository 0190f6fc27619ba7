//! A packet socket on one device of a namespace of this machine, capturing every frame while
//! a probe runs (the wire check's evidence).

use std::mem::MaybeUninit;
use std::os::fd::AsRawFd;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use super::ProbeResult;
use crate::netlink::Netlink;
use crate::netns::Netns;

/// Most frames one capture keeps: the probe's own are among the first, and a busy link must
/// not make the evidence (or an agent's reply carrying it) unbounded.
pub const MAX_CAPTURED_FRAMES: usize = 2000;
const ETH_P_ALL: u16 = 0x0003;
/// How long one read waits before looking whether the probe is over: the longest a capture
/// outlives its probe.
const READ_TIMEOUT: Duration = Duration::from_millis(5);

/// Opens a packet socket on `dev` (interface `index`) in a namespace of this machine,
/// receiving every protocol.
fn capture_socket(ns: &Netns, index: u32) -> std::io::Result<Socket> {
    let sock = ns
        .run_in(|| {
            Socket::new(
                Domain::PACKET,
                Type::RAW,
                Some(Protocol::from(i32::from(ETH_P_ALL.to_be()))),
            )
        })
        .map_err(|e| std::io::Error::other(e.to_string()))??;
    // SAFETY: sockaddr_ll is plain old data; zeroed is a valid value, and bind reads exactly
    // size_of::<sockaddr_ll>() bytes from it while it is alive.
    let rc = unsafe {
        let mut sll: libc::sockaddr_ll = std::mem::zeroed();
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = ETH_P_ALL.to_be();
        sll.sll_ifindex = index as i32;
        libc::bind(
            sock.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    sock.set_read_timeout(Some(READ_TIMEOUT))?;
    Ok(sock)
}

/// Captures every frame on `dev` of a namespace of this machine while `probe` runs; returns
/// them (the first [`MAX_CAPTURED_FRAMES`]), each from its Ethernet header, with what the
/// probe saw.
///
/// Once the probe has returned, what is already queued on the socket is read and the capture
/// ends: nothing is waited for. A packet socket gets its copy of a frame synchronously, as the
/// frame passes the device (`dev_queue_xmit_nit` on transmit, `__netif_receive_skb` on
/// receive), so every frame of an exchange whose answer the probe saw, or whose timeout it
/// waited out, is queued before the probe returns.
pub fn capture_while(
    ns: &Netns,
    nl: &Netlink,
    dev: &str,
    probe: impl FnOnce() -> ProbeResult + Send,
) -> std::io::Result<(Vec<Vec<u8>>, ProbeResult)> {
    let index = nl
        .link_index(dev)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let sock = capture_socket(ns, index)?;
    Ok(std::thread::scope(|s| {
        let prober = s.spawn(probe);
        let mut frames = Vec::new();
        let mut buf = vec![MaybeUninit::<u8>::uninit(); 65536];
        let mut keep = |n: usize, buf: &[MaybeUninit<u8>]| {
            // SAFETY: recv initialised the first n bytes.
            let bytes: &[u8] = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast(), n) };
            if frames.len() < MAX_CAPTURED_FRAMES {
                frames.push(bytes.to_vec());
            }
        };
        while !prober.is_finished() {
            if let Ok(n) = sock.recv(&mut buf) {
                keep(n, &buf);
            }
        }
        // The probe is over: take what is queued, without waiting for more.
        while let Ok(n) = sock.recv_with_flags(&mut buf, libc::MSG_DONTWAIT) {
            keep(n, &buf);
        }
        (frames, prober.join().expect("probe thread"))
    }))
}
