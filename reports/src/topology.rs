//! What a run built: its namespaces and their devices, as the kernel reported them.

use serde::{Deserialize, Serialize};

/// One network namespace the run built, with its devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceRecord {
    /// Namespace name, `cnb-<run>-<role>`.
    pub name: String,
    /// What it plays: `"switch"`, `"router"`, `"node"` or `"pod"`.
    pub role: String,
    /// For a pod, the namespace name of its node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Its network devices (loopback left out).
    pub devices: Vec<DeviceRecord>,
}

/// One network device in a namespace, as the kernel reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    /// Interface name, e.g. `"eth0"`, `"cni0"`, `"flannel.1"`.
    pub name: String,
    /// Link kind, e.g. `"veth"`, `"bridge"`, `"vxlan"`, `"tun"`.
    pub kind: String,
    /// MAC address (`"02:42:ac:11:00:02"`); absent for devices without one (TUN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// Addresses as CIDR strings, e.g. `"10.168.0.1/24"`.
    pub addresses: Vec<String>,
    /// MTU in bytes.
    pub mtu_bytes: u32,
    /// The device it is enslaved to (e.g. the bridge a veth is attached to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master: Option<String>,
}
