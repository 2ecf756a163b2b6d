//! The gateway's in-memory view of the pool: state and vault as last read from the store, so a
//! proxied request reads no file in the common case.
//!
//! Kept current three ways:
//! - the store's watcher (another process's write, noticed within [`WATCH_INTERVAL`]) reloads
//!   it on a background thread;
//! - every request compares `state.json`'s signature (one `stat`, no read) with the one the
//!   view was loaded at, and reloads when it changed: a `rota auth switch` that has returned is
//!   honoured by the very next request, not one watcher tick later;
//! - the gateway's own outcomes (cooldown, rotation, `needsReauth`) are applied to the view at
//!   once, then persisted through the locked store ([`rota_store::Store::mutate`], which re-reads
//!   the file under the lock, so nothing another process wrote is lost). Until its write has
//!   landed an outcome stays pending and is re-applied on top of every reload, so a reload
//!   triggered by someone else's write never forgets a cooldown this gateway just saw.
//!
//! The vault is written before the state and every mutation rewrites the state, so a state
//! signature change also covers every secret change (refreshes by other processes included);
//! the state is read before the vault, so a view never has an account without its secret.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use rota_core::{CooldownPolicy, Outcome, OutcomeEffect, PoolError, PoolState, Ulid};
use rota_providers::AccountAuth;
use rota_store::{PoolStore, StoreError, Vault};
use rota_types::{ProviderId, UnixMs};

/// How often the store's watcher looks at `state.json` (a `stat`).
pub const WATCH_INTERVAL: Duration = Duration::from_millis(200);

/// Identity of one version of `state.json`: inode (the atomic rename swaps it), size, mtime.
type FileSig = Option<(u64, u64, Option<SystemTime>)>;

fn file_sig(path: &Path) -> FileSig {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let ino = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let ino = 0;
    Some((ino, meta.len(), meta.modified().ok()))
}

/// One consistent picture of the pool.
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub(crate) state: PoolState,
    pub(crate) vault: Arc<Vault>,
    sig: FileSig,
}

impl Snapshot {
    /// An account's identity and secrets as the view holds them (`None` when it does not hold
    /// the account: just added elsewhere).
    pub(crate) fn auth(&self, provider: ProviderId, id: Ulid) -> Option<AccountAuth> {
        let key = id.to_string();
        let record = self.state.record(provider, id)?;
        let secrets = self.vault.get(&key)?;
        Some(AccountAuth {
            record_id: key,
            identity: record.identity.clone(),
            secrets: secrets.clone(),
        })
    }
}

/// An outcome applied in memory whose store write has not landed yet.
#[derive(Debug, Clone)]
struct Provisional {
    seq: u64,
    provider: ProviderId,
    id: Ulid,
    outcome: Outcome,
    policy: CooldownPolicy,
    now: UnixMs,
}

#[derive(Debug)]
pub(crate) struct PoolView {
    store: Arc<PoolStore>,
    state_path: PathBuf,
    current: RwLock<Arc<Snapshot>>,
    /// Pending outcomes and the last number given out. Lock order: `pending`, then `current`.
    pending: std::sync::Mutex<(u64, Vec<Provisional>)>,
    /// One request-driven reload at a time (the others wait and find it done).
    reloading: std::sync::Mutex<()>,
}

impl PoolView {
    /// Reads the pool once (blocking: call it where file IO is fine).
    pub(crate) fn open(store: Arc<PoolStore>) -> Result<Self, StoreError> {
        let state_path = store.paths().state.clone();
        let snapshot = read(&store, &state_path)?;
        Ok(Self {
            store,
            state_path,
            current: RwLock::new(Arc::new(snapshot)),
            pending: std::sync::Mutex::new((0, Vec::new())),
            reloading: std::sync::Mutex::new(()),
        })
    }

    fn get(&self) -> Arc<Snapshot> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The pool as on disk now: the cached view unless `state.json` changed since it was read.
    ///
    /// A changed file is re-read right here, not on the blocking pool: it is a few KiB from
    /// the page cache, and under CPU contention the hop to a blocking thread can wait a whole
    /// scheduler period while every request queues behind the reload.
    pub(crate) fn current(&self) -> Result<Arc<Snapshot>, StoreError> {
        let snap = self.get();
        if snap.sig == file_sig(&self.state_path) {
            return Ok(snap);
        }
        let _one = self
            .reloading
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let snap = self.get();
        if snap.sig == file_sig(&self.state_path) {
            return Ok(snap);
        }
        self.reload()?;
        Ok(self.get())
    }

    /// Reads state and vault again (blocking), with the pending outcomes on top.
    pub(crate) fn reload(&self) -> Result<(), StoreError> {
        let mut snapshot = read(&self.store, &self.state_path)?;
        let pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        for p in &pending.1 {
            // A pending outcome may already be in this read (its write just landed); applying
            // it again only repeats idempotent cooldown/rotation effects in memory.
            let _ = snapshot
                .state
                .record_outcome(p.provider, p.id, &p.outcome, &p.policy, p.now);
        }
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(snapshot);
        drop(pending);
        Ok(())
    }

    /// Applies an outcome in memory at once; it stays pending (re-applied on reloads) until
    /// [`PoolView::settle`] with the returned number after its store write.
    pub(crate) fn apply_outcome(
        &self,
        provider: ProviderId,
        id: Ulid,
        outcome: &Outcome,
        policy: &CooldownPolicy,
        now: UnixMs,
    ) -> (u64, Result<OutcomeEffect, PoolError>) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending.0 += 1;
        let seq = pending.0;
        pending.1.push(Provisional {
            seq,
            provider,
            id,
            outcome: outcome.clone(),
            policy: *policy,
            now,
        });
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        let mut state = current.state.clone();
        let effect = state.record_outcome(provider, id, outcome, policy, now);
        *current = Arc::new(Snapshot {
            state,
            vault: current.vault.clone(),
            sig: current.sig,
        });
        (seq, effect)
    }

    /// The outcome `seq` is on disk (or failed to get there): stop re-applying it.
    pub(crate) fn settle(&self, seq: u64) {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .1
            .retain(|p| p.seq != seq);
    }
}

fn read(store: &PoolStore, state_path: &Path) -> Result<Snapshot, StoreError> {
    // The signature first: a write racing this read changes it again, so the next request
    // reloads instead of trusting a view that may predate the write.
    let sig = file_sig(state_path);
    let state = store.load()?;
    let vault = store.load_vault()?;
    Ok(Snapshot {
        state,
        vault: Arc::new(vault),
        sig,
    })
}
