//! The usage service: fetches every account's usage in parallel, records each result with its
//! fetch time in the store (rota-core's `record_usage`, so an older result never replaces a
//! newer one), keeps the last good value when a fetch fails (callers show it with its age),
//! backs off per account when the usage endpoint answers 429, and decides when each account is
//! due next ([`next_poll_at`], a pure function). Background polling has an off switch;
//! explicit fetches (`rota auth usage`, a refresh button) still work when it is off.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::future::join_all;
use rota_core::{PoolState, Ulid};
use rota_types::{ErrorCode, LimitStatus, ProviderId, UnixMs, UsageSnapshot};

use crate::error::ProviderError;
use crate::refresh::TokenManager;

/// How often accounts are polled (seconds). The provider minimum
/// ([`crate::ProvidersConfig::min_usage_poll_secs`]) always applies on top.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PollPolicy {
    /// The active account.
    pub active_secs: i64,
    /// Other accounts.
    pub inactive_secs: i64,
    /// Any account at or above `near_limit_pct` in some window polls at most this far apart.
    pub near_limit_secs: i64,
    pub near_limit_pct: f64,
    /// When the provider saw no gateway traffic for `idle_after_secs`, intervals stretch to this.
    pub idle_secs: i64,
    pub idle_after_secs: i64,
    /// First back-off after a 429 from the usage endpoint (doubles, up to `max_backoff_secs`).
    pub backoff_secs: i64,
    pub max_backoff_secs: i64,
}

impl Default for PollPolicy {
    fn default() -> Self {
        Self {
            active_secs: 5 * 60,
            inactive_secs: 15 * 60,
            near_limit_secs: 3 * 60,
            near_limit_pct: 80.0,
            idle_secs: 60 * 60,
            idle_after_secs: 30 * 60,
            backoff_secs: 5 * 60,
            max_backoff_secs: 60 * 60,
        }
    }
}

impl PollPolicy {
    /// The defaults rescaled to a base interval (`config.toml` `[polling] interval_secs`): the
    /// active account every `secs`, the others every `3 × secs`, accounts near a limit at
    /// least as often as the active one.
    #[must_use]
    pub fn every(secs: u64) -> Self {
        let secs = i64::try_from(secs.max(1)).unwrap_or(i64::MAX / 3);
        let d = Self::default();
        Self {
            active_secs: secs,
            inactive_secs: secs.saturating_mul(3),
            near_limit_secs: d.near_limit_secs.min(secs),
            idle_secs: d.idle_secs.max(secs.saturating_mul(3)),
            ..d
        }
    }
}

/// What the policy knows about one account.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PollInput {
    pub is_active: bool,
    /// The provider saw no gateway traffic lately.
    pub idle: bool,
    /// Last successful fetch (or header update).
    pub last_fetch: Option<UnixMs>,
    /// Highest window utilization of the last snapshot, percent.
    pub max_utilization: Option<f64>,
    /// Set when the account is exhausted (a window at 100 % or status rejected, or a rate-limit
    /// cooldown): when it frees up.
    pub exhausted_until: Option<UnixMs>,
    /// Usage-endpoint back-off end (after a 429).
    pub backoff_until: Option<UnixMs>,
    /// The provider's minimum spacing, seconds.
    pub min_secs: i64,
}

/// When the account's usage should be fetched next (unix ms): active and near-limit accounts
/// more often, others and idle providers less, exhausted accounts just after they reset; never
/// closer than the provider minimum after the last fetch, never inside a 429 back-off.
#[must_use]
pub fn next_poll_at(input: &PollInput, policy: &PollPolicy, now: UnixMs) -> UnixMs {
    let Some(last) = input.last_fetch else {
        return input.backoff_until.map_or(now, |b| b.max(now));
    };
    let near = input
        .max_utilization
        .is_some_and(|u| u >= policy.near_limit_pct);
    let mut secs = if input.is_active {
        policy.active_secs
    } else {
        policy.inactive_secs
    };
    if input.idle {
        secs = secs.max(policy.idle_secs);
    }
    if near {
        secs = secs.min(policy.near_limit_secs);
    }
    let mut at = last.saturating_add(secs.saturating_mul(1000));
    if let Some(free) = input.exhausted_until {
        // Nothing changes before the reset; look right after it (but not later than the idle
        // interval, in case the reset moved).
        let idle_cap = last.saturating_add(policy.idle_secs.saturating_mul(1000));
        at = free.saturating_add(5_000).min(idle_cap).max(at.min(free));
    }
    let min_gap = last.saturating_add(input.min_secs.max(0).saturating_mul(1000));
    at = at.max(min_gap);
    if let Some(b) = input.backoff_until {
        at = at.max(b);
    }
    at
}

/// How one account's fetch went.
#[derive(Debug, Clone, PartialEq)]
pub enum FetchStatus {
    /// Fetched now; `usage` is new.
    Fresh,
    /// Not fetched: the account is inside a 429 back-off until then.
    BackedOff { until: UnixMs },
    /// The fetch failed; `usage` (if any) is the last good value.
    Failed {
        code: ErrorCode,
        message: String,
        /// Nothing was learnt about the account (network, 5xx, 429).
        transient: bool,
    },
    /// The account needs a new login (refresh refused).
    NeedsReauth,
}

/// One account's usage after a fetch: the new value, or the last good one with its age
/// (`usage.fetched_at`).
#[derive(Debug, Clone, PartialEq)]
pub struct AccountUsage {
    pub provider: ProviderId,
    pub id: Ulid,
    pub label: String,
    pub status: FetchStatus,
    pub usage: Option<UsageSnapshot>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Backoff {
    until: UnixMs,
    streak: u32,
}

/// Fetches and records usage. One per process, shared in an `Arc`.
#[derive(Debug)]
pub struct UsageService {
    tokens: Arc<TokenManager>,
    policy: PollPolicy,
    enabled: AtomicBool,
    backoff: Mutex<HashMap<Ulid, Backoff>>,
    activity: Mutex<HashMap<ProviderId, UnixMs>>,
}

struct Target {
    provider: ProviderId,
    id: Ulid,
    label: String,
    cached: Option<UsageSnapshot>,
}

impl UsageService {
    #[must_use]
    pub fn new(tokens: Arc<TokenManager>) -> Self {
        Self::with_policy(tokens, PollPolicy::default())
    }

    #[must_use]
    pub fn with_policy(tokens: Arc<TokenManager>, policy: PollPolicy) -> Self {
        Self {
            tokens,
            policy,
            enabled: AtomicBool::new(true),
            backoff: Mutex::new(HashMap::new()),
            activity: Mutex::new(HashMap::new()),
        }
    }

    /// The off switch of background polling ([`UsageService::poll_due`]).
    pub fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Ordering::Relaxed);
    }

    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// The gateway saw traffic for `provider` (its accounts are not idle).
    pub fn note_activity(&self, provider: ProviderId, now: UnixMs) {
        self.activity
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(provider, now);
    }

    /// Fetches every account of `provider` (or of all providers) now, in parallel, except those
    /// inside a 429 back-off. Works when background polling is off.
    pub async fn fetch(
        &self,
        provider: Option<ProviderId>,
        now: UnixMs,
    ) -> Result<Vec<AccountUsage>, ProviderError> {
        let state = self.load_state().await?;
        let targets = targets(&state, |p, _| provider.is_none_or(|want| want == p));
        Ok(self.run(targets, now).await)
    }

    /// Fetches one account now (e.g. the newly active one for `POST /auth/active`), unless it is
    /// inside a 429 back-off; recorded like [`UsageService::fetch`].
    pub async fn fetch_account(
        &self,
        provider: ProviderId,
        id: Ulid,
        now: UnixMs,
    ) -> Result<Option<AccountUsage>, ProviderError> {
        let state = self.load_state().await?;
        let targets = targets(&state, |p, i| p == provider && i == id);
        Ok(self.run(targets, now).await.into_iter().next())
    }

    /// Background polling: fetches the accounts [`next_poll_at`] says are due. Nothing when the
    /// off switch is off.
    pub async fn poll_due(&self, now: UnixMs) -> Result<Vec<AccountUsage>, ProviderError> {
        if !self.is_enabled() {
            return Ok(Vec::new());
        }
        let state = self.load_state().await?;
        let due = |p: ProviderId, id: Ulid| self.next_poll(&state, p, id, now) <= now;
        let targets = targets(&state, due);
        Ok(self.run(targets, now).await)
    }

    /// When an account is due next (for schedulers that sleep until then).
    #[must_use]
    pub fn next_poll(
        &self,
        state: &PoolState,
        provider: ProviderId,
        id: Ulid,
        now: UnixMs,
    ) -> UnixMs {
        let Some(r) = state.record(provider, id) else {
            return UnixMs::MAX;
        };
        // Its tokens were refused: nothing to fetch until the user logs in again (a new login
        // clears the flag). Explicit fetches still try.
        if r.health.needs_reauth {
            return UnixMs::MAX;
        }
        let ns = r.namespace.as_str();
        let is_active = state.active_id(provider, ns, now) == Some(id);
        let idle = self
            .activity
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&provider)
            .is_none_or(|t| now.saturating_sub(*t) > self.policy.idle_after_secs * 1000);
        let exhausted_until = r.usage.as_ref().and_then(|u| {
            // A model's cap does not stop the polls: the account still serves other models.
            let full: Vec<_> = u
                .account_windows()
                .filter(|w| w.utilization >= 100.0)
                .filter_map(|w| w.resets_at)
                .collect();
            if u.status == Some(LimitStatus::Rejected) || !full.is_empty() {
                full.into_iter().max().or(r.health.cooldown_until)
            } else {
                None
            }
        });
        let input = PollInput {
            is_active,
            idle,
            last_fetch: r.usage.as_ref().map(|u| u.fetched_at),
            max_utilization: r.usage.as_ref().map(UsageSnapshot::max_utilization),
            exhausted_until: exhausted_until.or(r.health.cooldown_until.filter(|c| *c > now)),
            backoff_until: self.backoff_of(id).map(|b| b.until),
            min_secs: i64::try_from(self.tokens.providers().config.min_usage_poll_secs(provider))
                .unwrap_or(i64::MAX),
        };
        next_poll_at(&input, &self.policy, now)
    }

    /// The next failure of `id` waits longer: `backoff_secs` doubling up to
    /// `max_backoff_secs`, and never before `retry_at`.
    fn back_off(&self, id: Ulid, retry_at: Option<UnixMs>, now: UnixMs) {
        let mut map = self.backoff.lock().unwrap_or_else(PoisonError::into_inner);
        let b = map.entry(id).or_default();
        let grown = (self
            .policy
            .backoff_secs
            .saturating_mul(1 << b.streak.min(16)))
        .min(self.policy.max_backoff_secs)
        .saturating_mul(1000);
        b.streak = b.streak.saturating_add(1);
        b.until = retry_at.unwrap_or(0).max(now.saturating_add(grown));
    }

    fn backoff_of(&self, id: Ulid) -> Option<Backoff> {
        self.backoff
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .copied()
    }

    async fn load_state(&self) -> Result<PoolState, ProviderError> {
        let store = self.tokens.store().clone();
        tokio::task::spawn_blocking(move || store.load())
            .await
            .map_err(|e| ProviderError::Internal(e.to_string()))?
            .map_err(ProviderError::from)
    }

    async fn run(&self, targets: Vec<Target>, now: UnixMs) -> Vec<AccountUsage> {
        let results = join_all(targets.into_iter().map(|t| self.fetch_one(t, now))).await;
        let fresh: Vec<(ProviderId, Ulid, UsageSnapshot)> = results
            .iter()
            .filter(|r| r.status == FetchStatus::Fresh)
            .filter_map(|r| r.usage.clone().map(|u| (r.provider, r.id, u)))
            .collect();
        if !fresh.is_empty() {
            let store = self.tokens.store().clone();
            let written = tokio::task::spawn_blocking(move || {
                store.mutate(|txn| {
                    for (p, id, u) in fresh {
                        // An account removed meanwhile is simply skipped.
                        let _ = txn.state.record_usage(p, id, u);
                    }
                    Ok::<_, rota_store::StoreError>(())
                })
            })
            .await;
            match written {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "could not record fetched usage"),
                Err(e) => tracing::warn!(error = %e, "the usage recording task failed"),
            }
        }
        results
    }

    async fn fetch_one(&self, t: Target, now: UnixMs) -> AccountUsage {
        let done = |status, usage| AccountUsage {
            provider: t.provider,
            id: t.id,
            label: t.label.clone(),
            status,
            usage,
        };
        if let Some(b) = self.backoff_of(t.id).filter(|b| b.until > now) {
            return done(FetchStatus::BackedOff { until: b.until }, t.cached.clone());
        }
        match self.fetch_with_auth(t.provider, t.id, now).await {
            Ok(u) => {
                if t.provider == ProviderId::OpenAi {
                    crate::reset_credits::refresh_recorded(&self.tokens, t.id, now).await;
                }
                self.backoff
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&t.id);
                done(FetchStatus::Fresh, Some(u))
            }
            Err(ProviderError::ReauthRequired { .. }) => {
                // Background polls skip the account once the store says `needsReauth`; until
                // then (another process holds the flag's write) do not retry at once.
                self.back_off(t.id, None, now);
                done(FetchStatus::NeedsReauth, t.cached.clone())
            }
            Err(e) => {
                // Every failure backs off (429: at least until its reset): a poll loop must not
                // hammer a provider that refuses or cannot be reached.
                let retry_at = match &e {
                    ProviderError::RateLimited { retry_at, .. } => *retry_at,
                    _ => None,
                };
                self.back_off(t.id, retry_at, now);
                done(
                    FetchStatus::Failed {
                        code: e.code(),
                        message: e.to_string(),
                        transient: e.is_transient(),
                    },
                    t.cached.clone(),
                )
            }
        }
    }

    /// Credentials (refreshed near expiry), the fetch, and one refresh + retry on a 401.
    async fn fetch_with_auth(
        &self,
        provider: ProviderId,
        id: Ulid,
        now: UnixMs,
    ) -> Result<UsageSnapshot, ProviderError> {
        let providers = self.tokens.providers().clone();
        let auth = self.tokens.access_at(provider, id, now).await?;
        match providers.fetch_usage(provider, &auth, now).await {
            Err(ProviderError::Unauthorized { .. }) if auth.secrets.refresh_token.is_some() => {
                let auth = self
                    .tokens
                    .after_unauthorized(provider, id, &auth.secrets)
                    .await?;
                providers.fetch_usage(provider, &auth, now).await
            }
            other => other,
        }
    }
}

fn targets(state: &PoolState, mut keep: impl FnMut(ProviderId, Ulid) -> bool) -> Vec<Target> {
    let mut out = Vec::new();
    for (p, pool) in &state.providers {
        for r in &pool.records {
            if keep(*p, r.id) {
                out.push(Target {
                    provider: *p,
                    id: r.id,
                    label: r.label.clone(),
                    cached: r.usage.clone(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn input() -> PollInput {
        PollInput {
            is_active: false,
            idle: false,
            last_fetch: Some(0),
            max_utilization: Some(10.0),
            exhausted_until: None,
            backoff_until: None,
            min_secs: 180,
        }
    }

    /// (case, input, expected next poll in minutes after the last fetch at 0)
    #[test]
    fn poll_policy_table() {
        let p = PollPolicy::default();
        let cases: Vec<(&str, PollInput, i64)> = vec![
            (
                "never fetched: now",
                PollInput {
                    last_fetch: None,
                    ..input()
                },
                0,
            ),
            ("inactive", input(), 15),
            (
                "active",
                PollInput {
                    is_active: true,
                    ..input()
                },
                5,
            ),
            (
                "near limit",
                PollInput {
                    max_utilization: Some(85.0),
                    ..input()
                },
                3,
            ),
            (
                "active near limit, provider minimum 3 min",
                PollInput {
                    is_active: true,
                    max_utilization: Some(95.0),
                    ..input()
                },
                3,
            ),
            (
                "provider minimum wins over a shorter interval",
                PollInput {
                    is_active: true,
                    max_utilization: Some(95.0),
                    min_secs: 600,
                    ..input()
                },
                10,
            ),
            (
                "idle",
                PollInput {
                    idle: true,
                    ..input()
                },
                60,
            ),
            (
                "exhausted: just after the reset",
                PollInput {
                    max_utilization: Some(100.0),
                    exhausted_until: Some(40 * MIN),
                    ..input()
                },
                40,
            ),
            (
                "exhausted far away: capped at the idle interval",
                PollInput {
                    exhausted_until: Some(600 * MIN),
                    ..input()
                },
                60,
            ),
            (
                "429 back-off wins",
                PollInput {
                    is_active: true,
                    backoff_until: Some(30 * MIN),
                    ..input()
                },
                30,
            ),
        ];
        for (name, i, want_min) in cases {
            let got = next_poll_at(&i, &p, 0);
            assert_eq!(got / MIN, want_min, "{name}: {got} ms");
        }
    }
}
