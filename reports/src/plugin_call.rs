//! Every invocation of a plugin a run made (a CNI plugin's ADD, CHECK, DEL, VERSION, GC,
//! STATUS), with its wall time, so a plugin's author sees where the milliseconds go.

use serde::{Deserialize, Serialize};

/// One invocation of a plugin.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginCallRecord {
    /// The pod it was for (`n0p1`); `-` for a call that concerns no pod (VERSION, GC,
    /// STATUS).
    pub pod: String,
    /// The node it ran in (`n0`).
    pub node: String,
    /// The plugin's `type` (`bridge`).
    pub plugin: String,
    /// The verb (`ADD`, `CHECK`, `DEL`, `VERSION`, `GC`, `STATUS`).
    pub verb: String,
    /// Wall time from its start to its exit, in nanoseconds.
    pub wall_ns: u64,
    /// How it ended: `ok`, `error <code>` (a CNI error on stdout), `failed` (non-zero exit
    /// without one), `bad output`, `timed out`, `interrupted`.
    pub outcome: String,
}
