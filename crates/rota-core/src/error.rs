//! The pool's typed errors and their classification at the edge.

use rota_types::{ApiError, ErrorCode, ProviderId};

/// Why a pool operation was refused. Nothing was changed when one of these is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    #[error("no {provider} account {id}")]
    NotFound { provider: ProviderId, id: String },
    #[error("{id:?} is not an account id")]
    InvalidId { id: String },
    #[error("{query:?} matches {count} {provider} accounts: {}; use the id", matches.join(", "))]
    Ambiguous {
        provider: ProviderId,
        query: String,
        count: usize,
        /// `ID (label)` of each match, so the user can pick one.
        matches: Vec<String>,
    },
    #[error("label must not be empty")]
    EmptyLabel,
    #[error("label is longer than {max} characters")]
    LabelTooLong { max: usize },
    #[error("label must not contain control characters")]
    LabelControlChars,
    #[error("account id {id} is already in use")]
    DuplicateId { id: String },
}

impl PoolError {
    #[must_use]
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::NotFound { .. } => ErrorCode::NotFound,
            Self::InvalidId { .. }
            | Self::Ambiguous { .. }
            | Self::EmptyLabel
            | Self::LabelTooLong { .. }
            | Self::LabelControlChars => ErrorCode::InvalidInput,
            Self::DuplicateId { .. } => ErrorCode::Conflict,
        }
    }
}

impl From<PoolError> for ApiError {
    fn from(e: PoolError) -> Self {
        ApiError::new(e.code(), e.to_string())
    }
}
