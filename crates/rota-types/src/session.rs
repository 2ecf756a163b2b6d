//! Gateway sessions: requests grouped per client conversation (product.md §5), as the main
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
