//! What the page writers' tests share: a run of `tests/data/vxlan.json` made to carry the
//! given `components`, and its groups drawn without plots.

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
