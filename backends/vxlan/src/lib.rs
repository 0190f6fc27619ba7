//! The vxlan backend (not built yet).

use harness::backend::{BackendInfo, BackendOptions};
use harness::topology::Underlay;
use harness::Backend;

/// What `cnbench list` shows.
pub static INFO: BackendInfo = BackendInfo {
    name: "vxlan",
    summary: "cni0 bridge + kernel VXLAN flannel.1 (VNI 1, UDP 8472), static FDB and neighbours",
    underlays: &[Underlay::L2, Underlay::L3],
    link_kinds: &["veth", "bridge", "vxlan"],
    binaries: &[],
    built: false,
};

/// Makes the backend from its options.
pub fn make(_options: &BackendOptions) -> Result<Box<dyn Backend>, String> {
    Err("not built yet".into())
}
