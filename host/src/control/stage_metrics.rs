//! A stage's request counters from the management side (the counters themselves are live
//! state: `observe::stage_metrics`).

use super::error::ApiResult;
use super::AppState;
use crate::model::api::StageName;
use axum::extract::{Path, State};
use axum::Json;
use serde_json::Value;

/// `GET /v1/apis/{id}/stages/{stage}/metrics`: request counters since start, main
/// deployment and canary apart.
pub async fn metrics(State(p): State<AppState>, Path((api, stage)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    let (api, stage) = (super::apis::api_id(&api)?, StageName::parse(&stage)?);
    let rec = crate::ops::stages::get(&p, api, stage).await?;
    Ok(Json(p.live.metrics.view(rec.api_id.as_str(), rec.name.as_str())))
}
