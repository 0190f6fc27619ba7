//! A place where cnbench applies netlink changes, reads kernel state and runs processes.
//!
//! Backends and checks talk to nodes, pods, switches and routers only through [`Host`]
//! (docs/design.md §4a). A host is a network namespace either on this machine or on the machine of
//! a node agent (a VM's, one day a remote server's), driven over the agent protocol
//! ([`crate::remote`]); every method means the same on both.

mod proc;

use std::fs;
use std::net::{IpAddr, TcpListener};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::Duration;

use crate::error::{HarnessError, Result};
use crate::local::{exec_to_end, read_proc_net, read_sysctl, write_sysctls};
use crate::netlink::{Netlink, PeerNetns};
use crate::netns::Netns;
use crate::probe::{self, accept_within, listen_in, Echo, ProbeResult};
use crate::process;
use crate::remote::client::CALL_TIMEOUT;
use crate::remote::protocol::{Call, Reply};
use crate::remote::AgentClient;

pub use crate::local::{CmdOutput, ExecInput, Killed};
pub use proc::Proc;

/// One namespace of a run, with its netlink handle.
#[derive(Debug)]
pub struct Host {
    name: String,
    place: Place,
    netlink: Netlink,
}

/// Where a host's namespace is.
#[derive(Debug)]
enum Place {
    /// On this machine.
    Local(Netns),
    /// On a node agent's machine.
    Remote(Arc<AgentClient>),
}

impl Host {
    /// Opens a host on an existing namespace of this machine.
    pub fn open(netns: Netns) -> Result<Host> {
        let netlink = Netlink::open(&netns)?;
        Ok(Host {
            name: netns.name().to_string(),
            place: Place::Local(netns),
            netlink,
        })
    }

    /// A host on the machine of a node agent (the namespace exists there).
    pub fn remote(name: &str, agent: Arc<AgentClient>) -> Host {
        Host {
            name: name.to_string(),
            netlink: Netlink::remote(name, Arc::clone(&agent) as Arc<dyn crate::netlink::Relay>),
            place: Place::Remote(agent),
        }
    }

    /// Namespace name (`cnb-<run>-<role>`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace, when it is on this machine. What only works here (perf tracepoints,
    /// nftables faults) asks for it and says so when it is not.
    pub fn local(&self) -> Option<&Netns> {
        match &self.place {
            Place::Local(ns) => Some(ns),
            Place::Remote(_) => None,
        }
    }

    /// A CPU of this machine to pin a process of this host to: `cpu` when the host is here,
    /// none on another machine (a VM numbers its own CPUs).
    pub fn local_cpu<T>(&self, cpu: T) -> Option<T> {
        self.local().map(|_| cpu)
    }

    /// The namespace on this machine, or an error naming what needed it.
    pub fn require_local(&self, what: &str) -> Result<&Netns> {
        self.local().ok_or_else(|| HarnessError::Unsupported {
            what: format!("{what} in {} needs a namespace on this machine", self.name),
            fix: "run it on the netns substrate (leave out --substrate vm)".into(),
        })
    }

    /// The agent session, when the host is remote.
    pub fn agent(&self) -> Option<&Arc<AgentClient>> {
        match &self.place {
            Place::Local(_) => None,
            Place::Remote(a) => Some(a),
        }
    }

    /// How far the wall clock of this host's machine is from the harness's: none here, a
    /// measured offset on an agent's machine ([`crate::clock`]).
    pub fn clock_offset(&self) -> Result<crate::clock::ClockOffset> {
        match &self.place {
            Place::Local(_) => Ok(crate::clock::ClockOffset::NONE),
            Place::Remote(a) => a.clock_offset(),
        }
    }

    /// Whether two hosts are on the same machine (a veth pair can join them).
    pub fn same_machine(&self, other: &Host) -> bool {
        match (&self.place, &other.place) {
            (Place::Local(_), Place::Local(_)) => true,
            (Place::Remote(a), Place::Remote(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// This host as the far end of a new veth pair created by a host on the same machine.
    pub fn as_peer(&self) -> PeerNetns<'_> {
        match &self.place {
            Place::Local(ns) => PeerNetns::Fd(ns.fd()),
            Place::Remote(_) => PeerNetns::Named(&self.name),
        }
    }

    /// The netlink handle bound to this host.
    pub fn nl(&self) -> &Netlink {
        &self.netlink
    }

    /// Writes a sysctl of this host's network namespace (`key` like `net.ipv4.ip_forward`).
    pub fn set_sysctl(&self, key: &str, value: &str) -> Result<()> {
        self.set_sysctls(&[(key, value)])
    }

    /// Writes several sysctls of this host's namespace at once. `/proc/sys/net` resolves
    /// against the calling thread's namespace, so the writes happen on a thread that entered
    /// it.
    pub fn set_sysctls(&self, pairs: &[(&str, &str)]) -> Result<()> {
        match &self.place {
            Place::Local(ns) => write_sysctls(ns, pairs),
            Place::Remote(agent) => agent
                .call(
                    Call::SetSysctls {
                        netns: self.name.clone(),
                        pairs: pairs
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect(),
                    },
                    CALL_TIMEOUT,
                )
                .map(|_| ()),
        }
    }

    /// Reads a sysctl of this host's network namespace.
    pub fn sysctl(&self, key: &str) -> Result<String> {
        match &self.place {
            Place::Local(ns) => read_sysctl(ns, key),
            Place::Remote(agent) => text(
                agent,
                agent.call(
                    Call::Sysctl {
                        netns: self.name.clone(),
                        key: key.to_string(),
                    },
                    CALL_TIMEOUT,
                )?,
            ),
        }
    }

    /// Reads a file under `/proc/net` as this namespace sees it (`snmp`, `dev`).
    pub fn proc_net(&self, file: &str) -> Result<String> {
        match &self.place {
            Place::Local(ns) => read_proc_net(ns, file),
            Place::Remote(agent) => text(
                agent,
                agent.call(
                    Call::ProcNet {
                        netns: self.name.clone(),
                        file: file.to_string(),
                    },
                    CALL_TIMEOUT,
                )?,
            ),
        }
    }

    /// Writes a file where this host's processes can read it (a daemon's configuration) and
    /// returns its path there. `name` is a file name; the file lives in the run's directory
    /// under `/run/cnbench/<run>/` on the host's machine.
    pub fn write_file(&self, run_id: &str, name: &str, contents: &str) -> Result<String> {
        let path = format!("/run/cnbench/{run_id}/{name}");
        match &self.place {
            Place::Local(_) => {
                if let Some(dir) = std::path::Path::new(&path).parent() {
                    fs::create_dir_all(dir)
                        .map_err(|e| HarnessError::io(format!("create {}", dir.display()), e))?;
                }
                fs::write(&path, contents)
                    .map_err(|e| HarnessError::io(format!("write {path}"), e))?
            }
            Place::Remote(agent) => {
                agent.call(
                    Call::WriteFile {
                        path: path.clone(),
                        contents: contents.to_string(),
                    },
                    CALL_TIMEOUT,
                )?;
            }
        }
        Ok(path)
    }

    /// Starts `cmd` inside this host; the child dies with the harness. Only on this machine:
    /// [`Host::start`] works on every host.
    pub fn spawn(&self, cmd: Command, what: &str) -> Result<Child> {
        process::spawn_in(self.require_local(what)?, cmd, what)
    }

    /// Starts a process inside this host with its stdout read line by line (and its stdin
    /// writable when `stdin`). A program named `cnbench` is this build's binary here, and
    /// the agent's own binary on an agent's machine.
    pub fn start(
        &self,
        exe: &std::path::Path,
        args: &[String],
        stdin: bool,
        what: &str,
    ) -> Result<Proc> {
        match &self.place {
            Place::Local(ns) => {
                let mut cmd = Command::new(exe);
                cmd.args(args);
                Proc::start_local(ns, cmd, stdin, what)
            }
            Place::Remote(agent) => {
                let mut argv = vec!["cnbench".to_string()];
                argv.extend(args.iter().cloned());
                let p = agent.spawn(&self.name, argv, stdin, what)?;
                Ok(Proc::remote(&self.name, what, p))
            }
        }
    }

    /// Runs `program args` inside this host to its end (killed after `limit`) and returns
    /// what it wrote: for short commands such as `birdc show protocols`. On an agent's
    /// machine the program is looked up on that machine's `PATH`. An error if it does not
    /// finish in time.
    pub fn run(&self, program: &str, args: &[String], limit: Duration) -> Result<CmdOutput> {
        let out = self.exec(
            program,
            args,
            &ExecInput {
                limit,
                ..ExecInput::default()
            },
        )?;
        if out.killed.is_some() {
            return Err(HarnessError::Process {
                what: program.to_string(),
                netns: self.name.clone(),
                message: format!("did not finish within {} ms", limit.as_millis()),
            });
        }
        Ok(out)
    }

    /// Runs `program args` inside this host to its end with `input` (environment, stdin, a
    /// time limit), as a container runtime runs a CNI plugin: one that does not finish in time
    /// is killed by its pid and returned with [`CmdOutput::killed`] set, with whatever it
    /// wrote. `program` is a path or a name on `PATH` of the host's machine.
    pub fn exec(&self, program: &str, args: &[String], input: &ExecInput) -> Result<CmdOutput> {
        match &self.place {
            Place::Local(ns) => {
                let mut cmd = Command::new(program);
                cmd.args(args);
                exec_to_end(ns, cmd, input)
            }
            Place::Remote(agent) => {
                let mut argv = vec![program.to_string()];
                argv.extend(args.iter().cloned());
                match agent.call(
                    Call::Run {
                        netns: self.name.clone(),
                        argv,
                        timeout_ms: input.limit.as_millis() as u64,
                        env: input.env.clone(),
                        stdin: input.stdin.clone(),
                    },
                    CALL_TIMEOUT + input.limit,
                )? {
                    Reply::Output {
                        status,
                        stdout,
                        stderr,
                        killed,
                        pid,
                    } => Ok(CmdOutput {
                        status,
                        stdout,
                        stderr,
                        killed,
                        pid,
                    }),
                    other => Err(HarnessError::Agent {
                        node: agent.node().to_string(),
                        message: format!("answered a run with {other:?}"),
                    }),
                }
            }
        }
    }

    /// Sends ICMP echo requests from this host to `to`; see
    /// [`probe::icmp_probe_within`].
    pub fn icmp_probe(&self, to: IpAddr, df_size: Option<usize>, timeout: Duration) -> Echo {
        match &self.place {
            Place::Local(ns) => probe::icmp_probe_within(ns, to, df_size, timeout),
            Place::Remote(agent) => {
                match agent.icmp_probe(&self.name, to, df_size.map(|s| s as u32), timeout) {
                    Ok(Reply::Echo(e)) => e.into(),
                    Ok(other) => Echo {
                        result: ProbeResult::SendError(format!("agent answered {other:?}")),
                        ttl: None,
                    },
                    Err(e) => Echo {
                        result: ProbeResult::SendError(e.to_string()),
                        ttl: None,
                    },
                }
            }
        }
    }

    /// Opens a TCP listener in this host on `ip`, any free port.
    pub fn tcp_listen(&self, ip: IpAddr) -> std::result::Result<Listener<'_>, String> {
        self.tcp_listen_on(ip, 0).map_err(|e| e.message)
    }

    /// Opens a TCP listener in this host on `ip:port` (port 0: any free port).
    pub fn tcp_listen_on(
        &self,
        ip: IpAddr,
        port: u16,
    ) -> std::result::Result<Listener<'_>, ListenError> {
        let fail = |message: String, in_use: bool| ListenError { message, in_use };
        match &self.place {
            Place::Local(ns) => {
                let (l, port) = listen_in(ns, ip, port).map_err(|e| ListenError {
                    message: e.to_string(),
                    in_use: e.kind() == std::io::ErrorKind::AddrInUse,
                })?;
                Ok(Listener {
                    port,
                    kind: Some(ListenerKind::Local(l)),
                })
            }
            Place::Remote(agent) => match agent.call_raw(
                Call::TcpListen {
                    netns: self.name.clone(),
                    ip,
                    port,
                },
                CALL_TIMEOUT,
            ) {
                Ok(Ok(Reply::Listening { listener_id, port })) => Ok(Listener {
                    port,
                    kind: Some(ListenerKind::Remote(agent, listener_id)),
                }),
                Ok(Ok(other)) => Err(fail(format!("agent answered {other:?}"), false)),
                Ok(Err(e)) => Err(fail(e.message, e.errno == Some(libc::EADDRINUSE))),
                Err(e) => Err(fail(format!("listen on {ip}:{port}: {e}"), false)),
            },
        }
    }

    /// Connects from this host to `ip:port` within `timeout`.
    pub fn tcp_connect(&self, ip: IpAddr, port: u16, timeout: Duration) -> ProbeResult {
        match &self.place {
            Place::Local(ns) => probe::tcp_connect_to(ns, ip, port, timeout),
            Place::Remote(agent) => match agent.call(
                Call::TcpConnect {
                    netns: self.name.clone(),
                    ip,
                    port,
                    timeout_ms: timeout.as_millis() as u64,
                },
                CALL_TIMEOUT + timeout,
            ) {
                Ok(Reply::Probe(p)) => p.into(),
                Ok(other) => ProbeResult::SendError(format!("agent answered {other:?}")),
                Err(e) => ProbeResult::SendError(e.to_string()),
            },
        }
    }
}

/// Why a listener could not be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenError {
    /// In words.
    pub message: String,
    /// Whether the address was in use (EADDRINUSE): a port space shared with a listener.
    pub in_use: bool,
}

/// A TCP listener in a host.
pub struct Listener<'a> {
    /// Its port.
    pub port: u16,
    /// None once accepted.
    kind: Option<ListenerKind<'a>>,
}

enum ListenerKind<'a> {
    Local(TcpListener),
    Remote(&'a Arc<AgentClient>, u64),
}

impl Listener<'_> {
    /// Waits up to `timeout` for one connection and returns its source address.
    pub fn accept_peer(mut self, timeout: Duration) -> std::result::Result<IpAddr, String> {
        match self.kind.take().expect("not yet accepted") {
            ListenerKind::Local(l) => accept_within(&l, timeout),
            ListenerKind::Remote(agent, listener_id) => match agent.call(
                Call::TcpAccept {
                    listener_id,
                    timeout_ms: timeout.as_millis() as u64,
                },
                CALL_TIMEOUT + timeout,
            ) {
                Ok(Reply::Peer(ip)) => Ok(ip),
                Ok(other) => Err(format!("agent answered {other:?}")),
                Err(e) => Err(format!("accept: {e}")),
            },
        }
    }
}

impl Drop for Listener<'_> {
    fn drop(&mut self) {
        // A listener never accepted from is closed on the agent too.
        if let Some(ListenerKind::Remote(agent, id)) = &self.kind {
            let _ = agent.call(Call::TcpClose { listener_id: *id }, CALL_TIMEOUT);
        }
    }
}

fn text(agent: &AgentClient, reply: Reply) -> Result<String> {
    match reply {
        Reply::Text(t) => Ok(t),
        other => Err(HarnessError::Agent {
            node: agent.node().to_string(),
            message: format!("expected a text answer, got {other:?}"),
        }),
    }
}
