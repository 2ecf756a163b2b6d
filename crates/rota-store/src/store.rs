//! The store: state file + vault in one data directory, mutated under a lock file.

use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::backend::{
    self, BackendReport, DEFAULT_KEYCHAIN_SERVICE, DEFAULT_KEYCHAIN_TIMEOUT, KeyStore, OsKeychain,
    SecretBackendKind, SecretStoreMode,
};
use crate::error::{Result, StoreError};
use crate::fsio::{self, Bak, LockGuard};
use crate::secret::{SecretBundle, Vault};
use crate::vault::{self, DecodeError, Decoded, VaultKey};

/// How long a mutation waits for the store lock before failing with
/// [`StoreError::LockTimeout`].
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a token refresh waits for another process's refresh of the same account (that one
/// includes a network round trip).
pub const DEFAULT_REFRESH_LOCK_TIMEOUT: Duration = Duration::from_mins(1);
/// A watch interval that notices other processes' writes well within a second.
pub const DEFAULT_WATCH_INTERVAL: Duration = Duration::from_millis(200);
/// Name of the keychain item holding the vault key.
pub const VAULT_KEY_ITEM: &str = "vault-key";

/// The non-secret state persisted in `state.json`: serde plus a `generation` counter the store
/// bumps on every mutation (watchers compare it to notice other processes' writes).
pub trait StoreState: Serialize + DeserializeOwned + Default {
    fn generation(&self) -> u64;
    fn set_generation(&mut self, generation: u64);
    /// Top-level keys every state file of this type has. JSON without them (`{}`, `[]`, another
    /// file's JSON) is not a state file however it parses, and is treated as unreadable rather
    /// than read as an empty state.
    fn required_keys() -> &'static [&'static str] {
        &["generation"]
    }
    /// The newest `version` this build reads; a file with a higher one is refused, untouched.
    /// `None`: the type is not versioned.
    fn format_version() -> Option<u32> {
        None
    }
    /// Ids of the records whose secrets the vault must hold; `None` when the state does not say
    /// (then the store does not compare state and vault).
    fn secret_owners(&self) -> Option<Vec<String>> {
        None
    }
    /// Marks record `id` as needing a new login (its secrets are missing or may be spent).
    /// Returns whether anything changed.
    fn flag_needs_login(&mut self, _id: &str) -> bool {
        false
    }
}

/// Where the files live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorePaths {
    pub dir: PathBuf,
    /// Non-secret state (`state.json`, backup `state.json.bak`).
    pub state: PathBuf,
    /// Secrets (`vault.json`, backup `vault.json.bak`), sealed or plaintext.
    pub vault: PathBuf,
    /// The store lock (`state.lock`); the data files themselves are never locked.
    pub lock: PathBuf,
    /// Per-account refresh locks (`locks/<account>.lock`).
    pub locks_dir: PathBuf,
    /// The new state of a commit in progress (`state.json.pending`): written before the vault,
    /// so a crash between the vault and the state write can be finished (see [`Store::mutate`]).
    pub pending: PathBuf,
    /// Recoveries not yet acknowledged (`recovery.json`).
    pub recovery: PathBuf,
}

impl StorePaths {
    #[must_use]
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        Self {
            state: dir.join("state.json"),
            vault: dir.join("vault.json"),
            lock: dir.join("state.lock"),
            locks_dir: dir.join("locks"),
            pending: dir.join("state.json.pending"),
            recovery: dir.join("recovery.json"),
            dir,
        }
    }

    /// `locks/<account>.lock`, the id reduced to `[A-Za-z0-9_-]`.
    #[must_use]
    pub fn account_lock(&self, record_id: &str) -> PathBuf {
        let safe: String = record_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.locks_dir.join(format!("{safe}.lock"))
    }
}

/// `$ROTA_HOME` when set and non-empty, else `<platform data dir>/rota`.
pub fn default_data_dir() -> Result<PathBuf> {
    match std::env::var_os(rota_config::env::HOME) {
        Some(home) if !home.is_empty() => Ok(PathBuf::from(home)),
        _ => crate::platform::rota_data_dir().ok_or(StoreError::NoDataDir),
    }
}

/// How to open a store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub data_dir: PathBuf,
    pub secret_store: SecretStoreMode,
    /// Store lock wait; [`DEFAULT_LOCK_TIMEOUT`].
    pub lock_timeout: Duration,
    /// Account refresh lock wait; [`DEFAULT_REFRESH_LOCK_TIMEOUT`].
    pub refresh_lock_timeout: Duration,
    /// Keychain service name of Rota's items; [`DEFAULT_KEYCHAIN_SERVICE`].
    pub keychain_service: String,
    /// Timeout of one keychain call; [`DEFAULT_KEYCHAIN_TIMEOUT`].
    pub keychain_timeout: Duration,
    /// Replaces the OS keychain (embedding, tests). `None` = the OS keychain.
    pub key_store: Option<Arc<dyn KeyStore>>,
}

impl StoreConfig {
    /// Defaults for a data directory (`secret_store = "auto"`).
    #[must_use]
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            secret_store: SecretStoreMode::Auto,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            refresh_lock_timeout: DEFAULT_REFRESH_LOCK_TIMEOUT,
            keychain_service: DEFAULT_KEYCHAIN_SERVICE.to_owned(),
            keychain_timeout: DEFAULT_KEYCHAIN_TIMEOUT,
            key_store: None,
        }
    }

    /// [`default_data_dir`], and `ROTA_SECRET_STORE` when set.
    pub fn from_env() -> Result<Self> {
        let mut config = Self::new(default_data_dir()?);
        if let Ok(mode) = std::env::var(rota_config::env::SECRET_STORE) {
            config.secret_store = mode.parse().map_err(StoreError::Config)?;
        }
        Ok(config)
    }

    #[must_use]
    pub fn with_secret_store(mut self, mode: SecretStoreMode) -> Self {
        self.secret_store = mode;
        self
    }

    #[must_use]
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    #[must_use]
    pub fn with_key_store(mut self, key_store: Arc<dyn KeyStore>) -> Self {
        self.key_store = Some(key_store);
        self
    }
}

/// What a [`Recovery`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RecoveryKind {
    /// The file did not parse; it was moved aside and its `.bak`, one write behind, restored.
    RestoredFromBackup,
    /// The file did not parse and had no usable `.bak`; it was moved aside and its content is
    /// missing from Rota.
    NoBackup,
    /// Accounts had no secrets (a lost vault); they were marked as needing a new login.
    MissingSecrets,
}

/// Something the store repaired that the user must hear about. Kept in `recovery.json` and
/// reported by every surface until [`Store::acknowledge_recoveries`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recovery {
    pub kind: RecoveryKind,
    pub file: PathBuf,
    /// Where the unreadable file was moved.
    #[serde(default)]
    pub quarantined_to: Option<PathBuf>,
    pub reason: String,
    /// When, unix milliseconds.
    pub at: rota_types::UnixMs,
    /// Records marked as needing a new login by this recovery.
    #[serde(default)]
    pub needs_login: Vec<String>,
}

impl fmt::Display for Recovery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let aside = self
            .quarantined_to
            .as_ref()
            .map(|q| format!("; it was moved to {}", q.display()))
            .unwrap_or_default();
        match self.kind {
            RecoveryKind::RestoredFromBackup => write!(
                f,
                "{} could not be read ({}){aside} and its backup restored, which is one change behind: the latest change may be undone",
                self.file.display(),
                self.reason,
            )?,
            RecoveryKind::NoBackup => write!(
                f,
                "{} could not be read ({}){aside}; there was no usable backup, so what it held is missing",
                self.file.display(),
                self.reason,
            )?,
            RecoveryKind::MissingSecrets => write!(f, "{}", self.reason)?,
        }
        if !self.needs_login.is_empty() {
            write!(
                f,
                "; {} account(s) marked as needing a new login ({})",
                self.needs_login.len(),
                self.needs_login.join(", ")
            )?;
        }
        Ok(())
    }
}

impl From<&Recovery> for rota_types::RecoveryNotice {
    fn from(r: &Recovery) -> Self {
        Self {
            kind: match r.kind {
                RecoveryKind::RestoredFromBackup => rota_types::RecoveryKind::RestoredFromBackup,
                RecoveryKind::NoBackup => rota_types::RecoveryKind::NoBackup,
                RecoveryKind::MissingSecrets => rota_types::RecoveryKind::MissingSecrets,
            },
            file: r.file.display().to_string(),
            quarantined_to: r.quarantined_to.as_ref().map(|q| q.display().to_string()),
            at: r.at,
            needs_login: r.needs_login.clone(),
            message: r.to_string(),
        }
    }
}

#[derive(Default, Serialize, Deserialize)]
struct RecoveryFile {
    notices: Vec<Recovery>,
}

enum Secrets {
    File,
    Sealed(Arc<dyn KeyStore>),
}

/// The durable shared store over a state type `S`. Cheap to share (`Arc<Store<S>>`); every
/// method reads from disk, so several processes can use one data directory at once.
pub struct Store<S> {
    paths: StorePaths,
    lock_timeout: Duration,
    refresh_lock_timeout: Duration,
    secrets: Secrets,
    report: BackendReport,
    key: Mutex<Option<VaultKey>>,
    temps_cleaned: AtomicBool,
    _state: PhantomData<fn() -> S>,
}

impl<S> fmt::Debug for Store<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("paths", &self.paths)
            .field("backend", &self.report)
            .field("lock_timeout", &self.lock_timeout)
            .finish_non_exhaustive()
    }
}

/// One mutation in progress: the state read from disk under the lock, and the vault, loaded on
/// first use (a mutation that does not touch secrets does not read or write the vault).
pub struct Txn<'a, S> {
    pub state: S,
    vault: Option<Vault>,
    /// The commit tag of the vault as read.
    vault_commit: Option<u64>,
    vault_dirty: bool,
    store: &'a Store<S>,
}

impl<S: fmt::Debug> fmt::Debug for Txn<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Txn")
            .field("state", &self.state)
            .field("vault", &self.vault)
            .field("vault_dirty", &self.vault_dirty)
            .finish_non_exhaustive()
    }
}

impl<S: StoreState> Txn<'_, S> {
    /// The vault as on disk (read under the lock).
    pub fn vault(&mut self) -> Result<&Vault> {
        self.load_vault()?;
        Ok(self.vault.get_or_insert_default())
    }

    /// The vault for changing; it is written with the state when the mutation commits.
    pub fn vault_mut(&mut self) -> Result<&mut Vault> {
        self.load_vault()?;
        self.vault_dirty = true;
        Ok(self.vault.get_or_insert_default())
    }

    fn load_vault(&mut self) -> Result<()> {
        if self.vault.is_none() {
            let (decoded, needs_login) = self.store.load_vault_locked()?;
            // A vault restored from its backup: its refresh tokens may have been spent since.
            for id in &needs_login {
                self.state.flag_needs_login(id);
            }
            self.vault_commit = decoded.commit;
            self.vault = Some(decoded.vault);
        }
        Ok(())
    }
}

/// What [`Store::refresh_secrets`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// Another process refreshed meanwhile: use these, no network call was made.
    AlreadyRefreshed(SecretBundle),
    /// We refreshed; the new secrets are persisted.
    Refreshed(SecretBundle),
}

impl RefreshOutcome {
    #[must_use]
    pub fn secrets(&self) -> &SecretBundle {
        match self {
            Self::AlreadyRefreshed(s) | Self::Refreshed(s) => s,
        }
    }
}

/// A held per-account refresh lock (`locks/<account>.lock`); released on drop. For async
/// callers: take it (on a blocking thread), re-read with [`Store::secrets`], refresh over the
/// network, [`Store::save_refreshed`], then drop it.
#[derive(Debug)]
pub struct AccountLock {
    record_id: String,
    _guard: LockGuard,
}

impl AccountLock {
    #[must_use]
    pub fn record_id(&self) -> &str {
        &self.record_id
    }
}

/// Parses a state file: a JSON object of `S`'s shape (its required keys present) and of a
/// format version this build reads.
fn parse_state<S: StoreState>(bytes: &[u8]) -> std::result::Result<S, DecodeError> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        DecodeError::Corrupt(format!("not JSON ({})", vault::json_error_position(&e)))
    })?;
    let serde_json::Value::Object(map) = &value else {
        return Err(DecodeError::Corrupt(
            "not a Rota state file (not a JSON object)".to_owned(),
        ));
    };
    if let Some(supported) = S::format_version() {
        match map.get("version").and_then(serde_json::Value::as_u64) {
            Some(v) if v > u64::from(supported) => {
                return Err(DecodeError::Newer {
                    version: u32::try_from(v).unwrap_or(u32::MAX),
                    supported,
                });
            }
            Some(_) => {}
            None => {
                return Err(DecodeError::Corrupt(
                    "not a Rota state file (no format version)".to_owned(),
                ));
            }
        }
    }
    let missing: Vec<&str> = S::required_keys()
        .iter()
        .copied()
        .filter(|k| !map.contains_key(*k))
        .collect();
    if !missing.is_empty() {
        return Err(DecodeError::Corrupt(format!(
            "not a Rota state file (no {})",
            missing.join(", ")
        )));
    }
    serde_json::from_value(value).map_err(|e| DecodeError::Corrupt(e.to_string()))
}

impl<S: StoreState> Store<S> {
    /// Opens (creating the directory), resolves the secret backend, and checks both files:
    /// an unreadable file is quarantined and restored from `.bak` (see [`Store::pending_recoveries`]),
    /// or the open fails.
    pub fn open(config: StoreConfig) -> Result<Self> {
        let paths = StorePaths::new(&config.data_dir);
        fsio::create_private_dir(&paths.dir)?;
        fsio::create_private_dir(&paths.locks_dir)?;
        let key_store = || -> Arc<dyn KeyStore> {
            config.key_store.clone().unwrap_or_else(|| {
                Arc::new(OsKeychain::new(
                    &config.keychain_service,
                    config.keychain_timeout,
                ))
            })
        };
        let (secrets, report) = match config.secret_store {
            SecretStoreMode::File => (
                Secrets::File,
                BackendReport {
                    requested: SecretStoreMode::File,
                    kind: SecretBackendKind::File,
                    plaintext_fallback: false,
                    probe_error: None,
                },
            ),
            SecretStoreMode::Keychain => {
                let ks = key_store();
                backend::probe(ks.as_ref()).map_err(|e| {
                    StoreError::Keychain(format!(
                        "secret_store = \"keychain\" and the keychain does not work: {e}"
                    ))
                })?;
                (
                    Secrets::Sealed(ks),
                    keychain_report(SecretStoreMode::Keychain),
                )
            }
            SecretStoreMode::Auto => {
                let ks = key_store();
                match backend::probe(ks.as_ref()) {
                    Ok(()) => (Secrets::Sealed(ks), keychain_report(SecretStoreMode::Auto)),
                    Err(e) => {
                        tracing::warn!(error = %e, "keychain probe failed; using the plaintext vault file");
                        (
                            Secrets::File,
                            BackendReport {
                                requested: SecretStoreMode::Auto,
                                kind: SecretBackendKind::File,
                                plaintext_fallback: true,
                                probe_error: Some(e.to_string()),
                            },
                        )
                    }
                }
            }
        };
        let store = Self {
            paths,
            lock_timeout: config.lock_timeout,
            refresh_lock_timeout: config.refresh_lock_timeout,
            secrets,
            report,
            key: Mutex::new(None),
            temps_cleaned: AtomicBool::new(false),
            _state: PhantomData,
        };
        store.load()?;
        store.load_vault().map_err(|e| match e {
            // Say why no key was at hand: the keychain probe failed and `auto` fell back.
            StoreError::VaultUndecryptable { path, reason } if store.report.plaintext_fallback => {
                StoreError::VaultUndecryptable {
                    path,
                    reason: format!(
                        "{reason} (the OS keychain holding its key is not available: {})",
                        store
                            .report
                            .probe_error
                            .as_deref()
                            .unwrap_or("probe failed")
                    ),
                }
            }
            other => other,
        })?;
        store.check_consistency()?;
        Ok(store)
    }

    /// The startup check: every record has its secrets (one without is marked as needing a new
    /// login and reported) and the vault holds no secrets of records that are gone (removed,
    /// unless a recovery is unacknowledged or `state.json` is missing: then they may be the
    /// only trace of lost accounts). Writes only when something needs repair.
    fn check_consistency(&self) -> Result<()> {
        let (state, vault) = (self.load()?, self.load_vault()?);
        let Some(owners) = state.secret_owners() else {
            return Ok(());
        };
        let missing = owners.iter().any(|id| !vault.contains(id));
        let orphans = vault
            .ids()
            .any(|id| is_account_secret(id) && !owners.iter().any(|o| o == id));
        let repair = missing || (orphans && self.may_drop_orphans());
        if !repair {
            return Ok(());
        }
        // Decided again under the lock: what the lock-free look saw may have been another
        // process's write in flight, and a repair with nothing left to do must not write (a
        // write bumps the generation).
        let outcome = self.mutate(|txn| -> std::result::Result<(), Repair> {
            let owners = txn.state.secret_owners().unwrap_or_default();
            let missing: Vec<String> = {
                let vault = txn.vault()?;
                owners
                    .iter()
                    .filter(|id| !vault.contains(id))
                    .cloned()
                    .collect()
            };
            let flagged: Vec<String> = missing
                .into_iter()
                .filter(|id| txn.state.flag_needs_login(id))
                .collect();
            let orphans: Vec<String> = if self.may_drop_orphans() {
                let vault = txn.vault()?;
                vault
                    .ids()
                    .filter(|id| is_account_secret(id) && !owners.iter().any(|o| o == id))
                    .map(str::to_owned)
                    .collect()
            } else {
                Vec::new()
            };
            if flagged.is_empty() && orphans.is_empty() {
                return Err(Repair::Nothing);
            }
            if !flagged.is_empty() {
                self.note_recovery(Recovery {
                    kind: RecoveryKind::MissingSecrets,
                    file: self.paths.vault.clone(),
                    quarantined_to: None,
                    reason: format!(
                        "{} account(s) had no stored secrets (a lost or restored vault)",
                        flagged.len()
                    ),
                    at: fsio::now_ms(),
                    needs_login: flagged,
                })?;
            }
            if !orphans.is_empty() {
                tracing::info!(
                    count = orphans.len(),
                    "removing secrets of accounts that are gone"
                );
                let vault = txn.vault_mut()?;
                for id in &orphans {
                    vault.remove(id);
                }
            }
            Ok(())
        });
        match outcome {
            Ok(()) | Err(Repair::Nothing) => Ok(()),
            Err(Repair::Store(e)) => Err(e),
        }
    }

    /// Orphaned secrets are removed only when nothing says they may belong to lost accounts.
    /// (Only account secrets can be orphans: local keys live in the vault without an account.)
    fn may_drop_orphans(&self) -> bool {
        self.paths.state.exists() && self.pending_recoveries().is_empty()
    }

    /// Opens for commands that mostly read (`rota auth list`, `usage`): like [`Store::open`]
    /// but without its eager work, so a listing costs a file read and no keychain round trip.
    /// The directory is not created, the files are not checked up front (the first
    /// [`Store::load`] still recovers an unreadable state), the vault is not decrypted, and the
    /// keychain is probed only when the backend cannot be told from the files: in `auto` mode
    /// with no sealed vault on disk (the plaintext-fallback warning depends on the probe). A
    /// sealed vault means the keychain backend; its key is read only when secrets are used.
    /// Meant for reads: commands that mutate open with [`Store::open`], which creates the
    /// directory and checks both files first.
    pub fn open_quick(config: StoreConfig) -> Result<Self> {
        let paths = StorePaths::new(&config.data_dir);
        let sealed = fsio::read_optional(&paths.vault)?
            .as_deref()
            .and_then(vault::is_sealed)
            .unwrap_or(false);
        let explicit = match config.secret_store {
            SecretStoreMode::File | SecretStoreMode::Keychain => true,
            SecretStoreMode::Auto => sealed,
        };
        if !explicit {
            return Self::open(config);
        }
        let (secrets, report) = match config.secret_store {
            SecretStoreMode::File => (Secrets::File, file_report()),
            mode => {
                let ks = config.key_store.clone().unwrap_or_else(|| {
                    Arc::new(OsKeychain::new(
                        &config.keychain_service,
                        config.keychain_timeout,
                    ))
                });
                (Secrets::Sealed(ks), keychain_report(mode))
            }
        };
        Ok(Self {
            paths,
            lock_timeout: config.lock_timeout,
            refresh_lock_timeout: config.refresh_lock_timeout,
            secrets,
            report,
            key: Mutex::new(None),
            temps_cleaned: AtomicBool::new(false),
            _state: PhantomData,
        })
    }

    #[must_use]
    pub fn paths(&self) -> &StorePaths {
        &self.paths
    }

    /// Which secret backend is in use (show [`BackendReport::warning`] when set).
    #[must_use]
    pub fn backend(&self) -> &BackendReport {
        &self.report
    }

    /// Recoveries not yet acknowledged, oldest first (any process's): every surface shows them
    /// until [`Store::acknowledge_recoveries`]. An unreadable `recovery.json` is itself reported.
    #[must_use]
    pub fn pending_recoveries(&self) -> Vec<Recovery> {
        match fsio::read_optional(&self.paths.recovery) {
            Ok(None) => Vec::new(),
            Ok(Some(bytes)) => match serde_json::from_slice::<RecoveryFile>(&bytes) {
                Ok(file) => file.notices,
                Err(e) => vec![self.unreadable_recovery_file(vault::json_error_position(&e))],
            },
            Err(e) => vec![self.unreadable_recovery_file(e.to_string())],
        }
    }

    fn unreadable_recovery_file(&self, reason: String) -> Recovery {
        Recovery {
            kind: RecoveryKind::NoBackup,
            file: self.paths.recovery.clone(),
            quarantined_to: None,
            reason,
            at: fsio::now_ms(),
            needs_login: Vec::new(),
        }
    }

    /// The user has seen the recoveries: they are no longer reported. Returns them.
    pub fn acknowledge_recoveries(&self) -> Result<Vec<Recovery>> {
        let _guard = self.lock()?;
        let seen = self.pending_recoveries();
        fsio::remove_durably(&self.paths.recovery)?;
        Ok(seen)
    }

    /// The current state, read from disk without a lock (renames are atomic). Missing file =
    /// `S::default()`.
    pub fn load(&self) -> Result<S> {
        self.settle_if_pending()?;
        let Some(bytes) = fsio::read_optional(&self.paths.state)? else {
            return Ok(S::default());
        };
        match parse_state(&bytes) {
            Ok(state) => return Ok(state),
            Err(DecodeError::Newer { version, supported }) => {
                return Err(StoreError::NewerFormat {
                    path: self.paths.state.clone(),
                    version,
                    supported,
                });
            }
            Err(_) => {}
        }
        // Unreadable: recover under the lock (so only one process moves it aside).
        let _guard = self.lock()?;
        Ok(self
            .load_recovering(&self.paths.state, parse_state, |_| Vec::new())?
            .map(|(state, _)| state)
            .unwrap_or_default())
    }

    /// Every account's secrets, read from disk without a lock.
    pub fn load_vault(&self) -> Result<Vault> {
        self.settle_if_pending()?;
        if let Some(bytes) = fsio::read_optional(&self.paths.vault)? {
            let key = self.key(false)?;
            if let Ok(decoded) = vault::decode(&bytes, key.as_ref()) {
                return Ok(decoded.vault);
            }
        } else {
            return Ok(Vault::default());
        }
        // Unreadable: recover in a mutation, which also marks the accounts whose refresh
        // tokens a restored backup may hold after they were spent.
        self.mutate(|txn| Ok(txn.vault()?.clone()))
    }

    /// A commit a crash interrupted (`state.json.pending` present): finish or drop it under the
    /// lock before reading, so no reader sees a new vault with the old state for long.
    fn settle_if_pending(&self) -> Result<()> {
        if self.paths.pending.exists() {
            let _guard = self.lock()?;
            self.settle_locked()?;
        }
        Ok(())
    }

    /// Caller holds the lock. A pending state whose vault was written (the vault's commit tag
    /// is the pending generation) is put in place: the commit completes. Otherwise the vault
    /// was not written and the pending state is dropped: the commit never happened.
    fn settle_locked(&self) -> Result<()> {
        let Some(pending) = fsio::read_optional(&self.paths.pending)? else {
            return Ok(());
        };
        let pending_gen = parse_state::<S>(&pending).ok().map(|s| s.generation());
        let vault_commit = fsio::read_optional(&self.paths.vault)?
            .as_deref()
            .and_then(vault::commit_of);
        let state = fsio::read_optional(&self.paths.state)?;
        let state_gen = match &state {
            None => Some(None),
            Some(bytes) => parse_state::<S>(bytes).ok().map(|s| Some(s.generation())),
        };
        if let (Some(p), Some(current)) = (pending_gen, state_gen)
            && vault_commit == Some(p)
            && current.is_none_or(|g| g < p)
        {
            fsio::write_atomic(&self.paths.state, &pending, Bak::KeepPrevious)?;
            tracing::info!(
                generation = p,
                "finished a store write that a crash interrupted"
            );
        }
        fsio::remove_durably(&self.paths.pending)
    }

    /// One account's secrets, read from disk.
    pub fn secrets(&self, record_id: &str) -> Result<Option<SecretBundle>> {
        Ok(self.load_vault()?.get(record_id).cloned())
    }

    /// The mutation protocol: lock `state.lock` → finish or drop a commit a crash interrupted →
    /// read state (and, on use, the vault) from disk → `f` → write (pending state, vault, state
    /// when secrets changed; else the state; each temp file, fsync, rename, fsync dir; `.bak`
    /// kept) → unlock. `generation` is bumped. When `f` fails nothing is written.
    pub fn mutate<R, E>(&self, f: impl FnOnce(&mut Txn<'_, S>) -> Result<R, E>) -> Result<R, E>
    where
        E: From<StoreError>,
    {
        let _guard = self.lock()?;
        if !self.temps_cleaned.swap(true, Ordering::Relaxed) {
            fsio::remove_stale_temps(&self.paths.state);
            fsio::remove_stale_temps(&self.paths.vault);
        }
        self.settle_locked()?;
        let state: S = self
            .load_recovering(&self.paths.state, parse_state, |_| Vec::new())?
            .map(|(state, _)| state)
            .unwrap_or_default();
        let generation = state.generation();
        let mut txn = Txn {
            state,
            vault: None,
            vault_commit: None,
            vault_dirty: false,
            store: self,
        };
        let value = f(&mut txn)?;
        let Txn {
            mut state,
            vault,
            vault_commit,
            vault_dirty,
            ..
        } = txn;
        // Above the vault's tag too (a state restored from `.bak` or lost is behind it), so a
        // pending state's generation names exactly one vault write.
        let next = generation.max(vault_commit.unwrap_or(0)) + 1;
        state.set_generation(next);
        let bytes = serde_json::to_vec(&state).map_err(|source| StoreError::Serialize {
            what: "state",
            source,
        })?;
        if vault_dirty && let Some(vault) = vault {
            // Two files, one commit: the new state is made durable first as `pending`, then the
            // vault (tagged `next`), then the state. A crash before the vault's rename leaves
            // the old pool (the pending state is dropped); after it, the new one (the pending
            // state is put in place by the next reader or writer, `settle_locked`).
            fsio::write_atomic(&self.paths.pending, &bytes, Bak::Untouched)?;
            self.write_vault_locked(&vault, next)?;
            fsio::failpoint("after_commit_vault");
            fsio::write_atomic(&self.paths.state, &bytes, Bak::KeepPrevious)?;
            fsio::remove_durably(&self.paths.pending)?;
        } else {
            fsio::write_atomic(&self.paths.state, &bytes, Bak::KeepPrevious)?;
        }
        Ok(value)
    }

    /// Takes `locks/<account>.lock` (waiting up to the refresh lock timeout). Hold it while
    /// re-reading, refreshing and persisting one account's tokens.
    pub fn lock_account(&self, record_id: &str) -> Result<AccountLock> {
        let guard = LockGuard::acquire(
            &self.paths.account_lock(record_id),
            self.refresh_lock_timeout,
        )?;
        Ok(AccountLock {
            record_id: record_id.to_owned(),
            _guard: guard,
        })
    }

    /// Takes `locks/redeem-<account>.lock` (waiting up to the refresh lock timeout): one
    /// reset-credit redeem of an account at a time, across processes.
    pub fn lock_redeem(&self, record_id: &str) -> Result<AccountLock> {
        let guard = LockGuard::acquire(
            &self.paths.account_lock(&format!("redeem-{record_id}")),
            self.refresh_lock_timeout,
        )?;
        Ok(AccountLock {
            record_id: record_id.to_owned(),
            _guard: guard,
        })
    }

    /// Persists refreshed secrets of the locked account (docs/rules.md §3.4: before the lock is
    /// released and before they are used). An account removed meanwhile is not resurrected:
    /// `NotFound`.
    pub fn save_refreshed(&self, lock: &AccountLock, fresh: SecretBundle) -> Result<()> {
        let record_id = lock.record_id();
        self.mutate(|txn| {
            let vault = txn.vault_mut()?;
            if !vault.contains(record_id) {
                return Err(StoreError::NotFound(record_id.to_owned()));
            }
            vault.insert(record_id, fresh);
            Ok(())
        })
    }

    /// The cross-process refresh protocol (docs/rules.md §3.3–3.4): lock the account, re-read
    /// its secrets; if they differ from `loaded` another process refreshed already and its tokens
    /// are returned without calling `refresh`; otherwise `refresh` runs and its result is persisted
    /// before the lock is released. An error from `refresh` leaves the stored tokens untouched.
    pub fn refresh_secrets<E>(
        &self,
        record_id: &str,
        loaded: &SecretBundle,
        refresh: impl FnOnce(&SecretBundle) -> Result<SecretBundle, E>,
    ) -> Result<RefreshOutcome, E>
    where
        E: From<StoreError>,
    {
        let account = self.lock_account(record_id)?;
        let current = self
            .secrets(record_id)?
            .ok_or_else(|| StoreError::NotFound(record_id.to_owned()))?;
        if current != *loaded {
            return Ok(RefreshOutcome::AlreadyRefreshed(current));
        }
        let fresh = refresh(&current)?;
        self.save_refreshed(&account, fresh.clone())?;
        drop(account);
        Ok(RefreshOutcome::Refreshed(fresh))
    }

    /// Calls `on_change(generation)` from a background thread whenever `state.json` changes
    /// generation (any process's write), polling its metadata every `interval`. Stops when the
    /// returned [`Watcher`] is dropped.
    pub fn watch(
        &self,
        interval: Duration,
        mut on_change: impl FnMut(u64) + Send + 'static,
    ) -> Result<Watcher>
    where
        S: 'static,
    {
        let path = self.paths.state.clone();
        let read_generation = move |path: &Path| -> Option<u64> {
            let bytes = fsio::read_optional(path).ok()??;
            parse_state::<S>(&bytes).ok().map(|s| s.generation())
        };
        let mut last_sig = file_signature(&path);
        let mut last_gen = read_generation(&path);
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("rota-store-watch".to_owned())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stop_rx.recv_timeout(interval) {
                    let sig = file_signature(&path);
                    if sig == last_sig {
                        continue;
                    }
                    last_sig = sig;
                    if let Some(generation) = read_generation(&path)
                        && Some(generation) != last_gen
                    {
                        last_gen = Some(generation);
                        on_change(generation);
                    }
                }
            })
            .map_err(|e| StoreError::io("cannot start watcher thread", &self.paths.state, e))?;
        Ok(Watcher {
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    fn lock(&self) -> Result<LockGuard> {
        LockGuard::acquire(&self.paths.lock, self.lock_timeout)
    }

    /// Records a recovery in `recovery.json` (caller holds the lock).
    fn note_recovery(&self, recovery: Recovery) -> Result<()> {
        tracing::warn!(%recovery, "the store repaired a data file");
        let mut notices = self.pending_recoveries();
        notices.push(recovery);
        let bytes = serde_json::to_vec_pretty(&RecoveryFile { notices }).map_err(|source| {
            StoreError::Serialize {
                what: "recovery notices",
                source,
            }
        })?;
        fsio::write_atomic(&self.paths.recovery, &bytes, Bak::Untouched)
    }

    /// Reads `path` (caller holds the lock); an unreadable file is moved aside and replaced by a
    /// readable `.bak`, and that is recorded (`needs_login` picks the records to mark from the
    /// restored value). A sealed file that neither it nor its `.bak` decrypts, and a file of a
    /// newer format, are left untouched.
    fn load_recovering<T>(
        &self,
        path: &Path,
        parse: impl Fn(&[u8]) -> std::result::Result<T, DecodeError>,
        needs_login: impl Fn(&T) -> Vec<String>,
    ) -> Result<Option<(T, Vec<String>)>> {
        let Some(bytes) = fsio::read_optional(path)? else {
            return Ok(None);
        };
        let (undecryptable, reason) = match parse(&bytes) {
            Ok(value) => return Ok(Some((value, Vec::new()))),
            Err(DecodeError::Newer { version, supported }) => {
                return Err(StoreError::NewerFormat {
                    path: path.to_owned(),
                    version,
                    supported,
                });
            }
            Err(DecodeError::Corrupt(r)) => (false, r),
            Err(DecodeError::Undecryptable(r)) => (true, r),
        };
        let bak = fsio::bak_path(path);
        let good_bak = fsio::read_optional(&bak)?.and_then(|b| parse(&b).ok().map(|v| (b, v)));
        match good_bak {
            Some((bak_bytes, value)) => {
                let quarantined_to = fsio::quarantine(path)?;
                fsio::write_atomic(path, &bak_bytes, Bak::Untouched)?;
                let flagged = needs_login(&value);
                self.note_recovery(Recovery {
                    kind: RecoveryKind::RestoredFromBackup,
                    file: path.to_owned(),
                    quarantined_to: Some(quarantined_to),
                    reason,
                    at: fsio::now_ms(),
                    needs_login: flagged.clone(),
                })?;
                Ok(Some((value, flagged)))
            }
            None if undecryptable => Err(StoreError::VaultUndecryptable {
                path: path.to_owned(),
                reason,
            }),
            None => {
                let quarantined_to = fsio::quarantine(path)?;
                tracing::error!(path = %path.display(), quarantined = %quarantined_to.display(), "unreadable data file without a good backup");
                // Reported until acknowledged: the next run finds no file and must not pass
                // for a fresh, empty store.
                self.note_recovery(Recovery {
                    kind: RecoveryKind::NoBackup,
                    file: path.to_owned(),
                    quarantined_to: Some(quarantined_to.clone()),
                    reason: reason.clone(),
                    at: fsio::now_ms(),
                    needs_login: Vec::new(),
                })?;
                Err(StoreError::Corrupt {
                    path: path.to_owned(),
                    quarantined_to,
                    reason,
                })
            }
        }
    }

    /// The vault (caller holds the lock), and the records to mark as needing a new login when
    /// it was restored from its backup: one write behind, it may hold refresh tokens that have
    /// been spent since (single-use), and presenting one again can revoke the login.
    fn load_vault_locked(&self) -> Result<(Decoded, Vec<String>)> {
        let key = self.key(false)?;
        Ok(self
            .load_recovering(
                &self.paths.vault,
                |b| vault::decode(b, key.as_ref()),
                |d: &Decoded| {
                    d.vault
                        .iter()
                        .filter(|(_, b)| b.refresh_token.is_some())
                        .map(|(id, _)| id.to_owned())
                        .collect()
                },
            )?
            .unwrap_or_else(|| {
                (
                    Decoded {
                        vault: Vault::default(),
                        commit: None,
                    },
                    Vec::new(),
                )
            }))
    }

    fn write_vault_locked(&self, vault: &Vault, commit: u64) -> Result<()> {
        let path = &self.paths.vault;
        let (bytes, bak) = match &self.secrets {
            Secrets::File => (vault::encode(vault, None, Some(commit)), Bak::KeepPrevious),
            Secrets::Sealed(_) => {
                let sealed_before = fsio::read_optional(path)?
                    .as_deref()
                    .and_then(vault::is_sealed)
                    .unwrap_or(false);
                // A key is created only while no sealed vault exists (under the lock).
                let key =
                    self.key(!sealed_before)?
                        .ok_or_else(|| StoreError::VaultUndecryptable {
                            path: path.clone(),
                            reason: "its key is missing from the OS keychain".to_owned(),
                        })?;
                // A plaintext vault being sealed must not linger as `.bak`.
                let bak = if sealed_before {
                    Bak::KeepPrevious
                } else {
                    Bak::CopyOfNew
                };
                (vault::encode(vault, Some(&key), Some(commit)), bak)
            }
        };
        let bytes =
            bytes.map_err(|e| StoreError::Keychain(format!("cannot seal the vault: {e}")))?;
        fsio::write_atomic(path, &bytes, bak)
    }

    /// The vault key (cached after the first keychain read); `create` makes one when missing.
    fn key(&self, create: bool) -> Result<Option<VaultKey>> {
        let Secrets::Sealed(ks) = &self.secrets else {
            return Ok(None);
        };
        let mut cached = self.key.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(key) = cached.as_ref() {
            return Ok(Some(key.clone()));
        }
        let key = match ks.get(VAULT_KEY_ITEM)? {
            Some(text) => VaultKey::from_text(&text).map_err(StoreError::Keychain)?,
            None if create => {
                let key = VaultKey::generate().map_err(StoreError::Keychain)?;
                ks.set(VAULT_KEY_ITEM, &key.to_text())?;
                let back = ks.get(VAULT_KEY_ITEM)?.ok_or_else(|| {
                    StoreError::Keychain("the new vault key vanished from the keychain".to_owned())
                })?;
                if VaultKey::from_text(&back).map_err(StoreError::Keychain)? != key {
                    return Err(StoreError::Keychain(
                        "the keychain returned a different vault key".to_owned(),
                    ));
                }
                key
            }
            None => return Ok(None),
        };
        *cached = Some(key.clone());
        Ok(Some(key))
    }
}

fn file_report() -> BackendReport {
    BackendReport {
        requested: SecretStoreMode::File,
        kind: SecretBackendKind::File,
        plaintext_fallback: false,
        probe_error: None,
    }
}

fn keychain_report(requested: SecretStoreMode) -> BackendReport {
    BackendReport {
        requested,
        kind: SecretBackendKind::Keychain,
        plaintext_fallback: false,
        probe_error: None,
    }
}

/// Identity of the file's current version: inode (rename swaps it), size, mtime.
fn file_signature(path: &Path) -> Option<(u64, u64, Option<std::time::SystemTime>)> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let ino = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let ino = 0;
    Some((ino, meta.len(), meta.modified().ok()))
}

/// A running change watcher; dropping it stops the thread.
#[derive(Debug)]
pub struct Watcher {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Whether a vault entry is an account's secrets (keyed by record id), not a connection's local
/// key ([`crate::LOCAL_KEY_PREFIX`]), which no account owns.
fn is_account_secret(id: &str) -> bool {
    !id.starts_with(crate::LOCAL_KEY_PREFIX)
}

/// The startup repair's outcome when it does not write: nothing left to repair under the lock,
/// or the store failed.
enum Repair {
    Nothing,
    Store(StoreError),
}

impl From<StoreError> for Repair {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}
