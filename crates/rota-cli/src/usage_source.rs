//! Where `rota auth usage` gets its values. The command always renders the store's snapshots
//! (with their age); a [`UsageSource`] may first fetch fresh ones. [`CachedUsage`] shows what
//! the store has (no network, `--cached`); [`LiveUsage`] fetches every account in parallel
//! through `rota-providers`' `UsageService`, which records fresh values in the store itself.
//! Accounts whose fetch failed keep showing their cached value, with its age.

use std::sync::Arc;

use rota_providers::{FetchStatus, Providers, ProvidersConfig, TokenManager, UsageService};
use rota_store::{PoolStore, now_ms};
use rota_types::{ProviderId, UnixMs};

/// How one account's fetch went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchOutcome {
    /// A fresh value was fetched and recorded.
    Fresh,
    /// The fetch failed (the message is shown next to the cached value).
    Failed(String),
    /// Not fetched: the provider rate-limited this account until then.
    BackedOff { until: UnixMs },
    /// The refresh token was refused: the account needs a new login.
    NeedsReauth,
}

/// One account's fetch result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedUsage {
    pub provider: ProviderId,
    pub record_id: String,
    pub outcome: FetchOutcome,
}

/// A way to refresh usage before it is shown.
pub trait UsageSource {
    /// Whether [`UsageSource::fetch`] goes to the network (the command then shows a spinner).
    fn is_live(&self) -> bool;

    /// Fetches fresh usage of every account of `only` (or of all providers) and records it in
    /// `store`. `Err` when the fetch could not run at all: the command then shows the cache.
    fn fetch(
        &self,
        store: &Arc<PoolStore>,
        only: Option<ProviderId>,
    ) -> Result<Vec<FetchedUsage>, String>;
}

/// Shows what the store has: no fetch, no network, no async runtime.
#[derive(Debug, Clone, Copy, Default)]
pub struct CachedUsage;

impl UsageSource for CachedUsage {
    fn is_live(&self) -> bool {
        false
    }

    fn fetch(
        &self,
        _store: &Arc<PoolStore>,
        _only: Option<ProviderId>,
    ) -> Result<Vec<FetchedUsage>, String> {
        Ok(Vec::new())
    }
}

/// Fetches live from the providers (`ProvidersConfig::load`: `config.toml` and the environment,
/// so `ROTA_PROVIDERS_MOCK_BASE` points it at rota-mock), all accounts in parallel, on a
/// single-threaded runtime started only for this.
#[derive(Debug, Clone, Default)]
pub struct LiveUsage {
    config: Option<ProvidersConfig>,
}

impl LiveUsage {
    /// Providers configured as every surface configures them (`config.toml`, environment).
    #[must_use]
    pub fn from_env() -> Self {
        Self { config: None }
    }

    /// Providers with an explicit configuration (benchmarks, tests).
    #[must_use]
    pub fn with_config(config: ProvidersConfig) -> Self {
        Self {
            config: Some(config),
        }
    }
}

impl UsageSource for LiveUsage {
    fn is_live(&self) -> bool {
        true
    }

    fn fetch(
        &self,
        store: &Arc<PoolStore>,
        only: Option<ProviderId>,
    ) -> Result<Vec<FetchedUsage>, String> {
        let config = match &self.config {
            Some(c) => c.clone(),
            None => ProvidersConfig::load().map_err(|e| e.to_string())?,
        };
        let providers = Arc::new(Providers::new(config).map_err(|e| e.to_string())?);
        let service = UsageService::new(Arc::new(TokenManager::new(store.clone(), providers)));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the async runtime: {e}"))?;
        let results = runtime
            .block_on(service.fetch(only, now_ms()))
            .map_err(|e| e.to_string())?;
        Ok(results
            .into_iter()
            .map(|r| FetchedUsage {
                provider: r.provider,
                record_id: r.id.to_string(),
                outcome: match r.status {
                    FetchStatus::Fresh => FetchOutcome::Fresh,
                    FetchStatus::BackedOff { until } => FetchOutcome::BackedOff { until },
                    FetchStatus::Failed { message, .. } => FetchOutcome::Failed(message),
                    FetchStatus::NeedsReauth => FetchOutcome::NeedsReauth,
                },
            })
            .collect())
    }
}
