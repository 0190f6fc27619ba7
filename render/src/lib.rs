//! cnbench reports as files (being built).
