//! Typed errors of the store, and their classification into the edge's `{code, message}`.
//!
//! No variant carries a secret: paths, counts and backend names only.

use std::path::PathBuf;
use std::time::Duration;

use rota_types::{ApiError, ErrorCode};

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process holds the store (or an account) lock for longer than the timeout.
    #[error(
        "the lock file {} is held by another process (waited {:.1} s); is another Rota process stuck?",
        path.display(),
        waited.as_secs_f64()
    )]
    LockTimeout { path: PathBuf, waited: Duration },

    /// A file or directory operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A data file failed to parse and no good copy (`.bak`) could replace it. The unreadable file
    /// was moved aside, never overwritten.
    #[error(
        "{} could not be read ({reason}); it was moved to {} and no good backup was found",
        path.display(),
        quarantined_to.display()
    )]
    Corrupt {
        path: PathBuf,
        quarantined_to: PathBuf,
        reason: String,
    },

    /// A data file written by a newer Rota: it is left untouched and nothing is written over it.
    #[error(
        "{} was written by a newer version of Rota (format {version}; this one reads up to {supported}); it was left untouched: update Rota",
        path.display()
    )]
    NewerFormat {
        path: PathBuf,
        version: u32,
        supported: u32,
    },

    /// The vault exists but cannot be decrypted with the key at hand (wrong or missing key).
    /// Nothing was overwritten.
    #[error("the vault {} cannot be decrypted: {reason}; it was left untouched", path.display())]
    VaultUndecryptable { path: PathBuf, reason: String },

    /// The OS keychain failed, timed out or is not available (`secret_store = "keychain"` fails
    /// closed).
    #[error("OS keychain unavailable: {0}")]
    Keychain(String),

    /// A state value could not be serialised (a bug in the state type).
    #[error("could not serialise {what}: {source}")]
    Serialize {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },

    /// A credential file to import has a shape we do not understand.
    #[error("{} is not a {format} login file: {problem}", path.display())]
    ImportFormat {
        path: PathBuf,
        format: &'static str,
        problem: String,
    },

    /// The tool whose login was to be imported has none on this machine.
    #[error("no {tool} login found at {}: {hint}", path.display())]
    ImportMissing {
        path: PathBuf,
        tool: &'static str,
        /// How to get one: sign in to the tool first, or to Rota directly.
        hint: &'static str,
    },

    /// An unknown account id.
    #[error("no account with id {0}")]
    NotFound(String),

    /// The data directory could not be determined (no `ROTA_HOME`, no platform data dir).
    #[error("no data directory: set ROTA_HOME")]
    NoDataDir,

    /// A pool rule refused the mutation (unknown id, bad label, …); nothing was written.
    #[error(transparent)]
    Pool(#[from] rota_core::PoolError),

    /// A configuration value is invalid (e.g. `secret_store`).
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl StoreError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// The edge code a caller branches on.
    #[must_use]
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::LockTimeout { .. } => ErrorCode::Busy,
            Self::Corrupt { .. }
            | Self::VaultUndecryptable { .. }
            | Self::ImportFormat { .. }
            | Self::NewerFormat { .. } => ErrorCode::Unreadable,
            Self::Io { .. } | Self::Keychain(_) | Self::NoDataDir => ErrorCode::Os,
            Self::NotFound(_) | Self::ImportMissing { .. } => ErrorCode::NotFound,
            Self::Serialize { .. } => ErrorCode::Internal,
            Self::Config(_) => ErrorCode::InvalidInput,
            Self::Pool(e) => e.code(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::new(e.code(), e.to_string())
    }
}

/// Result alias of the crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
