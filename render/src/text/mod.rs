//! Everything cnbench prints on a terminal: the topology it built ([`topology`]), a line per
//! check ([`check_line`]), per repetition ([`sample_line`]) and its cost ([`cost_line`]), a
//! line per fault ([`fault_line`]), the summary of a run ([`summary`], with its fault table
//! [`fault_table`]), and the table of a comparison ([`compare_table`]). Pure functions from
//! results to strings; printing is the caller's business.

mod calibration;
mod churn;
mod compare;
mod cost;
mod fault;
mod run;
mod table;
mod topology;

pub use calibration::calibration_table;
pub use compare::compare_table;
pub use cost::cost_line;
pub use fault::{fault_line, fault_table};
pub(crate) use run::phases;
pub use run::{check_line, sample_line, summary};
pub use topology::topology;
