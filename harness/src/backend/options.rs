//! Backend-specific command-line options: each backend declares its own ([`OptionDecl`]), the
//! `cnbench` binary offers every declared flag and routes what was given to the backend
//! chosen ([`BackendOptions`], checked against that backend's declarations), and the backend
//! parses the values into its own typed settings. The harness only carries them: it records
//! them in the run's state, so `check` and `down` make the same backend again, and in the
//! result.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One option a backend takes, as `--<flag> <value>`: a value from a known set, or
/// free-form (a file, a list of directories) when [`OptionDecl::values`] is empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionDecl {
    /// The flag without its dashes (`datapath`).
    pub flag: &'static str,
    /// What it chooses, in a sentence (for `--help`).
    pub help: &'static str,
    /// Every value it takes, each with what it means; empty for a free-form value.
    pub values: &'static [(&'static str, &'static str)],
    /// What a free-form value is, for help (`FILE`, `DIRS`, `SECONDS`); `VALUE` for a value
    /// from the set.
    pub value_name: &'static str,
    /// The value when the flag is left out; none when the backend decides by detection
    /// (ipip: the kernel datapath where the kernel has it).
    pub default: Option<&'static str>,
}

impl OptionDecl {
    /// Whether `value` is one of its values (any value, when free-form: the backend parses
    /// it).
    pub fn takes(&self, value: &str) -> bool {
        self.free_form() || self.values.iter().any(|(v, _)| *v == value)
    }

    /// Whether any value is taken (the backend parses it).
    pub fn free_form(&self) -> bool {
        self.values.is_empty()
    }

    /// Its values, comma-separated (for messages); `<FILE>` for a free-form one.
    pub fn value_list(&self) -> String {
        if self.free_form() {
            return format!("<{}>", self.value_name);
        }
        self.values
            .iter()
            .map(|(v, _)| *v)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The backend-specific options of one run: flag (without dashes) → value, as given (and, from
/// [`super::Backend::options`], as resolved).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BackendOptions(BTreeMap<String, String>);

impl BackendOptions {
    /// No options.
    pub fn new() -> BackendOptions {
        BackendOptions::default()
    }

    /// With `flag` set to `value`.
    pub fn with(mut self, flag: &str, value: &str) -> BackendOptions {
        self.0.insert(flag.to_string(), value.to_string());
        self
    }

    /// Sets `flag` to `value`.
    pub fn set(&mut self, flag: &str, value: &str) {
        self.0.insert(flag.to_string(), value.to_string());
    }

    /// The value of `flag`, if given.
    pub fn get(&self, flag: &str) -> Option<&str> {
        self.0.get(flag).map(String::as_str)
    }

    /// Whether none is given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every `(flag, value)`, by flag.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// As a map (for the result and the run's state).
    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.0.clone()
    }

    /// From a map (a run's state).
    pub fn from_map(map: BTreeMap<String, String>) -> BackendOptions {
        BackendOptions(map)
    }

    /// Refuses a flag `backend` does not declare, or a value it does not take, with the fix.
    pub fn check(&self, backend: &str, declared: &[OptionDecl]) -> Result<(), String> {
        for (flag, value) in self.iter() {
            let Some(decl) = declared.iter().find(|d| d.flag == flag) else {
                return Err(format!(
                    "--{flag} is not an option of backend {backend}; leave it out{}",
                    match declared {
                        [] => String::new(),
                        d => format!(
                            " ({backend} takes {})",
                            d.iter()
                                .map(|d| format!("--{}", d.flag))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    }
                ));
            };
            if !decl.takes(value) {
                return Err(format!(
                    "--{flag} {value}: backend {backend} takes {}",
                    decl.value_list()
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATAPATH: OptionDecl = OptionDecl {
        flag: "datapath",
        help: "how packets are moved",
        values: &[("faithful", "one at a time"), ("batched", "in batches")],
        value_name: "VALUE",
        default: Some("faithful"),
    };

    #[test]
    fn options_are_checked_against_the_backends_declarations() {
        let ok = BackendOptions::new().with("datapath", "batched");
        assert_eq!(ok.check("flannel-udp", &[DATAPATH]), Ok(()));
        let bad = BackendOptions::new().with("datapath", "xdp");
        assert_eq!(
            bad.check("flannel-udp", &[DATAPATH]).unwrap_err(),
            "--datapath xdp: backend flannel-udp takes faithful, batched"
        );
        let foreign = BackendOptions::new().with("bgp-topology", "rr");
        assert_eq!(
            foreign.check("vxlan", &[]).unwrap_err(),
            "--bgp-topology is not an option of backend vxlan; leave it out"
        );
        assert!(foreign
            .check("flannel-udp", &[DATAPATH])
            .unwrap_err()
            .ends_with("(flannel-udp takes --datapath)"));
        // The state file's form: a plain JSON object.
        assert_eq!(
            serde_json::to_string(&ok).unwrap(),
            r#"{"datapath":"batched"}"#
        );
    }
}
