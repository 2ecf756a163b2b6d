//! The store bound to rota-core's [`PoolState`]: the operations the CLI, the app and the gateway
//! call. Each is one [`Store::mutate`], so pool changes and their secrets commit together.

use std::sync::Arc;
use std::time::Duration;

use rota_core::{AccountRef, NewLogin, PoolState, Record, Removed, Ulid, Upserted};
use rota_types::{ProviderId, SwitchLogEntry, SwitchReason, UnixMs};

use crate::batch::{BatchedCounters, CounterDelta};
use crate::error::{Result, StoreError};
use crate::import::ImportedAccount;
use crate::secret::SecretBundle;
use crate::store::{Store, StoreState};

/// The store of Rota's account pool.
pub type PoolStore = Store<PoolState>;

impl StoreState for PoolState {
    fn generation(&self) -> u64 {
        self.generation
    }
    fn set_generation(&mut self, generation: u64) {
        self.generation = generation;
    }
    fn required_keys() -> &'static [&'static str] {
        // Always written (no `skip_serializing_if`): a file without them is not a pool.
        &["version", "generation", "providers"]
    }
    fn format_version() -> Option<u32> {
        Some(rota_core::STATE_VERSION)
    }
    fn secret_owners(&self) -> Option<Vec<String>> {
        Some(
            self.providers
                .values()
                .flat_map(|p| p.records.iter().map(|r| r.id.to_string()))
                .collect(),
        )
    }
    fn flag_needs_login(&mut self, id: &str) -> bool {
        let Ok(id) = rota_core::parse_id(id) else {
            return false;
        };
        for pool in self.providers.values_mut() {
            if let Some(record) = pool.records.iter_mut().find(|r| r.id == id) {
                let changed = !record.health.needs_reauth;
                record.health.needs_reauth = true;
                return changed;
            }
        }
        false
    }
}

/// A fresh record id whose time part is `now` (the randomness comes from the OS).
pub fn new_record_id(now: UnixMs) -> Result<Ulid> {
    let mut rnd = [0u8; 16];
    getrandom::fill(&mut rnd)
        .map_err(|e| StoreError::Keychain(format!("no OS randomness for an id: {e}")))?;
    Ok(Ulid::from_parts(
        u64::try_from(now).unwrap_or(0),
        u128::from_le_bytes(rnd),
    ))
}

/// Adds a batched delta to the record `id` (any provider); unknown ids are ignored (removed
/// meanwhile).
pub fn apply_counter_delta(state: &mut PoolState, id: &str, delta: CounterDelta) {
    let Ok(id) = rota_core::parse_id(id) else {
        return;
    };
    for pool in state.providers.values_mut() {
        if let Some(record) = pool.records.iter_mut().find(|r| r.id == id) {
            record.health.success_count += delta.success;
            record.health.failure_count += delta.failure;
            if delta.last_status.is_some() {
                record.health.last_status_code = delta.last_status;
            }
            return;
        }
    }
}

impl BatchedCounters<PoolState> {
    /// Batched success/failure counters of the pool's records.
    pub fn for_pool(store: Arc<PoolStore>, interval: Duration) -> Self {
        Self::start(store, interval, apply_counter_delta)
    }
}

/// A switch as it happened ([`Store::set_active`]).
#[derive(Debug, Clone)]
pub struct Switch {
    /// The account now active.
    pub id: Ulid,
    /// Its record after the switch (state only; no secret).
    pub record: Record,
    /// The log entry, when the active account changed.
    pub entry: Option<SwitchLogEntry>,
    /// Why the new account cannot serve yet, judged before the switch (who serves meanwhile).
    pub caveat: Option<rota_core::ServingCaveat>,
}

impl Store<PoolState> {
    /// Makes the account active (moved to the front of the order); written at once. The
    /// account is resolved under the lock ([`PoolState::find`]).
    pub fn set_active(
        &self,
        provider: ProviderId,
        namespace: &str,
        account: impl Into<AccountRef>,
        reason: SwitchReason,
        now: UnixMs,
    ) -> Result<Switch> {
        let account = account.into();
        self.mutate(|txn| {
            let id = txn.state.find(provider, namespace, &account)?;
            let caveat = txn.state.serving_caveat(provider, namespace, id, now);
            let entry = txn.state.set_active(provider, namespace, id, reason, now)?;
            let record = txn.state.record(provider, id).cloned().ok_or_else(|| {
                rota_core::PoolError::NotFound {
                    provider,
                    id: id.to_string(),
                }
            })?;
            Ok(Switch {
                id,
                record,
                entry,
                caveat,
            })
        })
    }

    /// Removes one account of `namespace` and its secrets in one transaction; an account of
    /// another namespace is "not found", on every surface alike.
    pub fn remove_record(
        &self,
        provider: ProviderId,
        namespace: &str,
        account: impl Into<AccountRef>,
        now: UnixMs,
    ) -> Result<Removed> {
        let account = account.into();
        self.mutate(|txn| {
            let id = txn.state.find(provider, namespace, &account)?;
            let removed = txn.state.remove_record(provider, id, now)?;
            txn.vault_mut()?.remove(&id.to_string());
            Ok(removed)
        })
    }

    /// Removes every account of a provider's namespace and their secrets.
    pub fn remove_all(
        &self,
        provider: ProviderId,
        namespace: &str,
        now: UnixMs,
    ) -> Result<Vec<Record>> {
        self.mutate(|txn| {
            let gone = txn.state.remove_all(provider, namespace, now);
            let vault = txn.vault_mut()?;
            for record in &gone {
                vault.remove(&record.id.to_string());
            }
            Ok(gone)
        })
    }

    /// Renames an account of `namespace` (another namespace's is "not found"); returns its id
    /// and its label before.
    pub fn rename(
        &self,
        provider: ProviderId,
        namespace: &str,
        account: impl Into<AccountRef>,
        label: &str,
        now: UnixMs,
    ) -> Result<(Ulid, String)> {
        let account = account.into();
        self.mutate(|txn| {
            let id = txn.state.find(provider, namespace, &account)?;
            let old = txn
                .state
                .record(provider, id)
                .map(|r| r.label.clone())
                .unwrap_or_default();
            txn.state.rename(provider, id, label, now)?;
            Ok((id, old))
        })
    }

    /// Adds an account from a login (or updates the one with the same identity) together with
    /// its secrets; it becomes active.
    pub fn upsert_account(
        &self,
        provider: ProviderId,
        namespace: &str,
        login: NewLogin,
        secrets: SecretBundle,
        now: UnixMs,
    ) -> Result<Upserted> {
        let new_id = new_record_id(now)?;
        self.mutate(|txn| {
            let upserted = txn.state.upsert(provider, namespace, login, new_id, now)?;
            txn.vault_mut()?.insert(upserted.id.to_string(), secrets);
            Ok(upserted)
        })
    }

    /// Imports accounts in one transaction. An imported account matches an existing one by
    /// identity, or (for files without identity, like Claude Code's) by carrying the same
    /// refresh or access token; matches are updated, not duplicated. Each becomes active in turn
    /// (the newest login wins), as a login would.
    pub fn import_accounts(
        &self,
        accounts: Vec<ImportedAccount>,
        now: UnixMs,
    ) -> Result<Vec<Upserted>> {
        let ids = accounts
            .iter()
            .map(|_| new_record_id(now))
            .collect::<Result<Vec<_>>>()?;
        self.mutate(|txn| {
            let mut out = Vec::with_capacity(accounts.len());
            for (account, new_id) in accounts.into_iter().zip(ids) {
                let upserted = if let Some(id) = same_tokens(txn, &account)? {
                    let (provider, ns) = (account.provider, account.namespace.as_str());
                    if let Some(record) = txn
                        .state
                        .providers
                        .get_mut(&provider)
                        .and_then(|p| p.records.iter_mut().find(|r| r.id == id))
                    {
                        if account.identity.plan.is_some() {
                            record.identity.plan.clone_from(&account.identity.plan);
                        }
                        record.updated_at = now;
                        record.health.needs_reauth = false;
                    }
                    let switched =
                        txn.state
                            .set_active(provider, ns, id, SwitchReason::Login, now)?;
                    Upserted {
                        id,
                        created: false,
                        switched,
                    }
                } else {
                    let login = account.login();
                    txn.state
                        .upsert(account.provider, &account.namespace, login, new_id, now)?
                };
                txn.vault_mut()?
                    .insert(upserted.id.to_string(), account.secrets);
                out.push(upserted);
            }
            Ok(out)
        })
    }

    /// One account's secrets, read from disk.
    pub fn credentials(&self, id: Ulid) -> Result<Option<SecretBundle>> {
        self.secrets(&id.to_string())
    }
}

/// A record of the import's provider and namespace holding the same tokens, when the import has
/// no identity of its own to match by.
fn same_tokens(
    txn: &mut crate::Txn<'_, PoolState>,
    account: &ImportedAccount,
) -> Result<Option<Ulid>> {
    if account.identity.account_id.is_some() || account.identity.email.is_some() {
        return Ok(None);
    }
    let Some(pool) = txn.state.pool(account.provider) else {
        return Ok(None);
    };
    let candidates: Vec<Ulid> = pool.records_in(&account.namespace).map(|r| r.id).collect();
    let vault = txn.vault()?;
    Ok(candidates.into_iter().find(|id| {
        vault.get(&id.to_string()).is_some_and(|stored| {
            (stored.refresh_token.is_some()
                && stored.refresh_token == account.secrets.refresh_token)
                || stored.access_token == account.secrets.access_token
        })
    }))
}
