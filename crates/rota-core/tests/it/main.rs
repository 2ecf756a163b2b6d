//! rota-core's integration tests in one binary (one link step instead of one per file):
//! `cargo test -p rota-core --test it <module>::` runs one file's tests.

mod auto_redeem;
mod outcome_table;
mod pool_model;
mod pool_ops;
mod proactive_table;
mod purity;
mod redeem;
