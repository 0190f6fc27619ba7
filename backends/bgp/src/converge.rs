//! Convergence: every speaker has a `proto bird` route for every prefix it must learn, of
//! every family of the run (each remote pod block, or each remote pod's /32 and /128 with
//! `--bgp-announce pod`), and a pod on the first node answers a pod on the last at each of
//! its addresses. Measured from the start of the first BIRD, by reading the kernels' routing
//! tables (what forwarding uses), not BIRD's.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use harness::checks::icmp_echo;
use harness::host::Host;
use harness::netlink::RouteProto;
use harness::topology::{NodePlan, Plan};
use ipnet::IpNet;

use crate::announce::{announced, Announce};
use crate::speaker::RouteProtos;

/// How often the routing tables are read while waiting.
const POLL: Duration = Duration::from_millis(50);

/// For every speaker's namespace, the prefixes it must have a BGP route to: a node, what
/// every other node announces; the l3 router, what every node announces.
pub fn targets(plan: &Plan, announce: Announce) -> Vec<(String, Vec<IpNet>)> {
    let of = |n: &NodePlan| announced(plan, announce, n);
    let mut v: Vec<(String, Vec<IpNet>)> = plan
        .nodes
        .iter()
        .map(|n| {
            (
                n.netns.clone(),
                plan.nodes
                    .iter()
                    .filter(|r| r.index != n.index)
                    .flat_map(of)
                    .collect(),
            )
        })
        .collect();
    for rt in &plan.routers {
        v.push((rt.netns.clone(), plan.nodes.iter().flat_map(of).collect()));
    }
    v
}

/// The prefixes `host` has a BGP route (of protocol `proto`) to, among `blocks`.
pub fn present(host: &Host, proto: RouteProto, blocks: &[IpNet]) -> Result<Vec<IpNet>, String> {
    let routes = host
        .nl()
        .routes()
        .map_err(|e| format!("reading routes: {e}"))?;
    Ok(blocks
        .iter()
        .filter(|b| routes.iter().any(|r| r.proto == proto && r.dst == **b))
        .copied()
        .collect())
}

/// Number of BGP routes (of protocol `proto`) in `host`'s main table.
pub fn bird_route_count(host: &Host, proto: RouteProto) -> Result<usize, String> {
    Ok(host
        .nl()
        .routes()
        .map_err(|e| format!("reading routes: {e}"))?
        .iter()
        .filter(|r| r.proto == proto)
        .count())
}

/// Of `pending` (namespace, blocks), what is still missing.
fn missing(
    hosts: &BTreeMap<String, Host>,
    protos: &RouteProtos,
    pending: Vec<(String, Vec<IpNet>)>,
) -> Result<Vec<(String, Vec<IpNet>)>, String> {
    let mut still = Vec::new();
    for (netns, blocks) in pending {
        let have = present(&hosts[&netns], protos.of(&netns), &blocks)?;
        let gone: Vec<IpNet> = blocks.into_iter().filter(|b| !have.contains(b)).collect();
        if !gone.is_empty() {
            still.push((netns, gone));
        }
    }
    Ok(still)
}

fn describe(still: &[(String, Vec<IpNet>)]) -> String {
    let total: usize = still.iter().map(|(_, m)| m.len()).sum();
    let (netns, gone) = &still[0];
    format!(
        "{total} route(s) on {} speaker(s) missing, e.g. {netns} has no BGP route to {}",
        still.len(),
        gone[0]
    )
}

/// Whether every speaker has every route it must learn, now.
pub fn routes_complete(
    plan: &Plan,
    announce: Announce,
    protos: &RouteProtos,
    hosts: &BTreeMap<String, Host>,
) -> Result<(), String> {
    let still = missing(hosts, protos, targets(plan, announce))?;
    if still.is_empty() {
        Ok(())
    } else {
        Err(describe(&still))
    }
}

/// Waits until every speaker has every route it must learn; returns the time since `since`
/// at which the last one appeared, or what is still missing after `limit` (from `since`).
pub fn wait_routes(
    plan: &Plan,
    announce: Announce,
    protos: &RouteProtos,
    hosts: &BTreeMap<String, Host>,
    since: Instant,
    limit: Duration,
) -> Result<Duration, String> {
    let mut pending = targets(plan, announce);
    loop {
        // Only the speakers still missing something are read again.
        pending = missing(hosts, protos, pending)?;
        if pending.is_empty() {
            return Ok(since.elapsed());
        }
        if harness::signals::interrupted() {
            return Err("interrupted".into());
        }
        if since.elapsed() >= limit {
            return Err(format!(
                "{} after {:.1} s",
                describe(&pending),
                limit.as_secs_f64()
            ));
        }
        std::thread::sleep(POLL);
    }
}

/// Waits for routes everywhere, then for a pod on the first node to answer a ping from a
/// pod on the last; the time is measured from `since` (the start of the first BIRD).
pub fn wait_converged(
    plan: &Plan,
    announce: Announce,
    protos: &RouteProtos,
    hosts: &BTreeMap<String, Host>,
    since: Instant,
    limit: Duration,
) -> Result<Duration, String> {
    wait_routes(plan, announce, protos, hosts, since, limit)?;
    let (Some(first), Some(last)) = (plan.pods.first(), plan.pods.last()) else {
        return Ok(since.elapsed());
    };
    // Every family: its routes are in place, and its own path must carry a packet too.
    for to in plan.pod_addrs(first) {
        loop {
            let answer = icmp_echo(&hosts[&last.netns], to);
            if answer.ok() {
                break;
            }
            if harness::signals::interrupted() {
                return Err("interrupted".into());
            }
            if since.elapsed() >= limit {
                return Err(format!(
                    "every route is in place but {} -> {} ({to}) got: {answer}",
                    last.role, first.role
                ));
            }
            std::thread::sleep(POLL);
        }
    }
    Ok(since.elapsed())
}

/// The namespaces (among the speakers other than `except`) that still have a `proto bird`
/// route to one of `prefixes`.
pub fn holders(
    plan: &Plan,
    announce: Announce,
    protos: &RouteProtos,
    hosts: &BTreeMap<String, Host>,
    prefixes: &[IpNet],
    except: &str,
) -> Vec<String> {
    targets(plan, announce)
        .into_iter()
        .filter(|(netns, _)| netns != except)
        .filter_map(|(netns, learns)| {
            let mine: Vec<IpNet> = prefixes
                .iter()
                .filter(|p| learns.contains(p))
                .copied()
                .collect();
            let held = !mine.is_empty()
                && present(&hosts[&netns], protos.of(&netns), &mine)
                    .map(|p| !p.is_empty())
                    .unwrap_or(true);
            held.then_some(netns)
        })
        .collect()
}
