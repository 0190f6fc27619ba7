//! The host-gw backend (not built yet).

use harness::backend::{BackendInfo, BackendOptions};
use harness::topology::Underlay;
use harness::Backend;

/// What `cnbench list` shows.
pub static INFO: BackendInfo = BackendInfo {
    name: "host-gw",
    summary: "cni0 bridge, no tunnel: routes to each node's pod block via the node's IP (l2 only)",
    underlays: &[Underlay::L2],
    link_kinds: &["veth", "bridge"],
    binaries: &[],
    built: false,
};

/// Makes the backend from its options.
pub fn make(_options: &BackendOptions) -> Result<Box<dyn Backend>, String> {
    Err("not built yet".into())
}
