//! The [`Backend`] implementation: what flannel-udp needs, builds and promises.

use std::path::PathBuf;

use harness::backend::{
    BackendInfo, BackendOptions, Capabilities, Context, Expectations, SysctlExpect,
};
use harness::podnet::{self, BridgePods};
use harness::topology::{NodePlan, Plan};
use harness::{Backend, PlanError, Result};
use userspace::Daemons;

use crate::config::DaemonConfig;
use crate::mode::DatapathMode;
use crate::{BRIDGE, INFO, OVERHEAD, TUN_DEV};

/// Pods on a node's cni0; every daemon already routes the node's whole block.
static PODS: BridgePods = BridgePods {
    bridge: BRIDGE,
    overhead_bytes: OVERHEAD,
};

/// The flannel-udp backend, with its datapath mode (node 0's, and the other nodes'), or the
/// program that replaces its daemon.
#[derive(Debug)]
pub struct FlannelUdp {
    mode: DatapathMode,
    peer: Option<DatapathMode>,
    program: Option<PathBuf>,
    daemons: Daemons,
}

impl Default for FlannelUdp {
    fn default() -> Self {
        FlannelUdp::new(DatapathMode::default())
    }
}

impl FlannelUdp {
    /// A backend whose daemons move packets the `mode` way.
    pub fn new(mode: DatapathMode) -> FlannelUdp {
        FlannelUdp::with_peers(mode, None)
    }

    /// A backend whose node 0 daemon moves packets the `mode` way and every other node's the
    /// `peer` way (none: `mode` too). The datapaths share one wire format, so any mix
    /// interoperates.
    pub fn with_peers(mode: DatapathMode, peer: Option<DatapathMode>) -> FlannelUdp {
        FlannelUdp {
            mode,
            peer,
            program: None,
            daemons: daemons(mode, peer),
        }
    }

    /// A backend whose nodes run `program` in place of `cnbench daemon flannel-udp`
    /// ([`crate::DAEMON_PROGRAM_OPTION`]): for reference measurements on the same topology.
    pub fn with_program(program: PathBuf) -> FlannelUdp {
        let mode = DatapathMode::default();
        FlannelUdp {
            mode,
            peer: None,
            program: Some(program.clone()),
            daemons: daemons(mode, None).with_program(program, move |plan, node, cpu| {
                DaemonConfig::for_node(plan, node, mode, cpu).program_args()
            }),
        }
    }

    /// The datapath mode of its daemons.
    pub fn mode(&self) -> DatapathMode {
        self.mode
    }
}

/// Each node's `cnbench daemon flannel-udp`: node 0's moving packets the `mode` way, the
/// others' the `peer` way (none: `mode` too).
fn daemons(mode: DatapathMode, peer: Option<DatapathMode>) -> Daemons {
    Daemons::new("flannel-udp", TUN_DEV, move |plan, node, cpu| {
        let m = if node.index == 0 {
            mode
        } else {
            peer.unwrap_or(mode)
        };
        DaemonConfig::for_node(plan, node, m, cpu).to_json()
    })
}

impl Backend for FlannelUdp {
    fn info(&self) -> &BackendInfo {
        &INFO
    }

    fn options(&self) -> BackendOptions {
        match &self.program {
            Some(p) => BackendOptions::new().with("daemon-program", &p.display().to_string()),
            None => {
                let o = BackendOptions::new().with("datapath", self.mode.as_str());
                match self.peer {
                    Some(p) => o.with("peer-datapath", p.as_str()),
                    None => o,
                }
            }
        }
    }

    fn validate(&self, plan: &Plan) -> Result<(), PlanError> {
        INFO.require_underlay(
            plan,
            "the daemons send UDP to the other nodes' underlay IPs: use --underlay l2 or l3",
        )?;
        if plan.spec.nodes < 2 {
            return Err(INFO.refuse(format!(
                "it carries pod traffic between nodes, {} is not enough: use --nodes 2 or more",
                plan.spec.nodes
            )));
        }
        // Pod links are 28 bytes smaller than the underlay; keep them at IPv4's 576 minimum
        // so every probe and workload has room.
        if plan.spec.mtu < 576 + OVERHEAD {
            return Err(INFO.refuse(format!(
                "--mtu {}: pod links get the underlay MTU minus {OVERHEAD} (outer IP + UDP), use at least {}",
                plan.spec.mtu,
                576 + OVERHEAD
            )));
        }
        Ok(())
    }

    fn setup_node(&self, ctx: &Context<'_>, node: &NodePlan) -> Result<()> {
        podnet::build_pod_bridge(ctx, node, BRIDGE, ctx.plan.spec.mtu - OVERHEAD)?;
        // The node routes between cni0 and flannel0 (net.ipv4.ip_forward, default 0 in a new
        // namespace).
        SysctlExpect::write(ctx.host(&node.netns), &[SysctlExpect::ip_forward()])?;
        // The daemon comes last: it creates flannel0 and its route itself, so a restarted
        // daemon restores both.
        self.daemons.start(ctx, node).map(|_| ())
    }

    fn capabilities(&self) -> Capabilities<'_> {
        Capabilities {
            faults: Some(&self.daemons),
            pods: Some(&PODS),
            ..Capabilities::default()
        }
    }

    fn expectations(&self, plan: &Plan) -> Expectations {
        crate::expect::expectations(plan)
    }

    fn extra_checks(&self, ctx: &Context<'_>) -> Vec<reports::CheckRecord> {
        self.daemons.restart_check(ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness::topology::{TopologyRequest, Underlay};

    fn plan(req: TopologyRequest) -> Result<Plan, PlanError> {
        let plan = INFO.plan(&req, "t1".into())?;
        FlannelUdp::default().validate(&plan)?;
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
    fn both_modes_are_userspace_and_say_which_they_are() {
        let plan = plan(TopologyRequest::default()).unwrap();
        for m in [
            DatapathMode::Faithful,
            DatapathMode::Batched,
            DatapathMode::Offload,
        ] {
            let options = BackendOptions::new().with("datapath", m.as_str());
            let b = crate::make(&options, &plan).unwrap();
            assert_eq!(b.info().datapath, harness::Datapath::Userspace);
            assert_eq!(b.options(), options);
        }
        // A mixed run says what each side ran; a bad peer value names its own flag.
        let mixed = BackendOptions::new()
            .with("datapath", "offload")
            .with("peer-datapath", "faithful");
        assert_eq!(crate::make(&mixed, &plan).unwrap().options(), mixed);
        let bad = BackendOptions::new().with("peer-datapath", "xdp");
        let Err(e) = crate::make(&bad, &plan) else {
            panic!("--peer-datapath xdp taken")
        };
        assert!(e.starts_with("--peer-datapath xdp"), "{e}");
        let defaulted = crate::make(&BackendOptions::new(), &plan).unwrap();
        assert_eq!(defaulted.options().get("datapath"), Some("faithful"));
        // Every value the option declares is one the backend takes.
        for (v, _) in crate::DATAPATH_OPTION.values {
            assert!(DatapathMode::from_option(Some(v)).is_ok(), "{v}");
        }
    }
}
