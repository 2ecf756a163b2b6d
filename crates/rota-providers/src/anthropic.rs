//! Anthropic (Claude Pro/Max through Claude's OAuth client): PKCE paste and loopback logins with
//! the JSON token endpoint, single-use refresh, `/api/oauth/usage`, the unified rate-limit
//! headers and 429 classification.

use std::time::Duration;

use futures_util::future::BoxFuture;
use http::HeaderMap;
use rota_core::{Outcome, RateLimitSignal};
use rota_store::SecretBundle;
use rota_types::{
    AccountIdentity, AnthropicUsage, LimitStatus, ProviderId, ProviderUsage, UnixMs, UsageSnapshot,
    UsageWindow, WindowKind,
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
    let resp = ctx
        .http
        .post(&c.token_url)
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
        plan: None,
    };
    // The profile adds the plan (and the identity when the token response lacks it).
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
        identity.plan = if profile.pointer("/account/has_claude_max") == Some(&Value::Bool(true)) {
            Some("max".into())
        } else if profile.pointer("/account/has_claude_pro") == Some(&Value::Bool(true)) {
            Some("pro".into())
        } else {
            None
        };
    }
    Ok(LoginResult {
        provider: P,
        identity,
        secrets,
    })
}

async fn fetch_profile(ctx: &Providers, access: &str) -> Result<Value, ProviderError> {
    let c = &ctx.config.anthropic;
    let resp = ctx
        .http
        .get(format!("{}/api/oauth/profile", c.api_base))
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

/// `{access_token, refresh_token, expires_in}` → secrets (the old refresh token is kept only
/// when the response carries none; extras are carried over).
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
        b.extras
            .insert("scopes".into(), rota_core::Secret::new(scope.to_owned()));
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
    let body = json!({
        "grant_type": "refresh_token",
        "refresh_token": rt.expose(),
        "client_id": c.client_id,
    });
    let resp = ctx
        .http
        .post(&c.token_url)
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
    let resp = ctx
        .http
        .get(format!("{}/api/oauth/usage", c.api_base))
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

fn window(v: Option<&Value>) -> Option<UsageWindow> {
    let o = v?.as_object()?;
    let utilization = json_f64(o.get("utilization").or_else(|| o.get("percent")))?;
    let resets_at = o.get("resets_at").and_then(json_time);
    Some(UsageWindow::new(utilization.clamp(0.0, 1000.0), resets_at))
}

/// `/api/oauth/usage` → usage: `five_hour`, `seven_day`, `seven_day_sonnet` (each `null` or
/// `{utilization 0–100, resets_at}`); windows missing there are taken from `limits[]`
/// (`{kind, percent, resets_at}`). Unknown keys (`seven_day_opus`, `extra_usage`, …) are ignored.
#[must_use]
pub fn parse_usage(v: &Value, fetched_at: UnixMs) -> UsageSnapshot {
    let mut u = AnthropicUsage {
        five_hour: window(v.get("five_hour")),
        seven_day: window(v.get("seven_day")),
        seven_day_sonnet: window(v.get("seven_day_sonnet")),
    };
    if let Some(limits) = v.get("limits").and_then(Value::as_array) {
        for l in limits {
            let slot = match l.get("kind").and_then(Value::as_str) {
                Some("five_hour") => &mut u.five_hour,
                Some("seven_day") => &mut u.seven_day,
                Some("seven_day_sonnet") => &mut u.seven_day_sonnet,
                _ => continue,
            };
            if slot.is_none() {
                *slot = window(Some(l));
            }
        }
    }
    let snapshot = UsageSnapshot {
        fetched_at,
        status: None,
        usage: ProviderUsage::Anthropic(u),
    };
    let max = snapshot.max_utilization();
    UsageSnapshot {
        status: Some(if max >= 100.0 {
            LimitStatus::Rejected
        } else if max >= 80.0 {
            LimitStatus::AllowedWarning
        } else {
            LimitStatus::Allowed
        }),
        ..snapshot
    }
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

fn header_window(headers: &HeaderMap, short: &str) -> Option<UsageWindow> {
    let frac = header_f64(headers, &format!("{UNIFIED}{short}-utilization"))?;
    let reset = header_f64(headers, &format!("{UNIFIED}{short}-reset")).and_then(unix_to_ms);
    Some(UsageWindow::new((frac * 100.0).clamp(0.0, 1000.0), reset))
}

/// The unified rate-limit headers of a gateway response → a usage update (utilization is a
/// fraction 0–1 there, reset unix seconds). Windows the headers do not carry (Sonnet) are kept
/// from `prev`. `None` when the response has no unified headers.
#[must_use]
pub fn usage_from_headers(
    headers: &HeaderMap,
    now: UnixMs,
    prev: Option<&UsageSnapshot>,
) -> Option<UsageSnapshot> {
    let five = header_window(headers, "5h");
    let seven = header_window(headers, "7d");
    let status = status_of(unified(headers, "status"));
    if five.is_none() && seven.is_none() && status.is_none() {
        return None;
    }
    let old = prev.and_then(|p| match &p.usage {
        ProviderUsage::Anthropic(u) => Some(u.clone()),
        _ => None,
    });
    let old = old.unwrap_or_default();
    Some(UsageSnapshot {
        fetched_at: now,
        status,
        usage: ProviderUsage::Anthropic(AnthropicUsage {
            five_hour: five.or(old.five_hour),
            seven_day: seven.or(old.seven_day),
            seven_day_sonnet: old.seven_day_sonnet,
        }),
    })
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
    if let Some(claim) = unified(headers, "representative-claim") {
        window = match claim {
            "five_hour" => Some(WindowKind::FiveHour),
            "seven_day" => Some(WindowKind::SevenDay),
            c if c.starts_with("seven_day_sonnet") => Some(WindowKind::SevenDaySonnet),
            c if c.starts_with("seven_day") => Some(WindowKind::SevenDay),
            _ => window,
        };
    }
    RateLimitSignal {
        resets_at: resets,
        retry_after_ms: retry_after_ms(headers, now),
        window,
    }
}

/// An upstream answer → core's [`Outcome`] (reliability.md §4). `body` is the (small, possibly
/// truncated) error body; only its `error.type`/`error.message` are read.
#[must_use]
pub fn classify(status: u16, headers: &HeaderMap, body: &[u8], now: UnixMs) -> Outcome {
    let kind = error_code(body);
    let message = error_message(body).map(|m| m.to_ascii_lowercase());
    let has = |needle: &str| message.as_deref().is_some_and(|m| m.contains(needle));
    match status {
        200..=399 => Outcome::Success { status },
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
