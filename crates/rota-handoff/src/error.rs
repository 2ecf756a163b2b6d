//! Hand-off errors. Messages name files and fields, never token values.

use std::path::PathBuf;

use rota_types::{ApiError, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum HandoffError {
    #[error(transparent)]
    Store(#[from] rota_store::StoreError),
    /// The target exists but is not a login file we understand; it is never overwritten.
    #[error("{tool} login file {path} cannot be read ({problem}); it was left untouched")]
    Unreadable {
        tool: &'static str,
        path: String,
        problem: String,
    },
    /// The target holds a login Rota cannot attribute to one of its accounts.
    #[error(
        "{path} holds a {tool} login that is not one of Rota's accounts; import it first \
         (rota auth import {import}) or overwrite it with --force"
    )]
    ForeignLogin {
        tool: &'static str,
        import: &'static str,
        path: String,
    },
    /// The active account lacks a secret the tool's format needs.
    #[error("the active account has no {what}; {tool} needs it (log in to the account again)")]
    MissingSecret {
        tool: &'static str,
        what: &'static str,
    },
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("keychain: {0}")]
    Keychain(String),
    #[error("{0}")]
    Invalid(String),
}

impl HandoffError {
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

    #[must_use]
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Store(e) => e.code(),
            Self::Unreadable { .. } => ErrorCode::Unreadable,
            Self::ForeignLogin { .. } => ErrorCode::Conflict,
            Self::MissingSecret { .. } => ErrorCode::NotFound,
            Self::Io { .. } | Self::Keychain(_) => ErrorCode::Os,
            Self::Invalid(_) => ErrorCode::InvalidInput,
        }
    }
}

impl From<HandoffError> for ApiError {
    fn from(e: HandoffError) -> Self {
        match e {
            HandoffError::Store(s) => s.into(),
            other => ApiError::new(other.code(), other.to_string()),
        }
    }
}
