//! Anthropic (Claude Pro/Max through Claude's OAuth client): PKCE paste and loopback logins with
//! the JSON token endpoint, single-use refresh, `/api/oauth/usage`, the unified rate-limit
//! headers and 429 classification.

use std::time::Duration;

use futures_util::future::BoxFuture;
use http::HeaderMap;
use rota_core::{Outcome, RateLimitSignal};
use rota_store::SecretBundle;
use rota_types::{
    AccountIdentity, AnthropicExtra, LimitStatus, ProviderId, ProviderUsage, Severity, UnixMs,
    UsageSnapshot, UsageWindow, WindowKind, sort_windows,
};
use serde_json::{Value, json};

use crate::adapter::{AccountAuth, ProviderAdapter, Providers, RefreshFailure};
use crate::error::{LoginFailure, ProviderError};
use crate::http::{
    error_code, error_message, header_f64, header_str, json_f64, json_time, read_small,
    retry_after_ms, unix_to_ms,
};
use crate::loopback::CallbackServer;
use crate::oauth::{self, LoginResult, PkceSession, parse_pasted};

const P: ProviderId = ProviderId::Anthropic;

/// Vault extras of an Anthropic login beyond the token pair: what Claude Code keeps in its
/// credential file and reads to decide whether a login is usable (docs/anthropic.md).
pub mod extra {
    /// Granted scopes, space separated.
    pub const SCOPES: &str = "scopes";
    /// When the refresh token expires (unix ms), from `refresh_token_expires_in`.
    pub const REFRESH_TOKEN_EXPIRES_AT: &str = "refresh_token_expires_at";
    /// `organization.uuid` of the token response.
    pub const ORGANIZATION_UUID: &str = "organization_uuid";
    /// `organization.organization_type` (`claude_max`, …).
    pub const ORGANIZATION_TYPE: &str = "organization_type";
    /// `organization.rate_limit_tier` (`default_claude_max_20x`, …).
    pub const RATE_LIMIT_TIER: &str = "rate_limit_tier";
    /// The OAuth client id the login belongs to (Claude Code's `clientId`).
    pub const CLIENT_ID: &str = "client_id";
}

/// Claude Code's `User-Agent` on one of Rota's own Anthropic requests: the usage endpoint
/// answers 429 forever to any other, and the token endpoint is reported to do the same.
fn as_claude_code(req: reqwest::RequestBuilder, ctx: &Providers) -> reqwest::RequestBuilder {
    req.header(
        reqwest::header::USER_AGENT,
        ctx.config.anthropic.user_agent(),
    )
}

/// The plan from `organization.organization_type` (`claude_max` → `max`, `claude_pro` → `pro`,
/// `claude_team` → `team`, `claude_enterprise` → `enterprise`).
#[must_use]
pub fn plan_of(organization_type: &str) -> Option<String> {
    let t = organization_type.trim();
    let plan = t.strip_prefix("claude_").unwrap_or(t);
    (!plan.is_empty()).then(|| plan.to_owned())
}

/// The Anthropic adapter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Anthropic;

// ------------------------------------------------------------------ login

/// A started paste-flow login: open `url`, then [`PasteLogin::complete`] with what the page shows.
#[derive(Debug)]
pub struct PasteLogin {
    pub url: String,
    session: PkceSession,
}

impl PasteLogin {
    /// Builds the authorize URL (`code=true`, the paste redirect URI, PKCE S256, a fresh state).
    pub fn begin(ctx: &Providers) -> Result<Self, ProviderError> {
        let c = &ctx.config.anthropic;
        let (url, session) = authorize_url(ctx, &c.redirect_uri)?;
        Ok(Self { url, session })
    }

    #[must_use]
    pub fn session(&self) -> &PkceSession {
        &self.session
    }

    /// Accepts the pasted `code#state` or the full redirect URL, checks `state`, exchanges the
    /// code and reads the identity.
    pub async fn complete(
        &self,
        ctx: &Providers,
        pasted: &str,
    ) -> Result<LoginResult, ProviderError> {
        let cb = parse_pasted(pasted).map_err(|e| ProviderError::Login(P, e))?;
        oauth::check_state(&self.session, &cb).map_err(|e| ProviderError::Login(P, e))?;
        exchange(ctx, &self.session, cb.code.expose()).await
    }
}

/// A started loopback login (`http://localhost:<port>/callback`).
#[derive(Debug)]
pub struct LoopbackLogin {
    pub url: String,
    session: PkceSession,
    server: CallbackServer,
}

impl LoopbackLogin {
    /// Binds the callback server on one of `ports` (`0` = any free port) and builds the URL.
    pub async fn begin(ctx: &Providers, ports: &[u16]) -> Result<Self, ProviderError> {
        let server = CallbackServer::bind(ports, "/callback").await?;
        let redirect = format!("http://localhost:{}/callback", server.port());
        let (url, session) = authorize_url(ctx, &redirect)?;
        Ok(Self {
            url,
            session,
            server,
        })
    }

    #[must_use]
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// Waits for the browser's redirect (state checked), then exchanges the code.
    pub async fn complete(
        self,
        ctx: &Providers,
        timeout: Duration,
    ) -> Result<LoginResult, ProviderError> {
        let cb = self
            .server
            .wait(self.session.state(), timeout)
            .await
            .map_err(|e| ProviderError::Login(P, e))?;
        exchange(ctx, &self.session, cb.code.expose()).await
    }
}

fn authorize_url(ctx: &Providers, redirect: &str) -> Result<(String, PkceSession), ProviderError> {
    let c = &ctx.config.anthropic;
    oauth::authorize(
        &c.authorize_url,
        &c.client_id,
        redirect,
        &c.scopes,
        &[("code", "true")],
    )
}

async fn exchange(
    ctx: &Providers,
    session: &PkceSession,
    code: &str,
) -> Result<LoginResult, ProviderError> {
    let c = &ctx.config.anthropic;
    let body = json!({
        "grant_type": "authorization_code",
        "code": code,
        "state": session.state,
        "client_id": c.client_id,
        "redirect_uri": session.redirect_uri,
        "code_verifier": session.verifier.expose(),
    });
    let resp = as_claude_code(ctx.http.post(&c.token_url), ctx)
        .json(&body)
        .send()
        .await
        .map_err(|e| ProviderError::network(P, &e))?;
    let status = resp.status().as_u16();
    let bytes = read_small(P, resp).await?;
    if status != 200 {
        let code = error_code(&bytes).unwrap_or_else(|| format!("http_{status}"));
        return Err(ProviderError::Login(P, LoginFailure::Refused(code)));
    }
    let now = rota_store::now_ms();
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| protocol("token", "not JSON"))?;
    let secrets = bundle_from_token(&v, None, now)?;
    let mut identity = AccountIdentity {
        account_id: v
            .pointer("/account/uuid")
            .and_then(Value::as_str)
            .map(str::to_owned),
        email: v
            .pointer("/account/email_address")
            .and_then(Value::as_str)
            .map(str::to_owned),
        organization: v
            .pointer("/organization/name")
            .and_then(Value::as_str)
            .map(str::to_owned),
        plan: v
            .pointer("/organization/organization_type")
            .and_then(Value::as_str)
            .and_then(plan_of),
    };
    let mut secrets = secrets.with_extra(extra::CLIENT_ID, c.client_id.clone());
    // The profile adds what the token response lacks (identity, plan, rate-limit tier).
    if let Ok(profile) = fetch_profile(ctx, secrets.access_token.expose()).await {
        let s = |p: &str| {
            profile
                .pointer(p)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        identity.account_id = identity.account_id.or_else(|| s("/account/uuid"));
        identity.email = identity.email.or_else(|| s("/account/email"));
        identity.organization = identity.organization.or_else(|| s("/organization/name"));
        identity.plan = identity
            .plan
            .or_else(|| s("/organization/organization_type").and_then(|t| plan_of(&t)))
            .or_else(|| {
                if profile.pointer("/account/has_claude_max") == Some(&Value::Bool(true)) {
                    Some("max".into())
                } else if profile.pointer("/account/has_claude_pro") == Some(&Value::Bool(true)) {
                    Some("pro".into())
                } else {
                    None
                }
            });
        for (key, pointer) in [
            (extra::ORGANIZATION_UUID, "/organization/uuid"),
            (extra::ORGANIZATION_TYPE, "/organization/organization_type"),
            (extra::RATE_LIMIT_TIER, "/organization/rate_limit_tier"),
        ] {
            if secrets.extra(key).is_none()
                && let Some(value) = s(pointer)
            {
                secrets = secrets.with_extra(key, value);
            }
        }
    }
    Ok(LoginResult {
        provider: P,
        identity,
        secrets,
    })
}

async fn fetch_profile(ctx: &Providers, access: &str) -> Result<Value, ProviderError> {
    let c = &ctx.config.anthropic;
    let resp = as_claude_code(
        ctx.http.get(format!("{}/api/oauth/profile", c.api_base)),
        ctx,
    )
    .bearer_auth(access)
    .header("anthropic-beta", &c.oauth_beta)
    .send()
    .await
    .map_err(|e| ProviderError::network(P, &e))?;
    let status = resp.status().as_u16();
    let bytes = read_small(P, resp).await?;
    if status != 200 {
        return Err(ProviderError::Http {
            provider: P,
            what: "profile",
            status,
            code: error_code(&bytes),
        });
    }
    serde_json::from_slice(&bytes).map_err(|_| protocol("profile", "not JSON"))
}

fn protocol(what: &'static str, problem: &str) -> ProviderError {
    ProviderError::Protocol {
        provider: P,
        what,
        problem: problem.to_owned(),
    }
}

/// `{access_token, refresh_token, expires_in, refresh_token_expires_in?, scope?,
/// organization?}` → secrets (the old refresh token is kept only when the response carries
/// none; extras are carried over and updated from the response).
fn bundle_from_token(
    v: &Value,
    previous: Option<&SecretBundle>,
    now: UnixMs,
) -> Result<SecretBundle, ProviderError> {
    let access = v
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| protocol("token", "no access_token"))?;
    let mut b = SecretBundle::new(access);
    b.refresh_token = v
        .get("refresh_token")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(rota_core::Secret::new)
        .or_else(|| previous.and_then(|p| p.refresh_token.clone()));
    let expires_in = json_f64(v.get("expires_in")).unwrap_or(8.0 * 3600.0);
    b.expires_at = Some(now.saturating_add((expires_in * 1000.0) as i64));
    if let Some(p) = previous {
        b.extras.clone_from(&p.extras);
    }
    if let Some(scope) = v.get("scope").and_then(Value::as_str) {
        b.extras.insert(
            extra::SCOPES.into(),
            rota_core::Secret::new(scope.to_owned()),
        );
    }
    match json_f64(v.get("refresh_token_expires_in")) {
        Some(secs) if secs > 0.0 => {
            let at = now.saturating_add((secs.min(1e10) * 1000.0) as i64);
            b.extras.insert(
                extra::REFRESH_TOKEN_EXPIRES_AT.into(),
                rota_core::Secret::new(at.to_string()),
            );
        }
        // A new refresh token without a stated lifetime: the old one's expiry is not its own.
        _ if v.get("refresh_token").is_some() => {
            b.extras.remove(extra::REFRESH_TOKEN_EXPIRES_AT);
        }
        _ => {}
    }
    for (key, pointer) in [
        (extra::ORGANIZATION_UUID, "/organization/uuid"),
        (extra::ORGANIZATION_TYPE, "/organization/organization_type"),
        (extra::RATE_LIMIT_TIER, "/organization/rate_limit_tier"),
    ] {
        if let Some(value) = v.pointer(pointer).and_then(Value::as_str) {
            b.extras
                .insert(key.into(), rota_core::Secret::new(value.to_owned()));
        }
    }
    Ok(b)
}

/// Error codes that mean the refresh token is gone for good.
pub(crate) const PERMANENT_REFRESH_CODES: &[&str] = &[
    "invalid_grant",
    "refresh_token_reused",
    "refresh_token_expired",
    "refresh_token_invalidated",
    "not_found_error",
    "invalid_client",
    "unauthorized_client",
    "access_denied",
    "token_revoked",
];

/// Classifies a failed token-endpoint answer (status + parsed code only; the body is never kept).
pub(crate) fn refresh_failure(
    status: u16,
    body: &[u8],
    headers: &HeaderMap,
    now: UnixMs,
) -> RefreshFailure {
    let code = error_code(body);
    let permanent = status == 404
        || status == 401
        || code
            .as_deref()
            .is_some_and(|c| PERMANENT_REFRESH_CODES.contains(&c));
    if permanent && status != 429 && status < 500 {
        RefreshFailure::Permanent {
            code: code.unwrap_or_else(|| format!("http_{status}")),
        }
    } else {
        RefreshFailure::Transient {
            reason: code.unwrap_or_else(|| format!("HTTP {status}")),
            retry_after_ms: retry_after_ms(headers, now),
        }
    }
}

async fn refresh(ctx: &Providers, current: &SecretBundle) -> Result<SecretBundle, RefreshFailure> {
    let c = &ctx.config.anthropic;
    let Some(rt) = &current.refresh_token else {
        return Err(RefreshFailure::Permanent {
            code: "no_refresh_token".into(),
        });
    };
    // Claude Code sends the scopes the login holds (the configured ones for a login that
    // never said); the server keeps a refreshed token at those scopes.
    let scope = current
        .extra(extra::SCOPES)
        .map_or_else(|| c.scopes.join(" "), |s| s.expose().to_owned());
    let body = json!({
        "grant_type": "refresh_token",
        "refresh_token": rt.expose(),
        "client_id": c.client_id,
        "scope": scope,
    });
    let resp = as_claude_code(ctx.http.post(&c.token_url), ctx)
        .json(&body)
        .send()
        .await
        .map_err(|e| RefreshFailure::network(&e))?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = read_small(P, resp)
        .await
        .map_err(|e| RefreshFailure::Transient {
            reason: e.to_string(),
            retry_after_ms: None,
        })?;
    let now = rota_store::now_ms();
    if status != 200 {
        return Err(refresh_failure(status, &bytes, &headers, now));
    }
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| RefreshFailure::Transient {
        reason: "token response is not JSON".into(),
        retry_after_ms: None,
    })?;
    bundle_from_token(&v, Some(current), now).map_err(|e| RefreshFailure::Transient {
        reason: e.to_string(),
        retry_after_ms: None,
    })
}

// ------------------------------------------------------------------ usage

async fn fetch_usage(
    ctx: &Providers,
    auth: &AccountAuth,
    now: UnixMs,
) -> Result<UsageSnapshot, ProviderError> {
    let c = &ctx.config.anthropic;
    let resp = as_claude_code(ctx.http.get(format!("{}/api/oauth/usage", c.api_base)), ctx)
        .bearer_auth(auth.secrets.access_token.expose())
        .header("anthropic-beta", &c.oauth_beta)
        .send()
        .await
        .map_err(|e| ProviderError::network(P, &e))?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = read_small(P, resp).await?;
    match status {
        200 => {
            let v: Value =
                serde_json::from_slice(&bytes).map_err(|_| protocol("usage", "not JSON"))?;
            Ok(parse_usage(&v, now))
        }
        401 => Err(ProviderError::Unauthorized { provider: P }),
        429 => Err(ProviderError::RateLimited {
            provider: P,
            what: "usage endpoint",
            retry_at: retry_after_ms(&headers, now).map(|ms| now.saturating_add(ms)),
        }),
        _ => Err(ProviderError::Http {
            provider: P,
            what: "usage endpoint",
            status,
            code: error_code(&bytes),
        }),
    }
}

fn severity_of(v: Option<&Value>) -> Option<Severity> {
    match v?.as_str()? {
        "normal" => Some(Severity::Normal),
        "warning" => Some(Severity::Warning),
        "critical" => Some(Severity::Critical),
        _ => None,
    }
}

/// A flat window (`five_hour`, `seven_day_sonnet`, …: `{utilization 0–100, resets_at}`).
fn flat_window(v: Option<&Value>, kind: WindowKind, model: Option<&str>) -> Option<UsageWindow> {
    let o = v?.as_object()?;
    let utilization = json_f64(o.get("utilization"))?.clamp(0.0, 1000.0);
    let resets_at = o.get("resets_at").and_then(json_time);
    Some(match model {
        Some(m) => UsageWindow::scoped(kind, m, utilization, resets_at),
        None => UsageWindow::new(kind, utilization, resets_at),
    })
}

/// One `limits[]` entry: `{kind: session|weekly_all|weekly_scoped, group, percent 0–100,
/// severity, resets_at, scope: {model: {id?, display_name}}?}`. Unknown kinds are placed by
/// their `group` (`session` = 5 h, `weekly` = 7 d); entries that say neither are skipped.
fn limit_window(l: &Value) -> Option<UsageWindow> {
    let kind = l.get("kind").and_then(Value::as_str).unwrap_or_default();
    let group = l.get("group").and_then(Value::as_str).unwrap_or_default();
    let window_kind = match (kind, group) {
        ("session" | "five_hour", _) | (_, "session") => WindowKind::FiveHour,
        ("weekly_all" | "weekly_scoped" | "seven_day", _) | (_, "weekly") => WindowKind::SevenDay,
        _ => return None,
    };
    let percent = json_f64(l.get("percent").or_else(|| l.get("utilization")))?.clamp(0.0, 1000.0);
    let resets_at = l.get("resets_at").and_then(json_time);
    let model = l
        .pointer("/scope/model/display_name")
        .or_else(|| l.pointer("/scope/model/id"))
        .and_then(Value::as_str)
        .filter(|m| !m.trim().is_empty());
    let w = match model {
        Some(m) => UsageWindow::scoped(window_kind, m, percent, resets_at),
        // A scoped window that names no model cannot be told from the account's own.
        None if kind == "weekly_scoped" => return None,
        None => UsageWindow::new(window_kind, percent, resets_at),
    };
    Some(match severity_of(l.get("severity")) {
        Some(sev) => w.with_severity(sev),
        None => w,
    })
}

/// `/api/oauth/usage` → every window it reports: `limits[]` when present (session, weekly for
/// all models, weekly per model — `scope.model.display_name`), else the flat fields
/// (`five_hour`, `seven_day`, `seven_day_<model>` as that model's weekly window; each `null` or
/// `{utilization 0–100, resets_at}`). Flat windows `limits[]` lacks are added. Unknown keys are
/// ignored. The status comes from the account-wide windows only.
#[must_use]
pub fn parse_usage(v: &Value, fetched_at: UnixMs) -> UsageSnapshot {
    let mut windows: Vec<UsageWindow> = Vec::new();
    for w in v
        .get("limits")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(limit_window)
    {
        if !windows.iter().any(|x| x.key == w.key) {
            windows.push(w);
        }
    }
    let mut flat = vec![
        flat_window(v.get("five_hour"), WindowKind::FiveHour, None),
        flat_window(v.get("seven_day"), WindowKind::SevenDay, None),
    ];
    if let Some(o) = v.as_object() {
        for (key, value) in o {
            if let Some(model) = key.strip_prefix("seven_day_")
                && !matches!(model, "oauth_apps" | "cowork")
            {
                let name = display_model(model);
                flat.push(flat_window(Some(value), WindowKind::SevenDay, Some(&name)));
            }
        }
    }
    for w in flat.into_iter().flatten() {
        if !windows.iter().any(|x| x.key == w.key) {
            windows.push(w);
        }
    }
    sort_windows(&mut windows);
    let snapshot = UsageSnapshot {
        fetched_at,
        status: None,
        windows,
        usage: ProviderUsage::Anthropic(AnthropicExtra {
            extra_usage_enabled: v
                .pointer("/extra_usage/is_enabled")
                .and_then(Value::as_bool),
        }),
    };
    UsageSnapshot {
        status: Some(snapshot.derived_status()),
        ..snapshot
    }
}

/// `sonnet` → `Sonnet`: a flat key's model as a display name.
fn display_model(key: &str) -> String {
    let mut c = key.chars();
    c.next().map_or_else(String::new, |f| {
        f.to_uppercase()
            .chain(c)
            .collect::<String>()
            .replace('_', " ")
    })
}

// ------------------------------------------------------------------ unified headers

const UNIFIED: &str = "anthropic-ratelimit-unified-";

fn unified<'a>(headers: &'a HeaderMap, suffix: &str) -> Option<&'a str> {
    header_str(headers, &format!("{UNIFIED}{suffix}"))
}

fn status_of(s: Option<&str>) -> Option<LimitStatus> {
    match s? {
        "allowed" => Some(LimitStatus::Allowed),
        "allowed_warning" => Some(LimitStatus::AllowedWarning),
        "rejected" => Some(LimitStatus::Rejected),
        _ => None,
    }
}

fn header_window(headers: &HeaderMap, short: &str, kind: WindowKind) -> Option<UsageWindow> {
    let frac = header_f64(headers, &format!("{UNIFIED}{short}-utilization"))?;
    let reset = header_f64(headers, &format!("{UNIFIED}{short}-reset")).and_then(unix_to_ms);
    let w = UsageWindow::new(kind, (frac * 100.0).clamp(0.0, 1000.0), reset);
    Some(
        match status_of(unified(headers, &format!("{short}-status"))) {
            Some(LimitStatus::Rejected) => w.with_severity(Severity::Critical),
            Some(LimitStatus::AllowedWarning) => {
                let sev = Severity::Warning.max(w.severity);
                w.with_severity(sev)
            }
            _ => w,
        },
    )
}

/// The unified rate-limit headers of a gateway response → a usage update (utilization is a
/// fraction 0–1 there, reset unix seconds). Windows the headers do not carry (the per-model
/// ones) are kept from `prev`. A `rejected` overall status while the 5-hour and 7-day windows
/// are allowed is a model's cap, not the account's: the account stays `allowed`. `None` when
/// the response has no unified headers.
#[must_use]
pub fn usage_from_headers(
    headers: &HeaderMap,
    now: UnixMs,
    prev: Option<&UsageSnapshot>,
) -> Option<UsageSnapshot> {
    let five = header_window(headers, "5h", WindowKind::FiveHour);
    let seven = header_window(headers, "7d", WindowKind::SevenDay);
    let mut status = status_of(unified(headers, "status"));
    if five.is_none() && seven.is_none() && status.is_none() {
        return None;
    }
    if status == Some(LimitStatus::Rejected) && model_scoped_rejection(headers) {
        status = Some(LimitStatus::Allowed);
    }
    let (mut windows, extra) = match prev {
        Some(UsageSnapshot {
            windows,
            usage: ProviderUsage::Anthropic(x),
            ..
        }) => (windows.clone(), x.clone()),
        _ => (Vec::new(), AnthropicExtra::default()),
    };
    for w in [five, seven].into_iter().flatten() {
        match windows.iter_mut().find(|x| x.key == w.key) {
            Some(slot) => *slot = w,
            None => windows.push(w),
        }
    }
    sort_windows(&mut windows);
    Some(UsageSnapshot {
        fetched_at: now,
        status,
        windows,
        usage: ProviderUsage::Anthropic(extra),
    })
}

/// Whether a rejection is a model's cap: the representative claim names a per-model window
/// (`seven_day_<model>`, `…scoped…`), or neither account-wide window is rejected.
fn model_scoped_rejection(headers: &HeaderMap) -> bool {
    let claim = unified(headers, "representative-claim");
    if let Some(c) = claim {
        if scoped_claim_model(c).is_some() || c.contains("scoped") {
            return true;
        }
        if matches!(c, "five_hour" | "seven_day") {
            return false;
        }
    }
    let allowed = |short: &str| {
        matches!(
            status_of(unified(headers, &format!("{short}-status"))),
            Some(LimitStatus::Allowed | LimitStatus::AllowedWarning)
        )
    };
    allowed("5h") && allowed("7d")
}

/// The model a claim such as `seven_day_sonnet` / `seven_day_fable` names (display case).
fn scoped_claim_model(claim: &str) -> Option<String> {
    let model = claim.strip_prefix("seven_day_")?;
    (!model.is_empty() && !matches!(model, "oauth_apps" | "cowork" | "scoped"))
        .then(|| display_model(model))
}

/// What a 429's headers say about when the account is usable again: the resets of the
/// rejected windows (or, for a model-scoped cap, the overall reset), `retry-after`, and the
/// exhausted window named by `representative-claim`.
#[must_use]
pub fn rate_limit_signal(headers: &HeaderMap, now: UnixMs) -> RateLimitSignal {
    let mut resets = Vec::new();
    let mut window = None;
    for (short, kind) in [("5h", WindowKind::FiveHour), ("7d", WindowKind::SevenDay)] {
        let rejected = status_of(unified(headers, &format!("{short}-status")))
            == Some(LimitStatus::Rejected)
            || header_f64(headers, &format!("{UNIFIED}{short}-utilization"))
                .is_some_and(|f| f >= 1.0);
        if rejected {
            if let Some(r) =
                header_f64(headers, &format!("{UNIFIED}{short}-reset")).and_then(unix_to_ms)
            {
                resets.push(r);
            }
            window = Some(kind);
        }
    }
    if resets.is_empty()
        && let Some(r) = header_f64(headers, &format!("{UNIFIED}reset")).and_then(unix_to_ms)
    {
        resets.push(r);
    }
    let claim = unified(headers, "representative-claim");
    if let Some(claim) = claim {
        window = match claim {
            "five_hour" => Some(WindowKind::FiveHour),
            c if c.starts_with("seven_day") || c.starts_with("weekly") => {
                Some(WindowKind::SevenDay)
            }
            _ => window,
        };
    }
    // A model's cap: the claim's model when it names one; otherwise the gateway fills in the
    // request's model (`Some("")` marks "scoped, model unknown here").
    let model = model_scoped_rejection(headers)
        .then(|| claim.and_then(scoped_claim_model).unwrap_or_default());
    RateLimitSignal {
        resets_at: resets,
        retry_after_ms: retry_after_ms(headers, now),
        window,
        model,
    }
}

/// Whether a response says the account is drawing on paid extra usage, as Claude Code 2.1.330
/// decides it (`isUsingOverage`): `anthropic-ratelimit-unified-status: rejected` (the plan
/// limits are used up) while `…-overage-status` is `allowed` or `allowed_warning` (the request
/// was served from extra usage).
#[must_use]
pub fn is_using_overage(headers: &HeaderMap) -> bool {
    unified(headers, "status") == Some("rejected")
        && matches!(
            unified(headers, "overage-status"),
            Some("allowed" | "allowed_warning")
        )
}

/// Whether an error body is Anthropic's third-party-billing answer (`400 invalid_request_error`
/// "Third-party apps now draw from your extra usage, not your plan limits…"; organisations get
/// "…draw from extra usage, not plan limits…").
#[must_use]
pub fn is_third_party_billing(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("third-party apps now draw from")
        || (m.contains("third-party") && m.contains("extra usage"))
}

/// An upstream answer → core's [`Outcome`] (docs/rules.md §4). `body` is the (small, possibly
/// truncated) error body; only its `error.type`/`error.message` are read. The plan-limits-only
/// outcomes ([`Outcome::UsingExtraUsage`], [`Outcome::ExtraUsageBilled`]) are classified
/// always; the gateway turns them into the ordinary ones when the guard is off.
#[must_use]
pub fn classify(status: u16, headers: &HeaderMap, body: &[u8], now: UnixMs) -> Outcome {
    let kind = error_code(body);
    let message = error_message(body).map(|m| m.to_ascii_lowercase());
    let has = |needle: &str| message.as_deref().is_some_and(|m| m.contains(needle));
    match status {
        200..=399 if is_using_overage(headers) => Outcome::UsingExtraUsage {
            status,
            resets_at: rate_limit_signal(headers, now).resets_at.into_iter().max(),
        },
        200..=399 => Outcome::Success { status },
        400 if message.as_deref().is_some_and(is_third_party_billing) => Outcome::ExtraUsageBilled,
        429 if has("extra usage is required") || has("extra usage required") => {
            Outcome::FeatureGated
        }
        429 if has("temporarily limiting") => Outcome::Overloaded { status },
        429 => Outcome::RateLimited(rate_limit_signal(headers, now)),
        529 | 503 => Outcome::Overloaded { status },
        _ if kind.as_deref() == Some("overloaded_error") => Outcome::Overloaded { status },
        401 => Outcome::AuthFailed,
        _ => Outcome::OtherError { status },
    }
}

// ------------------------------------------------------------------ adapter

impl ProviderAdapter for Anthropic {
    fn id(&self) -> ProviderId {
        P
    }

    fn refresh<'a>(
        &'a self,
        ctx: &'a Providers,
        current: &'a SecretBundle,
    ) -> BoxFuture<'a, Result<SecretBundle, RefreshFailure>> {
        Box::pin(refresh(ctx, current))
    }

    fn fetch_usage<'a>(
        &'a self,
        ctx: &'a Providers,
        auth: &'a AccountAuth,
        now: UnixMs,
    ) -> BoxFuture<'a, Result<UsageSnapshot, ProviderError>> {
        Box::pin(fetch_usage(ctx, auth, now))
    }

    fn classify(&self, status: u16, headers: &HeaderMap, body: &[u8], now: UnixMs) -> Outcome {
        classify(status, headers, body, now)
    }

    fn usage_from_headers(
        &self,
        headers: &HeaderMap,
        now: UnixMs,
        prev: Option<&UsageSnapshot>,
    ) -> Option<UsageSnapshot> {
        usage_from_headers(headers, now, prev)
    }
}
