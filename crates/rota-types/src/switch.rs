//! Why the active account changed, and the switch-log entry recorded for every change.

use serde::{Deserialize, Serialize};

use crate::{ProviderId, RedeemCode, UnixMs, WindowKind};

/// Why the active account changed. `manual:*` came from a person; the rest are automatic and
/// raise a desktop notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SwitchReason {
    #[serde(rename = "manual:tray")]
    ManualTray,
    #[serde(rename = "manual:cli")]
    ManualCli,
    #[serde(rename = "manual:app")]
    ManualApp,
    #[serde(rename = "manual:api")]
    ManualApi,
    /// The 5-hour window (Anthropic 5h, `OpenAI` primary) is exhausted.
    #[serde(rename = "rate_limited:five_hour")]
    RateLimitedFiveHour,
    /// A weekly window is exhausted.
    #[serde(rename = "rate_limited:seven_day")]
    RateLimitedSevenDay,
    /// A 429 that did not say which window.
    #[serde(rename = "rate_limited")]
    RateLimited,
    /// The account's monthly quota is used up (Copilot's 402 `quota_exceeded`).
    #[serde(rename = "quota_exhausted")]
    QuotaExhausted,
    /// Anthropic said the account is drawing on paid extra usage (its plan limits are used
    /// up); the plan-limits-only guard moved it aside until its plan window resets.
    #[serde(rename = "extra_usage")]
    ExtraUsage,
    /// A rate-limit reset credit redeem was answered for the account (`from` = `to` = the
    /// account); the detail's `redeem` says what the provider answered (only `reset` and
    /// `already_redeemed` spent a credit).
    #[serde(rename = "reset_credit")]
    ResetCredit,
    /// The account needs a new login (refresh refused, 401 again).
    #[serde(rename = "auth_failed")]
    AuthFailed,
    /// The active account crossed the proactive threshold.
    #[serde(rename = "proactive")]
    Proactive,
    /// A login or import (re)added the account; the newest login becomes active.
    #[serde(rename = "login")]
    Login,
    /// An account was removed. When it was active and another took over, `to` is that one;
    /// otherwise `from` = `to` = the removed account.
    #[serde(rename = "removed")]
    Removed,
}

impl SwitchReason {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ManualTray => "manual:tray",
            Self::ManualCli => "manual:cli",
            Self::ManualApp => "manual:app",
            Self::ManualApi => "manual:api",
            Self::RateLimitedFiveHour => "rate_limited:five_hour",
            Self::RateLimitedSevenDay => "rate_limited:seven_day",
            Self::QuotaExhausted => "quota_exhausted",
            Self::ExtraUsage => "extra_usage",
            Self::ResetCredit => "reset_credit",
            Self::RateLimited => "rate_limited",
            Self::AuthFailed => "auth_failed",
            Self::Proactive => "proactive",
            Self::Login => "login",
            Self::Removed => "removed",
        }
    }

    /// Whether a person asked for the switch (no notification for those).
    #[must_use]
    pub fn is_manual(self) -> bool {
        matches!(
            self,
            Self::ManualTray | Self::ManualCli | Self::ManualApp | Self::ManualApi
        )
    }

    /// Whether the switch happened on its own and deserves a desktop notification.
    #[must_use]
    pub fn is_automatic(self) -> bool {
        matches!(
            self,
            Self::RateLimitedFiveHour
                | Self::RateLimitedSevenDay
                | Self::RateLimited
                | Self::QuotaExhausted
                | Self::ExtraUsage
                | Self::AuthFailed
                | Self::Proactive
        )
    }
}

impl std::fmt::Display for SwitchReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of the switch log (also the payload of the `switched` event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SwitchLogEntry {
    pub at: UnixMs,
    #[serde(rename = "providerID")]
    pub provider_id: ProviderId,
    pub namespace: String,
    /// The previously active record id (`null` when there was none).
    pub from: Option<String>,
    pub to: String,
    pub reason: SwitchReason,
    /// What triggered an automatic switch (the proactive window and its percent); absent for
    /// manual switches and in logs written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<SwitchDetail>,
}

/// Why a proactive switch fired: the window that crossed the threshold, or the provider's
/// `rejected` status; or a reset-credit redeem's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SwitchDetail {
    /// The window with the highest use at the time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowKind>,
    /// The model that window is scoped to, if it limits one model only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Its use in whole percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<u32>,
    /// The provider said `rejected` (the limit is already reached).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rejected: bool,
    /// A reset-credit redeem (`reset_credit`): what the provider answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redeem: Option<RedeemCode>,
    /// Rota redeemed on its own (the opt-in automatic redeem when the whole pool was
    /// exhausted), not on a person's request.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub automatic: bool,
}

impl SwitchLogEntry {
    /// A row about one account rather than a change from one to another (a removal nobody
    /// took over from, a redeemed reset credit): the history names the account once.
    #[must_use]
    pub fn names_one_account(&self) -> bool {
        self.from.as_deref() == Some(self.to.as_str())
    }

    /// Why the switch happened, for people: `manual (tray)`, `rate limited (5-hour)`,
    /// `proactive (5-hour at 96 %)`, … (the CLI's `rota auth log`, the app's switch history).
    #[must_use]
    pub fn reason_text(&self) -> String {
        match self.reason {
            SwitchReason::ManualTray => "manual (tray)".to_owned(),
            SwitchReason::ManualCli => "manual (cli)".to_owned(),
            SwitchReason::ManualApp => "manual (app)".to_owned(),
            SwitchReason::ManualApi => "manual (api)".to_owned(),
            SwitchReason::RateLimitedFiveHour => "rate limited (5-hour)".to_owned(),
            SwitchReason::RateLimitedSevenDay => "rate limited (7-day)".to_owned(),
            SwitchReason::RateLimited => "rate limited".to_owned(),
            SwitchReason::QuotaExhausted => "out of monthly quota".to_owned(),
            SwitchReason::ExtraUsage => "plan limits used up (would bill extra usage)".to_owned(),
            SwitchReason::ResetCredit => {
                let Some(d) = &self.detail else {
                    return "reset credit redeemed".to_owned();
                };
                let what = match d.redeem {
                    Some(RedeemCode::Reset) | None => "reset credit redeemed: both windows reset",
                    Some(RedeemCode::AlreadyRedeemed) => {
                        "reset credit already redeemed: both windows reset"
                    }
                    Some(RedeemCode::NothingToReset) => {
                        "nothing to reset: the reset credit was kept"
                    }
                    Some(RedeemCode::NoCredit) => "no reset credit left to redeem",
                };
                if d.automatic {
                    format!("{what} (automatic)")
                } else {
                    what.to_owned()
                }
            }
            SwitchReason::AuthFailed => "needs re-login".to_owned(),
            SwitchReason::Login => "new login".to_owned(),
            SwitchReason::Removed if self.names_one_account() => "account removed".to_owned(),
            SwitchReason::Removed => "active account removed".to_owned(),
            SwitchReason::Proactive => match &self.detail {
                Some(SwitchDetail { rejected: true, .. }) => "proactive (limit reached)".to_owned(),
                Some(SwitchDetail {
                    window: Some(w),
                    percent: Some(p),
                    model,
                    ..
                }) => format!("proactive ({} at {p} %)", w.name(model.as_deref())),
                _ => "proactive".to_owned(),
            },
        }
    }
}
