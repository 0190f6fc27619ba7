//! Reachability of pods coming and going, from fixed observer pods: ICMP echo from a raw
//! socket in each observer, every interval (1 ms) to every pod being watched, on one
//! thread of its own, while the adds and removals go on.
//!
//! Why ICMP from pods: it is what the article and the checks use to say a pod is reachable,
//! it needs nothing running in the new pod (its kernel answers as soon as its address and
//! routes are in place and the path to it is), and one raw socket per observer serves every
//! target. Why every 1 ms: the times being measured are a few milliseconds for a bridge port
//! and tens to hundreds for a BGP announcement, so 1 ms resolves both, and at most
//! [`MAX_PER_TICK`] echoes per tick keep the probing itself (about 64,000 packets per second
//! at most) from being what loads the machine when many pods wait at once; beyond that the
//! targets share the ticks in turn and each is probed less often.
//!
//! Each echo carries the target's serial number and the probe's, so a late answer to an
//! earlier probe is never taken for the current one. A pod being watched for *silence*
//! (after its removal was issued) counts as unreachable from the send time of the first
//! echo after its last answered one, once [`QUIET`] has passed without an answer.
//!
//! The prober also watches the observer's *node* for withdrawal: whether its routing table
//! still has a host route (/32, /128) to a removed pod, polled on the same ticks.
//!
//! IPv6 targets get ICMPv6 echoes from a second raw socket in each observer: the kernel fills
//! in their checksum and hands up replies without the IPv6 header (RFC 3542 §3.1), so a
//! reply is the ICMPv6 message alone.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::mem::MaybeUninit;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use etherparse::{IcmpEchoHeader, Icmpv4Header, Icmpv4Slice, Icmpv4Type, Ipv4HeaderSlice};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::error::{HarnessError, Result};
use crate::netlink::Netlink;
use crate::netns::Netns;

/// Most echoes sent per tick, over every target (see the module doc).
pub const MAX_PER_TICK: usize = 64;

/// How long a pod being watched for silence must stay unanswered before its silence counts:
/// twenty echoes at the default interval, each of which would have been answered in well
/// under a millisecond here. Not longer: an echo to a pod that is gone still crosses the
/// datapath (a bridge floods it to every port once the pod's MAC has left its table), so
/// probing the departed costs the machine in proportion to the pods standing, which is what
/// is being measured.
pub const QUIET: Duration = Duration::from_millis(20);

/// One observer: raw ICMP sockets in a pod (ICMPv4, and ICMPv6 when the run has IPv6),
/// and a netlink handle in that pod's node.
pub struct Observer {
    /// The observer pod's namespace name (for messages).
    pub pod: String,
    socket: Socket,
    socket6: Option<Socket>,
    node: Netlink,
}

impl Observer {
    /// Opens the sockets in `pod`'s namespace (ICMPv6 too with `v6`) and the netlink handle
    /// in `node`'s.
    pub fn open(pod: &Netns, node: &Netns, v6: bool) -> Result<Observer> {
        let raw = |domain, protocol| -> Result<Socket> {
            let socket = pod
                .run_in(|| Socket::new(domain, Type::RAW, Some(protocol)))?
                .map_err(|e| HarnessError::Unsupported {
                    what: format!("a raw ICMP socket in {}: {e}", pod.name()),
                    fix: "run cnbench as root".into(),
                })?;
            socket
                .set_nonblocking(true)
                .map_err(|e| HarnessError::io("making the observer's socket non-blocking", e))?;
            Ok(socket)
        };
        Ok(Observer {
            pod: pod.name().to_string(),
            socket: raw(Domain::IPV4, Protocol::ICMPV4)?,
            socket6: if v6 {
                Some(raw(Domain::IPV6, Protocol::ICMPV6)?)
            } else {
                None
            },
            node: Netlink::open(node)?,
        })
    }

    /// Its sockets, ICMPv4 first.
    fn sockets(&self) -> impl Iterator<Item = &Socket> {
        std::iter::once(&self.socket).chain(self.socket6.as_ref())
    }
}

/// What a target is watched for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Watch {
    /// Its first answered echo.
    Reach,
    /// The first echo of those that stay unanswered.
    Silence,
    /// No host route to it left in the observer's node.
    Withdrawal,
}

/// A target being watched, by its serial number.
pub type TargetId = u32;

struct Target {
    ip: IpAddr,
    observer: usize,
    watch: Watch,
    since: Instant,
    /// Probes sent so far, and when each was sent (for silence: the send times).
    sent: Vec<Instant>,
    /// The highest probe number answered.
    answered: Option<u32>,
    last_answer: Option<Instant>,
    /// When what it is watched for happened.
    done: Option<Instant>,
    /// Next tick it may be probed at (targets take turns when there are many).
    next: Instant,
}

struct Shared {
    targets: Mutex<HashMap<TargetId, Target>>,
    stop: AtomicBool,
    serial: AtomicU32,
}

/// The prober: a thread probing every watched target from its observer.
pub struct Prober {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    interval: Duration,
}

impl Prober {
    /// Starts probing from `observers` every `interval`.
    pub fn start(observers: Vec<Observer>, interval: Duration) -> Result<Prober> {
        let shared = Arc::new(Shared {
            targets: Mutex::new(HashMap::new()),
            stop: AtomicBool::new(false),
            serial: AtomicU32::new(0),
        });
        let id = (std::process::id() as u16) ^ 0x5a17;
        let s = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("churn-prober".into())
            .spawn(move || run(&s, &observers, id, interval))
            .map_err(|e| HarnessError::io("starting the churn prober", e))?;
        Ok(Prober {
            shared,
            thread: Some(thread),
            interval,
        })
    }

    /// Watches `ip` from observer `observer` (its index in the list given to
    /// [`Prober::start`]) for `watch`, timed from `since`.
    pub fn watch(&self, ip: IpAddr, observer: usize, watch: Watch, since: Instant) -> TargetId {
        let id = self
            .shared
            .serial
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_add(1);
        lock(&self.shared.targets).insert(
            id,
            Target {
                ip,
                observer,
                watch,
                since,
                sent: Vec::new(),
                answered: None,
                last_answer: None,
                done: None,
                next: Instant::now(),
            },
        );
        id
    }

    /// Waits until every target of `ids` is done, or `limit` passed, or an interruption.
    pub fn wait(&self, ids: &[TargetId], limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let pending = {
                let t = lock(&self.shared.targets);
                ids.iter()
                    .any(|id| t.get(id).is_some_and(|x| x.done.is_none()))
            };
            if !pending || Instant::now() >= deadline || crate::signals::interrupted() {
                return;
            }
            std::thread::sleep(self.interval);
        }
    }

    /// How long after its start each target of `ids` did what it was watched for (none:
    /// not within the wait), and forgets them.
    pub fn take(&self, ids: &[TargetId]) -> Vec<Option<Duration>> {
        let mut t = lock(&self.shared.targets);
        ids.iter()
            .map(|id| {
                let x = t.remove(id)?;
                Some(x.done?.saturating_duration_since(x.since))
            })
            .collect()
    }

    /// Every target done so far, with how long after its start it did what it was watched
    /// for, forgotten as they are returned: what a prober serving another process (the
    /// remote prober's `cnbench churn-probe`) reports as soon as it happens.
    pub fn take_done(&self) -> Vec<(TargetId, Duration)> {
        let mut t = lock(&self.shared.targets);
        let done: Vec<(TargetId, Duration)> = t
            .iter()
            .filter_map(|(id, x)| Some((*id, x.done?.saturating_duration_since(x.since))))
            .collect();
        for (id, _) in &done {
            t.remove(id);
        }
        done
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The probing loop: each tick, send what is due, read every answer until the next tick,
/// settle silences and withdrawals.
fn run(shared: &Shared, observers: &[Observer], id: u16, interval: Duration) {
    let mut buf = vec![MaybeUninit::<u8>::uninit(); 2048];
    let mut next_tick = Instant::now();
    let mut turn = 0usize;
    while !shared.stop.load(Ordering::Relaxed) {
        next_tick += interval;
        let now = Instant::now();
        if next_tick < now {
            // Behind (the machine was busy): start again from now rather than catch up in
            // a burst.
            next_tick = now + interval;
        }
        send_due(shared, observers, id, interval, &mut turn);
        withdrawals(shared, observers);
        // Answers until the next tick, each timed as it is read.
        loop {
            let left = next_tick.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            if !wait_readable(observers, left) {
                continue;
            }
            for (o, obs) in observers.iter().enumerate() {
                read_answers(shared, o, obs, id, &mut buf);
            }
        }
        settle_silences(shared);
    }
}

/// Sends one echo to every target due (at most [`MAX_PER_TICK`], in turn).
fn send_due(
    shared: &Shared,
    observers: &[Observer],
    id: u16,
    interval: Duration,
    turn: &mut usize,
) {
    let now = Instant::now();
    let mut t = lock(&shared.targets);
    let mut due: Vec<TargetId> = t
        .iter()
        .filter(|(_, x)| x.done.is_none() && x.watch != Watch::Withdrawal && x.next <= now)
        .map(|(k, _)| *k)
        .collect();
    due.sort_unstable();
    let n = due.len();
    if n == 0 {
        return;
    }
    // Those whose turn it is: a window of MAX_PER_TICK that moves on every tick.
    let start = *turn % n;
    *turn = turn.wrapping_add(MAX_PER_TICK);
    let rounds = n.div_ceil(MAX_PER_TICK) as u32;
    for k in 0..n.min(MAX_PER_TICK) {
        let serial = due[(start + k) % n];
        let x = t.get_mut(&serial).expect("listed");
        let probe = x.sent.len() as u32;
        let mut payload = [0u8; 8];
        payload[..4].copy_from_slice(&serial.to_be_bytes());
        payload[4..].copy_from_slice(&probe.to_be_bytes());
        let obs = &observers[x.observer];
        let (pkt, socket) = match x.ip {
            IpAddr::V4(_) => {
                let hdr = Icmpv4Header::with_checksum(
                    Icmpv4Type::EchoRequest(IcmpEchoHeader {
                        id,
                        seq: probe as u16,
                    }),
                    &payload,
                );
                let mut pkt = hdr.to_bytes().to_vec();
                pkt.extend_from_slice(&payload);
                (pkt, Some(&obs.socket))
            }
            // Type 128, code 0, checksum left to the kernel, identifier, sequence.
            IpAddr::V6(_) => {
                let mut pkt = vec![ICMP6_ECHO_REQUEST, 0, 0, 0];
                pkt.extend_from_slice(&id.to_be_bytes());
                pkt.extend_from_slice(&(probe as u16).to_be_bytes());
                pkt.extend_from_slice(&payload);
                (pkt, obs.socket6.as_ref())
            }
        };
        let dest = SockAddr::from(SocketAddr::new(x.ip, 0));
        // A send that fails (no route yet: ENETUNREACH) is a probe that got no answer.
        if let Some(socket) = socket {
            let _ = socket.send_to(&pkt, &dest);
        }
        x.sent.push(Instant::now());
        x.next = now + interval * rounds;
    }
}

/// Targets watched for withdrawal: done once their observer's node has no host route left.
/// One route lookup per target (`RTM_F_FIB_MATCH`), not a dump: its cost does not grow
/// with the routes a node holds (a dump per tick of 500 /32s kept a CPU busy).
fn withdrawals(shared: &Shared, observers: &[Observer]) {
    // The lookups run without the lock: adds and removals register targets meanwhile.
    let pending: Vec<(TargetId, usize, IpAddr)> = lock(&shared.targets)
        .iter()
        .filter(|(_, x)| x.watch == Watch::Withdrawal && x.done.is_none())
        .map(|(k, x)| (*k, x.observer, x.ip))
        .collect();
    let gone: Vec<(TargetId, Instant)> = pending
        .into_iter()
        .filter(|(_, o, ip)| matches!(observers[*o].node.has_host_route(*ip), Ok(false)))
        .map(|(k, _, _)| (k, Instant::now()))
        .collect();
    let mut t = lock(&shared.targets);
    for (k, at) in gone {
        if let Some(x) = t.get_mut(&k) {
            x.done.get_or_insert(at);
        }
    }
}

/// Waits up to `limit` for an answer on any observer socket; true when one may be there.
fn wait_readable(observers: &[Observer], limit: Duration) -> bool {
    let mut fds: Vec<libc::pollfd> = observers
        .iter()
        .flat_map(Observer::sockets)
        .map(|s| libc::pollfd {
            fd: s.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // ppoll, not poll: poll's timeout is whole milliseconds, which would stretch every tick
    // of a sub-millisecond interval to one.
    let limit = limit.min(Duration::from_secs(1));
    let ts = libc::timespec {
        tv_sec: limit.as_secs() as libc::time_t,
        tv_nsec: libc::c_long::from(limit.subsec_nanos() as i32),
    };
    // SAFETY: `fds` is a valid array of `fds.len()` pollfd structures and `ts` a valid
    // timespec, both outliving the call; a null signal mask leaves the mask as it is.
    let n = unsafe {
        libc::ppoll(
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            &ts,
            std::ptr::null(),
        )
    };
    n > 0
}

/// Reads every answer waiting on observer `o`'s sockets.
fn read_answers(shared: &Shared, o: usize, obs: &Observer, id: u16, buf: &mut [MaybeUninit<u8>]) {
    for (socket, v6) in obs.sockets().zip([false, true]) {
        read_socket(shared, o, socket, v6, id, buf);
    }
}

/// Reads every answer waiting on one of observer `o`'s sockets (`v6`: the ICMPv6 one).
fn read_socket(
    shared: &Shared,
    o: usize,
    socket: &Socket,
    v6: bool,
    id: u16,
    buf: &mut [MaybeUninit<u8>],
) {
    loop {
        let n = match socket.recv(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        let at = Instant::now();
        // SAFETY: recv initialized the first `n` bytes of `buf`.
        let bytes: &[u8] = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n) };
        let reply = if v6 {
            echo_reply6(bytes, id)
        } else {
            echo_reply(bytes, id)
        };
        let Some((serial, probe)) = reply else {
            continue;
        };
        let mut t = lock(&shared.targets);
        let Some(x) = t.get_mut(&serial) else {
            continue;
        };
        if x.observer != o || x.done.is_some() {
            continue;
        }
        match x.watch {
            Watch::Reach => x.done = Some(at),
            Watch::Silence => {
                x.answered = Some(x.answered.map_or(probe, |a| a.max(probe)));
                x.last_answer = Some(at);
            }
            Watch::Withdrawal => {}
        }
    }
}

/// The target serial and probe number of an echo reply of ours (IPv4 header first, as a raw
/// socket gives it).
fn echo_reply(bytes: &[u8], id: u16) -> Option<(TargetId, u32)> {
    let ip = Ipv4HeaderSlice::from_slice(bytes).ok()?;
    let icmp = Icmpv4Slice::from_slice(&bytes[ip.slice().len()..]).ok()?;
    let Icmpv4Type::EchoReply(echo) = icmp.icmp_type() else {
        return None;
    };
    let payload = icmp.payload();
    if echo.id != id || payload.len() < 8 {
        return None;
    }
    let serial = u32::from_be_bytes(payload[..4].try_into().ok()?);
    let probe = u32::from_be_bytes(payload[4..8].try_into().ok()?);
    Some((serial, probe))
}

/// ICMPv6 echo request and reply types (RFC 4443 §4).
const ICMP6_ECHO_REQUEST: u8 = 128;
const ICMP6_ECHO_REPLY: u8 = 129;

/// The target serial and probe number of an ICMPv6 echo reply of ours (no IPv6 header: a
/// raw ICMPv6 socket gives the message alone).
fn echo_reply6(bytes: &[u8], id: u16) -> Option<(TargetId, u32)> {
    if *bytes.first()? != ICMP6_ECHO_REPLY || bytes.len() < 16 {
        return None;
    }
    if u16::from_be_bytes([bytes[4], bytes[5]]) != id {
        return None;
    }
    let serial = u32::from_be_bytes(bytes[8..12].try_into().ok()?);
    let probe = u32::from_be_bytes(bytes[12..16].try_into().ok()?);
    Some((serial, probe))
}

/// A target watched for silence is done once [`QUIET`] passed since its last answer (or
/// since it was first probed, when nothing answered): unreachable from the first echo after
/// the last answered one.
fn settle_silences(shared: &Shared) {
    let now = Instant::now();
    let mut t = lock(&shared.targets);
    for x in t.values_mut() {
        if x.watch != Watch::Silence || x.done.is_some() || x.sent.is_empty() {
            continue;
        }
        let quiet_since = x.last_answer.unwrap_or(x.sent[0]);
        if now.saturating_duration_since(quiet_since) < QUIET {
            continue;
        }
        let first_unanswered = x.answered.map_or(0, |a| a as usize + 1);
        if let Some(&sent) = x.sent.get(first_unanswered) {
            x.done = Some(sent);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_ours_only_with_our_id_and_a_payload() {
        let payload = [0, 0, 0, 7, 0, 0, 0, 3];
        let icmp = Icmpv4Header::with_checksum(
            Icmpv4Type::EchoReply(IcmpEchoHeader { id: 42, seq: 3 }),
            &payload,
        );
        let mut body = icmp.to_bytes().to_vec();
        body.extend_from_slice(&payload);
        let ip = etherparse::Ipv4Header::new(
            body.len() as u16,
            64,
            etherparse::IpNumber::ICMP,
            [10, 0, 0, 2],
            [10, 0, 0, 1],
        )
        .unwrap();
        let mut pkt = ip.to_bytes().to_vec();
        pkt.extend_from_slice(&body);
        assert_eq!(echo_reply(&pkt, 42), Some((7, 3)));
        assert_eq!(echo_reply(&pkt, 43), None);
        assert_eq!(echo_reply(&pkt[..pkt.len() - 4], 42), None);
    }

    #[test]
    fn icmpv6_replies_are_ours_only_with_our_id_and_a_payload() {
        let mut reply = vec![ICMP6_ECHO_REPLY, 0, 0xab, 0xcd, 0, 42, 0, 3];
        reply.extend_from_slice(&[0, 0, 0, 7, 0, 0, 0, 3]);
        assert_eq!(echo_reply6(&reply, 42), Some((7, 3)));
        assert_eq!(echo_reply6(&reply, 43), None);
        assert_eq!(echo_reply6(&reply[..12], 42), None);
        let mut request = reply.clone();
        request[0] = ICMP6_ECHO_REQUEST;
        assert_eq!(echo_reply6(&request, 42), None);
    }
}
