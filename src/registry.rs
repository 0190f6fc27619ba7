//! Every backend of docs/design.md §3 by name: its static facts, how to make it from its
//! options and the plan, and its datapath daemon. The only place that names backends: the
//! harness asks a backend for its capabilities and never knows which one it has.
//!
//! Each backend declares its own options ([`harness::backend::OptionDecl`]); the command
//! line offers the union of them ([`option_flags`]), and [`make`] routes what was given to
//! the backend chosen, refusing a flag that backend does not take.

use harness::backend::{BackendInfo, BackendOptions, OptionDecl};
use harness::topology::Plan;
use harness::Backend;

/// Makes a backend from its options for a plan, or says which option is wrong.
pub type Make = fn(&BackendOptions, &Plan) -> Result<Box<dyn Backend>, String>;

/// Runs a backend's datapath daemon (`cnbench daemon <backend> <json>`), inside a node.
pub type Daemon = fn(&str) -> Result<(), String>;

/// A backend the registry knows.
pub struct Entry {
    /// Static description.
    pub info: &'static BackendInfo,
    /// Makes one.
    pub make: Make,
    /// Its daemon, if it has one.
    pub daemon: Option<Daemon>,
    /// Whether it has a control plane `cnbench scale` measures (for naming which backends
    /// do; the backend's capability is what the sweep uses).
    pub scales: bool,
}

/// A backend made by its type's `Default` (no options of its own).
fn plain<B: Backend + Default + 'static>(
    _: &BackendOptions,
    _: &Plan,
) -> Result<Box<dyn Backend>, String> {
    Ok(Box::new(B::default()))
}

/// All backends, in the article's order.
pub fn all() -> Vec<Entry> {
    vec![
        Entry {
            info: &backend_host_net::INFO,
            make: plain::<backend_host_net::HostNet>,
            daemon: None,
            scales: false,
        },
        Entry {
            info: &backend_bridge::INFO,
            make: plain::<backend_bridge::Bridge>,
            daemon: None,
            scales: false,
        },
        Entry {
            info: &backend_flannel_udp::INFO,
            make: backend_flannel_udp::make,
            daemon: Some(backend_flannel_udp::daemon),
            scales: false,
        },
        Entry {
            info: &backend_vxlan::INFO,
            make: backend_vxlan::make,
            daemon: None,
            scales: false,
        },
        Entry {
            info: &backend_ipip::INFO,
            make: backend_ipip::make,
            daemon: Some(backend_ipip::daemon),
            scales: false,
        },
        Entry {
            info: &backend_host_gw::INFO,
            make: backend_host_gw::make,
            daemon: None,
            scales: false,
        },
        Entry {
            info: &backend_bgp::INFO,
            make: backend_bgp::make,
            daemon: Some(backend_bgp::daemon),
            scales: true,
        },
        Entry {
            info: &backend_cni::INFO,
            make: backend_cni::make,
            daemon: None,
            scales: false,
        },
    ]
}

/// Every backend's name, in the article's order.
pub fn names() -> Vec<&'static str> {
    all().iter().map(|e| e.info.name).collect()
}

/// The static facts of backend `name`, or a one-line error that lists the choices.
pub fn info(name: &str) -> Result<&'static BackendInfo, String> {
    all()
        .into_iter()
        .find(|e| e.info.name == name)
        .map(|e| e.info)
        .ok_or_else(|| {
            format!(
                "unknown backend {name:?}; choose one of: {} (`cnbench list` shows them)",
                names().join(", ")
            )
        })
}

/// The backend called `name`, with `options` (each checked against the backend's own
/// declarations), made and validated for `plan`.
pub fn make(name: &str, options: &BackendOptions, plan: &Plan) -> Result<Box<dyn Backend>, String> {
    info(name)?;
    let entry = all()
        .into_iter()
        .find(|e| e.info.name == name)
        .expect("info found it");
    options.check(name, entry.info.options)?;
    let backend = (entry.make)(options, plan).map_err(|e| format!("backend {name}: {e}"))?;
    backend.validate(plan).map_err(|e| e.to_string())?;
    Ok(backend)
}

/// The same-session baseline's backend.
pub fn host_net() -> Box<dyn Backend> {
    Box::new(backend_host_net::HostNet)
}

/// The daemon of backend `name`.
pub fn daemon(name: &str) -> Result<Daemon, String> {
    all()
        .into_iter()
        .find(|e| e.info.name == name)
        .and_then(|e| e.daemon)
        .ok_or_else(|| format!("backend {name:?} has no daemon"))
}

/// One backend-specific flag as the command line offers it: every backend's declaration of
/// it merged (`--datapath` is flannel-udp's and ipip's, with different values).
#[derive(Debug, Clone)]
pub struct OptionFlag {
    /// The flag without dashes.
    pub flag: &'static str,
    /// `(backend, its declaration)` for every backend that takes it.
    pub declared: Vec<(&'static str, OptionDecl)>,
}

impl OptionFlag {
    /// Every value some backend takes, with `backend: meaning` for each, without repeats.
    pub fn values(&self) -> Vec<(&'static str, String)> {
        let mut out: Vec<(&'static str, String)> = Vec::new();
        for (backend, decl) in &self.declared {
            for (v, help) in decl.values {
                match out.iter_mut().find(|(x, _)| x == v) {
                    Some((_, h)) => h.push_str(&format!("; {backend}: {help}")),
                    None => out.push((v, format!("{backend}: {help}"))),
                }
            }
        }
        out
    }

    /// Whether it takes any value (every declaration of it is free-form; the registry's test
    /// keeps a flag from being free-form for one backend and a set for another).
    pub fn free_form(&self) -> bool {
        self.declared.iter().all(|(_, d)| d.free_form())
    }

    /// What its value is called in help (`FILE`; `VALUE` for a set).
    pub fn value_name(&self) -> &'static str {
        self.declared
            .first()
            .map(|(_, d)| d.value_name)
            .unwrap_or("VALUE")
    }

    /// The help of the flag: what it chooses, per backend.
    pub fn help(&self) -> String {
        let per: Vec<String> = self
            .declared
            .iter()
            .map(|(backend, d)| {
                let default = d
                    .default
                    .map(|v| format!(" [default: {v}]"))
                    .unwrap_or_default();
                format!("{backend}: {} ({}){default}", d.help, d.value_list())
            })
            .collect();
        format!("A backend's own option. {}", per.join(". "))
    }
}

/// Every backend-specific flag, in order of first declaration.
pub fn option_flags() -> Vec<OptionFlag> {
    let mut out: Vec<OptionFlag> = Vec::new();
    for e in all() {
        for d in e.info.options {
            match out.iter_mut().find(|f| f.flag == d.flag) {
                Some(f) => f.declared.push((e.info.name, *d)),
                None => out.push(OptionFlag {
                    flag: d.flag,
                    declared: vec![(e.info.name, *d)],
                }),
            }
        }
    }
    out
}

/// Every fault `cnbench fault` knows: the harness's own, then each backend's own (once each),
/// with the backends that have it.
pub fn faults() -> Vec<(&'static str, &'static str, Vec<&'static str>)> {
    let mut out: Vec<(&'static str, &'static str, Vec<&'static str>)> =
        harness::fault::FaultKind::GENERIC
            .iter()
            .map(|k| (k.name(), k.summary(), Vec::new()))
            .collect();
    for e in all() {
        for f in e.info.faults {
            match out.iter_mut().find(|(n, _, _)| *n == f.name) {
                Some((_, _, by)) => by.push(e.info.name),
                None => out.push((f.name, f.summary, vec![e.info.name])),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_backend_is_made_from_its_declared_options() {
        use harness::topology::TopologyRequest;
        for e in all() {
            let plan = e
                .info
                .plan(&TopologyRequest::default(), "t1".into())
                .unwrap();
            // A chain's configuration, for the options that need one.
            let conf = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/cni/cbr0.conflist");
            // Each declared value is one the backend takes (ipip's detection needs root, so
            // its datapath is named).
            for d in e.info.options {
                for (v, _) in d.values {
                    if e.info.name == "ipip" && *v == "kernel" {
                        continue;
                    }
                    let mut o = BackendOptions::new().with(d.flag, v);
                    if *v == "cni" {
                        o.set("cni-conf", conf);
                    }
                    let b = (e.make)(&o, &plan).unwrap_or_else(|x| panic!("{x}"));
                    assert_eq!(b.options().get(d.flag), Some(*v), "{}", e.info.name);
                    assert_eq!(b.info().name, e.info.name);
                }
            }
            // The faults a backend says it has are those its faults capability injects
            // (ipip's only on its userspace datapath).
            let o = match e.info.name {
                "ipip" => BackendOptions::new().with("datapath", "userspace"),
                "cni" => BackendOptions::new().with("cni-conf", conf),
                _ => BackendOptions::new(),
            };
            let b = (e.make)(&o, &plan).unwrap();
            let injected: Vec<&str> = b
                .capabilities()
                .faults
                .map(|f| f.faults().iter().map(|d| d.name).collect())
                .unwrap_or_default();
            let said: Vec<&str> = b.info().faults.iter().map(|f| f.name).collect();
            assert_eq!(injected, said, "{}", e.info.name);
            let listed: Vec<&str> = e.info.faults.iter().map(|f| f.name).collect();
            assert_eq!(said, listed, "{}", e.info.name);
            assert_eq!(
                b.capabilities().scale.is_some(),
                e.scales,
                "{}",
                e.info.name
            );
        }
        // A flag of another backend is refused by name, with what this one takes.
        let plan = backend_vxlan::INFO
            .plan(&TopologyRequest::default(), "t1".into())
            .unwrap();
        let e = make(
            "vxlan",
            &BackendOptions::new().with("bgp-topology", "rr"),
            &plan,
        )
        .err()
        .unwrap();
        assert_eq!(
            e,
            "--bgp-topology is not an option of backend vxlan; leave it out (vxlan takes \
             --pod-wiring, --cni-conf, --cni-path, --cni-timeout)"
        );
        assert!(make("vxlann", &BackendOptions::new(), &plan)
            .err()
            .unwrap()
            .starts_with("unknown backend \"vxlann\""));
    }

    #[test]
    fn shared_flags_merge_their_values() {
        let flags = option_flags();
        // A flag is free-form for every backend that takes it, or for none, under one name.
        for f in &flags {
            let free: Vec<bool> = f.declared.iter().map(|(_, d)| d.free_form()).collect();
            assert!(free.iter().all(|x| *x == free[0]), "--{}", f.flag);
            assert!(
                f.declared
                    .iter()
                    .all(|(_, d)| d.value_name == f.value_name()),
                "--{}",
                f.flag
            );
        }
        let datapath = flags.iter().find(|f| f.flag == "datapath").unwrap();
        let values: Vec<&str> = datapath.values().iter().map(|(v, _)| *v).collect();
        assert_eq!(
            values,
            ["faithful", "batched", "offload", "kernel", "userspace"]
        );
        assert!(datapath.help().contains("flannel-udp:") && datapath.help().contains("ipip:"));
        let faults = faults();
        let daemon = faults.iter().find(|f| f.0 == "daemon-restart").unwrap();
        assert_eq!(daemon.2, ["flannel-udp", "ipip"]);
    }
}
