//! Errors of the bgp backend: each names the object (speaker, file, socket) and the fix.

use std::path::PathBuf;

use harness::HarnessError;

/// What can go wrong in the bgp backend.
#[derive(Debug, thiserror::Error)]
pub enum BgpError {
    /// `--bgp-topology` has a value the backend does not know.
    #[error(
        "--bgp-topology {0}: use mesh (every node peers with every other) or rr (route reflectors)"
    )]
    Topology(String),

    /// `--bgp-announce` has a value the backend does not know.
    #[error(
        "--bgp-announce {0}: use block (each node announces its pod block) or pod (a /32 per pod)"
    )]
    Announce(String),

    /// `--bgp-speaker` (or a role's speaker option) has a value the backend does not know.
    #[error("--bgp-speaker {0}: use bird, frr or gobgp")]
    SpeakerKind(String),

    /// A speaker's own CLI (`vtysh`, `gobgp`) could not read its state.
    #[error("{command} (on {speaker}): {message}")]
    Cli {
        /// The speaker.
        speaker: String,
        /// The command.
        command: String,
        /// What went wrong.
        message: String,
    },

    /// The daemon's own check refused a generated configuration (a bug in the generator).
    #[error("the speaker refuses the configuration {path} of {speaker}: {message}")]
    Config {
        /// The speaker (`n0`, `router`).
        speaker: String,
        /// The configuration file.
        path: PathBuf,
        /// BIRD's own words.
        message: String,
    },

    /// A speaker's process ended or never answered on its control socket.
    #[error("{daemon} on {speaker} ({netns}) {what}; its log: {log}")]
    NotRunning {
        /// The daemon (`BIRD`, `FRR`, `GoBGP`).
        daemon: &'static str,
        /// The speaker.
        speaker: String,
        /// Its namespace.
        netns: String,
        /// What happened (`exited at startup`).
        what: String,
        /// The last lines of its stderr and log.
        log: String,
    },

    /// A speaker's IPv6 address stayed in duplicate address detection, or failed it: its
    /// IPv6 sessions could not bind to it.
    #[error(
        "BIRD on {speaker} ({netns}) cannot open its IPv6 sessions: {addresses} (waited up to \
         {waited_s} s); a dadfailed address has a duplicate on its link"
    )]
    AddressNotUsable {
        /// The speaker.
        speaker: String,
        /// Its namespace.
        netns: String,
        /// The addresses and their state (`fd00:10:168::1/64 tentative`).
        addresses: String,
        /// How long setup waited.
        waited_s: u64,
    },

    /// `birdc` could not talk to a BIRD.
    #[error(
        "birdc -s {socket} (BIRD on {speaker}): {message}; BIRD answers there once it runs \
         with its configuration loaded"
    )]
    Birdc {
        /// The speaker (`n0`, `router`).
        speaker: String,
        /// The control socket, on the speaker's machine.
        socket: PathBuf,
        /// What went wrong (birdc's own words).
        message: String,
    },

    /// The speaker's host refused an operation (its node agent is gone, its disk is full).
    #[error("BIRD on {speaker} ({netns}): {what}: {source}")]
    Host {
        /// The speaker.
        speaker: String,
        /// Its namespace.
        netns: String,
        /// What was being done (`writing its configuration bird/n0/bird.conf`).
        what: String,
        /// The host's error, which names the fix.
        #[source]
        source: Box<HarnessError>,
    },

    /// Writing or reading a file of the run's BIRD directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl From<BgpError> for HarnessError {
    fn from(e: BgpError) -> HarnessError {
        match e {
            BgpError::NotRunning {
                ref speaker,
                ref netns,
                ..
            } => HarnessError::Process {
                what: format!("bgp speaker on {speaker}"),
                netns: netns.clone(),
                message: e.to_string(),
            },
            BgpError::Host { ref netns, .. } | BgpError::AddressNotUsable { ref netns, .. } => {
                HarnessError::Process {
                    what: "bird".into(),
                    netns: netns.clone(),
                    message: e.to_string(),
                }
            }
            BgpError::Io { path, source } => HarnessError::io(path.display().to_string(), source),
            other => HarnessError::Process {
                what: "bird".into(),
                netns: "-".into(),
                message: other.to_string(),
            },
        }
    }
}
