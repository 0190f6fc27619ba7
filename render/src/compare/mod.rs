//! The documents of a comparison (`cnbench compare`): Markdown for a pull-request comment
//! ([`markdown()`]) and JUnit XML for CI ([`junit()`]); its terminal table is
//! [`crate::text::compare_table`]. All three use the same words ([`wording`]).

mod junit;
mod markdown;
pub mod wording;

pub use junit::junit;
pub use markdown::markdown;
