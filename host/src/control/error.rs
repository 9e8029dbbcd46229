//! The one error type of the management API: each variant maps to a status, an AWS-style
//! error type and a JSON body `{"message": ..., "type": ...}`.

use crate::invoke::ResolveError;
use crate::model::error::Error;
use crate::model::Invalid;
use crate::runtime::compile::CompileError;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The client stopped sending the request body (`--body-timeout-s` between frames).
    #[error("{0}")]
    RequestTimeout(String),
    /// A SigV4 signature that is wrong, expired or not yet current (403).
    #[error("{0}")]
    InvalidSignature(String),
    /// A malformed SigV4 request (400).
    #[error("{0}")]
    IncompleteSignature(String),
    /// A SigV4 access key id nobody issued (403).
    #[error("The security token included in the request is invalid.")]
    UnrecognizedClient,
    /// An AWS-style call without credentials (403, as AWS answers).
    #[error("Missing Authentication Token")]
    MissingAuthenticationToken,
    /// An AWS operation outside the supported subset (501).
    #[error("{0}")]
    NotImplemented(String),
    #[error("Rate Exceeded.")]
    TooManyRequests,
    #[error("Rate Exceeded.")]
    ReservedConcurrencyExceeded,
    /// The requested code can't be run (missing or corrupt artifact).
    #[error("{0}")]
    CodeUnavailable(String),
    /// The function's configuration can't be satisfied (e.g. a referenced secret is missing).
    #[error("{0}")]
    FunctionConfiguration(String),
    /// An error response produced outside the handlers (axum's extractor rejections,
    /// hyper's), re-shaped by [`super::json_errors`]: its status is kept.
    #[error("{1}")]
    Other(StatusCode, String),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "InvalidParameterValueException"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "UnauthorizedException"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "AccessDeniedException"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "ResourceNotFoundException"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "ResourceConflictException"),
            ApiError::PreconditionFailed(_) => (StatusCode::PRECONDITION_FAILED, "PreconditionFailedException"),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "RequestTooLargeException"),
            ApiError::UnsupportedMediaType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UnsupportedMediaTypeException"),
            ApiError::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowedException"),
            ApiError::RequestTimeout(_) => (StatusCode::REQUEST_TIMEOUT, "RequestTimeoutException"),
            ApiError::InvalidSignature(_) => (StatusCode::FORBIDDEN, "InvalidSignatureException"),
            ApiError::IncompleteSignature(_) => (StatusCode::BAD_REQUEST, "IncompleteSignatureException"),
            ApiError::UnrecognizedClient => (StatusCode::FORBIDDEN, "UnrecognizedClientException"),
            ApiError::MissingAuthenticationToken => (StatusCode::FORBIDDEN, "MissingAuthenticationTokenException"),
            ApiError::NotImplemented(_) => (StatusCode::NOT_IMPLEMENTED, "UnsupportedOperationException"),
            ApiError::TooManyRequests | ApiError::ReservedConcurrencyExceeded => {
                (StatusCode::TOO_MANY_REQUESTS, "TooManyRequestsException")
            }
            ApiError::CodeUnavailable(_) => (StatusCode::BAD_GATEWAY, "CodeIntegrityException"),
            ApiError::FunctionConfiguration(_) => (StatusCode::BAD_GATEWAY, "InvalidFunctionConfigurationException"),
            ApiError::Other(status, _) if status.is_server_error() => (*status, "ServiceException"),
            ApiError::Other(status, _) => (*status, "InvalidRequestException"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "ServiceException"),
        }
    }
}

/// The cause of a 500, carried in its response's extensions from [`ApiError::into_response`]
/// to the one place that logs it, [`log_internal_errors`]. The client sees only
/// `Internal server error`.
#[derive(Clone, Debug)]
pub struct InternalError(pub Arc<anyhow::Error>);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, kind) = self.parts();
        let message = match &self {
            ApiError::Internal(_) => "Internal server error".to_string(),
            other => other.to_string(),
        };
        let mut body = serde_json::json!({ "message": message, "type": kind });
        match &self {
            ApiError::TooManyRequests => body["reason"] = "ConcurrentInvocationLimitExceeded".into(),
            ApiError::ReservedConcurrencyExceeded => {
                body["reason"] = "ReservedFunctionConcurrentInvocationLimitExceeded".into()
            }
            _ => {}
        }
        let mut resp = (status, Json(body)).into_response();
        resp.headers_mut().insert("x-amzn-errortype", HeaderValue::from_static(kind));
        if let ApiError::Internal(e) = self {
            resp.extensions_mut().insert(InternalError(Arc::new(e)));
        }
        resp
    }
}

/// THE log line of an internal error, written inside the request's span (method, path,
/// request id: see `control::app`), from the error its response carries ([`InternalError`]).
/// Responses without one are passed through untouched: nothing is logged for them here.
pub async fn log_internal_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    if let Some(InternalError(e)) = resp.extensions().get::<InternalError>() {
        tracing::error!(error = %format!("{e:#}"), "internal error");
    }
    resp
}

impl ApiError {
    /// The variant for an error response that came from outside the handlers.
    pub fn from_status(status: StatusCode, message: String) -> ApiError {
        match status {
            StatusCode::BAD_REQUEST => ApiError::BadRequest(message),
            StatusCode::NOT_FOUND => ApiError::NotFound(message),
            StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed(message),
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(message),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType(message),
            other => ApiError::Other(other, message),
        }
    }
}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> Self {
        ApiError::BadRequest(e.0)
    }
}

impl From<CompileError> for ApiError {
    fn from(e: CompileError) -> Self {
        ApiError::BadRequest(e.0)
    }
}

/// The domain's errors (from `ops` and the store) to statuses: the one mapping.
impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            e @ Error::NotFound { .. } => ApiError::NotFound(e.to_string()),
            Error::Conflict(m) => ApiError::Conflict(m),
            Error::PreconditionFailed(m) => ApiError::PreconditionFailed(m),
            Error::Invalid(m) => ApiError::BadRequest(m),
            Error::Unavailable(m) => ApiError::Other(StatusCode::SERVICE_UNAVAILABLE, m),
            Error::Internal(e) => ApiError::Internal(e),
        }
    }
}

impl From<crate::ops::code::UploadError> for ApiError {
    fn from(e: crate::ops::code::UploadError) -> Self {
        match e {
            crate::ops::code::UploadError::Invalid(e) => e.into(),
            crate::ops::code::UploadError::Store(e) => e.into(),
        }
    }
}

impl From<ResolveError> for ApiError {
    fn from(e: ResolveError) -> Self {
        match e {
            ResolveError::NotFound { .. } => ApiError::NotFound(e.to_string()),
            ResolveError::NoCode { .. } => ApiError::Conflict(e.to_string()),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
