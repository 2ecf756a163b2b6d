//! rota-store: the durable store shared by the desktop app, the CLI and the headless gateway,
//! which may all run at the same time against one data directory.
//!
//! # Boundaries
//!
//! This crate owns files and the OS keychain; it knows nothing about pool rules (rota-core) or
//! providers' HTTP (rota-providers). The file machinery is generic over the state type
//! ([`StoreState`]); secrets live apart from the state in a [`Vault`] (record id →
//! [`SecretBundle`]) and are never written to `state.json`, logs, errors or `Debug` output.
//! Importers ([`import`]) parse other tools' login files into [`import::ImportedAccount`]s and
//! never modify them.
//!
//! # Files (in `$ROTA_HOME`, else `<platform data dir>/rota`)
//!
//! - `state.json` (+ `state.json.bak`): non-secret state with a `generation` counter.
//! - `vault.json` (+ `vault.json.bak`): secrets, sealed with XChaCha20-Poly1305 whose key is one
//!   OS keychain item, or plaintext mode 0600 (see [`backend`]).
//! - `state.lock`: the store lock. Data files are never locked themselves (rename swaps inodes).
//! - `locks/<account>.lock`: per-account token-refresh locks ([`Store::refresh_secrets`]).
//! - `*.corrupt-<unix ms>`: unreadable files moved aside, never overwritten.
//! - `state.json.pending`: the new state of a commit in progress; `recovery.json`: recoveries
//!   not yet acknowledged.
//!
//! Local keys (`local_keys.rs`) live in the vault too: one per connection, vault id
//! `local-key:<name>`, created once, revocable one at a time (docs/connect.md).
//!
//! # Use
//!
//! [`PoolStore`] (`Store<rota_core::PoolState>`) is what the CLI, the app and the gateway open:
//! `PoolStore::open(StoreConfig::from_env()?)`, then [`Store::load`] to read, the pool operations
//! (`set_active`, `remove_record`, `upsert_account`, `import_accounts`, …) or [`Store::mutate`]
//! with any rota-core operation to change it, [`Store::watch`] to hear about other processes'
//! changes, [`BatchedCounters`] for per-request counts, [`Store::refresh_secrets`] for the
//! cross-process token-refresh protocol and [`Store::backend`] for the secret-backend notice.
//!
//! # The mutation protocol (docs/rules.md §2)
//!
//! [`Store::mutate`]: exclusive flock on `state.lock` (waiting at most [`DEFAULT_LOCK_TIMEOUT`],
//! then [`StoreError::LockTimeout`] naming the file) → read state (and, if the mutation touches
//! secrets, the vault) **from disk** → apply the closure → for each changed file: write a temp
//! file in the same directory → fsync → point `.bak` at the previous version → rename over the
//! target → fsync the directory → unlock. When secrets change, the new state is written as
//! `state.json.pending` first, then the vault (tagged with the new generation), then the state;
//! the vault's rename is the commit point and the next reader or writer finishes or drops a
//! pending state, so a crash leaves the old or the new pool (docs/reliability.md §2).
//! `generation` is bumped. Readers take no lock. A file that fails to parse (or is not of the
//! state's shape) is moved aside and its `.bak` restored, or, with no good backup, the operation
//! fails with [`StoreError::Corrupt`]; either is kept in `recovery.json` and reported by
//! [`Store::pending_recoveries`] until [`Store::acknowledge_recoveries`]. A file of a newer
//! format is refused untouched ([`StoreError::NewerFormat`]). [`Store::watch`] notices other processes' writes; [`BatchedCounters`]
//! batches high-rate counters.

pub mod backend;
mod batch;
mod error;
mod fsio;
pub mod import;
mod local_keys;
pub mod platform;
mod pool;
mod secret;
mod store;
mod vault;

pub use backend::{BackendReport, KeyStore, OsKeychain, SecretBackendKind, SecretStoreMode};
pub use batch::{BatchedCounters, CounterDelta, DEFAULT_FLUSH_INTERVAL};
pub use error::{Result, StoreError};
pub use fsio::{
    WriteStep, now_ms, quarantine, remove_stale_temps, replace_file, write_durably,
    write_durably_with,
};
pub use local_keys::{LOCAL_KEY_PREFIX, local_key_id, local_keys};
pub use pool::{PoolStore, Switch, apply_counter_delta, new_record_id};
pub use rota_core::Secret;
pub use secret::{COPILOT_DIRECT, SecretBundle, Vault};
pub use store::{
    AccountLock, DEFAULT_LOCK_TIMEOUT, DEFAULT_REFRESH_LOCK_TIMEOUT, DEFAULT_WATCH_INTERVAL,
    Recovery, RecoveryKind, RefreshOutcome, Store, StoreConfig, StorePaths, StoreState, Txn,
    VAULT_KEY_ITEM, Watcher, default_data_dir,
};
