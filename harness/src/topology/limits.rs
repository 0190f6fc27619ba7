//! Every limit of the planner in one place, with the reason for each (docs/design.md §3):
//! how many nodes, pods and routers a plan may have, how many ports one underlay bridge
//! takes, and how the default address ranges grow with the node count. Each refusal names
//! the limit and the option that fixes it.

use ipnet::Ipv4Net;

use super::{host_count, invalid, Plan};
use crate::error::PlanError;

/// Largest node count the planner accepts. The bound is naming: a pod's host-side veth is
/// `v<run id><role>` and must fit a device name's 15 bytes (`IFNAMSIZ` 16 with its NUL), so
/// with a 6-character run id and up to [`MAX_PODS_PER_NODE`] pods the longest role is
/// `n999p249`: nodes `n0` to `n999`. It is also what one machine holds: 1,000 BIRDs in
/// route reflection (1,000 node and 1,000 pod namespaces, 5.6 GiB of daemon memory) ran on
/// this 2-core, 24 GiB machine (docs/machine-notes.md, "BIRD at scale").
pub const MAX_NODES: u32 = 1000;

/// Largest pod count per node the planner accepts: a /24 block holds 253 pods beside its
/// gateway, and the pod role `p249` keeps the veth name within 15 bytes (see [`MAX_NODES`]).
pub const MAX_PODS_PER_NODE: u32 = 250;

/// Largest pod count of a topology whose pods are probed pair by pair (`run`, `up` then
/// `check`, `fault`, `churn`): the reachability matrix probes every ordered pair of pods, so
/// its time grows with the square of their number (500 pods are 249,500 pairs). `scale`
/// probes no pairs and is bound by [`MAX_PLANNED_PODS`] only.
pub const MAX_PODS: u32 = 500;

/// Largest pod count of any plan: two pods on each of [`MAX_NODES`] nodes. Each pod with its
/// own namespace costs a namespace, a veth pair and its routes; past this the machine's
/// namespace creation (each holds the kernel's RTNL lock) dominates a run.
pub const MAX_PLANNED_PODS: u32 = 2 * MAX_NODES;

/// Largest router count of the l3 underlay: the article's two border routers.
pub const MAX_ROUTERS: u32 = 2;

/// The Linux bridge's port limit, `BR_MAX_PORTS` (`1 << BR_PORT_BITS`, 10 bits) in
/// net/bridge/br_private.h: a port number is 10 bits of the STP port identifier, and
/// `find_portno` in net/bridge/br_if.c keeps port 0 out of use, so a bridge takes at most
/// 1,023 ports and `br_add_if` fails with EXFULL beyond them.
pub const BR_MAX_PORTS: u32 = 1024;

/// The ports one underlay bridge takes by default: all the kernel allows
/// ([`BR_MAX_PORTS`] less port 0). `--bridge-ports` lowers it, to test a switch of several
/// bridges with a few nodes.
pub const BRIDGE_PORTS: u32 = BR_MAX_PORTS - 1;

/// The first address of every default underlay range: `10.168.0.0` (the article's).
const UNDERLAY_BASE: u32 = 0x0aa8_0000;

/// The widest default underlay subnet: a scaled default never grows past `10.168.0.0/16`.
const WIDEST_UNDERLAY_PREFIX: u8 = 16;

/// The widest a default pod network grows to: a /12 of /24 blocks holds 4,096 nodes.
const WIDEST_POD_PREFIX: u8 = 12;

/// The longest prefix (from /24 down to /16) whose subnet holds `hosts` host addresses.
fn prefix_for_hosts(hosts: u64) -> u8 {
    (WIDEST_UNDERLAY_PREFIX..=24)
        .rev()
        .find(|p| host_count(&Ipv4Net::new(0.into(), *p).expect("valid")) >= hosts)
        .unwrap_or(WIDEST_UNDERLAY_PREFIX)
}

/// The default l2 underlay for `nodes`: `10.168.0.0/24` while it holds them, else the
/// smallest wider subnet at the same address (`10.168.0.0/22` for 1,000 nodes), so node N is
/// always `10.168.0.0` + N + 1.
pub fn default_l2_cidr(nodes: u32) -> Ipv4Net {
    Ipv4Net::new(UNDERLAY_BASE.into(), prefix_for_hosts(u64::from(nodes))).expect("valid")
}

/// The default l3 segments for `nodes` and `routers`: `10.168.1.0/24` and `10.168.2.0/24`
/// while a /24 holds a segment's nodes (half of them, rounded up) and its routers; else
/// segment k is the k-th subnet of the smallest prefix that does (`10.168.2.0/23` and
/// `10.168.4.0/23` for 1,000 nodes). Nodes keep their positions in their segment.
pub fn default_l3_cidrs(nodes: u32, routers: u32) -> Vec<Ipv4Net> {
    let need = u64::from(nodes.div_ceil(2)) + u64::from(routers.max(1));
    let prefix = prefix_for_hosts(need);
    let size = 1u32 << (32 - u32::from(prefix));
    (1..=2)
        .map(|k| Ipv4Net::new((UNDERLAY_BASE + k * size).into(), prefix).expect("valid"))
        .collect()
}

/// A backend's default pod network widened to hold `nodes` blocks of `/block_prefix`: the
/// default itself while it holds them, else the smallest wider network at the same address
/// (`100.96.0.0/16` of /24 blocks becomes `100.96.0.0/14` for 1,000 nodes), so node N's
/// block stays the N-th. A default whose address is not aligned for the wider prefix is kept
/// as it is, and validation names the fix (`--pod-cidr`).
pub fn scaled_pod_cidr(default: Ipv4Net, block_prefix: u8, nodes: u32) -> Ipv4Net {
    let mut net = default;
    while net.prefix_len() > WIDEST_POD_PREFIX
        && block_prefix >= net.prefix_len()
        && (1u64 << u32::from(block_prefix - net.prefix_len())) < u64::from(nodes)
    {
        let wider = Ipv4Net::new(net.network(), net.prefix_len() - 1).expect("valid");
        if wider.network() != net.network() {
            return default;
        }
        net = wider;
    }
    net
}

/// How many nodes each bridge of an l2 switch holds, in bridge order: one bridge while
/// `ports` take every node; else the first bridge keeps a port per further bridge for the
/// trunk that joins it (a star, so any two nodes are at most three bridges apart) and each
/// further bridge one port for its trunk. Nodes fill the bridges in order.
pub fn switch_layout(nodes: u32, ports: u32) -> Result<Vec<u32>, PlanError> {
    if nodes <= ports {
        return Ok(vec![nodes]);
    }
    // b bridges hold (ports - (b - 1)) + (b - 1) * (ports - 1) nodes.
    for b in 2..=ports {
        let first = ports - (b - 1);
        let capacity = u64::from(first) + u64::from(b - 1) * u64::from(ports - 1);
        if capacity >= u64::from(nodes) {
            let mut left = nodes;
            let mut out = Vec::new();
            for i in 0..b {
                let take = left.min(if i == 0 { first } else { ports - 1 });
                out.push(take);
                left -= take;
            }
            return Ok(out);
        }
    }
    Err(invalid(
        "bridge-ports",
        ports,
        format!(
            "a star of bridges of {ports} ports holds fewer than {nodes} nodes: use more ports"
        ),
    ))
}

/// Refuses a plan whose pods are too many to probe pair by pair ([`MAX_PODS`]): for the
/// commands that run the checks, before anything is made.
pub fn check_probed_pods(plan: &Plan) -> Result<(), PlanError> {
    let pods = plan.pods.len() as u64;
    if pods > u64::from(MAX_PODS) {
        return Err(invalid(
            "pods-per-node",
            plan.spec.pods_per_node,
            format!(
                "{} nodes x {} pods is {pods} pods, at most {MAX_PODS} fit (the checks probe \
                 every pod pair): use fewer nodes or pods per node (`cnbench scale` probes no \
                 pairs and takes up to {MAX_NODES} nodes)",
                plan.spec.nodes, plan.spec.pods_per_node
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_runs_keep_todays_defaults() {
        assert_eq!(default_l2_cidr(2).to_string(), "10.168.0.0/24");
        assert_eq!(default_l2_cidr(254).to_string(), "10.168.0.0/24");
        assert_eq!(default_l2_cidr(255).to_string(), "10.168.0.0/23");
        assert_eq!(default_l2_cidr(1000).to_string(), "10.168.0.0/22");
        let l3 = |n, r| {
            default_l3_cidrs(n, r)
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(l3(3, 1), ["10.168.1.0/24", "10.168.2.0/24"]);
        assert_eq!(l3(500, 2), ["10.168.1.0/24", "10.168.2.0/24"]);
        assert_eq!(l3(1000, 2), ["10.168.2.0/23", "10.168.4.0/23"]);
        let pods: Ipv4Net = "100.96.0.0/16".parse().unwrap();
        assert_eq!(scaled_pod_cidr(pods, 24, 256), pods);
        assert_eq!(scaled_pod_cidr(pods, 24, 1000).to_string(), "100.96.0.0/14");
        // Not aligned for a wider prefix: kept, and validation names the fix.
        let odd: Ipv4Net = "100.97.0.0/16".parse().unwrap();
        assert_eq!(scaled_pod_cidr(odd, 24, 1000), odd);
    }

    #[test]
    fn a_switch_splits_where_a_bridge_is_full() {
        assert_eq!(switch_layout(1000, BRIDGE_PORTS).unwrap(), [1000]);
        assert_eq!(switch_layout(1023, BRIDGE_PORTS).unwrap(), [1023]);
        assert_eq!(switch_layout(1024, BRIDGE_PORTS).unwrap(), [1022, 2]);
        assert_eq!(switch_layout(4, 3).unwrap(), [2, 2]);
        assert_eq!(switch_layout(5, 3).unwrap(), [1, 2, 2]);
        let e = switch_layout(6, 3).unwrap_err();
        assert!(e.to_string().starts_with("--bridge-ports 3:"), "{e}");
    }
}
