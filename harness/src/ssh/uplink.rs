//! A node joined to its host's network: its `eth0` a macvlan or ipvlan of the host's
//! interface, its addresses taken only once nobody answers for them, and every node proven
//! to reach every other over that network before a backend is built on it.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::error::{HarnessError, Result};
use crate::host::Host;
use crate::probe::{ProbeResult, PROBE_TIMEOUT};
use crate::remote::client::CALL_TIMEOUT;
use crate::remote::protocol::{Call, Reply};
use crate::topology::{NodePlan, Plan, SshHost, SshSpec};
use crate::underlay::NODE_DEV;

/// How long an ARP probe listens for an owner of the node's address, ms.
const ARP_WAIT_MS: u64 = 1000;

/// Gives `node` (on `host`, its namespace made there) its `eth0` on the host's network and
/// its addresses. An IPv4 address somebody answers for is refused; an IPv6 one runs
/// duplicate address detection, which the run waits for.
pub fn join(plan: &Plan, h: &Host, node: &NodePlan, host: &SshHost, spec: &SshSpec) -> Result<()> {
    let agent = h.agent().expect("an SSH node is served by its agent");
    let iface = spec.iface_of(host).expect("validated").to_string();
    agent.call(
        Call::Uplink {
            netns: node.netns.clone(),
            parent: iface.clone(),
            kind: spec.node_link,
            name: NODE_DEV.into(),
        },
        CALL_TIMEOUT,
    )?;
    h.nl().set_mtu(NODE_DEV, plan.spec.mtu)?;
    h.nl().set_up(NODE_DEV)?;
    for net in plan.node_nets(node) {
        if let IpNet::V4(v4) = net {
            let claimed = agent.call(
                Call::ArpProbe {
                    netns: node.netns.clone(),
                    dev: NODE_DEV.into(),
                    addr: v4.addr(),
                    wait_ms: ARP_WAIT_MS,
                },
                CALL_TIMEOUT,
            )?;
            if let Reply::Claimed(Some(mac)) = claimed {
                return Err(HarnessError::Host {
                    host: host.to_string(),
                    what: format!(
                        "node {}'s address {} is already in use on {iface}'s network (by {mac})",
                        node.role,
                        v4.addr()
                    ),
                    fix: "give the node a free one: HOST=ADDR/LEN, or another --underlay-cidr"
                        .into(),
                });
            }
        }
        h.nl().add_address(NODE_DEV, net)?;
    }
    Ok(())
}

/// Every node reaches every other node's addresses over the hosts' network, or the run is
/// refused with the pair that does not and what to try.
pub fn require_reachable(
    plan: &Plan,
    hosts: &BTreeMap<String, Host>,
    spec: &SshSpec,
) -> Result<()> {
    for a in &plan.nodes {
        for b in plan.nodes.iter().filter(|b| b.index != a.index) {
            for to in plan.node_nets(b).into_iter().map(|n| n.addr()) {
                let echo = hosts[&a.netns].icmp_probe(to, None, PROBE_TIMEOUT);
                if let ProbeResult::Answered(_) = echo.result {
                    continue;
                }
                return Err(unreachable(plan, spec, a, b, to, &echo.result));
            }
        }
    }
    Ok(())
}

fn unreachable(
    plan: &Plan,
    spec: &SshSpec,
    a: &NodePlan,
    b: &NodePlan,
    to: IpAddr,
    seen: &ProbeResult,
) -> HarnessError {
    let host = |n: &NodePlan| plan.spec.hosts[n.index as usize].clone();
    let (ha, hb) = (host(a), host(b));
    let fix = match spec.node_link {
        crate::netlink::UplinkKind::Macvlan => {
            "the hosts' network must carry the nodes' own MACs (a cloud network or a switch \
             with port security drops them: use --node-link ipvlan), and the hosts must \
             share that segment"
        }
        crate::netlink::UplinkKind::Ipvlan => {
            "the hosts must share one layer-2 segment on the interfaces named, with nothing \
             filtering between them"
        }
    };
    HarnessError::Host {
        host: ha.to_string(),
        what: format!(
            "node {} cannot reach node {} ({to}, on {hb}) over {}'s network: {seen:?}",
            a.role,
            b.role,
            spec.iface_of(&ha).unwrap_or("?"),
        ),
        fix: fix.into(),
    }
}
