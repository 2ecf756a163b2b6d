//! Reset-credit redeem intents: one `redeem_request_id` per intent, persisted before the call,
//! so a retry (another process, a crash, a network error) repeats the same request and the
//! provider redeems at most once; a caller that waited for another process's redeem of the same
//! account takes its result instead of starting a second.

use rota_types::{ProviderId, RedeemCode, SwitchDetail, SwitchLogEntry, SwitchReason, UnixMs};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use crate::error::PoolError;
use crate::state::{CooldownKind, PoolState};

/// A redeem that was asked for and not yet answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingRedeem {
    pub credit_id: String,
    pub request_id: String,
    pub started_at: UnixMs,
}

/// The last answered redeem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastRedeem {
    pub at: UnixMs,
    pub code: RedeemCode,
}

/// What a redeem asked at `asked_at` does, decided under the account's redeem lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedeemPlan {
    /// Another redeem of this account was answered after this one was asked: take its result.
    Coalesced(LastRedeem),
    /// An earlier intent was never answered: repeat it with the same request id.
    Resume(PendingRedeem),
    /// Choose a credit and start a new intent.
    Fresh,
}

impl PoolState {
    /// The plan for a redeem of `id` asked at `asked_at`.
    pub fn redeem_plan(
        &self,
        provider: ProviderId,
        id: Ulid,
        asked_at: UnixMs,
    ) -> Result<RedeemPlan, PoolError> {
        let r = self
            .record(provider, id)
            .ok_or_else(|| crate::pool::not_found(provider, id))?;
        if let Some(p) = &r.pending_redeem {
            return Ok(RedeemPlan::Resume(p.clone()));
        }
        Ok(match &r.last_redeem {
            Some(last) if last.at >= asked_at => RedeemPlan::Coalesced(last.clone()),
            _ => RedeemPlan::Fresh,
        })
    }

    /// Records a new intent (before the call). An intent already pending wins and is returned.
    pub fn begin_redeem(
        &mut self,
        provider: ProviderId,
        id: Ulid,
        intent: PendingRedeem,
    ) -> Result<PendingRedeem, PoolError> {
        let r = self.record_mut_or_not_found(provider, id)?;
        Ok(r.pending_redeem.get_or_insert(intent).clone())
    }

    /// Records the provider's answer to the intent `request_id`: the intent is closed, the
    /// switch log gets a `reset_credit` line with the answer (every answer: a redeem that
    /// spent nothing is worth knowing about too; `automatic` marks Rota's own), and when a
    /// credit was spent the account's rate-limit cooldown ends (both windows are clear again).
    pub fn finish_redeem(
        &mut self,
        provider: ProviderId,
        id: Ulid,
        request_id: &str,
        code: RedeemCode,
        automatic: bool,
        now: UnixMs,
    ) -> Result<SwitchLogEntry, PoolError> {
        let r = self.record_mut_or_not_found(provider, id)?;
        if r.pending_redeem
            .as_ref()
            .is_some_and(|p| p.request_id == request_id)
        {
            r.pending_redeem = None;
        }
        r.last_redeem = Some(LastRedeem { at: now, code });
        if code.windows_cleared() {
            if r.cooldown_kind == Some(CooldownKind::RateLimit) {
                r.health.cooldown_until = None;
                r.cooldown_kind = None;
            }
            r.rate_limit_streak = 0;
        }
        let entry = SwitchLogEntry {
            at: now,
            provider_id: provider,
            namespace: r.namespace.clone(),
            from: Some(id.to_string()),
            to: id.to_string(),
            reason: SwitchReason::ResetCredit,
            detail: Some(SwitchDetail {
                redeem: Some(code),
                automatic,
                ..SwitchDetail::default()
            }),
        };
        self.log_switch(entry.clone());
        Ok(entry)
    }

    /// Records the account's reset credits as fetched at `credits.fetched_at` (an older fetch
    /// never replaces a newer one).
    pub fn record_reset_credits(
        &mut self,
        provider: ProviderId,
        id: Ulid,
        credits: rota_types::ResetCredits,
    ) -> Result<(), PoolError> {
        let r = self.record_mut_or_not_found(provider, id)?;
        if r.reset_credits
            .as_ref()
            .is_none_or(|c| c.fetched_at <= credits.fetched_at)
        {
            r.reset_credits = Some(credits);
        }
        Ok(())
    }
}
