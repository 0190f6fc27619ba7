//! The plugin contract (CNI specification §2, §3, §5), checked with pods of the checks' own
//! on the standing topology, after every other check; each record names the section it
//! enforces and shows its evidence:
//!
//! - every binary's VERSION holds the version the network runs at; every ADD result is one of
//!   that version, its pod interfaces in the namespace it was given;
//! - a new pod: CHECK after its ADD succeeds; with its address removed by hand, CHECK fails
//!   with a well-formed error; its DEL removes everything its ADD made in the node (links,
//!   addresses, routes, iptables rules and chains, nftables tables, host-local's
//!   reservation), diffed before and after; a second DEL succeeds;
//! - another pod: DEL after its namespace is gone succeeds and still releases what ADD made;
//! - a pod's empty namespace: each bad configuration (not JSON, an unsupported or missing
//!   `cniVersion`, an IPAM plugin that does not exist) gets a non-zero exit and a CNI error
//!   on stdout, and the DEL after it leaves the pod as it was;
//! - GC and STATUS where the network runs at 1.1.0 or later (GC keeps what valid attachments
//!   use and collects what a DEL leaked); otherwise not applicable, with the versions the
//!   plugins speak;
//! - what the chain keeps in the node once its pods are deleted, shared by design (a bridge,
//!   a chain of rules every pod's rules hang from), listed.
//!
//! The checks' own pods are removed before the next step; a step that cannot be made says
//! why and the rest go on.

use std::path::Path;

use harness::backend::{Conformance, Context, PodBench};
use harness::checks::record;
use harness::host::Host;
use harness::topology::PodPlan;
use reports::{CheckOutcome, CheckRecord};
use serde_json::Value;

use crate::chain::{Chain, NodeChain};
use crate::conf::{has_gc, highest};
use crate::error::CniError;
use crate::exec::{invoke_raw, Params, ToRun, Verb, Who};
use crate::runtime::{self, attachment_of, Attachment, Checked};
use crate::snapshot::{is_reservation, NodeState};

/// The check name of every record here.
const CHECK: &str = "conformance";

/// An IPAM plugin that no CNI path holds.
const NO_SUCH_IPAM: &str = "cnbench-no-such-ipam";

/// How long the kernel may take to destroy a deleted namespace's devices.
const NAMESPACE_CLEANUP: std::time::Duration = std::time::Duration::from_secs(3);

/// The built-in chains of the iptables tables.
const BUILT_IN_CHAINS: [&str; 5] = ["INPUT", "FORWARD", "OUTPUT", "PREROUTING", "POSTROUTING"];

/// A version no plugin speaks.
const NO_SUCH_VERSION: &str = "99.0.0";

impl Conformance for Chain {
    fn check(&self, bench: &mut dyn PodBench) -> Vec<CheckRecord> {
        let mut s = Suite {
            chain: self,
            out: Vec::new(),
            leaked: Vec::new(),
        };
        s.run(bench);
        s.out
    }
}

/// A record of the contract: `what` was checked, `expected` per `section` of the
/// specification.
fn rec(what: String, section: &str, expected: &str, actual: String, ok: bool) -> CheckRecord {
    record(
        CHECK,
        what,
        format!("{expected} (CNI spec {section})"),
        actual,
        ok,
        (!ok).then(|| format!("the plugin breaks CNI spec {section}")),
    )
}

/// A record of what does not apply here, and why.
fn not_applicable(what: String, section: &str, why: String) -> CheckRecord {
    CheckRecord {
        check: CHECK.into(),
        subject: what,
        expected: format!("CNI spec {section}"),
        actual: format!("not applicable: {why}"),
        outcome: CheckOutcome::NotApplicable,
        reason: Some(why),
    }
}

/// Up to `n` lines of `items`, for evidence.
fn shown(items: &[String], n: usize) -> String {
    if items.is_empty() {
        return "nothing".into();
    }
    let mut s: Vec<String> = items.iter().take(n).cloned().collect();
    if items.len() > n {
        s.push(format!("and {} more", items.len() - n));
    }
    s.join("; ")
}

struct Suite<'a> {
    chain: &'a Chain,
    out: Vec<CheckRecord>,
    /// What DELs left behind, for GC to collect.
    leaked: Vec<String>,
}

impl Suite<'_> {
    fn run(&mut self, bench: &mut dyn PodBench) {
        let ctx = bench.context();
        let Some(node) = ctx.plan.nodes.first().cloned() else {
            return;
        };
        let nc = match self.chain.prepare(&ctx, &node) {
            Ok(nc) => nc,
            Err(e) => {
                self.out.push(rec(
                    "the chain prepared on the node".into(),
                    "§2 VERSION",
                    "every binary answers VERSION",
                    format!("error: {e}"),
                    false,
                ));
                return;
            }
        };
        let ipam_dir = self.chain.ipam_dir(&node);
        self.versions(&nc);
        self.results(&bench.context());
        self.new_pod(bench, &node.netns, node.index, &ipam_dir);
        self.gone_namespace(bench, &node.netns, node.index, &ipam_dir);
        self.bad_configs(bench, &nc, &node.netns, node.index);
        self.gc_and_status(bench, &nc, &node.netns, &ipam_dir);
        self.kept(&bench.context(), &nc, &node.netns, &ipam_dir);
    }

    fn limit(&self) -> std::time::Duration {
        self.chain.settings().timeout
    }

    /// §2 VERSION: every plugin the runtime calls lists the version the network runs at (an
    /// IPAM plugin is called by the plugin that delegates to it, in a version they share).
    fn versions(&mut self, nc: &NodeChain) {
        let chained = |t: &String| nc.list.plugins.iter().any(|p| p.plugin_type == *t);
        for (plugin, path, supported) in nc.supported.iter().filter(|(t, _, _)| chained(t)) {
            self.out.push(rec(
                format!("VERSION of {plugin} ({path})"),
                "§2 VERSION",
                &format!("supportedVersions holds {}", nc.version),
                format!("supportedVersions {}", supported.join(", ")),
                supported.contains(&nc.version),
            ));
        }
    }

    /// §5: every pod's ADD result is one of the version asked, its pod interfaces in the
    /// namespace the pod was given.
    fn results(&mut self, ctx: &Context<'_>) {
        for pod in &ctx.plan.pods {
            let Some((a, r)) = attachment_of(pod) else {
                continue;
            };
            let elsewhere: Vec<String> = r
                .pod_interfaces()
                .filter(|(_, i)| i.sandbox.as_deref() != Some(a.netns.as_str()))
                .map(|(_, i)| format!("{} in {}", i.name, i.sandbox.as_deref().unwrap_or("")))
                .collect();
            let ok = r.cni_version == a.cni_version && elsewhere.is_empty();
            self.out.push(rec(
                format!("ADD result of {}", pod.role),
                "§5 ADD Success",
                &format!(
                    "a {} result: interface indices valid, addresses in CIDR form, pod interfaces in {}",
                    a.cni_version, a.netns
                ),
                format!(
                    "cniVersion {}; {} interfaces, {} addresses, {} routes{}",
                    r.cni_version,
                    r.interfaces.len(),
                    r.ips.len(),
                    r.routes.len(),
                    if elsewhere.is_empty() {
                        String::new()
                    } else {
                        format!("; elsewhere: {}", elsewhere.join(", "))
                    }
                ),
                ok,
            ));
        }
    }

    /// A new pod: CHECK after ADD; CHECK after a hand-made break; DEL removes what ADD
    /// made; a second DEL.
    fn new_pod(&mut self, bench: &mut dyn PodBench, node_netns: &str, node: u32, ipam_dir: &Path) {
        let before = NodeState::capture(bench.context().host(node_netns), ipam_dir);
        let pod = match bench.add_pod(node) {
            Ok(p) => p,
            Err(e) => {
                self.out.push(rec(
                    "ADD of a new pod".into(),
                    "§2 ADD",
                    "succeeds",
                    format!("error: {e}"),
                    false,
                ));
                return;
            }
        };
        let ctx = bench.context();
        let host = ctx.host(node_netns);
        let after_add = NodeState::capture(host, ipam_dir);
        let made = after_add.new_since(&before);
        let Some((a, r)) = find(&ctx, &pod.role) else {
            bench.remove_pod(&pod.role);
            return;
        };
        let log = ToRun::in_node(&ctx, node_netns);
        let limit = self.limit();
        // CHECK after ADD.
        match runtime::check(host, &a, limit, &log) {
            Ok(Checked::NotCalled(why)) => {
                self.out.push(not_applicable(
                    format!("CHECK of {} after its ADD", pod.role),
                    "§2 CHECK",
                    why.clone(),
                ));
                self.out.push(not_applicable(
                    format!("CHECK of {} after its address was removed", pod.role),
                    "§2 CHECK",
                    why,
                ));
            }
            Ok(Checked::Plugins(answers)) => {
                let failed: Vec<String> = answers
                    .iter()
                    .filter_map(|(p, r)| r.as_ref().err().map(|e| format!("{p}: {e}")))
                    .collect();
                let known = answers.iter().all(|(p, r)| match r {
                    Ok(()) => true,
                    Err(e) => crate::known::check_bug(p, &e.to_string(), &r_of(&a)).is_some(),
                });
                self.out.push(rec(
                    format!("CHECK of {} after its ADD", pod.role),
                    "§2 CHECK",
                    "every plugin's CHECK succeeds",
                    if failed.is_empty() {
                        "every plugin succeeded".into()
                    } else {
                        failed.join("; ")
                    },
                    failed.is_empty() || known,
                ));
                self.broken_check(&ctx, host, &a, &r, &pod);
            }
            Err(e) => self.out.push(rec(
                format!("CHECK of {} after its ADD", pod.role),
                "§2 CHECK",
                "every plugin's CHECK succeeds",
                e.to_string(),
                false,
            )),
        }
        // DEL, its effect, and a second DEL.
        let cache = self.chain.cache();
        let del = runtime::del(host, &cache, &a, limit, &log);
        self.out.push(rec(
            format!("DEL of {}", pod.role),
            "§2 DEL",
            "succeeds",
            result_text(&del),
            del.is_ok(),
        ));
        let after_del = NodeState::capture(host, ipam_dir);
        let left: Vec<String> = made
            .iter()
            .filter(|m| after_del.items.contains(*m))
            .cloned()
            .collect();
        self.leaked.extend(left.iter().cloned());
        self.out.push(rec(
            format!("DEL of {} removes what its ADD made in the node", pod.role),
            "§2 DEL",
            "nothing the ADD made is left",
            format!(
                "ADD made {}: {}; DEL left {}{}",
                made.len(),
                shown(&made, 8),
                shown(&left, 8),
                unreadable(&after_del)
            ),
            left.is_empty(),
        ));
        let again = runtime::del(host, &cache, &a, limit, &log);
        self.out.push(rec(
            format!("a second DEL of {}", pod.role),
            "§2 DEL (plugins must accept multiple DELs)",
            "succeeds",
            result_text(&again),
            again.is_ok(),
        ));
        bench.remove_pod(&pod.role);
    }

    /// CHECK with the pod's address removed by hand must fail, with a CNI error.
    fn broken_check(
        &mut self,
        ctx: &Context<'_>,
        host: &Host,
        a: &Attachment,
        r: &crate::CniResult,
        pod: &PodPlan,
    ) {
        let what = format!("CHECK of {} after its address was removed", pod.role);
        let section = "§2 CHECK (an address of the result missing is an error)";
        // The first address the result gives the pod, of whichever family: CHECK must miss
        // any of them.
        let Some((ip, _)) = r.pod_addresses(&a.ifname).first().copied() else {
            self.out.push(not_applicable(
                what,
                section,
                "the result gives the pod no address".into(),
            ));
            return;
        };
        if let Err(e) = ctx.host(&pod.netns).nl().delete_address(&a.ifname, ip) {
            self.out.push(rec(
                what,
                section,
                "fails",
                format!("could not remove {ip}: {e}"),
                false,
            ));
            return;
        }
        let log = ToRun::in_node(ctx, &a.node_netns);
        let answer = runtime::check(host, a, self.limit(), &log);
        let (ok, actual) = match answer {
            Ok(Checked::Plugins(answers)) => {
                let errors: Vec<String> = answers
                    .iter()
                    .filter_map(|(p, r)| match r {
                        Err(CniError::Plugin { code, msg, .. }) => {
                            Some(format!("{p}: code {code}: {msg}"))
                        }
                        _ => None,
                    })
                    .collect();
                let bad: Vec<String> = answers
                    .iter()
                    .filter_map(|(p, r)| match r {
                        Err(e @ (CniError::Failed { .. } | CniError::BadOutput { .. })) => {
                            Some(format!("{p}: {e}"))
                        }
                        _ => None,
                    })
                    .collect();
                if !bad.is_empty() {
                    (false, format!("not a CNI error: {}", bad.join("; ")))
                } else if errors.is_empty() {
                    (
                        false,
                        format!("every plugin's CHECK succeeded without {ip}"),
                    )
                } else {
                    (true, errors.join("; "))
                }
            }
            // The caller asks only where CHECK was called; not calling it proves nothing.
            Ok(Checked::NotCalled(why)) => (false, format!("not called: {why}")),
            Err(e) => (false, e.to_string()),
        };
        self.out.push(rec(
            what,
            section,
            &format!("fails with a CNI error (code, msg on stdout) once {ip} is gone"),
            actual,
            ok,
        ));
    }

    /// DEL after the pod's namespace is gone succeeds and releases what ADD made.
    fn gone_namespace(
        &mut self,
        bench: &mut dyn PodBench,
        node_netns: &str,
        node: u32,
        ipam_dir: &Path,
    ) {
        let before = NodeState::capture(bench.context().host(node_netns), ipam_dir);
        let pod = match bench.add_pod(node) {
            Ok(p) => p,
            Err(e) => {
                self.out.push(rec(
                    "ADD of a pod to delete without its namespace".into(),
                    "§2 ADD",
                    "succeeds",
                    format!("error: {e}"),
                    false,
                ));
                return;
            }
        };
        let made =
            NodeState::capture(bench.context().host(node_netns), ipam_dir).new_since(&before);
        let Some((a, _)) = find(&bench.context(), &pod.role) else {
            bench.remove_pod(&pod.role);
            return;
        };
        if let Err(e) = bench.delete_pod_namespace(&pod.role) {
            self.out.push(rec(
                format!("DEL of {} after its namespace is gone", pod.role),
                "§2 DEL",
                "succeeds",
                format!("the namespace could not be deleted: {e}"),
                false,
            ));
            bench.remove_pod(&pod.role);
            return;
        }
        let ctx = bench.context();
        let host = ctx.host(node_netns);
        let log = ToRun::in_node(&ctx, node_netns);
        let del = runtime::del(host, &self.chain.cache(), &a, self.limit(), &log);
        self.out.push(rec(
            format!("DEL of {} after its namespace is gone", pod.role),
            "§2 DEL (best effort: the namespace may be gone)",
            "succeeds",
            result_text(&del),
            del.is_ok(),
        ));
        // The kernel destroys a deleted namespace's devices (the host end of a veth pair
        // with them) from a work queue, a moment later: what is left is read once it did.
        let deadline = std::time::Instant::now() + NAMESPACE_CLEANUP;
        let (after, left) = loop {
            let after = NodeState::capture(host, ipam_dir);
            let left: Vec<String> = made
                .iter()
                .filter(|m| after.items.contains(*m))
                .cloned()
                .collect();
            if left.is_empty() || std::time::Instant::now() >= deadline {
                break (after, left);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        self.leaked.extend(left.iter().cloned());
        self.out.push(rec(
            format!(
                "DEL of {} without its namespace releases what its ADD made",
                pod.role
            ),
            "§2 DEL (an IPAM plugin releases even if the namespace is gone)",
            "nothing the ADD made is left",
            format!("DEL left {}{}", shown(&left, 8), unreadable(&after)),
            left.is_empty(),
        ));
        bench.remove_pod(&pod.role);
    }

    /// Bad configurations, each on a pod's empty namespace: a non-zero exit with a CNI error
    /// on stdout; the DEL after them leaves the pod as it was.
    fn bad_configs(
        &mut self,
        bench: &mut dyn PodBench,
        nc: &NodeChain,
        node_netns: &str,
        node: u32,
    ) {
        let pod = match bench.add_pod_unwired(node) {
            Ok(p) => p,
            Err(e) => {
                self.out.push(rec(
                    "a pod's empty namespace for bad configurations".into(),
                    "§2 ADD",
                    "made",
                    format!("error: {e}"),
                    false,
                ));
                return;
            }
        };
        let ctx = bench.context();
        let host = ctx.host(node_netns);
        let log = ToRun::in_node(&ctx, node_netns);
        let params = Params {
            container_id: format!("cnb-{}-{}", ctx.plan.run_id(), pod.role),
            netns: format!("{}/{}", harness::netns::NETNS_RUN_DIR, pod.netns),
            ifname: "eth0".into(),
            args: "IgnoreUnknown=1".into(),
            cni_path: nc.binaries.cni_path.clone(),
        };
        let list = &nc.list;
        let main = &list.plugins[0].plugin_type;
        let good = list.request(0, &nc.version, &serde_json::Map::new(), None);
        let mut cases: Vec<(String, String)> = vec![
            (
                "a configuration that is not JSON".into(),
                "{ \"cniVersion\": ".into(),
            ),
            (
                format!("an unsupported cniVersion ({NO_SUCH_VERSION})"),
                with(&good, |o| {
                    o.insert("cniVersion".into(), NO_SUCH_VERSION.into());
                }),
            ),
            (
                "no cniVersion".into(),
                with(&good, |o| {
                    o.remove("cniVersion");
                }),
            ),
        ];
        if list.plugins[0].ipam_type().is_some() {
            cases.push((
                format!("an IPAM plugin that does not exist ({NO_SUCH_IPAM})"),
                with(&good, |o| {
                    if let Some(Value::Object(ipam)) = o.get_mut("ipam") {
                        ipam.insert("type".into(), NO_SUCH_IPAM.into());
                    }
                }),
            ));
        }
        let Some(path) = nc.binaries.path_of(main) else {
            return;
        };
        for (what, stdin) in cases {
            let who = Who {
                verb: Verb::Add,
                pod: &pod.role,
                plugin: main,
            };
            let answer = invoke_raw(
                host,
                Path::new(path),
                who,
                &params,
                &stdin,
                self.limit(),
                false,
                &log,
            );
            let legacy = what == "no cniVersion";
            let (ok, actual) = match &answer {
                Err(CniError::Plugin { code, msg, .. }) => {
                    (true, format!("refused with code {code}: {msg}"))
                }
                // The reference library takes a configuration without cniVersion as 0.1.0:
                // an old result is an answer too.
                Ok(v) if legacy && v.get("cniVersion").and_then(Value::as_str) == Some("0.1.0") => (
                    true,
                    "taken as 0.1.0, as the reference library (libcni's version decoder) does for a configuration without cniVersion".into(),
                ),
                Ok(_) => (false, "accepted".into()),
                Err(e) => (false, format!("not a CNI error: {e}")),
            };
            self.out.push(rec(
                format!("ADD of {main} with {what}"),
                "§2 Errors, §5 Error",
                "a non-zero exit and a CNI error (code, msg) on stdout",
                actual,
                ok,
            ));
            // What a refused ADD may have made, as a runtime deletes it (§3: a delete even
            // if the add fails).
            let who = Who {
                verb: Verb::Del,
                ..who
            };
            let _ = invoke_raw(
                host,
                Path::new(path),
                who,
                &params,
                &good.to_string(),
                self.limit(),
                false,
                &log,
            );
        }
        // Every other binary refuses a configuration that is not JSON.
        for (plugin, path) in nc.binaries.paths.iter().filter(|(t, _)| t != main) {
            let who = Who {
                verb: Verb::Add,
                pod: &pod.role,
                plugin,
            };
            let answer = invoke_raw(
                host,
                Path::new(path),
                who,
                &params,
                "{ \"cniVersion\": ",
                self.limit(),
                false,
                &log,
            );
            let (ok, actual) = match &answer {
                Err(CniError::Plugin { code, msg, .. }) => {
                    (true, format!("refused with code {code}: {msg}"))
                }
                Ok(_) => (false, "accepted".into()),
                Err(e) => (false, format!("not a CNI error: {e}")),
            };
            self.out.push(rec(
                format!("ADD of {plugin} with a configuration that is not JSON"),
                "§2 Errors, §5 Error",
                "a non-zero exit and a CNI error (code, msg) on stdout",
                actual,
                ok,
            ));
        }
        let left: Vec<String> = match ctx.host(&pod.netns).nl().links() {
            Ok(links) => links
                .iter()
                .filter(|l| l.name != "lo")
                .map(|l| format!("{} ({})", l.name, l.kind.as_str()))
                .collect(),
            Err(e) => vec![format!("unreadable: {e}")],
        };
        self.out.push(rec(
            format!("{} after refused ADDs and their DELs", pod.role),
            "§2 DEL",
            "the pod's namespace as it was: lo only",
            if left.is_empty() {
                "lo only".into()
            } else {
                left.join(", ")
            },
            left.is_empty(),
        ));
        bench.remove_pod(&pod.role);
    }

    /// GC and STATUS where the network runs at 1.1.0 or later.
    fn gc_and_status(
        &mut self,
        bench: &mut dyn PodBench,
        nc: &NodeChain,
        node_netns: &str,
        ipam_dir: &Path,
    ) {
        if !has_gc(&nc.version) {
            let chained = |t: &String| nc.list.plugins.iter().any(|p| p.plugin_type == *t);
            for (plugin, _, supported) in nc.supported.iter().filter(|(t, _, _)| chained(t)) {
                let top = highest(supported);
                let why = if has_gc(&top) {
                    format!(
                        "{plugin} supports up to {top}, but the network runs at {}; GC and STATUS came with 1.1.0",
                        nc.version
                    )
                } else {
                    format!("{plugin} supports up to {top}; GC and STATUS came with 1.1.0")
                };
                self.out.push(not_applicable(
                    format!("STATUS of {plugin}"),
                    "§2 STATUS",
                    why.clone(),
                ));
                self.out
                    .push(not_applicable(format!("GC of {plugin}"), "§2 GC", why));
            }
            return;
        }
        let ctx = bench.context();
        let host = ctx.host(node_netns);
        let log = ToRun::in_node(&ctx, node_netns);
        for (plugin, answer) in runtime::status(
            host,
            &nc.list,
            &nc.version,
            &nc.binaries,
            self.limit(),
            &log,
        ) {
            self.out.push(rec(
                format!("STATUS of {plugin}"),
                "§2 STATUS",
                "exit 0: ready for ADD",
                result_text(&answer),
                answer.is_ok(),
            ));
        }
        let valid: Vec<(String, String)> = self
            .chain
            .cache()
            .all()
            .into_iter()
            .map(|a| (a.container_id, a.ifname))
            .collect();
        let before = NodeState::capture(host, ipam_dir);
        for (plugin, answer) in runtime::gc(
            host,
            &nc.list,
            &nc.version,
            &nc.binaries,
            &valid,
            self.limit(),
            &log,
        ) {
            self.out.push(rec(
                format!("GC of {plugin}"),
                "§2 GC",
                &format!("exit 0, with {} valid attachments", valid.len()),
                result_text(&answer),
                answer.is_ok(),
            ));
        }
        let after = NodeState::capture(host, ipam_dir);
        // What valid attachments use stays: their reservations.
        let dropped: Vec<String> = before
            .items
            .iter()
            .filter(|i| is_reservation(i) && !after.items.contains(*i) && !self.leaked.contains(*i))
            .cloned()
            .collect();
        self.out.push(rec(
            "GC keeps what valid attachments use".into(),
            "§2 GC",
            "every reservation of a valid attachment kept",
            if dropped.is_empty() {
                "kept".into()
            } else {
                format!("removed {}", shown(&dropped, 8))
            },
            dropped.is_empty(),
        ));
        let leaked: Vec<String> = self
            .leaked
            .iter()
            .filter(|l| is_reservation(l))
            .cloned()
            .collect();
        let uncollected: Vec<String> = leaked
            .iter()
            .filter(|l| after.items.contains(*l))
            .cloned()
            .collect();
        self.out.push(rec(
            "GC collects the reservations no attachment holds".into(),
            "§2 GC",
            "every reservation a DEL left is gone",
            if leaked.is_empty() {
                "no DEL left one".into()
            } else {
                format!(
                    "left by DELs: {}; still there: {}",
                    shown(&leaked, 8),
                    shown(&uncollected, 8)
                )
            },
            uncollected.is_empty(),
        ));
    }

    /// What the chain keeps in the node with its remaining pods, beyond each pod's own:
    /// shared by design (a bridge, shared chains), listed.
    fn kept(&mut self, ctx: &Context<'_>, nc: &NodeChain, node_netns: &str, ipam_dir: &Path) {
        let Some(before) = &nc.before else {
            return;
        };
        let now = NodeState::capture(ctx.host(node_netns), ipam_dir);
        // Each remaining pod's own objects: its result's host interfaces, its address, its
        // container id (in rules' comments), the chains its rules are in.
        let mut marks: Vec<String> = Vec::new();
        for pod in &ctx.plan.pods {
            if let Some((a, r)) = attachment_of(pod) {
                marks.push(a.container_id.clone());
                marks.extend(r.node_interfaces().map(|(_, i)| i.name.clone()));
                marks.extend(r.ips.iter().map(|ip| ip.address.addr().to_string()));
            }
        }
        let new = now.new_since(before);
        let owned_chains: Vec<String> = new
            .iter()
            .filter(|l| l.starts_with("rule ") && marks.iter().any(|m| l.contains(m.as_str())))
            .filter_map(|l| l.split_whitespace().nth(3).map(String::from))
            .collect();
        let shared: Vec<String> = new
            .into_iter()
            .filter(|l| !self.leaked.contains(l))
            .filter(|l| !marks.iter().any(|m| l.contains(m.as_str())))
            .filter(|l| {
                !(l.starts_with("chain ")
                    && owned_chains.iter().any(|c| l.ends_with(&format!(" {c}"))))
            })
            .filter(|l| !l.starts_with("route ") || !marks.iter().any(|m| l.contains(m.as_str())))
            // The tables' built-in chains appear with the first rule: the kernel's, not the
            // chain's.
            .filter(|l| {
                !(l.starts_with("chain ")
                    && BUILT_IN_CHAINS
                        .iter()
                        .any(|c| l.ends_with(&format!(" {c}"))))
            })
            .collect();
        self.out.push(record(
            CHECK,
            "what the chain shares between its pods, kept by design".into(),
            "listed, not counted as leaks (CNI spec §2 DEL removes an attachment's own objects)"
                .into(),
            shown(&shared, 12),
            true,
            None,
        ));
    }
}

/// The attachment and result of pod `role`, as the plan holds it now.
fn find(ctx: &Context<'_>, role: &str) -> Option<(Attachment, crate::CniResult)> {
    ctx.plan
        .pods
        .iter()
        .find(|p| p.role == role)
        .and_then(attachment_of)
}

/// The parsed result of `a` (an empty one when it has none).
fn r_of(a: &Attachment) -> crate::CniResult {
    a.parsed_result().unwrap_or(crate::CniResult {
        cni_version: a.cni_version.clone(),
        interfaces: Vec::new(),
        ips: Vec::new(),
        routes: Vec::new(),
    })
}

/// `request` (an object) changed by `change`, as text.
fn with(request: &Value, change: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
    let mut v = request.clone();
    if let Value::Object(o) = &mut v {
        change(o);
    }
    v.to_string()
}

fn result_text<T>(r: &Result<T, CniError>) -> String {
    match r {
        Ok(_) => "succeeded".into(),
        Err(e) => e.to_string(),
    }
}

fn unreadable(s: &NodeState) -> String {
    if s.unreadable.is_empty() {
        String::new()
    } else {
        format!(" (not read: {})", s.unreadable.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gc_exists_from_1_1_0() {
        assert!(has_gc("1.1.0") && has_gc("1.2.0"));
        assert!(!has_gc("1.0.0") && !has_gc("0.4.0") && !has_gc("0.3.1"));
        let v: Vec<String> = ["0.1.0", "1.0.0", "0.4.0"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(highest(&v), "1.0.0");
        assert_eq!(
            shown(&["a".into(), "b".into(), "c".into()], 2),
            "a; b; and 1 more"
        );
    }
}
