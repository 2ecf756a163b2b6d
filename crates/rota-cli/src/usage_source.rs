//! Where `rota auth usage` gets its values. The command always renders the store's cached
//! snapshots (with their age); a [`UsageSource`] may first fetch fresh ones, which the command
//! records in the store before rendering. Today the only source is [`CachedUsage`] (no
//! network); the live source from `rota-providers` (all accounts in parallel, behind a spinner)
//! implements the same trait, and accounts whose fetch failed keep showing their cached value.

use rota_types::{AccountSummary, ProviderId, UsageSnapshot};

/// One account's fetch result.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchedUsage {
    pub provider: ProviderId,
    pub record_id: String,
    /// The fresh snapshot, or why the fetch failed (shown next to the cached value).
    pub result: Result<UsageSnapshot, String>,
}

/// A way to refresh usage before it is shown.
pub trait UsageSource {
    /// Whether [`UsageSource::fetch`] goes to the network (the command then shows a spinner).
    fn is_live(&self) -> bool;

    /// Fetches fresh usage of `accounts` (grouped by provider). Accounts missing from the
    /// result keep their cached value.
    fn fetch(&self, accounts: &[(ProviderId, Vec<AccountSummary>)]) -> Vec<FetchedUsage>;
}

/// Shows what the store has: no fetch, no network, no async runtime.
#[derive(Debug, Clone, Copy, Default)]
pub struct CachedUsage;

impl UsageSource for CachedUsage {
    fn is_live(&self) -> bool {
        false
    }

    fn fetch(&self, _accounts: &[(ProviderId, Vec<AccountSummary>)]) -> Vec<FetchedUsage> {
        Vec::new()
    }
}
