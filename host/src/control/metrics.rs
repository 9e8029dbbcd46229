//! `GET /metrics`: the Prometheus exposition of the invocation metrics (behind the bearer
//! token like the rest of the admin listener).

use super::AppState;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

pub async fn metrics(State(p): State<AppState>) -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], p.observe.metrics.render())
}
