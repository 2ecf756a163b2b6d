//! What changed between two store states that the user should hear about, whoever caused it
//! (the gateway rotating, the CLI, another app): new switch-log entries (each a `switched`
//! event; automatic ones also a desktop notification), a provider whose every account just
//! became unusable (with the soonest reset), accounts that now need a new login, and the
//! plan-limits-only guard's new marks (a request billed as extra usage, an account out of plan
//! limits).
//!
//! Pure: the states and the time come in, the decisions go out; `live` emits and notifies.

use rota_core::PoolState;
use rota_types::display::reset_text;
use rota_types::{
    DEFAULT_NAMESPACE, ExtraUsageKind, ProviderId, SwitchLogEntry, SwitchReason, UnixMs,
};

/// A desktop notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub title: String,
    pub body: String,
}

/// The outcome of comparing two states.
#[derive(Debug, Default, PartialEq)]
pub struct Changes {
    /// Switch-log entries that are new in the later state, oldest first.
    pub switched: Vec<SwitchLogEntry>,
    pub notices: Vec<Notice>,
}

/// Switch-log entries of `after` that `before` did not have. The log is capped (oldest dropped),
/// so the new entries are those after `before`'s last entry; if that entry is gone (more than a
/// full log of switches in between), every entry is new.
fn new_entries<'a>(before: &PoolState, after: &'a PoolState) -> Vec<&'a SwitchLogEntry> {
    let Some(last) = before.switch_log.back() else {
        return after.switch_log.iter().collect();
    };
    match after.switch_log.iter().rposition(|e| e == last) {
        Some(i) => after.switch_log.iter().skip(i + 1).collect(),
        None => after.switch_log.iter().collect(),
    }
}

fn label(state: &PoolState, provider: ProviderId, id: &str) -> String {
    state.history_label(provider, id)
}

/// Rota's own reset-credit redeem (the pool ran dry and the setting is on): the user hears
/// what it did, whatever the provider answered.
fn auto_redeem_notice(state: &PoolState, entry: &SwitchLogEntry) -> Option<Notice> {
    let code = entry
        .detail
        .as_ref()
        .filter(|d| d.automatic && entry.reason == rota_types::SwitchReason::ResetCredit)?
        .redeem?;
    let provider = entry.provider_id.info().display_name;
    let who = label(state, entry.provider_id, &entry.to);
    Some(if code.windows_cleared() {
        Notice {
            title: format!("{provider}: reset credit redeemed on {who}"),
            body: format!(
                "Every account was exhausted, so Rota redeemed the credit that expires first. \
                 Both of {who}'s windows are reset; requests use it again."
            ),
        }
    } else {
        Notice {
            title: format!("{provider}: automatic redeem on {who} did not reset"),
            body: format!("The provider answered: {}.", code.text()),
        }
    })
}

/// Compares two loaded states at `now`.
pub fn changes(before: &PoolState, after: &PoolState, now: UnixMs) -> Changes {
    let mut out = Changes::default();
    for entry in new_entries(before, after) {
        // A removal nobody took over from changed no active account: a history row only.
        if entry.reason == SwitchReason::Removed && entry.names_one_account() {
            continue;
        }
        out.switched.push(entry.clone());
        if let Some(n) = auto_redeem_notice(after, entry) {
            out.notices.push(n);
        } else if entry.reason.is_automatic() {
            let provider = entry.provider_id.info().display_name;
            let to = label(after, entry.provider_id, &entry.to);
            // The same words as the switch history and `rota auth log`.
            let body = match &entry.from {
                Some(from) => format!(
                    "From {}: {}. Requests now use {to}.",
                    label(after, entry.provider_id, from),
                    entry.reason_text()
                ),
                None => format!("{}. Requests now use {to}.", entry.reason_text()),
            };
            out.notices.push(Notice {
                title: format!("{provider}: switched to {to}"),
                body,
            });
        }
    }
    for (provider, pool) in &after.providers {
        let name = provider.info().display_name;
        let usable_now =
            |p: &rota_core::ProviderPool| p.records_in(DEFAULT_NAMESPACE).any(|r| r.is_usable(now));
        let was_usable = before.providers.get(provider).is_none_or(usable_now);
        if was_usable && pool.records_in(DEFAULT_NAMESPACE).next().is_some() && !usable_now(pool) {
            let soonest = pool
                .records_in(DEFAULT_NAMESPACE)
                .filter(|r| !r.health.needs_reauth)
                .filter_map(|r| r.health.cooldown_until.map(|t| (t, r.label.clone())))
                .min_by_key(|(t, _)| *t);
            let body = match soonest {
                Some((at, who)) => format!(
                    "{} ({who}). Requests get a 429 until then.",
                    reset_text(at, now)
                ),
                None => "Every account needs a new login.".to_owned(),
            };
            out.notices.push(Notice {
                title: format!("All {name} accounts are exhausted"),
                body,
            });
        }
        for r in &pool.records {
            if let Some(notice) = extra_usage_notice(before, &out.switched, *provider, r, now) {
                out.notices.push(notice);
            }
            let was = before
                .providers
                .get(provider)
                .and_then(|p| p.record(r.id))
                .is_some_and(|b| b.health.needs_reauth);
            if r.health.needs_reauth && !was {
                out.notices.push(Notice {
                    title: format!("{name}: {} needs a new login", r.label),
                    body: "The provider refused its saved sign-in. Open Settings → Providers and \
                           add the account again."
                        .to_owned(),
                });
            }
        }
    }
    out
}

/// A guard mark that is new in `r` (docs/anthropic.md). An account moved aside for overage is
/// already announced by its switch notice; an overage mark without such a switch (the account
/// was not active, or no other could take over) gets its own.
fn extra_usage_notice(
    before: &PoolState,
    switched: &[SwitchLogEntry],
    provider: ProviderId,
    r: &rota_core::Record,
    now: UnixMs,
) -> Option<Notice> {
    let mark = r.extra_usage_at(now)?;
    let old = before
        .pool(provider)
        .and_then(|p| p.record(r.id))
        .and_then(|b| b.extra_usage);
    if old == Some(*mark) {
        return None;
    }
    let name = provider.info().display_name;
    match mark.kind {
        ExtraUsageKind::ThirdPartyBilling => Some(Notice {
            title: format!("{name}: a request on {} was billed as extra usage", r.label),
            body: "Anthropic took it for a third-party app's request and bills those as paid \
                   extra usage. Rota did not retry it on other accounts. Use Claude Code itself, \
                   or hand-off mode."
                .to_owned(),
        }),
        ExtraUsageKind::Overage => {
            let id = r.id.to_string();
            let announced = switched.iter().any(|e| {
                e.reason == SwitchReason::ExtraUsage && e.from.as_deref() == Some(id.as_str())
            });
            (!announced).then(|| Notice {
                title: format!("{name}: {} is out of plan limits", r.label),
                body: format!(
                    "Further requests would be billed as paid extra usage, so Rota skips it; {}.",
                    reset_text(mark.until, now).to_lowercase()
                ),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rota_core::NewLogin;
    use rota_types::AccountIdentity;

    const T0: UnixMs = 1_800_000_000_000;
    const MIN: i64 = 60_000;

    fn login(email: &str) -> NewLogin {
        NewLogin {
            identity: AccountIdentity {
                email: Some(email.to_owned()),
                ..AccountIdentity::default()
            },
            label: None,
        }
    }

    /// Two Anthropic accounts, `a` active.
    fn two() -> (PoolState, rota_core::Ulid, rota_core::Ulid) {
        let mut s = PoolState::default();
        let b = s
            .upsert(
                ProviderId::Anthropic,
                DEFAULT_NAMESPACE,
                login("b@x.io"),
                rota_core::Ulid::new(),
                T0,
            )
            .unwrap()
            .id;
        let a = s
            .upsert(
                ProviderId::Anthropic,
                DEFAULT_NAMESPACE,
                login("a@x.io"),
                rota_core::Ulid::new(),
                T0,
            )
            .unwrap()
            .id;
        (s, a, b)
    }

    #[test]
    fn a_rotation_is_a_switch_and_a_notification_a_manual_switch_only_a_switch() {
        let (before, a, b) = two();
        let mut after = before.clone();
        after
            .set_active(
                ProviderId::Anthropic,
                DEFAULT_NAMESPACE,
                b,
                SwitchReason::RateLimitedFiveHour,
                T0 + 1,
            )
            .unwrap();
        let c = changes(&before, &after, T0 + 2);
        assert_eq!(c.switched.len(), 1);
        assert_eq!(c.switched[0].to, b.to_string());
        assert_eq!(c.switched[0].from, Some(a.to_string()));
        assert_eq!(
            c.notices,
            [Notice {
                title: "Anthropic: switched to b@x.io".into(),
                body: "From a@x.io: rate limited (5-hour). Requests now use b@x.io.".into()
            }]
        );

        let mut manual = after.clone();
        manual
            .set_active(
                ProviderId::Anthropic,
                DEFAULT_NAMESPACE,
                a,
                SwitchReason::ManualCli,
                T0 + 3,
            )
            .unwrap();
        let c = changes(&after, &manual, T0 + 4);
        assert_eq!(c.switched.len(), 1);
        assert!(c.notices.is_empty(), "manual switches are not announced");
        assert_eq!(changes(&manual, &manual, T0 + 5), Changes::default());
    }

    #[test]
    fn only_a_removal_another_account_took_over_from_is_a_switch() {
        let (before, a, b) = two();
        let mut after = before.clone();
        after
            .remove_record(ProviderId::Anthropic, b, T0 + 1)
            .unwrap();
        let c = changes(&before, &after, T0 + 2);
        assert_eq!(c, Changes::default(), "b was not active: nothing switched");
        let mut last = after.clone();
        last.remove_record(ProviderId::Anthropic, a, T0 + 3)
            .unwrap();
        assert!(changes(&after, &last, T0 + 4).switched.is_empty());
        // The active one's removal hands over to the other: that is a switch (not announced).
        let (before, a, b) = two();
        let mut after = before.clone();
        after
            .remove_record(ProviderId::Anthropic, a, T0 + 1)
            .unwrap();
        let c = changes(&before, &after, T0 + 2);
        assert_eq!(c.switched.len(), 1);
        assert_eq!(c.switched[0].to, b.to_string());
        assert!(c.notices.is_empty());
    }

    #[test]
    fn the_pool_running_dry_names_the_soonest_reset_once() {
        let (before, a, b) = two();
        let mut after = before.clone();
        let p = after.providers.get_mut(&ProviderId::Anthropic).unwrap();
        for (id, mins) in [(a, 90), (b, 12)] {
            let r = p.records.iter_mut().find(|r| r.id == id).unwrap();
            r.health.cooldown_until = Some(T0 + mins * MIN);
        }
        let c = changes(&before, &after, T0);
        assert_eq!(c.notices.len(), 1, "{c:?}");
        assert_eq!(c.notices[0].title, "All Anthropic accounts are exhausted");
        assert_eq!(
            c.notices[0].body,
            "Resets in 12m (b@x.io). Requests get a 429 until then."
        );
        // Still dry a moment later: not announced again.
        assert!(changes(&after, &after, T0 + 1).notices.is_empty());
    }

    #[test]
    fn an_automatic_redeem_is_announced_a_manual_one_only_listed() {
        let (before, a, _) = two();
        let mut after = before.clone();
        after
            .finish_redeem(
                ProviderId::Anthropic,
                a,
                "r1",
                rota_types::RedeemCode::Reset,
                true,
                T0 + 1,
            )
            .unwrap();
        let c = changes(&before, &after, T0 + 2);
        assert_eq!(c.switched.len(), 1);
        assert_eq!(c.notices.len(), 1, "{c:?}");
        assert_eq!(
            c.notices[0].title,
            "Anthropic: reset credit redeemed on a@x.io"
        );
        let mut later = after.clone();
        later
            .finish_redeem(
                ProviderId::Anthropic,
                a,
                "r2",
                rota_types::RedeemCode::NoCredit,
                true,
                T0 + 3,
            )
            .unwrap();
        let c = changes(&after, &later, T0 + 4);
        assert_eq!(
            c.notices,
            [Notice {
                title: "Anthropic: automatic redeem on a@x.io did not reset".into(),
                body: "The provider answered: no reset credit left.".into()
            }]
        );
        let mut manual = later.clone();
        manual
            .finish_redeem(
                ProviderId::Anthropic,
                a,
                "r3",
                rota_types::RedeemCode::Reset,
                false,
                T0 + 5,
            )
            .unwrap();
        let c = changes(&later, &manual, T0 + 6);
        assert_eq!(c.switched.len(), 1);
        assert!(c.notices.is_empty(), "the user asked for it: {c:?}");
    }

    #[test]
    fn a_refused_login_is_announced_once() {
        let (before, a, _) = two();
        let mut after = before.clone();
        let p = after.providers.get_mut(&ProviderId::Anthropic).unwrap();
        p.records
            .iter_mut()
            .find(|r| r.id == a)
            .unwrap()
            .health
            .needs_reauth = true;
        let c = changes(&before, &after, T0);
        assert_eq!(c.notices.len(), 1);
        assert_eq!(c.notices[0].title, "Anthropic: a@x.io needs a new login");
        assert!(changes(&after, &after, T0).notices.is_empty());
    }

    #[test]
    fn a_full_log_turnover_reports_every_entry() {
        let (mut before, a, b) = two();
        before
            .set_active(
                ProviderId::Anthropic,
                DEFAULT_NAMESPACE,
                b,
                SwitchReason::ManualApp,
                T0,
            )
            .unwrap();
        let mut after = before.clone();
        for i in 0..(i64::try_from(rota_core::SWITCH_LOG_CAP).unwrap() + 5) {
            let to = if i % 2 == 0 { a } else { b };
            after
                .set_active(
                    ProviderId::Anthropic,
                    DEFAULT_NAMESPACE,
                    to,
                    SwitchReason::ManualApp,
                    T0 + 1 + i,
                )
                .unwrap();
        }
        assert_eq!(
            changes(&before, &after, T0).switched.len(),
            after.switch_log.len()
        );
    }

    #[test]
    fn the_guard_marks_are_announced_once_whoever_caused_them() {
        let (before, a, _) = two();
        let policy = rota_core::CooldownPolicy::default();
        // A third-party-billing answer on the active account.
        let mut billed = before.clone();
        billed
            .record_outcome(
                ProviderId::Anthropic,
                a,
                &rota_core::Outcome::ExtraUsageBilled,
                &policy,
                T0,
            )
            .unwrap();
        let c = changes(&before, &billed, T0 + 1);
        assert_eq!(
            c.notices,
            [Notice {
                title: "Anthropic: a request on a@x.io was billed as extra usage".into(),
                body: "Anthropic took it for a third-party app's request and bills those as paid \
                       extra usage. Rota did not retry it on other accounts. Use Claude Code \
                       itself, or hand-off mode."
                    .into()
            }]
        );
        assert!(changes(&billed, &billed, T0 + 2).notices.is_empty());

        // Overage on the active account: announced by its switch, once.
        let mut over = billed.clone();
        over.record_outcome(
            ProviderId::Anthropic,
            a,
            &rota_core::Outcome::UsingExtraUsage {
                status: 200,
                resets_at: Some(T0 + 90 * MIN),
            },
            &policy,
            T0 + 3,
        )
        .unwrap();
        let c = changes(&billed, &over, T0 + 4);
        assert_eq!(c.notices.len(), 1, "{c:?}");
        assert_eq!(c.notices[0].title, "Anthropic: switched to b@x.io");
        assert!(c.notices[0].body.contains("plan limits used up"), "{c:?}");

        // Overage on an account that is not active (no switch): its own notice, with the reset.
        let (quiet, _, b) = two();
        let mut marked = quiet.clone();
        marked
            .record_outcome(
                ProviderId::Anthropic,
                b,
                &rota_core::Outcome::UsingExtraUsage {
                    status: 200,
                    resets_at: Some(T0 + 30 * MIN),
                },
                &policy,
                T0,
            )
            .unwrap();
        let c = changes(&quiet, &marked, T0);
        assert!(c.switched.is_empty(), "{c:?}");
        assert_eq!(
            c.notices,
            [Notice {
                title: "Anthropic: b@x.io is out of plan limits".into(),
                body: "Further requests would be billed as paid extra usage, so Rota skips it; \
                       resets in 30m."
                    .into()
            }]
        );
    }
}
