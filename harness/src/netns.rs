//! Named network namespaces, created and deleted the way `ip netns` does it, without forking.
//!
//! `setns(2)` changes only the calling thread. Entering a namespace on a tokio worker or any
//! pooled thread poisons it for later, unrelated work (docs/machine-notes.md "Namespaces and netlink": 61–151 of 200 tasks ran
//! in the wrong namespace), so [`Netns::run_in`] enters a namespace only on a short-lived
//! thread of its own, to create a file descriptor there (a netlink or IP socket). A socket stays
//! bound to the namespace it was created in, so the fd is then safe to use from any thread.

use std::fs::{self, File};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

use crate::error::{HarnessError, Result};

/// Where named namespaces are bind-mounted (the `ip netns` convention, so `ip netns list`
/// and `ip netns exec` see ours).
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// Prefix of every namespace cnbench creates: `cnb-<run>-<role>`.
pub const NETNS_PREFIX: &str = "cnb-";

/// An open, named network namespace. Holding it keeps an fd on the namespace.
#[derive(Debug)]
pub struct Netns {
    name: String,
    fd: OwnedFd,
}

impl Netns {
    /// Creates the named namespace `/run/netns/<name>`; fails if it already exists.
    pub fn create(name: &str) -> Result<Netns> {
        let err = |op, source| HarnessError::Netns {
            name: name.to_string(),
            op,
            source,
        };
        ensure_run_dir().map_err(|e| err("prepare /run/netns", e))?;
        let path = path_of(name);
        // create_new: a namespace that already exists belongs to someone else (or a crash).
        File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| err("create mount point", e))?;
        let bind_target = path.clone();
        let made = std::thread::spawn(move || -> io::Result<()> {
            // This thread's namespace changes for good; it exits right after.
            unshare(CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
            // thread-self, not self: /proc/self would name the main thread's namespace.
            mount(
                Some("/proc/thread-self/ns/net"),
                &bind_target,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(io::Error::from)
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("namespace thread panicked")));
        if let Err(e) = made {
            let _ = fs::remove_file(&path);
            return Err(err("unshare and bind-mount", e));
        }
        Netns::open(name)
    }

    /// Opens an existing named namespace.
    pub fn open(name: &str) -> Result<Netns> {
        let file = File::open(path_of(name)).map_err(|source| HarnessError::Netns {
            name: name.to_string(),
            op: "open",
            source,
        })?;
        Ok(Netns {
            name: name.to_string(),
            fd: file.into(),
        })
    }

    /// The calling process's own namespace under a label (a node agent's namespace is the
    /// node's: its name in the run is `label`). Opened from the main thread's view, which no
    /// thread of cnbench ever moves.
    pub fn current(label: &str) -> Result<Netns> {
        let file = File::open("/proc/self/ns/net").map_err(|source| HarnessError::Netns {
            name: label.to_string(),
            op: "open own namespace",
            source,
        })?;
        Ok(Netns {
            name: label.to_string(),
            fd: file.into(),
        })
    }

    /// Removes the named namespace. A namespace that is already gone is success. The kernel
    /// frees the namespace (and every device in it) once no process or fd refers to it.
    pub fn delete(name: &str) -> Result<()> {
        let path = path_of(name);
        match umount2(&path, MntFlags::MNT_DETACH) {
            Ok(()) | Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => {}
            Err(e) => {
                return Err(HarnessError::Netns {
                    name: name.to_string(),
                    op: "unmount",
                    source: e.into(),
                })
            }
        }
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(HarnessError::Netns {
                name: name.to_string(),
                op: "remove mount point",
                source,
            }),
        }
    }

    /// Whether a named namespace exists.
    pub fn exists(name: &str) -> bool {
        path_of(name).exists()
    }

    /// Names of all namespaces in `/run/netns` that start with `prefix`.
    pub fn list(prefix: &str) -> Vec<String> {
        let Ok(dir) = fs::read_dir(NETNS_RUN_DIR) else {
            return Vec::new();
        };
        let mut names: Vec<String> = dir
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with(prefix))
            .collect();
        names.sort();
        names
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The fd referring to the namespace (for `IFLA_NET_NS_FD` and `setns`).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The namespace's inode (as `/proc/<pid>/ns/net` shows it: `net:[inode]`).
    pub fn inode(&self) -> Result<u64> {
        use std::os::unix::fs::MetadataExt;
        let meta =
            fs::metadata(format!("/proc/self/fd/{}", self.fd.as_raw_fd())).map_err(|source| {
                HarnessError::Netns {
                    name: self.name.clone(),
                    op: "stat",
                    source,
                }
            })?;
        Ok(meta.ino())
    }

    /// Runs `f` on a fresh thread that has entered this namespace, and returns its result.
    /// Use it to create fds (sockets) in the namespace; the thread ends right after.
    pub fn run_in<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T> {
        let fd = self.fd.as_fd();
        std::thread::scope(|s| {
            s.spawn(move || {
                setns(fd, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
                Ok(f())
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("namespace thread panicked")))
        })
        .map_err(|source| HarnessError::Netns {
            name: self.name.clone(),
            op: "enter (setns)",
            source,
        })
    }
}

/// `/run/netns/<name>`.
pub fn path_of(name: &str) -> PathBuf {
    Path::new(NETNS_RUN_DIR).join(name)
}

/// Makes `/run/netns` a shared mount point, as iproute2 does, so the bind mounts of our
/// namespaces propagate to every mount namespace (and `ip netns exec` sees them).
///
/// Two processes that both find it not yet a mount point would each bind it onto itself: the
/// mounts stack (two runs started together on a fresh machine did so 6 times in 40), and a
/// namespace bind-mounted through the lower layer in between would be hidden under the upper
/// one. So the slow path runs under an exclusive lock on the directory itself, and looks
/// again once it holds it.
fn ensure_run_dir() -> io::Result<()> {
    fs::create_dir_all(NETNS_RUN_DIR)?;
    match make_shared() {
        Err(nix::Error::EINVAL) => {}
        done => return done.map_err(io::Error::from),
    }
    let dir = File::open(NETNS_RUN_DIR)?;
    // Released when dropped, at return.
    let _lock = Flock::lock(dir, FlockArg::LockExclusive).map_err(|(_, e)| io::Error::from(e))?;
    match make_shared() {
        // Another process made it while this one waited.
        Ok(()) => Ok(()),
        // Not a mount point yet: bind it onto itself, then make it shared.
        Err(nix::Error::EINVAL) => {
            mount(
                Some(NETNS_RUN_DIR),
                NETNS_RUN_DIR,
                Some("none"),
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )?;
            Ok(make_shared()?)
        }
        Err(e) => Err(e.into()),
    }
}

/// Makes `/run/netns` a shared mount (recursively); EINVAL when it is not a mount point.
fn make_shared() -> nix::Result<()> {
    mount(
        None::<&str>,
        NETNS_RUN_DIR,
        Some("none"),
        MsFlags::MS_SHARED | MsFlags::MS_REC,
        None::<&str>,
    )
}
