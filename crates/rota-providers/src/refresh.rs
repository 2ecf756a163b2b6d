//! Token refresh with single-use refresh tokens (docs/rules.md §3): refresh only near expiry or
//! after a 401; one refresh per account at a time in this process (later callers wait and then
//! find the new tokens); across processes the store's `locks/<account>.lock` plus a re-read (a
//! process that finds the tokens changed uses them without a network call); the new pair is
//! persisted before anyone uses it. A permanent refusal is re-read once, then the account is
//! marked `needsReauth` and its stored tokens are left byte-for-byte; a transient failure backs
//! off with the tokens untouched. While an account is handed off to a tool (rota-handoff),
//! Rota does not refresh it itself: it adopts what the tool refreshed, leaves valid tokens to
//! the tool, and refreshes only when the tool's copy is expired and unchanged (then syncs).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use rota_core::Ulid;
use rota_store::{PoolStore, SecretBundle};
use rota_types::{ProviderId, UnixMs};

use crate::adapter::{AccountAuth, Providers, RefreshFailure};
use crate::error::ProviderError;

/// First back-off after a transient refresh failure; doubles per repeat up to
/// [`MAX_REFRESH_BACKOFF_MS`].
pub const REFRESH_BACKOFF_MS: i64 = 30_000;
/// Ceiling of the refresh back-off.
pub const MAX_REFRESH_BACKOFF_MS: i64 = 10 * 60_000;

#[derive(Debug, Clone, Copy, Default)]
struct Backoff {
    until: UnixMs,
    streak: u32,
}

/// Hands out usable credentials and refreshes them safely. One per process (share it in an
/// `Arc`): the in-process single flight works per instance.
#[derive(Debug)]
pub struct TokenManager {
    store: Arc<PoolStore>,
    providers: Arc<Providers>,
    flights: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    backoff: Mutex<HashMap<String, Backoff>>,
    backoff_base_ms: i64,
}

impl TokenManager {
    #[must_use]
    pub fn new(store: Arc<PoolStore>, providers: Arc<Providers>) -> Self {
        Self {
            store,
            providers,
            flights: Mutex::new(HashMap::new()),
            backoff: Mutex::new(HashMap::new()),
            backoff_base_ms: REFRESH_BACKOFF_MS,
        }
    }

    /// Changes the first transient back-off (tests, config).
    #[must_use]
    pub fn with_backoff_ms(mut self, base_ms: i64) -> Self {
        self.backoff_base_ms = base_ms.max(0);
        self
    }

    #[must_use]
    pub fn store(&self) -> &Arc<PoolStore> {
        &self.store
    }

    #[must_use]
    pub fn providers(&self) -> &Arc<Providers> {
        &self.providers
    }

    /// The account's credentials, refreshed first when they expire within the configured skew.
    /// Reads the clock; see [`TokenManager::access_at`].
    pub async fn access(
        &self,
        provider: ProviderId,
        id: Ulid,
    ) -> Result<AccountAuth, ProviderError> {
        self.access_at(provider, id, rota_store::now_ms()).await
    }

    /// [`TokenManager::access`] at `now`.
    pub async fn access_at(
        &self,
        provider: ProviderId,
        id: Ulid,
        now: UnixMs,
    ) -> Result<AccountAuth, ProviderError> {
        let auth = self.load(provider, id).await?;
        self.refresh_if_due(provider, id, auth, now).await
    }

    /// [`TokenManager::access_at`] for credentials the caller already holds (the gateway's
    /// in-memory view, read without a file): returned as they are unless they expire within
    /// the configured skew; a due refresh still locks the account and re-reads it (docs/rules.md §3).
    pub async fn refresh_if_due(
        &self,
        provider: ProviderId,
        id: Ulid,
        mut auth: AccountAuth,
        now: UnixMs,
    ) -> Result<AccountAuth, ProviderError> {
        let skew = i64::try_from(self.providers.config.refresh_skew_secs)
            .unwrap_or(i64::MAX)
            .saturating_mul(1000);
        if auth.secrets.credentials().needs_refresh(now, skew) {
            let loaded = auth.secrets.clone();
            auth.secrets = self.refresh_at(provider, id, &loaded, now).await?;
        }
        Ok(auth)
    }

    /// After a 401 on the credentials `used`: refresh, unless another caller or process already
    /// replaced them (then those are returned without a network call). Copilot's GitHub token
    /// does not rotate: its cached Copilot token is dropped instead, so the next
    /// [`Providers::upstream_credential`] exchanges a fresh one.
    pub async fn after_unauthorized(
        &self,
        provider: ProviderId,
        id: Ulid,
        used: &SecretBundle,
    ) -> Result<AccountAuth, ProviderError> {
        let mut auth = self.load(provider, id).await?;
        if provider == ProviderId::GithubCopilot || used.refresh_token.is_none() {
            self.providers.forget_copilot_token(&auth.record_id);
            return Ok(auth);
        }
        auth.secrets = self
            .refresh_at(provider, id, used, rota_store::now_ms())
            .await?;
        Ok(auth)
    }

    /// The refresh protocol for credentials `loaded` earlier, at `now`.
    #[allow(clippy::too_many_lines)] // docs/rules.md §3 step by step reads best as one sequence
    pub async fn refresh_at(
        &self,
        provider: ProviderId,
        id: Ulid,
        loaded: &SecretBundle,
        now: UnixMs,
    ) -> Result<SecretBundle, ProviderError> {
        let key = id.to_string();
        let flight = {
            let mut f = self.flights.lock().unwrap_or_else(PoisonError::into_inner);
            f.entry(key.clone()).or_default().clone()
        };
        let _in_process = flight.lock().await;

        // Across processes: the account lock, then the tokens as they are on disk now.
        let store = self.store.clone();
        let k = key.clone();
        let (lock, current) = blocking(move || {
            let lock = store.lock_account(&k)?;
            let current = store
                .secrets(&k)?
                .ok_or_else(|| rota_store::StoreError::NotFound(k.clone()))?;
            Ok::<_, rota_store::StoreError>((lock, current))
        })
        .await?;
        if current != *loaded {
            // Someone (this process or another) refreshed meanwhile: use theirs.
            return Ok(current);
        }
        if current.refresh_token.is_none() {
            return Err(ProviderError::NoCredentials { provider, id: key });
        }
        // Hand-off: the tool holding the account refreshes it (docs/rules.md §3.6).
        let sync_after = match self.handoff_gate(provider, id, &current, now).await {
            rota_handoff::RefreshGate::Refresh => false,
            rota_handoff::RefreshGate::RefreshThenSync => true,
            rota_handoff::RefreshGate::Adopted(theirs) => return Ok(theirs),
            rota_handoff::RefreshGate::LeaveToTool => return Ok(current),
        };
        if let Some(b) = self.backoff_of(&key).filter(|b| b.until > now) {
            return Err(ProviderError::RefreshBackoff {
                provider,
                reason: "an earlier refresh failed".into(),
                retry_at: b.until,
            });
        }
        let adapter = self.providers.adapter(provider);
        match adapter.refresh(&self.providers, &current).await {
            Ok(fresh) => {
                let store = self.store.clone();
                let saved = fresh.clone();
                blocking(move || {
                    let r = store.save_refreshed(&lock, saved);
                    drop(lock);
                    r
                })
                .await?;
                self.backoff
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&key);
                tracing::info!(%provider, account = %key, "refreshed the access token");
                if sync_after {
                    self.hand_back(provider, now).await;
                }
                Ok(fresh)
            }
            Err(RefreshFailure::Permanent { code }) => {
                // The hand-off tool may have spent it first: take its pair.
                if let Some(fresh) = self
                    .tool_pair(sync_after, provider, id, &current, now)
                    .await
                {
                    return Ok(fresh);
                }
                // Re-read once: a tool sharing the account may have written new tokens.
                let store = self.store.clone();
                let k = key.clone();
                let again = blocking(move || {
                    let again = store.secrets(&k);
                    drop(lock);
                    again
                })
                .await?;
                if let Some(again) = again.filter(|a| *a != current) {
                    return Ok(again);
                }
                tracing::warn!(%provider, account = %key, %code, "refresh token refused; the account needs a new login");
                let store = self.store.clone();
                blocking(move || mark_needs_reauth(&store, provider, id)).await?;
                Err(ProviderError::ReauthRequired { provider, code })
            }
            Err(RefreshFailure::Transient {
                reason,
                retry_after_ms,
            }) => {
                drop(lock);
                let mut map = self.backoff.lock().unwrap_or_else(PoisonError::into_inner);
                let b = map.entry(key.clone()).or_default();
                let grown = self
                    .backoff_base_ms
                    .saturating_mul(1_i64 << b.streak.min(16))
                    .min(MAX_REFRESH_BACKOFF_MS);
                b.streak = b.streak.saturating_add(1);
                b.until = now.saturating_add(retry_after_ms.unwrap_or(grown).max(grown));
                tracing::warn!(%provider, account = %key, %reason, "token refresh failed; will retry");
                Err(ProviderError::RefreshBackoff {
                    provider,
                    reason,
                    retry_at: b.until,
                })
            }
        }
    }

    /// What hand-off allows for this refresh; a failure to read the target is logged and the
    /// refresh goes ahead as without hand-off.
    async fn handoff_gate(
        &self,
        provider: ProviderId,
        id: Ulid,
        current: &SecretBundle,
        now: UnixMs,
    ) -> rota_handoff::RefreshGate {
        let store = self.store.clone();
        let current = current.clone();
        match tokio::task::spawn_blocking(move || {
            rota_handoff::refresh_gate(&store, provider, id, &current, now)
        })
        .await
        {
            Ok(Ok(gate)) => {
                if matches!(gate, rota_handoff::RefreshGate::Adopted(_)) {
                    tracing::info!(%provider, account = %id, "took the tokens the hand-off tool refreshed");
                }
                gate
            }
            Ok(Err(e)) => {
                tracing::warn!(%provider, error = %e, "cannot check the hand-off target");
                rota_handoff::RefreshGate::Refresh
            }
            Err(e) => {
                tracing::warn!(%provider, error = %e, "hand-off check failed");
                rota_handoff::RefreshGate::Refresh
            }
        }
    }

    /// After a refused refresh of a handed-off account: the tool's newer pair, if it wrote one.
    async fn tool_pair(
        &self,
        handed_off: bool,
        provider: ProviderId,
        id: Ulid,
        current: &SecretBundle,
        now: UnixMs,
    ) -> Option<SecretBundle> {
        if !handed_off {
            return None;
        }
        match self.handoff_gate(provider, id, current, now).await {
            rota_handoff::RefreshGate::Adopted(fresh) => Some(fresh),
            _ => None,
        }
    }

    /// After refreshing a handed-off account: the tool's copy holds the refresh token just
    /// spent, so it gets the new pair.
    async fn hand_back(&self, provider: ProviderId, now: UnixMs) {
        let store = self.store.clone();
        let synced =
            tokio::task::spawn_blocking(move || rota_handoff::sync(&store, provider, false, now))
                .await;
        if let Ok(Err(e)) = synced {
            tracing::warn!(%provider, error = %e, "hand-off after a refresh failed");
        }
    }

    fn backoff_of(&self, key: &str) -> Option<Backoff> {
        self.backoff
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .copied()
    }

    /// Record identity + secrets as on disk.
    pub async fn load(&self, provider: ProviderId, id: Ulid) -> Result<AccountAuth, ProviderError> {
        let store = self.store.clone();
        blocking(move || {
            let state = store.load()?;
            let record = state
                .record(provider, id)
                .ok_or_else(|| rota_store::StoreError::NotFound(id.to_string()))?;
            let identity = record.identity.clone();
            let secrets = store
                .secrets(&id.to_string())?
                .ok_or_else(|| rota_store::StoreError::NotFound(id.to_string()))?;
            Ok::<_, rota_store::StoreError>(AccountAuth {
                record_id: id.to_string(),
                identity,
                secrets,
            })
        })
        .await
    }
}

/// Sets `needsReauth` on the record; the vault is not touched.
fn mark_needs_reauth(
    store: &PoolStore,
    provider: ProviderId,
    id: Ulid,
) -> Result<(), rota_store::StoreError> {
    store.mutate(|txn| {
        if let Some(r) = txn
            .state
            .providers
            .get_mut(&provider)
            .and_then(|p| p.records.iter_mut().find(|r| r.id == id))
        {
            r.health.needs_reauth = true;
        }
        Ok(())
    })
}

/// Runs store IO (file locks, fsync) off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, rota_store::StoreError> + Send + 'static,
) -> Result<T, ProviderError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ProviderError::Internal(format!("store task failed: {e}")))?
        .map_err(ProviderError::from)
}
