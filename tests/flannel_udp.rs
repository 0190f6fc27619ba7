//! End-to-end runs of the flannel-udp backend through the `cnbench` binary, as root: the
//! faithful datapath on l2 and l3, the batched and offload ones on l2, offload against
//! faithful and batched peers (`--peer-datapath`), a capture showing that offload's GSO
//! trains leave as path-MTU datagrams, and a standing topology driven by
//! `up`/`check`/`measure`/`down`. Every check passes (the daemon-restart check included), the
//! JSON result parses and says the measurements were of a userspace datapath, and nothing of
//! the run is left: no namespace, no state, no daemon process (by the pids the run recorded).
//! Throughput is far below the kernel backends' (every packet crosses a userspace daemon on
//! each node); the assertions only ask that it is plausible.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{alive, code, namespaces_of, run, text, Cleanup, Running};

use common::SHORT;

/// Daemon pids recorded in a run's state file.
fn recorded_daemons(id: &str) -> Vec<u32> {
    let path = format!("/run/cnbench/{id}/state.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let state: serde_json::Value = serde_json::from_str(&text).expect("state parses");
    state["daemons"]
        .as_array()
        .expect("daemons recorded")
        .iter()
        .map(|d| d[2].as_u64().expect("pid") as u32)
        .collect()
}

/// The pid the daemon-restart check started (`... new pid N, ...`).
fn restarted_pid(r: &reports::RunResult) -> u32 {
    let c = r
        .checks
        .iter()
        .find(|c| c.check == "daemon-restart" && c.subject.contains("restarted"))
        .expect("a daemon-restart record for the restart");
    c.actual
        .split("new pid ")
        .nth(1)
        .and_then(|s| s.split([',', ')']).next())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no pid in {:?}", c.actual))
}

fn assert_checks_pass(r: &reports::RunResult) {
    common::assert_checks_passed(r);
    for kind in ["routes", "mtu", "reachability", "fdb", "daemon-restart"] {
        assert!(r.checks.iter().any(|c| c.check == kind), "no {kind} check");
    }
    // Both halves: no answer with the daemon stopped, an answer after its restart.
    assert_eq!(
        r.checks
            .iter()
            .filter(|c| c.check == "daemon-restart")
            .count(),
        2
    );
    let route = r
        .checks
        .iter()
        .find(|c| c.check == "routes" && c.expected.contains("flannel0"));
    assert!(route.is_some(), "no route check mentions flannel0");
}

/// The median throughput of the run's cross-node tcp-stream, in bit/s.
fn cross_node_stream_bps(r: &reports::RunResult) -> f64 {
    let cross = r
        .measurements
        .iter()
        .find(|m| m.workload == "tcp-stream" && m.path == "cross-node")
        .expect("a cross-node tcp-stream");
    cross.summary_of("throughput_bps").unwrap().median
}

fn assert_userspace_measurements(r: &reports::RunResult) {
    common::assert_full_measurement(r, "cross-node");
    common::assert_full_measurement(r, "same-node");
    common::assert_userspace_datapath(r);
    assert!(r.measurements.iter().all(|m| m.repetitions.len() == 1));
    let bps = cross_node_stream_bps(r);
    assert!(bps > 1e6, "implausible cross-node throughput {bps}");
    let rr = r
        .measurements
        .iter()
        .find(|m| m.workload == "tcp-rr" && m.path == "cross-node")
        .expect("a cross-node tcp-rr");
    let p50 = rr.summary_of("rtt_p50_ns").unwrap().median;
    assert!(p50 > 1e3 && p50 < 1e8, "implausible p50 {p50}");
}

/// `cnbench run --backend flannel-udp <extra>`: reads the daemons' pids from the state while
/// the run is checking, then asserts everything and that those daemons (and the one the
/// restart check started) are gone.
fn run_flannel(extra: &[&str]) -> reports::RunResult {
    let r = run_flannel_checked(extra);
    assert_userspace_measurements(&r);
    r
}

/// [`run_flannel`] without asking for the full workload set: for runs that pass
/// `--workloads` (and `--no-baseline`) to measure only what they assert on.
fn run_flannel_checked(extra: &[&str]) -> reports::RunResult {
    let json = std::env::temp_dir().join(format!(
        "cnbench-test-flannel-udp-{}-{}.json",
        extra.join("-"),
        std::process::id()
    ));
    let mut args = vec![
        "run",
        "--backend",
        "flannel-udp",
        "--json",
        json.to_str().unwrap(),
    ];
    args.extend_from_slice(SHORT);
    args.extend_from_slice(extra);
    let mut child = Running::start(&args);
    let first = child.wait_for("cnbench run ", Duration::from_secs(30));
    let id = common::run_id_of(&first);
    let _guard = Cleanup(vec![id.clone()]);
    // Setup is over once checking begins: both daemons are in the state.
    child.wait_for("== checking", Duration::from_secs(30));
    let mut pids = recorded_daemons(&id);
    assert_eq!(pids.len(), 2, "one daemon per node");
    let rc = child.wait(Duration::from_secs(180));
    let r = reports::read_result(&json).expect("result file parses with this schema");
    let _ = std::fs::remove_file(&json);
    let failed: Vec<String> = r
        .checks
        .iter()
        .filter(|c| c.outcome != reports::CheckOutcome::Pass)
        .map(|c| {
            format!(
                "{} {}: expected {}, got {}",
                c.check, c.subject, c.expected, c.actual
            )
        })
        .collect();
    assert_eq!(
        rc,
        Some(0),
        "failed checks: {failed:#?}\n{}",
        child.seen.join("\n")
    );
    assert_eq!(r.parameters.backend, "flannel-udp");
    assert_eq!(r.outcome, reports::Outcome::Passed);
    assert_checks_pass(&r);
    pids.push(restarted_pid(&r));
    assert!(
        namespaces_of(&id).is_empty(),
        "left {:?}",
        namespaces_of(&id)
    );
    assert!(
        !Path::new(&format!("/run/cnbench/{id}")).exists(),
        "state dir left"
    );
    let left: Vec<u32> = pids.into_iter().filter(|p| alive(*p)).collect();
    assert!(left.is_empty(), "daemons still running: {left:?}");
    r
}

#[test]
fn faithful_on_l2_passes_every_check_and_leaves_no_daemon() {
    let r = run_flannel(&[]);
    // The article's addressing: a /24 of 100.96.0.0/16 per node, cni0 at .1, flannel0 with
    // no address, 28 bytes under the underlay MTU.
    let n0 = r
        .topology
        .iter()
        .find(|n| n.role == "node" && n.name.ends_with("-n0"))
        .unwrap();
    let cni0 = n0.devices.iter().find(|d| d.name == "cni0").unwrap();
    assert_eq!(cni0.addresses, ["100.96.0.1/24"]);
    let tun = n0.devices.iter().find(|d| d.name == "flannel0").unwrap();
    assert_eq!((tun.kind.as_str(), tun.mtu_bytes), ("tun", 1472));

    // The article's claim, measured: one packet at a time costs three user/kernel crossings
    // on the sending node (the client's write, the daemon's read from flannel0 and its send
    // on the UDP socket).
    for workload in ["tcp-rr", "udp-rr"] {
        let c = cross_node_cost(&r, workload, None);
        let x = c.sending_node_crossings_per_packet.unwrap();
        assert!((2.9..=3.1).contains(&x), "{workload}: {x} crossings/packet");
    }
    // One packet per poll: poll, read, send.
    let d = daemon_syscalls_per_packet(&r);
    assert!(d >= 2.5, "faithful daemon: {d} syscalls/packet");
}

/// The cost of the first repetition of a cross-node measurement.
fn cross_node_cost<'a>(
    r: &'a reports::RunResult,
    workload: &str,
    variant: Option<&str>,
) -> &'a reports::CostSample {
    let m = r
        .measurements
        .iter()
        .find(|m| {
            m.path == "cross-node" && m.workload == workload && m.variant.as_deref() == variant
        })
        .unwrap_or_else(|| panic!("no cross-node {workload}"));
    &m.traced.as_ref().expect("a traced repetition").cost
}

/// Syscalls per packet of the sending node's daemon during udp-stream with 64-byte payloads.
fn daemon_syscalls_per_packet(r: &reports::RunResult) -> f64 {
    let c = cross_node_cost(r, "udp-stream", Some("64 B"));
    let daemon = c
        .roles
        .iter()
        .find(|x| x.role.contains("daemon") && x.role.ends_with("n0"))
        .expect("the daemon of the client's node is costed");
    daemon.syscalls_per_packet.expect("daemon syscalls counted")
}

#[test]
fn faithful_on_l3_passes_every_check_and_leaves_no_daemon() {
    let r = run_flannel(&["--underlay", "l3"]);
    assert_eq!(r.parameters.underlay, "l3");
}

#[test]
fn batched_on_l2_passes_every_check_and_leaves_no_daemon() {
    let r = run_flannel(&["--datapath", "batched"]);
    // recvmmsg/sendmmsg move many packets per syscall when packets queue up: fewer syscalls
    // per packet than the faithful datapath's three.
    let d = daemon_syscalls_per_packet(&r);
    assert!(d < 2.0, "batched daemon: {d} syscalls/packet");
}

#[test]
fn an_unknown_datapath_is_refused_in_one_line() {
    let o = run(&["run", "--backend", "flannel-udp", "--datapath", "xdp"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("faithful") && err.contains("batched"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_standing_topology_survives_the_restart_check_and_goes_down_clean() {
    let o = run(&["up", "--backend", "flannel-udp", "--datapath", "batched"]);
    let id = common::run_id_of(&String::from_utf8_lossy(&o.stdout));
    let _guard = Cleanup(vec![id.clone()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let mut pids = recorded_daemons(&id);
    // `check` stops node 0's daemon and starts a new one that outlives the command (its
    // stderr goes to the run's log, so capturing cnbench's output does not wait for it).
    let json =
        std::env::temp_dir().join(format!("cnbench-test-fu-check-{}.json", std::process::id()));
    let o = run(&["check", &id, "--json", json.to_str().unwrap()]);
    let out = text(&o);
    assert_eq!(code(&o), 0, "{out}");
    assert!(out.contains("daemon-restart"), "{out}");
    let after = recorded_daemons(&id);
    assert_eq!(after.len(), 2);
    assert!(
        after.iter().all(|p| alive(*p)),
        "recorded daemons {after:?} not all alive"
    );
    pids.extend(after);
    let _ = std::fs::remove_file(&json);
    let o = run(&[
        "measure",
        &id,
        "--workloads",
        "tcp-rr",
        "--duration",
        "0.3",
        "--warmup",
        "0.1",
        "--repeat",
        "1",
    ]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = run(&["down", &id]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        namespaces_of(&id).is_empty(),
        "left {:?}",
        namespaces_of(&id)
    );
    let left: Vec<u32> = pids.into_iter().filter(|p| alive(*p)).collect();
    assert!(left.is_empty(), "daemons still running: {left:?}");
}

#[test]
fn offload_on_l2_passes_every_check_with_under_one_crossing_per_wire_segment() {
    let r = run_flannel_checked(&[
        "--datapath",
        "offload",
        "--workloads",
        "tcp-stream,tcp-rr",
        "--no-baseline",
    ]);
    assert_eq!(r.parameters.datapath.as_deref(), Some("offload"));
    common::assert_userspace_datapath(&r);
    // A stream reaches the daemon as TUN super-packets: one read and one sendmmsg move tens
    // of wire segments, so the sending node makes well under one crossing per segment (the
    // faithful datapath makes three per packet, and every packet is a segment there). Its
    // crossings per `eth0` packet stay near two: `eth0` packets are GSO super-packets too,
    // and the daemon's one read and one send per super-packet is the floor.
    let c = cross_node_cost(&r, "tcp-stream", None);
    let per_segment = c.sending_node_crossings_per_segment.unwrap();
    assert!(
        per_segment < 1.0,
        "offload tcp-stream: {per_segment} crossings per wire segment on the sending node \
         ({:?} per eth0 packet)",
        c.sending_node_crossings_per_packet
    );
}

/// A run with node 0 on `datapath` and node 1 on `peer`, tcp-stream only: every check passes
/// (reachability both ways, encapsulation, PMTU, the restart check), the stream from n0 to
/// n1 flows, and no daemon is left.
fn run_mixed(datapath: &str, peer: &str) {
    let r = run_flannel_checked(&[
        "--datapath",
        datapath,
        "--peer-datapath",
        peer,
        "--workloads",
        "tcp-stream",
        "--no-baseline",
    ]);
    for kind in ["encap", "pmtu"] {
        assert!(r.checks.iter().any(|c| c.check == kind), "no {kind} check");
    }
    assert_eq!(
        r.parameters
            .backend_options
            .get("peer-datapath")
            .map(String::as_str),
        Some(peer)
    );
    let bps = cross_node_stream_bps(&r);
    assert!(
        bps > 1e6,
        "{datapath} -> {peer}: implausible throughput {bps}"
    );
}

#[test]
fn offload_interoperates_with_faithful_and_batched_peers() {
    // An offload sender's UDP GSO trains reach a faithful receiver cut into datagrams by the
    // kernel (no UDP GRO on its socket); a batched sender's single datagrams reach an offload
    // receiver, whose GRO coalesces them into the TUN.
    run_mixed("offload", "faithful");
    run_mixed("batched", "offload");
}

/// What the capture on n0's switch port saw of the daemons' datagrams during a stream.
#[derive(Debug, Default)]
struct GsoSeen {
    /// UDP datagrams (or GSO trains) from n0's daemon.
    frames: usize,
    /// Of those, GSO trains larger than one path-MTU datagram.
    trains: usize,
    /// Largest train's UDP payload.
    largest: usize,
    /// Segment sizes seen on trains.
    segments: std::collections::BTreeSet<usize>,
    /// What would have left as an oversized datagram, or a segment that is not a whole inner
    /// packet.
    bad: Vec<String>,
}

/// Captures with PACKET_VNET_HDR on `dev` of `netns` until `stop`, and checks every UDP
/// datagram to `port` against `seg_max` (the TUN MTU). With UDP GSO the skb crosses veth and
/// bridge as one train, so a capture there sees up to 64 KB; what must hold is that the
/// kernel will cut it at `gso_size` into datagrams of whole inner packets no larger than the
/// TUN MTU (a train without GSO marking would leave as one oversized datagram).
fn capture_gso(
    netns: &str,
    dev: &str,
    port: u16,
    seg_max: usize,
    stop: &std::sync::atomic::AtomicBool,
) -> GsoSeen {
    const PACKET_VNET_HDR: libc::c_int = 15; // include/uapi/linux/if_packet.h
    const VNET_HDR: usize = 10; // struct virtio_net_hdr
    const GSO_UDP_L4: u8 = 5; // VIRTIO_NET_HDR_GSO_UDP_L4
    let ns = harness::netns::Netns::open(netns).expect("switch namespace");
    let dev = std::ffi::CString::new(dev).unwrap();
    let fd = ns
        .run_in(|| {
            // SAFETY: plain socket/setsockopt/bind calls on a new fd with valid, sized
            // arguments; if_nametoindex reads a NUL-terminated string.
            unsafe {
                let fd = libc::socket(
                    libc::AF_PACKET,
                    libc::SOCK_RAW,
                    (libc::ETH_P_ALL as u16).to_be() as i32,
                );
                assert!(
                    fd >= 0,
                    "packet socket: {}",
                    std::io::Error::last_os_error()
                );
                let on: libc::c_int = 1;
                let r = libc::setsockopt(
                    fd,
                    libc::SOL_PACKET,
                    PACKET_VNET_HDR,
                    (&on as *const libc::c_int).cast(),
                    4,
                );
                assert_eq!(r, 0, "PACKET_VNET_HDR: {}", std::io::Error::last_os_error());
                let tv = libc::timeval {
                    tv_sec: 0,
                    tv_usec: 100_000,
                };
                libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_RCVTIMEO,
                    (&tv as *const libc::timeval).cast(),
                    std::mem::size_of::<libc::timeval>() as u32,
                );
                let mut sll: libc::sockaddr_ll = std::mem::zeroed();
                sll.sll_family = libc::AF_PACKET as u16;
                sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
                sll.sll_ifindex = libc::if_nametoindex(dev.as_ptr()) as i32;
                assert!(sll.sll_ifindex > 0, "no {dev:?} in {netns}");
                let r = libc::bind(
                    fd,
                    (&sll as *const libc::sockaddr_ll).cast(),
                    std::mem::size_of::<libc::sockaddr_ll>() as u32,
                );
                assert_eq!(r, 0, "bind: {}", std::io::Error::last_os_error());
                fd
            }
        })
        .expect("enter the switch namespace");
    let mut seen = GsoSeen::default();
    let mut buf = vec![0u8; VNET_HDR + 14 + 65535 + 64];
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        // SAFETY: buf is valid for its length of writes.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n <= 0 {
            continue;
        }
        let f = &buf[..n as usize];
        let (gso_type, gso_size) = (f[1], usize::from(u16::from_ne_bytes([f[4], f[5]])));
        let eth = &f[VNET_HDR..];
        if eth.len() < 14 + 28 || eth[12..14] != [0x08, 0x00] {
            continue;
        }
        let ip = &eth[14..];
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        if ip[9] != 17
            || ip.len() < ihl + 8
            || u16::from_be_bytes([ip[ihl + 2], ip[ihl + 3]]) != port
        {
            continue;
        }
        let payload = &ip[ihl + 8..];
        seen.frames += 1;
        let cut = if gso_type == GSO_UDP_L4 {
            gso_size
        } else {
            payload.len()
        };
        if gso_type == GSO_UDP_L4 && payload.len() > cut {
            seen.trains += 1;
            seen.segments.insert(cut);
            seen.largest = seen.largest.max(payload.len());
        }
        if cut == 0 || cut > seg_max {
            seen.bad.push(format!(
                "a datagram of {} bytes (gso_type {gso_type}, gso_size {gso_size}) over the TUN MTU {seg_max}",
                payload.len()
            ));
            continue;
        }
        for seg in payload.chunks(cut) {
            let whole = seg.len() >= 20
                && seg[0] >> 4 == 4
                && usize::from(u16::from_be_bytes([seg[2], seg[3]])) == seg.len();
            if !whole && seen.bad.len() < 10 {
                seen.bad.push(format!(
                    "a segment of {} bytes of a {}-byte train (gso_size {gso_size}) is not one whole inner packet",
                    seg.len(),
                    payload.len()
                ));
            }
        }
    }
    // SAFETY: fd is ours and closed once.
    unsafe { libc::close(fd) };
    seen
}

#[test]
fn offload_super_packets_leave_as_path_mtu_datagrams_never_oversized() {
    let o = run(&["up", "--backend", "flannel-udp", "--datapath", "offload"]);
    let id = common::run_id_of(&String::from_utf8_lossy(&o.stdout));
    let _guard = Cleanup(vec![id.clone()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let stop = std::sync::atomic::AtomicBool::new(false);
    let sw = format!("cnb-{id}-sw");
    let seen = std::thread::scope(|s| {
        // n0's port on the underlay switch: where its daemon's datagrams cross.
        let capture = s.spawn(|| capture_gso(&sw, "n0", 8285, 1472, &stop));
        std::thread::sleep(Duration::from_millis(200));
        let o = run(&[
            "measure",
            &id,
            "--workloads",
            "tcp-stream",
            "--duration",
            "0.5",
            "--warmup",
            "0.1",
            "--repeat",
            "1",
        ]);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(code(&o), 0, "{}", text(&o));
        capture.join().expect("capture thread")
    });
    let o = run(&["down", &id]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    common::assert_nothing_left(&id);
    assert!(seen.bad.is_empty(), "{:#?}", seen.bad);
    // The offload really sent trains: UDP GSO skbs of many path-MTU datagrams.
    assert!(
        seen.trains > 0 && seen.largest > 1472,
        "no GSO train among {} datagrams: {seen:?}",
        seen.frames
    );
    assert!(seen.segments.iter().all(|s| *s <= 1472), "{seen:?}");
}

/// `--daemon-program`: `ci/userspace-ref.c`, built here with `cc`, runs in place of the
/// daemons and passes every check (the restart check starts it again by the same argv);
/// the run leaves none of its processes.
#[test]
fn the_c_reference_forwarder_passes_every_check_in_place_of_the_daemon() {
    let dir = std::env::temp_dir().join(format!("cnbench-test-ref-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join("userspace-ref");
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/ci/userspace-ref.c");
    let built = std::process::Command::new("cc")
        .args(["-O2", "-Wall", "-Werror", "-o"])
        .arg(&exe)
        .arg(src)
        .status()
        .expect("cc runs (the test suite needs a C compiler: apt-get install gcc)");
    assert!(built.success(), "cc {src} failed");
    let o = run(&[
        &[
            "run",
            "--backend",
            "flannel-udp",
            "--daemon-program",
            exe.to_str().unwrap(),
            "--workloads",
            "tcp-rr",
            "--no-baseline",
            "--no-trace",
        ],
        SHORT,
    ]
    .concat());
    let out = text(&o);
    let id = common::run_id_of(&String::from_utf8_lossy(&o.stdout));
    let _guard = Cleanup(vec![id.clone()]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code(&o), 0, "{out}");
    assert!(
        out.contains("daemon-restart") && out.contains(", 0 failed"),
        "{out}"
    );
    assert!(
        namespaces_of(&id).is_empty(),
        "left {:?}",
        namespaces_of(&id)
    );
}

/// A program that exits without saying `ready` fails setup in one line naming the cause, and
/// the run removes everything it made.
#[test]
fn a_daemon_program_that_never_says_ready_fails_setup_and_leaves_nothing() {
    let o = run(&[
        "run",
        "--backend",
        "flannel-udp",
        "--daemon-program",
        "/bin/true",
        "--workloads",
        "none",
        "--no-baseline",
    ]);
    let id = common::run_id_of(&String::from_utf8_lossy(&o.stdout));
    let _guard = Cleanup(vec![id.clone()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_ne!(code(&o), 0, "{}", text(&o));
    assert!(err.contains("without printing `ready`"), "{}", text(&o));
    assert_eq!(err.trim().lines().count(), 1, "{}", text(&o));
    assert!(
        namespaces_of(&id).is_empty(),
        "left {:?}",
        namespaces_of(&id)
    );
}
