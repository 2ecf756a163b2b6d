//! rota-handoff's integration tests in one binary (one link step instead of one per file):
//! `cargo test -p rota-handoff --test it <module>::` runs one file's tests.
//! `canary.rs` stays a binary of its own: it captures the process's log output, which tests running
//! beside it would share.

mod codex_login_type;
mod handoff;
