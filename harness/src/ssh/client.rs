//! The system's `ssh` and `scp`, run for one host: the command lines, the preflight that
//! decides whether the host can be a node, and the copy of this binary.
//!
//! cnbench has no authentication of its own: whatever `ssh HOST` does from the user's shell
//! (keys, agent, `~/.ssh/config`, jump hosts, known_hosts) is what it does here, plus the
//! `KEY=VALUE` options of `--ssh-option` and a few that make a batch client behave:
//! `BatchMode` (never prompt: fail instead), `ConnectTimeout` and `ServerAliveInterval` (a
//! host that goes away is noticed within seconds, not at the TCP timeout).

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::error::{HarnessError, Result};
use crate::local::{exec_to_end, ExecInput};
use crate::netns::Netns;
use crate::remote::protocol::{HostFacts, PROTOCOL_VERSION};
use crate::topology::{SshHost, SshSpec};

/// How long one preflight (connect, version, facts) may take.
pub const PREFLIGHT_TIMEOUT: Duration = Duration::from_secs(60);

/// Seconds between ssh's keepalives, and how many may go unanswered: a host cut off is
/// noticed by the client within their product.
const ALIVE_INTERVAL_S: u32 = 5;
const ALIVE_COUNT: u32 = 3;

/// One host, as ssh and scp reach it.
#[derive(Debug, Clone)]
pub struct Ssh {
    /// The host.
    pub host: SshHost,
    /// The run's SSH options.
    pub spec: SshSpec,
}

/// What the preflight learnt of a host that can be a node.
#[derive(Debug, Clone)]
pub struct Ready {
    /// The cnbench to run there (the copy, with `--copy-exe`).
    pub exe: String,
    /// Whether it runs through `sudo -n` (a login user other than root).
    pub sudo: bool,
    /// What it reported.
    pub facts: HostFacts,
}

/// A word for a POSIX shell: the remote side of ssh runs its command through the login
/// user's shell, so every argument is single-quoted.
pub fn shell_quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c))
    {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

impl Ssh {
    /// The host as messages name it.
    pub fn name(&self) -> String {
        self.host.to_string()
    }

    fn options(&self, cmd: &mut Command) {
        // For ssh the first value of an option wins (ssh_config(5)), and the command line
        // comes before the files: the user's `--ssh-option`s go first, so they override
        // ours, and ours override the files only for these four.
        for o in &self.spec.options {
            cmd.arg("-o").arg(o);
        }
        for o in [
            "BatchMode=yes".to_string(),
            "ConnectTimeout=10".to_string(),
            format!("ServerAliveInterval={ALIVE_INTERVAL_S}"),
            format!("ServerAliveCountMax={ALIVE_COUNT}"),
        ] {
            cmd.arg("-o").arg(o);
        }
    }

    /// `ssh ... HOST -- <remote>`: runs `remote` (each word quoted) on the host, with no
    /// terminal (`-T`: the agent's stdio is a byte stream).
    pub fn command(&self, remote: &[String]) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.arg("-T");
        self.options(&mut cmd);
        if let Some(p) = self.host.port {
            cmd.arg("-p").arg(p.to_string());
        }
        cmd.arg(self.host.destination()).arg("--");
        cmd.arg(
            remote
                .iter()
                .map(|w| shell_quote(w))
                .collect::<Vec<_>>()
                .join(" "),
        );
        cmd
    }

    /// Runs `remote` on the host to its end (at most `limit`); its stdout, or the error
    /// that names what is wrong and the fix.
    fn run(
        &self,
        remote: &[String],
        limit: Duration,
    ) -> Result<std::result::Result<String, Failed>> {
        let here = Netns::current("this machine")?;
        let out = exec_to_end(
            &here,
            self.command(remote),
            &ExecInput {
                env: Vec::new(),
                stdin: None,
                limit,
                interruptible: true,
            },
        )?;
        if out.killed == Some(crate::local::Killed::Interrupted) {
            return Err(HarnessError::Interrupted);
        }
        if out.killed.is_some() {
            return Err(self.refused(
                format!("ssh did not finish within {} s", limit.as_secs()),
                "check that `ssh HOST true` works from here, quickly",
            ));
        }
        match out.status.code {
            Some(0) => Ok(Ok(out.stdout)),
            code => Ok(Err(Failed {
                code,
                stderr: out.stderr,
            })),
        }
    }

    /// An error about this host.
    pub fn refused(&self, what: impl Into<String>, fix: impl Into<String>) -> HarnessError {
        HarnessError::Host {
            host: self.name(),
            what: what.into(),
            fix: fix.into(),
        }
    }

    /// What ssh's own failure (exit 255) means, as an error with the fix.
    fn ssh_failed(&self, stderr: &str) -> HarnessError {
        let line = last_line(stderr);
        let fix = if stderr.contains("Permission denied") {
            "the host refused every key offered: add your public key to its \
             ~/.ssh/authorized_keys, or name the key with --ssh-option IdentityFile=PATH"
        } else if stderr.contains("Host key verification failed")
            || stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
        {
            "its host key is not the one known here: check it and add it to known_hosts \
             (`ssh HOST` once), or name the file with --ssh-option UserKnownHostsFile=PATH"
        } else {
            "check that `ssh HOST true` works from here (name, port, network, jump host)"
        };
        self.refused(format!("ssh failed: {line}"), fix)
    }

    /// Checks that the host can be a node before anything is built there: reachable, this
    /// cnbench version, root (directly or through `sudo -n`), the underlay interface up
    /// with room for `mtu`, and the link kinds `kinds` in its kernel. `exe` is the cnbench
    /// there.
    pub fn preflight(&self, exe: &str, mtu: u32, kinds: &[&str]) -> Result<Ready> {
        let iface = self
            .spec
            .iface_of(&self.host)
            .expect("validated: every host has an interface")
            .to_string();
        // 1. Reachable, and the same cnbench: `--version` answers the same in every
        //    version, where the facts' shape may not.
        let version = match self.run(&[exe.to_string(), "--version".into()], PREFLIGHT_TIMEOUT)? {
            Ok(v) => v,
            Err(f) if f.code == Some(255) => return Err(self.ssh_failed(&f.stderr)),
            Err(f) => return Err(self.no_cnbench(exe, &f)),
        };
        let theirs = version.split_whitespace().nth(1).unwrap_or("").to_string();
        let ours = env!("CARGO_PKG_VERSION");
        if theirs != ours {
            return Err(self.refused(
                format!("{exe} there is cnbench {theirs}, this is {ours}"),
                "install the same version there, name it with --remote-exe PATH, or pass \
                 --copy-exe to copy this binary for the run",
            ));
        }
        // 2. Who it runs as, and what the machine has; through sudo when not root.
        let facts_of = |sudo: bool| -> Result<std::result::Result<HostFacts, Failed>> {
            let mut argv = Vec::new();
            if sudo {
                argv.extend(["sudo".to_string(), "-n".into()]);
            }
            argv.extend([
                exe.to_string(),
                "agent".into(),
                "--preflight".into(),
                iface.clone(),
            ]);
            Ok(match self.run(&argv, PREFLIGHT_TIMEOUT)? {
                Ok(out) => Ok(serde_json::from_str::<HostFacts>(out.trim()).map_err(|e| {
                    self.refused(
                        format!("its preflight answered something else ({e})"),
                        "install this cnbench version there, or pass --copy-exe",
                    )
                })?),
                Err(f) => Err(f),
            })
        };
        let mut sudo = false;
        let mut facts = match facts_of(false)? {
            Ok(f) => f,
            Err(f) if f.code == Some(255) => return Err(self.ssh_failed(&f.stderr)),
            Err(f) => return Err(self.no_cnbench(exe, &f)),
        };
        if facts.euid != 0 {
            facts = match facts_of(true)? {
                Ok(f) if f.euid == 0 => f,
                Ok(f) => {
                    return Err(self.refused(
                        format!("cnbench runs as uid {} there, even through sudo", f.euid),
                        "log in as root (root@HOST) or as a user with passwordless sudo",
                    ))
                }
                Err(f) => {
                    return Err(self.refused(
                        format!(
                            "the login user is not root (uid {}) and `sudo -n` refused: {}",
                            facts.euid,
                            last_line(&f.stderr)
                        ),
                        "log in as root (root@HOST), or allow this user passwordless sudo \
                         for cnbench",
                    ))
                }
            };
            sudo = true;
        }
        if facts.protocol != PROTOCOL_VERSION {
            return Err(self.refused(
                format!(
                    "its agent speaks protocol {}, this cnbench {PROTOCOL_VERSION}",
                    facts.protocol
                ),
                "install this cnbench version there, or pass --copy-exe",
            ));
        }
        // 3. The interface, and the kernel's link kinds.
        let i = facts.iface.clone().expect("asked for");
        if !i.exists {
            return Err(self.refused(
                format!("it has no interface {iface}"),
                "name the interface that carries the underlay: HOST%IFACE or \
                 --underlay-iface IFACE (`ip -br link` on the host lists them)",
            ));
        }
        if !i.up {
            return Err(self.refused(
                format!("its interface {iface} is not up"),
                "bring it up, or name another: HOST%IFACE",
            ));
        }
        if i.mtu_bytes < mtu {
            return Err(self.refused(
                format!(
                    "its interface {iface} has MTU {}, below the run's {mtu}",
                    i.mtu_bytes
                ),
                format!("pass --mtu {} (or less)", i.mtu_bytes),
            ));
        }
        if let Some(k) = kinds
            .iter()
            .find(|k| !facts.link_kinds.iter().any(|h| h == *k))
        {
            let fix = if *k == "ipvlan" {
                "load its ipvlan module there, or use --node-link macvlan".to_string()
            } else {
                format!("load its {k} module there, or run a backend that does without")
            };
            return Err(self.refused(
                format!(
                    "its kernel ({}) cannot create {k} devices",
                    facts.kernel_release
                ),
                fix,
            ));
        }
        Ok(Ready {
            exe: exe.to_string(),
            sudo,
            facts,
        })
    }

    /// A remote command that failed other than through ssh: no cnbench there, or not one
    /// that understands us.
    fn no_cnbench(&self, exe: &str, f: &Failed) -> HarnessError {
        let line = last_line(&f.stderr);
        if f.code == Some(127) || line.contains("not found") || line.contains("No such file") {
            self.refused(
                format!("there is no cnbench at {exe} ({line})"),
                "install this cnbench version there, name it with --remote-exe PATH, or pass \
                 --copy-exe to copy this binary for the run",
            )
        } else {
            self.refused(
                format!("{exe} failed there (exit {:?}): {line}", f.code),
                "install this cnbench version there, or pass --copy-exe",
            )
        }
    }

    /// Copies `local` to `remote` on the host (scp), executable.
    pub fn copy(&self, local: &std::path::Path, remote: &str) -> Result<()> {
        let mut cmd = Command::new("scp");
        cmd.arg("-q");
        self.options(&mut cmd);
        if let Some(p) = self.host.port {
            cmd.arg("-P").arg(p.to_string());
        }
        let dest = match self.host.host.contains(':') {
            true => format!("[{}]", self.host.host),
            false => self.host.host.clone(),
        };
        let dest = match &self.host.user {
            Some(u) => format!("{u}@{dest}:{remote}"),
            None => format!("{dest}:{remote}"),
        };
        cmd.arg(local).arg(dest).stdin(Stdio::null());
        let here = Netns::current("this machine")?;
        let out = exec_to_end(
            &here,
            cmd,
            &ExecInput {
                env: Vec::new(),
                stdin: None,
                limit: PREFLIGHT_TIMEOUT,
                interruptible: true,
            },
        )?;
        if out.killed == Some(crate::local::Killed::Interrupted) {
            return Err(HarnessError::Interrupted);
        }
        if out.status.code != Some(0) {
            return Err(self.refused(
                format!(
                    "copying cnbench to {remote} failed: {}",
                    last_line(&out.stderr)
                ),
                "check that scp to the host works and that /tmp there is writable, or install \
                 cnbench there and drop --copy-exe",
            ));
        }
        Ok(())
    }

    /// Removes a file this run copied to the host (best effort: the agent removes its copy
    /// itself once started, so this is for a copy whose agent never started).
    pub fn remove(&self, remote: &str) {
        let _ = self.run(
            &["rm".to_string(), "-f".into(), remote.to_string()],
            PREFLIGHT_TIMEOUT,
        );
    }
}

/// A remote command's failure.
#[derive(Debug)]
struct Failed {
    code: Option<i32>,
    stderr: String,
}

fn last_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("(nothing on stderr)")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_reaches_the_remote_shell_as_one_word() {
        assert_eq!(shell_quote("cnbench"), "cnbench");
        assert_eq!(shell_quote("/usr/bin/cnbench"), "/usr/bin/cnbench");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("$(reboot)"), "'$(reboot)'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn the_command_line_keeps_the_users_options_and_quotes_the_remote_side() {
        let ssh = Ssh {
            host: "lab@h1:2222%eth0".parse().unwrap(),
            spec: SshSpec {
                options: vec!["IdentityFile=/k".into()],
                ..SshSpec::default()
            },
        };
        let cmd = ssh.command(&["cnbench".into(), "agent".into(), "a b".into()]);
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let s = args.join(" ");
        assert!(
            s.starts_with("-T -o IdentityFile=/k -o BatchMode=yes"),
            "{s}"
        );
        assert!(s.contains("-p 2222 lab@h1 -- cnbench agent 'a b'"), "{s}");
    }
}
