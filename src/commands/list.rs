//! `cnbench list`: every backend, what it needs, whether this machine has it (link kinds
//! probed in a scratch namespace, programs looked up on `PATH`), its options and faults; and
//! whether each substrate is ready. As a table, or as JSON (`--json`).

use anyhow::Result;
use harness::backend::Ipv6Support;
use harness::detect::{self, KindSupport};
use serde::Serialize;

use crate::registry;
use crate::ExitCode;

/// One backend, as `list --json` shows it.
#[derive(Debug, Serialize)]
struct BackendStatus {
    /// Its name.
    name: &'static str,
    /// One line.
    summary: &'static str,
    /// `ready`, `unavailable` or `unknown` (not probed: not root).
    status: &'static str,
    /// Where it moves cross-node packets by default (`kernel`, `userspace`).
    datapath: &'static str,
    /// Bytes its encapsulation adds per packet.
    overhead_bytes: u32,
    /// Underlays it works on.
    underlays: Vec<&'static str>,
    /// Kernel link kinds and programs it needs.
    needs: Vec<&'static str>,
    /// What this machine lacks of them, each with the fix.
    missing: Vec<String>,
    /// What this machine gets where a kernel feature is optional (ipip's module).
    this_machine: Vec<&'static str>,
    /// Its own options: flag, values, default.
    options: Vec<OptionStatus>,
    /// Faults of its own parts.
    faults: Vec<&'static str>,
    /// Whether `cnbench scale` measures its control plane.
    scales: bool,
    /// Whether it runs `--ip-family ipv6` and `dual`: `yes`, or `no: <why>`.
    ipv6: String,
}

/// A backend's own option, as `list --json` shows it.
#[derive(Debug, Serialize)]
struct OptionStatus {
    /// The flag without dashes.
    flag: &'static str,
    /// Its values; empty when it takes any (a file, a list of directories).
    values: Vec<&'static str>,
    /// What its value is (`FILE`; `VALUE` for one of `values`).
    value_name: &'static str,
    /// Its value when left out (none: detected, or required).
    default: Option<&'static str>,
}

/// The substrates, as `list --json` shows them.
#[derive(Debug, Serialize)]
struct SubstrateStatus {
    /// `netns`, `vm` or `ssh`.
    name: &'static str,
    /// Whether it can run now.
    ready: bool,
    /// For vm: the VM kernel's release.
    #[serde(skip_serializing_if = "Option::is_none")]
    kernel: Option<String>,
    /// What is missing, each with the fix.
    missing: Vec<String>,
}

/// What `list --json` prints.
#[derive(Debug, Serialize)]
struct Listing {
    backends: Vec<BackendStatus>,
    substrates: Vec<SubstrateStatus>,
}

/// `cnbench list`.
pub fn list(json: bool) -> Result<ExitCode> {
    let listing = survey();
    if json {
        let mut text = serde_json::to_string_pretty(&listing)?;
        text.push('\n');
        say_raw!("{text}");
        return Ok(ExitCode::Ok);
    }
    say!(
        "{:<12} {:<12} {:<9} {:<9} {:<22} summary",
        "backend",
        "status",
        "datapath",
        "underlay",
        "needs"
    );
    for b in &listing.backends {
        say!(
            "{:<12} {:<12} {:<9} {:<9} {:<22} {}",
            b.name,
            b.status,
            b.datapath,
            b.underlays.join(","),
            b.needs.join(","),
            b.summary
        );
        for o in &b.options {
            // No default: detected (a datapath), or required (a file to give).
            let default = o.default.unwrap_or(if o.values.is_empty() {
                "none"
            } else {
                "detected"
            });
            say!(
                "{:<12} {:<12} --{} {} (default: {default})",
                "",
                "  ↳ option:",
                o.flag,
                if o.values.is_empty() {
                    format!("<{}>", o.value_name)
                } else {
                    o.values.join("|")
                }
            );
        }
        say!("{:<12} {:<12} {}", "", "  ↳ ipv6:", b.ipv6);
        for line in b
            .this_machine
            .iter()
            .map(|s| s.to_string())
            .chain(b.missing.clone())
        {
            say!("{:<12} {:<12} {line}", "", "  ↳ here:");
        }
    }
    say!("");
    let vm = &listing.substrates[1];
    match &vm.kernel {
        Some(k) if vm.ready => say!(
            "substrates: netns ready; vm ready (QEMU TCG emulation, kernel {k}; --substrate vm)"
        ),
        _ => {
            say!(
                "substrates: netns ready; vm unavailable (--substrate vm needs `cnbench setup vm`)"
            );
            for m in &vm.missing {
                say!("{:<12} {:<12} {m}", "", "  ↳ vm:");
            }
        }
    }
    let ssh = &listing.substrates[2];
    if ssh.ready {
        say!("{:<12} ssh ready (real hosts: --substrate ssh --hosts HOST1,HOST2; checked when a run names them)", "");
    } else {
        say!("{:<12} ssh unavailable", "");
        for m in &ssh.missing {
            say!("{:<12} {:<12} {m}", "", "  ↳ ssh:");
        }
    }
    Ok(ExitCode::Ok)
}

/// Every backend and substrate, probed.
fn survey() -> Listing {
    let entries = registry::all();
    let mut kinds: Vec<&str> = entries
        .iter()
        .flat_map(|e| {
            e.info
                .link_kinds
                .iter()
                .copied()
                .chain(e.info.optional_kinds.iter().map(|o| o.kind))
        })
        .collect();
    kinds.sort();
    kinds.dedup();
    let probed = detect::probe_link_kinds(&kinds);
    if let Err(e) = &probed {
        eprintln!("cnbench: cannot probe kernel features ({e}); support shown as unknown");
    }
    let support = |kind: &str| -> Option<&KindSupport> {
        probed.as_ref().ok()?.iter().find(|s| s.kind == kind)
    };
    let backends = entries
        .iter()
        .map(|e| {
            let info = e.info;
            let mut missing: Vec<String> = Vec::new();
            if probed.is_err() {
                missing.push("kernel support unknown: run as root to probe".into());
            }
            for k in info.link_kinds {
                if let Some(Err(why)) = support(k).map(|s| &s.result) {
                    missing.push(why.clone());
                }
            }
            if let Err(why) = info.require_programs(detect::find_binary) {
                missing.push(why.to_string());
            }
            let this_machine = info
                .optional_kinds
                .iter()
                .filter_map(|o| {
                    let here = support(o.kind)?.result.is_ok();
                    Some(if here { o.with } else { o.without })
                })
                .collect();
            BackendStatus {
                name: info.name,
                summary: info.summary,
                status: match (&probed, missing.is_empty()) {
                    (Err(_), _) => "unknown",
                    (Ok(_), true) => "ready",
                    (Ok(_), false) => "unavailable",
                },
                datapath: info.datapath.as_str(),
                ipv6: match info.ipv6 {
                    Ipv6Support::Yes => "yes".into(),
                    Ipv6Support::NotInRealSystem(why) => format!("no: {why}"),
                    Ipv6Support::NotYet => {
                        "no: the real system runs IPv6, cnbench's build of it does not yet".into()
                    }
                },
                overhead_bytes: info.overhead_bytes,
                underlays: info.underlays.iter().map(|u| u.as_str()).collect(),
                needs: info
                    .link_kinds
                    .iter()
                    .copied()
                    .chain(info.programs.iter().map(|p| p.name))
                    .collect(),
                missing,
                this_machine,
                options: info
                    .options
                    .iter()
                    .map(|o| OptionStatus {
                        flag: o.flag,
                        values: o.values.iter().map(|(v, _)| *v).collect(),
                        value_name: o.value_name,
                        default: o.default,
                    })
                    .collect(),
                faults: e.info.faults.iter().map(|f| f.name).collect(),
                scales: e.scales,
            }
        })
        .collect();
    let vm = match harness::vm::Assets::locate() {
        Ok(a) => SubstrateStatus {
            name: "vm",
            ready: true,
            kernel: Some(a.kernel_release),
            missing: Vec::new(),
        },
        Err(_) => SubstrateStatus {
            name: "vm",
            ready: false,
            kernel: None,
            missing: harness::vm::assets::missing(),
        },
    };
    Listing {
        backends,
        substrates: vec![
            SubstrateStatus {
                name: "netns",
                ready: true,
                kernel: None,
                missing: Vec::new(),
            },
            vm,
            ssh_status(),
        ],
    }
}

/// The SSH substrate: ready when this machine has an ssh client (and scp, for
/// `--copy-exe`); the hosts are checked when a run names them.
fn ssh_status() -> SubstrateStatus {
    let missing: Vec<String> = ["ssh", "scp"]
        .into_iter()
        .filter(|p| harness::detect::find_binary(p).is_none())
        .map(|p| format!("{p} is not on PATH: install openssh-client"))
        .collect();
    SubstrateStatus {
        name: "ssh",
        ready: missing.is_empty(),
        kernel: None,
        missing,
    }
}
