//! The management API (admin listener): JSON over HTTP, bearer-token auth, one file per
//! resource. Every mutating handler commits one store transaction, then refreshes the
//! routing snapshot before answering.

pub mod access;
pub mod aliases;
pub mod apis;
pub mod audit;
pub mod body;
pub mod canary;
pub mod code;
pub mod concurrency;
pub mod deployments;
pub mod error;
pub mod functions;
pub mod invoke;
pub mod keys;
pub mod logs;
pub mod permissions;
pub mod routes;
pub mod secrets;
pub mod stage_cache;
pub mod stage_metrics;
pub mod stages;
pub mod versions;

use crate::platform::Platform;
use axum::extract::Request;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::Router;
use error::ApiError;
use std::sync::Arc;

pub type AppState = Arc<Platform>;

/// The management router, shared by `waygate up` and the tests: the routes of
/// [`routes::ROUTES`], behind authorization ([`access::authorize`]) and one JSON error
/// shape ([`json_errors`]).
pub fn app(platform: Arc<Platform>) -> Router {
    routes::router()
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(platform.clone(), access::authorize))
        .layer(middleware::from_fn(json_errors))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(platform)
}

/// Compares secrets without an early exit that would leak the matching prefix length.
/// (Tiny enough not to justify a crate.)
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Every error of the management API has the one JSON shape, whoever produced it: errors
/// that don't come from an `ApiError` (axum's extractor rejections, such as `Invalid URL`
/// for a path that doesn't percent-decode to UTF-8) are text; they are re-shaped here,
/// their status and message kept. One place, so a new extractor can't bring its own shape.
async fn json_errors(req: Request, next: middleware::Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    // Rejection texts are short; anything longer is cut rather than buffered whole.
    let text = match http_body_util::BodyExt::collect(http_body_util::Limited::new(resp.into_body(), 4096)).await {
        Ok(b) => String::from_utf8_lossy(&b.to_bytes()).trim().to_string(),
        Err(_) => String::new(),
    };
    let message = if text.is_empty() { status.canonical_reason().unwrap_or("Error").to_string() } else { text };
    ApiError::from_status(status, message).into_response()
}

async fn not_found(req: Request) -> ApiError {
    ApiError::NotFound(format!("Unknown route: {} {}", req.method(), req.uri().path()))
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::MethodNotAllowed(format!("Method {} is not allowed on {}", req.method(), req.uri().path()))
}
