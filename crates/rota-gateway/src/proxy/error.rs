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
    /// The status, the Anthropic error type and the code: the answer's table row.
    #[rustfmt::skip]
    fn head(&self) -> (StatusCode, &'static str, Code) {
        use Code::{Proxy, Rota};
        use StatusCode as S;
        let invalid = "invalid_request_error";
        match self {
            Self::NoRoute =>                    (S::NOT_FOUND, "not_found_error", Rota(ErrorCode::NotFound)),
            Self::ClientRefused { .. } =>       (S::FORBIDDEN, "permission_error", Proxy("client_not_allowed")),
            Self::BodyUnreadable
            | Self::CannotShape =>              (S::BAD_REQUEST, invalid, Rota(ErrorCode::InvalidInput)),
            Self::BodyIdle =>                   (S::REQUEST_TIMEOUT, invalid, Proxy("timeout")),
            Self::PoolUnreadable =>             (S::INTERNAL_SERVER_ERROR, "api_error", Rota(ErrorCode::Internal)),
            Self::NoCandidate { reason, .. } => no_candidate_head(reason),
            Self::NoUpstreamHeaders { .. } =>   (S::GATEWAY_TIMEOUT, "api_error", Proxy("upstream_timeout")),
            Self::UpstreamUnreachable =>        (S::BAD_GATEWAY, "api_error", Proxy("upstream_unreachable")),
            Self::LoginRefused =>               (S::UNAUTHORIZED, "authentication_error", Rota(ErrorCode::Unauthorized)),
            Self::BilledAsExtraUsage { .. } =>  (S::BAD_REQUEST, invalid, Proxy("third_party_billing")),
            Self::Busy { .. } =>                (S::SERVICE_UNAVAILABLE, "overloaded_error", Proxy("busy")),
        }
    }

    /// What the client reads: what happened and what to do.
    fn message(&self) -> String {
        match self {
            Self::NoRoute => "no such route".into(),
            Self::ClientRefused { user_agent } => client_refused_message(user_agent.as_deref()),
            Self::BodyUnreadable => "the request body could not be read".into(),
            Self::BodyIdle => "the request body stopped arriving".into(),
            Self::PoolUnreadable => "the gateway cannot read its account pool".into(),
            Self::NoCandidate {
                reason,
                utc_offset_minutes,
                ..
            } => no_candidate_message(reason, *utc_offset_minutes),
            Self::CannotShape => "the request cannot be forwarded (invalid header value)".into(),
            Self::NoUpstreamHeaders { waited } => format!(
                "the provider sent no response within {} s (gateway.upstream_header_timeout_secs in config.toml)",
                waited.as_secs()
            ),
            Self::UpstreamUnreachable => {
                "the provider could not be reached (the request was too large to retry)".into()
            }
            Self::LoginRefused => "the account's login was refused; log in again".into(),
            Self::BilledAsExtraUsage { upstream_message } => {
                billed_message(upstream_message.as_deref())
            }
            Self::Busy { limit } => format!(
                "the Rota gateway has too many open connections (limit {limit}); retry shortly"
            ),
        }
    }

    /// The HTTP status of the answer (what the session log records).
    pub(crate) fn status(&self) -> StatusCode {
        self.head().0
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
        let (status, kind, code) = self.head();
        let message = self.message();
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

/// Refused logins are no rate limit: a client must not read them as one.
#[rustfmt::skip]
fn no_candidate_head(nc: &NoCandidate) -> (StatusCode, &'static str, Code) {
    use Code::Proxy;
    use StatusCode as S;
    let limited = "rate_limit_error";
    match nc {
        NoCandidate::AllCoolingDown { cause: CoolingCause::Refused, .. }
                                             => (S::SERVICE_UNAVAILABLE, "api_error", Proxy("all_accounts_need_login")),
        NoCandidate::AllCoolingDown { .. }   => (S::TOO_MANY_REQUESTS, limited, Proxy("all_accounts_rate_limited")),
        NoCandidate::ModelCapped { .. }      => (S::TOO_MANY_REQUESTS, limited, Proxy("model_limit_reached")),
        NoCandidate::PlanLimitsUsedUp { .. } => (S::TOO_MANY_REQUESTS, limited, Proxy("plan_limits_reached")),
        NoCandidate::NoAccounts { .. }       => (S::SERVICE_UNAVAILABLE, "api_error", Proxy("no_accounts")),
        NoCandidate::Exhausted { .. }        => (S::BAD_GATEWAY, "api_error", Proxy("all_accounts_failed")),
    }
}

/// rota-core's words, with the way out where the user has one.
fn no_candidate_message(nc: &NoCandidate, utc_offset_minutes: i32) -> String {
    let message = nc.message(utc_offset_minutes);
    match nc {
        NoCandidate::AllCoolingDown {
            cause: CoolingCause::Refused,
            ..
        } => format!("{message}; log in again with `rota auth login` or the Rota app"),
        NoCandidate::NoAccounts { .. } => {
            format!("{message}; log in with `rota` or the Rota app first")
        }
        _ => message,
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

#[cfg(test)]
mod tests {
    use rota_types::ProviderId;
    use serde_json::{Value, json};

    use super::*;

    const NOW: UnixMs = 1_800_000_000_000;

    /// Status, body, `retry-after` and `x-should-retry` as the client sees them.
    async fn wire(e: ProxyError) -> (u16, Value, Option<String>, Option<String>) {
        let resp = e.into_response();
        let header = |name| {
            resp.headers()
                .get(name)
                .map(|v: &HeaderValue| v.to_str().unwrap().to_owned())
        };
        let (after, retry) = (header("retry-after"), header("x-should-retry"));
        let status = resp.status().as_u16();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, serde_json::from_slice(&body).unwrap(), after, retry)
    }

    fn body(kind: &str, code: &str, message: &str) -> Value {
        json!({ "type": "error", "error": { "type": kind, "code": code, "message": message } })
    }

    fn none_left(reason: NoCandidate) -> ProxyError {
        ProxyError::NoCandidate {
            reason,
            now: NOW,
            utc_offset_minutes: 0,
        }
    }

    /// Every answer the gateway gives itself: the status and code a client branches on, a
    /// message that says what to do, and when to come back where the wait is known.
    #[tokio::test]
    #[rustfmt::skip] // one row an answer reads as the table it checks
    async fn every_answer_keeps_its_status_code_and_retry_headers() {
        let p = ProviderId::Anthropic;
        let cooling = |cause, until| none_left(NoCandidate::AllCoolingDown { provider: p, count: 2, until, cause });
        let capped = NoCandidate::ModelCapped { provider: p, model: "claude-fable-4-5".into(), until: UnixMs::MAX };
        let (billed, refused) = (billed_message(None), client_refused_message(None));
        let (yes, no) = (Some("true"), Some("false"));
        let cases = [
            (ProxyError::NoRoute, 404, "not_found_error", "not_found", "no such route", None, None),
            (ProxyError::BodyUnreadable, 400, "invalid_request_error", "invalid_input", "the request body could not be read", None, None),
            (ProxyError::BodyIdle, 408, "invalid_request_error", "timeout", "the request body stopped arriving", None, None),
            (ProxyError::PoolUnreadable, 500, "api_error", "internal", "the gateway cannot read its account pool", None, None),
            (ProxyError::CannotShape, 400, "invalid_request_error", "invalid_input", "the request cannot be forwarded (invalid header value)", None, None),
            (ProxyError::NoUpstreamHeaders { waited: Duration::from_secs(90) }, 504, "api_error", "upstream_timeout",
                "the provider sent no response within 90 s (gateway.upstream_header_timeout_secs in config.toml)", None, None),
            (ProxyError::UpstreamUnreachable, 502, "api_error", "upstream_unreachable",
                "the provider could not be reached (the request was too large to retry)", None, None),
            (ProxyError::LoginRefused, 401, "authentication_error", "unauthorized", "the account's login was refused; log in again", None, None),
            (ProxyError::Busy { limit: 64 }, 503, "overloaded_error", "busy",
                "the Rota gateway has too many open connections (limit 64); retry shortly", Some("1"), yes),
            // A short wait: come back then, rounded up to whole seconds.
            (cooling(CoolingCause::RateLimited, NOW + 1), 429, "rate_limit_error", "all_accounts_rate_limited",
                "all 2 anthropic accounts are rate-limited until 08:00 UTC", Some("1"), yes),
            // Over a minute: clients must not retry by themselves.
            (cooling(CoolingCause::Refused, NOW + 3_600_001), 503, "api_error", "all_accounts_need_login",
                "all 2 anthropic accounts were refused by the provider and need a new login; they are tried again \
                 until 09:00 UTC; log in again with `rota auth login` or the Rota app", Some("3601"), no),
            (none_left(NoCandidate::NoAccounts { provider: p }), 503, "api_error", "no_accounts",
                "no anthropic account is configured; log in with `rota` or the Rota app first", None, no),
            (none_left(NoCandidate::Exhausted { provider: p, count: 2 }), 502, "api_error", "all_accounts_failed",
                "every anthropic account failed this request", None, no),
            (none_left(capped), 429, "rate_limit_error", "model_limit_reached",
                "the usage limit for claude-fable-4-5 is used up on every anthropic account; other models are still served", None, no),
            (ProxyError::BilledAsExtraUsage { upstream_message: None }, 400, "invalid_request_error", "third_party_billing", &billed, None, no),
            (ProxyError::ClientRefused { user_agent: None }, 403, "permission_error", "client_not_allowed", &refused, None, no),
        ];
        for (error, status, kind, code, message, after, retry) in cases {
            let name = format!("{error:?}");
            assert_eq!(error.status().as_u16(), status, "the session log records the status sent: {name}");
            let expect = (status, body(kind, code, message), after.map(str::to_owned), retry.map(str::to_owned));
            assert_eq!(wire(error).await, expect, "{name}");
        }
    }
}
