//! OpenAI (ChatGPT through Codex OAuth): authorize redirect, form token endpoint, device flow,
//! `wham/usage` and the Codex Responses SSE stream. Served under `/openai`, which replaces both
//! the issuer `https://auth.openai.com` and `https://chatgpt.com`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rota_types::ProviderId;
use serde::Deserialize;
use serde_json::json;

use crate::anthropic::{custom, is_error_behavior};
use crate::model::{Behavior, DeviceState, LimitWindow, Scope, Usage, Window};
use crate::respond::{self, Delivery, sse_event, tag};
use crate::state::{
    Admitted, AuthFail, DevicePoll, FIVE_HOURS, Issued, SEVEN_DAYS, Shared, TokenError,
};
use crate::util;

const P: ProviderId = ProviderId::OpenAi;

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/oauth/authorize", get(authorize))
        .route("/oauth/token", post(token))
        .route("/api/accounts/deviceauth/usercode", post(device_usercode))
        .route("/api/accounts/deviceauth/token", post(device_token))
        .route("/codex/device", get(device_page))
        .route("/deviceauth/callback", get(callback_page))
        .route("/backend-api/wham/usage", get(usage))
        .route("/backend-api/codex/responses", post(responses))
        .route("/backend-api/codex/models", get(models))
}

fn err(status: StatusCode, code: &str, message: &str) -> Response {
    respond::json(
        status,
        &json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": code}}),
    )
}

fn oauth_err(status: StatusCode, code: &str, desc: &str) -> Response {
    respond::json(status, &json!({"error": code, "error_description": desc}))
}

async fn authorize(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or_default();
    let bad = |m: &str| {
        respond::html(
            StatusCode::BAD_REQUEST,
            format!(
                "<!doctype html><p id=\"error\">{}</p>",
                util::html_escape(m)
            ),
        )
    };
    if get("client_id") != s.config.openai_client_id {
        return bad("Unknown client_id.");
    }
    if get("response_type") != "code" {
        return bad("response_type must be code.");
    }
    if get("code_challenge").is_empty() || get("code_challenge_method") != "S256" {
        return bad("PKCE with code_challenge_method=S256 is required.");
    }
    let redirect_uri = get("redirect_uri");
    if !util::is_loopback_redirect(redirect_uri) {
        return bad("redirect_uri must be a loopback URL.");
    }
    let state = get("state");
    let deny = q.get("deny").is_some_and(|v| v != "0" && v != "false");
    match s.authorize(
        P,
        get("client_id"),
        redirect_uri,
        get("code_challenge"),
        q.get("state").map(String::as_str),
        q.get("mock_account").map(String::as_str),
        deny,
    ) {
        Some(code) => respond::found(&util::with_query(
            redirect_uri,
            &[("code", &code), ("state", state)],
        ))
        .into_response(),
        None => respond::found(&util::with_query(
            redirect_uri,
            &[
                ("error", "access_denied"),
                ("error_description", "The user denied the request."),
                ("state", state),
            ],
        ))
        .into_response(),
    }
}

fn token_body(t: &Issued) -> serde_json::Value {
    json!({
        "id_token": t.id_token,
        "access_token": t.access,
        "refresh_token": t.refresh,
        "expires_in": t.expires_in,
        "token_type": "Bearer",
        "scope": "openid profile email offline_access",
    })
}

async fn token(
    State(s): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let p = util::params(query.as_deref(), &headers, &body);
    let get = |k: &str| p.get(k).map(String::as_str).unwrap_or_default();
    let result = match get("grant_type") {
        "authorization_code" => {
            // The exchange is form-encoded (the refresh is accepted as JSON too, as Codex sends it).
            if !ct.starts_with("application/x-www-form-urlencoded") {
                return oauth_err(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "Content-Type must be application/x-www-form-urlencoded.",
                );
            }
            s.exchange(
                P,
                get("code"),
                get("client_id"),
                get("redirect_uri"),
                get("code_verifier"),
                None,
            )
        }
        "refresh_token" => s.refresh(
            P,
            get("refresh_token"),
            get("client_id"),
            &s.config.openai_client_id,
        ),
        _ => {
            return oauth_err(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Unsupported grant_type.",
            );
        }
    };
    let is_refresh = get("grant_type") == "refresh_token";
    match result {
        Ok(t) => {
            t.wait().await;
            tag(
                respond::json(StatusCode::OK, &token_body(&t)),
                Some(&t.account.id),
                None,
            )
        }
        Err(TokenError::Scripted(b, account)) => {
            let r = behavior_response(&b, &Usage::default(), "plus", s.now());
            tag(r, Some(&account), Some(&b))
        }
        Err(TokenError::InvalidClient) => oauth_err(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Unknown client_id.",
        ),
        Err(TokenError::Reused) => err(
            StatusCode::UNAUTHORIZED,
            "refresh_token_reused",
            "Your refresh token has already been used to generate a new access token. Please try signing in again.",
        ),
        Err(TokenError::Expired) => err(
            StatusCode::UNAUTHORIZED,
            "refresh_token_expired",
            "Your refresh token has expired. Please try signing in again.",
        ),
        Err(TokenError::InvalidGrant(d)) if is_refresh => err(
            StatusCode::UNAUTHORIZED,
            "refresh_token_invalidated",
            &format!("{d}. Please try signing in again."),
        ),
        Err(TokenError::InvalidGrant(d)) => oauth_err(StatusCode::BAD_REQUEST, "invalid_grant", d),
    }
}

// ------------------------------------------------------------------ device flow

async fn device_usercode(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = util::params(None, &headers, &body);
    if p.get("client_id").map(String::as_str) != Some(s.config.openai_client_id.as_str()) {
        return oauth_err(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "Unknown client_id.",
        );
    }
    let (info, interval, expires_in) = s.device_start(P, &s.config.openai_client_id);
    respond::json(
        StatusCode::OK,
        &json!({
            "device_auth_id": info.device_code,
            "user_code": info.user_code,
            "usercode": info.user_code,
            "interval": interval.to_string(),
            "expires_at": util::iso(s.now() + expires_in),
            "verification_uri": format!("{}/codex/device", s.urls.openai),
        }),
    )
}

async fn device_token(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let p = util::params(None, &headers, &body);
    let id = p
        .get("device_auth_id")
        .map(String::as_str)
        .unwrap_or_default();
    let user_code = p.get("user_code").map(String::as_str).unwrap_or_default();
    let matches_code = s
        .devices()
        .iter()
        .any(|d| d.provider == P && d.device_code == id && d.user_code == user_code);
    if !matches_code {
        return oauth_err(
            StatusCode::NOT_FOUND,
            "device_auth_not_found",
            "Unknown device_auth_id or user_code.",
        );
    }
    match s.device_poll(P, id, None) {
        DevicePoll::Unknown => oauth_err(
            StatusCode::NOT_FOUND,
            "device_auth_not_found",
            "Unknown device_auth_id.",
        ),
        DevicePoll::Pending | DevicePoll::SlowDown(_) => oauth_err(
            StatusCode::FORBIDDEN,
            "authorization_pending",
            "The user has not approved the device yet.",
        ),
        DevicePoll::Expired => oauth_err(
            StatusCode::GONE,
            "expired_token",
            "The device code has expired.",
        ),
        DevicePoll::Denied => oauth_err(
            StatusCode::BAD_REQUEST,
            "access_denied",
            "The user denied the request.",
        ),
        DevicePoll::OpenAiApproved(code, challenge, verifier) => respond::json(
            StatusCode::OK,
            &json!({"authorization_code": code, "code_challenge": challenge, "code_verifier": verifier}),
        ),
        DevicePoll::GithubApproved(_) => oauth_err(
            StatusCode::NOT_FOUND,
            "device_auth_not_found",
            "Wrong provider.",
        ),
    }
}

/// The page a user opens to enter the code; `?user_code=` approves it (mock convenience).
pub(crate) fn device_approval_page(
    s: &Shared,
    provider: ProviderId,
    q: &HashMap<String, String>,
) -> Response {
    let title = "Device login";
    let Some(code) = q.get("user_code").filter(|c| !c.is_empty()) else {
        return respond::html(
            StatusCode::OK,
            format!(
                "<!doctype html><title>{title}</title><form method=\"get\"><input name=\"user_code\" \
                 placeholder=\"ABCD-1234\"><button type=\"submit\">Continue</button></form>"
            ),
        );
    };
    let known = s
        .devices()
        .iter()
        .any(|d| d.provider == provider && d.user_code.eq_ignore_ascii_case(code));
    if !known {
        return respond::html(
            StatusCode::NOT_FOUND,
            "<!doctype html><p id=\"error\">Unknown code</p>".into(),
        );
    }
    let code = code.to_ascii_uppercase();
    match s.device_action(
        &code,
        DeviceState::Approved,
        q.get("mock_account").map(String::as_str),
    ) {
        Ok(d) => respond::html(
            StatusCode::OK,
            format!(
                "<!doctype html><title>{title}</title><p id=\"result\">Device approved for {}</p>",
                util::html_escape(d.account.as_deref().unwrap_or_default())
            ),
        ),
        Err(e) => respond::html(
            StatusCode::CONFLICT,
            format!(
                "<!doctype html><p id=\"error\">{}</p>",
                util::html_escape(&e.to_string())
            ),
        ),
    }
}

async fn device_page(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    device_approval_page(&s, P, &q)
}

async fn callback_page() -> Response {
    respond::html(
        StatusCode::OK,
        "<!doctype html><p>Signed in. You can close this window.</p>".into(),
    )
}

// ------------------------------------------------------------------ backend

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

#[allow(clippy::result_large_err)] // the error is the finished axum response handlers return
fn auth(s: &Shared, headers: &HeaderMap, endpoint: Scope) -> Result<Admitted, Response> {
    let a = s.admit(P, bearer(headers), endpoint).map_err(|e| match e {
        AuthFail::Missing => err(
            StatusCode::UNAUTHORIZED,
            "missing_authorization",
            "Missing bearer token.",
        ),
        AuthFail::Unknown => err(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "Could not validate your token. Please try signing in again.",
        ),
        AuthFail::Expired => err(
            StatusCode::UNAUTHORIZED,
            "token_expired",
            "Provided authentication token is expired. Please try signing in again.",
        ),
    })?;
    match headers
        .get("chatgpt-account-id")
        .and_then(|v| v.to_str().ok())
    {
        None => Err(tag(
            err(
                StatusCode::BAD_REQUEST,
                "missing_account_id",
                "Missing ChatGPT-Account-Id header.",
            ),
            Some(&a.account),
            None,
        )),
        Some(id) if Some(id) != a.chatgpt_account_id.as_deref() => Err(tag(
            err(
                StatusCode::FORBIDDEN,
                "account_mismatch",
                "ChatGPT-Account-Id does not match the token.",
            ),
            Some(&a.account),
            None,
        )),
        Some(_) => Ok(a),
    }
}

/// `(primary, secondary)` as `(window, length seconds)`, swapped when the usage says so.
fn ordered(u: &Usage) -> [(Window, i64); 2] {
    let five = (u.five_hour.unwrap_or_default(), FIVE_HOURS);
    let seven = (u.seven_day.unwrap_or_default(), SEVEN_DAYS);
    if u.swap_windows {
        [seven, five]
    } else {
        [five, seven]
    }
}

fn codex_headers(h: &mut HeaderMap, u: &Usage, now: i64) {
    for (name, (w, len)) in ["primary", "secondary"].into_iter().zip(ordered(u)) {
        let reset = w.resets_at.unwrap_or(now + len);
        respond::set_header(
            h,
            &format!("x-codex-{name}-used-percent"),
            &w.utilization.to_string(),
        );
        respond::set_header(
            h,
            &format!("x-codex-{name}-window-minutes"),
            &(len / 60).to_string(),
        );
        respond::set_header(h, &format!("x-codex-{name}-reset-at"), &reset.to_string());
        respond::set_header(
            h,
            &format!("x-codex-{name}-reset-after-seconds"),
            &(reset - now).max(0).to_string(),
        );
    }
    respond::set_header(h, "x-codex-credits-has-credits", "False");
    respond::set_header(h, "x-codex-credits-unlimited", "False");
    respond::set_header(h, "x-codex-credits-balance", "0");
}

/// 429 `usage_limit_reached`, with the x-codex headers.
pub(crate) fn usage_limit_response(u: &Usage, plan: &str, now: i64, resets_in: i64) -> Response {
    let mut r = respond::json(
        StatusCode::TOO_MANY_REQUESTS,
        &json!({"error": {
            "type": "usage_limit_reached",
            "message": "The usage limit has been reached",
            "plan_type": plan,
            "resets_at": now + resets_in,
            "resets_in_seconds": resets_in,
        }}),
    );
    codex_headers(r.headers_mut(), u, now);
    r
}

fn rate_err(message: &str) -> Response {
    respond::json(
        StatusCode::TOO_MANY_REQUESTS,
        &json!({"error": {"type": "rate_limit_exceeded", "message": message, "code": "rate_limit_exceeded"}}),
    )
}

pub(crate) fn behavior_response(b: &Behavior, u: &Usage, plan: &str, now: i64) -> Response {
    match b {
        Behavior::RateLimit {
            reset_in_seconds,
            window,
        } => {
            let mut u = u.clone();
            let w = match window {
                LimitWindow::FiveHour => &mut u.five_hour,
                LimitWindow::SevenDay => &mut u.seven_day,
            };
            *w = Some(Window {
                utilization: 100.0,
                resets_at: Some(now + reset_in_seconds),
                resets_in_seconds: None,
            });
            usage_limit_response(&u, plan, now, *reset_in_seconds)
        }
        Behavior::ModelCap { reset_in_seconds }
        | Behavior::UsageLimitReached {
            resets_in_seconds: reset_in_seconds,
        } => usage_limit_response(u, plan, now, *reset_in_seconds),
        Behavior::RateLimitRetryAfter { seconds } => {
            let mut r = rate_err("Rate limit reached. Please try again later.");
            respond::set_header(r.headers_mut(), "retry-after", &seconds.to_string());
            r
        }
        Behavior::RateLimitNoReset => rate_err("Rate limit reached. Please try again later."),
        Behavior::RateLimitTransient => {
            rate_err("We are temporarily limiting requests. Please try again later.")
        }
        Behavior::ExtraUsageRequired => respond::json(
            StatusCode::TOO_MANY_REQUESTS,
            &json!({"error": {"type": "usage_not_included", "message": "Your plan does not include this feature.", "plan_type": plan}}),
        ),
        Behavior::Unauthorized => err(
            StatusCode::UNAUTHORIZED,
            "token_revoked",
            "Your authentication token has been invalidated. Please try signing in again.",
        ),
        Behavior::ServerError => respond::json(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({"error": {"type": "server_error", "message": "An error occurred while processing your request."}}),
        ),
        Behavior::Overloaded => respond::json(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"error": {"type": "server_is_overloaded", "message": "Our servers are currently overloaded. Please try again later."}}),
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

fn window_json(w: Window, len: i64, now: i64) -> serde_json::Value {
    let reset = w.resets_at.unwrap_or(now + len);
    json!({
        "used_percent": w.utilization,
        "limit_window_seconds": len,
        "reset_after_seconds": (reset - now).max(0),
        "reset_at": reset,
    })
}

async fn usage(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let a = match auth(&s, &headers, Scope::Usage) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let now = s.now();
    if let Some(b) = &a.behavior {
        if is_error_behavior(Some(b)) {
            return tag(
                behavior_response(b, &a.usage, &a.plan, now),
                Some(&a.account),
                Some(b),
            );
        }
        Delivery::new(Some(b), s.config.chunk_delay()).wait().await;
    }
    let [(p, plen), (sec, slen)] = ordered(&a.usage);
    let limit_reached = p.utilization >= 100.0 || sec.utilization >= 100.0;
    let body = json!({
        "user_id": a.account_uuid,
        "account_id": a.chatgpt_account_id,
        "email": a.email,
        "plan_type": a.plan,
        "rate_limit": {
            "allowed": !limit_reached,
            "limit_reached": limit_reached,
            "primary_window": window_json(p, plen, now),
            "secondary_window": window_json(sec, slen, now),
        },
        "credits": {"has_credits": false, "unlimited": false, "balance": "0"},
        // Per-model limits (e.g. the Spark model): one entry per scoped window.
        "additional_rate_limits": a.usage.scoped.iter().map(|(name, w)| json!({
            "limit_name": name,
            "metered_feature": format!("codex_{}", name.to_lowercase().replace([' ', '.'], "_")),
            "rate_limit": {
                "allowed": w.utilization < 100.0,
                "limit_reached": w.utilization >= 100.0,
                "primary_window": window_json(*w, SEVEN_DAYS, now),
                "secondary_window": null,
            },
        })).collect::<Vec<_>>(),
    });
    let mut r = respond::json(StatusCode::OK, &body);
    codex_headers(r.headers_mut(), &a.usage, now);
    tag(r, Some(&a.account), None)
}

#[derive(Deserialize)]
struct ResponsesRequest {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    stream: bool,
}

/// `GET /backend-api/codex/models?client_version=…`: the models Codex CLI may pick, as the
/// ChatGPT backend lists them for its version (`{"models": [{"slug", …}]}`). Free: a listing,
/// no model runs; it needs a valid ChatGPT credential.
async fn models(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let a = match auth(&s, &headers, Scope::Api) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let models: Vec<_> = ["gpt-5.3-codex", "gpt-5.4", "gpt-5.4-mini"]
        .iter()
        .enumerate()
        .map(|(i, slug)| json!({"slug": slug, "display_name": slug, "priority": i, "visibility": "list"}))
        .collect();
    tag(
        respond::json(StatusCode::OK, &json!({ "models": models })),
        Some(&a.account),
        None,
    )
}

#[allow(clippy::too_many_lines)] // one SSE transcript, read top to bottom
async fn responses(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let a = match auth(&s, &headers, Scope::Api) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let now = s.now();
    if let Some(b) = a.behavior.as_ref().filter(|b| is_error_behavior(Some(b))) {
        return tag(
            behavior_response(b, &a.usage, &a.plan, now),
            Some(&a.account),
            Some(b),
        );
    }
    if let Some((_, reset)) = a.auto_limit {
        return tag(
            usage_limit_response(&a.usage, &a.plan, now, (reset - now).max(0)),
            Some(&a.account),
            None,
        );
    }
    let req: ResponsesRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return tag(
                respond::json(
                    StatusCode::BAD_REQUEST,
                    &json!({"detail": format!("Invalid JSON body: {e}")}),
                ),
                Some(&a.account),
                None,
            );
        }
    };
    if !req.stream {
        return tag(
            respond::json(
                StatusCode::BAD_REQUEST,
                &json!({"detail": "Stream must be set to true"}),
            ),
            Some(&a.account),
            None,
        );
    }
    let delivery = Delivery::new(a.behavior.as_ref(), s.config.chunk_delay());
    delivery.wait().await;
    let model = req.model.unwrap_or_else(|| "gpt-5-codex".to_owned());
    let (input, cached, _) = crate::anthropic::token_counts(body.len());
    let input = input + cached;
    let parts = respond::words(&s.config.reply_text);
    let output = parts.len() as u64 + 1;
    let resp_id = format!("resp_{}", util::random_hex(32));
    let item_id = format!("msg_{}", util::random_hex(32));
    let text = s.config.reply_text.clone();
    let mut seq = 0u64;
    let mut ev = |name: &str, mut v: serde_json::Value| {
        v["type"] = json!(name);
        v["sequence_number"] = json!(seq);
        seq += 1;
        sse_event(name, &v)
    };
    let base = json!({"id": resp_id, "object": "response", "created_at": now, "model": model});
    let mut in_progress = base.clone();
    in_progress["status"] = json!("in_progress");
    in_progress["output"] = json!([]);
    let done_item = json!({"id": item_id, "type": "message", "status": "completed", "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}]});
    let mut completed = base;
    completed["status"] = json!("completed");
    completed["output"] = json!([done_item]);
    completed["usage"] = json!({
        "input_tokens": input, "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": output, "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input + output,
    });
    let mut chunks = vec![
        ev("response.created", json!({"response": in_progress})),
        ev("response.in_progress", json!({"response": in_progress})),
        ev(
            "response.output_item.added",
            json!({"output_index": 0, "item": {"id": item_id, "type": "message", "status": "in_progress", "role": "assistant", "content": []}}),
        ),
        ev(
            "response.content_part.added",
            json!({"item_id": item_id, "output_index": 0, "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}}),
        ),
    ];
    for p in &parts {
        chunks.push(ev(
            "response.output_text.delta",
            json!({"item_id": item_id, "output_index": 0, "content_index": 0, "delta": p}),
        ));
    }
    chunks.push(ev(
        "response.output_text.done",
        json!({"item_id": item_id, "output_index": 0, "content_index": 0, "text": text}),
    ));
    chunks.push(ev(
        "response.content_part.done",
        json!({"item_id": item_id, "output_index": 0, "content_index": 0, "part": {"type": "output_text", "text": text, "annotations": []}}),
    ));
    chunks.push(ev(
        "response.output_item.done",
        json!({"output_index": 0, "item": done_item}),
    ));
    chunks.push(ev("response.completed", json!({"response": completed})));
    let mut r = respond::body(chunks, delivery, s.shutdown.clone()).into_response();
    let h = r.headers_mut();
    respond::sse_headers(h);
    codex_headers(h, &a.usage, now);
    respond::set_header(h, "x-rota-mock-account", &a.account);
    tag(r, Some(&a.account), a.behavior.as_ref())
}
