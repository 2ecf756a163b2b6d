//! GitHub Copilot: the device flow (github.com or an Enterprise domain), the long-lived GitHub
//! token exchanged for a ~30-minute Copilot token (cached in memory, re-exchanged before
//! expiry), the premium-request quota and 429 classification.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use futures_util::future::BoxFuture;
use http::HeaderMap;
use rota_core::{Outcome, RateLimitSignal, Secret};
use rota_store::SecretBundle;
use rota_types::{
    AccountIdentity, CopilotUsage, LimitStatus, ProviderId, ProviderUsage, UnixMs, UsageSnapshot,
    UsageWindow, WindowKind,
};
use serde_json::{Value, json};

use crate::adapter::{AccountAuth, ProviderAdapter, Providers, RefreshFailure};
use crate::error::{LoginFailure, ProviderError};
use crate::http::{
    error_code, header_f64, json_f64, json_time, read_small, retry_after_ms, unix_to_ms,
};
use crate::oauth::LoginResult;

const P: ProviderId = ProviderId::GithubCopilot;
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// Bundle extra naming the GitHub Enterprise domain of the account.
pub const ENTERPRISE_URL: &str = "enterprise_url";

/// The Copilot adapter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Copilot;

fn protocol(what: &'static str, problem: &str) -> ProviderError {
    ProviderError::Protocol {
        provider: P,
        what,
        problem: problem.to_owned(),
    }
}

// ------------------------------------------------------------------ device flow

/// A started device login: show `user_code`, open `verification_uri`, then poll.
#[derive(Debug, Clone)]
pub struct DeviceLogin {
    pub user_code: String,
    pub verification_uri: String,
    device_code: Secret,
    /// Current polling interval (grows on `slow_down`).
    pub interval: Duration,
    /// When the device code expires (tokio clock).
    pub expires_at: tokio::time::Instant,
}

/// One poll's answer.
#[derive(Debug)]
pub enum DevicePoll {
    /// `authorization_pending`: poll again after the interval.
    Pending,
    /// `slow_down`: the interval was raised to this.
    SlowDown(Duration),
    /// Approved: the GitHub token and identity.
    Done(Box<LoginResult>),
}

impl DeviceLogin {
    /// `POST /login/device/code` on the configured GitHub (or Enterprise) host.
    pub async fn begin(ctx: &Providers) -> Result<Self, ProviderError> {
        let c = &ctx.config.github;
        let resp = ctx
            .http
            .post(format!("{}/login/device/code", c.web_base))
            .header("Accept", "application/json")
            .json(&json!({"client_id": c.client_id, "scope": c.scope}))
            .send()
            .await
            .map_err(|e| ProviderError::network(P, &e))?;
        let status = resp.status().as_u16();
        let bytes = read_small(P, resp).await?;
        let v: Value =
            serde_json::from_slice(&bytes).map_err(|_| protocol("device code", "not JSON"))?;
        if status != 200 || v.get("error").is_some() {
            return Err(ProviderError::Http {
                provider: P,
                what: "device code",
                status,
                code: error_code(&bytes),
            });
        }
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let interval = json_f64(v.get("interval")).unwrap_or(5.0).clamp(0.0, 120.0);
        let expires_in = json_f64(v.get("expires_in"))
            .unwrap_or(900.0)
            .clamp(0.0, 3600.0);
        Ok(Self {
            user_code: s("user_code").ok_or_else(|| protocol("device code", "no user_code"))?,
            verification_uri: s("verification_uri")
                .unwrap_or_else(|| format!("{}/login/device", c.web_base)),
            device_code: Secret::new(
                s("device_code").ok_or_else(|| protocol("device code", "no device_code"))?,
            ),
            interval: Duration::from_secs_f64(interval),
            expires_at: tokio::time::Instant::now() + Duration::from_secs_f64(expires_in),
        })
    }

    /// One `POST /login/oauth/access_token`. `slow_down` raises [`DeviceLogin::interval`] by the
    /// configured step (5 s), or to the server's new `interval` when that is larger.
    pub async fn poll_once(&mut self, ctx: &Providers) -> Result<DevicePoll, ProviderError> {
        let c = &ctx.config.github;
        let resp = ctx
            .http
            .post(format!("{}/login/oauth/access_token", c.web_base))
            .header("Accept", "application/json")
            .json(&json!({
                "client_id": c.client_id,
                "device_code": self.device_code.expose(),
                "grant_type": DEVICE_GRANT,
            }))
            .send()
            .await
            .map_err(|e| ProviderError::network(P, &e))?;
        let status = resp.status().as_u16();
        let bytes = read_small(P, resp).await?;
        let v: Value =
            serde_json::from_slice(&bytes).map_err(|_| protocol("device token", "not JSON"))?;
        if let Some(token) = v
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        {
            let mut secrets = SecretBundle::new(token);
            if c.domain != "github.com" {
                secrets = secrets.with_extra(ENTERPRISE_URL, c.domain.clone());
            }
            let identity = fetch_identity(ctx, token).await.unwrap_or_default();
            return Ok(DevicePoll::Done(Box::new(LoginResult {
                provider: P,
                identity,
                secrets,
            })));
        }
        match error_code(&bytes).as_deref() {
            Some("authorization_pending") => Ok(DevicePoll::Pending),
            Some("slow_down") => {
                let stepped = self.interval + Duration::from_secs(c.slow_down_secs);
                let server = json_f64(v.get("interval"))
                    .filter(|s| *s >= 0.0 && *s <= 600.0)
                    .map(Duration::from_secs_f64)
                    .unwrap_or_default();
                self.interval = stepped.max(server);
                Ok(DevicePoll::SlowDown(self.interval))
            }
            Some("expired_token") => Err(ProviderError::Login(P, LoginFailure::Expired)),
            Some("access_denied") => Err(ProviderError::Login(
                P,
                LoginFailure::Denied("access_denied".into()),
            )),
            code => Err(ProviderError::Http {
                provider: P,
                what: "device token",
                status,
                code: code.map(str::to_owned),
            }),
        }
    }

    /// Polls every [`DeviceLogin::interval`] until approved, denied, expired or `timeout`.
    pub async fn wait(
        &mut self,
        ctx: &Providers,
        timeout: Duration,
    ) -> Result<LoginResult, ProviderError> {
        let deadline = (tokio::time::Instant::now() + timeout).min(self.expires_at);
        loop {
            tokio::time::sleep(self.interval).await;
            match self.poll_once(ctx).await? {
                DevicePoll::Done(r) => return Ok(*r),
                DevicePoll::Pending | DevicePoll::SlowDown(_) => {}
            }
            if tokio::time::Instant::now() + self.interval > deadline {
                let failure = if deadline == self.expires_at {
                    LoginFailure::Expired
                } else {
                    LoginFailure::TimedOut
                };
                return Err(ProviderError::Login(P, failure));
            }
        }
    }
}

/// The GitHub login and Copilot plan of a token (`copilot_internal/user`).
async fn fetch_identity(ctx: &Providers, token: &str) -> Result<AccountIdentity, ProviderError> {
    let v = get_user(ctx, token, rota_store::now_ms()).await?;
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    Ok(AccountIdentity {
        account_id: s("login"),
        email: None,
        organization: None,
        plan: s("copilot_plan"),
    })
}

// ------------------------------------------------------------------ Copilot token

/// An exchanged Copilot API token.
#[derive(Debug, Clone)]
pub struct CopilotToken {
    pub token: Secret,
    /// Unix ms.
    pub expires_at: UnixMs,
    /// `endpoints.api`, when named.
    pub api_base: Option<String>,
    /// The GitHub token itself, used directly (its exchange answered 404: opencode's GitHub
    /// app); such a request carries no IDE headers.
    pub direct: bool,
}

/// In-memory cache of Copilot tokens per record id (never persisted: they live ~30 minutes).
#[derive(Debug, Default)]
pub struct CopilotTokens {
    cache: Mutex<HashMap<String, CopilotToken>>,
}

impl CopilotTokens {
    fn get(&self, key: &str, now: UnixMs, skew_ms: i64) -> Option<CopilotToken> {
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .filter(|t| t.expires_at.saturating_sub(now) > skew_ms)
            .cloned()
    }

    fn put(&self, key: &str, token: CopilotToken) {
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.to_owned(), token);
    }

    /// Forgets an account's token (after a 401 from the Copilot API).
    pub fn invalidate(&self, key: &str) {
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }
}

impl Copilot {
    /// The account's Copilot token: cached while it has more than the configured skew left,
    /// else exchanged at `copilot_internal/v2/token`.
    pub async fn api_token(
        ctx: &Providers,
        auth: &AccountAuth,
        now: UnixMs,
    ) -> Result<CopilotToken, ProviderError> {
        let c = &ctx.config.github;
        let skew = i64::try_from(c.copilot_token_skew_secs)
            .unwrap_or(i64::MAX)
            .saturating_mul(1000);
        if let Some(t) = ctx.copilot.get(&auth.record_id, now, skew) {
            return Ok(t);
        }
        let direct = || {
            let t = CopilotToken {
                token: auth.secrets.access_token.clone(),
                expires_at: UnixMs::MAX,
                api_base: None,
                direct: true,
            };
            ctx.copilot.put(&auth.record_id, t.clone());
            t
        };
        if auth.secrets.extra(rota_store::COPILOT_DIRECT).is_some() {
            return Ok(direct());
        }
        let resp = ctx
            .http
            .get(format!("{}/copilot_internal/v2/token", c.api_base))
            .header(
                "Authorization",
                format!("token {}", auth.secrets.access_token.expose()),
            )
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|e| ProviderError::network(P, &e))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = read_small(P, resp).await?;
        match status {
            200 => {}
            // A token of a GitHub app that Copilot does not exchange for (opencode's): the
            // Copilot API takes it as it is. Remembered for the account (in memory, until a 401).
            404 => {
                tracing::info!(account = %auth.record_id, "Copilot token exchange answered 404; using the GitHub token directly");
                return Ok(direct());
            }
            401 | 403 => return Err(ProviderError::Unauthorized { provider: P }),
            429 => {
                return Err(ProviderError::RateLimited {
                    provider: P,
                    what: "Copilot token exchange",
                    retry_at: retry_after_ms(&headers, now).map(|ms| now.saturating_add(ms)),
                });
            }
            _ => {
                return Err(ProviderError::Http {
                    provider: P,
                    what: "Copilot token exchange",
                    status,
                    code: error_code(&bytes),
                });
            }
        }
        let v: Value =
            serde_json::from_slice(&bytes).map_err(|_| protocol("Copilot token", "not JSON"))?;
        let token = v
            .get("token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| protocol("Copilot token", "no token"))?;
        let expires_at = json_f64(v.get("expires_at"))
            .and_then(unix_to_ms)
            .or_else(|| {
                json_f64(v.get("refresh_in"))
                    .map(|s| now.saturating_add((s.min(1e7) * 1000.0) as i64))
            })
            .unwrap_or(now + 25 * 60_000);
        let t = CopilotToken {
            token: Secret::new(token),
            expires_at,
            api_base: v
                .pointer("/endpoints/api")
                .and_then(Value::as_str)
                .map(str::to_owned),
            direct: false,
        };
        ctx.copilot.put(&auth.record_id, t.clone());
        Ok(t)
    }
}

// ------------------------------------------------------------------ quota

async fn get_user(ctx: &Providers, token: &str, now: UnixMs) -> Result<Value, ProviderError> {
    let c = &ctx.config.github;
    let resp = ctx
        .http
        .get(format!("{}/copilot_internal/user", c.api_base))
        .header("Authorization", format!("token {token}"))
        .header("Accept", "application/json")
        .send()
        .await
        .map_err(|e| ProviderError::network(P, &e))?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = read_small(P, resp).await?;
    match status {
        200 => serde_json::from_slice(&bytes).map_err(|_| protocol("quota", "not JSON")),
        401 => Err(ProviderError::Unauthorized { provider: P }),
        429 => Err(ProviderError::RateLimited {
            provider: P,
            what: "quota endpoint",
            retry_at: retry_after_ms(&headers, now).map(|ms| now.saturating_add(ms)),
        }),
        _ => Err(ProviderError::Http {
            provider: P,
            what: "quota endpoint",
            status,
            code: error_code(&bytes),
        }),
    }
}

/// Which quota Rota shows: AI credits where the account reports them (a quota whose id names
/// credits), else `premium_models`, else `premium_interactions` (the order VS Code reads them
/// in). `chat` and `completions` are unlimited on paid plans and not shown. Returns the id and
/// whether it counts credits.
fn pick_quota<'a>(ids: &[&'a str]) -> Option<(&'a str, bool)> {
    if let Some(id) = ids.iter().find(|id| id.contains("credit")) {
        return Some((id, true));
    }
    ["premium_models", "premium_interactions"]
        .into_iter()
        .find_map(|want| ids.iter().find(|id| **id == want))
        .map(|id| (*id, false))
}

fn status_of(premium: Option<&UsageWindow>) -> Option<LimitStatus> {
    premium.map(|w| {
        if w.utilization >= 100.0 {
            LimitStatus::Rejected
        } else if w.utilization >= 80.0 {
            LimitStatus::AllowedWarning
        } else {
            LimitStatus::Allowed
        }
    })
}

/// `copilot_internal/user` → usage: the shown quota ([`pick_quota`]; `100 - percent_remaining`
/// used), reset at `quota_reset_date(_utc)`.
#[must_use]
pub fn parse_usage(v: &Value, fetched_at: UnixMs) -> UsageSnapshot {
    let snapshots = v.get("quota_snapshots").and_then(Value::as_object);
    let ids: Vec<&str> = snapshots
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let picked = pick_quota(&ids);
    let q = picked.and_then(|(id, _)| snapshots.and_then(|m| m.get(id)));
    let f = |k: &str| json_f64(q.and_then(|q| q.get(k)));
    let unlimited = q
        .and_then(|q| q.get("unlimited"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let reset = v
        .get("quota_reset_date_utc")
        .and_then(json_time)
        .or_else(|| v.get("quota_reset_date").and_then(json_time));
    let entitlement = f("entitlement");
    let remaining = f("remaining").or_else(|| f("quota_remaining"));
    let percent_remaining = f("percent_remaining").or_else(|| match (entitlement, remaining) {
        (Some(total), Some(left)) if total > 0.0 => Some(left / total * 100.0),
        _ => None,
    });
    let credits = picked.is_some_and(|(_, credits)| credits);
    let premium = if q.is_some() && !unlimited {
        percent_remaining
            .map(|p| UsageWindow::new(quota_kind(credits), (100.0 - p).clamp(0.0, 100.0), reset))
    } else {
        None
    };
    let usage = CopilotUsage {
        entitlement: entitlement.filter(|e| *e >= 0.0).map(|e| e as u64),
        remaining,
        unlimited,
        credits,
    };
    UsageSnapshot {
        fetched_at,
        status: status_of(premium.as_ref()),
        windows: premium.into_iter().collect(),
        usage: ProviderUsage::GithubCopilot(usage),
    }
}

/// The window kind of the quota shown: AI credits or premium requests.
fn quota_kind(credits: bool) -> WindowKind {
    if credits {
        WindowKind::Credits
    } else {
        WindowKind::Premium
    }
}

/// `x-quota-snapshot-<quota_id>` response headers → usage. Each value is a URL-encoded query:
/// `ent` (entitlement, -1 when unlimited), `rem` (percent remaining), `rst` (reset time),
/// `ov`/`ovPerm` (overage used/permitted). The quota shown is chosen as in [`parse_usage`].
#[must_use]
pub fn usage_from_quota_headers(headers: &HeaderMap, now: UnixMs) -> Option<UsageSnapshot> {
    const PREFIX: &str = "x-quota-snapshot-";
    let ids: Vec<&str> = headers
        .keys()
        .filter_map(|k| k.as_str().strip_prefix(PREFIX))
        .collect();
    let (id, credits) = pick_quota(&ids)?;
    let raw = headers.get(format!("{PREFIX}{id}"))?.to_str().ok()?;
    let q: HashMap<String, String> = serde_urlencoded::from_str(raw).ok()?;
    let num = |k: &str| {
        q.get(k)
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|f| f.is_finite())
    };
    let percent_remaining = num("rem")?.clamp(0.0, 100.0);
    let entitlement = num("ent");
    let unlimited = entitlement.is_some_and(|e| e < 0.0);
    let reset = q
        .get("rst")
        .and_then(|r| json_time(&Value::String(r.clone())));
    let premium = (!unlimited)
        .then(|| UsageWindow::new(quota_kind(credits), 100.0 - percent_remaining, reset));
    let usage = CopilotUsage {
        entitlement: entitlement.filter(|e| *e >= 0.0).map(|e| e as u64),
        remaining: entitlement
            .filter(|e| *e > 0.0)
            .map(|e| (e * percent_remaining / 100.0 * 100.0).round() / 100.0),
        unlimited,
        credits,
    };
    Some(UsageSnapshot {
        fetched_at: now,
        status: status_of(premium.as_ref()),
        windows: premium.into_iter().collect(),
        usage: ProviderUsage::GithubCopilot(usage),
    })
}

async fn fetch_usage(
    ctx: &Providers,
    auth: &AccountAuth,
    now: UnixMs,
) -> Result<UsageSnapshot, ProviderError> {
    let v = get_user(ctx, auth.secrets.access_token.expose(), now).await?;
    Ok(parse_usage(&v, now))
}

/// The waiting time Copilot puts in a 429's message ("… retry after 840 seconds"), in seconds.
fn retry_after_in_message(message: &str) -> Option<i64> {
    let rest = &message[message.find("retry after ")? + "retry after ".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let secs: i64 = digits.parse().ok()?;
    rest[digits.len()..]
        .trim_start()
        .starts_with("second")
        .then_some(secs.min(366 * 86_400))
}

/// An upstream answer → core's [`Outcome`].
///
/// - 402 (or 429) `quota_exceeded` (also `free_quota_exceeded`, `overage_limit_reached`): the
///   monthly premium quota or credits are used up; no rate-limit headers, the reset is the
///   account's quota reset date ([`Outcome::QuotaExhausted`]).
/// - 429 `user_global_rate_limited:<plan>` (the session, 5-hour limit) and
///   `user_weekly_rate_limited:<plan>`: the waiting time is in the message ("retry after 840
///   seconds"), sometimes also in `retry-after`; the later one counts.
/// - 429 "temporarily limiting": the service, not the account.
/// - Other 429s carry `retry-after` and sometimes `x-ratelimit-reset`.
#[must_use]
pub fn classify(status: u16, headers: &HeaderMap, body: &[u8], now: UnixMs) -> Outcome {
    let code = error_code(body);
    let kind = code.as_deref().map(|c| c.split(':').next().unwrap_or(c));
    let message = crate::http::error_message(body).map(|m| m.to_ascii_lowercase());
    let quota = matches!(
        kind,
        Some("quota_exceeded" | "free_quota_exceeded" | "overage_limit_reached")
    );
    match status {
        200..=399 => Outcome::Success { status },
        402 | 429 if quota => Outcome::QuotaExhausted { resets_at: None },
        429 if message
            .as_deref()
            .is_some_and(|m| m.contains("temporarily limiting")) =>
        {
            Outcome::Overloaded { status }
        }
        429 => {
            let waited = message
                .as_deref()
                .and_then(retry_after_in_message)
                .map(|s| now.saturating_add(s.saturating_mul(1000)));
            Outcome::RateLimited(RateLimitSignal {
                resets_at: header_f64(headers, "x-ratelimit-reset")
                    .and_then(unix_to_ms)
                    .into_iter()
                    .chain(waited)
                    .collect(),
                retry_after_ms: retry_after_ms(headers, now),
                window: match kind {
                    Some("user_global_rate_limited") => Some(WindowKind::FiveHour),
                    Some("user_weekly_rate_limited") => Some(WindowKind::SevenDay),
                    _ => None,
                },
                model: None,
            })
        }
        503 | 529 => Outcome::Overloaded { status },
        401 => Outcome::AuthFailed,
        _ => Outcome::OtherError { status },
    }
}

impl ProviderAdapter for Copilot {
    fn id(&self) -> ProviderId {
        P
    }

    /// GitHub tokens do not rotate: there is nothing to refresh (a 401 on the Copilot API is
    /// answered by re-exchanging the Copilot token, [`CopilotTokens::invalidate`]).
    fn refresh<'a>(
        &'a self,
        _ctx: &'a Providers,
        _current: &'a SecretBundle,
    ) -> BoxFuture<'a, Result<SecretBundle, RefreshFailure>> {
        Box::pin(async {
            Err(RefreshFailure::Permanent {
                code: "no_refresh_token".into(),
            })
        })
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

    /// Copilot answers carry `x-quota-snapshot-*` headers ([`usage_from_quota_headers`]).
    fn usage_from_headers(
        &self,
        headers: &HeaderMap,
        now: UnixMs,
        _prev: Option<&UsageSnapshot>,
    ) -> Option<UsageSnapshot> {
        usage_from_quota_headers(headers, now)
    }
}
