//! `GET /metrics`: the Prometheus exposition of the invocation metrics (behind the bearer
//! token like the rest of the admin listener).

use super::AppState;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

pub async fn metrics(State(p): State<AppState>) -> impl IntoResponse {
    // Usage per class and stage is kept in atomics on the request path; copied in here.
    p.live.usage.export(&p.observe.metrics);
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], p.observe.metrics.render())
}
