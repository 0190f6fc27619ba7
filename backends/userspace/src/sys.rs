//! What a daemon does with its own process: run on the CPU it was given, tell the harness it
//! is ready, and tell a transient error of one packet from a broken descriptor.

use std::io::{self, Write};
use std::os::fd::RawFd;

use crate::error::DaemonError;

/// The CPU the daemons run on: the last CPU this process may use, which is where the default
/// `same-cpu` placement pins both workload agents. A datapath daemon is a process of every
/// cross-node measurement, so it is pinned too: left to the scheduler it wakes on whichever
/// CPU is idle, and on VMs whose idle vCPUs halt each such wake-up costs tens of µs
/// (docs/machine-notes.md "Measuring on these machines"), which swamps the datapath being
/// measured (tcp-rr p50 about 160 µs unpinned against about 30 µs pinned here). Kernel
/// datapaths do their forwarding in the sender's softirq, on the sender's CPU; pinning the
/// daemon there compares like with like.
pub fn daemon_cpu() -> Option<usize> {
    Some(harness::backend::DAEMON_CPU.cpus().1 as usize)
}

/// Pins the whole process to `cpu` before any thread exists, so every thread inherits it
/// (sched_setaffinity(0, ...) applies to the calling thread only, and threads inherit their
/// creator's mask).
pub fn pin_to(daemon: &'static str, node: &str, cpu: usize) -> Result<(), DaemonError> {
    // SAFETY: cpu_set_t is plain data; CPU_SET writes inside it (the index is checked
    // against CPU_SETSIZE first); sched_setaffinity reads it for the size given.
    let r = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if cpu >= libc::CPU_SETSIZE as usize {
            -1
        } else {
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
        }
    };
    if r != 0 {
        return Err(DaemonError::Pin {
            daemon,
            node: node.into(),
            cpu,
            source: io::Error::last_os_error(),
        });
    }
    Ok(())
}

/// Writes the one line the harness waits for, `ready`; nothing else ever goes to stdout. A
/// failed write means the harness is gone: the daemon stops.
pub fn say_ready(daemon: &'static str, node: &str) -> Result<(), DaemonError> {
    let mut out = io::stdout().lock();
    out.write_all(b"ready\n")
        .and_then(|()| out.flush())
        .map_err(|source| DaemonError::Forward {
            daemon,
            node: node.into(),
            op: "write `ready` on stdout".into(),
            source,
        })
}

/// Whether `e` means "nothing to do now" (EAGAIN/EWOULDBLOCK).
#[inline]
pub fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

/// Whether `e` is a signal interrupting a syscall (EINTR): retry.
#[inline]
pub fn interrupted(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Interrupted
}

/// Whether `e` concerns one packet rather than a broken descriptor: an ICMP error the kernel
/// queued on the socket (a peer unreachable, a message too big), or a transient shortage.
/// Count it and carry on.
#[inline]
pub fn transient(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::ECONNREFUSED
                | libc::EHOSTUNREACH
                | libc::ENETUNREACH
                | libc::EHOSTDOWN
                | libc::ENETDOWN
                | libc::EMSGSIZE
                | libc::EPROTO
                | libc::EOPNOTSUPP
                | libc::ENOBUFS
                | libc::ENOMEM
        )
    )
}

/// The two descriptors a datapath daemon polls, its TUN and its socket, each for input.
pub fn poll_pair(tun: RawFd, sock: RawFd) -> [libc::pollfd; 2] {
    [tun, sock].map(|fd| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    })
}

/// `poll()` without a timeout, again after a signal interrupted it.
pub fn poll_forever(fds: &mut [libc::pollfd]) -> io::Result<()> {
    loop {
        // SAFETY: fds is a valid slice of pollfd for its whole length.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if r >= 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if !interrupted(&e) {
            return Err(e);
        }
    }
}

/// Sends every message of `msgs` on `fd` (a UDP or raw socket), resuming after partial
/// sends. A lone message of one buffer without control data goes by `sendto` (nothing to batch, and no
/// `mmsghdr` to copy in); anything else by `sendmmsg`. A message the kernel refuses on its
/// own account is handed to `dropped` and skipped (sendmmsg reports an error only for the
/// first message it could not send): a full queue or an unreachable peer ([`transient`]),
/// and for a UDP GSO message (one with control data) EINVAL or EIO, udp_send_skb refusing a
/// segment larger than the path MTU or a device without checksum offload. Any other error
/// is the socket's, and returned.
pub fn send_messages(
    fd: RawFd,
    msgs: &mut [libc::mmsghdr],
    mut dropped: impl FnMut(&libc::mmsghdr, &io::Error),
) -> io::Result<()> {
    let mut off = 0;
    while off < msgs.len() {
        let rest = &mut msgs[off..];
        let lone = rest.len() == 1 && rest[0].msg_hdr.msg_iovlen == 1;
        let r = if lone && rest[0].msg_hdr.msg_controllen == 0 {
            let h = &rest[0].msg_hdr;
            // SAFETY: the message's one iovec points at its packet, msg_name at a socket
            // address of msg_namelen bytes, both valid until the call returns.
            let n = unsafe {
                let iov = &*h.msg_iov;
                libc::sendto(
                    fd,
                    iov.iov_base,
                    iov.iov_len,
                    0,
                    h.msg_name.cast(),
                    h.msg_namelen,
                )
            };
            if n < 0 {
                -1
            } else {
                1
            }
        } else {
            // SAFETY: rest is a valid array of initialised mmsghdr whose iovecs, buffers,
            // control buffers and names live until the call returns.
            unsafe { libc::sendmmsg(fd, rest.as_mut_ptr(), rest.len() as u32, 0) }
        };
        if r >= 0 {
            off += r as usize;
            continue;
        }
        let e = io::Error::last_os_error();
        if interrupted(&e) {
            continue;
        }
        let gso_refused = rest[0].msg_hdr.msg_controllen != 0
            && matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EIO));
        if would_block(&e) || transient(&e) || gso_refused {
            dropped(&rest[0], &e);
            off += 1;
            continue;
        }
        return Err(e);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_classes() {
        let e = |n| io::Error::from_raw_os_error(n);
        assert!(transient(&e(libc::EHOSTUNREACH)) && transient(&e(libc::ENOBUFS)));
        assert!(!transient(&e(libc::EBADF)));
        assert!(would_block(&e(libc::EAGAIN)) && interrupted(&e(libc::EINTR)));
        let cpu = daemon_cpu().unwrap();
        assert!(pin_to("test", "n0", cpu).is_ok());
        let far = pin_to("test", "n0", 1 << 20).unwrap_err().to_string();
        assert!(far.contains("cannot pin to CPU"), "{far}");
    }
}
