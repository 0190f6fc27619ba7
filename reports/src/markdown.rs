//! Markdown export of a comparison, for a pull-request comment (being built).
