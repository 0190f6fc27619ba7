//! Paced probe streams between pods, for fault injection (being built).
