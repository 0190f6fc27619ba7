//! The [`Backend`] implementation: what flannel-udp needs, builds and promises.

use harness::backend::{BackendInfo, Context, Datapath, Defaults, Expectations};
use harness::fault::FaultKind;
use harness::topology::{NodePlan, Plan, PodNetwork};
use harness::{podnet, Backend, PlanError, Result};

use crate::mode::DatapathMode;
use crate::start::{daemon_label, start_daemon};
use crate::{BRIDGE, INFO, OVERHEAD};

/// The flannel-udp backend, with its datapath mode.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FlannelUdp {
    mode: DatapathMode,
}

impl FlannelUdp {
    /// A backend whose daemons move packets the `mode` way.
    pub fn new(mode: DatapathMode) -> FlannelUdp {
        FlannelUdp { mode }
    }

    /// The datapath mode of its daemons.
    pub fn mode(&self) -> DatapathMode {
        self.mode
    }
}

impl Backend for FlannelUdp {
    fn info(&self) -> &'static BackendInfo {
        &INFO
    }

    fn datapath(&self) -> Datapath {
        // Both modes move every cross-node packet through a userspace process.
        Datapath::Userspace
    }

    fn defaults(&self) -> Defaults {
        harness::podnet::flannel_defaults()
    }

    fn pod_network(&self) -> PodNetwork {
        harness::podnet::FLANNEL_POD_NETWORK
    }

    fn validate(&self, plan: &Plan) -> Result<(), PlanError> {
        let refuse = |why: String| {
            Err(PlanError::Backend {
                backend: INFO.name.into(),
                why,
            })
        };
        if !INFO.underlays.contains(&plan.spec.underlay) {
            return refuse(
                "the daemons send UDP to the other nodes' underlay IPs: use --underlay l2 or l3"
                    .into(),
            );
        }
        if plan.spec.nodes < 2 {
            return refuse(format!(
                "it carries pod traffic between nodes, {} is not enough: use --nodes 2 or more",
                plan.spec.nodes
            ));
        }
        // Pod links are 28 bytes smaller than the underlay; keep them at IPv4's 576 minimum
        // so every probe and workload has room.
        if plan.spec.mtu < 576 + OVERHEAD {
            return refuse(format!(
                "--mtu {}: pod links get the underlay MTU minus {OVERHEAD} (outer IP + UDP), use at least {}",
                plan.spec.mtu,
                576 + OVERHEAD
            ));
        }
        Ok(())
    }

    fn setup(&self, ctx: &Context<'_>) -> Result<()> {
        for node in &ctx.plan.nodes {
            self.setup_node(ctx, node)?;
        }
        Ok(())
    }

    fn setup_node(&self, ctx: &Context<'_>, node: &NodePlan) -> Result<()> {
        podnet::build_pod_bridge(ctx, node, BRIDGE, ctx.plan.spec.mtu - OVERHEAD)?;
        // The node routes between cni0 and flannel0 (net.ipv4.ip_forward, default 0 in a new
        // namespace).
        ctx.host(&node.netns)
            .set_sysctl("net.ipv4.ip_forward", "1")?;
        // The daemon comes last: it creates flannel0 and its route itself, so a restarted
        // daemon restores both.
        start_daemon(ctx, node, self.mode).map(|_| ())
    }

    fn own_faults(&self) -> &'static [FaultKind] {
        &[FaultKind::DaemonRestart]
    }

    fn inject(&self, ctx: &Context<'_>, kind: FaultKind, node: &NodePlan) -> Result<()> {
        match kind {
            // Killed: its TUN, and the route through it, leave with its last fd.
            FaultKind::DaemonRestart => ctx
                .stop_process(&daemon_label(node), &node.netns)
                .map(|_| ()),
            other => Err(unsupported(other)),
        }
    }

    fn lift(&self, ctx: &Context<'_>, kind: FaultKind, node: &NodePlan) -> Result<()> {
        match kind {
            // Started again as setup started it (systemd's Restart=).
            FaultKind::DaemonRestart => start_daemon(ctx, node, self.mode).map(|_| ()),
            other => Err(unsupported(other)),
        }
    }

    fn expectations(&self, plan: &Plan) -> Expectations {
        crate::expect::expectations(plan)
    }

    fn effective_options(&self) -> harness::backend::BackendOptions {
        harness::backend::BackendOptions {
            datapath: Some(self.mode.as_str().into()),
            ..Default::default()
        }
    }

    fn daemon_device(&self) -> Option<&'static str> {
        Some(crate::TUN_DEV)
    }

    fn extra_checks(&self, ctx: &Context<'_>) -> Vec<reports::CheckRecord> {
        crate::restart::daemon_restart(ctx, self.mode)
    }
}

fn unsupported(kind: FaultKind) -> harness::HarnessError {
    harness::HarnessError::Unsupported {
        what: format!("flannel-udp cannot suffer the fault {kind}"),
        fix: "flannel-udp's own fault is daemon-restart".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness::topology::{TopologyRequest, Underlay};

    fn plan(req: TopologyRequest) -> Result<Plan, PlanError> {
        let b = FlannelUdp::default();
        let plan = Plan::new(req.resolve(&b.defaults(), "t1".into()), b.pod_network())?;
        b.validate(&plan)?;
        Ok(plan)
    }

    #[test]
    fn refuses_what_it_cannot_run() {
        let one = plan(TopologyRequest {
            nodes: Some(1),
            underlay: Some(Underlay::None),
            ..Default::default()
        })
        .unwrap_err();
        assert!(one.to_string().contains("--underlay l2 or l3"), "{one}");
        let one_l2 = plan(TopologyRequest {
            nodes: Some(1),
            ..Default::default()
        })
        .unwrap_err();
        assert!(one_l2.to_string().contains("--nodes 2"), "{one_l2}");
        let mtu = plan(TopologyRequest {
            mtu: Some(600),
            ..Default::default()
        })
        .unwrap_err();
        assert!(mtu.to_string().contains("at least 604"), "{mtu}");
        assert!(plan(TopologyRequest {
            underlay: Some(Underlay::L3),
            ..Default::default()
        })
        .is_ok());
    }

    #[test]
    fn both_modes_are_userspace() {
        for m in [DatapathMode::Faithful, DatapathMode::Batched] {
            assert_eq!(FlannelUdp::new(m).datapath(), Datapath::Userspace);
        }
        assert!(crate::make(&Default::default()).is_ok());
        let bad = crate::make(&harness::backend::BackendOptions {
            datapath: Some("xdp".into()),
            ..Default::default()
        });
        assert!(bad.is_err());
    }
}
