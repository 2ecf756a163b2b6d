//! xtask (being written).
