//! Usage windows per provider, normalised to `utilization` 0–100 and `resetsAt` unix ms.

use serde::{Deserialize, Serialize};

use crate::UnixMs;

/// One rate-limit window: how much is used and when it resets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageWindow {
    /// Percent used, 0–100 (providers reporting fractions are scaled by the adapter).
    pub utilization: f64,
    #[serde(default)]
    pub resets_at: Option<UnixMs>,
    /// Length of the window, when the provider says it (`OpenAI`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_minutes: Option<u32>,
}

impl UsageWindow {
    #[must_use]
    pub fn new(utilization: f64, resets_at: Option<UnixMs>) -> Self {
        Self {
            utilization,
            resets_at,
            window_minutes: None,
        }
    }
}

/// `GET /api/oauth/usage` (or the unified rate-limit headers) of a Claude account.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnthropicUsage {
    #[serde(default)]
    pub five_hour: Option<UsageWindow>,
    #[serde(default)]
    pub seven_day: Option<UsageWindow>,
    #[serde(default)]
    pub seven_day_sonnet: Option<UsageWindow>,
}

/// `ChatGPT` (Codex) windows after classification by length: `primary` is the short (5-hour)
/// window, `secondary` the weekly one, whatever order the provider sent them in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenAiUsage {
    #[serde(default)]
    pub primary: Option<UsageWindow>,
    #[serde(default)]
    pub secondary: Option<UsageWindow>,
}

/// Copilot's monthly premium-request quota.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CopilotUsage {
    /// Used share of the premium quota (`100 - percent_remaining`) and the quota reset date.
    #[serde(default)]
    pub premium: Option<UsageWindow>,
    #[serde(default)]
    pub entitlement: Option<u64>,
    #[serde(default)]
    pub remaining: Option<f64>,
    #[serde(default)]
    pub unlimited: bool,
    /// The quota is counted in AI credits (the account reports a credits quota), not in premium
    /// requests: `premium` then holds the credits' use.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub credits: bool,
}

/// The provider-specific windows, tagged with the provider id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "provider")]
pub enum ProviderUsage {
    #[serde(rename = "anthropic")]
    Anthropic(AnthropicUsage),
    #[serde(rename = "openai")]
    OpenAi(OpenAiUsage),
    #[serde(rename = "github-copilot")]
    GithubCopilot(CopilotUsage),
}

/// Overall limit state the provider reported (Anthropic `anthropic-ratelimit-unified-status`,
/// `OpenAI` `limit_reached`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitStatus {
    Allowed,
    AllowedWarning,
    Rejected,
}

/// The last usage of one account and when it was fetched (or observed in gateway headers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageSnapshot {
    pub fetched_at: UnixMs,
    #[serde(default)]
    pub status: Option<LimitStatus>,
    #[serde(flatten)]
    pub usage: ProviderUsage,
}

/// Which window a value belongs to; names the bar and decides weekly-first weighting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowKind {
    FiveHour,
    SevenDay,
    SevenDaySonnet,
    Premium,
    /// Copilot's monthly AI credits (accounts billed in credits).
    Credits,
}

impl WindowKind {
    /// Bar label in the UI (`5-Hour Limit`, …).
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::FiveHour => "5-Hour Limit",
            Self::SevenDay => "7-Day Limit (All Models)",
            Self::SevenDaySonnet => "7-Day Limit (Sonnet)",
            Self::Premium => "Premium Requests (monthly)",
            Self::Credits => "AI Credits (monthly)",
        }
    }

    /// The window's name inside a sentence (`5-hour`, `7-day Sonnet`): switch reasons,
    /// exhaustion hints.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::FiveHour => "5-hour",
            Self::SevenDay => "7-day",
            Self::SevenDaySonnet => "7-day Sonnet",
            Self::Premium => "premium",
            Self::Credits => "credits",
        }
    }

    /// Short label for hints and the CLI (`5h 42%`).
    #[must_use]
    pub fn short_label(self) -> &'static str {
        match self {
            Self::FiveHour => "5h",
            Self::SevenDay => "7d",
            Self::SevenDaySonnet => "7d-sonnet",
            Self::Premium => "premium",
            Self::Credits => "credits",
        }
    }

    /// Long windows (weekly, monthly) take days to recover, so they weigh first when choosing
    /// an account.
    #[must_use]
    pub fn is_long(self) -> bool {
        !matches!(self, Self::FiveHour)
    }
}

impl ProviderUsage {
    /// The windows present, short window first.
    #[must_use]
    pub fn windows(&self) -> Vec<(WindowKind, UsageWindow)> {
        let list: [(WindowKind, Option<UsageWindow>); 3] = match self {
            Self::Anthropic(u) => [
                (WindowKind::FiveHour, u.five_hour),
                (WindowKind::SevenDay, u.seven_day),
                (WindowKind::SevenDaySonnet, u.seven_day_sonnet),
            ],
            Self::OpenAi(u) => [
                (WindowKind::FiveHour, u.primary),
                (WindowKind::SevenDay, u.secondary),
                (WindowKind::SevenDaySonnet, None),
            ],
            Self::GithubCopilot(u) => [
                (
                    if u.credits {
                        WindowKind::Credits
                    } else {
                        WindowKind::Premium
                    },
                    if u.unlimited { None } else { u.premium },
                ),
                (WindowKind::FiveHour, None),
                (WindowKind::SevenDay, None),
            ],
        };
        list.into_iter()
            .filter_map(|(k, w)| w.map(|w| (k, w)))
            .collect()
    }
}

impl UsageSnapshot {
    /// The highest utilization of any window (0 when none is known).
    pub fn max_utilization(&self) -> f64 {
        self.usage
            .windows()
            .iter()
            .map(|(_, w)| w.utilization)
            .fold(0.0, f64::max)
    }
}
