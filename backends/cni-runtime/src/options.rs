//! The command-line options of CNI chains, as backends declare them (`--cni-conf`,
//! `--cni-path`, `--cni-timeout`, and `--pod-wiring` for the backends a chain may wire), and
//! the settings they give.

use std::path::PathBuf;
use std::time::Duration;

use harness::backend::{BackendOptions, OptionDecl};

use crate::error::CniError;

/// `--cni-conf`: the network configuration.
pub const CONF_OPTION: OptionDecl = OptionDecl {
    flag: "cni-conf",
    help: "the CNI network configuration whose plugin chain wires the pods (a .conflist, or a single .conf)",
    values: &[],
    value_name: "FILE",
    default: None,
};

/// The CNI path when `--cni-path` is not given: where the plugins' upstream installs them,
/// then where Debian's containernetworking-plugins does.
pub const DEFAULT_CNI_PATH: &str = "/opt/cni/bin:/usr/lib/cni";

/// `--cni-path`: where the chain's binaries are looked up.
pub const PATH_OPTION: OptionDecl = OptionDecl {
    flag: "cni-path",
    help: "directories (colon-separated) the chain's plugin binaries are looked up in, in order",
    values: &[],
    value_name: "DIRS",
    default: Some(DEFAULT_CNI_PATH),
};

/// The per-verb limit when `--cni-timeout` is not given, in seconds.
pub const DEFAULT_TIMEOUT_S: u64 = 30;

/// `--cni-timeout`: how long one plugin invocation may take.
pub const TIMEOUT_OPTION: OptionDecl = OptionDecl {
    flag: "cni-timeout",
    help: "seconds one plugin invocation (ADD, CHECK, DEL, VERSION) may take before it is killed by its pid",
    values: &[],
    value_name: "SECONDS",
    default: Some("30"),
};

/// `--pod-wiring`: who wires the pods of a backend with a control plane of its own.
pub const POD_WIRING_OPTION: OptionDecl = OptionDecl {
    flag: "pod-wiring",
    help: "who wires the pods to their node",
    values: &[
        ("builtin", "cnbench's own veth pairs on the node's cni0"),
        (
            "cni",
            "the CNI chain of --cni-conf, run for each pod as a container runtime runs it",
        ),
    ],
    value_name: "VALUE",
    default: Some("builtin"),
};

/// The options of the `cni` backend.
pub const CHAIN_OPTIONS: [OptionDecl; 3] = [CONF_OPTION, PATH_OPTION, TIMEOUT_OPTION];

/// The options of a backend whose pods a chain may wire.
pub const POD_WIRING_OPTIONS: [OptionDecl; 4] =
    [POD_WIRING_OPTION, CONF_OPTION, PATH_OPTION, TIMEOUT_OPTION];

/// The CNI settings of a run, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The configuration file (absolute).
    pub conf: PathBuf,
    /// The CNI path, in order.
    pub dirs: Vec<PathBuf>,
    /// The per-verb limit.
    pub timeout: Duration,
}

impl Settings {
    /// From the backend's options; `--cni-conf` is required.
    pub fn from_options(o: &BackendOptions) -> Result<Settings, CniError> {
        let conf = o.get(CONF_OPTION.flag).ok_or(CniError::NoConf)?;
        let conf = std::path::absolute(conf).unwrap_or_else(|_| PathBuf::from(conf));
        let dirs: Vec<PathBuf> = o
            .get(PATH_OPTION.flag)
            .unwrap_or(DEFAULT_CNI_PATH)
            .split(':')
            .filter(|d| !d.is_empty())
            // Absolute, so `down` or `clean` from another directory finds the same binaries.
            .map(|d| std::path::absolute(d).unwrap_or_else(|_| PathBuf::from(d)))
            .collect();
        if dirs.is_empty() {
            return Err(CniError::BadOption {
                flag: PATH_OPTION.flag,
                value: String::new(),
                why: "no directory: give directories, colon-separated".into(),
            });
        }
        let timeout = match o.get(TIMEOUT_OPTION.flag) {
            None => Duration::from_secs(DEFAULT_TIMEOUT_S),
            Some(t) => match t.parse::<u64>() {
                Ok(s) if (1..=3600).contains(&s) => Duration::from_secs(s),
                _ => {
                    return Err(CniError::BadOption {
                        flag: TIMEOUT_OPTION.flag,
                        value: t.to_string(),
                        why: "give whole seconds from 1 to 3600".into(),
                    })
                }
            },
        };
        Ok(Settings {
            conf,
            dirs,
            timeout,
        })
    }

    /// Writes the settings into `o`, every default resolved, so a result and the run's state
    /// say exactly what ran.
    pub fn resolve_into(&self, o: &mut BackendOptions) {
        o.set(CONF_OPTION.flag, &self.conf.display().to_string());
        let dirs: Vec<String> = self.dirs.iter().map(|d| d.display().to_string()).collect();
        o.set(PATH_OPTION.flag, &dirs.join(":"));
        o.set(TIMEOUT_OPTION.flag, &self.timeout.as_secs().to_string());
    }
}

/// Whether the pods are wired by a chain (`--pod-wiring cni`): the settings if so; an error
/// when CNI flags are given without it.
pub fn pod_wiring(o: &BackendOptions) -> Result<Option<Settings>, CniError> {
    match o.get(POD_WIRING_OPTION.flag).unwrap_or("builtin") {
        "cni" => Settings::from_options(o).map(Some),
        _ => {
            let stray: Vec<String> = [CONF_OPTION, PATH_OPTION, TIMEOUT_OPTION]
                .iter()
                .filter(|d| o.get(d.flag).is_some())
                .map(|d| format!("--{}", d.flag))
                .collect();
            if stray.is_empty() {
                Ok(None)
            } else {
                Err(CniError::WithoutPodWiring { flags: stray })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_come_from_the_options_with_the_fix_when_wrong() {
        let o = BackendOptions::new().with("cni-conf", "/etc/cni/net.d/10-docker0.conflist");
        let s = Settings::from_options(&o).unwrap();
        assert_eq!(
            s.dirs,
            [PathBuf::from("/opt/cni/bin"), PathBuf::from("/usr/lib/cni")]
        );
        assert_eq!(s.timeout, Duration::from_secs(30));
        let mut resolved = BackendOptions::new();
        s.resolve_into(&mut resolved);
        assert_eq!(resolved.get("cni-timeout"), Some("30"));
        let e = Settings::from_options(&BackendOptions::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("give --cni-conf FILE"), "{e}");
        let e = Settings::from_options(&o.clone().with("cni-timeout", "0"))
            .unwrap_err()
            .to_string();
        assert_eq!(e, "--cni-timeout 0: give whole seconds from 1 to 3600");
        assert_eq!(pod_wiring(&BackendOptions::new()).unwrap(), None);
        let e = pod_wiring(&o).unwrap_err().to_string();
        assert!(
            e.contains("--cni-conf apply only with --pod-wiring cni"),
            "{e}"
        );
        assert!(pod_wiring(&o.with("pod-wiring", "cni")).unwrap().is_some());
    }
}
