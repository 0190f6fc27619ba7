//! Convergence: every speaker has a BGP route (its daemon's protocol) for every prefix it
//! must learn, of every family of the run (each remote pod block, or each remote pod's /32
//! and /128 with `--bgp-announce pod`), through every next hop it must use (both border
//! routers with two: ECMP), and a pod on the first node answers a pod on the last at each of
//! its addresses. Measured from the start of the first speaker, by reading the kernels'
//! routing tables (what forwarding uses), not the daemons'.
//!
//! The speakers are read one at a time, each until it is complete, rather than all of them
//! every round: at 1,000 nodes a round is a thousand route dumps of a thousand routes each,
//! and reading them every 50 ms took a CPU from the speakers being measured. The last
//! speaker to complete is seen within one read of the others, which are complete by then.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
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
    let have: HashSet<IpNet> = routes
        .iter()
        .filter(|r| r.proto == proto)
        .map(|r| r.dst)
        .collect();
    Ok(blocks
        .iter()
        .filter(|b| have.contains(b))
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

/// For every speaker's namespace, each BGP route it must have: (prefix, next hop), from the
/// declarations ([`crate::expect`]), so convergence and the routes check agree.
pub fn paths(plan: &Plan, announce: Announce, protos: &RouteProtos) -> Vec<(String, Vec<Path>)> {
    let of = |routes: Vec<harness::netlink::RouteSpec>| -> Vec<Path> {
        routes
            .into_iter()
            .filter_map(|r| r.via.map(|via| (r.dst, via)))
            .collect()
    };
    let mut v: Vec<(String, Vec<Path>)> = plan
        .nodes
        .iter()
        .map(|n| {
            let learned = crate::expect::learned_routes(plan, announce, protos, n);
            (n.netns.clone(), of(learned))
        })
        .collect();
    for rt in &plan.routers {
        let routes = crate::expect::router_routes(plan, announce, protos, rt);
        v.push((rt.netns.clone(), of(routes)));
    }
    v
}

/// A BGP route: its prefix and one next hop.
pub type Path = (IpNet, IpAddr);

/// Of `want`, the paths `host` has no route of protocol `proto` for.
fn missing_on(host: &Host, proto: RouteProto, want: &[Path]) -> Result<Vec<Path>, String> {
    let have: HashSet<Path> = host
        .nl()
        .routes()
        .map_err(|e| format!("reading routes: {e}"))?
        .into_iter()
        .filter(|r| r.proto == proto)
        .filter_map(|r| r.via.map(|via| (r.dst, via)))
        .collect();
    Ok(want.iter().filter(|p| !have.contains(p)).copied().collect())
}

/// Of `pending` (namespace, paths), what is still missing, every speaker read once.
fn missing(
    hosts: &BTreeMap<String, Host>,
    protos: &RouteProtos,
    pending: Vec<(String, Vec<Path>)>,
) -> Result<Vec<(String, Vec<Path>)>, String> {
    let mut still = Vec::new();
    for (netns, want) in pending {
        let gone = missing_on(&hosts[&netns], protos.of(&netns), &want)?;
        if !gone.is_empty() {
            still.push((netns, gone));
        }
    }
    Ok(still)
}

fn describe(still: &[(String, Vec<Path>)]) -> String {
    let total: usize = still.iter().map(|(_, m)| m.len()).sum();
    let (netns, gone) = &still[0];
    format!(
        "{total} route(s) on {} speaker(s) missing, e.g. {netns} has no BGP route to {} via {}",
        still.len(),
        gone[0].0,
        gone[0].1
    )
}

/// Whether every speaker has every route it must learn, through every next hop, now.
pub fn routes_complete(
    plan: &Plan,
    announce: Announce,
    protos: &RouteProtos,
    hosts: &BTreeMap<String, Host>,
) -> Result<(), String> {
    let still = missing(hosts, protos, paths(plan, announce, protos))?;
    if still.is_empty() {
        Ok(())
    } else {
        Err(describe(&still))
    }
}

/// Waits until every speaker has every route it must learn, through every next hop; returns
/// the time since `since` at which the last one appeared, or what is still missing after
/// `limit` (from `since`).
pub fn wait_routes(
    plan: &Plan,
    announce: Announce,
    protos: &RouteProtos,
    hosts: &BTreeMap<String, Host>,
    since: Instant,
    limit: Duration,
) -> Result<Duration, String> {
    let all = paths(plan, announce, protos);
    for (netns, want) in &all {
        let (host, proto) = (&hosts[netns], protos.of(netns));
        while !missing_on(host, proto, want)?.is_empty() {
            if harness::signals::interrupted() {
                return Err("interrupted".into());
            }
            if since.elapsed() >= limit {
                // Once, every speaker: what the message names is the whole of what is missing.
                let still = missing(hosts, protos, all.clone())?;
                if still.is_empty() {
                    return Ok(since.elapsed());
                }
                return Err(format!(
                    "{} after {:.1} s",
                    describe(&still),
                    limit.as_secs_f64()
                ));
            }
            std::thread::sleep(POLL);
        }
    }
    Ok(since.elapsed())
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
