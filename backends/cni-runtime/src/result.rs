//! What plugins print (CNI specification §5): the result of an ADD (interfaces, IPs,
//! routes), a VERSION answer, an error. Results of 0.3.x and 0.4.0 (IPs carry a `version`)
//! and of 1.x are read into one shape; the JSON as printed is kept too, since it is the next
//! plugin's `prevResult` and DEL's.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An ADD result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CniResult {
    /// The version it is written in.
    #[serde(rename = "cniVersion", default)]
    pub cni_version: String,
    /// Every interface the attachment made, host-side ones included.
    #[serde(default)]
    pub interfaces: Vec<Interface>,
    /// The addresses it assigned.
    #[serde(default)]
    pub ips: Vec<IpConfig>,
    /// The routes it added.
    #[serde(default)]
    pub routes: Vec<Route>,
}

/// An interface of a result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    /// Its name.
    pub name: String,
    /// Its MAC, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// Its MTU in bytes, if the plugin said (1.1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// The namespace path it is in (`CNI_NETNS`); empty or absent on the host (the node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
}

impl Interface {
    /// Whether it is in the pod rather than on the node.
    pub fn in_pod(&self) -> bool {
        self.sandbox.as_deref().is_some_and(|s| !s.is_empty())
    }
}

/// An address of a result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpConfig {
    /// The address with its prefix.
    pub address: IpNet,
    /// The subnet's gateway, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    /// Index into the result's interfaces of the interface it is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<usize>,
}

/// A route of a result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// Destination.
    pub dst: IpNet,
    /// Next hop; when absent, the gateway of the address the route goes with may be used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<IpAddr>,
    /// The routing table it is in (1.1.0); none: the main table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<u32>,
}

/// A CNI error (§5).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ErrorResult {
    /// The code (1 incompatible version, 7 invalid configuration, 11 try again, ...).
    pub code: u32,
    /// A short message.
    #[serde(default)]
    pub msg: String,
    /// A longer one.
    #[serde(default)]
    pub details: String,
}

impl CniResult {
    /// Reads an ADD result; `Err` says in a few words why `v` is not one.
    pub fn from_json(v: &Value) -> Result<CniResult, String> {
        if !v.is_object() {
            return Err(format!("a JSON {} rather than an object", kind(v)));
        }
        if v.get("ip4").is_some() || v.get("ip6").is_some() {
            return Err("a CNI 0.2.0 result (ip4/ip6), which cnbench does not read".into());
        }
        let r: CniResult = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
        if r.cni_version.is_empty() {
            return Err("a JSON object without \"cniVersion\"".into());
        }
        for ip in &r.ips {
            if let Some(i) = ip.interface.filter(|i| *i >= r.interfaces.len()) {
                return Err(format!(
                    "a result whose address {} points at interface {i} of {}",
                    ip.address,
                    r.interfaces.len()
                ));
            }
        }
        Ok(r)
    }

    /// The interfaces in the pod, with their index.
    pub fn pod_interfaces(&self) -> impl Iterator<Item = (usize, &Interface)> {
        self.interfaces
            .iter()
            .enumerate()
            .filter(|(_, i)| i.in_pod())
    }

    /// The interfaces on the node, with their index.
    pub fn node_interfaces(&self) -> impl Iterator<Item = (usize, &Interface)> {
        self.interfaces
            .iter()
            .enumerate()
            .filter(|(_, i)| !i.in_pod())
    }

    /// The addresses on the pod interface `ifname` (or, where the result does not say which
    /// interface an address is on, every address), each with its gateway, in result order.
    pub fn pod_addresses(&self, ifname: &str) -> Vec<(IpNet, Option<IpAddr>)> {
        self.ips
            .iter()
            .filter(|ip| match ip.interface {
                Some(i) => self.interfaces[i].name == ifname && self.interfaces[i].in_pod(),
                None => true,
            })
            .map(|ip| (ip.address, ip.gateway))
            .collect()
    }

    /// The first IPv4 address on the pod interface `ifname` (or, when the result does not
    /// say which interface an address is on, the first IPv4 address), with its gateway (an
    /// IPv4 one; a gateway of the other family is no gateway of the address).
    pub fn pod_ipv4(&self, ifname: &str) -> Option<(ipnet::Ipv4Net, Option<std::net::Ipv4Addr>)> {
        self.pod_addresses(ifname)
            .into_iter()
            .find_map(|(a, gw)| match (a, gw) {
                (IpNet::V4(a), Some(IpAddr::V4(g))) => Some((a, Some(g))),
                (IpNet::V4(a), _) => Some((a, None)),
                _ => None,
            })
    }

    /// The first IPv6 address on the pod interface `ifname`, as [`CniResult::pod_ipv4`] finds
    /// the IPv4 one, with its IPv6 gateway.
    pub fn pod_ipv6(&self, ifname: &str) -> Option<(ipnet::Ipv6Net, Option<std::net::Ipv6Addr>)> {
        self.pod_addresses(ifname)
            .into_iter()
            .find_map(|(a, gw)| match (a, gw) {
                (IpNet::V6(a), Some(IpAddr::V6(g))) => Some((a, Some(g))),
                (IpNet::V6(a), _) => Some((a, None)),
                _ => None,
            })
    }
}

/// Reads a VERSION answer: the versions the plugin supports.
pub fn supported_versions(v: &Value) -> Result<Vec<String>, String> {
    let list = v
        .get("supportedVersions")
        .and_then(Value::as_array)
        .ok_or_else(|| "a JSON value without \"supportedVersions\"".to_string())?;
    Ok(list
        .iter()
        .filter_map(|x| x.as_str().map(String::from))
        .collect())
}

/// Reads an error, if `v` is one.
pub fn error_of(v: &Value) -> Option<ErrorResult> {
    v.get("code")?;
    serde_json::from_value(v.clone()).ok()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the Debian bridge plugin (1.1.1) printed for an ADD here.
    const BRIDGE_1_0: &str = r#"{"cniVersion":"1.0.0","interfaces":[{"name":"cni0","mac":"6a:1e:3c:0e:58:11"},{"name":"veth5b2f8f3c","mac":"f2:7c:9d:16:2a:03"},{"name":"eth0","mac":"2e:9a:4f:7e:d0:6b","sandbox":"/run/netns/cnb-ab12-n0p0"}],"ips":[{"interface":2,"address":"172.17.0.2/16","gateway":"172.17.0.1"}],"routes":[{"dst":"0.0.0.0/0"}],"dns":{}}"#;

    #[test]
    fn a_1_0_result_is_read() {
        let r = CniResult::from_json(&serde_json::from_str(BRIDGE_1_0).unwrap()).unwrap();
        assert_eq!(r.pod_interfaces().map(|(i, _)| i).collect::<Vec<_>>(), [2]);
        assert_eq!(r.node_interfaces().count(), 2);
        let (ip, gw) = r.pod_ipv4("eth0").unwrap();
        assert_eq!(
            (ip.to_string(), gw.unwrap().to_string()),
            ("172.17.0.2/16".into(), "172.17.0.1".into())
        );
        assert_eq!(r.routes[0].dst.to_string(), "0.0.0.0/0");
    }

    /// What the Debian bridge plugin (1.1.1) printed for an ADD of
    /// `examples/cni/bridge-dual.conflist` here (host-local with an IPv4 and an IPv6 range
    /// set), as cnbench's result cache keeps it.
    const BRIDGE_DUAL: &str = r#"{"cniVersion":"1.0.0","dns":{},"interfaces":[{"mac":"e2:76:98:7e:19:78","name":"cni0"},{"mac":"2a:e9:77:8c:5c:8c","name":"vethb1690053"},{"mac":"6e:09:1a:2a:ce:67","name":"eth0","sandbox":"/run/netns/cnb-b54254-n0p0"}],"ips":[{"address":"172.17.0.2/16","gateway":"172.17.0.1","interface":2},{"address":"fd00:172:17::2/64","gateway":"fd00:172:17::1","interface":2}],"routes":[{"dst":"0.0.0.0/0"},{"dst":"::/0"}]}"#;

    #[test]
    fn a_dual_stack_result_keeps_both_families() {
        let r = CniResult::from_json(&serde_json::from_str(BRIDGE_DUAL).unwrap()).unwrap();
        let (v4, gw4) = r.pod_ipv4("eth0").unwrap();
        assert_eq!(
            (v4.to_string(), gw4.unwrap().to_string()),
            ("172.17.0.2/16".into(), "172.17.0.1".into())
        );
        let (v6, gw6) = r.pod_ipv6("eth0").unwrap();
        assert_eq!(
            (v6.to_string(), gw6.unwrap().to_string()),
            ("fd00:172:17::2/64".into(), "fd00:172:17::1".into())
        );
        assert_eq!(r.pod_addresses("eth0").len(), 2);
        assert!(r.pod_addresses("eth1").is_empty(), "eth1 is no interface");
        assert_eq!(r.routes[1].dst.to_string(), "::/0");
        // An IPv4-only result has no IPv6 address, and the reverse.
        let v4_only = CniResult::from_json(&serde_json::from_str(BRIDGE_1_0).unwrap()).unwrap();
        assert!(v4_only.pod_ipv6("eth0").is_none());
        let v6_only = CniResult::from_json(&serde_json::json!({"cniVersion": "1.0.0",
            "interfaces": [{"name": "eth0", "sandbox": "/run/netns/x"}],
            "ips": [{"interface": 0, "address": "fd00::5/64", "gateway": "fd00::1"}]}))
        .unwrap();
        assert!(v6_only.pod_ipv4("eth0").is_none());
        assert_eq!(
            v6_only.pod_ipv6("eth0").unwrap().0.to_string(),
            "fd00::5/64"
        );
    }

    #[test]
    fn older_results_are_read_too() {
        let v: Value = serde_json::from_str(
            r#"{"cniVersion":"0.3.1","interfaces":[{"name":"eth0","sandbox":"/run/netns/x"}],
                "ips":[{"version":"4","interface":0,"address":"10.1.0.5/24","gateway":"10.1.0.1"}],
                "routes":[{"dst":"0.0.0.0/0","gw":"10.1.0.1"}],"dns":{}}"#,
        )
        .unwrap();
        let r = CniResult::from_json(&v).unwrap();
        assert_eq!(r.ips[0].address.to_string(), "10.1.0.5/24");
        assert_eq!(r.routes[0].gw.unwrap().to_string(), "10.1.0.1");
    }

    #[test]
    fn what_is_not_a_result_says_why() {
        let e = CniResult::from_json(&serde_json::json!([1])).unwrap_err();
        assert_eq!(e, "a JSON list rather than an object");
        let e = CniResult::from_json(&serde_json::json!({"ips": []})).unwrap_err();
        assert!(e.contains("without \"cniVersion\""), "{e}");
        let e = CniResult::from_json(
            &serde_json::json!({"cniVersion": "1.0.0", "ips": [{"address": "x"}]}),
        )
        .unwrap_err();
        assert!(e.contains("invalid"), "{e}");
        let e = CniResult::from_json(&serde_json::json!({"cniVersion": "1.0.0",
            "ips": [{"address": "10.0.0.2/24", "interface": 3}]}))
        .unwrap_err();
        assert!(e.contains("points at interface 3 of 0"), "{e}");
        let e = CniResult::from_json(&serde_json::json!({"cniVersion": "0.2.0", "ip4": {}}))
            .unwrap_err();
        assert!(e.contains("0.2.0"), "{e}");
    }

    #[test]
    fn errors_and_versions_are_read() {
        let v: Value =
            serde_json::from_str(r#"{"code":999,"msg":"expected prevResult","details":""}"#)
                .unwrap();
        let e = error_of(&v).unwrap();
        assert_eq!((e.code, e.msg.as_str()), (999, "expected prevResult"));
        assert!(error_of(&serde_json::from_str(BRIDGE_1_0).unwrap()).is_none());
        let v = serde_json::json!({"cniVersion": "1.0.0", "supportedVersions": ["0.4.0", "1.0.0"]});
        assert_eq!(supported_versions(&v).unwrap(), ["0.4.0", "1.0.0"]);
    }
}
