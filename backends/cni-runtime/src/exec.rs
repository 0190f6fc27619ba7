//! One plugin invocation (CNI specification §2): the plugin found on the CNI path, its
//! parameters in the environment, its request configuration on stdin, a time limit per verb;
//! what it printed read as a result, an error, or a protocol violation.
//!
//! The plugin runs inside the *node's* namespace, never the machine's own, through
//! [`harness::host::Host::exec`]: that is where a runtime runs it (§2: "in the runtime's
//! networking domain"), so the host side of a veth, a bridge and any iptables rules land
//! in the node.

use std::path::{Path, PathBuf};
use std::time::Duration;

use harness::host::{CmdOutput, ExecInput, Host, Killed};
use serde_json::Value;

use crate::error::CniError;
use crate::result::error_of;

/// A CNI operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// Add a container to the network.
    Add,
    /// Remove it.
    Del,
    /// Check it is as added.
    Check,
    /// Which versions the plugin speaks.
    Version,
    /// Clean up what no valid attachment needs (1.1.0).
    Gc,
    /// Whether the plugin can serve an ADD now (1.1.0).
    Status,
}

impl Verb {
    /// As `CNI_COMMAND` names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Add => "ADD",
            Verb::Del => "DEL",
            Verb::Check => "CHECK",
            Verb::Version => "VERSION",
            Verb::Gc => "GC",
            Verb::Status => "STATUS",
        }
    }
}

/// The attachment parameters of an invocation (§3 "Attachment Parameters").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    /// `CNI_CONTAINERID`.
    pub container_id: String,
    /// `CNI_NETNS`: the pod's namespace path.
    pub netns: String,
    /// `CNI_IFNAME`.
    pub ifname: String,
    /// `CNI_ARGS`: `K=V;K=V`.
    pub args: String,
    /// `CNI_PATH`, as the node sees it.
    pub cni_path: String,
}

/// Something that runs a program to its end with an environment and stdin: a host of the
/// run ([`Host::exec`]). A trait so the chaining logic can be tested without plugins.
pub trait Exec {
    /// Runs `program` with `input`.
    fn run(&self, program: &str, input: &ExecInput) -> harness::Result<CmdOutput>;
}

impl Exec for Host {
    fn run(&self, program: &str, input: &ExecInput) -> harness::Result<CmdOutput> {
        self.exec(program, &[], input)
    }
}

/// The executable `plugin` in the first of `dirs` that has one.
pub fn find_plugin(plugin: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    dirs.iter().map(|d| d.join(plugin)).find(|p| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// The environment of an invocation (§2 "Parameters"). Every `CNI_*` variable is set, so
/// none is inherited from whoever started cnbench; the attachment parameters are empty for
/// the verbs of no attachment (VERSION, GC, STATUS).
pub fn environment(verb: Verb, params: &Params) -> Vec<(String, String)> {
    let attachment = matches!(verb, Verb::Add | Verb::Del | Verb::Check);
    let value = |v: &str| {
        if attachment {
            v.to_string()
        } else {
            String::new()
        }
    };
    vec![
        ("CNI_COMMAND".to_string(), verb.as_str().to_string()),
        ("CNI_CONTAINERID".into(), value(&params.container_id)),
        ("CNI_NETNS".into(), value(&params.netns)),
        ("CNI_IFNAME".into(), value(&params.ifname)),
        ("CNI_ARGS".into(), value(&params.args)),
        ("CNI_PATH".into(), params.cni_path.clone()),
    ]
}

/// One invocation's identity, for messages.
#[derive(Debug, Clone, Copy)]
pub struct Who<'a> {
    /// The verb.
    pub verb: Verb,
    /// The pod (`n0p1`), `-` for VERSION.
    pub pod: &'a str,
    /// The plugin's type.
    pub plugin: &'a str,
}

/// Where each invocation is told, with its wall time and how it ended (the result's plugin
/// calls).
pub trait CallLog {
    /// `who` ran for `took` and ended with `outcome`.
    fn call(&self, who: Who<'_>, took: Duration, outcome: &Result<Value, CniError>);
}

/// Tells no one.
impl CallLog for () {
    fn call(&self, _: Who<'_>, _: Duration, _: &Result<Value, CniError>) {}
}

/// Plugin calls told to the run, for its result: each with the node it ran in.
pub struct ToRun<'a> {
    /// The run.
    pub ctx: &'a harness::backend::Context<'a>,
    /// The node's role (`n0`), found from the namespace the plugin ran in.
    pub node: String,
}

impl<'a> ToRun<'a> {
    /// Calls made in the namespace `node_netns` of the run of `ctx`.
    pub fn in_node(ctx: &'a harness::backend::Context<'a>, node_netns: &str) -> ToRun<'a> {
        let node = ctx
            .plan
            .nodes
            .iter()
            .find(|n| n.netns == node_netns)
            .map(|n| n.role.clone())
            .unwrap_or_else(|| node_netns.to_string());
        ToRun { ctx, node }
    }
}

impl CallLog for ToRun<'_> {
    fn call(&self, who: Who<'_>, took: Duration, outcome: &Result<Value, CniError>) {
        self.ctx.report_plugin_call(reports::PluginCallRecord {
            pod: who.pod.to_string(),
            node: self.node.clone(),
            plugin: who.plugin.to_string(),
            verb: who.verb.as_str().to_string(),
            wall_ns: took.as_nanos() as u64,
            outcome: outcome_word(outcome),
        });
    }
}

/// How an invocation ended, in a word or two (a plugin call record's `outcome`).
pub fn outcome_word(outcome: &Result<Value, CniError>) -> String {
    match outcome {
        Ok(_) => "ok".into(),
        Err(CniError::Plugin { code, .. }) => format!("error {code}"),
        Err(CniError::TimedOut { .. }) => "timed out".into(),
        Err(CniError::BadOutput { .. }) => "bad output".into(),
        Err(CniError::Run { source, .. })
            if matches!(**source, harness::HarnessError::Interrupted) =>
        {
            "interrupted".into()
        }
        Err(_) => "failed".into(),
    }
}

/// Runs `program` (the plugin `who.plugin`) on `exec` with `request` on stdin; killed by
/// pid after `limit`; tells `log`. Returns what it printed as JSON (`Null` for a verb that
/// printed nothing where it may: DEL, CHECK, GC, STATUS); a CNI error, a non-zero exit, a
/// timeout, and an ADD or VERSION that printed nothing or something other than JSON are
/// errors that name the plugin.
#[allow(clippy::too_many_arguments)]
pub fn invoke(
    exec: &dyn Exec,
    program: &Path,
    who: Who<'_>,
    params: &Params,
    request: &Value,
    limit: Duration,
    interruptible: bool,
    log: &dyn CallLog,
) -> Result<Value, CniError> {
    invoke_raw(
        exec,
        program,
        who,
        params,
        &request.to_string(),
        limit,
        interruptible,
        log,
    )
}

/// [`invoke`] with `stdin` as given, JSON or not (a conformance check's bad configuration).
#[allow(clippy::too_many_arguments)]
pub fn invoke_raw(
    exec: &dyn Exec,
    program: &Path,
    who: Who<'_>,
    params: &Params,
    stdin: &str,
    limit: Duration,
    interruptible: bool,
    log: &dyn CallLog,
) -> Result<Value, CniError> {
    let t = std::time::Instant::now();
    let outcome = run_plugin(exec, program, who, params, stdin, limit, interruptible);
    log.call(who, t.elapsed(), &outcome);
    outcome
}

fn run_plugin(
    exec: &dyn Exec,
    program: &Path,
    who: Who<'_>,
    params: &Params,
    stdin: &str,
    limit: Duration,
    interruptible: bool,
) -> Result<Value, CniError> {
    let input = ExecInput {
        env: environment(who.verb, params),
        stdin: Some(stdin.to_string()),
        limit,
        interruptible,
    };
    let out = exec
        .run(&program.display().to_string(), &input)
        .map_err(|source| CniError::Run {
            verb: who.verb.as_str().into(),
            pod: who.pod.into(),
            plugin: who.plugin.into(),
            source: Box::new(source),
        })?;
    interpret(who, &out, limit)
}

/// What an invocation's output means.
pub fn interpret(who: Who<'_>, out: &CmdOutput, limit: Duration) -> Result<Value, CniError> {
    let (verb, pod, plugin) = (
        who.verb.as_str().to_string(),
        who.pod.to_string(),
        who.plugin.to_string(),
    );
    match out.killed {
        Some(Killed::Interrupted) => {
            return Err(CniError::Run {
                verb,
                pod,
                plugin,
                source: Box::new(harness::HarnessError::Interrupted),
            })
        }
        Some(Killed::TimedOut) => {
            return Err(CniError::TimedOut {
                verb,
                pod,
                plugin,
                limit_s: limit.as_secs(),
                pid_note: match out.pid {
                    Some(pid) => format!("pid {pid}, {}", out.status),
                    None => out.status.to_string(),
                },
            })
        }
        None => {}
    }
    let text = out.stdout.trim();
    let parsed: Option<Value> = serde_json::from_str(text).ok();
    if let Some(e) = parsed.as_ref().and_then(error_of) {
        return Err(CniError::Plugin {
            verb,
            pod,
            plugin,
            code: e.code,
            msg: e.msg,
            details: e.details,
        });
    }
    if !out.status.success() {
        let tail: String = out
            .stderr
            .lines()
            .rev()
            .take(3)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join(" | ");
        return Err(CniError::Failed {
            verb,
            pod,
            plugin,
            status: out.status.to_string(),
            stderr: tail,
        });
    }
    let needs_output = matches!(who.verb, Verb::Add | Verb::Version);
    match parsed {
        Some(v) => Ok(v),
        None if text.is_empty() && !needs_output => Ok(Value::Null),
        None => Err(CniError::BadOutput {
            verb,
            pod,
            plugin,
            what: if text.is_empty() {
                "nothing".into()
            } else {
                let head: String = text.chars().take(60).collect();
                format!(
                    "{head:?}{}",
                    if text.chars().count() > 60 { "..." } else { "" }
                )
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness::process::ExitRecord;

    fn out(code: i32, stdout: &str) -> CmdOutput {
        CmdOutput {
            status: ExitRecord {
                code: Some(code),
                signal: None,
            },
            stdout: stdout.into(),
            stderr: "plugin log line".into(),
            killed: None,
            pid: Some(4242),
        }
    }

    const ADD: Who<'static> = Who {
        verb: Verb::Add,
        pod: "n0p0",
        plugin: "bridge",
    };

    #[test]
    fn the_environment_is_the_specs() {
        let p = Params {
            container_id: "cnb-ab12-n0p0".into(),
            netns: "/run/netns/cnb-ab12-n0p0".into(),
            ifname: "eth0".into(),
            args: "IgnoreUnknown=1".into(),
            cni_path: "/usr/lib/cni".into(),
        };
        let env = environment(Verb::Add, &p);
        let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "CNI_COMMAND",
                "CNI_CONTAINERID",
                "CNI_NETNS",
                "CNI_IFNAME",
                "CNI_ARGS",
                "CNI_PATH"
            ]
        );
        assert_eq!(env[0].1, "ADD");
        let version = environment(Verb::Version, &p);
        assert_eq!(version.len(), 6, "every CNI_* is set, none inherited");
        assert!(version[1..5].iter().all(|(_, v)| v.is_empty()));
    }

    #[test]
    fn outputs_are_read_as_the_protocol_says() {
        let limit = Duration::from_secs(30);
        assert!(interpret(ADD, &out(0, "{\"cniVersion\":\"1.0.0\"}"), limit).is_ok());
        let e = interpret(ADD, &out(0, ""), limit).unwrap_err().to_string();
        assert!(e.contains("exited 0 but printed nothing"), "{e}");
        let e = interpret(ADD, &out(0, "hello world"), limit)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("printed \"hello world\", not a CNI result"),
            "{e}"
        );
        let e = interpret(
            ADD,
            &out(1, r#"{"code":7,"msg":"bad","details":"no subnet"}"#),
            limit,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "CNI ADD of n0p0: plugin bridge failed with code 7: bad (no subnet)"
        );
        let e = interpret(ADD, &out(2, ""), limit).unwrap_err().to_string();
        assert!(
            e.contains("ended with exit code 2") && e.contains("plugin log line"),
            "{e}"
        );
        // DEL and CHECK print nothing on success.
        let del = Who {
            verb: Verb::Del,
            ..ADD
        };
        assert_eq!(interpret(del, &out(0, ""), limit).unwrap(), Value::Null);
        let mut hung = out(0, "");
        hung.killed = Some(Killed::TimedOut);
        hung.status = ExitRecord {
            code: None,
            signal: Some(9),
        };
        let e = interpret(ADD, &hung, limit).unwrap_err().to_string();
        assert!(
            e.contains("did not finish within 30 s and was killed") && e.contains("--cni-timeout"),
            "{e}"
        );
    }
}
