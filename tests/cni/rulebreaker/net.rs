//! The network state, through iproute2's `ip` (in the plugin's own namespace, or through
//! `nsenter --net=<path>` in the pod's, which works for any namespace path, not only the
//! named ones `ip -n` knows) and `/proc/sys`.

use std::net::IpAddr;
use std::process::{Command, Stdio};

use serde_json::Value;

/// Where Debian keeps `ip` and `nsenter`, for a plugin run with no `PATH`.
const IP: [&str; 4] = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"];
const NSENTER: [&str; 3] = ["/usr/bin/nsenter", "/bin/nsenter", "/usr/sbin/nsenter"];

fn program(candidates: &[&str], name: &str) -> String {
    candidates
        .iter()
        .find(|p| std::path::Path::new(p).is_file())
        .map_or_else(|| name.to_string(), |p| p.to_string())
}

/// Runs `ip ARGS` here (`netns` none) or in the namespace at path `netns`; its stdout, or
/// what it said went wrong.
pub fn ip(netns: Option<&str>, args: &[&str]) -> Result<String, String> {
    let mut cmd = match netns {
        None => Command::new(program(&IP, "ip")),
        Some(path) => {
            let mut c = Command::new(program(&NSENTER, "nsenter"));
            c.arg(format!("--net={path}"))
                .arg("--")
                .arg(program(&IP, "ip"));
            c
        }
    };
    let shown = format!(
        "{}ip {}",
        netns.map_or_else(String::new, |p| format!("(in {p}) ")),
        args.join(" ")
    );
    let out = cmd
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{shown}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{shown}: {} ({})",
            String::from_utf8_lossy(&out.stderr).trim(),
            out.status
        ))
    }
}

/// `ip -j ARGS` read as JSON.
fn ip_json(netns: Option<&str>, args: &[&str]) -> Result<Vec<Value>, String> {
    let mut all = vec!["-j"];
    all.extend_from_slice(args);
    let text = ip(netns, &all)?;
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    match serde_json::from_str(&text) {
        Ok(Value::Array(items)) => Ok(items),
        Ok(other) => Err(format!("ip {}: not a JSON list: {other}", all.join(" "))),
        Err(e) => Err(format!("ip {}: not JSON: {e}", all.join(" "))),
    }
}

/// Every link of the namespace (`ip -j link show`).
pub fn links(netns: Option<&str>) -> Result<Vec<Value>, String> {
    ip_json(netns, &["link", "show"])
}

/// The link named `name`, if there is one.
pub fn link(netns: Option<&str>, name: &str) -> Result<Option<Value>, String> {
    Ok(links(netns)?
        .into_iter()
        .find(|l| l.get("ifname").and_then(Value::as_str) == Some(name)))
}

/// The MAC of link `name`.
pub fn mac(netns: Option<&str>, name: &str) -> Result<String, String> {
    link(netns, name)?
        .and_then(|l| l.get("address").and_then(Value::as_str).map(String::from))
        .ok_or_else(|| format!("{name} has no MAC address"))
}

/// The addresses on link `dev`, with their prefix lengths.
pub fn addresses(netns: Option<&str>, dev: &str) -> Result<Vec<(IpAddr, u8)>, String> {
    let mut out = Vec::new();
    for l in ip_json(netns, &["addr", "show", "dev", dev])? {
        for a in l
            .get("addr_info")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let local = a.get("local").and_then(Value::as_str);
            let prefix = a.get("prefixlen").and_then(Value::as_u64);
            if let (Some(Ok(ip)), Some(p)) = (local.map(str::parse::<IpAddr>), prefix) {
                out.push((ip, p as u8));
            }
        }
    }
    Ok(out)
}

/// Sets `/proc/sys/<key>` (e.g. `net/ipv4/ip_forward`) of the plugin's own namespace.
pub fn sysctl(key: &str, value: &str) -> Result<(), String> {
    let path = format!("/proc/sys/{key}");
    std::fs::write(&path, value).map_err(|e| format!("writing {value} to {path}: {e}"))
}
