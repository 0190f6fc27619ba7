//! The bgp backend (not built yet).

use std::path::Path;

use harness::backend::{BackendInfo, BackendOptions};
use harness::topology::Underlay;
use harness::Backend;

/// What `cnbench list` shows.
pub static INFO: BackendInfo = BackendInfo {
    name: "bgp",
    summary: "Calico-style /32 routes and proxy ARP; BIRD on every node (mesh or route reflector)",
    underlays: &[Underlay::L2, Underlay::L3],
    link_kinds: &["veth"],
    binaries: &["bird", "birdc"],
    built: false,
};

/// Makes the backend from its options.
pub fn make(_options: &BackendOptions) -> Result<Box<dyn Backend>, String> {
    Err("not built yet".into())
}

/// One point of `cnbench scale`: stands up `nodes` nodes (one pod each) with BGP `topology`
/// on `underlay`, waits up to `timeout` for convergence, measures, tears down.
pub fn scale_point(
    nodes: u32,
    topology: &str,
    underlay: Underlay,
    timeout: std::time::Duration,
    exe: &Path,
) -> reports::ScalePoint {
    let _ = (underlay, timeout, exe);
    reports::ScalePoint {
        topology: topology.into(),
        nodes,
        error: Some("bgp is not built yet".into()),
        ..Default::default()
    }
}
