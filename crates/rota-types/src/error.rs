//! The `{code, message}` error every edge (IPC, HTTP, CLI `--json`) serialises.

use serde::{Deserialize, Serialize};

/// What a caller can branch on. A code exists only if some caller treats it differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request was malformed or a value is out of range (HTTP 400, CLI exit 2).
    InvalidInput,
    /// An unknown provider, account or session (HTTP 404).
    NotFound,
    /// The operation conflicts with the current state (HTTP 409).
    Conflict,
    /// A file the user owns could not be read or parsed; it was left untouched.
    Unreadable,
    /// The store lock or another resource is held by a different process.
    Busy,
    /// The OS refused an action on the user's behalf (opening a link, a file).
    Os,
    /// A bug or an unexpected failure (HTTP 500).
    Internal,
    /// The local API token is missing or wrong (HTTP 401): read `api.json` again.
    Unauthorized,
    /// Refused before authentication: a foreign `Host` or any `Origin` (HTTP 403).
    Forbidden,
}

/// The error shape of every Rota edge: `{ "code": "not_found", "message": "…" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidInput, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

/// An unknown provider is `not_found` on every surface (IPC, HTTP 404), with the nearest name
/// when a typo explains it; the CLI makes it a usage error (exit 2).
impl From<crate::UnknownProvider> for ApiError {
    fn from(e: crate::UnknownProvider) -> Self {
        Self::not_found(e.to_string())
    }
}
