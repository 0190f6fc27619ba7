//! The machine a run happened on, read from `/proc` and `/etc/os-release`.
//!
//! Nothing here needs root or libc: every figure comes from a text file, and a file that is
//! missing or unreadable (another OS, a locked-down container) leaves its field `None` instead
//! of failing the run.

use std::fs;

use serde::{Deserialize, Serialize};

/// Where a run happened: kernel, OS, CPU, memory and the cnbench build.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    /// Kernel release, as `uname -r` prints it (read from `/proc/sys/kernel/osrelease`);
    /// `"unknown"` when that file cannot be read.
    pub kernel: String,
    /// Distribution name (`PRETTY_NAME` of `/etc/os-release`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// CPU model (first `model name` of `/proc/cpuinfo`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_model: Option<String>,
    /// Number of CPUs this process may run on (`std::thread::available_parallelism`).
    pub cpu_count: u32,
    /// Installed memory in bytes (`MemTotal` of `/proc/meminfo`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// Version of the cnbench build that produced the result.
    pub cnbench_version: String,
    /// Git revision of the cnbench build, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_revision: Option<String>,
    /// Host name of the machine (`/proc/sys/kernel/hostname`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
}

impl Environment {
    /// Describes this machine. Never fails: what cannot be read is left `None`.
    pub fn capture(cnbench_version: &str, git_revision: Option<&str>) -> Environment {
        Environment {
            kernel: read_line("/proc/sys/kernel/osrelease").unwrap_or_else(|| "unknown".into()),
            os: fs::read_to_string("/etc/os-release")
                .ok()
                .and_then(|text| parse_os_release(&text)),
            cpu_model: fs::read_to_string("/proc/cpuinfo")
                .ok()
                .and_then(|text| parse_cpu_model(&text)),
            cpu_count: std::thread::available_parallelism()
                .map(|n| u32::try_from(n.get()).unwrap_or(u32::MAX))
                .unwrap_or(1),
            memory_bytes: fs::read_to_string("/proc/meminfo")
                .ok()
                .and_then(|text| parse_mem_total_bytes(&text)),
            cnbench_version: cnbench_version.to_owned(),
            git_revision: git_revision.map(str::to_owned),
            hostname: read_line("/proc/sys/kernel/hostname"),
        }
    }
}

/// The trimmed content of a one-line file, `None` when unreadable or empty.
fn read_line(path: &str) -> Option<String> {
    let text = fs::read_to_string(path).ok()?;
    let line = text.trim();
    (!line.is_empty()).then(|| line.to_owned())
}

/// `PRETTY_NAME` from the text of an os-release file, without its quotes.
fn parse_os_release(text: &str) -> Option<String> {
    let value = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("PRETTY_NAME="))?
        .trim();
    let unquoted = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
        .unwrap_or(value);
    (!unquoted.is_empty()).then(|| unquoted.to_owned())
}

/// The first `model name` of `/proc/cpuinfo` text (x86; other architectures may lack it).
fn parse_cpu_model(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "model name" && !value.trim().is_empty()).then(|| value.trim().to_owned())
    })
}

/// `MemTotal` of `/proc/meminfo` text, converted from the kB it is given in to bytes.
fn parse_mem_total_bytes(text: &str) -> Option<u64> {
    let rest = text
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))?;
    let mut words = rest.split_whitespace();
    let kib: u64 = words.next()?.parse().ok()?;
    // The kernel always says "kB" here, meaning KiB.
    match words.next() {
        Some("kB") | None => kib.checked_mul(1024),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_pretty_name_without_quotes() {
        let text = "NAME=\"Ubuntu\"\nVERSION_ID=\"24.04\"\nPRETTY_NAME=\"Ubuntu 24.04.1 LTS\"\n";
        assert_eq!(
            parse_os_release(text).as_deref(),
            Some("Ubuntu 24.04.1 LTS")
        );
        assert_eq!(
            parse_os_release("PRETTY_NAME=Alpine\n").as_deref(),
            Some("Alpine")
        );
        assert_eq!(parse_os_release("NAME=x\n"), None);
    }

    #[test]
    fn cpu_model_is_first_model_name() {
        let text =
            "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nprocessor\t: 1\nmodel name\t: other\n";
        assert_eq!(parse_cpu_model(text).as_deref(), Some("AMD EPYC 7B13"));
        assert_eq!(parse_cpu_model("processor\t: 0\nCPU part\t: 0xd0c\n"), None);
    }

    #[test]
    fn mem_total_in_bytes() {
        let text = "MemTotal:        8048252 kB\nMemFree:          123 kB\n";
        assert_eq!(parse_mem_total_bytes(text), Some(8_048_252 * 1024));
        assert_eq!(parse_mem_total_bytes("MemFree: 1 kB\n"), None);
    }

    #[test]
    fn capture_fills_what_every_linux_has() {
        let env = Environment::capture("0.1.0", Some("abc123"));
        assert!(env.cpu_count >= 1);
        assert!(!env.kernel.is_empty());
        assert_eq!(env.cnbench_version, "0.1.0");
        assert_eq!(env.git_revision.as_deref(), Some("abc123"));
    }
}
