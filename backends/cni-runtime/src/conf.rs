//! Network configurations as CNI specification §1 defines them: a `.conflist` (a named list
//! of plugin configurations), or a single `.conf` (one plugin configuration, taken as a list
//! of one, as libcni does). Loaded and checked before anything is made; then turned into the
//! request configuration each plugin gets on stdin (§3, "Deriving request configuration").

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use harness::topology::IpFamily;
use ipnet::IpNet;
use serde_json::{Map, Value};

use crate::error::CniError;

/// The CNI specification versions cnbench runs networks at, oldest first. 0.1.0 and 0.2.0
/// results have another shape (`ip4`/`ip6`) and are not taken.
pub const SUPPORTED_VERSIONS: [&str; 5] = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

/// A network configuration list, as loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkList {
    /// The file it came from.
    pub source: PathBuf,
    /// The network's `name`.
    pub name: String,
    /// Every version the file says it conforms to (`cniVersion`, then `cniVersions`).
    pub versions: Vec<String>,
    /// `disableCheck`: CHECK must not be called.
    pub disable_check: bool,
    /// The plugins, in chain order.
    pub plugins: Vec<PluginConf>,
    /// Whether the file was a single plugin configuration (`.conf`).
    pub single: bool,
}

/// One plugin configuration of the chain: every key as written (the runtime must pass
/// unknown keys through unchanged, §1).
#[derive(Debug, Clone, PartialEq)]
pub struct PluginConf {
    /// Its `type`: the binary's name on the CNI path.
    pub plugin_type: String,
    /// The object as written.
    pub raw: Map<String, Value>,
}

impl PluginConf {
    /// The capabilities it declares (`"capabilities": {"portMappings": true}`), those set to
    /// true.
    pub fn capabilities(&self) -> Vec<String> {
        self.raw
            .get("capabilities")
            .and_then(Value::as_object)
            .map(|c| {
                c.iter()
                    .filter(|(_, v)| v.as_bool() == Some(true))
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Its IPAM plugin's `type`, if it delegates to one.
    pub fn ipam_type(&self) -> Option<&str> {
        self.raw.get("ipam")?.get("type")?.as_str()
    }

    /// A string key of its own (`bridge` of the bridge plugin).
    pub fn str_key(&self, key: &str) -> Option<&str> {
        self.raw.get(key)?.as_str()
    }
}

impl NetworkList {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<NetworkList, CniError> {
        let text = std::fs::read_to_string(path).map_err(|e| CniError::Read {
            path: path.to_path_buf(),
            message: format!("{e}: give the path of a .conflist or .conf file"),
        })?;
        NetworkList::parse(path, &text)
    }

    /// Checks `text`, the contents of `path`.
    pub fn parse(path: &Path, text: &str) -> Result<NetworkList, CniError> {
        let invalid = |why: String| CniError::Invalid {
            path: path.to_path_buf(),
            why,
        };
        let value: Value = serde_json::from_str(text).map_err(|e| CniError::NotJson {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let Value::Object(top) = value else {
            return Err(invalid(
                "not a JSON object: a network configuration is one".into(),
            ));
        };
        let name = match top.get("name") {
            Some(Value::String(n)) if valid_name(n) => n.clone(),
            Some(Value::String(n)) => {
                return Err(invalid(format!(
                    "network name {n:?} must start with a letter or digit, followed by letters, digits, `_`, `.` or `-` (CNI spec §1)"
                )))
            }
            _ => return Err(invalid("no \"name\": a network configuration names its network".into())),
        };
        let mut versions = Vec::new();
        match top.get("cniVersion") {
            Some(Value::String(v)) => versions.push(v.clone()),
            None => {}
            Some(other) => return Err(invalid(format!("\"cniVersion\" is {other}, not a string"))),
        }
        if let Some(list) = top.get("cniVersions") {
            let Some(list) = list.as_array() else {
                return Err(invalid("\"cniVersions\" is not a list of strings".into()));
            };
            for v in list {
                match v.as_str() {
                    Some(v) if !versions.iter().any(|x| x == v) => versions.push(v.to_string()),
                    Some(_) => {}
                    None => return Err(invalid("\"cniVersions\" is not a list of strings".into())),
                }
            }
        }
        if versions.is_empty() {
            return Err(invalid(format!(
                "no \"cniVersion\": set one of {}",
                SUPPORTED_VERSIONS.join(", ")
            )));
        }
        if !versions
            .iter()
            .any(|v| SUPPORTED_VERSIONS.contains(&v.as_str()))
        {
            return Err(invalid(format!(
                "cniVersion {}: cnbench runs networks at CNI {}",
                versions.join(", "),
                SUPPORTED_VERSIONS.join(", ")
            )));
        }
        let disable_check = top.get("disableCheck").and_then(Value::as_bool) == Some(true);
        let (plugins, single) = match top.get("plugins") {
            Some(Value::Array(list)) => {
                let mut plugins = Vec::new();
                for (i, p) in list.iter().enumerate() {
                    let Value::Object(raw) = p else {
                        return Err(invalid(format!("plugins[{i}] is not an object")));
                    };
                    plugins.push(
                        plugin(raw.clone())
                            .map_err(|why| invalid(format!("plugins[{i}]: {why}")))?,
                    );
                }
                (plugins, false)
            }
            Some(_) => return Err(invalid("\"plugins\" is not a list".into())),
            // A single plugin configuration: the file's object is the plugin's (its
            // `cniVersion` and `name` are the network's and are inserted again at run time).
            None => {
                let mut raw = top.clone();
                for key in [
                    "cniVersion",
                    "cniVersions",
                    "name",
                    "disableCheck",
                    "disableGC",
                ] {
                    raw.remove(key);
                }
                (vec![plugin(raw).map_err(invalid)?], true)
            }
        };
        if plugins.is_empty() {
            return Err(invalid(
                "\"plugins\" is empty: a network needs at least one plugin".into(),
            ));
        }
        Ok(NetworkList {
            source: path.to_path_buf(),
            name,
            versions,
            disable_check,
            plugins,
            single,
        })
    }

    /// Every plugin binary the chain runs, each once, in chain order: each plugin's `type`
    /// and the IPAM plugin it delegates to.
    pub fn binaries(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for p in &self.plugins {
            for t in std::iter::once(p.plugin_type.as_str()).chain(p.ipam_type()) {
                if !out.iter().any(|x| x == t) {
                    out.push(t.to_string());
                }
            }
        }
        out
    }

    /// The versions the runtime may run the network at, highest first: those the file names
    /// that cnbench speaks.
    pub fn candidate_versions(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .versions
            .iter()
            .filter(|v| SUPPORTED_VERSIONS.contains(&v.as_str()))
            .cloned()
            .collect();
        v.sort_by_key(|x| std::cmp::Reverse(version_key(x)));
        v
    }

    /// The version to run at (§1 "Version considerations": the highest the configuration
    /// names, here among those every plugin of the chain says it supports); `supported` is
    /// each plugin's `(type, path, VERSION answer)`.
    pub fn select_version(
        &self,
        supported: &[(String, String, Vec<String>)],
    ) -> Result<String, CniError> {
        let candidates = self.candidate_versions();
        for v in &candidates {
            if supported.iter().all(|(_, _, s)| s.iter().any(|x| x == v)) {
                return Ok(v.clone());
            }
        }
        let top = candidates.first().cloned().unwrap_or_default();
        let (plugin, path, s) = supported
            .iter()
            .find(|(_, _, s)| !s.contains(&top))
            .cloned()
            .unwrap_or_default();
        Err(CniError::Version {
            plugin,
            path,
            version: candidates.join(" or "),
            supported: s,
        })
    }

    /// Keeps host-local's state under `dir` (the run's directory) where the configuration
    /// does not say where (`ipam.dataDir`); returns a note for each plugin whose
    /// configuration keeps it elsewhere (that state outlives the run's namespaces).
    pub fn keep_ipam_state_in(&mut self, dir: &Path) -> Vec<String> {
        let mut notes = Vec::new();
        for p in &mut self.plugins {
            let Some(Value::Object(ipam)) = p.raw.get_mut("ipam") else {
                continue;
            };
            if ipam.get("type").and_then(Value::as_str) != Some("host-local") {
                continue;
            }
            match ipam.get("dataDir").and_then(Value::as_str) {
                Some(d) => notes.push(format!(
                    "{}: host-local keeps its reservations in {d}, as the configuration says (outside the run: DEL releases them)",
                    p.plugin_type
                )),
                None => {
                    ipam.insert("dataDir".into(), Value::String(dir.display().to_string()));
                }
            }
        }
        notes
    }

    /// The network as a node runs it, as flannel's CNI plugin hands `bridge` the node's
    /// lease: every host-local IPAM section allocates from `blocks`, one range set per block
    /// (`(block, gateway)`, one per IP family of the run, IPv4 first: host-local gives a pod
    /// one address from each range set), its `subnet`, `ranges` and range bounds replaced;
    /// and the first plugin, which makes the pod's interface, gets `mtu` unless the
    /// configuration sets one. Returns the network and a note of what was substituted or left
    /// alone.
    pub fn for_node(&self, blocks: &[(IpNet, IpAddr)], mtu: u32) -> (NetworkList, Vec<String>) {
        let mut out = self.clone();
        let mut notes = Vec::new();
        for (i, p) in out.plugins.iter_mut().enumerate() {
            if i == 0 {
                match p.raw.get("mtu").and_then(Value::as_u64) {
                    Some(m) if m != u64::from(mtu) => notes.push(format!(
                        "{}: mtu {m} kept as configured (the backend's pod MTU is {mtu})",
                        p.plugin_type
                    )),
                    Some(_) => {}
                    None => {
                        p.raw.insert("mtu".into(), Value::from(mtu));
                    }
                }
            }
            let plugin_type = p.plugin_type.clone();
            let Some(Value::Object(ipam)) = p.raw.get_mut("ipam") else {
                continue;
            };
            match ipam.get("type").and_then(Value::as_str) {
                Some("host-local") => {
                    for key in ["subnet", "rangeStart", "rangeEnd", "gateway", "ranges"] {
                        ipam.remove(key);
                    }
                    let sets: Vec<Value> = blocks
                        .iter()
                        .map(|(block, gw)| {
                            serde_json::json!([{"subnet": block.to_string(), "gateway": gw.to_string()}])
                        })
                        .collect();
                    ipam.insert("ranges".into(), Value::Array(sets));
                }
                Some(other) => notes.push(format!(
                    "{plugin_type}: IPAM {other} left as configured (only host-local's range is set per node)"
                )),
                None => {}
            }
        }
        (out, notes)
    }

    /// The network with `ips` asked of every plugin that delegates to an IPAM plugin, as
    /// `args.cni.ips` in its configuration (the CNI conventions' "args in network config",
    /// which host-local and static read, and which the main plugin hands its IPAM plugin with
    /// the rest of its configuration): how a pod asks for its addresses of several families
    /// again. (`IP=` in `CNI_ARGS` takes one address in the reference plugins before v1.2.0.)
    pub fn with_requested_ips(&self, ips: &[String]) -> NetworkList {
        let mut out = self.clone();
        for p in out
            .plugins
            .iter_mut()
            .filter(|p| p.raw.contains_key("ipam"))
        {
            let args = p
                .raw
                .entry("args")
                .or_insert_with(|| Value::Object(Map::new()));
            if !args.is_object() {
                *args = Value::Object(Map::new());
            }
            let cni = args
                .as_object_mut()
                .expect("made an object above")
                .entry("cni")
                .or_insert_with(|| Value::Object(Map::new()));
            if !cni.is_object() {
                *cni = Value::Object(Map::new());
            }
            cni.as_object_mut()
                .expect("made an object above")
                .insert("ips".into(), serde_json::json!(ips));
        }
        out
    }

    /// The address ranges the chain's IPAM sections name, where cnbench can read them:
    /// host-local's `subnet` and each range of its `ranges`, static's `addresses`. None when
    /// no IPAM section names any (another IPAM plugin, or static given its addresses by the
    /// runtime): then only the first ADD's result says which families the pods get.
    pub fn ipam_ranges(&self) -> Option<Vec<IpNet>> {
        let mut out = Vec::new();
        let mut read = false;
        for p in &self.plugins {
            let Some(ipam) = p.raw.get("ipam") else {
                continue;
            };
            let net = |v: &Value| v.as_str().and_then(|s| s.parse::<IpNet>().ok());
            match ipam.get("type").and_then(Value::as_str) {
                Some("host-local") => {
                    if let Some(n) = ipam.get("subnet").and_then(net) {
                        out.push(n);
                        read = true;
                    }
                    for set in ipam
                        .get("ranges")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        for range in set.as_array().into_iter().flatten() {
                            if let Some(n) = range.get("subnet").and_then(net) {
                                out.push(n);
                                read = true;
                            }
                        }
                    }
                }
                Some("static") => {
                    for a in ipam
                        .get("addresses")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        if let Some(n) = a.get("address").and_then(net) {
                            out.push(n);
                            read = true;
                        }
                    }
                }
                _ => {}
            }
        }
        read.then_some(out)
    }

    /// Refuses a network whose IPAM ranges (where cnbench can read them,
    /// [`NetworkList::ipam_ranges`]) do not give pods exactly the run's IP families: a
    /// dual-stack or IPv6 run whose pods would get no IPv6 address, an IPv4 run whose pods
    /// would get one (the run disables IPv6 in every namespace), and the same for IPv4.
    pub fn check_families(&self, family: IpFamily) -> Result<(), CniError> {
        let Some(ranges) = self.ipam_ranges() else {
            return Ok(());
        };
        let of = |v6: bool| -> Vec<String> {
            ranges
                .iter()
                .filter(|n| matches!(n, IpNet::V6(_)) == v6)
                .map(|n| n.to_string())
                .collect()
        };
        let (v4, v6) = (of(false), of(true));
        let why = family_mismatch(family, &v4, &v6);
        match why {
            None => Ok(()),
            Some(why) => Err(CniError::Invalid {
                path: self.source.clone(),
                why,
            }),
        }
    }
    /// The request configuration of plugin `index` (§3): its own object with `cniVersion`
    /// and `name` inserted, `runtimeConfig` holding each capability it declares that the
    /// runtime gives (`capability_args`), `prevResult` when given, and no `capabilities`.
    pub fn request(
        &self,
        index: usize,
        version: &str,
        capability_args: &Map<String, Value>,
        prev_result: Option<&Value>,
    ) -> Value {
        let p = &self.plugins[index];
        let mut req = p.raw.clone();
        req.remove("capabilities");
        req.insert("cniVersion".into(), Value::String(version.to_string()));
        req.insert("name".into(), Value::String(self.name.clone()));
        let runtime: Map<String, Value> = p
            .capabilities()
            .into_iter()
            .filter_map(|c| capability_args.get(&c).map(|v| (c, v.clone())))
            .collect();
        // As libcni: the runtime's object replaces a configured one when there is anything to
        // put in it, and a configured one is passed through otherwise.
        if !runtime.is_empty() {
            req.insert("runtimeConfig".into(), Value::Object(runtime));
        }
        match prev_result {
            Some(r) => {
                req.insert("prevResult".into(), r.clone());
            }
            None => {
                req.remove("prevResult");
            }
        }
        Value::Object(req)
    }

    /// The list as JSON (for the result cache: DEL runs exactly what ADD ran).
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "name": self.name,
            "cniVersions": self.versions,
            "disableCheck": self.disable_check,
            "plugins": self.plugins.iter().map(|p| Value::Object(p.raw.clone())).collect::<Vec<_>>(),
        })
    }

    /// The list from [`NetworkList::to_json`].
    pub fn from_json(source: &Path, v: &Value) -> Result<NetworkList, CniError> {
        let versions: Vec<String> = v["cniVersions"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let mut top = Map::new();
        top.insert("name".into(), v["name"].clone());
        top.insert(
            "cniVersion".into(),
            Value::String(versions.first().cloned().unwrap_or_default()),
        );
        top.insert("cniVersions".into(), v["cniVersions"].clone());
        top.insert("disableCheck".into(), v["disableCheck"].clone());
        top.insert("plugins".into(), v["plugins"].clone());
        NetworkList::parse(source, &Value::Object(top).to_string())
    }
}

/// Why a network whose pods get addresses of `v4` and `v6` (ranges, or addresses of a
/// result) does not fit a run of `family`, and what to change; none when it fits.
pub fn family_mismatch(family: IpFamily, v4: &[String], v6: &[String]) -> Option<String> {
    let run = format!("--ip-family {}", family.as_str());
    if family.has_v6() && v6.is_empty() {
        let fix = if family.has_v4() {
            "add an IPv6 range to its IPAM (a range set of its own in host-local's \"ranges\")"
        } else {
            "give its IPAM an IPv6 range in place of the IPv4 one"
        };
        return Some(format!(
            "its pods get IPv4 addresses only ({}) but the run is {run}: {fix}, or use --ip-family ipv4",
            v4.join(", ")
        ));
    }
    if !family.has_v6() && !v6.is_empty() {
        let pass = if v4.is_empty() { "ipv6" } else { "dual" };
        return Some(format!(
            "its pods get IPv6 addresses ({}) but the run is {run}, which disables IPv6 in every namespace: pass --ip-family {pass}",
            v6.join(", ")
        ));
    }
    if family.has_v4() && v4.is_empty() {
        return Some(format!(
            "its pods get IPv6 addresses only ({}) but the run is {run}: add an IPv4 range to its IPAM, or use --ip-family ipv6",
            v6.join(", ")
        ));
    }
    if !family.has_v4() && !v4.is_empty() {
        return Some(format!(
            "its pods get IPv4 addresses ({}) but the run is {run}, whose checks and measurements use IPv6 only: remove the IPv4 range from its IPAM, or pass --ip-family dual",
            v4.join(", ")
        ));
    }
    None
}

/// Whether CHECK exists at `version` (it came with 0.4.0).
pub fn has_check(version: &str) -> bool {
    version_key(version) >= (0, 4, 0)
}

/// Whether DEL gets the ADD's result as `prevResult` at `version` (from 0.4.0 on; libcni
/// passes none before).
pub fn del_has_prev_result(version: &str) -> bool {
    version_key(version) >= (0, 4, 0)
}

/// Whether GC and STATUS exist at `version` (they came with 1.1.0).
pub fn has_gc(version: &str) -> bool {
    version_key(version) >= (1, 1, 0)
}

/// The highest of `versions` (empty when there are none).
pub fn highest(versions: &[String]) -> String {
    versions
        .iter()
        .max_by_key(|v| version_key(v))
        .cloned()
        .unwrap_or_default()
}

fn version_key(v: &str) -> (u32, u32, u32) {
    let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

fn plugin(raw: Map<String, Value>) -> Result<PluginConf, String> {
    let plugin_type = match raw.get("type") {
        Some(Value::String(t)) if is_file_name(t) => t.clone(),
        Some(Value::String(t)) => {
            return Err(format!(
                "plugin type {t:?} is not a file name (CNI spec §1: no `/`)"
            ))
        }
        _ => return Err("no \"type\": each plugin names its binary".into()),
    };
    if let Some(ipam) = raw.get("ipam") {
        match ipam.get("type").and_then(Value::as_str) {
            Some(t) if is_file_name(t) => {}
            _ => return Err(format!("{plugin_type}'s \"ipam\" has no usable \"type\"")),
        }
    }
    Ok(PluginConf { plugin_type, raw })
}

/// Whether `t` names a file in a directory (a plugin's `type`): not empty, no `/`, not `.`
/// or `..`.
fn is_file_name(t: &str) -> bool {
    !t.is_empty() && !t.contains('/') && t != "." && t != ".."
}

fn valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(text: &str) -> Result<NetworkList, CniError> {
        NetworkList::parse(Path::new("t.conflist"), text)
    }

    const DOCKER0: &str = r#"{
        "cniVersion": "1.0.0", "name": "docker0",
        "plugins": [
            {"type": "bridge", "bridge": "docker0", "isGateway": true,
             "ipam": {"type": "host-local", "subnet": "172.17.0.0/16", "routes": [{"dst": "0.0.0.0/0"}]}},
            {"type": "portmap", "capabilities": {"portMappings": true, "other": false}, "snat": true}
        ]}"#;

    #[test]
    fn a_conflist_is_taken_as_written() {
        let l = list(DOCKER0).unwrap();
        assert_eq!(l.name, "docker0");
        assert_eq!(l.binaries(), ["bridge", "host-local", "portmap"]);
        assert_eq!(l.plugins[1].capabilities(), ["portMappings"]);
        assert_eq!(l.plugins[0].str_key("bridge"), Some("docker0"));
        assert!(!l.single);
    }

    #[test]
    fn a_single_conf_is_a_list_of_one() {
        let l = list(
            r#"{"cniVersion": "0.3.1", "name": "mynet", "type": "ptp", "ipMasq": false,
                         "ipam": {"type": "host-local", "subnet": "10.1.0.0/24"}}"#,
        )
        .unwrap();
        assert!(l.single);
        assert_eq!(l.plugins.len(), 1);
        assert!(!l.plugins[0].raw.contains_key("name"));
        let req = l.request(0, "0.3.1", &Map::new(), None);
        assert_eq!(req["name"], "mynet");
        assert_eq!(req["cniVersion"], "0.3.1");
        assert_eq!(req["ipMasq"], false);
    }

    #[test]
    fn requests_follow_section_3() {
        let l = list(DOCKER0).unwrap();
        let mut caps = Map::new();
        caps.insert(
            "portMappings".into(),
            serde_json::json!([{"hostPort": 30000, "containerPort": 8080, "protocol": "tcp"}]),
        );
        caps.insert("ips".into(), serde_json::json!(["172.17.0.2/16"]));
        // The first plugin: no prevResult, no runtimeConfig (it declares no capability).
        let first = l.request(0, "1.0.0", &caps, None);
        assert!(first.get("prevResult").is_none() && first.get("runtimeConfig").is_none());
        assert_eq!(first["bridge"], "docker0", "unknown keys pass through");
        // The second: the first's result, and only the capability it declares.
        let prev = serde_json::json!({"cniVersion": "1.0.0", "ips": []});
        let second = l.request(1, "1.0.0", &caps, Some(&prev));
        assert_eq!(second["prevResult"], prev);
        assert_eq!(second["runtimeConfig"].as_object().unwrap().len(), 1);
        assert_eq!(
            second["runtimeConfig"]["portMappings"][0]["hostPort"],
            30000
        );
        assert!(second.get("capabilities").is_none());
        assert_eq!(second["name"], "docker0");
    }

    #[test]
    fn bad_configurations_say_what_to_change() {
        let e = list("{ nope").unwrap_err().to_string();
        assert!(e.starts_with("--cni-conf t.conflist: not JSON"), "{e}");
        let e = list(r#"{"cniVersion": "1.0.0", "plugins": [{"type": "bridge"}]}"#).unwrap_err();
        assert!(e.to_string().contains("no \"name\""), "{e}");
        let e = list(r#"{"cniVersion": "1.0.0", "name": "-x", "plugins": [{"type": "b"}]}"#)
            .unwrap_err();
        assert!(e.to_string().contains("must start with a letter"), "{e}");
        let e = list(r#"{"cniVersion": "0.2.0", "name": "x", "plugins": [{"type": "b"}]}"#)
            .unwrap_err();
        assert!(
            e.to_string().contains("cnbench runs networks at CNI 0.3.0"),
            "{e}"
        );
        let e = list(r#"{"cniVersion": "1.0.0", "name": "x", "plugins": [{"type": "../b"}]}"#)
            .unwrap_err();
        assert!(e.to_string().contains("not a file name"), "{e}");
        let e = list(r#"{"cniVersion": "1.0.0", "name": "x", "plugins": []}"#).unwrap_err();
        assert!(e.to_string().contains("at least one plugin"), "{e}");
        let e =
            list(r#"{"cniVersion": "1.0.0", "name": "x", "plugins": [{"ipam": {}}]}"#).unwrap_err();
        assert!(e.to_string().contains("plugins[0]: no \"type\""), "{e}");
    }

    #[test]
    fn the_version_is_the_highest_every_plugin_speaks() {
        let l = list(
            r#"{"cniVersion": "1.1.0", "cniVersions": ["0.4.0", "1.0.0", "1.1.0"], "name": "x",
                         "plugins": [{"type": "bridge"}]}"#,
        )
        .unwrap();
        assert_eq!(l.candidate_versions(), ["1.1.0", "1.0.0", "0.4.0"]);
        let debian = vec!["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>();
        let got = l.select_version(&[(
            "bridge".into(),
            "/usr/lib/cni/bridge".into(),
            debian.clone(),
        )]);
        assert_eq!(got.unwrap(), "1.0.0");
        let only = list(r#"{"cniVersion": "1.1.0", "name": "x", "plugins": [{"type": "bridge"}]}"#)
            .unwrap();
        let e = only
            .select_version(&[("bridge".into(), "/usr/lib/cni/bridge".into(), debian)])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("supports CNI 0.1.0") && e.contains("not 1.1.0"),
            "{e}"
        );
        assert!(has_check("0.4.0") && !has_check("0.3.1") && has_check("1.1.0"));
    }

    #[test]
    fn host_local_state_stays_in_the_run_unless_configured() {
        let mut l = list(DOCKER0).unwrap();
        assert!(l
            .keep_ipam_state_in(Path::new("/run/cnbench/ab12/cni/ipam"))
            .is_empty());
        assert_eq!(
            l.plugins[0].raw["ipam"]["dataDir"],
            "/run/cnbench/ab12/cni/ipam"
        );
        let mut own =
            list(&DOCKER0.replace("\"subnet\"", "\"dataDir\": \"/var/lib/x\", \"subnet\""))
                .unwrap();
        let notes = own.keep_ipam_state_in(Path::new("/run/cnbench/ab12/cni/ipam"));
        assert_eq!(own.plugins[0].raw["ipam"]["dataDir"], "/var/lib/x");
        assert!(notes[0].contains("/var/lib/x"), "{notes:?}");
    }

    #[test]
    fn a_node_gets_its_block_and_mtu() {
        let l = list(DOCKER0).unwrap();
        let (n, notes) = l.for_node(
            &[(
                "100.96.1.0/24".parse().unwrap(),
                "100.96.1.1".parse().unwrap(),
            )],
            1450,
        );
        let ipam = &n.plugins[0].raw["ipam"];
        assert!(ipam.get("subnet").is_none());
        assert_eq!(ipam["ranges"][0][0]["subnet"], "100.96.1.0/24");
        assert_eq!(ipam["ranges"][0][0]["gateway"], "100.96.1.1");
        assert_eq!(
            ipam["routes"][0]["dst"], "0.0.0.0/0",
            "the rest of IPAM is kept"
        );
        assert_eq!(n.plugins[0].raw["mtu"], 1450);
        assert!(n.plugins[1].raw.get("mtu").is_none());
        assert!(notes.is_empty());
        // A round trip through the cache keeps the list.
        let back = NetworkList::from_json(Path::new("t.conflist"), &n.to_json()).unwrap();
        assert_eq!(back.plugins, n.plugins);
        assert_eq!(back.name, n.name);
    }

    /// A dual-stack network as `examples/cni/cbr0-dual.conflist` writes it.
    const CBR0_DUAL: &str = r#"{
        "cniVersion": "1.0.0", "name": "cbr0",
        "plugins": [
            {"type": "bridge", "bridge": "cni0", "isGateway": true,
             "ipam": {"type": "host-local",
                      "ranges": [[{"subnet": "100.96.0.0/16"}], [{"subnet": "fd00:100:96::/48"}]],
                      "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}]}}
        ]}"#;

    #[test]
    fn a_node_gets_a_range_set_per_family() {
        let l = list(CBR0_DUAL).unwrap();
        let (n, _) = l.for_node(
            &[
                (
                    "100.96.1.0/24".parse().unwrap(),
                    "100.96.1.1".parse().unwrap(),
                ),
                (
                    "fd00:100:96:1::/64".parse().unwrap(),
                    "fd00:100:96:1::1".parse().unwrap(),
                ),
            ],
            1500,
        );
        let ipam = &n.plugins[0].raw["ipam"];
        // host-local gives a pod one address of each range set (its `ranges` is a list of
        // sets), so the two blocks are two sets, not two ranges of one set.
        assert_eq!(ipam["ranges"].as_array().unwrap().len(), 2);
        assert_eq!(ipam["ranges"][0][0]["subnet"], "100.96.1.0/24");
        assert_eq!(ipam["ranges"][0][0]["gateway"], "100.96.1.1");
        assert_eq!(ipam["ranges"][1][0]["subnet"], "fd00:100:96:1::/64");
        assert_eq!(ipam["ranges"][1][0]["gateway"], "fd00:100:96:1::1");
        assert_eq!(ipam["routes"][1]["dst"], "::/0", "the routes are kept");
        // An IPv6-only run hands the IPv6 block alone.
        let (n6, _) = l.for_node(
            &[(
                "fd00:100:96:1::/64".parse().unwrap(),
                "fd00:100:96:1::1".parse().unwrap(),
            )],
            1500,
        );
        let ranges = n6.plugins[0].raw["ipam"]["ranges"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(ranges.len(), 1);
        assert_eq!(ranges[0][0]["subnet"], "fd00:100:96:1::/64");
    }

    #[test]
    fn ranges_are_read_per_family_and_mismatches_say_what_to_change() {
        let dual = list(CBR0_DUAL).unwrap();
        let ranges: Vec<String> = dual
            .ipam_ranges()
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(ranges, ["100.96.0.0/16", "fd00:100:96::/48"]);
        assert!(dual.check_families(IpFamily::Dual).is_ok());
        let e = dual.check_families(IpFamily::Ipv4).unwrap_err().to_string();
        assert!(
            e.starts_with("--cni-conf t.conflist: ")
                && e.contains("fd00:100:96::/48")
                && e.contains("disables IPv6")
                && e.contains("pass --ip-family dual"),
            "{e}"
        );
        let e = dual.check_families(IpFamily::Ipv6).unwrap_err().to_string();
        assert!(e.contains("remove the IPv4 range"), "{e}");

        // The legacy `subnet` of host-local counts as a range too.
        let v4 = list(DOCKER0).unwrap();
        assert!(v4.check_families(IpFamily::Ipv4).is_ok());
        let e = v4.check_families(IpFamily::Dual).unwrap_err().to_string();
        assert!(
            e.contains("172.17.0.0/16")
                && e.contains("add an IPv6 range")
                && e.contains("or use --ip-family ipv4")
                && !e.contains('\n'),
            "{e}"
        );
        let e = v4.check_families(IpFamily::Ipv6).unwrap_err().to_string();
        assert!(e.contains("in place of the IPv4 one"), "{e}");

        let v6 = list(&DOCKER0.replace("172.17.0.0/16", "fd00:172:17::/64")).unwrap();
        assert!(v6.check_families(IpFamily::Ipv6).is_ok());
        let e = v6.check_families(IpFamily::Ipv4).unwrap_err().to_string();
        assert!(e.contains("pass --ip-family ipv6"), "{e}");
        let e = v6.check_families(IpFamily::Dual).unwrap_err().to_string();
        assert!(e.contains("add an IPv4 range"), "{e}");

        // Static IPAM's addresses are read; given by the runtime (`ips`), nothing is known
        // until the first ADD.
        let st = list(
            r#"{"cniVersion": "1.0.0", "name": "s", "plugins": [{"type": "bridge",
                "ipam": {"type": "static", "addresses": [{"address": "fd00::5/64"}]}}]}"#,
        )
        .unwrap();
        assert_eq!(st.ipam_ranges().unwrap().len(), 1);
        let caps = list(
            r#"{"cniVersion": "1.0.0", "name": "s", "plugins": [{"type": "bridge",
                "ipam": {"type": "static"}, "capabilities": {"ips": true}}]}"#,
        )
        .unwrap();
        assert!(caps.ipam_ranges().is_none());
        assert!(caps.check_families(IpFamily::Dual).is_ok());
    }

    #[test]
    fn addresses_asked_again_go_to_the_plugins_with_an_ipam() {
        let l = list(DOCKER0).unwrap();
        let ips = vec!["172.17.0.5/16".to_string(), "fd00:172:17::5/64".to_string()];
        let asked = l.with_requested_ips(&ips);
        assert_eq!(
            asked.plugins[0].raw["args"]["cni"]["ips"],
            serde_json::json!(ips)
        );
        assert!(
            asked.plugins[1].raw.get("args").is_none(),
            "portmap has no IPAM"
        );
        // Other args of the configuration are kept.
        let own = list(&DOCKER0.replace(
            "\"isGateway\": true,",
            "\"isGateway\": true, \"args\": {\"cni\": {\"labels\": [1]}, \"x\": 2},",
        ))
        .unwrap()
        .with_requested_ips(&ips);
        assert_eq!(own.plugins[0].raw["args"]["x"], 2);
        assert_eq!(own.plugins[0].raw["args"]["cni"]["labels"][0], 1);
        assert_eq!(
            own.plugins[0].raw["args"]["cni"]["ips"][1],
            "fd00:172:17::5/64"
        );
    }
}
