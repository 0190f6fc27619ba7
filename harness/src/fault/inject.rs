//! The faults the harness injects itself, for every backend: a node's underlay link down and
//! up, random loss on the underlay, and a node torn down and set up again.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::error::{HarnessError, Result};
use crate::host::Host;
use crate::netns::Netns;
use crate::state;
use crate::supervisor::Supervisor;
use crate::topology::{NodePlan, Plan};
use crate::underlay::{self, NODE_DEV};

/// The nftables table the loss fault adds in the underlay's hub namespace (and removes).
pub const LOSS_TABLE: &str = "cnbench_loss";

/// How long `nft` may take.
const NFT_TIMEOUT: Duration = Duration::from_secs(10);

/// link-flap, first half: the node's `eth0` administratively down. The kernel deletes every
/// route through it (the node's connected underlay route, an l3 default route, host-gw's and
/// BIRD's routes via a peer) and its peers' packets to it go nowhere.
pub(crate) fn link_down(hosts: &BTreeMap<String, Host>, node: &NodePlan) -> Result<()> {
    hosts[&node.netns].nl().set_down(NODE_DEV)
}

/// link-flap, second half: `eth0` up again and the node's own underlay routes put back, as
/// its network configuration does on carrier (the connected route comes back by itself).
pub(crate) fn link_up(plan: &Plan, hosts: &BTreeMap<String, Host>, node: &NodePlan) -> Result<()> {
    hosts[&node.netns].nl().set_up(NODE_DEV)?;
    underlay::restore_node_routes(plan, hosts, node)
}

/// The hub namespace (switch or router) and the ports that cable the nodes to it.
fn hub_ports(plan: &Plan) -> Option<(String, Vec<String>)> {
    let hub = plan
        .switch
        .as_ref()
        .map(|s| s.netns.clone())
        .or_else(|| plan.router().map(|r| r.netns.clone()))?;
    Some((
        hub,
        plan.nodes.iter().map(|n| n.switch_port.clone()).collect(),
    ))
}

/// The nftables ruleset of the loss fault: an ingress chain on every hub port that drops
/// `percent` % of the packets entering it, at random (`numgen random mod 100`). Every packet
/// that crosses the underlay enters the hub through exactly one port (its sender's), so each
/// is dropped with probability `percent` % once, on l2 and l3 alike.
pub fn loss_ruleset(ports: &[String], percent: u32) -> String {
    let mut s = format!("table netdev {LOSS_TABLE} {{\n");
    for (i, port) in ports.iter().enumerate() {
        s.push_str(&format!(
            "  chain port{i} {{\n    type filter hook ingress device \"{port}\" priority 0; \
             policy accept;\n    numgen random mod 100 < {percent} counter drop\n  }}\n"
        ));
    }
    s.push_str("}\n");
    s
}

/// loss, first half: the ruleset in the hub's namespace.
pub(crate) fn add_loss(plan: &Plan, hosts: &BTreeMap<String, Host>, percent: u32) -> Result<()> {
    let (hub, ports) = hub_ports(plan).ok_or_else(|| HarnessError::Unsupported {
        what: "the loss fault needs an underlay".into(),
        fix: "use --underlay l2 or l3".into(),
    })?;
    nft(
        &hosts[&hub],
        &["-f", "-"],
        Some(&loss_ruleset(&ports, percent)),
    )
    .map(|_| ())
}

/// loss, second half: the table removed (already gone is success).
pub(crate) fn remove_loss(plan: &Plan, hosts: &BTreeMap<String, Host>) -> Result<()> {
    let Some((hub, _)) = hub_ports(plan) else {
        return Ok(());
    };
    match nft(
        &hosts[&hub],
        &["delete", "table", "netdev", LOSS_TABLE],
        None,
    ) {
        Err(HarnessError::Process { message, .. }) if message.contains("No such file") => Ok(()),
        other => other.map(|_| ()),
    }
}

/// Packets the loss rules dropped so far, from their counters (`nft -j list table`).
pub(crate) fn loss_dropped(plan: &Plan, hosts: &BTreeMap<String, Host>) -> Option<u64> {
    let (hub, _) = hub_ports(plan)?;
    let json = nft(
        &hosts[&hub],
        &["-j", "list", "table", "netdev", LOSS_TABLE],
        None,
    )
    .ok()?;
    Some(dropped_in(&json))
}

/// Sums the packet counters of every rule in `nft -j` output.
pub fn dropped_in(json: &str) -> u64 {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
        return 0;
    };
    v["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item["rule"]["expr"].as_array())
        .flatten()
        .filter_map(|e| e["counter"]["packets"].as_u64())
        .sum()
}

/// Runs `nft ARGS` inside `host` (with `input` on its stdin) and returns its stdout.
fn nft(host: &Host, args: &[&str], input: Option<&str>) -> Result<String> {
    let what = format!("nft {}", args.join(" "));
    let mut cmd = Command::new("nft");
    cmd.args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = host.spawn(cmd, &what)?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        let _ = stdin.write_all(text.as_bytes());
    }
    let fail = |message: String| HarnessError::Process {
        what: what.clone(),
        netns: host.name().to_string(),
        message,
    };
    let deadline = std::time::Instant::now() + NFT_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(2))
            }
            _ => {
                crate::process::stop(&mut child, Duration::from_millis(200));
                return Err(fail(format!(
                    "no answer within {} s",
                    NFT_TIMEOUT.as_secs()
                )));
            }
        }
    }
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(fail(format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// The namespaces a node restart takes down: the node's own and those of its pods that have
/// their own (host-network pods live in the node's).
pub(crate) fn node_namespaces(plan: &Plan, node: &NodePlan) -> Vec<String> {
    let mut v = vec![node.netns.clone()];
    v.extend(
        plan.pods
            .iter()
            .filter(|p| p.node == node.index && p.own_netns)
            .map(|p| p.netns.clone()),
    );
    v
}

/// node-restart, first half: everything of the node goes, as in a power cut. Its daemons
/// are stopped (and forgotten), every other process in its namespaces killed, the namespaces
/// deleted; the kernel deletes the veth pairs with them, so the hub's port goes too.
pub(crate) fn node_down(
    plan: &Plan,
    hosts: &mut BTreeMap<String, Host>,
    procs: &Supervisor,
    node: &NodePlan,
) -> Result<()> {
    let names = node_namespaces(plan, node);
    // The hub's end of the node's cable first: deleting one end of a veth pair deletes both
    // at once, while a deleted namespace's devices go later, from the kernel's cleanup work,
    // and the same port is created again a moment from now.
    if let Some((hub, _)) = underlay::hub_of(plan, node) {
        hosts[&hub].nl().delete_link(&node.switch_port)?;
    }
    for (_, netns, pid) in procs.list() {
        if names.contains(&netns) {
            procs.stop(&netns, pid);
        }
    }
    // Our own handles would keep the namespaces (and their devices) alive.
    for n in &names {
        hosts.remove(n);
    }
    match state::destroy_namespaces(&names).into_iter().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// node-restart, second half, the harness's part: the namespaces again, empty (IPv6 off, as
/// at setup), and the node's `eth0` cabled to the hub. The backend then builds the rest.
pub(crate) fn node_up(
    plan: &Plan,
    hosts: &mut BTreeMap<String, Host>,
    node: &NodePlan,
) -> Result<()> {
    for name in node_namespaces(plan, node) {
        let host = Host::open(Netns::create(&name)?)?;
        host.set_sysctls(crate::run::namespace_sysctls(plan.ip_family()))?;
        hosts.insert(name, host);
    }
    underlay::attach_node(plan, hosts, node)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loss_ruleset_drops_on_every_port() {
        let r = loss_ruleset(&["sw-n0".into(), "sw-n1".into()], 10);
        assert!(r.starts_with("table netdev cnbench_loss {"), "{r}");
        assert_eq!(
            r.matches("numgen random mod 100 < 10 counter drop").count(),
            2
        );
        assert!(r.contains("ingress device \"sw-n1\""), "{r}");
    }

    #[test]
    fn drops_are_summed_over_the_counters() {
        let json = r#"{"nftables": [{"metainfo": {"version": "1.0.6"}},
            {"table": {"family": "netdev", "name": "cnbench_loss"}},
            {"rule": {"expr": [{"match": {}}, {"counter": {"packets": 7, "bytes": 700}}, {"drop": null}]}},
            {"rule": {"expr": [{"counter": {"packets": 5, "bytes": 1}}]}}]}"#;
        assert_eq!(dropped_in(json), 12);
        assert_eq!(dropped_in("not json"), 0);
    }
}
