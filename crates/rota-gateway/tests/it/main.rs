//! rota-gateway's integration tests in one binary (one link step instead of one per file):
//! `cargo test -p rota-gateway --test it <module>::` runs one file's tests.
//! `http_proxy.rs` stays a binary of its own: it sets `HTTP_PROXY` for its whole process.

mod anthropic_sdk;
mod api_router;
mod auto_redeem;
mod common;
mod copilot_mock;
mod faults;
mod guard;
mod local_keys;
mod proxy_mock;
