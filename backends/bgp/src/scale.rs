//! bgp's part of `cnbench scale` ([`ControlPlaneScale`]): the harness sets up N nodes with
//! one pod each and its speakers everywhere without waiting, then asks here for the time until every
//! route is in every kernel and a pod pair answers, and for the sessions and routes each
//! speaker holds, and the sessions its hold timer dropped; it measures the daemons' memory and
//! CPU and the kernel's drops itself.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use harness::backend::{ControlPlaneScale, SweptOption};
use harness::host::Host;
use harness::scale::ms;
use harness::topology::Plan;
use harness::Backend;
use reports::ScalePoint;

use crate::converge;
use crate::peering::{protocols_of, Speaker};
use crate::{Bgp, ANNOUNCE_OPTION, SPEAKER_OPTION, TOPOLOGY_OPTION};

/// At most this long, after convergence, for the last sessions to come up.
const SESSION_WAIT: Duration = Duration::from_secs(10);

impl ControlPlaneScale for Bgp {
    fn sweep(&self) -> Vec<SweptOption> {
        vec![
            // First, so each speaker's curves come together; only BIRD unless the command
            // line names more, so a default sweep measures what it measured before and takes
            // as long.
            SweptOption::new(SPEAKER_OPTION.flag, &["bird"]),
            SweptOption::new(TOPOLOGY_OPTION.flag, &["mesh", "rr"]),
            SweptOption::new(ANNOUNCE_OPTION.flag, &["block"]),
        ]
    }

    fn for_sweep(&self) -> Box<dyn Backend> {
        Box::new(
            Bgp::without_waiting(self.topology())
                .with_announce(self.announce())
                .with_speakers(self.speakers())
                .with_timers(self.timers()),
        )
    }

    fn started(&self) -> Option<Instant> {
        self.progress().bird_started
    }

    fn measure(
        &self,
        plan: &Plan,
        hosts: &BTreeMap<String, Host>,
        started: Instant,
        timeout: Duration,
        p: &mut ScalePoint,
        at_convergence: &mut dyn FnMut(&mut ScalePoint),
    ) {
        let protos = self.protos(plan);
        match converge::wait_converged(plan, self.announce(), &protos, hosts, started, timeout) {
            Ok(t) => {
                p.converged = true;
                p.convergence_ms = Some(ms(t));
            }
            Err(why) => p.error = Some(why),
        }
        at_convergence(p);
        // Routes can be complete before every session is: with two reflectors a client
        // learns everything through either. Give the rest of the time limit (at most
        // SESSION_WAIT) for the remaining sessions, so the counts are those of the settled
        // topology.
        let want: Vec<u64> = Speaker::all(plan)
            .into_iter()
            .map(|s| protocols_of(plan, self.topology(), s).len() as u64)
            .collect();
        let deadline = Instant::now() + SESSION_WAIT.min(timeout.saturating_sub(started.elapsed()));
        let mut counts = Vec::new();
        let per_speaker = loop {
            counts = established(self, plan, hosts, &counts);
            if counts == want || Instant::now() >= deadline || harness::signals::interrupted() {
                break counts;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        // Converged means it stayed so: a mesh whose BIRDs are starved of CPU misses
        // keepalives, drops sessions (hold time) and withdraws routes it had a moment ago.
        if p.converged {
            if let Err(why) = converge::routes_complete(plan, self.announce(), &protos, hosts) {
                p.converged = false;
                p.error = Some(format!(
                    "every route was in place after {:.1} s but did not stay: {why}; {} of {} sessions Established",
                    p.convergence_ms.unwrap_or(0.0) / 1e3,
                    per_speaker.iter().sum::<u64>() / 2,
                    want.iter().sum::<u64>() / 2
                ));
            }
        }
        if !per_speaker.is_empty() {
            // Each session is seen by both of its ends.
            p.sessions_total = Some(per_speaker.iter().sum::<u64>() / 2);
            p.sessions_per_node_max = per_speaker.iter().max().copied();
        }
        p.sessions_expected = Some(want.iter().sum::<u64>() / 2);
        p.sessions_dropped = Some(
            Speaker::all(plan)
                .into_iter()
                .map(|s| {
                    let daemon = self.daemon_of(plan, s);
                    daemon.hold_timer_expiries(&daemon.logs(plan, s))
                })
                .sum(),
        );
        let routes: Vec<u64> = plan
            .nodes
            .iter()
            .filter_map(|n| converge::bird_route_count(&hosts[&n.netns], protos.of(&n.netns)).ok())
            .map(|c| c as u64)
            .collect();
        p.routes_per_node_min = routes.iter().min().copied();
        p.routes_per_node_max = routes.iter().max().copied();
    }
}

/// Sessions each speaker reports Established through its own CLI; `last` keeps the previous
/// count of a speaker too busy to answer this time.
fn established(bgp: &Bgp, plan: &Plan, hosts: &BTreeMap<String, Host>, last: &[u64]) -> Vec<u64> {
    Speaker::all(plan)
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            bgp.daemon_of(plan, s)
                .sessions(hosts, plan, s)
                .map(|p| p.iter().filter(|x| x.established()).count() as u64)
                .unwrap_or_else(|_| last.get(i).copied().unwrap_or(0))
        })
        .collect()
}
