//! The plan-limits-only guard (Anthropic, on by default; docs/anthropic.md): a pool never
//! spills into paid extra usage silently. An account whose plan limits are used up — by its
//! last usage, or because a response said it is drawing on overage — is not chosen for a
//! request; when no account has plan limits left the request fails with
//! [`NoCandidate::PlanLimitsUsedUp`] instead of going out to be billed.

use rota_types::display::clock_time;
use rota_types::{ExtraUsageKind, ExtraUsageMark, ProviderId, UnixMs};
use ulid::Ulid;

use crate::policy::NoCandidate;
use crate::state::{CooldownKind, PoolState, Record};

/// How long a third-party-billing mark stays on an account (it says what happened; routing
/// ignores it).
pub const BILLING_MARK_MS: i64 = 24 * 3_600_000;

/// The overage cooldown when the response named no plan reset.
pub const OVERAGE_FALLBACK_MS: i64 = 3_600_000;

/// `the plan limits of every anthropic account are used up until 14:05 UTC; …`
#[must_use]
pub fn plan_limits_message(provider: ProviderId, until: UnixMs, utc_offset_minutes: i32) -> String {
    let zone = if utc_offset_minutes == 0 { " UTC" } else { "" };
    let when = if until == UnixMs::MAX {
        String::new()
    } else {
        format!(" until {}{zone}", clock_time(until, utc_offset_minutes))
    };
    format!(
        "the plan limits of every {provider} account that could serve this request are used up{when}; \
         Rota does not send requests that would be billed as paid extra usage \
         ([providers.anthropic] plan_limits_only = true in config.toml, ROTA_ANTHROPIC_PLAN_LIMITS_ONLY; \
         set it to false to allow extra usage)"
    )
}

impl Record {
    /// [`crate::Outcome::ExtraUsageBilled`]: a failure and the mark; no cooldown (the request,
    /// not the account, is at fault).
    pub(crate) fn mark_billed(&mut self, now: UnixMs) {
        crate::policy::fail(&mut self.health, Some(400), now);
        self.extra_usage = Some(ExtraUsageMark {
            kind: ExtraUsageKind::ThirdPartyBilling,
            at: now,
            until: now.saturating_add(BILLING_MARK_MS),
        });
    }

    /// [`crate::Outcome::UsingExtraUsage`]: a success, the mark, and a cooldown until the plan
    /// window resets (`resets_at`, else [`OVERAGE_FALLBACK_MS`] from now).
    pub(crate) fn mark_overage(&mut self, status: u16, resets_at: Option<UnixMs>, now: UnixMs) {
        let h = &mut self.health;
        h.success_count += 1;
        h.last_status_code = Some(status);
        h.needs_reauth = false;
        self.rate_limit_streak = 0;
        let until = resets_at
            .filter(|t| *t > now)
            .unwrap_or_else(|| now.saturating_add(OVERAGE_FALLBACK_MS));
        self.extra_usage = Some(ExtraUsageMark {
            kind: ExtraUsageKind::Overage,
            at: now,
            until,
        });
        crate::policy::extend_cooldown(
            &mut self.health,
            &mut self.cooldown_kind,
            until,
            CooldownKind::ExtraUsage,
        );
    }

    /// When the account's plan limits, as last seen, are used up until: the latest reset still
    /// ahead of an exhausted account-wide window (100 % or `critical`). `None` while some plan
    /// limit is left, or when nothing is known. Model-scoped windows do not count (they limit
    /// one model, see [`crate::scope`]).
    #[must_use]
    pub fn plan_exhausted_until(&self, now: UnixMs) -> Option<UnixMs> {
        let usage = self.usage.as_ref()?;
        usage
            .account_windows()
            .filter(|w| w.is_exhausted())
            .filter_map(|w| w.resets_at)
            .filter(|t| *t > now)
            .max()
    }

    /// The guard's mark while it stands.
    #[must_use]
    pub fn extra_usage_at(&self, now: UnixMs) -> Option<&ExtraUsageMark> {
        self.extra_usage.as_ref().filter(|m| m.is_current(now))
    }

    /// Until when the guard keeps requests off this account: its overage cooldown, or its
    /// used-up plan limits when a request could spill into extra usage (not when the account
    /// is cooling down anyway, or its usage says extra usage is off: then the provider answers
    /// a plain 429, which the ordinary rotation handles).
    fn guarded_until(&self, now: UnixMs) -> Option<UnixMs> {
        if self.is_cooling(now) {
            return (self.cooldown_kind == Some(CooldownKind::ExtraUsage))
                .then_some(self.health.cooldown_until)
                .flatten();
        }
        let extra_off = matches!(
            self.usage.as_ref().map(|u| &u.usage),
            Some(rota_types::ProviderUsage::Anthropic(x)) if x.extra_usage_enabled == Some(false)
        );
        if extra_off {
            return None;
        }
        self.plan_exhausted_until(now)
    }
}

impl PoolState {
    /// [`PoolState::pick_candidate_for`] with the plan-limits-only guard when `plan_limits_only`:
    /// accounts whose plan limits are used up are skipped, and when that leaves none the answer
    /// is [`NoCandidate::PlanLimitsUsedUp`] with the soonest time any account serves again.
    pub fn pick_candidate_guarded(
        &self,
        provider: ProviderId,
        ns: &str,
        tried: &[Ulid],
        model: Option<&str>,
        plan_limits_only: bool,
        now: UnixMs,
    ) -> Result<Ulid, NoCandidate> {
        if !plan_limits_only {
            return self.pick_candidate_for(provider, ns, tried, model, now);
        }
        let records: Vec<&Record> = self
            .pool(provider)
            .map(|p| p.records_in(ns).collect())
            .unwrap_or_default();
        let guarded: Vec<(Ulid, UnixMs)> = records
            .iter()
            .filter(|r| !tried.contains(&r.id))
            .filter_map(|r| r.guarded_until(now).map(|u| (r.id, u)))
            .collect();
        if guarded.is_empty() {
            return self.pick_candidate_for(provider, ns, tried, model, now);
        }
        let mut skip = tried.to_vec();
        skip.extend(guarded.iter().map(|(id, _)| *id));
        match self.pick_candidate_for(provider, ns, &skip, model, now) {
            Ok(id) => Ok(id),
            Err(e @ NoCandidate::ModelCapped { .. }) => Err(e),
            Err(_) => {
                let guard_until = guarded.iter().map(|(_, u)| *u).min().unwrap_or(now);
                // An account merely cooling down (a 429) may come back sooner.
                let cooling_until = records
                    .iter()
                    .filter(|r| !guarded.iter().any(|(id, _)| *id == r.id))
                    .filter(|r| !tried.contains(&r.id))
                    .filter_map(|r| r.health.cooldown_until.filter(|t| *t > now))
                    .min();
                let until = cooling_until.map_or(guard_until, |c| c.min(guard_until));
                Err(NoCandidate::PlanLimitsUsedUp { provider, until })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rota_types::{
        AnthropicExtra, ExtraUsageKind, ProviderUsage, SwitchReason, UsageSnapshot, UsageWindow,
        WindowKind,
    };

    use super::*;
    use crate::{Action, CooldownPolicy, NewLogin, Outcome};

    const P: ProviderId = ProviderId::Anthropic;
    const NS: &str = "default";
    const T0: i64 = 1_800_000_000_000;
    const HOUR: i64 = 3_600_000;

    fn id(n: u128) -> Ulid {
        Ulid::from_parts(1, n)
    }

    /// Accounts 1, 2 (1 active, first in order).
    fn pool() -> PoolState {
        let mut s = PoolState::default();
        for n in [2, 1] {
            s.upsert(P, NS, NewLogin::default(), id(n), T0 - HOUR)
                .unwrap();
        }
        s
    }

    fn used_up(s: &mut PoolState, n: u128, resets_at: UnixMs) {
        let usage = UsageSnapshot {
            fetched_at: T0,
            status: None,
            windows: vec![
                UsageWindow::new(WindowKind::FiveHour, 100.0, Some(resets_at)),
                UsageWindow::new(WindowKind::SevenDay, 40.0, Some(T0 + 100 * HOUR)),
            ],
            usage: ProviderUsage::Anthropic(AnthropicExtra::default()),
        };
        s.record_usage(P, id(n), usage).unwrap();
    }

    #[test]
    fn an_account_out_of_plan_limits_is_skipped_only_with_the_guard() {
        let mut s = pool();
        used_up(&mut s, 1, T0 + 2 * HOUR);
        assert_eq!(
            s.pick_candidate_guarded(P, NS, &[], None, true, T0),
            Ok(id(2))
        );
        assert_eq!(
            s.pick_candidate_guarded(P, NS, &[], None, false, T0),
            Ok(id(1)),
            "guard off: the old behaviour (the active account goes first)"
        );
        // After the window reset the account is free again.
        assert_eq!(
            s.pick_candidate_guarded(P, NS, &[], None, true, T0 + 3 * HOUR),
            Ok(id(1))
        );
    }

    #[test]
    fn an_account_without_extra_usage_is_left_to_the_ordinary_rotation() {
        let mut s = pool();
        used_up(&mut s, 1, T0 + 2 * HOUR);
        let pool = s.providers.get_mut(&P).unwrap();
        let r = pool.record_mut(id(1)).unwrap();
        if let Some(u) = r.usage.as_mut() {
            u.usage = ProviderUsage::Anthropic(AnthropicExtra {
                extra_usage_enabled: Some(false),
            });
        }
        // No spill possible: the provider would answer a 429, which rotates as before.
        assert_eq!(
            s.pick_candidate_guarded(P, NS, &[], None, true, T0),
            Ok(id(1))
        );
    }

    #[test]
    fn no_account_with_plan_limits_left_is_one_named_error_with_the_soonest_reset() {
        let mut s = pool();
        used_up(&mut s, 1, T0 + 2 * HOUR);
        used_up(&mut s, 2, T0 + HOUR);
        let err = s
            .pick_candidate_guarded(P, NS, &[], None, true, T0)
            .unwrap_err();
        assert_eq!(
            err,
            NoCandidate::PlanLimitsUsedUp {
                provider: P,
                until: T0 + HOUR
            }
        );
        let msg = err.message(0);
        assert!(msg.contains("plan_limits_only"), "{msg}");
        assert!(msg.contains("extra usage"), "{msg}");
        assert_eq!(err.retry_after_ms(T0), Some(HOUR));
    }

    #[test]
    fn an_overage_success_marks_the_account_until_the_plan_reset_and_moves_it_aside() {
        let mut s = pool();
        let effect = s
            .record_outcome(
                P,
                id(1),
                &Outcome::UsingExtraUsage {
                    status: 200,
                    resets_at: Some(T0 + 2 * HOUR),
                },
                &CooldownPolicy::default(),
                T0,
            )
            .unwrap();
        assert_eq!(
            effect.action,
            Action::Done,
            "the billed answer goes to the client"
        );
        assert_eq!(effect.cooldown_until, Some(T0 + 2 * HOUR));
        let switched = effect.switched.expect("the active account changes");
        assert_eq!(switched.reason, SwitchReason::ExtraUsage);
        assert_eq!(switched.to, id(2).to_string());
        let r = s.record(P, id(1)).unwrap();
        assert_eq!(r.cooldown_kind, Some(CooldownKind::ExtraUsage));
        let mark = r.extra_usage_at(T0).expect("marked");
        assert_eq!(mark.kind, ExtraUsageKind::Overage);
        assert_eq!(mark.until, T0 + 2 * HOUR);
        assert_eq!(r.health.success_count, 1);
        assert_eq!(
            s.pick_candidate_guarded(P, NS, &[], None, true, T0),
            Ok(id(2))
        );
        // Account 2 at overage too: no account is left, and the error says so.
        s.record_outcome(
            P,
            id(2),
            &Outcome::UsingExtraUsage {
                status: 200,
                resets_at: None,
            },
            &CooldownPolicy::default(),
            T0,
        )
        .unwrap();
        assert_eq!(
            s.pick_candidate_guarded(P, NS, &[], None, true, T0),
            Err(NoCandidate::PlanLimitsUsedUp {
                provider: P,
                until: T0 + OVERAGE_FALLBACK_MS
            })
        );
    }

    #[test]
    fn a_third_party_billing_answer_is_returned_marked_and_not_replayed() {
        let mut s = pool();
        let effect = s
            .record_outcome(
                P,
                id(1),
                &Outcome::ExtraUsageBilled,
                &CooldownPolicy::default(),
                T0,
            )
            .unwrap();
        assert_eq!(effect.action, Action::ReturnToClient);
        assert_eq!(effect.switched, None);
        assert_eq!(effect.cooldown_until, None, "the request, not the account");
        let r = s.record(P, id(1)).unwrap();
        assert_eq!(
            r.extra_usage_at(T0).map(|m| m.kind),
            Some(ExtraUsageKind::ThirdPartyBilling)
        );
        assert!(r.extra_usage_at(T0 + BILLING_MARK_MS).is_none());
        assert_eq!(r.health.last_status_code, Some(400));
        assert!(!Outcome::ExtraUsageBilled.is_counter_only(r));
    }

    #[test]
    fn without_the_guard_the_outcomes_are_the_old_ones() {
        assert_eq!(
            Outcome::ExtraUsageBilled.unguarded(),
            Outcome::OtherError { status: 400 }
        );
        assert_eq!(
            Outcome::UsingExtraUsage {
                status: 200,
                resets_at: Some(1)
            }
            .unguarded(),
            Outcome::Success { status: 200 }
        );
    }
}
