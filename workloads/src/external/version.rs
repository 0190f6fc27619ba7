//! Which version of an external tool is installed, as the results record it
//! (`"iperf3 3.12"`). The harness asks before it measures, so a missing tool is reported
//! with the package to install rather than as a failed test.

use std::time::{Duration, Instant};

use crate::error::WorkloadError;
use crate::task::Generator;

use super::args::command_line;
use super::process::run_to_end;

/// The generator's name and version as results record it (`"iperf3 3.12"`), or why the tool
/// cannot be used (not installed: with the package to install).
pub fn tool_version(generator: Generator) -> Result<String, String> {
    let Some(program) = generator.program() else {
        return Ok(generator.name().to_string());
    };
    version_of(generator, program)
}

/// [`tool_version`] for a given program name (tests use a name that does not exist).
fn version_of(generator: Generator, program: &str) -> Result<String, String> {
    let args = vec!["--version".to_string()];
    let cmdline = command_line(program, &args);
    let deadline = Instant::now() + Duration::from_secs(10);
    match run_to_end(generator, program, &args, &cmdline, deadline) {
        Ok(run) => {
            let text = format!("{}\n{}", run.stdout, run.stderr);
            Ok(parse_version(generator, &text).unwrap_or_else(|| {
                let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
                format!("{program} (unrecognised version: {})", first.trim())
            }))
        }
        Err(WorkloadError::InvalidConfig { reason, .. }) => Err(reason),
        Err(e) => Err(e.to_string()),
    }
}

/// The version from `--version` output: `iperf 3.12 (cJSON 1.7.15)` → `iperf3 3.12`,
/// `sockperf, version 3.7-no.git` → `sockperf 3.7`.
fn parse_version(generator: Generator, text: &str) -> Option<String> {
    let version = match generator {
        Generator::Iperf3 => text.lines().find_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some("iperf"))
                .then(|| words.next())
                .flatten()
        })?,
        Generator::Sockperf => text.lines().find_map(|l| {
            let (_, v) = l.split_once("version ")?;
            v.split(['-', ' ']).next()
        })?,
        Generator::Cnbench => return Some("cnbench".into()),
    };
    let ok = version.starts_with(|c: char| c.is_ascii_digit());
    ok.then(|| format!("{} {version}", generator.name()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(
            parse_version(
                Generator::Iperf3,
                "iperf 3.12 (cJSON 1.7.15)\nLinux vm 6.18.44 #1 SMP x86_64\n"
            )
            .as_deref(),
            Some("iperf3 3.12")
        );
        assert_eq!(
            parse_version(
                Generator::Sockperf,
                "sockperf, version 3.7-no.git\n   compiled 2021-08-23 12:14:23\n"
            )
            .as_deref(),
            Some("sockperf 3.7")
        );
        assert_eq!(parse_version(Generator::Iperf3, "something else"), None);
        assert_eq!(tool_version(Generator::Cnbench).as_deref(), Ok("cnbench"));
        assert_eq!(
            version_of(Generator::Iperf3, "cnbench-test-no-such-tool"),
            Err("iperf3 is not installed: apt-get install iperf3".to_string())
        );
        assert_eq!(
            version_of(Generator::Sockperf, "cnbench-test-no-such-tool"),
            Err("sockperf is not installed: apt-get install sockperf".to_string())
        );
    }
}
