//! rota-mock's integration tests in one binary (one link step instead of one per file):
//! `cargo test -p rota-mock --test it <module>::` runs one file's tests.

mod anthropic;
mod behaviors;
mod binary;
mod common;
mod control;
mod github;
mod openai;
mod perf;
