//! The bgp backend's own checks, after the declared ones: the measured convergence, the BGP
//! sessions each speaker reports through its own CLI, and withdrawal: one node's speaker is
//! stopped, what it announced (its block, or its pods' /32s) must leave every other speaker's
//! kernel within the hold time, and once it is started again every route must come back (in
//! pod mode the new BIRD learns the pods' routes from the kernel when it starts).

use std::time::{Duration, Instant};

use harness::backend::Context;
use reports::CheckRecord;

use crate::announce::{announced, Announce};
use crate::converge;
use crate::peering::{is_reflector, peers_of, protocols_of, Speaker};
use harness::checks::record;
use harness::topology::IpFamily;

use crate::{Bgp, CONVERGE_WAIT};

/// How long the sessions get to be Established before they are reported as they are.
const SESSION_WAIT: Duration = Duration::from_secs(5);

fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

/// Every check of the backend's own, in order.
pub fn extra_checks(bgp: &Bgp, ctx: &Context<'_>) -> Vec<CheckRecord> {
    let mut out = vec![convergence(bgp, ctx)];
    out.extend(sessions(bgp, ctx));
    out.extend(withdrawal(bgp, ctx));
    out
}

/// What the nodes announce, for the checks' sentences.
fn what_is_announced(plan: &harness::topology::Plan, announce: Announce) -> &'static str {
    match (announce, plan.ip_family()) {
        (Announce::Block, IpFamily::Dual) => "pod block of each family",
        (Announce::Block, _) => "pod block",
        (Announce::Pod, IpFamily::Ipv4) => "pod's /32",
        (Announce::Pod, IpFamily::Ipv6) => "pod's /128",
        (Announce::Pod, IpFamily::Dual) => "pod's /32 and /128",
    }
}

fn convergence(bgp: &Bgp, ctx: &Context<'_>) -> CheckRecord {
    let plan = ctx.plan;
    let subject = format!(
        "bgp {}: {} nodes, {} sessions",
        bgp.topology(),
        plan.nodes.len(),
        crate::peering::session_count(plan, bgp.topology())
    );
    let expected = format!(
        "every speaker has a BGP route (proto bird or bgp) to every remote {} and a pod pair answers, within {} s of the speakers' start",
        what_is_announced(plan, bgp.announce()),
        CONVERGE_WAIT.as_secs()
    );
    let why_not = Some(format!(
        "BGP did not distribute every {}",
        what_is_announced(plan, bgp.announce())
    ));
    match bgp.progress().convergence {
        Some(Ok(t)) => record(
            "convergence",
            subject,
            expected,
            format!("converged in {}", ms(t)),
            true,
            None,
        ),
        Some(Err(why)) => record("convergence", subject, expected, why, false, why_not),
        // A topology set up by another process (`cnbench up`, then `check`): the time was
        // measured there; here only the result can be checked.
        None => {
            let now = converge::wait_converged(
                plan,
                bgp.announce(),
                &bgp.protos(plan),
                ctx.hosts,
                Instant::now(),
                SESSION_WAIT,
            );
            let ok = now.is_ok();
            record(
                "convergence",
                subject,
                expected,
                match now {
                    Ok(_) => "every route in place (the time was measured at setup, by the process that set it up)".into(),
                    Err(why) => why,
                },
                ok,
                why_not,
            )
        }
    }
}

/// One record per speaker: the sessions its daemon reports Established through its own CLI,
/// against its peers.
fn sessions(bgp: &Bgp, ctx: &Context<'_>) -> Vec<CheckRecord> {
    let plan = ctx.plan;
    let deadline = Instant::now() + SESSION_WAIT;
    Speaker::all(plan)
        .into_iter()
        .map(|s| {
            let protocols = protocols_of(plan, bgp.topology(), s);
            let daemon = bgp.daemon_of(plan, s);
            let role = s.role(plan);
            let kind = match s {
                Speaker::Node(n) if is_reflector(plan, bgp.topology(), n) => " (route reflector)",
                Speaker::Router(_) => " (border router)",
                _ => "",
            };
            let name = match daemon.kind() {
                crate::SpeakerKind::Bird => "BIRD",
                crate::SpeakerKind::Frr => "FRR",
                crate::SpeakerKind::Gobgp => "GoBGP",
            };
            let subject = format!("{name} on {role}{kind}: {}", daemon.control(plan, s));
            // One session per peer and family: an ipv4 run's reads as it always did.
            let tag = match plan.ip_family() {
                IpFamily::Ipv4 => "",
                IpFamily::Ipv6 => " (ipv6)",
                IpFamily::Dual => " (ipv4, ipv6)",
            };
            let expected = format!(
                "{} session(s) Established: {}",
                protocols.len(),
                peers_of(plan, bgp.topology(), s)
                    .iter()
                    .map(|p| format!("{}{tag}", p.role(plan)))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let want = protocols.len();
            loop {
                let read = daemon.sessions(ctx.hosts, plan, s);
                let (actual, ok) = match &read {
                    Ok(protocols) => {
                        let up = protocols.iter().filter(|p| p.established()).count();
                        let down: Vec<String> = protocols
                            .iter()
                            .filter(|p| !p.established())
                            .map(|p| format!("{} {} {}", p.name, p.state, p.info))
                            .collect();
                        let mut actual = format!("{up} session(s) Established");
                        if !down.is_empty() {
                            actual.push_str(&format!("; not: {}", down.join("; ")));
                        }
                        (actual, up == want && protocols.len() == want)
                    }
                    Err(e) => (e.to_string(), false),
                };
                if ok || Instant::now() >= deadline {
                    return record(
                        "bgp-sessions",
                        subject,
                        expected,
                        actual,
                        ok,
                        Some("a BGP session is not up".into()),
                    );
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
        .collect()
}

/// The node whose speaker is stopped: the last node that is not a route reflector (stopping a
/// reflector tests something else: every client losing its routes).
fn victim(bgp: &Bgp, ctx: &Context<'_>) -> Option<Speaker> {
    ctx.plan
        .nodes
        .iter()
        .rev()
        .find(|n| !is_reflector(ctx.plan, bgp.topology(), n.index))
        .map(|n| Speaker::Node(n.index))
}

fn withdrawal(bgp: &Bgp, ctx: &Context<'_>) -> Vec<CheckRecord> {
    let plan = ctx.plan;
    let Some(victim) = victim(bgp, ctx) else {
        return Vec::new();
    };
    let Speaker::Node(n) = victim else {
        unreachable!("victims are nodes")
    };
    let node = &plan.nodes[n as usize];
    let announce = bgp.announce();
    let prefixes = announced(plan, announce, node);
    let daemon = bgp.daemon_of(plan, victim);
    let processes = daemon.processes(plan, victim);
    let what = processes[0].clone();
    let listed = if prefixes.is_empty() {
        // A node without pods announces nothing in pod mode.
        "none".to_string()
    } else {
        prefixes
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let subject = match announce {
        Announce::Block => format!(
            "stop the speaker ({}) on {}: its block {listed} on the other speakers",
            daemon.kind(),
            node.role
        ),
        Announce::Pod => format!(
            "stop the speaker ({}) on {}: its pods' routes ({listed}) on the other speakers",
            daemon.kind(),
            node.role
        ),
    };
    let hold_s = bgp.timers().hold_s;
    let expected = format!("withdrawn everywhere within the hold time ({hold_s} s)");
    let Some((netns, pid)) = ctx
        .procs
        .list()
        .into_iter()
        .find(|(w, _, _)| *w == what)
        .map(|(_, netns, pid)| (netns, pid))
    else {
        return vec![record(
            "bgp-withdraw",
            subject,
            expected,
            format!("no process {what:?} in this run"),
            false,
            Some("the run's speaker is not supervised".into()),
        )];
    };
    let t = Instant::now();
    ctx.procs.stop(&netns, pid);
    // The rest of the speaker's processes (FRR's staticd and zebra, GoBGP's programmer).
    for other in &processes[1..] {
        if let Some((_, p)) = ctx
            .procs
            .list()
            .into_iter()
            .find(|(w, _, _)| w == other)
            .map(|(_, n, p)| (n, p))
        {
            ctx.procs.stop(&netns, p);
        }
    }
    let protos = bgp.protos(plan);
    let limit = Duration::from_secs(u64::from(hold_s) * 2);
    let left_now = || converge::holders(plan, announce, &protos, ctx.hosts, &prefixes, &node.netns);
    let mut left = left_now();
    while !left.is_empty() && t.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(20));
        left = left_now();
    }
    let took = t.elapsed();
    let gone = left.is_empty() && took <= Duration::from_secs(u64::from(hold_s));
    let mut out = vec![record(
        "bgp-withdraw",
        subject,
        expected,
        if left.is_empty() {
            format!("gone from every speaker in {}", ms(took))
        } else {
            format!("still on {} after {}", left.join(", "), ms(took))
        },
        gone,
        Some("a stopped speaker's routes must not outlive the hold time".into()),
    )];
    // Start it again the way setup did, and wait for every route (its own included).
    let subject = format!(
        "start the speaker ({}) on {} again: every route back",
        daemon.kind(),
        node.role
    );
    let expected = format!(
        "every speaker has every route again within {} s",
        CONVERGE_WAIT.as_secs()
    );
    let t = Instant::now();
    let setup = crate::speaker::Setup {
        topology: bgp.topology(),
        announce,
        timers: bgp.timers(),
    };
    let restarted = daemon
        .spawn(ctx, setup, victim)
        .map_err(|e| e.to_string())
        .and_then(|pids| {
            daemon
                .wait_ready(ctx, victim, &pids, Instant::now() + Duration::from_secs(10))
                .map_err(|e| e.to_string())
        })
        .and_then(|()| converge::wait_routes(plan, announce, &protos, ctx.hosts, t, CONVERGE_WAIT));
    out.push(match restarted {
        Ok(took) => record(
            "bgp-restore",
            subject,
            expected,
            format!("every route back in {}", ms(took)),
            true,
            None,
        ),
        Err(why) => record(
            "bgp-restore",
            subject,
            expected,
            why,
            false,
            Some("a restarted speaker must get its routes back".into()),
        ),
    });
    out
}
