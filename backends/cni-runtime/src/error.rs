//! What can go wrong between cnbench and a CNI network: a configuration that cannot be
//! used, a plugin that cannot be found, and a plugin that fails, hangs, or answers with
//! something that is not a CNI result. Each message names the file, plugin, verb and pod it
//! concerns and what to change.

use std::path::PathBuf;

/// A CNI error.
#[derive(Debug, thiserror::Error)]
pub enum CniError {
    /// No network configuration was given.
    #[error("pods wired by CNI need a network configuration: give --cni-conf FILE (examples/cni/ has some)")]
    NoConf,
    /// A CNI option's value cannot be used.
    #[error("--{flag} {value}: {why}")]
    BadOption {
        /// The flag, without dashes.
        flag: &'static str,
        /// The value given.
        value: String,
        /// Why, and what to give instead.
        why: String,
    },
    /// CNI options given to a backend whose pods cnbench wires itself.
    #[error("{} apply only with --pod-wiring cni: add it, or leave them out", flags.join(", "))]
    WithoutPodWiring {
        /// The flags given (`--cni-conf`).
        flags: Vec<String>,
    },
    /// A plugin of the chain needs what the VM image does not carry.
    #[error("the chain's {plugin} plugin needs {needs}, which the VM image does not carry: run this chain with --substrate netns, or leave {plugin} out")]
    NotOnVm {
        /// The plugin's `type`.
        plugin: String,
        /// What it needs.
        needs: String,
    },
    /// The configuration file cannot be read.
    #[error("--cni-conf {path}: {message}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The configuration is not JSON.
    #[error("--cni-conf {path}: not JSON ({message}): give a .conflist or .conf file")]
    NotJson {
        /// The file.
        path: PathBuf,
        /// serde's account, with line and column.
        message: String,
    },
    /// The configuration is JSON but not a usable network configuration.
    #[error("--cni-conf {path}: {why}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong and what to change.
        why: String,
    },
    /// A plugin of the chain is not on the CNI path.
    #[error(
        "CNI plugin {plugin:?} is not in {}: install it (Debian's containernetworking-plugins has the reference plugins) or name its directory with --cni-path",
        dirs.join(":")
    )]
    NotFound {
        /// The plugin's `type`.
        plugin: String,
        /// The directories searched.
        dirs: Vec<String>,
    },
    /// A plugin does not speak the version the network needs.
    #[error("CNI plugin {plugin} ({path}) supports CNI {}, not {version}: set the network's cniVersion to one of those", supported.join(", "))]
    Version {
        /// The plugin's `type`.
        plugin: String,
        /// Where it is.
        path: String,
        /// The version the network configuration selected.
        version: String,
        /// What the plugin said it supports.
        supported: Vec<String>,
    },
    /// A plugin answered with a CNI error.
    #[error(
        "CNI {verb} of {pod}: plugin {plugin} failed with code {code}: {msg}{}",
        details_suffix(details)
    )]
    Plugin {
        /// ADD, DEL, CHECK, VERSION.
        verb: String,
        /// The pod (`n0p1`) or `-` for VERSION.
        pod: String,
        /// The plugin's `type`.
        plugin: String,
        /// The CNI error code (spec §5: 1 incompatible version, 7 invalid config, ...).
        code: u32,
        /// The message.
        msg: String,
        /// The details.
        details: String,
    },
    /// A plugin exited non-zero without a CNI error on stdout.
    #[error(
        "CNI {verb} of {pod}: plugin {plugin} ended with {status} and no CNI error on stdout{}",
        stderr_suffix(stderr)
    )]
    Failed {
        /// The verb.
        verb: String,
        /// The pod.
        pod: String,
        /// The plugin's `type`.
        plugin: String,
        /// How it ended.
        status: String,
        /// The end of its stderr.
        stderr: String,
    },
    /// A plugin did not finish within the per-verb limit; it was killed by its pid.
    #[error("CNI {verb} of {pod}: plugin {plugin} did not finish within {limit_s} s and was killed by its pid ({pid_note}): fix the plugin or raise --cni-timeout")]
    TimedOut {
        /// The verb.
        verb: String,
        /// The pod.
        pod: String,
        /// The plugin's `type`.
        plugin: String,
        /// The limit, in seconds.
        limit_s: u64,
        /// How it was killed.
        pid_note: String,
    },
    /// A plugin exited 0 but printed something that is not a CNI result.
    #[error("CNI {verb} of {pod}: plugin {plugin} exited 0 but printed {what}, not a CNI result: a plugin must print its result as JSON on stdout (CNI spec §5)")]
    BadOutput {
        /// The verb.
        verb: String,
        /// The pod.
        pod: String,
        /// The plugin's `type`.
        plugin: String,
        /// What it printed, in words (`nothing`, `"garbage..."`).
        what: String,
    },
    /// Running a plugin failed on cnbench's side (the node's agent, the namespace).
    #[error("CNI {verb} of {pod}: running plugin {plugin}: {source}")]
    Run {
        /// The verb.
        verb: String,
        /// The pod.
        pod: String,
        /// The plugin's `type`.
        plugin: String,
        /// What failed (boxed: a harness error is large, and this one is rare).
        source: Box<harness::HarnessError>,
    },
    /// The runtime's cache of results could not be written or read.
    #[error("CNI result cache {path}: {message}")]
    Cache {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

fn details_suffix(details: &str) -> String {
    if details.is_empty() {
        String::new()
    } else {
        format!(" ({details})")
    }
}

fn stderr_suffix(stderr: &str) -> String {
    if stderr.trim().is_empty() {
        String::new()
    } else {
        format!("; its stderr ends: {}", stderr.trim())
    }
}

impl From<CniError> for harness::HarnessError {
    fn from(e: CniError) -> Self {
        match e {
            CniError::Run { source, .. } => *source,
            other => harness::HarnessError::Component {
                message: other.to_string(),
            },
        }
    }
}
