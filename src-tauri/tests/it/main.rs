//! rota-app's integration tests in one binary (one link step instead of one per file):
//! `cargo test -p rota-app --test it <module>::` runs one file's tests.

mod e2e;
mod e2e_mock;
mod ipc;
