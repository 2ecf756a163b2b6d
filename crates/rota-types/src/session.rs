//! Gateway sessions: requests grouped per client conversation (docs/product.md §5), as the main
//! window lists them. Built by rota-gateway in memory (bounded); never persisted.

use serde::{Deserialize, Serialize};

use crate::{ProviderId, UnixMs};

/// Token counts read from responses (`usage` of JSON bodies, SSE `message_start` /
/// `message_delta`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_input_tokens: u64,
    pub cache_creation_input_tokens: u64,
}

impl TokenUsage {
    /// Adds `other` field by field.
    pub fn add(&mut self, other: &TokenUsage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cache_read_input_tokens += other.cache_read_input_tokens;
        self.cache_creation_input_tokens += other.cache_creation_input_tokens;
    }
}

/// One line of a session list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionSummary {
    #[serde(rename = "sessionID")]
    pub session_id: String,
    #[serde(rename = "providerID")]
    pub provider_id: ProviderId,
    /// The client, from its User-Agent (`claude-cli/2.1.197 …`), truncated.
    pub client: String,
    /// The connection (`claude-code`, `codex`, `opencode`, `sdk`) whose local key the session's
    /// requests carried; `None` for programs using `api.json`'s token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    /// The model of the latest request, when the body named one.
    pub model: Option<String>,
    pub started_at: UnixMs,
    pub last_activity_at: UnixMs,
    pub request_count: u64,
    /// Rotations (switches to another account) while serving this session's requests.
    pub rotations: u64,
    /// The account of the latest request.
    #[serde(rename = "recordID")]
    pub record_id: Option<String>,
    pub usage: TokenUsage,
}

/// One request of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionRequest {
    pub at: UnixMs,
    pub method: String,
    /// The path after the provider prefix, without the query.
    pub path: String,
    pub model: Option<String>,
    /// The account that answered (the last one tried).
    #[serde(rename = "recordID")]
    pub record_id: Option<String>,
    /// Status sent to the client (0 while unknown).
    pub status: u16,
    pub rotations: u32,
    pub streamed: bool,
    pub usage: TokenUsage,
    /// Milliseconds until the response headers left the gateway.
    pub latency_ms: u64,
}

/// A session with its most recent requests (oldest first, bounded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionDetail {
    pub summary: SessionSummary,
    pub requests: Vec<SessionRequest>,
}

impl TokenUsage {
    /// Tokens the model held for this exchange: the whole prompt (fresh, cache read, cache
    /// written) plus the answer. For the latest request of a conversation this is how full
    /// its context window is.
    #[must_use]
    pub fn context_tokens(&self) -> u64 {
        self.input_tokens
            + self.cache_read_input_tokens
            + self.cache_creation_input_tokens
            + self.output_tokens
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.context_tokens() == 0
    }
}

impl SessionDetail {
    /// The token usage of the most recent request that reported any: what the conversation's
    /// context holds now.
    #[must_use]
    pub fn latest_usage(&self) -> Option<TokenUsage> {
        self.requests
            .iter()
            .rev()
            .map(|r| r.usage)
            .find(|u| !u.is_empty())
    }
}

/// The context window of a model, in tokens, when the name is one Rota knows. Dated and
/// suffixed names (`claude-sonnet-4-5-20250929`, `gpt-5-codex`) match by family.
#[must_use]
pub fn context_window(model: &str) -> Option<u64> {
    let m = model.trim().to_ascii_lowercase();
    // Claude Code marks the 1M-context variant with a `[1m]` suffix.
    if m.starts_with("claude") {
        return Some(if m.ends_with("[1m]") {
            1_000_000
        } else {
            200_000
        });
    }
    let table: &[(&str, u64)] = &[
        ("gpt-5", 400_000),
        ("gpt-4.1", 1_047_576),
        ("gpt-4o", 128_000),
        ("o4-mini", 200_000),
        ("o3", 200_000),
        ("o1", 200_000),
        ("codex-mini", 200_000),
        ("gemini-2.5", 1_048_576),
        ("gemini-3", 1_048_576),
    ];
    table
        .iter()
        .find(|(prefix, _)| m.starts_with(prefix))
        .map(|(_, window)| *window)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_models_have_their_window_and_unknown_ones_none() {
        assert_eq!(context_window("claude-sonnet-4-5-20250929"), Some(200_000));
        assert_eq!(context_window("claude-opus-4-1[1m]"), Some(1_000_000));
        assert_eq!(context_window("gpt-5-codex"), Some(400_000));
        assert_eq!(context_window("GPT-4o-mini"), Some(128_000));
        assert_eq!(context_window("llama-3"), None);
    }

    #[test]
    fn latest_usage_skips_requests_without_usage() {
        let usage = |input| TokenUsage {
            input_tokens: input,
            ..TokenUsage::default()
        };
        let request = |u| SessionRequest {
            at: 0,
            method: "POST".into(),
            path: "/v1/messages".into(),
            model: None,
            record_id: None,
            status: 200,
            rotations: 0,
            streamed: false,
            usage: u,
            latency_ms: 1,
        };
        let detail = SessionDetail {
            summary: SessionSummary {
                session_id: "s".into(),
                provider_id: ProviderId::Anthropic,
                client: "c".into(),
                connection: None,
                model: None,
                started_at: 0,
                last_activity_at: 0,
                request_count: 3,
                rotations: 0,
                record_id: None,
                usage: TokenUsage::default(),
            },
            requests: vec![request(usage(10)), request(usage(25)), request(usage(0))],
        };
        assert_eq!(detail.latest_usage(), Some(usage(25)));
        assert_eq!(usage(25).context_tokens(), 25);
    }
}
