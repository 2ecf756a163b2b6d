//! GitHub Copilot: device flow, Copilot token exchange, quota (`copilot_internal/user`) and chat
//! completions. Served under `/github`, which replaces `https://github.com`,
//! `https://api.github.com` and `https://api.githubcopilot.com`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Datelike as _;
use rota_types::ProviderId;
use serde::Deserialize;
use serde_json::json;

use crate::anthropic::{custom, is_error_behavior};
use crate::model::{Behavior, Quota, Scope, Usage};
use crate::respond::{self, Delivery, sse_data, tag};
use crate::state::{Admitted, AuthFail, DevicePoll, Shared};
use crate::util;

const P: ProviderId = ProviderId::GithubCopilot;
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/login/device/code", post(device_code))
        .route("/login/oauth/access_token", post(access_token))
        .route("/login/device", get(device_page))
        .route("/copilot_internal/v2/token", get(copilot_token))
        .route("/copilot_internal/user", get(copilot_user))
        .route("/chat/completions", post(chat_completions))
}

/// GitHub answers JSON when asked (`Accept: application/json`), else form-encoded.
fn oauth_reply(headers: &HeaderMap, v: &serde_json::Value) -> Response {
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("json"));
    if wants_json {
        return respond::json(StatusCode::OK, v);
    }
    let pairs: Vec<(String, String)> = v
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let mut r = serde_urlencoded::to_string(pairs)
        .unwrap_or_default()
        .into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
    );
    r
}

fn oauth_error(headers: &HeaderMap, code: &str, desc: &str) -> Response {
    oauth_reply(
        headers,
        &json!({
            "error": code,
            "error_description": desc,
            "error_uri": "https://docs.github.com/developers/apps/authorizing-oauth-apps#error-codes-for-the-device-flow",
        }),
    )
}

fn client_ok(s: &Shared, client_id: &str) -> bool {
    !client_id.is_empty()
        && (s.config.github_client_ids.is_empty()
            || s.config.github_client_ids.iter().any(|c| c == client_id))
}

async fn device_code(
    State(s): State<Arc<Shared>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = util::params(q.as_deref(), &headers, &body);
    let client_id = p.get("client_id").map(String::as_str).unwrap_or_default();
    if !client_ok(&s, client_id) {
        let mut r = oauth_error(
            &headers,
            "unauthorized_client",
            "The client_id is not valid.",
        );
        *r.status_mut() = StatusCode::BAD_REQUEST;
        return r;
    }
    let (info, interval, expires_in) = s.device_start(P, client_id);
    oauth_reply(
        &headers,
        &json!({
            "device_code": info.device_code,
            "user_code": info.user_code,
            "verification_uri": format!("{}/login/device", s.urls.github),
            "expires_in": expires_in,
            "interval": interval,
        }),
    )
}

async fn access_token(
    State(s): State<Arc<Shared>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = util::params(q.as_deref(), &headers, &body);
    let get = |k: &str| p.get(k).map(String::as_str).unwrap_or_default();
    if get("grant_type") != DEVICE_GRANT {
        return oauth_error(
            &headers,
            "unsupported_grant_type",
            "The grant type is not supported.",
        );
    }
    if !client_ok(&s, get("client_id")) {
        return oauth_error(
            &headers,
            "incorrect_client_credentials",
            "The client_id is not valid.",
        );
    }
    match s.device_poll(P, get("device_code"), Some(get("client_id"))) {
        DevicePoll::Unknown => oauth_error(
            &headers,
            "incorrect_device_code",
            "The device_code provided is not valid.",
        ),
        DevicePoll::Pending => oauth_error(
            &headers,
            "authorization_pending",
            "The authorization request is still pending.",
        ),
        DevicePoll::SlowDown(interval) => {
            let mut v = json!({
                "error": "slow_down",
                "error_description": "Too many requests have been made in the same timeframe.",
                "error_uri": "https://docs.github.com/developers/apps/authorizing-oauth-apps#error-codes-for-the-device-flow",
            });
            v["interval"] = json!(interval);
            oauth_reply(&headers, &v)
        }
        DevicePoll::Expired => {
            oauth_error(&headers, "expired_token", "The device_code has expired.")
        }
        DevicePoll::Denied => oauth_error(
            &headers,
            "access_denied",
            "The authorization request was denied.",
        ),
        DevicePoll::GithubApproved(t) => tag(
            oauth_reply(
                &headers,
                &json!({"access_token": t.access, "token_type": "bearer", "scope": "read:user"}),
            ),
            Some(&t.account.id),
            None,
        ),
        DevicePoll::OpenAiApproved(..) => {
            oauth_error(&headers, "incorrect_device_code", "Wrong provider.")
        }
    }
}

async fn device_page(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    crate::openai::device_approval_page(&s, P, &q)
}

fn token_from(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    v.strip_prefix("token ")
        .or_else(|| v.strip_prefix("Bearer "))
        .or_else(|| v.strip_prefix("bearer "))
        .map(str::trim)
}

fn gh_error(status: StatusCode, message: &str) -> Response {
    respond::json(
        status,
        &json!({"message": message, "documentation_url": "https://docs.github.com/rest", "status": status.as_u16().to_string()}),
    )
}

fn copilot_error(status: StatusCode, code: &str, message: &str) -> Response {
    respond::json(
        status,
        &json!({"error": {"message": message, "code": code}}),
    )
}

pub(crate) fn behavior_response(b: &Behavior, u: &Usage, now: i64) -> Response {
    let limited = "Sorry, you have been rate-limited. Please wait a moment before trying again.";
    match b {
        Behavior::RateLimit {
            reset_in_seconds, ..
        }
        | Behavior::ModelCap { reset_in_seconds } => {
            let mut r = copilot_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited", limited);
            respond::set_header(
                r.headers_mut(),
                "retry-after",
                &reset_in_seconds.max(&0).to_string(),
            );
            respond::set_header(
                r.headers_mut(),
                "x-ratelimit-reset",
                &(now + reset_in_seconds).to_string(),
            );
            r
        }
        Behavior::RateLimitRetryAfter { seconds } => {
            let mut r = copilot_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited", limited);
            respond::set_header(r.headers_mut(), "retry-after", &seconds.to_string());
            r
        }
        Behavior::RateLimitNoReset => {
            copilot_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited", limited)
        }
        Behavior::RateLimitTransient => copilot_error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "We are temporarily limiting requests. Please try again later.",
        ),
        Behavior::ExtraUsageRequired => copilot_error(
            StatusCode::TOO_MANY_REQUESTS,
            "quota_exceeded",
            "You have exceeded your premium request allowance.",
        ),
        Behavior::UsageLimitReached { resets_in_seconds } => {
            crate::openai::usage_limit_response(u, "copilot", now, *resets_in_seconds)
        }
        Behavior::Unauthorized => copilot_error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "unauthorized: token expired",
        ),
        Behavior::ServerError => copilot_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Internal server error",
        ),
        Behavior::Overloaded => copilot_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "Service is overloaded",
        ),
        Behavior::Status {
            status,
            body,
            headers,
        } => custom(*status, body.as_ref(), headers),
        Behavior::Latency { .. }
        | Behavior::SlowStream { .. }
        | Behavior::Stall { .. }
        | Behavior::Cut { .. } => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

#[allow(clippy::result_large_err)] // the error is the finished axum response handlers return
fn auth(s: &Shared, headers: &HeaderMap, endpoint: Scope) -> Result<Admitted, Response> {
    s.admit(P, token_from(headers), endpoint)
        .map_err(|e| match e {
            AuthFail::Missing => gh_error(StatusCode::UNAUTHORIZED, "Requires authentication"),
            AuthFail::Unknown => gh_error(StatusCode::UNAUTHORIZED, "Bad credentials"),
            AuthFail::Expired => gh_error(StatusCode::UNAUTHORIZED, "Token expired"),
        })
}

async fn apply_script(s: &Shared, a: &Admitted) -> Option<Response> {
    let b = a.behavior.as_ref()?;
    if is_error_behavior(Some(b)) {
        return Some(tag(
            behavior_response(b, &a.usage, s.now()),
            Some(&a.account),
            Some(b),
        ));
    }
    Delivery::new(Some(b), s.config.chunk_delay()).wait().await;
    None
}

async fn copilot_token(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let (a, issued) = match s.copilot_token(token_from(&headers)) {
        Ok(v) => v,
        Err(e) => {
            return gh_error(
                StatusCode::UNAUTHORIZED,
                if e == AuthFail::Missing {
                    "Requires authentication"
                } else {
                    "Bad credentials"
                },
            );
        }
    };
    if let Some(r) = apply_script(&s, &a).await {
        return r;
    }
    if a.copilot_direct {
        // GitHub answers 404 to a token of an app Copilot does not exchange for.
        return tag(
            gh_error(StatusCode::NOT_FOUND, "Not Found"),
            Some(&a.account),
            None,
        );
    }
    let Some((token, expires_at)) = issued else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let ttl = s.config.copilot_token_ttl;
    let body = json!({
        "token": token,
        "expires_at": expires_at,
        "refresh_in": (ttl - 300).max(ttl / 2),
        "endpoints": {
            "api": s.urls.github,
            "origin-tracker": format!("{}/origin-tracker", s.urls.github),
            "proxy": format!("{}/proxy", s.urls.github),
            "telemetry": format!("{}/telemetry", s.urls.github),
        },
        "sku": "copilot_individual_pro",
        "chat_enabled": true,
        "individual": true,
        "tracking_id": util::random_hex(32),
    });
    tag(respond::json(StatusCode::OK, &body), Some(&a.account), None)
}

fn quota_json(id: &str, q: Quota, now: i64) -> serde_json::Value {
    json!({
        "entitlement": q.entitlement,
        "remaining": q.remaining,
        "quota_remaining": q.remaining as f64,
        "percent_remaining": q.percent_remaining(),
        "unlimited": q.unlimited,
        "overage_count": q.overage_count,
        "overage_permitted": q.overage_permitted,
        "quota_id": id,
        "timestamp_utc": util::iso(now),
    })
}

/// The quota id the mock reports AI credits under.
const CREDITS_ID: &str = "ai_credits";

/// `x-quota-snapshot-<quota_id>`: the quota as a URL-encoded query (`ent` entitlement, -1 when
/// unlimited; `ov` overage used; `ovPerm` overage permitted; `rem` percent remaining; `rst`
/// reset time).
fn quota_header(q: Quota, reset: &str) -> String {
    serde_urlencoded::to_string([
        (
            "ent",
            if q.unlimited {
                "-1".to_owned()
            } else {
                q.entitlement.to_string()
            },
        ),
        ("ov", format!("{:.1}", q.overage_count as f64)),
        ("ovPerm", q.overage_permitted.to_string()),
        ("rem", format!("{:.1}", q.percent_remaining())),
        ("rst", format!("{reset}T00:00:00Z")),
    ])
    .unwrap_or_default()
}

fn next_month(now: i64) -> String {
    let d = chrono::DateTime::from_timestamp(now, 0)
        .unwrap_or_default()
        .date_naive();
    let (y, m) = if d.month() == 12 {
        (d.year() + 1, 1)
    } else {
        (d.year(), d.month() + 1)
    };
    format!("{y:04}-{m:02}-01")
}

async fn copilot_user(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let a = match auth(&s, &headers, Scope::Usage) {
        Ok(a) => a,
        Err(r) => return r,
    };
    if let Some(r) = apply_script(&s, &a).await {
        return r;
    }
    let now = s.now();
    let u = &a.usage;
    let reset = u
        .quota_reset_date
        .clone()
        .unwrap_or_else(|| next_month(now));
    let body = json!({
        "login": a.github_login,
        "access_type_sku": "plus_monthly_subscriber_quota",
        "analytics_tracking_id": util::random_hex(32),
        "assigned_date": "2025-01-15T10:00:00+00:00",
        "can_signup_for_limited": false,
        "chat_enabled": true,
        "copilot_plan": a.plan,
        "organization_login_list": [],
        "organization_list": [],
        "quota_reset_date": reset,
        "quota_reset_date_utc": format!("{reset}T00:00:00.000Z"),
        "quota_snapshots": {
            "chat": quota_json("chat", u.chat, now),
            "completions": quota_json("completions", u.completions, now),
            "premium_interactions": quota_json("premium_interactions", u.premium_interactions, now),
        },
    });
    let mut body = body;
    if let Some(c) = u.credits {
        body["quota_snapshots"]["ai_credits"] = quota_json(CREDITS_ID, c, now);
    }
    tag(respond::json(StatusCode::OK, &body), Some(&a.account), None)
}

#[derive(Deserialize)]
struct ChatRequest {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    stream: bool,
}

async fn chat_completions(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(a) = s.admit(P, token_from(&headers), Scope::Api) else {
        return copilot_error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "unauthorized: token expired or invalid",
        );
    };
    let now = s.now();
    if let Some(r) = refusal(&s, &a, &headers) {
        return r;
    }
    let req: ChatRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return tag(
                copilot_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_body",
                    &format!("Invalid JSON: {e}"),
                ),
                Some(&a.account),
                None,
            );
        }
    };
    let delivery = Delivery::new(a.behavior.as_ref(), s.config.chunk_delay());
    delivery.wait().await;
    let model = req.model.unwrap_or_else(|| "gpt-4.1".to_owned());
    let (input, cached, creation) = crate::anthropic::token_counts(body.len());
    let prompt = input + cached + creation;
    let parts = respond::words(&s.config.reply_text);
    let completion = parts.len() as u64 + 1;
    let id = format!("chatcmpl-{}", util::random_b64(29).replace(['-', '_'], "x"));
    let usage = json!({
        "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    });
    let chunks = if req.stream {
        let chunk = |delta: serde_json::Value, finish: Option<&str>| {
            json!({"id": id, "object": "chat.completion.chunk", "created": now, "model": model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        };
        let mut c = vec![sse_data(
            &chunk(json!({"role": "assistant", "content": ""}), None).to_string(),
        )];
        for p in &parts {
            c.push(sse_data(&chunk(json!({"content": p}), None).to_string()));
        }
        let mut last = chunk(json!({}), Some("stop"));
        last["usage"] = usage;
        c.push(sse_data(&last.to_string()));
        c.push(sse_data("[DONE]"));
        c
    } else {
        let v = json!({
            "id": id, "object": "chat.completion", "created": now, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": s.config.reply_text}, "finish_reason": "stop"}],
            "usage": usage,
        });
        vec![Bytes::from(serde_json::to_vec(&v).unwrap_or_default())]
    };
    let mut r = respond::body(chunks, delivery, s.shutdown.clone()).into_response();
    let h = r.headers_mut();
    if req.stream {
        respond::sse_headers(h);
    } else {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    respond::set_header(h, "x-request-id", &util::uuid());
    respond::set_header(h, "x-rota-mock-account", &a.account);
    set_quota_headers(h, s.config.usage_per_request > 0.0, &a.usage, now);
    tag(r, Some(&a.account), a.behavior.as_ref())
}

/// What the Copilot API refuses before answering: in strict mode an exchanged token without
/// `Editor-Version` (plain-text 400) and a GitHub token of an IDE login (401); a scripted error;
/// a used-up quota (402, no rate-limit headers).
fn refusal(s: &Shared, a: &Admitted, headers: &HeaderMap) -> Option<Response> {
    let now = s.now();
    if s.config.strict {
        if a.copilot_token && !headers.contains_key("editor-version") {
            // As the Copilot API answers an IDE token without its IDE headers (plain text).
            let mut r = (
                StatusCode::BAD_REQUEST,
                "missing Editor-Version header for IDE auth\n",
            )
                .into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            return Some(tag(r, Some(&a.account), None));
        }
        if !a.copilot_token && !a.copilot_direct {
            return Some(copilot_error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "unauthorized: token expired or invalid",
            ));
        }
    }
    if let Some(b) = a.behavior.as_ref().filter(|b| is_error_behavior(Some(b))) {
        return Some(tag(
            behavior_response(b, &a.usage, now),
            Some(&a.account),
            Some(b),
        ));
    }
    let spent = a.usage.credits.unwrap_or(a.usage.premium_interactions);
    if !spent.unlimited && spent.remaining <= 0 && !spent.overage_permitted {
        // The premium quota (or the credits) is used up: 402, no rate-limit headers.
        return Some(tag(
            copilot_error(
                StatusCode::PAYMENT_REQUIRED,
                "quota_exceeded",
                "You have no quota",
            ),
            Some(&a.account),
            None,
        ));
    }
    None
}

/// The `x-quota-snapshot-*` headers of an answer: the quotas after this request (admission
/// spent one when usage counting is on), as the Copilot API reports them on every answer.
fn set_quota_headers(h: &mut HeaderMap, counted: bool, usage: &Usage, now: i64) {
    let reset = usage
        .quota_reset_date
        .clone()
        .unwrap_or_else(|| next_month(now));
    let mut after = usage.clone();
    if counted {
        let q = after
            .credits
            .as_mut()
            .unwrap_or(&mut after.premium_interactions);
        if !q.unlimited {
            q.remaining = (q.remaining - 1).max(0);
        }
    }
    for (id, q) in [
        ("chat", Some(after.chat)),
        ("completions", Some(after.completions)),
        ("premium_interactions", Some(after.premium_interactions)),
        (CREDITS_ID, after.credits),
    ] {
        if let Some(q) = q {
            respond::set_header(
                h,
                &format!("x-quota-snapshot-{id}"),
                &quota_header(q, &reset),
            );
        }
    }
}
