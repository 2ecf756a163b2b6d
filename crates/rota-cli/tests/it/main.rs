//! rota-cli's integration tests in one binary (one link step instead of one per file):
//! `cargo test -p rota-cli --test it <module>::` runs one file's tests.

mod auto_redeem;
mod commands;
mod common;
mod concurrency;
mod connect_cli;
mod connect_tools;
mod errors;
mod handoff;
mod interactive;
mod live;
mod redeem;
mod serve;
mod serve_concurrency;
mod serve_handoff;
