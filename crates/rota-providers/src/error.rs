//! Typed errors of the adapters and their classification into the edge's `{code, message}`.
//!
//! No variant carries a token or a token-endpoint body: only HTTP statuses, the parsed OAuth
//! `error` code and fixed descriptions.

use rota_types::{ApiError, ErrorCode, ProviderId, UnixMs};

/// What went wrong talking to a provider.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// Connect/reset/timeout: nothing was learnt about the account.
    #[error("{provider}: network error: {message}")]
    Network {
        provider: ProviderId,
        message: String,
    },
    /// An HTTP status we do not treat specially (`code` is the parsed error code, if any).
    #[error("{provider}: {what} answered HTTP {status}{}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Http {
        provider: ProviderId,
        what: &'static str,
        status: u16,
        code: Option<String>,
    },
    /// The provider rate-limited the request (usage endpoint, token endpoint);
    /// `retry_at` when it said.
    #[error("{provider}: {what} is rate-limited")]
    RateLimited {
        provider: ProviderId,
        what: &'static str,
        retry_at: Option<UnixMs>,
    },
    /// The access token was refused (401).
    #[error("{provider}: the access token was refused")]
    Unauthorized { provider: ProviderId },
    /// A response we could not parse.
    #[error("{provider}: unexpected {what} response: {problem}")]
    Protocol {
        provider: ProviderId,
        what: &'static str,
        problem: String,
    },
    /// The login flow failed: wrong `state`, denied consent, expired device code, bad paste.
    #[error("{0}: login failed: {1}")]
    Login(ProviderId, LoginFailure),
    /// The refresh token was refused for good: the account needs a new login.
    #[error("{provider}: the refresh token was refused ({code}); log in to this account again")]
    ReauthRequired { provider: ProviderId, code: String },
    /// Refresh failed transiently; tokens untouched, try again after `retry_at`.
    #[error("{provider}: token refresh failed for now ({reason}); will retry")]
    RefreshBackoff {
        provider: ProviderId,
        reason: String,
        retry_at: UnixMs,
    },
    /// The account has no credentials or no refresh token.
    #[error("{provider}: account {id} has no usable credentials")]
    NoCredentials { provider: ProviderId, id: String },
    /// The local callback server could not start.
    #[error("cannot listen for the login callback: {0}")]
    Callback(String),
    /// The store failed (lock timeout, IO, …).
    #[error(transparent)]
    Store(#[from] rota_store::StoreError),
    /// A background task failed (a bug).
    #[error("internal error: {0}")]
    Internal(String),
    /// Reset credits exist for OpenAI accounts only.
    #[error("{provider} has no reset credits; only openai does")]
    NoResetCredits { provider: ProviderId },
    /// The provider has no account to act on.
    #[error("no {provider} account is configured")]
    NoAccount { provider: ProviderId },
    /// The config file could not be read or written.
    #[error(transparent)]
    Settings(#[from] rota_config::ConfigError),
    /// A setting an environment variable decides cannot be changed from here.
    #[error("{name} is set and decides this setting; unset it to change it here")]
    SetByEnv { name: &'static str },
    /// A configured URL is invalid.
    #[error("invalid provider URL {url:?}: {problem}")]
    Config { url: String, problem: String },
}

/// Why a login did not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginFailure {
    #[error(
        "this code belongs to another sign-in (an older tab or window): copy the whole code from the page this sign-in opened, including the part after #, and paste it again"
    )]
    StateMismatch,
    #[error(
        "that is not a sign-in code: copy the code the sign-in page shows (it looks like `abc…#xyz`) or the page's whole address, and paste it here"
    )]
    BadPaste,
    #[error("consent was denied ({0})")]
    Denied(String),
    #[error("the device code expired before it was approved")]
    Expired,
    #[error("the login was cancelled")]
    Cancelled,
    #[error("the provider refused the code ({0})")]
    Refused(String),
    #[error("the login timed out")]
    TimedOut,
}

impl ProviderError {
    /// The edge code a caller branches on.
    #[must_use]
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Login(..)
            | Self::Config { .. }
            | Self::NoResetCredits { .. }
            | Self::Settings(_) => ErrorCode::InvalidInput,
            Self::ReauthRequired { .. } | Self::Unauthorized { .. } | Self::SetByEnv { .. } => {
                ErrorCode::Conflict
            }
            Self::RateLimited { .. } | Self::RefreshBackoff { .. } => ErrorCode::Busy,
            Self::NoCredentials { .. } | Self::NoAccount { .. } => ErrorCode::NotFound,
            Self::Network { .. } | Self::Callback(_) => ErrorCode::Os,
            Self::Http { .. } | Self::Protocol { .. } | Self::Internal(_) => ErrorCode::Internal,
            Self::Store(e) => e.code(),
        }
    }

    /// Whether the failure says nothing about the account (retry later, keep cached values).
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Network { .. } | Self::RateLimited { .. } | Self::RefreshBackoff { .. } => true,
            Self::Http { status, .. } => *status >= 500,
            _ => false,
        }
    }

    pub(crate) fn network(provider: ProviderId, e: &reqwest::Error) -> Self {
        Self::Network {
            provider,
            message: network_kind(e).to_owned(),
        }
    }
}

/// Only the kind of a network failure: reqwest's message can carry the URL, whose query may
/// hold a code.
pub(crate) fn network_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "broken response body"
    } else {
        "request failed"
    }
}

impl From<ProviderError> for ApiError {
    fn from(e: ProviderError) -> Self {
        ApiError::new(e.code(), e.to_string())
    }
}
