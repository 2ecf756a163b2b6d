//! Pool operations: snapshot, accounts, set active, remove, upsert, rename, lookups.

use rota_types::{
    AccountIdentity, AccountSummary, MAX_LABEL_CHARS, PoolSnapshot, ProviderId, ProviderUsageEntry,
    SwitchLogEntry, SwitchReason, UnixMs, UsageResponse, UsageSnapshot,
};
use ulid::Ulid;

use crate::error::PoolError;
use crate::state::{CooldownKind, PoolState, ProviderPool, Record, SWITCH_LOG_CAP};

/// What a login or import learned about an account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewLogin {
    pub identity: AccountIdentity,
    /// A label the user chose; otherwise the e-mail, else `Account N`.
    pub label: Option<String>,
}

/// Result of [`PoolState::upsert`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upserted {
    pub id: Ulid,
    /// `false` when an existing account with the same identity was updated.
    pub created: bool,
    /// Set when the active account changed (the newest login becomes active).
    pub switched: Option<SwitchLogEntry>,
}

/// Result of [`PoolState::remove_record`].
#[derive(Debug, Clone, PartialEq)]
pub struct Removed {
    /// The removed record; the store deletes its secrets in the same transaction.
    pub record: Record,
    /// Accounts left in the record's provider and namespace.
    pub remaining: usize,
    /// Set when the removed account was active and another one took over.
    pub switched: Option<SwitchLogEntry>,
}

/// Which account an operation means: an exact id (every wire request) or what a person typed
/// (the CLI: an id, an id prefix of 4+ characters, or a label). Resolved under the store's lock
/// by [`PoolState::find`], so a concurrent rename or removal cannot slip in between.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountRef {
    Id(Ulid),
    Query(String),
}

impl From<Ulid> for AccountRef {
    fn from(id: Ulid) -> Self {
        Self::Id(id)
    }
}

/// Parses a record id from the wire.
pub fn parse_id(id: &str) -> Result<Ulid, PoolError> {
    Ulid::from_string(id.trim()).map_err(|_| PoolError::InvalidId { id: id.to_owned() })
}

/// Checks and normalises a user-given label: trimmed, non-empty, at most
/// [`MAX_LABEL_CHARS`] characters, no control characters.
pub fn validate_label(label: &str) -> Result<String, PoolError> {
    let label = label.trim();
    if label.is_empty() {
        return Err(PoolError::EmptyLabel);
    }
    if label.chars().count() > MAX_LABEL_CHARS {
        return Err(PoolError::LabelTooLong {
            max: MAX_LABEL_CHARS,
        });
    }
    if label.chars().any(char::is_control) {
        return Err(PoolError::LabelControlChars);
    }
    Ok(label.to_owned())
}

/// Whether two identities are the same provider account: the provider's account id when both
/// have one, else the e-mail (case-insensitive). Unknown identities never match.
#[must_use]
pub fn same_account(a: &AccountIdentity, b: &AccountIdentity) -> bool {
    if let (Some(x), Some(y)) = (&a.account_id, &b.account_id) {
        return x == y;
    }
    match (&a.email, &b.email) {
        (Some(x), Some(y)) => x.trim().eq_ignore_ascii_case(y.trim()),
        _ => false,
    }
}

pub(crate) fn not_found(provider: ProviderId, id: impl ToString) -> PoolError {
    PoolError::NotFound {
        provider,
        id: id.to_string(),
    }
}

impl PoolState {
    /// The pool of a provider, if it has accounts.
    #[must_use]
    pub fn pool(&self, provider: ProviderId) -> Option<&ProviderPool> {
        self.providers.get(&provider)
    }

    /// A record by id, in any namespace.
    #[must_use]
    pub fn record(&self, provider: ProviderId, id: Ulid) -> Option<&Record> {
        self.pool(provider).and_then(|p| p.record(id))
    }

    /// A record by id for a change, or [`PoolError::NotFound`].
    pub(crate) fn record_mut_or_not_found(
        &mut self,
        provider: ProviderId,
        id: Ulid,
    ) -> Result<&mut Record, PoolError> {
        self.providers
            .get_mut(&provider)
            .and_then(|p| p.record_mut(id))
            .ok_or_else(|| not_found(provider, id))
    }

    /// What a list of providers shows about one: its facts, how many accounts, which is
    /// active and how many cannot serve now (the CLI's `auth list --json` and the app).
    #[must_use]
    pub fn provider_listing(
        &self,
        provider: ProviderId,
        ns: &str,
        now: UnixMs,
    ) -> rota_types::command::ProviderListing {
        let records: Vec<&Record> = self
            .pool(provider)
            .map(|p| p.records_in(ns).collect())
            .unwrap_or_default();
        let count = |f: &dyn Fn(&Record) -> bool| {
            u32::try_from(records.iter().filter(|r| f(r)).count()).unwrap_or(u32::MAX)
        };
        rota_types::command::ProviderListing {
            info: provider.info(),
            account_count: count(&|_| true),
            active_label: self
                .active_id(provider, ns, now)
                .and_then(|id| self.record(provider, id))
                .map(|r| r.label.clone()),
            needs_reauth: count(&|r| r.health.needs_reauth),
            cooling_down: count(&|r| !r.health.needs_reauth && r.is_cooling(now)),
        }
    }

    /// Number of accounts of a provider in a namespace.
    #[must_use]
    pub fn count(&self, provider: ProviderId, ns: &str) -> usize {
        self.pool(provider).map_or(0, |p| p.records_in(ns).count())
    }

    /// Normalised rotation order (empty for a provider without accounts).
    #[must_use]
    pub fn ordered_ids(&self, provider: ProviderId, ns: &str) -> Vec<Ulid> {
        self.pool(provider)
            .map(|p| p.ordered_ids(ns))
            .unwrap_or_default()
    }

    /// The account requests use first (see [`ProviderPool::effective_active`]).
    #[must_use]
    pub fn active_id(&self, provider: ProviderId, ns: &str, now: UnixMs) -> Option<Ulid> {
        self.pool(provider)
            .and_then(|p| p.effective_active(ns, now))
    }

    /// `{records, orderedIDs, activeID}` with records in rotation order.
    #[must_use]
    pub fn snapshot(&self, provider: ProviderId, ns: &str, now: UnixMs) -> PoolSnapshot {
        let records = self.get_accounts(provider, ns, now);
        PoolSnapshot {
            ordered_ids: records.iter().map(|r| r.id.clone()).collect(),
            active_id: records.iter().find(|r| r.is_active).map(|r| r.id.clone()),
            records,
        }
    }

    /// One summary per account in rotation order; exactly one `isActive` when non-empty.
    #[must_use]
    pub fn get_accounts(&self, provider: ProviderId, ns: &str, now: UnixMs) -> Vec<AccountSummary> {
        let Some(pool) = self.pool(provider) else {
            return Vec::new();
        };
        let active = pool.effective_active(ns, now);
        pool.ordered_ids(ns)
            .into_iter()
            .filter_map(|id| pool.record(id))
            .map(|r| r.summary(Some(r.id) == active))
            .collect()
    }

    /// Finds an account by id, id prefix (at least 4 characters) or label (case-insensitive),
    /// as the CLI accepts them.
    /// The account `account` means in `ns`; an account of another namespace is "not found", on
    /// every surface alike.
    pub fn find(
        &self,
        provider: ProviderId,
        ns: &str,
        account: &AccountRef,
    ) -> Result<Ulid, PoolError> {
        match account {
            AccountRef::Id(id) => match self.record(provider, *id) {
                Some(r) if r.namespace == ns => Ok(*id),
                _ => Err(not_found(provider, id)),
            },
            AccountRef::Query(q) => self.resolve(provider, ns, q),
        }
    }

    pub fn resolve(&self, provider: ProviderId, ns: &str, query: &str) -> Result<Ulid, PoolError> {
        let q = query.trim();
        let records: Vec<&Record> = self
            .pool(provider)
            .map(|p| p.records_in(ns).collect())
            .unwrap_or_default();
        if let Ok(id) = Ulid::from_string(q)
            && records.iter().any(|r| r.id == id)
        {
            return Ok(id);
        }
        let by = |pred: &dyn Fn(&Record) -> bool| -> Vec<Ulid> {
            records.iter().filter(|r| pred(r)).map(|r| r.id).collect()
        };
        let upper = q.to_ascii_uppercase();
        let mut matches = if q.len() >= 4 {
            by(&|r| r.id.to_string().starts_with(&upper))
        } else {
            Vec::new()
        };
        if matches.is_empty() {
            matches = by(&|r| r.label.eq_ignore_ascii_case(q));
        }
        match matches.as_slice() {
            [id] => Ok(*id),
            // Quoted: what a person typed, not an id.
            [] => Err(not_found(provider, format!("{q:?}"))),
            many => Err(PoolError::Ambiguous {
                provider,
                query: q.to_owned(),
                count: many.len(),
                matches: many
                    .iter()
                    .filter_map(|id| records.iter().find(|r| r.id == *id))
                    .map(|r| format!("{} ({})", r.id, r.label))
                    .collect(),
            }),
        }
    }

    /// Makes `id` the active account and moves it to the front of the order. Returns the
    /// switch-log entry when the active account changed.
    pub fn set_active(
        &mut self,
        provider: ProviderId,
        ns: &str,
        id: Ulid,
        reason: SwitchReason,
        now: UnixMs,
    ) -> Result<Option<SwitchLogEntry>, PoolError> {
        let pool = self
            .providers
            .get_mut(&provider)
            .ok_or_else(|| not_found(provider, id))?;
        if pool.record(id).is_none_or(|r| r.namespace != ns) {
            return Err(not_found(provider, id));
        }
        // The stored active id, not the fallback: a first login or a file without `active` is
        // logged as a switch from nothing.
        let before = pool
            .active
            .get(ns)
            .copied()
            .filter(|a| pool.record(*a).is_some_and(|r| r.namespace == ns));
        let mut order = pool.ordered_ids(ns);
        order.retain(|x| *x != id);
        order.insert(0, id);
        pool.order.insert(ns.to_owned(), order);
        Ok(self.activate(provider, ns, before, id, reason, now))
    }

    /// Sets the stored active id and logs the change (if it is one).
    pub(crate) fn activate(
        &mut self,
        provider: ProviderId,
        ns: &str,
        before: Option<Ulid>,
        to: Ulid,
        reason: SwitchReason,
        now: UnixMs,
    ) -> Option<SwitchLogEntry> {
        let pool = self.providers.get_mut(&provider)?;
        pool.active.insert(ns.to_owned(), to);
        if before == Some(to) {
            return None;
        }
        pool.active_since.insert(ns.to_owned(), now);
        let entry = SwitchLogEntry {
            at: now,
            provider_id: provider,
            namespace: ns.to_owned(),
            from: before.map(|b| b.to_string()),
            to: to.to_string(),
            reason,
            detail: None,
        };
        self.log_switch(entry.clone());
        Some(entry)
    }

    /// Appends to the switch log, dropping the oldest entries beyond [`SWITCH_LOG_CAP`].
    pub fn log_switch(&mut self, entry: SwitchLogEntry) {
        self.switch_log.push_back(entry);
        if self.switch_log.len() > SWITCH_LOG_CAP {
            while self.switch_log.len() > SWITCH_LOG_CAP {
                self.switch_log.pop_front();
            }
            self.prune_removed_labels();
        }
    }

    /// Removes one account. Removing the active account makes the first remaining ordered id
    /// active; removing the last one removes the provider's entry. Every removal gets one
    /// switch-log row (reason `removed`; `to` is the account that took over, or the removed
    /// account itself when none did).
    pub fn remove_record(
        &mut self,
        provider: ProviderId,
        id: Ulid,
        now: UnixMs,
    ) -> Result<Removed, PoolError> {
        let pool = self
            .providers
            .get_mut(&provider)
            .ok_or_else(|| not_found(provider, id))?;
        let idx = pool
            .records
            .iter()
            .position(|r| r.id == id)
            .ok_or_else(|| not_found(provider, id))?;
        let ns = pool.records[idx].namespace.clone();
        let was_active = pool.effective_active(&ns, now) == Some(id);
        let record = pool.records.remove(idx);
        pool.normalize(&ns);
        let remaining = pool.records_in(&ns).count();
        let mut switched = None;
        let next = pool.ordered_ids(&ns).first().copied();
        if was_active {
            match next {
                Some(next) => {
                    // The one history row of this removal names who took over.
                    switched =
                        self.activate(provider, &ns, Some(id), next, SwitchReason::Removed, now);
                }
                None => {
                    pool.active.remove(&ns);
                }
            }
        }
        if switched.is_none() {
            self.log_removal(provider, &ns, id, now);
        }
        if self
            .providers
            .get(&provider)
            .is_some_and(|p| p.records.is_empty())
        {
            self.providers.remove(&provider);
        }
        self.remember_removed(id, &record.label);
        Ok(Removed {
            record,
            remaining,
            switched,
        })
    }

    /// Removes every account of a provider's namespace ("Remove all accounts"); returns them so
    /// the store can delete their secrets. Each gets its removal row in the switch log.
    pub fn remove_all(&mut self, provider: ProviderId, ns: &str, now: UnixMs) -> Vec<Record> {
        let Some(pool) = self.providers.get_mut(&provider) else {
            return Vec::new();
        };
        let (gone, kept) = std::mem::take(&mut pool.records)
            .into_iter()
            .partition(|r| r.namespace == ns);
        pool.records = kept;
        pool.normalize(ns);
        if pool.records.is_empty() {
            self.providers.remove(&provider);
        }
        for r in &gone {
            self.log_removal(provider, ns, r.id, now);
            self.remember_removed(r.id, &r.label);
        }
        gone
    }

    /// Logs the removal of an account no other account took over from (it was not active, or
    /// it was the last one): `from` = `to` = the account, so the history names it once.
    fn log_removal(&mut self, provider: ProviderId, ns: &str, id: Ulid, now: UnixMs) {
        self.log_switch(SwitchLogEntry {
            at: now,
            provider_id: provider,
            namespace: ns.to_owned(),
            from: Some(id.to_string()),
            to: id.to_string(),
            reason: SwitchReason::Removed,
            detail: None,
        });
    }

    /// Adds an account from a login or import, or updates the existing account with the same
    /// identity. Either way it becomes active and moves to the front (the newest login wins).
    /// `new_id` is used only when a record is created (the caller generates it, so this stays
    /// deterministic).
    pub fn upsert(
        &mut self,
        provider: ProviderId,
        ns: &str,
        login: NewLogin,
        new_id: Ulid,
        now: UnixMs,
    ) -> Result<Upserted, PoolError> {
        let label = login.label.as_deref().map(validate_label).transpose()?;
        let pool = self.providers.entry(provider).or_default();
        let existing = pool
            .records
            .iter()
            .position(|r| r.namespace == ns && same_account(&r.identity, &login.identity));
        let (id, created) = if let Some(idx) = existing {
            let r = &mut pool.records[idx];
            refresh_login(r, login.identity, label, now);
            (r.id, false)
        } else {
            if pool.record(new_id).is_some() {
                let err = PoolError::DuplicateId {
                    id: new_id.to_string(),
                };
                if pool.records.is_empty() {
                    self.providers.remove(&provider);
                }
                return Err(err);
            }
            // A new account is named by what identifies it to its owner: the e-mail, or for
            // GitHub the login (Copilot reports no e-mail; the other providers' account ids
            // are opaque UUIDs).
            let handle = match provider {
                ProviderId::GithubCopilot => login.identity.account_id.clone(),
                ProviderId::Anthropic | ProviderId::OpenAi => None,
            };
            let named = |s: Option<String>| s.filter(|v| !v.trim().is_empty());
            let label = label
                .or_else(|| named(login.identity.email.clone()))
                .or_else(|| named(handle))
                .unwrap_or_else(|| next_account_label(pool, ns));
            pool.records.push(Record {
                id: new_id,
                namespace: ns.to_owned(),
                label: truncate_chars(&label, MAX_LABEL_CHARS),
                identity: login.identity,
                created_at: now,
                updated_at: now,
                health: rota_types::AccountHealth::default(),
                cooldown_kind: None,
                rate_limit_streak: 0,
                usage: None,
                usage_history: Vec::new(),
                pending_redeem: None,
                last_redeem: None,
                model_limits: std::collections::BTreeMap::new(),
                reset_credits: None,
                extra_usage: None,
            });
            (new_id, true)
        };
        let switched = self.set_active(provider, ns, id, SwitchReason::Login, now)?;
        Ok(Upserted {
            id,
            created,
            switched,
        })
    }

    /// A new login of a known account, found by the caller some other way than identity (an
    /// import carrying the same tokens): updated exactly like [`PoolState::upsert`] updates a
    /// match, and made active.
    pub fn update_login(
        &mut self,
        provider: ProviderId,
        id: Ulid,
        login: NewLogin,
        now: UnixMs,
    ) -> Result<Upserted, PoolError> {
        let label = login.label.as_deref().map(validate_label).transpose()?;
        let r = self
            .providers
            .get_mut(&provider)
            .and_then(|p| p.record_mut(id))
            .ok_or_else(|| not_found(provider, id))?;
        refresh_login(r, login.identity, label, now);
        let ns = r.namespace.clone();
        let switched = self.set_active(provider, &ns, id, SwitchReason::Login, now)?;
        Ok(Upserted {
            id,
            created: false,
            switched,
        })
    }

    /// Renames an account (see [`validate_label`]).
    pub fn rename(
        &mut self,
        provider: ProviderId,
        id: Ulid,
        label: &str,
        now: UnixMs,
    ) -> Result<(), PoolError> {
        let label = validate_label(label)?;
        let r = self
            .providers
            .get_mut(&provider)
            .and_then(|p| p.record_mut(id))
            .ok_or_else(|| not_found(provider, id))?;
        r.label = label;
        r.updated_at = now;
        Ok(())
    }

    /// `GET /auth/usage`: every provider with accounts, its accounts in rotation order and, for
    /// Anthropic, the active account's windows.
    #[must_use]
    pub fn usage_response(&self, ns: &str, now: UnixMs) -> UsageResponse {
        self.providers
            .keys()
            .map(|p| {
                let anthropic_usage = self
                    .active_id(*p, ns, now)
                    .and_then(|id| self.record(*p, id))
                    .and_then(Record::anthropic_usage);
                let accounts = self.get_accounts(*p, ns, now);
                (
                    *p,
                    ProviderUsageEntry {
                        accounts,
                        anthropic_usage,
                    },
                )
            })
            .filter(|(_, e)| !e.accounts.is_empty())
            .collect()
    }

    /// Stores a usage snapshot unless a newer one is already there (parallel fetches and
    /// gateway headers can arrive out of order).
    pub fn record_usage(
        &mut self,
        provider: ProviderId,
        id: Ulid,
        usage: UsageSnapshot,
    ) -> Result<bool, PoolError> {
        let r = self
            .providers
            .get_mut(&provider)
            .and_then(|p| p.record_mut(id))
            .ok_or_else(|| not_found(provider, id))?;
        if r.usage
            .as_ref()
            .is_some_and(|u| u.fetched_at > usage.fetched_at)
        {
            return Ok(false);
        }
        crate::exhaustion::remember(&mut r.usage_history, &usage);
        r.usage = Some(usage);
        Ok(true)
    }
}

/// What a new login changes on an existing record.
fn refresh_login(r: &mut Record, identity: AccountIdentity, label: Option<String>, now: UnixMs) {
    merge_identity(&mut r.identity, identity);
    if let Some(label) = label {
        r.label = label;
    }
    r.updated_at = now;
    // Fresh tokens: a pending re-login is done and an auth cooldown no longer applies; a
    // rate-limit cooldown stays (same account, same exhausted window).
    r.health.needs_reauth = false;
    if r.cooldown_kind == Some(CooldownKind::Auth) {
        r.health.cooldown_until = None;
        r.cooldown_kind = None;
    }
}

fn merge_identity(into: &mut AccountIdentity, from: AccountIdentity) {
    let AccountIdentity {
        account_id,
        email,
        organization,
        plan,
    } = from;
    into.account_id = account_id.or(into.account_id.take());
    into.email = email.or(into.email.take());
    into.organization = organization.or(into.organization.take());
    into.plan = plan.or(into.plan.take());
}

/// `Account N` with the smallest N ≥ the new count that no account of the namespace uses.
fn next_account_label(pool: &ProviderPool, ns: &str) -> String {
    let mut n = pool.records_in(ns).count() + 1;
    loop {
        let label = format!("Account {n}");
        if !pool.records_in(ns).any(|r| r.label == label) {
            return label;
        }
        n += 1;
    }
}

fn truncate_chars(s: &str, max: usize) -> String {
    s.trim().chars().take(max).collect()
}
