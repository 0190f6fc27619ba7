//! Batched datagram syscalls for udp-stream: `sendmmsg` and `recvmmsg` over one buffer of
//! fixed-size slots ([`Batch`]), so the sender and the receiver make one syscall per 64
//! datagrams and allocate nothing while the test runs. All of the UDP workloads' `unsafe`
//! is here.

use std::io;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;

/// `count` datagram buffers of `slot` bytes each, and the `iovec`/`mmsghdr` arrays that
/// `sendmmsg`/`recvmmsg` take. The arrays' pointers are set by [`Batch::arm`] right before
/// each call, from the vectors' current addresses, so no pointer outlives a borrow.
pub(super) struct Batch {
    bufs: Vec<u8>,
    slot: usize,
    iov: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
}

impl Batch {
    pub(super) fn new(count: usize, slot: usize) -> Batch {
        let iov = (0..count)
            .map(|_| libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            })
            .collect();
        let hdrs = (0..count)
            .map(|_| {
                // SAFETY: mmsghdr is a C struct of integers and raw pointers only; all-zero
                // bytes are a valid value of it (null pointers, zero lengths and flags).
                unsafe { std::mem::zeroed::<libc::mmsghdr>() }
            })
            .collect();
        Batch {
            // Not zeros: writing every page now keeps page faults out of the first batches.
            bufs: vec![0xA5u8; count * slot],
            slot,
            iov,
            hdrs,
        }
    }

    fn count(&self) -> usize {
        self.hdrs.len()
    }

    pub(super) fn slot_mut(&mut self, i: usize) -> &mut [u8] {
        &mut self.bufs[i * self.slot..(i + 1) * self.slot]
    }

    /// The `i`th datagram of the last `recvmmsg` (as many bytes as it returned).
    pub(super) fn received(&self, i: usize) -> &[u8] {
        let len = (self.hdrs[i].msg_len as usize).min(self.slot);
        &self.bufs[i * self.slot..i * self.slot + len]
    }

    /// Puts `d` in slot `i` as if `recvmmsg` had received it there.
    #[cfg(test)]
    pub(super) fn fake_received(&mut self, i: usize, d: &[u8]) {
        self.slot_mut(i)[..d.len()].copy_from_slice(d);
        self.hdrs[i].msg_len = d.len() as u32;
    }

    /// Points every header at its own slot, `len` bytes of it (`len <= slot`), and returns
    /// the header array for the syscall.
    fn arm(&mut self, len: usize) -> *mut libc::mmsghdr {
        debug_assert!(len <= self.slot);
        let base = self.bufs.as_mut_ptr();
        for (i, v) in self.iov.iter_mut().enumerate() {
            v.iov_base = base.wrapping_add(i * self.slot).cast();
            v.iov_len = len;
        }
        let iov = self.iov.as_mut_ptr();
        for (i, h) in self.hdrs.iter_mut().enumerate() {
            h.msg_hdr.msg_iov = iov.wrapping_add(i);
            h.msg_hdr.msg_iovlen = 1;
            h.msg_len = 0;
        }
        self.hdrs.as_mut_ptr()
    }
}

/// Sends the first `len` bytes of every slot as one datagram each, in one `sendmmsg`, on a
/// connected socket; returns how many the kernel took (the rest were not sent).
pub(super) fn send_batch(sock: &UdpSocket, batch: &mut Batch, len: usize) -> io::Result<usize> {
    let count = batch.count();
    let hdrs = batch.arm(len);
    // SAFETY: `hdrs` points to `count` initialised mmsghdr, each with a null name (the socket
    // is connected) and one iovec of `len` bytes inside its own slot of `batch.bufs`. All of
    // it is owned by `batch`, which stays mutably borrowed (so unmoved and unchanged) until
    // the call returns; the fd belongs to `sock`, borrowed for the call as well.
    let n = unsafe { libc::sendmmsg(sock.as_raw_fd(), hdrs, count as libc::c_uint, 0) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Receives up to `batch.count()` datagrams in one `recvmmsg`: blocks (up to the socket's
/// receive timeout) for the first, then takes whatever else is queued. Returns how many.
pub(super) fn recv_batch(sock: &UdpSocket, batch: &mut Batch) -> io::Result<usize> {
    let count = batch.count();
    let slot = batch.slot;
    let hdrs = batch.arm(slot);
    // SAFETY: `hdrs` points to `count` initialised mmsghdr, each with a null name (no source
    // address wanted), no control buffer and one iovec of `slot` bytes inside its own slot
    // of `batch.bufs`: the kernel writes at most that into it, and msg_len/msg_flags into
    // the header. All of it is owned by `batch`, mutably borrowed until the call returns;
    // the fd belongs to `sock`; a null timeout is allowed (the socket timeout applies).
    let n = unsafe {
        libc::recvmmsg(
            sock.as_raw_fd(),
            hdrs,
            count as libc::c_uint,
            libc::MSG_WAITFORONE,
            std::ptr::null_mut(),
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}
