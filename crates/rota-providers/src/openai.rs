//! OpenAI (ChatGPT Plus/Pro through the Codex OAuth client): PKCE login with a loopback callback
//! (`127.0.0.1:1455`, fallback 1457), the headless device flow, form-encoded token endpoint with
//! single-use refresh, identity from the `id_token`, `wham/usage`, `x-codex-*` headers and 429
//! classification.

use std::time::Duration;

use futures_util::future::BoxFuture;
use http::HeaderMap;
use rota_core::{Outcome, RateLimitSignal, Secret};
use rota_store::SecretBundle;
use rota_types::{
    AccountIdentity, LimitStatus, OpenAiUsage, ProviderId, ProviderUsage, UnixMs, UsageSnapshot,
    UsageWindow, WindowKind, sort_windows,
};
use serde_json::{Value, json};

use crate::adapter::{AccountAuth, ProviderAdapter, Providers, RefreshFailure};
use crate::error::{LoginFailure, ProviderError};
use crate::http::{
    error_code, error_message, header_f64, json_f64, read_small, retry_after_ms, unix_to_ms,
};
use crate::loopback::CallbackServer;
use crate::oauth::{self, LoginResult, PkceSession, jwt_claims};

const P: ProviderId = ProviderId::OpenAi;
/// The claim object of ChatGPT identity in OpenAI's JWTs.
pub const AUTH_CLAIM: &str = "https://api.openai.com/auth";
/// Bundle extra holding the `id_token`.
pub const ID_TOKEN: &str = "id_token";

/// The OpenAI adapter.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenAi;

fn protocol(what: &'static str, problem: &str) -> ProviderError {
    ProviderError::Protocol {
        provider: P,
        what,
        problem: problem.to_owned(),
    }
}

// ------------------------------------------------------------------ browser login

/// A started browser login: the callback server is listening; open `url`.
#[derive(Debug)]
pub struct BrowserLogin {
    pub url: String,
    session: PkceSession,
    server: CallbackServer,
}

impl BrowserLogin {
    /// Binds `127.0.0.1` on the first usable configured port (a busy one is asked to
    /// `/cancel` first; then the next port is tried) and builds the authorize URL.
    pub async fn begin(ctx: &Providers) -> Result<Self, ProviderError> {
        let c = &ctx.config.openai;
        let server = CallbackServer::bind(&c.callback_ports, "/auth/callback").await?;
        let redirect = format!("http://{}:{}/auth/callback", c.callback_host, server.port());
        let (url, session) = oauth::authorize(
            &format!("{}/oauth/authorize", c.issuer),
            &c.client_id,
            &redirect,
            &c.scopes,
            &[
                ("id_token_add_organizations", "true"),
                ("codex_cli_simplified_flow", "true"),
                ("originator", &c.originator),
            ],
        )?;
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

    #[must_use]
    pub fn session(&self) -> &PkceSession {
        &self.session
    }

    /// Waits for the callback (state checked; `/cancel` ends it), then exchanges the code.
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
        exchange(
            ctx,
            cb.code.expose(),
            &self.session.redirect_uri,
            self.session.verifier.expose(),
        )
        .await
    }
}

async fn exchange(
    ctx: &Providers,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> Result<LoginResult, ProviderError> {
    let c = &ctx.config.openai;
    let resp = ctx
        .http
        .post(format!("{}/oauth/token", c.issuer))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("client_id", &c.client_id),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .map_err(|e| ProviderError::network(P, &e))?;
    let status = resp.status().as_u16();
    let bytes = read_small(P, resp).await?;
    if status != 200 {
        let code = error_code(&bytes).unwrap_or_else(|| format!("http_{status}"));
        return Err(ProviderError::Login(P, LoginFailure::Refused(code)));
    }
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| protocol("token", "not JSON"))?;
    let secrets = bundle_from_token(&v, None, rota_store::now_ms())?;
    let identity = secrets
        .extra(ID_TOKEN)
        .map(|t| identity_from_id_token(t.expose()))
        .unwrap_or_default();
    Ok(LoginResult {
        provider: P,
        identity,
        secrets,
    })
}

/// `email` and the ChatGPT claims (`chatgpt_account_id`, `chatgpt_plan_type`) of an `id_token`.
#[must_use]
pub fn identity_from_id_token(id_token: &str) -> AccountIdentity {
    let Some(claims) = jwt_claims(id_token) else {
        return AccountIdentity::default();
    };
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let auth = claims.get(AUTH_CLAIM);
    AccountIdentity {
        account_id: s(auth.and_then(|a| a.get("chatgpt_account_id"))),
        email: s(claims.get("email")),
        organization: None,
        plan: s(auth.and_then(|a| a.get("chatgpt_plan_type"))),
    }
}

/// The `ChatGPT-Account-Id` of an account: its identity, else its `id_token`'s claim.
#[must_use]
pub fn account_id(auth: &AccountAuth) -> Option<String> {
    auth.identity.account_id.clone().or_else(|| {
        auth.secrets
            .extra(ID_TOKEN)
            .and_then(|t| identity_from_id_token(t.expose()).account_id)
    })
}

fn bundle_from_token(
    v: &Value,
    previous: Option<&SecretBundle>,
    now: UnixMs,
) -> Result<SecretBundle, ProviderError> {
    let s = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(Secret::new)
    };
    let access = s("access_token").ok_or_else(|| protocol("token", "no access_token"))?;
    let mut b = SecretBundle {
        access_token: access,
        refresh_token: s("refresh_token")
            .or_else(|| previous.and_then(|p| p.refresh_token.clone())),
        expires_at: None,
        extras: previous.map(|p| p.extras.clone()).unwrap_or_default(),
    };
    // expires_in is optional: assume an hour (docs/providers.md §2).
    let expires_in = json_f64(v.get("expires_in")).unwrap_or(3600.0);
    b.expires_at = Some(now.saturating_add((expires_in * 1000.0) as i64));
    if let Some(id) = s("id_token") {
        b.extras.insert(ID_TOKEN.into(), id);
    }
    Ok(b)
}

// ------------------------------------------------------------------ device flow

/// A started headless login: show `user_code`, open `verification_url`, then
/// [`DeviceLogin::wait`].
#[derive(Debug, Clone)]
pub struct DeviceLogin {
    pub user_code: String,
    pub verification_url: String,
    device_auth_id: String,
    /// Seconds between polls.
    pub interval: Duration,
}

impl DeviceLogin {
    pub async fn begin(ctx: &Providers) -> Result<Self, ProviderError> {
        let c = &ctx.config.openai;
        let resp = ctx
            .http
            .post(format!("{}/api/accounts/deviceauth/usercode", c.issuer))
            .json(&json!({"client_id": c.client_id}))
            .send()
            .await
            .map_err(|e| ProviderError::network(P, &e))?;
        let status = resp.status().as_u16();
        let bytes = read_small(P, resp).await?;
        if status != 200 {
            return Err(ProviderError::Http {
                provider: P,
                what: "device code",
                status,
                code: error_code(&bytes),
            });
        }
        let v: Value =
            serde_json::from_slice(&bytes).map_err(|_| protocol("device code", "not JSON"))?;
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let device_auth_id =
            s("device_auth_id").ok_or_else(|| protocol("device code", "no device_auth_id"))?;
        let user_code = s("user_code")
            .or_else(|| s("usercode"))
            .ok_or_else(|| protocol("device code", "no user_code"))?;
        let interval = json_f64(v.get("interval")).unwrap_or(5.0).clamp(0.0, 60.0);
        Ok(Self {
            user_code,
            verification_url: format!("{}/codex/device", c.issuer),
            device_auth_id,
            interval: Duration::from_secs_f64(interval),
        })
    }

    /// Polls until approved (then exchanges the code), denied, expired or `timeout`.
    pub async fn wait(
        &self,
        ctx: &Providers,
        timeout: Duration,
    ) -> Result<LoginResult, ProviderError> {
        let c = &ctx.config.openai;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let resp = ctx
                .http
                .post(format!("{}/api/accounts/deviceauth/token", c.issuer))
                .json(&json!({"device_auth_id": self.device_auth_id, "user_code": self.user_code}))
                .send()
                .await
                .map_err(|e| ProviderError::network(P, &e))?;
            let status = resp.status().as_u16();
            let bytes = read_small(P, resp).await?;
            let code = error_code(&bytes);
            match status {
                200 => {
                    let v: Value = serde_json::from_slice(&bytes)
                        .map_err(|_| protocol("device token", "not JSON"))?;
                    let get = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default();
                    let redirect = format!("{}/deviceauth/callback", c.issuer);
                    return exchange(
                        ctx,
                        get("authorization_code"),
                        &redirect,
                        get("code_verifier"),
                    )
                    .await;
                }
                403 | 404 => {}
                410 => return Err(ProviderError::Login(P, LoginFailure::Expired)),
                _ if code.as_deref() == Some("expired_token") => {
                    return Err(ProviderError::Login(P, LoginFailure::Expired));
                }
                _ if code.as_deref() == Some("access_denied") => {
                    return Err(ProviderError::Login(
                        P,
                        LoginFailure::Denied("access_denied".into()),
                    ));
                }
                _ => {
                    return Err(ProviderError::Http {
                        provider: P,
                        what: "device token",
                        status,
                        code,
                    });
                }
            }
            if tokio::time::Instant::now() + self.interval > deadline {
                return Err(ProviderError::Login(P, LoginFailure::TimedOut));
            }
            tokio::time::sleep(self.interval).await;
        }
    }
}

// ------------------------------------------------------------------ refresh

async fn refresh(ctx: &Providers, current: &SecretBundle) -> Result<SecretBundle, RefreshFailure> {
    let c = &ctx.config.openai;
    let Some(rt) = &current.refresh_token else {
        return Err(RefreshFailure::Permanent {
            code: "no_refresh_token".into(),
        });
    };
    let resp = ctx
        .http
        .post(format!("{}/oauth/token", c.issuer))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt.expose()),
            ("client_id", &c.client_id),
        ])
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
        return Err(crate::anthropic::refresh_failure(
            status, &bytes, &headers, now,
        ));
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
    let c = &ctx.config.openai;
    let mut req = ctx
        .http
        .get(format!("{}/wham/usage", c.backend_base))
        .bearer_auth(auth.secrets.access_token.expose());
    if let Some(id) = account_id(auth) {
        req = req.header("ChatGPT-Account-Id", id);
    }
    let resp = req
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

/// One window of `wham/usage` (`{used_percent, limit_window_seconds, reset_at,
/// reset_after_seconds}`), classified by its length: 18000 s = 5-Hour, 604800 s = 7-Day,
/// ~30 days = 30-Day. A window of unknown length takes `fallback` (its slot: primary = 5-Hour,
/// secondary = 7-Day). `model` scopes it to one model (`additional_rate_limits[].limit_name`).
fn wham_window(
    v: Option<&Value>,
    fallback: WindowKind,
    model: Option<&str>,
    now: UnixMs,
) -> Option<UsageWindow> {
    let o = v?.as_object()?;
    let used = json_f64(o.get("used_percent"))?.clamp(0.0, 1000.0);
    let len = json_f64(o.get("limit_window_seconds")).filter(|l| *l > 0.0);
    let reset = json_f64(o.get("reset_at"))
        .and_then(unix_to_ms)
        .or_else(|| {
            json_f64(o.get("reset_after_seconds"))
                .filter(|s| *s >= 0.0)
                .map(|s| now.saturating_add((s.min(1e9) * 1000.0) as i64))
        });
    Some(window(
        len.map_or(fallback, WindowKind::from_seconds),
        model,
        used,
        reset,
        len.map(|l| (l / 60.0).round().clamp(0.0, f64::from(u32::MAX)) as u32),
    ))
}

fn window(
    kind: WindowKind,
    model: Option<&str>,
    used: f64,
    reset: Option<UnixMs>,
    minutes: Option<u32>,
) -> UsageWindow {
    match model {
        Some(m) => UsageWindow::scoped(kind, m, used, reset),
        None => UsageWindow::new(kind, used, reset),
    }
    .with_minutes(minutes)
}

/// Adds `w` unless a window with its key is there already (two windows of one length: the
/// first wins).
fn push(windows: &mut Vec<UsageWindow>, w: Option<UsageWindow>) {
    if let Some(w) = w
        && !windows.iter().any(|x| x.key == w.key)
    {
        windows.push(w);
    }
}

/// `wham/usage` → usage: `rate_limit.{primary,secondary}_window` classified by length (a
/// free/Plus account's only weekly window arrives as `primary_window`), then
/// `additional_rate_limits[]` as windows of one model each (`limit_name`, e.g. the Spark
/// model). The status comes from the account-wide windows and `limit_reached`/`allowed`.
#[must_use]
pub fn parse_usage(v: &Value, fetched_at: UnixMs) -> UsageSnapshot {
    let rl = v.get("rate_limit");
    let mut windows = Vec::new();
    for (key, fallback) in [
        ("primary_window", WindowKind::FiveHour),
        ("secondary_window", WindowKind::SevenDay),
    ] {
        let w = wham_window(rl.and_then(|r| r.get(key)), fallback, None, fetched_at);
        push(&mut windows, w);
    }
    for extra in v
        .get("additional_rate_limits")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(name) = extra
            .get("limit_name")
            .or_else(|| extra.get("metered_feature"))
            .and_then(Value::as_str)
            .filter(|n| !n.trim().is_empty())
        else {
            continue;
        };
        let inner = extra.get("rate_limit");
        for (key, fallback) in [
            ("primary_window", WindowKind::FiveHour),
            ("secondary_window", WindowKind::SevenDay),
        ] {
            let w = wham_window(
                inner.and_then(|r| r.get(key)),
                fallback,
                Some(name),
                fetched_at,
            );
            push(&mut windows, w);
        }
    }
    sort_windows(&mut windows);
    let reached = rl
        .and_then(|r| r.get("limit_reached"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
        || rl.and_then(|r| r.get("allowed")).and_then(Value::as_bool) == Some(false);
    let snap = UsageSnapshot {
        fetched_at,
        status: None,
        windows,
        usage: ProviderUsage::OpenAi(OpenAiUsage {
            plan_type: v
                .get("plan_type")
                .and_then(Value::as_str)
                .map(str::to_owned),
        }),
    };
    let derived = snap.derived_status();
    UsageSnapshot {
        status: Some(if reached {
            LimitStatus::Rejected
        } else {
            derived
        }),
        ..snap
    }
}

fn codex_window(
    headers: &HeaderMap,
    name: &str,
    fallback: WindowKind,
    now: UnixMs,
) -> Option<UsageWindow> {
    let used = header_f64(headers, &format!("x-codex-{name}-used-percent"))?;
    let minutes =
        header_f64(headers, &format!("x-codex-{name}-window-minutes")).filter(|m| *m > 0.0);
    let reset = header_f64(headers, &format!("x-codex-{name}-reset-at"))
        .and_then(unix_to_ms)
        .or_else(|| {
            header_f64(headers, &format!("x-codex-{name}-reset-after-seconds"))
                .filter(|s| *s >= 0.0)
                .map(|s| now.saturating_add((s.min(1e9) * 1000.0) as i64))
        });
    Some(window(
        minutes.map_or(fallback, |m| WindowKind::from_seconds(m * 60.0)),
        None,
        used.clamp(0.0, 1000.0),
        reset,
        minutes.map(|m| m.clamp(0.0, f64::from(u32::MAX)) as u32),
    ))
}

/// `x-codex-{primary,secondary}-*` response headers → a usage update (classified by window
/// length); the windows the headers do not carry (per-model ones) are kept from `prev`. `None`
/// when absent.
#[must_use]
pub fn usage_from_headers(
    headers: &HeaderMap,
    now: UnixMs,
    prev: Option<&UsageSnapshot>,
) -> Option<UsageSnapshot> {
    let p = codex_window(headers, "primary", WindowKind::FiveHour, now);
    let s = codex_window(headers, "secondary", WindowKind::SevenDay, now);
    if p.is_none() && s.is_none() {
        return None;
    }
    let (mut windows, extra) = match prev {
        Some(UsageSnapshot {
            windows,
            usage: ProviderUsage::OpenAi(x),
            ..
        }) => (windows.clone(), x.clone()),
        _ => (Vec::new(), OpenAiUsage::default()),
    };
    let mut fresh = Vec::new();
    push(&mut fresh, p);
    push(&mut fresh, s);
    for w in fresh {
        match windows.iter_mut().find(|x| x.key == w.key) {
            Some(slot) => *slot = w,
            None => windows.push(w),
        }
    }
    sort_windows(&mut windows);
    let snap = UsageSnapshot {
        fetched_at: now,
        status: None,
        windows,
        usage: ProviderUsage::OpenAi(extra),
    };
    Some(UsageSnapshot {
        status: Some(if snap.max_utilization() >= 100.0 {
            LimitStatus::Rejected
        } else {
            LimitStatus::Allowed
        }),
        ..snap
    })
}

/// A 429's reset information: `resets_in_seconds`/`resets_at` of the body, the resets of
/// exhausted `x-codex-*` windows, `retry-after`.
#[must_use]
pub fn rate_limit_signal(headers: &HeaderMap, body: &[u8], now: UnixMs) -> RateLimitSignal {
    let mut resets = Vec::new();
    let mut window = None;
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        let e = v.get("error");
        if let Some(s) = json_f64(e.and_then(|e| e.get("resets_in_seconds"))).filter(|s| *s > 0.0) {
            resets.push(now.saturating_add((s.min(1e9) * 1000.0) as i64));
        } else if let Some(at) = json_f64(e.and_then(|e| e.get("resets_at"))).and_then(unix_to_ms) {
            resets.push(at);
        }
    }
    if let Some(u) = usage_from_headers(headers, now, None) {
        for w in u.windows.iter().filter(|w| w.utilization >= 100.0) {
            resets.extend(w.resets_at);
            window = Some(w.kind);
        }
    }
    RateLimitSignal {
        resets_at: resets,
        retry_after_ms: retry_after_ms(headers, now),
        window,
        model: None,
    }
}

/// An upstream answer → core's [`Outcome`].
#[must_use]
pub fn classify(status: u16, headers: &HeaderMap, body: &[u8], now: UnixMs) -> Outcome {
    let kind = error_code(body);
    let message = error_message(body).map(|m| m.to_ascii_lowercase());
    let transient = message
        .as_deref()
        .is_some_and(|m| m.contains("temporarily limiting"));
    match (status, kind.as_deref()) {
        (200..=399, _) => Outcome::Success { status },
        (429, Some("usage_not_included")) => Outcome::FeatureGated,
        (429, _) if transient => Outcome::Overloaded { status },
        (429, _) => Outcome::RateLimited(rate_limit_signal(headers, body, now)),
        (503 | 529, _) | (_, Some("server_is_overloaded")) => Outcome::Overloaded { status },
        (401, _) => Outcome::AuthFailed,
        _ => Outcome::OtherError { status },
    }
}

impl ProviderAdapter for OpenAi {
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
