//! The chain's own checks, after the declared ones: one address per pod (`ipam`), each
//! result in the version the plugins were asked for (`cni-version`), and each plugin's own
//! CHECK of each pod (`cni-check`), a failure that is a known bug of a released plugin being
//! an expected failure naming it.

use std::collections::BTreeMap;
use std::time::Duration;

use harness::backend::Context;
use harness::checks::record;
use harness::topology::Plan;
use reports::{CheckOutcome, CheckRecord};

use crate::exec::ToRun;
use crate::runtime::{self, attachment_of, Checked};

/// Every check of the chain's, for every pod a chain wired; each plugin invocation limited
/// to `limit`.
pub fn records(ctx: &Context<'_>, limit: Duration) -> Vec<CheckRecord> {
    let mut out = vec![distinct_addresses(ctx.plan)];
    for pod in &ctx.plan.pods {
        let Some((a, result)) = attachment_of(pod) else {
            continue;
        };
        out.push(record(
            "cni-version",
            format!("{} ADD result", pod.role),
            format!("cniVersion {} (as asked)", a.cni_version),
            format!("cniVersion {}", result.cni_version),
            result.cni_version == a.cni_version,
            Some("a plugin must answer in the version it was given (CNI spec §5)".into()),
        ));
        let host = ctx.host(&a.node_netns);
        let expected = "CHECK succeeds".to_string();
        let log = ToRun::in_node(ctx, &a.node_netns);
        match runtime::check(host, &a, limit, &log) {
            // Said once, in the network's component notes: no record to count as a pass.
            Ok(Checked::NotCalled(_)) => {}
            Ok(Checked::Plugins(answers)) => {
                for (plugin, answer) in answers {
                    let subject = format!("{} {plugin}", pod.role);
                    out.push(match answer {
                        Ok(()) => record("cni-check", subject, expected.clone(), "passed".into(), true, None),
                        Err(e) => {
                            let text = e.to_string();
                            let mut rec = record(
                                "cni-check",
                                subject,
                                expected.clone(),
                                text.clone(),
                                false,
                                Some("the plugin's CHECK says the attachment is not as its ADD left it".into()),
                            );
                            if let Some(bug) = crate::known::check_bug(&plugin, &text, &result) {
                                rec.outcome = CheckOutcome::ExpectedFailure;
                                rec.reason = Some(bug.to_string());
                            }
                            rec
                        }
                    });
                }
            }
            Err(e) => out.push(record(
                "cni-check",
                format!("{} ({})", pod.role, a.container_id),
                expected,
                e.to_string(),
                false,
                None,
            )),
        }
    }
    out
}

/// Every pod the chain wired got an address of its own: an IPAM that hands one address to
/// two pods is caught here, not only by the odd reachability that follows.
fn distinct_addresses(plan: &Plan) -> CheckRecord {
    let mut by_ip: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for pod in plan.pods.iter().filter(|p| p.detail.is_some()) {
        // Each family's address of the run (an ipv6 run's IPv4 one is only planned).
        for ip in plan.pod_addrs(pod) {
            by_ip.entry(ip.to_string()).or_default().push(&pod.role);
        }
    }
    let shared: Vec<String> = by_ip
        .iter()
        .filter(|(_, pods)| pods.len() > 1)
        .map(|(ip, pods)| format!("{ip} on {}", pods.join(", ")))
        .collect();
    let ok = shared.is_empty();
    record(
        "ipam",
        "the chain's pod addresses".into(),
        format!("one address per pod and family ({})", plan.ip_family()),
        if ok {
            format!(
                "{} pods, {} addresses",
                plan.pods.iter().filter(|p| p.detail.is_some()).count(),
                by_ip.len()
            )
        } else {
            shared.join("; ")
        },
        ok,
        (!ok).then(|| "the chain gave two pods one address".into()),
    )
}
