//! Typed errors of the harness. Every message names the object it is about and, where there
//! is one, the change that fixes it.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong in the harness.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// The requested topology or options are invalid; nothing was created.
    #[error(transparent)]
    Plan(#[from] PlanError),

    /// This machine cannot run what was asked (missing kernel feature, binary, privilege).
    #[error("{what}: {fix}")]
    Unsupported {
        /// What is missing.
        what: String,
        /// What the user can do about it.
        fix: String,
    },

    /// A host of the SSH substrate cannot be a node as it is (unreachable, refuses the key,
    /// another cnbench, no root, no such interface); found before anything is built there.
    #[error("host {host}: {what}: {fix}")]
    Host {
        /// The host as `--hosts` named it (`[user@]host[:port]`).
        host: String,
        /// What is wrong there.
        what: String,
        /// What the user can do about it.
        fix: String,
    },

    /// A namespace operation failed.
    #[error("network namespace {name}: {op} failed: {source}")]
    Netns {
        /// Namespace name (`cnb-<run>-<role>`).
        name: String,
        /// The operation, in words.
        op: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// A netlink request was refused by the kernel.
    #[error("in {netns}: {op}: {source}{hint}")]
    Netlink {
        /// Namespace whose netlink socket made the request.
        netns: String,
        /// The request, in words (`create veth eth0 <-> vethn0p0`).
        op: String,
        /// The kernel's answer.
        #[source]
        source: io::Error,
        /// A hint derived from the errno, starting with "; " (or empty).
        hint: String,
    },

    /// A child process could not be started or misbehaved.
    #[error("process {what} in {netns}: {message}")]
    Process {
        /// Role of the process (`tcp-rr server`).
        what: String,
        /// Namespace it runs in.
        netns: String,
        /// What went wrong.
        message: String,
    },

    /// Reading or writing the run's state directory failed.
    #[error("state {path}: {message}")]
    State {
        /// File or directory concerned.
        path: PathBuf,
        /// What went wrong, and the fix.
        message: String,
    },

    /// A node agent failed, refused the session or went away.
    #[error("agent of {node}: {message}")]
    Agent {
        /// The node it serves (`cnb-<run>-node0`).
        node: String,
        /// What happened, and where to look.
        message: String,
    },

    /// The run was interrupted by SIGINT or SIGTERM (everything was torn down).
    #[error("interrupted by signal; the topology was torn down")]
    Interrupted,

    /// Software under test that cnbench drives but did not write (a CNI plugin) failed,
    /// hung, or answered with something its protocol does not allow; the message names it
    /// and what to change. The user's input, like a bad option (exit code 2).
    #[error("{message}")]
    Component {
        /// What failed, where, and what to change.
        message: String,
    },

    /// Any other I/O error, with context.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl HarnessError {
    /// Wraps an I/O error with a sentence of context.
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        HarnessError::Io {
            context: context.into(),
            source,
        }
    }

    /// True when the error is the user's input or this machine's abilities (exit code 2),
    /// as opposed to a failure while working.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            HarnessError::Plan(_)
                | HarnessError::Unsupported { .. }
                | HarnessError::Host { .. }
                | HarnessError::Component { .. }
        )
    }
}

/// Invalid plans: detected before the first netlink call, so nothing exists yet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// An option has a value out of its range.
    #[error("--{option} {value}: {why}")]
    Invalid {
        /// The CLI option, without dashes.
        option: &'static str,
        /// The value given.
        value: String,
        /// Why it is invalid and what to use instead.
        why: String,
    },
    /// Two address ranges overlap.
    #[error("{a_name} {a} overlaps {b_name} {b}: pick ranges that do not overlap")]
    Overlap {
        /// First range's role (`--pod-cidr`).
        a_name: &'static str,
        /// First range.
        a: String,
        /// Second range's role.
        b_name: &'static str,
        /// Second range.
        b: String,
    },
    /// The backend does not support the requested shape.
    #[error("backend {backend}: {why}")]
    Backend {
        /// Backend name.
        backend: String,
        /// What is not supported and what to use instead.
        why: String,
    },
    /// A fault cannot be injected as asked.
    #[error("{why}")]
    Fault {
        /// What is wrong and what to use instead, naming the option.
        why: String,
    },
}

/// Turns a kernel errno into a hint for the user, where a common cause is known.
pub(crate) fn errno_hint(errno: i32, op: &str) -> String {
    match errno {
        libc::EOPNOTSUPP if op.contains("create") => {
            "; this kernel lacks the device type (no module): run `cnbench list` to see what this machine supports".into()
        }
        libc::EEXIST => "; it already exists: a leftover of a crashed run? try `cnbench clean`".into(),
        libc::EPERM => "; cnbench needs root (CAP_NET_ADMIN)".into(),
        libc::ENETUNREACH => "; the gateway is not on a connected subnet of this device".into(),
        libc::ENODEV => "; no such device in this namespace".into(),
        _ => String::new(),
    }
}

/// Result alias for the harness.
pub type Result<T, E = HarnessError> = std::result::Result<T, E>;
