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
    // Loaded code and warm pool slots (the runtime's counters), copied in at scrape.
    let m = &p.observe.metrics;
    let code = p.runtime.loader().stats();
    m.gauge("waygate_code_loaded_bytes".into(), &[], code.loaded_bytes as f64);
    m.gauge("waygate_code_loaded_modules".into(), &[], code.loaded_modules as f64);
    m.counter_absolute("waygate_code_loads_total".into(), &[], code.loads);
    m.counter_absolute("waygate_code_evictions_total".into(), &[], code.evicted);
    m.counter_absolute("waygate_code_idle_unloads_total".into(), &[], code.unloaded_idle);
    let warm = p.runtime.warm_slots();
    m.gauge("waygate_pool_warm_slots".into(), &[], f64::from(warm.unused_warm_slots));
    m.gauge("waygate_pool_warm_resident_bytes".into(), &[], warm.resident_bytes as f64);
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], p.observe.metrics.render())
}
