//! JUnit XML export of a comparison, for CI test reporting (being built).
