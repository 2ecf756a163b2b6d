//! Hand-off (docs/product.md §5.2, docs/rules.md §3.6): the provider's active account written into
//! an official tool's own login — Claude Code (`~/.claude/.credentials.json`, on macOS the login
//! keychain item), Codex CLI (`~/.codex/auth.json`), opencode (`~/.local/share/opencode/auth.json`,
//! other providers' entries kept) — and the [`Autopilot`] that long-running hosts run for proactive
//! switching and hand-off.
//!
//! # Settings
//!
//! Per provider in the state file ([`rota_core::ProviderSettings`]): hand-off on/off, tool,
//! target path override, the last-write mark, the last error; and the proactive toggle. A toggle
//! from the CLI or the app therefore reaches every process through the store's watch.
//!
//! # The write protocol ([`sync`])
//!
//! Under `locks/handoff-<hash of the target path>.lock` in the data dir (one writer per target file
//! across processes; opencode's file holds several providers): read the target → attribute its
//! login to one of our accounts (same tokens; else the provider account id in the file; else our
//! last-write mark: unchanged content is ours, changed content is the tool's refresh of that
//! account) → adopt newer tokens the tool refreshed into the vault (compare-and-swap under the
//! store lock) → refuse to overwrite a login that is not ours unless forced → write the active
//! account in the tool's format (every other field and entry kept) with temp file, fsync, rename
//! and directory fsync, mode 0600, and only after it reads back as the active account → remember
//! what was written. Idempotent: no write when the target already holds the active account. An
//! unreadable target is never overwritten.
//!
//! # Refresh
//!
//! While an account is handed off, Rota does not refresh it itself: [`refresh_gate`] (called by
//! `rota-providers`' `TokenManager` under the account's refresh lock) adopts newer tokens from
//! the tool, leaves valid ones to the tool, and allows a refresh only when the tool's copy is
//! expired and unchanged (then the new pair is synced to the tool).
//!
//! # Boundaries
//!
//! No network, no async runtime: file and keychain IO on the caller's thread (the autopilot has
//! its own). Tokens appear only in the target and the vault; errors, logs, `Debug` output and
//! the state carry paths, ids and a truncated hash at most.
//!
//! # Modules
//!
//! `format` (each tool's login format: read through the store's importers, merge keeping every
//! other field and provider entry), `target` (the file, or Claude Code's macOS keychain item, and
//! its atomic 0600 write), `sync` (the write protocol, `status`, the toggles, `refresh_gate`),
//! `autopilot` (on every store change and tick: proactive switches, then hand-off syncs; events
//! by callback).

mod autopilot;
mod error;
pub mod format;
mod sync;
mod target;

pub use autopilot::{Autopilot, AutopilotConfig, AutopilotEvent, run_once};
pub use error::HandoffError;
pub use sync::{
    RefreshGate, SyncOutcome, fingerprint, refresh_gate, resolve_target, set_handoff,
    set_proactive, status, sync,
};
pub use target::{CLAUDE_KEYCHAIN_SERVICE, Target};
