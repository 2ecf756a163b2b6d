//! The CLI's error: a usage error (exit 2, with the usage line) or a failed operation (exit 1,
//! carrying the `{code, message}` every Rota edge uses).

use rota_types::{ApiError, ErrorCode};

#[derive(Debug)]
pub enum CliError {
    /// Arguments are missing or malformed: exit 2 with a usage hint.
    Usage {
        message: String,
        usage: &'static str,
        /// The `--json` code: `invalid_input`, or what the operation answers on every surface
        /// (an unknown provider is `not_found`).
        code: ErrorCode,
    },
    /// The operation failed (unknown account, store busy, unreadable file…): exit 1.
    Failed(ApiError),
    /// The user cancelled a prompt (Esc / Ctrl-C).
    Cancelled,
}

impl CliError {
    pub fn usage(message: impl Into<String>, usage: &'static str) -> Self {
        Self::Usage {
            message: message.into(),
            usage,
            code: ErrorCode::InvalidInput,
        }
    }

    /// The same usage error under another `--json` code.
    #[must_use]
    pub fn with_code(self, code: ErrorCode) -> Self {
        match self {
            Self::Usage { message, usage, .. } => Self::Usage {
                message,
                usage,
                code,
            },
            other => other,
        }
    }

    pub fn failed(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Failed(ApiError::new(code, message))
    }

    #[must_use]
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage { .. } => 2,
            Self::Failed(_) | Self::Cancelled => 1,
        }
    }

    /// The `{code, message}` form for `--json`.
    #[must_use]
    pub fn to_api(&self) -> ApiError {
        match self {
            Self::Usage { message, code, .. } => ApiError::new(*code, message.clone()),
            Self::Failed(e) => e.clone(),
            Self::Cancelled => ApiError::new(ErrorCode::InvalidInput, "cancelled"),
        }
    }
}

impl From<rota_store::StoreError> for CliError {
    fn from(e: rota_store::StoreError) -> Self {
        Self::Failed(e.into())
    }
}

impl From<ApiError> for CliError {
    fn from(e: ApiError) -> Self {
        Self::Failed(e)
    }
}

impl From<rota_core::PoolError> for CliError {
    fn from(e: rota_core::PoolError) -> Self {
        Self::Failed(e.into())
    }
}

impl From<std::io::Error> for CliError {
    /// Prompts fail with `Interrupted` when the user presses Esc or Ctrl-C.
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::Interrupted {
            Self::Cancelled
        } else {
            Self::failed(ErrorCode::Os, format!("terminal: {e}"))
        }
    }
}
