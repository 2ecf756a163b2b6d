//! rota-config's integration tests in one binary (one link step instead of one per file):
//! `cargo test -p rota-config --test it <module>::` runs one file's tests.

mod config;
mod env_vars;
