//! The management API (admin listener): JSON over HTTP, bearer-token auth, one file per
//! resource. A handler turns the request into domain types, calls the use case in `ops`
//! (which holds the rules and commits through `Platform::commit`), and renders the
//! answer; it neither writes to the store nor checks a rule of its own. The routes and
//! their access rules are one table ([`routes::ROUTES`]).

pub mod access;
pub mod alias_shifts;
pub mod aliases;
pub mod apis;
pub mod appconfig;
pub mod audit;
pub mod aws;
pub mod body;
pub mod canary;
pub mod cluster;
pub mod code;
pub mod concurrency;
pub mod deployments;
pub mod error;
pub mod functions;
pub mod invoke;
pub mod keys;
pub mod logs;
pub mod metrics;
pub mod openapi;
pub mod paging;
pub mod permissions;
pub mod routes;
pub mod runtime;
pub mod secrets;
pub mod stage_cache;
pub mod stage_metrics;
pub mod stages;
pub mod stats;
pub mod values;
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
/// shape ([`json_errors`]); internal errors are logged by [`error::log_internal_errors`],
/// inside the request's span ([`request_span`]).
pub fn app(platform: Arc<Platform>) -> Router {
    let router = routes::router()
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(platform.clone(), access::authorize))
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn_with_state(platform.clone(), aws::shape_errors))
        // Outside the route table and its authorization: a probe's, which says nothing
        // but "ok" or "degraded".
        .route("/healthz", axum::routing::get(cluster::healthz))
        // The API's description is public, like the console's files (what it describes
        // is still behind the token).
        .route("/v1/openapi.json", axum::routing::get(openapi::get))
        .merge(crate::console::router());
    observed(router).with_state(platform)
}

/// The outermost layers: the request's span, and inside it the log of internal errors.
fn observed<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router
        .layer(middleware::from_fn(error::log_internal_errors))
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(request_span))
        .layer(middleware::from_fn(assign_request_id))
}

/// The id of one management request: a field of its span, and for a direct invoke the
/// invocation's request id (`x-waygate-request-id`, the START/END log lines), so a log
/// line and the answer name the same request.
#[derive(Clone)]
pub struct RequestId(pub Arc<str>);

async fn assign_request_id(mut req: Request, next: middleware::Next) -> Response {
    req.extensions_mut().insert(RequestId(uuid::Uuid::new_v4().to_string().into()));
    next.run(req).await
}

/// The one span of a management request: method, path (no query) and a request id. A span
/// prints no line of its own; it labels the lines logged while the request is served (an
/// internal error, a preload warning). Its fields are computed only when the span is
/// enabled (`RUST_LOG=…,waygate::control::request=off` turns it off).
fn request_span(req: &Request) -> tracing::Span {
    tracing::info_span!(
        target: "waygate::control::request",
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        request_id = req.extensions().get::<RequestId>().map_or("", |r| &*r.0),
    )
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
    if aws::looks_like_aws(req.uri().path()) {
        return aws::unsupported(req.method().as_str(), req.uri().path());
    }
    ApiError::NotFound(format!("Unknown route: {} {}", req.method(), req.uri().path()))
}

async fn method_not_allowed(req: Request) -> ApiError {
    if aws::looks_like_aws(req.uri().path()) {
        return aws::unsupported(req.method().as_str(), req.uri().path());
    }
    ApiError::MethodNotAllowed(format!("Method {} is not allowed on {}", req.method(), req.uri().path()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use tower::ServiceExt;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn an_internal_error_is_logged_once_inside_the_request_span_and_hidden_from_the_client() {
        let log = Captured::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(move || writer.clone()).finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let failing =
            || async { Err::<(), _>(ApiError::Internal(anyhow::anyhow!("disk on fire").context("writing x"))) };
        let ok = || async { "fine" };
        let router =
            observed(Router::new().route("/boom", axum::routing::get(failing)).route("/ok", axum::routing::get(ok)));

        let resp =
            router.clone().oneshot(Request::get("/ok?q=1").body(axum::body::Body::empty()).unwrap()).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert!(log.0.lock().unwrap().is_empty(), "a request without an error logs nothing");

        let resp = router.oneshot(Request::get("/boom?q=1").body(axum::body::Body::empty()).unwrap()).await.unwrap();
        assert_eq!(resp.status(), 500);
        let body = http_body_util::BodyExt::collect(resp.into_body()).await.unwrap().to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v, serde_json::json!({"message": "Internal server error", "type": "ServiceException"}));
        let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().filter(|l| l.contains("internal error")).collect();
        assert_eq!(lines.len(), 1, "{text}");
        assert!(lines[0].contains("writing x: disk on fire"), "{text}");
        assert!(lines[0].contains("request{method=GET path=/boom request_id="), "{text}");
        assert!(!lines[0].contains("q=1"), "no query in the span: {text}");
    }
}
