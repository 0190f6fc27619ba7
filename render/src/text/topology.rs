//! The namespaces a run built, as a tree for a terminal.

use std::fmt::Write as _;

use reports::NamespaceRecord;

use super::table::columns;

/// The namespaces of a run as a tree: one line per namespace (name, role, node of a pod), then
/// one line per device with its kind, MTU, addresses, MAC and master.
///
/// ```text
/// cnb-ab12-n0  node
/// ├─ eth0      veth    mtu 1500  10.168.0.1/24  mac 02:42:0a:a8:00:01
/// ├─ cni0      bridge  mtu 1450  100.96.0.1/24
/// └─ veth0a1b  veth    mtu 1450  -              mac 02:42:64:60:00:10  master cni0
/// ```
pub fn topology(records: &[NamespaceRecord]) -> String {
    let mut out = String::new();
    for ns in records {
        let _ = write!(out, "{}  {}", ns.name, ns.role);
        if let Some(node) = &ns.node {
            let _ = write!(out, " on {node}");
        }
        out.push('\n');
        if ns.devices.is_empty() {
            out.push_str("└─ (no devices)\n");
            continue;
        }
        let rows: Vec<Vec<String>> = ns
            .devices
            .iter()
            .map(|d| {
                let addresses = if d.addresses.is_empty() {
                    "-".to_owned()
                } else {
                    d.addresses.join(", ")
                };
                let mut extra = Vec::new();
                if let Some(mac) = &d.mac {
                    extra.push(format!("mac {mac}"));
                }
                if let Some(master) = &d.master {
                    extra.push(format!("master {master}"));
                }
                vec![
                    d.name.clone(),
                    d.kind.clone(),
                    format!("mtu {}", d.mtu_bytes),
                    addresses,
                    extra.join("  "),
                ]
            })
            .collect();
        let lines = columns(&rows, &[false; 5], "  ");
        let last = rows.len() - 1;
        for (i, line) in lines.lines().enumerate() {
            let branch = if i == last { "└─" } else { "├─" };
            let _ = writeln!(out, "{branch} {line}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use reports::fixtures::full_result;

    #[test]
    fn topology_tree() {
        let text = topology(&full_result().topology);
        let expected = "\
cnb-ab12-n0  node
├─ eth0      veth    mtu 1500  10.168.0.1/24              mac 02:42:0a:a8:00:01
├─ cni0      bridge  mtu 1450  100.96.0.1/24, fd00::1/64
└─ veth0a1b  veth    mtu 1450  -                          mac 02:42:64:60:00:10  master cni0
cnb-ab12-n0p0  pod on cnb-ab12-n0
└─ eth0  veth  mtu 1450  100.96.0.2/24  mac 02:42:64:60:00:02
cnb-ab12-sw  switch
└─ (no devices)
";
        assert_eq!(text, expected);
    }
}
