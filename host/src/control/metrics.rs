//! `GET /metrics`: the Prometheus exposition of the invocation metrics (behind the bearer
//! token like the rest of the admin listener).

use super::AppState;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

pub async fn metrics(State(p): State<AppState>) -> impl IntoResponse {
    // Usage per class and stage is kept in atomics on the request path; copied in here.
    p.live.usage.export(&p.observe.metrics);
    // The change feed of a shared store: this host's view, copied in at scrape.
    p.observe.metrics.gauge("waygate_change_seq_applied".into(), &[], p.snapshot().change_seq as f64);
    if let Some(feed) = &p.feed {
        p.observe.metrics.gauge("waygate_store_connected".into(), &[], if feed.connected() { 1.0 } else { 0.0 });
        p.observe.metrics.gauge("waygate_change_seq_latest".into(), &[], feed.latest() as f64);
        p.observe.metrics.counter_absolute("waygate_store_disconnects_total".into(), &[], feed.disconnects());
    }
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], p.observe.metrics.render())
}
