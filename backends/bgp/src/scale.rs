//! bgp's part of `cnbench scale` ([`ControlPlaneScale`]): the harness sets up N nodes with
//! one pod each and BIRD everywhere without waiting, then asks here for the time until every
//! route is in every kernel and a pod pair answers, and for the sessions and routes each
//! speaker holds, and the sessions its hold timer dropped; it measures the BIRDs' memory and
//! CPU and the kernel's drops itself.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use harness::backend::{ControlPlaneScale, SweptOption};
use harness::host::Host;
use harness::scale::ms;
use harness::topology::Plan;
use harness::Backend;
use reports::ScalePoint;

use crate::bird::{self, BirdFiles};
use crate::converge;
use crate::peering::{protocols_of, Speaker};
use crate::{Bgp, ANNOUNCE_OPTION, TOPOLOGY_OPTION};

/// At most this long, after convergence, for the last sessions to come up.
const SESSION_WAIT: Duration = Duration::from_secs(10);

impl ControlPlaneScale for Bgp {
    fn sweep(&self) -> Vec<SweptOption> {
        vec![
            // Note for the speakers' merge: `--bgp-speaker` is swept by adding, first (so each
            // speaker's curves come together), `SweptOption::new(SPEAKER_OPTION.flag,
            // &["bird"])`: only BIRD unless the command line names more, so a default sweep
            // measures what it measured before and takes as long.
            SweptOption::new(TOPOLOGY_OPTION.flag, &["mesh", "rr"]),
            SweptOption::new(ANNOUNCE_OPTION.flag, &["block"]),
        ]
    }

    fn for_sweep(&self) -> Box<dyn Backend> {
        Box::new(Bgp::without_waiting(self.topology()).with_announce(self.announce()))
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
        match converge::wait_converged(plan, self.announce(), hosts, started, timeout) {
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
            counts = established(plan, hosts, &counts);
            if counts == want || Instant::now() >= deadline || harness::signals::interrupted() {
                break counts;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        // Converged means it stayed so: a mesh whose BIRDs are starved of CPU misses
        // keepalives, drops sessions (hold time) and withdraws routes it had a moment ago.
        if p.converged {
            if let Err(why) = converge::routes_complete(plan, self.announce(), hosts) {
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
                    let log = BirdFiles::of(plan.run_id(), plan, s).log();
                    hold_timer_expiries(&std::fs::read_to_string(log).unwrap_or_default())
                })
                .sum(),
        );
        let routes: Vec<u64> = plan
            .nodes
            .iter()
            .filter_map(|n| converge::bird_route_count(&hosts[&n.netns]).ok())
            .map(|c| c as u64)
            .collect();
        p.routes_per_node_min = routes.iter().min().copied();
        p.routes_per_node_max = routes.iter().max().copied();
    }
}

/// Sessions each speaker's BIRD reports Established; `last` keeps the previous count of a
/// BIRD too busy to answer `birdc` this time.
fn established(plan: &Plan, hosts: &BTreeMap<String, Host>, last: &[u64]) -> Vec<u64> {
    Speaker::all(plan)
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            bird::show_protocols(hosts, plan, s)
                .map(|p| p.iter().filter(|x| x.established()).count() as u64)
                .unwrap_or_else(|_| last.get(i).copied().unwrap_or(0))
        })
        .collect()
}

/// Sessions a BIRD dropped because its hold timer expired, from its log: BIRD logs the
/// NOTIFICATION it sends then as `<protocol>: Error: Hold timer expired` (the peer that
/// receives it logs `Received: Hold timer expired`, not counted, so each expiry counts once).
fn hold_timer_expiries(log: &str) -> u64 {
    log.lines()
        .filter(|l| l.contains(": Error: Hold timer expired"))
        .count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hold_timer_expiries_are_counted_where_the_timer_ran_out() {
        let log = "2026-12-07 02:31:00.101 <RMT> peer_n1: Error: Hold timer expired\n\
                   2026-12-07 02:31:00.102 <RMT> peer_n7: Received: Hold timer expired\n\
                   2026-12-07 02:31:01.500 <INFO> Reconfigured\n\
                   2026-12-07 02:31:04.000 <RMT> peer_n1_6: Error: Hold timer expired\n";
        assert_eq!(hold_timer_expiries(log), 2);
        assert_eq!(hold_timer_expiries(""), 0);
    }
}
