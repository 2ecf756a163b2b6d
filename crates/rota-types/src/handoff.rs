//! Hand-off (docs/product.md §5.2): the active account written into an official tool's own login
//! file. These are the status shapes the app, the HTTP API and `rota auth handoff --json` show;
//! they never carry a token.

use serde::{Deserialize, Serialize};

use crate::{ProviderId, UnixMs};

/// Which tool's credential store a provider is handed off to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HandoffTool {
    /// `~/.claude/.credentials.json` (macOS: the login keychain item `Claude Code-credentials`).
    ClaudeCode,
    /// `~/.codex/auth.json`.
    Codex,
    /// `~/.local/share/opencode/auth.json` (one entry per provider; the others are kept).
    Opencode,
}

impl HandoffTool {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClaudeCode => "claude-code",
            Self::Codex => "codex",
            Self::Opencode => "opencode",
        }
    }

    #[must_use]
    pub fn display_name(self) -> &'static str {
        match self {
            Self::ClaudeCode => "Claude Code",
            Self::Codex => "Codex CLI",
            Self::Opencode => "opencode",
        }
    }

    /// The tool a provider hands off to by default (Anthropic → Claude Code, `OpenAI` → Codex
    /// CLI, Copilot → opencode).
    #[must_use]
    pub fn default_for(provider: ProviderId) -> Self {
        match provider {
            ProviderId::Anthropic => Self::ClaudeCode,
            ProviderId::OpenAi => Self::Codex,
            ProviderId::GithubCopilot => Self::Opencode,
        }
    }

    /// What a person must do for a running tool to use a newly handed-off account, when it
    /// does not pick the file up by itself: a running Codex keeps the account it started with.
    #[must_use]
    pub fn restart_note(self) -> Option<&'static str> {
        match self {
            Self::Codex => {
                Some("A running Codex keeps its account: restart Codex to use this one.")
            }
            Self::ClaudeCode | Self::Opencode => None,
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Self::ClaudeCode, Self::Codex, Self::Opencode]
            .into_iter()
            .find(|t| t.as_str() == s)
    }
}

/// What the target holds compared with the provider's active account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetState {
    /// No file (or keychain item) yet.
    Missing,
    /// The active account's current tokens.
    Active,
    /// Another of the provider's accounts (a sync is pending or failed).
    OtherAccount,
    /// A login Rota cannot attribute to any of its accounts; hand-off will not overwrite it
    /// without `force`.
    Foreign,
    /// No entry for this provider (opencode) or an unreadable file.
    Unreadable,
}

/// Hand-off and proactive-switch status of one provider (Provider Detail, `rota auth handoff
/// status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HandoffStatus {
    #[serde(rename = "providerID")]
    pub provider_id: ProviderId,
    pub enabled: bool,
    pub tool: HandoffTool,
    /// The file written (or `keychain:<service>` on macOS).
    pub target: String,
    /// Set when the user chose the target instead of the tool's default location.
    #[serde(default)]
    pub target_overridden: bool,
    pub state: TargetState,
    /// The account the target holds, when it is one of ours.
    #[serde(default)]
    pub holds_record_id: Option<String>,
    #[serde(default)]
    pub last_sync_at: Option<UnixMs>,
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default)]
    pub last_error_at: Option<UnixMs>,
    /// Proactive switching (off by default).
    #[serde(default)]
    pub proactive: bool,
    /// Anthropic: which clients the gateway's Anthropic route serves (the setting in force);
    /// filled in by the app, which knows the config. `None` for other providers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clients: Option<crate::AnthropicClients>,
}
