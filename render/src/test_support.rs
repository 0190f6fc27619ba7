//! What the page writers' tests share: a run of `tests/data/vxlan.json` made to carry the
//! given `components` (or everything a run wired by a CNI chain records), and its groups
//! drawn without plots.

use crate::model::{groups, Group};
use crate::{Input, InputResult, Rendered};

/// `vxlan.json` (from tests/data) as run by a backend that recorded `components`.
pub(crate) fn vxlan_with(components: Vec<reports::ComponentRecord>) -> Vec<Input> {
    let mut input = Input::read(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/vxlan.json"),
    )
    .unwrap();
    let InputResult::Run(r) = &mut input.result else {
        panic!("a run result")
    };
    r.components = components;
    vec![input]
}

/// `vxlan.json` (from tests/data) as run by a backend that wired its pods with a CNI chain:
/// its components, its plugin calls and a check that did not apply (from
/// `reports::fixtures`).
pub(crate) fn vxlan_cni() -> Vec<Input> {
    let mut inputs = vxlan_with(reports::fixtures::cni_components());
    let InputResult::Run(r) = &mut inputs[0].result else {
        panic!("a run result")
    };
    r.plugin_calls = reports::fixtures::cni_plugin_calls();
    let check = reports::fixtures::not_applicable_check(&r.run_id);
    r.checks.push(check);
    inputs
}

/// The groups of `inputs`, each with no plots drawn, for `render(&groups, &rendered)`.
pub(crate) fn unplotted(inputs: &[Input]) -> (Vec<Group<'_>>, Vec<Rendered>) {
    let groups = groups(inputs);
    let rendered = groups
        .iter()
        .map(|_| Rendered {
            plots: Vec::new(),
            omitted: Vec::new(),
        })
        .collect();
    (groups, rendered)
}

/// `reports::fixtures::rr_result(run_id, 1.0)` with a fourth check, `cni-gc` of node 0's
/// network, of `outcome`: not applicable with its reason, or made (`GC succeeded`, or `CNI
/// error 7` when it failed) without one.
pub(crate) fn rr_with_gc(run_id: &str, outcome: reports::CheckOutcome) -> reports::RunResult {
    let mut r = reports::fixtures::rr_result(run_id, 1.0);
    let mut gc = reports::fixtures::not_applicable_check(run_id);
    if outcome != reports::CheckOutcome::NotApplicable {
        gc.outcome = outcome;
        gc.actual = if outcome == reports::CheckOutcome::Fail {
            "CNI error 7".into()
        } else {
            "GC succeeded".into()
        };
        gc.reason = None;
    }
    r.checks.push(gc);
    r
}
