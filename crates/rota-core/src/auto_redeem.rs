//! The opt-in automatic reset-credit redeem: when every account of a pool is exhausted (each
//! one cooling down on a rate limit or a used-up quota, none left to serve), one credit is
//! redeemed on one account — the credit that expires soonest, so none is wasted by expiring —
//! and never twice for one exhaustion.
//!
//! An exhaustion episode is named by the moment the pool went dry: the latest failure among
//! the exhausted accounts (while the pool is dry no request goes out, so it does not move).
//! The episode of the last automatic redeem is recorded in the state under the store lock
//! before the provider is called, so another process, a restart or a retry sees it and does
//! nothing. A redeem that cleared the windows makes the pool usable; when it runs dry again a
//! new failure names a new episode.

use rota_types::{ProviderId, UnixMs};
use ulid::Ulid;

use crate::state::{CooldownKind, PoolState, Record};

/// What the automatic redeem does now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AutoRedeem {
    /// Redeem `credit_id` on `record`; `episode` names the exhaustion.
    Redeem {
        record: Ulid,
        credit_id: String,
        episode: UnixMs,
    },
    /// Nothing to do, and why.
    Skip(AutoRedeemSkip),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoRedeemSkip {
    /// The namespace has no account.
    NoAccounts,
    /// Some account can still serve (or none is exhausted: the others need a new login).
    NotExhausted,
    /// No exhausted account holds a known reset credit.
    NoCredit,
    /// No exhausted account holds a known credit, and some were never fetched: fetch them,
    /// then decide again.
    CreditsUnknown,
    /// This exhaustion already had its automatic redeem.
    AlreadyRedeemed,
    /// A redeem of one of the accounts is still unanswered (it is resumed by its own caller).
    RedeemPending,
}

fn exhausted(r: &Record, now: UnixMs) -> bool {
    r.is_cooling(now)
        && !r.health.needs_reauth
        && matches!(
            r.cooldown_kind,
            Some(CooldownKind::RateLimit | CooldownKind::Quota)
        )
}

impl PoolState {
    /// The decision at `now` for `provider`'s accounts in `ns` (pure; see the module).
    #[must_use]
    pub fn auto_redeem_decision(&self, provider: ProviderId, ns: &str, now: UnixMs) -> AutoRedeem {
        let Some(pool) = self.providers.get(&provider) else {
            return AutoRedeem::Skip(AutoRedeemSkip::NoAccounts);
        };
        let records: Vec<&Record> = pool.records_in(ns).collect();
        if records.is_empty() {
            return AutoRedeem::Skip(AutoRedeemSkip::NoAccounts);
        }
        if records.iter().any(|r| r.is_usable(now)) || !records.iter().any(|r| exhausted(r, now)) {
            return AutoRedeem::Skip(AutoRedeemSkip::NotExhausted);
        }
        if records.iter().any(|r| r.pending_redeem.is_some()) {
            return AutoRedeem::Skip(AutoRedeemSkip::RedeemPending);
        }
        let episode = records
            .iter()
            .filter(|r| exhausted(r, now))
            .filter_map(|r| r.health.last_error_at)
            .max()
            .unwrap_or(0);
        let done = self
            .settings
            .get(&provider)
            .and_then(|s| s.auto_redeem_episodes.get(ns));
        if done.is_some_and(|d| *d >= episode) {
            return AutoRedeem::Skip(AutoRedeemSkip::AlreadyRedeemed);
        }
        // The credit that expires first, over every exhausted account (a credit without an
        // expiry last); ties go to the rotation order.
        let order = pool.order.get(ns);
        let rank = |id: Ulid| {
            order
                .and_then(|o| o.iter().position(|x| *x == id))
                .unwrap_or(usize::MAX)
        };
        records
            .iter()
            .filter(|r| exhausted(r, now))
            .filter_map(|r| {
                let credit = r.reset_credits.as_ref()?.next()?;
                let expires = credit.expires_at.unwrap_or(UnixMs::MAX);
                // A credit already past its expiry cannot be redeemed.
                (expires > now).then(|| (expires, rank(r.id), r.id, credit.id.clone()))
            })
            .min()
            .map_or_else(
                || {
                    let unknown = records
                        .iter()
                        .any(|r| exhausted(r, now) && r.reset_credits.is_none());
                    AutoRedeem::Skip(if unknown {
                        AutoRedeemSkip::CreditsUnknown
                    } else {
                        AutoRedeemSkip::NoCredit
                    })
                },
                |(_, _, record, credit_id)| AutoRedeem::Redeem {
                    record,
                    credit_id,
                    episode,
                },
            )
    }

    /// Decides again (under the store lock, in a mutation) and, when a redeem is due, records
    /// its episode first: whoever calls this next for the same exhaustion gets
    /// [`AutoRedeemSkip::AlreadyRedeemed`].
    pub fn begin_auto_redeem(&mut self, provider: ProviderId, ns: &str, now: UnixMs) -> AutoRedeem {
        let decision = self.auto_redeem_decision(provider, ns, now);
        if let AutoRedeem::Redeem { episode, .. } = &decision {
            self.settings
                .entry(provider)
                .or_default()
                .auto_redeem_episodes
                .insert(ns.to_owned(), *episode);
        }
        decision
    }
}

impl PoolState {
    /// The exhausted accounts of `provider` in `ns` whose credits were never fetched.
    #[must_use]
    pub fn credits_unknown(&self, provider: ProviderId, ns: &str, now: UnixMs) -> Vec<Ulid> {
        self.providers
            .get(&provider)
            .into_iter()
            .flat_map(|p| p.records_in(ns))
            .filter(|r| exhausted(r, now) && r.reset_credits.is_none())
            .map(|r| r.id)
            .collect()
    }
}
