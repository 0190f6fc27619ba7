//! Changes made inside a run's own namespaces after its checks and before its measurement:
//! what two sides of `cnbench ab` may differ by besides backend options, and the calibrated
//! slowdowns of a power study (`ci/power.sh`).
//!
//! Everything a tweak makes lives in namespaces the run made (a sysctl of the namespace, an
//! nftables table, a queueing discipline, an `ifb` device) and goes with them at teardown.
//! Pod tweaks apply to the client pods of the measured pairs, so each is on every measured
//! path exactly once.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::{HarnessError, Result};
use crate::host::Host;

/// How long one `nft`, `tc` or `ip` command may take.
const LIMIT: Duration = Duration::from_secs(10);

/// One change inside the run's namespaces (`--tweak`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tweak {
    /// `sysctl:KEY=VALUE`: a per-namespace sysctl set in every namespace of the run (nodes
    /// and pods) that has it.
    Sysctl {
        /// The key, dotted (`net.core.busy_read`).
        key: String,
        /// The value.
        value: String,
    },
    /// `nft-rules:N`: a table with N rules that match nothing (`meta mark` of a value no
    /// packet carries) in an output and an input chain of each client pod, so every packet
    /// the client sends or receives is tested against N rules: latency proportional to N.
    NftRules(u32),
    /// `rate:BITS` (`900M`, `2.5G`): a token bucket (`tbf`) on each client pod's `eth0`, at
    /// that many bits per second, for a throughput ceiling.
    Rate(u64),
    /// `extra-hop`: each client pod's `eth0` traffic, both ways, redirected through an `ifb`
    /// device of its own (tc `mirred`): one more device transmission per packet on the path,
    /// nothing else changed.
    ExtraHop,
}

/// The mark no packet of a run carries, for rules that never match.
const NEVER_MARK: &str = "0x00c0ffee";

impl FromStr for Tweak {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Tweak, String> {
        let fix = "use sysctl:KEY=VALUE, nft-rules:N, rate:BITS (e.g. rate:900M) or extra-hop";
        let (kind, arg) = text.split_once(':').unwrap_or((text, ""));
        match kind {
            "sysctl" => {
                let Some((key, value)) = arg.split_once('=') else {
                    return Err(format!("tweak {text}: write sysctl:KEY=VALUE"));
                };
                let ok = !key.is_empty()
                    && key
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
                    && !key.contains("..");
                if !ok || value.is_empty() {
                    return Err(format!(
                        "tweak {text}: write sysctl:KEY=VALUE with a dotted key such as \
                         net.core.busy_read"
                    ));
                }
                Ok(Tweak::Sysctl {
                    key: key.to_owned(),
                    value: value.to_owned(),
                })
            }
            "nft-rules" => match arg.parse::<u32>() {
                Ok(n) if (1..=100_000).contains(&n) => Ok(Tweak::NftRules(n)),
                _ => Err(format!(
                    "tweak {text}: give 1 to 100000 rules, e.g. nft-rules:200"
                )),
            },
            "rate" => parse_bits(arg)
                .filter(|b| *b >= 1_000_000)
                .map(Tweak::Rate)
                .ok_or_else(|| {
                    format!("tweak {text}: give a rate of at least 1M bits/s, e.g. rate:900M")
                }),
            "extra-hop" if arg.is_empty() => Ok(Tweak::ExtraHop),
            _ => Err(format!("unknown tweak {text}: {fix}")),
        }
    }
}

/// `900M`, `2.5G`, `100k`, `1000000` as bits per second.
fn parse_bits(text: &str) -> Option<u64> {
    let (number, factor) = match text.chars().last()? {
        'k' | 'K' => (&text[..text.len() - 1], 1e3),
        'm' | 'M' => (&text[..text.len() - 1], 1e6),
        'g' | 'G' => (&text[..text.len() - 1], 1e9),
        _ => (text, 1.0),
    };
    let v: f64 = number.parse().ok()?;
    (v.is_finite() && v > 0.0).then_some((v * factor) as u64)
}

impl fmt::Display for Tweak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tweak::Sysctl { key, value } => write!(f, "sysctl:{key}={value}"),
            Tweak::NftRules(n) => write!(f, "nft-rules:{n}"),
            Tweak::Rate(b) => write!(f, "rate:{b}"),
            Tweak::ExtraHop => f.write_str("extra-hop"),
        }
    }
}

impl Tweak {
    /// The programs it runs inside the namespaces.
    pub fn programs(&self) -> &'static [&'static str] {
        match self {
            Tweak::Sysctl { .. } => &[],
            Tweak::NftRules(_) => &["nft"],
            Tweak::Rate(_) => &["tc"],
            Tweak::ExtraHop => &["tc", "ip"],
        }
    }
}

fn run(host: &Host, program: &str, args: &[&str], stdin: Option<String>) -> Result<()> {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let out = host.exec(
        program,
        &args,
        &crate::host::ExecInput {
            limit: LIMIT,
            stdin,
            ..Default::default()
        },
    )?;
    if out.status.code != Some(0) || out.killed.is_some() {
        return Err(HarnessError::Process {
            what: format!("{program} {}", args.join(" ")),
            netns: host.name().to_owned(),
            message: format!(
                "{}; is the kernel feature there (nftables, tbf, ifb, act_mirred)?",
                out.stderr.trim()
            ),
        });
    }
    Ok(())
}

/// The nftables program of [`Tweak::NftRules`].
fn nft_program(rules: u32) -> String {
    let mut chain = String::new();
    for _ in 0..rules {
        chain.push_str(&format!("    meta mark {NEVER_MARK} counter\n"));
    }
    format!(
        "table inet cnbench_tweak {{\n  chain out {{\n    type filter hook output priority 0;\n{chain}  }}\n  chain in {{\n    type filter hook input priority 0;\n{chain}  }}\n}}\n"
    )
}

/// Applies `tweaks`: sysctls in every namespace of `hosts` that has the key, pod tweaks in
/// the namespaces `clients`. The filters are `u32` matching every packet (`matchall` is
/// not built into every kernel; this one lacks it).
pub fn apply(tweaks: &[Tweak], hosts: &BTreeMap<String, Host>, clients: &[String]) -> Result<()> {
    for tweak in tweaks {
        match tweak {
            Tweak::Sysctl { key, value } => {
                let mut set = 0;
                for host in hosts.values() {
                    if host.sysctl(key).is_ok() {
                        host.set_sysctl(key, value)?;
                        set += 1;
                    }
                }
                if set == 0 {
                    return Err(HarnessError::Unsupported {
                        what: format!("tweak sysctl:{key}: no namespace of the run has {key}"),
                        fix: "give a per-namespace sysctl (net.ipv4.*, net.core.* that are \
                              per namespace)"
                            .into(),
                    });
                }
            }
            Tweak::NftRules(n) => {
                for ns in clients {
                    run(&hosts[ns], "nft", &["-f", "-"], Some(nft_program(*n)))?;
                }
            }
            Tweak::Rate(bits) => {
                for ns in clients {
                    // A burst of 1 ms at the rate (at least 64 KiB: one TSO super-packet must
                    // fit) and a 20 ms queue.
                    let burst = (bits / 8 / 1000).max(65_536).to_string();
                    let rate = format!("{bits}bit");
                    run(
                        &hosts[ns],
                        "tc",
                        &[
                            "qdisc", "add", "dev", "eth0", "root", "tbf", "rate", &rate, "burst",
                            &burst, "latency", "20ms",
                        ],
                        None,
                    )?;
                }
            }
            Tweak::ExtraHop => {
                // Where ifb is a module not loaded yet, the first `ip link add ... type ifb`
                // would load it with its defaults, which make ifb0 and ifb1 in the machine's
                // own namespace: the probe loads it with numifbs=0 first, and says whether
                // this kernel has ifb at all. (A VM node's kernel is its own machine's.)
                if clients.iter().any(|ns| hosts[ns].local().is_some()) {
                    let support = crate::detect::probe_link_kinds(&["ifb"])?;
                    if let Some(Err(why)) = support.first().map(|k| &k.result) {
                        return Err(HarnessError::Unsupported {
                            what: format!("tweak extra-hop: {why}"),
                            fix: "load the ifb module, or drop --tweak extra-hop".into(),
                        });
                    }
                }
                for ns in clients {
                    let h = &hosts[ns];
                    for ifb in ["cnbifb0", "cnbifb1"] {
                        run(h, "ip", &["link", "add", ifb, "type", "ifb"], None)?;
                        run(h, "ip", &["link", "set", ifb, "up"], None)?;
                    }
                    // clsact gives eth0 an ingress and an egress hook for filters.
                    run(h, "tc", &["qdisc", "add", "dev", "eth0", "clsact"], None)?;
                    // Received packets go to cnbifb0, which transmits them back into eth0's
                    // receive path; sent packets go to cnbifb1, which hands them back to
                    // eth0 for transmission.
                    for (hook, ifb) in [("ingress", "cnbifb0"), ("egress", "cnbifb1")] {
                        run(
                            h,
                            "tc",
                            &[
                                "filter", "add", "dev", "eth0", hook, "protocol", "all", "u32",
                                "match", "u32", "0", "0", "action", "mirred", "egress", "redirect",
                                "dev", ifb,
                            ],
                            None,
                        )?;
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tweaks_read_and_print_back() {
        for text in ["sysctl:net.core.busy_read=50", "nft-rules:200", "extra-hop"] {
            assert_eq!(text.parse::<Tweak>().unwrap().to_string(), text);
        }
        assert_eq!(
            "rate:900M".parse::<Tweak>().unwrap(),
            Tweak::Rate(900_000_000)
        );
        assert_eq!(
            "rate:2.5G".parse::<Tweak>().unwrap(),
            Tweak::Rate(2_500_000_000)
        );
        for bad in [
            "nft-rules:0",
            "rate:10",
            "sysctl:x",
            "sysctl:../x=1",
            "wormhole",
            "extra-hop:2",
        ] {
            assert!(bad.parse::<Tweak>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_rules_never_match() {
        let p = nft_program(3);
        assert_eq!(p.matches("meta mark 0x00c0ffee counter").count(), 6);
        assert!(p.contains("hook output") && p.contains("hook input"));
    }
}
