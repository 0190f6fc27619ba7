//! The node agent protocol, from both ends: a real `cnbench agent --listen stdio` driven by
//! the harness's client, and each end facing a peer that misbehaves (another protocol
//! version, a dropped connection).

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{alive, cnbench};
use harness::host::Host;
use harness::remote::client::Connection;
use harness::remote::protocol::{
    read_frame, write_frame, Call, FromAgent, Hello, Reply, ToAgent, PROTOCOL_VERSION,
};
use harness::remote::server::{serve_session, NodeNamespace, SessionEnd, SessionOptions};
use harness::remote::AgentClient;
use harness::HarnessError;

/// `cnbench agent --listen stdio`, with its pipes.
fn agent_process() -> (Child, Box<dyn Read + Send>, Box<dyn Write + Send>) {
    let mut child = cnbench()
        .args(["agent", "--listen", "stdio"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cnbench agent starts");
    let r = Box::new(child.stdout.take().unwrap());
    let w = Box::new(child.stdin.take().unwrap());
    (child, r, w)
}

fn connect(node: &str) -> (Child, Arc<AgentClient>) {
    let (child, r, w) = agent_process();
    let client = AgentClient::connect(
        node,
        "the agent's stderr",
        Connection::pipes(r, w),
        Duration::from_secs(10),
    )
    .expect("session opens");
    (child, Arc::new(client))
}

/// The refusal a real agent answers `hello` with (any serializable first message); the
/// agent must then exit by itself.
fn refusal_of(hello: serde_json::Value) -> (u32, String) {
    let (mut child, mut r, mut w) = agent_process();
    write_frame(&mut *w, &hello).unwrap();
    let refused = match read_frame::<FromAgent>(&mut *r).unwrap() {
        Some(FromAgent::Refused {
            protocol, reason, ..
        }) => (protocol, reason),
        other => panic!("expected a refusal, got {other:?}"),
    };
    // The session is over: the stdio agent exits by itself.
    assert!(wait_exit(&mut child, Duration::from_secs(10)));
    refused
}

/// The error the harness gives when a fake agent answers its hello with `answer`.
fn error_from_fake_agent(answer: serde_json::Value) -> String {
    let (ours, theirs) = UnixStream::pair().unwrap();
    let fake = std::thread::spawn(move || {
        let mut s = theirs;
        let hello: ToAgent = read_frame(&mut s).unwrap().unwrap();
        assert!(matches!(hello, ToAgent::Hello(h) if h.protocol == PROTOCOL_VERSION));
        write_frame(&mut s, &answer).unwrap();
    });
    let e = AgentClient::connect(
        "cnb-x-n0",
        "its log",
        Connection::unix(ours).unwrap(),
        Duration::from_secs(5),
    )
    .unwrap_err()
    .to_string();
    fake.join().unwrap();
    e
}

/// A node name of this test process (`cnb-<what><pid>-n0`): the agent makes a namespace by
/// that name for the node, so two runs of the tests must not share one.
fn unique(what: &str) -> String {
    format!("cnb-{what}{}-n0", std::process::id() % 100000)
}

/// Deletes a namespace when dropped (a test's own, left by an agent it killed).
struct DeleteNetns(String);

impl Drop for DeleteNetns {
    fn drop(&mut self) {
        let _ = harness::netns::Netns::delete(&self.0);
    }
}

/// Has the agent make a namespace of the session.
fn make_netns(agent: &AgentClient, name: &str) {
    agent
        .call(
            Call::CreateNetns {
                name: name.to_string(),
                sysctls: vec![],
            },
            Duration::from_secs(10),
        )
        .expect("namespace made");
}

fn wait_exit(child: &mut Child, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn a_session_relays_netlink_namespaces_processes_and_probes() {
    let id = format!("ag{}", std::process::id() % 10000);
    let node = format!("cnb-{id}-n0");
    let pod = format!("cnb-{id}-n0p0");
    let (mut child, agent) = connect(&node);
    assert_eq!(agent.welcome().protocol, PROTOCOL_VERSION);
    make_netns(&agent, &pod);
    let host = Host::remote(&pod, Arc::clone(&agent));
    // Netlink through the agent: a veth inside the pod, its address, a dump.
    host.nl()
        .create_veth("a0", "b0", None, 1400)
        .expect("veth made");
    host.nl().set_up("lo").unwrap();
    let links = host.nl().links().unwrap();
    assert!(links.iter().any(|l| l.name == "a0" && l.mtu_bytes == 1400));
    // The kernel's refusal comes back as the same error a local socket gives.
    let again = host.nl().create_veth("a0", "b0", None, 1400).unwrap_err();
    assert!(
        matches!(&again, HarnessError::Netlink { source, .. } if source.raw_os_error() == Some(libc::EEXIST)),
        "{again}"
    );
    // A probe and a sysctl inside the pod.
    let echo = host.icmp_probe("127.0.0.1".parse().unwrap(), None, Duration::from_secs(2));
    assert!(echo.result.ok(), "{:?}", echo.result);
    assert_eq!(host.sysctl("net.ipv4.ip_forward").unwrap(), "0");
    // A process: its lines arrive, it is stopped on request.
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_cnbench"));
    let mut p = host
        .start(exe, &["--version".to_string()], false, "version")
        .expect("started");
    let line = p.next_line(Duration::from_secs(10)).expect("a line");
    assert!(line.starts_with("cnbench"), "{line}");
    // Its clock, read over the session: the agent is on this machine, so the offset is
    // within the reading's own round trip (and that is short).
    let clock = host.clock_offset().expect("clock read");
    assert!(clock.uncertainty_ns < 100_000_000, "{clock:?}");
    assert!(
        clock.offset_ns.unsigned_abs() <= clock.uncertainty_ns + 1_000_000,
        "{clock:?}"
    );
    // A namespace the session did not make is refused by name.
    let stranger = Host::remote("cnb-elsewhere-x", Arc::clone(&agent));
    let e = stranger.nl().links().unwrap_err().to_string();
    assert!(e.contains("neither this node"), "{e}");
    agent.shutdown(Duration::from_secs(10)).expect("shutdown");
    assert!(
        wait_exit(&mut child, Duration::from_secs(10)),
        "agent exits"
    );
    for ns in [&pod, &node] {
        assert!(
            !std::path::Path::new(&format!("/run/netns/{ns}")).exists(),
            "the agent deleted the namespace {ns} it made"
        );
    }
}

#[test]
fn the_agent_refuses_another_protocol_version_and_says_which() {
    let hello = ToAgent::Hello(Hello {
        protocol: PROTOCOL_VERSION + 1,
        cnbench: "9.9.9".into(),
        node: "cnb-x-n0".into(),
    });
    let (protocol, reason) = refusal_of(serde_json::to_value(hello).unwrap());
    assert_eq!(protocol, PROTOCOL_VERSION);
    assert!(
        reason.contains(&format!("protocol {}", PROTOCOL_VERSION + 1)),
        "{reason}"
    );
}

#[test]
fn the_harness_names_both_versions_when_an_agent_refuses() {
    // A fake agent of a newer protocol on the other end of a socket pair.
    let e = error_from_fake_agent(serde_json::json!({"refused": {
        "protocol": PROTOCOL_VERSION + 1,
        "cnbench": "9.9.9",
        "reason": "the harness speaks an older protocol",
    }}));
    assert!(e.contains("refused the session"), "{e}");
    assert!(
        e.contains(&format!("protocol {}", PROTOCOL_VERSION + 1)),
        "{e}"
    );
    assert!(e.contains("same cnbench build"), "{e}");
}

#[test]
fn the_harness_fails_clearly_when_the_agent_goes_away() {
    let node = unique("gone");
    // The agent is killed below, so it cannot delete the node's namespace it made.
    let _gone = DeleteNetns(node.clone());
    let (mut child, agent) = connect(&node);
    let host = Host::remote(&node, Arc::clone(&agent));
    assert!(host.nl().links().is_ok());
    // The node dies (kill by pid): every call after that is a clear error, none hangs.
    child.kill().unwrap();
    child.wait().unwrap();
    let start = Instant::now();
    let e = loop {
        match host.sysctl("net.ipv4.ip_forward") {
            Err(e) => break e.to_string(),
            Ok(_) if start.elapsed() < Duration::from_secs(5) => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Ok(_) => panic!("calls still succeed after the agent died"),
        }
    };
    assert!(e.contains(&format!("agent of {node}")), "{e}");
    assert!(
        e.contains("closed the connection") || e.contains("connection lost"),
        "{e}"
    );
    assert!(start.elapsed() < Duration::from_secs(5));
    let e = host.nl().links().unwrap_err().to_string();
    assert!(e.contains(&node), "{e}");
}

#[test]
fn the_agent_stops_everything_when_the_harness_goes_away() {
    let id = format!("dr{}", std::process::id() % 10000);
    let node = format!("cnb-{id}-n0");
    let pod = format!("cnb-{id}-n0p0");
    let (mut child, r, w) = agent_process();
    let agent = Arc::new(
        AgentClient::connect(
            &node,
            "stderr",
            Connection::pipes(r, w),
            Duration::from_secs(10),
        )
        .unwrap(),
    );
    make_netns(&agent, &pod);
    let spawned = agent
        .spawn(&pod, vec!["sleep".into(), "300".into()], false, "sleeper")
        .unwrap();
    let pid = spawned.pid();
    assert!(alive(pid));
    // The harness dies without a word: its end of the connection closes.
    drop(spawned);
    drop(agent);
    assert!(
        wait_exit(&mut child, Duration::from_secs(10)),
        "the agent ends its session"
    );
    assert!(!alive(pid), "the agent killed what the session started");
    for ns in [&pod, &node] {
        assert!(
            !std::path::Path::new(&format!("/run/netns/{ns}")).exists(),
            "the agent deleted the session's namespace {ns}"
        );
    }
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(err.contains("stopping what it started"), "{err}");
}

#[test]
fn a_spawn_reply_precedes_the_process_output() {
    // A process that prints at once: its first line must reach the harness (the reply that
    // registers it goes out first).
    let node = unique("ord");
    let (mut child, agent) = connect(&node);
    for _ in 0..20 {
        let mut p = agent
            .spawn(&node, vec!["echo".into(), "first".into()], false, "echo")
            .unwrap();
        match p.next_line(Duration::from_secs(5)).unwrap() {
            harness::remote::client::Next::Line(l) => assert_eq!(l, "first"),
            other => panic!("lost the first line: {other:?}"),
        }
    }
    match agent.call(Call::Shutdown, Duration::from_secs(5)) {
        Ok(Reply::Done) | Err(_) => {}
        Ok(other) => panic!("{other:?}"),
    }
    assert!(wait_exit(&mut child, Duration::from_secs(10)));
}

#[test]
fn dropping_the_client_ends_a_socket_session_on_the_agent() {
    // The agent's end in this process, on one side of a socket pair (as a VM's control
    // socket is): a socket's read and write halves share one fd, so the client must close
    // it, not just drop its writer.
    let (ours, theirs) = UnixStream::pair().unwrap();
    let exe = std::path::PathBuf::from(env!("CARGO_BIN_EXE_cnbench"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let end = serve_session(
            theirs.try_clone().unwrap().into(),
            theirs.into(),
            &exe,
            NodeNamespace::Made,
            &SessionOptions::default(),
        );
        let _ = tx.send(end);
    });
    let agent = AgentClient::connect(
        &unique("sock"),
        "this test",
        Connection::unix(ours).unwrap(),
        Duration::from_secs(10),
    )
    .unwrap();
    assert!(agent.welcome().link_kinds.contains(&"veth".to_string()));
    drop(agent);
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(SessionEnd::Dropped(why)) => assert!(why.contains("closed"), "{why}"),
        other => panic!("the agent did not see the harness go: {other:?}"),
    }
}

#[test]
fn a_namespace_named_by_a_harness_fd_is_refused() {
    // An fd number of the harness means nothing on the agent's machine (and a pid could
    // name the agent machine's own namespace): only a namespace named by name is accepted.
    let node = unique("fd");
    let (mut child, agent) = connect(&node);
    let host = Host::remote(&node, Arc::clone(&agent));
    let here = std::fs::File::open("/proc/self/ns/net").unwrap();
    use std::os::fd::AsFd;
    let e = host
        .nl()
        .create_veth(
            "x0",
            "y0",
            Some(harness::netlink::PeerNetns::Fd(here.as_fd())),
            1500,
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("name it by peer_netns"), "{e}");
    agent.shutdown(Duration::from_secs(10)).unwrap();
    assert!(wait_exit(&mut child, Duration::from_secs(10)));
}

#[test]
fn a_hello_of_another_shape_is_still_refused_by_its_version() {
    // A future harness whose hello has other fields: the agent reads the versions first.
    let (_, reason) = refusal_of(serde_json::json!(
        {"hello": {"protocol": 7, "cnbench": "7.0.0", "token": "x"}}
    ));
    assert!(reason.contains("protocol 7"), "{reason}");
}

#[test]
fn a_welcome_of_another_shape_is_named_by_its_version() {
    // A future agent that does not refuse but welcomes in its own, different shape.
    let e = error_from_fake_agent(serde_json::json!(
        {"welcome": {"protocol": 7, "cnbench": "7.0.0"}}
    ));
    assert!(e.contains("cnbench 7.0.0, protocol 7"), "{e}");
    assert!(e.contains(&format!("protocol {PROTOCOL_VERSION}")), "{e}");
}

#[test]
fn a_stop_ends_what_the_process_started_too() {
    let id = format!("gr{}", std::process::id() % 10000);
    let node = format!("cnb-{id}-n0");
    let pod = format!("cnb-{id}-n0p0");
    let (mut child, agent) = connect(&node);
    make_netns(&agent, &pod);
    // A shell that starts a grandchild, says its pid, and waits.
    let script = "sleep 300 & echo $!; wait".to_string();
    let mut p = agent
        .spawn(&pod, vec!["sh".into(), "-c".into(), script], false, "shell")
        .unwrap();
    let grandchild: u32 = match p.next_line(Duration::from_secs(10)).unwrap() {
        harness::remote::client::Next::Line(l) => l.trim().parse().unwrap(),
        other => panic!("{other:?}"),
    };
    assert!(alive(grandchild));
    p.stop(Duration::from_millis(500)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(grandchild) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !alive(grandchild),
        "the grandchild went with its parent's group"
    );
    agent.shutdown(Duration::from_secs(10)).unwrap();
    assert!(wait_exit(&mut child, Duration::from_secs(10)));
}

#[test]
fn the_agent_touches_only_its_sessions_networking() {
    let node = unique("lim");
    let (mut child, agent) = connect(&node);
    let call = |c: Call| match agent.call(c, Duration::from_secs(10)) {
        Ok(r) => panic!("accepted: {r:?}"),
        Err(e) => e.to_string(),
    };
    // A name that would leave /run/netns.
    let e = call(Call::CreateNetns {
        name: "cnb-/../../etc/x".into(),
        sysctls: vec![],
    });
    assert!(e.contains("only namespaces named cnb-"), "{e}");
    // A machine-wide sysctl, directly or with a new namespace.
    let e = call(Call::SetSysctls {
        netns: node.clone(),
        pairs: vec![("kernel.core_pattern".into(), "x".into())],
    });
    assert!(e.contains("net.* keys only"), "{e}");
    let e = call(Call::CreateNetns {
        name: format!("{node}p0"),
        sysctls: vec![("vm.swappiness".into(), "1".into())],
    });
    assert!(e.contains("net.* keys only"), "{e}");
    // A file outside the run directories.
    let e = call(Call::WriteFile {
        path: "/etc/cnbench-test".into(),
        contents: "x".into(),
    });
    assert!(e.contains("only under /run/cnbench/<run>/"), "{e}");
    assert!(!std::path::Path::new("/etc/cnbench-test").exists());
    agent.shutdown(Duration::from_secs(10)).unwrap();
    assert!(wait_exit(&mut child, Duration::from_secs(10)));
}

/// How many fds process `pid` has open.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn processes_that_end_by_themselves_leave_the_session_and_close_their_stdin() {
    let node = unique("end");
    let (mut child, agent) = connect(&node);
    let agent_pid = child.id();
    let baseline = open_fds(agent_pid);
    let short = || {
        agent
            .spawn(&node, vec!["true".into()], true, "short")
            .expect("started")
    };
    // Each has a stdin pipe the agent holds while the process is in its table.
    for _ in 0..10 {
        let mut p = short();
        let deadline = Instant::now() + Duration::from_secs(10);
        while p.next_line(Duration::from_millis(100)).unwrap()
            != harness::remote::client::Next::Ended
        {
            assert!(Instant::now() < deadline, "the process did not end");
        }
    }
    // Its entry goes right after its Exited frame: give the output threads a moment.
    let deadline = Instant::now() + Duration::from_secs(3);
    while open_fds(agent_pid) > baseline && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        open_fds(agent_pid) <= baseline,
        "the agent still holds {} fds more than before ten processes that ended by themselves",
        open_fds(agent_pid) - baseline
    );
    // One that ended without the harness reading its end: a write to it is refused by name,
    // a stop still answers how it ended.
    let mut p = short();
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(p.pid()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let e = p.write_stdin("x\n").unwrap_err().to_string();
    assert!(e.contains("has exited"), "{e}");
    let exit = p
        .stop(Duration::from_millis(100))
        .expect("a stop after its end");
    assert_eq!(exit.code, Some(0));
    agent.shutdown(Duration::from_secs(10)).unwrap();
    assert!(wait_exit(&mut child, Duration::from_secs(10)));
}

/// How the in-process session ended, within `limit`; otherwise the harness's end is closed
/// (so what the session made goes before the test fails) and the test fails with `why`.
fn session_end(
    rx: &std::sync::mpsc::Receiver<SessionEnd>,
    harness: UnixStream,
    limit: Duration,
    why: &str,
) -> (SessionEnd, UnixStream) {
    match rx.recv_timeout(limit) {
        Ok(end) => (end, harness),
        Err(_) => {
            drop(harness);
            let _ = rx.recv_timeout(Duration::from_secs(10));
            panic!("{why}");
        }
    }
}

/// The agent's end of a session in this process (on a socket pair, with `options`), opened
/// for node `node`: the harness's end after the welcome, and how the session ended, once it
/// has.
fn in_process_session(
    node: &str,
    options: SessionOptions,
) -> (UnixStream, std::sync::mpsc::Receiver<SessionEnd>) {
    let (mut ours, theirs) = UnixStream::pair().unwrap();
    let exe = std::path::PathBuf::from(env!("CARGO_BIN_EXE_cnbench"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let end = serve_session(
            theirs.try_clone().unwrap().into(),
            theirs.into(),
            &exe,
            NodeNamespace::Made,
            &options,
        );
        let _ = tx.send(end);
    });
    let hello = ToAgent::Hello(Hello {
        protocol: PROTOCOL_VERSION,
        cnbench: env!("CARGO_PKG_VERSION").into(),
        node: node.to_string(),
    });
    write_frame(&mut ours, &hello).unwrap();
    match read_frame::<FromAgent>(&mut ours).unwrap() {
        Some(FromAgent::Welcome(_)) => {}
        other => panic!("{other:?}"),
    }
    (ours, rx)
}

#[test]
fn a_harness_that_stops_reading_ends_its_session_within_the_write_timeout() {
    // The agent's end in this process, with a short write timeout; the harness's end says
    // hello, starts a process that prints without end, and then never reads again.
    let node = unique("wedge");
    let timeout = Duration::from_secs(1);
    let (mut harness, rx) = in_process_session(
        &node,
        SessionOptions {
            write_timeout: timeout,
            ..SessionOptions::default()
        },
    );
    let spawn = ToAgent::Call {
        id: 1,
        call: Call::Spawn {
            netns: node.clone(),
            argv: vec!["yes".into()],
            stdin: false,
            what: "yes".into(),
        },
    };
    write_frame(&mut harness, &spawn).unwrap();
    let pid = match read_frame::<FromAgent>(&mut harness).unwrap() {
        Some(FromAgent::Reply {
            id: 1,
            result: Ok(Reply::Spawned { pid, .. }),
        }) => pid,
        other => panic!("{other:?}"),
    };
    // From here on the harness reads nothing (and keeps its end open).
    let start = Instant::now();
    let (end, mut harness) = session_end(
        &rx,
        harness,
        timeout + Duration::from_secs(10),
        "the session did not end while its harness did not read",
    );
    match &end {
        SessionEnd::Wedged(why) => assert!(why.contains("write timeout"), "{why}"),
        other => panic!("ended as {other:?}"),
    }
    assert!(start.elapsed() < timeout + Duration::from_secs(5));
    assert!(!alive(pid), "the session stopped the process it started");
    assert!(
        !std::path::Path::new(&format!("/run/netns/{node}")).exists(),
        "the session deleted its namespace"
    );
    // The socket was shut down: what was queued, then the end of the stream.
    harness
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut rest = Vec::new();
    harness
        .read_to_end(&mut rest)
        .expect("the agent's end of the socket is shut down");
}

/// A harness cut off by the network sends nothing more, not even its keepalive, and keeps
/// its end open: the agent takes the session as cut after its idle timeout and cleans up.
#[test]
fn a_harness_that_goes_silent_ends_its_session_after_the_idle_timeout() {
    let node = unique("silent");
    let idle = Duration::from_secs(1);
    let (harness, rx) = in_process_session(
        &node,
        SessionOptions {
            idle_timeout: Some(idle),
            ..SessionOptions::default()
        },
    );
    assert!(std::path::Path::new(&format!("/run/netns/{node}")).exists());
    let start = Instant::now();
    let (end, harness) = session_end(
        &rx,
        harness,
        idle + Duration::from_secs(10),
        "the session outlived its idle timeout",
    );
    match &end {
        SessionEnd::Dropped(why) => assert!(why.contains("sent nothing"), "{why}"),
        other => panic!("ended as {other:?}"),
    }
    assert!(start.elapsed() >= idle, "{:?}", start.elapsed());
    assert!(
        !std::path::Path::new(&format!("/run/netns/{node}")).exists(),
        "the session deleted its namespace"
    );
    drop(harness);
}

/// The harness's keepalive holds a session open past the agent's idle timeout.
#[test]
fn the_harness_keepalive_holds_an_idle_session_open() {
    let mut child = cnbench()
        // Just longer than one keepalive interval: without the keepalive the session would
        // end a second after it.
        .args(["agent", "--listen", "stdio", "--idle-timeout", "11"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let r = Box::new(child.stdout.take().unwrap());
    let w = Box::new(child.stdin.take().unwrap());
    let node = unique("kept");
    let agent = AgentClient::connect(
        &node,
        "the agent's stderr",
        Connection::pipes(r, w),
        Duration::from_secs(10),
    )
    .unwrap();
    // Longer than the idle timeout with no call of ours: only the keepalive speaks.
    std::thread::sleep(harness::remote::client::KEEPALIVE + Duration::from_secs(4));
    assert!(agent.dead().is_none(), "{:?}", agent.dead());
    assert!(agent.call(Call::Clock, Duration::from_secs(5)).is_ok());
    agent.shutdown(Duration::from_secs(10)).unwrap();
    assert!(wait_exit(&mut child, Duration::from_secs(10)));
}

/// The pids of the processes a process's threads started (as this machine sees them).
fn children_of(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
    {
        let path = task.unwrap().path().join("children");
        let text = std::fs::read_to_string(path).unwrap_or_default();
        found.extend(
            text.split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok()),
        );
    }
    found
}

/// Zombies whose parent is one of `parents`.
fn zombies_of(parents: &[u32]) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // After the command's closing parenthesis: state, then the parent's pid.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next();
        let ppid = fields.next().and_then(|p| p.parse::<u32>().ok());
        if state == Some("Z") && ppid.is_some_and(|p| parents.contains(&p)) {
            found.push(pid);
        }
    }
    found
}

#[test]
fn as_pid_1_the_agent_reaps_the_orphans_handed_to_it() {
    // The agent as the first process of a PID namespace, as it is a VM's init.
    let node = unique("init");
    let mut unshare = std::process::Command::new("unshare")
        .args(["--pid", "--fork"])
        .arg(env!("CARGO_BIN_EXE_cnbench"))
        .args(["agent", "--listen", "stdio"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("unshare starts");
    let r = Box::new(unshare.stdout.take().unwrap());
    let w = Box::new(unshare.stdin.take().unwrap());
    let agent = Arc::new(
        AgentClient::connect(
            &node,
            "its stderr",
            Connection::pipes(r, w),
            Duration::from_secs(10),
        )
        .expect("session opens"),
    );
    // The namespace's PID 1 and its children (the agent, once it forks), as seen here.
    let init = children_of(unshare.id());
    assert_eq!(init.len(), 1, "unshare's children: {init:?}");
    let mut parents = init.clone();
    parents.extend(children_of(init[0]));
    // Shells whose background subshell outlives them: each one's `sleep` is orphaned to
    // the namespace's PID 1 and ends there 0.5 s later.
    for _ in 0..5 {
        let mut p = agent
            .spawn(
                &node,
                vec![
                    "sh".into(),
                    "-c".into(),
                    "(sleep 0.5 </dev/null >/dev/null 2>&1 &); exit 0".into(),
                ],
                false,
                "orphaner",
            )
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while p.next_line(Duration::from_millis(100)).unwrap()
            != harness::remote::client::Next::Ended
        {
            assert!(Instant::now() < deadline, "the shell did not end");
        }
    }
    // The sleeps are PID 1's now (with the agent, if it forked).
    let orphans = children_of(init[0]).len();
    // Every sleep has ended by then; each must be reaped.
    std::thread::sleep(Duration::from_secs(1));
    let deadline = Instant::now() + Duration::from_secs(2);
    while !zombies_of(&parents).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let zombies = zombies_of(&parents);
    // The session still answers.
    let clock = agent.call(Call::Clock, Duration::from_secs(10));
    let shut = agent.shutdown(Duration::from_secs(10));
    let exited = wait_exit(&mut unshare, Duration::from_secs(10));
    if !exited {
        let _ = unshare.kill();
        let _ = unshare.wait();
    }
    assert!(orphans >= 2, "no orphan reached PID 1 ({orphans} children)");
    assert!(zombies.is_empty(), "zombies left under PID 1: {zombies:?}");
    assert!(matches!(clock, Ok(Reply::Clock { .. })), "{clock:?}");
    shut.expect("shutdown");
    assert!(
        exited,
        "the agent, and its PID 1, exit when the session ends"
    );
    assert!(unshare.wait().unwrap().success());
    assert!(
        !std::path::Path::new(&format!("/run/netns/{node}")).exists(),
        "the agent deleted its namespace"
    );
}

#[test]
fn costs_of_roles_on_the_agents_machine_are_measured_by_the_agent() {
    use harness::cost::{CostScope, CostSession, RoleSpec};
    let id = format!("co{}", std::process::id() % 10000);
    let node = format!("cnb-{id}-n0");
    let (cpod, spod) = (format!("cnb-{id}-n0c"), format!("cnb-{id}-n0s"));
    let (mut child, agent) = connect(&node);
    make_netns(&agent, &cpod);
    make_netns(&agent, &spod);
    let mut hosts = std::collections::BTreeMap::new();
    for ns in [&node, &cpod, &spod] {
        hosts.insert(ns.clone(), Host::remote(ns, Arc::clone(&agent)));
    }
    // A wire between the two pods: eth0 on each side.
    let (c, s) = (&hosts[&cpod], &hosts[&spod]);
    c.nl()
        .create_veth("eth0", "eth0", Some(s.as_peer()), 1500)
        .expect("veth made");
    for (h, addr) in [(c, "10.77.0.1/24"), (s, "10.77.0.2/24")] {
        h.nl()
            .add_address("eth0", addr.parse::<ipnet::IpNet>().unwrap())
            .unwrap();
        h.nl().set_up("eth0").unwrap();
        h.nl().set_up("lo").unwrap();
    }
    // The server burns CPU in syscalls; the client sends UDP datagrams to it.
    let argv = |cmd: &str| vec!["sh".to_string(), "-c".to_string(), cmd.to_string()];
    let mut server = agent
        .spawn(&spod, argv("exec yes > /dev/null"), false, "busy server")
        .unwrap();
    let scope = CostScope {
        client_netns: cpod.clone(),
        client_node_netns: node.clone(),
        server_netns: spod.clone(),
        server_node_netns: node.clone(),
        devices: vec![(cpod.clone(), "eth0".into()), (spod.clone(), "eth0".into())],
        untraced_endpoints: None,
        client_mtu: Some(1500),
    };
    let running = [RoleSpec {
        role: "server".into(),
        netns: spod.clone(),
        dev: Some("eth0".into()),
        pid: server.pid(),
    }];
    let mut cost = CostSession::start(&hosts, &scope, &running, true);
    let mut client = agent
        .spawn(
            &cpod,
            vec![
                "bash".into(),
                "-c".into(),
                "exec 3>/dev/udp/10.77.0.2/9; while :; do echo x >&3 2>/dev/null; done".into(),
            ],
            false,
            "udp client",
        )
        .unwrap();
    cost.watch_client(client.pid());
    std::thread::sleep(Duration::from_millis(700));
    cost.stop_client(client.pid());
    client.stop(Duration::from_millis(500)).unwrap();
    let sample = cost.finish();
    server.stop(Duration::from_millis(500)).unwrap();
    eprintln!("{}", serde_json::to_string_pretty(&sample).unwrap());
    assert!(sample.traced);
    let role = |name: &str| {
        sample
            .roles
            .iter()
            .find(|r| r.role == name)
            .unwrap_or_else(|| panic!("no {name} in {:?}", sample.roles))
    };
    for name in ["client", "server"] {
        let r = role(name);
        assert!(r.cpu_ns.unwrap() > 0, "{r:?}");
        assert!(r.syscalls.unwrap() > 0, "{r:?}");
        assert!(r.packets > 0, "{r:?}");
        assert!(r.cpu_s_per_mpacket.is_some(), "{r:?}");
    }
    assert!(role("client").crossings_per_packet.unwrap() > 0.0);
    assert_eq!(sample.roles[0].role, "client");
    // The agent's machine, measured there.
    assert_eq!(sample.machines.len(), 1, "{:?}", sample.machines);
    let m = &sample.machines[0];
    assert_eq!(m.node, node);
    assert!(m.machine.as_ref().unwrap().busy_ns > 0, "{m:?}");
    assert!(m.device_xmits.unwrap() > 0, "{m:?}");
    assert!(sample.device_xmits.unwrap() >= m.device_xmits.unwrap());
    assert!(sample.syscalls_unavailable.is_none(), "{sample:?}");
    // A pid outside the session's namespaces is not read: its figures say why.
    let started = agent
        .call(
            Call::CostStart {
                roles: vec![RoleSpec {
                    role: "intruder".into(),
                    netns: spod.clone(),
                    dev: Some("eth0".into()),
                    pid: std::process::id(),
                }],
                devices: vec![],
                traced: false,
                untraced_endpoints: None,
            },
            Duration::from_secs(10),
        )
        .unwrap();
    let Reply::CostStarted { cost_id } = started else {
        panic!("{started:?}")
    };
    let reading = agent
        .call(Call::CostEnd { cost_id }, Duration::from_secs(10))
        .unwrap();
    let Reply::Cost(reading) = reading else {
        panic!("{reading:?}")
    };
    let r = &reading.roles[0];
    assert_eq!(r.cpu_ns, None, "{r:?}");
    let e = r.syscalls.clone().unwrap_err();
    assert!(e.contains("is not a process in namespace"), "{e}");
    assert!(r.packets.is_err(), "{r:?}");
    drop(hosts);
    agent.shutdown(Duration::from_secs(10)).unwrap();
    assert!(wait_exit(&mut child, Duration::from_secs(10)));
    assert!(common::namespaces_of(&id).is_empty());
}
