//! The guard every request passes before any handler runs (docs/rules.md §5), in this order:
//! exact `Host` allow-list (DNS rebinding) → any `Origin` refused (browsers) → `OPTIONS` 405 (no
//! CORS, so no preflight can ever succeed) → Claude Code's unauthenticated `HEAD <base path>`
//! answered 200 → the credential (`Authorization: Bearer`, or `x-api-key` on proxy routes): this
//! run's `api.json` token or any connection's local key from the vault, compared in constant
//! time, the caller kept in the request's extensions → `Content-Type: application/json` for
//! POST/PATCH/DELETE on `/auth/*`.
//!
//! Refusals never echo request headers back (they may carry a token).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rota_types::{ErrorCode, ProviderId};
use subtle::ConstantTimeEq;

use crate::Gateway;
use crate::error::HttpError;

/// The provider of a proxy path and the rest after its prefix (`/anthropic/v1/x` →
/// `(Anthropic, "/v1/x")`).
pub(crate) fn proxy_route(path: &str) -> Option<(ProviderId, &str)> {
    let trimmed = path.strip_prefix('/')?;
    let (first, _) = trimmed.split_once('/').unwrap_or((trimmed, ""));
    let provider = ProviderId::parse(first)?;
    Some((provider, &path[1 + first.len()..]))
}

/// Whether `host` is one of the three loopback spellings with our port.
pub(crate) fn host_allowed(host: Option<&str>, port: u16) -> bool {
    let Some(host) = host else { return false };
    ["127.0.0.1", "localhost", "[::1]"].iter().any(|h| {
        host.strip_prefix(h)
            .and_then(|r| r.strip_prefix(':'))
            .is_some_and(|p| port_is(p, port))
    })
}

/// `text` is exactly `port` in decimal (no sign, no leading zero), without formatting `port`
/// on every request.
fn port_is(text: &str, port: u16) -> bool {
    !text.is_empty()
        && text.len() <= 5
        && text.bytes().all(|b| b.is_ascii_digit())
        && !(text.len() > 1 && text.starts_with('0'))
        && text.parse::<u16>() == Ok(port)
}

fn presented_token(headers: &HeaderMap, allow_api_key: bool) -> Option<&[u8]> {
    if let Some(v) = headers.get(header::AUTHORIZATION) {
        let v = v.as_bytes();
        if v.len() > 7 && v[..7].eq_ignore_ascii_case(b"bearer ") {
            return Some(&v[7..]);
        }
    }
    if allow_api_key {
        return headers.get("x-api-key").map(http::HeaderValue::as_bytes);
    }
    None
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

/// Who a request came from: a program holding this run's `api.json` token, or a tool through
/// its connection's stable local key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Caller {
    Program,
    Connection(String),
}

impl Caller {
    pub(crate) fn connection(&self) -> Option<&str> {
        match self {
            Self::Program => None,
            Self::Connection(c) => Some(c),
        }
    }
}

/// The caller whose credential `presented` is: this run's API token or any local key in the
/// vault (revoked keys are gone from it). Every candidate is compared in constant time.
fn identify(gw: &Gateway, presented: &[u8]) -> Option<Caller> {
    let shared = &gw.shared;
    let mut found = bool::from(presented.ct_eq(shared.token.as_bytes())).then_some(Caller::Program);
    match shared.view.current() {
        Ok(snap) => {
            for (connection, key) in rota_store::local_keys(&snap.vault) {
                if bool::from(presented.ct_eq(key.expose().as_bytes())) && found.is_none() {
                    found = Some(Caller::Connection(connection.to_owned()));
                }
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the local keys; only api.json's token is accepted");
        }
    }
    found
}

pub(crate) async fn guard(State(gw): State<Gateway>, mut req: Request, next: Next) -> Response {
    match admit(&gw, &mut req) {
        Some(answer) => answer,
        None => next.run(req).await,
    }
}

/// The guard's checks: `Some(answer)` when the request is answered here (refused, or Claude
/// Code's probe), `None` when it may go on to its handler. Shared by the router's middleware
/// and the server's direct proxy path.
pub(crate) fn admit(gw: &Gateway, req: &mut Request) -> Option<Response> {
    let shared = &gw.shared;
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().authority().map(http::uri::Authority::as_str));
    if !host_allowed(host, shared.port()) {
        return Some(
            HttpError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::Forbidden,
                "this Host is not allowed; use 127.0.0.1, localhost or [::1] with the gateway's port",
            )
            .into_response(),
        );
    }
    if req.headers().contains_key(header::ORIGIN) {
        return Some(
            HttpError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::Forbidden,
                "requests from web pages (with an Origin) are not allowed",
            )
            .into_response(),
        );
    }
    if req.method() == Method::OPTIONS {
        return Some(
            HttpError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                ErrorCode::InvalidInput,
                "OPTIONS is not supported (no CORS)",
            )
            .into_response(),
        );
    }
    let path = req.uri().path();
    let proxy = proxy_route(path);
    // Claude Code probes its base URL with an unauthenticated HEAD before the first request;
    // answering it locally keeps the client happy and sends nothing upstream.
    if req.method() == Method::HEAD && proxy.is_some_and(|(_, rest)| rest.is_empty() || rest == "/")
    {
        return Some((StatusCode::OK, Body::empty()).into_response());
    }
    let is_proxy = proxy.is_some();
    let is_auth = path.starts_with("/auth/");
    if path != "/healthz" {
        let caller = presented_token(req.headers(), is_proxy).and_then(|t| identify(gw, t));
        if let Some(caller) = caller {
            req.extensions_mut().insert(caller);
        } else {
            return Some(
                HttpError::new(
                    StatusCode::UNAUTHORIZED,
                    ErrorCode::Unauthorized,
                    "missing, wrong or revoked local key: run `rota connect <tool>` (or `rota env`) \
                     to set up a key, or use the token in api.json",
                )
                .into_response(),
            );
        }
    }
    if is_auth
        && matches!(*req.method(), Method::POST | Method::PATCH | Method::DELETE)
        && !is_json(req.headers())
    {
        return Some(
            HttpError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::InvalidInput,
                "Content-Type must be application/json",
            )
            .into_response(),
        );
    }
    // The local credentials are never needed past this point; mark them sensitive so no layer
    // below can print them.
    for name in [
        header::AUTHORIZATION,
        header::HeaderName::from_static("x-api-key"),
    ] {
        if let Some(v) = req.headers_mut().get_mut(&name) {
            v.set_sensitive(true);
        }
    }
    shared.admitted();
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert!(host_allowed(Some("127.0.0.1:4141"), 4141));
        assert!(host_allowed(Some("localhost:4141"), 4141));
        assert!(host_allowed(Some("[::1]:4141"), 4141));
        assert!(!host_allowed(Some("127.0.0.1:4142"), 4141));
        assert!(!host_allowed(Some("127.0.0.1"), 4141));
        assert!(!host_allowed(Some("evil.com:4141"), 4141));
        assert!(!host_allowed(Some("localhost.evil.com:4141"), 4141));
        assert!(!host_allowed(None, 4141));
        assert!(!host_allowed(Some("127.0.0.1:04141"), 4141));
        assert!(!host_allowed(Some("127.0.0.1:+4141"), 4141));
        assert!(!host_allowed(Some("127.0.0.1:"), 4141));
        assert!(!host_allowed(Some("127.0.0.1:41410"), 4141));
        assert!(host_allowed(Some("localhost:80"), 80));
    }

    #[test]
    fn routes() {
        assert_eq!(
            proxy_route("/anthropic/v1/messages"),
            Some((ProviderId::Anthropic, "/v1/messages"))
        );
        assert_eq!(proxy_route("/anthropic"), Some((ProviderId::Anthropic, "")));
        assert_eq!(
            proxy_route("/github-copilot/chat/completions"),
            Some((ProviderId::GithubCopilot, "/chat/completions"))
        );
        assert_eq!(proxy_route("/auth/usage"), None);
        assert_eq!(proxy_route("/anthropicx/v1"), None);
    }
}
