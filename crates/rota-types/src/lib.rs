//! Wire types shared by every Rota surface: the desktop app's IPC, the UI (wasm32), the local
//! HTTP API and `rota … --json`. One definition per shape, so the surfaces cannot drift.
//!
//! Boundaries: this crate depends on `serde` only and must compile to `wasm32-unknown-unknown`.
//! It holds no IO, no clocks and never a secret: a type that could carry a token does not belong
//! here. Field names on the wire are camelCase with the seed's spellings (`providerID`, …).

pub mod command;
pub mod error;
pub mod provider;

pub use command::{Command, COMMAND_NAMES};
pub use error::{ApiError, ErrorCode};
pub use provider::{ProviderId, ProviderInfo};
