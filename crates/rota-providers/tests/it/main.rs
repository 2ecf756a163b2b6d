//! rota-providers's integration tests in one binary (one link step instead of one per file):
//! `cargo test -p rota-providers --test it <module>::` runs one file's tests.
//! `canary.rs` stays a binary of its own: it captures the process's log output, which tests running
//! beside it would share.

mod anthropic;
mod common;
mod copilot;
mod fixtures;
mod handoff_refresh;
mod openai;
mod parsers_no_panic;
mod refresh_race;
mod reset_credits;
mod usage_service;
