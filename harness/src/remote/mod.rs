//! Nodes on other machines: the node agent (`cnbench agent`), its protocol and the harness's
//! client for it.
//!
//! A node that is not a namespace of this machine (a VM today, a remote server later) runs
//! `cnbench agent`, which serves the node interface of [`crate::host::Host`] — netlink
//! requests, namespaces, sysctls, processes, probes, counters — for the namespaces of its own
//! machine. The harness drives it through [`AgentClient`]; a [`crate::host::Host`] built on
//! it behaves like a local one, so backends and checks do not know the difference.

pub mod client;
pub mod protocol;
pub mod server;

use std::time::Duration;

pub use client::{AgentClient, RemoteProc};
pub use protocol::PROTOCOL_VERSION;

use crate::probe::{Echo, ProbeResult};
use protocol::{EchoRecord, ProbeRecord};

impl From<&ProbeResult> for ProbeRecord {
    fn from(r: &ProbeResult) -> ProbeRecord {
        match r {
            ProbeResult::Answered(d) => ProbeRecord::Answered {
                rtt_ns: d.as_nanos() as u64,
            },
            ProbeResult::IcmpError(t, c, from) => ProbeRecord::IcmpError {
                icmp_type: *t,
                code: *c,
                from: *from,
            },
            ProbeResult::Refused => ProbeRecord::Refused,
            ProbeResult::Silence => ProbeRecord::Silence,
            ProbeResult::TooBig => ProbeRecord::TooBig,
            ProbeResult::SendError(e) => ProbeRecord::SendError(e.clone()),
        }
    }
}

impl From<ProbeRecord> for ProbeResult {
    fn from(r: ProbeRecord) -> ProbeResult {
        match r {
            ProbeRecord::Answered { rtt_ns } => ProbeResult::Answered(Duration::from_nanos(rtt_ns)),
            ProbeRecord::IcmpError {
                icmp_type,
                code,
                from,
            } => ProbeResult::IcmpError(icmp_type, code, from),
            ProbeRecord::Refused => ProbeResult::Refused,
            ProbeRecord::Silence => ProbeResult::Silence,
            ProbeRecord::TooBig => ProbeResult::TooBig,
            ProbeRecord::SendError(e) => ProbeResult::SendError(e),
        }
    }
}

impl From<&Echo> for EchoRecord {
    fn from(e: &Echo) -> EchoRecord {
        EchoRecord {
            result: (&e.result).into(),
            ttl: e.ttl,
        }
    }
}

impl From<EchoRecord> for Echo {
    fn from(e: EchoRecord) -> Echo {
        Echo {
            result: e.result.into(),
            ttl: e.ttl,
        }
    }
}
