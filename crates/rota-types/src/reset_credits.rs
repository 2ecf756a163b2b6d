//! OpenAI rate-limit reset credits: banked per account, each redeemable once; a redeem clears
//! both usage windows.

use serde::{Deserialize, Serialize};

use crate::UnixMs;

/// One available reset credit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResetCredit {
    pub id: String,
    #[serde(default)]
    pub expires_at: Option<UnixMs>,
}

/// An account's available reset credits (count and expiries: `rota auth usage`, the account
/// summary's `resetCredits`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResetCredits {
    /// Available credits, soonest expiry first.
    pub credits: Vec<ResetCredit>,
    /// When they were fetched (0 when not recorded).
    #[serde(default)]
    pub fetched_at: UnixMs,
}

impl ResetCredits {
    /// The credit a redeem spends: the one that expires first.
    #[must_use]
    pub fn next(&self) -> Option<&ResetCredit> {
        self.credits.first()
    }
}

/// What the provider answered to a redeem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedeemCode {
    /// The credit was spent; both windows are cleared.
    Reset,
    /// This redeem request was already carried out (a retry of the same intent).
    AlreadyRedeemed,
    /// Nothing is used: the credit was kept.
    NothingToReset,
    /// The credit is gone (spent, expired, unknown).
    NoCredit,
}

impl RedeemCode {
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "reset" => Self::Reset,
            "already_redeemed" => Self::AlreadyRedeemed,
            "nothing_to_reset" => Self::NothingToReset,
            "no_credit" => Self::NoCredit,
            _ => return None,
        })
    }

    /// Whether the account's windows are now clear (a credit was spent for this intent).
    #[must_use]
    pub fn windows_cleared(self) -> bool {
        matches!(self, Self::Reset | Self::AlreadyRedeemed)
    }

    /// The wire name (`reset`, `already_redeemed`, …).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reset => "reset",
            Self::AlreadyRedeemed => "already_redeemed",
            Self::NothingToReset => "nothing_to_reset",
            Self::NoCredit => "no_credit",
        }
    }

    /// For people.
    #[must_use]
    pub fn text(self) -> &'static str {
        match self {
            Self::Reset => "redeemed: both windows are reset",
            Self::AlreadyRedeemed => "already redeemed: both windows are reset",
            Self::NothingToReset => "nothing to reset; the credit was kept",
            Self::NoCredit => "no reset credit left",
        }
    }
}

/// The result of `rota auth redeem` (`--json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedeemResponse {
    #[serde(rename = "recordID")]
    pub record_id: String,
    pub code: RedeemCode,
    /// Another process's redeem of the same account finished while this one waited: its
    /// result, not a second redeem.
    #[serde(default)]
    pub coalesced: bool,
    /// Credits left afterwards, when known.
    #[serde(default)]
    pub remaining: Option<u32>,
}

/// `POST /auth/redeem`: a reset credit on an account (`recordID`), the active one when absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RedeemRequest {
    #[serde(rename = "providerID")]
    pub provider_id: crate::ProviderId,
    #[serde(rename = "recordID", default)]
    pub record_id: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
}

/// The automatic reset-credit redeem setting (`[providers.openai] auto_redeem`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AutoRedeemStatus {
    pub enabled: bool,
    /// `ROTA_OPENAI_AUTO_REDEEM` decides in this process: the file's value does not count
    /// and the toggle cannot change it.
    #[serde(default)]
    pub from_env: bool,
    /// The config file the toggle writes.
    #[serde(default)]
    pub config_file: Option<String>,
}
