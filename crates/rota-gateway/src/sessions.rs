//! Sessions (docs/product.md §5): requests grouped by the client's own session id (Claude Code's
//! `metadata.user_id` JSON string `session_id` or `x-claude-code-session-id`; opencode's
//! `x-session-id`; `session_id`), else by client (User-Agent) within an idle window. In memory,
//! bounded: the least recently active session is dropped beyond `max_sessions`, the oldest
//! request beyond `max_requests_per_session`.
//!
//! Token usage is read from a copy of the response as it passes ([`UsageTap`]): JSON `usage`
//! objects and SSE `data:` lines (`message_start`, `message_delta`, OpenAI `response.completed`),
//! taking the largest value seen per field (Anthropic's counts are cumulative). Compressed bodies
//! are not decompressed: their tokens stay unknown (the client still gets the original bytes).

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};

use axum::http::HeaderMap;
use rota_types::{ProviderId, SessionDetail, SessionRequest, SessionSummary, TokenUsage, UnixMs};
use serde_json::Value;

use crate::GatewayConfig;

const MAX_CLIENT_CHARS: usize = 80;
/// Largest JSON (non-SSE) body copied to read its `usage`.
const MAX_JSON_COPY: usize = 4 * 1024 * 1024;
/// Longest SSE line kept while waiting for its end.
const MAX_SSE_LINE: usize = 1024 * 1024;

/// The two fields of a request body sessions use, read in one pass that skips everything else
/// without building it (bodies of long conversations are megabytes).
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct BodyPeek<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    metadata: Option<PeekMetadata<'a>>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct PeekMetadata<'a> {
    #[serde(borrow, default)]
    user_id: Option<Cow<'a, str>>,
}

impl<'a> BodyPeek<'a> {
    /// Any body that is not a JSON object peeks as empty.
    pub(crate) fn of(body: &'a [u8]) -> Self {
        serde_json::from_slice(body).unwrap_or_default()
    }

    pub(crate) fn model(&self) -> Option<String> {
        self.model.as_deref().map(|m| m.chars().take(120).collect())
    }

    /// `metadata.user_id` as Claude Code sends it: a JSON string `{device_id, account_uuid,
    /// session_id}` (older versions: `user_…_session_<uuid>`).
    fn session_id(&self) -> Option<String> {
        let user_id = self.metadata.as_ref()?.user_id.as_deref()?;
        if let Ok(inner) = serde_json::from_str::<Value>(user_id)
            && let Some(s) = inner.get("session_id").and_then(Value::as_str)
        {
            return Some(s.chars().take(128).collect());
        }
        user_id
            .rsplit_once("_session_")
            .map(|(_, s)| s.chars().take(128).collect())
    }
}

/// The client's own session id, if it sent one.
pub(crate) fn explicit_session_id(headers: &HeaderMap, body: &BodyPeek<'_>) -> Option<String> {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(|v| v.chars().take(128).collect::<String>())
    };
    header("x-claude-code-session-id")
        .or_else(|| body.session_id())
        .or_else(|| header("x-session-id"))
        .or_else(|| header("session_id"))
        .or_else(|| header("session-id"))
}

pub(crate) fn client_name(headers: &HeaderMap) -> String {
    headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown client")
        .chars()
        .take(MAX_CLIENT_CHARS)
        .collect()
}

/// Where one request's results go.
#[derive(Debug, Clone)]
pub(crate) struct RequestRef {
    pub session_id: String,
    pub seq: u64,
}

#[derive(Debug)]
struct Session {
    summary: SessionSummary,
    requests: VecDeque<(u64, SessionRequest)>,
    /// Whether the id came from the client (implicit sessions are matched by client instead).
    explicit: bool,
}

/// All sessions, bounded.
#[derive(Debug)]
pub(crate) struct SessionBook {
    sessions: HashMap<String, Session>,
    next_seq: u64,
    next_implicit: u64,
    idle_ms: i64,
    max_sessions: usize,
    max_requests: usize,
}

/// What a new request says about itself.
#[derive(Debug)]
pub(crate) struct NewRequest {
    pub provider: ProviderId,
    pub explicit_id: Option<String>,
    pub client: String,
    /// The connection whose local key the request carried (`None`: api.json's token).
    pub connection: Option<String>,
    pub model: Option<String>,
    pub method: String,
    pub path: String,
    pub at: UnixMs,
}

impl SessionBook {
    pub(crate) fn new(config: &GatewayConfig) -> Self {
        Self {
            sessions: HashMap::new(),
            next_seq: 0,
            next_implicit: 0,
            idle_ms: i64::try_from(config.session_idle.as_millis()).unwrap_or(i64::MAX),
            max_sessions: config.max_sessions.max(1),
            max_requests: config.max_requests_per_session.max(1),
        }
    }

    /// Files a request under its session (creating it) and returns where its results go.
    pub(crate) fn begin(&mut self, req: NewRequest) -> RequestRef {
        let id = match &req.explicit_id {
            Some(id) => format!("{}:{id}", req.provider.as_str()),
            None => self
                .sessions
                .iter()
                .filter(|(_, s)| {
                    !s.explicit
                        && s.summary.provider_id == req.provider
                        && s.summary.client == req.client
                        && s.summary.connection == req.connection
                        && req.at - s.summary.last_activity_at <= self.idle_ms
                })
                .max_by_key(|(_, s)| s.summary.last_activity_at)
                .map_or_else(
                    || {
                        self.next_implicit += 1;
                        format!(
                            "{}:client-{}-{}",
                            req.provider.as_str(),
                            req.at,
                            self.next_implicit
                        )
                    },
                    |(id, _)| id.clone(),
                ),
        };
        if !self.sessions.contains_key(&id) {
            self.evict_for_one();
            self.sessions.insert(
                id.clone(),
                Session {
                    summary: SessionSummary {
                        session_id: id.clone(),
                        provider_id: req.provider,
                        client: req.client.clone(),
                        connection: req.connection.clone(),
                        model: None,
                        started_at: req.at,
                        last_activity_at: req.at,
                        request_count: 0,
                        rotations: 0,
                        record_id: None,
                        usage: TokenUsage::default(),
                    },
                    requests: VecDeque::new(),
                    explicit: req.explicit_id.is_some(),
                },
            );
        }
        self.next_seq += 1;
        let seq = self.next_seq;
        let max = self.max_requests;
        let s = self.sessions.get_mut(&id).expect("inserted above");
        s.summary.last_activity_at = req.at;
        s.summary.request_count += 1;
        if req.model.is_some() {
            s.summary.model.clone_from(&req.model);
        }
        s.requests.push_back((
            seq,
            SessionRequest {
                at: req.at,
                method: req.method,
                path: req.path,
                model: req.model,
                record_id: None,
                status: 0,
                rotations: 0,
                streamed: false,
                usage: TokenUsage::default(),
                latency_ms: 0,
            },
        ));
        while s.requests.len() > max {
            s.requests.pop_front();
        }
        RequestRef {
            session_id: id,
            seq,
        }
    }

    fn evict_for_one(&mut self) {
        while self.sessions.len() >= self.max_sessions {
            let Some(oldest) = self
                .sessions
                .iter()
                .min_by_key(|(_, s)| s.summary.last_activity_at)
                .map(|(id, _)| id.clone())
            else {
                return;
            };
            self.sessions.remove(&oldest);
        }
    }

    /// Records the response headers' facts: account, status, rotations, latency.
    pub(crate) fn answered(
        &mut self,
        r: &RequestRef,
        record_id: Option<String>,
        status: u16,
        rotations: u32,
        streamed: bool,
        latency_ms: u64,
    ) {
        let Some(s) = self.sessions.get_mut(&r.session_id) else {
            return;
        };
        s.summary.rotations += u64::from(rotations);
        if record_id.is_some() {
            s.summary.record_id.clone_from(&record_id);
        }
        if let Some((_, req)) = s.requests.iter_mut().rev().find(|(q, _)| *q == r.seq) {
            req.record_id = record_id;
            req.status = status;
            req.rotations = rotations;
            req.streamed = streamed;
            req.latency_ms = latency_ms;
        }
    }

    /// Adds the tokens read from a finished response.
    pub(crate) fn add_usage(&mut self, r: &RequestRef, usage: &TokenUsage) {
        let Some(s) = self.sessions.get_mut(&r.session_id) else {
            return;
        };
        s.summary.usage.add(usage);
        if let Some((_, req)) = s.requests.iter_mut().rev().find(|(q, _)| *q == r.seq) {
            req.usage.add(usage);
        }
    }

    pub(crate) fn summaries(&self) -> Vec<SessionSummary> {
        let mut out: Vec<_> = self.sessions.values().map(|s| s.summary.clone()).collect();
        out.sort_by_key(|s| std::cmp::Reverse(s.last_activity_at));
        out
    }

    pub(crate) fn detail(&self, id: &str) -> Option<SessionDetail> {
        self.sessions.get(id).map(|s| SessionDetail {
            summary: s.summary.clone(),
            requests: s.requests.iter().map(|(_, r)| r.clone()).collect(),
        })
    }
}

/// Token counts in a `usage` object (Anthropic or OpenAI spelling).
fn usage_of(u: &Value) -> Option<TokenUsage> {
    let n = |k: &str| u.get(k).and_then(Value::as_u64);
    let usage = TokenUsage {
        input_tokens: n("input_tokens")
            .or_else(|| n("prompt_tokens"))
            .unwrap_or(0),
        output_tokens: n("output_tokens")
            .or_else(|| n("completion_tokens"))
            .unwrap_or(0),
        cache_read_input_tokens: n("cache_read_input_tokens")
            .or_else(|| {
                u.get("input_tokens_details")
                    .and_then(|d| d.get("cached_tokens"))
                    .and_then(Value::as_u64)
            })
            .unwrap_or(0),
        cache_creation_input_tokens: n("cache_creation_input_tokens").unwrap_or(0),
    };
    (usage != TokenUsage::default()).then_some(usage)
}

fn max_merge(into: &mut TokenUsage, u: &TokenUsage) {
    into.input_tokens = into.input_tokens.max(u.input_tokens);
    into.output_tokens = into.output_tokens.max(u.output_tokens);
    into.cache_read_input_tokens = into.cache_read_input_tokens.max(u.cache_read_input_tokens);
    into.cache_creation_input_tokens = into
        .cache_creation_input_tokens
        .max(u.cache_creation_input_tokens);
}

/// Reads token usage from a copy of a response body as its chunks pass.
#[derive(Debug)]
pub(crate) struct UsageTap {
    mode: TapMode,
    buf: Vec<u8>,
    usage: TokenUsage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TapMode {
    Sse,
    Json,
    Off,
}

impl UsageTap {
    pub(crate) fn new(headers: &HeaderMap) -> Self {
        let ct = headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let encoded = headers
            .get(axum::http::header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|e| !e.eq_ignore_ascii_case("identity"));
        let mode = if encoded {
            TapMode::Off
        } else if ct.starts_with("text/event-stream") {
            TapMode::Sse
        } else if ct.contains("json") {
            TapMode::Json
        } else {
            TapMode::Off
        };
        Self {
            mode,
            buf: Vec::new(),
            usage: TokenUsage::default(),
        }
    }

    /// A tap that reads nothing (what is left after [`UsageTap::finish`]).
    pub(crate) fn off() -> Self {
        Self {
            mode: TapMode::Off,
            buf: Vec::new(),
            usage: TokenUsage::default(),
        }
    }

    pub(crate) fn feed(&mut self, chunk: &[u8]) {
        match self.mode {
            TapMode::Off => {}
            TapMode::Json => {
                if self.buf.len() + chunk.len() > MAX_JSON_COPY {
                    self.mode = TapMode::Off;
                    self.buf = Vec::new();
                } else {
                    self.buf.extend_from_slice(chunk);
                }
            }
            TapMode::Sse => {
                self.buf.extend_from_slice(chunk);
                while let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = self.buf.drain(..=pos).collect();
                    self.sse_line(&line);
                }
                if self.buf.len() > MAX_SSE_LINE {
                    self.buf.clear();
                }
            }
        }
    }

    fn sse_line(&mut self, line: &[u8]) {
        let Some(data) = line.strip_prefix(b"data:") else {
            return;
        };
        let Ok(v) = serde_json::from_slice::<Value>(data.trim_ascii()) else {
            return;
        };
        let found = v
            .get("message")
            .and_then(|m| m.get("usage"))
            .or_else(|| v.get("response").and_then(|r| r.get("usage")))
            .or_else(|| v.get("usage"))
            .and_then(usage_of);
        if let Some(u) = found {
            max_merge(&mut self.usage, &u);
        }
    }

    /// The usage read, once the body ended.
    pub(crate) fn finish(mut self) -> Option<TokenUsage> {
        // Only `usage` is built; the rest of the answer is skipped, not turned into a tree.
        #[derive(serde::Deserialize)]
        struct UsageOnly {
            #[serde(default)]
            usage: Option<Value>,
        }
        if self.mode == TapMode::Json
            && let Ok(v) = serde_json::from_slice::<UsageOnly>(&self.buf)
            && let Some(u) = v.usage.as_ref().and_then(usage_of)
        {
            max_merge(&mut self.usage, &u);
        }
        if self.mode == TapMode::Sse && !self.buf.is_empty() {
            let rest = std::mem::take(&mut self.buf);
            self.sse_line(&rest);
        }
        (self.usage != TokenUsage::default()).then_some(self.usage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claude_code_user_id_session() {
        let body = br#"{"model":"m","metadata":{"user_id":"{\"device_id\":\"d\",\"account_uuid\":\"a\",\"session_id\":\"s-1\"}"}}"#;
        assert_eq!(
            explicit_session_id(&HeaderMap::new(), &BodyPeek::of(body)).as_deref(),
            Some("s-1")
        );
        assert_eq!(BodyPeek::of(body).model().as_deref(), Some("m"));
        let old = br#"{"metadata":{"user_id":"user_abc_account__session_s-2"}}"#;
        assert_eq!(BodyPeek::of(old).session_id().as_deref(), Some("s-2"));
        assert!(BodyPeek::of(b"not json").model().is_none());
    }

    fn new_req(client: &str, explicit: Option<&str>, at: UnixMs) -> NewRequest {
        NewRequest {
            provider: ProviderId::Anthropic,
            explicit_id: explicit.map(str::to_owned),
            client: client.to_owned(),
            connection: None,
            model: Some("m".to_owned()),
            method: "POST".to_owned(),
            path: "/v1/messages".to_owned(),
            at,
        }
    }

    #[test]
    fn implicit_sessions_group_by_client_within_the_idle_window_and_stay_bounded() {
        let mut config = GatewayConfig::new("/nonexistent");
        config.max_sessions = 3;
        config.max_requests_per_session = 2;
        let mut book = SessionBook::new(&config);
        let min = 60_000;
        let a1 = book.begin(new_req("opencode/1", None, 0));
        let a2 = book.begin(new_req("opencode/1", None, 29 * min));
        assert_eq!(a1.session_id, a2.session_id, "within 30 minutes");
        let a3 = book.begin(new_req("opencode/1", None, 29 * min + 31 * min));
        assert_ne!(
            a2.session_id, a3.session_id,
            "idle for more than 30 minutes"
        );
        let b = book.begin(new_req("other/2", None, 61 * min));
        assert_ne!(b.session_id, a3.session_id, "another client");
        let e = book.begin(new_req("opencode/1", Some("ses_1"), 62 * min));
        assert_eq!(e.session_id, "anthropic:ses_1");
        assert_eq!(book.summaries().len(), 3, "capped; the oldest went");
        assert!(book.detail(&a1.session_id).is_none());
        for t in 0..5 {
            book.begin(new_req("x", Some("ses_1"), 63 * min + t));
        }
        let d = book.detail("anthropic:ses_1").unwrap();
        assert_eq!(d.requests.len(), 2, "requests per session capped");
        assert_eq!(d.summary.request_count, 6);
    }

    #[test]
    fn sse_usage_is_read_across_chunk_borders() {
        let mut h = HeaderMap::new();
        h.insert("content-type", "text/event-stream".parse().unwrap());
        let mut tap = UsageTap::new(&h);
        let stream = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":12,\"cache_read_input_tokens\":5,\"output_tokens\":1}}}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":42}}\n\n";
        for part in stream.as_bytes().chunks(7) {
            tap.feed(part);
        }
        let u = tap.finish().unwrap();
        assert_eq!(u.input_tokens, 12);
        assert_eq!(u.output_tokens, 42);
        assert_eq!(u.cache_read_input_tokens, 5);
    }
}
