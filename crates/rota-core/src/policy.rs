//! What an upstream outcome does to an account and to the request (docs/rules.md §4), and
//! which account a request uses next.

use rota_types::display::clock_time;
use rota_types::{ProviderId, SwitchLogEntry, SwitchReason, UnixMs, WindowKind};
use ulid::Ulid;

use crate::error::PoolError;
use crate::state::{CooldownKind, PoolState, Record};

/// Cooldown settings (the config file's `[cooldown]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CooldownPolicy {
    /// Cooldown after a 429 that carried no reset information, for the first repeat.
    pub default_ms: i64,
    /// Ceiling of the growing default cooldown.
    pub max_default_ms: i64,
    /// Cooldown after a token was refused for good (needs a new login).
    pub auth_ms: i64,
}

impl Default for CooldownPolicy {
    fn default() -> Self {
        Self {
            default_ms: 30_000,
            max_default_ms: 10 * 60_000,
            auth_ms: 5 * 60_000,
        }
    }
}

impl CooldownPolicy {
    /// The default cooldown after `streak` earlier 429s without a success: doubles each time,
    /// capped at `max_default_ms`.
    #[must_use]
    pub fn default_for(&self, streak: u32) -> i64 {
        let factor = 1_i64.checked_shl(streak.min(30)).unwrap_or(i64::MAX);
        // A ceiling below the base would make repeats shorter than the first: keep the base.
        self.default_ms
            .saturating_mul(factor)
            .min(self.max_default_ms.max(self.default_ms))
    }
}

/// What a 429 said about when the account can be used again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimitSignal {
    /// Reset times of the exhausted windows from the provider's own signal (Anthropic unified
    /// reset headers, `x-codex-*-reset-at`, `resets_in_seconds`); the latest one counts.
    pub resets_at: Vec<UnixMs>,
    /// `retry-after`, in milliseconds; used when there is no provider reset.
    pub retry_after_ms: Option<i64>,
    /// The exhausted window, when known (names the switch reason).
    pub window: Option<WindowKind>,
    /// The 429 is a model-scoped cap (the claim names one model's window, or every
    /// account-wide window is still allowed): it limits only this model (a display name such as
    /// `Fable`, or the request's model id, which the gateway fills in when the claim names no
    /// model; an empty name until then, and a cap whose model stays unknown counts as the
    /// account's). The account keeps serving other models.
    pub model: Option<String>,
}

/// How an upstream attempt ended, as classified by the provider adapter (before any byte
/// reached the client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx/3xx.
    Success { status: u16 },
    /// A quota 429.
    RateLimited(RateLimitSignal),
    /// The account's monthly quota is used up (Copilot's 402 `quota_exceeded`, which carries no
    /// reset): cool down until `resets_at`, else the reset date the account's usage reported,
    /// else the first of next month (UTC), when Copilot quotas reset.
    QuotaExhausted { resets_at: Option<UnixMs> },
    /// A 429 that is a feature or billing gate ("extra usage is required…"): not the account's
    /// quota.
    FeatureGated,
    /// 529/503 overloaded, or Anthropic's transient "temporarily limiting requests": the
    /// provider, not the account.
    Overloaded { status: u16 },
    /// The refresh was refused for good, or a 401 with no fresh token to try.
    AuthFailed,
    /// A 401 on the replay right after a successful refresh: a token the provider issued a
    /// moment ago was refused, so the request (a header or body the provider will not take),
    /// not the account, is at fault. Counted as a failure; no re-login mark, no cooldown, no
    /// rotation (every other account would refresh and fail the same way): the client gets the
    /// provider's answer.
    RefusedAfterRefresh,
    /// Connect error or reset before response headers; `first` is the first failure of this
    /// request on this account.
    NetworkError { first: bool },
    /// Any other 4xx/5xx: the client's problem, passed through.
    OtherError { status: u16 },
    /// Anthropic's third-party-billing 400 ("Third-party apps now draw from your extra usage,
    /// not your plan limits"): the request was billed as paid extra usage. The plan-limits-only
    /// guard marks the account and never replays it (every account would be billed the same).
    ExtraUsageBilled,
    /// A success whose rate-limit headers say the account's plan limits are used up and it is
    /// drawing on paid extra usage (overage). The response goes to the client (already billed);
    /// the guard cools the account down until its plan window resets (`resets_at`, else an
    /// hour) and moves it aside.
    UsingExtraUsage {
        status: u16,
        resets_at: Option<UnixMs>,
    },
}

impl Outcome {
    /// The outcome with the plan-limits-only guard off: a third-party-billing 400 is an
    /// ordinary 400 and an overage success an ordinary success.
    #[must_use]
    pub fn unguarded(self) -> Self {
        match self {
            Self::ExtraUsageBilled => Self::OtherError { status: 400 },
            Self::UsingExtraUsage { status, .. } => Self::Success { status },
            other => other,
        }
    }

    /// The outcome under the plan-limits-only guard when `plan_limits_only`, else
    /// [`Outcome::unguarded`].
    #[must_use]
    pub fn under_guard(self, plan_limits_only: bool) -> Self {
        if plan_limits_only {
            self
        } else {
            self.unguarded()
        }
    }

    /// The outcome of an answer to a token refreshed for this very request: a 401 on it is the
    /// request's fault, not the account's ([`Outcome::RefusedAfterRefresh`]).
    #[must_use]
    pub fn on_fresh_token(self) -> Self {
        match self {
            Self::AuthFailed => Self::RefusedAfterRefresh,
            other => other,
        }
    }

    /// A model's cap whose claim names no model (an empty name) caps the request's `model`;
    /// with no model known it stays the account's.
    #[must_use]
    pub fn for_model(mut self, model: Option<&str>) -> Self {
        if let Self::RateLimited(signal) = &mut self
            && signal.model.as_deref() == Some("")
        {
            signal.model = model.map(str::to_owned);
        }
        self
    }

    /// The status this outcome leaves as the account's last (`None`: no answer, the last one
    /// stays). The gateway's batched counters record the same as [`PoolState::record_outcome`].
    #[must_use]
    pub fn last_status(&self) -> Option<u16> {
        match self {
            Self::Success { status }
            | Self::Overloaded { status }
            | Self::OtherError { status }
            | Self::UsingExtraUsage { status, .. } => Some(*status),
            Self::RateLimited(_) | Self::FeatureGated => Some(429),
            Self::QuotaExhausted { .. } => Some(402),
            Self::AuthFailed | Self::RefusedAfterRefresh => Some(401),
            Self::ExtraUsageBilled => Some(400),
            Self::NetworkError { .. } => None,
        }
    }

    /// What the request does next after this outcome: the table's request column
    /// (docs/rules.md §4). [`PoolState::record_outcome`] answers the same; the gateway asks here
    /// for outcomes it only counts, sparing a pool clone per request.
    #[must_use]
    pub fn action(&self) -> Action {
        match self {
            Self::Success { .. } | Self::UsingExtraUsage { .. } => Action::Done,
            Self::NetworkError { first: true } => Action::RetrySame,
            Self::NetworkError { first: false }
            | Self::RateLimited(_)
            | Self::QuotaExhausted { .. }
            | Self::AuthFailed => Action::TryNext,
            Self::FeatureGated
            | Self::Overloaded { .. }
            | Self::OtherError { .. }
            | Self::RefusedAfterRefresh
            | Self::ExtraUsageBilled => Action::ReturnToClient,
        }
    }

    /// What the request does when the account is gone from the pool (removed by another
    /// process mid-request): a success is done, a refusal moves on, anything else goes to the
    /// client; never a retry on the vanished account.
    #[must_use]
    pub fn action_without_account(&self) -> Action {
        match self {
            Self::Success { .. } => Action::Done,
            Self::RateLimited(_) | Self::AuthFailed => Action::TryNext,
            _ => Action::ReturnToClient,
        }
    }

    /// Whether applying this outcome to `record` changes only counters and last-status fields,
    /// so the gateway may batch it (docs/rules.md §2) instead of writing at once. Cooldowns,
    /// rotations, a cleared `needsReauth` and a reset repeat counter are written at once.
    #[must_use]
    pub fn is_counter_only(&self, record: &Record) -> bool {
        match self {
            Self::Success { .. } => {
                record.rate_limit_streak == 0
                    && !record.health.needs_reauth
                    && record.cooldown_kind != Some(CooldownKind::Auth)
            }
            Self::FeatureGated
            | Self::Overloaded { .. }
            | Self::OtherError { .. }
            | Self::NetworkError { .. }
            | Self::RefusedAfterRefresh => true,
            Self::RateLimited(_)
            | Self::QuotaExhausted { .. }
            | Self::AuthFailed
            | Self::ExtraUsageBilled
            | Self::UsingExtraUsage { .. } => false,
        }
    }
}

/// What the gateway does with the request next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The response goes to the client (success).
    Done,
    /// The upstream response goes to the client unchanged; no rotation.
    ReturnToClient,
    /// Replay on the same account once.
    RetrySame,
    /// Replay on the next candidate ([`PoolState::pick_next_candidate`]).
    TryNext,
}

/// The effect of [`PoolState::record_outcome`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeEffect {
    pub action: Action,
    /// The account's cooldown end after this outcome, if it is cooling down.
    pub cooldown_until: Option<UnixMs>,
    /// Set when the pool's active account changed.
    pub switched: Option<SwitchLogEntry>,
}

/// Why every account is cooling down: the words differ (a refused login is not a rate limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoolingCause {
    /// Every account answered 429.
    RateLimited,
    /// Every account's token was refused (each needs a new login).
    Refused,
    /// Some of each.
    Mixed,
}

/// Why no account can take a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoCandidate {
    #[error("no {provider} account is configured")]
    NoAccounts { provider: ProviderId },
    /// Every account is cooling down; `until` is the soonest cooldown end.
    #[error("{}", all_cooling_message(*provider, *count, *until, *cause, 0))]
    AllCoolingDown {
        provider: ProviderId,
        count: usize,
        until: UnixMs,
        cause: CoolingCause,
    },
    /// Every account was tried for this request and none is cooling down for all of them.
    #[error("every {provider} account failed this request")]
    Exhausted { provider: ProviderId, count: usize },
    /// The accounts that are not cooling down have all used up their cap for this model;
    /// `until` is the soonest end of such a cap. Other models are still served.
    #[error("{}", model_capped_message(*provider, model, *until, 0))]
    ModelCapped {
        provider: ProviderId,
        model: String,
        until: UnixMs,
    },
    /// The plan-limits-only guard: every account that could take the request has used up its
    /// plan limits (a further request would be billed as extra usage); `until` is the soonest
    /// time an account can serve again.
    #[error("{}", crate::guard::plan_limits_message(*provider, *until, 0))]
    PlanLimitsUsedUp { provider: ProviderId, until: UnixMs },
}

/// `the model-scoped limit for claude-fable-4-5 is used up on every anthropic account until
/// 14:05 (UTC)`.
#[must_use]
pub fn model_capped_message(
    provider: ProviderId,
    model: &str,
    until: UnixMs,
    utc_offset_minutes: i32,
) -> String {
    let zone = if utc_offset_minutes == 0 { " UTC" } else { "" };
    if until == UnixMs::MAX {
        format!(
            "the usage limit for {model} is used up on every {provider} account; other models are still served"
        )
    } else {
        format!(
            "the usage limit for {model} is used up on every {provider} account until {}{zone}; other models are still served",
            clock_time(until, utc_offset_minutes)
        )
    }
}

impl NoCandidate {
    /// Milliseconds until an account is free again (`retry-after`), for `AllCoolingDown`.
    #[must_use]
    pub fn retry_after_ms(&self, now: UnixMs) -> Option<i64> {
        match self {
            Self::AllCoolingDown { until, .. } => Some(until.saturating_sub(now).max(0)),
            Self::ModelCapped { until, .. } | Self::PlanLimitsUsedUp { until, .. }
                if *until != UnixMs::MAX =>
            {
                Some(until.saturating_sub(now).max(0))
            }
            _ => None,
        }
    }

    /// Whether a client should retry by itself (`x-should-retry`): only when an account frees up
    /// within a minute; otherwise clients would hammer the gateway for minutes.
    #[must_use]
    pub fn should_retry(&self, now: UnixMs) -> bool {
        self.retry_after_ms(now).is_some_and(|ms| ms <= 60_000)
    }

    /// The message with the clock time in the caller's time zone.
    #[must_use]
    pub fn message(&self, utc_offset_minutes: i32) -> String {
        match self {
            Self::AllCoolingDown {
                provider,
                count,
                until,
                cause,
            } => all_cooling_message(*provider, *count, *until, *cause, utc_offset_minutes),
            Self::ModelCapped {
                provider,
                model,
                until,
            } => model_capped_message(*provider, model, *until, utc_offset_minutes),
            Self::PlanLimitsUsedUp { provider, until } => {
                crate::guard::plan_limits_message(*provider, *until, utc_offset_minutes)
            }
            other => other.to_string(),
        }
    }
}

fn all_cooling_message(
    provider: ProviderId,
    count: usize,
    until: UnixMs,
    cause: CoolingCause,
    offset: i32,
) -> String {
    let at = clock_time(until, offset);
    let zone = if offset == 0 { " UTC" } else { "" };
    let (one, all) = match cause {
        CoolingCause::RateLimited => ("is rate-limited", "are rate-limited"),
        CoolingCause::Refused => (
            "was refused by the provider and needs a new login; it is tried again",
            "were refused by the provider and need a new login; they are tried again",
        ),
        CoolingCause::Mixed => (
            "is unavailable",
            "are rate-limited or were refused (needing a new login)",
        ),
    };
    if count == 1 {
        format!("the only {provider} account {one} until {at}{zone}")
    } else {
        format!("all {count} {provider} accounts {all} until {at}{zone}")
    }
}

fn reason_for(window: Option<WindowKind>) -> SwitchReason {
    match window {
        Some(WindowKind::FiveHour) => SwitchReason::RateLimitedFiveHour,
        Some(WindowKind::SevenDay | WindowKind::SevenDaySonnet | WindowKind::ThirtyDay) => {
            SwitchReason::RateLimitedSevenDay
        }
        Some(WindowKind::Premium | WindowKind::Credits) | None => SwitchReason::RateLimited,
    }
}

impl PoolState {
    /// `[active, ...other ordered ids]`.
    #[must_use]
    pub fn candidates(&self, provider: ProviderId, ns: &str, now: UnixMs) -> Vec<Ulid> {
        let mut ids = self.ordered_ids(provider, ns);
        if let Some(active) = self.active_id(provider, ns, now) {
            ids.retain(|id| *id != active);
            ids.insert(0, active);
        }
        ids
    }

    /// The next account for a request: the first untried candidate that is usable; an account
    /// that needs a new login only as a last resort (its access token may still work).
    pub fn pick_next_candidate(
        &self,
        provider: ProviderId,
        ns: &str,
        tried: &[Ulid],
        now: UnixMs,
    ) -> Result<Ulid, NoCandidate> {
        self.pick_candidate_for(provider, ns, tried, None, now)
    }

    /// [`PoolState::pick_next_candidate`] for a request for `model`: accounts whose cap for that
    /// model is used up ([`Record::model_blocked_until`]) are skipped, without changing the
    /// active account, which keeps serving other models.
    pub fn pick_candidate_for(
        &self,
        provider: ProviderId,
        ns: &str,
        tried: &[Ulid],
        model: Option<&str>,
        now: UnixMs,
    ) -> Result<Ulid, NoCandidate> {
        let Some(pool) = self.pool(provider) else {
            return Err(NoCandidate::NoAccounts { provider });
        };
        let blocked = |r: &Record| model.and_then(|m| r.model_blocked_until(m, now));
        let open: Vec<_> = self
            .candidates(provider, ns, now)
            .into_iter()
            .filter(|id| !tried.contains(id))
            .filter_map(|id| pool.record(id))
            .collect();
        let untried: Vec<_> = open
            .iter()
            .copied()
            .filter(|r| blocked(r).is_none())
            .collect();
        if untried.is_empty()
            && let Some(m) = model
            && let Some(until) = open
                .iter()
                .filter(|r| !r.is_cooling(now))
                .filter_map(|r| blocked(r))
                .min()
        {
            return Err(NoCandidate::ModelCapped {
                provider,
                model: m.to_owned(),
                until,
            });
        }
        if let Some(r) = untried.iter().find(|r| r.is_usable(now)) {
            return Ok(r.id);
        }
        if let Some(r) = untried.iter().find(|r| !r.is_cooling(now)) {
            return Ok(r.id);
        }
        let all: Vec<_> = pool.records_in(ns).collect();
        if all.is_empty() {
            return Err(NoCandidate::NoAccounts { provider });
        }
        if all.iter().all(|r| r.is_cooling(now)) {
            let until = all
                .iter()
                .filter_map(|r| r.health.cooldown_until)
                .min()
                .unwrap_or(now);
            let refused = all
                .iter()
                .filter(|r| r.cooldown_kind == Some(CooldownKind::Auth))
                .count();
            let cause = match refused {
                0 => CoolingCause::RateLimited,
                n if n == all.len() => CoolingCause::Refused,
                _ => CoolingCause::Mixed,
            };
            return Err(NoCandidate::AllCoolingDown {
                provider,
                count: all.len(),
                until,
                cause,
            });
        }
        Err(NoCandidate::Exhausted {
            provider,
            count: all.len(),
        })
    }

    /// Applies an upstream outcome to the account's health and the pool (table in
    /// docs/rules.md §4) and says what to do with the request.
    // One match that reads like the outcome table; splitting it would hide the table.
    #[allow(clippy::too_many_lines)]
    pub fn record_outcome(
        &mut self,
        provider: ProviderId,
        id: Ulid,
        outcome: &Outcome,
        policy: &CooldownPolicy,
        now: UnixMs,
    ) -> Result<OutcomeEffect, PoolError> {
        let r = self.record_mut_or_not_found(provider, id)?;
        let ns = r.namespace.clone();
        let h = &mut r.health;
        // The request column is the outcome's alone; this match is the account columns.
        let action = outcome.action();
        let status = outcome.last_status();
        let rotate = match outcome {
            Outcome::Success { .. } => {
                h.success_count += 1;
                h.last_status_code = status;
                h.needs_reauth = false;
                r.rate_limit_streak = 0;
                // The token works again; a rate-limit cooldown is left alone (a success that
                // started earlier proves nothing about the window).
                if r.cooldown_kind == Some(CooldownKind::Auth) {
                    h.cooldown_until = None;
                    r.cooldown_kind = None;
                }
                None
            }
            Outcome::RateLimited(signal)
                if signal.model.as_deref().is_some_and(|m| !m.is_empty()) =>
            {
                // One model's cap: that model goes elsewhere until the reset; the account stays
                // active and usable for the others (no cooldown, no rotation).
                let until = signal_until(signal, policy.default_for(0), now);
                fail(h, status, now);
                if let Some(m) = &signal.model {
                    r.cap_model(m, until, now);
                }
                None
            }
            Outcome::RateLimited(signal) => {
                let until = signal_until(signal, policy.default_for(r.rate_limit_streak), now);
                fail(h, status, now);
                // A 429 answered before a reset-credit redeem cleared the windows (a request
                // in flight while it landed) is about windows that are gone: no cooldown.
                let stale = r
                    .last_redeem
                    .as_ref()
                    .is_some_and(|l| l.code.windows_cleared() && l.at >= now);
                if stale {
                    None
                } else {
                    r.rate_limit_streak = r.rate_limit_streak.saturating_add(1);
                    extend_cooldown(h, &mut r.cooldown_kind, until, CooldownKind::RateLimit);
                    Some(reason_for(signal.window))
                }
            }
            Outcome::QuotaExhausted { resets_at } => {
                let known = r
                    .usage
                    .as_ref()
                    .and_then(quota_reset_of)
                    .filter(|t| *t > now);
                let until = resets_at
                    .filter(|t| *t > now)
                    .or(known)
                    .unwrap_or_else(|| first_of_next_month_utc(now));
                fail(h, status, now);
                extend_cooldown(h, &mut r.cooldown_kind, until, CooldownKind::Quota);
                Some(SwitchReason::QuotaExhausted)
            }
            // Counted, nothing else: no cooldown, no rotation.
            Outcome::FeatureGated
            | Outcome::Overloaded { .. }
            | Outcome::OtherError { .. }
            | Outcome::RefusedAfterRefresh
            | Outcome::NetworkError { .. } => {
                fail(h, status, now);
                None
            }
            Outcome::ExtraUsageBilled => {
                r.mark_billed(now);
                None
            }
            Outcome::UsingExtraUsage { status, resets_at } => {
                r.mark_overage(*status, *resets_at, now);
                Some(SwitchReason::ExtraUsage)
            }
            Outcome::AuthFailed => {
                fail(h, status, now);
                h.needs_reauth = true;
                extend_cooldown(
                    h,
                    &mut r.cooldown_kind,
                    now.saturating_add(policy.auth_ms),
                    CooldownKind::Auth,
                );
                Some(SwitchReason::AuthFailed)
            }
        };
        let cooldown_until = r.health.cooldown_until.filter(|u| *u > now);
        let switched = match rotate {
            Some(reason) => self.move_to_back(provider, &ns, id, reason, now),
            None => None,
        };
        Ok(OutcomeEffect {
            action,
            cooldown_until,
            switched,
        })
    }

    /// Moves a failing account to the back of the order; when it was active, the first usable
    /// account (else the first not cooling down, else the new front) becomes active.
    pub fn move_to_back(
        &mut self,
        provider: ProviderId,
        ns: &str,
        id: Ulid,
        reason: SwitchReason,
        now: UnixMs,
    ) -> Option<SwitchLogEntry> {
        let pool = self.providers.get_mut(&provider)?;
        let before = pool.effective_active(ns, now);
        let mut order = pool.ordered_ids(ns);
        if !order.contains(&id) {
            return None;
        }
        order.retain(|x| *x != id);
        order.push(id);
        pool.order.insert(ns.to_owned(), order.clone());
        if before != Some(id) {
            return None;
        }
        let records: Vec<_> = order.iter().filter_map(|x| pool.record(*x)).collect();
        let next = records
            .iter()
            .find(|r| r.id != id && r.is_usable(now))
            .or_else(|| records.iter().find(|r| r.id != id && !r.is_cooling(now)))
            .map_or(order[0], |r| r.id);
        self.activate(provider, ns, before, next, reason, now)
    }
}

/// The reset of a monthly quota the account's last usage reported (Copilot's premium quota).
fn quota_reset_of(u: &rota_types::UsageSnapshot) -> Option<UnixMs> {
    u.windows
        .iter()
        .find(|w| matches!(w.kind, WindowKind::Premium | WindowKind::Credits))
        .and_then(|w| w.resets_at)
}

/// 00:00 UTC on the first day of the month after `now`.
fn first_of_next_month_utc(now: UnixMs) -> UnixMs {
    use chrono::{Datelike as _, NaiveDate};
    let Some(t) = chrono::DateTime::from_timestamp_millis(now) else {
        return now;
    };
    let (y, m) = if t.month() == 12 {
        (t.year() + 1, 1)
    } else {
        (t.year(), t.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map_or(now, |d| d.and_utc().timestamp_millis())
}

/// When a 429 ends: the latest provider reset still ahead, else `retry-after`, else
/// `default_ms` from now.
fn signal_until(signal: &RateLimitSignal, default_ms: i64, now: UnixMs) -> UnixMs {
    signal
        .resets_at
        .iter()
        .copied()
        .filter(|t| *t > now)
        .max()
        .or_else(|| {
            signal
                .retry_after_ms
                .filter(|ms| *ms > 0)
                .map(|ms| now.saturating_add(ms))
        })
        .unwrap_or_else(|| now.saturating_add(default_ms))
}

pub(crate) fn fail(h: &mut rota_types::AccountHealth, status: Option<u16>, now: UnixMs) {
    h.failure_count += 1;
    if status.is_some() {
        h.last_status_code = status;
    }
    h.last_error_at = Some(now);
}

/// Sets the cooldown end to `until` unless a later one is already set (never shortened).
pub(crate) fn extend_cooldown(
    h: &mut rota_types::AccountHealth,
    kind: &mut Option<CooldownKind>,
    until: UnixMs,
    new_kind: CooldownKind,
) {
    if h.cooldown_until.is_none_or(|cur| until > cur) {
        h.cooldown_until = Some(until);
        *kind = Some(new_kind);
    }
}
