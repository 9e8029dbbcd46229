//! The management API (admin listener): JSON over HTTP, bearer-token auth, one file per
//! resource. Every mutating handler commits one store transaction, then refreshes the
//! routing snapshot before answering.

pub mod aliases;
pub mod apis;
pub mod body;
pub mod code;
pub mod deployments;
pub mod error;
pub mod functions;
pub mod invoke;
pub mod logs;
pub mod permissions;
pub mod stages;
pub mod versions;

use crate::platform::Platform;
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::{self, Next};
use axum::response::Response;
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
        );
    Router::new()
        .nest("/v1", v1)
        .route("/metrics", get(logs::metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(platform.clone(), require_token))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(platform)
}

async fn require_token(State(p): State<AppState>, req: Request, next: Next) -> Result<Response, ApiError> {
    let presented = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(t) if constant_time_eq(t.as_bytes(), p.admin_token.as_bytes()) => Ok(next.run(req).await),
        Some(_) => Err(ApiError::Unauthorized("Unauthorized: the bearer token is not valid".into())),
        None => Err(ApiError::Unauthorized(
            "Unauthorized: send Authorization: Bearer <token> (the admin token is in DATA_DIR/admin.token)".into(),
        )),
    }
}

/// Compares secrets without an early exit that would leak the matching prefix length.
/// (Tiny enough not to justify a crate.)
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn not_found(req: Request) -> ApiError {
    ApiError::NotFound(format!("Unknown route: {} {}", req.method(), req.uri().path()))
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::MethodNotAllowed(format!("Method {} is not allowed on {}", req.method(), req.uri().path()))
}
