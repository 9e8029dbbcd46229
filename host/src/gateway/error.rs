//! Responses the gateway itself produces, with API Gateway's statuses, messages and
//! `x-amzn-ErrorType` (API Gateway's gateway responses).

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

#[derive(Debug)]
pub enum GatewayError {
    /// Unknown API or stage.
    Forbidden,
    /// No route for this path and method.
    MissingAuthenticationToken,
    /// Configuration error (missing permission, unresolvable target): logged, not shown.
    Internal,
    /// The function failed or answered a malformed response.
    BadGateway,
    IntegrationTimeout,
    RequestTooLong,
    /// A body that isn't valid HTTP framing (e.g. a malformed chunk size), or a path whose
    /// parameters would hold dot segments.
    BadRequest,
    /// Request line longer than [`super::MAX_URI_BYTES`].
    UriTooLong,
    /// Request line and headers together larger than [`super::MAX_HEAD_BYTES`].
    HeadersTooLarge,
    /// The client stopped sending the request body (`--body-timeout-s` between frames).
    RequestTimeout,
    TooManyRequests,
    /// `Cache-Control: max-age=0` without an invalidation credential (FAIL_WITH_403).
    CacheInvalidationDenied,
}

impl GatewayError {
    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            GatewayError::Forbidden => (StatusCode::FORBIDDEN, "Forbidden", "ForbiddenException"),
            GatewayError::MissingAuthenticationToken => {
                (StatusCode::FORBIDDEN, "Missing Authentication Token", "MissingAuthenticationTokenException")
            }
            GatewayError::Internal => {
                (StatusCode::INTERNAL_SERVER_ERROR, "Internal server error", "InternalServerErrorException")
            }
            GatewayError::BadGateway => {
                (StatusCode::BAD_GATEWAY, "Internal server error", "InternalServerErrorException")
            }
            GatewayError::IntegrationTimeout => {
                (StatusCode::GATEWAY_TIMEOUT, "Endpoint request timed out", "InternalServerErrorException")
            }
            GatewayError::RequestTooLong => {
                (StatusCode::PAYLOAD_TOO_LARGE, "Request Too Long", "RequestTooLongException")
            }
            GatewayError::BadRequest => (StatusCode::BAD_REQUEST, "Bad Request", "BadRequestException"),
            GatewayError::UriTooLong => (StatusCode::URI_TOO_LONG, "Request-URI Too Long", "RequestTooLongException"),
            GatewayError::HeadersTooLarge => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "Request Header Fields Too Large",
                "RequestTooLongException",
            ),
            GatewayError::RequestTimeout => {
                (StatusCode::REQUEST_TIMEOUT, "Request body timed out", "RequestTimeoutException")
            }
            GatewayError::TooManyRequests => {
                (StatusCode::TOO_MANY_REQUESTS, "Too Many Requests", "TooManyRequestsException")
            }
            GatewayError::CacheInvalidationDenied => (
                StatusCode::FORBIDDEN,
                "Not authorized to invalidate the cache of this stage: send Authorization: Bearer <invalidation key>",
                "AccessDeniedException",
            ),
        }
    }

    pub fn into_response_with_id(self, request_id: &str) -> Response {
        let (status, message, kind) = self.parts();
        let mut r = (status, axum::Json(serde_json::json!({ "message": message }))).into_response();
        let h = r.headers_mut();
        h.insert("x-amzn-errortype", HeaderValue::from_static(kind));
        if let Ok(v) = HeaderValue::from_str(request_id) {
            h.insert("x-amzn-requestid", v.clone());
            h.insert("x-waygate-request-id", v);
        }
        r
    }
}
