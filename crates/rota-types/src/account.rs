//! What every surface shows about an account: never a token, only identity, health and usage.

use serde::{Deserialize, Serialize};

use crate::UnixMs;
use crate::usage::{UsageSnapshot, WindowKind};

/// Who the account is at the provider, as far as the login told us. Not secret; used to
/// recognise a repeated login of the same account (the pool updates instead of duplicating).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountIdentity {
    /// The provider's stable account id (Anthropic account uuid, `chatgpt_account_id`,
    /// GitHub user id).
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// Organisation or workspace name, when the provider has one.
    #[serde(default)]
    pub organization: Option<String>,
    /// Subscription plan as the provider names it (`max`, `pro`, `plus`, `individual`, …).
    #[serde(default)]
    pub plan: Option<String>,
}

/// Per-account health as the gateway saw it. Times are unix milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountHealth {
    #[serde(default)]
    pub success_count: u64,
    #[serde(default)]
    pub failure_count: u64,
    #[serde(default)]
    pub last_status_code: Option<u16>,
    #[serde(default)]
    pub last_error_at: Option<UnixMs>,
    /// The account is skipped for requests until this time.
    #[serde(default)]
    pub cooldown_until: Option<UnixMs>,
    /// The refresh token was refused: the user must log in to this account again.
    #[serde(default)]
    pub needs_reauth: bool,
}

impl AccountHealth {
    /// Whether the account is cooling down at `now`.
    #[must_use]
    pub fn is_cooling(&self, now: UnixMs) -> bool {
        self.cooldown_until.is_some_and(|until| until > now)
    }
}

/// One account of a provider pool, without secrets (`GET /auth/usage`, snapshots, `rota auth
/// usage --json`, the UI).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountSummary {
    /// The record id (a ULID).
    pub id: String,
    pub label: String,
    pub is_active: bool,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub identity: AccountIdentity,
    #[serde(default)]
    pub health: AccountHealth,
    #[serde(default)]
    pub created_at: UnixMs,
    #[serde(default)]
    pub updated_at: UnixMs,
    /// The last usage fetched or observed, with its fetch time; `null` before the first fetch.
    #[serde(default)]
    pub usage: Option<UsageSnapshot>,
    /// When the account will hit a limit at its recent rate of use; absent when no window is
    /// rising fast enough to run out before it resets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exhaustion: Option<ExhaustionEstimate>,
    /// OpenAI: the banked rate-limit reset credits, as last fetched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_credits: Option<crate::ResetCredits>,
    /// Anthropic: the plan-limits-only guard's mark (a request billed as extra usage, or the
    /// account drawing on overage), while it stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_usage: Option<ExtraUsageMark>,
}

/// A projection from the account's usage history: the first window to reach 100 % at the
/// current rate, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExhaustionEstimate {
    pub window: WindowKind,
    /// Projected time of 100 % use (unix ms); always before the window's reset when that is known.
    pub at: UnixMs,
}

/// A provider pool as `snapshot` returns it: `{records, orderedIDs, activeID}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PoolSnapshot {
    /// The accounts in rotation order.
    pub records: Vec<AccountSummary>,
    /// Rotation order: every record id exactly once.
    #[serde(rename = "orderedIDs")]
    pub ordered_ids: Vec<String>,
    /// The account requests use first; `null` only when there are no accounts.
    #[serde(rename = "activeID")]
    pub active_id: Option<String>,
}

/// Why the plan-limits-only guard marked an Anthropic account (docs/anthropic.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExtraUsageKind {
    /// Anthropic answered "Third-party apps now draw from your extra usage, not your plan
    /// limits": it identified the request as a third-party app's and bills such traffic as
    /// paid extra usage.
    ThirdPartyBilling,
    /// The unified rate-limit headers said the account's plan limits are used up and it is
    /// drawing on paid extra usage (overage); skipped until its plan window resets.
    Overage,
}

/// The guard's mark on an account: what happened, when, and until when it is shown (and, for
/// [`ExtraUsageKind::Overage`], until when requests skip the account).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtraUsageMark {
    pub kind: ExtraUsageKind,
    pub at: UnixMs,
    pub until: UnixMs,
}

impl ExtraUsageMark {
    /// Whether the mark still stands at `now`.
    #[must_use]
    pub fn is_current(&self, now: UnixMs) -> bool {
        self.until > now
    }

    /// For people: what happened to the account.
    #[must_use]
    pub fn text(&self) -> &'static str {
        match self.kind {
            ExtraUsageKind::ThirdPartyBilling => {
                "Anthropic billed a request as extra usage (it took the client for a third-party app)"
            }
            ExtraUsageKind::Overage => {
                "plan limits used up: requests would be billed as extra usage, so Rota skips it until the reset"
            }
        }
    }
}

/// Which clients the gateway's Anthropic route serves (`[providers.anthropic] clients`,
/// `ROTA_ANTHROPIC_CLIENTS`, `rota auth clients`, the app's Provider Detail). Anthropic bills
/// subscription traffic it identifies as a third-party app's as paid extra usage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnthropicClients {
    /// Only Claude Code (its `User-Agent`, `claude-cli/<version> …`).
    #[default]
    ClaudeCode,
    /// Any client (others may be billed as extra usage).
    Any,
}

impl AnthropicClients {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClaudeCode => "claude-code",
            Self::Any => "any",
        }
    }

    /// Whether a request with this `User-Agent` may use the Anthropic route.
    #[must_use]
    pub fn allows(self, user_agent: Option<&str>) -> bool {
        match self {
            Self::Any => true,
            Self::ClaudeCode => user_agent.is_some_and(is_claude_code_user_agent),
        }
    }
}

/// Claude Code's `User-Agent`: `claude-cli/<version> (external, <entrypoint>)`.
#[must_use]
pub fn is_claude_code_user_agent(ua: &str) -> bool {
    ua.trim_start().starts_with("claude-cli/")
}

impl std::fmt::Display for AnthropicClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for AnthropicClients {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "claude-code" | "claude_code" | "claudecode" => Ok(Self::ClaudeCode),
            "any" | "all" => Ok(Self::Any),
            other => Err(format!("{other:?} is not claude-code or any")),
        }
    }
}
