//! Shared helpers for the rota-mock integration tests (real HTTP with reqwest).
#![allow(dead_code)] // each test binary uses a different subset of the helpers

use reqwest::{Client, Response, Url, redirect};
use rota_mock::{AccountInfo, MockConfig, MockHandle, MockServer, NewAccount};
use rota_types::ProviderId;
use serde_json::Value;

/// A verifier and its S256 challenge (checked with Python hashlib).
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
pub const ANTHROPIC_CLIENT: &str = "9d1c250a-e61b-44d9-88ed-5944d1962f5e";
pub const OPENAI_CLIENT: &str = "app_EMoamEEZ73f0CkXaXp7hrann";
pub const BETA: &str = "oauth-2025-04-20";
pub const LOOPBACK: &str = "http://localhost:54545/callback";

pub struct T {
    pub mock: MockHandle,
    pub http: Client,
}

/// Claude Code 2.1.330's `User-Agent`.
pub const CLAUDE_CODE_UA: &str = "claude-cli/2.1.330 (external, cli)";

pub async fn start() -> T {
    start_with(MockConfig::default()).await
}

pub async fn start_with(config: MockConfig) -> T {
    install_crypto_provider();
    let mock = MockServer::start(config).await.expect("mock starts");
    // The tests speak as Claude Code, as strict mode requires of Anthropic's usage and token
    // endpoints (`strict_mode_*` tests send other User-Agents on purpose).
    let http = Client::builder()
        .user_agent(CLAUDE_CODE_UA)
        .redirect(redirect::Policy::none())
        .build()
        .expect("client");
    T { mock, http }
}

impl T {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.mock.base_url())
    }

    pub fn anthropic(&self, path: &str) -> String {
        format!("{}{path}", self.mock.provider_base(ProviderId::Anthropic))
    }

    pub fn openai(&self, path: &str) -> String {
        format!("{}{path}", self.mock.provider_base(ProviderId::OpenAi))
    }

    pub fn github(&self, path: &str) -> String {
        format!(
            "{}{path}",
            self.mock.provider_base(ProviderId::GithubCopilot)
        )
    }

    pub fn account(&self, provider: ProviderId) -> AccountInfo {
        self.mock.add_account(NewAccount::new(provider))
    }

    /// `POST /v1/messages` with the OAuth headers, as Claude Code sends it (its User-Agent
    /// and system prompt).
    pub async fn message(&self, access: &str, stream: bool) -> Response {
        self.message_with(access, "claude-sonnet-4-5", stream).await
    }

    /// [`Self::message`] for `model`.
    pub async fn message_with(&self, access: &str, model: &str, stream: bool) -> Response {
        self.http
            .post(self.anthropic("/v1/messages?beta=true"))
            .bearer_auth(access)
            .header("user-agent", rota_mock::claude_code::USER_AGENT)
            .header("anthropic-beta", format!("claude-code-20250219,{BETA}"))
            .header("anthropic-version", "2023-06-01")
            .json(&rota_mock::claude_code::messages_body(model, "hi", stream))
            .send()
            .await
            .expect("request")
    }

    /// `POST /backend-api/codex/responses` (streaming).
    pub async fn codex(&self, a: &AccountInfo) -> Response {
        self.http
            .post(self.openai("/backend-api/codex/responses"))
            .bearer_auth(&a.access_token)
            .header(
                "ChatGPT-Account-Id",
                a.chatgpt_account_id.as_deref().unwrap(),
            )
            .json(&serde_json::json!({"model": "gpt-5-codex", "stream": true, "input": []}))
            .send()
            .await
            .expect("request")
    }

    /// `POST /chat/completions` as an IDE sends it (`Editor-Version`, `Copilot-Integration-Id`).
    pub async fn chat(&self, token: &str, stream: bool) -> Response {
        self.http
            .post(self.github("/chat/completions"))
            .bearer_auth(token)
            .header("Editor-Version", "vscode/1.104.1")
            .header("Copilot-Integration-Id", "vscode-chat")
            .json(&serde_json::json!({"model": "gpt-4.1", "stream": stream,
                "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .expect("request")
    }

    /// `POST /chat/completions` without IDE headers (as opencode sends it).
    pub async fn chat_bare(&self, token: &str) -> Response {
        self.http
            .post(self.github("/chat/completions"))
            .bearer_auth(token)
            .json(&serde_json::json!({"model": "gpt-4.1",
                "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .expect("request")
    }
}

pub fn header(r: &Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

/// Query pairs of a redirect's `Location`.
pub fn location_query(r: &Response) -> Vec<(String, String)> {
    let loc = header(r, "location").expect("a Location header");
    Url::parse(&loc)
        .expect("absolute URL")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub fn q<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// `(event name, data JSON)` of an SSE body; `[DONE]` becomes `Value::Null`.
pub fn sse(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(|block| {
            let mut name = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    n.clone_into(&mut name);
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            let v = if data == "[DONE]" {
                Value::Null
            } else {
                serde_json::from_str(&data).expect("data is JSON")
            };
            (name, v)
        })
        .collect()
}

/// Decodes a JWT payload without checking the signature.
pub fn jwt_payload(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).expect("three parts");
    let bytes = b64url_decode(part);
    serde_json::from_slice(&bytes).expect("payload JSON")
}

fn b64url_decode(s: &str) -> Vec<u8> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes() {
        let v = A.iter().position(|&a| a == c).expect("base64url") as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    out
}

/// reqwest is built with `rustls-no-provider` when the whole workspace is compiled together
/// (rota-providers asks for it), and then refuses to build a client until a provider is
/// installed — even for plain HTTP. Installing ring (what rota-providers uses) keeps these
/// tests independent of how cargo unified the features.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
