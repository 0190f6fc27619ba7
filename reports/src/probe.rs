//! What a paced probe stream saw, per peer (being built).
