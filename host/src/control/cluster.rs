//! `GET /healthz` (no credentials, no detail: for load balancers and probes) and `GET
//! /v1/cluster` (the store, this host's view of the change feed, and with a shared store
//! every host's last heartbeat and the change sequence it serves).

use super::error::ApiError;
use super::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

/// 200 `{"status":"ok"}`; 503 `{"status":"degraded"}` while a shared store is unreachable
/// (this host keeps serving its last snapshot; management calls answer 503).
pub async fn healthz(State(p): State<AppState>) -> impl IntoResponse {
    match p.feed.as_ref().is_some_and(|f| !f.connected()) {
        false => (StatusCode::OK, Json(json!({ "status": "ok" }))),
        true => (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "degraded" }))),
    }
}

pub async fn cluster(State(p): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let applied = p.snapshot().change_seq;
    let Some(pg) = p.shared.clone() else {
        return Ok(Json(json!({ "store": "embedded", "applied_seq": applied })));
    };
    let feed = p.feed.clone();
    let hosts = tokio::task::spawn_blocking(move || pg.hosts())
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("store task failed: {e}")))??;
    Ok(Json(json!({
        "store": "postgres",
        "host": {
            "id": p.host_id,
            "applied_seq": applied,
            "connected": feed.as_ref().is_some_and(|f| f.connected()),
            "latest_seq": feed.as_ref().map(|f| f.latest()),
            "disconnects": feed.as_ref().map(|f| f.disconnects()),
        },
        "hosts": hosts,
    })))
}
