//! The providers Rota pools accounts for.

use serde::{Deserialize, Serialize};

/// A provider's id as it appears on the wire, in paths (`/anthropic/…`) and in the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ProviderId {
    #[serde(rename = "anthropic")]
    Anthropic,
    #[serde(rename = "openai")]
    OpenAi,
    #[serde(rename = "github-copilot")]
    GithubCopilot,
}

impl ProviderId {
    /// Every supported provider, alphabetically by display name (the order of every list).
    pub const ALL: [ProviderId; 3] = [
        ProviderId::Anthropic,
        ProviderId::GithubCopilot,
        ProviderId::OpenAi,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Anthropic => "anthropic",
            Self::OpenAi => "openai",
            Self::GithubCopilot => "github-copilot",
        }
    }

    #[must_use]
    pub fn display_name(self) -> &'static str {
        match self {
            Self::Anthropic => "Anthropic",
            Self::OpenAi => "OpenAI",
            Self::GithubCopilot => "GitHub Copilot",
        }
    }

    /// Parses the wire id (`anthropic`, `openai`, `github-copilot`).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Static facts about the provider, for lists and detail views.
    #[must_use]
    pub fn info(self) -> ProviderInfo {
        let (subscription, description, usage_windows): (&str, &str, &[&str]) = match self {
            Self::Anthropic => (
                "Claude Pro / Max",
                "Claude subscriptions through Claude's OAuth login, as Claude Code uses them.",
                &[
                    "5-Hour Limit",
                    "7-Day Limit (All Models)",
                    "7-Day Limit (Sonnet)",
                ],
            ),
            Self::OpenAi => (
                "ChatGPT Plus / Pro",
                "ChatGPT subscriptions through the Codex OAuth login, as the Codex CLI uses them.",
                &["5-Hour Limit", "7-Day Limit"],
            ),
            Self::GithubCopilot => (
                "Copilot Individual / Business",
                "GitHub Copilot through GitHub's device login, as editor plugins use it.",
                &["Premium Requests (monthly)"],
            ),
        };
        ProviderInfo {
            id: self,
            display_name: self.display_name().to_owned(),
            auth_type: "oauth".to_owned(),
            subscription: subscription.to_owned(),
            description: description.to_owned(),
            usage_windows: usage_windows.iter().map(|s| (*s).to_owned()).collect(),
            gateway_path: format!("/{}", self.as_str()),
        }
    }
}

impl std::fmt::Display for ProviderId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the UI and `rota auth list` show about a supported provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderInfo {
    pub id: ProviderId,
    pub display_name: String,
    /// Credential type as the seed prints it, e.g. `Anthropic (oauth)`.
    pub auth_type: String,
    pub subscription: String,
    pub description: String,
    /// Labels of the usage windows the provider reports.
    pub usage_windows: Vec<String>,
    /// Path prefix of the gateway's proxy route for this provider.
    pub gateway_path: String,
}
