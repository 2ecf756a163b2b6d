//! rota-store's integration tests in one binary (one link step instead of one per file):
//! `cargo test -p rota-store --test it <module>::` runs one file's tests.
//! `logs.rs` stays a binary of its own: it captures the process's log output, which tests running
//! beside it would share.

mod backends;
mod common;
mod concurrency;
mod crash;
mod durable_writes;
mod import;
mod local_keys;
mod no_panic;
mod pool;
mod protocol;
mod recovery;
