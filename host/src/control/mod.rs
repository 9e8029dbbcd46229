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
pub mod secrets;
pub mod stage_cache;
pub mod stage_metrics;
pub mod stages;
pub mod versions;

use crate::platform::Platform;
use axum::extract::Request;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use error::ApiError;
use std::sync::Arc;

pub type AppState = Arc<Platform>;

/// The management router, shared by `waygate up` and the tests.
pub fn app(platform: Arc<Platform>) -> Router {
    let v1 = Router::new()
        .route("/functions", post(functions::create).get(functions::list))
        .route("/functions/{name}", get(functions::get).delete(functions::delete))
        .route("/functions/{name}/code", put(code::upload))
        .route("/functions/{name}/config", axum::routing::patch(functions::update_config))
        .route("/functions/{name}/versions", post(versions::publish).get(versions::list))
        .route("/functions/{name}/versions/{version}", get(versions::get).delete(versions::delete))
        .route("/functions/{name}/aliases", get(aliases::list))
        .route("/functions/{name}/aliases/{alias}", put(aliases::put).get(aliases::get).delete(aliases::delete))
        .route("/functions/{name}/invoke", post(invoke::invoke))
        .route("/functions/{name}/logs", get(logs::get))
        .route("/runtime/evict", post(logs::evict))
        .route("/functions/{name}/permissions", post(permissions::add).get(permissions::list))
        .route("/functions/{name}/permissions/{statement_id}", axum::routing::delete(permissions::remove))
        .route("/apis", post(apis::create).get(apis::list))
        .route("/apis/{id}", get(apis::get).delete(apis::delete))
        .route("/apis/{id}/routes", put(apis::put_route).get(apis::list_routes))
        .route("/apis/{id}/routes/{route}", get(apis::get_route).delete(apis::delete_route))
        .route("/apis/{id}/deployments", post(deployments::create).get(deployments::list))
        .route("/apis/{id}/deployments/{deployment}", get(deployments::get).delete(deployments::delete))
        .route("/apis/{id}/stages", get(stages::list))
        .route(
            "/apis/{id}/stages/{stage}",
            put(stages::put).patch(stages::patch).get(stages::get).delete(stages::delete),
        )
        .route("/keys", post(keys::create).get(keys::list))
        .route("/keys/{name}", axum::routing::delete(keys::delete))
        .route("/secrets/{environment}", get(secrets::list))
        .route("/secrets/{environment}/{name}", put(secrets::put).delete(secrets::delete))
        .route("/audit", get(audit::list))
        .route("/apis/{id}/stages/{stage}/canary", axum::routing::delete(canary::remove))
        .route("/apis/{id}/stages/{stage}/canary/promote", post(canary::promote))
        .route("/apis/{id}/stages/{stage}/cache", axum::routing::delete(stage_cache::flush))
        .route("/apis/{id}/stages/{stage}/invalidation-keys", post(stage_cache::issue_key))
        .route("/apis/{id}/stages/{stage}/metrics", get(stage_metrics::metrics))
        .route("/functions/{name}/concurrency", put(concurrency::put).delete(concurrency::delete));
    Router::new()
        .nest("/v1", v1)
        .route("/metrics", get(logs::metrics))
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
