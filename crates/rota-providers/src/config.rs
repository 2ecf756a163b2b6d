//! Every URL, client id, scope, redirect URI and header value the adapters use
//! (docs/providers.md), with the published defaults, environment overrides and a mock layout.
//!
//! The struct deserialises from the config file's `[providers]` table (every field has a
//! default, so a file names only what it changes). Environment variables override it
//! ([`ProvidersConfig::apply_env`]):
//!
//! | Variable | Field |
//! |---|---|
//! | `ROTA_USER_AGENT` | `user_agent` |
//! | `ROTA_ANTHROPIC_AUTHORIZE_URL` | `anthropic.authorize_url` |
//! | `ROTA_ANTHROPIC_TOKEN_URL` | `anthropic.token_url` |
//! | `ROTA_ANTHROPIC_API_BASE` | `anthropic.api_base` (Messages API, usage, profile) |
//! | `ROTA_ANTHROPIC_CLIENT_ID` | `anthropic.client_id` |
//! | `ROTA_ANTHROPIC_REDIRECT_URI` | `anthropic.redirect_uri` |
//! | `ROTA_ANTHROPIC_BETA` | `anthropic.oauth_beta` |
//! | `ROTA_ANTHROPIC_SCOPES` | `anthropic.scopes` (space separated) |
//! | `ROTA_ANTHROPIC_CLAUDE_CODE_VERSION` | `anthropic.claude_code_version` (Rota's own Anthropic requests identify as this Claude Code) |
//! | `ROTA_ANTHROPIC_PLAN_LIMITS_ONLY` | `anthropic.plan_limits_only` (`true`/`false`: the guard against paid extra usage) |
//! | `ROTA_ANTHROPIC_CLIENTS` | `anthropic.clients` (`claude-code` or `any`: who the gateway's Anthropic route serves) |
//! | `ROTA_OPENAI_ISSUER` | `openai.issuer` (authorize, token, device flow) |
//! | `ROTA_OPENAI_BACKEND_BASE` | `openai.backend_base` (`…/backend-api`) |
//! | `ROTA_OPENAI_CLIENT_ID` | `openai.client_id` |
//! | `ROTA_OPENAI_CALLBACK_PORTS` | `openai.callback_ports` (comma separated) |
//! | `ROTA_GITHUB_DOMAIN` | `github.domain` (`github.com` or an Enterprise host) |
//! | `ROTA_GITHUB_BASE` | `github.web_base` (device flow) |
//! | `ROTA_GITHUB_API_BASE` | `github.api_base` (Copilot token, quota) |
//! | `ROTA_COPILOT_API_BASE` | `github.copilot_api_base` |
//! | `ROTA_GITHUB_CLIENT_ID` | `github.client_id` |
//! | `ROTA_COPILOT_EDITOR_VERSION` | `github.copilot_editor_version` (IDE header on exchanged tokens) |
//! | `ROTA_COPILOT_EDITOR_PLUGIN_VERSION` | `github.copilot_editor_plugin_version` |
//! | `ROTA_COPILOT_INTEGRATION_ID` | `github.copilot_integration_id` |
//! | `ROTA_PROVIDERS_MOCK_BASE` | everything, onto a rota-mock server ([`ProvidersConfig::with_mock_base`]) |

use rota_config::env as var;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `true`/`false` (also `on`/`off`, `1`/`0`, `yes`/`no`).
fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "on" | "1" | "yes" => Some(true),
        "false" | "off" | "0" | "no" => Some(false),
        _ => None,
    }
}

/// The Claude Code release the Anthropic defaults were checked against (its npm binary).
pub const CLAUDE_CODE_VERSION: &str = "2.1.330";

/// All provider endpoints and protocol constants. `Default` = the real providers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProvidersConfig {
    /// `User-Agent` of the requests Rota itself makes to `OpenAI` and GitHub (logins, refresh,
    /// usage polls); identifies Rota by default. Anthropic's get Claude Code's
    /// ([`AnthropicConfig::user_agent`]): its usage endpoint answers 429 to anything else. The
    /// gateway forwards the client's own User-Agent.
    pub user_agent: String,
    /// Refresh an access token when it expires within this many seconds (docs/rules.md §3.1).
    pub refresh_skew_secs: u64,
    /// Connect timeout of every request (seconds).
    pub connect_timeout_secs: u64,
    /// Total timeout of Rota's own small requests (token, usage, profile), seconds. Never
    /// applied to gateway streams.
    pub request_timeout_secs: u64,
    pub anthropic: AnthropicConfig,
    pub openai: OpenAiConfig,
    pub github: GithubConfig,
}

/// Anthropic (Claude Pro/Max OAuth).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AnthropicConfig {
    pub client_id: String,
    pub authorize_url: String,
    pub token_url: String,
    /// Paste-flow redirect (the page shows `code#state`).
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    /// Base of the Messages API, `/api/oauth/usage` and `/api/oauth/profile`.
    pub api_base: String,
    /// The `anthropic-beta` value OAuth requests need.
    pub oauth_beta: String,
    /// Minimum seconds between usage polls of one account (the endpoint rate-limits per token).
    pub min_usage_poll_secs: u64,
    /// The Claude Code version Rota's own Anthropic requests (usage, profile, token exchange
    /// and refresh) present in their `User-Agent`; the default is the version whose protocol
    /// these defaults were checked against (docs/anthropic.md).
    pub claude_code_version: String,
    /// The plan-limits-only guard (docs/anthropic.md): the gateway never lets a request be
    /// billed as paid extra usage silently. On by default.
    pub plan_limits_only: bool,
    /// Which clients the gateway's Anthropic route serves when the user has not chosen in the
    /// app or with `rota auth clients` (that choice, kept in the store, wins).
    pub clients: rota_types::AnthropicClients,
}

impl AnthropicConfig {
    /// Claude Code's `User-Agent`: `claude-cli/<version> (external, cli)`.
    #[must_use]
    pub fn user_agent(&self) -> String {
        format!("claude-cli/{} (external, cli)", self.claude_code_version)
    }
}

/// OpenAI (ChatGPT through the Codex OAuth client).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OpenAiConfig {
    pub client_id: String,
    /// `https://auth.openai.com`: `/oauth/authorize`, `/oauth/token`, device endpoints.
    pub issuer: String,
    /// `https://chatgpt.com/backend-api`: `wham/usage`, `codex/responses`.
    pub backend_base: String,
    pub scopes: Vec<String>,
    /// Loopback callback ports, tried in order (`1455`, fallback `1457`).
    pub callback_ports: Vec<u16>,
    /// Host name in the loopback `redirect_uri` (the server always binds 127.0.0.1).
    pub callback_host: String,
    /// `originator` parameter of the authorize URL.
    pub originator: String,
    pub min_usage_poll_secs: u64,
}

/// GitHub Copilot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GithubConfig {
    pub client_id: String,
    /// `github.com` or a GitHub Enterprise host; [`GithubConfig::for_domain`] derives the URLs.
    pub domain: String,
    /// `https://github.com`: `/login/device/code`, `/login/oauth/access_token`.
    pub web_base: String,
    /// `https://api.github.com`: `/copilot_internal/v2/token`, `/copilot_internal/user`.
    pub api_base: String,
    /// `https://api.githubcopilot.com`, used when the Copilot token names no endpoint.
    pub copilot_api_base: String,
    pub scope: String,
    /// Re-exchange the Copilot token this many seconds before it expires.
    pub copilot_token_skew_secs: u64,
    /// Seconds added to the device-flow interval on `slow_down` (RFC 8628: 5).
    pub slow_down_secs: u64,
    pub min_usage_poll_secs: u64,
    /// `Editor-Version` on requests with an exchanged Copilot token, when the client sent none:
    /// the Copilot API refuses IDE-authenticated requests without it.
    pub copilot_editor_version: String,
    /// `Editor-Plugin-Version` sent with it.
    pub copilot_editor_plugin_version: String,
    /// `Copilot-Integration-Id` sent with it.
    pub copilot_integration_id: String,
}

impl Default for ProvidersConfig {
    fn default() -> Self {
        Self {
            user_agent: format!("rota/{}", env!("CARGO_PKG_VERSION")),
            refresh_skew_secs: 300,
            connect_timeout_secs: 10,
            request_timeout_secs: 30,
            anthropic: AnthropicConfig::default(),
            openai: OpenAiConfig::default(),
            github: GithubConfig::default(),
        }
    }
}

impl Default for AnthropicConfig {
    fn default() -> Self {
        Self {
            client_id: "9d1c250a-e61b-44d9-88ed-5944d1962f5e".into(),
            authorize_url: "https://claude.com/cai/oauth/authorize".into(),
            token_url: "https://platform.claude.com/v1/oauth/token".into(),
            redirect_uri: "https://platform.claude.com/oauth/code/callback".into(),
            scopes: [
                "org:create_api_key",
                "user:profile",
                "user:inference",
                "user:sessions:claude_code",
                "user:mcp_servers",
                "user:file_upload",
                "user:plugins",
            ]
            .map(String::from)
            .to_vec(),
            api_base: "https://api.anthropic.com".into(),
            oauth_beta: "oauth-2025-04-20".into(),
            min_usage_poll_secs: 180,
            claude_code_version: CLAUDE_CODE_VERSION.into(),
            plan_limits_only: true,
            clients: rota_types::AnthropicClients::ClaudeCode,
        }
    }
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        Self {
            client_id: "app_EMoamEEZ73f0CkXaXp7hrann".into(),
            issuer: "https://auth.openai.com".into(),
            backend_base: "https://chatgpt.com/backend-api".into(),
            scopes: ["openid", "profile", "email", "offline_access"]
                .map(String::from)
                .to_vec(),
            callback_ports: vec![1455, 1457],
            callback_host: "localhost".into(),
            originator: "codex_cli_rs".into(),
            min_usage_poll_secs: 60,
        }
    }
}

impl Default for GithubConfig {
    fn default() -> Self {
        Self::for_domain("github.com")
    }
}

impl GithubConfig {
    /// URLs for `github.com` or a GitHub Enterprise host (`https://<domain>`,
    /// `https://api.<domain>`, `https://copilot-api.<domain>`).
    #[must_use]
    pub fn for_domain(domain: &str) -> Self {
        let domain = domain
            .trim()
            .trim_start_matches("https://")
            .trim_end_matches('/')
            .to_owned();
        let (api_base, copilot_api_base) = if domain == "github.com" {
            (
                "https://api.github.com".to_owned(),
                "https://api.githubcopilot.com".to_owned(),
            )
        } else {
            (
                format!("https://api.{domain}"),
                format!("https://copilot-api.{domain}"),
            )
        };
        Self {
            client_id: "Iv1.b507a08c87ecfe98".into(),
            web_base: format!("https://{domain}"),
            api_base,
            copilot_api_base,
            domain,
            scope: "read:user".into(),
            copilot_token_skew_secs: 300,
            slow_down_secs: 5,
            min_usage_poll_secs: 300,
            copilot_editor_version: "vscode/1.104.1".into(),
            copilot_editor_plugin_version: "copilot-chat/0.31.0".into(),
            copilot_integration_id: "vscode-chat".into(),
        }
    }
}

impl ProvidersConfig {
    /// Every provider URL mapped onto rota-mock's layout (`{base}/anthropic`, `{base}/openai`,
    /// `{base}/github`), for tests, the demo and benchmarks. Client ids stay the defaults
    /// (the mock accepts them), and so does the paste-flow redirect URI (never fetched: the mock
    /// shows `code#state` for any non-loopback redirect). Callback ports become `0` (any free
    /// port).
    #[must_use]
    pub fn with_mock_base(base: &str) -> Self {
        let base = base.trim_end_matches('/');
        let mut c = Self::default();
        let a = format!("{base}/anthropic");
        c.anthropic.authorize_url = format!("{a}/oauth/authorize");
        c.anthropic.token_url = format!("{a}/v1/oauth/token");
        c.anthropic.api_base = a;
        let o = format!("{base}/openai");
        c.openai.backend_base = format!("{o}/backend-api");
        c.openai.issuer = o;
        c.openai.callback_ports = vec![0];
        let g = format!("{base}/github");
        c.github.web_base.clone_from(&g);
        c.github.api_base.clone_from(&g);
        c.github.copilot_api_base = g;
        c
    }

    /// Defaults with the environment applied.
    #[must_use]
    pub fn from_env() -> Self {
        let mut c = match std::env::var(var::PROVIDERS_MOCK_BASE) {
            Ok(base) if !base.trim().is_empty() => Self::with_mock_base(&base),
            _ => Self::default(),
        };
        c.apply_env();
        c
    }

    /// Defaults, then `config.toml`'s `[providers.*]` keys, then the environment over both —
    /// how every surface (app, `rota serve`, login, usage, redeem) builds its provider config.
    #[must_use]
    pub fn from_settings(settings: &rota_config::Config) -> Self {
        let mut c = Self::from_env();
        c.apply_vars(|k| settings.provider_var(k));
        c.apply_env();
        c
    }

    /// [`ProvidersConfig::from_settings`] with `config.toml` read now.
    pub fn load() -> Result<Self, rota_config::ConfigError> {
        Ok(Self::from_settings(&rota_config::Config::load()?))
    }

    /// Applies the `ROTA_*` overrides of the module table (empty values are ignored).
    pub fn apply_env(&mut self) {
        self.apply_vars(|k| std::env::var(k).ok());
    }

    /// [`ProvidersConfig::apply_env`] over any variable source (tests).
    pub fn apply_vars(&mut self, get: impl Fn(&str) -> Option<String>) {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        if let Some(d) = get(var::GITHUB_DOMAIN) {
            let keep = self.github.clone();
            self.github = GithubConfig {
                client_id: keep.client_id,
                slow_down_secs: keep.slow_down_secs,
                copilot_token_skew_secs: keep.copilot_token_skew_secs,
                copilot_editor_version: keep.copilot_editor_version,
                copilot_editor_plugin_version: keep.copilot_editor_plugin_version,
                copilot_integration_id: keep.copilot_integration_id,
                ..GithubConfig::for_domain(&d)
            };
        }
        let set = |field: &mut String, key: &str| {
            if let Some(v) = get(key) {
                v.trim().clone_into(field);
            }
        };
        set(&mut self.user_agent, var::USER_AGENT);
        set(
            &mut self.anthropic.authorize_url,
            var::ANTHROPIC_AUTHORIZE_URL,
        );
        set(&mut self.anthropic.token_url, var::ANTHROPIC_TOKEN_URL);
        set(&mut self.anthropic.api_base, var::ANTHROPIC_API_BASE);
        set(&mut self.anthropic.client_id, var::ANTHROPIC_CLIENT_ID);
        set(
            &mut self.anthropic.redirect_uri,
            var::ANTHROPIC_REDIRECT_URI,
        );
        set(&mut self.anthropic.oauth_beta, var::ANTHROPIC_BETA);
        set(
            &mut self.anthropic.claude_code_version,
            var::ANTHROPIC_CLAUDE_CODE_VERSION,
        );
        if let Some(v) = get(var::ANTHROPIC_PLAN_LIMITS_ONLY) {
            match parse_bool(&v) {
                Some(b) => self.anthropic.plan_limits_only = b,
                None => {
                    tracing::warn!(name = var::ANTHROPIC_PLAN_LIMITS_ONLY, value = %v, "must be true or false; keeping the guard on");
                }
            }
        }
        if let Some(v) = get(var::ANTHROPIC_CLIENTS) {
            match v.parse() {
                Ok(c) => self.anthropic.clients = c,
                Err(e) => {
                    tracing::warn!(name = var::ANTHROPIC_CLIENTS, error = %e, "must be claude-code or any; keeping claude-code");
                }
            }
        }
        if let Some(scopes) = get(var::ANTHROPIC_SCOPES) {
            self.anthropic.scopes = scopes.split_whitespace().map(str::to_owned).collect();
        }
        set(&mut self.openai.issuer, var::OPENAI_ISSUER);
        set(&mut self.openai.backend_base, var::OPENAI_BACKEND_BASE);
        set(&mut self.openai.client_id, var::OPENAI_CLIENT_ID);
        if let Some(ports) = get(var::OPENAI_CALLBACK_PORTS) {
            let parsed: Vec<u16> = ports
                .split(',')
                .filter_map(|p| p.trim().parse().ok())
                .collect();
            if !parsed.is_empty() {
                self.openai.callback_ports = parsed;
            }
        }
        set(&mut self.github.web_base, var::GITHUB_BASE);
        set(&mut self.github.api_base, var::GITHUB_API_BASE);
        set(&mut self.github.copilot_api_base, var::COPILOT_API_BASE);
        set(&mut self.github.client_id, var::GITHUB_CLIENT_ID);
        set(
            &mut self.github.copilot_editor_version,
            var::COPILOT_EDITOR_VERSION,
        );
        set(
            &mut self.github.copilot_editor_plugin_version,
            var::COPILOT_EDITOR_PLUGIN_VERSION,
        );
        set(
            &mut self.github.copilot_integration_id,
            var::COPILOT_INTEGRATION_ID,
        );
    }

    #[must_use]
    pub fn refresh_skew(&self) -> Duration {
        Duration::from_secs(self.refresh_skew_secs)
    }

    /// Minimum seconds between usage polls of one account of `provider`.
    #[must_use]
    pub fn min_usage_poll_secs(&self, provider: rota_types::ProviderId) -> u64 {
        match provider {
            rota_types::ProviderId::Anthropic => self.anthropic.min_usage_poll_secs,
            rota_types::ProviderId::OpenAi => self.openai.min_usage_poll_secs,
            rota_types::ProviderId::GithubCopilot => self.github.min_usage_poll_secs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_published_values() {
        let c = ProvidersConfig::default();
        assert_eq!(
            c.anthropic.client_id,
            "9d1c250a-e61b-44d9-88ed-5944d1962f5e"
        );
        assert_eq!(
            c.anthropic.token_url,
            "https://platform.claude.com/v1/oauth/token"
        );
        assert_eq!(c.openai.callback_ports, vec![1455, 1457]);
        assert_eq!(c.github.api_base, "https://api.github.com");
        assert!(c.user_agent.starts_with("rota/"));
        assert_eq!(c.refresh_skew(), Duration::from_mins(5));
        assert_eq!(
            c.anthropic.user_agent(),
            "claude-cli/2.1.330 (external, cli)"
        );
        assert_eq!(
            c.anthropic.authorize_url,
            "https://claude.com/cai/oauth/authorize"
        );
        assert_eq!(
            c.anthropic.scopes.join(" "),
            "org:create_api_key user:profile user:inference user:sessions:claude_code \
             user:mcp_servers user:file_upload user:plugins"
        );
    }

    #[test]
    fn partial_tables_deserialise_with_defaults() {
        let c: ProvidersConfig =
            serde_json::from_str(r#"{"anthropic": {"api_base": "http://x"}, "github": {}}"#)
                .unwrap();
        assert_eq!(c.anthropic.api_base, "http://x");
        assert_eq!(c.anthropic.oauth_beta, "oauth-2025-04-20");
        assert_eq!(c.openai, OpenAiConfig::default());
        assert!(c.anthropic.plan_limits_only, "the guard is on by default");
        assert_eq!(
            c.anthropic.clients,
            rota_types::AnthropicClients::ClaudeCode
        );
    }

    #[test]
    fn env_overrides_and_enterprise_domain() {
        let mut c = ProvidersConfig::default();
        c.apply_vars(|k| match k {
            "ROTA_ANTHROPIC_API_BASE" => Some("http://127.0.0.1:9/anthropic".into()),
            "ROTA_GITHUB_DOMAIN" => Some("ghe.example.com".into()),
            "ROTA_OPENAI_CALLBACK_PORTS" => Some("2000, 2001".into()),
            "ROTA_USER_AGENT" => Some("  ".into()),
            "ROTA_COPILOT_EDITOR_VERSION" => Some("JetBrains-IC/2025.2".into()),
            "ROTA_ANTHROPIC_CLAUDE_CODE_VERSION" => Some("2.2.0".into()),
            "ROTA_ANTHROPIC_SCOPES" => Some("user:profile  user:inference".into()),
            "ROTA_ANTHROPIC_PLAN_LIMITS_ONLY" => Some("false".into()),
            "ROTA_ANTHROPIC_CLIENTS" => Some("any".into()),
            _ => None,
        });
        assert!(!c.anthropic.plan_limits_only);
        assert_eq!(c.anthropic.clients, rota_types::AnthropicClients::Any);
        assert_eq!(c.github.copilot_editor_version, "JetBrains-IC/2025.2");
        assert_eq!(c.github.copilot_integration_id, "vscode-chat");
        assert_eq!(c.anthropic.user_agent(), "claude-cli/2.2.0 (external, cli)");
        assert_eq!(c.anthropic.scopes, ["user:profile", "user:inference"]);
        assert_eq!(c.anthropic.api_base, "http://127.0.0.1:9/anthropic");
        assert_eq!(c.github.web_base, "https://ghe.example.com");
        assert_eq!(c.github.api_base, "https://api.ghe.example.com");
        assert_eq!(c.openai.callback_ports, vec![2000, 2001]);
        assert!(
            c.user_agent.starts_with("rota/"),
            "blank values are ignored"
        );
    }

    #[test]
    fn mock_layout() {
        let c = ProvidersConfig::with_mock_base("http://127.0.0.1:5000/");
        assert_eq!(
            c.anthropic.token_url,
            "http://127.0.0.1:5000/anthropic/v1/oauth/token"
        );
        assert_eq!(c.openai.issuer, "http://127.0.0.1:5000/openai");
        assert_eq!(
            c.openai.backend_base,
            "http://127.0.0.1:5000/openai/backend-api"
        );
        assert_eq!(c.github.api_base, "http://127.0.0.1:5000/github");
    }
}
