//! The node agent's wire protocol: typed messages in length-prefixed JSON frames over any
//! byte stream (a VM's virtio-serial port today, a TCP connection to a remote host later).
//!
//! A session starts with [`Hello`] from the harness and [`Welcome`] (or [`FromAgent::Refused`])
//! from the agent; both carry [`PROTOCOL_VERSION`], and the agent refuses any other version, so
//! a harness and an agent of different builds fail at the first message with a sentence that
//! says which versions met, never half-way through a run. After that the harness sends
//! [`Call`]s, each with an id; the agent answers each with one [`FromAgent::Reply`] of the
//! same id, in any order (calls run concurrently), and pushes the output lines and exits of
//! the processes it started as they happen.
//!
//! Nothing assumes a shared filesystem or clock: files the agent needs travel in
//! [`Call::WriteFile`], durations are relative (`*_ms`), the agent's wall clock is read with
//! [`Call::Clock`] (a VM's is set from its emulated RTC, whole seconds only, and is up to a
//! second off the harness's either way), and netlink requests travel as the kernel's own wire
//! format (rtnetlink is a stable ABI, so a harness and an agent on different
//! kernels understand each other's messages), with the one attribute that is not portable —
//! a namespace file descriptor — named by namespace instead ([`Call::Netlink::peer_netns`]).

use std::io::{self, Read, Write};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// The protocol version this build speaks. Any change to a message bumps it.
pub const PROTOCOL_VERSION: u32 = 5;

/// Largest frame either end accepts (a netlink dump of a big node fits many times over); a
/// larger length prefix means the stream is not this protocol.
pub const MAX_FRAME_BYTES: usize = 16 << 20;

/// Most frames a [`Call::CaptureEcho`] returns.
pub use crate::probe::MAX_CAPTURED_FRAMES;

/// Bytes as one base64 string: a third larger than raw, where JSON's array of numbers is
/// three to four times larger.
mod base64_bytes {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(b))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(serde::de::Error::custom)
    }
}

/// A list of byte strings, each as in [`base64_bytes`].
mod base64_list {
    use base64::Engine;
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(list: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(list.len()))?;
        for b in list {
            seq.serialize_element(&base64::engine::general_purpose::STANDARD.encode(b))?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        Vec::<String>::deserialize(d)?
            .into_iter()
            .map(|t| {
                base64::engine::general_purpose::STANDARD
                    .decode(t)
                    .map_err(serde::de::Error::custom)
            })
            .collect()
    }
}

/// What every version's first message has (`Hello`, `Welcome`, `Refused`): the protocol
/// and cnbench versions. These never change shape, and each end reads them before the rest,
/// so two builds of different versions always learn which versions met, however the rest
/// of the message changed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Versions {
    /// The sender's [`PROTOCOL_VERSION`].
    pub protocol: u32,
    /// The sender's cnbench version.
    #[serde(default)]
    pub cnbench: String,
}

impl Versions {
    /// The versions in a first message (`{"hello": {...}}`, `{"welcome": ...}`,
    /// `{"refused": ...}`), if it is one.
    pub fn of(first: &serde_json::Value) -> Option<Versions> {
        let body = first.as_object()?.values().next()?;
        serde_json::from_value(body.clone()).ok()
    }
}

/// The harness's first message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// [`PROTOCOL_VERSION`] of the harness.
    pub protocol: u32,
    /// The harness's cnbench version (for messages).
    pub cnbench: String,
    /// The namespace name the agent's own network namespace stands for in this run
    /// (`cnb-<run>-node0`): requests naming it act on the agent's namespace; any other name is
    /// a namespace the agent created under `/run/netns`.
    pub node: String,
}

/// The agent's answer to a [`Hello`] it accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// [`PROTOCOL_VERSION`] of the agent.
    pub protocol: u32,
    /// The agent's cnbench version.
    pub cnbench: String,
    /// `uname -r` where the agent runs.
    pub kernel_release: String,
    /// Link kinds the agent's kernel can create, from the ones the harness may ask for
    /// (`ipip`, `vxlan`, `veth`, `bridge`, `tun`), probed in a scratch namespace.
    pub link_kinds: Vec<String>,
}

/// Everything the harness sends.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToAgent {
    /// Opens the session.
    Hello(Hello),
    /// A request; answered by one [`FromAgent::Reply`] with the same id.
    Call {
        /// Chosen by the harness, unique within the session.
        id: u64,
        /// What to do.
        call: Call,
    },
}

/// Everything the agent sends.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FromAgent {
    /// The session is open.
    Welcome(Welcome),
    /// The session is refused (a version mismatch); the agent closes the connection.
    Refused {
        /// The agent's [`PROTOCOL_VERSION`].
        protocol: u32,
        /// The agent's cnbench version.
        cnbench: String,
        /// Why, in a sentence.
        reason: String,
    },
    /// The answer to the call `id`.
    Reply {
        /// The call's id.
        id: u64,
        /// Its outcome.
        result: Result<Reply, RemoteError>,
    },
    /// A line a started process wrote to its stdout.
    Output {
        /// The process, as [`Reply::Spawned`] named it.
        proc_id: u64,
        /// The line, without its newline.
        line: String,
    },
    /// A started process ended (its stdout is closed and every line of it was sent before).
    Exited {
        /// The process.
        proc_id: u64,
        /// How it ended.
        status: ExitRecord,
        /// The last lines it wrote to stderr (when its stderr was captured).
        stderr_tail: String,
    },
}

/// What the harness asks the agent to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Call {
    /// Creates the named namespace and writes these sysctls in it.
    CreateNetns {
        /// `cnb-<run>-<role>`.
        name: String,
        /// `(key, value)`, like `("net.ipv4.ip_forward", "1")`.
        sysctls: Vec<(String, String)>,
    },
    /// Deletes a namespace the agent created (after stopping every process in it).
    DeleteNetns {
        /// Its name.
        name: String,
    },
    /// One rtnetlink request, sent as is from a socket in `netns`.
    Netlink {
        /// Where.
        netns: String,
        /// The whole netlink message (header with its `NLM_F_*` flags, then the
        /// `RouteNetlinkMessage`); the agent sets the sequence number and port. Base64.
        #[serde(with = "base64_bytes")]
        message: Vec<u8>,
        /// A link request whose `IFLA_NET_NS_FD` names this namespace: the agent puts in an fd
        /// of its own for it (an fd number means nothing across machines).
        peer_netns: Option<String>,
    },
    /// Writes sysctls of a namespace (`net.*` keys only: the agent touches networking).
    SetSysctls {
        /// Where.
        netns: String,
        /// `(key, value)` pairs.
        pairs: Vec<(String, String)>,
    },
    /// Reads a sysctl of a namespace.
    Sysctl {
        /// Where.
        netns: String,
        /// Like `net.ipv4.ip_forward`.
        key: String,
    },
    /// Reads a file under `/proc/net` as seen from a namespace (`snmp`, `dev`).
    ProcNet {
        /// Where.
        netns: String,
        /// The file under `/proc/net`.
        file: String,
    },
    /// Starts a process in a namespace. Its stdout lines come as [`FromAgent::Output`].
    Spawn {
        /// Where.
        netns: String,
        /// Program and arguments. A program named `cnbench` is the agent's own binary.
        argv: Vec<String>,
        /// Whether the harness will write to its stdin ([`Call::WriteStdin`]).
        stdin: bool,
        /// What it is, for messages (`tcp-rr server`).
        what: String,
    },
    /// Runs a program in a namespace to its end and returns what it wrote (a short command:
    /// `birdc show protocols`). Killed after `timeout_ms`.
    Run {
        /// Where.
        netns: String,
        /// Program (looked up on the agent machine's `PATH`; `cnbench` is the agent's own
        /// binary) and arguments.
        argv: Vec<String>,
        /// How long it may take: then it is killed by pid and the reply says it timed out.
        timeout_ms: u64,
        /// Variables set on top of the agent's environment (a CNI plugin's `CNI_*`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        env: Vec<(String, String)>,
        /// Written to its stdin, which is then closed (none: `/dev/null`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stdin: Option<String>,
    },
    /// Writes to a started process's stdin.
    WriteStdin {
        /// The process.
        proc_id: u64,
        /// The bytes.
        data: String,
    },
    /// Stops a started process: SIGTERM, SIGKILL after `grace_ms`; answers when it is gone.
    Stop {
        /// The process.
        proc_id: u64,
        /// How long it may take to exit after SIGTERM.
        grace_ms: u64,
    },
    /// Writes a file on the agent's machine, creating its directory; removed, with the run's
    /// directory, when the session ends.
    WriteFile {
        /// Absolute path; must be under `/run/cnbench/<run>/`.
        path: String,
        /// The contents.
        contents: String,
    },
    /// Sends ICMP echo requests from a namespace (the harness's conformance probe).
    IcmpProbe {
        /// From where.
        netns: String,
        /// To which address.
        to: IpAddr,
        /// With DF set, packets of exactly this many bytes.
        df_size: Option<u32>,
        /// How long to try.
        timeout_ms: u64,
    },
    /// Opens a TCP listener in a namespace on `ip:port` (port 0: any free port).
    TcpListen {
        /// Where.
        netns: String,
        /// The address to listen on.
        ip: IpAddr,
        /// The port, 0 for any.
        port: u16,
    },
    /// Waits for one connection on a listener and closes the listener.
    TcpAccept {
        /// As [`Reply::Listening`] named it.
        listener_id: u64,
        /// How long to wait.
        timeout_ms: u64,
    },
    /// Closes a listener without waiting.
    TcpClose {
        /// The listener.
        listener_id: u64,
    },
    /// Connects from a namespace to `ip:port`.
    TcpConnect {
        /// From where.
        netns: String,
        /// The listener's address.
        ip: IpAddr,
        /// Its port.
        port: u16,
        /// How long to try.
        timeout_ms: u64,
    },
    /// Captures frames on a device while one ICMP echo probe runs from a namespace of the
    /// same agent (the wire check): every frame seen until 100 ms after the probe ended.
    CaptureEcho {
        /// Where the device is.
        capture_netns: String,
        /// The device.
        dev: String,
        /// Where the probe starts.
        from_netns: String,
        /// Its destination.
        to: IpAddr,
    },
    /// Gives the session namespace `netns` its uplink onto the agent machine's own network:
    /// `name`, a macvlan or ipvlan of the machine's interface `parent`, created directly in
    /// `netns` (the machine's own namespace gains nothing; docs/design.md §5).
    Uplink {
        /// The namespace (the node's).
        netns: String,
        /// The machine's interface that carries the underlay (`eth0`, `ens5`).
        parent: String,
        /// macvlan or ipvlan.
        kind: crate::netlink::UplinkKind,
        /// The new link's name in `netns`.
        name: String,
    },
    /// Asks whether an IPv4 address is in use on the link `dev` of `netns` (an ARP probe,
    /// RFC 5227), listening `wait_ms`.
    ArpProbe {
        /// The namespace.
        netns: String,
        /// The link (up, without the address yet).
        dev: String,
        /// The address.
        addr: std::net::Ipv4Addr,
        /// How long to listen, ms.
        wait_ms: u64,
    },
    /// Reads the agent machine's `CLOCK_REALTIME`, so the harness can put times the agent's
    /// processes report (probe send times) on its own clock.
    Clock,
    /// Opens a cost window on the agent's machine: the CPU time, syscalls and device packets
    /// of `roles`, the machine's CPU (`/proc/stat`) and, when `traced`, the transmissions of
    /// devices named `devices` (`net:net_dev_xmit` on this kernel). Answered with
    /// [`Reply::CostStarted`]; the window lives until [`Call::CostEnd`] or the session's end.
    CostStart {
        /// The processes measured, each with its pid on the agent's machine (as
        /// [`Reply::Spawned`] gave it) and a namespace of this session.
        roles: Vec<crate::cost::RoleSpec>,
        /// The names of the run's devices on this machine.
        devices: Vec<String>,
        /// Whether the tracepoint counters run (syscalls, device transmissions).
        traced: bool,
        /// Why client and server get no syscall counters, when they do not (an external
        /// generator's processes).
        untraced_endpoints: Option<String>,
    },
    /// Adds a process that has just started (the client) to a cost window: its CPU is counted
    /// from its start.
    CostWatch {
        /// The window, as [`Reply::CostStarted`] named it.
        cost_id: u64,
        /// The process.
        role: crate::cost::RoleSpec,
    },
    /// Reads a role's counters now, while its process still exists (the client, before it
    /// exits); the window keeps these final figures.
    CostStopRole {
        /// The window.
        cost_id: u64,
        /// The role's pid on the agent's machine.
        pid: u32,
    },
    /// Reads every counter of a cost window and closes it: answered with [`Reply::Cost`].
    CostEnd {
        /// The window.
        cost_id: u64,
    },
    /// Stops every process and deletes every namespace the agent made for this session,
    /// then closes the session (also what a dropped connection does).
    Shutdown,
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// Done; nothing to return.
    Done,
    /// The messages of a netlink answer, each a whole netlink message (none for an
    /// acknowledged change). Base64.
    Netlink(#[serde(with = "base64_list")] Vec<Vec<u8>>),
    /// A text (a sysctl's value, a `/proc/net` file).
    Text(String),
    /// A process was started.
    Spawned {
        /// The session's name for it.
        proc_id: u64,
        /// Its pid on the agent's machine (for messages and cost windows; the harness never
        /// signals it).
        pid: u32,
    },
    /// A process ended.
    Exit(ExitRecord),
    /// A program ran to its end ([`Call::Run`]).
    Output {
        /// How it ended.
        status: ExitRecord,
        /// Its stdout.
        stdout: String,
        /// Its stderr.
        stderr: String,
        /// Why it was killed, if it was (not finishing within the call's `timeout_ms`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        killed: Option<crate::local::Killed>,
        /// Its pid on the agent's machine.
        #[serde(default)]
        pid: Option<u32>,
    },
    /// What an ICMP probe saw.
    Echo(EchoRecord),
    /// A listener is open.
    Listening {
        /// The session's name for it.
        listener_id: u64,
        /// Its port.
        port: u16,
    },
    /// The source address of the connection a listener accepted.
    Peer(IpAddr),
    /// What a TCP connect saw.
    Probe(ProbeRecord),
    /// Captured frames, each from its Ethernet header, and what the probe saw.
    Frames {
        /// The frames (at most [`MAX_CAPTURED_FRAMES`]). Base64.
        #[serde(with = "base64_list")]
        frames: Vec<Vec<u8>>,
        /// The probe.
        echo: ProbeRecord,
    },
    /// The answer to an ARP probe: the MAC (`aa:bb:..`) of a host that has the address, or
    /// none.
    Claimed(Option<String>),
    /// The agent machine's `CLOCK_REALTIME` when it handled a [`Call::Clock`], in ns since
    /// the Unix epoch.
    Clock {
        /// The time, ns since the Unix epoch.
        realtime_ns: u64,
    },
    /// A cost window is open ([`Call::CostStart`]).
    CostStarted {
        /// The session's name for it.
        cost_id: u64,
    },
    /// What a cost window saw on the agent's machine ([`Call::CostEnd`]).
    Cost(crate::cost::WindowReading),
}

/// A failed call, as the agent saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteError {
    /// What failed on the agent, in words.
    pub message: String,
    /// The OS error number, when the failure was one (a netlink errno gets the same hint
    /// on the harness as a local one).
    pub errno: Option<i32>,
}

/// How a process ended (the same record on both sides).
pub use crate::process::ExitRecord;

/// A probe's outcome, on the wire (see `checks::ProbeResult`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeRecord {
    /// Answered after this many nanoseconds.
    Answered {
        /// Round trip, ns.
        rtt_ns: u64,
    },
    /// An ICMP error came back.
    IcmpError {
        /// ICMP type.
        icmp_type: u8,
        /// ICMP code.
        code: u8,
        /// Who sent it.
        from: IpAddr,
    },
    /// Refused or reset.
    Refused,
    /// Nothing came back in time.
    Silence,
    /// The sender's kernel refused it (EMSGSIZE).
    TooBig,
    /// Not sent.
    SendError(String),
}

/// An ICMP probe's outcome and the reply's TTL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EchoRecord {
    /// The outcome.
    pub result: ProbeRecord,
    /// TTL of the reply.
    pub ttl: Option<u8>,
}

/// Writes one frame: a 4-byte big-endian length, then the JSON.
pub fn write_frame<T: Serialize>(w: &mut dyn Write, msg: &T) -> io::Result<()> {
    let body = serde_json::to_vec(msg).map_err(io::Error::other)?;
    if body.len() > MAX_FRAME_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "message of {} bytes exceeds the {MAX_FRAME_BYTES}-byte frame limit",
                body.len()
            ),
        ));
    }
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    w.write_all(&frame)?;
    w.flush()
}

/// Reads one frame; `Ok(None)` at a clean end of stream (between frames).
pub fn read_frame<T: for<'de> Deserialize<'de>>(r: &mut dyn Read) -> io::Result<Option<T>> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "frame length {len} exceeds {MAX_FRAME_BYTES}: the other end does not speak \
                 the cnbench agent protocol"
            ),
        ));
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    serde_json::from_slice(&body).map(Some).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("undecodable message ({e}): the other end speaks another protocol version"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_end_cleanly() {
        let mut buf = Vec::new();
        let call = ToAgent::Call {
            id: 7,
            call: Call::IcmpProbe {
                netns: "cnb-x-node0-pod0".into(),
                to: std::net::Ipv4Addr::new(10, 244, 1, 2).into(),
                df_size: Some(1400),
                timeout_ms: 3000,
            },
        };
        write_frame(&mut buf, &call).unwrap();
        write_frame(&mut buf, &ToAgent::Hello(hello())).unwrap();
        let mut r = &buf[..];
        match read_frame::<ToAgent>(&mut r).unwrap() {
            Some(ToAgent::Call { id: 7, call: c }) => assert_eq!(
                c,
                Call::IcmpProbe {
                    netns: "cnb-x-node0-pod0".into(),
                    to: std::net::Ipv4Addr::new(10, 244, 1, 2).into(),
                    df_size: Some(1400),
                    timeout_ms: 3000,
                }
            ),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            read_frame::<ToAgent>(&mut r).unwrap(),
            Some(ToAgent::Hello(_))
        ));
        assert!(read_frame::<ToAgent>(&mut r).unwrap().is_none());
    }

    #[test]
    fn a_truncated_frame_is_an_error_not_an_end() {
        let mut buf = Vec::new();
        write_frame(&mut buf, &ToAgent::Hello(hello())).unwrap();
        let mut r = &buf[..buf.len() - 3];
        let err = read_frame::<ToAgent>(&mut r).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn garbage_is_named_as_another_protocol() {
        let mut r: &[u8] = b"GET / HTTP/1.1\r\n\r\n";
        let err = read_frame::<ToAgent>(&mut r).unwrap_err();
        assert!(err.to_string().contains("does not speak"), "{err}");
        let mut buf = 5u32.to_be_bytes().to_vec();
        buf.extend_from_slice(b"{\"x\":");
        let err = read_frame::<ToAgent>(&mut &buf[..]).unwrap_err();
        assert!(err.to_string().contains("undecodable"), "{err}");
    }

    fn hello() -> Hello {
        Hello {
            protocol: PROTOCOL_VERSION,
            cnbench: "0.1.0".into(),
            node: "cnb-x-node0".into(),
        }
    }
}

/// What `cnbench agent --preflight` prints (one JSON line) before a harness builds anything
/// on a machine it reaches over SSH: whether this machine can be a node, in facts the
/// harness checks and names in its refusals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostFacts {
    /// [`PROTOCOL_VERSION`] of this agent.
    pub protocol: u32,
    /// Its cnbench version.
    pub cnbench: String,
    /// The effective user id it runs as (0: root).
    pub euid: u32,
    /// `uname -r`.
    pub kernel_release: String,
    /// Link kinds this kernel can create, of those a node may need (probed in a scratch
    /// namespace only when running as root; empty otherwise).
    pub link_kinds: Vec<String>,
    /// The interface asked about (`--preflight IFACE`), if any.
    pub iface: Option<IfaceFacts>,
}

/// An interface of the agent machine's own namespace, as the preflight saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IfaceFacts {
    /// Its name.
    pub name: String,
    /// Whether it exists.
    pub exists: bool,
    /// Administratively and operationally up.
    pub up: bool,
    /// MTU, bytes.
    pub mtu_bytes: u32,
    /// Its kind (`device` for a NIC's driver).
    pub kind: String,
    /// Its IPv4 addresses with their prefixes (the network the nodes join).
    pub ipv4: Vec<String>,
}
