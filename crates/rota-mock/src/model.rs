//! Public data types: configuration, accounts, usage, scripted behaviours, the request log.
//! All of them are the JSON bodies of the control API too (`snake_case` fields).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use rota_types::ProviderId;
use serde::{Deserialize, Serialize};

/// How the server is started and the protocol constants it enforces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MockConfig {
    /// Interface to bind; loopback by default.
    pub host: IpAddr,
    /// Port to bind; `0` picks a free one.
    pub port: u16,
    /// Anthropic OAuth client id the authorize/token endpoints accept.
    pub anthropic_client_id: String,
    /// OpenAI (Codex) OAuth client id the authorize/token/device endpoints accept.
    pub openai_client_id: String,
    /// GitHub OAuth client ids accepted by the device flow; empty = any.
    pub github_client_ids: Vec<String>,
    /// Anthropic `expires_in` of access tokens (seconds).
    pub anthropic_expires_in: i64,
    /// OpenAI `expires_in` of access tokens (seconds).
    pub openai_expires_in: i64,
    /// Lifetime of a Copilot token from `/copilot_internal/v2/token` (seconds).
    pub copilot_token_ttl: i64,
    /// Device flows: polling interval announced (and, for GitHub, enforced with `slow_down`).
    pub device_interval_secs: u64,
    /// GitHub `slow_down` adds this to the device code's interval.
    pub slow_down_increment_secs: u64,
    /// Device codes expire after this many seconds.
    pub device_expires_in_secs: i64,
    /// Approve device codes by themselves after this long (demo mode); `None` = wait for control.
    pub device_auto_approve_after_ms: Option<u64>,
    /// Delay between streamed SSE events (0 = as fast as possible).
    pub stream_chunk_delay_ms: u64,
    /// Text the assistant answers with (split into words for streaming deltas).
    pub reply_text: String,
    /// Percentage points added to the 5-hour and 7-day windows by each successful API request.
    pub usage_per_request: f64,
    /// Utilization fraction from which a window reports `allowed_warning`.
    pub warning_threshold: f64,
    /// How many requests the log keeps (oldest dropped first).
    pub log_capacity: usize,
    /// Keep request bodies (UTF-8, up to 64 KiB each) in the log.
    pub log_bodies: bool,
    /// Fail what the real services fail today (on by default): Anthropic's `/api/oauth/usage`
    /// and token endpoint answer 429 to a `User-Agent` that is not Claude Code's; its Messages
    /// API answers a third-party app's OAuth request with the third-party-billing 400 and one
    /// whose system prompt is not Claude Code's with a 400 ([`crate::claude_code`]), and serves
    /// an account whose plan window is used up from extra usage when that is enabled (overage
    /// headers) instead of a 429; Copilot's API
    /// takes an exchanged token only with `Editor-Version` (else `400 missing Editor-Version
    /// header for IDE auth`) and a GitHub token only from a login of a GitHub app it is not
    /// exchanged for ([`NewAccount::copilot_direct`]).
    pub strict: bool,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            anthropic_client_id: "9d1c250a-e61b-44d9-88ed-5944d1962f5e".into(),
            openai_client_id: "app_EMoamEEZ73f0CkXaXp7hrann".into(),
            github_client_ids: Vec::new(),
            anthropic_expires_in: 28_800,
            openai_expires_in: 3_600,
            copilot_token_ttl: 1_800,
            device_interval_secs: 5,
            slow_down_increment_secs: 5,
            device_expires_in_secs: 900,
            device_auto_approve_after_ms: None,
            stream_chunk_delay_ms: 0,
            reply_text: "Hello from rota-mock. This is a scripted answer.".into(),
            usage_per_request: 0.0,
            warning_threshold: 0.8,
            log_capacity: 10_000,
            log_bodies: true,
            strict: true,
        }
    }
}

impl MockConfig {
    pub(crate) fn chunk_delay(&self) -> Duration {
        Duration::from_millis(self.stream_chunk_delay_ms)
    }
}

/// A usage window: `utilization` in percent (0–100) and when it resets (unix seconds).
/// When `resets_at` has passed the window has rolled over: it reads as 0 % until the next reset.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Window {
    pub utilization: f64,
    #[serde(default)]
    pub resets_at: Option<i64>,
    /// Input convenience: `resets_at = now + resets_in_seconds` (applied when the usage is set).
    #[serde(default, skip_serializing)]
    pub resets_in_seconds: Option<i64>,
}

impl Window {
    /// A window at `utilization` percent resetting `resets_in_seconds` from the server's now.
    #[must_use]
    pub fn new(utilization: f64, resets_in_seconds: i64) -> Self {
        Self {
            utilization,
            resets_at: None,
            resets_in_seconds: Some(resets_in_seconds),
        }
    }
}

/// Anthropic `extra_usage`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ExtraUsage {
    pub is_enabled: bool,
    pub monthly_limit: Option<f64>,
    pub used_credits: Option<f64>,
    pub utilization: Option<f64>,
}

/// A GitHub Copilot quota snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Quota {
    pub entitlement: i64,
    pub remaining: i64,
    pub unlimited: bool,
    pub overage_permitted: bool,
    pub overage_count: i64,
}

impl Default for Quota {
    fn default() -> Self {
        Self::unlimited()
    }
}

impl Quota {
    #[must_use]
    pub fn unlimited() -> Self {
        Self {
            entitlement: 0,
            remaining: 0,
            unlimited: true,
            overage_permitted: false,
            overage_count: 0,
        }
    }

    #[must_use]
    pub fn limited(entitlement: i64, remaining: i64) -> Self {
        Self {
            entitlement,
            remaining,
            unlimited: false,
            overage_permitted: false,
            overage_count: 0,
        }
    }

    pub(crate) fn percent_remaining(&self) -> f64 {
        if self.unlimited || self.entitlement <= 0 {
            100.0
        } else {
            (self.remaining as f64 / self.entitlement as f64 * 100.0).clamp(0.0, 100.0)
        }
    }
}

/// An account's usage numbers. Anthropic reports every window; OpenAI reports `five_hour` as the
/// primary and `seven_day` as the secondary window (`swap_windows` swaps their order); GitHub
/// reports the quotas.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Usage {
    pub five_hour: Option<Window>,
    pub seven_day: Option<Window>,
    pub seven_day_sonnet: Option<Window>,
    pub seven_day_opus: Option<Window>,
    /// Weekly windows of one model each (display name → window): Anthropic reports them as
    /// `limits[]` entries of kind `weekly_scoped`, `OpenAI` as `additional_rate_limits[]`. A
    /// request for such a model while its window is at 100 % gets a model-scoped 429.
    pub scoped: BTreeMap<String, Window>,
    /// Anthropic: answer `limits[]` only, without the flat `five_hour`/`seven_day…` fields.
    pub limits_only: bool,
    pub extra_usage: ExtraUsage,
    /// OpenAI: list the 7-day window as `primary_window` (real responses do this sometimes).
    pub swap_windows: bool,
    pub premium_interactions: Quota,
    pub chat: Quota,
    pub completions: Quota,
    /// GitHub `quota_reset_date` (`YYYY-MM-DD`); `None` = first day of next month.
    pub quota_reset_date: Option<String>,
    /// GitHub: AI credits (reported as the `ai_credits` quota); when set, requests spend these
    /// instead of premium interactions.
    pub credits: Option<Quota>,
    /// OpenAI: banked rate-limit reset credits (`wham/rate-limit-reset-credits`).
    pub reset_credits: Vec<ResetCredit>,
}

/// An OpenAI rate-limit reset credit: single use; redeeming it clears both windows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResetCredit {
    pub id: String,
    /// Unix seconds.
    pub granted_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
    /// The `redeem_request_id` that consumed it.
    #[serde(default)]
    pub redeemed_by: Option<String>,
}

impl ResetCredit {
    #[must_use]
    pub fn new(id: impl Into<String>, expires_at: i64) -> Self {
        Self {
            id: id.into(),
            granted_at: 0,
            expires_at,
            redeemed_by: None,
        }
    }
}

impl Default for Usage {
    fn default() -> Self {
        Self {
            five_hour: Some(Window::default()),
            seven_day: Some(Window::default()),
            seven_day_sonnet: Some(Window::default()),
            seven_day_opus: None,
            scoped: BTreeMap::new(),
            limits_only: false,
            extra_usage: ExtraUsage::default(),
            swap_windows: false,
            premium_interactions: Quota::limited(300, 300),
            chat: Quota::unlimited(),
            completions: Quota::unlimited(),
            quota_reset_date: None,
            credits: None,
            reset_credits: Vec::new(),
        }
    }
}

impl Usage {
    /// Usage with the given 5-hour and 7-day utilizations (percent) and resets.
    #[must_use]
    pub fn windows(five_hour: Window, seven_day: Window) -> Self {
        Self {
            five_hour: Some(five_hour),
            seven_day: Some(seven_day),
            ..Self::default()
        }
    }

    /// Adds a weekly window of one model (`"Fable"`, `"GPT-5.3-Codex-Spark"`).
    #[must_use]
    pub fn scoped(mut self, model: impl Into<String>, window: Window) -> Self {
        self.scoped.insert(model.into(), window);
        self
    }

    /// The scoped window that limits `model` (a request's model id) and is used up.
    pub(crate) fn capped_scope(&self, model: &str) -> Option<(&str, Window)> {
        let model = model.to_lowercase();
        self.scoped
            .iter()
            .find(|(name, w)| {
                w.utilization >= 100.0 && model.contains(&name.to_lowercase().replace(' ', "-"))
            })
            .map(|(name, w)| (name.as_str(), *w))
    }
}

/// What to create with [`crate::MockHandle::add_account`] / `POST /_mock/accounts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewAccount {
    pub provider: ProviderId,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub label: Option<String>,
    /// Plan: Anthropic `max`/`pro`, OpenAI `plus`/`pro`, GitHub `individual_pro`…
    #[serde(default)]
    pub plan: Option<String>,
    #[serde(default)]
    pub usage: Option<Usage>,
    /// GitHub: a login of opencode's own GitHub app: `copilot_internal/v2/token` answers 404,
    /// the GitHub token is taken directly by the Copilot API.
    #[serde(default)]
    pub copilot_direct: bool,
}

impl NewAccount {
    #[must_use]
    pub fn new(provider: ProviderId) -> Self {
        Self {
            provider,
            email: None,
            label: None,
            plan: None,
            usage: None,
            copilot_direct: false,
        }
    }

    /// A Copilot login of a GitHub app whose token is used directly (see the field).
    #[must_use]
    pub fn copilot_direct(mut self) -> Self {
        self.copilot_direct = true;
        self
    }

    #[must_use]
    pub fn email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }

    #[must_use]
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    #[must_use]
    pub fn plan(mut self, plan: impl Into<String>) -> Self {
        self.plan = Some(plan.into());
        self
    }

    #[must_use]
    pub fn usage(mut self, usage: Usage) -> Self {
        self.usage = Some(usage);
        self
    }
}

/// An account as the mock knows it, with its current tokens (fake, safe to print).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountInfo {
    /// Mock-local id: `anthropic-1`, `openai-2`, `github-copilot-1`…
    pub id: String,
    pub provider: ProviderId,
    pub email: String,
    pub label: Option<String>,
    pub plan: String,
    /// Anthropic `account.uuid`; OpenAI `chatgpt_user_id`; GitHub numeric user id.
    pub account_uuid: String,
    /// Anthropic `organization.uuid`.
    pub organization_uuid: Option<String>,
    /// Anthropic `organization.name`.
    pub organization_name: Option<String>,
    /// OpenAI `chatgpt_account_id` (the `ChatGPT-Account-Id` header).
    pub chatgpt_account_id: Option<String>,
    /// GitHub login.
    pub github_login: Option<String>,
    /// Latest access token (Anthropic `sk-ant-oat01-…`, OpenAI JWT, GitHub `gho_…`).
    pub access_token: String,
    /// Latest refresh token (none for GitHub).
    pub refresh_token: Option<String>,
    /// OpenAI `id_token`.
    pub id_token: Option<String>,
    /// Access-token expiry, unix seconds (none for GitHub).
    pub expires_at: Option<i64>,
    pub usage: Usage,
    /// Data-plane requests (messages / responses / chat completions) that reached this account.
    pub api_requests: u64,
    /// GitHub: see [`NewAccount::copilot_direct`].
    #[serde(default)]
    pub copilot_direct: bool,
}

/// Which window a scripted unified 429 names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitWindow {
    #[default]
    FiveHour,
    SevenDay,
}

/// A scripted answer. Error kinds replace the response; `latency`, `slow_stream`, `stall` and
/// `cut` change how the normal response is delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Behavior {
    /// Quota 429 with reset information: Anthropic unified headers (`status: rejected`, the
    /// window's reset, `retry-after`); on OpenAI `usage_limit_reached`; on GitHub `retry-after`.
    RateLimit {
        reset_in_seconds: i64,
        #[serde(default)]
        window: LimitWindow,
    },
    /// 429 with only `retry-after: <seconds>`.
    RateLimitRetryAfter { seconds: u64 },
    /// 429 without any reset information.
    RateLimitNoReset,
    /// Transient, not-quota 429 ("temporarily limiting requests").
    RateLimitTransient,
    /// Feature-gate 429 ("Extra usage is required for long context requests.").
    ExtraUsageRequired,
    /// Model-scoped cap: unified status `rejected` while 5h and 7d are `allowed`.
    ModelCap { reset_in_seconds: i64 },
    /// OpenAI 429 `usage_limit_reached` with `resets_in_seconds` (on any provider).
    UsageLimitReached { resets_in_seconds: i64 },
    /// 401 as the provider words it.
    Unauthorized,
    /// 500.
    ServerError,
    /// Anthropic 529 `overloaded_error` (503 on the other providers).
    Overloaded,
    /// Any status with an optional JSON body and extra headers.
    Status {
        status: u16,
        #[serde(default)]
        body: Option<serde_json::Value>,
        #[serde(default)]
        headers: BTreeMap<String, String>,
    },
    /// Wait before answering normally.
    Latency { ms: u64 },
    /// Answer normally, waiting between streamed chunks.
    SlowStream { delay_ms: u64 },
    /// Send headers and the first `after_bytes` of the body, then nothing (for `for_ms`, then
    /// the connection is cut; without `for_ms` until the client leaves or the server stops).
    Stall {
        after_bytes: usize,
        #[serde(default)]
        for_ms: Option<u64>,
    },
    /// Send headers and the first `after_bytes` of the body, then abort the connection.
    Cut { after_bytes: usize },
}

impl Behavior {
    /// The `kind` tag, as logged.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::RateLimit { .. } => "rate_limit",
            Self::RateLimitRetryAfter { .. } => "rate_limit_retry_after",
            Self::RateLimitNoReset => "rate_limit_no_reset",
            Self::RateLimitTransient => "rate_limit_transient",
            Self::ExtraUsageRequired => "extra_usage_required",
            Self::ModelCap { .. } => "model_cap",
            Self::UsageLimitReached { .. } => "usage_limit_reached",
            Self::Unauthorized => "unauthorized",
            Self::ServerError => "server_error",
            Self::Overloaded => "overloaded",
            Self::Status { .. } => "status",
            Self::Latency { .. } => "latency",
            Self::SlowStream { .. } => "slow_stream",
            Self::Stall { .. } => "stall",
            Self::Cut { .. } => "cut",
        }
    }
}

/// Which endpoints a scripted behaviour applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Data plane: `/v1/messages`, `/backend-api/codex/responses`, `/chat/completions`.
    #[default]
    Api,
    /// Usage and identity: `/api/oauth/usage`, `/api/oauth/profile`, `/backend-api/wham/usage`,
    /// `/copilot_internal/user`.
    Usage,
    /// Token endpoints: refresh grants (matched by refresh token) and the Copilot token exchange.
    Token,
    /// Every endpoint above.
    Any,
}

impl Scope {
    pub(crate) fn matches(self, endpoint: Scope) -> bool {
        self == Scope::Any || self == endpoint
    }
}

/// One scripting instruction: `times` one-shot copies queued (default 1), or a sticky behaviour
/// used whenever the queue has nothing for the endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScriptStep {
    pub behavior: Behavior,
    #[serde(default)]
    pub scope: Scope,
    #[serde(default = "one")]
    pub times: u32,
    #[serde(default)]
    pub sticky: bool,
}

fn one() -> u32 {
    1
}

impl ScriptStep {
    /// One one-shot data-plane behaviour.
    #[must_use]
    pub fn once(behavior: Behavior) -> Self {
        Self {
            behavior,
            scope: Scope::Api,
            times: 1,
            sticky: false,
        }
    }

    /// A sticky data-plane behaviour.
    #[must_use]
    pub fn sticky(behavior: Behavior) -> Self {
        Self {
            sticky: true,
            ..Self::once(behavior)
        }
    }

    #[must_use]
    pub fn scope(mut self, scope: Scope) -> Self {
        self.scope = scope;
        self
    }

    #[must_use]
    pub fn times(mut self, times: u32) -> Self {
        self.times = times;
        self
    }
}

/// What `expire` invalidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpireWhat {
    /// The current access token answers 401 "expired".
    #[default]
    Access,
    /// The current refresh token fails (`invalid_grant` / `refresh_token_expired`).
    Refresh,
    Both,
}

/// The next browser login for a provider: log in as `account` (id or email; none = a new
/// account is created) or deny.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LoginPlan {
    pub account: Option<String>,
    pub deny: bool,
}

/// State of a device-flow code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceState {
    Pending,
    Approved,
    Denied,
    Expired,
    /// Approved and already exchanged for tokens.
    Consumed,
}

/// A device-flow code (OpenAI or GitHub).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    pub provider: ProviderId,
    /// GitHub `device_code` / OpenAI `device_auth_id`.
    pub device_code: String,
    pub user_code: String,
    pub state: DeviceState,
    /// Account id it was approved for.
    pub account: Option<String>,
    pub polls: u32,
}

/// The credential a request carried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    /// `bearer` (`Authorization: Bearer`), `token` (`Authorization: token`), `x-api-key`.
    pub scheme: String,
    pub value: String,
}

/// One request the mock served (control API requests are not logged).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedRequest {
    pub seq: u64,
    /// Unix milliseconds when the response headers were ready.
    pub time_ms: i64,
    pub method: String,
    /// Full path including the provider prefix, e.g. `/anthropic/v1/messages`.
    pub path: String,
    pub query: Option<String>,
    pub provider: Option<ProviderId>,
    /// Every request header, lowercase names (repeated headers joined with `, `).
    pub headers: BTreeMap<String, String>,
    pub credential: Option<Credential>,
    /// Account the credential resolved to.
    pub account: Option<String>,
    pub body_len: usize,
    /// UTF-8 body up to 64 KiB when `log_bodies` is on.
    pub body: Option<String>,
    pub status: u16,
    /// `kind` of the scripted behaviour applied, if any.
    pub behavior: Option<String>,
}

/// Where each provider lives on this server: replace the real origin with these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MockUrls {
    pub base: String,
    /// Replaces `https://claude.ai`, `https://platform.claude.com`, `https://api.anthropic.com`.
    pub anthropic: String,
    /// Replaces `https://auth.openai.com` (issuer) and `https://chatgpt.com`.
    pub openai: String,
    /// Replaces `https://github.com`, `https://api.github.com`, `https://api.githubcopilot.com`.
    pub github: String,
    pub control: String,
}

impl MockUrls {
    pub(crate) fn new(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            anthropic: format!("{base}/anthropic"),
            openai: format!("{base}/openai"),
            github: format!("{base}/github"),
            control: format!("{base}/_mock"),
        }
    }

    /// The base that replaces a provider's origins.
    #[must_use]
    pub fn provider(&self, provider: ProviderId) -> &str {
        match provider {
            ProviderId::Anthropic => &self.anthropic,
            ProviderId::OpenAi => &self.openai,
            ProviderId::GithubCopilot => &self.github,
        }
    }
}
