//! A backend's userspace daemons, as the harness drives them: one `cnbench daemon <backend>
//! '<json>'` per node, started inside the node and pinned, awaited until it says `ready`;
//! the `daemon-restart` fault; and the backend's own check that the datapath *is* the
//! daemon: stopping node 0's must cut cross-node traffic (its TUN, and with it the route to
//! the pod network, disappears when the last fd of a non-persistent TUN closes), starting it
//! again the way setup did must restore it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use harness::backend::{Context, Expectations, FaultDecl, OwnFaults};
use harness::checks::{icmp_echo, ProbeResult};
use harness::topology::{NodePlan, Plan};
use harness::Result;
use reports::CheckRecord;

use crate::config::tunnel_route;
use crate::sys::daemon_cpu;

/// The node's datapath daemon killed, then started again as setup started it (systemd's
/// `Restart=`).
pub const DAEMON_RESTART: FaultDecl = FaultDecl {
    name: "daemon-restart",
    summary: "the node's datapath daemon killed, then started again",
    needs: "datapath daemon",
    peers_must_relearn: false,
    aliases: &[],
};

/// The name of the backend's own check in results.
pub const CHECK: &str = "daemon-restart";

/// How long a restarted datapath may take to carry the first echo.
const RESTORE_WITHIN: Duration = Duration::from_secs(2);

/// The configuration JSON of a node's daemon: the plan, the node, and the CPU to pin to
/// (none on a VM node, which numbers its own CPUs).
pub type ConfigFn = dyn Fn(&Plan, &NodePlan, Option<usize>) -> String + Send + Sync;

/// A node's argv for a program standing in for the daemon: the plan, the node, the CPU.
pub type ArgvFn = dyn Fn(&Plan, &NodePlan, Option<usize>) -> Vec<String> + Send + Sync;

/// A program started in place of `cnbench daemon <backend>` (a reference forwarder for
/// comparison measurements), with each node's arguments.
struct Program {
    path: PathBuf,
    argv: Box<ArgvFn>,
}

/// The daemons of one backend.
pub struct Daemons {
    /// The backend (`flannel-udp`): `cnbench daemon <name>`, and the daemons' labels.
    name: &'static str,
    /// The TUN each daemon owns (`flannel0`).
    tun: &'static str,
    /// Each node's configuration.
    config: Box<ConfigFn>,
    /// The program that replaces `cnbench daemon <name>`, if any.
    program: Option<Program>,
}

impl std::fmt::Debug for Daemons {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemons")
            .field("name", &self.name)
            .field("tun", &self.tun)
            .field("program", &self.program.as_ref().map(|p| &p.path))
            .finish()
    }
}

impl Daemons {
    /// The daemons of backend `name`, each owning the TUN `tun`, configured by `config`.
    pub fn new(
        name: &'static str,
        tun: &'static str,
        config: impl Fn(&Plan, &NodePlan, Option<usize>) -> String + Send + Sync + 'static,
    ) -> Daemons {
        Daemons {
            name,
            tun,
            config: Box::new(config),
            program: None,
        }
    }

    /// The same daemons, each node's started as `path <argv(plan, node, cpu)>` instead of
    /// `cnbench daemon`. Such a program must create the TUN (up, at the MTU), bind its socket
    /// and then print `ready`; the harness then adds the pod network's route into the TUN
    /// ([`crate::config::tunnel_route`]), as the control plane would, and stops it by pid.
    pub fn with_program(
        mut self,
        path: PathBuf,
        argv: impl Fn(&Plan, &NodePlan, Option<usize>) -> Vec<String> + Send + Sync + 'static,
    ) -> Daemons {
        self.program = Some(Program {
            path,
            argv: Box::new(argv),
        });
        self
    }

    /// How the run's process list names `node`'s daemon (`flannel-udp daemon on n0`).
    pub fn label(&self, node: &NodePlan) -> String {
        format!("{} daemon on {}", self.name, node.role)
    }

    /// Starts `node`'s daemon inside the node and waits until it said `ready` (its TUN, the
    /// route and its socket exist); returns its pid. The one function setup, the fault and
    /// the check use, so a restarted daemon is exactly the one setup started.
    pub fn start(&self, ctx: &Context<'_>, node: &NodePlan) -> Result<u32> {
        let cpu = daemon_cpu().and_then(|c| ctx.host(&node.netns).local_cpu(c));
        let Some(program) = &self.program else {
            let config = (self.config)(ctx.plan, node, cpu);
            return ctx.spawn_daemon(&node.netns, &[self.name.into(), config], &self.label(node));
        };
        let label = self.label(node);
        let argv = (program.argv)(ctx.plan, node, cpu);
        let pid = ctx.spawn_program(&node.netns, &program.path, &argv, &label)?;
        let route = tunnel_route(ctx.plan.spec.pod_cidr, self.tun);
        // Replaced, not added: a restarted program's route may still be there.
        match ctx.host(&node.netns).nl().replace_route(&route) {
            Ok(()) => Ok(pid),
            Err(e) => {
                // The program's TUN is missing or down: it is no datapath. Stopped by pid.
                let _ = ctx.stop_process(&label, &node.netns);
                Err(harness::HarnessError::Process {
                    what: label,
                    netns: node.netns.clone(),
                    message: format!(
                        "said ready, but the route {route} into its TUN cannot be added ({e}): \
                         it must create {} and bring it up before printing `ready`",
                        self.tun
                    ),
                })
            }
        }
    }

    /// Stops node 0's daemon, probes a cross-node pod pair (must fail), starts the daemon
    /// again, probes again (must answer within about 2 s). One record per half.
    pub fn restart_check(&self, ctx: &Context<'_>) -> Vec<CheckRecord> {
        let plan = ctx.plan;
        let pair =
            Expectations::cross_node_pair(plan, false).filter(|(a, _)| plan.pods[*a].node == 0);
        let (Some(node), Some((from, to))) = (plan.nodes.first(), pair) else {
            return Vec::new(); // one node: no tunnel traffic to lose
        };
        let (a, b) = (&plan.pods[from], &plan.pods[to]);
        let label = self.label(node);
        let probe = || icmp_echo(ctx.host(&a.netns), b.ip.addr().into());
        let path = format!("{} -> {} ({}) icmp", a.role, b.role, b.ip.addr());
        let stopped_subject = format!("{label} stopped: {path}");
        let restarted_subject = format!("{label} restarted: {path}");
        let mut out = Vec::new();

        // 1. Stop it.
        let pid = match ctx.stop_process(&label, &node.netns) {
            Ok(pid) => pid,
            Err(e) => {
                out.push(record(
                    &stopped_subject,
                    "no answer",
                    e.to_string(),
                    false,
                    "the daemon setup started is not recorded (did it exit?); see its stderr",
                ));
                return out;
            }
        };
        // The kernel unregisters the TUN while closing the dead daemon's fd; give that a
        // moment to finish so the record says what the probe met. One dump per look: a
        // device that vanishes between two dumps is the expected case here.
        let tun_present = || {
            ctx.host(&node.netns)
                .nl()
                .links()
                .map(|ls| ls.iter().any(|l| l.name == self.tun))
                .unwrap_or(false)
        };
        let gone_by = Instant::now() + Duration::from_millis(500);
        while tun_present() && Instant::now() < gone_by {
            std::thread::sleep(Duration::from_millis(10));
        }
        let tun_left = tun_present();
        let r = probe();
        out.push(record(
            &stopped_subject,
            &format!(
                "no answer ({} and its route leave with the daemon)",
                self.tun
            ),
            format!(
                "{r}; {} {} after stopping pid {pid}",
                self.tun,
                if tun_left { "still present" } else { "gone" }
            ),
            !r.ok(),
            "cross-node traffic still flows without the daemon: something else carries it",
        ));

        // 2. Start it again, exactly as setup did, and wait for the path to carry an echo.
        let started = Instant::now();
        let pid = match self.start(ctx, node) {
            Ok(pid) => pid,
            Err(e) => {
                out.push(record(
                    &restarted_subject,
                    "answer within 2 s of a restart",
                    format!("restart failed: {e}"),
                    false,
                    "the daemon did not come back",
                ));
                return out;
            }
        };
        let mut r: ProbeResult;
        loop {
            r = probe();
            if r.ok() || started.elapsed() >= RESTORE_WITHIN {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        out.push(record(
            &restarted_subject,
            "answer within 2 s of a restart",
            format!(
                "{r} (new pid {pid}, {} ms after the restart began)",
                started.elapsed().as_millis()
            ),
            r.ok(),
            "the restarted daemon does not carry traffic: its TUN, its route or its socket is \
             missing",
        ));
        out
    }
}

fn record(subject: &str, expected: &str, actual: String, ok: bool, why: &str) -> CheckRecord {
    harness::checks::record(
        CHECK,
        subject.into(),
        expected.into(),
        actual,
        ok,
        Some(why.to_string()),
    )
}

/// `daemon-restart`: killed (its TUN, and the route through it, leave with its last fd),
/// then started again as setup started it.
impl OwnFaults for Daemons {
    fn faults(&self) -> &'static [FaultDecl] {
        &[DAEMON_RESTART]
    }

    fn inject(&self, ctx: &Context<'_>, _fault: &FaultDecl, node: &NodePlan) -> Result<()> {
        ctx.stop_process(&self.label(node), &node.netns).map(|_| ())
    }

    fn lift(&self, ctx: &Context<'_>, _fault: &FaultDecl, node: &NodePlan) -> Result<()> {
        self.start(ctx, node).map(|_| ())
    }
}
