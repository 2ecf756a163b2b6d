//! The small trait every provider implements, and [`Providers`], the shared context (config,
//! HTTP client, Copilot token cache) the gateway, CLI and app hold once.
//!
//! What the trait deliberately leaves out:
//! - **Login flows**: they differ in shape (paste, loopback, device code) and in what the user
//!   sees, so each provider module offers its own (`anthropic::PasteLogin`,
//!   `openai::BrowserLogin`, `copilot::DeviceLogin`, …), all ending in a [`LoginResult`].
//! - **Persistence and single-flight**: the adapter refreshes one bundle over HTTP and nothing
//!   else; locking, re-reading and saving are [`crate::TokenManager`]'s.
//! - **Request forwarding**: the gateway owns the connection; this crate only shapes headers and
//!   URLs ([`crate::shape_request`]) and classifies answers.
//!
//! [`LoginResult`]: crate::LoginResult

use std::sync::Arc;

use futures_util::future::BoxFuture;
use http::HeaderMap;
use rota_core::{Outcome, Secret};
use rota_store::SecretBundle;
use rota_types::{AccountIdentity, ProviderId, UnixMs, UsageSnapshot};

use crate::config::ProvidersConfig;
use crate::copilot::CopilotTokens;
use crate::error::ProviderError;

/// One account's credentials and identity, as an adapter needs them for a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountAuth {
    /// The record id (keys the Copilot token cache).
    pub record_id: String,
    pub identity: AccountIdentity,
    pub secrets: SecretBundle,
}

/// Why a refresh failed (docs/rules.md §3.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshFailure {
    /// `invalid_grant`, `refresh_token_reused`, 404 `not_found_error`, …: the account needs a
    /// new login. `code` is the parsed error code.
    Permanent { code: String },
    /// Network, 5xx, 429: back off, tokens untouched.
    Transient {
        reason: String,
        retry_after_ms: Option<i64>,
    },
}

impl RefreshFailure {
    pub(crate) fn network(e: &reqwest::Error) -> Self {
        Self::Transient {
            reason: crate::error::network_kind(e).to_owned(),
            retry_after_ms: None,
        }
    }
}

/// A provider's token, usage and classification operations.
pub trait ProviderAdapter: Send + Sync {
    fn id(&self) -> ProviderId;

    /// Exchanges the bundle's refresh token for a new pair (one network call, no persistence).
    fn refresh<'a>(
        &'a self,
        ctx: &'a Providers,
        current: &'a SecretBundle,
    ) -> BoxFuture<'a, Result<SecretBundle, RefreshFailure>>;

    /// Fetches the account's usage windows.
    fn fetch_usage<'a>(
        &'a self,
        ctx: &'a Providers,
        auth: &'a AccountAuth,
        now: UnixMs,
    ) -> BoxFuture<'a, Result<UsageSnapshot, ProviderError>>;

    /// An upstream answer (status, headers, small body) → core's [`Outcome`]. A 401 maps to
    /// `AuthFailed`; the gateway refreshes once and replays before recording it.
    fn classify(&self, status: u16, headers: &HeaderMap, body: &[u8], now: UnixMs) -> Outcome;

    /// Rate-limit response headers → a usage update (windows not in the headers kept from
    /// `prev`); `None` when the response carries none.
    fn usage_from_headers(
        &self,
        headers: &HeaderMap,
        now: UnixMs,
        prev: Option<&UsageSnapshot>,
    ) -> Option<UsageSnapshot>;
}

/// What goes on an upstream request for one account (owned; see [`UpstreamCredential::as_auth`]
/// for [`crate::shape_request`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamCredential {
    /// Anthropic/OpenAI access token, or the exchanged Copilot token.
    pub bearer: Secret,
    /// OpenAI `ChatGPT-Account-Id`.
    pub account_id: Option<String>,
    /// Copilot: the API base the Copilot token names.
    pub api_base: Option<String>,
    /// Copilot: an exchanged token, which needs the IDE headers.
    pub copilot_ide: bool,
}

impl UpstreamCredential {
    #[must_use]
    pub fn as_auth(&self) -> crate::shape::UpstreamAuth<'_> {
        crate::shape::UpstreamAuth {
            bearer: &self.bearer,
            account_id: self.account_id.as_deref(),
            api_base: self.api_base.as_deref(),
            copilot_ide: self.copilot_ide,
        }
    }
}

/// The shared context: configuration, HTTP client and the Copilot token cache. Cheap to share
/// behind an `Arc`.
#[derive(Debug)]
pub struct Providers {
    pub config: Arc<ProvidersConfig>,
    pub(crate) http: reqwest::Client,
    pub(crate) copilot: CopilotTokens,
}

impl Providers {
    pub fn new(config: ProvidersConfig) -> Result<Self, ProviderError> {
        let http = crate::http::http_client(&config)?;
        Ok(Self {
            config: Arc::new(config),
            http,
            copilot: CopilotTokens::default(),
        })
    }

    /// The adapter of a provider.
    #[must_use]
    pub fn adapter(&self, provider: ProviderId) -> &'static dyn ProviderAdapter {
        match provider {
            ProviderId::Anthropic => &crate::anthropic::Anthropic,
            ProviderId::OpenAi => &crate::openai::OpenAi,
            ProviderId::GithubCopilot => &crate::copilot::Copilot,
        }
    }

    /// The HTTP client of Rota's own requests.
    #[must_use]
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Fetches one account's usage.
    pub async fn fetch_usage(
        &self,
        provider: ProviderId,
        auth: &AccountAuth,
        now: UnixMs,
    ) -> Result<UsageSnapshot, ProviderError> {
        self.adapter(provider).fetch_usage(self, auth, now).await
    }

    /// The credential for an upstream request: the access token (+ `ChatGPT-Account-Id` for
    /// OpenAI), or for Copilot the exchanged (cached) Copilot token and its API base.
    pub async fn upstream_credential(
        &self,
        provider: ProviderId,
        auth: &AccountAuth,
        now: UnixMs,
    ) -> Result<UpstreamCredential, ProviderError> {
        Ok(match provider {
            ProviderId::Anthropic => UpstreamCredential {
                bearer: auth.secrets.access_token.clone(),
                account_id: None,
                api_base: None,
                copilot_ide: false,
            },
            ProviderId::OpenAi => UpstreamCredential {
                bearer: auth.secrets.access_token.clone(),
                account_id: crate::openai::account_id(auth),
                api_base: None,
                copilot_ide: false,
            },
            ProviderId::GithubCopilot => {
                let t = crate::copilot::Copilot::api_token(self, auth, now).await?;
                UpstreamCredential {
                    bearer: t.token,
                    account_id: None,
                    api_base: t.api_base,
                    copilot_ide: !t.direct,
                }
            }
        })
    }

    /// Forgets an account's cached Copilot token (after a 401 from the Copilot API, so the
    /// next [`Providers::upstream_credential`] exchanges a new one).
    pub fn forget_copilot_token(&self, record_id: &str) {
        self.copilot.invalidate(record_id);
    }

    /// Rate-limit response headers → a usage update (see
    /// [`ProviderAdapter::usage_from_headers`]).
    #[must_use]
    pub fn usage_from_headers(
        &self,
        provider: ProviderId,
        headers: &HeaderMap,
        now: UnixMs,
        prev: Option<&UsageSnapshot>,
    ) -> Option<UsageSnapshot> {
        self.adapter(provider)
            .usage_from_headers(headers, now, prev)
    }

    /// Classifies an upstream answer.
    #[must_use]
    pub fn classify(
        &self,
        provider: ProviderId,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
        now: UnixMs,
    ) -> Outcome {
        self.adapter(provider).classify(status, headers, body, now)
    }
}
