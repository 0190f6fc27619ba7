//! Comparing two results: per-metric verdicts from the repetitions (being built).
