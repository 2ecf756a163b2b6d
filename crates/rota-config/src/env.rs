//! Every `ROTA_*` environment variable, declared once. Code reads a variable through its
//! constant here; `tests/it/env_vars.rs` checks the README's variable table against [`ALL`] and
//! keeps `"ROTA_…"` literals out of the rest of the product code. What each one means for a
//! user is in the README's table; the doc comments say who reads it.

/// Who a variable is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// A setting users may change: listed in the README's table.
    User,
    /// A hook of the test suite (fault injection): never documented for users.
    Test,
}

/// Data directory (state, vault, config in tests); rota-store and the config file's location.
pub const HOME: &str = "ROTA_HOME";
/// `auto` | `keychain` | `file`: where the vault key lives (rota-store).
pub const SECRET_STORE: &str = "ROTA_SECRET_STORE";
/// Log filter of the app and `rota serve` (`tracing` syntax).
pub const LOG: &str = "ROTA_LOG";
/// Set: login flows print the sign-in URL instead of opening a browser (CLI and app).
pub const NO_BROWSER: &str = "ROTA_NO_BROWSER";
/// Every provider URL under one rota-mock base (demo, tests).
pub const PROVIDERS_MOCK_BASE: &str = "ROTA_PROVIDERS_MOCK_BASE";

/// Port of the local gateway.
pub const GATEWAY_PORT: &str = "ROTA_GATEWAY_PORT";
/// Gateway: wait for a provider's response headers, then `504`.
pub const UPSTREAM_HEADER_TIMEOUT_SECS: &str = "ROTA_UPSTREAM_HEADER_TIMEOUT_SECS";
/// Gateway: silence allowed inside a response stream.
pub const STREAM_IDLE_TIMEOUT_SECS: &str = "ROTA_STREAM_IDLE_TIMEOUT_SECS";
/// Cooldown after a 429 without reset information.
pub const COOLDOWN_DEFAULT_SECS: &str = "ROTA_COOLDOWN_DEFAULT_SECS";
/// Cooldown of an account whose login was refused.
pub const COOLDOWN_AUTH_SECS: &str = "ROTA_COOLDOWN_AUTH_SECS";
/// Proactive switch: trigger percent.
pub const PROACTIVE_THRESHOLD: &str = "ROTA_PROACTIVE_THRESHOLD";
/// Proactive switch: points a target must be below the trigger.
pub const PROACTIVE_HYSTERESIS: &str = "ROTA_PROACTIVE_HYSTERESIS";
/// Proactive switch: minimum time on an account.
pub const PROACTIVE_DWELL_SECS: &str = "ROTA_PROACTIVE_DWELL_SECS";
/// Proactive switch: oldest usage trusted.
pub const PROACTIVE_MAX_USAGE_AGE_SECS: &str = "ROTA_PROACTIVE_MAX_USAGE_AGE_SECS";
/// Background usage polling `on` / `off`.
pub const USAGE_POLLING: &str = "ROTA_USAGE_POLLING";
/// Background usage polling interval.
pub const USAGE_POLL_SECS: &str = "ROTA_USAGE_POLL_SECS";
/// How often the autopilot re-checks without a store change.
pub const AUTOPILOT_TICK_MS: &str = "ROTA_AUTOPILOT_TICK_MS";

/// User-Agent of Rota's own OpenAI and GitHub requests.
pub const USER_AGENT: &str = "ROTA_USER_AGENT";
/// Claude Code version in the User-Agent of Rota's own Anthropic requests.
pub const ANTHROPIC_CLAUDE_CODE_VERSION: &str = "ROTA_ANTHROPIC_CLAUDE_CODE_VERSION";
/// Anthropic API base (messages, usage, profile).
pub const ANTHROPIC_API_BASE: &str = "ROTA_ANTHROPIC_API_BASE";
/// Anthropic OAuth authorize page.
pub const ANTHROPIC_AUTHORIZE_URL: &str = "ROTA_ANTHROPIC_AUTHORIZE_URL";
/// Anthropic OAuth token endpoint.
pub const ANTHROPIC_TOKEN_URL: &str = "ROTA_ANTHROPIC_TOKEN_URL";
/// Anthropic OAuth client id.
pub const ANTHROPIC_CLIENT_ID: &str = "ROTA_ANTHROPIC_CLIENT_ID";
/// Anthropic OAuth redirect URI.
pub const ANTHROPIC_REDIRECT_URI: &str = "ROTA_ANTHROPIC_REDIRECT_URI";
/// `anthropic-beta` value for OAuth requests.
pub const ANTHROPIC_BETA: &str = "ROTA_ANTHROPIC_BETA";
/// Anthropic OAuth scopes, space separated.
pub const ANTHROPIC_SCOPES: &str = "ROTA_ANTHROPIC_SCOPES";
/// The guard against paid extra usage (`true` / `false`).
pub const ANTHROPIC_PLAN_LIMITS_ONLY: &str = "ROTA_ANTHROPIC_PLAN_LIMITS_ONLY";
/// Which clients the gateway's Anthropic route serves (`claude-code` / `any`).
pub const ANTHROPIC_CLIENTS: &str = "ROTA_ANTHROPIC_CLIENTS";
/// OpenAI (Codex OAuth) issuer.
pub const OPENAI_ISSUER: &str = "ROTA_OPENAI_ISSUER";
/// ChatGPT backend base (usage, reset credits).
pub const OPENAI_BACKEND_BASE: &str = "ROTA_OPENAI_BACKEND_BASE";
/// OpenAI OAuth client id.
pub const OPENAI_CLIENT_ID: &str = "ROTA_OPENAI_CLIENT_ID";
/// Rota redeems an OpenAI reset credit on its own when the whole pool is exhausted (`on`/`off`).
pub const OPENAI_AUTO_REDEEM: &str = "ROTA_OPENAI_AUTO_REDEEM";
/// Ports the OpenAI login callback may listen on.
pub const OPENAI_CALLBACK_PORTS: &str = "ROTA_OPENAI_CALLBACK_PORTS";
/// GitHub / Enterprise host (derives the other GitHub URLs).
pub const GITHUB_DOMAIN: &str = "ROTA_GITHUB_DOMAIN";
/// GitHub web base (device flow).
pub const GITHUB_BASE: &str = "ROTA_GITHUB_BASE";
/// GitHub API base.
pub const GITHUB_API_BASE: &str = "ROTA_GITHUB_API_BASE";
/// GitHub device-flow client id.
pub const GITHUB_CLIENT_ID: &str = "ROTA_GITHUB_CLIENT_ID";
/// Copilot API base.
pub const COPILOT_API_BASE: &str = "ROTA_COPILOT_API_BASE";
/// `Editor-Version` on Copilot requests with an exchanged token.
pub const COPILOT_EDITOR_VERSION: &str = "ROTA_COPILOT_EDITOR_VERSION";
/// `Editor-Plugin-Version` on Copilot requests with an exchanged token.
pub const COPILOT_EDITOR_PLUGIN_VERSION: &str = "ROTA_COPILOT_EDITOR_PLUGIN_VERSION";
/// `Copilot-Integration-Id` on Copilot requests with an exchanged token.
pub const COPILOT_INTEGRATION_ID: &str = "ROTA_COPILOT_INTEGRATION_ID";

/// Crash tests: abort the store's writer at a named point (`<point>:<n>`).
pub const STORE_FAILPOINT: &str = "ROTA_STORE_FAILPOINT";
/// Crash tests: abort hand-off's writer at a named point.
pub const HANDOFF_FAILPOINT: &str = "ROTA_HANDOFF_FAILPOINT";

/// The prefix of every variable, and of the provider variables that `config.toml`'s
/// `[providers.*]` keys answer (`ROTA_ANTHROPIC_API_BASE` ← `[providers.anthropic] api_base`).
pub const PREFIX: &str = "ROTA_";
/// Copilot's variables live in `[providers.github]` as `copilot_*` keys.
pub const COPILOT_PREFIX: &str = "ROTA_COPILOT_";

/// Every variable, with who it is for.
pub const ALL: &[(&str, Audience)] = &[
    (HOME, Audience::User),
    (SECRET_STORE, Audience::User),
    (LOG, Audience::User),
    (NO_BROWSER, Audience::User),
    (PROVIDERS_MOCK_BASE, Audience::User),
    (GATEWAY_PORT, Audience::User),
    (UPSTREAM_HEADER_TIMEOUT_SECS, Audience::User),
    (STREAM_IDLE_TIMEOUT_SECS, Audience::User),
    (COOLDOWN_DEFAULT_SECS, Audience::User),
    (COOLDOWN_AUTH_SECS, Audience::User),
    (PROACTIVE_THRESHOLD, Audience::User),
    (PROACTIVE_HYSTERESIS, Audience::User),
    (PROACTIVE_DWELL_SECS, Audience::User),
    (PROACTIVE_MAX_USAGE_AGE_SECS, Audience::User),
    (USAGE_POLLING, Audience::User),
    (USAGE_POLL_SECS, Audience::User),
    (AUTOPILOT_TICK_MS, Audience::User),
    (USER_AGENT, Audience::User),
    (ANTHROPIC_CLAUDE_CODE_VERSION, Audience::User),
    (ANTHROPIC_API_BASE, Audience::User),
    (ANTHROPIC_AUTHORIZE_URL, Audience::User),
    (ANTHROPIC_TOKEN_URL, Audience::User),
    (ANTHROPIC_CLIENT_ID, Audience::User),
    (ANTHROPIC_REDIRECT_URI, Audience::User),
    (ANTHROPIC_BETA, Audience::User),
    (ANTHROPIC_SCOPES, Audience::User),
    (ANTHROPIC_PLAN_LIMITS_ONLY, Audience::User),
    (ANTHROPIC_CLIENTS, Audience::User),
    (OPENAI_ISSUER, Audience::User),
    (OPENAI_BACKEND_BASE, Audience::User),
    (OPENAI_CLIENT_ID, Audience::User),
    (OPENAI_CALLBACK_PORTS, Audience::User),
    (OPENAI_AUTO_REDEEM, Audience::User),
    (GITHUB_DOMAIN, Audience::User),
    (GITHUB_BASE, Audience::User),
    (GITHUB_API_BASE, Audience::User),
    (GITHUB_CLIENT_ID, Audience::User),
    (COPILOT_API_BASE, Audience::User),
    (COPILOT_EDITOR_VERSION, Audience::User),
    (COPILOT_EDITOR_PLUGIN_VERSION, Audience::User),
    (COPILOT_INTEGRATION_ID, Audience::User),
    (STORE_FAILPOINT, Audience::Test),
    (HANDOFF_FAILPOINT, Audience::Test),
];
