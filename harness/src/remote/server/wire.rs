//! The agent's two ends of its stream to the harness. Every frame to the harness is written
//! within a deadline: a harness that stops reading (a wedged peer) would otherwise block a
//! writer forever, and with it every other reply and output line queued behind the writers'
//! lock, so the session would never end nor clean up. Once a frame misses its deadline the
//! stream is abandoned (a partial frame may be on it): later writes fail at once and reads end,
//! so the session loop ends and cleans up without waiting for the harness.
//!
//! The file descriptors are never set `O_NONBLOCK`: a socket's two halves, and stdin and
//! stdout, may share one open file description, whose flags would change for the reader and
//! for whoever else holds it too. Instead each write waits for `POLLOUT` with the time left,
//! then writes what cannot block: a socket's `send` with `MSG_DONTWAIT`, a pipe or device at
//! most one page (a pipe that polls writable has room for a page; a virtio port that polls
//! writable takes one buffer).

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{send, MsgFlags};

use super::lock;
use crate::remote::protocol::{write_frame, FromAgent};

/// How long one frame to the harness may take to write before the session counts as dead
/// (its harness stopped reading) and is abandoned.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// How often a read that waits looks whether the writing side abandoned the session.
const READ_TICK: Duration = Duration::from_millis(200);

/// The most written to a pipe or device at once: what fits without blocking once it polls
/// writable.
const PIECE: usize = 4096;

/// Why the stream to the harness was abandoned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Dead {
    /// A frame was not written within the write timeout: the harness stopped reading.
    TimedOut(String),
    /// A write failed (the harness went away).
    Failed(String),
}

impl Dead {
    fn reason(&self) -> &str {
        match self {
            Dead::TimedOut(why) | Dead::Failed(why) => why,
        }
    }
}

/// Where frames to the harness go: one writer at a time, each frame within the deadline.
pub(super) struct Out {
    fd: Mutex<OwnedFd>,
    /// Whether `fd` is a socket (written with `send`, which need not block at all).
    socket: bool,
    timeout: Duration,
    dead: Mutex<Option<Dead>>,
}

impl Out {
    /// Frames written to `fd`, each within `timeout`.
    pub(super) fn new(fd: OwnedFd, timeout: Duration) -> Out {
        let socket =
            nix::sys::stat::fstat(&fd).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFSOCK);
        Out {
            fd: Mutex::new(fd),
            socket,
            timeout,
            dead: Mutex::new(None),
        }
    }

    /// Why the stream was abandoned, once it has been.
    pub(super) fn dead(&self) -> Option<Dead> {
        lock(&self.dead).clone()
    }

    /// Writes one frame within the timeout. A frame too large to send fails with
    /// `InvalidInput` before anything is written (the stream stays usable); any other failure
    /// abandons the stream, and every later send fails at once.
    pub(super) fn send(&self, msg: &FromAgent) -> io::Result<()> {
        let fd = lock(&self.fd);
        if let Some(dead) = self.dead() {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                dead.reason().to_string(),
            ));
        }
        let mut w = Timed {
            fd: fd.as_fd(),
            socket: self.socket,
            deadline: Instant::now() + self.timeout,
            timeout: self.timeout,
            touched: false,
        };
        let sent = write_frame(&mut w, msg);
        if let Err(e) = &sent {
            if w.touched {
                let mut dead = lock(&self.dead);
                if dead.is_none() {
                    *dead = Some(if e.kind() == io::ErrorKind::TimedOut {
                        Dead::TimedOut(e.to_string())
                    } else {
                        Dead::Failed(format!("a write to the harness failed: {e}"))
                    });
                }
                // A socket's harness learns at once that the session is over, however long
                // the session's last calls keep their clones of this fd.
                if self.socket {
                    let _ = nix::sys::socket::shutdown(
                        fd.as_raw_fd(),
                        nix::sys::socket::Shutdown::Both,
                    );
                }
            }
        }
        sent
    }
}

/// One frame's writes, each waiting for the stream only until the frame's deadline.
struct Timed<'a> {
    fd: BorrowedFd<'a>,
    socket: bool,
    deadline: Instant,
    timeout: Duration,
    /// Whether a write was tried (a failure after that leaves the stream unusable).
    touched: bool,
}

impl Write for Timed<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.touched = true;
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the harness stopped reading: a frame to it was not written within \
                         the write timeout of {:?}",
                        self.timeout
                    ),
                ));
            }
            // Rounded up, so the wait does not spin on a last sub-millisecond.
            let wait = Duration::from_millis(left.as_micros().div_ceil(1000) as u64);
            let mut fds = [PollFd::new(self.fd, PollFlags::POLLOUT)];
            match poll(
                &mut fds,
                PollTimeout::try_from(wait).unwrap_or(PollTimeout::MAX),
            ) {
                Ok(0) | Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
                Ok(_) => {}
            }
            let ready = fds[0].revents().unwrap_or(PollFlags::empty());
            if !ready.contains(PollFlags::POLLOUT) {
                // Hung up without being writable (a virtio port whose host is gone would
                // block a write until one connects).
                if ready.intersects(PollFlags::POLLHUP | PollFlags::POLLERR | PollFlags::POLLNVAL) {
                    return Err(io::Error::new(
                        io::ErrorKind::BrokenPipe,
                        "the harness's end hung up",
                    ));
                }
                continue;
            }
            let written = if self.socket {
                send(
                    self.fd.as_raw_fd(),
                    buf,
                    MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
                )
            } else {
                nix::unistd::write(self.fd, &buf[..buf.len().min(PIECE)])
            };
            match written {
                Ok(n) => return Ok(n),
                Err(Errno::EAGAIN | Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What the harness sends: reads that end (with the reason) once the writing side has
/// abandoned the session, instead of waiting for a harness that may never write again.
pub(super) struct Incoming<'a> {
    pub(super) fd: OwnedFd,
    pub(super) out: &'a Out,
    /// How long the harness may send nothing (its client sends a keepalive every
    /// [`crate::remote::client::KEEPALIVE`]) before the session is taken as cut: a network
    /// cut between the hosts leaves the stream open on this side for as long as TCP
    /// keepalives allow (two hours by default), and the session's namespaces with it.
    pub(super) idle: Option<Duration>,
    /// When the harness last sent anything.
    pub(super) last: std::time::Instant,
}

impl Read for Incoming<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
            let polled = poll(
                &mut fds,
                PollTimeout::try_from(READ_TICK).unwrap_or(PollTimeout::MAX),
            );
            // Looked at after the wait: abandoning a socket shuts it down, which wakes this
            // wait as an end of stream that is not the harness's.
            if let Some(dead) = self.out.dead() {
                return Err(io::Error::other(dead.reason().to_string()));
            }
            match polled {
                Ok(0) | Err(Errno::EINTR) => {
                    if let Some(idle) = self.idle.filter(|i| self.last.elapsed() >= *i) {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!(
                                "the harness sent nothing for {} s (not even its keepalive): \
                                 taken as cut",
                                idle.as_secs()
                            ),
                        ));
                    }
                    continue;
                }
                Err(e) => return Err(e.into()),
                // Readable, or hung up: the read says which (data, or end of stream).
                Ok(_) => {}
            }
            match nix::unistd::read(&self.fd, buf) {
                Ok(n) => {
                    self.last = std::time::Instant::now();
                    return Ok(n);
                }
                Err(Errno::EAGAIN | Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}
