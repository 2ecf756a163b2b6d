//! Request shaping for the gateway (docs/rules.md §4, docs/providers.md §5):
//! a pure function from the client's headers and path to the upstream URL and headers.
//!
//! Removed: the client's credential (`authorization`, `x-api-key`), `host`, `content-length`
//! (the HTTP client sets it for the buffered body) and hop-by-hop headers. Added: the account's
//! `Authorization: Bearer`; Anthropic's `anthropic-beta` gains the OAuth beta when absent while
//! every incoming value is kept; OpenAI's `ChatGPT-Account-Id`; on a Copilot request with an
//! exchanged (IDE) token, the IDE headers the client did not send (`Editor-Version`,
//! `Editor-Plugin-Version`, `Copilot-Integration-Id`). Everything else (including
//! `anthropic-version`, `user-agent`, `accept-encoding`, session headers) passes unchanged.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use rota_core::Secret;
use rota_types::ProviderId;

use crate::config::ProvidersConfig;
use crate::error::ProviderError;

/// The account credential to put on an upstream request.
#[derive(Debug, Clone, Copy)]
pub struct UpstreamAuth<'a> {
    /// Anthropic/OpenAI access token, or the exchanged Copilot token.
    pub bearer: &'a Secret,
    /// OpenAI `chatgpt_account_id`.
    pub account_id: Option<&'a str>,
    /// Copilot: the API base named by the Copilot token (`endpoints.api`), if any.
    pub api_base: Option<&'a str>,
    /// Copilot: the bearer is an exchanged Copilot token (IDE auth), which the Copilot API
    /// accepts only with IDE headers; a GitHub token used directly needs none.
    pub copilot_ide: bool,
}

/// The upstream request's URL and headers.
#[derive(Debug, Clone)]
pub struct ShapedRequest {
    pub url: String,
    pub headers: HeaderMap,
}

const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Where a provider's gateway route forwards to: Anthropic's API base, the Codex backend
/// (`{backend}/codex`), Copilot's API.
#[must_use]
pub fn upstream_base(provider: ProviderId, config: &ProvidersConfig) -> String {
    match provider {
        ProviderId::Anthropic => config.anthropic.api_base.clone(),
        ProviderId::OpenAi => format!("{}/codex", config.openai.backend_base),
        ProviderId::GithubCopilot => config.github.copilot_api_base.clone(),
    }
}

/// Shapes a client request for upstream. `path_and_query` is what follows the gateway prefix
/// (`/v1/messages?beta=true` of `/anthropic/v1/messages?beta=true`), kept as sent.
pub fn shape_request(
    provider: ProviderId,
    config: &ProvidersConfig,
    inbound: &HeaderMap,
    path_and_query: &str,
    auth: UpstreamAuth<'_>,
) -> Result<ShapedRequest, ProviderError> {
    let base = match (provider, auth.api_base) {
        (ProviderId::GithubCopilot, Some(b)) if !b.is_empty() => b.to_owned(),
        _ => upstream_base(provider, config),
    };
    let path = if path_and_query.starts_with('/') || path_and_query.is_empty() {
        path_and_query.to_owned()
    } else {
        format!("/{path_and_query}")
    };
    let url = format!("{}{path}", base.trim_end_matches('/'));

    let mut headers = HeaderMap::with_capacity(inbound.len() + 2);
    // Headers named by `Connection` are hop-by-hop too.
    let named_by_connection: Vec<String> = inbound
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .collect();
    for (name, value) in inbound {
        let n = name.as_str();
        let drop = n == "authorization"
            || n == "x-api-key"
            || n == "host"
            || n == "content-length"
            || HOP_BY_HOP.contains(&n)
            || named_by_connection.iter().any(|c| c == n)
            || (provider == ProviderId::Anthropic && n == "anthropic-beta")
            || (provider == ProviderId::OpenAi && n == "chatgpt-account-id");
        if !drop {
            headers.append(name.clone(), value.clone());
        }
    }
    let bad = |what: &str| ProviderError::Config {
        url: String::new(),
        problem: format!("{what} is not a valid header value"),
    };
    let mut bearer = HeaderValue::from_str(&format!("Bearer {}", auth.bearer.expose()))
        .map_err(|_| bad("the access token"))?;
    bearer.set_sensitive(true);
    headers.insert(header::AUTHORIZATION, bearer);
    match provider {
        ProviderId::Anthropic => {
            if HeaderValue::from_str(&config.anthropic.oauth_beta).is_err() {
                return Err(bad("the configured anthropic-beta"));
            }
            headers.insert(
                HeaderName::from_static("anthropic-beta"),
                merged_beta(inbound, &config.anthropic.oauth_beta),
            );
        }
        ProviderId::OpenAi => {
            if let Some(id) = auth.account_id {
                headers.insert(
                    HeaderName::from_static("chatgpt-account-id"),
                    HeaderValue::from_str(id).map_err(|_| bad("the account id"))?,
                );
            }
        }
        ProviderId::GithubCopilot if auth.copilot_ide => {
            let g = &config.github;
            for (name, value) in [
                ("editor-version", &g.copilot_editor_version),
                ("editor-plugin-version", &g.copilot_editor_plugin_version),
                ("copilot-integration-id", &g.copilot_integration_id),
            ] {
                if value.is_empty() || headers.contains_key(name) {
                    continue;
                }
                headers.insert(
                    HeaderName::from_static(name),
                    HeaderValue::from_str(value).map_err(|_| bad(name))?,
                );
            }
        }
        ProviderId::GithubCopilot => {}
    }
    Ok(ShapedRequest { url, headers })
}

/// Every incoming `anthropic-beta` value (all header lines, in order, de-duplicated, bytes kept
/// as sent even when not ASCII) plus `oauth` when absent.
#[must_use]
pub fn merged_beta(inbound: &HeaderMap, oauth: &str) -> HeaderValue {
    let mut values: Vec<&[u8]> = Vec::new();
    for v in inbound.get_all("anthropic-beta") {
        for part in v.as_bytes().split(|b| *b == b',').map(<[u8]>::trim_ascii) {
            if !part.is_empty() && !values.contains(&part) {
                values.push(part);
            }
        }
    }
    if !values.contains(&oauth.as_bytes()) {
        values.push(oauth.as_bytes());
    }
    let joined = values.join(&b","[..]);
    // Parts of valid header values joined by commas are a valid header value.
    HeaderValue::from_bytes(&joined)
        .unwrap_or_else(|_| HeaderValue::from_static("oauth-2025-04-20"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        m
    }

    #[test]
    fn anthropic_strips_credentials_keeps_the_rest_and_adds_the_beta() {
        let c = ProvidersConfig::default();
        let inbound = h(&[
            ("x-api-key", "rota-local-token"),
            ("authorization", "Bearer rota-local-token"),
            ("host", "127.0.0.1:4141"),
            ("content-length", "12"),
            ("anthropic-version", "2023-06-01"),
            (
                "anthropic-beta",
                "claude-code-20250219,interleaved-thinking-2025-05-14",
            ),
            ("anthropic-beta", "context-1m-2025-08-07"),
            ("x-claude-code-session-id", "s1"),
            ("accept-encoding", "gzip, deflate, br, zstd"),
            ("connection", "keep-alive, x-drop-me"),
            ("x-drop-me", "1"),
        ]);
        let token = Secret::new("sk-ant-oat01-acct");
        let s = shape_request(
            ProviderId::Anthropic,
            &c,
            &inbound,
            "/v1/messages?beta=true",
            UpstreamAuth {
                bearer: &token,
                account_id: None,
                api_base: None,
                copilot_ide: false,
            },
        )
        .unwrap();
        assert_eq!(s.url, "https://api.anthropic.com/v1/messages?beta=true");
        assert_eq!(s.headers["authorization"], "Bearer sk-ant-oat01-acct");
        assert!(s.headers["authorization"].is_sensitive());
        assert!(s.headers.get("x-api-key").is_none());
        assert!(s.headers.get("host").is_none());
        assert!(s.headers.get("x-drop-me").is_none());
        assert_eq!(s.headers["anthropic-version"], "2023-06-01");
        assert_eq!(
            s.headers["anthropic-beta"],
            "claude-code-20250219,interleaved-thinking-2025-05-14,context-1m-2025-08-07,oauth-2025-04-20"
        );
        assert_eq!(s.headers["x-claude-code-session-id"], "s1");
        assert_eq!(s.headers["accept-encoding"], "gzip, deflate, br, zstd");
        assert!(!format!("{:?}", s.headers).contains("sk-ant-oat01-acct"));
    }

    #[test]
    fn beta_is_not_duplicated_and_added_when_absent() {
        assert_eq!(
            merged_beta(&HeaderMap::new(), "oauth-2025-04-20"),
            "oauth-2025-04-20"
        );
        let m = h(&[("anthropic-beta", "oauth-2025-04-20, x")]);
        assert_eq!(merged_beta(&m, "oauth-2025-04-20"), "oauth-2025-04-20,x");
        // Opaque (non-ASCII) values are kept byte for byte.
        let mut opaque = HeaderMap::new();
        opaque.insert(
            "anthropic-beta",
            HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap(),
        );
        assert_eq!(
            merged_beta(&opaque, "oauth-2025-04-20").as_bytes(),
            b"caf\xc3\xa9,oauth-2025-04-20"
        );
    }

    #[test]
    fn openai_and_copilot() {
        let c = ProvidersConfig::with_mock_base("http://127.0.0.1:9");
        let t = Secret::new("jwt");
        let s = shape_request(
            ProviderId::OpenAi,
            &c,
            &h(&[
                ("chatgpt-account-id", "spoofed"),
                ("authorization", "Bearer local"),
            ]),
            "/responses",
            UpstreamAuth {
                bearer: &t,
                account_id: Some("acct-1"),
                api_base: None,
                copilot_ide: false,
            },
        )
        .unwrap();
        assert_eq!(
            s.url,
            "http://127.0.0.1:9/openai/backend-api/codex/responses"
        );
        assert_eq!(s.headers["chatgpt-account-id"], "acct-1");
        assert_eq!(s.headers.get_all("chatgpt-account-id").iter().count(), 1);
        let s = shape_request(
            ProviderId::GithubCopilot,
            &c,
            &h(&[("editor-version", "vscode/1.99")]),
            "chat/completions",
            UpstreamAuth {
                bearer: &t,
                account_id: None,
                api_base: Some("http://copilot.example"),
                copilot_ide: true,
            },
        )
        .unwrap();
        assert_eq!(s.url, "http://copilot.example/chat/completions");
        assert_eq!(
            s.headers["editor-version"], "vscode/1.99",
            "the client's own wins"
        );
        assert_eq!(s.headers["copilot-integration-id"], "vscode-chat");
        assert_eq!(s.headers["editor-plugin-version"], "copilot-chat/0.31.0");
        assert_eq!(s.headers["authorization"], "Bearer jwt");
        // A GitHub token used directly (opencode's app) gets no IDE headers added.
        let s = shape_request(
            ProviderId::GithubCopilot,
            &c,
            &h(&[("user-agent", "opencode/1.18.33")]),
            "/chat/completions",
            UpstreamAuth {
                bearer: &t,
                account_id: None,
                api_base: None,
                copilot_ide: false,
            },
        )
        .unwrap();
        assert!(s.headers.get("editor-version").is_none());
        assert!(s.headers.get("copilot-integration-id").is_none());
    }
}
