//! Usage windows per provider: a list of every window the provider reports (account-wide and
//! model-scoped), each with percent 0–100, severity and `resetsAt` unix ms.

use serde::{Deserialize, Serialize};

use crate::UnixMs;

/// How full a window is, as the provider says it (Anthropic `limits[].severity`) or as derived
/// from the percent (80 % = warning, 100 % = critical) when it does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Normal,
    Warning,
    Critical,
}

impl Severity {
    /// The severity a percent implies when the provider sends none.
    #[must_use]
    pub fn from_percent(percent: f64) -> Self {
        if percent.is_nan() || percent >= 100.0 {
            Self::Critical
        } else if percent >= 80.0 {
            Self::Warning
        } else {
            Self::Normal
        }
    }
}

/// One rate-limit window: which it is, how much is used and when it resets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageWindow {
    /// Stable identity of the window across polls and sources (body, response headers):
    /// `five_hour`, `seven_day`, `seven_day:fable`, `premium`, …
    pub key: String,
    /// The window's length class (names the bar, decides weekly-first weighting).
    pub kind: WindowKind,
    /// Bar label: `5-Hour`, `7-Day (All Models)`, `7-Day (Fable)`.
    pub label: String,
    /// Percent used, 0–100 (providers reporting fractions are scaled by the adapter).
    pub utilization: f64,
    pub severity: Severity,
    #[serde(default)]
    pub resets_at: Option<UnixMs>,
    /// The model this window limits (its display name, e.g. `Fable`); `None` = the whole
    /// account. A scoped window limits only requests for that model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Length of the window, when the provider says it (`OpenAI`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_minutes: Option<u32>,
}

impl UsageWindow {
    /// An account-wide window of `kind`, severity from the percent.
    #[must_use]
    pub fn new(kind: WindowKind, utilization: f64, resets_at: Option<UnixMs>) -> Self {
        Self {
            key: kind.key().to_owned(),
            kind,
            label: kind.label(None),
            utilization,
            severity: Severity::from_percent(utilization),
            resets_at,
            model: None,
            window_minutes: None,
        }
    }

    /// A window of `kind` limiting one model only (key `<kind>:<model lower-case>`).
    #[must_use]
    pub fn scoped(
        kind: WindowKind,
        model: &str,
        utilization: f64,
        resets_at: Option<UnixMs>,
    ) -> Self {
        Self {
            key: format!("{}:{}", kind.key(), model.to_lowercase()),
            label: kind.label(Some(model)),
            model: Some(model.to_owned()),
            ..Self::new(kind, utilization, resets_at)
        }
    }

    #[must_use]
    pub fn with_severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    #[must_use]
    pub fn with_minutes(mut self, minutes: Option<u32>) -> Self {
        self.window_minutes = minutes;
        self
    }

    /// Whether the window is used up: 100 % or the provider's `critical`.
    #[must_use]
    pub fn is_exhausted(&self) -> bool {
        self.utilization >= 100.0 || self.severity == Severity::Critical
    }

    /// Whether this window limits requests for `model` (a request's model id such as
    /// `claude-fable-4-5`): account-wide windows limit every model; a scoped one the models whose
    /// id names it (`Fable` → any id containing `fable`, case-insensitive).
    #[must_use]
    pub fn applies_to(&self, model: &str) -> bool {
        match &self.model {
            None => true,
            Some(scope) => model_matches(scope, model),
        }
    }
}

/// Whether a request's model id belongs to a window's model scope (`Fable` ~ `claude-fable-4-5`,
/// `GPT-5.3-Codex-Spark` ~ `gpt-5.3-codex-spark`). Spaces in display names match `-` in ids.
#[must_use]
pub fn model_matches(scope: &str, model: &str) -> bool {
    let scope = scope.trim().to_lowercase().replace(' ', "-");
    !scope.is_empty() && model.to_lowercase().contains(&scope)
}

/// The seed's `{utilization, resetsAt}` window (`anthropicUsage` of the HTTP API).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LegacyWindow {
    pub utilization: f64,
    #[serde(default)]
    pub resets_at: Option<UnixMs>,
}

/// `anthropicUsage` of `GET /auth/usage` and `POST /auth/active`: the seed's three fixed
/// windows, kept for its clients. Every surface of Rota reads [`UsageSnapshot::windows`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnthropicUsage {
    #[serde(default)]
    pub five_hour: Option<LegacyWindow>,
    #[serde(default)]
    pub seven_day: Option<LegacyWindow>,
    #[serde(default)]
    pub seven_day_sonnet: Option<LegacyWindow>,
}

impl AnthropicUsage {
    /// The legacy shape of a window list (5-hour, 7-day all models, 7-day Sonnet).
    #[must_use]
    pub fn from_windows(windows: &[UsageWindow]) -> Self {
        let find = |key: &str| {
            windows.iter().find(|w| w.key == key).map(|w| LegacyWindow {
                utilization: w.utilization,
                resets_at: w.resets_at,
            })
        };
        Self {
            five_hour: find("five_hour"),
            seven_day: find("seven_day"),
            seven_day_sonnet: find("seven_day:sonnet"),
        }
    }
}

/// Anthropic's account facts beyond the windows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnthropicExtra {
    /// Paid extra usage is switched on for the account (`extra_usage.is_enabled`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_usage_enabled: Option<bool>,
}

/// `ChatGPT` (Codex) account facts beyond the windows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenAiUsage {
    /// `plan_type` of `wham/usage` (`free`, `plus`, `pro`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_type: Option<String>,
}

/// Copilot's monthly premium-request quota beyond its window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CopilotUsage {
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

/// The provider-specific facts, tagged with the provider id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "provider")]
pub enum ProviderUsage {
    #[serde(rename = "anthropic")]
    Anthropic(AnthropicExtra),
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
    /// The account's overall state: set from account-wide windows only (a model's cap leaves
    /// the account `allowed` for other models).
    #[serde(default)]
    pub status: Option<LimitStatus>,
    /// Every window the provider reports, account-wide first (short before long), then the
    /// model-scoped ones.
    #[serde(default)]
    pub windows: Vec<UsageWindow>,
    #[serde(flatten)]
    pub usage: ProviderUsage,
}

/// Which window a value belongs to: its length class. Names the bar and decides weekly-first
/// weighting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowKind {
    FiveHour,
    SevenDay,
    /// Switch-log entries written before windows were scoped; read as a 7-day Sonnet window.
    SevenDaySonnet,
    ThirtyDay,
    Premium,
    /// Copilot's monthly AI credits (accounts billed in credits).
    Credits,
}

impl WindowKind {
    /// The stable key of the account-wide window of this kind.
    #[must_use]
    pub fn key(self) -> &'static str {
        match self {
            Self::FiveHour => "five_hour",
            Self::SevenDay => "seven_day",
            Self::SevenDaySonnet => "seven_day:sonnet",
            Self::ThirtyDay => "thirty_day",
            Self::Premium => "premium",
            Self::Credits => "credits",
        }
    }

    /// Bar label from kind and scope: `5-Hour`, `7-Day (All Models)`, `7-Day (Fable)`.
    #[must_use]
    pub fn label(self, model: Option<&str>) -> String {
        let base = match self {
            Self::FiveHour => "5-Hour",
            Self::SevenDay | Self::SevenDaySonnet => "7-Day",
            Self::ThirtyDay => "30-Day",
            Self::Premium => "Premium Requests (monthly)",
            Self::Credits => "AI Credits (monthly)",
        };
        match (self, model) {
            (_, Some(m)) => format!("{base} ({m})"),
            (Self::SevenDaySonnet, None) => "7-Day (Sonnet)".to_owned(),
            (Self::SevenDay, None) => "7-Day (All Models)".to_owned(),
            _ => base.to_owned(),
        }
    }

    /// The window's name inside a sentence (`5-hour`, `7-day Fable`): switch reasons,
    /// exhaustion hints.
    #[must_use]
    pub fn name(self, model: Option<&str>) -> String {
        let base = match self {
            Self::FiveHour => "5-hour",
            Self::SevenDay => "7-day",
            Self::SevenDaySonnet => "7-day Sonnet",
            Self::ThirtyDay => "30-day",
            Self::Premium => "premium",
            Self::Credits => "AI credits",
        };
        match model {
            Some(m) => format!("{base} {m}"),
            None => base.to_owned(),
        }
    }

    /// Short label for hints and the CLI (`5h 42%`).
    #[must_use]
    pub fn short_label(self) -> &'static str {
        match self {
            Self::FiveHour => "5h",
            Self::SevenDay => "7d",
            Self::SevenDaySonnet => "7d-sonnet",
            Self::ThirtyDay => "30d",
            Self::Premium => "premium",
            Self::Credits => "credits",
        }
    }

    /// The kind of a window `seconds` long: under a day 5-hour, under 20 days 7-day, else
    /// 30-day.
    #[must_use]
    pub fn from_seconds(seconds: f64) -> Self {
        if seconds < 86_400.0 {
            Self::FiveHour
        } else if seconds < 20.0 * 86_400.0 {
            Self::SevenDay
        } else {
            Self::ThirtyDay
        }
    }

    /// Long windows (weekly, monthly) take days to recover, so they weigh first when choosing
    /// an account.
    #[must_use]
    pub fn is_long(self) -> bool {
        !matches!(self, Self::FiveHour)
    }

    fn order(self) -> u8 {
        match self {
            Self::FiveHour => 0,
            Self::SevenDay | Self::SevenDaySonnet => 1,
            Self::ThirtyDay => 2,
            Self::Premium | Self::Credits => 3,
        }
    }
}

/// Sorts windows for display: account-wide first, then by length, then by label.
pub fn sort_windows(windows: &mut [UsageWindow]) {
    windows.sort_by(|a, b| {
        (a.model.is_some(), a.kind.order(), &a.label).cmp(&(
            b.model.is_some(),
            b.kind.order(),
            &b.label,
        ))
    });
}

impl UsageSnapshot {
    /// The account-wide windows (those that limit every model).
    pub fn account_windows(&self) -> impl Iterator<Item = &UsageWindow> {
        self.windows.iter().filter(|w| w.model.is_none())
    }

    /// The highest utilization of any account-wide window (0 when none is known). A model's
    /// cap does not count: the account still serves other models.
    #[must_use]
    pub fn max_utilization(&self) -> f64 {
        self.account_windows()
            .map(|w| w.utilization)
            .fold(0.0, f64::max)
    }

    /// The highest utilization of the windows that limit requests for `model`.
    #[must_use]
    pub fn max_utilization_for(&self, model: &str) -> f64 {
        self.windows
            .iter()
            .filter(|w| w.applies_to(model))
            .map(|w| w.utilization)
            .fold(0.0, f64::max)
    }

    /// The exhausted model-scoped window that limits `model`, if any.
    #[must_use]
    pub fn exhausted_scope_for(&self, model: &str) -> Option<&UsageWindow> {
        self.windows
            .iter()
            .find(|w| w.model.is_some() && w.applies_to(model) && w.is_exhausted())
    }

    /// The window with `key`.
    #[must_use]
    pub fn window(&self, key: &str) -> Option<&UsageWindow> {
        self.windows.iter().find(|w| w.key == key)
    }

    /// The overall status the account-wide windows imply (100 % = rejected, 80 % = warning).
    #[must_use]
    pub fn derived_status(&self) -> LimitStatus {
        let max = self.max_utilization();
        let critical = self
            .account_windows()
            .any(|w| w.severity == Severity::Critical);
        if critical || max >= 100.0 {
            LimitStatus::Rejected
        } else if max >= 80.0 {
            LimitStatus::AllowedWarning
        } else {
            LimitStatus::Allowed
        }
    }
}
