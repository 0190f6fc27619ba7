//! Probe agents on 127.0.0.1, no root: a clean mesh, an agent that stops early, and the
//! pacing seen from the wire.

use std::net::{SocketAddr, UdpSocket};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cnbench_workloads as workloads;
use reports::{recovered_at, PeerProbe, ProbeReport, ProbeSummary};
use workloads::{run_agent, AgentTask, ProbeAgent, ProbeConfig, WorkloadError};

const MS: u64 = 1_000_000;

fn now_unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// `n` free UDP ports on 127.0.0.1 (all held until every one is chosen, so they differ).
fn free_addrs(n: usize) -> Vec<SocketAddr> {
    let socks: Vec<UdpSocket> = (0..n)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    socks.iter().map(|s| s.local_addr().unwrap()).collect()
}

/// Configurations for a full mesh of agents on `addrs`, all starting at `start`.
fn mesh(addrs: &[SocketAddr], start: u64, duration_ms: u64) -> Vec<ProbeConfig> {
    addrs
        .iter()
        .map(|&a| ProbeConfig {
            start_unix_ns: Some(start),
            ..ProbeConfig::new(
                a,
                addrs.iter().copied().filter(|&p| p != a).collect(),
                duration_ms,
            )
        })
        .collect()
}

/// Binds every agent first (so none misses an early probe), then runs each in a thread.
fn run_all(cfgs: &[ProbeConfig]) -> Vec<ProbeReport> {
    let agents: Vec<ProbeAgent> = cfgs.iter().map(|c| ProbeAgent::bind(c).unwrap()).collect();
    let handles: Vec<_> = agents
        .into_iter()
        .map(|a| thread::spawn(move || a.run()))
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().unwrap().unwrap())
        .collect()
}

fn pair(r: &ProbeReport, peer: SocketAddr) -> &PeerProbe {
    r.peers
        .iter()
        .find(|p| p.peer == peer.to_string())
        .unwrap_or_else(|| panic!("{} has no pair towards {peer}", r.from))
}

fn describe(p: &PeerProbe) -> String {
    format!(
        "-> {}: sent {} answered {} skipped {} send errors {} late {} rtt p50 {} µs max {} µs, \
         {} loss runs",
        p.peer,
        p.sent,
        p.answered,
        p.skipped,
        p.send_errors,
        p.late_replies,
        p.rtt_p50_ns / 1000,
        p.rtt_max_ns / 1000,
        p.losses.len()
    )
}

#[test]
fn three_agents_answer_each_other_without_loss() {
    let addrs = free_addrs(3);
    let start = now_unix_ns() + 200 * MS;
    let reports = run_all(&mesh(&addrs, start, 1000));
    for r in &reports {
        assert_eq!(r.rate_pps, 1000);
        assert_eq!(r.reply_timeout_ns, 100 * MS);
        assert_eq!(r.peers.len(), 2);
        for p in &r.peers {
            eprintln!("{} {}", r.from, describe(p));
            // 1000 slots per peer, each sent or skipped.
            assert_eq!(p.sent + p.skipped, 1000, "{}", describe(p));
            assert!((950..=1050).contains(&p.sent), "{}", describe(p));
            assert!(p.skipped <= 50, "{}", describe(p));
            assert_eq!(p.answered, p.sent, "{}", describe(p));
            assert!(p.losses.is_empty(), "{:?}", p.losses);
            assert_eq!((p.send_errors, p.late_replies), (0, 0));
            assert!(p.rtt_p50_ns > 0 && p.rtt_p50_ns <= p.rtt_max_ns);
            assert!(p.rtt_max_ns <= 100 * MS);
            // The stream starts at the agreed time and lasts the duration.
            let late_ms = (p.first_sent_unix_ns - start) / MS;
            assert!(
                p.first_sent_unix_ns >= start && late_ms < 50,
                "{late_ms} ms"
            );
            let span_ms = (p.last_sent_unix_ns - p.first_sent_unix_ns) / MS;
            assert!((950..=1050).contains(&span_ms), "{span_ms} ms");
        }
    }
    // A "fault" in the middle that did nothing: no loss, no recovery time.
    let s = ProbeSummary::new(&reports, start + 400 * MS, start + 600 * MS);
    assert_eq!(s.pairs, 6);
    assert_eq!((s.lost_total, s.lost_during, s.lost_after), (0, 0, 0));
    assert_eq!(s.recovery_ns, 0);
    assert!(s.recovered(), "{:?}", s.never_recovered);
}

#[test]
fn an_agent_that_stops_halfway_is_a_loss_that_never_recovers() {
    let addrs = free_addrs(3);
    let (a, b, c) = (addrs[0], addrs[1], addrs[2]);
    let start = now_unix_ns() + 200 * MS;
    let mut cfgs = mesh(&addrs, start, 1000);
    // C sends for 400 ms, answers 100 ms more and exits at about 500 ms.
    cfgs[2].duration_ms = 400;
    cfgs[2].linger_ms = 100;
    let reports = run_all(&cfgs);
    for r in &reports {
        for p in &r.peers {
            eprintln!("{} {}", r.from, describe(p));
        }
    }
    let towards_c = [pair(&reports[0], c), pair(&reports[1], c)];
    for p in towards_c {
        let run = p
            .losses
            .last()
            .expect("a loss run towards the stopped agent");
        assert_eq!(p.losses.len(), 1, "{:?}", p.losses);
        assert_eq!(run.answered_again_unix_ns, None);
        assert_eq!(
            run.first_seq + run.count,
            p.sent,
            "the run lasts to the end"
        );
        assert_eq!(p.answered + run.count, p.sent);
        // C answered until about 500 ms into the 1000 ms schedule.
        assert!((400..=600).contains(&run.count), "{run:?}");
        let stop_ms = (run.first_sent_unix_ns - start) / MS;
        assert!((450..=600).contains(&stop_ms), "{stop_ms} ms");
        assert_eq!(recovered_at(p, start + 700 * MS), None);
        assert_eq!(recovered_at(p, start + 100 * MS), None);
    }
    // Every other pair is clean and "recovered" at once.
    for (r, peer) in [
        (&reports[0], b),
        (&reports[1], a),
        (&reports[2], a),
        (&reports[2], b),
    ] {
        let p = pair(r, peer);
        assert!(p.losses.is_empty(), "{} {}", r.from, describe(p));
        assert_eq!(
            recovered_at(p, start + 300 * MS),
            Some(start + 300 * MS),
            "{} {}",
            r.from,
            describe(p)
        );
    }
    assert!((380..=400).contains(&pair(&reports[2], a).sent));
    // A window that ends before C's own stream does (a pair whose stream ended before the
    // window's end shows no recovery either).
    let s = ProbeSummary::new(&reports, start + 200 * MS, start + 350 * MS);
    assert_eq!(
        s.never_recovered,
        [format!("{a} -> {c}"), format!("{b} -> {c}")]
    );
    assert_eq!(s.recovery_ns, 0);
    let lost: u64 = towards_c.iter().map(|p| p.sent - p.answered).sum();
    assert_eq!(s.lost_total, lost);
    assert_eq!((s.lost_during, s.lost_after), (0, lost));
    let late = ProbeSummary::new(&reports, start + 300 * MS, start + 700 * MS);
    assert_eq!(
        late.never_recovered.len(),
        4,
        "C's own streams ended at 400 ms"
    );
}

/// A stand-in peer that never answers and records `(seq, sent_unix_ns)` of every request.
fn silent_peer() -> (SocketAddr, thread::JoinHandle<Vec<(u64, u64)>>) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(800)))
        .unwrap();
    let addr = sock.local_addr().unwrap();
    let h = thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 128];
        // Until the agent has been quiet for the read timeout after its first probe.
        loop {
            match sock.recv(&mut buf) {
                Ok(40) => {
                    let be = |i: usize| u64::from_be_bytes(buf[i..i + 8].try_into().unwrap());
                    assert_eq!(&buf[0..4], b"CNBP");
                    assert_eq!(buf[5], 1, "a request");
                    seen.push((be(16), be(24)));
                }
                Ok(n) => panic!("a {n}-byte datagram"),
                Err(_) if seen.is_empty() => continue,
                Err(_) => return seen,
            }
        }
    });
    (addr, h)
}

#[test]
fn probes_are_paced_and_spread_over_the_peers() {
    let (p0, h0) = silent_peer();
    let (p1, h1) = silent_peer();
    let bind = free_addrs(1)[0];
    let cfg = ProbeConfig {
        start_unix_ns: Some(now_unix_ns() + 100 * MS),
        linger_ms: 100,
        ..ProbeConfig::new(bind, vec![p0, p1], 1000)
    };
    // Through the agent entry point, to check its output too.
    let mut out = Vec::new();
    run_agent(&AgentTask::Probe(cfg.clone()), &mut out).unwrap();
    let out = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0], format!("ready {}", bind.port()));
    let report: ProbeReport = serde_json::from_str(lines[1]).unwrap();
    assert_eq!(report.from, bind.to_string());

    let seen = [h0.join().unwrap(), h1.join().unwrap()];
    for (p, seen) in report.peers.iter().zip(&seen) {
        eprintln!("{}", describe(p));
        // Nobody answers: everything sent is one loss run to the end.
        assert_eq!(p.answered, 0);
        assert_eq!(p.losses.len(), 1);
        assert_eq!((p.losses[0].first_seq, p.losses[0].count), (0, p.sent));
        assert_eq!(recovered_at(p, p.first_sent_unix_ns), None);
        // What arrived is what was sent, in order.
        assert_eq!(seen.len() as u64, p.sent);
        assert!(seen.iter().enumerate().all(|(i, s)| s.0 == i as u64));
        assert!(p.skipped <= 50, "{}", describe(p));
        // Spread: about 1 ms apart, never more than a few in any 10 ms.
        let mut gaps: Vec<u64> = seen.windows(2).map(|w| w[1].1 - w[0].1).collect();
        gaps.sort_unstable();
        let median = gaps[gaps.len() / 2];
        assert!(
            (900_000..=1_100_000).contains(&median),
            "median gap {median} ns"
        );
        let most_in_10ms = seen
            .iter()
            .enumerate()
            .map(|(i, s)| seen[i..].iter().take_while(|t| t.1 < s.1 + 10 * MS).count())
            .max()
            .unwrap();
        assert!(most_in_10ms <= 13, "{most_in_10ms} probes within 10 ms");
    }
    // The two peers' probes interleave: the nearest probe to peer 1 is about half an
    // interval (0.5 ms) from each probe to peer 0, not next to it as in a burst. (Matched by
    // time, not by sequence number: a skipped slot takes no sequence number.)
    let times1: Vec<u64> = seen[1].iter().map(|s| s.1).collect();
    let mut nearest: Vec<u64> = seen[0]
        .iter()
        .map(|&(_, t)| {
            let i = times1.partition_point(|&u| u < t);
            let after = times1.get(i).map(|&u| u - t);
            let before = i.checked_sub(1).map(|k| t - times1[k]);
            after.into_iter().chain(before).min().unwrap()
        })
        .collect();
    nearest.sort_unstable();
    let median = nearest[nearest.len() / 2];
    assert!(
        (300_000..=700_000).contains(&median),
        "median distance {median} ns"
    );
}

#[test]
fn agent_task_json_and_refusals() {
    let json = r#"{"role":"probe","bind":"10.0.0.2:7471","peers":["10.0.1.2:7471"],
                   "duration_ms":5000,"start_unix_ns":1700000000000000000}"#;
    let task = AgentTask::from_json(json).unwrap();
    let AgentTask::Probe(cfg) = &task else {
        panic!("not a probe task: {task:?}");
    };
    assert_eq!(cfg.rate_pps, 1000);
    assert_eq!(cfg.bind.port(), workloads::PROBE_PORT);
    assert_eq!(AgentTask::from_json(&task.to_json()).unwrap(), task);
    assert_eq!(task.cpu(), None);

    // A start time in ms instead of ns is long past: a clear error, not a silent no-op.
    let addr = free_addrs(1)[0];
    let cfg = ProbeConfig {
        start_unix_ns: Some(now_unix_ns() / MS),
        ..ProbeConfig::new(addr, vec![], 100)
    };
    let e = match ProbeAgent::bind(&cfg) {
        Err(e) => e,
        Ok(_) => panic!("a start in ms was accepted"),
    };
    assert!(
        matches!(
            e,
            WorkloadError::InvalidConfig {
                what: "start_unix_ns",
                ..
            }
        ),
        "{e}"
    );
    // And before the `ready` line.
    let mut out = Vec::new();
    let e = run_agent(&AgentTask::Probe(cfg), &mut out)
        .unwrap_err()
        .to_string();
    assert!(e.contains("already past"), "{e}");
    assert!(out.is_empty());
    let e = run_agent(
        &AgentTask::Probe(ProbeConfig::new(
            "127.0.0.1:0".parse().unwrap(),
            vec![],
            100,
        )),
        &mut Vec::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("fixed port"), "{e}");
}
