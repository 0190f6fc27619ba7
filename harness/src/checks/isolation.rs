//! Port-space isolation: two host-network pods on a node share one port space (the second
//! bind fails, a real conflict); two pods with their own namespaces do not.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use reports::CheckRecord;

use super::record;
use crate::backend::IsolationExpect;
use crate::host::Host;

pub(super) fn check(
    hosts: &BTreeMap<String, Host>,
    declared: &[IsolationExpect],
) -> Vec<CheckRecord> {
    declared
        .iter()
        .map(|i| {
            let subject = format!("{} and {} bind the same TCP port", i.a.0, i.b.0);
            let expected = if i.shared_ports {
                "second bind fails: address in use (shared port space)"
            } else {
                "both binds succeed (separate port spaces)"
            };
            let (a, b) = (&hosts[&i.a.1], &hosts[&i.b.1]);
            let first = match a.tcp_listen_on(Ipv4Addr::UNSPECIFIED.into(), 0) {
                Ok(l) => l,
                Err(e) => {
                    return record(
                        "isolation",
                        subject,
                        expected.into(),
                        format!("first bind failed: {}", e.message),
                        false,
                        None,
                    )
                }
            };
            let port = first.port;
            let second = b.tcp_listen_on(Ipv4Addr::UNSPECIFIED.into(), port);
            let (actual, in_use) = match second {
                Ok(_) => (format!("both bound port {port}"), false),
                Err(e) if e.in_use => (format!("second bind of port {port}: address in use"), true),
                Err(e) => (format!("second bind of port {port}: {}", e.message), false),
            };
            record(
                "isolation",
                subject,
                expected.into(),
                actual,
                in_use == i.shared_ports,
                None,
            )
        })
        .collect()
}
