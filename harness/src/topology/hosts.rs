//! The hosts of the SSH substrate as the user names them (`--hosts`), and how cnbench
//! reaches them and joins their network (docs/design.md §4b): pure data, parsed and
//! validated before anything is made.

use std::fmt;
use std::str::FromStr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::netlink::UplinkKind;

/// One host of `--hosts`: `[user@]host[:port][%iface][=addr/len]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshHost {
    /// The login user; none: ssh's own choice (`~/.ssh/config`, then the local user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The host name or address as ssh resolves it (an alias of `~/.ssh/config` works).
    pub host: String,
    /// The SSH port; none: ssh's own choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The host's interface that carries the underlay; none: `--underlay-iface`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iface: Option<String>,
    /// The node's address on that network; none: its position in `--underlay-cidr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr: Option<Ipv4Net>,
}

impl SshHost {
    /// `[user@]host`, what ssh is given as its destination.
    pub fn destination(&self) -> String {
        match &self.user {
            Some(u) => format!("{u}@{}", self.host),
            None => self.host.clone(),
        }
    }
}

impl fmt::Display for SshHost {
    /// `[user@]host[:port]`: the host as messages name it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.destination())?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

impl FromStr for SshHost {
    type Err = String;
    fn from_str(s: &str) -> Result<SshHost, String> {
        let bad = |why: &str| {
            format!(
                "--hosts {s:?}: {why}; write each host as [user@]host[:port][%iface][=addr/len]"
            )
        };
        let (rest, addr) = match s.split_once('=') {
            Some((r, a)) => (
                r,
                Some(
                    a.parse::<Ipv4Net>()
                        .map_err(|_| bad(&format!("{a:?} is not an IPv4 address with a prefix")))?,
                ),
            ),
            None => (s, None),
        };
        let (rest, iface) = match rest.split_once('%') {
            Some((r, i)) => {
                if i.is_empty() || i.len() > 15 || i.contains(['/', ' ', ':', '@']) {
                    return Err(bad(&format!("{i:?} is not an interface name")));
                }
                (r, Some(i.to_string()))
            }
            None => (rest, None),
        };
        let (user, rest) = match rest.rsplit_once('@') {
            Some((u, r)) if !u.is_empty() => (Some(u.to_string()), r),
            Some(_) => return Err(bad("an empty user")),
            None => (None, rest),
        };
        // An IPv6 literal is bracketed when a port follows: [fd00::1]:22.
        let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
            let (h, after) = inner
                .split_once(']')
                .ok_or_else(|| bad("an unclosed '['"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(bad("text after ']'")),
            };
            (h.to_string(), port)
        } else if rest.matches(':').count() == 1 {
            let (h, p) = rest.split_once(':').expect("one colon");
            (h.to_string(), Some(p))
        } else {
            (rest.to_string(), None)
        };
        if host.is_empty() || host.starts_with('-') || host.contains([' ', '/']) {
            return Err(bad("no host name"));
        }
        let port = port
            .map(|p| {
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| bad(&format!("port {p:?} is not 1-65535")))
            })
            .transpose()?;
        Ok(SshHost {
            user,
            host,
            port,
            iface,
            addr,
        })
    }
}

/// How the SSH substrate reaches its hosts and joins their network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshSpec {
    /// `--ssh-option KEY=VALUE`: passed to ssh (and scp) as `-o KEY=VALUE`, after the
    /// user's own configuration is read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    /// `--remote-exe PATH`: the cnbench on the hosts; none: `cnbench` on their `PATH`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_exe: Option<String>,
    /// `--copy-exe`: this binary is copied to each host for the run (and removed).
    #[serde(default)]
    pub copy_exe: bool,
    /// `--underlay-iface`: the hosts' interface for those that name none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub underlay_iface: Option<String>,
    /// `--node-link`: how a node joins that interface's network.
    #[serde(default)]
    pub node_link: UplinkKind,
}

impl SshSpec {
    /// The underlay interface of `host`: its own, or the default.
    pub fn iface_of<'a>(&'a self, host: &'a SshHost) -> Option<&'a str> {
        host.iface.as_deref().or(self.underlay_iface.as_deref())
    }

    /// `KEY=VALUE` options are all that is passed on: anything else could be an argument
    /// that changes what ssh runs.
    pub fn validate(&self) -> Result<(), String> {
        for o in &self.options {
            let ok = o.split_once('=').is_some_and(|(k, _)| {
                !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric())
            });
            if !ok {
                return Err(format!(
                    "--ssh-option {o:?}: write an ssh option as KEY=VALUE (IdentityFile=~/.ssh/lab, \
                     ProxyJump=bastion), as in ssh_config(5)"
                ));
            }
        }
        if self.copy_exe && self.remote_exe.is_some() {
            return Err(
                "--copy-exe and --remote-exe both say which cnbench runs on the hosts: give one"
                    .into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_of_a_host_is_optional_but_the_host() {
        let h: SshHost = "lab@node1.example:2222%ens5=192.168.7.10/24"
            .parse()
            .unwrap();
        assert_eq!(h.user.as_deref(), Some("lab"));
        assert_eq!(h.host, "node1.example");
        assert_eq!(h.port, Some(2222));
        assert_eq!(h.iface.as_deref(), Some("ens5"));
        assert_eq!(h.addr.unwrap().to_string(), "192.168.7.10/24");
        assert_eq!(h.to_string(), "lab@node1.example:2222");
        let h: SshHost = "node2".parse().unwrap();
        assert_eq!((h.user, h.port, h.iface, h.addr), (None, None, None, None));
        let h: SshHost = "root@[fd00::2]:22%eth0".parse().unwrap();
        assert_eq!(h.host, "fd00::2");
        assert_eq!(h.port, Some(22));
        let h: SshHost = "fd00::2%eth0".parse().unwrap();
        assert_eq!((h.host.as_str(), h.port), ("fd00::2", None));
    }

    #[test]
    fn a_malformed_host_is_refused_with_the_form() {
        for bad in [
            "",
            "@host",
            "host:0",
            "host:99999",
            "host%",
            "host=10.0.0.1",
            "[fd00::1",
            "-oProxyCommand=x",
        ] {
            let e = bad.parse::<SshHost>().unwrap_err();
            assert!(
                e.contains("[user@]host[:port][%iface][=addr/len]"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn only_key_value_options_pass() {
        let mut s = SshSpec {
            options: vec!["IdentityFile=/k".into(), "ProxyJump=b".into()],
            ..SshSpec::default()
        };
        assert!(s.validate().is_ok());
        s.options.push("-oProxyCommand=sh".into());
        assert!(s.validate().unwrap_err().contains("KEY=VALUE"));
    }
}
