//! The error envelope of `API.md`: `{"error": {"code", "message"}}`, never SQL or internals.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use events::{ErrorKind, MessageError};
use serde::{Deserialize, Serialize};

/// Every error a handler can answer with, one variant per row of the API's error table.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("authentication required")]
    Unauthenticated,
    /// A login with a wrong username or password (the same answer for both).
    #[error("wrong username or password")]
    BadCredentials,
    #[error("missing or invalid CSRF token")]
    CsrfFailed,
    #[error("too many requests, retry after {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("{0}")]
    InvalidInput(String),
    #[error("request body is too large")]
    PayloadTooLarge,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("service temporarily unavailable")]
    Unavailable,
    /// Logged with its cause; the client sees only `internal`.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The body of every error answer.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// The code (stable, for programs) and message (for people) of an error.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

impl ApiError {
    /// Wraps any unexpected error; its text is logged, never returned.
    pub fn internal(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        ApiError::Internal(Box::new(err))
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated | ApiError::BadCredentials => StatusCode::UNAUTHORIZED,
            ApiError::CsrfFailed | ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::InvalidInput(_) => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable error code of `API.md`.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated | ApiError::BadCredentials => "unauthenticated",
            ApiError::CsrfFailed => "csrf_failed",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::InvalidInput(_) => "invalid_input",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::NotFound(_) => "not_found",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::Conflict(_) => "conflict",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Unavailable => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(cause) = &self {
            tracing::error!(error = %cause, "request failed");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code().to_owned(),
                message: self.to_string(),
            },
        };
        let mut response = (self.status(), Json(body)).into_response();
        let retry_after = match self {
            ApiError::RateLimited { retry_after_secs } => Some(retry_after_secs),
            // Outages are short or answered by failover: come back in a second.
            ApiError::Unavailable => Some(1),
            _ => None,
        };
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl ApiError {
    /// The API code of a domain error kind.
    pub fn from_kind(kind: ErrorKind) -> &'static str {
        match kind {
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Internal => "internal",
        }
    }
}

impl From<MessageError> for ApiError {
    fn from(err: MessageError) -> Self {
        if let MessageError::Directory(events::DirectoryError::Store(source)) = err {
            return ApiError::from_store(source);
        }
        match err.kind() {
            ErrorKind::InvalidInput => ApiError::InvalidInput(err.to_string()),
            ErrorKind::NotFound => ApiError::NotFound(err.to_string()),
            ErrorKind::Forbidden => ApiError::Forbidden(err.to_string()),
            ErrorKind::Conflict => ApiError::Conflict(err.to_string()),
            ErrorKind::Internal => ApiError::internal(err),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        crate::db::note_error(&err);
        if crate::db::is_unavailable(&err) {
            tracing::warn!(error = %err, "database unavailable");
            ApiError::Unavailable
        } else {
            ApiError::internal(err)
        }
    }
}

impl ApiError {
    /// An error from below (cqrs-es, the directory): 503 when a database error in its chain
    /// says the database is unavailable, else an opaque 500.
    pub fn from_store(err: Box<dyn std::error::Error + Send + Sync + 'static>) -> Self {
        match crate::db::find_sqlx_error(err.as_ref()) {
            Some(db) => {
                crate::db::note_error(db);
                if crate::db::is_unavailable(db) {
                    tracing::warn!(error = %db, "database unavailable");
                    return ApiError::Unavailable;
                }
                ApiError::Internal(err)
            }
            None => ApiError::Internal(err),
        }
    }
}

impl From<accounts::UserError> for ApiError {
    fn from(err: accounts::UserError) -> Self {
        use accounts::UserError::*;
        match err {
            InvalidInput(_) => ApiError::InvalidInput(err.to_string()),
            UnknownUser(_) => ApiError::NotFound(err.to_string()),
            AlreadyExists(_) => ApiError::Conflict(err.to_string()),
            WrongRole { .. } => ApiError::InvalidInput(err.to_string()),
            Password(accounts::PasswordError::Busy) => ApiError::Unavailable,
            Password(_) => ApiError::internal(err),
            Database(db) => db.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_that_cannot_reach_its_database_is_unavailable_not_internal() {
        let outages = [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
        ];
        for outage in outages {
            let err = MessageError::Directory(events::DirectoryError::Store(Box::new(outage)));
            let answer = ApiError::from(err);
            assert_eq!(
                answer.status(),
                StatusCode::SERVICE_UNAVAILABLE,
                "{answer:?}"
            );
        }
        let bug = MessageError::Directory(events::DirectoryError::Store(Box::new(
            sqlx::Error::RowNotFound,
        )));
        assert_eq!(
            ApiError::from(bug).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        let corrupt = MessageError::Directory(events::DirectoryError::Invalid("role".into()));
        assert_eq!(
            ApiError::from(corrupt).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn every_503_says_when_to_retry() {
        let response = ApiError::Unavailable.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }
}
