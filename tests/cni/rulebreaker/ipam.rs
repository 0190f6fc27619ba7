//! Delegation to the IPAM plugin (specification §4): the binary `ipam.type` on `CNI_PATH`,
//! run with this plugin's environment and the request as received, at the request's version
//! or, when the IPAM plugin does not speak it (the reference host-local 1.1.1 stops at
//! 1.0.0), the highest earlier version it does. Also host-local's reservations read
//! directly, for GC: a host-local that predates GC cannot collect them itself.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::{older, Conf, Failure, Outcome};

/// Result versions this plugin can read from an IPAM plugin (0.1.0 and 0.2.0 wrote
/// `ip4`/`ip6` objects instead).
const READABLE: [&str; 5] = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

/// An address an IPAM plugin assigned.
#[derive(Debug, Clone, Copy)]
pub struct Lease {
    pub addr: IpAddr,
    pub prefix: u8,
    pub gateway: Option<IpAddr>,
}

/// What an IPAM ADD gave.
#[derive(Debug)]
pub struct Allocation {
    pub ips: Vec<Lease>,
    /// Its routes as it wrote them.
    pub routes: Vec<Value>,
    /// Its DNS section, if any.
    pub dns: Option<Value>,
}

/// The IPAM binary: the first executable file `ipam.type` in a directory of `CNI_PATH`.
pub fn find(conf: &Conf) -> Outcome<PathBuf> {
    let path = std::env::var("CNI_PATH").unwrap_or_default();
    let dirs: Vec<&str> = path.split(':').filter(|d| !d.is_empty()).collect();
    dirs.iter()
        .map(|d| Path::new(d).join(&conf.ipam_type))
        .find(|p| {
            use std::os::unix::fs::PermissionsExt;
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .ok_or_else(|| {
            Failure::internal(
                format!(
                    "failed to find plugin {:?} in path {dirs:?}",
                    conf.ipam_type
                ),
                "the IPAM plugin is looked up in the directories of CNI_PATH",
            )
        })
}

/// Runs `program` with `CNI_COMMAND=command` and `request` on stdin (the rest of the
/// environment is this plugin's); what it printed, if anything. A non-zero exit is its
/// error (or a generic one naming it).
fn exec(conf: &Conf, program: &Path, command: &str, request: &Value) -> Outcome<Option<Value>> {
    let who = format!("IPAM plugin {} ({command})", conf.ipam_type);
    let mut child = Command::new(program)
        .env("CNI_COMMAND", command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| Failure::internal(format!("{who} did not start"), e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A plugin that exits without reading its stdin is not an error here.
        let _ = stdin.write_all(request.to_string().as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Failure::internal(format!("{who} failed"), e.to_string()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let parsed: Option<Value> = serde_json::from_str(text.trim()).ok();
    if !out.status.success() {
        return Err(match parsed.as_ref().filter(|v| v.get("code").is_some()) {
            Some(e) => Failure::new(
                e.get("code")
                    .and_then(Value::as_u64)
                    .map_or(crate::INTERNAL, |c| c as u32),
                e.get("msg").and_then(Value::as_str).unwrap_or_default(),
                match e.get("details").and_then(Value::as_str) {
                    Some(d) if !d.is_empty() => format!("{who}: {d}"),
                    _ => who.clone(),
                },
            ),
            None => Failure::internal(
                format!("{who} failed ({})", out.status),
                text.trim().to_string(),
            ),
        });
    }
    match parsed {
        Some(v) => Ok(Some(v)),
        None if text.trim().is_empty() => Ok(None),
        None => Err(Failure::internal(
            format!("{who} printed something that is not JSON"),
            text.trim().chars().take(200).collect::<String>(),
        )),
    }
}

/// The versions the IPAM plugin says it speaks.
fn versions(conf: &Conf, program: &Path) -> Outcome<Vec<String>> {
    let answer = exec(
        conf,
        program,
        "VERSION",
        &serde_json::json!({ "cniVersion": conf.version }),
    )?;
    let list = answer
        .as_ref()
        .and_then(|v| v.get("supportedVersions"))
        .and_then(Value::as_array)
        .ok_or_else(|| {
            Failure::internal(
                format!(
                    "IPAM plugin {} answered VERSION without supportedVersions",
                    conf.ipam_type
                ),
                answer.as_ref().map(|v| v.to_string()).unwrap_or_default(),
            )
        })?;
    Ok(list
        .iter()
        .filter_map(|v| v.as_str().map(String::from))
        .collect())
}

/// The version to run the IPAM plugin at: the request's if it speaks it, else the highest
/// earlier one it speaks and this plugin reads, no earlier than `min`; none if there is no
/// such version.
fn version_for(conf: &Conf, program: &Path, min: &str) -> Outcome<Option<String>> {
    let spoken = versions(conf, program)?;
    if spoken.contains(&conf.version) {
        return Ok(Some(conf.version.clone()));
    }
    Ok(spoken
        .into_iter()
        .filter(|v| READABLE.contains(&v.as_str()))
        .filter(|v| !older(v, min) && older(v, &conf.version))
        .max_by_key(|v| crate::semver(v)))
}

/// The request as received, at `version`.
fn request_at(conf: &Conf, version: &str) -> Value {
    let mut r = conf.raw.clone();
    r["cniVersion"] = Value::String(version.to_string());
    r
}

/// Runs the IPAM plugin's `command` at the best version no earlier than `min`; `Ok(None)`
/// without running it when it speaks none (`skip_unspoken`), else that is an error.
fn call(conf: &Conf, command: &str, min: &str, skip_unspoken: bool) -> Outcome<Option<Value>> {
    let program = find(conf)?;
    match version_for(conf, &program, min)? {
        Some(v) => exec(conf, &program, command, &request_at(conf, &v)),
        None if skip_unspoken => Ok(None),
        None => Err(Failure::new(
            1,
            "incompatible CNI versions",
            format!(
                "IPAM plugin {} speaks no version from {min} to {} that this plugin reads",
                conf.ipam_type, conf.version
            ),
        )),
    }
}

/// IPAM ADD: the addresses, routes and DNS it gave.
pub fn add(conf: &Conf) -> Outcome<Allocation> {
    let result = call(conf, "ADD", "0.3.0", false)?.ok_or_else(|| {
        Failure::internal(
            format!("IPAM plugin {} printed no result", conf.ipam_type),
            "an IPAM ADD must print its result",
        )
    })?;
    let unreadable = |why: String| {
        Failure::new(
            6,
            format!(
                "IPAM plugin {} printed an unreadable result",
                conf.ipam_type
            ),
            why,
        )
    };
    let mut ips = Vec::new();
    for ip in result
        .get("ips")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let address = ip
            .get("address")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let (addr, prefix) =
            parse_cidr(address).ok_or_else(|| unreadable(format!("address {address:?}")))?;
        let gateway = match ip.get("gateway").and_then(Value::as_str) {
            None | Some("") => None,
            Some(g) => Some(
                g.parse::<IpAddr>()
                    .map_err(|_| unreadable(format!("gateway {g:?}")))?,
            ),
        };
        ips.push(Lease {
            addr,
            prefix,
            gateway,
        });
    }
    let routes = result
        .get("routes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let dns = result.get("dns").filter(|d| d.is_object()).cloned();
    Ok(Allocation { ips, routes, dns })
}

/// IPAM DEL.
pub fn del(conf: &Conf) -> Outcome<()> {
    call(conf, "DEL", "0.3.0", false).map(drop)
}

/// IPAM CHECK, where the IPAM plugin speaks a version that has CHECK (0.4.0 on).
pub fn check(conf: &Conf) -> Outcome<()> {
    call(conf, "CHECK", "0.4.0", true).map(drop)
}

/// IPAM GC, where the IPAM plugin speaks 1.1.0 (one that does not knows no GC).
pub fn gc(conf: &Conf) -> Outcome<()> {
    call(conf, "GC", "1.1.0", true).map(drop)
}

/// IPAM STATUS, where the IPAM plugin speaks 1.1.0. One missing from `CNI_PATH` means ADD
/// cannot be served (code 50).
pub fn status(conf: &Conf) -> Outcome<()> {
    if let Err(f) = find(conf) {
        return Err(Failure::new(50, "the IPAM plugin is not available", f.msg));
    }
    call(conf, "STATUS", "1.1.0", true).map(drop)
}

/// `a.b.c.d/n` (or an IPv6 one) read.
pub fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, prefix) = s.split_once('/')?;
    let addr: IpAddr = addr.parse().ok()?;
    let prefix: u8 = prefix.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (prefix <= max).then_some((addr, prefix))
}

/// host-local's reservations in `dir` (`<dataDir>/<network>`) that belong to no attachment
/// of `valid` removed. A reservation is a file named by its IP address holding the container
/// ID, then the interface name, separated by CRLF, with no line end after the last (older
/// host-locals wrote the container ID alone); host-local's other files (`lock`, `last_reserved_ip.<range>`) and this
/// plugin's markers are not named by an address and are left alone. Returns what could not
/// be done.
pub fn sweep_host_local(dir: &Path, valid: &[(String, String)]) -> Vec<String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => return vec![format!("reading {}: {e}", dir.display())],
    };
    let mut problems = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.parse::<IpAddr>().is_err() || !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let path = entry.path();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                problems.push(format!("reading {}: {e}", path.display()));
                continue;
            }
        };
        let mut lines = text.split('\n').map(str::trim);
        let container = lines.next().unwrap_or_default();
        // A reservation of an older host-local names no interface: any of the container's
        // attachments keeps it.
        let ifname = lines.next().filter(|l| !l.is_empty());
        let keep = valid
            .iter()
            .any(|(c, i)| c == container && ifname.is_none_or(|f| f == i));
        if !keep {
            if let Err(e) = std::fs::remove_file(&path) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    problems.push(format!("removing {}: {e}", path.display()));
                }
            }
        }
    }
    problems
}
