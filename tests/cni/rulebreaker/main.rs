//! `cni-rulebreaker`: a CNI main (interface) plugin written for cnbench's tests. It speaks
//! CNI 1.1.0 (and 1.0.0, 0.4.0, 0.3.1) with every verb, GC and STATUS included, and breaks
//! the rules on request, so that cnbench's runtime can be tried against a plugin whose
//! misbehaviour is known exactly.
//!
//! What it makes (`ADD`): a veth pair, the host end `rb` + 8 hex digits of the FNV-1a hash
//! of `CNI_CONTAINERID` + `CNI_IFNAME` in the namespace it runs in (the node), the peer
//! `CNI_IFNAME` in `CNI_NETNS`, MTU `mtu` (1500). The address comes from the IPAM plugin
//! named by `ipam.type` (found on `CNI_PATH`, given the request as received, at the highest
//! version both speak: the reference host-local 1.1.1 stops at 1.0.0); the first IPv4
//! address goes on the pod's interface, the IPAM routes into the pod (through the gateway
//! where a route names none). The node routes the pod as ptp does, through its host end:
//! the host end holds the gateway as a /32 and answers ARP for the other pods (proxy ARP),
//! the node forwards, and every host end of a network has the same MAC (`0a:58` + the
//! gateway's four bytes), so whichever device holds the gateway shows the pod the MAC its
//! neighbour entry has. The host end's alias, `cni-rulebreaker <network> <container id>
//! <ifname>`, says whose it is (GC reads it).
//!
//! The configuration's `"mode"` picks the misbehaviour:
//! - `conformant` (default): none.
//! - `lies`: ADD reports the assigned IPv4 address plus 100 in its last octet (same
//!   prefix), and assigns the real one.
//! - `second-del-fails`: the first DEL of an attachment works, a later one fails with code
//!   999 "already deleted" (a marker file `.rulebreaker-deleted-<containerid>-<ifname>` in
//!   `ipam.dataDir`, which this mode needs; an ADD of the attachment removes it).
//! - `leaks`: DEL removes the veth but keeps the IPAM reservation (a GC must collect it).
//! - `hangs`: ADD sleeps forever; the other verbs behave.
//!
//! A `prevResult` given to ADD is not merged into the result: like the reference interface
//! plugins, this one is meant to be the first of a chain. An IPv6 address the IPAM plugin
//! also gives stays reserved (until DEL) but is neither assigned nor reported.
//!
//! Every error is a CNI error object on stdout with exit status 1. The configuration is
//! checked before anything else, and more strictly than libcni does: `cniVersion` must be
//! there. It logs nothing, touches no namespace but its own and `CNI_NETNS`, and no file
//! outside `ipam.dataDir`.

mod ipam;
mod net;
mod verbs;

use std::io::{Read, Write};
use std::path::PathBuf;

use serde_json::{json, Value};

/// The versions it speaks.
pub const SUPPORTED: [&str; 4] = ["0.3.1", "0.4.0", "1.0.0", "1.1.0"];

/// The version of errors whose request names none.
const LATEST: &str = "1.1.0";

/// The generic error code (libcni's `ErrInternal`), for failures the specification has no
/// code for.
pub const INTERNAL: u32 = 999;

/// A CNI error (specification §5).
#[derive(Debug)]
pub struct Failure {
    pub code: u32,
    pub msg: String,
    pub details: String,
}

impl Failure {
    pub fn new(code: u32, msg: impl Into<String>, details: impl Into<String>) -> Failure {
        Failure {
            code,
            msg: msg.into(),
            details: details.into(),
        }
    }

    /// A failure with the generic code.
    pub fn internal(msg: impl Into<String>, details: impl Into<String>) -> Failure {
        Failure::new(INTERNAL, msg, details)
    }

    /// For `map_err` of a system step that failed with `why`: a generic failure saying `msg`.
    pub fn of(msg: &str) -> impl FnOnce(String) -> Failure + '_ {
        move |why| Failure::internal(msg, why)
    }
}

pub type Outcome<T> = Result<T, Failure>;

/// The misbehaviour asked for (`"mode"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Conformant,
    Lies,
    SecondDelFails,
    Leaks,
    Hangs,
}

impl Mode {
    fn parse(s: &str) -> Option<Mode> {
        Some(match s {
            "conformant" => Mode::Conformant,
            "lies" => Mode::Lies,
            "second-del-fails" => Mode::SecondDelFails,
            "leaks" => Mode::Leaks,
            "hangs" => Mode::Hangs,
            _ => return None,
        })
    }
}

/// The request configuration, checked.
pub struct Conf {
    /// As received (what the IPAM plugin is given).
    pub raw: Value,
    /// `cniVersion`: one of [`SUPPORTED`].
    pub version: String,
    /// The network's `name`.
    pub name: String,
    /// `ipam.type`: the IPAM plugin's file name.
    pub ipam_type: String,
    /// `ipam.dataDir`, if given.
    pub data_dir: Option<PathBuf>,
    /// `mtu` of both ends of the pair.
    pub mtu: u32,
    pub mode: Mode,
}

impl Conf {
    /// Checks a request: its version first (missing: code 1; one it does not speak: code
    /// 1), then its IPAM section (code 7), its name (7), its mode (2: an unsupported
    /// field), its MTU (7).
    fn from_request(raw: Value) -> Outcome<Conf> {
        let Some(obj) = raw.as_object() else {
            return Err(Failure::new(
                6,
                "failed to decode the network configuration",
                "it is JSON, but not an object",
            ));
        };
        let version = match obj.get("cniVersion") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::String(_)) | Some(Value::Null) | None => {
                return Err(Failure::new(
                    1,
                    "cniVersion missing",
                    "the configuration must name its CNI version (this plugin assumes none)",
                ))
            }
            Some(other) => {
                return Err(Failure::new(
                    1,
                    "cniVersion missing",
                    format!("cniVersion is {other}, not a version string"),
                ))
            }
        };
        if !SUPPORTED.contains(&version.as_str()) {
            return Err(Failure::new(
                1,
                "incompatible CNI versions",
                format!("config is {version:?}, plugin supports {SUPPORTED:?}"),
            ));
        }
        let ipam = obj.get("ipam").and_then(Value::as_object).ok_or_else(|| {
            Failure::new(
                7,
                "ipam missing",
                "this plugin delegates addresses: the configuration needs an \"ipam\" object with a \"type\"",
            )
        })?;
        let ipam_type = match ipam.get("type").and_then(Value::as_str) {
            Some(t) if !t.is_empty() => t.to_string(),
            _ => {
                return Err(Failure::new(
                    7,
                    "ipam.type missing",
                    "the \"ipam\" object must name its plugin in \"type\"",
                ))
            }
        };
        if ipam_type.contains('/') || ipam_type == "." || ipam_type == ".." {
            return Err(Failure::new(
                7,
                "invalid ipam.type",
                format!("{ipam_type:?} is not a file name"),
            ));
        }
        let name = match obj.get("name").and_then(Value::as_str) {
            Some(n) if valid_identifier(n) => n.to_string(),
            Some(n) => {
                return Err(Failure::new(
                    7,
                    "invalid network name",
                    format!("{n:?}: a name starts with a letter or digit, then letters, digits, '_', '.' or '-'"),
                ))
            }
            None => {
                return Err(Failure::new(
                    7,
                    "name missing",
                    "the configuration must name its network",
                ))
            }
        };
        let mode = match obj.get("mode") {
            None => Mode::Conformant,
            Some(v) => v.as_str().and_then(Mode::parse).ok_or_else(|| {
                Failure::new(
                    2,
                    format!("unsupported field mode: {v}"),
                    "mode is one of conformant, lies, second-del-fails, leaks, hangs",
                )
            })?,
        };
        let mtu = match obj.get("mtu") {
            None => 1500,
            Some(v) => match v.as_u64() {
                Some(m @ 68..=65535) => m as u32,
                _ => {
                    return Err(Failure::new(
                        7,
                        format!("invalid mtu: {v}"),
                        "mtu is a number of bytes from 68 to 65535",
                    ))
                }
            },
        };
        let data_dir = match ipam.get("dataDir") {
            None => None,
            Some(Value::String(d)) if !d.is_empty() => Some(PathBuf::from(d)),
            Some(other) => {
                return Err(Failure::new(
                    7,
                    format!("invalid ipam.dataDir: {other}"),
                    "ipam.dataDir is a directory's path",
                ))
            }
        };
        if mode == Mode::SecondDelFails && data_dir.is_none() {
            return Err(Failure::new(
                7,
                "mode second-del-fails needs ipam.dataDir",
                "it remembers deleted attachments in a marker file in ipam.dataDir",
            ));
        }
        Ok(Conf {
            raw,
            version,
            name,
            ipam_type,
            data_dir,
            mtu,
            mode,
        })
    }
}

/// Whether `s` is a network name or container ID as the specification allows: a letter or
/// digit, then letters, digits, `_`, `.` or `-`.
pub fn valid_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// `(major, minor, patch)` of a version string.
pub fn semver(v: &str) -> Option<(u32, u32, u32)> {
    let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
    let out = (parts.next()??, parts.next()??, parts.next()??);
    parts.next().is_none().then_some(out)
}

/// Whether version `v` is `min` or later (an unreadable version is not).
pub fn at_least(v: &str, min: &str) -> bool {
    match (semver(v), semver(min)) {
        (Some(a), Some(b)) => a >= b,
        _ => false,
    }
}

/// Whether version `a` sorts before `b` (unreadable versions first).
pub fn older(a: &str, b: &str) -> bool {
    semver(a) < semver(b)
}

fn main() {
    let command = std::env::var("CNI_COMMAND").unwrap_or_default();
    let mut input = Vec::new();
    let (version, outcome) = match std::io::stdin().read_to_end(&mut input) {
        Ok(_) => run(&command, &input),
        Err(e) => (
            None,
            Err(Failure::new(
                5,
                "failed to read the configuration from stdin",
                e.to_string(),
            )),
        ),
    };
    match outcome {
        // A reader that went away is no reason to fail what is done (nor to panic).
        Ok(Some(out)) => {
            let _ = writeln!(std::io::stdout().lock(), "{out}");
        }
        Ok(None) => {}
        Err(f) => {
            // In the specification's order (serde_json's maps sort their keys).
            let text = |s: &str| Value::String(s.to_string());
            let _ = writeln!(
                std::io::stdout().lock(),
                "{{\"cniVersion\":{},\"code\":{},\"msg\":{},\"details\":{}}}",
                text(version.as_deref().unwrap_or(LATEST)),
                f.code,
                text(&f.msg),
                text(&f.details)
            );
            std::process::exit(1);
        }
    }
}

/// Runs `command` on the request `input`; returns the version an error is written in (the
/// request's, if it names one) and what to print.
fn run(command: &str, input: &[u8]) -> (Option<String>, Outcome<Option<Value>>) {
    let blank = input.iter().all(u8::is_ascii_whitespace);
    let parsed: Result<Value, String> = if command == "VERSION" && blank {
        // A VERSION probe with nothing on stdin asks nothing in particular.
        Ok(json!({}))
    } else {
        serde_json::from_slice(input).map_err(|e| e.to_string())
    };
    let given = parsed
        .as_ref()
        .ok()
        .and_then(|v| v.get("cniVersion"))
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
        .map(String::from);
    let outcome = match parsed {
        Err(e) => Err(Failure::new(
            6,
            "failed to decode the network configuration",
            e,
        )),
        Ok(_) if command == "VERSION" => Ok(Some(json!({
            "cniVersion": given.as_deref().unwrap_or(LATEST),
            "supportedVersions": SUPPORTED,
        }))),
        Ok(v) => Conf::from_request(v).and_then(|conf| dispatch(command, &conf)),
    };
    (given, outcome)
}

fn dispatch(command: &str, conf: &Conf) -> Outcome<Option<Value>> {
    match command {
        "ADD" => verbs::add(conf).map(Some),
        "DEL" => verbs::del(conf).map(|()| None),
        "CHECK" => verbs::check(conf).map(|()| None),
        "GC" => verbs::gc(conf).map(|()| None),
        "STATUS" => verbs::status(conf).map(|()| None),
        "" => Err(Failure::new(
            4,
            "CNI_COMMAND missing",
            "set CNI_COMMAND to ADD, DEL, CHECK, GC, STATUS or VERSION",
        )),
        other => Err(Failure::new(
            4,
            format!("unknown CNI_COMMAND {other:?}"),
            "CNI_COMMAND is ADD, DEL, CHECK, GC, STATUS or VERSION",
        )),
    }
}
