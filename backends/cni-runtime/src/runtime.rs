//! The runtime: a network's attachments added, checked and deleted as CNI specification §3
//! says (ADD in chain order with each result the next plugin's `prevResult`; CHECK and DEL
//! with the ADD's final result; DEL in reverse order), and the result of every attachment
//! kept on disk as libcni keeps its cache, so a teardown (even by `cnbench down` from another
//! process) deletes exactly what was added, with the configuration it was added with.
//!
//! An attachment's cache file is written *before* its first plugin runs: an ADD that fails,
//! hangs or is interrupted half-way still gets its DEL (§3: "A delete must still be executed
//! even if the add fails").

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::conf::{del_has_prev_result, has_check, NetworkList};
use crate::error::CniError;
use crate::exec::{invoke, CallLog, Exec, Params, Verb, Who};
use crate::result::{supported_versions, CniResult};

/// Where a node finds the chain's binaries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binaries {
    /// `CNI_PATH` as the node sees it.
    pub cni_path: String,
    /// `(type, path)` of each binary, in [`NetworkList::binaries`] order.
    pub paths: Vec<(String, String)>,
}

impl Binaries {
    /// The path of binary `plugin`.
    pub fn path_of(&self, plugin: &str) -> Option<&str> {
        self.paths
            .iter()
            .find(|(t, _)| t == plugin)
            .map(|(_, p)| p.as_str())
    }
}

/// What each binary of a chain said to VERSION on a node, and the version the network runs
/// at there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versions {
    /// `(type, path, supported versions)` of each binary.
    pub supported: Vec<(String, String, Vec<String>)>,
    /// The version selected (§1 "Version considerations").
    pub selected: String,
}

/// Asks each binary of `list` which versions it speaks (VERSION, run on `exec`, the node:
/// the chain's plugins and the IPAM plugins they delegate to, for the record) and selects
/// the version to run at from the chain's plugins' answers.
pub fn versions(
    exec: &dyn Exec,
    list: &NetworkList,
    bins: &Binaries,
    limit: Duration,
    log: &dyn CallLog,
) -> Result<Versions, CniError> {
    let top = list
        .candidate_versions()
        .first()
        .cloned()
        .unwrap_or_default();
    let params = Params {
        container_id: String::new(),
        netns: String::new(),
        ifname: String::new(),
        args: String::new(),
        cni_path: bins.cni_path.clone(),
    };
    let mut supported = Vec::new();
    for (plugin, path) in &bins.paths {
        let who = Who {
            verb: Verb::Version,
            pod: "-",
            plugin,
        };
        let answer = invoke(
            exec,
            Path::new(path),
            who,
            &params,
            &serde_json::json!({ "cniVersion": top }),
            limit,
            true,
            log,
        )?;
        let s = supported_versions(&answer).map_err(|why| CniError::BadOutput {
            verb: "VERSION".into(),
            pod: "-".into(),
            plugin: plugin.clone(),
            what: why,
        })?;
        supported.push((plugin.clone(), path.clone(), s));
    }
    // The plugins the runtime calls choose the version; an IPAM plugin is called by the
    // plugin that delegates to it, which speaks to it in a version they share.
    let chained: Vec<(String, String, Vec<String>)> = supported
        .iter()
        .filter(|(t, _, _)| list.plugins.iter().any(|p| p.plugin_type == *t))
        .cloned()
        .collect();
    let selected = list.select_version(&chained)?;
    Ok(Versions {
        supported,
        selected,
    })
}

/// The `kind` of cnbench's cache files; a file of another kind is not read.
pub const CACHE_KIND: &str = "cnbench-cni-cache-v1";

/// One attachment (§3): a pod on the network, with everything needed to add, check and
/// delete it again, and its result once added. This is the cache file's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    /// The cache format (`cnbench-cni-cache-v1`).
    pub kind: String,
    /// The pod's role (`n0p1`).
    pub pod: String,
    /// The namespace of the pod's node, where the plugins run.
    pub node_netns: String,
    /// `CNI_CONTAINERID`, `CNI_NETNS`, `CNI_IFNAME`, `CNI_ARGS`, `CNI_PATH`.
    pub container_id: String,
    /// The pod's namespace path.
    pub netns: String,
    /// The interface in the pod.
    pub ifname: String,
    /// `CNI_ARGS`.
    pub args: String,
    /// The version the network runs at.
    pub cni_version: String,
    /// The network as run (a node's block substituted), for DEL to run exactly the same.
    pub network: Value,
    /// The capability arguments given (`portMappings`, `ips`).
    pub capability_args: Map<String, Value>,
    /// The binaries.
    pub binaries: Binaries,
    /// How many plugins' ADD was started (0: none yet; the whole chain's DEL runs anyway).
    pub added: usize,
    /// The final result of the ADD, once it completed.
    pub result: Option<Value>,
}

impl Attachment {
    /// The network as run.
    pub fn network(&self) -> Result<NetworkList, CniError> {
        NetworkList::from_json(Path::new("(cached network)"), &self.network)
    }

    /// The result, read.
    pub fn parsed_result(&self) -> Option<CniResult> {
        self.result
            .as_ref()
            .and_then(|v| CniResult::from_json(v).ok())
    }

    /// The attachment parameters of its invocations.
    pub fn params(&self) -> Params {
        Params {
            container_id: self.container_id.clone(),
            netns: self.netns.clone(),
            ifname: self.ifname.clone(),
            args: self.args.clone(),
            cni_path: self.binaries.cni_path.clone(),
        }
    }
}

/// The attachment a pod's detail holds (what setup reported of it), with its result, if a
/// chain added the pod.
pub fn attachment_of(pod: &harness::topology::PodPlan) -> Option<(Attachment, CniResult)> {
    let a: Attachment = serde_json::from_value(pod.detail.clone()?).ok()?;
    let r = a.parsed_result()?;
    Some((a, r))
}

/// The attachments of a run, kept under `dir` (`/run/cnbench/<run>/cni/results`), one
/// file per attachment named by container id and interface, as libcni names its cache.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// The cache in `dir`.
    pub fn new(dir: PathBuf) -> Cache {
        Cache { dir }
    }

    fn path(&self, a: &Attachment) -> PathBuf {
        self.dir.join(format!("{}-{}", a.container_id, a.ifname))
    }

    /// Writes `a`.
    pub fn save(&self, a: &Attachment) -> Result<(), CniError> {
        let err = |path: &Path, e: std::io::Error| CniError::Cache {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        std::fs::create_dir_all(&self.dir).map_err(|e| err(&self.dir, e))?;
        let path = self.path(a);
        let tmp = path.with_extension("tmp");
        let text = serde_json::to_string_pretty(a).expect("an attachment serializes");
        std::fs::write(&tmp, text).map_err(|e| err(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| err(&path, e))
    }

    /// Forgets `a` (after its DEL succeeded).
    pub fn remove(&self, a: &Attachment) {
        let _ = std::fs::remove_file(self.path(a));
    }

    /// The attachment of `pod`, if one is cached.
    pub fn of_pod(&self, pod: &str) -> Option<Attachment> {
        self.all().into_iter().find(|a| a.pod == pod)
    }

    /// Every cached attachment (unreadable files are skipped: they are not ours).
    pub fn all(&self) -> Vec<Attachment> {
        let Ok(dir) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut out: Vec<Attachment> = dir
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_none())
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .filter_map(|t| serde_json::from_str::<Attachment>(&t).ok())
            .filter(|a| a.kind == CACHE_KIND)
            .collect();
        out.sort_by(|a, b| a.pod.cmp(&b.pod));
        out
    }
}

/// Adds `a` (its `added` 0 and no result yet): every plugin's ADD in chain order, each
/// given the previous one's result; the cache updated before each plugin runs and with the
/// final result. The ADD is given up when SIGINT or SIGTERM arrives (the plugin killed by
/// pid); what was started is still in the cache for DEL.
pub fn add(
    exec: &dyn Exec,
    cache: &Cache,
    a: &mut Attachment,
    limit: Duration,
    log: &dyn CallLog,
) -> Result<CniResult, CniError> {
    let list = a.network()?;
    let params = a.params();
    let mut prev: Option<Value> = None;
    for (i, plugin) in list.plugins.iter().enumerate() {
        // Given up between plugins too: what was added is in the cache for DEL.
        if harness::signals::interrupted() {
            return Err(CniError::Run {
                verb: "ADD".into(),
                pod: a.pod.clone(),
                plugin: plugin.plugin_type.clone(),
                source: Box::new(harness::HarnessError::Interrupted),
            });
        }
        let request = list.request(i, &a.cni_version, &a.capability_args, prev.as_ref());
        a.added = i + 1;
        cache.save(a)?;
        let path = binary(&a.binaries, &plugin.plugin_type)?;
        let who = Who {
            verb: Verb::Add,
            pod: &a.pod,
            plugin: &plugin.plugin_type,
        };
        // Its wall time is in the call log, with every other plugin call's.
        let out = invoke(
            exec,
            Path::new(path),
            who,
            &params,
            &request,
            limit,
            true,
            log,
        )?;
        CniResult::from_json(&out).map_err(|why| CniError::BadOutput {
            verb: "ADD".into(),
            pod: a.pod.clone(),
            plugin: plugin.plugin_type.clone(),
            what: why,
        })?;
        prev = Some(out);
    }
    a.result = prev;
    cache.save(a)?;
    Ok(a.parsed_result().expect("checked above"))
}

/// What CHECK said of an attachment.
#[derive(Debug)]
pub enum Checked {
    /// CHECK must not be called (the reason): the network's version has none, its
    /// configuration disables it (§2), or the ADD never completed.
    NotCalled(String),
    /// Each plugin's answer, in chain order.
    Plugins(Vec<(String, Result<(), CniError>)>),
}

/// Checks `a` (added): every plugin's CHECK in chain order with the ADD's result. Every
/// plugin is asked, even after one fails (a runtime may stop, §2; asking all says which
/// plugins see a problem).
pub fn check(
    exec: &dyn Exec,
    a: &Attachment,
    limit: Duration,
    log: &dyn CallLog,
) -> Result<Checked, CniError> {
    let list = a.network()?;
    if list.disable_check {
        return Ok(Checked::NotCalled("the network sets disableCheck".into()));
    }
    if !has_check(&a.cni_version) {
        return Ok(Checked::NotCalled(format!(
            "CNI {} has no CHECK (it came with 0.4.0)",
            a.cni_version
        )));
    }
    let Some(result) = a.result.as_ref() else {
        return Ok(Checked::NotCalled("its ADD did not complete".into()));
    };
    let params = a.params();
    let mut out = Vec::new();
    for (i, plugin) in list.plugins.iter().enumerate() {
        let request = list.request(i, &a.cni_version, &a.capability_args, Some(result));
        let who = Who {
            verb: Verb::Check,
            pod: &a.pod,
            plugin: &plugin.plugin_type,
        };
        let answer = binary(&a.binaries, &plugin.plugin_type)
            .and_then(|path| {
                invoke(
                    exec,
                    Path::new(path),
                    who,
                    &params,
                    &request,
                    limit,
                    false,
                    log,
                )
            })
            .map(|_| ());
        out.push((plugin.plugin_type.clone(), answer));
    }
    Ok(Checked::Plugins(out))
}

/// Deletes `a`: DEL for every plugin of the chain, in reverse order, each with the ADD's
/// final result (from 0.4.0 on; none before, and none when the ADD never completed, as
/// libcni does). After an ADD that failed half-way the plugins that never ran get their DEL
/// too, as libcni and containerd call it: the specification makes DEL of what is missing a
/// success (§2). Every plugin is called even when one fails (DEL is best effort); the first
/// error is returned. The cache entry is removed once every DEL succeeded.
pub fn del(
    exec: &dyn Exec,
    cache: &Cache,
    a: &Attachment,
    limit: Duration,
    log: &dyn CallLog,
) -> Result<(), CniError> {
    let list = a.network()?;
    let params = a.params();
    let prev = a
        .result
        .as_ref()
        .filter(|_| del_has_prev_result(&a.cni_version));
    let mut first_error = None;
    for (i, plugin) in list.plugins.iter().enumerate().rev() {
        let request = list.request(i, &a.cni_version, &a.capability_args, prev);
        let who = Who {
            verb: Verb::Del,
            pod: &a.pod,
            plugin: &plugin.plugin_type,
        };
        let outcome = binary(&a.binaries, &plugin.plugin_type).and_then(|path| {
            invoke(
                exec,
                Path::new(path),
                who,
                &params,
                &request,
                limit,
                false,
                log,
            )
        });
        if let Err(e) = outcome {
            first_error.get_or_insert(e);
        }
    }
    match first_error {
        None => {
            cache.remove(a);
            Ok(())
        }
        Some(e) => Err(e),
    }
}

fn binary<'a>(bins: &'a Binaries, plugin: &str) -> Result<&'a str, CniError> {
    bins.path_of(plugin).ok_or_else(|| CniError::NotFound {
        plugin: plugin.to_string(),
        dirs: vec![bins.cni_path.clone()],
    })
}

/// Asks every plugin of `list` (at `version`, which must be 1.1.0 or later) to clean up
/// what no attachment of `valid` (container id, interface) needs: GC (§2, §3 "Garbage-
/// collecting a network"). Every plugin is asked even when one fails; each one's answer is
/// returned.
pub fn gc(
    exec: &dyn Exec,
    list: &NetworkList,
    version: &str,
    bins: &Binaries,
    valid: &[(String, String)],
    limit: Duration,
    log: &dyn CallLog,
) -> Vec<(String, Result<(), CniError>)> {
    let attachments: Vec<Value> = valid
        .iter()
        .map(|(id, ifname)| serde_json::json!({ "containerID": id, "ifname": ifname }))
        .collect();
    no_attachment_verb(exec, list, version, bins, Verb::Gc, limit, log, |req| {
        req.insert(
            "cni.dev/valid-attachments".into(),
            Value::Array(attachments.clone()),
        );
    })
}

/// Asks every plugin of `list` (at `version`, 1.1.0 or later) whether it can serve an ADD
/// now: STATUS (§2). Each one's answer.
pub fn status(
    exec: &dyn Exec,
    list: &NetworkList,
    version: &str,
    bins: &Binaries,
    limit: Duration,
    log: &dyn CallLog,
) -> Vec<(String, Result<(), CniError>)> {
    no_attachment_verb(exec, list, version, bins, Verb::Status, limit, log, |_| {})
}

/// A verb of no attachment run on every plugin of `list`: its configuration with
/// `cniVersion` and `name` (§3: no `runtimeConfig`, no `prevResult`), changed by `extra`.
#[allow(clippy::too_many_arguments)]
fn no_attachment_verb(
    exec: &dyn Exec,
    list: &NetworkList,
    version: &str,
    bins: &Binaries,
    verb: Verb,
    limit: Duration,
    log: &dyn CallLog,
    extra: impl Fn(&mut Map<String, Value>),
) -> Vec<(String, Result<(), CniError>)> {
    let params = Params {
        container_id: String::new(),
        netns: String::new(),
        ifname: String::new(),
        args: String::new(),
        cni_path: bins.cni_path.clone(),
    };
    list.plugins
        .iter()
        .enumerate()
        .map(|(i, plugin)| {
            let Value::Object(mut req) = list.request(i, version, &Map::new(), None) else {
                unreachable!("a request is an object");
            };
            req.remove("runtimeConfig");
            extra(&mut req);
            let who = Who {
                verb,
                pod: "-",
                plugin: &plugin.plugin_type,
            };
            let answer = binary(bins, &plugin.plugin_type).and_then(|path| {
                invoke(
                    exec,
                    Path::new(path),
                    who,
                    &params,
                    &Value::Object(req),
                    limit,
                    false,
                    log,
                )
            });
            (plugin.plugin_type.clone(), answer.map(|_| ()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness::host::{CmdOutput, ExecInput};
    use harness::process::ExitRecord;
    use std::sync::Mutex;

    /// A stand-in for the node: records each invocation and answers as a plugin would
    /// (ADD: the prevResult with its own interface added; DEL: nothing; `fail` fails).
    struct Fake {
        calls: Mutex<Vec<(String, String, Value)>>,
        fail: Option<(&'static str, &'static str)>,
    }

    impl Exec for Fake {
        fn run(&self, program: &str, input: &ExecInput) -> harness::Result<CmdOutput> {
            let verb = input
                .env
                .iter()
                .find(|(k, _)| k == "CNI_COMMAND")
                .unwrap()
                .1
                .clone();
            let req: Value = serde_json::from_str(input.stdin.as_ref().unwrap()).unwrap();
            let name = program.rsplit('/').next().unwrap().to_string();
            self.calls
                .lock()
                .unwrap()
                .push((verb.clone(), name.clone(), req.clone()));
            let ok = |stdout: String| CmdOutput {
                status: ExitRecord {
                    code: Some(0),
                    signal: None,
                },
                stdout,
                stderr: String::new(),
                killed: None,
                pid: None,
            };
            if self.fail == Some((verb.as_str(), name.as_str())) {
                return Ok(CmdOutput {
                    status: ExitRecord {
                        code: Some(1),
                        signal: None,
                    },
                    stdout: r#"{"code":11,"msg":"try again"}"#.into(),
                    stderr: String::new(),
                    killed: None,
                    pid: None,
                });
            }
            Ok(match verb.as_str() {
                "ADD" => {
                    let mut r = req.get("prevResult").cloned().unwrap_or_else(|| {
                        serde_json::json!({"cniVersion": req["cniVersion"], "interfaces": [], "ips": []})
                    });
                    r["interfaces"]
                        .as_array_mut()
                        .unwrap()
                        .push(serde_json::json!({"name": name}));
                    ok(r.to_string())
                }
                _ => ok(String::new()),
            })
        }
    }

    fn attachment(dir: &Path) -> (Cache, Attachment) {
        let list = NetworkList::parse(
            Path::new("t"),
            r#"{"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "bridge"}, {"type": "portmap", "capabilities": {"portMappings": true}}]}"#,
        )
        .unwrap();
        let mut caps = Map::new();
        caps.insert("portMappings".into(), serde_json::json!([]));
        let a = Attachment {
            kind: CACHE_KIND.into(),
            pod: "n0p0".into(),
            node_netns: "cnb-t1-n0".into(),
            container_id: "cnb-t1-n0p0".into(),
            netns: "/run/netns/cnb-t1-n0p0".into(),
            ifname: "eth0".into(),
            args: String::new(),
            cni_version: "1.0.0".into(),
            network: list.to_json(),
            capability_args: caps,
            binaries: Binaries {
                cni_path: "/x".into(),
                paths: vec![
                    ("bridge".into(), "/x/bridge".into()),
                    ("portmap".into(), "/x/portmap".into()),
                ],
            },
            added: 0,
            result: None,
        };
        (Cache::new(dir.to_path_buf()), a)
    }

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("cnbench-cni-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn add_chains_results_and_del_runs_backwards_with_the_final_one() {
        let dir = scratch("chain");
        let (cache, mut a) = attachment(&dir);
        let fake = Fake {
            calls: Mutex::new(Vec::new()),
            fail: None,
        };
        let r = add(&fake, &cache, &mut a, Duration::from_secs(1), &()).unwrap();
        assert_eq!(r.interfaces.len(), 2);
        let calls = fake.calls.lock().unwrap().clone();
        assert!(calls[0].2.get("prevResult").is_none());
        assert_eq!(calls[1].2["prevResult"]["interfaces"][0]["name"], "bridge");
        assert_eq!(
            calls[1].2["runtimeConfig"]["portMappings"],
            serde_json::json!([])
        );
        assert_eq!(cache.of_pod("n0p0").unwrap().result, a.result);
        fake.calls.lock().unwrap().clear();
        let Checked::Plugins(answers) = check(&fake, &a, Duration::from_secs(1), &()).unwrap()
        else {
            panic!("CHECK is called at 1.0.0");
        };
        assert!(answers.iter().all(|(_, r)| r.is_ok()));
        del(&fake, &cache, &a, Duration::from_secs(1), &()).unwrap();
        let calls = fake.calls.lock().unwrap().clone();
        let order: Vec<(&str, &str)> = calls
            .iter()
            .map(|(v, p, _)| (v.as_str(), p.as_str()))
            .collect();
        assert_eq!(
            order,
            [
                ("CHECK", "bridge"),
                ("CHECK", "portmap"),
                ("DEL", "portmap"),
                ("DEL", "bridge")
            ]
        );
        assert!(calls
            .iter()
            .all(|(_, _, req)| req["prevResult"] == *a.result.as_ref().unwrap()));
        assert!(
            cache.all().is_empty(),
            "a deleted attachment leaves no cache entry"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failed_add_is_cached_and_deleted_as_far_as_it_went() {
        let dir = scratch("fail");
        let (cache, mut a) = attachment(&dir);
        let fake = Fake {
            calls: Mutex::new(Vec::new()),
            fail: Some(("ADD", "portmap")),
        };
        let e = add(&fake, &cache, &mut a, Duration::from_secs(1), &())
            .unwrap_err()
            .to_string();
        assert!(e.contains("plugin portmap failed with code 11"), "{e}");
        let cached = cache.of_pod("n0p0").unwrap();
        assert_eq!((cached.added, cached.result.is_none()), (2, true));
        // DEL for every plugin of the chain, without a prevResult (the ADD never completed).
        fake.calls.lock().unwrap().clear();
        del(&fake, &cache, &cached, Duration::from_secs(1), &()).unwrap();
        let calls = fake.calls.lock().unwrap().clone();
        assert_eq!(calls.len(), 2);
        assert!(calls.iter().all(|(_, _, r)| r.get("prevResult").is_none()));
        // A DEL that fails keeps the entry and still runs the rest.
        let (cache, mut b) = attachment(&dir);
        let ok = Fake {
            calls: Mutex::new(Vec::new()),
            fail: None,
        };
        add(&ok, &cache, &mut b, Duration::from_secs(1), &()).unwrap();
        let bad_del = Fake {
            calls: Mutex::new(Vec::new()),
            fail: Some(("DEL", "portmap")),
        };
        assert!(del(&bad_del, &cache, &b, Duration::from_secs(1), &()).is_err());
        assert_eq!(bad_del.calls.lock().unwrap().len(), 2);
        assert!(cache.of_pod("n0p0").is_some());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn check_is_not_called_where_the_spec_forbids_it() {
        let dir = scratch("check");
        let (_, mut a) = attachment(&dir);
        a.result = Some(serde_json::json!({"cniVersion": "0.3.1"}));
        a.cni_version = "0.3.1".into();
        let fake = Fake {
            calls: Mutex::new(Vec::new()),
            fail: None,
        };
        let Checked::NotCalled(why) = check(&fake, &a, Duration::from_secs(1), &()).unwrap() else {
            panic!("CHECK must not be called at 0.3.1");
        };
        assert!(why.contains("has no CHECK"), "{why}");
        assert!(fake.calls.lock().unwrap().is_empty());
    }
    #[test]
    fn gc_and_status_go_to_every_plugin_without_an_attachment() {
        let dir = scratch("gc");
        let (_, a) = attachment(&dir);
        let list = a.network().unwrap();
        let fake = Fake {
            calls: Mutex::new(Vec::new()),
            fail: Some(("GC", "bridge")),
        };
        let valid = [("cnb-t1-n0p1-abc123".to_string(), "eth0".to_string())];
        let answers = gc(
            &fake,
            &list,
            "1.1.0",
            &a.binaries,
            &valid,
            Duration::from_secs(1),
            &(),
        );
        // Every plugin is asked even when one fails (§3 "Garbage-collecting a network").
        assert_eq!(answers.len(), 2);
        assert!(answers[0].1.is_err() && answers[1].1.is_ok());
        let calls = fake.calls.lock().unwrap().clone();
        for (verb, _, req) in &calls {
            assert_eq!(verb, "GC");
            assert_eq!(req["cniVersion"], "1.1.0");
            assert_eq!(
                req["cni.dev/valid-attachments"],
                serde_json::json!([{"containerID": "cnb-t1-n0p1-abc123", "ifname": "eth0"}])
            );
            assert!(req.get("prevResult").is_none() && req.get("runtimeConfig").is_none());
        }
        fake.calls.lock().unwrap().clear();
        let answers = status(
            &fake,
            &list,
            "1.1.0",
            &a.binaries,
            Duration::from_secs(1),
            &(),
        );
        assert!(answers.iter().all(|(_, r)| r.is_ok()));
        let calls = fake.calls.lock().unwrap().clone();
        assert!(calls
            .iter()
            .all(|(v, _, r)| v == "STATUS" && r.get("cni.dev/valid-attachments").is_none()));
    }
}
