//! Anthropic: OAuth (authorize page, JSON token endpoint), profile, usage, Messages API.
//! Served under `/anthropic`, which replaces `https://claude.ai`, `https://platform.claude.com`
//! and `https://api.anthropic.com` alike.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rota_types::ProviderId;
use serde::Deserialize;
use serde_json::json;

use crate::claude_code;
use crate::model::{Behavior, LimitWindow, Scope, Usage};
use crate::respond::{self, Delivery, sse_event, tag};
use crate::state::{Admitted, AuthFail, Issued, Shared, TokenError};
use crate::util;

const P: ProviderId = ProviderId::Anthropic;
const OAUTH_BETA: &str = "oauth-2025-04-20";
/// What a Claude Code 2.1.330 login is granted.
const SCOPES: &str = "user:inference user:profile org:create_api_key user:sessions:claude_code user:mcp_servers user:file_upload user:plugins";
/// Refresh tokens live about a month (`refresh_token_expires_in`).
const REFRESH_TOKEN_LIFETIME_SECS: i64 = 30 * 24 * 3600;

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/oauth/authorize", get(authorize))
        .route("/v1/oauth/token", post(token))
        .route("/api/oauth/profile", get(profile))
        .route("/api/oauth/usage", get(usage))
        .route("/v1/messages", post(messages))
        .route("/v1/messages/count_tokens", post(count_tokens))
}

pub(crate) fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    respond::json(
        status,
        &json!({
            "type": "error",
            "error": {"type": kind, "message": message},
            "request_id": format!("req_011{}", util::random_b64(21)),
        }),
    )
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body><h1>{t}</h1>{body}</body></html>",
        t = util::html_escape(title)
    )
}

async fn authorize(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or_default();
    let bad = |m: &str| {
        respond::html(
            StatusCode::BAD_REQUEST,
            page("Authorization failed", &util::html_escape(m)),
        )
    };
    if get("client_id") != s.config.anthropic_client_id {
        return bad("Invalid client_id.");
    }
    if get("response_type") != "code" {
        return bad("response_type must be code.");
    }
    if get("code_challenge").is_empty() || get("code_challenge_method") != "S256" {
        return bad("PKCE with code_challenge_method=S256 is required.");
    }
    let redirect_uri = get("redirect_uri");
    if redirect_uri.is_empty() {
        return bad("redirect_uri is required.");
    }
    let state = get("state");
    let deny = q.get("deny").is_some_and(|v| v != "0" && v != "false");
    let code = s.authorize(
        P,
        get("client_id"),
        redirect_uri,
        get("code_challenge"),
        q.get("state").map(String::as_str),
        q.get("mock_account").map(String::as_str),
        deny,
    );
    let loopback = util::is_loopback_redirect(redirect_uri);
    match (code, loopback) {
        (Some(code), true) => respond::found(&util::with_query(
            redirect_uri,
            &[("code", &code), ("state", state)],
        ))
        .into_response(),
        (None, true) => respond::found(&util::with_query(
            redirect_uri,
            &[
                ("error", "access_denied"),
                ("error_description", "The user denied the request."),
                ("state", state),
            ],
        ))
        .into_response(),
        (Some(code), false) => {
            let shown = util::html_escape(&format!("{code}#{state}"));
            respond::html(
                StatusCode::OK,
                page(
                    "Authentication Code",
                    &format!(
                        "<p>Paste this into Claude Code:</p><code id=\"auth-code\">{shown}</code>\
                         <p><a id=\"callback\" href=\"{}\">callback</a></p>",
                        util::html_escape(&util::with_query(
                            redirect_uri,
                            &[("code", &code), ("state", state)]
                        ))
                    ),
                ),
            )
        }
        (None, false) => respond::html(
            StatusCode::OK,
            page("Authorization denied", "<p id=\"error\">access_denied</p>"),
        ),
    }
}

fn token_error(e: TokenError, s: &Shared) -> Response {
    let (status, code, desc) = match e {
        TokenError::InvalidGrant(d) => (StatusCode::BAD_REQUEST, "invalid_grant", d),
        TokenError::InvalidClient => (
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Invalid client_id.",
        ),
        TokenError::Reused => (
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Refresh token has already been used.",
        ),
        TokenError::Expired => (
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Refresh token has expired.",
        ),
        TokenError::Scripted(b, account) => {
            let resp = behavior_response(s, &b, None, s.now());
            return tag(resp, Some(&account), Some(&b));
        }
    };
    respond::json(status, &json!({"error": code, "error_description": desc}))
}

fn token_body(t: &Issued) -> serde_json::Value {
    json!({
        "token_type": "Bearer",
        "access_token": t.access,
        "expires_in": t.expires_in,
        "refresh_token": t.refresh,
        "refresh_token_expires_in": REFRESH_TOKEN_LIFETIME_SECS,
        "scope": SCOPES,
        "organization": {
            "uuid": t.account.organization_uuid,
            "name": t.account.organization_name,
            "organization_type": organization_type(&t.account.plan),
            "rate_limit_tier": rate_limit_tier(&t.account.plan),
        },
        "account": {"uuid": t.account.account_uuid, "email_address": t.account.email},
    })
}

/// `organization.organization_type` of a plan (`max` → `claude_max`).
fn organization_type(plan: &str) -> String {
    format!("claude_{}", if plan.is_empty() { "pro" } else { plan })
}

fn rate_limit_tier(plan: &str) -> &'static str {
    if plan == "max" {
        "default_claude_max_20x"
    } else {
        "default_claude_ai"
    }
}

async fn token(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    if s.config.strict && !is_claude_code(&headers) {
        return usage_rate_limited();
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    let Ok(serde_json::Value::Object(b)) = serde_json::from_slice::<serde_json::Value>(&body)
    else {
        return respond::json(
            StatusCode::BAD_REQUEST,
            &json!({"error": "invalid_request", "error_description": "Request body must be a JSON object."}),
        );
    };
    if !is_json {
        return respond::json(
            StatusCode::BAD_REQUEST,
            &json!({"error": "invalid_request", "error_description": "Content-Type must be application/json."}),
        );
    }
    let get = |k: &str| b.get(k).and_then(|v| v.as_str()).unwrap_or_default();
    let result = match get("grant_type") {
        "authorization_code" => s.exchange(
            P,
            get("code"),
            get("client_id"),
            get("redirect_uri"),
            get("code_verifier"),
            b.get("state").and_then(|v| v.as_str()),
        ),
        "refresh_token" => s.refresh(
            P,
            get("refresh_token"),
            get("client_id"),
            &s.config.anthropic_client_id,
        ),
        _ => {
            return respond::json(
                StatusCode::BAD_REQUEST,
                &json!({"error": "unsupported_grant_type", "error_description": "Unsupported grant_type."}),
            );
        }
    };
    match result {
        Ok(t) => {
            t.wait().await;
            tag(
                respond::json(StatusCode::OK, &token_body(&t)),
                Some(&t.account.id),
                None,
            )
        }
        Err(e) => token_error(e, &s),
    }
}

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

fn has_oauth_beta(headers: &HeaderMap) -> bool {
    headers
        .get_all("anthropic-beta")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| v.trim() == OAUTH_BETA)
}

#[allow(clippy::result_large_err)] // the error is the finished axum response handlers return
fn auth(s: &Shared, headers: &HeaderMap, endpoint: Scope) -> Result<Admitted, Response> {
    let Some(token) = bearer(headers) else {
        let msg = if headers.contains_key("x-api-key") {
            "invalid x-api-key"
        } else {
            "x-api-key header is required"
        };
        return Err(error(StatusCode::UNAUTHORIZED, "authentication_error", msg));
    };
    if !has_oauth_beta(headers) {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "OAuth authentication is currently not supported.",
        ));
    }
    s.admit(P, Some(token), endpoint).map_err(|e| {
        let msg = match e {
            AuthFail::Expired => {
                "OAuth token has expired. Please obtain a new token or refresh your existing token."
            }
            AuthFail::Missing | AuthFail::Unknown => "Invalid bearer token",
        };
        error(StatusCode::UNAUTHORIZED, "authentication_error", msg)
    })
}

// ------------------------------------------------------------------ unified rate-limit headers

fn status_of(frac: f64, warn: f64) -> &'static str {
    if frac >= 1.0 {
        "rejected"
    } else if frac >= warn {
        "allowed_warning"
    } else {
        "allowed"
    }
}

fn frac_str(frac: f64) -> String {
    ((frac * 10_000.0).round() / 10_000.0).to_string()
}

/// How the unified headers should differ from what the usage says.
#[derive(Debug, Clone, Copy, Default)]
struct Override<'a> {
    /// This window is exhausted and resets then.
    limit: Option<(LimitWindow, i64)>,
    /// Overall status rejected by a model-scoped cap resetting then (the claim names the
    /// model: `seven_day_<model>`).
    model_cap: Option<(i64, &'a str)>,
}

fn unified_headers(h: &mut HeaderMap, u: &Usage, now: i64, warn: f64, o: Override<'_>) {
    let mut wins = [
        ("5h", "five_hour", LimitWindow::FiveHour, u.five_hour),
        ("7d", "seven_day", LimitWindow::SevenDay, u.seven_day),
    ]
    .map(|(short, claim, which, w)| {
        let w = w.unwrap_or_default();
        let mut frac = w.utilization / 100.0;
        let mut reset = w.resets_at.unwrap_or(now + crate::state::FIVE_HOURS);
        if let Some((lw, r)) = o.limit
            && lw == which
        {
            frac = frac.max(1.0);
            reset = r;
        }
        (short, claim, frac, reset, status_of(frac, warn))
    });
    let mut overall = "allowed";
    for (short, _, frac, reset, status) in &wins {
        respond::set_header(
            h,
            &format!("anthropic-ratelimit-unified-{short}-status"),
            status,
        );
        respond::set_header(
            h,
            &format!("anthropic-ratelimit-unified-{short}-utilization"),
            &frac_str(*frac),
        );
        respond::set_header(
            h,
            &format!("anthropic-ratelimit-unified-{short}-reset"),
            &reset.to_string(),
        );
        if *status == "rejected" || (*status == "allowed_warning" && overall == "allowed") {
            overall = status;
        }
    }
    let scoped_claim;
    let (claim, reset) = if let Some((r, model)) = o.model_cap {
        overall = "rejected";
        scoped_claim = format!("seven_day_{}", model.to_lowercase().replace(' ', "_"));
        (scoped_claim.as_str(), r)
    } else {
        // The rejected window with the latest reset, else the most used one.
        wins.sort_by(|a, b| {
            let ra = u8::from(a.4 == "rejected");
            let rb = u8::from(b.4 == "rejected");
            rb.cmp(&ra).then(if ra == 1 {
                b.3.cmp(&a.3)
            } else {
                b.2.total_cmp(&a.2)
            })
        });
        (wins[0].1, wins[0].3)
    };
    respond::set_header(h, "anthropic-ratelimit-unified-status", overall);
    respond::set_header(h, "anthropic-ratelimit-unified-representative-claim", claim);
    respond::set_header(h, "anthropic-ratelimit-unified-reset", &reset.to_string());
    respond::set_header(
        h,
        "anthropic-ratelimit-unified-overage-status",
        if u.extra_usage.is_enabled {
            "allowed"
        } else {
            "rejected"
        },
    );
    if !u.extra_usage.is_enabled {
        respond::set_header(
            h,
            "anthropic-ratelimit-unified-overage-disabled-reason",
            "org_level_disabled",
        );
    }
}

const QUOTA_MSG: &str =
    "This request would exceed your account's rate limit. Please try again later.";

/// The response of an error-kind behaviour (`None` for delivery-only kinds).
pub(crate) fn behavior_response(
    s: &Shared,
    b: &Behavior,
    usage: Option<&Usage>,
    now: i64,
) -> Response {
    let default_usage = Usage::default();
    let u = usage.unwrap_or(&default_usage);
    let warn = s.config.warning_threshold;
    match b {
        Behavior::RateLimit {
            reset_in_seconds,
            window,
        } => {
            let reset = now + reset_in_seconds;
            let mut r = error(StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", QUOTA_MSG);
            unified_headers(
                r.headers_mut(),
                u,
                now,
                warn,
                Override {
                    limit: Some((*window, reset)),
                    model_cap: None,
                },
            );
            respond::set_header(
                r.headers_mut(),
                "retry-after",
                &reset_in_seconds.max(&0).to_string(),
            );
            r
        }
        Behavior::ModelCap { reset_in_seconds } => {
            let mut r = error(StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", QUOTA_MSG);
            unified_headers(
                r.headers_mut(),
                u,
                now,
                warn,
                Override {
                    limit: None,
                    model_cap: Some((now + reset_in_seconds, "Opus")),
                },
            );
            respond::set_header(
                r.headers_mut(),
                "retry-after",
                &reset_in_seconds.max(&0).to_string(),
            );
            r
        }
        Behavior::RateLimitRetryAfter { seconds } => {
            let mut r = error(StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", QUOTA_MSG);
            respond::set_header(r.headers_mut(), "retry-after", &seconds.to_string());
            r
        }
        Behavior::RateLimitNoReset => {
            error(StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", QUOTA_MSG)
        }
        Behavior::RateLimitTransient => error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "We are temporarily limiting requests. Please try again later.",
        ),
        Behavior::ExtraUsageRequired => error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "Extra usage is required for long context requests.",
        ),
        Behavior::UsageLimitReached { resets_in_seconds } => {
            crate::openai::usage_limit_response(u, "plus", now, *resets_in_seconds)
        }
        Behavior::Unauthorized => error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "OAuth token has been revoked.",
        ),
        Behavior::ServerError => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "api_error",
            "Internal server error",
        ),
        Behavior::Overloaded => error(
            StatusCode::from_u16(529).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            "overloaded_error",
            "Overloaded",
        ),
        Behavior::Status {
            status,
            body,
            headers,
        } => custom(*status, body.as_ref(), headers),
        Behavior::Latency { .. }
        | Behavior::SlowStream { .. }
        | Behavior::Stall { .. }
        | Behavior::Cut { .. } => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "api_error",
            "delivery behaviour used as an error",
        ),
    }
}

pub(crate) fn custom(
    status: u16,
    body: Option<&serde_json::Value>,
    headers: &std::collections::BTreeMap<String, String>,
) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = match body {
        Some(b) => respond::json(status, b),
        None => status.into_response(),
    };
    for (k, v) in headers {
        respond::set_header(r.headers_mut(), k, v);
    }
    r
}

pub(crate) fn is_error_behavior(b: Option<&Behavior>) -> bool {
    b.is_some_and(|b| {
        !matches!(
            b,
            Behavior::Latency { .. }
                | Behavior::SlowStream { .. }
                | Behavior::Stall { .. }
                | Behavior::Cut { .. }
        )
    })
}

// ------------------------------------------------------------------ profile and usage

async fn profile(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let a = match auth(&s, &headers, Scope::Usage) {
        Ok(a) => a,
        Err(r) => return r,
    };
    if let Some(r) = scripted_error(&s, &a).await {
        return r;
    }
    let max = a.plan == "max";
    let body = json!({
        "account": {
            "uuid": a.account_uuid,
            "full_name": a.email.split('@').next().unwrap_or_default(),
            "display_name": a.email.split('@').next().unwrap_or_default(),
            "email": a.email,
            "has_claude_max": max,
            "has_claude_pro": a.plan == "pro",
            "created_at": "2025-01-15T10:00:00.000000Z",
        },
        "organization": {
            "uuid": a.organization_uuid,
            "name": a.organization_name,
            "organization_type": organization_type(&a.plan),
            "billing_type": "stripe_subscription",
            "rate_limit_tier": rate_limit_tier(&a.plan),
            "has_extra_usage_enabled": a.usage.extra_usage.is_enabled,
        },
    });
    tag(respond::json(StatusCode::OK, &body), Some(&a.account), None)
}

/// Applies a scripted behaviour on a JSON endpoint: error kinds answer, latency waits.
async fn scripted_error(s: &Shared, a: &Admitted) -> Option<Response> {
    let b = a.behavior.as_ref()?;
    if is_error_behavior(Some(b)) {
        let r = behavior_response(s, b, Some(&a.usage), s.now());
        return Some(tag(r, Some(&a.account), Some(b)));
    }
    Delivery::new(Some(b), s.config.chunk_delay()).wait().await;
    None
}

/// Strict mode's refusals of a Messages request on an OAuth token ([`crate::claude_code`]):
/// a third-party app's `User-Agent` gets the third-party-billing 400; Claude Code's with a
/// system prompt that is not Claude Code's (for a restricted model) gets the credential 400.
fn strict_refusal(headers: &HeaderMap, body: &[u8]) -> Option<Response> {
    if !is_claude_code(headers) {
        return Some(error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            claude_code::THIRD_PARTY_BILLING,
        ));
    }
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let model = v.get("model").and_then(serde_json::Value::as_str)?;
    (claude_code::model_is_restricted(model) && !claude_code::has_system_prompt(&v)).then(|| {
        error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            claude_code::CREDENTIAL_ONLY_FOR_CLAUDE_CODE,
        )
    })
}

/// The overage headers of an answer served from extra usage: `overage-status: allowed` (with
/// the unified status `rejected`, which is how Claude Code tells it is using overage), when the
/// extra-usage period resets (30 days on) and how much of the monthly extra-usage limit is
/// used (a fraction).
fn overage_headers(h: &mut HeaderMap, u: &Usage, now: i64) {
    let used = u.extra_usage.utilization.unwrap_or(0.0) / 100.0;
    respond::set_header(h, "anthropic-ratelimit-unified-overage-status", "allowed");
    respond::set_header(
        h,
        "anthropic-ratelimit-unified-overage-reset",
        &(now + 30 * 24 * 3600).to_string(),
    );
    respond::set_header(
        h,
        "anthropic-ratelimit-unified-overage-utilization",
        &frac_str(used),
    );
}

/// Strict mode: Rota's own requests must look like Claude Code's (`claude-cli/<v> …`).
fn is_claude_code(headers: &HeaderMap) -> bool {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(claude_code::is_user_agent)
}

/// The usage endpoint's answer to any other `User-Agent` (since 2026-03, forever).
fn usage_rate_limited() -> Response {
    error(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limit_error",
        "Rate limited. Please try again later.",
    )
}

fn window_json(w: Option<crate::model::Window>) -> serde_json::Value {
    match w {
        None => serde_json::Value::Null,
        Some(w) => json!({
            "utilization": w.utilization,
            "resets_at": if w.utilization > 0.0 { w.resets_at.map(util::iso) } else { None },
        }),
    }
}

fn severity(pct: f64) -> &'static str {
    if pct >= 100.0 {
        "critical"
    } else if pct >= 80.0 {
        "warning"
    } else {
        "normal"
    }
}

async fn usage(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if s.config.strict && !is_claude_code(&headers) {
        return usage_rate_limited();
    }
    let a = match auth(&s, &headers, Scope::Usage) {
        Ok(a) => a,
        Err(r) => return r,
    };
    if let Some(r) = scripted_error(&s, &a).await {
        return r;
    }
    let u = &a.usage;
    // The real shape (2026-07): kinds `session`, `weekly_all`, `weekly_scoped` (one model's
    // weekly window, named by `scope.model.display_name`).
    let entry = |kind: &str, group: &str, w: crate::model::Window, scope: serde_json::Value| {
        json!({
            "kind": kind,
            "group": group,
            "percent": w.utilization,
            "severity": severity(w.utilization),
            "resets_at": w.resets_at.map(util::iso),
            "scope": scope,
            "is_active": kind == "session",
        })
    };
    let mut limits: Vec<serde_json::Value> = [
        ("session", "session", u.five_hour),
        ("weekly_all", "weekly", u.seven_day),
    ]
    .into_iter()
    .filter_map(|(kind, group, w)| Some(entry(kind, group, w?, serde_json::Value::Null)))
    .collect();
    for (model, w) in &u.scoped {
        limits.push(entry(
            "weekly_scoped",
            "weekly",
            *w,
            json!({"model": {"id": null, "display_name": model}, "surface": null}),
        ));
    }
    if u.limits_only {
        let body = json!({"limits": limits});
        return tag(respond::json(StatusCode::OK, &body), Some(&a.account), None);
    }
    let body = json!({
        "five_hour": window_json(u.five_hour),
        "seven_day": window_json(u.seven_day),
        "seven_day_oauth_apps": null,
        "seven_day_opus": window_json(u.seven_day_opus),
        "seven_day_sonnet": window_json(u.seven_day_sonnet),
        "iguana_necktie": null,
        "extra_usage": {
            "is_enabled": u.extra_usage.is_enabled,
            "monthly_limit": u.extra_usage.monthly_limit,
            "used_credits": u.extra_usage.used_credits,
            "utilization": u.extra_usage.utilization,
        },
        "limits": limits,
    });
    tag(respond::json(StatusCode::OK, &body), Some(&a.account), None)
}

// ------------------------------------------------------------------ messages

#[derive(Deserialize)]
struct MessagesRequest {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    stream: bool,
}

/// `POST /v1/messages/count_tokens`: the prompt's input tokens, as the real endpoint answers
/// (`{"input_tokens": N}`). Free: it runs no model and adds nothing to the account's usage
/// windows; it still needs a valid credential and a body naming `model` and `messages`.
async fn count_tokens(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    #[derive(Deserialize)]
    struct CountRequest {
        model: String,
        messages: Vec<serde_json::Value>,
    }
    let a = match auth(&s, &headers, Scope::Api) {
        Ok(a) => a,
        Err(r) => return r,
    };
    match serde_json::from_slice::<CountRequest>(&body) {
        Ok(req) if !req.model.is_empty() && !req.messages.is_empty() => {
            let (input, cached, creation) = token_counts(body.len());
            tag(
                respond::json(
                    StatusCode::OK,
                    &json!({"input_tokens": input + cached + creation}),
                ),
                Some(&a.account),
                None,
            )
        }
        Ok(_) => tag(
            error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "model and messages: field required",
            ),
            Some(&a.account),
            None,
        ),
        Err(e) => tag(
            error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                &format!("invalid JSON body: {e}"),
            ),
            Some(&a.account),
            None,
        ),
    }
}

/// Deterministic token counts from the request size: most of the prompt reads from cache.
pub(crate) fn token_counts(body_len: usize) -> (u64, u64, u64) {
    let total = (body_len as u64 / 4).max(8);
    let cache_read = total * 6 / 10;
    let cache_creation = total / 10;
    (
        total - cache_read - cache_creation,
        cache_read,
        cache_creation,
    )
}

#[allow(clippy::too_many_lines)] // one response transcript, read top to bottom
async fn messages(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let a = match auth(&s, &headers, Scope::Api) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let now = s.now();
    let warn = s.config.warning_threshold;
    if s.config.strict
        && let Some(r) = strict_refusal(&headers, &body)
    {
        return tag(r, Some(&a.account), None);
    }
    if let Some(b) = a.behavior.as_ref().filter(|b| is_error_behavior(Some(b))) {
        return tag(
            behavior_response(&s, b, Some(&a.usage), now),
            Some(&a.account),
            Some(b),
        );
    }
    let req: MessagesRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return tag(
                error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    &format!("invalid JSON body: {e}"),
                ),
                Some(&a.account),
                None,
            );
        }
    };
    // A model whose weekly cap is used up: 429 naming that model's window while the account's
    // own windows stay allowed (other models are still served).
    if a.auto_limit.is_none()
        && let Some(model) = req.model.as_deref()
        && let Some((name, w)) = a.usage.capped_scope(model)
    {
        let reset = w.resets_at.unwrap_or(now + crate::state::SEVEN_DAYS);
        let mut r = error(StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", QUOTA_MSG);
        unified_headers(
            r.headers_mut(),
            &a.usage,
            now,
            warn,
            Override {
                limit: None,
                model_cap: Some((reset, name)),
            },
        );
        respond::set_header(
            r.headers_mut(),
            "retry-after",
            &(reset - now).max(0).to_string(),
        );
        return tag(r, Some(&a.account), None);
    }
    // Strict: an exhausted plan window with extra usage enabled is served from extra usage
    // (overage), as the real service does, and the headers say so.
    let overage = a
        .auto_limit
        .filter(|_| s.config.strict && a.usage.extra_usage.is_enabled);
    if let Some((window, reset)) = a.auto_limit.filter(|_| overage.is_none()) {
        let mut r = error(StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", QUOTA_MSG);
        unified_headers(
            r.headers_mut(),
            &a.usage,
            now,
            warn,
            Override {
                limit: Some((window, reset)),
                model_cap: None,
            },
        );
        respond::set_header(
            r.headers_mut(),
            "retry-after",
            &(reset - now).max(0).to_string(),
        );
        return tag(r, Some(&a.account), None);
    }
    let delivery = Delivery::new(a.behavior.as_ref(), s.config.chunk_delay());
    delivery.wait().await;
    let model = req.model.unwrap_or_else(|| "claude-sonnet-4-5".to_owned());
    let (input, cache_read, cache_creation) = token_counts(body.len());
    let parts = respond::words(&s.config.reply_text);
    let output = parts.len() as u64 + 1;
    let id = format!("msg_01{}", util::random_b64(22).replace(['-', '_'], "x"));
    let chunks = if req.stream {
        let mut c = Vec::with_capacity(parts.len() + 6);
        c.push(sse_event(
            "message_start",
            &json!({"type": "message_start", "message": {
                "id": id, "type": "message", "role": "assistant", "model": model,
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": input, "cache_creation_input_tokens": cache_creation,
                          "cache_read_input_tokens": cache_read, "output_tokens": 1,
                          "service_tier": "standard"}}}),
        ));
        c.push(sse_event(
            "content_block_start",
            &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ));
        c.push(sse_event("ping", &json!({"type": "ping"})));
        for p in &parts {
            c.push(sse_event(
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}),
            ));
        }
        c.push(sse_event(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": 0}),
        ));
        c.push(sse_event(
            "message_delta",
            &json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                    "usage": {"input_tokens": input, "cache_creation_input_tokens": cache_creation,
                              "cache_read_input_tokens": cache_read, "output_tokens": output}}),
        ));
        c.push(sse_event("message_stop", &json!({"type": "message_stop"})));
        c
    } else {
        let v = json!({
            "id": id, "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": s.config.reply_text}],
            "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {"input_tokens": input, "cache_creation_input_tokens": cache_creation,
                      "cache_read_input_tokens": cache_read, "output_tokens": output,
                      "service_tier": "standard"},
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
            axum::http::HeaderValue::from_static("application/json"),
        );
    }
    unified_headers(
        h,
        &a.usage,
        now,
        warn,
        Override {
            limit: overage,
            model_cap: None,
        },
    );
    if overage.is_some() {
        overage_headers(h, &a.usage, now);
    }
    respond::set_header(h, "request-id", &format!("req_011{}", util::random_b64(21)));
    respond::set_header(h, "x-rota-mock-account", &a.account);
    tag(r, Some(&a.account), a.behavior.as_ref())
}
