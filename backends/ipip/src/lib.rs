//! The ipip backend (not built yet).

use harness::backend::{BackendInfo, BackendOptions};
use harness::topology::Underlay;
use harness::Backend;

/// What `cnbench list` shows.
pub static INFO: BackendInfo = BackendInfo {
    name: "ipip",
    summary: "cni0 bridge + tunl0 IP-in-IP (kernel ipip, or TUN + raw socket where it lacks it)",
    underlays: &[Underlay::L2, Underlay::L3],
    link_kinds: &["veth", "bridge", "ipip"],
    binaries: &[],
    built: false,
};

/// Makes the backend from its options.
pub fn make(_options: &BackendOptions) -> Result<Box<dyn Backend>, String> {
    Err("not built yet".into())
}

/// Runs the datapath daemon (`cnbench daemon <backend> <json>`) inside a node.
pub fn daemon(_config: &str) -> Result<(), String> {
    Err("not built yet".into())
}
