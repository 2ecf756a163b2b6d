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

    /// A provider id as the wire carries it (IPC, HTTP): the exact id only, else the one error
    /// every surface answers (with the nearest id, so `claude` suggests `anthropic`).
    pub fn from_wire(s: &str) -> Result<Self, UnknownProvider> {
        Self::parse(s).ok_or_else(|| UnknownProvider {
            input: s.to_owned(),
            suggestion: suggest(&s.trim().to_ascii_lowercase()),
        })
    }

    /// Names people type for a provider besides its wire id (the CLI accepts these too).
    #[must_use]
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Self::Anthropic => &["claude", "claude-code"],
            Self::OpenAi => &["codex", "chatgpt"],
            Self::GithubCopilot => &["copilot", "github"],
        }
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

/// A provider from what a person typed: the wire id or an alias ([`ProviderId::aliases`]),
/// any case, surrounding blanks ignored. Wire paths use the strict [`ProviderId::parse`].
impl std::str::FromStr for ProviderId {
    type Err = UnknownProvider;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == wanted || p.aliases().contains(&wanted.as_str()))
            .ok_or_else(|| UnknownProvider {
                input: s.to_owned(),
                suggestion: suggest(&wanted),
            })
    }
}

/// A name that is no provider, with the nearest one when a typo explains it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownProvider {
    pub input: String,
    pub suggestion: Option<ProviderId>,
}

impl std::fmt::Display for UnknownProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown provider {:?}", self.input)?;
        if let Some(p) = self.suggestion {
            write!(f, "; did you mean {:?}?", p.as_str())?;
        }
        let known: Vec<&str> = ProviderId::ALL.iter().map(|p| p.as_str()).collect();
        write!(f, " (known: {})", known.join(", "))
    }
}

impl std::error::Error for UnknownProvider {}

/// The provider whose id or alias is within two edits of `typed` (the closest one).
fn suggest(typed: &str) -> Option<ProviderId> {
    ProviderId::ALL
        .into_iter()
        .flat_map(|p| {
            std::iter::once(p.as_str())
                .chain(p.aliases().iter().copied())
                .map(move |name| (edit_distance(typed, name), p))
        })
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, p)| p)
}

/// Levenshtein distance over chars; the names compared are a few letters long.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
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
