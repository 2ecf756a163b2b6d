//! The HTTP edge's error: a status and the `{ "error": { "code", "message" } }` body.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rota_types::{ApiError, ErrorCode, HttpErrorBody};

/// An error answered to a local API client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    pub status: StatusCode,
    pub error: ApiError,
}

impl HttpError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            error: ApiError::new(code, message),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidInput, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            message,
        )
    }
}

/// Store and pool errors keep their code; the status follows it.
impl From<ApiError> for HttpError {
    fn from(error: ApiError) -> Self {
        let status = match error.code {
            ErrorCode::InvalidInput => StatusCode::BAD_REQUEST,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::Conflict | ErrorCode::Busy => StatusCode::CONFLICT,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::Unreadable | ErrorCode::Os | ErrorCode::Internal => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        Self { status, error }
    }
}

impl From<rota_store::StoreError> for HttpError {
    fn from(e: rota_store::StoreError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<rota_core::PoolError> for HttpError {
    fn from(e: rota_core::PoolError) -> Self {
        ApiError::from(e).into()
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        (self.status, Json(HttpErrorBody { error: self.error })).into_response()
    }
}
