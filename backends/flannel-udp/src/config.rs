//! What a node's daemon is told: the tunnel every userspace datapath has (its node, the pod
//! network, which node owns each remote pod block, its TUN; see `userspace::TunnelConfig`),
//! flannel's UDP port, and how to move packets.

use harness::topology::{NodePlan, Plan};
use serde::{Deserialize, Serialize};
use userspace::{DaemonError, TunnelConfig};

use crate::mode::DatapathMode;
use crate::{OVERHEAD, TUN_DEV, UDP_PORT};

/// The largest IP packet one UDP datagram carries: 65535 − 20 (IP) − 8 (UDP).
pub const MAX_TUN_MTU: u32 = 65507;

/// The daemon's whole configuration (`cnbench daemon flannel-udp '<json>'`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// The node, its peers and its TUN.
    pub tunnel: TunnelConfig,
    /// UDP port of every daemon (8285).
    pub port: u16,
    /// How packets are moved.
    pub datapath: DatapathMode,
}

impl DaemonConfig {
    /// The configuration of `node`'s daemon in `plan`, pinned to `cpu`.
    pub fn for_node(
        plan: &Plan,
        node: &NodePlan,
        datapath: DatapathMode,
        cpu: Option<usize>,
    ) -> DaemonConfig {
        let mut tunnel = TunnelConfig::for_node(plan, node, TUN_DEV, OVERHEAD);
        tunnel.cpu = cpu;
        tunnel.offload = datapath == DatapathMode::Offload;
        DaemonConfig {
            tunnel,
            port: UDP_PORT,
            datapath,
        }
    }

    /// Parses and checks a configuration.
    pub fn parse(json: &str) -> Result<DaemonConfig, DaemonError> {
        let c: DaemonConfig = serde_json::from_str(json).map_err(|e| DaemonError::Config {
            daemon: "flannel-udp",
            why: format!("not a flannel-udp daemon configuration: {e}"),
        })?;
        c.tunnel.validate("flannel-udp", MAX_TUN_MTU)?;
        if c.tunnel.offload != (c.datapath == DatapathMode::Offload) {
            return Err(DaemonError::Config {
                daemon: "flannel-udp",
                why: format!(
                    "tunnel.offload {} with datapath {}: the TUN has offloads exactly when the datapath is `offload`",
                    c.tunnel.offload,
                    c.datapath.as_str()
                ),
            });
        }
        if c.port == 0 {
            return Err(DaemonError::Config {
                daemon: "flannel-udp",
                why: "UDP port 0: use flannel's 8285".into(),
            });
        }
        Ok(c)
    }

    /// The configuration as the argv of a `--daemon-program`: `NODE_IP PORT TUN MTU CPU|-
    /// BLOCK/LEN=PEER_IP...` (the pod network's route is the harness's to add).
    pub fn program_args(&self) -> Vec<String> {
        let t = &self.tunnel;
        let mut argv = vec![
            t.node_ip.to_string(),
            self.port.to_string(),
            t.tun.clone(),
            t.mtu.to_string(),
            t.cpu.map_or("-".into(), |c| c.to_string()),
        ];
        argv.extend(t.peers.iter().map(|p| format!("{}={}", p.block, p.node_ip)));
        argv
    }

    /// The configuration as the JSON argument of `cnbench daemon flannel-udp`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a daemon configuration serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness::topology::TopologyRequest;

    #[test]
    fn built_from_the_plan_and_read_back() {
        let plan = crate::INFO
            .plan(&TopologyRequest::default(), "t1".into())
            .unwrap();
        let c = DaemonConfig::for_node(&plan, &plan.nodes[0], DatapathMode::Batched, Some(1));
        assert_eq!(c.tunnel.mtu, 1472);
        assert_eq!(c.tunnel.peers.len(), 1);
        assert_eq!(c.tunnel.peers[0].block.to_string(), "100.96.1.0/24");
        assert_eq!(DaemonConfig::parse(&c.to_json()).unwrap(), c);
        let mut zero = c.clone();
        zero.port = 0;
        assert!(DaemonConfig::parse(&zero.to_json())
            .unwrap_err()
            .to_string()
            .contains("8285"));
        assert!(DaemonConfig::parse("{}").is_err());
        let o = DaemonConfig::for_node(&plan, &plan.nodes[1], DatapathMode::Offload, None);
        assert!(o.tunnel.offload && !c.tunnel.offload);
        assert_eq!(DaemonConfig::parse(&o.to_json()).unwrap(), o);
        let mut odd = o.clone();
        odd.tunnel.offload = false;
        assert!(DaemonConfig::parse(&odd.to_json()).is_err());
        assert_eq!(
            c.program_args(),
            [
                "10.168.0.1",
                "8285",
                "flannel0",
                "1472",
                "1",
                "100.96.1.0/24=10.168.0.2"
            ]
        );
    }
}
