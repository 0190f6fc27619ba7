//! Conformance checks: each compares what a backend declared ([`Expectations`]) with what the
//! kernel shows or what traffic does, and records both sides as evidence.

mod isolation;
mod path;
pub mod reachability;
mod result;
mod state;
mod sysctl;
pub mod wire;

use std::collections::BTreeMap;

use reports::{CheckOutcome, CheckRecord};

use crate::backend::Expectations;
use crate::host::Host;
use crate::topology::Plan;

pub use crate::probe::{Echo, ProbeResult, PROBE_TIMEOUT};
pub use reachability::{icmp_echo, icmp_echo_within, icmp_probe, tcp_connect, tcp_peer};

/// Runs every check of `exp`, in an order where each one's evidence exists: kernel state
/// first (devices, routes, MTUs, VXLAN entries, sysctls, what a plugin's result promised),
/// then traffic (the reachability matrix, the wire, path MTU, TTL and source), then what
/// traffic leaves behind (neighbour and FDB entries), then isolation. `on_check` sees each
/// result as it arrives.
pub fn run_all(
    plan: &Plan,
    hosts: &BTreeMap<String, Host>,
    exp: &Expectations,
    on_check: &mut dyn FnMut(&CheckRecord),
) -> Vec<CheckRecord> {
    let mut out = Vec::new();
    let mut emit = |c: CheckRecord| {
        on_check(&c);
        out.push(c);
    };
    for c in state::devices(hosts, &exp.devices) {
        emit(c);
    }
    if plan.ip_family().has_v6() {
        for c in state::addresses_settled(hosts) {
            emit(c);
        }
    }
    for c in state::routes(hosts, &exp.routes, &exp.shared_route_tables) {
        emit(c);
    }
    for c in state::mtus(hosts, &exp.mtus) {
        emit(c);
    }
    for c in state::vteps(hosts, &exp.vteps) {
        emit(c);
    }
    for c in sysctl::sysctls(hosts, &exp.sysctls) {
        emit(c);
    }
    for c in result::interfaces(hosts, &exp.interfaces) {
        emit(c);
    }
    for c in result::routes_present(hosts, &exp.present_routes) {
        emit(c);
    }
    for c in reachability::matrix(hosts, &exp.reachability) {
        emit(c);
    }
    for c in wire::encap(plan, hosts, &exp.encap) {
        emit(c);
    }
    for c in path::pmtu(plan, hosts, &exp.pmtu) {
        emit(c);
    }
    for c in path::paths(plan, hosts, &exp.paths) {
        emit(c);
    }
    for c in state::neighbours(hosts, &exp.neighbours) {
        emit(c);
    }
    for c in state::fdb(hosts, &exp.fdb) {
        emit(c);
    }
    for c in isolation::check(hosts, &exp.isolation) {
        emit(c);
    }
    out
}

/// Builds a record that passes when `ok`; the reason is kept only for a failure. Backends
/// build their own checks' records with it too.
pub fn record(
    check: &str,
    subject: String,
    expected: String,
    actual: String,
    ok: bool,
    reason: Option<String>,
) -> CheckRecord {
    CheckRecord {
        check: check.into(),
        subject,
        expected,
        actual,
        outcome: if ok {
            CheckOutcome::Pass
        } else {
            CheckOutcome::Fail
        },
        reason: if ok { None } else { reason },
    }
}

/// A check that could not be made: the kernel refused to show the evidence.
pub(crate) fn errored(
    check: &str,
    subject: String,
    expected: String,
    e: &crate::error::HarnessError,
) -> CheckRecord {
    record(check, subject, expected, format!("error: {e}"), false, None)
}
