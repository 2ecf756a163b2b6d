//! Every answer the proxy gives its client itself (rather than an upstream's), in a shape every
//! SDK reads: Anthropic's `{"type": "error", "error": {"type", "message"}}` envelope (OpenAI's
//! SDKs read `error.message` and `error.type` from it too) plus Rota's `error.code`.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rota_core::{CoolingCause, NoCandidate};
use rota_types::{ErrorCode, UnixMs};

/// Why the gateway answers a proxied request itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProxyError {
    /// The path names no provider route.
    NoRoute,
    /// The Anthropic route serves only the clients `providers.anthropic.clients` allows.
    ClientRefused { user_agent: Option<String> },
    /// The request body failed while it was read.
    BodyUnreadable,
    /// The request body stopped arriving for the idle bound.
    BodyIdle,
    /// The in-memory pool could not be (re)read.
    PoolUnreadable,
    /// No account can take the request; the clock and the caller's time zone name the wait.
    NoCandidate {
        reason: NoCandidate,
        now: UnixMs,
        utc_offset_minutes: i32,
    },
    /// A client header cannot go upstream (not a valid header value).
    CannotShape,
    /// The provider accepted the request and sent no response headers within the bound. Not
    /// replayed on another account: the provider may still be working on it (and billing it).
    NoUpstreamHeaders { waited: Duration },
    /// The provider could not be reached and the body was too large to keep for a replay.
    UpstreamUnreachable,
    /// A 401 whose refresh failed, with no other account to try.
    LoginRefused,
    /// The guard: Anthropic billed the request as a third-party app's extra usage (its 400
    /// replaced by what happened and what to do). `upstream_message` is Anthropic's words.
    BilledAsExtraUsage { upstream_message: Option<String> },
    /// The connection limit is reached (answered before the request is read).
    Busy { limit: usize },
}

/// The `error.code` of a body: rota-types' code where the answer is one of Rota's edge errors,
/// else the proxy's own, which names what a client can do about it.
enum Code {
    Rota(ErrorCode),
    Proxy(&'static str),
}

impl ProxyError {
    /// Status, the Anthropic error type, the code and the message.
    fn parts(&self) -> (StatusCode, &'static str, Code, String) {
        use Code::{Proxy, Rota};
        match self {
            Self::NoRoute => (
                StatusCode::NOT_FOUND,
                "not_found_error",
                Rota(ErrorCode::NotFound),
                "no such route".into(),
            ),
            Self::ClientRefused { user_agent } => (
                StatusCode::FORBIDDEN,
                "permission_error",
                Proxy("client_not_allowed"),
                client_refused_message(user_agent.as_deref()),
            ),
            Self::BodyUnreadable => (
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Rota(ErrorCode::InvalidInput),
                "the request body could not be read".into(),
            ),
            Self::BodyIdle => (
                StatusCode::REQUEST_TIMEOUT,
                "invalid_request_error",
                Proxy("timeout"),
                "the request body stopped arriving".into(),
            ),
            Self::PoolUnreadable => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "api_error",
                Rota(ErrorCode::Internal),
                "the gateway cannot read its account pool".into(),
            ),
            Self::NoCandidate {
                reason,
                utc_offset_minutes,
                ..
            } => no_candidate_parts(reason, *utc_offset_minutes),
            Self::CannotShape => (
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Rota(ErrorCode::InvalidInput),
                "the request cannot be forwarded (invalid header value)".into(),
            ),
            Self::NoUpstreamHeaders { waited } => (
                StatusCode::GATEWAY_TIMEOUT,
                "api_error",
                Proxy("upstream_timeout"),
                format!(
                    "the provider sent no response within {} s (gateway.upstream_header_timeout_secs in config.toml)",
                    waited.as_secs()
                ),
            ),
            Self::UpstreamUnreachable => (
                StatusCode::BAD_GATEWAY,
                "api_error",
                Proxy("upstream_unreachable"),
                "the provider could not be reached (the request was too large to retry)".into(),
            ),
            Self::LoginRefused => (
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                Rota(ErrorCode::Unauthorized),
                "the account's login was refused; log in again".into(),
            ),
            Self::BilledAsExtraUsage { upstream_message } => (
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Proxy("third_party_billing"),
                billed_message(upstream_message.as_deref()),
            ),
            Self::Busy { limit } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded_error",
                Proxy("busy"),
                format!(
                    "the Rota gateway has too many open connections (limit {limit}); retry shortly"
                ),
            ),
        }
    }

    /// The HTTP status of the answer (what the session log records).
    pub(crate) fn status(&self) -> StatusCode {
        self.parts().0
    }

    /// `retry-after` seconds and `x-should-retry`, where the answer says when to come back.
    fn retry(&self) -> (Option<i64>, Option<bool>) {
        match self {
            Self::NoCandidate { reason, now, .. } => {
                let secs = |ms: i64| (ms.saturating_add(999) / 1000).max(1);
                let after = match reason {
                    // Cooling down always names its end, even one already past.
                    NoCandidate::AllCoolingDown { .. } => {
                        Some(secs(reason.retry_after_ms(*now).unwrap_or(0)))
                    }
                    _ => reason.retry_after_ms(*now).map(secs),
                };
                (after, Some(reason.should_retry(*now)))
            }
            Self::ClientRefused { .. } | Self::BilledAsExtraUsage { .. } => (None, Some(false)),
            Self::Busy { .. } => (Some(1), Some(true)),
            _ => (None, None),
        }
    }
}

impl IntoResponse for ProxyError {
    fn into_response(self) -> Response {
        let (status, kind, code, message) = self.parts();
        let code = match code {
            Code::Rota(c) => serde_json::json!(c),
            Code::Proxy(c) => serde_json::json!(c),
        };
        let body = serde_json::json!({
            "type": "error",
            "error": { "type": kind, "code": code, "message": message },
        });
        let mut resp = (status, Json(body)).into_response();
        let (after, should_retry) = self.retry();
        let headers = resp.headers_mut();
        if let Some(secs) = after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(yes) = should_retry {
            headers.insert(
                "x-should-retry",
                HeaderValue::from_static(if yes { "true" } else { "false" }),
            );
        }
        resp
    }
}

fn no_candidate_parts(
    nc: &NoCandidate,
    utc_offset_minutes: i32,
) -> (StatusCode, &'static str, Code, String) {
    let message = nc.message(utc_offset_minutes);
    match nc {
        // Refused logins are no rate limit: a client must not read them as one.
        NoCandidate::AllCoolingDown { cause, .. } if *cause == CoolingCause::Refused => (
            StatusCode::SERVICE_UNAVAILABLE,
            "api_error",
            Code::Proxy("all_accounts_need_login"),
            format!("{message}; log in again with `rota auth login` or the Rota app"),
        ),
        NoCandidate::AllCoolingDown { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            Code::Proxy("all_accounts_rate_limited"),
            message,
        ),
        NoCandidate::ModelCapped { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            Code::Proxy("model_limit_reached"),
            message,
        ),
        NoCandidate::PlanLimitsUsedUp { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            Code::Proxy("plan_limits_reached"),
            message,
        ),
        NoCandidate::NoAccounts { .. } => (
            StatusCode::SERVICE_UNAVAILABLE,
            "api_error",
            Code::Proxy("no_accounts"),
            format!("{message}; log in with `rota` or the Rota app first"),
        ),
        NoCandidate::Exhausted { .. } => (
            StatusCode::BAD_GATEWAY,
            "api_error",
            Code::Proxy("all_accounts_failed"),
            message,
        ),
    }
}

/// Names the setting, how to change it, and why it exists (a 403 `permission_error`, which
/// clients do not retry).
fn client_refused_message(user_agent: Option<&str>) -> String {
    let who = user_agent.map_or_else(
        || "a request without a User-Agent".to_owned(),
        |ua| format!("User-Agent {:?}", ua.chars().take(80).collect::<String>()),
    );
    format!(
        "Rota's Anthropic route serves only Claude Code ({who} is another client): Anthropic \
         bills subscription traffic it identifies as a third-party app's as paid extra usage, \
         not the plan. To serve other clients anyway, at that risk: `rota auth clients \
         anthropic any`, the \"Serve other clients\" switch on the Anthropic page of the Rota \
         app, or [providers.anthropic] clients = \"any\" in config.toml \
         (ROTA_ANTHROPIC_CLIENTS=any)."
    )
}

/// What happened, that it was not retried elsewhere, and what to do.
fn billed_message(upstream_message: Option<&str>) -> String {
    let said = upstream_message
        .map(|m| {
            format!(
                " (Anthropic: \"{}\")",
                m.chars().take(300).collect::<String>()
            )
        })
        .unwrap_or_default();
    format!(
        "Anthropic took this request for a third-party app's and bills such traffic as paid \
         extra usage, not the plan{said}. Rota did not retry it on another account (each \
         would be billed the same) and marked the account. Send Anthropic requests from \
         Claude Code itself, or use hand-off mode (`rota auth handoff anthropic on`); \
         [providers.anthropic] plan_limits_only = false turns this guard off."
    )
}
