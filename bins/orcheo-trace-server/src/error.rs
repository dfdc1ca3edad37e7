//! The one error envelope: `{"error": {"code", "message", "request_id"}}`. Handlers return
//! [`ApiError`]; the request middleware ([`crate::observe`]) writes every error answer —
//! actix's own (a bad query string, an unknown route, a body too large) included — in this
//! shape with the request's id, and logs it once.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::auth::AuthError;

/// What went wrong, as the caller is told.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// A path or query value is malformed.
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    /// A signed artifact link that was genuine but has expired.
    #[error("{0}")]
    LinkExpired(String),
    /// No such thing — or one the caller may not see, which looks the same.
    #[error("{0}")]
    NotFound(String),
    /// The execution exists, but no trace was recorded for it (tracing off, sampled out), or
    /// the trace store has none.
    #[error("{0}")]
    TraceUnavailable(String),
    /// The trace store could not answer and nothing is cached: try again later.
    #[error("{message}")]
    TraceStoreUnavailable {
        message: String,
        retry_after: Duration,
    },
    /// The trace store answered something unusable or refused our credentials.
    #[error("{0}")]
    TraceStoreError(String),
    /// The metadata database could not be reached.
    #[error("{0}")]
    DatabaseUnavailable(String),
    /// The artifact's storage is not one this server can read.
    #[error("{0}")]
    ArtifactStorage(String),
    /// The answer would take more work than the server does for one request.
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }

    /// The stable code clients switch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. } => code,
            Self::Unauthenticated(_) => "unauthenticated",
            Self::Forbidden(_) => "forbidden",
            Self::LinkExpired(_) => "link_expired",
            Self::NotFound(_) => "not_found",
            Self::TraceUnavailable(_) => "trace_unavailable",
            Self::TraceStoreUnavailable { .. } => "trace_store_unavailable",
            Self::TraceStoreError(_) => "trace_store_error",
            Self::DatabaseUnavailable(_) => "database_unavailable",
            Self::ArtifactStorage(_) => "artifact_storage_unsupported",
            Self::TooLarge(_) => "trace_too_large",
            Self::Internal(_) => "internal",
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::TraceStoreUnavailable { retry_after, .. } => Some(*retry_after),
            Self::DatabaseUnavailable(_) => Some(Duration::from_secs(5)),
            _ => None,
        }
    }

    /// The answer, with the request's id.
    pub fn to_response(&self, request_id: &str) -> HttpResponse {
        let status = self.status_code();
        // A server fault's detail stays in the log, not in the answer.
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            "internal error; the server log has the detail under this request id".to_owned()
        } else {
            self.to_string()
        };
        let mut response = envelope(status, self.code(), &message, request_id);
        if let Some(after) = self.retry_after() {
            let secs = after.as_secs().max(1);
            if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        if matches!(self, Self::Unauthenticated(_)) {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"orcheo-trace\""),
            );
        }
        response
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) | Self::LinkExpired(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) | Self::TraceUnavailable(_) => StatusCode::NOT_FOUND,
            Self::TraceStoreUnavailable { .. } | Self::DatabaseUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::TraceStoreError(_) => StatusCode::BAD_GATEWAY,
            Self::ArtifactStorage(_) => StatusCode::NOT_IMPLEMENTED,
            Self::TooLarge(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        // The middleware replaces this with the request's id; this is the answer only if a
        // response is built outside a request.
        self.to_response("")
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Missing | AuthError::Invalid(_) => Self::Unauthenticated(e.to_string()),
            AuthError::MissingScope(_) => Self::Forbidden(e.to_string()),
        }
    }
}

impl From<orcheo_trace_store::StoreError> for ApiError {
    fn from(e: orcheo_trace_store::StoreError) -> Self {
        use orcheo_trace_store::StoreError as S;
        match e {
            S::Invalid { field, reason } => {
                Self::bad_request("invalid_request", format!("invalid {field}: {reason}"))
            }
            S::Pool(_) | S::Database(_) => {
                Self::DatabaseUnavailable(format!("the metadata database is unavailable: {e}"))
            }
            S::UnknownExecution(_) | S::Duplicate(_) | S::Corrupt { .. } => {
                Self::Internal(e.to_string())
            }
        }
    }
}

impl From<orcheo_trace_service::TraceError> for ApiError {
    fn from(e: orcheo_trace_service::TraceError) -> Self {
        use orcheo_trace_service::TraceError as T;
        match e {
            T::InvalidExecutionId(reason) => Self::bad_request(
                "invalid_execution_id",
                format!("invalid execution id: {reason}"),
            ),
            T::NotFound(message) => Self::NotFound(message),
            T::TraceUnavailable(message) => Self::TraceUnavailable(message),
            T::TraceStoreUnavailable {
                message,
                retry_after,
            } => Self::TraceStoreUnavailable {
                message,
                retry_after,
            },
            T::TraceStoreError(message) => Self::TraceStoreError(message),
            T::Store(e) => e.into(),
            T::TooLarge(message) => Self::TooLarge(message),
            T::Internal(message) => Self::Internal(message),
        }
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        Self::Internal(format!("blocking task failed: {e}"))
    }
}

/// Every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = ErrorResponse)]
pub struct Envelope<'a> {
    pub error: Body<'a>,
}

/// The error object of the envelope.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = ErrorBody)]
pub struct Body<'a> {
    /// Stable, machine-readable: `not_found`, `trace_unavailable`, `trace_store_unavailable`…
    pub code: &'a str,
    pub message: &'a str,
    /// Also in the `x-request-id` header and on every log line of the request.
    pub request_id: &'a str,
}

/// An error answer in the envelope.
pub fn envelope(status: StatusCode, code: &str, message: &str, request_id: &str) -> HttpResponse {
    HttpResponse::build(status).json(Envelope {
        error: Body {
            code,
            message,
            request_id,
        },
    })
}

/// The code for an error answer that did not come from an [`ApiError`] (actix's extractors,
/// the default 404, payload limits).
pub fn code_for_status(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "invalid_request",
        401 => "unauthenticated",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        408 | 504 => "timeout",
        413 => "payload_too_large",
        414 | 431 => "request_too_large",
        415 => "unsupported_media_type",
        429 => "rate_limited",
        503 => "unavailable",
        _ if status.is_server_error() => "internal",
        _ => "error",
    }
}
