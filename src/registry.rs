//! Every backend of DESIGN.md §3 by name: the built ones with a constructor, the planned ones
//! with what they will need, so `cnbench list` and error messages know them all.

use harness::backend::{BackendInfo, BackendOptions};
use harness::Backend;

/// Makes a backend from its options, or says which option is wrong.
pub type Make = fn(&BackendOptions) -> Result<Box<dyn Backend>, String>;

/// Runs a backend's datapath daemon (`cnbench daemon <backend> <json>`), inside a node.
pub type Daemon = fn(&str) -> Result<(), String>;

/// A backend the registry knows.
pub struct Entry {
    /// Static description.
    pub info: &'static BackendInfo,
    /// Makes one, if this build has it.
    pub make: Option<Make>,
    /// Its daemon, if it has one.
    pub daemon: Option<Daemon>,
}

/// A backend with no options of its own.
fn plain<B: Backend + Default + 'static>(o: &BackendOptions) -> Result<Box<dyn Backend>, String> {
    match &o.datapath {
        None => Ok(Box::new(B::default())),
        Some(d) => Err(format!(
            "--datapath {d}: this backend has one datapath; leave --datapath out"
        )),
    }
}

/// All backends, in the article's order.
pub fn all() -> Vec<Entry> {
    vec![
        Entry {
            info: &backend_host_net::INFO,
            make: Some(plain::<backend_host_net::HostNet>),
            daemon: None,
        },
        Entry {
            info: &backend_bridge::INFO,
            make: Some(plain::<backend_bridge::Bridge>),
            daemon: None,
        },
        Entry {
            info: &backend_flannel_udp::INFO,
            make: backend_flannel_udp::INFO
                .built
                .then_some(backend_flannel_udp::make as Make),
            daemon: Some(backend_flannel_udp::daemon),
        },
        Entry {
            info: &backend_vxlan::INFO,
            make: backend_vxlan::INFO
                .built
                .then_some(backend_vxlan::make as Make),
            daemon: None,
        },
        Entry {
            info: &backend_ipip::INFO,
            make: backend_ipip::INFO
                .built
                .then_some(backend_ipip::make as Make),
            daemon: Some(backend_ipip::daemon),
        },
        Entry {
            info: &backend_host_gw::INFO,
            make: backend_host_gw::INFO
                .built
                .then_some(backend_host_gw::make as Make),
            daemon: None,
        },
        Entry {
            info: &backend_bgp::INFO,
            make: backend_bgp::INFO.built.then_some(backend_bgp::make as Make),
            daemon: None,
        },
    ]
}

/// The daemon of backend `name`.
pub fn daemon(name: &str) -> Result<Daemon, String> {
    all()
        .into_iter()
        .find(|e| e.info.name == name)
        .and_then(|e| e.daemon)
        .ok_or_else(|| format!("backend {name:?} has no daemon"))
}

/// The backend called `name`, or a one-line error that lists the choices.
pub fn make(name: &str, options: &BackendOptions) -> Result<Box<dyn Backend>, String> {
    let entries = all();
    let built: Vec<&str> = entries
        .iter()
        .filter(|e| e.make.is_some())
        .map(|e| e.info.name)
        .collect();
    if options.bgp_topology.is_some() && name != "bgp" {
        return Err(format!(
            "--bgp-topology applies to the bgp backend only; leave it out for {name}"
        ));
    }
    match entries.iter().find(|e| e.info.name == name) {
        Some(Entry {
            make: Some(make), ..
        }) => make(options).map_err(|e| format!("backend {name}: {e}")),
        Some(_) => Err(format!(
            "backend {name} is planned but not built yet; built: {}",
            built.join(", ")
        )),
        None => Err(format!(
            "unknown backend {name:?}; choose one of: {} (`cnbench list` shows them)",
            entries
                .iter()
                .map(|e| e.info.name)
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}
