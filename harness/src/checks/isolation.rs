//! Port-space isolation: two host-network pods on a node share one port space (the second
//! bind fails, a real conflict); two pods with their own namespaces do not.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, TcpListener};

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
            let a = hosts[&i.a.1].netns();
            let b = hosts[&i.b.1].netns();
            let first = a.run_in(|| TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0)));
            let first = match first {
                Ok(Ok(l)) => l,
                other => {
                    return record(
                        "isolation",
                        subject,
                        expected.into(),
                        format!("first bind failed: {other:?}"),
                        false,
                        None,
                    )
                }
            };
            let port = first.local_addr().map(|a| a.port()).unwrap_or(0);
            let second = b.run_in(|| TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)));
            let (actual, in_use) = match second {
                Ok(Ok(_)) => (format!("both bound port {port}"), false),
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::AddrInUse => {
                    (format!("second bind of port {port}: address in use"), true)
                }
                other => (format!("second bind of port {port}: {other:?}"), false),
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
