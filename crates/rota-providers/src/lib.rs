//! # rota-providers: the provider adapters
//!
//! Everything Rota says to Anthropic (Claude Pro/Max), OpenAI (ChatGPT through the Codex OAuth
//! client) and GitHub Copilot, per `docs/providers.md`:
//!
//! - **Configuration** ([`ProvidersConfig`]): every URL, client id, scope, redirect URI, the
//!   User-Agent and the Anthropic beta value, with the published defaults, `ROTA_*` environment
//!   overrides and [`ProvidersConfig::with_mock_base`] for rota-mock.
//! - **Logins** ([`anthropic::PasteLogin`], [`anthropic::LoopbackLogin`],
//!   [`openai::BrowserLogin`], [`openai::DeviceLogin`], [`copilot::DeviceLogin`]): each ends in
//!   a [`LoginResult`] (identity + `SecretBundle`) for `PoolStore::upsert_account`.
//! - **Token refresh** ([`TokenManager`]): single-use refresh tokens handled per
//!   docs/rules.md §3 (near expiry or on 401 only, single flight in-process, account lock and
//!   re-read across processes, persist before use, `needsReauth` on permanent refusal with the
//!   stored tokens untouched, back-off on transient failure). Copilot tokens
//!   ([`copilot::Copilot::api_token`]) are exchanged and cached in memory.
//! - **Usage** ([`UsageService`], the per-provider `parse_usage`): parallel fetches recorded with
//!   their fetch time, last good value kept, 429 back-off, adaptive polling ([`next_poll_at`])
//!   with an off switch.
//! - **Gateway helpers**: [`ProviderAdapter::classify`] (status + headers + small body → core's
//!   `Outcome`), [`ProviderAdapter::usage_from_headers`] (unified / `x-codex-*` headers), and
//!   [`shape_request`] (credential swap, `anthropic-beta`, `ChatGPT-Account-Id`, upstream URL).
//!
//! ## Boundaries
//!
//! The pool's rules live in rota-core, files and locks in rota-store; this crate calls them and
//! adds HTTP. It does not forward requests (the gateway owns connections and streaming) and
//! knows no web framework: the login callback server is a few lines of tokio. Time is an
//! argument of every decision (`now`, unix ms); only the outer async functions read the clock,
//! through `rota_store::now_ms`. Tokens are rota-core [`Secret`]s: never in `Debug`, errors or
//! logs, and token-endpoint bodies are never logged or kept (only the parsed `error` code).
//! TLS is rustls on the `ring` provider (no aws-lc, which needs cmake).
//!
//! [`Secret`]: rota_core::Secret

pub mod adapter;
pub mod anthropic;
pub mod config;
pub mod copilot;
pub mod error;
pub mod http;
pub mod loopback;
pub mod oauth;
pub mod openai;
pub mod refresh;
pub mod reset_credits;
pub mod shape;
pub mod usage;

pub mod clients;

pub use adapter::{AccountAuth, ProviderAdapter, Providers, RefreshFailure, UpstreamCredential};
pub use clients::{anthropic_clients, anthropic_clients_chosen, set_anthropic_clients};
pub use config::{AnthropicConfig, GithubConfig, OpenAiConfig, ProvidersConfig};
pub use error::{LoginFailure, ProviderError};
pub use http::{error_message, gateway_client, http_client};
pub use oauth::{LoginResult, PkceSession, parse_pasted};
pub use refresh::TokenManager;
pub use shape::{ShapedRequest, UpstreamAuth, shape_request};
pub use usage::{AccountUsage, FetchStatus, PollInput, PollPolicy, UsageService, next_poll_at};
