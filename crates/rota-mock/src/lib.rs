//! # rota-mock: a mock of the Anthropic, OpenAI (Codex) and GitHub Copilot servers
//!
//! Real provider servers cannot be reached from the build machines, so tests, benchmarks and the
//! demo mode talk to this server instead. It speaks the real protocols (see
//! `docs/providers.md`) over real HTTP on `127.0.0.1`, with scriptable failures. It is a library
//! ([`MockServer::start`] → [`MockHandle`]) and a binary (`rota-mock --demo`).
//!
//! ## URL layout
//!
//! One server, one prefix per provider. Every real origin of a provider maps to the same base,
//! so a client replaces `https://<real host>` by the provider base and keeps the path:
//!
//! | Real origin | Mock base |
//! |---|---|
//! | `https://claude.ai`, `https://platform.claude.com`, `https://console.anthropic.com`, `https://api.anthropic.com` | `{base}/anthropic` |
//! | `https://auth.openai.com` (issuer), `https://chatgpt.com` | `{base}/openai` |
//! | `https://github.com`, `https://api.github.com`, `https://api.githubcopilot.com` | `{base}/github` |
//! | control API | `{base}/_mock` |
//!
//! Endpoints (path after the provider base):
//!
//! - **Anthropic**: `GET /oauth/authorize` (auto-approves: a loopback `redirect_uri` gets a 302
//!   with `code` and `state`; any other `redirect_uri` is the paste flow and the page shows
//!   `code#state` in `<code id="auth-code">`; `deny=1` answers `error=access_denied`;
//!   `mock_account=<id|email>` picks the account), `POST /v1/oauth/token` (JSON body only;
//!   `authorization_code` with PKCE S256, `redirect_uri` and `state` checked, codes single use;
//!   `refresh_token` with single-use refresh tokens: reuse → 400 `invalid_grant`, and the access
//!   token of the old pair stops working), `GET /api/oauth/profile`, `GET /api/oauth/usage`,
//!   `POST /v1/messages` (JSON or SSE with `"stream": true`, `anthropic-ratelimit-unified-*`
//!   headers from the account's usage). Profile, usage and messages need
//!   `Authorization: Bearer <access>` and `anthropic-beta` containing `oauth-2025-04-20`.
//! - **OpenAI**: `GET /oauth/authorize` (302 to the loopback `redirect_uri`), `POST /oauth/token`
//!   (exchange form-encoded; refresh form or JSON; errors `refresh_token_reused`,
//!   `refresh_token_expired`, `refresh_token_invalidated` as 401
//!   `{"error":{"code":…}}`), `POST /api/accounts/deviceauth/usercode`,
//!   `POST /api/accounts/deviceauth/token` (403 pending, 404 unknown, 410 expired, 400 denied,
//!   then `{authorization_code, code_challenge, code_verifier}`; exchange it with
//!   `redirect_uri={base}/openai/deviceauth/callback`), `GET /codex/device`,
//!   `GET /backend-api/wham/usage`, `POST /backend-api/codex/responses` (SSE only, like the real
//!   one). Backend calls need `Authorization: Bearer` and a matching `ChatGPT-Account-Id`.
//!   Access tokens and `id_token`s are RS256-looking JWTs with random signatures carrying
//!   `email` and the `https://api.openai.com/auth` claim.
//! - **GitHub**: `POST /login/device/code`, `POST /login/oauth/access_token` (HTTP 200 with
//!   `authorization_pending`, `slow_down` + new `interval` when polled faster than the interval,
//!   `expired_token`, `access_denied`, `incorrect_device_code`; JSON with `Accept:
//!   application/json`, else form-encoded), `GET /login/device`,
//!   `GET /copilot_internal/v2/token` (`Authorization: token gho_…`; `endpoints.api` is
//!   `{base}/github`), `GET /copilot_internal/user`, `POST /chat/completions` (JSON or SSE;
//!   accepts the Copilot token or the GitHub token as Bearer).
//!
//! ## Control
//!
//! In process through [`MockHandle`], from other processes through `/_mock` (JSON; bodies are
//! the serde forms of the types in [`model`]):
//!
//! | Method, path | Body → answer |
//! |---|---|
//! | `GET /_mock/urls` | → [`MockUrls`] |
//! | `GET /_mock/accounts`, `POST /_mock/accounts` | [`NewAccount`] → [`AccountInfo`] (201) |
//! | `GET /_mock/accounts/{key}` | → [`AccountInfo`] (`key` = id, email, current access token or any refresh token) |
//! | `PUT /_mock/accounts/{key}/usage` | [`Usage`] → [`AccountInfo`] |
//! | `POST /_mock/accounts/{key}/script`, `DELETE …/script` | [`ScriptStep`] → 204 |
//! | `POST /_mock/accounts/{key}/expire` | `{"what": "access"\|"refresh"\|"both"}` → [`AccountInfo`] |
//! | `POST /_mock/login/{provider}` | [`LoginPlan`] → 204 (who the next browser/device login is) |
//! | `GET /_mock/devices`, `POST /_mock/devices/{user_code}/{approve\|deny\|expire}` | `{"account"?}` → [`DeviceInfo`] |
//! | `GET /_mock/log`, `DELETE /_mock/log` | → `[`[`LoggedRequest`]`]` |
//! | `POST /_mock/reset` | → 204 |
//! | `POST /_mock/clock` | `{"advance_seconds": n}` → `{"now"}` (moves expiries and resets) |
//! | `POST /_mock/demo` | → the demo accounts |
//!
//! Scripted behaviours ([`Behavior`]) are queued per account (one-shot, `times` copies) or set
//! sticky, for a [`Scope`] of endpoints (`api` by default). An account whose 5-hour or 7-day
//! window is at 100 % answers API requests with a quota 429 until the window resets.
//!
//! ## What it deliberately does not do
//!
//! No TLS, no real signatures, no persistence; token counts are derived from the request size;
//! the reply text is fixed. Control requests are not authenticated: bind to loopback only.

pub mod model;

mod anthropic;
pub mod claude_code;
mod control;
mod github;
mod log;
mod openai;
mod reset_credits;
mod respond;
#[cfg(feature = "store")]
pub mod seed;
mod state;
mod util;

/// The `code#state` the Anthropic sign-in page shows (`<code id="auth-code">`), unescaped as a
/// user copies it; `None` on any other page.
#[must_use]
pub fn auth_code_on_page(html: &str) -> Option<String> {
    let marker = "<code id=\"auth-code\">";
    let start = html.find(marker)? + marker.len();
    let end = start + html[start..].find("</code>")?;
    Some(util::html_unescape(&html[start..end]))
}

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rota_types::ProviderId;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use model::{
    AccountInfo, Behavior, Credential, DeviceInfo, DeviceState, ExpireWhat, ExtraUsage,
    LimitWindow, LoggedRequest, LoginPlan, MockConfig, MockUrls, NewAccount, Quota, ResetCredit,
    Scope, ScriptStep, Usage, Window,
};
pub use state::MockError;
use state::Shared;

/// Starts mock servers.
#[derive(Debug)]
pub struct MockServer;

impl MockServer {
    /// Binds `config.host:config.port` (port 0 = a free one) and serves until the handle is
    /// shut down or dropped.
    pub async fn start(config: MockConfig) -> std::io::Result<MockHandle> {
        let listener = TcpListener::bind((config.host, config.port)).await?;
        let addr = listener.local_addr()?;
        let host = match addr {
            SocketAddr::V6(a) => format!("[{}]", a.ip()),
            SocketAddr::V4(a) => a.ip().to_string(),
        };
        let base = format!("http://{host}:{}", addr.port());
        let (shared, stop) = Shared::new(config, &base);
        let shared = Arc::new(shared);
        let app = router(shared.clone());
        let mut rx = stop.subscribe();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = rx.wait_for(|v| *v).await;
            });
            if let Err(e) = serve.await {
                // Nothing to hand the error to: the server task is detached.
                eprintln!("rota-mock: server error: {e}");
            }
        });
        Ok(MockHandle {
            shared,
            addr,
            stop,
            task: Some(task),
        })
    }
}

fn router(shared: Arc<Shared>) -> Router {
    let providers = Router::new()
        .nest("/anthropic", anthropic::routes())
        .nest("/openai", openai::routes().merge(reset_credits::routes()))
        .nest("/github", github::routes())
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            log::record,
        ));
    Router::new()
        .nest("/_mock", control::routes())
        .merge(providers)
        .layer(DefaultBodyLimit::max(64 << 20))
        .with_state(shared)
}

async fn not_found(uri: axum::http::Uri) -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({
            "type": "error",
            "error": {"type": "not_found_error", "message": format!("rota-mock: no route for {}", uri.path())},
        })),
    )
        .into_response()
}

/// A running mock server. Dropping it stops the server (stalled streams end too).
#[derive(Debug)]
pub struct MockHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("base", &self.urls.base)
            .finish_non_exhaustive()
    }
}

impl MockHandle {
    /// `http://127.0.0.1:<port>`.
    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.shared.urls.base
    }

    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every provider base and the control base.
    #[must_use]
    pub fn urls(&self) -> &MockUrls {
        &self.shared.urls
    }

    /// The base replacing a provider's real origins, e.g. `{base}/anthropic`.
    #[must_use]
    pub fn provider_base(&self, provider: ProviderId) -> &str {
        self.shared.urls.provider(provider)
    }

    #[must_use]
    pub fn config(&self) -> &MockConfig {
        &self.shared.config
    }

    /// Creates an account with a fresh token set (as if it had logged in).
    pub fn add_account(&self, new: NewAccount) -> AccountInfo {
        self.shared.add_account(new)
    }

    /// An account by id, email, current access token, or refresh token (current or used).
    pub fn account(&self, key: &str) -> Result<AccountInfo, MockError> {
        self.shared.account(key)
    }

    pub fn accounts(&self) -> Vec<AccountInfo> {
        self.shared.accounts()
    }

    /// Replaces an account's usage numbers (`resets_in_seconds` become absolute resets).
    pub fn set_usage(&self, key: &str, usage: Usage) -> Result<AccountInfo, MockError> {
        self.shared.set_usage(key, usage)
    }

    /// Queues a one-shot behaviour (`times` copies) or sets the sticky one.
    pub fn script(&self, key: &str, step: ScriptStep) -> Result<(), MockError> {
        self.shared.script(key, step)
    }

    /// Queues one data-plane behaviour.
    pub fn push_behavior(&self, key: &str, behavior: Behavior) -> Result<(), MockError> {
        self.shared.script(key, ScriptStep::once(behavior))
    }

    /// Sets the sticky data-plane behaviour.
    pub fn set_sticky(&self, key: &str, behavior: Behavior) -> Result<(), MockError> {
        self.shared.script(key, ScriptStep::sticky(behavior))
    }

    /// Clears the queue and the sticky behaviour.
    pub fn clear_script(&self, key: &str) -> Result<(), MockError> {
        self.shared.clear_script(key)
    }

    /// Expires the current access token, refresh token or both.
    pub fn expire(&self, key: &str, what: ExpireWhat) -> Result<AccountInfo, MockError> {
        self.shared.expire(key, what)
    }

    /// Decides the next browser or device login of a provider.
    pub fn next_login(&self, provider: ProviderId, plan: LoginPlan) {
        self.shared.push_login(provider, plan);
    }

    pub fn devices(&self) -> Vec<DeviceInfo> {
        self.shared.devices()
    }

    /// Approves a device code (user code or device code) for `account`, or the queued login
    /// plan's account, or a new account.
    pub fn approve_device(
        &self,
        code: &str,
        account: Option<&str>,
    ) -> Result<DeviceInfo, MockError> {
        self.shared
            .device_action(code, DeviceState::Approved, account)
    }

    pub fn deny_device(&self, code: &str) -> Result<DeviceInfo, MockError> {
        self.shared.device_action(code, DeviceState::Denied, None)
    }

    pub fn expire_device(&self, code: &str) -> Result<DeviceInfo, MockError> {
        self.shared.device_action(code, DeviceState::Expired, None)
    }

    /// The request log, oldest first.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.shared.log()
    }

    pub fn clear_requests(&self) {
        self.shared.clear_log();
    }

    /// Moves the server's clock (token expiry, device expiry, window resets).
    pub fn advance_clock(&self, seconds: i64) {
        self.shared.advance_clock(seconds);
    }

    /// The server's now, unix seconds.
    #[must_use]
    pub fn now(&self) -> i64 {
        self.shared.now()
    }

    /// Forgets accounts, tokens, codes, scripts, the log and the clock offset.
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// Seeds the demo accounts (three per provider) and returns them.
    pub fn seed_demo(&self) -> Vec<AccountInfo> {
        seed_demo(&self.shared)
    }

    /// Stops the server and waits for it (open connections are closed; stalls end).
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Serves until the server stops (for the binary).
    pub async fn wait(mut self) {
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for MockHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Three accounts per provider: one fresh, one near its limit, one cooling down.
pub(crate) fn seed_demo(s: &Shared) -> Vec<AccountInfo> {
    let w = Window::new;
    let mut out = Vec::new();
    let sets: [(ProviderId, [&str; 3]); 3] = [
        (
            ProviderId::Anthropic,
            ["ada@example.com", "grace@example.com", "linus@example.com"],
        ),
        (
            ProviderId::OpenAi,
            ["ada@example.org", "grace@example.org", "linus@example.org"],
        ),
        (
            ProviderId::GithubCopilot,
            ["ada@example.net", "grace@example.net", "linus@example.net"],
        ),
    ];
    for (provider, emails) in sets {
        let usages = [
            Usage {
                seven_day_sonnet: Some(w(8.0, 400_000)),
                premium_interactions: Quota::limited(300, 262),
                ..Usage::windows(w(12.0, 3 * 3600), w(31.0, 300_000))
            },
            Usage {
                seven_day_sonnet: Some(w(40.0, 200_000)),
                premium_interactions: Quota::limited(300, 21),
                ..Usage::windows(w(93.0, 5_400), w(64.0, 200_000))
            },
            Usage {
                seven_day_sonnet: Some(w(70.0, 100_000)),
                premium_interactions: Quota::limited(300, 0),
                ..Usage::windows(w(100.0, 2_400), w(78.0, 100_000))
            },
        ];
        // A model-scoped weekly window per account (Anthropic's Fable, Codex's Spark); the
        // second account's is used up, so that model's requests go to the others.
        let scoped_model = match provider {
            ProviderId::Anthropic => Some("Fable"),
            ProviderId::OpenAi => Some("GPT-5.3-Codex-Spark"),
            ProviderId::GithubCopilot => None,
        };
        let usages =
            usages
                .into_iter()
                .zip([22.0, 100.0, 55.0])
                .map(|(u, pct)| match scoped_model {
                    Some(m) => u.scoped(m, w(pct, 200_000)),
                    None => u,
                });
        for (email, usage) in emails.into_iter().zip(usages) {
            let name = email.split('@').next().unwrap_or_default();
            let mut label: Vec<char> = name.chars().collect();
            if let Some(c) = label.first_mut() {
                *c = c.to_ascii_uppercase();
            }
            out.push(
                s.add_account(
                    NewAccount::new(provider)
                        .email(email)
                        .label(label.into_iter().collect::<String>())
                        .usage(usage),
                ),
            );
        }
    }
    out
}
