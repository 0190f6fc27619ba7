//! The software under test a run drove but cnbench did not write: a CNI network and each
//! plugin of its chain (later: the routing daemons a backend runs), as each described itself,
//! so a result says exactly which binaries its figures belong to.

use serde::{Deserialize, Serialize};

/// One piece of software the backend ran.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentRecord {
    /// What it is to the run: `cni-network` (a network configuration list), `cni-plugin`
    /// (one binary of its chain, in chain order).
    pub role: String,
    /// Its name: the network's `name`, a plugin's `type` (`bridge`).
    pub name: String,
    /// Where it was run from (on a VM node, the path inside the VM); none for a
    /// configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The version its configuration says (a network's `cniVersion`), or the one the
    /// binary reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Every version it said it supports (a CNI plugin's `VERSION` answer).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supported_versions: Vec<String>,
    /// What else a reader needs: where its configuration came from, a setting cnbench
    /// substituted or left alone and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}
